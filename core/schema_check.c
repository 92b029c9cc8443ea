/* Schemas: validating a JSON value along its compiled schema, every
 * violation listed up to a bound, and the formats (email, uuid, date-time,
 * date, uri). Validation walks the value along the tree and keeps the path
 * it is at as a stack of member names and item indexes; a pointer string is
 * only made when a violation is recorded, so a valid value costs no
 * allocation at all. */
#include "core/schema.h"

#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"

/* -------------------------------------------------------------- formats */

static bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }
static bool is_alpha(char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'); }
static bool is_hex(char ch) {
    return is_digit(ch) || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* RFC 5322 atext. */
static bool atext(char ch) {
    return is_alpha(ch) || is_digit(ch) || (ch && strchr("!#$%&'*+-/=?^_`{|}~", ch) != NULL) ||
           (unsigned char)ch >= 0x80;
}

bool fh__format_email(const char *s, size_t n) {
    const char *at = memchr(s, '@', n);
    if (!at)
        return false;
    size_t local = (size_t)(at - s), dom = n - local - 1;
    if (local == 0 || local > 64 || dom == 0 || dom > 253)
        return false;
    /* dot-atom: atext runs separated by single dots. */
    for (size_t i = 0; i < local; i++) {
        if (s[i] == '.') {
            if (i == 0 || i == local - 1 || s[i - 1] == '.')
                return false;
        } else if (!atext(s[i])) {
            return false;
        }
    }
    /* Labels of letters, digits and '-' (not at either end), or UTF-8. */
    const char *d = at + 1;
    size_t labels = 0, start = 0;
    for (size_t i = 0; i <= dom; i++) {
        if (i == dom || d[i] == '.') {
            size_t len = i - start;
            if (len == 0 || len > 63 || d[start] == '-' || d[i - 1] == '-')
                return false;
            labels++;
            start = i + 1;
            continue;
        }
        char ch = d[i];
        if (!(is_alpha(ch) || is_digit(ch) || ch == '-' || (unsigned char)ch >= 0x80))
            return false;
    }
    return labels >= 2;
}

bool fh__format_uuid(const char *s, size_t n) {
    if (n != 36)
        return false;
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!is_hex(s[i])) {
            return false;
        }
    }
    return true;
}

