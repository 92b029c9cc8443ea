/* fh_pg's prepared statements and pipeline mode (include/fasthttp/pg.h)
 * against a throwaway PostgreSQL server (support/pg_server.h), over real
 * HTTP, on one worker so that every request meets the same connections.
 *
 * Prepared statements: run prepared (pg_prepared_statements on the same
 * connection counts one statement and every execution), an SQL error in a
 * statement (a missing table) is a problem document and the statement is
 * prepared again once the table exists, a bad parameter fails only its
 * execution, and after the server restarts the statement is prepared again
 * on the new connection.
 *
 * Pipeline mode: 20 queries of one request answered correctly and in order
 * over a relay adding 50 ms each way (support/delay_relay.h), in under four
 * round trips when sent together, against twenty when each waits for the
 * one before; the queries of one turn leave in runs of half of
 * pipeline_depth per connection, while a later turn's query is never put
 * behind a slow one; a failing query in the middle of a pipeline fails
 * alone; a query past its timeout in the middle of a pipeline is answered
 * 504 and canceled on the server, the pipeline goes on; a client leaving
 * cancels its pipelined queries, also those of a second client in the same
 * request; the server stopped mid-pipeline answers each query 503, and the
 * same requests succeed once it is back.
 *
 * Connect timeout: a listening socket whose accept queue is full (it never
 * accepts) drops new connection attempts, so a connect to it hangs: the
 * query waiting for it gets 503 at connect_timeout_ms, not at the query
 * timeout, and later ones 503 at once while the retries go on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "delay_relay.h"
#include "fasthttp/json.h"
#include "fasthttp/pg.h"
#include "pg_server.h"
#include "testutil.h"

#define TIMEOUT_MS 1500
#define DELAY_MS 50

static fht_pg_t db;
static fht_relay_t *relay;
static fh_pg_t *pg;      /* one connection, TIMEOUT_MS */
static fh_pg_t *pg_slow; /* one connection, 60 s */
static fh_pg_t *pg_far;  /* one connection through the relay */
static fh_pg_t *pg_hole; /* a TCP address that never completes a connect */
static fht_relay_t *relay_slow;
static fh_pg_t *pg_vfar; /* one connection through a relay adding 200 ms each way */
static fh_pg_t *pg_four; /* four connections, pipeline_depth 32 (runs of 16) */
static int hole_fd = -1, hole_fill[8], hole_nfill;
static const fh_pg_stmt_t *st_add, *st_missing, *st_far;

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

/* /multi: n queries of one request, sent together or each from the
 * callback of the one before; the answer is a JSON array of what each
 * got, in call order: its value, or "<http status>:<sqlstate>". */
typedef struct multi {
    fh_pg_t *pg;
    int n, done, sent;
    int fail_at, sleep_at;
    bool seq, pid;
    const char **out;
} multi_t;

typedef struct multi_q {
    multi_t *m;
    int i;
} multi_q_t;

static void multi_got(fh_request_t *req, fh_response_t *res, int status, const PGresult *r,
                      void *data);

static int multi_send(fh_request_t *req, fh_response_t *res, multi_t *m) {
    multi_q_t *mq = fh_alloc(req, sizeof(*mq));
    char *v = fh_alloc(req, 16);
    if (!mq || !v)
        return FH_ENOMEM;
    mq->m = m;
    mq->i = m->sent++;
    snprintf(v, 16, "%d", mq->i);
    const char *p[1] = { v };
    const char *sql = "SELECT ($1::int * 10)::text";
    if (mq->i == m->fail_at)
        sql = "SELECT (10 / ($1::int - $1::int))::text"; /* division by zero */
    else if (mq->i == m->sleep_at)
        sql = "SELECT ($1::int * 10)::text FROM pg_sleep(30)";
    if (m->pid) /* which connection ran it */
        sql = mq->i == m->sleep_at
                  ? "SELECT pg_backend_pid()::text || left($1, 0) FROM pg_sleep(0.8)"
                  : "SELECT pg_backend_pid()::text || left($1, 0)";
    if (m->pg == pg_far && mq->i != m->fail_at && mq->i != m->sleep_at)
        return fh_pg_query_prepared(m->pg, req, res, st_far, 1, p, multi_got, mq);
    return fh_pg_query(m->pg, req, res, sql, 1, p, multi_got, mq);
}

static void multi_got(fh_request_t *req, fh_response_t *res, int status, const PGresult *r,
                      void *data) {
    multi_q_t *mq = data;
    multi_t *m = mq->m;
    if (fh_pg_failed(status, r)) {
        const char *s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        m->out[mq->i] = fh_sprintf(req, "%d:%s", fh_pg_http_status(status, r), s ? s : "");
    } else {
        m->out[mq->i] = fh_strdup(req, PQgetvalue(r, 0, 0));
    }
    m->done++;
    if (m->seq && m->sent < m->n && multi_send(req, res, m) == 0)
        return;
    if (m->done < m->n)
        return;
    json_t *a = json_array();
    for (int i = 0; i < m->n; i++)
        json_array_append_new(a, json_string(m->out[i] ? m->out[i] : "?"));
    fh_send_json_new(res, 200, a);
}

