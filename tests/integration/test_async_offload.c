/* Deferred responses over real sockets: completed from a timer, from the
 * thread pool (fh_offload) and from a foreign thread (fh_loop_post); order
 * of pipelined deferred responses; a client leaving during deferral (cancel
 * callback, work not started is canceled, the arena released exactly once);
 * fire-and-forget work after answering; a graceful stop with offloads in
 * flight. */
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

/* Counters the loop threads write and the test thread reads. */
static atomic_int n_released; /* tracked requests (?track=1) released */
static atomic_int n_canceled; /* cancel callbacks */
static atomic_int n_done_canceled, n_done_ok, n_work_ran;
static atomic_int n_late_end; /* ends of already-canceled responses */
static atomic_int n_forget_done, n_forget_released_after_done;
static atomic_int post_seq, post_errors;
static atomic_int n_wrong_thread, n_final_estate, n_gates_running;
static sem_t pool_gate; /* holds the blocking jobs */
static uv_loop_t *_Atomic some_loop;

typedef struct job {
    fh_response_t *res;
    int ms;
    char id[16];
    pthread_t loop_thread;
    int off_loop;
    uv_timer_t timer;
    uv_loop_t *loop;
} job_t;

static void count_release(fh_request_t *req, void *data) {
    (void)req;
    (void)data;
    atomic_fetch_add(&n_released, 1);
}

static void track(fh_request_t *req) {
    if (fh_str_eq(fh_request_query(req, "track"), "1"))
        fh_request_on_done(req, count_release, NULL);
}

static job_t *job_new(fh_request_t *req, fh_response_t *res) {
    job_t *j = fh_alloc(req, sizeof(*j));
    assert_non_null(j);
    memset(j, 0, sizeof(*j));
    j->res = res;
    fh_str_t ms = fh_request_query(req, "ms");
    j->ms = ms.ptr ? atoi(fh_strndup(req, ms)) : 10;
    snprintf(j->id, sizeof(j->id), "%.*s", FH_STR_FMT(fh_request_query(req, "id")));
    j->loop_thread = pthread_self();
    j->loop = fh_request_loop(req);
    return j;
}

/* ---- completion from a timer */

static void timer_closed(uv_handle_t *h) {
    job_t *j = h->data;
    if (fh_response_is_canceled(j->res))
        atomic_fetch_add(&n_late_end, 1);
    /* Ending a canceled response is still required: it releases it. */
    fh_send_textf(j->res, 200, "timer %s", j->id);
}

static void timer_fire(uv_timer_t *t) { uv_close((uv_handle_t *)t, timer_closed); }

static void on_cancel(fh_response_t *res, void *data) {
    (void)res;
    (void)data;
    atomic_fetch_add(&n_canceled, 1);
}

/* ---- completion from the thread pool */

static void pool_work(void *data) {
    job_t *j = data;
    j->off_loop = !pthread_equal(pthread_self(), j->loop_thread);
    usleep((useconds_t)j->ms * 1000);
    atomic_fetch_add(&n_work_ran, 1);
}

static void pool_done(fh_request_t *req, fh_response_t *res, int status, void *data) {
    (void)req;
    job_t *j = data;
    if (!pthread_equal(pthread_self(), j->loop_thread)) /* back on the loop */
        atomic_fetch_add(&n_wrong_thread, 1);
    if (status == FH_ECANCELED)
        atomic_fetch_add(&n_done_canceled, 1);
    else
        atomic_fetch_add(&n_done_ok, 1);
    if (fh_response_is_canceled(res)) {
        fh_response_end(res);
        return;
    }
    fh_send_textf(res, 200, "pool %s %s", j->id, j->off_loop ? "off-loop" : "ON-LOOP");
}

static void gate_work(void *data) {
    job_t *j = data;
    j->off_loop = !pthread_equal(pthread_self(), j->loop_thread);
    atomic_fetch_add(&n_gates_running, 1);
    sem_wait(&pool_gate);
}

