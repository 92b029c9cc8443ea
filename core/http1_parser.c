/* HTTP/1.1 parsing: the parser pool, llhttp's callbacks and the framing
 * rules of docs/conformance.md (see http1.h).
 *
 * llhttp runs over each batch of bytes with only the callbacks that find
 * the framing: the end of the head, body bytes, chunk lines and the end of
 * the message. The head itself (request line and fields) is parsed by
 * http1_syntax.c when llhttp reports it complete: the whole head lies then
 * in one buffer from the request's first byte, since a connection keeps an
 * incomplete request's bytes together (fh__conn_keep), and one strict pass
 * both checks it and records its views. */
#include <stdlib.h>

#include "core/http1.h"
#include "core/http1_syntax.h"
#include "core/worker.h"

static const llhttp_settings_t parser_settings;

static inline fh__conn_t *conn_of(llhttp_t *p) { return p->data; }
static inline const fh_limits_t *limits_of(const fh__conn_t *c) {
    return &fh__conn_worker(c)->server->cfg.limits;
}

static int reject(fh__conn_t *c, int status) {
    fh__h1_of(c)->err_status = (uint16_t)status;
    return -1;
}

/* ------------------------------------------------------------ the pool */

/* An llhttp_t is only needed while bytes are being parsed or a request is
 * half read; idle keep-alive connections hold none, which keeps them
 * small. The worker keeps the released ones (linked through ->data). */
enum { PARSER_POOL_MAX = 1024 };

llhttp_t *fh__h1_parser_get(fh__conn_t *c) {
    fh__worker_t *w = fh__conn_worker(c);
    llhttp_t *p = w->parsers;
    if (p) {
        w->parsers = p->data;
        w->nparsers--;
    } else if (!(p = malloc(sizeof(*p)))) {
        return NULL;
    }
    llhttp_init(p, HTTP_REQUEST, &parser_settings);
    p->data = c;
    return p;
}

void fh__h1_parser_put(fh__conn_t *c) {
    fh__h1_t *h = fh__h1_of(c);
    llhttp_t *p = h->parser;
    if (!p)
        return;
    h->parser = NULL;
    fh__worker_t *w = fh__conn_worker(c);
    if (w->nparsers >= PARSER_POOL_MAX) {
        free(p);
        return;
    }
    p->data = w->parsers;
    w->parsers = p;
    w->nparsers++;
}

void fh__h1_parsers_free(fh__worker_t *w) {
    llhttp_t *p = w->parsers;
    while (p) {
        llhttp_t *next = p->data;
        free(p);
        p = next;
    }
    w->parsers = NULL;
    w->nparsers = 0;
}

/* -------------------------------------------------------------- errors */

int fh__h1_parse_error_status(fh__conn_t *c, llhttp_errno_t err) {
    fh__h1_t *h = fh__h1_of(c);
    if (h->err_status)
        return h->err_status;
    const char *b = h->cur ? h->cur->raw_begin : NULL;
    const char *end = h->batch ? h->batch->end : NULL;
    switch (err) {
    case HPE_INVALID_METHOD:
        /* A method token llhttp does not know is 501 (RFC 9110 9.1); bytes
         * that are no token at all (a TLS hello, garbage) are 400. */
        if (b && b < end) {
            const char *q = b;
            while (q < end && fh__h1_is_tchar((unsigned char)*q))
                q++;
            if (q > b && (q == end || *q == ' '))
                return 501;
        }
        return 400;
    case HPE_INVALID_VERSION:
        return b && b < end ? fh__h1_version_status(b, (size_t)(end - b)) : 400;
    case HPE_PAUSED_H2_UPGRADE:
        /* The HTTP/2 connection preface: we speak HTTP/1.1 only. */
        return 505;
    default: return 400;
    }
}

int fh__h1_check_partial(fh__conn_t *c, const char *end) {
    fh_request_t *req = fh__h1_of(c)->cur;
    const fh_limits_t *l = limits_of(c);
    size_t have = (size_t)(end - req->raw_begin);
    if (req->flags & FH__REQ_HEAD_DONE) {
        /* Trailers count against the header limit as they come. */
        if ((req->flags & FH__REQ_LAST_CHUNK) && have - req->chunk_line > l->max_header_bytes)
            return 431;
        return 0;
    }
    if (!(req->flags & FH__REQ_LINE_OK)) {
        int st = fh__h1_check_line(req->raw_begin, have, l->max_target);
        if (st > 0)
            return st;
        if (st < 0)
            req->flags |= FH__REQ_LINE_OK; /* checked once, not per byte */
    }
    return have > l->max_header_bytes ? 431 : 0;
}

