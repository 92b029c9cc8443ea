/* Router internals shared with the tests. */
#ifndef FH_ROUTER_ROUTER_H
#define FH_ROUTER_ROUTER_H

#include <fasthttp.h>

/* Percent-decodes the parameters of a match into arena: *names and *values
 * become arrays of m->nparams views (names point into the router, values
 * into the path when they hold no escape, else into the arena; values are
 * only searched for escapes when m->encoded says the path has some). Returns 0,
 * FH_ENOMEM, or FH_EINVAL when a value holds a malformed escape or an
 * encoded NUL. */
int fh__router_decode_params(const fh_route_match_t *m, fh_arena_t *arena, fh_str_t **names,
                             fh_str_t **values);

/* Number of nodes in the router's tree (tests check that a failed mount
 * leaves the tree a fresh build would make). */
size_t fh__router_node_count(const fh_router_t *r);
/* Number of patterns without parameters in the tree's fast table. */
size_t fh__router_static_count(const fh_router_t *r);

#endif /* FH_ROUTER_ROUTER_H */
