/* fh_pg (include/fasthttp/pg.h) against a throwaway PostgreSQL server
 * (support/pg_server.h), over real HTTP: parameterised queries (65,535
 * parameters, and one more), SQL in a parameter stored verbatim, results
 * as JSON, SQL errors as problem documents, result limits at the limit and
 * past it, a query timeout answered 504 with the query canceled on the
 * server, a client that leaves mid-query (canceled too), transactions
 * (commit, rollback, a handler that forgets both, a failed statement),
 * concurrent writes with exact counts, 100,000 requests without a
 * connection or memory leak, and the server stopped mid-test: 503 while it
 * is down, 200 again once it is back, without restarting fasthttp. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "fasthttp/json.h"
#include "fasthttp/pg.h"
#include "pg_server.h"
#include "testutil.h"

#define MAX_ROWS 100000
#define MAX_BYTES 4000000
#define TIMEOUT_MS 1500

static fht_pg_t db;
static fh_pg_t *pg;      /* query_timeout_ms TIMEOUT_MS */
static fh_pg_t *pg_slow; /* 60 s: a query it runs is only canceled by its client */

/* ---------------------------------------------------------- the handlers */

static void answered(fh_request_t *req, fh_response_t *res, int status, const PGresult *r,
                     void *data) {
    (void)req;
    (void)data;
    if (fh_pg_failed(status, r)) {
        fh_pg_send_error(res, status, r);
        return;
    }
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && PQnfields(r) == 1)
        fh_send_text(res, 200, PQgetvalue(r, 0, 0));
    else
        fh_send_status(res, 204);
}

static void counted(fh_request_t *req, fh_response_t *res, int status, const PGresult *r,
                    void *data) {
    (void)req;
    (void)data;
    if (fh_pg_failed(status, r)) {
        fh_pg_send_error(res, status, r);
        return;
    }
    fh_response_headerf(res, "X-Rows", "%d", PQntuples(r));
    fh_send_text(res, 200, PQntuples(r) ? PQgetvalue(r, PQntuples(r) - 1, 0) : "");
}

static void as_json(fh_request_t *req, fh_response_t *res, int status, const PGresult *r,
                    void *data) {
    (void)req;
    (void)data;
    if (fh_pg_failed(status, r)) {
        fh_pg_send_error(res, status, r);
        return;
    }
    fh_send_json_new(res, 200, fh_pg_result_json(r));
}

/* Transactions: what the route asked for once the INSERT has run. */
typedef struct tx_job {
    fh_pg_tx_t *tx;
    const char *v;
    int step;
    char pid[32];
} tx_job_t;

static void tx_step(fh_request_t *req, fh_response_t *res, int status, const PGresult *r,
                    void *data);

static void tx_ended(fh_request_t *req, fh_response_t *res, int status, const PGresult *r,
                     void *data) {
    (void)req;
    (void)data;
    if (fh_pg_failed(status, r)) {
        fh_pg_send_error(res, status, r);
        return;
    }
    fh_send_text(res, 200, PQcmdStatus((PGresult *)r));
}

static void tx_step(fh_request_t *req, fh_response_t *res, int status, const PGresult *r,
                    void *data) {
    tx_job_t *j = data;
    fh_str_t path = fh_request_path(req);
    if (fh_pg_failed(status, r) && !fh_str_eq(path, "/tx/fail")) {
        fh_pg_send_error(res, status, r);
        return;
    }
    j->step++;
    if (j->step == 1) { /* the backend's pid: the same for every statement */
        snprintf(j->pid, sizeof j->pid, "%s", PQgetvalue(r, 0, 0));
        const char *p[1] = { j->v };
        fh_pg_tx_query(j->tx, "INSERT INTO notes (v) VALUES ($1)", 1, p, tx_step, j);
        return;
    }
    if (j->step == 2) {
        if (fh_str_eq(path, "/tx/fail")) {
            /* Violates the primary key: the transaction is aborted. */
            fh_pg_tx_query(j->tx, "INSERT INTO notes (id, v) VALUES (1, 'dup')", 0, NULL, tx_step,
                           j);
            return;
        }
        fh_pg_tx_query(j->tx, "SELECT pg_backend_pid()::text", 0, NULL, tx_step, j);
        return;
    }
    if (fh_str_eq(path, "/tx/fail")) {
        fh_pg_commit(j->tx, tx_ended, j);
        return;
    }
    if (strcmp(j->pid, PQgetvalue(r, 0, 0)) != 0) {
        fh_send_text(res, 500, "the transaction changed connections");
        return;
    }
    if (fh_str_eq(path, "/tx/commit"))
        fh_pg_commit(j->tx, tx_ended, j);
    else if (fh_str_eq(path, "/tx/rollback"))
        fh_pg_rollback(j->tx, tx_ended, j);
    else
        fh_send_text(res, 200, "forgotten"); /* neither: rolled back by itself */
}

