/* The router's radix tree: patterns, insertion and matching. Internal.
 *
 * The tree knows nothing of requests: it maps a method and a raw path to a
 * route record, so that tests, benchmarks and the fuzzer drive it directly.
 */
#ifndef FH_ROUTER_RADIX_H
#define FH_ROUTER_RADIX_H

#include <fasthttp.h>
#include <string.h>

/* Method bits of a leaf: (1u << fh_method_t) for the real methods and one
 * bit for FH_METHOD_ANY. */
#define FH__RMETHODS FH_METHOD_OTHER /* GET..TRACE */
#define FH__RANY_BIT (1u << 15)

typedef struct fh__rnode fh__rnode_t;
typedef struct fh__radix fh__radix_t;

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
    size_t len;    /* raw bytes to read (a removed trailing slash is not) */
    bool decode;   /* the path holds escapes: compare decoded bytes */
    bool vslash;   /* read one more '/' after the last byte */
    bool collapse; /* read a run of '/' as one */
} fh__rpath_t;

/* What a search needs and fills. */
typedef struct fh__rsearch {
    fh__rpath_t path;
    unsigned method;     /* fh_method_t, or FH__RMETHODS for "only collect" */
    unsigned mask;       /* union of the method bits of leaves matching the path */
    fh_route_match_t *m; /* receives params; may be a scratch struct */
} fh__rsearch_t;

/* An empty tree (a root with an empty label), or NULL when out of memory. */
fh__radix_t *fh__radix_new(void);
void fh__radix_free(fh__radix_t *t);

/* Number of nodes in the tree, root included, and of entries in its table
 * of routes without parameters. */
size_t fh__radix_node_count(const fh__radix_t *t);
size_t fh__radix_static_count(const fh__radix_t *t);

/* Checks a pattern's syntax without touching a tree. Returns 0, or
 * FH_EROUTE_PATTERN with err->why set. */
int fh__radix_check_pattern(const char *pattern, bool allow_catchall, fh__rerror_t *err);

/* Inserts route (its info.pattern is the full pattern, its info.method the
 * slot). Returns 0, FH_EROUTE_PATTERN, FH_EROUTE_CONFLICT (err filled) or
 * FH_ENOMEM. A failure may leave split or empty nodes behind: rebuild the
 * tree from the remaining routes (router.c does). */
int fh__radix_insert(fh__radix_t *t, const fh_route_info_t *route, fh__rerror_t *err);

/* Removes every route whose info.index is from or above, then every node
 * left without routes, and merges the chains of single static children that
 * leaves, so the tree is the one a fresh build would give (a merge that
 * finds no memory is skipped: it only saves a step). Cannot fail. */
void fh__radix_remove_from(fh__radix_t *t, size_t from);

/* The slow half of fh__radix_path_ok, for paths holding '%' or '.'. */
bool fh__radix_path_check(const char *p, size_t len, bool *has_escape);

/* Whether any byte of the 8 in w is '%' or '.': a byte equal to c becomes
 * zero after w ^ (c repeated), and (v - 0x01..) & ~v & 0x80.. is non-zero
 * exactly when v has a zero byte. */
static inline bool fh__word_has_pct_or_dot(uint64_t w) {
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t a = w ^ (ones * '%'), b = w ^ (ones * '.');
    return (((a - ones) & ~a) | ((b - ones) & ~b)) & highs;
}

/* Whether the path holds a '%' or a '.', eight bytes at a time: most paths
 * are short, where two memchr calls would cost more than the scan. */
static inline bool fh__has_pct_or_dot(const char *p, size_t len) {
    uint64_t w;
    if (len < 8) {
        for (size_t i = 0; i < len; i++)
            if (p[i] == '%' || p[i] == '.')
                return true;
        return false;
    }
    for (size_t i = 0; i + 8 <= len; i += 8) {
        memcpy(&w, p + i, 8);
        if (fh__word_has_pct_or_dot(w))
            return true;
    }
    memcpy(&w, p + len - 8, 8);
    return fh__word_has_pct_or_dot(w);
}

/* Scans a raw path: returns false when it holds a malformed escape, an
 * encoded NUL or a dot segment (after decoding, split at every slash).
 * *has_escape tells whether it holds any '%'. Inline, because nearly
 * every path takes the first branch. */
static inline bool fh__radix_path_ok(const char *p, size_t len, bool *has_escape) {
    if (!fh__has_pct_or_dot(p, len)) {
        *has_escape = false;
        return true;
    }
    return fh__radix_path_check(p, len, has_escape);
}

/* The route for a path without escapes that is exactly a pattern without
 * parameters, when that route takes the method; else NULL (then search).
 * What it finds is what fh__radix_search would find first. */
const fh_route_info_t *fh__radix_find_static(const fh__radix_t *t, fh_method_t method,
                                             const char *p, size_t len);

/* Finds the first route, in priority order, whose pattern matches s->path
 * and that accepts s->method; fills s->m->names/values/nparams for it.
 * Returns NULL when none does; s->mask then holds the method bits of every
 * route whose pattern matches the path. */
const fh_route_info_t *fh__radix_search(const fh__radix_t *t, fh__rsearch_t *s);

#endif /* FH_ROUTER_RADIX_H */
