/* The radix tree behind the router.
 *
 * A node is one of three kinds:
 *   - static: an edge label of bytes (decoded, '/' only as a separator);
 *     its static children start with distinct bytes, kept sorted in
 *     `first` so a lookup picks the one child that can match;
 *   - param: a ":name" segment; its children are static nodes that start
 *     with '/';
 *   - catch-all: a "*name" tail, always a leaf.
 * A static node may also have one param child and one catch-all child, which
 * makes the priority static > param > catch-all a matter of trying them in
 * that order. A node where a pattern ends holds a leaf: one route per method
 * plus one for FH_METHOD_ANY.
 *
 * The path a lookup reads is the raw request path. Only raw '/' separates
 * segments, which is why "%2F" stays inside a parameter. When the path holds
 * escapes, static labels are compared with the decoded bytes, and an encoded
 * slash compares unequal to everything (labels never hold one).
 */
#include "core/str.h"
#include "router/radix.h"

#include <stdlib.h>
#include <string.h>

enum { FH__RSTATIC, FH__RPARAM, FH__RCATCHALL };

typedef struct fh__rleaf {
    const fh_route_info_t *routes[FH__RMETHODS];
    const fh_route_info_t *any;
    unsigned mask;
} fh__rleaf_t;

struct fh__rnode {
    uint8_t kind;
    uint32_t label_len;
    uint32_t nchildren, cap;
    char *label;            /* static: bytes; param, catch-all: the name */
    uint8_t *first;         /* first byte of each static child, ascending */
    fh__rnode_t **children; /* static children, same order as first */
    fh__rnode_t *param;
    fh__rnode_t *catchall;
    fh__rleaf_t *leaf;
    const fh_route_info_t *origin; /* param, catch-all: the route that made it */
};

/* Routes without parameters are also kept in a hash table from their
 * (decoded) path to their leaf. Static segments win over everything, so
 * when a path without escapes is exactly such a route and the route takes
 * the method, the tree search would end there too: the table answers in
 * one probe what the tree answers in a walk. It only ever speeds a lookup
 * up; a missing entry (no memory while rebuilding it) costs a tree walk. */
typedef struct fh__rstatic {
    uint64_t hash;
    char *key; /* NULL: an empty slot */
    size_t len;
    const fh__rleaf_t *leaf;
} fh__rstatic_t;

struct fh__radix {
    fh__rnode_t *root;
    fh__rstatic_t *slots; /* open addressing, linear probing */
    size_t cap, count;    /* cap is a power of two, at most half full */
};

/* A parsed pattern: static runs (decoded, into a buffer), params and an
 * optional final catch-all. */
typedef struct fh__rtok {
    uint8_t kind;
    const char *s;
    size_t len;
} fh__rtok_t;

#define FH__RMAX_TOKENS (2 * FH_ROUTER_MAX_PARAMS + 2)

