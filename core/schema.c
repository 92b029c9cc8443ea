/* Schemas: compiling (patterns, defaults, contradictions) and the JSON
 * Schema form the OpenAPI document publishes; validating a value and the
 * formats are in schema_check.c.
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
    size_t bad = fh__schema_validate_node(n, v, 1, &errs, NULL);
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
            fh__json_put(r, "$ref", json_string(buf), &ok);
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
        fh__json_put(o, "title", fh__json_text(s->title, strlen(s->title)), &ok);
    if (s->description)
        fh__json_put(o, "description", fh__json_text(s->description, strlen(s->description)), &ok);
    if (s->type != FH_TYPE_ANY) {
        json_t *t = json_string(type_word(s->type));
        if (s->nullable)
            fh__json_put(o, "type", json_pack("[o,s]", t, "null"), &ok);
        else
            fh__json_put(o, "type", t, &ok);
    }
    if (s->has_minimum)
        fh__json_put(o, s->exclusive_minimum ? "exclusiveMinimum" : "minimum", bound(s, s->minimum),
                     &ok);
    if (s->has_maximum)
        fh__json_put(o, s->exclusive_maximum ? "exclusiveMaximum" : "maximum", bound(s, s->maximum),
                     &ok);
    if (s->min_length)
        fh__json_put(o, "minLength", json_integer((json_int_t)s->min_length), &ok);
    if (s->max_length)
        fh__json_put(o, "maxLength", json_integer((json_int_t)s->max_length), &ok);
    if (s->pattern)
        fh__json_put(o, "pattern", fh__json_text(s->pattern, strlen(s->pattern)), &ok);
    if (format_name(s->format))
        fh__json_put(o, "format", json_string(format_name(s->format)), &ok);
    if (s->enum_values) {
        json_t *e = json_array();
        for (size_t i = 0; e && s->enum_values[i]; i++)
            if (json_array_append_new(
                    e, fh__json_text(s->enum_values[i], strlen(s->enum_values[i]))) != 0)
                ok = false;
        if (e && s->nullable && json_array_append_new(e, json_null()) != 0)
            ok = false;
        fh__json_put(o, "enum", e, &ok);
    }
    if (s->items)
        fh__json_put(o, "items", fh__schema_to_json(s->items, self, ref, ctx), &ok);
    if (s->min_items)
        fh__json_put(o, "minItems", json_integer((json_int_t)s->min_items), &ok);
    if (s->max_items)
        fh__json_put(o, "maxItems", json_integer((json_int_t)s->max_items), &ok);
    if (s->fields) {
        json_t *props = json_object(), *req = json_array();
        for (size_t i = 0; props && req && s->fields[i].name; i++) {
            const fh_schema_field_t *f = &s->fields[i];
            fh__json_put(props, f->name, fh__schema_to_json(f->schema, self, ref, ctx), &ok);
            if (f->required && json_array_append_new(req, json_string(f->name)) != 0)
                ok = false;
        }
        fh__json_put(o, "properties", props, &ok);
        if (req && json_array_size(req))
            fh__json_put(o, "required", req, &ok);
        else
            json_decref(req);
    }
    if (s->closed)
        fh__json_put(o, "additionalProperties", json_false(), &ok);
    else if (s->additional)
        fh__json_put(o, "additionalProperties", fh__schema_to_json(s->additional, self, ref, ctx),
                     &ok);
    if (s->default_json)
        fh__json_put(o, "default", parsed(s->default_json, &ok), &ok);
    if (s->example_json) {
        json_t *ex = parsed(s->example_json, &ok);
        fh__json_put(o, "examples", ex ? json_pack("[o]", ex) : NULL, &ok);
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
