/* Static files: path checks, opening below the root without following
 * links, conditional and range requests, index files and listings.
 *
 * Containment does not rest on string checks alone. After decoding, the
 * path is split into segments and "." / ".." / backslashes / (optionally)
 * dot-names are refused; then each segment is opened with openat(2) relative
 * to the descriptor of the previous directory, starting at the root's, with
 * O_NOFOLLOW. A path made of plain names, none of them a link, cannot leave
 * the directory it starts from. With FH_STATIC_SYMLINKS_INSIDE, a path that
 * meets a link is resolved with realpath(3), checked to lie under the root,
 * and the resolved path is opened the same way (no link followed), so a link
 * changed between the check and the open is refused rather than followed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <fasthttp.h>

#include "core/date.h"
#include "core/response.h"

#define DEFAULT_SENDFILE_MIN (16 * 1024)
#define MAX_LISTING 10000
#define DEFAULT_CACHE_VALID_MS 1000
#define MAX_CACHE_ENTRIES (1u << 20)
#define THREAD_CACHES 16 /* static file servers one thread may cache for */

typedef struct file_cache file_cache_t;

struct fh_static {
    char *prefix; /* without a trailing slash: "" serves every path */
    size_t prefix_len;
    char *root; /* resolved (realpath) */
    size_t root_len;
    int root_fd;
    char *index; /* "" = none */
    fh_static_options_t opts;
    uint64_t id;          /* unique for the process's life: names its thread caches */
    pthread_mutex_t lock; /* guards caches */
    file_cache_t *caches; /* one per thread that served from it */
};

/* ------------------------------------------------------ open-file cache */

/* One cached regular file: its descriptor and what fstat said, found by
 * its normalized path under the root. refs counts the cache's hold (while
 * listed) and each body being sent from fd; the last one closes it. */
typedef struct file_entry {
    struct file_entry *hnext;       /* hash chain */
    struct file_entry *prev, *next; /* most recently used first */
    uint32_t hash;
    uint32_t refs;
    int fd;
    struct stat sb;
    uint64_t checked_ms; /* when it was opened and stat-ed */
    size_t rel_len;
    char rel[];
} file_entry_t;

/* A thread's cache for one fh_static_t. Used only by that thread while
 * the server runs; freed with the fh_static_t. */
struct file_cache {
    file_cache_t *next_cache;
    file_entry_t **buckets;
    size_t mask; /* buckets - 1 */
    file_entry_t *lru_head, *lru_tail;
    size_t n;
};

static _Thread_local struct {
    uint64_t id;
    file_cache_t *cache;
} thread_caches[THREAD_CACHES];

static atomic_uint_fast64_t next_static_id = 1;

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts); /* no system call (vDSO) */
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint32_t path_hash(const char *s, size_t n) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static void entry_release(void *data) {
    file_entry_t *e = data;
    if (--e->refs == 0) {
        close(e->fd);
        free(e);
    }
}

