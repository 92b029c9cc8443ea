/* Schemas: compiling (patterns, defaults, contradictions), validating a
 * JSON value with every violation listed up to a bound, formats, and the
 * JSON Schema form the OpenAPI document publishes.
 *
 * A compiled schema is a tree of nodes mirroring the schema, each holding
 * what validation needs at hand: the compiled pattern, the lengths of the
 * enum values and the object's fields sorted by name (to tell declared
 * members from others in O(log n)). Validation walks the value along the
 * tree and keeps the path it is at as a stack of member names and item
 * indexes; a pointer string is only made when a violation is recorded, so
 * a valid value costs no allocation at all.
 */
#include "core/schema.h"

#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"

typedef struct cnode cnode_t;

typedef struct cfield {
    const char *name;
    size_t len;
    bool required;
    cnode_t *node;
} cfield_t;

struct cnode {
    const fh_schema_t *s;
    bool has_re;
    regex_t re;
    cnode_t *items, *additional;
    cfield_t *fields; /* declaration order */
    size_t nfields;
    const cfield_t **sorted; /* by name, for membership tests */
    size_t *enum_lens;
    size_t nenum;
    json_t *def; /* parsed default_json (heap) */
};

struct fh_schema_compiled {
    cnode_t *root;
};

/* ------------------------------------------------------------ compiling */

static void node_free(cnode_t *n) {
    if (!n)
        return;
    if (n->has_re)
        regfree(&n->re);
    node_free(n->items);
    node_free(n->additional);
    for (size_t i = 0; i < n->nfields; i++)
        node_free(n->fields[i].node);
    free(n->fields);
    free(n->sorted);
    free(n->enum_lens);
    json_decref(n->def);
    free(n);
}

typedef struct cctx {
    char *why;
    size_t cap;
    int err;
} cctx_t;

static int cfail(cctx_t *c, const char *where, const char *fmt, ...) FH_PRINTF(3, 4);
static int cfail(cctx_t *c, const char *where, const char *fmt, ...) {
    if (c->why && c->cap) {
        /* A very deep place is shown by its start. */
        size_t wl = strlen(where);
        int n = snprintf(c->why, c->cap, "%.*s%s: ", wl > 120 ? 60 : (int)wl, where,
                         wl > 120 ? "..." : "");
        if (n >= 0 && (size_t)n < c->cap) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(c->why + n, c->cap - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    c->err = FH_EINVAL;
    return FH_EINVAL;
}

static const char *type_word(fh_schema_type_t t) {
    switch (t) {
    case FH_TYPE_STRING: return "string";
    case FH_TYPE_INTEGER: return "integer";
    case FH_TYPE_NUMBER: return "number";
    case FH_TYPE_BOOLEAN: return "boolean";
    case FH_TYPE_ARRAY: return "array";
    case FH_TYPE_OBJECT: return "object";
    default: return "any";
    }
}

static bool name_ok(const char *name) {
    if (!name[0])
        return false;
    for (const char *p = name; *p; p++) {
        char ch = *p;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '-' || ch == '_'))
            return false;
    }
    return true;
}

static int cmp_field(const void *a, const void *b) {
    const cfield_t *x = *(const cfield_t *const *)a, *y = *(const cfield_t *const *)b;
    return strcmp(x->name, y->name);
}

static cnode_t *compile_node(cctx_t *c, const fh_schema_t *s, const char *where, int depth);
static size_t validate_node(const cnode_t *n, const json_t *v, size_t max, json_t **errors,
                            unsigned *flags);

/* where + suffix, for messages about children. */
static char *child_where(const char *where, const char *suffix, const char *name) {
    size_t n = strlen(where) + strlen(suffix) + (name ? strlen(name) : 0) + 2;
    char *w = malloc(n);
    if (w)
        snprintf(w, n, "%s%s%s", where, suffix, name ? name : "");
    return w;
}

static bool numeric(fh_schema_type_t t) {
    return t == FH_TYPE_ANY || t == FH_TYPE_INTEGER || t == FH_TYPE_NUMBER;
}

