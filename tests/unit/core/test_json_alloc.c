/* Where jansson values live: the tagged allocator, scopes, persist, and
 * arena and heap values mixed — run in both allocation modes (arena bytes,
 * and tracked heap blocks freed with the arena). Under AddressSanitizer and
 * LeakSanitizer (make asan) these also prove there is no leak, no double
 * free and no use of a request's JSON after its arena is gone. */
#include <fcntl.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "request_fixture.h"

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN 1
#endif
#endif

/* Runs body once per allocation mode, restoring the mode of the build. */
#define BOTH_MODES(...)                                                                            \
    do {                                                                                           \
        bool saved_mode = fh__json_tracking();                                                     \
        for (int mode = 0; mode < 2; mode++) {                                                     \
            fh__json_set_tracking(mode == 1);                                                      \
            __VA_ARGS__;                                                                           \
        }                                                                                          \
        fh__json_set_tracking(saved_mode);                                                         \
    } while (0)

static fh_arena_t *new_arena(void) {
    fh_arena_t *a;
    assert_int_equal(fh_arena_new(&a, fx_worker.arena_cache), 0);
    return a;
}

/* Every value node reachable from v satisfies in_arena == want. */
static void assert_tree_in_arena(const json_t *v, bool want) {
    if (json_is_true(v) || json_is_false(v) || json_is_null(v))
        return; /* static singletons */
    assert_int_equal(fh_json_in_arena(v), want);
    if (json_is_object(v)) {
        const char *k;
        json_t *m;
        json_object_foreach((json_t *)v, k, m) assert_tree_in_arena(m, want);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *m;
        json_array_foreach(v, i, m) assert_tree_in_arena(m, want);
    }
}

static json_t *sample(void) {
    return json_pack("{s:s, s:i, s:[i,i,{s:b}], s:{s:f, s:n}}", "name", "Ada", "age", 36, "list", 1,
                     2, "ok", 1, "nested", "pi", 3.25, "nothing");
}

static void test_heap_outside_scope(void **state) {
    (void)state;
    assert_null(fh_json_current_arena());
    json_t *v = sample();
    assert_non_null(v);
    assert_tree_in_arena(v, false);
    json_decref(v); /* really freed: LeakSanitizer would say otherwise */
    assert_false(fh_json_in_arena(NULL));
    assert_false(fh_json_in_arena(json_true()));
    assert_false(fh_json_in_arena(json_null()));
}

static void test_arena_scope(void **state) {
    (void)state;
    BOTH_MODES({
        fh_arena_t *a = new_arena();
        fh_arena_stats_t before, after;
        fh_arena_stats(a, &before);
        fh_json_scope_t s = fh_json_arena_begin(a);
        assert_ptr_equal(fh_json_current_arena(), a);
        json_t *v = sample();
        assert_non_null(v);
        assert_tree_in_arena(v, true);
        fh_arena_stats(a, &after);
        if (mode == 0)
            assert_true(after.used > before.used + 200); /* the values' bytes */
        json_t *copy = json_deep_copy(v);                /* still in the scope: arena */
        assert_tree_in_arena(copy, true);
        assert_true(json_equal(v, copy));
        json_decref(copy); /* frees nothing, and must not crash */
        json_decref(v);
        fh_json_scope_end(s);
        assert_null(fh_json_current_arena());
        fh_arena_release(a); /* tracked mode: the blocks are freed here */
    });
}

static void test_nested_scopes(void **state) {
    (void)state;
    BOTH_MODES({
        fh_arena_t *a = new_arena(), *b = new_arena();
        fh_json_scope_t s1 = fh_json_arena_begin(a);
        json_t *in_a = json_string("a");
        fh_json_scope_t s2 = fh_json_heap_begin();
        assert_null(fh_json_current_arena());
        json_t *on_heap = json_string("heap");
        fh_json_scope_t s3 = fh_json_arena_begin(b);
        json_t *in_b = json_string("b");
        assert_ptr_equal(fh_json_current_arena(), b);
        fh_json_scope_end(s3);
        assert_null(fh_json_current_arena());
        fh_json_scope_end(s2);
        assert_ptr_equal(fh_json_current_arena(), a);
        json_t *in_a2 = json_integer(2); /* back in a's scope (a new track record) */
        fh_json_scope_end(s1);
        assert_null(fh_json_current_arena());
        assert_true(fh_json_in_arena(in_a));
        assert_true(fh_json_in_arena(in_a2));
        assert_true(fh_json_in_arena(in_b));
        assert_false(fh_json_in_arena(on_heap));
        fh_arena_release(b);
        assert_string_equal(json_string_value(in_a), "a"); /* a is still alive */
        fh_arena_release(a);
        assert_string_equal(json_string_value(on_heap), "heap");
        json_decref(on_heap);
    });
}