static void lru_unlink(file_cache_t *c, file_entry_t *e) {
    if (e->prev)
        e->prev->next = e->next;
    else
        c->lru_head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->lru_tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push(file_cache_t *c, file_entry_t *e) {
    e->prev = NULL;
    e->next = c->lru_head;
    if (c->lru_head)
        c->lru_head->prev = e;
    else
        c->lru_tail = e;
    c->lru_head = e;
}

/* Takes e out of the cache and drops the cache's hold on it. */
static void cache_evict(file_cache_t *c, file_entry_t *e) {
    file_entry_t **pp = &c->buckets[e->hash & c->mask];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(c, e);
    c->n--;
    entry_release(e);
}

/* This thread's cache for st, made on first use; NULL without a cache
 * (none configured, no memory, or this thread caches for too many). */
static file_cache_t *cache_of(fh_static_t *st) {
    if (!st->opts.cache_entries)
        return NULL;
    int free_slot = -1;
    for (int i = 0; i < THREAD_CACHES; i++) {
        if (thread_caches[i].id == st->id)
            return thread_caches[i].cache;
        if (free_slot < 0 && thread_caches[i].id == 0)
            free_slot = i;
    }
    if (free_slot < 0)
        return NULL;
    file_cache_t *c = calloc(1, sizeof(*c));
    size_t nb = 16;
    while (nb < (size_t)st->opts.cache_entries * 2)
        nb *= 2;
    if (c)
        c->buckets = calloc(nb, sizeof(*c->buckets));
    if (!c || !c->buckets) {
        free(c);
        return NULL;
    }
    c->mask = nb - 1;
    pthread_mutex_lock(&st->lock);
    c->next_cache = st->caches;
    st->caches = c;
    pthread_mutex_unlock(&st->lock);
    thread_caches[free_slot].id = st->id;
    thread_caches[free_slot].cache = c;
    return c;
}

/* The fresh entry for rel, or NULL; an expired one is evicted. */
static file_entry_t *cache_find(const fh_static_t *st, file_cache_t *c, const char *rel, size_t n,
                                uint32_t hash) {
    for (file_entry_t *e = c->buckets[hash & c->mask]; e; e = e->hnext) {
        if (e->hash != hash || e->rel_len != n || memcmp(e->rel, rel, n) != 0)
            continue;
        if (now_ms() - e->checked_ms >= st->opts.cache_valid_ms) {
            cache_evict(c, e); /* opened and stat-ed again by the caller */
            return NULL;
        }
        if (c->lru_head != e) {
            lru_unlink(c, e);
            lru_push(c, e);
        }
        return e;
    }
    return NULL;
}

/* Lists the regular file fd (taken on success) as rel; NULL without
 * memory (fd stays the caller's). */
static file_entry_t *cache_add(const fh_static_t *st, file_cache_t *c, const char *rel, size_t n,
                               uint32_t hash, int fd, const struct stat *sb) {
    file_entry_t *e = malloc(sizeof(*e) + n + 1);
    if (!e)
        return NULL;
    if (c->n >= st->opts.cache_entries)
        cache_evict(c, c->lru_tail);
    e->hash = hash;
    e->refs = 1;
    e->fd = fd;
    e->sb = *sb;
    e->checked_ms = now_ms();
    e->rel_len = n;
    memcpy(e->rel, rel, n);
    e->rel[n] = '\0';
    e->hnext = c->buckets[hash & c->mask];
    c->buckets[hash & c->mask] = e;
    lru_push(c, e);
    c->n++;
    return e;
}

static void caches_free(fh_static_t *st) {
    file_cache_t *c = st->caches;
    while (c) {
        file_cache_t *next = c->next_cache;
        while (c->lru_head)
            cache_evict(c, c->lru_head);
        free(c->buckets);
        free(c);
        c = next;
    }
    st->caches = NULL;
}

/* ------------------------------------------------------------- MIME types */

static const struct {
    const char *ext;
    const char *type;
} mime_types[] = {
    { "html", "text/html; charset=utf-8" },
    { "htm", "text/html; charset=utf-8" },
    { "css", "text/css; charset=utf-8" },
    { "js", "text/javascript; charset=utf-8" },
    { "mjs", "text/javascript; charset=utf-8" },
    { "json", "application/json" },
    { "map", "application/json" },
    { "txt", "text/plain; charset=utf-8" },
    { "md", "text/markdown; charset=utf-8" },
    { "csv", "text/csv; charset=utf-8" },
    { "xml", "application/xml" },
    { "svg", "image/svg+xml" },
    { "png", "image/png" },
    { "jpg", "image/jpeg" },
    { "jpeg", "image/jpeg" },
    { "gif", "image/gif" },
    { "webp", "image/webp" },
    { "avif", "image/avif" },
    { "ico", "image/x-icon" },
    { "bmp", "image/bmp" },
    { "woff", "font/woff" },
    { "woff2", "font/woff2" },
    { "ttf", "font/ttf" },
    { "otf", "font/otf" },
    { "wasm", "application/wasm" },
    { "pdf", "application/pdf" },
    { "zip", "application/zip" },
    { "gz", "application/gzip" },
    { "tar", "application/x-tar" },
    { "mp3", "audio/mpeg" },
    { "ogg", "audio/ogg" },
    { "wav", "audio/wav" },
    { "mp4", "video/mp4" },
    { "webm", "video/webm" },
};

const char *fh_static_mime_type(const char *name) {
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    const char *dot = strrchr(base, '.');
    if (dot && dot != base) {
        fh_str_t ext = fh_str(dot + 1);
        for (size_t i = 0; i < sizeof(mime_types) / sizeof(mime_types[0]); i++)
            if (fh_str_ieq(ext, fh_str(mime_types[i].ext)))
                return mime_types[i].type;
    }
    return "application/octet-stream";
}

/* ------------------------------------------------------------ HTTP dates */

/* IMF-fixdate into out (29 bytes and a NUL). */
static void http_date(char out[64], time_t t) { fh__date_format(t, out); }

static bool parse_http_date(fh_str_t s, time_t *out) { return fh__date_parse(s.ptr, s.len, out); }

/* ------------------------------------------------------ entity tags, ranges */

static fh_str_t trim(fh_str_t s) {
    while (s.len && (s.ptr[0] == ' ' || s.ptr[0] == '\t')) {
        s.ptr++;
        s.len--;
    }
    while (s.len && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t'))
        s.len--;
    return s;
}

/* Whether the comma-separated list of entity tags matches etag ("*"
 * matches anything). weak: compare ignoring W/ (If-None-Match); otherwise
 * only strong tags match (If-Match). */
static bool etag_list_matches(fh_str_t list, fh_str_t etag, bool weak) {
    size_t i = 0;
    while (i < list.len) {
        size_t j = i;
        while (j < list.len && list.ptr[j] != ',')
            j++;
        fh_str_t t = trim((fh_str_t){ list.ptr + i, j - i });
        if (t.len == 1 && t.ptr[0] == '*')
            return true;
        bool is_weak = t.len > 2 && t.ptr[0] == 'W' && t.ptr[1] == '/';
        if (is_weak) {
            t.ptr += 2;
            t.len -= 2;
        }
        if ((weak || !is_weak) && fh_str_equal(t, etag))
            return true;
        i = j + 1;
    }
    return false;
}

enum { RANGE_IGNORE, RANGE_OK, RANGE_UNSATISFIABLE };

/* Reads decimal digits, saturating at INT64_MAX; false without a digit. */
static bool parse_pos(const char **p, const char *end, int64_t *out) {
    const char *s = *p;
    int64_t v = 0;
    while (*p < end && **p >= '0' && **p <= '9') {
        int d = **p - '0';
        v = v > (INT64_MAX - d) / 10 ? INT64_MAX : v * 10 + d;
        (*p)++;
    }
    *out = v;
    return *p > s;
}

/* One "bytes=" range against a file of size bytes. Anything but a single
 * well-formed byte range is ignored (the whole file is sent). */
static int parse_range(fh_str_t h, int64_t size, int64_t *first, int64_t *last) {
    h = trim(h);
    if (h.len < 6 || !fh_str_ieq((fh_str_t){ h.ptr, 6 }, FH_STR_LIT("bytes=")))
        return RANGE_IGNORE;
    const char *p = h.ptr + 6, *end = h.ptr + h.len;
    if (memchr(p, ',', (size_t)(end - p)))
        return RANGE_IGNORE;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    int64_t a = 0, b = 0;
    bool has_a = parse_pos(&p, end, &a);
    if (p == end || *p != '-')
        return RANGE_IGNORE;
    p++;
    bool has_b = parse_pos(&p, end, &b);
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (p != end || (!has_a && !has_b) || (has_a && has_b && b < a))
        return RANGE_IGNORE;
    if (!has_a) { /* the last b bytes */
        if (b == 0 || size == 0)
            return RANGE_UNSATISFIABLE;
        *first = b >= size ? 0 : size - b;
        *last = size - 1;
        return RANGE_OK;
    }
    if (a >= size)
        return RANGE_UNSATISFIABLE;
    *first = a;
    *last = has_b && b < size ? b : size - 1;
    return RANGE_OK;
}

/* --------------------------------------------------------------- opening */

/* Opens rel ("a/b/c", validated segments; "" is the root itself) below
 * dir_fd, one segment at a time, following no link. Returns a descriptor or
 * -errno (ELOOP for a link). */
static int open_walk(int dir_fd, char *rel) {
    if (*rel == '\0') {
        /* A new open file description: a listing's readdir position must not
         * be shared with the root's descriptor (or other threads). */
        int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return fd >= 0 ? fd : -errno;
    }
    int dfd = dir_fd;
    char *p = rel;
    for (;;) {
        char *slash = strchr(p, '/');
        if (slash)
            *slash = '\0';
        int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (slash ? O_DIRECTORY : O_NONBLOCK);
        int fd = openat(dfd, p, flags);
        int err = errno;
        if (slash)
            *slash = '/';
        if (dfd != dir_fd)
            close(dfd);
        if (fd < 0)
            return -(err == ENOTDIR && slash ? ELOOP : err);
        if (!slash)
            return fd;
        dfd = fd;
        p = slash + 1;
    }
}

/* Whether a name may be served: not "." or "..", and no dot-file unless
 * allowed. Empty names ("a//b") pass: they are skipped. */
static bool segment_ok(const fh_static_t *st, const char *s, size_t n) {
    if (n == 0 || s[0] != '.')
        return true;
    if (n == 1 || (n == 2 && s[1] == '.'))
        return false;
    return st->opts.dotfiles;
}

/* Validates a decoded path and writes its segments, joined by '/', into
 * out (room for n + 1 bytes). 0, or the status to answer. */
static int normalize(const fh_static_t *st, const char *path, size_t n, char *out,
                     size_t *out_len) {
    size_t o = 0, i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && path[j] != '/')
            j++;
        const char *seg = path + i;
        size_t len = j - i;
        if (memchr(seg, '\\', len))
            return 400;
        if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
            return 400;
        if (!segment_ok(st, seg, len))
            return 404;
        if (len) {
            if (o)
                out[o++] = '/';
            memcpy(out + o, seg, len);
            o += len;
        }
        i = j + 1;
    }
    out[o] = '\0';
    *out_len = o;
    return 0;
}

