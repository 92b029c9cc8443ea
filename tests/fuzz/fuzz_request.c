/* libFuzzer target: the request path through the real connection code.
 *
 * Input: one seed byte choosing how the rest is cut into reads, then the
 * bytes a client sends on one connection (any number of pipelined
 * requests). The handler checks every view it is given (a view left
 * pointing at a reused buffer shows up as a non-token name or a CR in a
 * value, or as a sanitizer report), defers some responses, fails some, and
 * the bytes that come back must parse as a sequence of HTTP/1.1 responses
 * with correct lengths. The server's error handler reads every view of each
 * request the core refuses, half-parsed as it is, checks that it cannot
 * defer, and answers a problem document.
 *
 * Paths the handler knows: /d (deferred to the next loop turn), /e (echo the
 * body), /f (handler error: 500), /c (close after), /r (raw response),
 * anything else 200.
 *
 * Each input is sent twice: once as the server runs (a complete head
 * without a body is parsed by the strict head parser alone), once with
 * every head through llhttp (FH_H1_LLHTTP_ONLY's switch); the two must
 * answer byte for byte alike, Date values aside.
 */
#include <ctype.h>

#include "conn_driver.h"
#include "middleware/mw.h" /* fh__mw_is_token */

static bool clean_value(fh_str_t s) {
    if (!s.ptr)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (s.ptr[i] == '\r' || s.ptr[i] == '\n' || s.ptr[i] == '\0')
            return false;
    return true;
}

/* What must hold for every request a handler sees, strict syntax included. */
static void check_request(fh_request_t *req) {
    if (!fh__mw_is_token(fh_request_method(req)))
        abort();
    fh_str_t t = fh_request_target(req);
    if (!t.ptr || t.len == 0)
        abort();
    for (size_t i = 0; i < t.len; i++)
        if ((unsigned char)t.ptr[i] <= 0x20 || (unsigned char)t.ptr[i] >= 0x7f)
            abort();
    fh_str_t name, value;
    for (size_t i = 0; fh_request_header_at(req, i, &name, &value); i++)
        if (!fh__mw_is_token(name) || !clean_value(value))
            abort();
    fh_str_t body = fh_request_body(req);
    if (!body.ptr)
        abort();
    volatile unsigned sum = 0; /* touch every body byte */
    for (size_t i = 0; i < body.len; i++)
        sum += (unsigned char)body.ptr[i];
    (void)sum;
    fh_str_t cl = fh_request_header(req, "Content-Length");
    if (cl.ptr && strtoull(cl.ptr, NULL, 10) != body.len)
        abort();
    int v = fh_request_version(req);
    if (v != 10 && v != 11)
        abort();
    if (v == 11 && fh_request_header_nth(req, "Host", 0).ptr == NULL)
        abort();
    if (fh_request_header_nth(req, "Host", 1).ptr)
        abort();
}

typedef struct later {
    uv_timer_t timer;
    fh_response_t *res;
} later_t;

static void later_closed(uv_handle_t *h) {
    later_t *l = h->data;
    fz_pending--;
    fh_request_t *req = fh_response_request(l->res);
    check_request(req); /* a deferred request's views were moved to its arena */
    fh_send_text(l->res, 200, "later");
}

static void later_fire(uv_timer_t *t) { uv_close((uv_handle_t *)t, later_closed); }

static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    check_request(req);
    bool head = fh_request_method_id(req) == FH_METHOD_HEAD;
    if (head)
        fh_response_header(res, "X-Head", "1");
    fh_str_t path = fh_request_path(req);
    if (fh_str_eq(path, "/d")) {
        later_t *l = fh_alloc(req, sizeof(*l));
        if (!l || fh_response_defer(res) != 0)
            abort();
        l->res = res;
        uv_timer_init(fh_request_loop(req), &l->timer);
        l->timer.data = l;
        uv_timer_start(&l->timer, later_fire, 0, 0);
        fz_pending++;
        return 0;
    }
    if (fh_str_eq(path, "/e")) {
        fh_str_t b = fh_request_body(req);
        return fh_send(res, 200, "application/octet-stream", b.ptr, b.len);
    }
    if (fh_str_eq(path, "/f") && !head)
        return -1;
    if (fh_str_eq(path, "/c")) {
        fh_response_close(res);
        return fh_send_text(res, 200, "bye");
    }
    if (fh_str_eq(path, "/r") && !head) {
        static const char raw[] = "HTTP/1.1 200 OK\r\nDate: x\r\nContent-Length: 3\r\n\r\nraw";
        return fh_send_raw(res, raw, sizeof(raw) - 1, FH_RAW_BORROW);
    }
    return fh_send_text(res, 200, "ok");
}

