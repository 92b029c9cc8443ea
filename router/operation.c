/* Operations: declared parameters and bodies checked before the handler,
 * typed reads in the handler, and the response check mode.
 *
 * Each request of a route with an operation gets one arena record (a
 * request slot) holding the converted parameters and the checked body;
 * the fh_param_* and fh_body_* calls read it. Nothing else changes for
 * routes without an operation: the router calls their handler directly.
 */
#include "router/operation.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/request.h"

typedef struct oparam {
    const fh_param_t *p;
    fh_schema_compiled_t *c;
    fh_schema_type_t type;
    const json_t *def; /* the schema's default, or NULL */
    fh_str_t def_text; /* its text: a string's value, else the JSON */
} oparam_t;

typedef struct oresp {
    const fh_response_spec_t *r;
    fh_schema_compiled_t *c;
} oresp_t;

struct fh__op {
    const fh_operation_t *op;
    char *label; /* "GET /api/users/{id}" */
    fh_handler_fn next;
    void *next_data;
    oparam_t *params;
    size_t nparams;
    fh_schema_compiled_t *body;
    oresp_t *resps;
    size_t nresps;
    bool check;
};

typedef struct pval {
    bool present;    /* sent by the client */
    fh_str_t text;   /* as sent (decoded), or the default's text */
    const json_t *v; /* converted value, or the default, or NULL */
} pval_t;

typedef struct values {
    const fh__op_t *op;
    const json_t *body;
    pval_t p[];
} values_t;

static const char values_key;

static const char *in_name(fh_param_in_t in) {
    return in == FH_IN_PATH ? "path" : in == FH_IN_HEADER ? "header" : "query";
}

size_t fh__op_path(const char *pattern, char *buf, size_t cap) {
    size_t o = 0;
    bool inparam = false;
    for (const char *p = pattern; *p; p++) {
        char ch = *p;
        if ((ch == ':' || ch == '*') && p > pattern && p[-1] == '/') {
            if (o < cap)
                buf[o] = '{';
            o++;
            inparam = true;
            continue;
        }
        if (ch == '/' && inparam) {
            if (o < cap)
                buf[o] = '}';
            o++;
            inparam = false;
        }
        if (o < cap)
            buf[o] = ch;
        o++;
    }
    if (inparam) {
        if (o < cap)
            buf[o] = '}';
        o++;
    }
    if (cap)
        buf[o < cap ? o : cap - 1] = '\0';
    return o;
}

/* Whether the pattern holds ":name" or "*name" as a whole segment. */
static bool pattern_has(const char *pattern, const char *name) {
    size_t n = strlen(name);
    for (const char *p = strchr(pattern, '/'); p; p = strchr(p + 1, '/'))
        if ((p[1] == ':' || p[1] == '*') && strncmp(p + 2, name, n) == 0 &&
            (p[2 + n] == '/' || p[2 + n] == '\0'))
            return true;
    return false;
}

void fh__op_free(fh__op_t *o) {
    if (!o)
        return;
    for (size_t i = 0; i < o->nparams; i++)
        fh_schema_compiled_free(o->params[i].c);
    free(o->params);
    fh_schema_compiled_free(o->body);
    for (size_t i = 0; i < o->nresps; i++)
        fh_schema_compiled_free(o->resps[i].c);
    free(o->resps);
    free(o->label);
    free(o);
}

static int opfail(char *why, size_t cap, int err, const char *fmt, ...) FH_PRINTF(4, 5);
static int opfail(char *why, size_t cap, int err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
    return err;
}