/* Checks the keywords of s against its type and each other. */
static int check_keywords(cctx_t *c, const fh_schema_t *s, const char *where) {
    if ((unsigned)s->type > FH_TYPE_OBJECT)
        return cfail(c, where, "type %d is not an fh_schema_type_t", (int)s->type);
    if (s->name && !name_ok(s->name))
        return cfail(c, where, "name \"%s\": use letters, digits, '.', '-' and '_' only", s->name);
    const char *tw = type_word(s->type);
    if ((s->has_minimum || s->has_maximum) && !numeric(s->type))
        return cfail(c, where, "minimum and maximum apply to numbers, not to a %s", tw);
    if (s->has_minimum && !isfinite(s->minimum))
        return cfail(c, where, "minimum must be a finite number");
    if (s->has_maximum && !isfinite(s->maximum))
        return cfail(c, where, "maximum must be a finite number");
    if (s->has_minimum && s->has_maximum &&
        (s->minimum > s->maximum ||
         (s->minimum == s->maximum && (s->exclusive_minimum || s->exclusive_maximum))))
        return cfail(c, where, "minimum %g is above maximum %g: no number fits", s->minimum,
                     s->maximum);
    bool str = s->type == FH_TYPE_STRING || s->type == FH_TYPE_ANY;
    if ((s->min_length || s->max_length || s->pattern || s->format || s->enum_values) && !str)
        return cfail(c, where,
                     "min_length, max_length, pattern, format and enum_values apply to strings, "
                     "not to a %s",
                     tw);
    if (s->max_length && s->min_length > s->max_length)
        return cfail(c, where, "min_length %zu is above max_length %zu", s->min_length,
                     s->max_length);
    if ((unsigned)s->format > FH_FORMAT_URI)
        return cfail(c, where, "format %d is not an fh_schema_format_t", (int)s->format);
    bool arr = s->type == FH_TYPE_ARRAY || s->type == FH_TYPE_ANY;
    if ((s->items || s->min_items || s->max_items) && !arr)
        return cfail(c, where, "items, min_items and max_items apply to arrays, not to a %s", tw);
    if (s->max_items && s->min_items > s->max_items)
        return cfail(c, where, "min_items %zu is above max_items %zu", s->min_items, s->max_items);
    bool obj = s->type == FH_TYPE_OBJECT || s->type == FH_TYPE_ANY;
    if ((s->fields || s->closed || s->additional) && !obj)
        return cfail(c, where, "fields, closed and additional apply to objects, not to a %s", tw);
    if (s->closed && s->additional)
        return cfail(c, where, "closed and additional exclude each other");
    return 0;
}

static int compile_enum(cctx_t *c, cnode_t *n, const char *where) {
    const fh_schema_t *s = n->s;
    size_t k = 0;
    while (s->enum_values[k])
        k++;
    if (k == 0)
        return cfail(c, where, "enum_values is empty: no value fits");
    n->enum_lens = malloc(k * sizeof(size_t));
    if (!n->enum_lens)
        return c->err = FH_ENOMEM;
    for (size_t i = 0; i < k; i++)
        n->enum_lens[i] = strlen(s->enum_values[i]);
    n->nenum = k;
    return 0;
}

static int compile_fields(cctx_t *c, cnode_t *n, const char *where, int depth) {
    const fh_schema_t *s = n->s;
    size_t k = 0;
    while (s->fields[k].name)
        k++;
    if (!k)
        return 0;
    n->fields = calloc(k, sizeof(cfield_t));
    n->sorted = malloc(k * sizeof(*n->sorted));
    if (!n->fields || !n->sorted)
        return c->err = FH_ENOMEM;
    for (size_t i = 0; i < k; i++) {
        const fh_schema_field_t *f = &s->fields[i];
        char *w = child_where(where, "/properties/", f->name);
        if (!w)
            return c->err = FH_ENOMEM;
        cfield_t *cf = &n->fields[n->nfields++];
        cf->name = f->name;
        cf->len = strlen(f->name);
        cf->required = f->required;
        if (!f->schema)
            cfail(c, w, "the field has no schema");
        else
            cf->node = compile_node(c, f->schema, w, depth + 1);
        free(w);
        if (c->err)
            return c->err;
        n->sorted[i] = cf;
    }
    qsort(n->sorted, k, sizeof(*n->sorted), cmp_field);
    for (size_t i = 1; i < k; i++)
        if (strcmp(n->sorted[i - 1]->name, n->sorted[i]->name) == 0)
            return cfail(c, where, "field \"%s\" is declared twice", n->sorted[i]->name);
    return 0;
}

