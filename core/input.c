/* Typed input: parameters read as integers, booleans and decimals, and
 * application/x-www-form-urlencoded bodies (include/fasthttp/input.h).
 *
 * The parsers check the whole syntax by hand before converting, so that
 * strtoull/strtod never see a sign, a space, hex or "inf" they would
 * accept; the conversion of decimals goes through strtod_l with the C
 * locale, created once, since the program's locale may use a comma. */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "core/request.h"
#include "fasthttp/input.h"
#include "fasthttp/json.h"
#include "fasthttp/response.h"

/* ------------------------------------------------------------ the parsers */

/* Digits without leading zeros, at least one: the magnitude in *out, or
 * MALFORMED; OUT_OF_RANGE past UINT64_MAX. */
static fh_input_status_t parse_magnitude(const char *p, size_t n, uint64_t *out) {
    if (n == 0 || (p[0] == '0' && n > 1))
        return FH_INPUT_MALFORMED;
    uint64_t v = 0;
    bool over = false;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned char)p[i] - '0';
        if (d > 9)
            return FH_INPUT_MALFORMED;
        if (v > (UINT64_MAX - d) / 10)
            over = true; /* keep reading: a bad byte later is still malformed */
        else
            v = v * 10 + d;
    }
    if (over)
        return FH_INPUT_OUT_OF_RANGE;
    *out = v;
    return FH_INPUT_OK;
}

fh_input_status_t fh_input_parse_u64(fh_str_t text, uint64_t min, uint64_t max, uint64_t *out) {
    if (!text.ptr)
        return FH_INPUT_ABSENT;
    uint64_t v;
    fh_input_status_t st = parse_magnitude(text.ptr, text.len, &v);
    if (st != FH_INPUT_OK)
        return st;
    if (v < min || v > max)
        return FH_INPUT_OUT_OF_RANGE;
    *out = v;
    return FH_INPUT_OK;
}

fh_input_status_t fh_input_parse_i64(fh_str_t text, int64_t min, int64_t max, int64_t *out) {
    if (!text.ptr)
        return FH_INPUT_ABSENT;
    bool neg = text.len > 0 && text.ptr[0] == '-';
    uint64_t mag;
    fh_input_status_t st = parse_magnitude(text.ptr + neg, text.len - neg, &mag);
    if (st != FH_INPUT_OK)
        return st;
    int64_t v;
    if (neg) {
        if (mag > (uint64_t)INT64_MAX + 1)
            return FH_INPUT_OUT_OF_RANGE;
        v = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
    } else {
        if (mag > (uint64_t)INT64_MAX)
            return FH_INPUT_OUT_OF_RANGE;
        v = (int64_t)mag;
    }
    if (v < min || v > max)
        return FH_INPUT_OUT_OF_RANGE;
    *out = v;
    return FH_INPUT_OK;
}

fh_input_status_t fh_input_parse_bool(fh_str_t text, bool *out) {
    if (!text.ptr)
        return FH_INPUT_ABSENT;
    if (fh_str_eq(text, "true") || fh_str_eq(text, "1")) {
        *out = true;
        return FH_INPUT_OK;
    }
    if (fh_str_eq(text, "false") || fh_str_eq(text, "0")) {
        *out = false;
        return FH_INPUT_OK;
    }
    return FH_INPUT_MALFORMED;
}

/* Counts the digits at p[i..n). */
static size_t digits(const char *p, size_t i, size_t n) {
    size_t s = i;
    while (i < n && p[i] >= '0' && p[i] <= '9')
        i++;
    return i - s;
}

/* Whether p[0..n) is a JSON number. */
static bool is_json_number(const char *p, size_t n) {
    size_t i = 0;
    if (i < n && p[i] == '-')
        i++;
    size_t d = digits(p, i, n);
    if (d == 0 || (d > 1 && p[i] == '0'))
        return false;
    i += d;
    if (i < n && p[i] == '.') {
        d = digits(p, ++i, n);
        if (d == 0)
            return false;
        i += d;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-'))
            i++;
        d = digits(p, i, n);
        if (d == 0)
            return false;
        i += d;
    }
    return i == n;
}