static bool name_char(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* ------------------------------------------------------------ patterns */

/* Splits a pattern into tokens. Static bytes are decoded into buf (which
 * needs strlen(pattern) bytes); names point into the pattern. */
static int parse_pattern(const char *pat, bool allow_catchall, char *buf, fh__rtok_t *toks,
                         size_t *ntoks, const char **why) {
    size_t nt = 0, nparams = 0, o = 0, run = 0;
    if (!pat || pat[0] != '/') {
        *why = "a pattern must start with '/'";
        return FH_EROUTE_PATTERN;
    }
    size_t n = strlen(pat);
    size_t i = 0;
    while (i < n) {
        /* pat[i] is the '/' that opens a segment. */
        size_t s = i + 1, e = s;
        while (e < n && pat[e] != '/')
            e++;
        if (e == s) {
            if (e < n) {
                *why = "empty segment ('//')";
                return FH_EROUTE_PATTERN;
            }
            buf[o++] = '/'; /* the trailing slash ("/users/" or "/") */
            break;
        }
        if (pat[s] == ':' || pat[s] == '*') {
            bool catchall = pat[s] == '*';
            size_t k = s + 1;
            while (k < e && name_char((unsigned char)pat[k]))
                k++;
            if (k == s + 1 || k != e) {
                *why = catchall ? "a catch-all is '*' and a name of letters, digits or '_' "
                                  "filling its segment"
                                : "a parameter is ':' and a name of letters, digits or '_' "
                                  "filling its segment";
                return FH_EROUTE_PATTERN;
            }
            if (catchall && e != n) {
                *why = "a catch-all must be the last segment";
                return FH_EROUTE_PATTERN;
            }
            if (catchall && !allow_catchall) {
                *why = "a mount prefix cannot hold a catch-all";
                return FH_EROUTE_PATTERN;
            }
            if (++nparams > FH_ROUTER_MAX_PARAMS) {
                *why = "more than FH_ROUTER_MAX_PARAMS parameters";
                return FH_EROUTE_PATTERN;
            }
            for (size_t t = 0; t < nt; t++) {
                if (toks[t].kind != FH__RSTATIC && toks[t].len == e - s - 1 &&
                    memcmp(toks[t].s, pat + s + 1, e - s - 1) == 0) {
                    *why = "the same parameter name twice";
                    return FH_EROUTE_PATTERN;
                }
            }
            buf[o++] = '/';
            toks[nt++] = (fh__rtok_t){ FH__RSTATIC, buf + run, o - run };
            toks[nt++] =
                (fh__rtok_t){ catchall ? FH__RCATCHALL : FH__RPARAM, pat + s + 1, e - s - 1 };
            run = o;
            i = e;
            continue;
        }
        buf[o++] = '/';
        size_t seg = o, dots = 0;
        for (size_t k = s; k < e; k++) {
            unsigned char c = (unsigned char)pat[k];
            if (c <= ' ' || c == 0x7f || c == '?' || c == '#') {
                *why = "a pattern cannot hold spaces, control characters, '?' or '#' "
                       "(write them as %XX)";
                return FH_EROUTE_PATTERN;
            }
            if (c == '%') {
                int h = k + 2 < e ? fh__hex_value((unsigned char)pat[k + 1]) : -1;
                int l = h >= 0 ? fh__hex_value((unsigned char)pat[k + 2]) : -1;
                if (h < 0 || l < 0) {
                    *why = "a malformed %XX escape";
                    return FH_EROUTE_PATTERN;
                }
                c = (unsigned char)(h * 16 + l);
                if (c == '/' || c == 0) {
                    *why = "an escape cannot encode '/' or NUL in a static segment";
                    return FH_EROUTE_PATTERN;
                }
                k += 2;
            }
            dots += c == '.';
            buf[o++] = (char)c;
        }
        if (o - seg == dots && dots <= 2) {
            *why = "a '.' or '..' segment can never match (such paths are refused)";
            return FH_EROUTE_PATTERN;
        }
        i = e;
    }
    if (o > run)
        toks[nt++] = (fh__rtok_t){ FH__RSTATIC, buf + run, o - run };
    *ntoks = nt;
    return 0;
}

int fh__radix_check_pattern(const char *pattern, bool allow_catchall, fh__rerror_t *err) {
    fh__rtok_t toks[FH__RMAX_TOKENS];
    size_t nt;
    if (!pattern || pattern[0] != '/') {
        err->why = "a pattern must start with '/'";
        err->other = NULL;
        return FH_EROUTE_PATTERN;
    }
    char *buf = malloc(strlen(pattern) + 1);
    if (!buf)
        return FH_ENOMEM;
    err->other = NULL;
    int rc = parse_pattern(pattern, allow_catchall, buf, toks, &nt, &err->why);
    free(buf);
    return rc;
}

/* --------------------------------------------------------------- nodes */

static void node_free(fh__rnode_t *n) {
    if (!n)
        return;
    for (uint32_t i = 0; i < n->nchildren; i++)
        node_free(n->children[i]);
    node_free(n->param);
    node_free(n->catchall);
    free(n->children);
    free(n->first);
    free(n->label);
    free(n->leaf);
    free(n);
}

static fh__rnode_t *node_new(uint8_t kind, const char *label, size_t len) {
    fh__rnode_t *n = calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    n->kind = kind;
    n->label = malloc(len ? len : 1);
    if (!n->label) {
        free(n);
        return NULL;
    }
    memcpy(n->label, label, len);
    n->label_len = (uint32_t)len;
    return n;
}

fh__radix_t *fh__radix_new(void) {
    fh__radix_t *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->root = node_new(FH__RSTATIC, "", 0);
    if (!t->root) {
        free(t);
        return NULL;
    }
    return t;
}

static void statics_clear(fh__radix_t *t) {
    for (size_t i = 0; i < t->cap; i++)
        free(t->slots[i].key);
    free(t->slots);
    t->slots = NULL;
    t->cap = t->count = 0;
}

void fh__radix_free(fh__radix_t *t) {
    if (!t)
        return;
    node_free(t->root);
    statics_clear(t);
    free(t);
}

/* A fast hash for short strings: eight bytes per multiply, then a full
 * finaliser (MurmurHash3's fmix64), because the table indexes by the low
 * bits and paths often differ only in their last bytes ("/v1/res0001"),
 * which a multiply alone carries to the high bits only. */
static inline uint64_t hash_bytes(const char *p, size_t n) {
    const uint64_t k = 0x9e3779b97f4a7c15u;
    uint64_t h = n * k, w;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, p + i, 8);
        h = (h ^ w) * k;
        h ^= h >> 29;
    }
    if (i < n) {
        /* The tail: the last eight bytes (overlapping) when there are that
         * many, else byte by byte. Either way a function of the bytes. */
        if (n >= 8) {
            memcpy(&w, p + n - 8, 8);
        } else {
            w = 0;
            for (size_t j = 0; j < n; j++)
                w |= (uint64_t)(unsigned char)p[j] << (8 * j);
        }
        h = (h ^ w) * k;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdu;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53u;
    h ^= h >> 33;
    return h;
}

