/* db_server: the TechEmpower database tests served by fasthttp, for
 * bench/db. The World table (id 1..10,000, randomnumber) must exist.
 *
 *   GET /db            one random row: {"id":N,"randomNumber":M}
 *   GET /queries?n=N   N random rows (1..500, anything else 1 or 500), an array
 *   GET /updates?n=N   N random rows read, each given a new random number
 *                      and written back (one UPDATE per row), an array of
 *                      the new rows
 *
 * Two ways to reach the database, by MODE:
 *   loop   fh_pg on the worker loop: prepared statements, the N queries of
 *          a request sent together in pipeline mode (CONNS connections per
 *          worker, no thread pool)
 *   pool   fh_pool of blocking libpq connections, each with the statements
 *          prepared once, used from offloaded work (fh_offload): one query
 *          after the other, as code written for a blocking driver does
 *          (CONNS connections in the pool; UV_THREADPOOL_SIZE threads)
 *
 * Environment: DATABASE_URL, MODE (loop), CONNS (4), PORT (8080), THREADS
 * (1). Prints "db_server: port N with T threads" once listening. */
#include <fasthttp.h>
#include <fasthttp/pg.h>
#include <fasthttp/pool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROWS 10000
#define N_MAX 500

static const char SQL_GET[] = "SELECT id, randomnumber FROM world WHERE id = $1";
static const char SQL_SET[] = "UPDATE world SET randomnumber = $2 WHERE id = $1";

static fh_pg_t *pg;
static const fh_pg_stmt_t *st_get, *st_set;
static fh_pool_t *pool;
static const char *url;

/* A random id or number, 1..ROWS, from a per-thread generator. */
static int rnd(void) {
    static _Thread_local uint64_t s;
    if (!s)
        s = (uint64_t)(uintptr_t)&s ^ 0x9E3779B97F4A7C15ull;
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return (int)(s % ROWS) + 1;
}

/* ?n= as TechEmpower reads it: not a number 1, below 1 1, over 500 500. */
static int count_of(fh_request_t *req) {
    fh_str_t v = fh_request_query(req, "n");
    long n = 0;
    for (size_t i = 0; i < v.len && v.ptr[i] >= '0' && v.ptr[i] <= '9' && n <= N_MAX; i++)
        n = n * 10 + (v.ptr[i] - '0');
    return n < 1 ? 1 : n > N_MAX ? N_MAX : (int)n;
}

/* One request's work, in its arena. */
typedef struct job {
    int kind; /* 0 /db, 1 /queries, 2 /updates */
    int n, done, failed, status;
    int *id, *num;
    char (*txt)[2][12]; /* parameters of the updates */
} job_t;

static json_t *row(int id, int num) {
    return json_pack("{s:i, s:i}", "id", id, "randomNumber", num);
}

static void answer(fh_response_t *res, job_t *j) {
    if (j->failed) {
        fh_send_problem(res, j->status ? j->status : 500, "database error", NULL, NULL);
        return;
    }
    if (j->kind == 0) {
        fh_send_json_new(res, 200, row(j->id[0], j->num[0]));
        return;
    }
    json_t *a = json_array();
    for (int i = 0; i < j->n; i++)
        json_array_append_new(a, row(j->id[i], j->num[i]));
    fh_send_json_new(res, 200, a);
}

static job_t *job_new(fh_request_t *req, int kind) {
    job_t *j = fh_alloc(req, sizeof(*j));
    if (!j)
        return NULL;
    memset(j, 0, sizeof(*j));
    j->kind = kind;
    j->n = kind ? count_of(req) : 1;
    j->id = fh_alloc(req, sizeof(int) * (size_t)j->n);
    j->num = fh_alloc(req, sizeof(int) * (size_t)j->n);
    j->txt = fh_alloc(req, sizeof(*j->txt) * (size_t)j->n);
    if (!j->id || !j->num || !j->txt)
        return NULL;
    for (int i = 0; i < j->n; i++)
        j->id[i] = rnd();
    return j;
}

/* ------------------------------------------------------------ on the loop */

typedef struct slot {
    job_t *j;
    int i;
} slot_t;

static void got_set(fh_request_t *req, fh_response_t *res, int status, const PGresult *r,
                    void *data) {
    (void)req;
    job_t *j = data;
    if (fh_pg_failed(status, r) && !j->failed) {
        j->failed = 1;
        j->status = fh_pg_http_status(status, r);
    }
    if (++j->done == j->n)
        answer(res, j);
}

static void got_row(fh_request_t *req, fh_response_t *res, int status, const PGresult *r,
                    void *data) {
    slot_t *s = data;
    job_t *j = s->j;
    if (fh_pg_failed(status, r) || PQntuples(r) != 1) {
        if (!j->failed) {
            j->failed = 1;
            j->status = fh_pg_http_status(status, r);
        }
    } else {
        j->num[s->i] = atoi(PQgetvalue(r, 0, 1));
    }
    if (++j->done < j->n)
        return;
    if (j->kind != 2 || j->failed) {
        answer(res, j);
        return;
    }
    /* Every row read: the updates, sent together. */
    j->done = 0;
    for (int i = 0; i < j->n; i++) {
        j->num[i] = rnd();
        snprintf(j->txt[i][0], 12, "%d", j->id[i]);
        snprintf(j->txt[i][1], 12, "%d", j->num[i]);
        const char *p[2] = { j->txt[i][0], j->txt[i][1] };
        if (fh_pg_query_prepared(pg, req, res, st_set, 2, p, got_set, j) != 0) {
            j->failed = 1;
            if (++j->done == j->n) /* none in flight: answer now */
                answer(res, j);
        }
    }
}

