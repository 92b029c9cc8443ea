/**
 * @file
 * fasthttp — schemas: what a JSON value must look like, written once in C,
 * checked against request bodies (operation.h) and published in the
 * OpenAPI document (openapi.h) as JSON Schema 2020-12.
 *
 * A schema is plain data, usually static and const. Write it with
 * designated initializers, or with the small builder macros below, which
 * make compound literals (at file scope they are static data too;
 * FH_SCHEMA() alone accepts anything):
 *
 *     static const fh_schema_t user_in = {
 *         .type = FH_TYPE_OBJECT,
 *         .name = "UserInput",          // published as #/components/schemas/UserInput
 *         .closed = true,               // additionalProperties: false
 *         .fields = FH_FIELDS(
 *             FH_FIELD_REQ("name", FH_STRING(.min_length = 1, .max_length = 100)),
 *             FH_FIELD_REQ("email", FH_STRING(.format = FH_FORMAT_EMAIL, .max_length = 254)),
 *             FH_FIELD("age", FH_INTEGER(FH_RANGE(0, 150), .nullable = true)),
 *             FH_FIELD("tags", FH_ARRAY(FH_STRING(.pattern = "^[a-z]+$"), .max_items = 10))),
 *     };
 *
 * Keywords and what a value that breaks them gets (the detail of its
 * violation; every violation also names its place as a JSON Pointer in
 * URI fragment form, "#/tags/1"):
 *
 * | field                      | JSON Schema                 | detail                              |
 * |----------------------------|-----------------------------|-------------------------------------|
 * | type                       | type                        | must be a string / an integer / a number / true or false / an array / an object |
 * | nullable                   | type: [T, "null"]           | (null accepted; type details add "or null") |
 * | minimum, maximum (has_*)   | minimum, maximum            | must be at least N / at most N      |
 * | exclusive_minimum/maximum  | exclusiveMinimum/Maximum    | must be greater than N / less than N |
 * | min_length, max_length     | minLength, maxLength        | must not be empty / must be at least N characters long / at most N characters long |
 * | pattern                    | pattern                     | must match the pattern P            |
 * | format                     | format                      | must be an email address / a UUID / a date-time (RFC 3339) / a date (RFC 3339) / an absolute URI |
 * | enum_values                | enum                        | must be one of: "a", "b"            |
 * | items                      | items                       | (each item checked, "#/tags/3")     |
 * | min_items, max_items       | minItems, maxItems          | must have at least N items / at most N items |
 * | fields (required)          | properties, required        | is required                         |
 * | closed                     | additionalProperties: false | is not allowed                      |
 * | additional                 | additionalProperties: S     | (each other member checked against S) |
 * | default_json, example_json | default, examples           | (documentation; a default is checked against the schema) |
 *
 * Lengths count Unicode code points, as JSON Schema does. A max_length or
 * max_items of 0 means no upper bound. Ranges are doubles: integers beyond
 * 2^53 compare approximately. Patterns are POSIX extended regular
 * expressions (regcomp with REG_EXTENDED), searched anywhere in the string
 * as JSON Schema does, so anchor them with ^ and $; keep to the syntax
 * POSIX and ECMA-262 share ([a-z], +, *, ?, {m,n}, |, groups), since the
 * document's readers use ECMA-262.
 *
 * Formats: email is local@domain with a dot-atom local part of at most 64
 * bytes and a domain of at least two labels (letters, digits, '-', UTF-8)
 * of at most 253 bytes; uuid is the 8-4-4-4-12 hex form (RFC 9562); date-time
 * is RFC 3339's date-time ("2026-12-01T10:00:00Z", "...T10:00:00.5+01:00"),
 * with real calendar days and leap seconds; date is its full-date; uri is
 * an absolute URI (RFC 3986: a scheme, ':', then URI characters and %XX
 * escapes only).
 *
 * Lifetime: a schema, its strings and its children are borrowed by
 * everything that uses them (fh_schema_compile, route tables) and must
 * outlive it: static data, or memory freed after the router.
 */
#ifndef FASTHTTP_SCHEMA_H
#define FASTHTTP_SCHEMA_H

