/* libFuzzer target: chunked request bodies, against a reference decoder.
 *
 * Input: one seed byte choosing how the rest is cut into reads, then the
 * bytes that follow "POST /e HTTP/1.1 ... Transfer-Encoding: chunked" and
 * its empty line. A small decoder written here from RFC 9112 7.1 (and the
 * stricter rules of CONFORMANCE.md 4 and 5) says whether they are a valid
 * chunked body, and which bytes it carries. Then:
 *
 * - whenever the server answers 200, the reference must call the input
 *   valid and the handler must have received exactly the reference's body
 *   (no framing is ever accepted that a strict peer would read otherwise);
 * - when the reference calls it invalid, the server must answer 400 or 413
 *   and close, and must never answer anything parsed after it;
 * - when it is valid and uses nothing llhttp 8.1.0 refuses on its own (a
 *   chunk extension; Content-Length or Transfer-Encoding as trailers), the
 *   server must answer 200 with that body;
 * - when it is incomplete, the server must not answer at all.
 */
#include "conn_driver.h"
#include "core/http1_syntax.h"

#define MAX_BODY 65536

static const char head[] = "POST /e HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";

/* REF_MAYBE: invalid, but the line it is in has not ended in the input, and
 * the server checks lines whole: a 400 now or nothing yet are both right. */
enum { REF_VALID, REF_INVALID, REF_INCOMPLETE, REF_TOO_BIG, REF_MAYBE };

typedef struct ref {
    int verdict;
    char *body;
    size_t len;
    bool llhttp_refuses; /* valid, but outside what llhttp 8.1.0 takes */
    size_t end;          /* where the message ends in the input */
} ref_t;