static const char *param(fh_request_t *req, const char *name) {
    fh_str_t v = fh_request_query(req, name);
    if (!v.ptr)
        return NULL;
    char *s = fh_alloc(req, v.len + 1);
    if (s) {
        memcpy(s, v.ptr, v.len);
        s[v.len] = '\0';
    }
    return s;
}

static int many_params(fh_request_t *req, fh_response_t *res, int n) {
    const char **p = fh_alloc(req, sizeof(char *) * (size_t)n + 1);
    char *sql = fh_alloc(req, (size_t)n * 16 + 64);
    if (!p || !sql)
        return FH_ENOMEM;
    size_t off = (size_t)sprintf(sql, "SELECT array_length(ARRAY[");
    for (int i = 0; i < n; i++) {
        p[i] = "x";
        off += (size_t)sprintf(sql + off, "%s$%d::text", i ? "," : "", i + 1);
    }
    sprintf(sql + off, "], 1)::text");
    int rc = fh_pg_query(pg, req, res, sql, n, p, answered, NULL);
    if (rc == FH_EINVAL)
        return fh_send_text(res, 400, "too many parameters");
    return rc;
}

static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t path = fh_request_path(req);
    const char *v = param(req, "v");
    const char *p[1] = { v };
    if (fh_str_eq(path, "/add"))
        return fh_pg_query(pg, req, res, "SELECT $1::int + 1", 1, p, answered, NULL);
    if (fh_str_eq(path, "/echo"))
        return fh_pg_query(pg, req, res, "INSERT INTO notes (v) VALUES ($1) RETURNING v", 1, p,
                           answered, NULL);
    if (fh_str_eq(path, "/count"))
        return fh_pg_query(pg, req, res, "SELECT count(*) FROM notes WHERE v LIKE $1", 1, p,
                           answered, NULL);
    if (fh_str_eq(path, "/user"))
        return fh_pg_query(pg, req, res, "INSERT INTO users (name) VALUES ($1) RETURNING name", 1,
                           p, answered, NULL);
    if (fh_str_eq(path, "/sleep"))
        return fh_pg_query(pg, req, res, "SELECT 'slept' FROM pg_sleep(20)", 0, NULL, answered,
                           NULL);
    if (fh_str_eq(path, "/slow"))
        return fh_pg_query(pg_slow, req, res, "SELECT 'slept' FROM pg_sleep(30)", 0, NULL, answered,
                           NULL);
    if (fh_str_eq(path, "/rows")) /* rows made as they are sent, not stored first;
                                  * the 60 s timeout: 100,000 rows take a while under ASan */
        return fh_pg_query(pg_slow, req, res, "SELECT generate_series(1, $1::int)::text", 1, p,
                           counted, NULL);
    if (fh_str_eq(path, "/kb"))
        return fh_pg_query(pg_slow, req, res,
                           "SELECT repeat('x', 1000 + 0 * generate_series(1, $1::int))", 1, p,
                           counted, NULL);
    if (fh_str_eq(path, "/json"))
        return fh_pg_query(pg, req, res,
                           "SELECT 7::int4 AS i, 9000000000::int8 AS l, true AS b, 1.5::float8 "
                           "AS f, 'x\"y' AS s, NULL::text AS n, '{\"a\":[1,2]}'::jsonb AS j, "
                           "12.30::numeric AS d, 'NaN'::float8 AS nan "
                           "FROM generate_series(1, 2)",
                           0, NULL, as_json, NULL);
    if (fh_str_eq(path, "/params"))
        return many_params(req, res, atoi(v ? v : "0"));
    if (path.len > 4 && !memcmp(path.ptr, "/tx/", 4)) {
        tx_job_t *j = fh_alloc(req, sizeof(*j));
        if (!j)
            return FH_ENOMEM;
        memset(j, 0, sizeof(*j));
        j->v = v;
        int err = 0;
        j->tx = fh_pg_begin(pg, req, res, &err);
        if (!j->tx)
            return err;
        return fh_pg_tx_query(j->tx, "SELECT pg_backend_pid()::text", 0, NULL, tx_step, j);
    }
    return fh_send_status(res, 404);
}