/* ---- fire and forget */

static void forget_work(void *data) {
    (void)data;
    usleep(200000);
}

static void forget_done(fh_request_t *req, fh_response_t *res, int status, void *data) {
    (void)req;
    (void)data;
    if (status == 0 && fh_response_is_final(res) &&
        fh_send_text(res, 200, "twice") == FH_EALREADY_SENT)
        atomic_fetch_add(&n_forget_done, 1);
}

static void forget_released(fh_request_t *req, void *data) {
    (void)req;
    (void)data;
    if (atomic_load(&n_forget_done) > 0)
        atomic_fetch_add(&n_forget_released_after_done, 1);
}

/* ---- completion from a foreign thread */

static void posted(void *data) {
    job_t *j = data;
    fh_send_textf(j->res, 200, "post %s", j->id);
}

static void *poster_main(void *data) {
    job_t *j = data;
    usleep((useconds_t)j->ms * 1000);
    if (fh_loop_post(j->loop, posted, j) != 0)
        atomic_fetch_add(&post_errors, 1);
    return NULL;
}

static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t path = fh_request_path(req);
    atomic_store(&some_loop, fh_request_loop(req));
    track(req);
    if (fh_str_eq(path, "/"))
        return fh_send_text(res, 200, "now");
    if (fh_str_eq(path, "/timer")) {
        job_t *j = job_new(req, res);
        fh_response_on_cancel(res, on_cancel, NULL);
        assert_int_equal(fh_response_defer(res), 0);
        uv_timer_init(fh_request_loop(req), &j->timer);
        j->timer.data = j;
        uv_timer_start(&j->timer, timer_fire, (uint64_t)j->ms, 0);
        return 0;
    }
    if (fh_str_eq(path, "/pool")) {
        job_t *j = job_new(req, res);
        fh_response_on_cancel(res, on_cancel, NULL);
        return fh_offload(req, pool_work, pool_done, j);
    }
    if (fh_str_eq(path, "/gate")) {
        /* Occupies a pool thread until the test opens the gate. */
        job_t *j = job_new(req, res);
        return fh_offload(req, gate_work, pool_done, j);
    }
    if (fh_str_eq(path, "/post")) {
        job_t *j = job_new(req, res);
        assert_int_equal(fh_response_defer(res), 0);
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, poster_main, j), 0);
        pthread_detach(th);
        return 0;
    }
    if (fh_str_eq(path, "/forget")) {
        fh_request_on_done(req, forget_released, NULL);
        int err = fh_offload(req, forget_work, forget_done, NULL);
        if (err)
            return err;
        return fh_send_text(res, 200, "answered first");
    }
    if (fh_str_eq(path, "/final")) {
        fh_send_text(res, 200, "final");
        if (fh_offload(req, forget_work, forget_done, NULL) == FH_ESTATE)
            atomic_fetch_add(&n_final_estate, 1);
        return 0;
    }
    return fh_send_status(res, 404);
}

static int setup(void **state) {
    (void)state;
    sem_init(&pool_gate, 0, 0);
    fht_start_handler(handler, NULL, 2);
    return 0;
}

static int teardown(void **state) {
    fht_teardown(state);
    sem_destroy(&pool_gate);
    return 0;
}

static void test_deferred_from_timer(void **state) {
    (void)state;
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "GET /timer?ms=30&id=a HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_expect(fd, 200, "timer a");
    fht_close(fd);
}

static void test_deferred_from_thread_pool(void **state) {
    (void)state;
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "GET /pool?ms=20&id=b HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_expect(fd, 200, "pool b off-loop");
    fht_close(fd);
    assert_int_equal(atomic_load(&n_wrong_thread), 0);
}

static void test_deferred_from_foreign_thread(void **state) {
    (void)state;
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "GET /post?ms=20&id=c HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_expect(fd, 200, "post c");
    fht_close(fd);
    assert_int_equal(atomic_load(&post_errors), 0);
}