/* A default or example: JSON text that must fit the schema. */
static int compile_value(cctx_t *c, cnode_t *n, const char *text, const char *what,
                         const char *where, json_t **keep) {
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
    if (!v)
        return cfail(c, where, "%s \"%s\" is not JSON: %s", what, text, je.text);
    json_t *errs = NULL;
    size_t bad = validate_node(n, v, 1, &errs, NULL);
    if (bad) {
        const char *d =
            errs ? json_string_value(json_object_get(json_array_get(errs, 0), "detail")) : NULL;
        const char *p =
            errs ? json_string_value(json_object_get(json_array_get(errs, 0), "pointer")) : NULL;
        cfail(c, where, "%s %s does not fit: %s%s%s", what, text, p && p[1] ? p : "",
              p && p[1] ? " " : "", d ? d : "invalid");
        json_decref(errs);
        json_decref(v);
        return c->err;
    }
    if (keep)
        *keep = v;
    else
        json_decref(v);
    return 0;
}

static cnode_t *compile_node(cctx_t *c, const fh_schema_t *s, const char *where, int depth) {
    if (depth > FH_SCHEMA_MAX_DEPTH) {
        cfail(c, where, "schemas nest deeper than %d (a schema that contains itself?)",
              FH_SCHEMA_MAX_DEPTH);
        return NULL;
    }
    if (check_keywords(c, s, where))
        return NULL;
    cnode_t *n = calloc(1, sizeof(*n));
    if (!n) {
        c->err = FH_ENOMEM;
        return NULL;
    }
    n->s = s;
    if (s->pattern) {
        int rc = regcomp(&n->re, s->pattern, REG_EXTENDED | REG_NOSUB);
        if (rc) {
            char msg[128];
            regerror(rc, &n->re, msg, sizeof(msg));
            cfail(c, where, "pattern \"%s\": %s", s->pattern, msg);
            goto error;
        }
        n->has_re = true;
    }
    if (s->enum_values && compile_enum(c, n, where))
        goto error;
    if (s->items) {
        char *w = child_where(where, "/items", NULL);
        if (!w) {
            c->err = FH_ENOMEM;
            goto error;
        }
        n->items = compile_node(c, s->items, w, depth + 1);
        free(w);
        if (c->err)
            goto error;
    }
    if (s->additional) {
        char *w = child_where(where, "/additionalProperties", NULL);
        if (!w) {
            c->err = FH_ENOMEM;
            goto error;
        }
        n->additional = compile_node(c, s->additional, w, depth + 1);
        free(w);
        if (c->err)
            goto error;
    }
    if (s->fields && compile_fields(c, n, where, depth))
        goto error;
    if (s->default_json && compile_value(c, n, s->default_json, "default", where, &n->def))
        goto error;
    if (s->example_json && compile_value(c, n, s->example_json, "example", where, NULL))
        goto error;
    return n;
error:
    node_free(n);
    return NULL;
}

int fh_schema_compile(fh_schema_compiled_t **out, const fh_schema_t *schema, char *why,
                      size_t cap) {
    *out = NULL;
    if (why && cap)
        why[0] = '\0';
    cctx_t c = { why, cap, 0 };
    if (!schema)
        return cfail(&c, "#", "no schema");
    fh_schema_compiled_t *sc = malloc(sizeof(*sc));
    if (!sc)
        return FH_ENOMEM;
    /* Parsed defaults are kept: they must live on the heap. */
    fh_json_scope_t scope = fh_json_heap_begin();
    sc->root = compile_node(&c, schema, "#", 0);
    fh_json_scope_end(scope);
    if (c.err) {
        if (c.err == FH_ENOMEM && why && cap)
            snprintf(why, cap, "out of memory");
        free(sc);
        return c.err;
    }
    *out = sc;
    return 0;
}

void fh_schema_compiled_free(fh_schema_compiled_t *c) {
    if (!c)
        return;
    node_free(c->root);
    free(c);
}

const fh_schema_t *fh_schema_compiled_source(const fh_schema_compiled_t *c) { return c->root->s; }

const json_t *fh__schema_default(const fh_schema_compiled_t *c) { return c->root->def; }

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