#include <jansson.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The JSON type a schema accepts. */
typedef enum fh_schema_type {
    FH_TYPE_ANY = 0, /**< any JSON value (no "type" keyword) */
    FH_TYPE_STRING,  /**< a string */
    FH_TYPE_INTEGER, /**< a number without fraction or exponent */
    FH_TYPE_NUMBER,  /**< any number */
    FH_TYPE_BOOLEAN, /**< true or false */
    FH_TYPE_ARRAY,   /**< an array (items: its items' schema) */
    FH_TYPE_OBJECT,  /**< an object (fields: its members) */
} fh_schema_type_t;

/** String formats that are checked (and published as "format"). */
typedef enum fh_schema_format {
    FH_FORMAT_NONE = 0,
    FH_FORMAT_EMAIL,     /**< "email" */
    FH_FORMAT_UUID,      /**< "uuid" */
    FH_FORMAT_DATE_TIME, /**< "date-time" (RFC 3339) */
    FH_FORMAT_DATE,      /**< "date" (RFC 3339 full-date) */
    FH_FORMAT_URI,       /**< "uri" (absolute, RFC 3986) */
} fh_schema_format_t;

typedef struct fh_schema fh_schema_t;

/** A member of an object schema. Arrays of fields end with an entry whose
 * name is NULL (FH_FIELDS adds it). */
typedef struct fh_schema_field {
    const char *name;          /**< the member name; NULL ends the list */
    const fh_schema_t *schema; /**< its schema (required) */
    bool required;             /**< absent is a violation ("is required") */
} fh_schema_field_t;

/** A schema. A zeroed struct accepts any value. */
struct fh_schema {
    fh_schema_type_t type;   /**< FH_TYPE_ANY: no type check */
    const char *name;        /**< NULL, or the name it is published under in
                                  #/components/schemas (letters, digits, '.', '-', '_') */
    const char *title;       /**< documentation only */
    const char *description; /**< documentation only */
    bool nullable;           /**< null is accepted too */

    bool has_minimum;       /**< minimum applies (integers, numbers) */
    bool has_maximum;       /**< maximum applies (integers, numbers) */
    bool exclusive_minimum; /**< minimum itself is refused (exclusiveMinimum) */
    bool exclusive_maximum; /**< maximum itself is refused (exclusiveMaximum) */
    double minimum;         /**< the lower bound, with has_minimum */
    double maximum;         /**< the upper bound, with has_maximum */

    size_t min_length;         /**< strings: the fewest code points */
    size_t max_length;         /**< strings: the most code points; 0 = no bound */
    const char *pattern;       /**< strings: POSIX ERE, searched (anchor it) */
    fh_schema_format_t format; /**< strings: a checked format */
    /** Strings: the accepted values, a NULL-terminated array. */
    const char *const *enum_values;

    const fh_schema_t *items; /**< arrays: the items' schema; NULL = any */
    size_t min_items;         /**< arrays: the fewest items */
    size_t max_items;         /**< arrays: the most items; 0 = no bound */

    const fh_schema_field_t *fields; /**< objects: the members, NULL-name ended */
    bool closed;                     /**< objects: other members are refused */
    /** Objects: the schema of members not in fields (additionalProperties
     * as a schema); NULL = any, unless closed. */
    const fh_schema_t *additional;

    /** JSON text of the default value ("10", "\"asc\"", "true"): published
     * as "default", and what a parameter that is absent reads as
     * (operation.h). Checked against the schema when compiled. */
    const char *default_json;
    /** JSON text of an example value, published as "examples": [value]. */
    const char *example_json;
};

/** @{ */
/** Builder macros: compound literals of schemas, field lists and enum
 * lists, with designated initializers for the rest:
 * FH_STRING(.min_length = 1), FH_INTEGER(FH_RANGE(1, 100)),
 * FH_ARRAY(FH_STRING(), .max_items = 8), FH_OBJECT(FH_FIELDS(...)),
 * FH_STRING(.enum_values = FH_ENUM("asc", "desc")). */