/* ---------------------------------------------------------- fixtures */

static int exec_sql(const char *sql) {
    PGconn *c = PQconnectdb(db.conninfo);
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return ok ? 0 : -1;
}

/* The single value of sql run on a connection of the test's own. */
static long scalar(const char *sql) {
    PGconn *c = PQconnectdb(db.conninfo);
    PGresult *r = PQexec(c, sql);
    long n =
        PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? atol(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    PQfinish(c);
    return n;
}

static int setup(void **state) {
    (void)state;
    if (fht_pg_start(&db) != 0)
        return -1;
    if (exec_sql("CREATE TABLE notes (id serial PRIMARY KEY, v text)") ||
        exec_sql("CREATE TABLE users (id serial PRIMARY KEY, name text UNIQUE NOT NULL)"))
        return -1;
    int err = 0;
    fh_pg_config_t cfg = { .conninfo = db.conninfo,
                           .conns_per_loop = 2,
                           .query_timeout_ms = TIMEOUT_MS,
                           .max_result_rows = MAX_ROWS,
                           .max_result_bytes = MAX_BYTES };
    pg = fh_pg_new(&cfg, &err);
    cfg.query_timeout_ms = 60000;
    pg_slow = fh_pg_new(&cfg, &err);
    if (!pg || !pg_slow)
        return -1;
    fht_start_handler(handler, NULL, 2);
    return 0;
}

static int teardown(void **state) {
    fht_teardown(state);
    fh_pg_free(pg);
    fh_pg_free(pg_slow);
    fht_pg_stop(&db);
    return 0;
}

static void expect(const char *target, int status, const char *body) {
    fht_response_t r;
    fht_request("GET", target, NULL, &r);
    assert_int_equal(r.status, status);
    if (body)
        assert_string_equal(r.body, body);
    fht_response_free(&r);
}

static int status_of(const char *target) {
    fht_response_t r;
    fht_request("GET", target, NULL, &r);
    int s = r.status;
    fht_response_free(&r);
    return s;
}

/* Queries running on the server whose text holds what. */
static long running(const char *what) {
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%%%s%%' "
             "AND state = 'active' AND pid <> pg_backend_pid()",
             what);
    return scalar(sql);
}

/* Waits (20 s at most) until running(what) is want. */
static long wait_running(const char *what, long want) {
    long n = -1;
    uint64_t end = fht_now_ms() + 20000;
    while ((n = running(what)) != want && fht_now_ms() < end)
        usleep(50000);
    return n;
}

/* ---------------------------------------------------------- the tests */

static void test_config_errors(void **state) {
    (void)state;
    int err = 0;
    fh_pg_config_t cfg = { .conninfo = db.conninfo, .conns_per_loop = 64 };
    fh_pg_t *ok = fh_pg_new(&cfg, &err);
    assert_non_null(ok);
    fh_pg_free(ok);
    cfg.conns_per_loop = 65;
    assert_null(fh_pg_new(&cfg, &err));
    assert_int_equal(err, FH_EINVAL);
    cfg.conns_per_loop = 0;
    cfg.conninfo = "host=/tmp password=secret nonsense";
    err = 0;
    assert_null(fh_pg_new(&cfg, &err));
    assert_int_equal(err, FH_EINVAL);
    cfg.conninfo = NULL;
    unsetenv("DATABASE_URL");
    assert_null(fh_pg_new(&cfg, &err));
    setenv("DATABASE_URL", db.conninfo, 1);
    ok = fh_pg_new(&cfg, &err);
    assert_non_null(ok);
    fh_pg_free(ok);
    unsetenv("DATABASE_URL");
    cfg.conninfo = db.conninfo;
    cfg.query_timeout_ms = 86400001u;
    assert_null(fh_pg_new(&cfg, &err));
}