static void test_pipelined_deferred_keep_order(void **state) {
    (void)state;
    int fd = fht_connect(fht_port);
    /* Completions arrive in the order 2, 5, 4, 1 (and 3 at once); the
     * responses leave in request order. */
    fht_send_str(fd, "GET /pool?ms=120&id=1 HTTP/1.1\r\nHost: t\r\n\r\n"
                     "GET /timer?ms=10&id=2 HTTP/1.1\r\nHost: t\r\n\r\n"
                     "GET / HTTP/1.1\r\nHost: t\r\n\r\n"
                     "GET /pool?ms=60&id=4 HTTP/1.1\r\nHost: t\r\n\r\n"
                     "GET /post?ms=30&id=5 HTTP/1.1\r\nHost: t\r\n\r\n"
                     "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_expect(fd, 200, "pool 1 off-loop");
    fht_expect(fd, 200, "timer 2");
    fht_expect(fd, 200, "now");
    fht_expect(fd, 200, "pool 4 off-loop");
    fht_expect(fd, 200, "post 5");
    fht_expect(fd, 200, "now");
    fht_close(fd);
}

static void test_client_leaves_during_deferral(void **state) {
    (void)state;
    int released = atomic_load(&n_released);
    int canceled = atomic_load(&n_canceled);
    int late = atomic_load(&n_late_end);
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "GET /timer?ms=500&id=gone&track=1 HTTP/1.1\r\nHost: t\r\n\r\n");
    usleep(30000); /* dispatched and deferred */
    fht_close(fd);
    fht_wait_for(&n_canceled, canceled + 1);              /* the handler is told */
    assert_int_equal(atomic_load(&n_released), released); /* still held */
    fht_wait_for(&n_late_end, late + 1);                  /* the timer ended it later */
    fht_wait_for(&n_released, released + 1);              /* and it was released once */
    usleep(50000);
    assert_int_equal(atomic_load(&n_released), released + 1);
}

static void test_client_leaves_work_not_started(void **state) {
    (void)state;
    /* UV_THREADPOOL_SIZE=2 (main): two gate jobs fill the pool, so the
     * third request's work waits in the queue when its client leaves. */
    int g1 = fht_connect(fht_port), g2 = fht_connect(fht_port);
    int gates = atomic_load(&n_gates_running);
    fht_send_str(g1, "GET /gate?id=g1 HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_send_str(g2, "GET /gate?id=g2 HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_wait_for(&n_gates_running, gates + 2); /* both pool threads are taken */
    int ran = atomic_load(&n_work_ran);
    int done_canceled = atomic_load(&n_done_canceled);
    int released = atomic_load(&n_released);
    int canceled = atomic_load(&n_canceled);
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "GET /pool?ms=1&id=never&track=1 HTTP/1.1\r\nHost: t\r\n\r\n");
    usleep(50000);
    fht_close(fd);
    fht_wait_for(&n_canceled, canceled + 1);
    fht_wait_for(&n_done_canceled, done_canceled + 1); /* done ran, with FH_ECANCELED */
    fht_wait_for(&n_released, released + 1);
    sem_post(&pool_gate);
    sem_post(&pool_gate);
    fht_expect(g1, 200, "pool g1 off-loop");
    fht_expect(g2, 200, "pool g2 off-loop");
    assert_int_equal(atomic_load(&n_work_ran), ran); /* the canceled work never ran */
    fht_close(g1);
    fht_close(g2);
}

static void test_client_leaves_during_running_work(void **state) {
    (void)state;
    int released = atomic_load(&n_released);
    int ok = atomic_load(&n_done_ok);
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "GET /pool?ms=600&id=running&track=1 HTTP/1.1\r\nHost: t\r\n\r\n");
    usleep(40000);
    fht_close(fd);
    usleep(40000);
    /* The work is running: the request waits for it. */
    assert_int_equal(atomic_load(&n_released), released);
    fht_wait_for(&n_done_ok, ok + 1);
    fht_wait_for(&n_released, released + 1);
}