/* /txpipe?v=K&dup=1: a transaction whose three INSERTs and COMMIT are all
 * asked at once (pipelined on its connection); the answer lists each
 * one's HTTP status and SQLSTATE in call order. dup=1 makes the second
 * INSERT a duplicate key. */
typedef struct txp {
    int done;
    char out[4][16];
} txp_t;

typedef struct txp_q {
    txp_t *t;
    int i;
} txp_q_t;

static void txp_got(fh_request_t *req, fh_response_t *res, int status, const PGresult *r,
                    void *data) {
    (void)req;
    txp_q_t *q = data;
    const char *s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    snprintf(q->t->out[q->i], sizeof q->t->out[q->i], "%d:%s",
             fh_pg_failed(status, r) ? fh_pg_http_status(status, r) : 200, s ? s : "");
    if (++q->t->done < 4)
        return;
    fh_send_textf(res, 200, "%s,%s,%s,%s", q->t->out[0], q->t->out[1], q->t->out[2], q->t->out[3]);
}

static int txpipe(fh_request_t *req, fh_response_t *res, const char *v, bool dup) {
    txp_t *t = fh_alloc(req, sizeof(*t));
    txp_q_t *qs = fh_alloc(req, sizeof(*qs) * 4);
    char *ids = fh_alloc(req, 3 * 16);
    if (!t || !qs || !ids || !v)
        return FH_ENOMEM;
    memset(t, 0, sizeof(*t));
    int err = 0;
    fh_pg_tx_t *tx = fh_pg_begin(pg, req, res, &err);
    if (!tx)
        return err;
    int base = atoi(v);
    for (int i = 0; i < 3; i++) {
        qs[i].t = t;
        qs[i].i = i;
        snprintf(ids + 16 * i, 16, "%d", dup && i == 1 ? base : base + i);
        const char *p[1] = { ids + 16 * i };
        fh_pg_tx_query(tx, "INSERT INTO keys (k) VALUES ($1::int)", 1, p, txp_got, &qs[i]);
    }
    qs[3].t = t;
    qs[3].i = 3;
    return fh_pg_commit(tx, txp_got, &qs[3]);
}

/* /two: a slow query on each of two clients (pg_slow, pg_four) for one
 * request; answered once both are back. */
static void two_got(fh_request_t *req, fh_response_t *res, int status, const PGresult *r,
                    void *data) {
    (void)req, (void)r;
    int *left = data;
    if (status)
        *(left + 1) = status;
    if (--*left == 0)
        fh_send_textf(res, 200, "%d", *(left + 1));
}

