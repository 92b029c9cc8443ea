/* Basic and Bearer authentication over real sockets: challenges, wrong and
 * malformed credentials, a user list and a callback, the user seen by the
 * handler, and bad options; fh_auth_equal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t u = fh_auth_user(req);
    return fh_send_textf(res, 200, "user=%.*s", u.ptr ? (int)u.len : 1, u.ptr ? u.ptr : "-");
}

static int status_of(const char *auth, char *challenge, size_t cap, char *body, size_t bcap) {
    char req[512];
    snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: t\r\n%s%s%s\r\n",
             auth ? "Authorization: " : "", auth ? auth : "", auth ? "\r\n" : "");
    fht_response_t r;
    fht_exchange(req, &r);
    if (challenge)
        snprintf(challenge, cap, "%s", fht_hdr(&r, "WWW-Authenticate"));
    if (body)
        snprintf(body, bcap, "%s", r.body);
    int s = r.status;
    fht_response_free(&r);
    return s;
}

static bool check_basic(fh_request_t *req, fh_str_t user, fh_str_t pass, void *data) {
    (void)data;
    if (fh_str_eq(user, "svc") && fh_auth_equal(pass, FH_STR_LIT("s3cret")))
        return fh_auth_set_user(req, FH_STR_LIT("service-account")) == 0;
    return false;
}

static void test_basic(void **state) {
    (void)state;
    static const fh_basic_user_t users[] = { { "alice", "wonder:land" },
                                             { "bob", "builder" },
                                             { NULL, NULL } };
    fh_basic_auth_options_t o = { .realm = "Admin area", .users = users, .validate = check_basic };
    fh_middleware_t m;
    assert_int_equal(fh_basic_auth_new(&m, &o), 0);
    fht_start_chain(handler, NULL, 1, &m, 1);
    char ch[256], body[128];
    const char *want = "Basic realm=\"Admin area\", charset=\"UTF-8\"";
    assert_int_equal(status_of(NULL, ch, sizeof(ch), NULL, 0), 401);
    assert_string_equal(ch, want);
    /* alice:wonder:land (the password may hold ':'). */
    assert_int_equal(status_of("Basic YWxpY2U6d29uZGVyOmxhbmQ=", NULL, 0, body, sizeof(body)), 200);
    assert_string_equal(body, "user=alice");
    /* Scheme case-insensitive; padding optional; bob:builder. */
    assert_int_equal(status_of("basic  Ym9iOmJ1aWxkZXI", NULL, 0, body, sizeof(body)), 200);
    assert_string_equal(body, "user=bob");
    /* The callback, which names its own user: svc:s3cret. */
    assert_int_equal(status_of("Basic c3ZjOnMzY3JldA==", NULL, 0, body, sizeof(body)), 200);
    assert_string_equal(body, "user=service-account");
    /* Wrong: bob:builde, alice's password for bob, malformed base64, no
     * colon, another scheme, nothing after the scheme. */
    const char *wrong[] = { "Basic Ym9iOmJ1aWxkZQ==",
                            "Basic Ym9iOndvbmRlcjpsYW5k",
                            "Basic !!!!",
                            "Basic Ym9i",
                            "Bearer Ym9iOmJ1aWxkZXI=",
                            "Basic",
                            "BasicYm9iOmJ1aWxkZXI=",
                            NULL };
    for (int i = 0; wrong[i]; i++) {
        assert_int_equal(status_of(wrong[i], ch, sizeof(ch), NULL, 0), 401);
        assert_string_equal(ch, want);
    }
    fht_stop();
    fh_middleware_release(&m);
}

static bool check_token(fh_request_t *req, fh_str_t token, void *data) {
    const char *secret = data;
    if (!fh_auth_equal(token, fh_str(secret)))
        return false;
    fh_auth_set_user(req, FH_STR_LIT("robot"));
    return true;
}