static void test_fire_and_forget(void **state) {
    (void)state;
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "GET /forget HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_expect(fd, 200, "answered first"); /* before the work is done */
    assert_int_equal(atomic_load(&n_forget_done), 0);
    fht_wait_for(&n_forget_done, 1);
    fht_wait_for(&n_forget_released_after_done, 1); /* the request outlived its answer */
    fht_send_str(fd, "GET /final HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_expect(fd, 200, "final");
    assert_int_equal(atomic_load(&n_final_estate), 1); /* offload on a final response */
    fht_close(fd);
}

static void post_seq_fn(void *data) {
    int want = (int)(intptr_t)data;
    if (atomic_load(&post_seq) == want)
        atomic_fetch_add(&post_seq, 1);
}

static void *many_posts_main(void *data) {
    uv_loop_t *loop = data;
    for (int i = 0; i < 200; i++)
        if (fh_loop_post(loop, post_seq_fn, (void *)(intptr_t)i) != 0)
            atomic_fetch_add(&post_errors, 1);
    return NULL;
}

static void test_loop_post_order_and_errors(void **state) {
    (void)state;
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_expect(fd, 200, "now");
    fht_close(fd);
    uv_loop_t *loop = atomic_load(&some_loop);
    assert_non_null(loop);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, many_posts_main, loop), 0);
    pthread_join(th, NULL);
    fht_wait_for(&post_seq, 200); /* all ran, in the order posted */
    assert_int_equal(atomic_load(&post_errors), 0);

    uv_loop_t foreign;
    assert_int_equal(uv_loop_init(&foreign), 0);
    assert_int_equal(fh_loop_post(&foreign, post_seq_fn, NULL), FH_EINVAL);
    assert_int_equal(fh_loop_post(loop, NULL, NULL), FH_EINVAL);
    assert_int_equal(uv_loop_close(&foreign), 0);
}

static void test_stop_with_offloads_in_flight(void **state) {
    (void)state;
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = handler;
    cfg.threads = 1;
    fh_server_t *s = fht_server_start(&cfg);
    int p = fh_server_port(s);
    int a = fht_connect(p), b = fht_connect(p);
    fht_send_str(a, "GET /pool?ms=100&id=x HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_send_str(b, "GET /post?ms=100&id=y HTTP/1.1\r\nHost: t\r\n\r\n");
    usleep(30000);
    fh_server_stop(s);
    fht_response_t r;
    assert_int_equal(fht_read_response(a, &r, 0), 0);
    assert_string_equal(r.body, "pool x off-loop");
    char v[16];
    assert_true(fht_header(&r, "Connection", v, sizeof(v)));
    assert_string_equal(v, "close");
    fht_response_free(&r);
    /* fh_loop_post still works during the drain. */
    fht_expect(b, 200, "post y");
    assert_int_equal(fht_wait_closed(a, 2000), 1);
    assert_int_equal(fht_wait_closed(b, 2000), 1);
    fht_close(a);
    fht_close(b);
    fh_server_wait(s);
    fh_server_free(s);
    assert_int_equal(atomic_load(&post_errors), 0);
}

int main(void) {
    /* Before libuv's pool starts: two threads make "not started yet" easy. */
    setenv("UV_THREADPOOL_SIZE", "2", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deferred_from_timer),
        cmocka_unit_test(test_deferred_from_thread_pool),
        cmocka_unit_test(test_deferred_from_foreign_thread),
        cmocka_unit_test(test_pipelined_deferred_keep_order),
        cmocka_unit_test(test_client_leaves_during_deferral),
        cmocka_unit_test(test_client_leaves_work_not_started),
        cmocka_unit_test(test_client_leaves_during_running_work),
        cmocka_unit_test(test_fire_and_forget),
        cmocka_unit_test(test_loop_post_order_and_errors),
        cmocka_unit_test(test_stop_with_offloads_in_flight),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