/* Opens rel under the root by the symlink policy. Returns a descriptor, or
 * -errno. */
static int open_beneath(const fh_static_t *st, char *rel) {
    int fd = open_walk(st->root_fd, rel);
    if (fd != -ELOOP || st->opts.symlinks != FH_STATIC_SYMLINKS_INSIDE)
        return fd;
    char full[PATH_MAX], real[PATH_MAX];
    if ((size_t)snprintf(full, sizeof(full), "%s/%s", st->root, rel) >= sizeof(full))
        return -ENAMETOOLONG;
    if (!realpath(full, real))
        return -errno;
    size_t n = strlen(real);
    if (n < st->root_len || memcmp(real, st->root, st->root_len) != 0 ||
        (n > st->root_len && real[st->root_len] != '/' && st->root_len > 1))
        return -EACCES; /* the link leads outside the root */
    char *inside = real + st->root_len;
    while (*inside == '/')
        inside++;
    /* The target's own names obey the dot-file rule too. */
    for (char *s = inside; *s;) {
        char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (!segment_ok(st, s, len))
            return -EACCES;
        s += len + (e != NULL);
    }
    return open_walk(st->root_fd, inside);
}

/* ------------------------------------------------------------ answering */

/* serve() found nothing for the request and, asked to, left it alone. */
#define PASS 1