/* ------------------------------------------------------------ the head */

/* Rewrites "HTTP/1.d" (d > 1) at the end of a complete request line in
 * [b, e) to HTTP/1.1; returns whether it did. */
static bool normalize_version(char *b, char *e) {
    char *eol = memchr(b, '\n', (size_t)(e - b));
    if (!eol || eol - b < 11 || eol[-1] != '\r')
        return false;
    char *v = eol - 9; /* "HTTP/1.d\r" */
    if (v[-1] != ' ' || memcmp(v, "HTTP/1.", 7) != 0 || v[7] < '2' || v[7] > '9')
        return false;
    v[7] = '1';
    return true;
}

/* Turns tabs into spaces in the whitespace run that ends at q (after b). */
static bool untab_before(char *b, char *q) {
    bool changed = false;
    for (; q > b && (q[-1] == ' ' || q[-1] == '\t'); q--)
        if (q[-1] == '\t') {
            q[-1] = ' ';
            changed = true;
        }
    return changed;
}

/* Turns the tabs of the whitespace that ends each field line in [b, e)
 * into spaces, and those at the end of an incomplete Content-Length or
 * Transfer-Encoding line (where llhttp stops at once); returns whether it
 * changed a byte. */
static bool normalize_ows(char *b, char *e) {
    bool changed = false;
    char *line = b;
    for (char *p = b; p + 1 < e; p++) {
        if (p[0] != '\r' || p[1] != '\n')
            continue;
        changed |= untab_before(b, p);
        line = p + 2;
    }
    size_t n = (size_t)(e - line);
    if ((n > 15 && fh_str_ieq((fh_str_t){ line, 15 }, FH_STR_LIT("content-length:"))) ||
        (n > 18 && fh_str_ieq((fh_str_t){ line, 18 }, FH_STR_LIT("transfer-encoding:"))))
        changed |= untab_before(line, e);
    return changed;
}

bool fh__h1_normalize(fh__conn_t *c, llhttp_errno_t err) {
    fh__h1_t *h = fh__h1_of(c);
    fh_request_t *req = h->cur;
    if (!req || !req->raw_begin || !h->batch)
        return false;
    /* The bytes are ours: the loop's buffer or the connection's own. */
    char *b = (char *)req->raw_begin, *e = (char *)h->batch->end;
    bool changed = false;
    if (h->rewritten) {
        changed = true; /* by on_headers_complete, which found the head after it */
        h->rewritten = false;
    } else if (req->flags & FH__REQ_HEAD_DONE) {
        return false;
    } else if (err == HPE_INVALID_VERSION) {
        changed = normalize_version(b, e);
    } else if (err == HPE_INVALID_CONTENT_LENGTH || err == HPE_INVALID_TRANSFER_ENCODING) {
        changed = normalize_ows(b, e);
    }
    if (!changed)
        return false;
    /* What the head gave the request goes: it is parsed again. */
    req->flags &= ~(unsigned)(FH__REQ_HEAD_DONE | FH__REQ_VERSION | FH__REQ_KEEP_ALIVE |
                              FH__REQ_UPGRADE | FH__REQ_CHUNKED | FH__REQ_CONTINUE);
    req->nheaders = 0;
    req->method_str = req->target = req->path = req->query = (fh_str_t){ NULL, 0 };
    llhttp_init(h->parser, HTTP_REQUEST, &parser_settings);
    h->parser->data = c;
    h->err_status = 0;
    return true;
}

void fh__h1_fill_partial(fh__conn_t *c, fh_request_t *req, size_t avail) {
    if (req->method_str.ptr || !req->raw_begin || !avail)
        return;
    fh__h1_head_t head;
    fh__h1_fields_t f = { req->headers, 0, req->cap_headers, (uint32_t)limits_of(c)->max_headers,
                          req->arena };
    /* Fields collected already (a refused head) stay as they are. */
    fh__h1_parse_partial(req->raw_begin, avail, &head, req->nheaders ? NULL : &f);
    req->method_str = head.method;
    req->target = head.target;
    if (!req->nheaders) {
        req->headers = f.v;
        req->cap_headers = f.cap;
        req->nheaders = f.n;
    }
}

