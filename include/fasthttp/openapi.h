/**
 * @file
 * fasthttp — the OpenAPI 3.1 document of a router, and a documentation
 * page for it.
 *
 *     fh_openapi_options_t o = {
 *         .title = "Users API", .version = "1.0.0",
 *         .path = "/openapi.json",                  // the default
 *         .docs_path = "/docs",                     // NULL: no page
 *         .docs_dir = "build-deps/npm/node_modules/swagger-ui-dist",
 *     };
 *     fh_openapi_t *api;
 *     if (fh_openapi_new(&api, router, &o))          // adds the routes
 *         fprintf(stderr, "%s\n", fh_openapi_error());
 *     ... run the server ...
 *     fh_openapi_free(api);                          // after fh_router_free
 *
 * The document is made from the router the first time it is asked for
 * (the router is frozen by then, so every route is in it), then served as
 * is: every route in registration order, mounts included, with its
 * pattern in OpenAPI's form ("/api/users/{id}"; a catch-all "*path" becomes
 * "{path}" too, described as holding the rest of the path). A route with
 * an operation (operation.h) is published with its summary, description,
 * tags, operation id, parameters, request body and responses; the
 * responses the router itself sends for it are added by reference: 400
 * (declared parameters or a body), 413, 415 and 422 (a body). A route
 * without one gets what the router knows: its method, path, path
 * parameters (strings), a made-up summary and operation id, and a
 * "default" response. FH_METHOD_ANY routes appear under get, put, post,
 * delete and patch; CONNECT routes, which OpenAPI cannot describe, do not
 * appear.
 *
 * A declared response's content_type may be a media range: a type, a
 * slash and a star takes any subtype of that type, and star-slash-star
 * any media type (in the document and in the response check mode).
 *
 * Components: the problem documents (RFC 9457) the framework answers with
 * are described once, as responses BadRequest (400), NotFound (404),
 * MethodNotAllowed (405), ContentTooLarge (413), UnsupportedMediaType (415)
 * and UnprocessableContent (422) over the schemas Problem,
 * ParameterProblem and ValidationProblem; a response declared with
 * content_type FH_PROBLEM and no schema for one of those statuses refers
 * to them. Named schemas (fh_schema_t.name) are published once under
 * #/components/schemas and referred to. The built-in auth middleware
 * around a route (mw_auth.h, per route or per mount) publishes the scheme
 * basicAuth or bearerAuth and lists it in the route's security;
 * other schemes are given in the options and named by operations.
 *
 * The page (docs_path) is Swagger UI, read at start-up from docs_dir, a
 * directory holding the npm package swagger-ui-dist (scripts/install-deps.sh
 * installs it; fasthttp does not ship it): GET docs_path answers the page,
 * GET docs_path/swagger-ui.css, docs_path/swagger-ui-bundle.js and
 * docs_path/init.js its files (held in memory), anything else below it 404.
 */
#ifndef FASTHTTP_OPENAPI_H
#define FASTHTTP_OPENAPI_H

#include <jansson.h>

#include "common.h"
#include "router.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A security scheme (OpenAPI's Security Scheme Object). Lists end with
 * an entry whose name is NULL. */
typedef struct fh_security_scheme {
    const char *name;          /**< its key in components.securitySchemes; NULL ends */
    const char *type;          /**< "http", "apiKey", "oauth2" or "openIdConnect" */
    const char *scheme;        /**< http: "basic", "bearer"... */
    const char *bearer_format; /**< http bearer: "JWT"...; may be NULL */
    const char *in;            /**< apiKey: "header", "query" or "cookie" */
    const char *param_name;    /**< apiKey: the header, query or cookie name */
    const char *description;   /**< may be NULL */
} fh_security_scheme_t;

/** A tag with its description. Lists end with a NULL name. */
typedef struct fh_openapi_tag {
    const char *name;        /**< NULL ends the list */
    const char *description; /**< may be NULL */
} fh_openapi_tag_t;

/** What the document says about the API as a whole, and where it and
 * the page are served. Strings are borrowed: they must outlive the
 * fh_openapi_t. */
typedef struct fh_openapi_options {
    const char *title;        /**< required */
    const char *version;      /**< the API's version, required ("1.0.0") */
    const char *description;  /**< CommonMark; may be NULL */
    const char *license_name; /**< info.license.name; may be NULL */
    const char *license_url;  /**< info.license.url; may be NULL */
    /** info.license.identifier (SPDX: "MIT"), written instead of the url;
     * may be NULL. */
    const char *license_identifier;
    const char *server_url;                       /**< servers[0].url; NULL = "/" */
    const fh_openapi_tag_t *tags;                 /**< may be NULL */
    const fh_security_scheme_t *security_schemes; /**< may be NULL */
    /** Security every operation needs unless it names its own: scheme
     * names, NULL-terminated; NULL = none. */
    const char *const *security;
    /** Where the document is served (a pattern without parameters);
     * NULL = "/openapi.json". */
    const char *path;
    /** Where the page is served (a pattern without parameters), or NULL
     * for no page. */
    const char *docs_path;
    /** With docs_path: the swagger-ui-dist directory. */
    const char *docs_dir;
} fh_openapi_options_t;

/** The document and page server of one router (opaque). */
typedef struct fh_openapi fh_openapi_t;

/** Adds GET opt->path (and, with docs_path, the page and its files) to
 * router and keeps what serving them needs. The routes are published too.
 * Returns 0, FH_ENOMEM, FH_ECONFIG (a bad option: fh_openapi_error names
 * it and quotes the value, a docs_dir without Swagger UI included) or the
 * router's errors (fh_router_error; routes added before the failing one
 * stay, so free the router then). Free with fh_openapi_free after the
 * server and the router. */
FH_API int fh_openapi_new(fh_openapi_t **out, fh_router_t *router, const fh_openapi_options_t *opt);
/** Frees it; NULL is a no-op. */
FH_API void fh_openapi_free(fh_openapi_t *api);
/** The message of this thread's last FH_ECONFIG from fh_openapi_new:
 * "fasthttp: openapi.docs_dir: \"/nope\": no swagger-ui-bundle.js there
 * (install swagger-ui-dist)". "" when none. */
FH_API const char *fh_openapi_error(void);

/** Builds the document of router now (every route added so far), as
 * fh_openapi_new serves it: a new reference in the current jansson scope
 * (the heap outside handlers), or NULL when out of memory. opt may be the
 * options given to fh_openapi_new or others; title and version default to
 * "API" and "0". For tools and tests (print it, lint it). */
FH_API json_t *fh_openapi_document(const fh_router_t *router, const fh_openapi_options_t *opt);

#ifdef __cplusplus
}
#endif
#endif /* FASTHTTP_OPENAPI_H */