/* A value made in a request and kept after it: persist makes a heap copy
 * that outlives the arena, whose every node is on the heap. */
static void test_persist_outlives_arena(void **state) {
    (void)state;
    BOTH_MODES({
        fh_arena_t *a = new_arena();
        fh_json_scope_t s = fh_json_arena_begin(a);
        json_t *v = sample();
        json_t *kept = fh_json_persist(v);
        assert_ptr_equal(fh_json_current_arena(), a); /* persist restored the scope */
        assert_non_null(kept);
        assert_tree_in_arena(kept, false);
        assert_true(json_equal(v, kept));
        json_decref(v);
        fh_json_scope_end(s);
        fh_arena_release(a);
        /* Everything in kept is readable after the arena is gone. */
        char *text = json_dumps(kept, JSON_COMPACT | JSON_SORT_KEYS);
        assert_string_equal(text, "{\"age\":36,\"list\":[1,2,{\"ok\":true}],\"name\":\"Ada\","
                                  "\"nested\":{\"nothing\":null,\"pi\":3.25}}");
        fh_json_free(text);
        json_decref(kept);
    });
    assert_null(fh_json_persist(NULL));
}

/* Arena containers holding heap values: the reference an arena container
 * takes is given back by decref'ing the container, not by the arena. */
static void test_arena_container_holds_heap_value(void **state) {
    (void)state;
    BOTH_MODES({
        json_t *shared = json_pack("{s:s}", "config", "value"); /* heap, refcount 1 */
        fh_arena_t *a = new_arena();
        fh_json_scope_t s = fh_json_arena_begin(a);
        json_t *obj = json_object();
        json_t *arr = json_array();
        assert_int_equal(json_object_set(obj, "shared", shared), 0);
        assert_int_equal(json_array_append(arr, shared), 0);
        assert_int_equal(json_object_set_new(obj, "arr", arr), 0);
        assert_int_equal(shared->refcount, 3);
        fh_str_t out = fh_json_dump(a, obj, JSON_COMPACT);
        assert_string_equal(out.ptr,
                            "{\"shared\":{\"config\":\"value\"},\"arr\":[{\"config\":\"value\"}]}");
        json_decref(obj); /* drops both references to the heap value */
        assert_int_equal(shared->refcount, 1);
        fh_json_scope_end(s);
        fh_arena_release(a);
        assert_false(fh_json_in_arena(shared));
        json_decref(shared); /* the last reference: freed */
    });
}

/* A long-lived store changed across two "requests": mutations in a heap
 * scope with persisted values, reads and serialization in the arena. */
static void test_store_across_requests(void **state) {
    (void)state;
    BOTH_MODES({
        json_t *store = json_object(); /* made at startup: heap */

        /* Request 1 stores a value it built. */
        fh_arena_t *a1 = new_arena();
        fh_json_scope_t s = fh_json_arena_begin(a1);
        json_t *user = json_pack("{s:s, s:[s,s]}", "name", "Grace", "roles", "admin", "dev");
        fh_json_scope_t h = fh_json_heap_begin();
        for (int i = 0; i < 40; i++) { /* enough keys to rehash the store */
            char key[16];
            snprintf(key, sizeof(key), "u%d", i);
            assert_int_equal(json_object_set_new(store, key, fh_json_persist(user)), 0);
        }
        fh_json_scope_end(h);
        json_decref(user);
        fh_json_scope_end(s);
        fh_arena_release(a1);

        /* Request 2 reads it, serializes it, changes and removes entries. */
        fh_arena_t *a2 = new_arena();
        s = fh_json_arena_begin(a2);
        json_t *u7 = json_object_get(store, "u7");
        assert_non_null(u7);
        assert_false(fh_json_in_arena(u7));
        fh_str_t text = fh_json_dump(a2, u7, JSON_COMPACT);
        assert_string_equal(text.ptr, "{\"name\":\"Grace\",\"roles\":[\"admin\",\"dev\"]}");
        json_t *patch = json_pack("{s:s}", "name", "Hopper"); /* arena */
        h = fh_json_heap_begin();
        assert_int_equal(json_object_update(u7, patch), 0); /* copies refs into heap */
        assert_int_equal(json_object_del(store, "u3"), 0);
        fh_json_scope_end(h);
        /* update took references to patch's members, which live in a2: make
         * the stored value independent of the request before it ends. */
        h = fh_json_heap_begin();
        assert_int_equal(json_object_set_new(store, "u7", fh_json_persist(u7)), 0);
        fh_json_scope_end(h);
        json_decref(patch);
        fh_json_scope_end(s);
        fh_arena_release(a2);

        assert_int_equal(json_object_size(store), 39);
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(store, "u7"), "name")), "Hopper");
        assert_tree_in_arena(store, false);
        json_decref(store);
    });
}