static int two(fh_request_t *req, fh_response_t *res) {
    int *left = fh_alloc(req, 2 * sizeof(int));
    if (!left)
        return FH_ENOMEM;
    left[0] = 2;
    left[1] = 0;
    int rc =
        fh_pg_query(pg_slow, req, res, "SELECT 'one' FROM pg_sleep(31)", 0, NULL, two_got, left);
    if (rc)
        return rc;
    if (fh_pg_query(pg_four, req, res, "SELECT 'two' FROM pg_sleep(32)", 0, NULL, two_got, left))
        left[0]--; /* only the first is in flight */
    return 0;
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

static int iparam(fh_request_t *req, const char *name, int dflt) {
    const char *v = param(req, name);
    return v ? atoi(v) : dflt;
}

static int multi(fh_request_t *req, fh_response_t *res) {
    multi_t *m = fh_alloc(req, sizeof(*m));
    if (!m)
        return FH_ENOMEM;
    memset(m, 0, sizeof(*m));
    const char *cli = param(req, "cli");
    m->pg = !cli ? pg : !strcmp(cli, "far") ? pg_far : !strcmp(cli, "four") ? pg_four : pg_slow;
    m->pid = m->pg == pg_four;
    m->n = iparam(req, "n", 20);
    m->fail_at = iparam(req, "fail", -1);
    m->sleep_at = iparam(req, "sleep", -1);
    const char *mode = param(req, "mode");
    m->seq = mode && !strcmp(mode, "seq");
    m->out = fh_alloc(req, sizeof(char *) * (size_t)m->n);
    if (!m->out || m->n < 1)
        return fh_send_status(res, 400);
    memset(m->out, 0, sizeof(char *) * (size_t)m->n);
    int rc = multi_send(req, res, m);
    while (rc == 0 && !m->seq && m->sent < m->n)
        rc = multi_send(req, res, m);
    return rc;
}

static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t path = fh_request_path(req);
    const char *v = param(req, "v");
    const char *p[1] = { v };
    if (fh_str_eq(path, "/prep"))
        return fh_pg_query_prepared(pg, req, res, st_add, 1, p, answered, NULL);
    if (fh_str_eq(path, "/missing"))
        return fh_pg_query_prepared(pg, req, res, st_missing, 1, p, answered, NULL);
    if (fh_str_eq(path, "/prepared")) /* on the same (only) connection */
        return fh_pg_query(
            pg, req, res,
            "SELECT count(*) || ':' || coalesce(sum(generic_plans + custom_plans), 0) "
            "FROM pg_prepared_statements WHERE name = $1",
            1, p, answered, NULL);
    if (fh_str_eq(path, "/pid"))
        return fh_pg_query(pg, req, res, "SELECT pg_backend_pid()::text", 0, NULL, answered, NULL);
    if (fh_str_eq(path, "/multi"))
        return multi(req, res);
    if (fh_str_eq(path, "/two"))
        return two(req, res);
    if (fh_str_eq(path, "/va"))
        return fh_pg_query(pg_vfar, req, res, "SELECT 'a' FROM pg_sleep(0.5)", 0, NULL, answered,
                           NULL);
    if (fh_str_eq(path, "/vb"))
        return fh_pg_query(pg_vfar, req, res, "SELECT 'b' FROM pg_sleep(1)", 0, NULL, answered,
                           NULL);
    if (fh_str_eq(path, "/vwarm"))
        return fh_pg_query(pg_vfar, req, res, "SELECT 'w'", 0, NULL, answered, NULL);
    if (fh_str_eq(path, "/txpipe"))
        return txpipe(req, res, v, param(req, "dup") != NULL);
    if (fh_str_eq(path, "/hole"))
        return fh_pg_query(pg_hole, req, res, "SELECT 1", 0, NULL, answered, NULL);
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

static long scalar(const char *sql) {
    PGconn *c = PQconnectdb(db.conninfo);
    PGresult *r = PQexec(c, sql);
    long n =
        PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? atol(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    PQfinish(c);
    return n;
}

/* A 127.0.0.1 port that takes no more connections: a listening socket
 * (backlog 0) that never accepts, its queue filled; *port gets it. Returns
 * 0 once a connect to it is seen to hang. */
static int blackhole(int *port) {
    hole_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof a;
    if (bind(hole_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(hole_fd, 0) != 0 ||
        getsockname(hole_fd, (struct sockaddr *)&a, &alen) != 0)
        return -1;
    *port = ntohs(a.sin_port);
    while (hole_nfill < 8) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        hole_fill[hole_nfill++] = fd;
        connect(fd, (struct sockaddr *)&a, sizeof a);
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        if (poll(&p, 1, 300) == 0)
            return 0; /* this one hangs: the queue is full */
    }
    return -1;
}

static int setup(void **state) {
    (void)state;
    if (fht_pg_start(&db) != 0)
        return -1;
    char sock[300];
    snprintf(sock, sizeof sock, "%s/.s.PGSQL.5432", db.dir);
    if (exec_sql("CREATE TABLE keys (k int PRIMARY KEY)"))
        return -1;
    int port = 0;
    relay = fht_relay_start(sock, DELAY_MS, &port);
    if (!relay)
        return -1;
    int err = 0;
    fh_pg_config_t cfg = { .conninfo = db.conninfo,
                           .conns_per_loop = 1,
                           .query_timeout_ms = TIMEOUT_MS };
    pg = fh_pg_new(&cfg, &err);
    cfg.query_timeout_ms = 60000;
    pg_slow = fh_pg_new(&cfg, &err);
    char far[256];
    snprintf(far, sizeof far, "host=127.0.0.1 port=%d dbname=postgres user=postgres", port);
    cfg.conninfo = far;
    cfg.query_timeout_ms = 20000;
    pg_far = fh_pg_new(&cfg, &err);
    int hole_port = 0;
    if (blackhole(&hole_port) != 0) {
        fprintf(stderr, "no connect ever hung on the full listening socket\n");
        return -1;
    }
    char hole[256];
    snprintf(hole, sizeof hole, "host=127.0.0.1 port=%d dbname=postgres user=postgres", hole_port);
    cfg.conninfo = hole;
    cfg.connect_timeout_ms = 500;
    cfg.query_timeout_ms = 10000;
    pg_hole = fh_pg_new(&cfg, &err);
    int slow_port = 0;
    relay_slow = fht_relay_start(sock, 200, &slow_port);
    if (!relay_slow)
        return -1;
    snprintf(far, sizeof far, "host=127.0.0.1 port=%d dbname=postgres user=postgres", slow_port);
    cfg.conninfo = far;
    cfg.connect_timeout_ms = 20000;
    cfg.query_timeout_ms = 20000;
    pg_vfar = fh_pg_new(&cfg, &err);
    fh_pg_config_t four = { .conninfo = db.conninfo, .conns_per_loop = 4 };
    pg_four = fh_pg_new(&four, &err);
    if (!pg || !pg_slow || !pg_far || !pg_hole || !pg_vfar || !pg_four)
        return -1;
    st_add = fh_pg_prepare(pg, "add_one", "SELECT ($1::int + 1)::text", 1, &err);
    st_missing =
        fh_pg_prepare(pg, "from_missing", "SELECT v FROM later WHERE id = $1::int", 1, &err);
    st_far = fh_pg_prepare(pg_far, "times_ten", "SELECT ($1::int * 10)::text", 1, &err);
    if (!st_add || !st_missing || !st_far)
        return -1;
    fht_start_handler(handler, NULL, 1);
    return 0;
}

static int teardown(void **state) {
    fht_teardown(state);
    fh_pg_free(pg);
    fh_pg_free(pg_slow);
    fh_pg_free(pg_far);
    fh_pg_free(pg_hole);
    fh_pg_free(pg_vfar);
    fh_pg_free(pg_four);
    fht_relay_stop(relay_slow);
    for (int i = 0; i < hole_nfill; i++)
        close(hole_fill[i]);
    close(hole_fd);
    fht_relay_stop(relay);
    fht_pg_stop(&db);
    return 0;
}

/* One request on the kept connection *fd (opened when -1). */
static void get(int *fd, const char *target, fht_response_t *r) {
    if (*fd < 0)
        *fd = fht_connect(fht_port);
    char req[512];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", target);
    fht_send_str(*fd, req);
    assert_int_equal(fht_read_response(*fd, r, 0), 0);
}

static void expect(const char *target, int status, const char *body) {
    int fd = -1;
    fht_response_t r;
    get(&fd, target, &r);
    assert_int_equal(r.status, status);
    if (body)
        assert_string_equal(r.body, body);
    fht_response_free(&r);
    fht_close(fd);
}

/* /multi's array, checked: entry i is want(i) (a value or "status:code"). */
static void expect_multi(const char *target, int n, int fail_at, const char *fail_as, int sleep_at,
                         const char *sleep_as) {
    int fd = -1;
    fht_response_t r;
    get(&fd, target, &r);
    assert_int_equal(r.status, 200);
    json_t *a = json_loads(r.body, 0, NULL);
    assert_non_null(a);
    assert_int_equal(json_array_size(a), n);
    for (int i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof want, "%d", i * 10);
        const char *got = json_string_value(json_array_get(a, (size_t)i));
        if (i == fail_at)
            assert_string_equal(got, fail_as);
        else if (i == sleep_at || (sleep_at >= 0 && i > sleep_at && strcmp(got, want)))
            assert_string_equal(got, sleep_as); /* behind it: may time out too */
        else
            assert_string_equal(got, want);
    }
    json_decref(a);
    fht_response_free(&r);
    fht_close(fd);
}

static long running(const char *what) {
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%%%s%%' "
             "AND state = 'active' AND pid <> pg_backend_pid()",
             what);
    return scalar(sql);
}