/* k digits at s as a number, or -1. */
static int digits(const char *s, size_t k) {
    int v = 0;
    for (size_t i = 0; i < k; i++) {
        if (!is_digit(s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static bool full_date(const char *s) {
    int y = digits(s, 4), m = digits(s + 5, 2), d = digits(s + 8, 2);
    if (y < 0 || m < 1 || m > 12 || d < 1 || s[4] != '-' || s[7] != '-')
        return false;
    static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= mdays[m - 1] + (m == 2 && leap);
}

bool fh__format_date(const char *s, size_t n) { return n == 10 && full_date(s); }

bool fh__format_date_time(const char *s, size_t n) {
    /* YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM) */
    if (n < 20 || !full_date(s) || (s[10] != 'T' && s[10] != 't'))
        return false;
    const char *t = s + 11;
    int hh = digits(t, 2), mm = digits(t + 3, 2), ss = digits(t + 6, 2);
    if (hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 60 || t[2] != ':' || t[5] != ':')
        return false;
    size_t i = 19;
    if (s[i] == '.') {
        size_t f = ++i;
        while (i < n && is_digit(s[i]))
            i++;
        if (i == f)
            return false;
    }
    if (i < n && (s[i] == 'Z' || s[i] == 'z'))
        return i + 1 == n;
    if (i + 6 != n || (s[i] != '+' && s[i] != '-') || s[i + 3] != ':')
        return false;
    int oh = digits(s + i + 1, 2), om = digits(s + i + 4, 2);
    return oh >= 0 && oh <= 23 && om >= 0 && om <= 59;
}

bool fh__format_uri(const char *s, size_t n) {
    /* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
    size_t i = 0;
    if (n == 0 || !is_alpha(s[0]))
        return false;
    while (i < n && (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.'))
        i++;
    if (i == n || s[i] != ':')
        return false;
    for (i++; i < n; i++) {
        char ch = s[i];
        if (ch == '%') {
            if (i + 2 >= n || !is_hex(s[i + 1]) || !is_hex(s[i + 2]))
                return false;
            i += 2;
        } else if (!(is_alpha(ch) || is_digit(ch) || strchr("-._~:/?#[]@!$&'()*+,;=", ch))) {
            return false;
        }
    }
    return true;
}

/* ----------------------------------------------------------- validating */

typedef struct vstep {
    const char *key; /* a member name, or NULL: an item index */
    size_t index;
} vstep_t;

typedef struct vstate {
    size_t count, max;
    bool stop; /* the list is full and one more was found */
    json_t **errors;
    bool oom;
    size_t depth;
    vstep_t path[FH_SCHEMA_MAX_DEPTH + 2];
} vstate_t;

static bool fragment_char(unsigned char ch) {
    return is_alpha((char)ch) || is_digit((char)ch) || (ch && strchr("-._~!$&'()*+,;=:@/?", ch));
}

/* The current path as "#/a/0/b~1c", percent-encoded as a URI fragment. */
static json_t *pointer_json(const vstate_t *st) {
    static const char hex[] = "0123456789ABCDEF";
    size_t cap = 2;
    for (size_t i = 0; i < st->depth; i++)
        cap += 1 + (st->path[i].key ? strlen(st->path[i].key) * 6 : 20);
    char stack[256];
    char *buf = cap <= sizeof(stack) ? stack : malloc(cap);
    if (!buf)
        return NULL;
    char *o = buf;
    *o++ = '#';
    for (size_t i = 0; i < st->depth; i++) {
        *o++ = '/';
        const char *k = st->path[i].key;
        if (!k) {
            o += sprintf(o, "%zu", st->path[i].index);
            continue;
        }
        for (; *k; k++) {
            unsigned char ch = (unsigned char)*k;
            if (ch == '~' || ch == '/') {
                *o++ = '~';
                *o++ = ch == '~' ? '0' : '1';
            } else if (fragment_char(ch)) {
                *o++ = (char)ch;
            } else {
                *o++ = '%';
                *o++ = hex[ch >> 4];
                *o++ = hex[ch & 15];
            }
        }
    }
    json_t *v = json_stringn(buf, (size_t)(o - buf));
    if (buf != stack)
        free(buf);
    return v;
}

static void fail(vstate_t *st, const char *fmt, ...) FH_PRINTF(2, 3);
static void fail(vstate_t *st, const char *fmt, ...) {
    if (st->count >= st->max) {
        st->stop = true;
        return;
    }
    st->count++;
    if (!st->errors || st->oom)
        return;
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    bool ok = true;
    if (!*st->errors && !(*st->errors = json_array()))
        ok = false;
    json_t *e = ok ? json_object() : NULL;
    if (e) {
        fh__json_put(e, "pointer", pointer_json(st), &ok);
        const char *field = NULL;
        for (size_t i = st->depth; i-- > 0 && !field;)
            field = st->path[i].key;
        if (field)
            fh__json_put(e, "field", fh__json_text(field, strlen(field)), &ok);
        fh__json_put(e, "detail", fh__json_text(detail, strlen(detail)), &ok);
        if (json_array_append_new(*st->errors, e) != 0)
            ok = false;
    } else {
        ok = false;
    }
    if (!ok)
        st->oom = true;
}

/* A bound as text: integers without exponent. */
static const char *num_text(double x, char *buf, size_t cap) {
    if (x == floor(x) && fabs(x) < 1e15)
        snprintf(buf, cap, "%.0f", x);
    else
        snprintf(buf, cap, "%.17g", x);
    return buf;
}

static const char *plural(size_t n) { return n == 1 ? "" : "s"; }

static void check_number(vstate_t *st, const fh_schema_t *s, double x) {
    char b[40];
    if (s->has_minimum) {
        if (s->exclusive_minimum ? !(x > s->minimum) : !(x >= s->minimum)) {
            fail(st, "must be %s %s", s->exclusive_minimum ? "greater than" : "at least",
                 num_text(s->minimum, b, sizeof(b)));
            return;
        }
    }
    if (s->has_maximum) {
        if (s->exclusive_maximum ? !(x < s->maximum) : !(x <= s->maximum))
            fail(st, "must be %s %s", s->exclusive_maximum ? "less than" : "at most",
                 num_text(s->maximum, b, sizeof(b)));
    }
}

static void enum_fail(vstate_t *st, const cnode_t *n) {
    char list[480];
    size_t o = 0;
    for (size_t i = 0; i < n->nenum; i++) {
        int w =
            snprintf(list + o, sizeof(list) - o, "%s\"%s\"", i ? ", " : "", n->s->enum_values[i]);
        if (w < 0 || (size_t)w >= sizeof(list) - o) {
            if (o + 5 < sizeof(list))
                memcpy(list + o, ", ...", 6);
            else
                memcpy(list + sizeof(list) - 6, ", ...", 6);
            o = sizeof(list);
            break;
        }
        o += (size_t)w;
    }
    fail(st, "must be one of: %s", list);
}

static void check_string(vstate_t *st, const cnode_t *n, const char *p, size_t len) {
    const fh_schema_t *s = n->s;
    if (n->nenum) {
        for (size_t i = 0; i < n->nenum; i++)
            if (n->enum_lens[i] == len && memcmp(s->enum_values[i], p, len) == 0)
                return;
        enum_fail(st, n);
        return;
    }
    if (s->min_length || s->max_length) {
        size_t chars = 0;
        for (size_t i = 0; i < len; i++)
            chars += ((unsigned char)p[i] & 0xc0) != 0x80;
        if (chars < s->min_length) {
            if (s->min_length == 1)
                fail(st, "must not be empty");
            else
                fail(st, "must be at least %zu characters long", s->min_length);
            return;
        }
        if (s->max_length && chars > s->max_length) {
            fail(st, "must be at most %zu character%s long", s->max_length, plural(s->max_length));
            return;
        }
    }
    if (n->has_re && regexec(&n->re, p, 0, NULL, 0) != 0) {
        fail(st, "must match the pattern %s", s->pattern);
        return;
    }
    switch (s->format) {
    case FH_FORMAT_EMAIL:
        if (!fh__format_email(p, len))
            fail(st, "must be an email address");
        break;
    case FH_FORMAT_UUID:
        if (!fh__format_uuid(p, len))
            fail(st, "must be a UUID");
        break;
    case FH_FORMAT_DATE_TIME:
        if (!fh__format_date_time(p, len))
            fail(st, "must be a date-time (RFC 3339)");
        break;
    case FH_FORMAT_DATE:
        if (!fh__format_date(p, len))
            fail(st, "must be a date (RFC 3339)");
        break;
    case FH_FORMAT_URI:
        if (!fh__format_uri(p, len))
            fail(st, "must be an absolute URI");
        break;
    default: break;
    }
}

static void check(vstate_t *st, const cnode_t *n, const json_t *v);

static void push(vstate_t *st, const char *key, size_t index) {
    st->path[st->depth].key = key;
    st->path[st->depth].index = index;
    st->depth++;
}

static const cfield_t *declared(const cnode_t *n, const char *key) {
    size_t lo = 0, hi = n->nfields;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(n->sorted[mid]->name, key);
        if (c == 0)
            return n->sorted[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void check_object(vstate_t *st, const cnode_t *n, const json_t *v) {
    size_t matched = 0;
    for (size_t i = 0; i < n->nfields && !st->stop; i++) {
        const cfield_t *f = &n->fields[i];
        const json_t *m = json_object_getn(v, f->name, f->len);
        push(st, f->name, 0);
        if (m) {
            matched++;
            check(st, f->node, m);
        } else if (f->required) {
            fail(st, "is required");
        }
        st->depth--;
    }
    const fh_schema_t *s = n->s;
    if (st->stop || (!s->closed && !n->additional) || matched == json_object_size(v))
        return;
    const char *key;
    const json_t *m;
    json_object_foreach((json_t *)v, key, m) {
        if (st->stop)
            break;
        if (n->nfields && declared(n, key))
            continue;
        push(st, key, 0);
        if (s->closed)
            fail(st, "is not allowed");
        else
            check(st, n->additional, m);
        st->depth--;
    }
}

static const char *type_phrase(fh_schema_type_t t) {
    switch (t) {
    case FH_TYPE_STRING: return "a string";
    case FH_TYPE_INTEGER: return "an integer";
    case FH_TYPE_NUMBER: return "a number";
    case FH_TYPE_BOOLEAN: return "true or false";
    case FH_TYPE_ARRAY: return "an array";
    default: return "an object";
    }
}

static void check(vstate_t *st, const cnode_t *n, const json_t *v) {
    const fh_schema_t *s = n->s;
    if (json_is_null(v) && s->nullable)
        return;
    bool ok;
    switch (s->type) {
    case FH_TYPE_STRING: ok = json_is_string(v); break;
    case FH_TYPE_INTEGER: ok = json_is_integer(v); break;
    case FH_TYPE_NUMBER: ok = json_is_number(v); break;
    case FH_TYPE_BOOLEAN: ok = json_is_boolean(v); break;
    case FH_TYPE_ARRAY: ok = json_is_array(v); break;
    case FH_TYPE_OBJECT: ok = json_is_object(v); break;
    default: ok = true; break;
    }
    if (!ok) {
        fail(st, "must be %s%s", type_phrase(s->type), s->nullable ? " or null" : "");
        return;
    }
    switch (json_typeof(v)) {
    case JSON_STRING: check_string(st, n, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER:
        if (s->has_minimum || s->has_maximum)
            check_number(st, s, (double)json_integer_value(v));
        break;
    case JSON_REAL:
        if (s->has_minimum || s->has_maximum)
            check_number(st, s, json_real_value(v));
        break;
    case JSON_ARRAY: {
        size_t count = json_array_size(v);
        if (count < s->min_items) {
            fail(st, "must have at least %zu item%s", s->min_items, plural(s->min_items));
            return;
        }
        if (s->max_items && count > s->max_items) {
            fail(st, "must have at most %zu item%s", s->max_items, plural(s->max_items));
            return;
        }
        if (!n->items)
            return;
        for (size_t i = 0; i < count && !st->stop; i++) {
            push(st, NULL, i);
            check(st, n->items, json_array_get(v, i));
            st->depth--;
        }
        break;
    }
    case JSON_OBJECT:
        if (n->nfields || s->closed || n->additional)
            check_object(st, n, v);
        break;
    default: break;
    }
}

size_t fh__schema_validate_node(const cnode_t *n, const json_t *v, size_t max, json_t **errors,
                                unsigned *flags) {
    vstate_t st;
    st.count = 0;
    st.max = max ? max : FH_SCHEMA_MAX_ERRORS;
    st.stop = false;
    st.oom = false;
    st.depth = 0;
    st.errors = errors;
    if (errors)
        *errors = NULL;
    check(&st, n, v);
    if (flags)
        *flags = st.stop ? FH_SCHEMA_TRUNCATED : 0;
    if (errors && st.oom) {
        json_decref(*errors);
        *errors = NULL;
    }
    return st.count;
}

size_t fh_schema_validate(const fh_schema_compiled_t *c, const json_t *value, size_t max_errors,
                          json_t **errors, unsigned *flags) {
    return fh__schema_validate_node(c->root, value, max_errors, errors, flags);
}