static fh_method_t map_method(uint8_t m) {
    switch (m) {
    case HTTP_GET: return FH_METHOD_GET;
    case HTTP_HEAD: return FH_METHOD_HEAD;
    case HTTP_POST: return FH_METHOD_POST;
    case HTTP_PUT: return FH_METHOD_PUT;
    case HTTP_DELETE: return FH_METHOD_DELETE;
    case HTTP_PATCH: return FH_METHOD_PATCH;
    case HTTP_OPTIONS: return FH_METHOD_OPTIONS;
    case HTTP_CONNECT: return FH_METHOD_CONNECT;
    case HTTP_TRACE: return FH_METHOD_TRACE;
    default: return FH_METHOD_OTHER;
    }
}

/* Splits the target into path and query. Origin-form "/p?q", absolute-form
 * "http://host/p?q" (the path after the authority, which is returned in
 * *authority), asterisk-form "*" (OPTIONS only). Returns 0 or 400. */
static int split_target(fh_request_t *req, fh_str_t *authority) {
    const char *t = req->target.ptr;
    size_t n = req->target.len;
    if (!t || n == 0)
        return 400;
    size_t start = 0;
    if (t[0] != '/') {
        if (n == 1 && t[0] == '*') {
            if (req->method != FH_METHOD_OPTIONS)
                return 400;
            req->path = req->target;
            return 0;
        }
        size_t s;
        if (n > 7 && fh_str_ieq((fh_str_t){ t, 7 }, FH_STR_LIT("http://")))
            s = 7;
        else if (n > 8 && fh_str_ieq((fh_str_t){ t, 8 }, FH_STR_LIT("https://")))
            s = 8;
        else
            return 400;
        size_t i = s;
        while (i < n && t[i] != '/' && t[i] != '?')
            i++;
        /* No empty authority, and no userinfo (RFC 9110 4.2.4). */
        fh_str_t auth = { t + s, i - s };
        if (auth.len == 0 || memchr(auth.ptr, '@', auth.len) || fh__h1_check_host(auth))
            return 400;
        *authority = auth;
        if (i == n || t[i] == '?') {
            req->path = FH_STR_LIT("/");
            if (i < n) {
                req->query.ptr = t + i + 1;
                req->query.len = n - i - 1;
            }
            return 0;
        }
        start = i;
    }
    const char *q = memchr(t + start, '?', n - start);
    req->path.ptr = t + start;
    req->path.len = q ? (size_t)(q - (t + start)) : n - start;
    if (q) {
        req->query.ptr = q + 1;
        req->query.len = (size_t)(t + n - (q + 1));
    }
    return 0;
}

/* The head, strictly: this is where bare CRs and LFs, obs-fold, whitespace
 * before a colon and malformed request lines are refused, and where the
 * request gets its method, target, version and fields. Returns 0 or a
 * status. */
static int head_parse(fh__conn_t *c, llhttp_t *p, fh_request_t *req, fh_str_t *authority) {
    const fh_limits_t *l = limits_of(c);
    const char *end = fh__h1_of(c)->batch->end;
    if (!req->raw_begin || req->raw_begin >= end)
        return 400;
    size_t avail = (size_t)(end - req->raw_begin);
    fh__h1_head_t head = { { NULL, 0 }, { NULL, 0 }, 0, 0 };
    fh__h1_fields_t f = { req->headers, 0, req->cap_headers, (uint32_t)l->max_headers, req->arena };
    int st = fh__h1_parse_head(req->raw_begin, avail, &head, &f);
    req->headers = f.v;
    req->cap_headers = f.cap;
    req->nheaders = f.n; /* the valid fields so far, also for a refusal */
    if (st) {
        fh__h1_fill_partial(c, req, avail);
        return fh__h1_check_line(req->raw_begin, avail, l->max_target) == 414 ? 414 : st;
    }
    req->head_len = head.len;
    req->method_str = head.method;
    req->target = head.target;
    if (head.target.len > l->max_target)
        return 414;
    if (head.len > l->max_header_bytes)
        return 431;
    if (p->http_major != 1 || p->http_minor > 1)
        return 505;
    req->version = (uint8_t)(10 + head.minor);
    req->flags |= FH__REQ_VERSION;
    req->method = (uint8_t)map_method(p->method);
    /* We open no tunnels. */
    if (p->method == HTTP_CONNECT)
        return 501;
    return split_target(req, authority);
}