static long wait_running(const char *what, long want) {
    long n = -1;
    uint64_t end = fht_now_ms() + 20000;
    while ((n = running(what)) != want && fht_now_ms() < end)
        usleep(50000);
    return n;
}

/* ---------------------------------------------------------- the tests */

static void test_prepare_errors(void **state) {
    (void)state;
    int err = 0;
    assert_null(fh_pg_prepare(pg, "add_one", "SELECT 1", 0, &err));
    assert_int_equal(err, FH_EEXIST);
    assert_null(fh_pg_prepare(pg, "", "SELECT 1", 0, &err));
    assert_int_equal(err, FH_EINVAL);
    char name[80];
    memset(name, 'n', 64);
    name[64] = '\0';
    assert_null(fh_pg_prepare(pg, name, "SELECT 1", 0, &err)); /* 64 bytes */
    assert_int_equal(err, FH_EINVAL);
    assert_null(fh_pg_prepare(pg, "too_many", "SELECT 1", 65536, &err));
    assert_int_equal(err, FH_EINVAL);
    /* At the limits: a 63-byte name, 65,535 parameters; 256 statements. */
    int cfgerr = 0;
    fh_pg_config_t cfg = { .conninfo = db.conninfo };
    fh_pg_t *other = fh_pg_new(&cfg, &cfgerr);
    assert_non_null(other);
    name[63] = '\0';
    assert_non_null(fh_pg_prepare(other, name, "SELECT 1", 65535, &err));
    for (int i = 1; i < 256; i++) {
        char n[16];
        snprintf(n, sizeof n, "s%d", i);
        assert_non_null(fh_pg_prepare(other, n, "SELECT 1", 0, &err));
    }
    assert_null(fh_pg_prepare(other, "s256", "SELECT 1", 0, &err));
    assert_int_equal(err, FH_EINVAL);
    fh_pg_free(other);
    /* pg has run queries: too late. */
    expect("/pid", 200, NULL);
    assert_null(fh_pg_prepare(pg, "late", "SELECT 1", 0, &err));
    assert_int_equal(err, FH_ESTATE);
}