static locale_t c_locale;
static uv_once_t c_locale_once = UV_ONCE_INIT;
static void c_locale_init(void) { c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0); }

/* The longest decimal text converted: more digits than a double holds
 * many times over, and still a stack buffer. */
#define DECIMAL_MAX 512

fh_input_status_t fh_input_parse_decimal(fh_str_t text, double min, double max, double *out) {
    if (!text.ptr)
        return FH_INPUT_ABSENT;
    if (!is_json_number(text.ptr, text.len) || text.len >= DECIMAL_MAX)
        return FH_INPUT_MALFORMED;
    uv_once(&c_locale_once, c_locale_init);
    if (!c_locale)
        return FH_INPUT_MALFORMED;
    char buf[DECIMAL_MAX];
    memcpy(buf, text.ptr, text.len);
    buf[text.len] = '\0';
    double v = strtod_l(buf, NULL, c_locale);
    if (!isfinite(v))
        return FH_INPUT_OUT_OF_RANGE;
    if (!(v >= min && v <= max))
        return FH_INPUT_OUT_OF_RANGE;
    *out = v;
    return FH_INPUT_OK;
}

/* ------------------------------------------------------------ query field */

/* Decodes raw ('+' as a space when plus) into the arena unless it needs
 * nothing: 0, FH_EINVAL for a bad escape or an encoded NUL, FH_ENOMEM. */
static int decode(fh_arena_t *arena, fh_str_t raw, bool plus, fh_str_t *out) {
    if (!memchr(raw.ptr, '%', raw.len) && !(plus && memchr(raw.ptr, '+', raw.len))) {
        *out = raw;
        return 0;
    }
    char *dst = fh_arena_alloc(arena, raw.len + 1);
    if (!dst)
        return FH_ENOMEM;
    ptrdiff_t n = fh_percent_decode(dst, raw, plus);
    if (n < 0)
        return FH_EINVAL;
    dst[n] = '\0';
    *out = (fh_str_t){ dst, (size_t)n };
    return 0;
}

/* Whether the raw (encoded) key decodes to name. */
static bool key_is(fh_str_t key, const char *name, size_t nlen) {
    if (!memchr(key.ptr, '%', key.len) && !memchr(key.ptr, '+', key.len))
        return key.len == nlen && memcmp(key.ptr, name, nlen) == 0;
    char tmp[256];
    if (key.len > sizeof(tmp))
        return false; /* decodes to at least len/3 bytes: longer than any name we compare */
    ptrdiff_t kl = fh_percent_decode(tmp, key, true);
    return kl == (ptrdiff_t)nlen && memcmp(tmp, name, nlen) == 0;
}

fh_input_status_t fh_request_query_raw(fh_request_t *req, const char *name, fh_str_t *out) {
    *out = (fh_str_t){ NULL, 0 };
    fh_str_t q = fh_request_query_string(req);
    if (!q.ptr)
        return FH_INPUT_ABSENT;
    size_t nlen = strlen(name);
    for (size_t i = 0; i <= q.len;) {
        const char *amp = memchr(q.ptr + i, '&', q.len - i);
        size_t end = amp ? (size_t)(amp - q.ptr) : q.len;
        const char *eqp = memchr(q.ptr + i, '=', end - i);
        size_t eq = eqp ? (size_t)(eqp - q.ptr) : end;
        if (key_is((fh_str_t){ q.ptr + i, eq - i }, name, nlen)) {
            fh_str_t raw = { q.ptr + (eq < end ? eq + 1 : end), eq < end ? end - eq - 1 : 0 };
            return decode(fh_request_arena(req), raw, true, out) ? FH_INPUT_MALFORMED : FH_INPUT_OK;
        }
        i = end + 1;
    }
    return FH_INPUT_ABSENT;
}