static int not_found(fh_response_t *res, bool pass) {
    return pass ? PASS : fh_send_status(res, 404);
}

/* Writes s into the body, escaped for HTML text and attribute values. */
static int html_escaped(fh_response_t *res, const char *s, size_t n) {
    int err = 0;
    size_t start = 0;
    for (size_t i = 0; i < n && !err; i++) {
        const char *rep = NULL;
        switch (s[i]) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default: continue;
        }
        err = fh_response_write(res, s + start, i - start);
        if (!err)
            err = fh_response_write(res, rep, strlen(rep));
        start = i + 1;
    }
    return err ? err : fh_response_write(res, s + start, n - start);
}

/* Writes s percent-encoded for a relative URL path segment. */
static int url_escaped(fh_response_t *res, const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    int err = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && !err; p++) {
        unsigned char c = *p;
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '.' || c == '_' || c == '~';
        if (plain) {
            err = fh_response_write(res, p, 1);
        } else {
            char e[3] = { '%', hex[c >> 4], hex[c & 15] };
            err = fh_response_write(res, e, 3);
        }
    }
    return err;
}

typedef struct entry {
    char *name;
    bool dir;
} entry_t;

static int entry_cmp(const void *a, const void *b) {
    return strcmp(((const entry_t *)a)->name, ((const entry_t *)b)->name);
}