static void test_prepared_runs_prepared(void **state) {
    (void)state;
    int fd = -1;
    fht_response_t r;
    for (int i = 0; i < 100; i++) {
        char t[64], want[16];
        snprintf(t, sizeof t, "/prep?v=%d", i);
        snprintf(want, sizeof want, "%d", i + 1);
        get(&fd, t, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, want);
        fht_response_free(&r);
    }
    /* One statement on the connection, run 100 times. */
    get(&fd, "/prepared?v=add_one", &r);
    assert_string_equal(r.body, "1:100");
    fht_response_free(&r);
    /* A bad parameter fails that execution only (400, 22P02). */
    get(&fd, "/prep?v=ten", &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "\"sqlstate\":\"22P02\""));
    fht_response_free(&r);
    get(&fd, "/prep?v=9", &r);
    assert_string_equal(r.body, "10");
    fht_response_free(&r);
    /* The failed one did not get as far as a plan: 101 executions. */
    get(&fd, "/prepared?v=add_one", &r);
    assert_string_equal(r.body, "1:101");
    fht_response_free(&r);
    fht_close(fd);
}

static void test_prepared_sql_error(void **state) {
    (void)state;
    /* The table does not exist: the Parse fails, a problem document with
     * PostgreSQL's SQLSTATE (42P01) and message; every time, not cached. */
    for (int i = 0; i < 3; i++) {
        fht_response_t r;
        int fd = -1;
        get(&fd, "/missing?v=1", &r);
        assert_int_equal(r.status, 500);
        assert_string_equal(fht_hdr(&r, "Content-Type"), "application/problem+json");
        assert_non_null(strstr(r.body, "\"sqlstate\":\"42P01\""));
        assert_non_null(strstr(r.body, "later"));
        fht_response_free(&r);
        fht_close(fd);
    }
    expect("/prepared?v=from_missing", 200, "0:0");
    expect("/prep?v=1", 200, "2"); /* the connection is fine */
    /* Once the table exists the statement is prepared and runs. */
    assert_int_equal(exec_sql("CREATE TABLE later (id int PRIMARY KEY, v text);"
                              "INSERT INTO later VALUES (1, 'here')"),
                     0);
    expect("/missing?v=1", 200, "here");
    expect("/missing?v=2", 204, NULL);
    expect("/prepared?v=from_missing", 200, "1:2");
}

static void test_pipeline_in_order(void **state) {
    (void)state;
    expect_multi("/multi?n=20", 20, -1, NULL, -1, NULL);
    expect_multi("/multi?n=20&mode=seq", 20, -1, NULL, -1, NULL);
    /* At the depth (32) and past it: the rest wait and follow. */
    expect_multi("/multi?n=32", 32, -1, NULL, -1, NULL);
    expect_multi("/multi?n=500", 500, -1, NULL, -1, NULL);
    expect_multi("/multi?n=500&cli=slow", 500, -1, NULL, -1, NULL);
}

static void test_pipeline_error_isolated(void **state) {
    (void)state;
    /* Query 10 of 20 divides by zero: only it fails (400, 22012). */
    expect_multi("/multi?n=20&fail=10", 20, 10, "400:22012", -1, NULL);
    expect_multi("/multi?n=20&fail=0", 20, 0, "400:22012", -1, NULL);
    expect_multi("/multi?n=20&fail=19", 20, 19, "400:22012", -1, NULL);
    expect_multi("/multi?n=20&fail=10&cli=far", 20, 10, "400:22012", -1, NULL);
}

static void test_pipeline_round_trips(void **state) {
    (void)state;
    expect_multi("/multi?n=1&cli=far", 1, -1, NULL, -1, NULL); /* connected, prepared */
    uint64_t t0 = fht_now_ms();
    expect_multi("/multi?n=20&cli=far", 20, -1, NULL, -1, NULL);
    uint64_t together = fht_now_ms() - t0;
    t0 = fht_now_ms();
    expect_multi("/multi?n=20&cli=far&mode=seq", 20, -1, NULL, -1, NULL);
    uint64_t one_by_one = fht_now_ms() - t0;
    print_message("20 queries over a %d ms round trip: %llu ms together, %llu ms one by one\n",
                  2 * DELAY_MS, (unsigned long long)together, (unsigned long long)one_by_one);
    assert_true(together < 4 * 2 * DELAY_MS);
    assert_true(one_by_one >= 20 * 2 * DELAY_MS);
}

/* 20 requests at once, one query each, on the one connection through the
 * relay: their queries share round trips too. */