/* The server's error handler, for every request the core refuses: reads
 * each view of the half-parsed request (AddressSanitizer checks every byte
 * is live), checks that the response cannot be deferred, and answers a
 * problem document. */
static unsigned touch(fh_str_t s) {
    unsigned sum = 0;
    for (size_t i = 0; s.ptr && i < s.len; i++)
        sum += (unsigned char)s.ptr[i];
    return sum;
}

static int error_handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    volatile unsigned sum = 0;
    sum += touch(fh_request_method(req)) + touch(fh_request_target(req));
    sum += touch(fh_request_path(req)) + touch(fh_request_path_decoded(req));
    sum += touch(fh_request_query_string(req)) + touch(fh_request_query(req, "a"));
    sum += touch(fh_request_body(req)) + touch(fh_request_header(req, "Host"));
    fh_str_t name, value;
    for (size_t i = 0; fh_request_header_at(req, i, &name, &value); i++)
        sum += touch(name) + touch(value);
    sum += touch(fh_request_remote_ip(req));
    (void)sum;
    int v = fh_request_version(req);
    if (v != 0 && v != 10 && v != 11)
        abort();
    if (fh_response_get_status(res) < 400 || fh_response_defer(res) != FH_ESTATE)
        abort();
    return fh_json_error_handler(req, res, NULL);
}

/* Walks the response stream: each response is a status line, fields with
 * Date and (but on 1xx/204/304) a Content-Length, then exactly that many
 * body bytes (none for HEAD, marked X-Head). Only the last response, a
 * framework error that closes, may be one to a HEAD request without the
 * marker: its body is then absent. */
static void check_responses(const char *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (n - i < 12 || memcmp(p + i, "HTTP/1.1 ", 9) != 0 || !isdigit((unsigned char)p[i + 9]))
            abort();
        const char *end = memmem(p + i, n - i, "\r\n\r\n", 4);
        if (!end)
            abort(); /* a head cut short */
        size_t hlen = (size_t)(end - (p + i)) + 4;
        int status = atoi(p + i + 9);
        const char *head = p + i;
        const char *cl = memmem(head, hlen, "\r\nContent-Length: ", 18);
        bool marked_head = memmem(head, hlen, "\r\nX-Head: 1\r\n", 13) != NULL;
        bool closes = memmem(head, hlen, "\r\nConnection: close\r\n", 21) != NULL;
        i += hlen;
        if (status < 200 || status == 204 || status == 304) {
            if (cl)
                abort();
            continue;
        }
        if (!cl || !memmem(head, hlen, "\r\nDate: ", 8))
            abort();
        size_t blen = strtoull(cl + 18, NULL, 10);
        if (marked_head)
            blen = 0;
        if (closes && i == n)
            blen = 0; /* an error response to HEAD: no body */
        if (n - i < blen)
            abort();
        i += blen;
        if (closes && i != n)
            abort(); /* nothing after a response that closes */
    }
}

/* Hides the Date values (the clock may tick between the two runs). */
static void mask_dates(fz_out_t *o) {
    for (size_t i = 0; i + 8 <= o->len; i++) {
        if (memcmp(o->p + i, "\r\nDate: ", 8) != 0)
            continue;
        for (size_t k = i + 8; k < o->len && o->p[k] != '\r'; k++)
            o->p[k] = 'D';
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!fz_server) {
        fh_server_config_t cfg = fh_server_config_default();
        cfg.handler = handler;
        cfg.error_handler = error_handler;
        /* Small limits, so that inputs reach them. */
        cfg.limits.max_target = 256;
        cfg.limits.max_header_bytes = 2048;
        cfg.limits.max_headers = 16;
        cfg.limits.max_body = 4096;
        cfg.limits.max_chunk_ext = 64;
        cfg.limits.max_pipelined = 4;
        cfg.limits.max_discard = 1024;
        fz_init(&cfg);
    }
    if (size < 1)
        return 0;
    static fz_out_t out, slow;
    out.len = slow.len = 0;
    fz_server->h1_llhttp_only = false;
    fz_connection(data + 1, size - 1, data[0], &out);
    check_responses(out.p, out.len);
    fz_server->h1_llhttp_only = true;
    fz_connection(data + 1, size - 1, data[0], &slow);
    mask_dates(&out);
    mask_dates(&slow);
    if (out.len != slow.len || (out.len && memcmp(out.p, slow.p, out.len) != 0)) {
        fprintf(stderr,
                "fuzz: the two ways of parsing heads answered differently:\n"
                "--- strict parser alone:\n%.*s\n--- llhttp:\n%.*s\n",
                (int)out.len, out.p, (int)slow.len, slow.p);
        abort();
    }
    return 0;
}
