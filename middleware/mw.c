/* Helpers shared by the built-in middleware (see mw.h). */
#include "core/http1_syntax.h"
#include "middleware/mw.h"

#include <stdio.h>
#include <stdlib.h>

static _Thread_local char mw_error[512];

const char *fh_middleware_error(void) { return mw_error; }

int fh__mw_fail(int err, const char *fmt, ...) {
    int n = snprintf(mw_error, sizeof(mw_error), "fasthttp: ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(mw_error + n, sizeof(mw_error) - (size_t)n, fmt, ap);
    va_end(ap);
    return err;
}

void fh__mw_ok(void) { mw_error[0] = '\0'; }

void fh_middleware_release(fh_middleware_t *mw) {
    if (!mw)
        return;
    if (mw->release)
        mw->release(mw->data);
    memset(mw, 0, sizeof(*mw));
}

/* ------------------------------------------------------------ tokens */

bool fh__mw_is_token(fh_str_t s) {
    if (!s.ptr || s.len == 0)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (!fh__h1_is_tchar((unsigned char)s.ptr[i]))
            return false;
    return true;
}

bool fh__mw_is_field_value(const char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

int fh__mw_join_tokens(char **out, const char *const *list, const char *field) {
    *out = NULL;
    if (!list)
        return 0;
    size_t n = 0, total = 1;
    for (; list[n]; n++) {
        if (!fh__mw_is_token(fh_str(list[n])))
            return fh__mw_fail(FH_ECONFIG, "%s[%zu]: \"%s\" is not a token", field, n, list[n]);
        total += strlen(list[n]) + 2;
    }
    char *s = malloc(total);
    if (!s)
        return FH_ENOMEM;
    char *p = s;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(list[i]);
        if (i) {
            memcpy(p, ", ", 2);
            p += 2;
        }
        memcpy(p, list[i], l);
        p += l;
    }
    *p = '\0';
    *out = s;
    return 0;
}

bool fh__mw_list_has(fh_str_t list, fh_str_t token) {
    size_t i = 0;
    while (list.ptr && i < list.len) {
        while (i < list.len && (list.ptr[i] == ' ' || list.ptr[i] == '\t' || list.ptr[i] == ','))
            i++;
        size_t start = i;
        while (i < list.len && list.ptr[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (list.ptr[end - 1] == ' ' || list.ptr[end - 1] == '\t'))
            end--;
        if (end > start && fh_str_ieq((fh_str_t){ list.ptr + start, end - start }, token))
            return true;
    }
    return false;
}

int fh__mw_vary_add(fh_response_t *res, fh_str_t token) {
    static const fh_str_t name = FH_STR_LIT("Vary");
    fh_str_t vary = fh__response_header_find(res, name);
    if (!vary.ptr)
        return fh__response_header_add_view(res, name, token);
    if (vary.len == 0)
        return fh__response_header_set_view(res, name, token);
    if (fh__mw_list_has(vary, FH_STR_LIT("*")) || fh__mw_list_has(vary, token))
        return 0;
    size_t n = vary.len + 2 + token.len;
    char *v = fh_alloc(fh_response_request(res), n + 1);
    if (!v)
        return FH_ENOMEM;
    memcpy(v, vary.ptr, vary.len);
    memcpy(v + vary.len, ", ", 2);
    memcpy(v + vary.len + 2, token.ptr, token.len);
    v[n] = '\0';
    return fh__response_header_set_view(res, name, (fh_str_t){ v, n });
}

/* -------------------------------------------------------------- JSON */

size_t fh__mw_json_escape(char *dst, fh_str_t s) {
    static const char hex[] = "0123456789abcdef";
    char *p = dst;
    const unsigned char *u = (const unsigned char *)s.ptr;
    for (size_t i = 0; i < s.len;) {
        unsigned char c = u[i];
        if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = (char)c;
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            switch (c) {
            case '\n':
                *p++ = '\\';
                *p++ = 'n';
                break;
            case '\r':
                *p++ = '\\';
                *p++ = 'r';
                break;
            case '\t':
                *p++ = '\\';
                *p++ = 't';
                break;
            default:
                memcpy(p, "\\u00", 4);
                p[4] = hex[c >> 4];
                p[5] = hex[c & 15];
                p += 6;
            }
            i++;
        } else if (c < 0x80) {
            *p++ = (char)c;
            i++;
        } else {
            size_t l = fh__utf8_seq(u + i, s.len - i);
            if (l) {
                memcpy(p, u + i, l);
                p += l;
                i += l;
            } else {
                memcpy(p, "\xef\xbf\xbd", 3); /* U+FFFD */
                p += 3;
                i++;
            }
        }
    }
    return (size_t)(p - dst);
}

/* ---------------------------------------------------------- per loop */

int fh__perloop_init(fh__perloop_t *pl, size_t cap, void *(*create)(void *, uv_loop_t *),
                     void (*destroy)(void *, void *), void *owner) {
    size_t c = 8;
    while (c < cap)
        c *= 2;
    memset(pl, 0, sizeof(*pl));
    pl->loops = calloc(c, sizeof(*pl->loops));
    pl->states = calloc(c, sizeof(*pl->states));
    if (!pl->loops || !pl->states) {
        free((void *)pl->loops);
        free(pl->states);
        pl->loops = NULL;
        pl->states = NULL;
        return FH_ENOMEM;
    }
    for (size_t i = 0; i < c; i++)
        atomic_init(&pl->loops[i], NULL);
    pl->cap = c;
    pl->create = create;
    pl->destroy = destroy;
    pl->owner = owner;
    static _Atomic uint64_t ids;
    pl->id = atomic_fetch_add(&ids, 1) + 1;
    return 0;
}

static inline size_t loop_hash(const uv_loop_t *loop) {
    uint64_t x = (uint64_t)(uintptr_t)loop;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)x;
}

_Thread_local fh__perloop_hit_t fh__perloop_last[2] FH__TLS_FAST;

void *fh__perloop_find(fh__perloop_t *pl, uv_loop_t *loop) {
    unsigned k = (unsigned)(pl->id & 1);
    fh__perloop_hit_t *perloop_last = fh__perloop_last;
    size_t mask = pl->cap - 1;
    size_t i = loop_hash(loop) & mask;
    for (size_t probes = 0; probes < pl->cap; probes++, i = (i + 1) & mask) {
        uv_loop_t *l = atomic_load_explicit(&pl->loops[i], memory_order_acquire);
        if (l == NULL) {
            uv_loop_t *expected = NULL;
            if (!atomic_compare_exchange_strong_explicit(
                    &pl->loops[i], &expected, loop, memory_order_acq_rel, memory_order_acquire)) {
                if (expected != loop)
                    continue; /* another thread took this entry */
            }
            l = loop;
        }
        if (l == loop) {
            /* Only loop's thread touches states[i] while serving. */
            if (!pl->states[i])
                pl->states[i] = pl->create(pl->owner, loop);
            if (pl->states[i]) {
                perloop_last[k].id = pl->id;
                perloop_last[k].loop = loop;
                perloop_last[k].state = pl->states[i];
            }
            return pl->states[i];
        }
    }
    return NULL;
}

void fh__perloop_free(fh__perloop_t *pl) {
    if (!pl->loops)
        return;
    for (size_t i = 0; i < pl->cap; i++)
        if (pl->states[i])
            pl->destroy(pl->owner, pl->states[i]);
    free((void *)pl->loops);
    free(pl->states);
    pl->loops = NULL;
    pl->states = NULL;
}