static void statics_put(fh__rstatic_t *slots, size_t cap, fh__rstatic_t e) {
    size_t i = e.hash & (cap - 1);
    while (slots[i].key)
        i = (i + 1) & (cap - 1);
    slots[i] = e;
}

/* Adds key -> leaf unless the key is there already (a second method of the
 * same pattern shares the leaf). Returns 0 or FH_ENOMEM. */
static int statics_add(fh__radix_t *t, const char *key, size_t len, const fh__rleaf_t *leaf) {
    uint64_t h = hash_bytes(key, len);
    for (size_t i = t->cap ? (h & (t->cap - 1)) : 0; t->cap && t->slots[i].key;
         i = (i + 1) & (t->cap - 1))
        if (t->slots[i].hash == h && t->slots[i].len == len &&
            memcmp(t->slots[i].key, key, len) == 0)
            return 0;
    if (2 * (t->count + 1) > t->cap) {
        size_t ncap = t->cap ? 2 * t->cap : 16;
        fh__rstatic_t *ns = calloc(ncap, sizeof(*ns));
        if (!ns)
            return FH_ENOMEM;
        for (size_t i = 0; i < t->cap; i++)
            if (t->slots[i].key)
                statics_put(ns, ncap, t->slots[i]);
        free(t->slots);
        t->slots = ns;
        t->cap = ncap;
    }
    fh__rstatic_t e = { h, malloc(len ? len : 1), len, leaf };
    if (!e.key)
        return FH_ENOMEM;
    memcpy(e.key, key, len);
    statics_put(t->slots, t->cap, e);
    t->count++;
    return 0;
}

static inline bool same_bytes(const char *a, const char *b, size_t n);

static inline const fh__rleaf_t *statics_find(const fh__radix_t *t, const char *p, size_t len) {
    uint64_t h = hash_bytes(p, len);
    for (size_t i = h & (t->cap - 1); t->slots[i].key; i = (i + 1) & (t->cap - 1)) {
        const fh__rstatic_t *e = &t->slots[i];
        if (e->hash == h && e->len == len && same_bytes(e->key, p, len))
            return e->leaf;
    }
    return NULL;
}

