/* echo: answers every request with what it received, as JSON.
 *
 *   POST /echo    -> 200, the request body as is, with the request's
 *                    Content-Type (application/octet-stream without one)
 *   anything else -> 200 {"method", "target", "path", "query", "version",
 *                    "headers", "body", "remote_addr"}
 *
 * "query" maps each query parameter (percent-decoded, '+' as a space) to its
 * value, or to an array of values when it is repeated. "headers" is an array
 * of {"name", "value"} in the order received, repeats kept. "body" is the
 * body as a string when it is UTF-8, else "body_base64" holds it; "length"
 * is its size in bytes. Header,
 * path and query bytes that are not UTF-8 are read as ISO-8859-1.
 *
 * Usage: echo [--host HOST] [--port PORT] [--threads N] (--help lists
 * them). Flags win over the environment variables HOST (default 127.0.0.1;
 * "" or "*" for every interface), PORT (default 3000; 0 picks a free port)
 * and THREADS (default 0: one per CPU).
 */
#include <fasthttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A JSON string of s: as is when it is UTF-8, else each byte read as
 * ISO-8859-1. In the request's arena, like every value built here. */
static json_t *text(fh_request_t *req, fh_str_t s) {
    json_t *j = json_stringn(s.ptr ? s.ptr : "", s.len);
    if (j)
        return j;
    unsigned char *u = fh_alloc(req, s.len * 2 + 1);
    if (!u)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c < 0x80) {
            u[n++] = c;
        } else {
            u[n++] = (unsigned char)(0xc0 | (c >> 6));
            u[n++] = (unsigned char)(0x80 | (c & 0x3f));
        }
    }
    return json_stringn((const char *)u, n);
}

/* RFC 4648 base64 of s, NUL-terminated, in the arena. */
static char *base64(fh_request_t *req, fh_str_t s) {
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = fh_alloc(req, (s.len + 2) / 3 * 4 + 1);
    if (!out)
        return NULL;
    const unsigned char *p = (const unsigned char *)s.ptr;
    size_t n = 0, i = 0;
    for (; i + 2 < s.len; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        out[n++] = abc[v >> 18];
        out[n++] = abc[(v >> 12) & 63];
        out[n++] = abc[(v >> 6) & 63];
        out[n++] = abc[v & 63];
    }
    if (i < s.len) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < s.len ? (unsigned)p[i + 1] << 8 : 0);
        out[n++] = abc[v >> 18];
        out[n++] = abc[(v >> 12) & 63];
        out[n++] = i + 1 < s.len ? abc[(v >> 6) & 63] : '=';
        out[n++] = '=';
    }
    out[n] = '\0';
    return out;
}

/* s percent-decoded ('+' as a space) into the arena; the raw bytes when it
 * holds a malformed escape. */
static fh_str_t decode(fh_request_t *req, fh_str_t s) {
    char *d = fh_alloc(req, s.len + 1);
    if (!d)
        return s;
    ptrdiff_t n = fh_percent_decode(d, s, true);
    return n < 0 ? s : (fh_str_t){ d, (size_t)n };
}

/* The query string as an object: name -> value, or -> [values] when the
 * name is repeated. */
static json_t *query_object(fh_request_t *req) {
    json_t *q = json_object();
    fh_str_t qs = fh_request_query_string(req);
    if (fh_str_absent(qs)) /* no '?' */
        return q;
    const char *p = qs.ptr, *end = qs.ptr + qs.len;
    while (q && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        if (stop > p) {
            const char *eq = memchr(p, '=', (size_t)(stop - p));
            fh_str_t name = decode(req, (fh_str_t){ p, (size_t)((eq ? eq : stop) - p) });
            fh_str_t value = eq ? decode(req, (fh_str_t){ eq + 1, (size_t)(stop - eq - 1) })
                                : (fh_str_t){ "", 0 };
            json_t *key = text(req, name), *val = text(req, value);
            if (!key || !val)
                return NULL;                        /* out of memory: the arena takes the rest */
            const char *k = json_string_value(key); /* NUL-free unless name had one */
            json_t *prev = json_object_get(q, k);
            if (!prev) {
                json_object_set_new(q, k, val);
            } else if (json_is_array(prev)) {
                json_array_append_new(prev, val);
            } else {
                json_object_set_new(q, k, json_pack("[O,o]", prev, val));
            }
            json_decref(key);
        }
        p = amp ? amp + 1 : end;
    }
    return q;
}

static int echo_json(fh_request_t *req, fh_response_t *res) {
    json_t *headers = json_array();
    for (size_t i = 0; headers && i < fh_request_header_count(req); i++) {
        fh_str_t name, value;
        fh_request_header_at(req, i, &name, &value);
        json_array_append_new(
            headers, json_pack("{s:o,s:o}", "name", text(req, name), "value", text(req, value)));
    }
    fh_str_t body = fh_request_body(req);
    json_t *body_text = json_stringn(body.ptr ? body.ptr : "", body.len); /* NULL: not UTF-8 */
    int version = fh_request_version(req);
    return fh_send_json_new(
        res, 200,
        json_pack("{s:o, s:o, s:o, s:o, s:s, s:o, s:o, s:s*, s:o}", "method",
                  text(req, fh_request_method(req)), "target", text(req, fh_request_target(req)),
                  "path", text(req, fh_request_path(req)), "query", query_object(req), "version",
                  version == 10 ? "HTTP/1.0" : "HTTP/1.1", "headers", headers,
                  body_text ? "body" : "body_base64",
                  body_text ? body_text : json_string(base64(req, body)), "remote_addr",
                  fh_request_remote_ip(req).ptr, "length", json_integer((json_int_t)body.len)));
}

static int echo(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    if (fh_request_method_id(req) == FH_METHOD_POST && fh_str_eq(fh_request_path(req), "/echo")) {
        fh_str_t type = fh_request_header(req, "Content-Type");
        fh_str_t body = fh_request_body(req);
        return fh_send(res, 200,
                       fh_str_absent(type) ? "application/octet-stream" : fh_strndup(req, type),
                       body.ptr, body.len);
    }
    return echo_json(req, res);
}

int main(int argc, char **argv) {
    fh_server_config_t cfg = fh_server_config_default();
    cfg.host = "127.0.0.1";
    cfg.port = 3000;
    cfg.handler = echo;
    fh_args_t args = { .summary = "Answers every request with what it received, as JSON." };
    int err = fh_server_config_args(&cfg, argc, argv, &args); /* flags, then the environment */
    if (err == FH_ARGS_HELP) {
        fh_server_usage(stdout, argv[0], &cfg, &args);
        return 0;
    }
    if (err) {
        fprintf(stderr, "%s\n", fh_server_config_error(&cfg, err));
        return 2;
    }

    fh_server_t *server;
    err = fh_server_new(&server, &cfg);
    if (err) {
        fprintf(stderr, "%s\n", fh_server_config_error(&cfg, err));
        return 1;
    }
    printf("echo: listening on %s://%s:%d with %d threads\n", cfg.tls.cert_file ? "https" : "http",
           cfg.host ? cfg.host : "*", fh_server_port(server), fh_server_threads(server));
    fflush(stdout);
    err = fh_server_run(server); /* until SIGINT or SIGTERM */
    fh_server_free(server);
    return err ? 1 : 0;
}