/* ------------------------------------------------------------- answering */

/* Where a parameter came from, for the problem document. */
typedef enum where { IN_PATH, IN_QUERY } where_t;

/* The text of the parameter, or its status. */
static fh_input_status_t lookup(fh_request_t *req, where_t in, const char *name, fh_str_t *text) {
    if (in == IN_QUERY)
        return fh_request_query_raw(req, name, text);
    *text = fh_request_param(req, name);
    return text->ptr ? FH_INPUT_OK : FH_INPUT_ABSENT;
}

/* Answers 400 for parameter name: st says why, expect what it must be. */
static int refuse(fh_request_t *req, fh_response_t *res, where_t in, const char *name,
                  fh_input_status_t st, const char *expect) {
    const char *where = in == IN_QUERY ? "query" : "path";
    const char *reason = st == FH_INPUT_ABSENT      ? "absent"
                         : st == FH_INPUT_MALFORMED ? "malformed"
                                                    : "out_of_range";
    char *detail;
    if (st == FH_INPUT_ABSENT)
        detail = fh_sprintf(req, "%s parameter \"%s\" is required", where, name);
    else
        detail = fh_sprintf(req, "%s parameter \"%s\" must be %s", where, name, expect);
    json_t *extra = json_pack("{s:s, s:s, s:s}", "parameter", name, "in", where, "reason", reason);
    if (!detail || !extra) {
        json_decref(extra);
        return FH_ENOMEM;
    }
    int rc = fh_send_problem(res, 400, NULL, detail, extra);
    json_decref(extra);
    return rc ? rc : FH_EINVAL;
}

/* What an integer in [min, max] must be, in words. */
static const char *expect_i64(fh_request_t *req, fh_input_status_t st, int64_t min, int64_t max) {
    if (st != FH_INPUT_OUT_OF_RANGE)
        return "an integer";
    return fh_sprintf(req, "from %lld to %lld", (long long)min, (long long)max);
}

static const char *expect_u64(fh_request_t *req, fh_input_status_t st, uint64_t min, uint64_t max) {
    if (st != FH_INPUT_OUT_OF_RANGE)
        return "a non-negative integer";
    return fh_sprintf(req, "from %llu to %llu", (unsigned long long)min, (unsigned long long)max);
}

static const char *expect_decimal(fh_request_t *req, fh_input_status_t st, double min, double max) {
    if (st != FH_INPUT_OUT_OF_RANGE)
        return "a decimal number";
    return fh_sprintf(req, "a number from %.15g to %.15g", min, max);
}

/* The message when out of memory for it: the words alone. */
#define OR(s, fallback) ((s) ? (s) : (fallback))

static int read_i64(fh_request_t *req, fh_response_t *res, where_t in, bool opt, const char *name,
                    int64_t min, int64_t max, int64_t *out) {
    fh_str_t text;
    fh_input_status_t st = lookup(req, in, name, &text);
    if (st == FH_INPUT_OK)
        st = fh_input_parse_i64(text, min, max, out);
    if (st == FH_INPUT_OK || (st == FH_INPUT_ABSENT && opt))
        return 0;
    return refuse(req, res, in, name, st, OR(expect_i64(req, st, min, max), "an integer"));
}

static int read_u64(fh_request_t *req, fh_response_t *res, where_t in, bool opt, const char *name,
                    uint64_t min, uint64_t max, uint64_t *out) {
    fh_str_t text;
    fh_input_status_t st = lookup(req, in, name, &text);
    if (st == FH_INPUT_OK)
        st = fh_input_parse_u64(text, min, max, out);
    if (st == FH_INPUT_OK || (st == FH_INPUT_ABSENT && opt))
        return 0;
    return refuse(req, res, in, name, st, OR(expect_u64(req, st, min, max), "an integer"));
}