static int compile_params(fh__op_t *o, const fh_route_info_t *ri, char *why, size_t cap) {
    const fh_param_t *ps = o->op->params;
    size_t n = 0;
    while (ps[n].name)
        n++;
    if (!n)
        return 0;
    o->params = calloc(n, sizeof(*o->params));
    if (!o->params)
        return FH_ENOMEM;
    char sub[384];
    for (size_t i = 0; i < n; i++) {
        const fh_param_t *p = &ps[i];
        oparam_t *op = &o->params[o->nparams++];
        op->p = p;
        if ((unsigned)p->in > FH_IN_HEADER)
            return opfail(why, cap, FH_EINVAL, "parameter \"%s\": in %d is not an fh_param_in_t",
                          p->name, (int)p->in);
        for (size_t k = 0; k < i; k++)
            if (ps[k].in == p->in && (p->in == FH_IN_HEADER ? strcasecmp(ps[k].name, p->name)
                                                            : strcmp(ps[k].name, p->name)) == 0)
                return opfail(why, cap, FH_EINVAL, "parameter \"%s\" (%s) is declared twice",
                              p->name, in_name(p->in));
        if (p->in == FH_IN_PATH && !pattern_has(ri->pattern, p->name))
            return opfail(why, cap, FH_EINVAL,
                          "path parameter \"%s\" is not in the pattern (write \":%s\")", p->name,
                          p->name);
        static const fh_schema_t plain_string = { .type = FH_TYPE_STRING };
        const fh_schema_t *s = p->schema ? p->schema : &plain_string;
        op->type = s->type;
        if (s->type != FH_TYPE_STRING && s->type != FH_TYPE_INTEGER && s->type != FH_TYPE_NUMBER &&
            s->type != FH_TYPE_BOOLEAN)
            return opfail(why, cap, FH_EINVAL,
                          "parameter \"%s\": a parameter is an integer, number, boolean or "
                          "string",
                          p->name);
        int err = fh_schema_compile(&op->c, s, sub, sizeof(sub));
        if (err)
            return opfail(why, cap, err, "parameter \"%s\": %s", p->name, sub);
        op->def = fh__schema_default(op->c);
        if (op->def) {
            if (p->in == FH_IN_PATH)
                return opfail(why, cap, FH_EINVAL,
                              "path parameter \"%s\": a path parameter cannot have a default",
                              p->name);
            op->def_text = json_is_string(op->def) ? (fh_str_t){ json_string_value(op->def),
                                                                 json_string_length(op->def) }
                                                   : fh_str(s->default_json);
        }
    }
    return 0;
}

static int compile_responses(fh__op_t *o, char *why, size_t cap) {
    const fh_response_spec_t *rs = o->op->responses;
    size_t n = 0;
    while (rs[n].status)
        n++;
    if (!n)
        return 0;
    o->resps = calloc(n, sizeof(*o->resps));
    if (!o->resps)
        return FH_ENOMEM;
    char sub[384];
    for (size_t i = 0; i < n; i++) {
        const fh_response_spec_t *r = &rs[i];
        if (r->status != FH_STATUS_DEFAULT && (r->status < 100 || r->status > 599))
            return opfail(why, cap, FH_EINVAL, "response %d: a status is 100..599", r->status);
        for (size_t k = 0; k < i; k++)
            if (rs[k].status == r->status)
                return opfail(why, cap, FH_EINVAL, "response %d is declared twice", r->status);
        oresp_t *orr = &o->resps[o->nresps++];
        orr->r = r;
        if (r->schema) {
            int err = fh_schema_compile(&orr->c, r->schema, sub, sizeof(sub));
            if (err)
                return opfail(why, cap, err, "response %d: %s", r->status, sub);
        }
    }
    return 0;
}