/* The longest path spelled by static nodes from n down. */
static size_t static_depth(const fh__rnode_t *n) {
    size_t most = 0;
    for (uint32_t i = 0; i < n->nchildren; i++) {
        size_t d = static_depth(n->children[i]);
        if (d > most)
            most = d;
    }
    return n->label_len + most;
}

/* Refills the table from the tree: every leaf reached through static
 * nodes only; buf holds the path so far. */
static void statics_collect(fh__radix_t *t, const fh__rnode_t *n, char *buf, size_t at) {
    memcpy(buf + at, n->label, n->label_len);
    at += n->label_len;
    if (n->leaf)
        (void)statics_add(t, buf, at, n->leaf); /* no memory: a slower lookup, still right */
    for (uint32_t i = 0; i < n->nchildren; i++)
        statics_collect(t, n->children[i], buf, at);
}

/* Index of the static child starting with byte b, or -1. Few children:
 * a linear scan over one cache line; many: binary search. */
static inline int child_index(const fh__rnode_t *n, unsigned b) {
    uint32_t cnt = n->nchildren;
    if (cnt <= 8) {
        for (uint32_t i = 0; i < cnt; i++)
            if (n->first[i] == b)
                return (int)i;
        return -1;
    }
    uint32_t lo = 0, hi = cnt;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (n->first[mid] < b)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < cnt && n->first[lo] == b ? (int)lo : -1;
}

static int add_child(fh__rnode_t *n, fh__rnode_t *c) {
    if (n->nchildren == n->cap) {
        uint32_t ncap = n->cap ? n->cap * 2 : 2;
        uint8_t *f = realloc(n->first, ncap);
        if (!f)
            return FH_ENOMEM;
        n->first = f;
        fh__rnode_t **ch = realloc(n->children, ncap * sizeof(*ch));
        if (!ch)
            return FH_ENOMEM;
        n->children = ch;
        n->cap = ncap;
    }
    uint8_t b = (uint8_t)c->label[0];
    uint32_t at = 0;
    while (at < n->nchildren && n->first[at] < b)
        at++;
    memmove(n->first + at + 1, n->first + at, n->nchildren - at);
    memmove(n->children + at + 1, n->children + at, (n->nchildren - at) * sizeof(*n->children));
    n->first[at] = b;
    n->children[at] = c;
    n->nchildren++;
    return 0;
}

/* Splits static node c after k bytes of its label: c keeps the prefix and
 * gets one child holding the rest and everything c had. Done in place, so
 * the parent's pointer to c stays right. */
static int split(fh__rnode_t *c, size_t k) {
    fh__rnode_t *tail = node_new(FH__RSTATIC, c->label + k, c->label_len - k);
    if (!tail)
        return FH_ENOMEM;
    uint8_t *first = malloc(2);
    fh__rnode_t **children = malloc(2 * sizeof(*children));
    if (!first || !children) {
        free(first);
        free(children);
        node_free(tail);
        return FH_ENOMEM;
    }
    tail->nchildren = c->nchildren;
    tail->cap = c->cap;
    tail->first = c->first;
    tail->children = c->children;
    tail->param = c->param;
    tail->catchall = c->catchall;
    tail->leaf = c->leaf;
    c->label_len = (uint32_t)k;
    c->first = first;
    c->children = children;
    c->first[0] = (uint8_t)tail->label[0];
    c->children[0] = tail;
    c->nchildren = 1;
    c->cap = 2;
    c->param = NULL;
    c->catchall = NULL;
    c->leaf = NULL;
    return 0;
}

/* Walks from n (whose label is fully matched) along s, splitting and
 * adding static nodes; returns the node where s ends. */