/* The fields that decide framing and routing, found in one pass. */
typedef struct framing {
    fh__header_t *host;
    int hosts;
    bool expect_continue, expect_other;
    bool upgrade;       /* an Upgrade field */
    unsigned conn_opts; /* FH__H1_CONN_* of the Connection fields */
    fh_str_t te[8];
    size_t nte, ncl;
    uint64_t cl;
} framing_t;

static int framing_fields(fh_request_t *req, framing_t *fr) {
    fr->host = NULL;
    fr->hosts = 0;
    fr->expect_continue = fr->expect_other = fr->upgrade = false;
    fr->conn_opts = 0;
    fr->nte = fr->ncl = 0;
    fr->cl = 0;
    for (uint32_t i = 0; i < req->nheaders; i++) {
        fh__header_t *h = &req->headers[i];
        switch (h->name.len) {
        case 4:
            if (fh__name_is(h->name, "host")) {
                fr->hosts++;
                fr->host = h;
                if (fh__h1_check_host(h->value))
                    return 400;
            }
            break;
        case 7:
            if (fh__name_is(h->name, "upgrade"))
                fr->upgrade = true;
            break;
        case 10:
            if (fh__name_is(h->name, "connection"))
                fr->conn_opts |= fh__h1_connection_options(h->value);
            break;
        case 6:
            if (fh__name_is(h->name, "expect")) {
                if ((h->value.len == 12 && fh_str_ieq(h->value, FH_STR_LIT("100-continue"))))
                    fr->expect_continue = true;
                else
                    fr->expect_other = true;
            }
            break;
        case 14:
            if (fh__name_is(h->name, "content-length")) {
                fr->ncl++;
                if (fh__h1_content_length(h->value, &fr->cl))
                    return 400;
            }
            break;
        case 17:
            if (fh__name_is(h->name, "transfer-encoding")) {
                if (fr->nte == sizeof(fr->te) / sizeof(fr->te[0]))
                    return 400;
                fr->te[fr->nte++] = h->value;
            }
            break;
        default: break;
        }
    }
    return 0;
}

/* RFC 9112 3.2 (Host), 6.1 and 6.3 (Transfer-Encoding and Content-Length),
 * RFC 9110 10.1.1 (Expect), and the body limit. */
static int framing_check(fh__conn_t *c, const llhttp_t *p, fh_request_t *req, const framing_t *fr,
                         fh_str_t authority, uint64_t stream_limit) {
    if (fr->hosts > 1 || (fr->hosts == 0 && req->version == 11))
        return 400;
    /* The authority of an absolute-form target wins over Host (RFC 9112
     * 3.2.2): handlers asking for Host see it. */
    if (authority.ptr && fr->host)
        fr->host->value = authority;
    if (fr->nte) {
        /* TE with Content-Length, or in HTTP/1.0, is faulty framing;
         * chunked must be the one and final coding. */
        if (fr->ncl || req->version == 10)
            return 400;
        int st = fh__h1_transfer_encoding(fr->te, fr->nte);
        if (st)
            return st;
        if (!p || !(p->flags & F_CHUNKED)) {
            /* llhttp misses chunked behind a tab: rewritten, parsed again
             * (fh__h1_normalize), or refused when there is no such tab. */
            fh__h1_t *h = fh__h1_of(c);
            if (p && normalize_ows((char *)req->raw_begin, (char *)req->raw_begin + req->head_len))
                h->rewritten = true;
            return 400;
        }
        req->flags |= FH__REQ_CHUNKED;
        req->chunk_line = req->head_len;
    } else if (fr->ncl > 1 || (fr->ncl && (!p || fr->cl != p->content_length))) {
        return 400;
    }
    if (fr->ncl && fr->cl > (stream_limit ? stream_limit : limits_of(c)->max_body))
        return 413;
    /* Keep-alive and Upgrade as the Connection field says (RFC 9112 9.3,
     * RFC 9110 7.6.1 and 7.8): HTTP/1.1 stays open unless "close", HTTP/1.0
     * only with "keep-alive". */
    bool close = fr->conn_opts & FH__H1_CONN_CLOSE;
    if (req->version == 11 ? !close : (fr->conn_opts & FH__H1_CONN_KEEP_ALIVE) && !close)
        req->flags |= FH__REQ_KEEP_ALIVE;
    if (fr->upgrade && (fr->conn_opts & FH__H1_CONN_UPGRADE))
        req->flags |= FH__REQ_UPGRADE;
    /* HTTP/1.0 has no expectations (RFC 9110 10.1.1): ignored there. */
    if (req->version == 11 && fr->expect_other)
        return 417;
    if (req->version == 11 && fr->expect_continue) {
        /* 100 only when a body is still to come: not if it is already here
         * (RFC 9110 10.1.1 lets us omit it). The protocol sends it once the
         * batch is parsed (http1.c). */
        size_t avail = (size_t)(fh__h1_of(c)->batch->end - req->raw_begin);
        if ((fr->nte || fr->cl > 0) && req->head_len == avail)
            req->flags |= FH__REQ_CONTINUE;
    }
    return 0;
}

