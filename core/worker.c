/* Workers: one thread and one loop each, with the loop's timers, its
 * wakeup for posted callbacks and stop requests, and the order of a
 * graceful stop (see worker.h). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "core/conn.h"
#include "core/http1.h"
#include "core/metrics.h"
#include "core/takeover.h"
#include "core/worker.h"

int fh__worker_new(fh__worker_t *w, fh_server_t *s, int i) {
    w->server = s;
    w->index = i;
    pthread_mutex_init(&w->post_lock, NULL);
    int err =
        fh_arena_cache_new(&w->arena_cache, s->cfg.arena_chunk_size, s->cfg.arena_cache_bytes);
    if (err)
        return err;
    w->loop_buf = malloc(FH__LOOP_BUF_SIZE);
    return w->loop_buf ? 0 : FH_ENOMEM;
}

void fh__worker_free(fh__worker_t *w) {
    if (!w->server)
        return;
    for (int j = 0; j < w->nlisteners; j++)
        if (w->listeners[j].fd >= 0)
            close(w->listeners[j].fd);
    free(w->listeners);
    w->listeners = NULL;
    w->nlisteners = 0;
    fh__h1_parsers_free(w);
    fh_arena_cache_free(w->arena_cache);
    w->arena_cache = NULL;
    free(w->loop_buf);
    w->loop_buf = NULL;
    pthread_mutex_destroy(&w->post_lock);
    w->server = NULL;
}

/* ---------------------------------------------------------------- stopping */

static void on_handle_closed(uv_handle_t *h) { (void)h; }

/* The last step of a stop: once no connection is left and the listener is
 * closed, the loop's own handles close and the loop ends. */
static void worker_maybe_finish(fh__worker_t *w) {
    if (!w->stopping || w->nconns > 0)
        return;
    for (int j = 0; j < w->nlisteners; j++)
        if (w->listeners[j].fd >= 0)
            return;
    if (!uv_is_closing((uv_handle_t *)&w->tick)) {
        uv_close((uv_handle_t *)&w->tick, on_handle_closed);
        uv_close((uv_handle_t *)&w->drain, on_handle_closed);
        pthread_mutex_lock(&w->post_lock);
        w->wakeup_closed = true;
        uv_close((uv_handle_t *)&w->wakeup, on_handle_closed);
        pthread_mutex_unlock(&w->post_lock);
    }
}

void fh__worker_conn_count(fh__worker_t *w, int delta) {
    if (delta > 0) {
        w->nconns++;
        atomic_fetch_add_explicit(&w->server->nconns, 1, memory_order_relaxed);
    } else if (delta < 0) {
        w->nconns--;
        atomic_fetch_sub_explicit(&w->server->nconns, 1, memory_order_relaxed);
        for (int j = 0; j < w->nlisteners; j++)
            fh__listener_resume(&w->listeners[j]);
    }
    worker_maybe_finish(w);
}

static void on_drain_timeout(uv_timer_t *t) {
    fh__worker_t *w = t->data;
    fh__conn_stop_all(w, true);
    worker_maybe_finish(w);
}

/* The second step of a stop, once every worker's listener is closed: a
 * client whose connection ends now and dials again is refused by the
 * kernel, never queued behind a listener about to close (which would reset
 * it) nor accepted by a worker about to end it. Taken-over connections
 * close; every connection answers what it has received and ends. */
static void worker_maybe_drain(fh__worker_t *w) {
    fh_server_t *s = w->server;
    if (!w->stopping || w->draining || atomic_load(&s->listeners_closed) < s->nworkers)
        return;
    w->draining = true;
    fh__takeover_close_all(w);
    fh__conn_stop_all(w, false);
}

/* A graceful stop: the listener takes what the kernel has queued and
 * closes (a later client is refused, not reset); once all workers' have,
 * connections drain (worker_maybe_drain); what is left after
 * timeouts.drain_ms is closed. */
static void worker_begin_stop(fh__worker_t *w) {
    if (w->stopping)
        return;
    fh_server_t *s = w->server;
    w->stopping = true;
    pthread_mutex_lock(&s->handover_lock); /* not while a restart dups them */
    for (int j = 0; j < w->nlisteners; j++)
        fh__listener_close(&w->listeners[j]);
    pthread_mutex_unlock(&s->handover_lock);
    uv_timer_start(&w->drain, on_drain_timeout, s->cfg.timeouts.drain_ms, 0);
    if (atomic_fetch_add(&s->listeners_closed, 1) + 1 == s->nworkers) {
        for (int i = 0; i < s->nworkers; i++)
            if (&s->workers[i] != w)
                fh__worker_wake(&s->workers[i]);
    }
    worker_maybe_drain(w);
    worker_maybe_finish(w);
}

