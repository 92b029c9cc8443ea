/**
 * @file
 * fasthttp — PostgreSQL on the worker loops, through libpq in non-blocking
 * mode: no thread pool, no lock on the request path.
 *
 * One fh_pg_t serves every worker of a server. Each worker loop gets its own
 * small pool of connections (conns_per_loop), opened on that loop's first
 * query and watched by the loop's poll handles. A query made from a handler
 * defers the response; its callback runs later on the same loop thread with
 * the result, and ends the response.
 *
 *     static void got(fh_request_t *req, fh_response_t *res, int status,
 *                     const PGresult *r, void *data) {
 *         if (fh_pg_failed(status, r)) { fh_pg_send_error(res, status, r); return; }
 *         fh_send_json_new(res, 200, fh_pg_result_json(r));
 *     }
 *     static int h(fh_request_t *req, fh_response_t *res, void *pg) {
 *         const char *p[1] = {"41"};
 *         return fh_pg_query(pg, req, res, "SELECT $1::int + 1 AS n", 1, p, got, NULL);
 *     }
 *
 * The database down: a query on a loop whose connections are all broken
 * gets FH_ENOTCONN on the next turn of the loop (answer 503), and the loop
 * reconnects in the background with a growing delay (100 ms doubling to
 * 5 s). A query that runs past query_timeout_ms gets FH_ETIMEDOUT (answer
 * 504); the server is asked to cancel it from a thread-pool thread
 * (libpq's PQcancel blocks), and the connection takes new queries once the
 * canceled one has finished. A result larger than max_result_rows or
 * max_result_bytes gets FH_E2BIG (answer 500) and the query is canceled:
 * rows are read one at a time, so memory stays within the limits.
 *
 * Pipeline mode: every connection runs in libpq's pipeline mode. A query
 * is sent at once, also to a connection still busy with earlier ones (up to
 * pipeline_depth of them in flight per connection), and results come back
 * in the order sent, so the queries of one request, or of many requests on
 * the same loop, share round trips instead of waiting for each other. Each
 * query is its own group (ended by its own Sync): an error fails that query
 * only, never the ones sent around it. The queries handlers ask during one
 * turn of the loop are sent together at its end, in runs of up to half of
 * pipeline_depth per connection (a run finds the connection's server
 * process awake instead of waking one process per query). A run goes to an
 * idle connection when there is one, else to the one with the fewest
 * queries in flight, passing over one whose oldest query has run for 20 ms
 * or more while another has room.
 *
 * Prepared statements (fh_pg_prepare, before the server runs) are named
 * SQL with a parameter count; each connection prepares one on its first
 * use (Parse sent in the same round trip as the query), keeps it, and
 * prepares it again after a reconnect. A statement that fails to prepare
 * (bad SQL, a missing table) answers its query with PostgreSQL's error and
 * is prepared again by the next query.
 *
 * Transactions (fh_pg_begin) hold one connection of the loop from BEGIN to
 * COMMIT or ROLLBACK; a transaction still open when its request is over is
 * rolled back.
 *
 * Lifetime: fh_pg_free after fh_server_free (the loops are gone then; the
 * workers close the connections' poll handles when they stop).
 *
 * The library is linked as fasthttp_pg (libpq's libpq-dev), next to fasthttp.
 */
#ifndef FASTHTTP_PG_H
#define FASTHTTP_PG_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "request.h"
#include "response.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The PostgreSQL client of one server. */
typedef struct fh_pg fh_pg_t;
/** A transaction: one connection held from BEGIN to COMMIT or ROLLBACK. */
typedef struct fh_pg_tx fh_pg_tx_t;
/** A prepared statement of a client (fh_pg_prepare). */
typedef struct fh_pg_stmt fh_pg_stmt_t;

/** How to reach the database. */
typedef struct fh_pg_config {
    /** libpq connection string or URI (copied); NULL: the DATABASE_URL
     * environment variable. Never logged (it may hold a password). */
    const char *conninfo;
    /** Connections per worker loop, 1..64 (0: 2). */
    unsigned conns_per_loop;
    /** Longest time a query may take, waiting for a connection included,
     * before FH_ETIMEDOUT, in ms, 1..86,400,000 (0: 30,000). */
    uint32_t query_timeout_ms;
    /** Queries in flight per connection (pipeline mode), 1..1024 (0: 32);
     * 1 sends a query only to an idle connection. */
    unsigned pipeline_depth;
    /** Longest time opening a connection may take (TCP connect, TLS,
     * authentication) before it is given up and retried later, in ms,
     * 1..600,000 (0: 10,000). Queries that waited for it get FH_ENOTCONN. */
    uint32_t connect_timeout_ms;
    /** Most rows a result may have before FH_E2BIG (0: 100,000). */
    size_t max_result_rows;
    /** Most bytes of values a result may hold before FH_E2BIG (0: 64 MiB). */
    size_t max_result_bytes;
} fh_pg_config_t;