/* An HTML list of the directory dir_fd (which this function closes), whose
 * path under the root is rel. */
static int send_listing(const fh_static_t *st, fh_request_t *req, fh_response_t *res, int dir_fd,
                        const char *rel, fh_str_t shown) {
    DIR *d = fdopendir(dir_fd);
    if (!d) {
        close(dir_fd);
        return fh_send_status(res, 500);
    }
    size_t n = 0, cap = 64;
    entry_t *list = fh_alloc(req, cap * sizeof(*list));
    int err = list ? 0 : FH_ENOMEM;
    struct dirent *de;
    while (!err && n < MAX_LISTING && (de = readdir(d)) != NULL) {
        if (!segment_ok(st, de->d_name, strlen(de->d_name)))
            continue;
        struct stat sb;
        if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (S_ISLNK(sb.st_mode)) {
            /* Listed only when it would be served: followed, and inside. */
            if (st->opts.symlinks != FH_STATIC_SYMLINKS_INSIDE)
                continue;
            char *path = fh_sprintf(req, "%s%s%s", rel, *rel ? "/" : "", de->d_name);
            int fd = path ? open_beneath(st, path) : -ENOMEM;
            if (fd < 0)
                continue;
            int ok = fstat(fd, &sb);
            close(fd);
            if (ok != 0)
                continue;
        }
        if (!S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode))
            continue;
        if (n == cap) {
            entry_t *grown = fh_arena_realloc(fh_request_arena(req), list, cap * sizeof(*list),
                                              2 * cap * sizeof(*list));
            if (!grown) {
                err = FH_ENOMEM;
                break;
            }
            list = grown;
            cap *= 2;
        }
        list[n].name = fh_strdup(req, de->d_name);
        list[n].dir = S_ISDIR(sb.st_mode);
        if (!list[n].name)
            err = FH_ENOMEM;
        n++;
    }
    closedir(d);
    if (err)
        return err;
    qsort(list, n, sizeof(*list), entry_cmp);
    err = fh_response_header(res, "Content-Type", "text/html; charset=utf-8");
    if (!err)
        err = fh_response_printf(
            res, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of ");
    if (!err)
        err = html_escaped(res, shown.ptr, shown.len);
    if (!err)
        err = fh_response_printf(res, "</title></head>\n<body><h1>Index of ");
    if (!err)
        err = html_escaped(res, shown.ptr, shown.len);
    if (!err)
        err = fh_response_printf(res, "</h1>\n<ul>\n%s",
                                 *rel ? "<li><a href=\"../\">../</a></li>\n" : "");
    for (size_t i = 0; i < n && !err; i++) {
        err = fh_response_printf(res, "<li><a href=\"");
        if (!err)
            err = url_escaped(res, list[i].name);
        if (!err)
            err = fh_response_printf(res, "%s\">", list[i].dir ? "/" : "");
        if (!err)
            err = html_escaped(res, list[i].name, strlen(list[i].name));
        if (!err)
            err = fh_response_printf(res, "%s</a></li>\n", list[i].dir ? "/" : "");
    }
    if (!err)
        err = fh_response_printf(res, "</ul>\n</body></html>\n");
    return err ? err : fh_response_end(res);
}

/* Reads [off, off+len) of fd into the arena and makes it the body. */
static int send_small(fh_request_t *req, fh_response_t *res, int fd, int64_t off, size_t len) {
    char *buf = fh_alloc(req, len);
    if (!buf)
        return FH_ENOMEM;
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, buf + got, len - got, (off_t)off + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break; /* shrank meanwhile: the length sent says what was read */
        got += (size_t)r;
    }
    int err = fh_response_body_borrow(res, buf, got);
    return err ? err : fh_response_end(res);
}

/* Lets go of the descriptor of a file answered: closed, or kept by the
 * cache entry e. */
