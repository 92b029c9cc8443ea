/* The multipart/form-data parser (core/multipart.c): a sample form fed
 * whole, split in two at every byte, one byte at a time and paused at
 * every callback gives the same parts; every malformed body gives its
 * reason, status and a sentence, however it is split; each limit holds at
 * its value and refuses one byte (or part) past it; the Content-Type's
 * boundary parameter; the filename sanitizer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <fasthttp.h>

#define CT "multipart/form-data; boundary=XyZ-42"

/* What the callbacks saw, as text: one line per event, a part's data
 * gathered whole so that any split gives the same log. */
typedef struct log {
    char text[1 << 16];
    size_t len;
    int pause_every; /* pause at every n-th callback (0: never) */
    int calls;
    int fail_at; /* return -1234 at this callback (0: never) */
} log_t;

static void log_add(log_t *l, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(l->text + l->len, sizeof(l->text) - l->len, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof(l->text) - l->len);
    l->len += (size_t)n;
}

static int ret(log_t *l) {
    l->calls++;
    if (l->fail_at && l->calls == l->fail_at)
        return -1234;
    return l->pause_every && l->calls % l->pause_every == 0 ? FH_MULTIPART_PAUSE
                                                            : FH_MULTIPART_CONTINUE;
}

static int on_begin(const fh_multipart_part_t *p, void *data) {
    log_t *l = data;
    log_add(l, "begin %u name=[%.*s] file=%d", p->index, FH_STR_FMT(p->name), p->is_file);
    if (p->filename.ptr)
        log_add(l, " filename=[%.*s]", FH_STR_FMT(p->filename));
    if (p->content_type.ptr)
        log_add(l, " type=[%.*s]", FH_STR_FMT(p->content_type));
    log_add(l, "\n data=[");
    return ret(l);
}

static int on_data(const fh_multipart_part_t *p, fh_str_t chunk, void *data) {
    log_t *l = data;
    assert_true(p->is_file);
    assert_true(chunk.len > 0);
    for (size_t i = 0; i < chunk.len; i++) {
        unsigned char c = (unsigned char)chunk.ptr[i];
        if (c == '\r')
            log_add(l, "\\r");
        else if (c == '\n')
            log_add(l, "\\n");
        else
            log_add(l, "%c", c);
    }
    return ret(l);
}

static int on_end(const fh_multipart_part_t *p, fh_str_t value, void *data) {
    log_t *l = data;
    log_add(l, "] size=%llu value=[%.*s]\n", (unsigned long long)p->size, FH_STR_FMT(value));
    if (!p->is_file)
        assert_int_equal(p->size, value.len);
    return ret(l);
}

static const fh_multipart_callbacks_t cbs = { on_begin, on_data, on_end };

/* A form as curl and browsers send it, plus what RFC 2046 allows around
 * it: a preamble, padding after a delimiter, an epilogue; a file whose
 * bytes come close to the delimiter without being it. */
static const char sample[] =
    "preamble, ignored\r\n"
    "--XyZ-42\r\n"
    "Content-Disposition: form-data; name=\"title\"\r\n"
    "\r\n"
    "A title\r\n"
    "--XyZ-42  \t\r\n"
    "content-disposition: FORM-DATA; name=empty\r\n"
    "\r\n"
    "\r\n"
    "--XyZ-42\r\n"
    "Content-Disposition: form-data; name=\"doc\"; filename=\"a \\\"q\\\".txt\"\r\n"
    "Content-Type: text/plain\r\n"
    "X-Other: ignored\r\n"
    "\r\n"
    "line\r\n--XyZ-4\r\n--XyZ\r\r\n\r\n-\r\n--XyZ-4x\r\n--XyZ-4\r\n"
    "--XyZ-42\r\n"
    "Content-Disposition: form-data; name=\"u\"; filename=\"plain.bin\"; "
    "filename*=UTF-8''%C3%A9t%C3%A9.bin\r\n"
    "\r\n"
    "\r\n--XyZ-42\r\n"
    "Content-Disposition: form-data; name=\"last\"\r\n"
    "\r\n"
    "-\r\n"
    "--XyZ-42--\r\n"
    "epilogue \r\n--XyZ-42\r\n also ignored";