static int on_headers_complete(llhttp_t *p) {
    fh__conn_t *c = conn_of(p);
    fh_request_t *req = fh__h1_of(c)->cur;
    req->flags |= FH__REQ_HEAD_DONE;
    fh_str_t authority = { NULL, 0 };
    framing_t fr;
    int st = head_parse(c, p, req, &authority);
    if (!st)
        st = framing_fields(req, &fr);
    /* A body the route streams (body.h): its own limit, and the handler
     * runs on the head. Asked only for a request with a body. */
    uint64_t stream_limit = 0;
    const fh_server_config_t *cfg = &fh__conn_worker(c)->server->cfg;
    if (!st && cfg->body_stream && (fr.nte || (fr.ncl && fr.cl > 0)) &&
        req->method != FH_METHOD_OTHER)
        stream_limit = cfg->body_stream(req, cfg->body_stream_data);
    if (!st)
        st = framing_check(c, p, req, &fr, authority, stream_limit);
    if (st)
        return reject(c, st);
    /* llhttp misses a Connection option followed by a tab: rewritten and
     * parsed again (fh__h1_normalize) so that both readings agree; where
     * they still differ, the safer one wins: closing, and treating the
     * request as an upgrade (after which nothing is parsed). */
    bool ka = req->flags & FH__REQ_KEEP_ALIVE;
    if (ka != (bool)llhttp_should_keep_alive(p) &&
        normalize_ows((char *)req->raw_begin, (char *)req->raw_begin + req->head_len)) {
        fh__h1_of(c)->rewritten = true;
        return reject(c, 400);
    }
    if (!llhttp_should_keep_alive(p))
        req->flags &= ~(unsigned)FH__REQ_KEEP_ALIVE;
    if (p->upgrade)
        req->flags |= FH__REQ_UPGRADE;
    if (stream_limit && !(req->flags & FH__REQ_UPGRADE)) {
        fh__body_stream_t *bs = fh_arena_calloc(req->arena, 1, sizeof(*bs));
        if (!bs)
            return reject(c, 503);
        bs->limit = stream_limit;
        bs->declared = fr.nte ? UINT64_MAX : fr.cl;
        req->stream = bs;
        req->flags |= FH__REQ_STREAM;
        /* Pause: the protocol runs the handler before the body is parsed. */
        return HPE_PAUSED;
    }
    return 0;
}

/* ------------------------------------------------- heads without a body */

/* The methods a request without a body may be served with at once: those
 * llhttp knows and the core serves (CONNECT and the others take llhttp's
 * way, which answers them as before). */