int fh__op_new(fh__op_t **out, const fh_operation_t *op, const fh_route_info_t *ri,
               fh_handler_fn next, void *next_data, bool check, char *why, size_t cap) {
    *out = NULL;
    why[0] = '\0';
    fh__op_t *o = calloc(1, sizeof(*o));
    if (!o)
        return FH_ENOMEM;
    o->op = op;
    o->next = next;
    o->next_data = next_data;
    o->check = check;
    const char *m = ri->method == FH_METHOD_ANY ? "ANY" : fh_method_name(ri->method);
    size_t pl = fh__op_path(ri->pattern, NULL, 0);
    o->label = malloc(strlen(m) + 1 + pl + 1);
    int err = o->label ? 0 : FH_ENOMEM;
    if (!err) {
        sprintf(o->label, "%s ", m);
        fh__op_path(ri->pattern, o->label + strlen(m) + 1, pl + 1);
    }
    if (!err && op->params)
        err = compile_params(o, ri, why, cap);
    if (!err && op->body) {
        char sub[384];
        if (!op->body->schema)
            err = opfail(why, cap, FH_EINVAL, "body: no schema");
        else if ((err = fh_schema_compile(&o->body, op->body->schema, sub, sizeof(sub))))
            opfail(why, cap, err, "body: %s", sub);
    }
    if (!err && op->responses)
        err = compile_responses(o, why, cap);
    if (!err && op->operation_id && !op->operation_id[0])
        err = opfail(why, cap, FH_EINVAL, "operation_id is empty");
    if (err) {
        if (err == FH_ENOMEM)
            snprintf(why, cap, "out of memory");
        fh__op_free(o);
        return err;
    }
    *out = o;
    return 0;
}

/* ------------------------------------------------------ names in a doc */

typedef struct named_list {
    const fh_schema_t *v[64];
    size_t n;
    bool more;
} named_list_t;

static void walk(const fh_schema_t *s, void (*fn)(const fh_schema_t *, void *), void *ctx,
                 int depth) {
    if (!s || depth > FH_SCHEMA_MAX_DEPTH)
        return;
    if (s->name)
        fn(s, ctx);
    walk(s->items, fn, ctx, depth + 1);
    walk(s->additional, fn, ctx, depth + 1);
    for (size_t i = 0; s->fields && s->fields[i].name; i++)
        walk(s->fields[i].schema, fn, ctx, depth + 1);
}

void fh__op_named(const fh_operation_t *op, void (*fn)(const fh_schema_t *, void *), void *ctx) {
    for (size_t i = 0; op->params && op->params[i].name; i++)
        walk(op->params[i].schema, fn, ctx, 0);
    if (op->body)
        walk(op->body->schema, fn, ctx, 0);
    for (size_t i = 0; op->responses && op->responses[i].status; i++)
        walk(op->responses[i].schema, fn, ctx, 0);
}

static void collect(const fh_schema_t *s, void *ctx) {
    named_list_t *l = ctx;
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i] == s)
            return;
    if (l->n < 64)
        l->v[l->n++] = s;
    else
        l->more = true;
}

bool fh__op_conflict(const fh_operation_t *a, const fh_operation_t *b, char *why, size_t cap) {
    if (a != b && a->operation_id && b->operation_id &&
        strcmp(a->operation_id, b->operation_id) == 0) {
        snprintf(why, cap, "operation_id \"%s\" is taken", a->operation_id);
        return true;
    }
    named_list_t la = { .n = 0 }, lb = { .n = 0 };
    fh__op_named(a, collect, &la);
    fh__op_named(b, collect, &lb);
    for (size_t i = 0; i < la.n; i++)
        for (size_t k = 0; k < lb.n; k++)
            if (la.v[i] != lb.v[k] && strcmp(la.v[i]->name, lb.v[k]->name) == 0) {
                snprintf(why, cap,
                         "two different schemas are named \"%s\" (publish one schema under "
                         "a name, or give them distinct names)",
                         la.v[i]->name);
                return true;
            }
    /* Within one operation too. */
    if (a == b)
        for (size_t i = 0; i < la.n; i++)
            for (size_t k = i + 1; k < la.n; k++)
                if (strcmp(la.v[i]->name, la.v[k]->name) == 0) {
                    snprintf(why, cap, "two different schemas are named \"%s\"", la.v[i]->name);
                    return true;
                }
    return false;
}

/* ----------------------------------------------------- reading params */