static const char sample_log[] =
    "begin 1 name=[title] file=0\n data=[] size=7 value=[A title]\n"
    "begin 2 name=[empty] file=0\n data=[] size=0 value=[]\n"
    "begin 3 name=[doc] file=1 filename=[a \"q\".txt] type=[text/plain]\n"
    " data=[line\\r\\n--XyZ-4\\r\\n--XyZ\\r\\r\\n\\r\\n-\\r\\n--XyZ-4x\\r\\n--XyZ-4] "
    "size=45 value=[]\n"
    "begin 4 name=[u] file=1 filename=[\xc3\xa9t\xc3\xa9.bin]\n data=[] size=0 value=[]\n"
    "begin 5 name=[last] file=0\n data=[] size=1 value=[-]\n";

/* Feeds body in pieces (cuts: the offsets where a piece ends, sorted),
 * refeeding what a paused callback left. Returns feed's or finish's code. */
static int feed_cut(fh_multipart_t *mp, const char *body, size_t len, const size_t *cuts,
                    size_t ncuts) {
    size_t start = 0;
    for (size_t c = 0; c <= ncuts; c++) {
        size_t stop = c < ncuts ? cuts[c] : len;
        while (start < stop) {
            size_t used = 99999;
            int rc = fh_multipart_feed(mp, (fh_str_t){ body + start, stop - start }, &used);
            if (rc < 0)
                return rc;
            assert_true(used <= stop - start);
            if (rc == 0)
                assert_int_equal(used, stop - start);
            start += used;
        }
    }
    return fh_multipart_finish(mp);
}

static int run(const char *ct, const char *body, size_t len, const fh_multipart_limits_t *lim,
               const size_t *cuts, size_t ncuts, log_t *l, fh_multipart_error_t *err) {
    fh_multipart_t *mp;
    int rc = fh_multipart_new(&mp, fh_str(ct), lim, &cbs, l, err);
    if (rc)
        return rc;
    rc = feed_cut(mp, body, len, cuts, ncuts);
    *err = *fh_multipart_error(mp);
    fh_multipart_free(mp);
    return rc;
}

static void test_sample_whole(void **state) {
    (void)state;
    static log_t l;
    memset(&l, 0, sizeof(l));
    fh_multipart_error_t err;
    assert_int_equal(run(CT, sample, sizeof(sample) - 1, NULL, NULL, 0, &l, &err), 0);
    assert_string_equal(l.text, sample_log);
    assert_int_equal(err.reason, FH_MULTIPART_OK);
}

static void test_sample_every_split(void **state) {
    (void)state;
    static log_t l;
    size_t len = sizeof(sample) - 1;
    for (size_t cut = 0; cut <= len; cut++) {
        memset(&l, 0, sizeof(l));
        fh_multipart_error_t err;
        int rc = run(CT, sample, len, NULL, &cut, 1, &l, &err);
        if (rc != 0 || strcmp(l.text, sample_log) != 0)
            fail_msg("split at %zu: rc %d, log:\n%s", cut, rc, l.text);
    }
}

static void test_sample_bytewise_and_paused(void **state) {
    (void)state;
    static log_t l;
    static size_t cuts[sizeof(sample)];
    size_t len = sizeof(sample) - 1;
    for (size_t i = 0; i < len; i++)
        cuts[i] = i + 1;
    fh_multipart_error_t err;
    memset(&l, 0, sizeof(l));
    assert_int_equal(run(CT, sample, len, NULL, cuts, len - 1, &l, &err), 0);
    assert_string_equal(l.text, sample_log);
    /* A pause at every callback, at every second, ...: resumed with the rest. */
    for (int every = 1; every <= 4; every++) {
        memset(&l, 0, sizeof(l));
        l.pause_every = every;
        assert_int_equal(run(CT, sample, len, NULL, NULL, 0, &l, &err), 0);
        assert_string_equal(l.text, sample_log);
        memset(&l, 0, sizeof(l));
        l.pause_every = every;
        assert_int_equal(run(CT, sample, len, NULL, cuts, len - 1, &l, &err), 0);
        assert_string_equal(l.text, sample_log);
    }
    /* Every three cuts at once (two at a time stays quadratic enough). */
    for (size_t a = 0; a < len; a += 7) {
        for (size_t b = a; b < len; b += 3) {
            size_t two[2] = { a, b };
            memset(&l, 0, sizeof(l));
            if (run(CT, sample, len, NULL, two, 2, &l, &err) != 0 ||
                strcmp(l.text, sample_log) != 0)
                fail_msg("cuts at %zu and %zu", a, b);
        }
    }
}