static int read_bool(fh_request_t *req, fh_response_t *res, where_t in, bool opt, const char *name,
                     bool *out) {
    fh_str_t text;
    fh_input_status_t st = lookup(req, in, name, &text);
    if (st == FH_INPUT_OK)
        st = fh_input_parse_bool(text, out);
    if (st == FH_INPUT_OK || (st == FH_INPUT_ABSENT && opt))
        return 0;
    return refuse(req, res, in, name, st, "true, false, 1 or 0");
}

static int read_decimal(fh_request_t *req, fh_response_t *res, where_t in, bool opt,
                        const char *name, double min, double max, double *out) {
    fh_str_t text;
    fh_input_status_t st = lookup(req, in, name, &text);
    if (st == FH_INPUT_OK)
        st = fh_input_parse_decimal(text, min, max, out);
    if (st == FH_INPUT_OK || (st == FH_INPUT_ABSENT && opt))
        return 0;
    return refuse(req, res, in, name, st, OR(expect_decimal(req, st, min, max), "a number"));
}

int fh_path_i64(fh_request_t *req, fh_response_t *res, const char *name, int64_t min, int64_t max,
                int64_t *out) {
    return read_i64(req, res, IN_PATH, false, name, min, max, out);
}
int fh_path_u64(fh_request_t *req, fh_response_t *res, const char *name, uint64_t min, uint64_t max,
                uint64_t *out) {
    return read_u64(req, res, IN_PATH, false, name, min, max, out);
}
int fh_path_bool(fh_request_t *req, fh_response_t *res, const char *name, bool *out) {
    return read_bool(req, res, IN_PATH, false, name, out);
}
int fh_path_decimal(fh_request_t *req, fh_response_t *res, const char *name, double min, double max,
                    double *out) {
    return read_decimal(req, res, IN_PATH, false, name, min, max, out);
}
int fh_query_i64(fh_request_t *req, fh_response_t *res, const char *name, int64_t min, int64_t max,
                 int64_t *out) {
    return read_i64(req, res, IN_QUERY, false, name, min, max, out);
}
int fh_query_u64(fh_request_t *req, fh_response_t *res, const char *name, uint64_t min,
                 uint64_t max, uint64_t *out) {
    return read_u64(req, res, IN_QUERY, false, name, min, max, out);
}
int fh_query_bool(fh_request_t *req, fh_response_t *res, const char *name, bool *out) {
    return read_bool(req, res, IN_QUERY, false, name, out);
}
int fh_query_decimal(fh_request_t *req, fh_response_t *res, const char *name, double min,
                     double max, double *out) {
    return read_decimal(req, res, IN_QUERY, false, name, min, max, out);
}
int fh_query_i64_opt(fh_request_t *req, fh_response_t *res, const char *name, int64_t min,
                     int64_t max, int64_t *out) {
    return read_i64(req, res, IN_QUERY, true, name, min, max, out);
}
int fh_query_u64_opt(fh_request_t *req, fh_response_t *res, const char *name, uint64_t min,
                     uint64_t max, uint64_t *out) {
    return read_u64(req, res, IN_QUERY, true, name, min, max, out);
}
int fh_query_bool_opt(fh_request_t *req, fh_response_t *res, const char *name, bool *out) {
    return read_bool(req, res, IN_QUERY, true, name, out);
}
int fh_query_decimal_opt(fh_request_t *req, fh_response_t *res, const char *name, double min,
                         double max, double *out) {
    return read_decimal(req, res, IN_QUERY, true, name, min, max, out);
}

/* ----------------------------------------------------------------- forms */