static fh_method_t fast_method(fh_str_t m) {
    switch (m.len) {
    case 3:
        if (memcmp(m.ptr, "GET", 3) == 0)
            return FH_METHOD_GET;
        if (memcmp(m.ptr, "PUT", 3) == 0)
            return FH_METHOD_PUT;
        break;
    case 4:
        if (memcmp(m.ptr, "HEAD", 4) == 0)
            return FH_METHOD_HEAD;
        if (memcmp(m.ptr, "POST", 4) == 0)
            return FH_METHOD_POST;
        break;
    case 5:
        if (memcmp(m.ptr, "PATCH", 5) == 0)
            return FH_METHOD_PATCH;
        if (memcmp(m.ptr, "TRACE", 5) == 0)
            return FH_METHOD_TRACE;
        break;
    case 6:
        if (memcmp(m.ptr, "DELETE", 6) == 0)
            return FH_METHOD_DELETE;
        break;
    case 7:
        if (memcmp(m.ptr, "OPTIONS", 7) == 0)
            return FH_METHOD_OPTIONS;
        break;
    default: break;
    }
    return FH_METHOD_OTHER;
}

/* Undoes what fh__h1_fast_head set, for llhttp's way. */
static void fast_undo(fh_request_t *req) {
    req->nheaders = 0;
    req->method_str = req->target = req->path = req->query = (fh_str_t){ NULL, 0 };
    req->head_len = 0;
    req->version = 11;
    req->method = FH_METHOD_OTHER;
    req->flags &= ~(unsigned)(FH__REQ_VERSION | FH__REQ_KEEP_ALIVE | FH__REQ_UPGRADE);
}

bool fh__h1_fast_head(fh__conn_t *c, const char *end) {
    fh_request_t *req = fh__h1_of(c)->cur;
    const fh_limits_t *l = limits_of(c);
    if (fh__conn_worker(c)->server->h1_llhttp_only)
        return false;
    size_t avail = (size_t)(end - req->raw_begin);
    fh__h1_head_t head;
    fh__h1_fields_t f = { req->headers, 0, req->cap_headers, (uint32_t)l->max_headers, req->arena };
    int st = fh__h1_parse_head(req->raw_begin, avail, &head, &f);
    req->headers = f.v;
    req->cap_headers = f.cap;
    if (st)
        return false; /* incomplete, or refused the way llhttp's path refuses it */
    req->nheaders = f.n;
    fh_method_t m = fast_method(head.method);
    framing_t fr;
    fh_str_t authority = { NULL, 0 };
    if (m == FH_METHOD_OTHER || head.target.len > l->max_target || head.len > l->max_header_bytes)
        goto undo;
    req->method_str = head.method;
    req->target = head.target;
    req->head_len = head.len;
    req->version = (uint8_t)(10 + head.minor);
    req->flags |= FH__REQ_VERSION;
    req->method = (uint8_t)m;
    if (framing_fields(req, &fr) || fr.ncl || fr.nte || split_target(req, &authority) ||
        framing_check(c, NULL, req, &fr, authority, 0))
        goto undo;
    req->flags |= FH__REQ_HEAD_DONE | FH__REQ_COMPLETE;
    req->body = FH_STR_LIT("");
    req->raw_end = req->raw_begin + head.len;
    return true;
undo:
    fast_undo(req);
    return false;
}

/* ------------------------------------------------------------ the body */

static int on_body(llhttp_t *p, const char *at, size_t len) {
    fh__conn_t *c = conn_of(p);
    fh_request_t *req = fh__h1_of(c)->cur;
    req->flags &= ~(unsigned)FH__REQ_CONTINUE; /* the client did not wait */
    if (req->flags & FH__REQ_STREAM) {
        fh__body_stream_t *bs = req->stream;
        if (len > bs->limit - bs->received)
            return reject(c, 413);
        bs->received += len;
        int r = bs->fn(req, (fh_str_t){ at, len }, FH_BODY_DATA, bs->data);
        if (r == FH_BODY_PAUSE)
            bs->paused = true;
        /* Answered early, or paused: the protocol stops after these bytes.
         * A pause after the last bytes of a Content-Length body lets llhttp
         * complete the message (no byte would come to make it go on); the
         * end then waits for the resume (http1.c). */
        if ((req->res.flags & FH__RES_FINAL) || !req->conn)
            return HPE_PAUSED;
        return bs->paused && bs->received != bs->declared ? HPE_PAUSED : 0;
    }
    if (req->body.len + len > limits_of(c)->max_body)
        return reject(c, 413);
    if (!req->body.ptr) {
        req->body.ptr = at;
        req->body.len = len;
    } else {
        char *dst = (char *)req->body.ptr + req->body.len;
        /* Chunked bodies are joined in place: data only ever moves back over
         * chunk framing the parser has already consumed (and checked: the
         * checks below only look ahead of the data being moved). */
        if (dst != at)
            memmove(dst, at, len);
        req->body.len += len;
    }
    return 0;
}