static void test_bearer(void **state) {
    (void)state;
    static const char *const tokens[] = { "tok-1.abc_~+/", "Zm9vYmFy==", NULL };
    fh_bearer_auth_options_t o = { .tokens = tokens,
                                   .validate = check_token,
                                   .validate_data = "from-callback" };
    fh_middleware_t m;
    assert_int_equal(fh_bearer_auth_new(&m, &o), 0);
    fht_start_chain(handler, NULL, 1, &m, 1);
    char ch[256], body[128];
    assert_int_equal(status_of(NULL, ch, sizeof(ch), NULL, 0), 401);
    assert_string_equal(ch, "Bearer realm=\"api\"");
    assert_int_equal(status_of("Basic Ym9iOmJ1aWxkZXI=", ch, sizeof(ch), NULL, 0), 401);
    assert_string_equal(ch, "Bearer realm=\"api\"");
    assert_int_equal(status_of("Bearer tok-1.abc_~+/", NULL, 0, body, sizeof(body)), 200);
    assert_string_equal(body, "user=-"); /* a listed token names no user */
    assert_int_equal(status_of("bearer Zm9vYmFy==", NULL, 0, NULL, 0), 200);
    assert_int_equal(status_of("Bearer from-callback", NULL, 0, body, sizeof(body)), 200);
    assert_string_equal(body, "user=robot");
    assert_int_equal(status_of("Bearer tok-2", ch, sizeof(ch), NULL, 0), 401);
    assert_string_equal(ch, "Bearer realm=\"api\", error=\"invalid_token\"");
    assert_int_equal(status_of("Bearer tok-1.abc_~+", ch, sizeof(ch), NULL, 0), 401); /* a prefix */
    assert_int_equal(status_of("Bearer a b", ch, sizeof(ch), NULL, 0), 400);
    assert_string_equal(ch, "Bearer realm=\"api\", error=\"invalid_request\"");
    assert_int_equal(status_of("Bearer", ch, sizeof(ch), NULL, 0), 400);
    assert_int_equal(status_of("Bearer =abc", ch, sizeof(ch), NULL, 0), 400);
    fht_stop();
    fh_middleware_release(&m);
}

static void test_bad_options(void **state) {
    (void)state;
    fh_middleware_t m;
    fh_basic_auth_options_t b = { 0 };
    assert_int_equal(fh_basic_auth_new(&m, &b), FH_ECONFIG);
    assert_non_null(strstr(fh_middleware_error(), "basic_auth.users: set users or validate"));
    static const fh_basic_user_t colon[] = { { "a", "b" }, { "x:y", "z" }, { NULL, NULL } };
    b = (fh_basic_auth_options_t){ .users = colon };
    assert_int_equal(fh_basic_auth_new(&m, &b), FH_ECONFIG);
    assert_non_null(strstr(fh_middleware_error(), "basic_auth.users[1].user: ':'"));
    static const fh_basic_user_t nopass[] = { { "a", NULL }, { NULL, NULL } };
    b = (fh_basic_auth_options_t){ .users = nopass };
    assert_int_equal(fh_basic_auth_new(&m, &b), FH_ECONFIG);
    assert_non_null(strstr(fh_middleware_error(), "basic_auth.users[0].password: required"));
    static const fh_basic_user_t ok[] = { { "a", "b" }, { NULL, NULL } };
    b = (fh_basic_auth_options_t){ .users = ok, .realm = "say \"hi\"" };
    assert_int_equal(fh_basic_auth_new(&m, &b), FH_ECONFIG);
    assert_non_null(strstr(fh_middleware_error(), "basic_auth.realm"));
    fh_bearer_auth_options_t t = { 0 };
    assert_int_equal(fh_bearer_auth_new(&m, &t), FH_ECONFIG);
    assert_non_null(strstr(fh_middleware_error(), "bearer_auth.tokens: set tokens or validate"));
    static const char *const bad[] = { "good", "not good", NULL };
    t = (fh_bearer_auth_options_t){ .tokens = bad };
    assert_int_equal(fh_bearer_auth_new(&m, &t), FH_ECONFIG);
    assert_non_null(strstr(fh_middleware_error(), "bearer_auth.tokens[1]: not a token68"));
    static const char *const none[] = { NULL };
    t = (fh_bearer_auth_options_t){ .tokens = none };
    assert_int_equal(fh_bearer_auth_new(&m, &t), FH_ECONFIG);
    assert_non_null(strstr(fh_middleware_error(), "bearer_auth.tokens: the list is empty"));
    t = (fh_bearer_auth_options_t){ .tokens = bad + 0, .realm = "r\n" };
    assert_int_equal(fh_bearer_auth_new(&m, &t), FH_ECONFIG);
}

static void test_equal(void **state) {
    (void)state;
    assert_true(fh_auth_equal(FH_STR_LIT("abc"), FH_STR_LIT("abc")));
    assert_true(fh_auth_equal(FH_STR_LIT(""), FH_STR_LIT("")));
    assert_false(fh_auth_equal(FH_STR_LIT("abc"), FH_STR_LIT("abd")));
    assert_false(fh_auth_equal(FH_STR_LIT("abc"), FH_STR_LIT("ab")));
    assert_false(fh_auth_equal(FH_STR_LIT("ab"), FH_STR_LIT("abc")));
    assert_false(fh_auth_equal(FH_STR_LIT(""), FH_STR_LIT("a")));
    /* Same bytes up to the shorter length with a trailing NUL. */
    assert_false(fh_auth_equal((fh_str_t){ "ab\0", 3 }, FH_STR_LIT("ab")));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_bearer),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_equal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
