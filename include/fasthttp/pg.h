/**
 * @file
 * fasthttp — PostgreSQL on the worker loops, through libpq in non-blocking
 * mode: no thread pool, no lock on the request path.
 *
 * One fh_pg_t serves every worker of a server. Each worker loop gets its own
 * small set of connections (conns_per_loop), opened on that loop's first
 * query and watched by the loop's poll handles. A query made from a handler
 * defers the response; its callback runs later on the same loop thread with
 * the result, and ends the response.
 *
 *     static void got(fh_request_t *req, fh_response_t *res, int status,
 *                     const PGresult *r, void *data) {
 *         if (status) { fh_send_status(res, fh_pg_http_status(status)); return; }
 *         fh_send_text(res, 200, PQgetvalue(r, 0, 0));
 *     }
 *     static int h(fh_request_t *req, fh_response_t *res, void *pg) {
 *         const char *p[1] = {"41"};
 *         return fh_pg_query(pg, req, res, "SELECT $1::int + 1", 1, p, got, NULL);
 *     }
 *
 * The database down: a query on a loop whose connection is broken gets
 * FH_ENOTCONN at once (answer 503), and the loop reconnects in the
 * background with a growing delay (100 ms doubling to 5 s). A query that
 * runs past query_timeout_ms gets FH_ETIMEDOUT (answer 504); the server is
 * asked to cancel it from a thread-pool thread (libpq's PQcancel blocks),
 * and the connection takes new queries once the canceled one has finished.
 *
 * Lifetime: fh_pg_free after fh_server_free (the loops are gone then; the
 * workers close the connections' poll handles when they stop).
 *
 * The library is linked as fasthttp_pg (libpq's libpq-dev), next to fasthttp.
 */
#ifndef FASTHTTP_PG_H
#define FASTHTTP_PG_H

#include <libpq-fe.h>
#include <stdint.h>

#include "common.h"
#include "request.h"
#include "response.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The PostgreSQL client of one server. */
typedef struct fh_pg fh_pg_t;

/** How to reach the database. */
typedef struct fh_pg_config {
    /** libpq connection string or URI (copied); never logged. */
    const char *conninfo;
    /** Connections per worker loop, 1..64 (0: 2). */
    unsigned conns_per_loop;
    /** Longest time a query may take before FH_ETIMEDOUT, in ms (0: 30,000). */
    uint32_t query_timeout_ms;
} fh_pg_config_t;

/** Makes a client; opens nothing yet (connections open on first use, per
 * loop). cfg and its strings are copied. Returns NULL with *err set
 * (FH_EINVAL: no conninfo or conns_per_loop over 64; FH_ENOMEM). */
FH_API fh_pg_t *fh_pg_new(const fh_pg_config_t *cfg, int *err);

/** Frees the client and closes its connections. Call after fh_server_free
 * (never while a worker loop still runs); NULL is fine. */
FH_API void fh_pg_free(fh_pg_t *pg);

/** Called on the request's loop thread with the outcome of fh_pg_query.
 * status 0: result is libpq's result (PGRES_TUPLES_OK, PGRES_COMMAND_OK or
 * PGRES_FATAL_ERROR for an SQL error: see PQresultStatus and
 * PQresultErrorField). result and every value read from it are valid only
 * during the call; copy what must outlive it (fh_strdup). status
 * FH_ENOTCONN (the database is unreachable), FH_ETIMEDOUT (the query timed
 * out), FH_ECANCELED (the client went away): result is NULL. The callback
 * must end the response (or keep it deferred and end it later). */
typedef void (*fh_pg_result_fn)(fh_request_t *req, fh_response_t *res, int status,
                                const PGresult *result, void *data);

/** Sends sql with nparams text parameters (params[i] NULL is SQL NULL) on a
 * connection of the request's loop, and defers the response. Call on the
 * request's loop thread (from a handler or a callback of an earlier query).
 * sql and params are copied into libpq before the call returns; data is
 * borrowed until cb has run. Parameters are sent apart from the SQL, never
 * spliced into it. When every connection of the loop is busy the query
 * waits its turn (the wait counts in its timeout). cb runs exactly once for
 * a call that returned 0, never from inside this call. Returns 0,
 * FH_EINVAL (NULL argument, nparams < 0 or over 65535) or FH_ENOMEM. */
FH_API int fh_pg_query(fh_pg_t *pg, fh_request_t *req, fh_response_t *res, const char *sql,
                       int nparams, const char *const *params, fh_pg_result_fn cb, void *data);

/** The HTTP status a handler answers for a non-zero fh_pg_result_fn
 * status: 503 for FH_ENOTCONN, 504 for FH_ETIMEDOUT, 500 for anything
 * else. */
FH_API int fh_pg_http_status(int status);

#ifdef __cplusplus
}
#endif

#endif