static void fd_done(int fd, file_entry_t *e) {
    if (!e)
        close(fd);
}

/* Answers with the regular file fd (closed or handed to fh_send_fd), or
 * the cache entry e's (which keeps it) when e is set. */
static int send_file(const fh_static_t *st, fh_request_t *req, fh_response_t *res, int fd,
                     file_entry_t *e, const struct stat *sb, const char *name) {
    int64_t size = (int64_t)sb->st_size;
    uint64_t mtime_ns = (uint64_t)sb->st_mtim.tv_sec * 1000000000u + (uint64_t)sb->st_mtim.tv_nsec;
    char etag_buf[48], date[64];
    int etag_len = snprintf(etag_buf, sizeof(etag_buf), "\"%llx-%llx\"",
                            (unsigned long long)mtime_ns, (unsigned long long)size);
    fh_str_t etag = { etag_buf, (size_t)etag_len };
    http_date(date, sb->st_mtim.tv_sec);
    bool get = fh_request_method_id(req) == FH_METHOD_GET;
    int status = 200, err = 0;

    /* Preconditions, in RFC 9110 section 13.2.2's order. */
    fh_str_t im = fh_request_header(req, "If-Match");
    fh_str_t ius = fh_request_header(req, "If-Unmodified-Since");
    fh_str_t inm = fh_request_header(req, "If-None-Match");
    fh_str_t ims = fh_request_header(req, "If-Modified-Since");
    time_t t;
    if (im.ptr ? !etag_list_matches(im, etag, false)
               : ius.ptr && parse_http_date(trim(ius), &t) && sb->st_mtim.tv_sec > t)
        status = 412;
    else if (inm.ptr ? etag_list_matches(inm, etag, true)
                     : ims.ptr && parse_http_date(trim(ims), &t) && sb->st_mtim.tv_sec <= t)
        status = 304;

    err = fh_response_header_str(res, FH_STR_LIT("ETag"), etag);
    if (!err)
        err = fh_response_header(res, "Last-Modified", date);
    if (!err && st->opts.max_age)
        err = fh_response_headerf(res, "Cache-Control", "max-age=%u", (unsigned)st->opts.max_age);
    if (err || status != 200) {
        fd_done(fd, e);
        return err ? err : status == 304 ? fh_response_status(res, 304) : fh_send_status(res, 412);
    }

    int64_t first = 0, last = size - 1;
    fh_str_t range = get ? fh_request_header(req, "Range") : (fh_str_t){ NULL, 0 };
    fh_str_t if_range = fh_request_header(req, "If-Range");
    if (range.ptr && if_range.ptr) {
        /* The range applies only to the representation the client has. */
        if_range = trim(if_range);
        bool same = if_range.len && (if_range.ptr[0] == '"' || if_range.ptr[0] == 'W')
                        ? fh_str_equal(if_range, etag)
                        : parse_http_date(if_range, &t) && t == sb->st_mtim.tv_sec;
        if (!same)
            range.ptr = NULL;
    }
    err = fh_response_header(res, "Accept-Ranges", "bytes");
    if (!err && range.ptr) {
        switch (parse_range(range, size, &first, &last)) {
        case RANGE_OK:
            status = 206;
            err = fh_response_headerf(res, "Content-Range", "bytes %lld-%lld/%lld",
                                      (long long)first, (long long)last, (long long)size);
            break;
        case RANGE_UNSATISFIABLE:
            fd_done(fd, e);
            err = fh_response_headerf(res, "Content-Range", "bytes */%lld", (long long)size);
            return err ? err : fh_send_status(res, 416);
        default: break;
        }
    }
    if (!err)
        err = fh_response_header(res, "Content-Type", fh_static_mime_type(name));
    if (!err)
        err = fh_response_status(res, status);
    if (err) {
        fd_done(fd, e);
        return err;
    }
    int64_t len = size ? last - first + 1 : 0;
    size_t small = st->opts.sendfile_min;
    if (get && len < (int64_t)small) {
        err = send_small(req, res, fd, first, (size_t)len);
        fd_done(fd, e);
        return err;
    }
    if (e) {
        e->refs++; /* the body's hold, dropped when it has been sent */
        err = fh__send_fd_held(res, fd, first, len, entry_release, e);
        if (err)
            e->refs--;
        return err;
    }
    err = fh_send_fd(res, fd, first, len); /* fd is the response's on success */
    if (err)
        close(fd);
    return err;
}