static void test_params(void **state) {
    (void)state;
    for (int i = 0; i < 50; i++)
        expect("/add?v=41", 200, "42");
    expect("/add?v=-2147483648", 200, "-2147483647");
    /* Not a number: PostgreSQL's error from the parameter, a 400 problem. */
    fht_response_t r;
    fht_request("GET", "/add?v=1;%20DROP%20TABLE%20notes", NULL, &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(fht_hdr(&r, "Content-Type"), "application/problem+json");
    assert_non_null(strstr(r.body, "invalid input syntax"));
    assert_non_null(strstr(r.body, "\"sqlstate\":\"22P02\""));
    fht_response_free(&r);
    /* An SQL NULL parameter. */
    expect("/add", 200, "");
}

static void test_params_limit(void **state) {
    (void)state;
    expect("/params?v=1", 200, "1");
    expect("/params?v=65535", 200, "65535");
    expect("/params?v=65536", 400, "too many parameters");
    expect("/params?v=1000000", 400, "too many parameters");
    expect("/add?v=1", 200, "2");
}

static void test_injection_stored_verbatim(void **state) {
    (void)state;
    expect("/echo?v=inj-x%27);%20DROP%20TABLE%20notes;%20--", 200, "inj-x'); DROP TABLE notes; --");
    expect("/echo?v=inj-%24%241%24%24", 200, "inj-$$1$$");
    expect("/echo?v=inj-%5C%27%20OR%201=1", 200, "inj-\\' OR 1=1");
    expect("/count?v=inj-%25", 200, "3");
    assert_int_equal(
        scalar("SELECT count(*) FROM notes WHERE v = 'inj-x''); DROP TABLE notes; --'"), 1);
}

static void test_json(void **state) {
    (void)state;
    fht_response_t r;
    fht_request("GET", "/json", NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *a = json_loads(r.body, 0, NULL);
    assert_non_null(a);
    assert_int_equal(json_array_size(a), 2);
    json_t *o = json_array_get(a, 1);
    assert_int_equal(json_integer_value(json_object_get(o, "i")), 7);
    assert_true(json_integer_value(json_object_get(o, "l")) == 9000000000LL);
    assert_true(json_is_true(json_object_get(o, "b")));
    assert_true(json_real_value(json_object_get(o, "f")) == 1.5);
    assert_string_equal(json_string_value(json_object_get(o, "s")), "x\"y");
    assert_true(json_is_null(json_object_get(o, "n")));
    assert_int_equal(
        json_integer_value(json_array_get(json_object_get(json_object_get(o, "j"), "a"), 1)), 2);
    assert_string_equal(json_string_value(json_object_get(o, "d")), "12.30");
    assert_string_equal(json_string_value(json_object_get(o, "nan")), "NaN");
    json_decref(a);
    fht_response_free(&r);
}

static void test_errors_as_problems(void **state) {
    (void)state;
    expect("/user?v=ann", 200, "ann");
    fht_response_t r;
    fht_request("GET", "/user?v=ann", NULL, &r);
    assert_int_equal(r.status, 409);
    assert_string_equal(fht_hdr(&r, "Content-Type"), "application/problem+json");
    assert_non_null(strstr(r.body, "\"sqlstate\":\"23505\""));
    assert_non_null(strstr(r.body, "conflicts"));
    fht_response_free(&r);
    /* NOT NULL: a 400. */
    fht_request("GET", "/user", NULL, &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "\"sqlstate\":\"23502\""));
    fht_response_free(&r);
}

static void test_row_limit(void **state) {
    (void)state;
    fht_response_t r;
    fht_request("GET", "/rows?v=100000", NULL, &r); /* at the limit */
    assert_int_equal(r.status, 200);
    assert_string_equal(fht_hdr(&r, "X-Rows"), "100000");
    assert_string_equal(r.body, "100000");
    fht_response_free(&r);
    fht_request("GET", "/rows?v=100001", NULL, &r); /* one past */
    assert_int_equal(r.status, 500);
    assert_non_null(strstr(r.body, "size limit"));
    fht_response_free(&r);
    /* A hundred million rows: refused as soon as the limit is passed, the
     * query canceled on the server, memory bounded. */
    size_t rss0 = fht_rss_kb();
    uint64_t t0 = fht_now_ms();
    fht_request("GET", "/rows?v=100000000", NULL, &r);
    assert_int_equal(r.status, 500);
    fht_response_free(&r);
    assert_true(fht_now_ms() - t0 < 30000);
    assert_int_equal(wait_running("generate_series(1, $1::int)", 0), 0);
    assert_true(fht_rss_kb() < rss0 + 64 * 1024);
    expect("/add?v=1", 200, "2");
}

static void test_byte_limit(void **state) {
    (void)state;
    fht_response_t r;
    fht_request("GET", "/kb?v=4000", NULL, &r); /* 4,000,000 bytes: at the limit */
    assert_int_equal(r.status, 200);
    assert_string_equal(fht_hdr(&r, "X-Rows"), "4000");
    assert_int_equal(strlen(r.body), 1000);
    fht_response_free(&r);
    fht_request("GET", "/kb?v=4001", NULL, &r);
    assert_int_equal(r.status, 500);
    fht_response_free(&r);
    fht_request("GET", "/kb?v=10000000", NULL, &r); /* 10 GB */
    assert_int_equal(r.status, 500);
    fht_response_free(&r);
    assert_int_equal(wait_running("generate_series(1, $1::int)", 0), 0);
    expect("/add?v=1", 200, "2");
}

static void test_timeout_cancels(void **state) {
    (void)state;
    uint64_t t0 = fht_now_ms();
    fht_response_t r;
    fht_request("GET", "/sleep", NULL, &r);
    uint64_t took = fht_now_ms() - t0;
    assert_int_equal(r.status, 504);
    assert_non_null(strstr(r.body, "timed out"));
    fht_response_free(&r);
    assert_true(took >= TIMEOUT_MS - 100 && took < 15000);
    /* The server stops the query: no pg_sleep left running, soon. */
    assert_int_equal(wait_running("pg_sleep(20)", 0), 0);
    for (int i = 0; i < 20; i++)
        expect("/add?v=1", 200, "2");
}

static void test_client_gone_cancels(void **state) {
    (void)state;
    int fd = fht_connect_raw(fht_port);
    assert_true(fd >= 0);
    fht_send_str(fd, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(wait_running("pg_sleep(30)", 1), 1);
    close(fd);
    /* Canceled long before pg_slow's 60 s timeout and the 30 s sleep. */
    uint64_t t0 = fht_now_ms();
    assert_int_equal(wait_running("pg_sleep(30)", 0), 0);
    assert_true(fht_now_ms() - t0 < 20000);
    expect("/add?v=1", 200, "2");
}

static void test_transactions(void **state) {
    (void)state;
    expect("/tx/commit?v=tx-kept", 200, "COMMIT");
    assert_int_equal(scalar("SELECT count(*) FROM notes WHERE v = 'tx-kept'"), 1);
    expect("/tx/rollback?v=tx-undone", 200, "ROLLBACK");
    assert_int_equal(scalar("SELECT count(*) FROM notes WHERE v = 'tx-undone'"), 0);
    /* A statement failed: COMMIT rolls back, answered 409. */
    fht_response_t r;
    fht_request("GET", "/tx/fail?v=tx-failed", NULL, &r);
    assert_int_equal(r.status, 409);
    assert_non_null(strstr(r.body, "rolled back"));
    fht_response_free(&r);
    assert_int_equal(scalar("SELECT count(*) FROM notes WHERE v = 'tx-failed'"), 0);
    /* Neither commit nor rollback, many more times than there are
     * connections: each is rolled back and its connection comes back. */
    for (int i = 0; i < 100; i++)
        expect("/tx/forget?v=tx-forgotten", 200, "forgotten");
    assert_int_equal(scalar("SELECT count(*) FROM notes WHERE v = 'tx-forgotten'"), 0);
    for (int i = 0; i < 20; i++)
        expect("/tx/commit?v=tx-after", 200, "COMMIT");
    assert_int_equal(scalar("SELECT count(*) FROM notes WHERE v = 'tx-after'"), 20);
    /* No transaction left open on the server. */
    assert_int_equal(scalar("SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in "
                            "transaction%'"),
                     0);
}

#define WRITERS 8
#define WRITES 50

static void *writer(void *arg) {
    long id = (long)arg;
    long ok = 0;
    for (int i = 0; i < WRITES; i++) {
        int fd = fht_connect_raw(fht_port);
        if (fd < 0)
            continue;
        char req[128];
        int n = snprintf(req, sizeof req,
                         "GET /echo?v=w-%ld-%d HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                         id, i);
        if (send(fd, req, (size_t)n, MSG_NOSIGNAL) == n) {
            char buf[2048];
            size_t got = 0;
            ssize_t s;
            while (got < sizeof buf - 1 && (s = recv(fd, buf + got, sizeof buf - 1 - got, 0)) > 0)
                got += (size_t)s;
            buf[got] = '\0';
            if (!strncmp(buf, "HTTP/1.1 200", 12))
                ok++;
        }
        close(fd);
    }
    return (void *)ok;
}

static void test_concurrent_writes(void **state) {
    (void)state;
    pthread_t t[WRITERS];
    for (long i = 0; i < WRITERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, writer, (void *)i), 0);
    long ok = 0;
    for (int i = 0; i < WRITERS; i++) {
        void *r;
        pthread_join(t[i], &r);
        ok += (long)r;
    }
    assert_int_equal(ok, WRITERS * WRITES);
    expect("/count?v=w-%25", 200, "400");
    assert_int_equal(scalar("SELECT count(DISTINCT v) FROM notes WHERE v LIKE 'w-%'"), 400);
}

/* Client connections the server has, but for the test's own. */
static long backends(void) {
    return scalar("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                  "AND pid <> pg_backend_pid()");
}

static void test_100k_requests_no_leak(void **state) {
    (void)state;
    const char *req = "GET /add?v=1 HTTP/1.1\r\nHost: t\r\n\r\n";
    int fd = fht_connect(fht_port);
    fht_send_str(fd, req);
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 200);
    fht_response_free(&r);
    /* The length of one answer, as the next one will be. */
    int probe = fht_connect_raw(fht_port);
    fht_send_str(probe, req);
    char buf[1024] = "";
    size_t got = 0;
    uint64_t end = fht_now_ms() + 10000;
    while (!strstr(buf, "\r\n\r\n2") && got < sizeof buf - 1 && fht_now_ms() < end) {
        ssize_t s = recv(probe, buf + got, sizeof buf - 1 - got, 0);
        if (s <= 0)
            break;
        got += (size_t)s;
        buf[got] = '\0';
    }
    close(probe);
    assert_non_null(strstr(buf, "\r\n\r\n2"));
    size_t len = (size_t)(strstr(buf, "\r\n\r\n2") - buf) + 5;
    size_t rss0 = fht_rss_kb();
    long b0 = backends();
    fht_round_trips(fd, req, 16, 100000 / 16, len);
    fht_close(fd);
    /* 2 workers × 2 connections for pg, 2 for pg_slow at most. */
    long b1 = backends();
    assert_true(b1 <= 2 * 2 * 2);
    assert_true(b1 <= b0 + 4);
    assert_true(fht_rss_kb() < rss0 + 16 * 1024);
}

static void test_outage(void **state) {
    (void)state;
    expect("/add?v=1", 200, "2");
    fht_pg_halt(&db);
    int s = 0;
    for (int i = 0; i < 100 && s != 503; i++)
        s = status_of("/add?v=1");
    assert_int_equal(s, 503);
    /* Quickly, not after the query timeout. */
    for (int i = 0; i < 50; i++) {
        uint64_t t0 = fht_now_ms();
        fht_response_t r;
        fht_request("GET", "/add?v=1", NULL, &r);
        assert_int_equal(r.status, 503);
        assert_string_equal(fht_hdr(&r, "Retry-After"), "1");
        fht_response_free(&r);
        assert_true(fht_now_ms() - t0 < TIMEOUT_MS - 200);
    }
    expect("/tx/commit?v=tx-down", 503, NULL);
    assert_int_equal(fht_pg_resume(&db), 0);
    uint64_t end = fht_now_ms() + 20000;
    s = 0;
    while (s != 200 && fht_now_ms() < end) {
        s = status_of("/add?v=1");
        if (s != 200) {
            assert_int_equal(s, 503);
            usleep(50000);
        }
    }
    assert_int_equal(s, 200);
    /* Both workers' connections come back. */
    end = fht_now_ms() + 20000;
    int ok = 0;
    while (ok < 100 && fht_now_ms() < end) {
        if (status_of("/add?v=1") == 200)
            ok++;
        else
            usleep(20000);
    }
    assert_int_equal(ok, 100);
    expect("/tx/commit?v=tx-up", 200, "COMMIT");
    expect("/count?v=tx-%25", 200, "22");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_params_limit),
        cmocka_unit_test(test_injection_stored_verbatim),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_errors_as_problems),
        cmocka_unit_test(test_row_limit),
        cmocka_unit_test(test_byte_limit),
        cmocka_unit_test(test_timeout_cancels),
        cmocka_unit_test(test_client_gone_cancels),
        cmocka_unit_test(test_transactions),
        cmocka_unit_test(test_concurrent_writes),
        cmocka_unit_test(test_100k_requests_no_leak),
        cmocka_unit_test(test_outage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
