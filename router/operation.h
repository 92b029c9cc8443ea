/* Operations as the router keeps them: compiled schemas, the handler they
 * guard, and the pieces the OpenAPI document needs. Internal. */
#ifndef FH_ROUTER_OPERATION_H
#define FH_ROUTER_OPERATION_H

#include <fasthttp.h>

#include "core/schema.h"

typedef struct fh__op fh__op_t;

/* Compiles op for the route ri (its method and full pattern), guarding
 * next(req, res, next_data). check: the response check mode. Returns 0,
 * FH_ENOMEM, or FH_EINVAL with the reason in why ("parameter \"page\":
 * #: minimum 5 is above maximum 1"). */
int fh__op_new(fh__op_t **out, const fh_operation_t *op, const fh_route_info_t *ri,
               fh_handler_fn next, void *next_data, bool check, char *why, size_t cap);
void fh__op_free(fh__op_t *op);

/* The handler of a route with an operation: reads and checks parameters
 * and body, then calls next. data is the fh__op_t. */
int fh__op_handle(fh_request_t *req, fh_response_t *res, void *data);

/* Why a and b (operations of two routes) cannot be in one document: the
 * same operation id, or two different schemas published under one name.
 * Returns false when they fit together, else writes the reason. */
bool fh__op_conflict(const fh_operation_t *a, const fh_operation_t *b, char *why, size_t cap);

/* Calls fn for every named schema reachable from op (params, body,
 * responses; each schema's children), once per occurrence. */
void fh__op_named(const fh_operation_t *op, void (*fn)(const fh_schema_t *, void *), void *ctx);

/* "GET /api/users/{id}" in the OpenAPI form of a pattern: ":name" and
 * "*name" become "{name}". Writes at most cap bytes (NUL included) and
 * returns the length it needs. */
size_t fh__op_path(const char *pattern, char *buf, size_t cap);

#endif
