/* PostgreSQL on the worker loops (include/fasthttp/pg.h): libpq's
 * non-blocking connections, each watched by a uv_poll_t of its loop. */
#include "fasthttp/pg.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "fasthttp/async.h"

#define PG_MAX_LOOPS 256
#define PG_SWEEP_MS 20
#define PG_BACKOFF_MIN_MS 100
#define PG_BACKOFF_MAX_MS 5000

typedef struct pg_loop pg_loop_t;

typedef struct pg_query {
    struct pg_query *next;
    pg_loop_t *lp;
    fh_request_t *req;
    fh_response_t *res;
    fh_pg_result_fn cb;
    void *data;
    uint64_t deadline;
    int nparams;
    int fail_status; /* set when queued on the failed list */
    char *sql;
    char **params;
} pg_query_t;

enum { PG_DOWN, PG_CONNECTING, PG_IDLE, PG_BUSY };

typedef struct pg_conn {
    pg_loop_t *lp;
    PGconn *c;
    uv_poll_t *poll; /* the current one; a closed one frees itself */
    int state;
    int events;
    pg_query_t *q; /* in flight, NULL once answered (timeout, cancel) */
    uint64_t retry_at;
    uint32_t backoff;
} pg_conn_t;

struct pg_loop {
    fh_pg_t *pg;
    uv_loop_t *loop;
    uv_timer_t sweep;
    uv_timer_t kick;
    pg_query_t *head, *tail; /* waiting for a connection */
    pg_query_t *failed;      /* answered on the next turn */
    unsigned n;
    pg_conn_t conns[];
};

struct fh_pg {
    char *conninfo;
    unsigned conns_per_loop;
    uint32_t timeout_ms;
    _Atomic(uv_loop_t *) slot_loop[PG_MAX_LOOPS];
    _Atomic(pg_loop_t *) slot_lp[PG_MAX_LOOPS];
};

static void conn_dispatch(pg_loop_t *lp);
static void on_kick(uv_timer_t *t);
static void conn_fail(pg_conn_t *pc);

int fh_pg_http_status(int status) {
    if (status == FH_ENOTCONN)
        return 503;
    if (status == FH_ETIMEDOUT)
        return 504;
    return 500;
}

fh_pg_t *fh_pg_new(const fh_pg_config_t *cfg, int *err) {
    int e = FH_EINVAL;
    fh_pg_t *pg = NULL;
    if (!cfg || !cfg->conninfo || cfg->conns_per_loop > 64)
        goto fail;
    e = FH_ENOMEM;
    pg = calloc(1, sizeof(*pg));
    if (!pg || !(pg->conninfo = strdup(cfg->conninfo)))
        goto fail;
    pg->conns_per_loop = cfg->conns_per_loop ? cfg->conns_per_loop : 2;
    pg->timeout_ms = cfg->query_timeout_ms ? cfg->query_timeout_ms : 30000;
    return pg;
fail:
    free(pg);
    if (err)
        *err = e;
    return NULL;
}

static void query_free(pg_query_t *q) { free(q); }

static void query_answer(pg_query_t *q, int status, const PGresult *r) {
    fh_response_on_cancel(q->res, NULL, NULL);
    q->cb(q->req, q->res, status, r, q->data);
    query_free(q);
}

void fh_pg_free(fh_pg_t *pg) {
    if (!pg)
        return;
    for (int i = 0; i < PG_MAX_LOOPS; i++) {
        pg_loop_t *lp = atomic_load(&pg->slot_lp[i]);
        if (!lp)
            continue;
        for (unsigned k = 0; k < lp->n; k++) {
            if (lp->conns[k].c)
                PQfinish(lp->conns[k].c);
            free(lp->conns[k].poll);
            free(lp->conns[k].q);
        }
        for (pg_query_t *q = lp->head, *n; q; q = n) {
            n = q->next;
            free(q);
        }
        for (pg_query_t *q = lp->failed, *n; q; q = n) {
            n = q->next;
            free(q);
        }
        free(lp);
    }
    free(pg->conninfo);
    free(pg);
}