static void put(json_t *obj, const char *key, json_t *value, bool *ok) {
    if (!value || json_object_set_new(obj, key, value) != 0)
        *ok = false;
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
        put(e, "pointer", pointer_json(st), &ok);
        const char *field = NULL;
        for (size_t i = st->depth; i-- > 0 && !field;)
            field = st->path[i].key;
        if (field)
            put(e, "field", fh__json_text(field, strlen(field)), &ok);
        put(e, "detail", fh__json_text(detail, strlen(detail)), &ok);
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

static size_t validate_node(const cnode_t *n, const json_t *v, size_t max, json_t **errors,
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
    return validate_node(c->root, value, max_errors, errors, flags);
}

/* ---------------------------------------------------------- JSON Schema */

static const char *format_name(fh_schema_format_t f) {
    switch (f) {
    case FH_FORMAT_EMAIL: return "email";
    case FH_FORMAT_UUID: return "uuid";
    case FH_FORMAT_DATE_TIME: return "date-time";
    case FH_FORMAT_DATE: return "date";
    case FH_FORMAT_URI: return "uri";
    default: return NULL;
    }
}

static json_t *bound(const fh_schema_t *s, double x) {
    if (s->type == FH_TYPE_INTEGER && x == floor(x) && fabs(x) < 9007199254740992.0)
        return json_integer((json_int_t)x);
    return json_real(x);
}

static json_t *parsed(const char *text, bool *ok) {
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    if (!v)
        *ok = false;
    return v;
}

json_t *fh__schema_to_json(const fh_schema_t *s, const fh_schema_t *self, fh__schema_ref_fn ref,
                           void *ctx) {
    bool ok = true;
    if (ref && s->name && s != self) {
        ref(s, ctx);
        char buf[256];
        snprintf(buf, sizeof(buf), "#/components/schemas/%s", s->name);
        json_t *r = json_object();
        if (r)
            put(r, "$ref", json_string(buf), &ok);
        if (!ok) {
            json_decref(r);
            return NULL;
        }
        return r;
    }
    json_t *o = json_object();
    if (!o)
        return NULL;
    if (s->title)
        put(o, "title", fh__json_text(s->title, strlen(s->title)), &ok);
    if (s->description)
        put(o, "description", fh__json_text(s->description, strlen(s->description)), &ok);
    if (s->type != FH_TYPE_ANY) {
        json_t *t = json_string(type_word(s->type));
        if (s->nullable)
            put(o, "type", json_pack("[o,s]", t, "null"), &ok);
        else
            put(o, "type", t, &ok);
    }
    if (s->has_minimum)
        put(o, s->exclusive_minimum ? "exclusiveMinimum" : "minimum", bound(s, s->minimum), &ok);
    if (s->has_maximum)
        put(o, s->exclusive_maximum ? "exclusiveMaximum" : "maximum", bound(s, s->maximum), &ok);
    if (s->min_length)
        put(o, "minLength", json_integer((json_int_t)s->min_length), &ok);
    if (s->max_length)
        put(o, "maxLength", json_integer((json_int_t)s->max_length), &ok);
    if (s->pattern)
        put(o, "pattern", fh__json_text(s->pattern, strlen(s->pattern)), &ok);
    if (format_name(s->format))
        put(o, "format", json_string(format_name(s->format)), &ok);
    if (s->enum_values) {
        json_t *e = json_array();
        for (size_t i = 0; e && s->enum_values[i]; i++)
            if (json_array_append_new(
                    e, fh__json_text(s->enum_values[i], strlen(s->enum_values[i]))) != 0)
                ok = false;
        if (e && s->nullable && json_array_append_new(e, json_null()) != 0)
            ok = false;
        put(o, "enum", e, &ok);
    }
    if (s->items)
        put(o, "items", fh__schema_to_json(s->items, self, ref, ctx), &ok);
    if (s->min_items)
        put(o, "minItems", json_integer((json_int_t)s->min_items), &ok);
    if (s->max_items)
        put(o, "maxItems", json_integer((json_int_t)s->max_items), &ok);
    if (s->fields) {
        json_t *props = json_object(), *req = json_array();
        for (size_t i = 0; props && req && s->fields[i].name; i++) {
            const fh_schema_field_t *f = &s->fields[i];
            put(props, f->name, fh__schema_to_json(f->schema, self, ref, ctx), &ok);
            if (f->required && json_array_append_new(req, json_string(f->name)) != 0)
                ok = false;
        }
        put(o, "properties", props, &ok);
        if (req && json_array_size(req))
            put(o, "required", req, &ok);
        else
            json_decref(req);
    }
    if (s->closed)
        put(o, "additionalProperties", json_false(), &ok);
    else if (s->additional)
        put(o, "additionalProperties", fh__schema_to_json(s->additional, self, ref, ctx), &ok);
    if (s->default_json)
        put(o, "default", parsed(s->default_json, &ok), &ok);
    if (s->example_json) {
        json_t *ex = parsed(s->example_json, &ok);
        put(o, "examples", ex ? json_pack("[o]", ex) : NULL, &ok);
    }
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *fh_schema_json(const fh_schema_t *schema) {
    return schema ? fh__schema_to_json(schema, schema, NULL, NULL) : NULL;
}
