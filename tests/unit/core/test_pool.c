/* The handle pool (fasthttp/pool.h): at its maximum size and past it, the
 * acquire timeout, a failing check or create, release after close, a pool
 * freed while handles are out, many threads at once, and a server freeing
 * the pool it owns. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <fasthttp.h>

/* What the callbacks saw. Handles are malloc'd ints holding their serial
 * number, so ASan reports a handle destroyed twice or never. */
typedef struct counts {
    atomic_int created, destroyed, checked;
    atomic_int fail_create; /* create fails while > 0 (and counts down) */
    atomic_int stale;       /* check says false for handles with serial <= stale */
    atomic_int in_use;      /* taken now (the stress test) */
    atomic_int most_in_use;
} counts_t;

static int make(void **out, void *data) {
    counts_t *c = data;
    if (atomic_load(&c->fail_create) > 0) {
        atomic_fetch_sub(&c->fail_create, 1);
        return FH_EAGAIN;
    }
    int *h = malloc(sizeof(int));
    if (!h)
        return FH_ENOMEM;
    *h = atomic_fetch_add(&c->created, 1) + 1;
    *out = h;
    return 0;
}

static void destroy(void *h, void *data) {
    counts_t *c = data;
    atomic_fetch_add(&c->destroyed, 1);
    free(h);
}

static bool check(void *h, void *data) {
    counts_t *c = data;
    atomic_fetch_add(&c->checked, 1);
    return *(int *)h > atomic_load(&c->stale);
}

static fh_pool_t *new_pool(counts_t *c, size_t max, bool with_check) {
    memset(c, 0, sizeof(*c));
    fh_pool_config_t pc = fh_pool_config_default();
    pc.max_size = max;
    pc.create = make;
    pc.destroy = destroy;
    pc.check = with_check ? check : NULL;
    pc.data = c;
    fh_pool_t *p;
    assert_int_equal(fh_pool_new(&p, &pc), 0);
    return p;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void test_config_refused(void **state) {
    (void)state;
    counts_t c;
    fh_pool_config_t pc = fh_pool_config_default();
    assert_int_equal(pc.max_size, 8);
    fh_pool_t *p = (fh_pool_t *)&c;
    assert_int_equal(fh_pool_new(&p, &pc), FH_EINVAL); /* no callbacks */
    assert_null(p);
    pc.create = make;
    pc.destroy = destroy;
    pc.data = &c;
    size_t bad[] = { 0, 65537, (size_t)1 << 40, SIZE_MAX };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        pc.max_size = bad[i];
        assert_int_equal(fh_pool_new(&p, &pc), FH_EINVAL);
    }
    pc.max_size = 65536;
    assert_int_equal(fh_pool_new(&p, &pc), 0);
    fh_pool_free(p);
    assert_int_equal(fh_pool_new(NULL, &pc), FH_EINVAL);
    assert_int_equal(fh_pool_new(&p, NULL), FH_EINVAL);
    void *h;
    assert_int_equal(fh_pool_acquire(NULL, 0, &h), FH_EINVAL);
    fh_pool_free(NULL);
}

/* max_size handles are opened on demand; the next acquire waits its whole
 * timeout and fails; a release hands the same handle to the next taker. */