static uint64_t now_ms(pg_loop_t *lp) { return uv_now(lp->loop); }

static void poll_closed(uv_handle_t *h) { free(h); }

static void conn_watch(pg_conn_t *pc, int events);

static void conn_read(pg_conn_t *pc) {
    if (!PQconsumeInput(pc->c)) {
        conn_fail(pc);
        return;
    }
    if (pc->state != PG_BUSY) {
        /* An idle connection said something: a notice, or the end. */
        if (PQstatus(pc->c) == CONNECTION_BAD)
            conn_fail(pc);
        return;
    }
    while (!PQisBusy(pc->c)) {
        PGresult *r = PQgetResult(pc->c);
        if (!r) {
            pc->state = PG_IDLE;
            conn_watch(pc, UV_READABLE);
            conn_dispatch(pc->lp);
            return;
        }
        pg_query_t *q = pc->q;
        if (q) {
            pc->q = NULL;
            query_answer(q, 0, r);
        }
        PQclear(r);
        if (pc->state != PG_BUSY)
            return; /* failed from inside the callback */
    }
}

static void conn_flush(pg_conn_t *pc) {
    int f = PQflush(pc->c);
    if (f < 0)
        conn_fail(pc);
    else
        conn_watch(pc, f ? UV_READABLE | UV_WRITABLE : UV_READABLE);
}

static void conn_connect_step(pg_conn_t *pc) {
    switch (PQconnectPoll(pc->c)) {
    case PGRES_POLLING_READING: conn_watch(pc, UV_READABLE); break;
    case PGRES_POLLING_WRITING: conn_watch(pc, UV_WRITABLE); break;
    case PGRES_POLLING_OK:
        if (PQsetnonblocking(pc->c, 1) != 0) {
            conn_fail(pc);
            return;
        }
        pc->state = PG_IDLE;
        pc->backoff = 0;
        conn_watch(pc, UV_READABLE);
        conn_dispatch(pc->lp);
        break;
    default: conn_fail(pc); break;
    }
}

static void on_poll(uv_poll_t *h, int status, int events) {
    pg_conn_t *pc = h->data;
    if (status < 0) {
        conn_fail(pc);
        return;
    }
    if (pc->state == PG_CONNECTING) {
        conn_connect_step(pc);
        return;
    }
    if (events & UV_WRITABLE) {
        conn_flush(pc);
        if (pc->state == PG_DOWN)
            return;
    }
    if (events & UV_READABLE)
        conn_read(pc);
}

static void conn_watch(pg_conn_t *pc, int events) {
    if (pc->poll && pc->events == events)
        return;
    pc->events = events;
    uv_poll_start(pc->poll, events, on_poll);
}

static void conn_start(pg_conn_t *pc) {
    pg_loop_t *lp = pc->lp;
    pc->c = PQconnectStart(lp->pg->conninfo);
    int fd = pc->c ? PQsocket(pc->c) : -1;
    if (!pc->c || PQstatus(pc->c) == CONNECTION_BAD || fd < 0) {
        conn_fail(pc);
        return;
    }
    pc->poll = malloc(sizeof(*pc->poll));
    if (!pc->poll || uv_poll_init(lp->loop, pc->poll, fd) != 0) {
        free(pc->poll);
        pc->poll = NULL;
        conn_fail(pc);
        return;
    }
    pc->poll->data = pc;
    uv_unref((uv_handle_t *)pc->poll);
    pc->state = PG_CONNECTING;
    pc->events = 0;
    conn_watch(pc, UV_WRITABLE);
}

static void fail_later(pg_loop_t *lp, pg_query_t *q, int status) {
    q->fail_status = status;
    q->next = lp->failed;
    lp->failed = q;
    uv_timer_start(&lp->kick, on_kick, 0, 0);
}

static bool loop_reachable(pg_loop_t *lp) {
    for (unsigned k = 0; k < lp->n; k++)
        if (lp->conns[k].state != PG_DOWN)
            return true;
    return false;
}

