/* The arena serializer (core/json_dump.c) against jansson itself: byte for
 * byte the same output as json_dumps(JSON_COMPACT | JSON_ENCODE_ANY) on
 * edge cases and on thousands of random documents, and the fall-backs to
 * jansson (invalid UTF-8, very deep nesting, cycles, other flags). */
#include <float.h>
#include <limits.h>
#include <math.h>

#include "request_fixture.h"

static fh_arena_t *arena;

static int setup(void **state) {
    assert_int_equal(fx_setup(state), 0);
    return fh_arena_new(&arena, fx_worker.arena_cache);
}

static int teardown(void **state) {
    fh_arena_release(arena);
    return fx_teardown(state);
}

/* Both serializations of v must be identical, and the fast one must not
 * have fallen back. */
static void assert_same(const json_t *v) {
    char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    assert_non_null(want);
    fh_str_t got;
    int rc = fh__json_dump_compact(arena, v, &got);
    if (rc != 0)
        fail_msg("fast path refused %s (rc %d)", want, rc);
    if (got.len != strlen(want) || memcmp(got.ptr, want, got.len) != 0)
        fail_msg("differs:\n jansson: %s\n    ours: %.*s", want, (int)got.len, got.ptr);
    assert_int_equal(got.ptr[got.len], '\0');
    fh_json_free(want);
}

static void test_scalars(void **state) {
    (void)state;
    static const json_int_t ints[] = { 0, 1, -1, 9, 10, -10, 123456789, LLONG_MAX, LLONG_MIN };
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        json_t *v = json_integer(ints[i]);
        assert_same(v);
        json_decref(v);
    }
    static const double reals[] = { 0.0,
                                    -0.0,
                                    1.0,
                                    -1.5,
                                    0.1,
                                    1.0 / 3,
                                    2.5e-7,
                                    1e20,
                                    1e21,
                                    1e22,
                                    123456789012345678.0,
                                    1e100,
                                    -1e-100,
                                    5e-324,
                                    DBL_MAX,
                                    DBL_MIN,
                                    1e15,
                                    1e16,
                                    1e17,
                                    0.0001,
                                    0.00001,
                                    3.14159 };
    for (size_t i = 0; i < sizeof(reals) / sizeof(reals[0]); i++) {
        json_t *v = json_real(reals[i]);
        assert_same(v);
        json_decref(v);
    }
    assert_same(json_true());
    assert_same(json_false());
    assert_same(json_null());
}

static void test_strings(void **state) {
    (void)state;
    static const char *const texts[] = {
        "",           "plain",        "quote \" backslash \\ slash /",
        "\b\f\n\r\t", "\x01\x1f\x7f", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe2\x80\xa8",
        "</script>",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        json_t *v = json_string(texts[i]);
        assert_non_null(v);
        assert_same(v);
        json_decref(v);
    }
    json_t *nul = json_stringn("a\0b", 3);
    assert_same(nul);
    json_decref(nul);
    /* Every control character and every ASCII byte, in one string. */
    char all[128];
    for (int c = 1; c < 128; c++)
        all[c - 1] = (char)c;
    json_t *v = json_stringn(all, 127);
    assert_same(v);
    json_decref(v);
    /* Keys are escaped the same way. */
    v = json_object();
    json_object_set_new(v, "k\"\n\xc3\xa9", json_integer(1));
    json_object_set_new(v, "", json_array());
    json_object_setn_new(v, "n\0ul", 4, json_object());
    assert_same(v);
    json_decref(v);
}

/* The serializer checks eight bytes at a time and the last few in one
 * word: a byte that needs escaping (or starts a UTF-8 sequence) at every
 * position of strings of every length up to 24, alone and after an earlier
 * escape, must come out as jansson writes it. */
static void test_string_positions(void **state) {
    (void)state;
    static const char *const specials[] = { "\"",   "\\",       "\n",           "\x01",
                                            "\x1f", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                                            "\x7f", " " };
    char buf[40];
    for (size_t k = 0; k < sizeof(specials) / sizeof(specials[0]); k++) {
        size_t sl = strlen(specials[k]);
        for (size_t len = 0; len <= 24; len++) {
            for (size_t at = 0; at <= len; at++) {
                for (int early = 0; early < 2; early++) {
                    /* len plain letters, the special inserted at `at`, and
                     * with `early` a tab (escaped) in front of them. */
                    size_t n = 0;
                    if (early)
                        buf[n++] = '\t';
                    for (size_t i = 0; i < at; i++)
                        buf[n++] = (char)('a' + i % 26);
                    memcpy(buf + n, specials[k], sl);
                    n += sl;
                    for (size_t i = at; i < len; i++)
                        buf[n++] = (char)('A' + i % 26);
                    json_t *v = json_stringn(buf, n);
                    assert_non_null(v);
                    assert_same(v);
                    json_decref(v);
                }
            }
        }
    }
}