/* Converts the text of a parameter to its type; NULL with *detail set
 * when it is not of that type. Values live in the current (arena) scope. */
static json_t *convert(const oparam_t *op, fh_str_t t, const char **detail) {
    switch (op->type) {
    case FH_TYPE_INTEGER: {
        size_t i = 0;
        bool neg = t.len > 0 && t.ptr[0] == '-';
        i = neg;
        if (i == t.len || (t.ptr[i] == '0' && t.len > i + 1) || t.len - i > 19)
            goto not_int;
        uint64_t v = 0;
        for (; i < t.len; i++) {
            if (t.ptr[i] < '0' || t.ptr[i] > '9')
                goto not_int;
            v = v * 10 + (uint64_t)(t.ptr[i] - '0');
        }
        if (v > (uint64_t)INT64_MAX + neg)
            goto not_int;
        json_int_t x = neg ? (json_int_t)(0 - v) : (json_int_t)v;
        return json_integer(x);
    not_int:
        *detail = "must be an integer";
        return NULL;
    }
    case FH_TYPE_NUMBER: {
        /* The JSON number grammar: no "+", hex, "inf" or "nan". */
        char buf[64];
        size_t i = 0;
        if (t.len == 0 || t.len >= sizeof(buf))
            goto not_num;
        if (t.ptr[i] == '-')
            i++;
        if (i == t.len || t.ptr[i] < '0' || t.ptr[i] > '9' ||
            (t.ptr[i] == '0' && i + 1 < t.len && t.ptr[i + 1] >= '0' && t.ptr[i + 1] <= '9'))
            goto not_num;
        while (i < t.len && t.ptr[i] >= '0' && t.ptr[i] <= '9')
            i++;
        if (i < t.len && t.ptr[i] == '.') {
            size_t f = ++i;
            while (i < t.len && t.ptr[i] >= '0' && t.ptr[i] <= '9')
                i++;
            if (i == f)
                goto not_num;
        }
        if (i < t.len && (t.ptr[i] == 'e' || t.ptr[i] == 'E')) {
            i++;
            if (i < t.len && (t.ptr[i] == '+' || t.ptr[i] == '-'))
                i++;
            size_t e = i;
            while (i < t.len && t.ptr[i] >= '0' && t.ptr[i] <= '9')
                i++;
            if (i == e)
                goto not_num;
        }
        if (i != t.len)
            goto not_num;
        memcpy(buf, t.ptr, t.len);
        buf[t.len] = '\0';
        double x = strtod(buf, NULL);
        if (!isfinite(x))
            goto not_num;
        return json_real(x);
    not_num:
        *detail = "must be a number";
        return NULL;
    }
    case FH_TYPE_BOOLEAN:
        if (fh_str_eq(t, "true"))
            return json_true();
        if (fh_str_eq(t, "false"))
            return json_false();
        *detail = "must be true or false";
        return NULL;
    default:
        for (size_t i = 0; i < t.len;) {
            size_t k = t.ptr[i] ? fh__utf8_seq((const unsigned char *)t.ptr + i, t.len - i) : 0;
            if (!k) {
                *detail = t.ptr[i] ? "must be valid UTF-8" : "must not contain NUL bytes";
                return NULL;
            }
            i += k;
        }
        return json_stringn(t.ptr ? t.ptr : "", t.len);
    }
}

static fh_str_t raw_param(fh_request_t *req, const fh_param_t *p) {
    switch (p->in) {
    case FH_IN_PATH: return fh_request_param(req, p->name);
    case FH_IN_HEADER: return fh_request_header(req, p->name);
    default: return fh_request_query(req, p->name);
    }
}

static void perror_add(json_t *list, const fh_param_t *p, const char *detail, bool *ok) {
    json_t *e =
        json_pack("{s:s,s:s,s:s}", "parameter", p->name, "in", in_name(p->in), "detail", detail);
    if (!e || json_array_append_new(list, e) != 0)
        *ok = false;
}