/* json_dumps memory carries the tag: fh_json_free releases it, in and out
 * of scopes. */
static void test_dumps_and_free(void **state) {
    (void)state;
    BOTH_MODES({
        json_t *v = json_pack("[i,s]", 1, "x");
        char *heap_text = json_dumps(v, JSON_COMPACT);
        assert_string_equal(heap_text, "[1,\"x\"]");
        fh_json_free(heap_text);
        fh_arena_t *a = new_arena();
        fh_json_scope_t s = fh_json_arena_begin(a);
        char *arena_text = json_dumps(v, JSON_COMPACT);
        assert_string_equal(arena_text, "[1,\"x\"]");
        fh_json_free(arena_text); /* left to the arena */
        fh_json_scope_end(s);
        fh_arena_release(a);
        json_decref(v);
        fh_json_free(NULL);
    });
}

static void *other_thread(void *arg) {
    json_t **out = arg;
    *out = json_pack("{s:i}", "thread", 1);
    return NULL;
}

/* The scope is per thread: another thread allocates on the heap while this
 * one is inside an arena scope. */
static void test_scope_is_per_thread(void **state) {
    (void)state;
    BOTH_MODES({
        fh_arena_t *a = new_arena();
        fh_json_scope_t s = fh_json_arena_begin(a);
        json_t *theirs = NULL;
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, other_thread, &theirs), 0);
        assert_int_equal(pthread_join(t, NULL), 0);
        json_t *mine = json_object();
        fh_json_scope_end(s);
        assert_non_null(theirs);
        assert_false(fh_json_in_arena(theirs));
        assert_true(fh_json_in_arena(mine));
        fh_arena_release(a);
        json_decref(theirs);
    });
}

/* Values larger than a quarter chunk take dedicated arena blocks; they go
 * with the arena too. */
static void test_large_values(void **state) {
    (void)state;
    BOTH_MODES({
        size_t n = 200000;
        char *big = malloc(n + 1);
        memset(big, 'x', n);
        big[n] = '\0';
        fh_arena_t *a = new_arena();
        fh_json_scope_t s = fh_json_arena_begin(a);
        json_t *arr = json_array();
        for (int i = 0; i < 3; i++)
            assert_int_equal(json_array_append_new(arr, json_string(big)), 0);
        for (int i = 0; i < 5000; i++) /* grows the item table many times */
            assert_int_equal(json_array_append_new(arr, json_integer(i)), 0);
        fh_str_t text = fh_json_dump(a, arr, JSON_COMPACT);
        assert_int_equal(text.len, 3 * (n + 2) + 10 * 1 + 90 * 2 + 900 * 3 + 4000 * 4 + 5002 + 2);
        assert_true(fh_json_in_arena(json_array_get(arr, 0)));
        json_decref(arr);
        fh_json_scope_end(s);
        fh_arena_release(a);
        free(big);
    });
}

/* The point of tracking mode: in a sanitizer build, reading a request's
 * JSON after its arena is gone (a value kept without fh_json_persist) is
 * reported as a use after free. The misuse runs in a child process, which
 * AddressSanitizer must stop. */
static void test_dangling_use_is_caught(void **state) {
    (void)state;
#ifdef HAVE_ASAN
    assert_true(fh__json_tracking()); /* the default of sanitizer builds */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 2); /* keep the expected report out of the test log */
        fh_arena_t *a = new_arena();
        fh_json_scope_t s = fh_json_arena_begin(a);
        json_t *v = json_string("kept without fh_json_persist");
        fh_json_scope_end(s);
        fh_arena_release(a);
        volatile char c = json_string_value(v)[0]; /* must not get past this */
        (void)c;
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_false(WIFEXITED(status) && WEXITSTATUS(status) == 0);
#else
    skip(); /* needs AddressSanitizer: runs in `make asan` */
#endif
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heap_outside_scope),
        cmocka_unit_test(test_arena_scope),
        cmocka_unit_test(test_nested_scopes),
        cmocka_unit_test(test_persist_outlives_arena),
        cmocka_unit_test(test_arena_container_holds_heap_value),
        cmocka_unit_test(test_store_across_requests),
        cmocka_unit_test(test_dumps_and_free),
        cmocka_unit_test(test_scope_is_per_thread),
        cmocka_unit_test(test_large_values),
        cmocka_unit_test(test_dangling_use_is_caught),
    };
    return cmocka_run_group_tests(tests, fx_setup, fx_teardown);
}