/** Makes a client; opens nothing yet (connections open on first use, per
 * loop). cfg and its strings are copied. Returns NULL with *err set and a
 * line on stderr naming the field (FH_EINVAL: no conninfo and no
 * DATABASE_URL, a conninfo libpq cannot parse — not quoted —, or a count
 * out of range, quoted; FH_ENOMEM). */
FH_API fh_pg_t *fh_pg_new(const fh_pg_config_t *cfg, int *err);

/** Frees the client and closes its connections. Call after fh_server_free
 * (never while a worker loop still runs); NULL is fine. */
FH_API void fh_pg_free(fh_pg_t *pg);

/** Called on the request's loop thread with the outcome of a query, inside
 * the request's JSON arena scope (json.h). status 0: result is libpq's
 * result (PGRES_TUPLES_OK, PGRES_COMMAND_OK, or PGRES_FATAL_ERROR for an
 * SQL error: see fh_pg_failed and PQresultErrorField). result and every
 * value read from it are valid only during the call; copy what must
 * outlive it (fh_strdup). Non-zero status, result NULL: FH_ENOTCONN (the
 * database is unreachable), FH_ETIMEDOUT (the query timed out),
 * FH_E2BIG (the result was over a limit), FH_ECANCELED (the client went
 * away), FH_ENOMEM; and FH_ESTATE with the result for a COMMIT that rolled
 * back (fh_pg_commit). The callback ends the response (or keeps it deferred
 * and makes another query). */
typedef void (*fh_pg_result_fn)(fh_request_t *req, fh_response_t *res, int status,
                                const PGresult *result, void *data);

/** Sends sql with nparams text parameters (params[i] NULL is SQL NULL) on a
 * connection of the request's loop, and defers the response. Call on the
 * request's loop thread (from a handler or a callback of an earlier query).
 * sql and params are copied before the call returns; data is borrowed
 * until cb has run. Parameters are sent apart from the SQL, never spliced
 * into it. The query is sent at once in pipeline mode, behind the queries
 * its connection runs already; when every connection of the loop is full
 * (pipeline_depth), down or held by a transaction it waits its turn (the
 * wait counts in its timeout). Queries of one request may run on different
 * connections: their callbacks run in the order of each connection's
 * results, not necessarily in call order. When the client goes away every
 * query of the response not answered yet gets FH_ECANCELED, those of every
 * fh_pg_t the request used: the call sets the response's cancel callback
 * (fh_response_on_cancel) to fh_pg's own, replacing one set before (set
 * yours after the last query to keep it; fh_pg's then cancels nothing).
 * cb runs exactly once for a call
 * that returned 0, never from inside this call; the response must stay
 * deferred until then. Returns 0, FH_EINVAL (NULL argument, nparams < 0 or
 * over 65,535), FH_EALREADY_SENT (the response is final) or FH_ENOMEM. */
FH_API int fh_pg_query(fh_pg_t *pg, fh_request_t *req, fh_response_t *res, const char *sql,
                       int nparams, const char *const *params, fh_pg_result_fn cb, void *data);

/** Registers a prepared statement: sql (one statement, $1..$nparams for
 * its parameters, types inferred by the server) under name (1..63 bytes,
 * as the server shows it in pg_prepared_statements). Call before the first
 * query of pg (before fh_server_run); name and sql are copied. The handle
 * is valid until fh_pg_free. Each connection prepares the statement on its
 * first use and again after a reconnect. Returns the handle, or NULL with
 * *err set and a line on stderr: FH_EINVAL (a NULL argument, a bad name,
 * nparams out of 0..65,535, over 256 statements), FH_EEXIST (the name is
 * taken), FH_ESTATE (pg has run queries already), FH_ENOMEM. */
FH_API const fh_pg_stmt_t *fh_pg_prepare(fh_pg_t *pg, const char *name, const char *sql,
                                         int nparams, int *err);

/** Runs prepared statement stmt of pg with params, as fh_pg_query
 * (the same callback, lifetimes and errors). nparams must be the
 * statement's count (else FH_EINVAL). An SQL error in the statement itself
 * reaches cb as the result of the query (status 0, PGRES_FATAL_ERROR). */
FH_API int fh_pg_query_prepared(fh_pg_t *pg, fh_request_t *req, fh_response_t *res,
                                const fh_pg_stmt_t *stmt, int nparams, const char *const *params,
                                fh_pg_result_fn cb, void *data);