/* Reads every declared parameter into vs; answers 400 listing the bad
 * ones and returns 1, or returns 0, or an error. */
static int read_params(const fh__op_t *o, fh_request_t *req, fh_response_t *res, values_t *vs) {
    json_t *errs = NULL;
    bool ok = true;
    size_t bad = 0;
    for (size_t i = 0; i < o->nparams; i++) {
        const oparam_t *op = &o->params[i];
        pval_t *pv = &vs->p[i];
        fh_str_t t = raw_param(req, op->p);
        const char *detail = NULL;
        char buf[512];
        if (!t.ptr) {
            if (op->p->required || op->p->in == FH_IN_PATH)
                detail = "is required";
            else if (op->def) {
                pv->text = op->def_text;
                pv->v = op->def;
            }
        } else {
            pv->present = true;
            pv->text = t;
            json_t *v = convert(op, t, &detail);
            if (v) {
                pv->v = v;
                if (fh_schema_validate(op->c, v, 1, NULL, NULL)) {
                    json_t *e = NULL;
                    fh_schema_validate(op->c, v, 1, &e, NULL);
                    const char *d =
                        e ? json_string_value(json_object_get(json_array_get(e, 0), "detail"))
                          : NULL;
                    snprintf(buf, sizeof(buf), "%s", d ? d : "is not valid");
                    json_decref(e);
                    detail = buf;
                }
            } else if (!detail) {
                return FH_ENOMEM;
            }
        }
        if (detail) {
            bad++;
            if (!errs && !(errs = json_array()))
                ok = false;
            if (ok)
                perror_add(errs, op->p, detail, &ok);
        }
    }
    if (!bad)
        return 0;
    json_t *extra = ok ? json_pack("{s:o}", "errors", errs) : NULL;
    if (!extra)
        return FH_ENOMEM;
    char detail[64];
    snprintf(detail, sizeof(detail), "%zu invalid parameter%s", bad, bad == 1 ? "" : "s");
    int rc = fh_send_problem(res, 400, NULL, detail, extra);
    json_decref(extra);
    return rc ? rc : 1;
}

/* Parses and checks the body; answers 400/413/415/422 and returns 1, or
 * returns 0 with vs->body set (NULL for an optional body not sent). */
static int read_body(const fh__op_t *o, fh_request_t *req, fh_response_t *res, values_t *vs) {
    const fh_body_spec_t *spec = o->op->body;
    fh_str_t raw = fh_request_body(req);
    if (spec->optional && raw.len == 0)
        return 0;
    fh_json_parse_opts_t popt = { .max_bytes = spec->max_bytes };
    fh_json_error_t jerr;
    json_t *body;
    if (fh_request_json_opts(req, &body, &jerr, &popt)) {
        int rc = fh_send_json_error(res, &jerr);
        return rc ? rc : 1;
    }
    json_t *errs = NULL;
    unsigned flags = 0;
    size_t bad = fh_schema_validate(o->body, body, FH_SCHEMA_MAX_ERRORS, &errs, &flags);
    if (!bad) {
        vs->body = body;
        return 0;
    }
    if (!errs)
        return FH_ENOMEM;
    char detail[96];
    if (flags & FH_SCHEMA_TRUNCATED)
        snprintf(detail, sizeof(detail),
                 "more than %zu validation errors; the first %zu are listed", bad, bad);
    else
        snprintf(detail, sizeof(detail), "%zu validation error%s", bad, bad == 1 ? "" : "s");
    json_t *extra = (flags & FH_SCHEMA_TRUNCATED)
                        ? json_pack("{s:o,s:b}", "errors", errs, "truncated", 1)
                        : json_pack("{s:o}", "errors", errs);
    if (!extra)
        return FH_ENOMEM;
    int rc = fh_send_problem(res, 422, NULL, detail, extra);
    json_decref(extra);
    json_decref(body);
    return rc ? rc : 1;
}