int fh_form_parse(fh_arena_t *arena, fh_str_t body, size_t max_fields, fh_form_t *out,
                  fh_form_error_t *err) {
    *out = (fh_form_t){ NULL, 0 };
    if (max_fields == 0)
        max_fields = FH_FORM_MAX_FIELDS;
    if (!body.ptr || body.len == 0)
        return 0;
    /* Count first, so that the array is one allocation of the right size
     * and a body of too many fields costs no memory. */
    size_t n = 0;
    for (size_t i = 0; i < body.len;) {
        const char *amp = memchr(body.ptr + i, '&', body.len - i);
        size_t end = amp ? (size_t)(amp - body.ptr) : body.len;
        if (end > i && ++n > max_fields) {
            if (err)
                *err = (fh_form_error_t){ i, "too many fields" };
            return FH_E2BIG;
        }
        i = end + 1;
    }
    if (n == 0)
        return 0;
    fh_form_field_t *f = fh_arena_alloc(arena, n * sizeof(*f));
    if (!f)
        return FH_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < body.len;) {
        const char *amp = memchr(body.ptr + i, '&', body.len - i);
        size_t end = amp ? (size_t)(amp - body.ptr) : body.len;
        if (end > i) {
            const char *eqp = memchr(body.ptr + i, '=', end - i);
            size_t eq = eqp ? (size_t)(eqp - body.ptr) : end;
            fh_str_t rn = { body.ptr + i, eq - i };
            fh_str_t rv = { body.ptr + (eq < end ? eq + 1 : end), eq < end ? end - eq - 1 : 0 };
            int rc = decode(arena, rn, true, &f[k].name);
            if (!rc)
                rc = decode(arena, rv, true, &f[k].value);
            if (rc == FH_ENOMEM)
                return rc;
            if (rc) {
                if (err)
                    *err = (fh_form_error_t){ i, "malformed percent-escape or encoded NUL" };
                return FH_EINVAL;
            }
            k++;
        }
        i = end + 1;
    }
    *out = (fh_form_t){ f, k };
    return 0;
}

fh_str_t fh_form_get(const fh_form_t *form, const char *name) {
    size_t n = strlen(name);
    for (size_t i = 0; i < form->count; i++)
        if (form->fields[i].name.len == n && memcmp(form->fields[i].name.ptr, name, n) == 0)
            return form->fields[i].value;
    return (fh_str_t){ NULL, 0 };
}

/* Whether the Content-Type names the form media type (parameters allowed). */
static bool is_form_type(fh_str_t ct) {
    static const char type[] = "application/x-www-form-urlencoded";
    size_t n = sizeof(type) - 1;
    if (!ct.ptr || ct.len < n || !fh_str_ieq((fh_str_t){ ct.ptr, n }, (fh_str_t){ type, n }))
        return false;
    for (size_t i = n; i < ct.len; i++) {
        if (ct.ptr[i] == ';')
            return true;
        if (ct.ptr[i] != ' ' && ct.ptr[i] != '\t')
            return false;
    }
    return true;
}

int fh_request_form(fh_request_t *req, fh_response_t *res, size_t max_fields, fh_form_t *out) {
    *out = (fh_form_t){ NULL, 0 };
    if (!is_form_type(fh_request_header(req, "Content-Type"))) {
        int rc = fh_response_header(res, "Accept", "application/x-www-form-urlencoded");
        if (!rc)
            rc = fh_send_problem(res, 415, NULL,
                                 "the body must be application/x-www-form-urlencoded", NULL);
        return rc ? rc : FH_EINVAL;
    }
    fh_form_error_t why;
    int rc = fh_form_parse(fh_request_arena(req), fh_request_body(req), max_fields, out, &why);
    if (rc == FH_ENOMEM)
        return rc;
    if (rc) {
        int status = rc == FH_E2BIG ? 413 : 400;
        char *detail = rc == FH_E2BIG
                           ? fh_sprintf(req, "the form has more than %zu fields",
                                        max_fields ? max_fields : (size_t)FH_FORM_MAX_FIELDS)
                           : fh_sprintf(req, "form field at byte %zu: %s", why.offset, why.why);
        if (!detail)
            return FH_ENOMEM;
        rc = fh_send_problem(res, status, NULL, detail, NULL);
        return rc ? rc : FH_EINVAL;
    }
    return 0;
}