static void conn_fail(pg_conn_t *pc) {
    pg_loop_t *lp = pc->lp;
    if (pc->poll) {
        uv_close((uv_handle_t *)pc->poll, poll_closed);
        pc->poll = NULL;
    }
    if (pc->c) {
        PQfinish(pc->c);
        pc->c = NULL;
    }
    pc->state = PG_DOWN;
    pc->backoff = pc->backoff ? pc->backoff * 2 : PG_BACKOFF_MIN_MS;
    if (pc->backoff > PG_BACKOFF_MAX_MS)
        pc->backoff = PG_BACKOFF_MAX_MS;
    pc->retry_at = now_ms(lp) + pc->backoff;
    pg_query_t *q = pc->q;
    pc->q = NULL;
    if (q)
        fail_later(lp, q, FH_ENOTCONN);
    if (!loop_reachable(lp)) {
        while (lp->head) {
            pg_query_t *w = lp->head;
            lp->head = w->next;
            fail_later(lp, w, FH_ENOTCONN);
        }
        lp->tail = NULL;
    }
}

static void conn_send(pg_conn_t *pc, pg_query_t *q) {
    pc->q = q;
    pc->state = PG_BUSY;
    if (!PQsendQueryParams(pc->c, q->sql, q->nparams, NULL, (const char *const *)q->params, NULL,
                           NULL, 0)) {
        conn_fail(pc);
        return;
    }
    conn_flush(pc);
}

static void conn_dispatch(pg_loop_t *lp) {
    for (unsigned k = 0; k < lp->n && lp->head; k++) {
        pg_conn_t *pc = &lp->conns[k];
        if (pc->state != PG_IDLE)
            continue;
        pg_query_t *q = lp->head;
        lp->head = q->next;
        if (!lp->head)
            lp->tail = NULL;
        q->next = NULL;
        conn_send(pc, q);
    }
}

static void on_kick(uv_timer_t *t) {
    pg_loop_t *lp = t->data;
    while (lp->failed) {
        pg_query_t *q = lp->failed;
        lp->failed = q->next;
        query_answer(q, q->fail_status, NULL);
    }
}

typedef struct pg_cancel {
    uv_work_t work;
    PGcancel *cancel;
} pg_cancel_t;

static void cancel_work(uv_work_t *w) {
    pg_cancel_t *pc = w->data;
    char buf[256];
    PQcancel(pc->cancel, buf, sizeof buf);
}

static void cancel_done(uv_work_t *w, int status) {
    (void)status;
    pg_cancel_t *pc = w->data;
    PQfreeCancel(pc->cancel);
    free(pc);
}

/* Asks the server, from a pool thread, to stop what pc runs. */
static void conn_cancel(pg_conn_t *pc) {
    pg_cancel_t *c = malloc(sizeof(*c));
    if (!c)
        return;
    c->cancel = PQgetCancel(pc->c);
    c->work.data = c;
    if (!c->cancel || uv_queue_work(pc->lp->loop, &c->work, cancel_work, cancel_done) != 0) {
        if (c->cancel)
            PQfreeCancel(c->cancel);
        free(c);
    }
}

/* Answers q now with status, wherever it is (queued or in flight). */
static void query_abandon(pg_query_t *q, int status) {
    pg_loop_t *lp = q->lp;
    for (unsigned k = 0; k < lp->n; k++) {
        if (lp->conns[k].q == q) {
            lp->conns[k].q = NULL;
            conn_cancel(&lp->conns[k]);
            query_answer(q, status, NULL);
            return;
        }
    }
    pg_query_t **pp = &lp->head, *prev = NULL;
    while (*pp && *pp != q) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (*pp) {
        *pp = q->next;
        if (lp->tail == q)
            lp->tail = prev;
        query_answer(q, status, NULL);
    }
}

static void on_sweep(uv_timer_t *t) {
    pg_loop_t *lp = t->data;
    uint64_t now = now_ms(lp);
    for (unsigned k = 0; k < lp->n; k++) {
        pg_conn_t *pc = &lp->conns[k];
        if (pc->q && pc->q->deadline <= now)
            query_abandon(pc->q, FH_ETIMEDOUT);
    }
    while (lp->head && lp->head->deadline <= now)
        query_abandon(lp->head, FH_ETIMEDOUT);
    for (unsigned k = 0; k < lp->n; k++) {
        pg_conn_t *pc = &lp->conns[k];
        if (pc->state == PG_DOWN && pc->retry_at <= now)
            conn_start(pc);
    }
}