static fh__rnode_t *insert_static(fh__rnode_t *n, const char *s, size_t len) {
    while (len > 0) {
        int i = child_index(n, (uint8_t)s[0]);
        if (i < 0) {
            fh__rnode_t *c = node_new(FH__RSTATIC, s, len);
            if (!c)
                return NULL;
            if (add_child(n, c)) {
                node_free(c);
                return NULL;
            }
            return c;
        }
        fh__rnode_t *c = n->children[i];
        size_t k = 0;
        while (k < len && k < c->label_len && c->label[k] == s[k])
            k++;
        if (k < c->label_len && split(c, k))
            return NULL;
        n = c;
        s += k;
        len -= k;
    }
    return n;
}

int fh__radix_insert(fh__radix_t *t, const fh_route_info_t *route, fh__rerror_t *err) {
    fh__rtok_t toks[FH__RMAX_TOKENS];
    size_t nt = 0;
    err->why = NULL;
    err->other = NULL;
    if (!route->pattern || route->pattern[0] != '/') {
        err->why = "a pattern must start with '/'";
        return FH_EROUTE_PATTERN;
    }
    char *buf = malloc(strlen(route->pattern) + 1);
    if (!buf)
        return FH_ENOMEM;
    int rc = parse_pattern(route->pattern, true, buf, toks, &nt, &err->why);
    fh__rnode_t *n = t->root;
    for (size_t k = 0; rc == 0 && k < nt; k++) {
        const fh__rtok_t *tk = &toks[k];
        if (tk->kind == FH__RSTATIC) {
            n = insert_static(n, tk->s, tk->len);
            if (!n)
                rc = FH_ENOMEM;
            continue;
        }
        fh__rnode_t **slot = tk->kind == FH__RPARAM ? &n->param : &n->catchall;
        if (*slot) {
            if ((*slot)->label_len != tk->len || memcmp((*slot)->label, tk->s, tk->len) != 0) {
                err->why = tk->kind == FH__RPARAM ? "different parameter names at the same place"
                                                  : "different catch-all names at the same place";
                err->other = (*slot)->origin;
                rc = FH_EROUTE_CONFLICT;
                break;
            }
        } else {
            *slot = node_new(tk->kind, tk->s, tk->len);
            if (!*slot) {
                rc = FH_ENOMEM;
                break;
            }
            (*slot)->origin = route;
        }
        n = *slot;
    }
    if (rc == 0 && !n->leaf && !(n->leaf = calloc(1, sizeof(*n->leaf))))
        rc = FH_ENOMEM;
    /* A pattern of one static run goes into the table of static routes. */
    if (rc == 0 && nt == 1)
        rc = statics_add(t, toks[0].s, toks[0].len, n->leaf);
    free(buf);
    if (rc)
        return rc;
    bool any = route->method == FH_METHOD_ANY;
    const fh_route_info_t **slot = any ? &n->leaf->any : &n->leaf->routes[route->method];
    if (*slot) {
        err->why = "the same method and pattern";
        err->other = *slot;
        return FH_EROUTE_CONFLICT;
    }
    *slot = route;
    n->leaf->mask |= any ? FH__RANY_BIT : 1u << route->method;
    return 0;
}

/* --------------------------------------------------------------- paths */

bool fh__radix_path_check(const char *p, size_t len, bool *has_escape) {
    *has_escape = memchr(p, '%', len) != NULL;
    size_t seg = 0, dots = 0, i = 0;
    for (;;) {
        int c;
        if (i == len) {
            c = -1;
        } else if (p[i] == '%') {
            int h = len - i >= 3 ? fh__hex_value((unsigned char)p[i + 1]) : -1;
            int l = h >= 0 ? fh__hex_value((unsigned char)p[i + 2]) : -1;
            if (h < 0 || l < 0)
                return false;
            c = h * 16 + l;
            if (c == 0)
                return false;
            i += 3;
        } else {
            c = (unsigned char)p[i++];
        }
        if (c == '/' || c < 0) {
            if (seg > 0 && seg == dots && dots <= 2)
                return false;
            if (c < 0)
                return true;
            seg = dots = 0;
        } else {
            seg++;
            dots += c == '.';
        }
    }
}