#define FH_SCHEMA(...) (&(const fh_schema_t){ __VA_ARGS__ })
#define FH_STRING(...) FH_SCHEMA(.type = FH_TYPE_STRING, __VA_ARGS__)
#define FH_INTEGER(...) FH_SCHEMA(.type = FH_TYPE_INTEGER, __VA_ARGS__)
#define FH_NUMBER(...) FH_SCHEMA(.type = FH_TYPE_NUMBER, __VA_ARGS__)
#define FH_BOOLEAN(...) FH_SCHEMA(.type = FH_TYPE_BOOLEAN, __VA_ARGS__)
#define FH_ARRAY(item, ...) FH_SCHEMA(.type = FH_TYPE_ARRAY, .items = (item), __VA_ARGS__)
#define FH_OBJECT(flds, ...) FH_SCHEMA(.type = FH_TYPE_OBJECT, .fields = (flds), __VA_ARGS__)
#define FH_FIELDS(...) ((const fh_schema_field_t[]){ __VA_ARGS__, { NULL, NULL, false } })
#define FH_FIELD(n, s)                                                                             \
    { (n), (s), false }
#define FH_FIELD_REQ(n, s)                                                                         \
    { (n), (s), true }
#define FH_ENUM(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define FH_MIN(x) .has_minimum = true, .minimum = (x)
#define FH_MAX(x) .has_maximum = true, .maximum = (x)
#define FH_RANGE(lo, hi) FH_MIN(lo), FH_MAX(hi)
/** @} */

/** The most violations one validation lists; past it the list ends and
 * the result says it was cut (FH_SCHEMA_TRUNCATED). */
#define FH_SCHEMA_MAX_ERRORS 100

/** How deep schemas may nest (a cycle of schemas fails to compile). */
#define FH_SCHEMA_MAX_DEPTH 64

/** A compiled schema (opaque): patterns compiled, defaults parsed, the
 * schema checked for contradictions. Read-only once made, so any number of
 * threads validate with it at once. */
typedef struct fh_schema_compiled fh_schema_compiled_t;

/** Compiles schema (borrowed: it must outlive *out). Returns 0, FH_ENOMEM,
 * or FH_EINVAL for a schema that cannot be right, with the reason written
 * into why (cap bytes, may be NULL), naming the place in the schema:
 * "#/properties/age: minimum 10 is above maximum 5", "#/properties/code:
 * pattern \"[\": brackets ([ ]) not balanced". Free with
 * fh_schema_compiled_free. */
FH_API int fh_schema_compile(fh_schema_compiled_t **out, const fh_schema_t *schema, char *why,
                             size_t cap);
/** Frees a compiled schema; NULL is a no-op. */
FH_API void fh_schema_compiled_free(fh_schema_compiled_t *c);
/** The schema c was compiled from (borrowed). */
FH_API const fh_schema_t *fh_schema_compiled_source(const fh_schema_compiled_t *c);

/** Flags of fh_schema_validate's result. */
enum {
    FH_SCHEMA_TRUNCATED = 1, /**< more violations than max_errors: the list was cut */
};

/** Checks value (borrowed) against c. Returns the number of violations
 * found (0: valid), up to max_errors (0 = FH_SCHEMA_MAX_ERRORS); work
 * stops at the first violation past it, which sets FH_SCHEMA_TRUNCATED in
 * *flags (may be NULL). When errors is not NULL and there are violations,
 * *errors becomes a new array, allocated in the current jansson scope
 * (json.h: the request's arena inside a handler), of objects
 * {"pointer": "#/tags/1", "field": "tags", "detail": "must be a string"}
 * ("field": the nearest member name, absent for the value itself), in the
 * order of the value's members and the schema's fields; else *errors is
 * NULL. Out of memory while listing returns what was counted with *errors
 * NULL. Work is bounded by the value's size, and recursion by the schema's
 * depth, not the value's. */
FH_API size_t fh_schema_validate(const fh_schema_compiled_t *c, const json_t *value,
                                 size_t max_errors, json_t **errors, unsigned *flags);

/** The JSON Schema 2020-12 form of schema (as OpenAPI 3.1 writes it),
 * every child inline: a new reference in the current jansson scope, or
 * NULL when out of memory or a default/example is not JSON. */
FH_API json_t *fh_schema_json(const fh_schema_t *schema);

#ifdef __cplusplus
}
#endif
#endif /* FASTHTTP_SCHEMA_H */