static void test_callback_error_stops(void **state) {
    (void)state;
    static log_t l;
    fh_multipart_error_t err;
    for (int at = 1; at <= 12; at++) {
        memset(&l, 0, sizeof(l));
        l.fail_at = at;
        int rc = run(CT, sample, sizeof(sample) - 1, NULL, NULL, 0, &l, &err);
        if (at <= l.calls) {
            assert_int_equal(rc, -1234);
            assert_int_equal(err.reason, FH_MULTIPART_CALLBACK);
            assert_int_equal(l.calls, at); /* nothing after the refusal */
        }
    }
}

/* One malformed body: its reason, status and words, whole and bytewise. */
typedef struct bad_case {
    const char *ct, *body, *words;
    fh_multipart_reason_t reason;
    int status;
} bad_case_t;

static void check_bad(const bad_case_t *c, const fh_multipart_limits_t *lim) {
    static log_t l;
    static size_t cuts[1 << 14];
    size_t len = strlen(c->body);
    assert_true(len < sizeof(cuts) / sizeof(cuts[0]));
    for (int mode = 0; mode < 2; mode++) {
        size_t n = 0;
        if (mode == 1)
            for (; n + 1 < len; n++)
                cuts[n] = n + 1;
        memset(&l, 0, sizeof(l));
        fh_multipart_error_t err;
        memset(&err, 0, sizeof(err));
        int rc = run(c->ct ? c->ct : CT, c->body, len, lim, cuts, n, &l, &err);
        int want_rc = c->status == 413 ? FH_E2BIG : FH_EINVAL;
        if (rc != want_rc || err.reason != c->reason || err.status != c->status ||
            !strstr(err.detail, c->words))
            fail_msg("%s (mode %d): rc %d reason %s status %d detail \"%s\"", c->words, mode, rc,
                     fh_multipart_reason_name(err.reason), err.status, err.detail);
        assert_true(err.offset <= len);
    }
}

#define CD "Content-Disposition: form-data; name=\"f\"\r\n"