/* What reading a path yields besides bytes 0..255. */
enum { FH__REND = -1, FH__RDATA_SLASH = 256 };

/* The byte at pos and the position after it, in the path's reading mode:
 * escapes decoded (an encoded '/' is FH__RDATA_SLASH, which no label
 * holds), a virtual trailing '/', runs of '/' read as one. */
static inline int rp_byte(const fh__rpath_t *rp, size_t pos, size_t *next) {
    if (pos >= rp->len) {
        if (rp->vslash && pos == rp->len) {
            *next = pos + 1;
            return '/';
        }
        return FH__REND;
    }
    unsigned char c = (unsigned char)rp->p[pos];
    if (c == '%' && rp->decode && rp->len - pos >= 3) {
        int h = fh__hex_value((unsigned char)rp->p[pos + 1]);
        int l = fh__hex_value((unsigned char)rp->p[pos + 2]);
        if (h >= 0 && l >= 0) {
            *next = pos + 3;
            int b = h * 16 + l;
            return b == '/' ? FH__RDATA_SLASH : b;
        }
    }
    if (c == '/' && rp->collapse) {
        size_t n = pos + 1;
        while (n < rp->len && rp->p[n] == '/')
            n++;
        *next = n;
        return '/';
    }
    *next = pos + 1;
    return c;
}

/* ------------------------------------------------------------- search */

/* A search's state, flattened so that the hot loop reads the path with one
 * load instead of two. */
typedef struct fh__rctx {
    const char *p;
    size_t len; /* rp->len */
    size_t end; /* rp->len + rp->vslash */
    bool slow;  /* decode, vslash or collapse: read byte by byte */
    const fh__rpath_t *rp;
    fh__rsearch_t *s;
} fh__rctx_t;

/* Equality of n bytes, for the short labels of a tree: word loads instead
 * of a call to memcmp, which costs more than the comparison itself here.
 * The last word overlaps the previous one rather than reading past n. */
static inline bool same_bytes(const char *a, const char *b, size_t n) {
    uint64_t x, y;
    uint32_t u, v;
    if (n >= 8) {
        for (size_t i = 0; i + 8 <= n; i += 8) {
            memcpy(&x, a + i, 8);
            memcpy(&y, b + i, 8);
            if (x != y)
                return false;
        }
        memcpy(&x, a + n - 8, 8);
        memcpy(&y, b + n - 8, 8);
        return x == y;
    }
    if (n >= 4) {
        memcpy(&u, a, 4);
        memcpy(&v, b, 4);
        if (u != v)
            return false;
        memcpy(&u, a + n - 4, 4);
        memcpy(&v, b + n - 4, 4);
        return u == v;
    }
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return false;
    return true;
}

static inline bool label_match(const fh__rctx_t *x, const fh__rnode_t *n, size_t *pos) {
    size_t len = n->label_len;
    if (!x->slow) {
        if (x->len - *pos < len || !same_bytes(x->p + *pos, n->label, len))
            return false;
        *pos += len;
        return true;
    }
    size_t p = *pos;
    for (size_t i = 0; i < len; i++) {
        size_t next;
        if (rp_byte(x->rp, p, &next) != (unsigned char)n->label[i])
            return false;
        p = next;
    }
    *pos = p;
    return true;
}

static inline const fh__rnode_t *static_child(const fh__rctx_t *x, const fh__rnode_t *n,
                                              size_t pos) {
    if (n->nchildren == 0)
        return NULL;
    int b;
    if (!x->slow) {
        b = (unsigned char)x->p[pos];
    } else {
        size_t next;
        b = rp_byte(x->rp, pos, &next);
        if (b < 0 || b > 255)
            return NULL;
    }
    int i = child_index(n, (unsigned)b);
    return i < 0 ? NULL : n->children[i];
}

static inline const fh_route_info_t *leaf_pick(const fh__rleaf_t *l, unsigned method) {
    if (method < FH__RMETHODS) {
        if (l->routes[method])
            return l->routes[method];
        if (method == FH_METHOD_HEAD && l->routes[FH_METHOD_GET])
            return l->routes[FH_METHOD_GET];
        return l->any;
    }
    return method == FH_METHOD_OTHER ? l->any : NULL;
}