/* ---- random documents -------------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static size_t random_text(char *buf, size_t cap) {
    static const char *const pieces[] = { "a",
                                          "Z",
                                          "0",
                                          " ",
                                          "\"",
                                          "\\",
                                          "/",
                                          "\n",
                                          "\t",
                                          "\x01",
                                          "\x1f",
                                          "\x7f",
                                          "\xc3\xa9",
                                          "\xe2\x82\xac",
                                          "\xf0\x9f\x98\x80",
                                          "\xe2\x80\xa8",
                                          "\xef\xbf\xbf",
                                          "\xc2\x80",
                                          "\xf4\x8f\xbf\xbf" };
    size_t n = 0, parts = next() % 12;
    for (size_t i = 0; i < parts; i++) {
        const char *p = pieces[next() % (sizeof(pieces) / sizeof(pieces[0]))];
        size_t len = strlen(p);
        if (next() % 30 == 0) {
            p = "\0";
            len = 1;
        }
        if (n + len >= cap)
            break;
        memcpy(buf + n, p, len);
        n += len;
    }
    return n;
}

static double random_real(void) {
    switch (next() % 4) {
    case 0: return (double)(int64_t)next() / (double)(1 + next() % 1000000);
    case 1: return (double)(next() % 1000) / 8.0;
    case 2: {
        double d;
        do {
            uint64_t bits = next();
            memcpy(&d, &bits, sizeof(d));
        } while (!isfinite(d));
        return d;
    }
    default: return ldexp((double)(next() % 1000000), (int)(next() % 200) - 100);
    }
}

static json_t *random_value(int depth) {
    char buf[64];
    int kind = (int)(next() % (depth < 5 ? 8 : 6));
    switch (kind) {
    case 0: return json_integer((json_int_t)next() >> (next() % 64));
    case 1: return json_real(random_real());
    case 2: {
        size_t n = random_text(buf, sizeof(buf));
        return json_stringn(buf, n);
    }
    case 3: return json_true();
    case 4: return json_false();
    case 5: return json_null();
    case 6: {
        json_t *a = json_array();
        size_t n = next() % 6;
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, random_value(depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        size_t n = next() % 6;
        for (size_t i = 0; i < n; i++) {
            size_t kl = random_text(buf, sizeof(buf));
            json_object_setn_new(o, buf, kl, random_value(depth + 1));
        }
        return o;
    }
    }
}

static void test_random_documents(void **state) {
    (void)state;
    for (int i = 0; i < 5000; i++) {
        json_t *v = random_value(0);
        assert_non_null(v);
        assert_same(v);
        json_decref(v);
        if (i % 500 == 499) { /* keep the arena small */
            fh_arena_release(arena);
            assert_int_equal(fh_arena_new(&arena, fx_worker.arena_cache), 0);
        }
    }
}

/* ---- fall-backs ----------------------------------------------------------- */

static void test_fallbacks(void **state) {
    (void)state;
    fh_str_t out;
    /* Invalid UTF-8 (only possible with _nocheck): jansson refuses it, so
     * fh_json_dump does too. */
    json_t *bad = json_stringn_nocheck("\xff", 1);
    assert_int_equal(fh__json_dump_compact(arena, bad, &out), FH__DUMP_UNSUPPORTED);
    assert_null(fh_json_dump(arena, bad, JSON_COMPACT).ptr);
    json_decref(bad);
    /* Deeper than the bound: jansson serializes it. */
    json_t *deep = json_array(), *cur = deep;
    for (int i = 0; i < 3000; i++) {
        json_t *next_level = json_array();
        json_array_append_new(cur, next_level);
        cur = next_level;
    }
    assert_int_equal(fh__json_dump_compact(arena, deep, &out), FH__DUMP_UNSUPPORTED);
    out = fh_json_dump(arena, deep, JSON_COMPACT);
    assert_int_equal(out.len, 2 * 3001);
    assert_int_equal(out.ptr[3000], '[');
    assert_int_equal(out.ptr[3001], ']');
    json_decref(deep);
    /* Other flags go to jansson: sorted keys, indentation, ASCII. */
    json_t *v = json_pack("{s:i, s:s}", "b", 1, "a", "\xc3\xa9");
    assert_string_equal(fh_json_dump(arena, v, JSON_COMPACT | JSON_SORT_KEYS).ptr,
                        "{\"a\":\"\xc3\xa9\",\"b\":1}");
    assert_string_equal(fh_json_dump(arena, v, JSON_COMPACT | JSON_ENSURE_ASCII).ptr,
                        "{\"b\":1,\"a\":\"\\u00E9\"}");
    assert_string_equal(fh_json_dump(arena, v, 0).ptr, "{\"b\": 1, \"a\": \"\xc3\xa9\"}");
    json_decref(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars),          cmocka_unit_test(test_strings),
        cmocka_unit_test(test_string_positions), cmocka_unit_test(test_random_documents),
        cmocka_unit_test(test_fallbacks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
