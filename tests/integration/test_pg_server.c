/* The throwaway PostgreSQL server of tests/support/pg_server.h: it starts
 * from nothing, takes queries on its Unix socket only, stops and starts
 * again with its data, and leaves no directory behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <string.h>
#include <sys/stat.h>

#include "pg_server.h"

static PGresult *exec_ok(PGconn *c, const char *sql) {
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    return r;
}

static void test_start_query_halt_resume_stop(void **state) {
    (void)state;
    fht_pg_t pg;
    assert_int_equal(fht_pg_start(&pg), 0);
    assert_true(pg.pid > 0);
    assert_true(fht_pg_ready(&pg));

    PGconn *c = PQconnectdb(pg.conninfo);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = exec_ok(c, "SHOW listen_addresses");
    assert_string_equal(PQgetvalue(r, 0, 0), "");
    PQclear(r);
    PQclear(exec_ok(c, "CREATE TABLE t (v text)"));
    PQclear(exec_ok(c, "INSERT INTO t VALUES ('kept')"));
    PQfinish(c);

    fht_pg_halt(&pg);
    assert_int_equal(pg.pid, 0);
    assert_false(fht_pg_ready(&pg));
    c = PQconnectdb(pg.conninfo);
    assert_int_not_equal(PQstatus(c), CONNECTION_OK);
    PQfinish(c);

    assert_int_equal(fht_pg_resume(&pg), 0);
    c = PQconnectdb(pg.conninfo);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    r = exec_ok(c, "SELECT v FROM t");
    assert_int_equal(PQntuples(r), 1);
    assert_string_equal(PQgetvalue(r, 0, 0), "kept");
    PQclear(r);
    PQfinish(c);

    char dir[sizeof pg.dir];
    memcpy(dir, pg.dir, sizeof dir);
    fht_pg_stop(&pg);
    struct stat st;
    assert_int_not_equal(stat(dir, &st), 0);
}

/* Two servers at once, as parallel tests start them: separate sockets. */
static void test_two_at_once(void **state) {
    (void)state;
    fht_pg_t a, b;
    assert_int_equal(fht_pg_start(&a), 0);
    assert_int_equal(fht_pg_start(&b), 0);
    assert_string_not_equal(a.dir, b.dir);
    assert_true(fht_pg_ready(&a));
    assert_true(fht_pg_ready(&b));
    fht_pg_stop(&a);
    assert_true(fht_pg_ready(&b));
    fht_pg_stop(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_query_halt_resume_stop),
        cmocka_unit_test(test_two_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
