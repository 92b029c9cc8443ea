/* Schema internals shared with the router's operations and the OpenAPI
 * document (router/operation.c, router/openapi.c) and the tests. */
#ifndef FH_CORE_SCHEMA_H
#define FH_CORE_SCHEMA_H

#include <fasthttp.h>
#include <fasthttp/schema.h>

/* Called by fh__schema_to_json for every named schema it writes as a
 * $ref, so the caller can publish it under #/components/schemas. */
typedef void (*fh__schema_ref_fn)(const fh_schema_t *named, void *ctx);

/* The JSON Schema form of s, in the current jansson scope. Named schemas
 * below it (and s itself unless s == self) become {"$ref":
 * "#/components/schemas/<name>"} and are reported to ref, when ref is not
 * NULL; with ref NULL everything is inline. NULL when out of memory. */
json_t *fh__schema_to_json(const fh_schema_t *s, const fh_schema_t *self, fh__schema_ref_fn ref,
                           void *ctx);

/* The parsed default of the compiled schema's root (borrowed, heap), or
 * NULL when it has none. */
const json_t *fh__schema_default(const fh_schema_compiled_t *c);

/* Format checks, exposed for the tests. */
bool fh__format_email(const char *s, size_t n);
bool fh__format_uuid(const char *s, size_t n);
bool fh__format_date_time(const char *s, size_t n);
bool fh__format_date(const char *s, size_t n);
bool fh__format_uri(const char *s, size_t n);

#endif