static inline const fh_route_info_t *match_leaf(fh__rctx_t *x, const fh__rnode_t *n) {
    if (!n->leaf)
        return NULL;
    x->s->mask |= n->leaf->mask;
    return leaf_pick(n->leaf, x->s->method);
}

/* The index of the first '/' in p[from, len), or len: eight bytes at a
 * time where the byte order allows (parameters are short, and a memchr
 * call costs more than scanning them). */
static inline size_t find_slash(const char *p, size_t from, size_t len) {
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    size_t i = from;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        w ^= ones * '/';
        uint64_t z = (w - ones) & ~w & highs;
        if (z)
            return i + (size_t)(__builtin_ctzll(z) >> 3);
    }
    for (; i < len; i++)
        if (p[i] == '/')
            return i;
    return len;
#else
    const char *s = memchr(p + from, '/', len - from);
    return s ? (size_t)(s - p) : len;
#endif
}

static inline bool push_param(fh__rctx_t *x, const fh__rnode_t *n, size_t from, size_t to) {
    fh_route_match_t *m = x->s->m;
    if (m->nparams >= FH_ROUTER_MAX_PARAMS)
        return false; /* cannot happen: patterns hold at most that many */
    m->names[m->nparams] = (fh_str_t){ n->label, n->label_len };
    m->values[m->nparams] = (fh_str_t){ x->p + from, to - from };
    m->nparams++;
    return true;
}

static const fh_route_info_t *search_static(fh__rctx_t *x, const fh__rnode_t *n, size_t pos);

static const fh_route_info_t *search_catchall(fh__rctx_t *x, const fh__rnode_t *c, size_t pos) {
    size_t from = pos < x->len ? pos : x->len;
    size_t saved = x->s->m->nparams;
    if (!push_param(x, c, from, x->len))
        return NULL;
    const fh_route_info_t *r = match_leaf(x, c);
    if (!r)
        x->s->m->nparams = saved;
    return r;
}

static const fh_route_info_t *search_param(fh__rctx_t *x, const fh__rnode_t *p, size_t pos) {
    if (pos >= x->len)
        return NULL; /* a parameter is never empty */
    size_t e = find_slash(x->p, pos, x->len);
    if (e == pos)
        return NULL;
    size_t saved = x->s->m->nparams;
    if (!push_param(x, p, pos, e))
        return NULL;
    const fh_route_info_t *r;
    if (e >= x->end) {
        r = match_leaf(x, p);
    } else {
        const fh__rnode_t *c = static_child(x, p, e);
        r = c ? search_static(x, c, e) : NULL;
    }
    if (!r)
        x->s->m->nparams = saved;
    return r;
}

/* Matches static node n at pos, then its subtree in priority order. Where
 * a node offers one way on (no param or catch-all child), the walk loops
 * instead of recursing: only real branch points use the stack. */
static const fh_route_info_t *search_static(fh__rctx_t *x, const fh__rnode_t *n, size_t pos) {
    for (;;) {
        if (!label_match(x, n, &pos))
            return NULL;
        if (pos >= x->end) {
            const fh_route_info_t *r = match_leaf(x, n);
            if (r)
                return r;
            return n->catchall ? search_catchall(x, n->catchall, pos) : NULL;
        }
        const fh__rnode_t *c = static_child(x, n, pos);
        if (!n->param && !n->catchall) {
            if (!c)
                return NULL;
            n = c;
            continue;
        }
        if (c) {
            const fh_route_info_t *r = search_static(x, c, pos);
            if (r)
                return r;
        }
        if (n->param) {
            const fh_route_info_t *r = search_param(x, n->param, pos);
            if (r)
                return r;
        }
        return n->catchall ? search_catchall(x, n->catchall, pos) : NULL;
    }
}