/* Answers req from the files of st. With pass, a request that is not for
 * them (outside the prefix, another method, no such file) is left alone
 * and PASS returned; without, it gets 404 or 405. */
/* Opens rel (see open_beneath) through the thread's cache c (NULL: none):
 * a regular file comes back listed in *entry (fd and *sb are its), unless
 * it could not be listed; anything else comes back with *entry NULL and
 * fd the caller's. Returns the descriptor or -errno. */
static int open_cached(const fh_static_t *st, file_cache_t *c, char *rel, size_t n, struct stat *sb,
                       file_entry_t **entry) {
    *entry = NULL;
    uint32_t hash = 0;
    if (c) {
        hash = path_hash(rel, n);
        file_entry_t *e = cache_find(st, c, rel, n, hash);
        if (e) {
            *sb = e->sb;
            *entry = e;
            return e->fd;
        }
    }
    int fd = open_beneath(st, rel);
    if (fd < 0)
        return fd;
    if (fstat(fd, sb) != 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    if (c && S_ISREG(sb->st_mode))
        *entry = cache_add(st, c, rel, n, hash, fd, sb);
    return fd;
}

static int serve(fh_static_t *st, fh_request_t *req, fh_response_t *res, bool pass) {
    fh_str_t path = fh_request_path(req);
    if (path.len < st->prefix_len || memcmp(path.ptr, st->prefix, st->prefix_len) != 0 ||
        (path.len > st->prefix_len && path.ptr[st->prefix_len] != '/'))
        return not_found(res, pass);
    fh_method_t m = fh_request_method_id(req);
    if (m != FH_METHOD_GET && m != FH_METHOD_HEAD) {
        if (pass)
            return PASS;
        int err = fh_response_header(res, "Allow", "GET, HEAD");
        return err ? err : fh_send_status(res, 405);
    }
    fh_str_t raw = { path.ptr + st->prefix_len, path.len - st->prefix_len };
    char *decoded = fh_alloc(req, raw.len + 1);
    char *rel = fh_alloc(req, raw.len + strlen(st->index) + 2); /* room to add the index */
    if (!decoded || !rel)
        return FH_ENOMEM;
    ptrdiff_t n = fh_percent_decode(decoded, raw, false);
    if (n < 0)
        return fh_send_status(res, 400); /* malformed escape or NUL */
    size_t rel_len;
    int status = normalize(st, decoded, (size_t)n, rel, &rel_len);
    if (status == 404)
        return not_found(res, pass);
    if (status)
        return fh_send_status(res, status);

    file_cache_t *cache = cache_of(st);
    file_entry_t *entry;
    struct stat sb;
    int fd = open_cached(st, cache, rel, rel_len, &sb, &entry);
    if (fd < 0)
        return not_found(res, pass);
    if (!S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode)) {
        close(fd);
        return not_found(res, pass);
    }
    if (S_ISREG(sb.st_mode)) {
        if (n > 0 && decoded[n - 1] == '/') { /* "/file.txt/" names no directory */
            fd_done(fd, entry);
            return not_found(res, pass);
        }
        return send_file(st, req, res, fd, entry, &sb, rel);
    }

    /* A directory: its URL ends with a slash, so relative links work. */
    if (raw.len == 0 || raw.ptr[raw.len - 1] != '/') {
        close(fd);
        fh_str_t q = fh_request_query_string(req);
        char *loc = q.ptr ? fh_sprintf(req, "%.*s/?%.*s", FH_STR_FMT(path), FH_STR_FMT(q))
                          : fh_sprintf(req, "%.*s/", FH_STR_FMT(path));
        return loc ? fh_send_redirect(res, 301, loc) : FH_ENOMEM;
    }
    if (*st->index) {
        size_t k = rel_len;
        if (k)
            rel[k++] = '/';
        strcpy(rel + k, st->index);
        struct stat isb;
        file_entry_t *ientry;
        int ifd = open_cached(st, cache, rel, strlen(rel), &isb, &ientry);
        rel[rel_len] = '\0';
        if (ifd >= 0 && S_ISREG(isb.st_mode)) {
            close(fd);
            return send_file(st, req, res, ifd, ientry, &isb, st->index);
        }
        if (ifd >= 0)
            close(ifd);
    }
    if (!st->opts.list_directories) {
        close(fd);
        return not_found(res, pass);
    }
    fh_str_t shown = fh_request_path_decoded(req);
    return send_listing(st, req, res, fd, rel, shown.ptr ? shown : path);
}

