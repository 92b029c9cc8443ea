/* The OpenAPI 3.1 document of a router, and the Swagger UI page.
 *
 * The document is built from the route records (fh_router_route_at): one
 * path item per pattern, one operation per method. Named schemas met on
 * the way are queued and written into #/components/schemas after the
 * paths, each once. The served text is made on the first request, under a
 * mutex, and read without one afterwards.
 */
#include <fasthttp/openapi.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "router/operation.h"

struct fh_openapi {
    fh_openapi_options_t opt;
    const fh_router_t *router;
    pthread_mutex_t lock;
    _Atomic(char *) text; /* the document, made once */
    size_t text_len;
    char *page, *init; /* the HTML page and its script */
    char *css, *bundle;
    size_t css_len, bundle_len;
};

static _Thread_local char error_text[512];

const char *fh_openapi_error(void) { return error_text; }

static int config_fail(const char *fmt, ...) FH_PRINTF(1, 2);
static int config_fail(const char *fmt, ...) {
    int n = snprintf(error_text, sizeof(error_text), "fasthttp: ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_text + n, sizeof(error_text) - (size_t)n, fmt, ap);
    va_end(ap);
    return FH_ECONFIG;
}

/* ------------------------------------------------------------ building */

typedef struct doc {
    json_t *root, *paths, *schemas, *schemes, *opids;
    const fh_schema_t *queue[256];
    size_t nqueue;
    bool ok;
    const fh_openapi_options_t *opt;
} doc_t;

static void put(doc_t *d, json_t *obj, const char *key, json_t *value) {
    if (!obj || !value || json_object_set_new(obj, key, value) != 0)
        d->ok = false;
}

static json_t *text(const char *s) { return fh__json_text(s, strlen(s)); }

static void queue_named(const fh_schema_t *s, void *ctx) {
    doc_t *d = ctx;
    for (size_t i = 0; i < d->nqueue; i++)
        if (d->queue[i] == s)
            return;
    if (d->nqueue < sizeof(d->queue) / sizeof(d->queue[0]))
        d->queue[d->nqueue++] = s;
}

static json_t *schema(doc_t *d, const fh_schema_t *s) {
    json_t *j = fh__schema_to_json(s, NULL, queue_named, d);
    if (!j)
        d->ok = false;
    return j;
}

static json_t *ref(const char *kind, const char *name) {
    char buf[160];
    snprintf(buf, sizeof(buf), "#/components/%s/%s", kind, name);
    return json_pack("{s:s}", "$ref", buf);
}

static const char *problem_component(int status) {
    switch (status) {
    case 400: return "BadRequest";
    case 404: return "NotFound";
    case 405: return "MethodNotAllowed";
    case 413: return "ContentTooLarge";
    case 415: return "UnsupportedMediaType";
    case 422: return "UnprocessableContent";
    default: return NULL;
    }
}

/* The shared problem schemas and responses. */
static void components(doc_t *d, json_t *comp) {
    static const char problem_text[] =
        "{\"type\":\"object\",\"description\":\"A problem document (RFC 9457).\","
        "\"properties\":{\"type\":{\"type\":\"string\",\"format\":\"uri-reference\"},"
        "\"title\":{\"type\":\"string\"},\"status\":{\"type\":\"integer\"},"
        "\"detail\":{\"type\":\"string\"},\"instance\":{\"type\":\"string\"},"
        "\"request_id\":{\"type\":\"string\"}},\"required\":[\"type\",\"title\",\"status\"]}";
    static const char perr_text[] =
        "{\"description\":\"A 400 problem: the bad parameters, or where the body's JSON "
        "broke.\",\"allOf\":[{\"$ref\":\"#/components/schemas/Problem\"},{\"type\":\"object\","
        "\"properties\":{\"errors\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
        "\"properties\":{\"parameter\":{\"type\":\"string\"},\"in\":{\"type\":\"string\","
        "\"enum\":[\"query\",\"path\",\"header\"]},\"detail\":{\"type\":\"string\"}},"
        "\"required\":[\"parameter\",\"in\",\"detail\"]}},\"line\":{\"type\":\"integer\"},"
        "\"column\":{\"type\":\"integer\"},\"position\":{\"type\":\"integer\"}}}]}";
    static const char verr_text[] =
        "{\"description\":\"A 422 problem: each bad field of the body with its JSON "
        "Pointer.\",\"allOf\":[{\"$ref\":\"#/components/schemas/Problem\"},{\"type\":\"object\","
        "\"properties\":{\"errors\":{\"type\":\"array\",\"maxItems\":100,\"items\":{\"type\":"
        "\"object\",\"properties\":{\"pointer\":{\"type\":\"string\"},\"field\":{\"type\":"
        "\"string\"},\"detail\":{\"type\":\"string\"}},\"required\":[\"pointer\",\"detail\"]}},"
        "\"truncated\":{\"type\":\"boolean\"}},\"required\":[\"errors\"]}]}";
    json_t *problem = json_loads(problem_text, 0, NULL);
    json_t *perr = json_loads(perr_text, 0, NULL);
    json_t *verr = json_loads(verr_text, 0, NULL);
    put(d, d->schemas, "Problem", problem);
    put(d, d->schemas, "ParameterProblem", perr);
    put(d, d->schemas, "ValidationProblem", verr);
    static const struct {
        int status;
        const char *schema, *description;
    } rs[] = {
        { 400, "ParameterProblem",
          "Bad Request: a declared parameter is missing or invalid (errors lists each), or the "
          "body is not JSON (line, column and position say where)." },
        { 404, "Problem", "Not Found: no such resource, or no route for the path." },
        { 405, "Problem", "Method Not Allowed: the path takes other methods (see Allow)." },
        { 413, "Problem", "Content Too Large: the body is over the limit." },
        { 415, "Problem", "Unsupported Media Type: the body must be application/json." },
        { 422, "ValidationProblem",
          "Unprocessable Content: the body does not match its schema; errors lists each bad "
          "field with its JSON Pointer (at most 100, then truncated is true)." },
    };
    json_t *resp = json_object();
    for (size_t i = 0; i < sizeof(rs) / sizeof(rs[0]); i++) {
        char sref[96];
        snprintf(sref, sizeof(sref), "#/components/schemas/%s", rs[i].schema);
        json_t *r = json_pack("{s:s, s:{s:{s:{s:s}}}}", "description", rs[i].description, "content",
                              "application/problem+json", "schema", "$ref", sref);
        if (r && rs[i].status == 405)
            put(d, r, "headers",
                json_pack("{s:{s:s, s:{s:s}}}", "Allow", "description",
                          "The methods the path takes.", "schema", "type", "string"));
        put(d, resp, problem_component(rs[i].status), r);
    }
    put(d, comp, "responses", resp);
}

static void add_scheme(doc_t *d, const char *name, const char *scheme) {
    if (json_object_get(d->schemes, name))
        return;
    put(d, d->schemes, name, json_pack("{s:s, s:s}", "type", "http", "scheme", scheme));
}

static void custom_schemes(doc_t *d) {
    for (const fh_security_scheme_t *s = d->opt->security_schemes; s && s->name; s++) {
        json_t *o = json_object();
        put(d, o, "type", text(s->type ? s->type : "http"));
        if (s->scheme)
            put(d, o, "scheme", text(s->scheme));
        if (s->bearer_format)
            put(d, o, "bearerFormat", text(s->bearer_format));
        if (s->in)
            put(d, o, "in", text(s->in));
        if (s->param_name)
            put(d, o, "name", text(s->param_name));
        if (s->description)
            put(d, o, "description", text(s->description));
        put(d, d->schemes, s->name, o);
    }
}

static json_t *security_list(const char *const *names) {
    json_t *a = json_array();
    for (size_t i = 0; a && names && names[i]; i++)
        json_array_append_new(a, json_pack("{s:[]}", names[i]));
    return a;
}

/* An operation id made from method and path: "get_api_users_id". */
static char *made_up_id(const char *method, const char *pattern, char *buf, size_t cap) {
    size_t o = 0;
    for (const char *m = method; *m && o + 1 < cap; m++)
        buf[o++] = (char)(*m >= 'A' && *m <= 'Z' ? *m + 32 : *m);
    bool sep = true;
    for (const char *p = pattern; *p && o + 2 < cap; p++) {
        char ch = *p;
        bool word =
            (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        if (word) {
            if (sep)
                buf[o++] = '_';
            buf[o++] = ch;
            sep = false;
        } else {
            sep = true;
        }
    }
    if (strcmp(pattern, "/") == 0 && o + 6 < cap) {
        memcpy(buf + o, "_root", 5);
        o += 5;
    }
    buf[o] = '\0';
    return buf;
}

static void unique_id(doc_t *d, char *buf, size_t cap) {
    size_t base = strlen(buf);
    for (int k = 2; json_object_get(d->opids, buf) && k < 1000; k++)
        snprintf(buf + base, cap - base, "_%d", k);
    put(d, d->opids, buf, json_true());
}

static const char *param_in(fh_param_in_t in) {
    return in == FH_IN_PATH ? "path" : in == FH_IN_HEADER ? "header" : "query";
}

static json_t *parameters(doc_t *d, const fh_route_info_t *ri) {
    const fh_operation_t *op = ri->op;
    json_t *a = json_array();
    for (size_t i = 0; op && op->params && op->params[i].name; i++) {
        const fh_param_t *p = &op->params[i];
        static const fh_schema_t plain = { .type = FH_TYPE_STRING };
        json_t *o = json_pack("{s:s, s:s, s:b}", "name", p->name, "in", param_in(p->in), "required",
                              p->required || p->in == FH_IN_PATH);
        if (p->description)
            put(d, o, "description", text(p->description));
        put(d, o, "schema", schema(d, p->schema ? p->schema : &plain));
        if (!o || json_array_append_new(a, o) != 0)
            d->ok = false;
    }
    /* Path parameters of the pattern that are not declared. */
    for (const char *s = strchr(ri->pattern, '/'); s; s = strchr(s + 1, '/')) {
        if (s[1] != ':' && s[1] != '*')
            continue;
        size_t n = strcspn(s + 2, "/");
        char name[128];
        snprintf(name, sizeof(name), "%.*s", (int)n, s + 2);
        bool declared = false;
        for (size_t i = 0; op && op->params && op->params[i].name && !declared; i++)
            declared = op->params[i].in == FH_IN_PATH && strcmp(op->params[i].name, name) == 0;
        if (declared)
            continue;
        json_t *o = json_pack("{s:s, s:s, s:b, s:{s:s}}", "name", name, "in", "path", "required", 1,
                              "schema", "type", "string");
        if (o && s[1] == '*')
            put(d, o, "description",
                text("The rest of the path, slashes included (may be empty)."));
        if (!o || json_array_append_new(a, o) != 0)
            d->ok = false;
    }
    return a;
}

static json_t *responses(doc_t *d, const fh_route_info_t *ri) {
    const fh_operation_t *op = ri->op;
    json_t *rs = json_object();
    for (size_t i = 0; op && op->responses && op->responses[i].status; i++) {
        const fh_response_spec_t *r = &op->responses[i];
        char key[16];
        if (r->status == FH_STATUS_DEFAULT)
            snprintf(key, sizeof(key), "default");
        else
            snprintf(key, sizeof(key), "%d", r->status);
        const char *comp = problem_component(r->status);
        bool problem = r->content_type && strcmp(r->content_type, FH_PROBLEM) == 0;
        if (problem && !r->schema && comp) {
            json_t *o = ref("responses", comp);
            if (o && r->description)
                put(d, o, "description", text(r->description));
            put(d, rs, key, o);
            continue;
        }
        json_t *o = json_object();
        put(d, o, "description",
            text(r->description ? r->description : fh_status_reason(r->status)));
        const char *ct = r->content_type ? r->content_type : r->schema ? "application/json" : NULL;
        if (ct) {
            json_t *media = json_object();
            if (r->schema)
                put(d, media, "schema", schema(d, r->schema));
            else if (problem)
                put(d, media, "schema", ref("schemas", "Problem"));
            put(d, o, "content", json_pack("{s:o}", ct, media));
        }
        put(d, rs, key, o);
    }
    bool params = false;
    for (size_t i = 0; op && op->params && op->params[i].name; i++)
        params = true;
    static const int body_statuses[] = { 400, 413, 415, 422 };
    if (op && (params || op->body) && !json_object_get(rs, "400"))
        put(d, rs, "400", ref("responses", "BadRequest"));
    for (size_t i = 1; op && op->body && i < 4; i++) {
        char key[8];
        snprintf(key, sizeof(key), "%d", body_statuses[i]);
        if (!json_object_get(rs, key))
            put(d, rs, key, ref("responses", problem_component(body_statuses[i])));
    }
    if (json_object_size(rs) == 0)
        put(d, rs, "default",
            json_pack("{s:s}", "description", "The route's answer (not declared)."));
    return rs;
}

static void operation(doc_t *d, const fh_route_info_t *ri, const char *method, const char *path) {
    json_t *item = json_object_get(d->paths, path);
    if (!item) {
        item = json_object();
        put(d, d->paths, path, item);
    }
    const fh_operation_t *op = ri->op;
    json_t *o = json_object();
    char id[256];
    if (op && op->operation_id) {
        snprintf(id, sizeof(id), "%s", op->operation_id);
        put(d, d->opids, id, json_true());
    } else {
        made_up_id(method, ri->pattern, id, sizeof(id));
        unique_id(d, id, sizeof(id));
    }
    if (op && op->tags) {
        json_t *tags = json_array();
        for (size_t i = 0; tags && op->tags[i]; i++)
            json_array_append_new(tags, text(op->tags[i]));
        put(d, o, "tags", tags);
    }
    char summary[320];
    if (op && op->summary)
        snprintf(summary, sizeof(summary), "%s", op->summary);
    else
        snprintf(summary, sizeof(summary), "%s %s", method, path);
    for (char *c = summary; *c && !(op && op->summary) && c < summary + strlen(method); c++)
        *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
    put(d, o, "summary", text(summary));
    if (op && op->description)
        put(d, o, "description", text(op->description));
    put(d, o, "operationId", text(id));
    json_t *params = parameters(d, ri);
    if (params && json_array_size(params))
        put(d, o, "parameters", params);
    else
        json_decref(params);
    if (op && op->body) {
        json_t *rb = json_pack("{s:b, s:{s:{s:o}}}", "required", !op->body->optional, "content",
                               "application/json", "schema", schema(d, op->body->schema));
        if (rb && op->body->description)
            put(d, rb, "description", text(op->body->description));
        put(d, o, "requestBody", rb);
    }
    put(d, o, "responses", responses(d, ri));
    json_t *sec = NULL;
    if ((op && op->security) || ri->auth) {
        sec = security_list(op ? op->security : NULL);
        if (ri->auth & FH_ROUTE_AUTH_BASIC) {
            add_scheme(d, "basicAuth", "basic");
            json_array_append_new(sec, json_pack("{s:[]}", "basicAuth"));
        }
        if (ri->auth & FH_ROUTE_AUTH_BEARER) {
            add_scheme(d, "bearerAuth", "bearer");
            json_array_append_new(sec, json_pack("{s:[]}", "bearerAuth"));
        }
    } else if (!d->opt->security) {
        sec = json_array(); /* explicitly open */
    }
    if (sec)
        put(d, o, "security", sec);
    if (op && op->deprecated)
        put(d, o, "deprecated", json_true());
    put(d, item, method, o);
}

json_t *fh_openapi_document(const fh_router_t *router, const fh_openapi_options_t *opt) {
    static const fh_openapi_options_t none = { 0 };
    doc_t d;
    memset(&d, 0, sizeof(d));
    d.ok = true;
    d.opt = opt ? opt : &none;
    opt = d.opt;
    d.root = json_object();
    json_t *info = json_object();
    put(&d, info, "title", text(opt->title ? opt->title : "API"));
    put(&d, info, "version", text(opt->version ? opt->version : "0"));
    if (opt->description)
        put(&d, info, "description", text(opt->description));
    if (opt->license_name) {
        json_t *lic = json_pack("{s:s}", "name", opt->license_name);
        if (lic && opt->license_identifier)
            put(&d, lic, "identifier", text(opt->license_identifier));
        else if (lic && opt->license_url)
            put(&d, lic, "url", text(opt->license_url));
        put(&d, info, "license", lic);
    }
    put(&d, d.root, "openapi", json_string("3.1.0"));
    put(&d, d.root, "info", info);
    put(&d, d.root, "servers",
        json_pack("[{s:s}]", "url", opt->server_url ? opt->server_url : "/"));
    if (opt->security)
        put(&d, d.root, "security", security_list(opt->security));
    if (opt->tags) {
        json_t *tags = json_array();
        for (const fh_openapi_tag_t *t = opt->tags; tags && t->name; t++) {
            json_t *o = json_pack("{s:s}", "name", t->name);
            if (o && t->description)
                put(&d, o, "description", text(t->description));
            json_array_append_new(tags, o);
        }
        put(&d, d.root, "tags", tags);
    }
    d.paths = json_object();
    d.schemas = json_object();
    d.schemes = json_object();
    d.opids = json_object();
    put(&d, d.root, "paths", d.paths);
    custom_schemes(&d);
    static const char *const any_methods[] = { "get", "put", "post", "delete", "patch" };
    size_t n = fh_router_route_count(router);
    for (size_t i = 0; i < n && d.ok; i++) {
        const fh_route_info_t *ri = fh_router_route_at(router, i);
        size_t pl = fh__op_path(ri->pattern, NULL, 0);
        char *path = malloc(pl + 1);
        if (!path) {
            d.ok = false;
            break;
        }
        fh__op_path(ri->pattern, path, pl + 1);
        if (ri->method == FH_METHOD_ANY) {
            for (size_t k = 0; k < 5; k++)
                operation(&d, ri, any_methods[k], path);
        } else if (ri->method != FH_METHOD_CONNECT) {
            char m[16];
            snprintf(m, sizeof(m), "%s", fh_method_name(ri->method));
            for (char *c = m; *c; c++)
                *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
            operation(&d, ri, m, path);
        }
        free(path);
    }
    json_t *comp = json_object();
    put(&d, d.root, "components", comp);
    put(&d, comp, "schemas", d.schemas);
    components(&d, comp);
    /* Named schemas, each once; writing one may queue others. */
    for (size_t i = 0; i < d.nqueue && d.ok; i++) {
        const fh_schema_t *s = d.queue[i];
        json_t *j = fh__schema_to_json(s, s, queue_named, &d);
        put(&d, d.schemas, s->name, j);
    }
    if (json_object_size(d.schemes))
        put(&d, comp, "securitySchemes", d.schemes);
    else
        json_decref(d.schemes);
    json_decref(d.opids);
    if (!d.ok) {
        json_decref(d.root);
        return NULL;
    }
    return d.root;
}

/* ------------------------------------------------------------- serving */

static const char *document_text(fh_openapi_t *api, size_t *len) {
    char *t = atomic_load_explicit(&api->text, memory_order_acquire);
    if (t) {
        *len = api->text_len;
        return t;
    }
    pthread_mutex_lock(&api->lock);
    t = atomic_load_explicit(&api->text, memory_order_relaxed);
    if (!t) {
        fh_json_scope_t s = fh_json_heap_begin();
        json_t *doc = fh_openapi_document(api->router, &api->opt);
        char *dumped = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        json_decref(doc);
        fh_json_scope_end(s);
        if (dumped) {
            size_t n = strlen(dumped);
            t = malloc(n + 1);
            if (t) {
                memcpy(t, dumped, n + 1);
                api->text_len = n;
                atomic_store_explicit(&api->text, t, memory_order_release);
            }
            fh_json_free(dumped);
        }
    }
    pthread_mutex_unlock(&api->lock);
    *len = api->text_len;
    return t;
}

static int send_bytes(fh_response_t *res, const char *ct, const char *body, size_t len) {
    int rc = fh_response_status(res, 200);
    if (!rc)
        rc = fh_response_header(res, "Content-Type", ct);
    if (!rc)
        rc = fh_response_header(res, "Cache-Control", "no-cache");
    if (!rc)
        rc = fh_response_body_borrow(res, body, len);
    return rc ? rc : fh_response_end(res);
}

static int serve_document(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req;
    size_t len;
    const char *t = document_text(data, &len);
    if (!t)
        return FH_ENOMEM;
    return send_bytes(res, "application/json", t, len);
}

static int serve_page(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req;
    fh_openapi_t *api = data;
    return send_bytes(res, "text/html; charset=utf-8", api->page, strlen(api->page));
}

static int serve_asset(fh_request_t *req, fh_response_t *res, void *data) {
    fh_openapi_t *api = data;
    fh_str_t f = fh_request_param(req, "file");
    if (fh_str_eq(f, "swagger-ui.css"))
        return send_bytes(res, "text/css; charset=utf-8", api->css, api->css_len);
    if (fh_str_eq(f, "swagger-ui-bundle.js"))
        return send_bytes(res, "text/javascript; charset=utf-8", api->bundle, api->bundle_len);
    if (fh_str_eq(f, "init.js"))
        return send_bytes(res, "text/javascript; charset=utf-8", api->init, strlen(api->init));
    return fh_send_status(res, 404);
}

static const fh_operation_t document_op = {
    .summary = "This API's OpenAPI document",
    .tags = FH_TAGS("documentation"),
    .operation_id = "openapiDocument",
    .responses =
        FH_RESPONSES({ 200, "The OpenAPI 3.1 document", FH_SCHEMA(.type = FH_TYPE_OBJECT), NULL }),
};
static const fh_operation_t page_op = {
    .summary = "The documentation page (Swagger UI)",
    .tags = FH_TAGS("documentation"),
    .operation_id = "documentationPage",
    .responses = FH_RESPONSES({ 200, "An HTML page", NULL, "text/html" }),
};
static const fh_operation_t asset_op = {
    .summary = "A file of the documentation page",
    .tags = FH_TAGS("documentation"),
    .operation_id = "documentationFile",
    .params = (const fh_param_t[]){ { "file", FH_IN_PATH, FH_STRING(.min_length = 1), true,
                                      "swagger-ui.css, swagger-ui-bundle.js or init.js" },
                                    FH_PARAMS_END },
    .responses = FH_RESPONSES({ 200, "The file (CSS or JavaScript)", NULL, "*/*" },
                              { 404, "No such file", NULL, "text/plain" }),
};

/* Reads a whole file into the heap. */
static char *slurp(const char *dir, const char *name, size_t *len) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = malloc(n);
    if (!path)
        return NULL;
    snprintf(path, n, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    free(path);
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, used = 0;
    for (;;) {
        if (used == cap) {
            size_t ncap = cap ? cap * 2 : 1 << 16;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
            cap = ncap;
        }
        size_t k = fread(buf + used, 1, cap - used, f);
        used += k;
        if (k == 0)
            break;
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    *len = used;
    return buf;
}

/* A path of the document or the page: a static pattern whose bytes can
 * go into HTML and a JavaScript string as they are. */
static bool plain_path(const char *p) {
    if (!p || p[0] != '/' || strlen(p) > 200)
        return false;
    for (const char *c = p; *c; c++)
        if (*c <= ' ' || *c == 0x7f || strchr("\"'\\<>&:*?#%`", *c))
            return false;
    return true;
}

static void html_escape(char *dst, size_t cap, const char *s) {
    size_t o = 0;
    for (; *s && o + 7 < cap; s++) {
        const char *e = *s == '<'   ? "&lt;"
                        : *s == '>' ? "&gt;"
                        : *s == '&' ? "&amp;"
                        : *s == '"' ? "&quot;"
                                    : NULL;
        if (e) {
            memcpy(dst + o, e, strlen(e));
            o += strlen(e);
        } else {
            dst[o++] = *s;
        }
    }
    dst[o] = '\0';
}

static int load_page(fh_openapi_t *api) {
    const fh_openapi_options_t *o = &api->opt;
    if (!plain_path(o->docs_path))
        return config_fail("openapi.docs_path: \"%s\" is not a path such as \"/docs\"",
                           o->docs_path);
    if (!o->docs_dir || !o->docs_dir[0])
        return config_fail("openapi.docs_dir: required with docs_path \"%s\" (the swagger-ui-dist "
                           "directory)",
                           o->docs_path);
    api->bundle = slurp(o->docs_dir, "swagger-ui-bundle.js", &api->bundle_len);
    api->css = slurp(o->docs_dir, "swagger-ui.css", &api->css_len);
    if (!api->bundle || !api->css)
        return config_fail("openapi.docs_dir: \"%s\": no readable %s there (install the npm "
                           "package swagger-ui-dist: scripts/install-deps.sh)",
                           o->docs_dir, api->bundle ? "swagger-ui.css" : "swagger-ui-bundle.js");
    char title[600];
    html_escape(title, sizeof(title), o->title ? o->title : "API");
    const char *dp = o->docs_path;
    size_t dl = strlen(dp);
    while (dl > 1 && dp[dl - 1] == '/')
        dl--;
    const char *spec = o->path ? o->path : "/openapi.json";
    size_t n = strlen(title) + 3 * dl + 512;
    api->page = malloc(n);
    api->init = malloc(strlen(spec) + 256);
    if (!api->page || !api->init)
        return FH_ENOMEM;
    snprintf(api->page, n,
             "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
             "<title>%s</title>\n<link rel=\"stylesheet\" href=\"%.*s/swagger-ui.css\">\n"
             "</head>\n<body>\n<div id=\"swagger-ui\"></div>\n"
             "<script src=\"%.*s/swagger-ui-bundle.js\"></script>\n"
             "<script src=\"%.*s/init.js\"></script>\n</body>\n</html>\n",
             title, (int)dl, dp, (int)dl, dp, (int)dl, dp);
    snprintf(api->init, strlen(spec) + 256,
             "window.ui = SwaggerUIBundle({ url: \"%s\", dom_id: \"#swagger-ui\", "
             "deepLinking: true });\n",
             spec);
    return 0;
}

void fh_openapi_free(fh_openapi_t *api) {
    if (!api)
        return;
    free(atomic_load_explicit(&api->text, memory_order_relaxed));
    free(api->page);
    free(api->init);
    free(api->css);
    free(api->bundle);
    pthread_mutex_destroy(&api->lock);
    free(api);
}

int fh_openapi_new(fh_openapi_t **out, fh_router_t *router, const fh_openapi_options_t *opt) {
    *out = NULL;
    error_text[0] = '\0';
    if (!opt || !opt->title || !opt->title[0])
        return config_fail("openapi.title: required");
    if (!opt->version || !opt->version[0])
        return config_fail("openapi.version: required (the API's version, such as \"1.0.0\")");
    const char *path = opt->path ? opt->path : "/openapi.json";
    if (!plain_path(path))
        return config_fail("openapi.path: \"%s\" is not a path such as \"/openapi.json\"", path);
    for (const char *const *s = opt->security; s && *s; s++) {
        bool known = strcmp(*s, "basicAuth") == 0 || strcmp(*s, "bearerAuth") == 0;
        for (const fh_security_scheme_t *k = opt->security_schemes; k && k->name && !known; k++)
            known = strcmp(k->name, *s) == 0;
        if (!known)
            return config_fail("openapi.security: \"%s\" is not in security_schemes", *s);
    }
    fh_openapi_t *api = calloc(1, sizeof(*api));
    if (!api)
        return FH_ENOMEM;
    api->opt = *opt;
    api->router = router;
    pthread_mutex_init(&api->lock, NULL);
    atomic_init(&api->text, NULL);
    int err = 0;
    if (opt->docs_path)
        err = load_page(api);
    if (!err)
        err = fh_router_add_op(router, FH_METHOD_GET, path, serve_document, api, &document_op);
    if (!err && opt->docs_path) {
        char sub[256];
        size_t dl = strlen(opt->docs_path);
        while (dl > 1 && opt->docs_path[dl - 1] == '/')
            dl--;
        snprintf(sub, sizeof(sub), "%.*s/:file", (int)dl, opt->docs_path);
        err = fh_router_add_op(router, FH_METHOD_GET, opt->docs_path, serve_page, api, &page_op);
        if (!err)
            err = fh_router_add_op(router, FH_METHOD_GET, sub, serve_asset, api, &asset_op);
    }
    if (err) {
        fh_openapi_free(api);
        return err;
    }
    *out = api;
    return 0;
}