const fh_route_info_t *fh__radix_search(const fh__radix_t *t, fh__rsearch_t *s) {
    fh__rctx_t x;
    x.p = s->path.p;
    x.len = s->path.len;
    x.rp = &s->path;
    x.end = s->path.len + (s->path.vslash ? 1 : 0);
    x.slow = s->path.decode || s->path.vslash || s->path.collapse;
    x.s = s;
    s->mask = 0;
    s->m->nparams = 0;
    return search_static(&x, t->root, 0);
}

const fh_route_info_t *fh__radix_find_static(const fh__radix_t *t, fh_method_t method,
                                             const char *p, size_t len) {
    if (!t->count)
        return NULL;
    const fh__rleaf_t *leaf = statics_find(t, p, len);
    return leaf ? leaf_pick(leaf, method) : NULL;
}

/* ------------------------------------------------------------ removal */

static bool node_empty(const fh__rnode_t *n) {
    return !n->leaf && n->nchildren == 0 && !n->param && !n->catchall;
}

/* Folds the only static child of a bare static node into it. */
static void merge_child(fh__rnode_t *n) {
    fh__rnode_t *c = n->children[0];
    char *label = realloc(n->label, (size_t)n->label_len + c->label_len);
    if (!label)
        return;
    memcpy(label + n->label_len, c->label, c->label_len);
    n->label = label;
    n->label_len += c->label_len;
    free(n->first);
    free(n->children);
    n->first = c->first;
    n->children = c->children;
    n->nchildren = c->nchildren;
    n->cap = c->cap;
    n->param = c->param;
    n->catchall = c->catchall;
    n->leaf = c->leaf;
    free(c->label);
    free(c);
}

static void prune(fh__rnode_t *n, size_t from, bool root) {
    if (n->leaf) {
        fh__rleaf_t *l = n->leaf;
        l->mask = 0;
        for (int m = 0; m < FH__RMETHODS; m++) {
            if (l->routes[m] && l->routes[m]->index >= from)
                l->routes[m] = NULL;
            if (l->routes[m])
                l->mask |= 1u << m;
        }
        if (l->any && l->any->index >= from)
            l->any = NULL;
        if (l->any)
            l->mask |= FH__RANY_BIT;
        if (!l->mask) {
            free(l);
            n->leaf = NULL;
        }
    }
    for (uint32_t i = 0; i < n->nchildren;) {
        prune(n->children[i], from, false);
        if (!node_empty(n->children[i])) {
            i++;
            continue;
        }
        node_free(n->children[i]);
        n->nchildren--;
        memmove(n->first + i, n->first + i + 1, n->nchildren - i);
        memmove(n->children + i, n->children + i + 1, (n->nchildren - i) * sizeof(*n->children));
    }
    if (n->param) {
        prune(n->param, from, false);
        if (node_empty(n->param)) {
            node_free(n->param);
            n->param = NULL;
        }
    }
    if (n->catchall) {
        prune(n->catchall, from, false);
        if (node_empty(n->catchall)) {
            node_free(n->catchall);
            n->catchall = NULL;
        }
    }
    if (!root && n->kind == FH__RSTATIC && !n->leaf && !n->param && !n->catchall &&
        n->nchildren == 1)
        merge_child(n);
}

void fh__radix_remove_from(fh__radix_t *t, size_t from) {
    prune(t->root, from, true);
    /* Pruning freed leaves and merging moved nodes: refill the table. */
    statics_clear(t);
    char *buf = malloc(static_depth(t->root) + 1);
    if (buf)
        statics_collect(t, t->root, buf, 0);
    free(buf);
}

static size_t node_count(const fh__rnode_t *n) {
    if (!n)
        return 0;
    size_t c = 1 + node_count(n->param) + node_count(n->catchall);
    for (uint32_t i = 0; i < n->nchildren; i++)
        c += node_count(n->children[i]);
    return c;
}

size_t fh__radix_node_count(const fh__radix_t *t) { return node_count(t->root); }

size_t fh__radix_static_count(const fh__radix_t *t) { return t->count; }