static int loop_handler(fh_request_t *req, fh_response_t *res, job_t *j) {
    for (int i = 0; i < j->n; i++) {
        slot_t *s = fh_alloc(req, sizeof(*s));
        char *id = fh_alloc(req, 12);
        if (!s || !id)
            return FH_ENOMEM;
        s->j = j;
        s->i = i;
        snprintf(id, 12, "%d", j->id[i]);
        const char *p[1] = { id };
        int rc = fh_pg_query_prepared(pg, req, res, st_get, 1, p, got_row, s);
        if (rc) {
            if (i == 0)
                return rc;
            j->failed = 1;
            j->n = i; /* answered once the ones sent are back */
            break;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ on the thread pool */

static int open_conn(void **out, void *data) {
    (void)data;
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK) {
        PQfinish(c);
        return FH_ENOTCONN;
    }
    PGresult *a = PQprepare(c, "w_get", SQL_GET, 0, NULL);
    PGresult *b = PQprepare(c, "w_set", SQL_SET, 0, NULL);
    int ok = PQresultStatus(a) == PGRES_COMMAND_OK && PQresultStatus(b) == PGRES_COMMAND_OK;
    PQclear(a);
    PQclear(b);
    if (!ok) {
        PQfinish(c);
        return FH_ENOTCONN;
    }
    *out = c;
    return 0;
}

static void close_conn(void *handle, void *data) {
    (void)data;
    PQfinish(handle);
}

static void pool_work(void *data) {
    job_t *j = data;
    PGconn *c;
    if (fh_pool_acquire(pool, 5000, (void **)&c) != 0) {
        j->failed = 1;
        j->status = 503;
        return;
    }
    bool broken = false;
    for (int i = 0; i < j->n && !j->failed; i++) {
        char id[12];
        snprintf(id, sizeof id, "%d", j->id[i]);
        const char *p[1] = { id };
        PGresult *r = PQexecPrepared(c, "w_get", 1, p, NULL, NULL, 0);
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
            j->num[i] = atoi(PQgetvalue(r, 0, 1));
        else
            j->failed = 1;
        PQclear(r);
    }
    for (int i = 0; j->kind == 2 && i < j->n && !j->failed; i++) {
        char id[12], num[12];
        j->num[i] = rnd();
        snprintf(id, sizeof id, "%d", j->id[i]);
        snprintf(num, sizeof num, "%d", j->num[i]);
        const char *p[2] = { id, num };
        PGresult *r = PQexecPrepared(c, "w_set", 2, p, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            j->failed = 1;
        PQclear(r);
    }
    if (j->failed && PQstatus(c) != CONNECTION_OK)
        broken = true;
    fh_pool_release(pool, c, broken);
}

static void pool_done(fh_request_t *req, fh_response_t *res, int status, void *data) {
    (void)req;
    if (status) {
        fh_response_end(res);
        return;
    }
    answer(res, data);
}

/* ------------------------------------------------------------ routes */

static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t path = fh_request_path(req);
    int kind = fh_str_eq(path, "/db")        ? 0
               : fh_str_eq(path, "/queries") ? 1
               : fh_str_eq(path, "/updates") ? 2
                                             : -1;
    if (kind < 0)
        return fh_send_status(res, 404);
    job_t *j = job_new(req, kind);
    if (!j)
        return FH_ENOMEM;
    if (pg)
        return loop_handler(req, res, j);
    return fh_offload(req, pool_work, pool_done, j);
}

static int env_int(const char *name, int dflt) {
    const char *v = getenv(name);
    return v && *v ? atoi(v) : dflt;
}

int main(void) {
    url = getenv("DATABASE_URL");
    const char *mode = getenv("MODE");
    if (!url || !*url) {
        fprintf(stderr, "db_server: DATABASE_URL is required\n");
        return 2;
    }
    bool loop = !mode || !strcmp(mode, "loop");
    int conns = env_int("CONNS", 4);
    fh_server_config_t cfg = fh_server_config_default();
    cfg.host = "127.0.0.1";
    cfg.port = env_int("PORT", 8080);
    cfg.threads = env_int("THREADS", 1);
    cfg.handler = handler;
    int err = 0;
    if (loop) {
        fh_pg_config_t pc = { .conninfo = url,
                              .conns_per_loop =
                                  (unsigned)(conns / (cfg.threads ? cfg.threads : 1)) };
        if (!(pg = fh_pg_new(&pc, &err)) ||
            !(st_get = fh_pg_prepare(pg, "w_get", SQL_GET, 1, &err)) ||
            !(st_set = fh_pg_prepare(pg, "w_set", SQL_SET, 2, &err)))
            return 1;
    } else {
        fh_pool_config_t pc = fh_pool_config_default();
        pc.max_size = (size_t)conns;
        pc.create = open_conn;
        pc.destroy = close_conn;
        if ((err = fh_pool_new(&pool, &pc)) != 0) {
            fprintf(stderr, "db_server: %s\n", fh_strerror(err));
            return 1;
        }
    }
    fh_server_t *server;
    if ((err = fh_server_new(&server, &cfg)) != 0) {
        fprintf(stderr, "db_server: %s\n", fh_server_config_error(&cfg, err));
        return 1;
    }
    if (pool)
        fh_server_own_pool(server, pool);
    printf("db_server: %s, port %d with %d threads\n", loop ? "loop" : "pool",
           fh_server_port(server), fh_server_threads(server));
    fflush(stdout);
    err = fh_server_run(server);
    fh_server_free(server);
    fh_pg_free(pg);
    return err ? 1 : 0;
}