static void test_pipeline_across_requests(void **state) {
    (void)state;
    expect_multi("/multi?n=1&cli=far", 1, -1, NULL, -1, NULL);
    int fds[20];
    for (int i = 0; i < 20; i++) {
        fds[i] = fht_connect(fht_port);
        fht_send_str(fds[i], "GET /multi?n=1&cli=far HTTP/1.1\r\nHost: t\r\n\r\n");
    }
    uint64_t t0 = fht_now_ms();
    for (int i = 0; i < 20; i++) {
        fht_response_t r;
        assert_int_equal(fht_read_response(fds[i], &r, 0), 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "[\"0\"]");
        fht_response_free(&r);
        fht_close(fds[i]);
    }
    uint64_t took = fht_now_ms() - t0;
    print_message("20 requests of one query each over a %d ms round trip: %llu ms\n", 2 * DELAY_MS,
                  (unsigned long long)took);
    assert_true(took < 4 * 2 * DELAY_MS);
}

/* The backend pids a /multi?cli=four answer lists, in call order. */
static int four_pids(const char *target, long *pids, int max) {
    fht_response_t r;
    fht_request("GET", target, NULL, &r);
    assert_int_equal(r.status, 200);
    json_error_t e;
    json_t *a = json_loads(r.body, 0, &e);
    assert_non_null(a);
    int n = (int)json_array_size(a);
    assert_true(n <= max);
    for (int i = 0; i < n; i++)
        pids[i] = atol(json_string_value(json_array_get(a, (size_t)i)));
    json_decref(a);
    fht_response_free(&r);
    return n;
}

static int distinct(const long *pids, int n) {
    int d = 0;
    for (int i = 0; i < n; i++) {
        int j = 0;
        while (j < i && pids[j] != pids[i])
            j++;
        d += j == i;
    }
    return d;
}

/* The queries asked in one turn of the loop leave in runs of half of
 * pipeline_depth (16) per connection, not one per idle connection: 10
 * queries of one request run on one connection, 40 on three (16, 16, 8).
 * A query of a later turn still goes to an idle connection, never behind a
 * slow query of an earlier one. */
static void test_pipeline_runs(void **state) {
    (void)state;
    long pids[64];
    /* The four connections open on first use: wait until all are up. */
    int d = 0;
    for (int i = 0; i < 100 && d < 4; i++) {
        d = distinct(pids, four_pids("/multi?cli=four&n=64", pids, 64));
        if (d < 4)
            usleep(20000);
    }
    assert_int_equal(d, 4);
    assert_int_equal(four_pids("/multi?cli=four&n=10", pids, 64), 10);
    assert_int_equal(distinct(pids, 10), 1);
    assert_int_equal(four_pids("/multi?cli=four&n=40", pids, 64), 40);
    assert_int_equal(distinct(pids, 16), 1);
    assert_int_equal(distinct(pids + 16, 16), 1);
    assert_int_equal(distinct(pids + 32, 8), 1);
    assert_int_equal(distinct(pids, 40), 3);

    /* A slow query, then, in a later turn, a fast one: not behind it. */
    int slow = fht_connect(fht_port);
    fht_send_str(slow, "GET /multi?cli=four&n=1&sleep=0 HTTP/1.1\r\nHost: t\r\n\r\n");
    usleep(50000);
    uint64_t t0 = fht_now_ms();
    assert_int_equal(four_pids("/multi?cli=four&n=1", pids + 1, 63), 1);
    uint64_t took = fht_now_ms() - t0;
    fht_response_t r;
    assert_int_equal(fht_read_response(slow, &r, 0), 0);
    assert_int_equal(r.status, 200);
    long slow_pid = atol(r.body + 2); /* ["<pid>"] */
    fht_response_free(&r);
    fht_close(slow);
    print_message("a fast query asked 50 ms after a slow one: %llu ms\n", (unsigned long long)took);
    assert_true(took < 500);
    assert_true(slow_pid != pids[1]);
}

/* A transaction's statements pipelined: all three and the COMMIT sent at
 * once. A duplicate key in the middle fails it (409), the one after is
 * refused in the aborted transaction (25P02), the COMMIT rolls back (409)
 * and nothing is kept; without it all four succeed and the rows stay. */
static void test_pipeline_transaction(void **state) {
    (void)state;
    expect("/txpipe?v=100", 200, "200:,200:,200:,200:");
    assert_int_equal(scalar("SELECT count(*) FROM keys WHERE k BETWEEN 100 AND 102"), 3);
    expect("/txpipe?v=200&dup=1", 200, "200:,409:23505,500:25P02,409:");
    assert_int_equal(scalar("SELECT count(*) FROM keys WHERE k >= 200"), 0);
    for (int i = 0; i < 20; i++) {
        char t[64], want[64];
        snprintf(t, sizeof t, "/txpipe?v=%d%s", 300 + 10 * i, i % 2 ? "&dup=1" : "");
        snprintf(want, sizeof want, "%s",
                 i % 2 ? "200:,409:23505,500:25P02,409:" : "200:,200:,200:,200:");
        expect(t, 200, want);
    }
    assert_int_equal(scalar("SELECT count(*) FROM keys WHERE k >= 300"), 30);
    assert_int_equal(scalar("SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in "
                            "transaction%'"),
                     0);
    expect_multi("/multi?n=20", 20, -1, NULL, -1, NULL); /* the connection is free again */
}