static void test_malformed_bodies(void **state) {
    (void)state;
    const bad_case_t cases[] = {
        { NULL, "", "the body is empty", FH_MULTIPART_NO_DELIMITER, 400 },
        { NULL, "--XyZ-4", "no boundary delimiter", FH_MULTIPART_NO_DELIMITER, 400 },
        /* The wrong boundary: found nowhere. */
        { NULL, "--other\r\n" CD "\r\nv\r\n--other--\r\n", "no boundary delimiter",
          FH_MULTIPART_NO_DELIMITER, 400 },
        { NULL, "--XyZ-42", "ends before the final boundary", FH_MULTIPART_TRUNCATED, 400 },
        { NULL, "--XyZ-42\r\n" CD "\r\nvalue", "ends before the final boundary",
          FH_MULTIPART_TRUNCATED, 400 },
        { NULL, "--XyZ-42\r\n" CD "\r\nvalue\r\n--XyZ-42", "ends before the final",
          FH_MULTIPART_TRUNCATED, 400 },
        { NULL, "--XyZ-42\r\n" CD, "ends before the final", FH_MULTIPART_TRUNCATED, 400 },
        { NULL, "--XyZ-42\r\n" CD "\r\nv\r\n--XyZ-42-", "ends before the final",
          FH_MULTIPART_TRUNCATED, 400 },
        { NULL, "--XyZ-42x\r\n" CD "\r\nv\r\n--XyZ-42--", "junk after a boundary",
          FH_MULTIPART_BAD_DELIMITER, 400 },
        { NULL, "--XyZ-42\r\n" CD "\r\nv\r\n--XyZ-42-x", "junk after a boundary",
          FH_MULTIPART_BAD_DELIMITER, 400 },
        { NULL, "--XyZ-42\rx", "CR without LF", FH_MULTIPART_BAD_DELIMITER, 400 },
        { NULL, "--XyZ-42\n" CD, "junk after", FH_MULTIPART_BAD_DELIMITER, 400 },
        { NULL, "--XyZ-42\r\nContent-Disposition form-data\r\n\r\nv\r\n--XyZ-42--",
          "without a colon", FH_MULTIPART_BAD_HEADER, 400 },
        { NULL, "--XyZ-42\r\n" CD " folded\r\n\r\nv\r\n--XyZ-42--", "folding",
          FH_MULTIPART_BAD_HEADER, 400 },
        { NULL, "--XyZ-42\r\nContent-Disposition: form-data; name=f\n\r\nv\r\n--XyZ-42--",
          "bare LF", FH_MULTIPART_BAD_HEADER, 400 },
        { NULL, "--XyZ-42\r\n" CD "\rX\r\n\r\nv\r\n--XyZ-42--", "not followed by LF",
          FH_MULTIPART_BAD_HEADER, 400 },
        { NULL, "--XyZ-42\r\n" CD "Bad Name: x\r\n\r\nv\r\n--XyZ-42--", "token",
          FH_MULTIPART_BAD_HEADER, 400 },
        { NULL, "--XyZ-42\r\n: x\r\n" CD "\r\nv\r\n--XyZ-42--", "empty name",
          FH_MULTIPART_BAD_HEADER, 400 },
        { NULL, "--XyZ-42\r\n" CD "X: a\x01\r\n\r\nv\r\n--XyZ-42--", "control byte",
          FH_MULTIPART_BAD_HEADER, 400 },
        { NULL, "--XyZ-42\r\n" CD "Content-Type: a\r\nContent-Type: b\r\n\r\nv\r\n--XyZ-42--",
          "Content-Type is given twice", FH_MULTIPART_BAD_HEADER, 400 },
        /* Junk where headers should be: a body with no blank line. */
        { NULL, "--XyZ-42\r\njunk without a header\r\n--XyZ-42--", "without a colon",
          FH_MULTIPART_BAD_HEADER, 400 },
        { NULL, "--XyZ-42\r\nContent-Type: text/plain\r\n\r\nv\r\n--XyZ-42--",
          "no Content-Disposition", FH_MULTIPART_NO_DISPOSITION, 400 },
        { NULL, "--XyZ-42\r\n\r\nv\r\n--XyZ-42--", "no Content-Disposition",
          FH_MULTIPART_NO_DISPOSITION, 400 },
        { NULL, "--XyZ-42\r\nContent-Disposition: form-data; filename=\"a\"\r\n\r\nv\r\n--XyZ-42--",
          "has no name", FH_MULTIPART_NO_NAME, 400 },
        { NULL, "--XyZ-42\r\nContent-Disposition: form-data\r\n\r\nv\r\n--XyZ-42--", "has no name",
          FH_MULTIPART_NO_NAME, 400 },
        { NULL, "--XyZ-42\r\nContent-Disposition: attachment; name=a\r\n\r\nv\r\n--XyZ-42--",
          "not form-data", FH_MULTIPART_BAD_DISPOSITION, 400 },
        { NULL, "--XyZ-42\r\n" CD CD "\r\nv\r\n--XyZ-42--", "given twice",
          FH_MULTIPART_BAD_DISPOSITION, 400 },
        { NULL, "--XyZ-42\r\nContent-Disposition: form-data; name=a; name=b\r\n\r\n\r\n--XyZ-42--",
          "\"name\" is given twice", FH_MULTIPART_BAD_DISPOSITION, 400 },
        { NULL, "--XyZ-42\r\nContent-Disposition: form-data; name=\"a\r\n\r\n\r\n--XyZ-42--",
          "not closed", FH_MULTIPART_BAD_DISPOSITION, 400 },
        { NULL, "--XyZ-42\r\nContent-Disposition: form-data; name\r\n\r\n\r\n--XyZ-42--",
          "without a value", FH_MULTIPART_BAD_DISPOSITION, 400 },
        { NULL, "--XyZ-42\r\nContent-Disposition: form-data; name=\r\n\r\n\r\n--XyZ-42--",
          "empty value", FH_MULTIPART_BAD_DISPOSITION, 400 },
        { NULL, "--XyZ-42\r\nContent-Disposition: form-data name=a\r\n\r\n\r\n--XyZ-42--",
          "where ';' was expected", FH_MULTIPART_BAD_DISPOSITION, 400 },
        { NULL,
          "--XyZ-42\r\nContent-Disposition: form-data; name=a; filename*=UTF-8''%zz\r\n\r\n\r\n"
          "--XyZ-42--",
          "filename*", FH_MULTIPART_BAD_DISPOSITION, 400 },
        { NULL,
          "--XyZ-42\r\nContent-Disposition: form-data; name=a; filename*=noquotes\r\n\r\n"
          "\r\n--XyZ-42--",
          "filename*", FH_MULTIPART_BAD_DISPOSITION, 400 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_bad(&cases[i], NULL);
}

static void test_content_type(void **state) {
    (void)state;
    fh_str_t b;
    fh_multipart_error_t err;
    char ct[200];
    assert_int_equal(fh_multipart_boundary(fh_str(CT), &b, &err), 0);
    assert_true(b.len == 6 && memcmp(b.ptr, "XyZ-42", 6) == 0);
    assert_int_equal(
        fh_multipart_boundary(fh_str("Multipart/Form-Data ; charset=utf-8; boundary=\"a b:c?\""),
                              &b, &err),
        0);
    assert_true(b.len == 6 && memcmp(b.ptr, "a b:c?", 6) == 0);
    /* 70 bytes pass, 71 do not. */
    memset(ct, 0, sizeof(ct));
    strcpy(ct, "multipart/form-data; boundary=");
    memset(ct + strlen(ct), 'b', 70);
    assert_int_equal(fh_multipart_boundary(fh_str(ct), &b, &err), 0);
    assert_int_equal(b.len, 70);
    strcat(ct, "b");
    assert_int_equal(fh_multipart_boundary(fh_str(ct), &b, &err), FH_EINVAL);
    assert_int_equal(err.reason, FH_MULTIPART_BAD_BOUNDARY);
    assert_int_equal(err.status, 400);
    assert_non_null(strstr(err.detail, "71 bytes long"));
    struct {
        const char *ct;
        fh_multipart_reason_t reason;
        int status;
        const char *words;
    } bad[] = {
        { "", FH_MULTIPART_NOT_FORM, 415, "no Content-Type" },
        { "application/json", FH_MULTIPART_NOT_FORM, 415, "not multipart/form-data" },
        { "multipart/mixed; boundary=a", FH_MULTIPART_NOT_FORM, 415, "multipart/mixed" },
        { "multipart/form-data", FH_MULTIPART_NO_BOUNDARY, 400, "no boundary parameter" },
        { "multipart/form-data; charset=utf-8", FH_MULTIPART_NO_BOUNDARY, 400, "no boundary" },
        { "multipart/form-data; boundary", FH_MULTIPART_NO_BOUNDARY, 400, "malformed" },
        { "multipart/form-data; boundary=", FH_MULTIPART_BAD_BOUNDARY, 400, "0 bytes long" },
        { "multipart/form-data; boundary=\"\"", FH_MULTIPART_BAD_BOUNDARY, 400, "0 bytes" },
        { "multipart/form-data; boundary=\"ab ", FH_MULTIPART_NO_BOUNDARY, 400, "malformed" },
        { "multipart/form-data; boundary=\"ab \"", FH_MULTIPART_BAD_BOUNDARY, 400,
          "ends with a space" },
        { "multipart/form-data; boundary=\"a\\\"b\"", FH_MULTIPART_BAD_BOUNDARY, 400, "backslash" },
        { "multipart/form-data; boundary=a*b", FH_MULTIPART_BAD_BOUNDARY, 400, "0x2a" },
        { "multipart/form-data; boundary=a; boundary=b", FH_MULTIPART_BAD_BOUNDARY, 400,
          "two boundary" },
        { "multipart/form-data boundary=a", FH_MULTIPART_NO_BOUNDARY, 400, "malformed" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&err, 0, sizeof(err));
        fh_multipart_t *mp = (fh_multipart_t *)&err;
        if (fh_multipart_new(&mp, fh_str(bad[i].ct), NULL, &cbs, NULL, &err) != FH_EINVAL ||
            mp != NULL || err.reason != bad[i].reason || err.status != bad[i].status ||
            !strstr(err.detail, bad[i].words))
            fail_msg("\"%s\": reason %s status %d detail \"%s\"", bad[i].ct,
                     fh_multipart_reason_name(err.reason), err.status, err.detail);
    }
    /* An absent header. */
    assert_int_equal(fh_multipart_boundary((fh_str_t){ NULL, 0 }, &b, &err), FH_EINVAL);
    assert_int_equal(err.status, 415);
}

/* A body of n parts, each a field of vlen bytes, or a file when file. */
static size_t make_body(char *buf, size_t cap, int parts, size_t vlen, bool file) {
    size_t len = 0;
    for (int i = 0; i < parts; i++) {
        len +=
            (size_t)snprintf(buf + len, cap - len,
                             "--XyZ-42\r\nContent-Disposition: form-data; name=\"p%d\"%s\r\n\r\n",
                             i, file ? "; filename=\"f.bin\"" : "");
        assert_true(len + vlen + 64 < cap);
        memset(buf + len, 'v', vlen);
        len += vlen;
        len += (size_t)snprintf(buf + len, cap - len, "\r\n");
    }
    len += (size_t)snprintf(buf + len, cap - len, "--XyZ-42--\r\n");
    return len;
}

static int run_quiet(const char *body, size_t len, const fh_multipart_limits_t *lim,
                     fh_multipart_error_t *err) {
    static const fh_multipart_callbacks_t none = { NULL, NULL, NULL };
    fh_multipart_t *mp;
    int rc = fh_multipart_new(&mp, fh_str(CT), lim, &none, NULL, err);
    if (rc)
        return rc;
    /* In 1000-byte pieces, as a socket would. */
    for (size_t off = 0; off < len && rc == 0; off += 1000)
        rc = fh_multipart_feed(mp, (fh_str_t){ body + off, len - off < 1000 ? len - off : 1000 },
                               NULL);
    if (rc == 0)
        rc = fh_multipart_finish(mp);
    *err = *fh_multipart_error(mp);
    fh_multipart_free(mp);
    return rc;
}

static void test_limits(void **state) {
    (void)state;
    static char body[1 << 21];
    fh_multipart_error_t err;
    /* Parts: 10 pass with max_parts 10, 11 do not. */
    fh_multipart_limits_t lim = { .max_parts = 10 };
    size_t len = make_body(body, sizeof(body), 10, 3, false);
    assert_int_equal(run_quiet(body, len, &lim, &err), 0);
    len = make_body(body, sizeof(body), 11, 3, false);
    assert_int_equal(run_quiet(body, len, &lim, &err), FH_E2BIG);
    assert_int_equal(err.reason, FH_MULTIPART_TOO_MANY_PARTS);
    assert_int_equal(err.status, 413);
    assert_int_equal(err.part, 11);
    assert_non_null(strstr(err.detail, "more than 10 parts"));
    /* The default, 1000: 1000 pass, 1001 and far more do not. */
    len = make_body(body, sizeof(body), 1000, 0, false);
    assert_int_equal(run_quiet(body, len, NULL, &err), 0);
    len = make_body(body, sizeof(body), 1001, 0, false);
    assert_int_equal(run_quiet(body, len, NULL, &err), FH_E2BIG);
    len = make_body(body, sizeof(body), 20000, 0, false);
    assert_int_equal(run_quiet(body, len, NULL, &err), FH_E2BIG);
    assert_int_equal(err.part, 1001);

    /* A field: max_field_bytes pass, one more does not; a file may be larger. */
    lim = (fh_multipart_limits_t){ .max_field_bytes = 5000 };
    len = make_body(body, sizeof(body), 2, 5000, false);
    assert_int_equal(run_quiet(body, len, &lim, &err), 0);
    len = make_body(body, sizeof(body), 2, 5001, false);
    assert_int_equal(run_quiet(body, len, &lim, &err), FH_E2BIG);
    assert_int_equal(err.reason, FH_MULTIPART_FIELD_TOO_BIG);
    assert_non_null(strstr(err.detail, "field \"p0\" is larger than 5000 bytes"));
    len = make_body(body, sizeof(body), 1, 1 << 20, false);
    assert_int_equal(run_quiet(body, len, &lim, &err), FH_E2BIG);
    len = make_body(body, sizeof(body), 2, 5001, true);
    assert_int_equal(run_quiet(body, len, &lim, &err), 0);
    /* The default field limit, 64 KiB, and past it. */
    len = make_body(body, sizeof(body), 1, 65536, false);
    assert_int_equal(run_quiet(body, len, NULL, &err), 0);
    len = make_body(body, sizeof(body), 1, 65537, false);
    assert_int_equal(run_quiet(body, len, NULL, &err), FH_E2BIG);

    /* A file: max_file_bytes pass, one more does not. */
    lim = (fh_multipart_limits_t){ .max_file_bytes = 100000 };
    len = make_body(body, sizeof(body), 3, 100000, true);
    assert_int_equal(run_quiet(body, len, &lim, &err), 0);
    len = make_body(body, sizeof(body), 3, 100001, true);
    assert_int_equal(run_quiet(body, len, &lim, &err), FH_E2BIG);
    assert_int_equal(err.reason, FH_MULTIPART_FILE_TOO_BIG);
    assert_int_equal(err.part, 1);
    len = make_body(body, sizeof(body), 1, 2000000, true);
    assert_int_equal(run_quiet(body, len, &lim, &err), FH_E2BIG);
    /* The offset is the first byte past the limit. */
    assert_int_equal(err.offset,
                     100000 + strlen("--XyZ-42\r\nContent-Disposition: form-data; name=\"p0\"; "
                                     "filename=\"f.bin\"\r\n\r\n"));

    /* The total: exactly max_total_bytes pass, one more byte does not. */
    len = make_body(body, sizeof(body), 2, 1000, true);
    lim = (fh_multipart_limits_t){ .max_total_bytes = len };
    assert_int_equal(run_quiet(body, len, &lim, &err), 0);
    lim.max_total_bytes = len - 1;
    assert_int_equal(run_quiet(body, len, &lim, &err), FH_E2BIG);
    assert_int_equal(err.reason, FH_MULTIPART_TOTAL_TOO_BIG);
    assert_int_equal(err.offset, len - 1);
    /* Epilogue bytes count too. */
    lim.max_total_bytes = len;
    body[len] = 'x';
    assert_int_equal(run_quiet(body, len + 1, &lim, &err), FH_E2BIG);

    /* The header section: max_header_bytes pass, one more does not. */
    const char *head = "Content-Disposition: form-data; name=\"h\"\r\nX-Pad: ";
    for (int extra = 0; extra <= 1; extra++) {
        size_t hsize = 300, hl = strlen(head);
        len = (size_t)sprintf(body, "--XyZ-42\r\n%s", head);
        size_t pad = hsize - hl - 4 + (size_t)extra; /* CRLF ending X-Pad, the empty line */
        memset(body + len, 'p', pad);
        len += pad;
        len += (size_t)sprintf(body + len, "\r\n\r\nv\r\n--XyZ-42--");
        lim = (fh_multipart_limits_t){ .max_header_bytes = 300 };
        int rc = run_quiet(body, len, &lim, &err);
        if (extra == 0) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, FH_EINVAL);
            assert_int_equal(err.reason, FH_MULTIPART_HEADER_TOO_BIG);
            assert_int_equal(err.status, 400);
            assert_non_null(strstr(err.detail, "header section is larger than 300 bytes"));
        }
    }
    /* A header section that never ends: refused at the default 8 KiB. */
    len = (size_t)sprintf(body, "--XyZ-42\r\n" CD "X: ");
    memset(body + len, 'h', 1 << 20);
    len += 1 << 20;
    assert_int_equal(run_quiet(body, len, NULL, &err), FH_EINVAL);
    assert_int_equal(err.reason, FH_MULTIPART_HEADER_TOO_BIG);
    assert_true(err.offset <= 8192 + 20);

    /* A preamble of max_header_bytes passes, one more byte does not. */
    lim = (fh_multipart_limits_t){ .max_header_bytes = 300 };
    memset(body, 'x', 300);
    len = 300 + (size_t)sprintf(body + 300, "\r\n--XyZ-42\r\n" CD "\r\nv\r\n--XyZ-42--");
    if (run_quiet(body, len, &lim, &err) != 0)
        fail_msg("%s", err.detail);
    memset(body, 'x', 301);
    len = 301 + (size_t)sprintf(body + 301, "\r\n--XyZ-42\r\n" CD "\r\nv\r\n--XyZ-42--");
    assert_int_equal(run_quiet(body, len, &lim, &err), FH_EINVAL);
    assert_int_equal(err.reason, FH_MULTIPART_NO_DELIMITER);
    assert_non_null(strstr(err.detail, "is the boundary right"));
    /* Padding after a delimiter: 256 spaces pass, 257 do not. */
    for (int extra = 0; extra <= 1; extra++) {
        len = (size_t)sprintf(body, "--XyZ-42");
        memset(body + len, ' ', 256 + (size_t)extra);
        len += 256 + (size_t)extra;
        len += (size_t)sprintf(body + len, "\r\n" CD "\r\nv\r\n--XyZ-42--");
        assert_int_equal(run_quiet(body, len, NULL, &err), extra ? FH_EINVAL : 0);
    }
}