static void on_client_gone(fh_response_t *res, void *data) {
    (void)res;
    query_abandon(data, FH_ECANCELED);
}

static pg_loop_t *loop_get(fh_pg_t *pg, uv_loop_t *loop) {
    for (int i = 0; i < PG_MAX_LOOPS; i++) {
        uv_loop_t *l = atomic_load_explicit(&pg->slot_loop[i], memory_order_acquire);
        if (l == loop)
            return atomic_load_explicit(&pg->slot_lp[i], memory_order_acquire);
        if (!l)
            break;
    }
    pg_loop_t *lp = calloc(1, sizeof(*lp) + pg->conns_per_loop * sizeof(pg_conn_t));
    if (!lp)
        return NULL;
    lp->pg = pg;
    lp->loop = loop;
    lp->n = pg->conns_per_loop;
    for (unsigned k = 0; k < lp->n; k++)
        lp->conns[k].lp = lp;
    for (int i = 0; i < PG_MAX_LOOPS; i++) {
        uv_loop_t *expect = NULL;
        if (atomic_compare_exchange_strong(&pg->slot_loop[i], &expect, loop)) {
            uv_timer_init(loop, &lp->sweep);
            uv_timer_init(loop, &lp->kick);
            lp->sweep.data = lp->kick.data = lp;
            uv_unref((uv_handle_t *)&lp->sweep);
            uv_unref((uv_handle_t *)&lp->kick);
            uv_timer_start(&lp->sweep, on_sweep, PG_SWEEP_MS, PG_SWEEP_MS);
            atomic_store_explicit(&pg->slot_lp[i], lp, memory_order_release);
            for (unsigned k = 0; k < lp->n; k++)
                conn_start(&lp->conns[k]);
            return lp;
        }
    }
    free(lp);
    return NULL;
}

int fh_pg_query(fh_pg_t *pg, fh_request_t *req, fh_response_t *res, const char *sql, int nparams,
                const char *const *params, fh_pg_result_fn cb, void *data) {
    if (!pg || !req || !res || !sql || !cb || nparams < 0 || nparams > 65535 ||
        (nparams && !params))
        return FH_EINVAL;
    size_t len = sizeof(pg_query_t) + (size_t)nparams * sizeof(char *) + strlen(sql) + 1;
    for (int i = 0; i < nparams; i++)
        len += params[i] ? strlen(params[i]) + 1 : 0;
    pg_loop_t *lp = loop_get(pg, fh_request_loop(req));
    if (!lp)
        return FH_ENOMEM;
    pg_query_t *q = malloc(len);
    if (!q)
        return FH_ENOMEM;
    int rc = fh_response_defer(res);
    if (rc != 0 && fh_response_is_final(res)) {
        free(q);
        return rc;
    }
    memset(q, 0, sizeof(*q));
    q->lp = lp;
    q->req = req;
    q->res = res;
    q->cb = cb;
    q->data = data;
    q->nparams = nparams;
    q->deadline = now_ms(lp) + pg->timeout_ms;
    q->params = (char **)(q + 1);
    char *p = (char *)(q->params + nparams);
    for (int i = 0; i < nparams; i++) {
        if (!params[i]) {
            q->params[i] = NULL;
            continue;
        }
        size_t n = strlen(params[i]) + 1;
        memcpy(p, params[i], n);
        q->params[i] = p;
        p += n;
    }
    q->sql = p;
    memcpy(p, sql, strlen(sql) + 1);
    fh_response_on_cancel(res, on_client_gone, q);
    if (!loop_reachable(lp)) {
        fail_later(lp, q, FH_ENOTCONN);
        return 0;
    }
    if (lp->tail)
        lp->tail->next = q;
    else
        lp->head = q;
    lp->tail = q;
    conn_dispatch(lp);
    return 0;
}
