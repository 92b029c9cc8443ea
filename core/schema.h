/* Schema internals shared with the router's operations and the OpenAPI
 * document (router/operation.c, router/openapi.c) and the tests. */
#ifndef FH_CORE_SCHEMA_H
#define FH_CORE_SCHEMA_H

#include <fasthttp.h>
#include <fasthttp/schema.h>
#include <regex.h>

/* A compiled schema is a tree of nodes mirroring the schema, each holding
 * what validation needs at hand: the compiled pattern, the lengths of the
 * enum values and the object's fields sorted by name (to tell declared
 * members from others in O(log n)). schema.c builds it, schema_check.c
 * walks it. */
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

/* Validates v along n (schema_check.c): the violations, listed in *errors
 * up to max (0: FH_SCHEMA_MAX_ERRORS), as fh_schema_validate does. */
size_t fh__schema_validate_node(const cnode_t *n, const json_t *v, size_t max, json_t **errors,
                                unsigned *flags);

/* Format checks, exposed for the tests. */
bool fh__format_email(const char *s, size_t n);
bool fh__format_uuid(const char *s, size_t n);
bool fh__format_date_time(const char *s, size_t n);
bool fh__format_date(const char *s, size_t n);
bool fh__format_uri(const char *s, size_t n);

#endif