static void test_boundary_70(void **state) {
    (void)state;
    /* The longest boundary, with near misses in the data. */
    char b[71], ct[128];
    static char body[4096];
    memset(b, 'q', 70);
    b[70] = '\0';
    snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%s", b);
    size_t len = (size_t)snprintf(body, sizeof(body),
                                  "--%s\r\nContent-Disposition: form-data; name=x; filename=y\r\n"
                                  "\r\n\r\n--%.69s\r\n--%sq\r\n--%s--",
                                  b, b, b, b);
    static log_t l;
    memset(&l, 0, sizeof(l));
    fh_multipart_error_t err;
    /* "--b" + "q": the data holds the delimiter followed by junk. */
    assert_int_equal(run(ct, body, len, NULL, NULL, 0, &l, &err), FH_EINVAL);
    assert_int_equal(err.reason, FH_MULTIPART_BAD_DELIMITER);
    len = (size_t)snprintf(body, sizeof(body),
                           "--%s\r\nContent-Disposition: form-data; name=x; filename=y\r\n"
                           "\r\n\r\n--%.69s\r\n-%s\r\n--%s--",
                           b, b, b, b);
    memset(&l, 0, sizeof(l));
    for (size_t cut = 0; cut <= len; cut++) {
        memset(&l, 0, sizeof(l));
        assert_int_equal(run(ct, body, len, NULL, &cut, 1, &l, &err), 0);
        if (!strstr(l.text, "size=146 "))
            fail_msg("cut %zu: %s", cut, l.text);
    }
}