static int hexv(unsigned char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool ieq_prefix(const uint8_t *p, size_t n, const char *name) {
    size_t k = strlen(name);
    if (n != k)
        return false;
    for (size_t i = 0; i < k; i++)
        if ((p[i] | 0x20) != name[i])
            return false;
    return true;
}

/* Whether a CR and one more byte follow i: llhttp then ends the line. */
static bool line_closed(const uint8_t *p, size_t i, size_t n) {
    for (; i + 1 < n; i++)
        if (p[i] == '\r')
            return true;
    return false;
}

/* Reference decoder: RFC 9112 7.1 chunked-body, no whitespace in size
 * lines, extensions as token or quoted-string values, trailer fields as
 * strict field lines. */
static void reference(const uint8_t *p, size_t n, ref_t *r) {
    memset(r, 0, sizeof(*r));
    r->body = malloc(n + 1);
    size_t i = 0;
    for (;;) {
        /* chunk-size */
        uint64_t size = 0;
        size_t digits = 0;
        while (i < n && hexv(p[i]) >= 0) {
            if (size > (UINT64_MAX >> 4)) {
                r->verdict = line_closed(p, i, n) ? REF_INVALID : REF_MAYBE;
                return;
            }
            size = size * 16 + (uint64_t)hexv(p[i]);
            i++;
            digits++;
        }
        if (i == n) {
            r->verdict = REF_INCOMPLETE;
            return;
        }
        if (digits == 0) {
            r->verdict = line_closed(p, i, n) ? REF_INVALID : REF_MAYBE;
            return;
        }
        /* chunk-ext: *( ";" token [ "=" ( token / quoted-string ) ] ) */
        while (i < n && p[i] == ';') {
            r->llhttp_refuses = true;
            i++;
            size_t b = i;
            while (i < n && fh__h1_is_tchar(p[i]))
                i++;
            if (i == n) {
                r->verdict = REF_INCOMPLETE;
                return;
            }
            if (i == b) {
                r->verdict = line_closed(p, i, n) ? REF_INVALID : REF_MAYBE;
                return;
            }
            if (p[i] != '=')
                continue;
            i++;
            if (i == n) {
                r->verdict = REF_INCOMPLETE;
                return;
            }
            if (p[i] == '"') {
                for (i++;; i++) {
                    if (i >= n) {
                        r->verdict = REF_INCOMPLETE;
                        return;
                    }
                    if (p[i] == '"') {
                        i++;
                        break;
                    }
                    if (p[i] == '\\') {
                        i++;
                        if (i >= n) {
                            r->verdict = REF_INCOMPLETE;
                            return;
                        }
                    }
                    if (p[i] != '\t' && (p[i] < 0x20 || p[i] == 0x7f)) {
                        r->verdict = line_closed(p, i, n) ? REF_INVALID : REF_MAYBE;
                        return;
                    }
                }
            } else {
                size_t v = i;
                while (i < n && fh__h1_is_tchar(p[i]))
                    i++;
                if (i == n) {
                    r->verdict = REF_INCOMPLETE;
                    return;
                }
                if (i == v) {
                    r->verdict = line_closed(p, i, n) ? REF_INVALID : REF_MAYBE;
                    return;
                }
            }
        }
        if (i + 1 >= n) {
            r->verdict = i < n && p[i] != '\r' ? REF_MAYBE : REF_INCOMPLETE;
            return;
        }
        if (p[i] != '\r' || p[i + 1] != '\n') {
            r->verdict = line_closed(p, i, n) ? REF_INVALID : REF_MAYBE;
            return;
        }
        i += 2;
        if (size == 0)
            break;
        /* Compared without adding: a size near UINT64_MAX ("0FFFFFFFFFFFFFFFF")
         * must not wrap the sum into a small number. */
        if (size > MAX_BODY - r->len) {
            r->verdict = REF_TOO_BIG;
            return;
        }
        if (n - i < size) {
            r->verdict = REF_INCOMPLETE;
            return;
        }
        memcpy(r->body + r->len, p + i, size);
        r->len += size;
        i += size;
        /* The two bytes after the data are checked together, when both are
         * there: one alone, right or wrong, is still incomplete. */
        if (i + 1 >= n) {
            r->verdict = REF_INCOMPLETE;
            return;
        }
        if (p[i] != '\r' || p[i + 1] != '\n') {
            r->verdict = REF_INVALID;
            return;
        }
        i += 2;
    }
    /* trailer-section: *( field-line CRLF ) CRLF. The server checks it whole
     * once llhttp reports its end, so a bad line before that end may still
     * be waiting for it: such inputs are REF_MAYBE. */
    for (;;) {
        if (i >= n) {
            r->verdict = REF_INCOMPLETE;
            return;
        }
        if (p[i] == '\r') {
            if (i + 1 >= n) {
                r->verdict = REF_INCOMPLETE;
                return;
            }
            r->verdict = p[i + 1] == '\n' ? REF_VALID : REF_INVALID;
            r->end = i + 2;
            return;
        }
        size_t b = i;
        while (i < n && fh__h1_is_tchar(p[i]))
            i++;
        if (i == n) {
            r->verdict = REF_INCOMPLETE;
            return;
        }
        if (i == b || p[i] != ':') {
            r->verdict = REF_MAYBE;
            return;
        }
        if (ieq_prefix(p + b, i - b, "content-length") ||
            ieq_prefix(p + b, i - b, "transfer-encoding"))
            r->llhttp_refuses = true;
        i++;
        while (i < n && (p[i] == '\t' || (p[i] >= 0x20 && p[i] != 0x7f)))
            i++;
        if (i + 1 >= n) {
            r->verdict = i < n && p[i] != '\r' ? REF_MAYBE : REF_INCOMPLETE;
            return;
        }
        if (p[i] != '\r' || p[i + 1] != '\n') {
            r->verdict = REF_MAYBE;
            return;
        }
        i += 2;
    }
}

/* What the handler saw. */
static char seen[MAX_BODY + 1];
static size_t seen_len;
static int requests;

static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t b = fh_request_body(req);
    requests++;
    if (requests == 1) {
        if (b.len > MAX_BODY)
            abort();
        memcpy(seen, b.ptr, b.len);
        seen_len = b.len;
    }
    return fh_send_text(res, 200, "ok");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!fz_server) {
        fh_server_config_t cfg = fh_server_config_default();
        cfg.handler = handler;
        cfg.limits.max_body = MAX_BODY;
        cfg.limits.max_chunk_ext = 1u << 20;
        cfg.limits.max_header_bytes = 1u << 20;
        cfg.limits.max_headers = 1u << 20;
        fz_init(&cfg);
    }
    if (size < 1)
        return 0;
    size_t n = size - 1;
    uint8_t *msg = malloc(sizeof(head) - 1 + n);
    memcpy(msg, head, sizeof(head) - 1);
    memcpy(msg + sizeof(head) - 1, data + 1, n);
    ref_t ref;
    reference(data + 1, n, &ref);

    requests = 0;
    seen_len = 0;
    static fz_out_t out;
    out.len = 0;
    fz_connection(msg, sizeof(head) - 1 + n, data[0], &out);
    int status = out.len >= 12 && memcmp(out.p, "HTTP/1.1 ", 9) == 0 ? atoi(out.p + 9) : 0;

    if (status == 200) {
        /* Accepted: the reference must agree, to the byte. */
        if (ref.verdict != REF_VALID || seen_len != ref.len || memcmp(seen, ref.body, ref.len) != 0)
            abort();
    }
    switch (ref.verdict) {
    case REF_INVALID:
        if (status != 400 && status != 413)
            abort();
        if (requests != 0)
            abort();
        break;
    case REF_TOO_BIG:
        if (status != 413 && status != 400)
            abort();
        break;
    case REF_MAYBE:
        if (out.len != 0 && status != 400 && status != 413)
            abort();
        if (requests != 0)
            abort();
        break;
    case REF_INCOMPLETE:
        /* Nothing to answer yet, unless llhttp already refused a part. */
        if (out.len != 0 && !ref.llhttp_refuses)
            abort();
        break;
    case REF_VALID:
        if (!ref.llhttp_refuses && status != 200)
            abort();
        break;
    }
    free(ref.body);
    free(msg);
    return 0;
}
