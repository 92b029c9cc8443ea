/* The router's radix tree: patterns, insertion and matching. Internal.
 *
 * The tree knows nothing of requests: it maps a method and a raw path to a
 * route record, so that tests, benchmarks and the fuzzer drive it directly.
 */
#ifndef FH_ROUTER_RADIX_H
#define FH_ROUTER_RADIX_H

#include <fasthttp.h>

/* Method bits of a leaf: (1u << fh_method_t) for the real methods and one
 * bit for FH_METHOD_ANY. */
#define FH__RMETHODS FH_METHOD_OTHER /* GET..TRACE */
#define FH__RANY_BIT (1u << 15)

typedef struct fh__rnode fh__rnode_t;

/* Why an insertion failed: a malformed pattern (other is NULL) or a conflict
 * with an existing route (other names it). why is a static phrase. */
typedef struct fh__rerror {
    const char *why;
    const fh_route_info_t *other;
} fh__rerror_t;

/* A path to match, and how to read it. The probes that look for a
 * redirect target read the same bytes differently instead of copying them. */
typedef struct fh__rpath {
    const char *p;
    size_t len;       /* raw bytes to read (a removed trailing slash is not) */
    bool decode;      /* the path holds escapes: compare decoded bytes */
    bool vslash;      /* read one more '/' after the last byte */
    bool collapse;    /* read a run of '/' as one */
} fh__rpath_t;

/* What a search needs and fills. */
typedef struct fh__rsearch {
    fh__rpath_t path;
    unsigned method;  /* fh_method_t, or FH__RMETHODS for "only collect" */
    unsigned mask;    /* union of the method bits of leaves matching the path */
    fh_route_match_t *m; /* receives params; may be a scratch struct */
} fh__rsearch_t;

/* An empty tree (a root with an empty label), or NULL when out of memory. */
fh__rnode_t *fh__radix_new(void);
void fh__radix_free(fh__rnode_t *root);

/* Number of nodes in the tree, root included. */
size_t fh__radix_node_count(const fh__rnode_t *root);

/* Checks a pattern's syntax without touching a tree. Returns 0, or
 * FH_EROUTE_PATTERN with err->why set. */
int fh__radix_check_pattern(const char *pattern, bool allow_catchall, fh__rerror_t *err);

/* Inserts route (its info.pattern is the full pattern, its info.method the
 * slot). Returns 0, FH_EROUTE_PATTERN, FH_EROUTE_CONFLICT (err filled) or
 * FH_ENOMEM. A failure may leave split or empty nodes behind: rebuild the
 * tree from the remaining routes (router.c does). */
int fh__radix_insert(fh__rnode_t *root, const fh_route_info_t *route, fh__rerror_t *err);

/* Removes every route whose info.index is from or above, then every node
 * left without routes, and merges the chains of single static children that
 * leaves, so the tree is the one a fresh build would give (a merge that
 * finds no memory is skipped: it only saves a step). Cannot fail. */
void fh__radix_remove_from(fh__rnode_t *root, size_t from);

/* Scans a raw path once: returns false when it holds a malformed escape,
 * an encoded NUL or a dot segment (after decoding, split at every slash).
 * *has_escape tells whether it holds any '%'. */
bool fh__radix_path_ok(const char *p, size_t len, bool *has_escape);

/* Finds the first route, in priority order, whose pattern matches s->path
 * and that accepts s->method; fills s->m->names/values/nparams for it.
 * Returns NULL when none does; s->mask then holds the method bits of every
 * route whose pattern matches the path. */
const fh_route_info_t *fh__radix_search(const fh__rnode_t *root, fh__rsearch_t *s);

#endif /* FH_ROUTER_RADIX_H */