static void test_max_size_and_timeout(void **state) {
    (void)state;
    counts_t c;
    fh_pool_t *p = new_pool(&c, 4, false);
    void *h[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(fh_pool_acquire(p, 1000, &h[i]), 0);
    assert_int_equal(atomic_load(&c.created), 4);
    assert_int_equal(fh_pool_size(p), 4);
    assert_int_equal(fh_pool_idle(p), 0);
    void *extra = (void *)1;
    assert_int_equal(fh_pool_acquire(p, 0, &extra), FH_ETIMEDOUT);
    assert_null(extra);
    double t0 = now_ms();
    assert_int_equal(fh_pool_acquire(p, 200, &extra), FH_ETIMEDOUT);
    double waited = now_ms() - t0;
    assert_true(waited >= 195);
    assert_true(waited < 10000);
    /* Far past the limit: a thousand more tries, none opens a handle. */
    for (int i = 0; i < 1000; i++)
        assert_int_equal(fh_pool_acquire(p, 0, &extra), FH_ETIMEDOUT);
    assert_int_equal(atomic_load(&c.created), 4);
    fh_pool_release(p, h[2], false);
    assert_int_equal(fh_pool_idle(p), 1);
    assert_int_equal(fh_pool_acquire(p, 0, &extra), 0);
    assert_ptr_equal(extra, h[2]); /* reused, not reopened */
    assert_int_equal(atomic_load(&c.created), 4);
    /* A broken handle frees its slot: the next acquire opens a new one. */
    fh_pool_release(p, h[0], true);
    assert_int_equal(atomic_load(&c.destroyed), 1);
    assert_int_equal(fh_pool_size(p), 3);
    assert_int_equal(fh_pool_acquire(p, 0, &h[0]), 0);
    assert_int_equal(*(int *)h[0], 5);
    fh_pool_release(p, h[0], false);
    fh_pool_release(p, h[1], false);
    fh_pool_release(p, extra, false);
    fh_pool_release(p, h[3], false);
    assert_int_equal(fh_pool_idle(p), 4);
    fh_pool_free(p);
    assert_int_equal(atomic_load(&c.destroyed), 5);
}

typedef struct taker {
    fh_pool_t *pool;
    uint32_t timeout_ms;
    int rc;
    void *handle;
    atomic_bool started;
} taker_t;

static void *take(void *arg) {
    taker_t *t = arg;
    atomic_store(&t->started, true);
    t->rc = fh_pool_acquire(t->pool, t->timeout_ms, &t->handle);
    return NULL;
}

static void wait_started(taker_t *t) {
    for (int i = 0; i < 2000 && !atomic_load(&t->started); i++) {
        struct timespec ms = { 0, 1000000 };
        nanosleep(&ms, NULL);
    }
    struct timespec settle = { 0, 50000000 }; /* into the wait, most likely */
    nanosleep(&settle, NULL);
}

/* A waiter gets the handle another thread releases, long before its
 * timeout. */
static void test_waiter_gets_released(void **state) {
    (void)state;
    counts_t c;
    fh_pool_t *p = new_pool(&c, 1, false);
    void *h;
    assert_int_equal(fh_pool_acquire(p, 0, &h), 0);
    taker_t t = { .pool = p, .timeout_ms = 30000 };
    pthread_t th;
    double t0 = now_ms();
    assert_int_equal(pthread_create(&th, NULL, take, &t), 0);
    wait_started(&t);
    fh_pool_release(p, h, false);
    pthread_join(th, NULL);
    assert_int_equal(t.rc, 0);
    assert_ptr_equal(t.handle, h);
    assert_true(now_ms() - t0 < 20000);
    fh_pool_release(p, t.handle, false);
    fh_pool_free(p);
    assert_int_equal(atomic_load(&c.created), 1);
    assert_int_equal(atomic_load(&c.destroyed), 1);
}

/* A check that fails destroys the idle handle and opens a new one; a
 * create that fails gives its error and leaves the slot free. */
static void test_check_and_create_fail(void **state) {
    (void)state;
    counts_t c;
    fh_pool_t *p = new_pool(&c, 2, true);
    void *a, *b;
    assert_int_equal(fh_pool_acquire(p, 0, &a), 0);
    assert_int_equal(fh_pool_acquire(p, 0, &b), 0);
    assert_int_equal(atomic_load(&c.checked), 0); /* new handles are not checked */
    fh_pool_release(p, a, false);
    fh_pool_release(p, b, false);
    atomic_store(&c.stale, 2); /* both stale now */
    void *h;
    assert_int_equal(fh_pool_acquire(p, 0, &h), 0);
    assert_int_equal(*(int *)h, 3);
    assert_int_equal(atomic_load(&c.checked), 2);
    assert_int_equal(atomic_load(&c.destroyed), 2);
    assert_int_equal(fh_pool_size(p), 1);
    atomic_store(&c.fail_create, 1000);
    void *x = (void *)1;
    for (int i = 0; i < 1000; i++)
        assert_int_equal(fh_pool_acquire(p, 0, &x), FH_EAGAIN);
    assert_null(x);
    assert_int_equal(fh_pool_size(p), 1); /* no slot leaked by the failures */
    assert_int_equal(fh_pool_acquire(p, 0, &x), 0);
    assert_int_equal(fh_pool_acquire(p, 0, &a), FH_ETIMEDOUT);
    fh_pool_release(p, x, false);
    fh_pool_release(p, h, false);
    fh_pool_free(p);
    assert_int_equal(atomic_load(&c.destroyed), 4);
    assert_int_equal(atomic_load(&c.created), 4);
}

/* Closing wakes a waiter with FH_ESTATE, refuses later acquires, destroys
 * idle handles at once and taken ones when they come back. */
static void test_release_after_close(void **state) {
    (void)state;
    counts_t c;
    fh_pool_t *p = new_pool(&c, 2, false);
    void *a, *b;
    assert_int_equal(fh_pool_acquire(p, 0, &a), 0);
    assert_int_equal(fh_pool_acquire(p, 0, &b), 0);
    taker_t t = { .pool = p, .timeout_ms = 60000 };
    pthread_t th;
    double t0 = now_ms();
    assert_int_equal(pthread_create(&th, NULL, take, &t), 0);
    wait_started(&t);
    fh_pool_release(p, b, false);
    pthread_join(th, NULL);
    assert_int_equal(t.rc, 0);
    t.started = false;
    assert_int_equal(pthread_create(&th, NULL, take, &t), 0);
    wait_started(&t);
    fh_pool_close(p);
    pthread_join(th, NULL);
    assert_int_equal(t.rc, FH_ESTATE);
    assert_true(now_ms() - t0 < 30000);
    void *x;
    assert_int_equal(fh_pool_acquire(p, 0, &x), FH_ESTATE);
    assert_int_equal(atomic_load(&c.destroyed), 0); /* both still out */
    fh_pool_release(p, a, false);
    assert_int_equal(atomic_load(&c.destroyed), 1);
    fh_pool_close(p); /* again: nothing changes */
    fh_pool_release(p, b, false);
    assert_int_equal(atomic_load(&c.destroyed), 2);
    assert_int_equal(fh_pool_size(p), 0);
    fh_pool_free(p);
}

/* Freed with a handle out: the last release frees it (ASan sees a leak or
 * a use after free otherwise). */
static void test_free_with_handles_out(void **state) {
    (void)state;
    counts_t c;
    fh_pool_t *p = new_pool(&c, 3, false);
    void *a, *b, *d;
    assert_int_equal(fh_pool_acquire(p, 0, &a), 0);
    assert_int_equal(fh_pool_acquire(p, 0, &b), 0);
    assert_int_equal(fh_pool_acquire(p, 0, &d), 0);
    fh_pool_release(p, d, false);
    fh_pool_free(p);
    assert_int_equal(atomic_load(&c.destroyed), 1);
    fh_pool_release(p, a, false);
    assert_int_equal(atomic_load(&c.destroyed), 2);
    fh_pool_release(p, b, true);
    assert_int_equal(atomic_load(&c.destroyed), 3);
}

#define STRESS_THREADS 8
#define STRESS_ROUNDS 20000

typedef struct stress {
    fh_pool_t *pool;
    counts_t *c;
    int timeouts;
} stress_t;

static void *hammer(void *arg) {
    stress_t *s = arg;
    for (int i = 0; i < STRESS_ROUNDS; i++) {
        void *h;
        int rc = fh_pool_acquire(s->pool, 30000, &h);
        if (rc) {
            s->timeouts++;
            continue;
        }
        int n = atomic_fetch_add(&s->c->in_use, 1) + 1;
        int most = atomic_load(&s->c->most_in_use);
        while (n > most && !atomic_compare_exchange_weak(&s->c->most_in_use, &most, n))
            ;
        (*(int *)h)++; /* the taker alone writes it: TSan sees a race otherwise */
        (*(int *)h)--;
        atomic_fetch_sub(&s->c->in_use, 1);
        fh_pool_release(s->pool, h, i % 997 == 0); /* now and then broken */
    }
    return NULL;
}

/* Eight threads, three handles: never more than three taken at once, none
 * lost, every acquire served. */
static void test_many_threads(void **state) {
    (void)state;
    counts_t c;
    fh_pool_t *p = new_pool(&c, 3, true);
    stress_t s[STRESS_THREADS];
    pthread_t th[STRESS_THREADS];
    for (int i = 0; i < STRESS_THREADS; i++) {
        s[i] = (stress_t){ .pool = p, .c = &c };
        assert_int_equal(pthread_create(&th[i], NULL, hammer, &s[i]), 0);
    }
    for (int i = 0; i < STRESS_THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(s[i].timeouts, 0);
    }
    assert_true(atomic_load(&c.most_in_use) <= 3);
    assert_true(fh_pool_size(p) <= 3);
    int broken = STRESS_THREADS * ((STRESS_ROUNDS + 996) / 997);
    assert_int_equal(atomic_load(&c.destroyed), broken);
    fh_pool_free(p);
    assert_int_equal(atomic_load(&c.created), atomic_load(&c.destroyed));
}

static int never_called(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req, (void)data;
    return fh_send_status(res, 500);
}

/* A pool handed to a server is freed with it, its idle handles destroyed. */
static void test_server_owns_pool(void **state) {
    (void)state;
    counts_t c;
    fh_pool_t *p = new_pool(&c, 2, false);
    void *a, *b;
    assert_int_equal(fh_pool_acquire(p, 0, &a), 0);
    assert_int_equal(fh_pool_acquire(p, 0, &b), 0);
    fh_pool_release(p, a, false);
    fh_pool_release(p, b, false);
    fh_server_config_t cfg = fh_server_config_default();
    cfg.host = "127.0.0.1";
    cfg.port = 0;
    cfg.threads = 1;
    cfg.handler = never_called;
    fh_server_t *server;
    assert_int_equal(fh_server_new(&server, &cfg), 0);
    assert_int_equal(fh_server_own_pool(server, p), 0);
    assert_int_equal(fh_server_own_pool(NULL, p), FH_EINVAL);
    assert_int_equal(fh_server_own_pool(server, NULL), FH_EINVAL);
    assert_int_equal(fh_server_start(server), 0);
    fh_server_stop(server);
    fh_server_free(server);
    assert_int_equal(atomic_load(&c.destroyed), 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_refused),       cmocka_unit_test(test_max_size_and_timeout),
        cmocka_unit_test(test_waiter_gets_released), cmocka_unit_test(test_check_and_create_fail),
        cmocka_unit_test(test_release_after_close),  cmocka_unit_test(test_free_with_handles_out),
        cmocka_unit_test(test_many_threads),         cmocka_unit_test(test_server_owns_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