static void test_pipeline_timeout(void **state) {
    (void)state;
    /* Query 5 of 10 sleeps: answered 504 at the timeout, the ones behind
     * it on the connection too (they waited as long), the ones before it
     * with their values; the sleep is canceled on the server. */
    uint64_t t0 = fht_now_ms();
    expect_multi("/multi?n=10&sleep=5", 10, -1, NULL, 5, "504:");
    uint64_t took = fht_now_ms() - t0;
    assert_true(took >= TIMEOUT_MS - 100 && took < 15000);
    assert_int_equal(wait_running("pg_sleep(30)", 0), 0);
    for (int i = 0; i < 5; i++)
        expect_multi("/multi?n=20&fail=3", 20, 3, "400:22012", -1, NULL);
}

static void test_pipeline_client_gone(void **state) {
    (void)state;
    int fd = fht_connect_raw(fht_port);
    assert_true(fd >= 0);
    fht_send_str(fd, "GET /multi?n=10&sleep=2&cli=slow HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(wait_running("pg_sleep(30)", 1), 1);
    close(fd);
    uint64_t t0 = fht_now_ms();
    assert_int_equal(wait_running("pg_sleep(30)", 0), 0);
    assert_true(fht_now_ms() - t0 < 20000);
    expect_multi("/multi?n=20&cli=slow", 20, -1, NULL, -1, NULL);
}

/* A request with queries on two clients: the client leaving cancels both
 * (the response has one cancel callback; each client's call adds its loop
 * to what it reaches). */
static void test_client_gone_two_clients(void **state) {
    (void)state;
    int fd = fht_connect_raw(fht_port);
    assert_true(fd >= 0);
    fht_send_str(fd, "GET /two HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(wait_running("pg_sleep(31)", 1), 1);
    assert_int_equal(wait_running("pg_sleep(32)", 1), 1);
    close(fd);
    uint64_t t0 = fht_now_ms();
    assert_int_equal(wait_running("pg_sleep(31)", 0), 0);
    assert_int_equal(wait_running("pg_sleep(32)", 0), 0);
    assert_true(fht_now_ms() - t0 < 20000);
}

static void test_pipeline_outage(void **state) {
    (void)state;
    int fd = -1;
    fht_response_t r;
    get(&fd, "/pid", &r);
    long pid0 = atol(r.body);
    fht_response_free(&r);
    /* 20 queries in flight behind a sleep when the server stops. */
    int c = fht_connect(fht_port);
    fht_send_str(c, "GET /multi?n=20&sleep=0&cli=slow HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(wait_running("pg_sleep(30)", 1), 1);
    fht_pg_halt(&db);
    assert_int_equal(fht_read_response(c, &r, 0), 0);
    assert_int_equal(r.status, 200);
    json_t *a = json_loads(r.body, 0, NULL);
    assert_int_equal(json_array_size(a), 20);
    for (size_t i = 0; i < 20; i++) {
        const char *got = json_string_value(json_array_get(a, i));
        assert_true(!strncmp(got, "503:", 4)); /* ENOTCONN, or 57P01 for the one running */
    }
    json_decref(a);
    fht_response_free(&r);
    fht_close(c);
    get(&fd, "/prep?v=1", &r);
    assert_int_equal(r.status, 503);
    fht_response_free(&r);
    /* Back: the statement is prepared again on the new connection. */
    assert_int_equal(fht_pg_resume(&db), 0);
    uint64_t end = fht_now_ms() + 20000;
    int s = 0;
    while (s != 200 && fht_now_ms() < end) {
        get(&fd, "/prep?v=1", &r);
        s = r.status;
        if (s == 200)
            assert_string_equal(r.body, "2");
        else
            assert_int_equal(s, 503);
        fht_response_free(&r);
        if (s != 200)
            usleep(50000);
    }
    assert_int_equal(s, 200);
    get(&fd, "/pid", &r);
    assert_true(atol(r.body) != pid0);
    fht_response_free(&r);
    get(&fd, "/prepared?v=add_one", &r);
    assert_string_equal(r.body, "1:1");
    fht_response_free(&r);
    fht_close(fd);
    expect_multi("/multi?n=20&fail=7", 20, 7, "400:22012", -1, NULL);
    /* pg_slow's connection comes back too (its own retry delay). */
    end = fht_now_ms() + 20000;
    bool up = false;
    while (!up && fht_now_ms() < end) {
        fd = -1;
        get(&fd, "/multi?n=1&cli=slow", &r);
        up = strstr(r.body, "\"0\"") != NULL;
        fht_response_free(&r);
        fht_close(fd);
        if (!up)
            usleep(50000);
    }
    assert_true(up);
    expect_multi("/multi?n=20&cli=slow", 20, -1, NULL, -1, NULL);
}

static void test_connect_timeout(void **state) {
    (void)state;
    int err = 0;
    fh_pg_config_t cfg = { .conninfo = db.conninfo, .connect_timeout_ms = 600000 };
    fh_pg_t *ok = fh_pg_new(&cfg, &err);
    assert_non_null(ok);
    fh_pg_free(ok);
    cfg.connect_timeout_ms = 600001;
    assert_null(fh_pg_new(&cfg, &err));
    assert_int_equal(err, FH_EINVAL);
    /* The first query waits for the first connect: 503 at 500 ms, long
     * before its 10 s timeout. */
    uint64_t t0 = fht_now_ms();
    fht_response_t r;
    int fd = -1;
    get(&fd, "/hole", &r);
    uint64_t took = fht_now_ms() - t0;
    assert_int_equal(r.status, 503);
    assert_string_equal(fht_hdr(&r, "Retry-After"), "1");
    fht_response_free(&r);
    print_message("the first query to the black hole: 503 after %llu ms\n",
                  (unsigned long long)took);
    assert_true(took >= 450 && took < 5000);
    /* While it retries (with a growing delay), at once. */
    for (int i = 0; i < 20; i++) {
        t0 = fht_now_ms();
        get(&fd, "/hole", &r);
        assert_int_equal(r.status, 503);
        fht_response_free(&r);
        assert_true(fht_now_ms() - t0 < 400);
    }
    fht_close(fd);
    /* The other clients of the same loop are not held up. */
    expect("/prep?v=1", 200, "2");
}

/* Whether the server's log has a canceled statement whose text is sql. */
static bool log_has_canceled(const char *sql) {
    char path[300];
    snprintf(path, sizeof path, "%s/postgres.log", db.dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[1024];
    bool canceled = false, found = false;
    while (!found && fgets(line, sizeof line, f)) {
        if (strstr(line, "canceling statement due to user request"))
            canceled = true;
        else if (canceled && strstr(line, "STATEMENT:"))
            found = strstr(line, sql) != NULL, canceled = false;
    }
    fclose(f);
    return found;
}

/* A cancel request that reaches the server after the query it was meant
 * for has finished stops the next one on the connection instead: that one
 * is sent again, and its request answered as if nothing happened. Through
 * the 200 ms relay, query a (0.5 s) is abandoned by its client at 0.7 s,
 * when it has finished on the server but its result is still on the way;
 * the cancel request arrives at the server 200 ms later, during query b
 * (1 s), sent behind a by another client. */
static void test_cancel_hits_next_query(void **state) {
    (void)state;
    expect("/vwarm", 200, "w"); /* connected */
    int fa = fht_connect_raw(fht_port), fb = fht_connect_raw(fht_port);
    assert_true(fa >= 0 && fb >= 0);
    uint64_t t0 = fht_now_ms();
    fht_send_str(fa, "GET /va HTTP/1.1\r\nHost: t\r\n\r\n");
    usleep(20000);
    fht_send_str(fb, "GET /vb HTTP/1.1\r\nHost: t\r\n\r\n");
    while (fht_now_ms() < t0 + 700)
        usleep(5000);
    close(fa);
    fht_response_t r;
    assert_int_equal(fht_read_response(fb, &r, 0), 0);
    print_message("b answered %d after %llu ms\n", r.status,
                  (unsigned long long)(fht_now_ms() - t0));
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "b");
    fht_response_free(&r);
    fht_close(fb);
    /* b was the statement the cancel stopped (not a). */
    assert_true(log_has_canceled("SELECT 'b' FROM pg_sleep(1)"));
    assert_false(log_has_canceled("SELECT 'a' FROM pg_sleep(0.5)"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prepare_errors),
        cmocka_unit_test(test_prepared_runs_prepared),
        cmocka_unit_test(test_prepared_sql_error),
        cmocka_unit_test(test_pipeline_in_order),
        cmocka_unit_test(test_pipeline_error_isolated),
        cmocka_unit_test(test_pipeline_round_trips),
        cmocka_unit_test(test_pipeline_across_requests),
        cmocka_unit_test(test_pipeline_runs),
        cmocka_unit_test(test_pipeline_transaction),
        cmocka_unit_test(test_pipeline_timeout),
        cmocka_unit_test(test_pipeline_client_gone),
        cmocka_unit_test(test_client_gone_two_clients),
        cmocka_unit_test(test_pipeline_outage),
        cmocka_unit_test(test_connect_timeout),
        cmocka_unit_test(test_cancel_hits_next_query),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
