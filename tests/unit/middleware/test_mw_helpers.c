/* The built-ins' shared helpers (middleware/mw.c): JSON escaping, header
 * lists and tokens, config messages, and the per-loop state table under
 * concurrent first use. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "middleware/mw.h"

static void escape_is(const char *in, size_t n, const char *want) {
    char out[256];
    fh_str_t s = { in, n };
    assert_true(fh__mw_json_len(s) <= sizeof(out));
    size_t len = fh__mw_json_escape(out, s);
    assert_true(len <= fh__mw_json_len(s));
    out[len] = '\0';
    assert_string_equal(out, want);
}

static void test_json_escape(void **state) {
    (void)state;
    escape_is("plain /text", 11, "plain /text");
    escape_is("q\"b\\", 4, "q\\\"b\\\\");
    escape_is("\n\r\t\x01\x1f\x7f", 6, "\\n\\r\\t\\u0001\\u001f\\u007f");
    escape_is("a\0b", 3, "a\\u0000b");
    /* Valid UTF-8 passes: 2, 3 and 4 byte sequences. */
    escape_is("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    /* Invalid: lone continuation, truncated, overlong, surrogate, > U+10FFFF. */
    escape_is("\x80", 1, "\xef\xbf\xbd");
    escape_is("\xe2\x82", 2, "\xef\xbf\xbd\xef\xbf\xbd");
    escape_is("\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd");
    escape_is("\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    escape_is("\xf4\x90\x80\x80", 4, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    /* Worst case stays within the bound. */
    escape_is("\x01\x01\x01", 3, "\\u0001\\u0001\\u0001");
    escape_is("", 0, "");
}

static void test_lists(void **state) {
    (void)state;
    fh_str_t l = FH_STR_LIT("Accept-Encoding, origin ,  Cookie");
    assert_true(fh__mw_list_has(l, FH_STR_LIT("Origin")));
    assert_true(fh__mw_list_has(l, FH_STR_LIT("cookie")));
    assert_true(fh__mw_list_has(l, FH_STR_LIT("accept-encoding")));
    assert_false(fh__mw_list_has(l, FH_STR_LIT("Accept")));
    assert_false(fh__mw_list_has(FH_STR_LIT(""), FH_STR_LIT("x")));
    assert_false(fh__mw_list_has((fh_str_t){ NULL, 0 }, FH_STR_LIT("x")));
    assert_true(fh__mw_list_has(FH_STR_LIT(",,x,,"), FH_STR_LIT("x")));

    assert_true(fh__mw_is_token(FH_STR_LIT("X-Request-ID")));
    assert_true(fh__mw_is_token(FH_STR_LIT("!#$%&'*+-.^_`|~09azAZ")));
    assert_false(fh__mw_is_token(FH_STR_LIT("a b")));
    assert_false(fh__mw_is_token(FH_STR_LIT("a:b")));
    assert_false(fh__mw_is_token(FH_STR_LIT("")));
    assert_true(fh__mw_is_field_value("max-age=1; includeSubDomains\t"));
    assert_false(fh__mw_is_field_value("a\r\nb"));
    assert_false(fh__mw_is_field_value("a\x7f"));

    char *s;
    const char *ok[] = { "GET", "POST", NULL };
    assert_int_equal(fh__mw_join_tokens(&s, ok, "f"), 0);
    assert_string_equal(s, "GET, POST");
    free(s);
    const char *empty[] = { NULL };
    assert_int_equal(fh__mw_join_tokens(&s, empty, "f"), 0);
    assert_string_equal(s, "");
    free(s);
    assert_int_equal(fh__mw_join_tokens(&s, NULL, "f"), 0);
    assert_null(s);
    const char *bad[] = { "GET", "", NULL };
    assert_int_equal(fh__mw_join_tokens(&s, bad, "x.methods"), FH_ECONFIG);
    assert_null(s);
    assert_string_equal(fh_middleware_error(), "fasthttp: x.methods[1]: \"\" is not a token");
    fh__mw_ok();
    assert_string_equal(fh_middleware_error(), "");
}

/* ---- per-loop table ---- */

static _Atomic int created, destroyed;

static void *make_state(void *owner, uv_loop_t *loop) {
    (void)owner;
    atomic_fetch_add(&created, 1);
    uv_loop_t **s = malloc(sizeof(*s));
    *s = loop;
    return s;
}

static void drop_state(void *owner, void *state) {
    (void)owner;
    atomic_fetch_add(&destroyed, 1);
    free(state);
}

typedef struct worker_arg {
    fh__perloop_t *pl;
    uv_loop_t *loop; /* only its address is used */
    int ok;
} worker_arg_t;

static void *worker(void *p) {
    worker_arg_t *a = p;
    void *first = fh__perloop_get(a->pl, a->loop);
    for (int i = 0; i < 1000; i++) {
        void *s = fh__perloop_get(a->pl, a->loop);
        if (s == first && s && *(uv_loop_t **)s == a->loop)
            a->ok++;
    }
    return NULL;
}

static void test_perloop(void **state) {
    (void)state;
    fh__perloop_t pl;
    enum { N = 16 };
    assert_int_equal(fh__perloop_init(&pl, 20, make_state, drop_state, NULL), 0);
    assert_int_equal(pl.cap, 32);
    static uv_loop_t loops[N + 20];
    pthread_t th[N];
    worker_arg_t args[N];
    for (int i = 0; i < N; i++) {
        args[i] = (worker_arg_t){ &pl, &loops[i], 0 };
        assert_int_equal(pthread_create(&th[i], NULL, worker, &args[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].ok, 1000); /* one stable state per loop */
    }
    assert_int_equal(atomic_load(&created), N);
    /* Fill the table: beyond its capacity the caller gets NULL. */
    for (int i = N; i < 32; i++)
        assert_non_null(fh__perloop_get(&pl, &loops[i]));
    assert_null(fh__perloop_get(&pl, &loops[32]));
    assert_non_null(fh__perloop_get(&pl, &loops[3])); /* known loops still found */
    fh__perloop_free(&pl);
    assert_int_equal(atomic_load(&destroyed), 32);
    fh__perloop_free(&pl); /* twice is harmless */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_escape),
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_perloop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