/* ------------------------------------------------------ response check */

static const oresp_t *declared_response(const fh__op_t *o, int status) {
    const oresp_t *def = NULL;
    for (size_t i = 0; i < o->nresps; i++) {
        if (o->resps[i].r->status == status)
            return &o->resps[i];
        if (o->resps[i].r->status == FH_STATUS_DEFAULT)
            def = &o->resps[i];
    }
    return def;
}

/* The media type of a Content-Type value, without parameters. */
static fh_str_t media_type(fh_str_t ct) {
    size_t n = 0;
    while (n < ct.len && ct.ptr[n] != ';' && ct.ptr[n] != ' ')
        n++;
    return (fh_str_t){ ct.ptr, n };
}

/* Why the response does not match its declaration, or NULL. */
static const char *mismatch(const fh__op_t *o, fh_request_t *req, fh_response_t *res) {
    int status = res->status;
    const oresp_t *d = declared_response(o, status);
    if (!d)
        return fh_sprintf(req, "status %d is not declared", status);
    const fh_response_spec_t *r = d->r;
    const char *want = r->content_type ? r->content_type : r->schema ? "application/json" : NULL;
    fh_str_t body = { res->body, res->body_len };
    fh_str_t got = media_type(res->content_type);
    if (!want) {
        if (body.len)
            return fh_sprintf(req, "a body of %zu bytes where none is declared", body.len);
        return NULL;
    }
    fh_str_t w = fh_str(want);
    bool any = w.len >= 2 && w.ptr[w.len - 2] == '/' && w.ptr[w.len - 1] == '*';
    if (any ? !(got.len >= w.len - 1 &&
                fh_str_ieq((fh_str_t){ got.ptr, w.len - 1 }, (fh_str_t){ w.ptr, w.len - 1 })) &&
                  strcmp(want, "*/*") != 0
            : !fh_str_ieq(got, w))
        return fh_sprintf(req, "Content-Type %.*s where %s is declared",
                          (int)(got.len > 80 ? 80 : got.len), got.ptr ? got.ptr : "(none)", want);
    if (!d->c)
        return NULL;
    json_error_t je;
    json_t *v = json_loadb(body.ptr ? body.ptr : "", body.len, JSON_DECODE_ANY, &je);
    if (!v)
        return fh_sprintf(req, "the body is not JSON: %s", je.text);
    json_t *errs = NULL;
    size_t bad = fh_schema_validate(d->c, v, 1, &errs, NULL);
    const char *why = NULL;
    if (bad) {
        const json_t *e = json_array_get(errs, 0);
        const char *p = json_string_value(json_object_get(e, "pointer"));
        const char *dt = json_string_value(json_object_get(e, "detail"));
        why = fh_sprintf(req, "%s: %s", p ? p : "#", dt ? dt : "does not match its schema");
    }
    json_decref(errs);
    json_decref(v);
    return why;
}

static void check_response(fh_response_t *res, void *data) {
    const fh__op_t *o = data;
    fh_request_t *req = res->req;
    if (res->flags & (FH__RES_RAW | FH__RES_STREAM | FH__RES_TAKEOVER))
        return;
    fh_json_scope_t s = fh_json_arena_begin(req->arena);
    const char *why = mismatch(o, req, res);
    if (why) {
        fprintf(stderr, "fasthttp: response check: %s answered %d: %s\n", o->label, res->status,
                why);
        char *detail =
            fh_sprintf(req, "response check: %s answered %d: %s", o->label, res->status, why);
        json_t *p = fh_json_problem(req, 500, NULL, detail, NULL);
        fh_str_t text = p ? fh_json_dump(req->arena, p, JSON_COMPACT) : (fh_str_t){ NULL, 0 };
        res->status = 500;
        fh_response_header_remove(res, "Location");
        if (text.ptr) {
            fh_response_header_set(res, "Content-Type", "application/problem+json");
            fh_response_body_borrow(res, text.ptr, text.len);
        } else {
            fh_response_header_set(res, "Content-Type", "text/plain; charset=utf-8");
            fh_response_body_borrow(res, "Internal Server Error", 21);
        }
    }
    fh_json_scope_end(s);
}