/* ------------------------------------------------------------------- loop */

static void on_tick(uv_timer_t *t) {
    fh__worker_t *w = t->data;
    fh__date_update(&w->date, time(NULL));
    fh__conn_sweep(w);
    for (int j = 0; j < w->nlisteners; j++)
        fh__listener_resume(&w->listeners[j]);
    worker_maybe_finish(w);
}

static void on_wakeup(uv_async_t *a) {
    fh__worker_t *w = a->data;
    pthread_mutex_lock(&w->post_lock);
    fh__post_t *list = w->posts;
    w->posts = NULL;
    pthread_mutex_unlock(&w->post_lock);
    /* Run posted callbacks in the order they were posted. */
    fh__post_t *rev = NULL;
    while (list) {
        fh__post_t *next = list->next;
        list->next = rev;
        rev = list;
        list = next;
    }
    while (rev) {
        fh__post_t *next = rev->next;
        rev->fn(rev->data);
        free(rev);
        rev = next;
    }
    if (atomic_load(&w->server->stop_requested)) {
        worker_begin_stop(w);
        worker_maybe_drain(w);
    }
}

static void close_leftover(uv_handle_t *h, void *arg) {
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

void *fh__worker_main(void *arg) {
    fh__worker_t *w = arg;
    fh__worker_current = w;
    uv_run(&w->loop, UV_RUN_DEFAULT);
    /* Close whatever user code left open on this loop, then the loop. */
    uv_walk(&w->loop, close_leftover, NULL);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    uv_loop_close(&w->loop);
    return NULL;
}

static uint64_t tick_interval(const fh_timeouts_t *t) {
    uint32_t m = t->header_ms;
    if (t->body_ms < m)
        m = t->body_ms;
    if (t->keepalive_ms < m)
        m = t->keepalive_ms;
    if (t->write_ms < m)
        m = t->write_ms;
    uint64_t iv = m / 4;
    if (iv < 10)
        iv = 10;
    if (iv > 1000)
        iv = 1000;
    return iv;
}

int fh__worker_init(fh__worker_t *w) {
    int err = uv_loop_init(&w->loop);
    if (err)
        return err;
    w->loop.data = w;
    for (int j = 0; j < w->nlisteners; j++) {
        err = fh__listener_start(&w->listeners[j], w);
        if (err)
            return err;
    }
    uv_timer_init(&w->loop, &w->tick);
    w->tick.data = w;
    uv_timer_init(&w->loop, &w->drain);
    w->drain.data = w;
    uv_async_init(&w->loop, &w->wakeup, on_wakeup);
    w->wakeup.data = w;
    fh__date_update(&w->date, time(NULL));
    uint64_t iv = tick_interval(&w->server->cfg.timeouts);
    uv_timer_start(&w->tick, on_tick, iv, iv);
    return 0;
}

/* ------------------------------------------------------------------ posts */

int fh__worker_post(fh__worker_t *w, fh_loop_fn fn, void *data, bool while_stopping) {
    fh_server_t *s = w->server;
    fh__post_t *p = malloc(sizeof(*p));
    if (!p)
        return FH_ENOMEM;
    p->fn = fn;
    p->data = data;
    pthread_mutex_lock(&w->post_lock);
    if (!s->started || w->wakeup_closed || (!while_stopping && atomic_load(&s->stop_requested))) {
        pthread_mutex_unlock(&w->post_lock);
        free(p);
        return FH_ESTATE;
    }
    p->next = w->posts;
    w->posts = p;
    uv_async_send(&w->wakeup);
    pthread_mutex_unlock(&w->post_lock);
    return 0;
}

void fh__worker_wake(fh__worker_t *w) {
    pthread_mutex_lock(&w->post_lock);
    if (!w->wakeup_closed)
        uv_async_send(&w->wakeup);
    pthread_mutex_unlock(&w->post_lock);
}

void fh__worker_drop_posts(fh__worker_t *w) {
    fh__post_t *p = w->posts;
    while (p) {
        fh__post_t *next = p->next;
        free(p);
        p = next;
    }
    w->posts = NULL;
}