int fh_static_handle(fh_request_t *req, fh_response_t *res, void *st) {
    return serve(st, req, res, false);
}

int fh_static_try(fh_request_t *req, fh_response_t *res, const fh_static_t *st) {
    /* Only the thread caches change, each on its own thread. */
    int r = serve((fh_static_t *)st, req, res, true);
    return r == PASS ? 0 : r < 0 ? r : 1;
}

/* --------------------------------------------------------------- set-up */

int fh_static_new(fh_static_t **out, const char *prefix, const char *root,
                  const fh_static_options_t *opts) {
    if (!out || !prefix || !root || (*prefix && *prefix != '/'))
        return FH_EINVAL;
    fh_static_t *st = calloc(1, sizeof(*st));
    if (!st)
        return FH_ENOMEM;
    st->root_fd = -1;
    if (opts)
        st->opts = *opts;
    if (!st->opts.sendfile_min)
        st->opts.sendfile_min = DEFAULT_SENDFILE_MIN;
    if (!st->opts.cache_valid_ms)
        st->opts.cache_valid_ms = DEFAULT_CACHE_VALID_MS;
    st->id = atomic_fetch_add(&next_static_id, 1);
    pthread_mutex_init(&st->lock, NULL);
    if (st->opts.cache_entries > MAX_CACHE_ENTRIES) {
        fprintf(stderr, "fasthttp: static: cache_entries %u is more than %u\n",
                (unsigned)st->opts.cache_entries, MAX_CACHE_ENTRIES);
        pthread_mutex_destroy(&st->lock);
        free(st);
        return FH_EINVAL;
    }
    int err = FH_ENOMEM;
    size_t plen = strlen(prefix);
    while (plen && prefix[plen - 1] == '/')
        plen--;
    st->prefix = strndup(prefix, plen);
    st->index = strdup(st->opts.index ? st->opts.index : "index.html");
    st->root = realpath(root, NULL);
    if (!st->root) {
        err = errno == ENOMEM ? FH_ENOMEM : uv_translate_sys_error(errno);
        goto error;
    }
    if (!st->prefix || !st->index)
        goto error;
    st->opts.index = st->index;
    st->prefix_len = plen;
    st->root_len = strlen(st->root);
    if (strchr(st->index, '/')) {
        err = FH_EINVAL;
        goto error;
    }
    st->root_fd = open(st->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (st->root_fd < 0) {
        err = uv_translate_sys_error(errno);
        goto error;
    }
    *out = st;
    return 0;

error:
    fh_static_free(st);
    return err;
}

void fh_static_free(fh_static_t *st) {
    if (!st)
        return;
    caches_free(st);
    pthread_mutex_destroy(&st->lock);
    if (st->root_fd >= 0)
        close(st->root_fd);
    free(st->prefix);
    free(st->index);
    free(st->root);
    free(st);
}

/* ------------------------------------------------------------ middleware */

static int static_before(fh_request_t *req, fh_response_t *res, void *data) {
    int r = fh_static_try(req, res, data);
    return r < 0 ? r : r ? FH_STOP : FH_NEXT;
}

static void static_release(void *data) { fh_static_free(data); }

int fh_static(fh_middleware_t *out, const char *prefix, const char *root,
              const fh_static_options_t *opts) {
    if (!out)
        return FH_EINVAL;
    fh_static_t *st;
    int err = fh_static_new(&st, prefix, root, opts);
    if (err)
        return err;
    memset(out, 0, sizeof(*out));
    out->name = "static";
    out->before = static_before;
    out->data = st;
    out->release = static_release;
    return 0;
}
