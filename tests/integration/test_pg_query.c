/* fh_pg (include/fasthttp/pg.h) against a throwaway PostgreSQL server
 * (support/pg_server.h), over real HTTP: parameterised queries, SQL in a
 * parameter stored verbatim, a query timeout answered 504 with the query
 * canceled on the server, and the server stopped mid-test: 503 while it is
 * down, 200 again once it is back, without restarting fasthttp. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fasthttp/pg.h"
#include "pg_server.h"
#include "testutil.h"

static fht_pg_t db;
static fh_pg_t *pg;

static void answered(fh_request_t *req, fh_response_t *res, int status, const PGresult *r,
                     void *data) {
    (void)req;
    (void)data;
    if (status) {
        fh_send_status(res, fh_pg_http_status(status));
        return;
    }
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK && PQntuples(r) == 1)
        fh_send_text(res, 200, PQgetvalue(r, 0, 0));
    else if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        fh_send_status(res, 204);
    else
        fh_send_text(res, 500, PQresultErrorMessage(r));
}

static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t path = fh_request_path(req);
    fh_str_t v = fh_request_query(req, "v");
    const char *p[1] = { NULL };
    if (v.ptr) {
        char *s = fh_alloc(req, v.len + 1);
        if (!s)
            return FH_ENOMEM;
        memcpy(s, v.ptr, v.len);
        s[v.len] = '\0';
        p[0] = s;
    }
    if (path.len == 4 && !memcmp(path.ptr, "/add", 4))
        return fh_pg_query(pg, req, res, "SELECT $1::int + 1", 1, p, answered, NULL);
    if (path.len == 5 && !memcmp(path.ptr, "/echo", 5))
        return fh_pg_query(pg, req, res, "INSERT INTO notes (v) VALUES ($1) RETURNING v", 1, p,
                           answered, NULL);
    if (path.len == 6 && !memcmp(path.ptr, "/count", 6))
        return fh_pg_query(pg, req, res, "SELECT count(*) FROM notes", 0, NULL, answered, NULL);
    if (path.len == 6 && !memcmp(path.ptr, "/sleep", 6))
        return fh_pg_query(pg, req, res, "SELECT 'slept' FROM pg_sleep(20)", 0, NULL, answered,
                           NULL);
    return fh_send_status(res, 404);
}

static int setup(void **state) {
    (void)state;
    if (fht_pg_start(&db) != 0)
        return -1;
    PGconn *c = PQconnectdb(db.conninfo);
    PGresult *r = PQexec(c, "CREATE TABLE notes (id serial PRIMARY KEY, v text)");
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    PQfinish(c);
    if (!ok)
        return -1;
    int err = 0;
    fh_pg_config_t cfg = { .conninfo = db.conninfo, .conns_per_loop = 2, .query_timeout_ms = 1000 };
    pg = fh_pg_new(&cfg, &err);
    if (!pg)
        return -1;
    fht_start_handler(handler, NULL, 2);
    return 0;
}

static int teardown(void **state) {
    fht_teardown(state);
    fh_pg_free(pg);
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

static void test_params(void **state) {
    (void)state;
    for (int i = 0; i < 50; i++)
        expect("/add?v=41", 200, "42");
    expect("/add?v=-2147483648", 200, "-2147483647");
    /* Not a number: PostgreSQL's error, from the parameter, not the SQL. */
    fht_response_t r;
    fht_request("GET", "/add?v=1;%20DROP%20TABLE%20notes", NULL, &r);
    assert_int_equal(r.status, 500);
    assert_non_null(strstr(r.body, "invalid input syntax"));
    fht_response_free(&r);
}

static void test_injection_stored_verbatim(void **state) {
    (void)state;
    expect("/echo?v=x%27);%20DROP%20TABLE%20notes;%20--", 200, "x'); DROP TABLE notes; --");
    expect("/echo?v=%24%241%24%24", 200, "$$1$$");
    expect("/count", 200, "2");
}

static int sleeping_queries(void) {
    PGconn *c = PQconnectdb(db.conninfo);
    PGresult *r =
        PQexec(c, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(20)%' "
                  "AND state = 'active' AND pid <> pg_backend_pid()");
    int n = PQresultStatus(r) == PGRES_TUPLES_OK ? atoi(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    PQfinish(c);
    return n;
}

static void test_timeout_cancels(void **state) {
    (void)state;
    uint64_t t0 = fht_now_ms();
    expect("/sleep", 504, NULL);
    uint64_t took = fht_now_ms() - t0;
    assert_true(took >= 900 && took < 10000);
    /* The server stops the query: no pg_sleep left running, soon. */
    int n = -1;
    for (int i = 0; i < 100 && n != 0; i++) {
        n = sleeping_queries();
        if (n)
            usleep(50000);
    }
    assert_int_equal(n, 0);
    for (int i = 0; i < 20; i++)
        expect("/add?v=1", 200, "2");
}

static void test_outage(void **state) {
    (void)state;
    expect("/add?v=1", 200, "2");
    fht_pg_halt(&db);
    int s = 0;
    for (int i = 0; i < 100 && s != 503; i++)
        s = status_of("/add?v=1");
    assert_int_equal(s, 503);
    for (int i = 0; i < 50; i++)
        assert_int_equal(status_of("/add?v=1"), 503);
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
    expect("/count", 200, "2");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_injection_stored_verbatim),
        cmocka_unit_test(test_timeout_cancels),
        cmocka_unit_test(test_outage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