static void test_send_error(void **state) {
    (void)state;
    /* The sentence is what reaches the client: short and bounded. */
    fh_multipart_error_t err;
    char ct[4096] = "text/plain; x=";
    memset(ct + strlen(ct), 'z', 3000);
    assert_int_equal(fh_multipart_boundary(fh_str(ct), &(fh_str_t){ 0 }, &err), FH_EINVAL);
    assert_true(strlen(err.detail) < sizeof(err.detail));
    assert_string_equal(fh_multipart_reason_name(FH_MULTIPART_TRUNCATED), "truncated");
    assert_string_equal(fh_multipart_reason_name(FH_MULTIPART_NOT_FORM), "not_multipart");
    assert_string_equal(fh_multipart_reason_name((fh_multipart_reason_t)999), "unknown");
}

static void test_filename_sanitize(void **state) {
    (void)state;
    char out[FH_MULTIPART_FILENAME_MAX + 1];
    const char *why;
    struct {
        const char *in, *out;
    } ok[] = {
        { "report.pdf", "report.pdf" },
        { "../../etc/passwd", "passwd" },
        { "/etc/passwd", "passwd" },
        { "C:\\Users\\me\\photo.jpg", "photo.jpg" },
        { "..\\..\\boot.ini", "boot.ini" },
        { "a/../b.txt", "b.txt" },
        { ".htaccess", "htaccess" },
        { "...x..", "x" },
        { " spaced name.txt ", "spaced name.txt" },
        { "\xc3\xa9t\xc3\xa9.txt", "\xc3\xa9t\xc3\xa9.txt" },
        { "C:evil", "C:evil" },
        { "a%2F..%2Fb", "a%2F..%2Fb" },
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (fh_multipart_filename_sanitize(fh_str(ok[i].in), out, &why) != 0 ||
            strcmp(out, ok[i].out) != 0)
            fail_msg("\"%s\" gave \"%s\"", ok[i].in, out);
    }
    struct {
        fh_str_t in;
        const char *words;
    } bad[] = {
        { { NULL, 0 }, "empty" },
        { { "", 0 }, "empty" },
        { { "a\0b", 3 }, "NUL" },
        { { "a\nb", 3 }, "control" },
        { { "a\x1b[31m", 6 }, "control" },
        { { "a\x7f", 2 }, "control" },
        { { "..", 2 }, "no name is left" },
        { { ".", 1 }, "no name is left" },
        { { "../", 3 }, "no name is left" },
        { { "/", 1 }, "no name is left" },
        { { "dir/", 4 }, "no name is left" },
        { { "a/..", 4 }, "no name is left" },
        { { "\xff.txt", 5 }, "UTF-8" },
        { { "\xc3", 1 }, "UTF-8" },
        { { "\xc0\xaf", 2 }, "UTF-8" },     /* an overlong '/' */
        { { "\xed\xa0\x80", 3 }, "UTF-8" }, /* a surrogate */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why = NULL;
        if (fh_multipart_filename_sanitize(bad[i].in, out, &why) != FH_EINVAL || !why ||
            !strstr(why, bad[i].words) || out[0])
            fail_msg("case %zu: why \"%s\"", i, why ? why : "(none)");
    }
    /* 255 bytes pass, 256 do not; directories do not count. */
    char name[600];
    strcpy(name, "dir/");
    memset(name + 4, 'n', 255);
    name[259] = '\0';
    assert_int_equal(fh_multipart_filename_sanitize(fh_str(name), out, &why), 0);
    assert_int_equal(strlen(out), 255);
    name[259] = 'n';
    name[260] = '\0';
    assert_int_equal(fh_multipart_filename_sanitize(fh_str(name), out, &why), FH_EINVAL);
    assert_non_null(strstr(why, "longer than 255"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample_whole),
        cmocka_unit_test(test_sample_every_split),
        cmocka_unit_test(test_sample_bytewise_and_paused),
        cmocka_unit_test(test_callback_error_stops),
        cmocka_unit_test(test_malformed_bodies),
        cmocka_unit_test(test_content_type),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_boundary_70),
        cmocka_unit_test(test_send_error),
        cmocka_unit_test(test_filename_sanitize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