/* ------------------------------------------------------------ dispatch */

int fh__op_handle(fh_request_t *req, fh_response_t *res, void *data) {
    const fh__op_t *o = data;
    values_t *vs = fh_arena_calloc(req->arena, 1, sizeof(*vs) + o->nparams * sizeof(pval_t));
    if (!vs)
        return FH_ENOMEM;
    vs->op = o;
    int rc = fh_request_set(req, &values_key, vs);
    if (!rc && o->nparams)
        rc = read_params(o, req, res, vs);
    if (!rc && o->op->body)
        rc = read_body(o, req, res, vs);
    if (rc)
        return rc > 0 ? 0 : rc;
    if (o->check && (rc = fh_response_on_commit(res, check_response, (void *)o)))
        return rc;
    return o->next(req, res, o->next_data);
}

/* --------------------------------------------------------- typed reads */

static const pval_t *find(const fh_request_t *req, const char *name) {
    const values_t *vs = fh_request_get(req, &values_key);
    if (!vs || !name)
        return NULL;
    for (size_t i = 0; i < vs->op->nparams; i++)
        if (strcmp(vs->op->params[i].p->name, name) == 0)
            return &vs->p[i];
    return NULL;
}

bool fh_param_present(const fh_request_t *req, const char *name) {
    const pval_t *p = find(req, name);
    return p && p->present;
}

int64_t fh_param_int(const fh_request_t *req, const char *name, int64_t def) {
    const pval_t *p = find(req, name);
    return p && json_is_integer(p->v) ? (int64_t)json_integer_value(p->v) : def;
}

double fh_param_number(const fh_request_t *req, const char *name, double def) {
    const pval_t *p = find(req, name);
    return p && json_is_number(p->v) ? json_number_value(p->v) : def;
}

bool fh_param_bool(const fh_request_t *req, const char *name, bool def) {
    const pval_t *p = find(req, name);
    return p && json_is_boolean(p->v) ? json_is_true(p->v) : def;
}

fh_str_t fh_param_str(const fh_request_t *req, const char *name) {
    const pval_t *p = find(req, name);
    return p && p->text.ptr ? p->text : (fh_str_t){ NULL, 0 };
}

int fh_param_enum(const fh_request_t *req, const char *name, int def) {
    const values_t *vs = fh_request_get(req, &values_key);
    const pval_t *p = find(req, name);
    if (!p || !p->text.ptr)
        return def;
    const fh_schema_t *s = vs->op->params[p - vs->p].p->schema;
    for (int i = 0; s && s->enum_values && s->enum_values[i]; i++)
        if (fh_str_eq(p->text, s->enum_values[i]))
            return i;
    return def;
}

const json_t *fh_body_json(const fh_request_t *req) {
    const values_t *vs = fh_request_get(req, &values_key);
    return vs ? vs->body : NULL;
}

const json_t *fh_body_get(const fh_request_t *req, const char *name) {
    const json_t *b = fh_body_json(req);
    return b && name ? json_object_get(b, name) : NULL;
}

const char *fh_body_str(const fh_request_t *req, const char *name) {
    return json_string_value(fh_body_get(req, name));
}

int64_t fh_body_int(const fh_request_t *req, const char *name, int64_t def) {
    const json_t *v = fh_body_get(req, name);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
}

double fh_body_number(const fh_request_t *req, const char *name, double def) {
    const json_t *v = fh_body_get(req, name);
    return json_is_number(v) ? json_number_value(v) : def;
}

bool fh_body_bool(const fh_request_t *req, const char *name, bool def) {
    const json_t *v = fh_body_get(req, name);
    return json_is_boolean(v) ? json_is_true(v) : def;
}
