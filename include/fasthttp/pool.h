/**
 * @file
 * fasthttp — a pool of expensive handles (database connections, clients of
 * other services) for code that runs on the thread pool (fh_offload).
 *
 * A pool opens handles on demand, up to a maximum, and keeps the ones given
 * back for the next taker:
 *
 *     static int open_db(void **out, void *data) {   // any thread
 *         sqlite3 *db;
 *         if (sqlite3_open_v2(data, &db, SQLITE_OPEN_READWRITE |
 *                             SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
 *             sqlite3_close(db);
 *             return FH_EAGAIN;
 *         }
 *         *out = db;
 *         return 0;
 *     }
 *     static void close_db(void *handle, void *data) { sqlite3_close(handle); }
 *
 *     fh_pool_config_t pc = fh_pool_config_default();
 *     pc.max_size = 8; pc.create = open_db; pc.destroy = close_db;
 *     pc.data = "todos.db";
 *     fh_pool_new(&pool, &pc);
 *     fh_server_own_pool(server, pool);  // freed with the server
 *
 *     static void work(void *data) {     // a pool thread (fh_offload)
 *         sqlite3 *db;
 *         if (fh_pool_acquire(pool, 2000, (void **)&db)) { ...503...; return; }
 *         ...
 *         fh_pool_release(pool, db, false);
 *     }
 *
 * Every function is safe to call from any thread, at once. A handle is used
 * by one taker at a time: between fh_pool_acquire and fh_pool_release it
 * belongs to the caller alone, so it needs no locking of its own.
 *
 * acquire blocks its thread: call it from offloaded work (or a thread of
 * your own), never on a loop thread.
 */
#ifndef FASTHTTP_POOL_H
#define FASTHTTP_POOL_H

#include "common.h"
#include "server.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A pool (opaque). */
typedef struct fh_pool fh_pool_t;

/** Opens one handle into *out; returns 0, or a negative error code that
 * fh_pool_acquire hands back to its caller (then *out is not read). Runs on
 * the thread of the fh_pool_acquire that needed it, without the pool's lock
 * held (other takers go on meanwhile). */
typedef int (*fh_pool_create_fn)(void **out, void *data);
/** Closes a handle that create opened. Runs on the thread that releases a
 * broken handle, releases one after the pool was closed, closes the pool, or
 * acquires a handle whose check failed; never twice for one handle. */
typedef void (*fh_pool_destroy_fn)(void *handle, void *data);
/** Whether an idle handle is still usable (a connection the peer has not
 * closed), asked by fh_pool_acquire before it hands the handle out. false:
 * the handle is destroyed and the next idle one, or a new one, is taken. */
typedef bool (*fh_pool_check_fn)(void *handle, void *data);

/** What a pool is told; start from fh_pool_config_default(). The pool
 * copies it. */
typedef struct fh_pool_config {
    size_t max_size;            /**< handles open at once, idle or taken:
                                  1..65536 (default 8) */
    fh_pool_create_fn create;   /**< required */
    fh_pool_destroy_fn destroy; /**< required */
    fh_pool_check_fn check;     /**< optional (NULL: every idle handle is good) */
    void *data;                 /**< passed to the three callbacks; the
                                  caller's, until the pool is freed */
} fh_pool_config_t;

/** The defaults: max_size 8, no callbacks, data NULL. */
FH_API fh_pool_config_t fh_pool_config_default(void);

/** Makes a pool; opens nothing yet. Returns 0 with *out set, FH_EINVAL (NULL
 * out or cfg, no create or destroy, max_size outside 1..65536) or
 * FH_ENOMEM. */
FH_API int fh_pool_new(fh_pool_t **out, const fh_pool_config_t *cfg);

/** Takes a handle: an idle one (the one released last, after check), or a
 * new one from create while fewer than max_size are open, or else waits up
 * to timeout_ms milliseconds (0: does not wait) for one to be released.
 * Blocks its thread: never call it on a loop thread.
 *
 * Returns 0 with *out set: the handle is the caller's until it gives it
 * back with fh_pool_release, which it must do exactly once. Or
 * FH_ETIMEDOUT (all max_size taken for the whole wait), FH_ESTATE (the pool
 * is closed, or was closed during the wait), FH_EINVAL (NULL pool or out),
 * or create's error (nothing is then counted as open). */
FH_API int fh_pool_acquire(fh_pool_t *pool, uint32_t timeout_ms, void **out);

/** Gives back a handle that fh_pool_acquire returned. broken: the handle
 * must not be used again (its connection failed): it is destroyed, and a
 * later acquire opens a new one. A handle released after fh_pool_close is
 * destroyed too. Wakes one waiting acquire. When the pool was freed with
 * fh_pool_free while the handle was out, the last release frees it. */
FH_API void fh_pool_release(fh_pool_t *pool, void *handle, bool broken);

/** Closes the pool, from any thread, any number of times: idle handles are
 * destroyed now, taken ones when they are released, waiting and later
 * acquires return FH_ESTATE. */
FH_API void fh_pool_close(fh_pool_t *pool);

/** Closes the pool and frees it: at once when no handle is out, otherwise
 * at the last fh_pool_release (which must still come). The pool must not be
 * used after this but to release the handles still out. NULL is a no-op. */
FH_API void fh_pool_free(fh_pool_t *pool);

/** Handles open now, idle and taken (approximate while others use the
 * pool). */
FH_API size_t fh_pool_size(fh_pool_t *pool);
/** Idle handles now (approximate while others use the pool). */
FH_API size_t fh_pool_idle(fh_pool_t *pool);

/** Hands pool to server: fh_server_free frees it (fh_pool_free) once every
 * worker has stopped, so once every offloaded work item has returned and
 * released what it took. The pool must not be freed by the caller after
 * this. Returns 0, FH_EINVAL (NULL) or FH_ENOMEM (the pool stays the
 * caller's). */
FH_API int fh_server_own_pool(fh_server_t *server, fh_pool_t *pool);

#ifdef __cplusplus
}
#endif
#endif /* FASTHTTP_POOL_H */