/** Starts a transaction for this request and defers the response: BEGIN is
 * sent on a connection of the loop chosen as for fh_pg_query (behind what it
 * runs already), which from then on takes no other query and stays with the
 * transaction until fh_pg_commit or fh_pg_rollback has run, or the request
 * is over (then ROLLBACK is sent by itself, and callbacks of queries still
 * pending are dropped). Call on the request's loop thread. The handle is
 * valid until the callback of fh_pg_commit or fh_pg_rollback has run, or
 * the request is over. If BEGIN fails (the database unreachable, a
 * timeout) every query of the transaction gets that status. Returns the
 * handle, or NULL with *err set (FH_EINVAL, FH_EALREADY_SENT, FH_ENOMEM). */
FH_API fh_pg_tx_t *fh_pg_begin(fh_pg_t *pg, fh_request_t *req, fh_response_t *res, int *err);

/** A query inside the transaction, as fh_pg_query. Queries run one after
 * the other in call order on the transaction's connection (pipelined: each
 * is sent at once, with its own Sync; one that fails leaves the transaction
 * aborted, and the ones after it get PostgreSQL's 25P02 error). Returns as
 * fh_pg_query, or FH_ESTATE once commit or rollback was asked. */
FH_API int fh_pg_tx_query(fh_pg_tx_t *tx, const char *sql, int nparams, const char *const *params,
                          fh_pg_result_fn cb, void *data);

/** A prepared statement inside the transaction, as fh_pg_tx_query and
 * fh_pg_query_prepared. */
FH_API int fh_pg_tx_query_prepared(fh_pg_tx_t *tx, const fh_pg_stmt_t *stmt, int nparams,
                                   const char *const *params, fh_pg_result_fn cb, void *data);

/** Sends COMMIT after the queries already asked; cb gets its result. A
 * transaction in which a statement failed is rolled back by PostgreSQL
 * instead: cb then gets status FH_ESTATE with the result (PQcmdStatus
 * "ROLLBACK"; answer 409). After the call the handle is only for the
 * callback. Returns as fh_pg_tx_query. */
FH_API int fh_pg_commit(fh_pg_tx_t *tx, fh_pg_result_fn cb, void *data);

/** Sends ROLLBACK after the queries already asked; cb gets its result.
 * Returns as fh_pg_tx_query. */
FH_API int fh_pg_rollback(fh_pg_tx_t *tx, fh_pg_result_fn cb, void *data);

/** Whether a query's outcome is a failure: a non-zero status (a COMMIT that
 * rolled back included), or an SQL error (PGRES_FATAL_ERROR and the like). */
FH_API bool fh_pg_failed(int status, const PGresult *result);

/** The HTTP status for a failed outcome: for a non-zero status 503
 * (FH_ENOTCONN, FH_ECANCELED), 504 (FH_ETIMEDOUT), 409 (FH_ESTATE: a
 * COMMIT that rolled back), 500 (FH_E2BIG, anything else); for an SQL error by its SQLSTATE: 409 for a unique,
 * foreign-key or exclusion violation (23505, 23503, 23P01), 400 for bad input (class 22, and
 * 23502 not-null, 23514 check), 503 for a serialization failure or
 * deadlock (40001, 40P01), too many connections or a server shutting down
 * (53300, 57P01..57P03, class 08), 504 for a canceled statement (57014), 500
 * otherwise. */
FH_API int fh_pg_http_status(int status, const PGresult *result);

/** Answers a failed outcome with a problem document (fh_send_problem):
 * fh_pg_http_status's status, a title saying what happened, the
 * SQLSTATE as "sqlstate" and PostgreSQL's primary message as "detail"
 * for an SQL error; Retry-After: 1 on a 503. A handler that wants other
 * answers maps the outcome itself. Returns as fh_send_problem. */
FH_API int fh_pg_send_error(fh_response_t *res, int status, const PGresult *result);

/** The rows of a result as a JSON array of objects (column name to
 * value), types by column OID: bool to true/false, int2/int4/int8/oid to
 * integers, float4/float8 to reals, json/jsonb parsed, SQL NULL to null,
 * anything else (numeric included, to keep its digits) to its text. A new
 * reference, allocated where jansson allocates now (the request's arena
 * inside a result callback); NULL when out of memory or result is NULL. */
FH_API json_t *fh_pg_result_json(const PGresult *result);

/** Row `row` of a result as a JSON object, as fh_pg_result_json; NULL
 * when the row does not exist. */
FH_API json_t *fh_pg_row_json(const PGresult *result, int row);

#ifdef __cplusplus
}
#endif

#endif