/* Bytes from raw_begin that llhttp has been given, for the checks below. */
static inline size_t raw_avail(const fh__conn_t *c) {
    const fh__h1_t *h = fh__h1_of(c);
    return (size_t)(h->batch->end - h->cur->raw_begin);
}

/* A chunk-size line is complete: check it strictly (llhttp 8.1.0 takes any
 * byte after its CR) and note where the next line will start. */
static int on_chunk_header(llhttp_t *p) {
    fh__conn_t *c = conn_of(p);
    fh_request_t *req = fh__h1_of(c)->cur;
    req->chunk_ext = 0;
    size_t off = req->chunk_line, len = 0, avail = raw_avail(c);
    if (!(req->flags & FH__REQ_CHUNKED) || off > avail ||
        fh__h1_check_chunk_line(req->raw_begin + off, avail - off, &len))
        return reject(c, 400);
    uint64_t size = p->content_length;
    if (req->flags & FH__REQ_STREAM) {
        if (size > req->stream->limit - req->stream->received)
            return reject(c, 413);
    } else if (size > limits_of(c)->max_body - req->body.len) {
        return reject(c, 413); /* said at once, not when the data comes */
    }
    if (size == 0) {
        req->flags |= FH__REQ_LAST_CHUNK;
        req->chunk_line = off + len; /* the trailer section */
    } else {
        req->chunk_line = off + len + size + 2;
    }
    return 0;
}

/* Chunk data must end with CRLF: llhttp 8.1.0 skips any two bytes. */
static int on_chunk_complete(llhttp_t *p) {
    fh__conn_t *c = conn_of(p);
    fh_request_t *req = fh__h1_of(c)->cur;
    if (req->flags & FH__REQ_LAST_CHUNK)
        return 0;
    size_t end = req->chunk_line;
    const char *crlf = req->raw_begin + end - 2;
    if (end < 2 || end > raw_avail(c) || crlf[0] != '\r' || crlf[1] != '\n')
        return reject(c, 400);
    return 0;
}

static int on_chunk_ext(llhttp_t *p, const char *at, size_t len) {
    (void)at;
    fh__conn_t *c = conn_of(p);
    fh_request_t *req = fh__h1_of(c)->cur;
    req->chunk_ext += len;
    return req->chunk_ext > limits_of(c)->max_chunk_ext ? reject(c, 400) : 0;
}

/* Counts the fields of a checked trailer section (len bytes at p). */
static size_t trailer_fields(const char *p, size_t len) {
    size_t n = 0;
    for (const char *e = p + len - 2; p < e; p++)
        n += *p == '\n';
    return n;
}

static int on_message_complete(llhttp_t *p) {
    fh__conn_t *c = conn_of(p);
    fh_request_t *req = fh__h1_of(c)->cur;
    if (req->flags & FH__REQ_CHUNKED) {
        /* The trailer section, strictly, up to its empty line. Trailer
         * fields are never stored: they cannot add to or override the
         * header section (Content-Length, Host, ...), RFC 9110 6.5.1. */
        const fh_limits_t *l = limits_of(c);
        size_t off = req->chunk_line, len, avail = raw_avail(c);
        if (!(req->flags & FH__REQ_LAST_CHUNK) || off > avail ||
            fh__h1_check_fields(req->raw_begin + off, avail - off, &len))
            return reject(c, 400);
        if (len > l->max_header_bytes || trailer_fields(req->raw_begin + off, len) > l->max_headers)
            return reject(c, 431);
    }
    req->flags |= FH__REQ_COMPLETE;
    if (!req->body.ptr)
        req->body = FH_STR_LIT("");
    /* Pause so the request is dispatched before the next one is parsed. */
    return HPE_PAUSED;
}

static const llhttp_settings_t parser_settings = {
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_chunk_header = on_chunk_header,
    .on_chunk_complete = on_chunk_complete,
    .on_chunk_extension_name = on_chunk_ext,
    .on_chunk_extension_value = on_chunk_ext,
    .on_message_complete = on_message_complete,
};
