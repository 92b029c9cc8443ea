/* PostgreSQL on the worker loops (include/fasthttp/pg.h): libpq's
 * non-blocking connections in pipeline mode, each watched by a uv_poll_t of
 * its loop. Every query is sent as its own group (Parse when its prepared
 * statement is new to the connection, then Bind/Execute, then Sync), so an
 * error ends only its own group; groups queue up on a connection while it is
 * busy and their results come back in order. The queries handlers ask
 * during one turn of the loop are sent together at its end (on_turn). Rows
 * are read one at a time (single-row mode) within the result limits. */
#include "fasthttp/pg.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "fasthttp/async.h"
#include "fasthttp/json.h"

#define PG_MAX_LOOPS 256
#define PG_MAX_STMTS 256
#define PG_SWEEP_MS 20
#define PG_BACKOFF_MIN_MS 100
#define PG_BACKOFF_MAX_MS 5000
#define PG_MAX_PARAMS 65535
#define PG_MAX_DEPTH 1024
/* A connection whose oldest query has been in flight this long is passed
 * over by new queries while another connection has room. */
#define PG_STALL_MS 20

typedef struct pg_loop pg_loop_t;
typedef struct pg_conn pg_conn_t;

enum { Q_PLAIN, Q_BEGIN, Q_END };
/* What a query in flight waits for: its statement's Parse, its own
 * results, the Sync that ends its group. */
enum { STEP_PREP, STEP_EXEC, STEP_SYNC };

typedef struct pg_query {
    struct pg_query *next;
    pg_loop_t *lp;
    pg_conn_t *pc;            /* in flight on it, else NULL */
    fh_pg_tx_t *tx;           /* NULL: any connection of the loop */
    const fh_pg_stmt_t *stmt; /* NULL: sql */
    fh_request_t *req;
    fh_response_t *res;
    fh_pg_result_fn cb; /* NULL: sent by the library itself, or dropped */
    void *data;
    uint64_t deadline;
    uint64_t sent_at;
    unsigned cancel_gen; /* the connection's count of cancels when sent */
    int kind;
    int nparams;
    int fail_status; /* set when queued on the failed list */
    int step;
    bool answered;      /* its callback has run: what still comes is dropped */
    bool abandoned;     /* answered before its end (timeout, limit, client) */
    bool cancel_target; /* a cancel request was sent for it */
    bool retry;         /* canceled by a request meant for another query */
    bool retried;
    PGresult *acc; /* the rows so far */
    size_t rows, bytes;
    char *sql;
    char **params;
} pg_query_t;

struct fh_pg_stmt {
    unsigned index;
    int nparams;
    char *name;
    char *sql;
};

enum { PG_DOWN, PG_CONNECTING, PG_UP };

struct pg_conn {
    pg_loop_t *lp;
    PGconn *c;
    uv_poll_t *poll; /* the current one; a closed one frees itself */
    int state;
    int events;
    pg_query_t *head, *tail; /* in flight, in the order sent */
    unsigned depth;
    fh_pg_tx_t *tx; /* the transaction holding it */
    uint64_t retry_at;
    uint64_t connect_deadline;
    uint32_t backoff;
    unsigned cancels;    /* cancel requests not yet through */
    unsigned cancel_gen; /* cancel requests ever sent */
    unsigned epoch;      /* bumped when the connection fails */
    uint64_t prepared[PG_MAX_STMTS / 64];
};

struct fh_pg_tx {
    pg_loop_t *lp;
    pg_conn_t *pc;           /* held connection, NULL before BEGIN is sent and after */
    pg_query_t *head, *tail; /* waiting for BEGIN to be sent */
    fh_request_t *req;
    fh_response_t *res;
    unsigned refs; /* the request, and each query naming it */
    int fail;      /* non-zero: every later query gets it */
    bool ended;    /* COMMIT or ROLLBACK asked */
};

struct pg_loop {
    fh_pg_t *pg;
    uv_loop_t *loop;
    uv_timer_t sweep;
    uv_timer_t kick;
    uv_check_t turn; /* sends the queries asked during this turn of the loop */
    bool turn_armed;
    pg_query_t *head, *tail;          /* waiting for a connection */
    pg_query_t *failed, *failed_tail; /* answered on the next turn, in order */
    unsigned n;
    pg_conn_t conns[];
};

struct fh_pg {
    char *conninfo;
    unsigned conns_per_loop;
    unsigned depth;
    uint32_t timeout_ms;
    uint32_t connect_timeout_ms;
    size_t max_rows;
    size_t max_bytes;
    fh_pg_stmt_t *stmts[PG_MAX_STMTS];
    unsigned nstmts;
    atomic_bool started;
    _Atomic(uv_loop_t *) slot_loop[PG_MAX_LOOPS];
    _Atomic(pg_loop_t *) slot_lp[PG_MAX_LOOPS];
};

static void conn_dispatch(pg_loop_t *lp);
static void on_kick(uv_timer_t *t);
static void conn_fail(pg_conn_t *pc);
static void conn_send(pg_conn_t *pc, pg_query_t *q);
static void tx_fail(fh_pg_tx_t *tx, int status);
static void conn_cancel(pg_conn_t *pc, pg_query_t *q);

/* ------------------------------------------------------------ config */

static int bad(const char *field, const char *why) {
    fprintf(stderr, "fasthttp: pg.%s: %s\n", field, why);
    return FH_EINVAL;
}

fh_pg_t *fh_pg_new(const fh_pg_config_t *cfg, int *err) {
    int e = FH_EINVAL;
    fh_pg_t *pg = NULL;
    char why[128];
    if (!cfg) {
        e = bad("config", "required");
        goto fail;
    }
    const char *conninfo = cfg->conninfo ? cfg->conninfo : getenv("DATABASE_URL");
    if (!conninfo || !*conninfo) {
        e = bad("conninfo", "required (or DATABASE_URL in the environment)");
        goto fail;
    }
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
    if (!opts) {
        PQfreemem(perr);
        e = bad("conninfo", "not a connection string libpq can parse (not shown: it may hold a "
                            "password)");
        goto fail;
    }
    PQconninfoFree(opts);
    if (cfg->conns_per_loop > 64) {
        snprintf(why, sizeof why, "%u is over 64", cfg->conns_per_loop);
        e = bad("conns_per_loop", why);
        goto fail;
    }
    if (cfg->pipeline_depth > PG_MAX_DEPTH) {
        snprintf(why, sizeof why, "%u is over %d", cfg->pipeline_depth, PG_MAX_DEPTH);
        e = bad("pipeline_depth", why);
        goto fail;
    }
    if (cfg->query_timeout_ms > 86400000u) {
        snprintf(why, sizeof why, "%u is over 86400000 (a day)", (unsigned)cfg->query_timeout_ms);
        e = bad("query_timeout_ms", why);
        goto fail;
    }
    if (cfg->connect_timeout_ms > 600000u) {
        snprintf(why, sizeof why, "%u is over 600000 (10 minutes)",
                 (unsigned)cfg->connect_timeout_ms);
        e = bad("connect_timeout_ms", why);
        goto fail;
    }
    if (cfg->max_result_rows > (size_t)INT32_MAX) {
        snprintf(why, sizeof why, "%zu is over %d", cfg->max_result_rows, INT32_MAX);
        e = bad("max_result_rows", why);
        goto fail;
    }
    e = FH_ENOMEM;
    pg = calloc(1, sizeof(*pg));
    if (!pg || !(pg->conninfo = strdup(conninfo)))
        goto fail;
    pg->conns_per_loop = cfg->conns_per_loop ? cfg->conns_per_loop : 2;
    pg->depth = cfg->pipeline_depth ? cfg->pipeline_depth : 32;
    pg->timeout_ms = cfg->query_timeout_ms ? cfg->query_timeout_ms : 30000;
    pg->connect_timeout_ms = cfg->connect_timeout_ms ? cfg->connect_timeout_ms : 10000;
    pg->max_rows = cfg->max_result_rows ? cfg->max_result_rows : 100000;
    pg->max_bytes = cfg->max_result_bytes ? cfg->max_result_bytes : (size_t)64 << 20;
    return pg;
fail:
    free(pg);
    if (err)
        *err = e;
    return NULL;
}

const fh_pg_stmt_t *fh_pg_prepare(fh_pg_t *pg, const char *name, const char *sql, int nparams,
                                  int *err) {
    int e = FH_EINVAL;
    char why[160];
    fh_pg_stmt_t *st = NULL;
    if (!pg || !name || !sql) {
        e = bad("prepare", "pg, name and sql are required");
        goto fail;
    }
    size_t len = strlen(name);
    if (len == 0 || len > 63) {
        snprintf(why, sizeof why, "statement name \"%.63s\" is empty or over 63 bytes", name);
        e = bad("prepare", why);
        goto fail;
    }
    if (nparams < 0 || nparams > PG_MAX_PARAMS) {
        snprintf(why, sizeof why, "statement \"%s\": %d parameters (0..%d)", name, nparams,
                 PG_MAX_PARAMS);
        e = bad("prepare", why);
        goto fail;
    }
    if (atomic_load(&pg->started)) {
        snprintf(why, sizeof why, "statement \"%s\": the client has run queries already", name);
        e = bad("prepare", why);
        e = FH_ESTATE;
        goto fail;
    }
    for (unsigned i = 0; i < pg->nstmts; i++) {
        if (!strcmp(pg->stmts[i]->name, name)) {
            snprintf(why, sizeof why, "statement \"%s\" is prepared already", name);
            bad("prepare", why);
            e = FH_EEXIST;
            goto fail;
        }
    }
    if (pg->nstmts == PG_MAX_STMTS) {
        snprintf(why, sizeof why, "statement \"%s\": over %d statements", name, PG_MAX_STMTS);
        e = bad("prepare", why);
        goto fail;
    }
    e = FH_ENOMEM;
    size_t slen = strlen(sql);
    st = malloc(sizeof(*st) + len + 1 + slen + 1);
    if (!st)
        goto fail;
    st->index = pg->nstmts;
    st->nparams = nparams;
    st->name = (char *)(st + 1);
    memcpy(st->name, name, len + 1);
    st->sql = st->name + len + 1;
    memcpy(st->sql, sql, slen + 1);
    pg->stmts[pg->nstmts++] = st;
    return st;
fail:
    if (err)
        *err = e;
    return NULL;
}

static void query_free(pg_query_t *q);
static void tx_unref(fh_pg_tx_t *tx);

static void free_list(pg_query_t *q) {
    for (pg_query_t *n; q; q = n) {
        n = q->next;
        query_free(q);
    }
}

void fh_pg_free(fh_pg_t *pg) {
    if (!pg)
        return;
    for (int i = 0; i < PG_MAX_LOOPS; i++) {
        pg_loop_t *lp = atomic_load(&pg->slot_lp[i]);
        if (!lp)
            continue;
        for (unsigned k = 0; k < lp->n; k++) {
            pg_conn_t *pc = &lp->conns[k];
            if (pc->c)
                PQfinish(pc->c);
            free(pc->poll);
            fh_pg_tx_t *tx = pc->tx;
            if (tx) {
                pc->tx = NULL;
                tx->pc = NULL;
                tx->refs++;
                free_list(tx->head);
                tx->head = NULL;
            }
            free_list(pc->head);
            if (tx)
                tx_unref(tx);
        }
        free_list(lp->head);
        free_list(lp->failed);
        free(lp);
    }
    for (unsigned i = 0; i < pg->nstmts; i++)
        free(pg->stmts[i]);
    free(pg->conninfo);
    free(pg);
}

/* ------------------------------------------------------------ queries */

static uint64_t now_ms(pg_loop_t *lp) { return uv_now(lp->loop); }

static void tx_unref(fh_pg_tx_t *tx) {
    if (--tx->refs == 0 && !tx->pc)
        free(tx);
}

static void query_free(pg_query_t *q) {
    if (q->acc)
        PQclear(q->acc);
    if (q->tx)
        tx_unref(q->tx);
    free(q);
}

/* Runs q's callback, once; q itself stays (one in flight is freed when its
 * group has ended). */
static void query_answer(pg_query_t *q, int status, const PGresult *r) {
    if (q->answered)
        return;
    q->answered = true;
    if (q->kind == Q_BEGIN && q->tx && (status || PQresultStatus(r) != PGRES_COMMAND_OK))
        tx_fail(q->tx, status ? status : FH_ESTATE);
    fh_pg_result_fn cb = q->cb;
    q->cb = NULL;
    if (cb) {
        fh_json_scope_t scope = fh_json_arena_begin(fh_request_arena(q->req));
        cb(q->req, q->res, status, r, q->data);
        fh_json_scope_end(scope);
    }
}

static void fail_later(pg_loop_t *lp, pg_query_t *q, int status) {
    q->pc = NULL;
    q->fail_status = status;
    q->next = NULL;
    if (lp->failed_tail)
        lp->failed_tail->next = q;
    else
        lp->failed = q;
    lp->failed_tail = q;
    uv_timer_start(&lp->kick, on_kick, 0, 0);
}

static void on_kick(uv_timer_t *t) {
    pg_loop_t *lp = t->data;
    while (lp->failed) {
        pg_query_t *q = lp->failed;
        lp->failed = q->next;
        if (!lp->failed)
            lp->failed_tail = NULL;
        query_answer(q, q->fail_status, NULL);
        query_free(q);
    }
}

static pg_query_t *query_new(pg_loop_t *lp, fh_request_t *req, fh_response_t *res, const char *sql,
                             int nparams, const char *const *params, fh_pg_result_fn cb,
                             void *data) {
    size_t len =
        sizeof(pg_query_t) + (size_t)nparams * sizeof(char *) + (sql ? strlen(sql) : 0) + 1;
    for (int i = 0; i < nparams; i++)
        len += params[i] ? strlen(params[i]) + 1 : 0;
    pg_query_t *q = malloc(len);
    if (!q)
        return NULL;
    memset(q, 0, sizeof(*q));
    q->lp = lp;
    q->req = req;
    q->res = res;
    q->cb = cb;
    q->data = data;
    q->nparams = nparams;
    q->deadline = now_ms(lp) + lp->pg->timeout_ms;
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
    if (sql)
        memcpy(p, sql, strlen(sql) + 1);
    else
        *p = '\0';
    return q;
}

/* ------------------------------------------------------------ connections */

static void poll_closed(uv_handle_t *h) { free(h); }

static void conn_watch(pg_conn_t *pc, int events);

static bool stmt_prepared(const pg_conn_t *pc, const fh_pg_stmt_t *st) {
    return pc->prepared[st->index / 64] >> (st->index % 64) & 1;
}

static void stmt_mark(pg_conn_t *pc, const fh_pg_stmt_t *st, bool on) {
    uint64_t bit = (uint64_t)1 << (st->index % 64);
    if (on)
        pc->prepared[st->index / 64] |= bit;
    else
        pc->prepared[st->index / 64] &= ~bit;
}

/* Asks the server, from a pool thread, to stop what pc runs. */
typedef struct pg_cancel {
    uv_work_t work;
    PGcancel *cancel;
    pg_conn_t *conn;
} pg_cancel_t;

static void cancel_work(uv_work_t *w) {
    pg_cancel_t *pc = w->data;
    char buf[256];
    PQcancel(pc->cancel, buf, sizeof buf);
}

static void cancel_done(uv_work_t *w, int status) {
    (void)status;
    pg_cancel_t *c = w->data;
    pg_conn_t *pc = c->conn;
    PQfreeCancel(c->cancel);
    free(c);
    /* Queries waiting for a connection may take this one again. */
    if (--pc->cancels == 0 && pc->state == PG_UP)
        conn_dispatch(pc->lp);
}

/* Asks the server to cancel q, the oldest query in flight on pc. A query
 * sent after it that the request stops instead (the server may have
 * finished q already) is sent again (query_result). */
static void conn_cancel(pg_conn_t *pc, pg_query_t *q) {
    pg_cancel_t *c = malloc(sizeof(*c));
    if (!c)
        return;
    c->cancel = PQgetCancel(pc->c);
    c->conn = pc;
    c->work.data = c;
    if (!c->cancel || uv_queue_work(pc->lp->loop, &c->work, cancel_work, cancel_done) != 0) {
        if (c->cancel)
            PQfreeCancel(c->cancel);
        free(c);
        return;
    }
    q->cancel_target = true;
    pc->cancels++;
    pc->cancel_gen++;
}

/* One row of a single-row result into q's result; FH_E2BIG past a limit. */
static int query_add_row(pg_query_t *q, const PGresult *r) {
    const fh_pg_t *pg = q->lp->pg;
    int nf = PQnfields(r);
    size_t bytes = 0;
    for (int f = 0; f < nf; f++)
        bytes += (size_t)PQgetlength(r, 0, f);
    if (q->rows + 1 > pg->max_rows || bytes > pg->max_bytes - q->bytes)
        return FH_E2BIG;
    if (!q->acc) {
        q->acc = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
        PGresAttDesc *d = calloc(nf ? (size_t)nf : 1, sizeof(*d));
        if (!q->acc || !d) {
            free(d);
            return FH_ENOMEM;
        }
        for (int f = 0; f < nf; f++) {
            d[f].name = PQfname(r, f);
            d[f].tableid = PQftable(r, f);
            d[f].columnid = PQftablecol(r, f);
            d[f].format = PQfformat(r, f);
            d[f].typid = PQftype(r, f);
            d[f].typlen = PQfsize(r, f);
            d[f].atttypmod = PQfmod(r, f);
        }
        int ok = PQsetResultAttrs(q->acc, nf, d);
        free(d);
        if (!ok)
            return FH_ENOMEM;
    }
    for (int f = 0; f < nf; f++) {
        bool null = PQgetisnull(r, 0, f);
        if (!PQsetvalue(q->acc, (int)q->rows, f, null ? NULL : PQgetvalue(r, 0, f),
                        null ? -1 : PQgetlength(r, 0, f)))
            return FH_ENOMEM;
    }
    q->rows++;
    q->bytes += bytes;
    return 0;
}

/* Answers q (in flight on pc) now with status; its results, still to come,
 * are dropped. The server is asked to stop it when it is the oldest query
 * of the connection (later ones are asked by the sweep once they are). */
static void query_abandon_inflight(pg_conn_t *pc, pg_query_t *q, int status) {
    q->abandoned = true;
    query_answer(q, status, NULL);
    if (q == pc->head && q->step != STEP_SYNC && !q->cancel_target && pc->state == PG_UP)
        conn_cancel(pc, q);
}

static bool is_sqlstate(const PGresult *r, const char *code) {
    const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    return s && !strcmp(s, code);
}

/* A result of q, the oldest query in flight on pc (not its Sync). */
static void query_result(pg_conn_t *pc, pg_query_t *q, PGresult *r) {
    ExecStatusType st = PQresultStatus(r);
    if (q->step == STEP_PREP) {
        if (st != PGRES_COMMAND_OK) {
            stmt_mark(pc, q->stmt, false); /* asked again next time */
            if (!q->answered)
                query_answer(q, 0, r);
        }
        PQclear(r);
        return;
    }
    if (q->answered || q->retry) {
        PQclear(r);
        return;
    }
    if (st == PGRES_SINGLE_TUPLE) {
        int e = query_add_row(q, r);
        PQclear(r);
        if (e)
            query_abandon_inflight(pc, q, e); /* the rest is read and dropped */
        return;
    }
    if (st == PGRES_FATAL_ERROR && is_sqlstate(r, "57014") && !q->cancel_target && !q->tx &&
        !q->retried && q->cancel_gen != pc->cancel_gen) {
        /* Stopped by a cancel request meant for an earlier query: sent
         * again once its group has ended. */
        q->retry = true;
        PQclear(r);
        return;
    }
    if (q->kind == Q_END && !strcmp(q->sql, "COMMIT") && st == PGRES_COMMAND_OK &&
        !strcmp(PQcmdStatus(r), "ROLLBACK")) {
        query_answer(q, FH_ESTATE, r); /* the transaction had failed */
    } else if (st == PGRES_TUPLES_OK && q->acc) {
        PGresult *all = q->acc;
        q->acc = NULL;
        query_answer(q, 0, all);
        PQclear(all);
    } else {
        query_answer(q, 0, r);
    }
    PQclear(r);
}

/* q's group has ended (its Sync came back); q is off pc's list. */
static void query_ended(pg_conn_t *pc, pg_query_t *q) {
    pg_loop_t *lp = pc->lp;
    q->pc = NULL;
    if (q->retry && !q->answered) {
        /* First in line on the loop, to any connection but by a new cancel. */
        if (q->acc) {
            PQclear(q->acc);
            q->acc = NULL;
        }
        q->rows = q->bytes = 0;
        q->retry = false;
        q->retried = true;
        q->next = lp->head;
        lp->head = q;
        if (!lp->tail)
            lp->tail = q;
        conn_dispatch(lp);
        return;
    }
    if (!q->answered)
        query_answer(q, FH_ENOTCONN, NULL); /* no result came: not expected */
    fh_pg_tx_t *tx = q->tx;
    if (tx && q->kind == Q_END && pc->tx == tx) {
        if (!pc->head && PQtransactionStatus(pc->c) != PQTRANS_IDLE) {
            /* The COMMIT or ROLLBACK failed (canceled, say): the block is
             * still open on the server, rolled back before the connection
             * is given back. */
            pg_query_t *rb = query_new(lp, NULL, NULL, "ROLLBACK", 0, NULL, NULL, NULL);
            query_free(q);
            if (!rb) {
                conn_fail(pc);
                return;
            }
            rb->kind = Q_END;
            rb->tx = tx;
            tx->refs++;
            conn_send(pc, rb);
            return;
        }
        /* Committed or rolled back: the connection goes back to the loop. */
        pc->tx = NULL;
        tx->pc = NULL;
        query_free(q); /* frees tx with its last reference */
        conn_dispatch(lp);
        return;
    }
    query_free(q);
}

static void conn_read(pg_conn_t *pc) {
    if (!PQconsumeInput(pc->c)) {
        conn_fail(pc);
        return;
    }
    unsigned epoch = pc->epoch;
    while (pc->head && !PQisBusy(pc->c)) {
        pg_query_t *q = pc->head;
        PGresult *r = PQgetResult(pc->c);
        if (!r) {
            /* The end of one command's results. */
            if (q->step == STEP_PREP) {
                q->step = STEP_EXEC;
                PQsetSingleRowMode(pc->c);
            } else if (q->step == STEP_EXEC) {
                q->step = STEP_SYNC;
            } else {
                break;
            }
            continue;
        }
        if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            pc->head = q->next;
            if (!pc->head)
                pc->tail = NULL;
            pc->depth--;
            q->next = NULL;
            /* libpq is now at the next group: rows one at a time from here. */
            if (pc->head && pc->head->step == STEP_EXEC)
                PQsetSingleRowMode(pc->c);
            query_ended(pc, q);
            if (pc->epoch != epoch)
                return;
            if (!pc->head && pc->lp->head)
                conn_dispatch(pc->lp);
            continue;
        }
        query_result(pc, q, r);
        if (pc->epoch != epoch)
            return; /* failed from inside a callback */
    }
    if (!pc->head && PQstatus(pc->c) == CONNECTION_BAD)
        conn_fail(pc);
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
        if (PQsetnonblocking(pc->c, 1) != 0 || PQenterPipelineMode(pc->c) != 1) {
            conn_fail(pc);
            return;
        }
        pc->state = PG_UP;
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
        unsigned epoch = pc->epoch;
        conn_flush(pc);
        if (pc->epoch != epoch)
            return;
    }
    if (events & UV_READABLE)
        conn_read(pc);
}

static void conn_watch(pg_conn_t *pc, int events) {
    if (!pc->poll || pc->events == events)
        return;
    pc->events = events;
    uv_poll_start(pc->poll, events, on_poll);
}

static void conn_start(pg_conn_t *pc) {
    pg_loop_t *lp = pc->lp;
    memset(pc->prepared, 0, sizeof pc->prepared);
    pc->connect_deadline = now_ms(lp) + lp->pg->connect_timeout_ms;
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

/* Whether a query may wait for a connection of lp: one is up, or is being
 * opened for the first time (or after a good one). One reconnecting after a
 * failure does not count: queries meanwhile get FH_ENOTCONN at once. */
static bool loop_reachable(pg_loop_t *lp) {
    for (unsigned k = 0; k < lp->n; k++) {
        const pg_conn_t *pc = &lp->conns[k];
        if (pc->state == PG_UP || (pc->state == PG_CONNECTING && pc->backoff == 0))
            return true;
    }
    return false;
}

static void conn_fail(pg_conn_t *pc) {
    pg_loop_t *lp = pc->lp;
    pc->epoch++;
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
    fh_pg_tx_t *tx = pc->tx;
    if (tx) {
        pc->tx = NULL;
        tx->pc = NULL;
        tx->refs++; /* kept while its queries are failed */
    }
    /* Every query in flight gets FH_ENOTCONN (on the next turn). */
    pg_query_t *q = pc->head;
    pc->head = pc->tail = NULL;
    pc->depth = 0;
    for (pg_query_t *n; q; q = n) {
        n = q->next;
        if (q->answered)
            query_free(q);
        else
            fail_later(lp, q, FH_ENOTCONN);
    }
    if (tx) {
        tx_fail(tx, FH_ENOTCONN);
        tx_unref(tx);
    }
    if (!loop_reachable(lp)) {
        while (lp->head) {
            pg_query_t *w = lp->head;
            lp->head = w->next;
            fail_later(lp, w, FH_ENOTCONN);
        }
        lp->tail = NULL;
    }
}

/* Sends q on pc as one pipeline group: Parse when its statement is new to
 * the connection, Bind/Execute, Sync. */
static void conn_send(pg_conn_t *pc, pg_query_t *q) {
    bool first = !pc->head;
    q->next = NULL;
    if (pc->tail)
        pc->tail->next = q;
    else
        pc->head = q;
    pc->tail = q;
    pc->depth++;
    q->pc = pc;
    q->sent_at = now_ms(pc->lp);
    q->cancel_gen = pc->cancel_gen;
    q->step = STEP_EXEC;
    const fh_pg_stmt_t *st = q->stmt;
    int ok = 1;
    if (st && !stmt_prepared(pc, st)) {
        ok = PQsendPrepare(pc->c, st->name, st->sql, 0, NULL);
        stmt_mark(pc, st, true);
        q->step = STEP_PREP;
    }
    if (ok)
        ok = st ? PQsendQueryPrepared(pc->c, st->name, q->nparams, (const char *const *)q->params,
                                      NULL, NULL, 0)
                : PQsendQueryParams(pc->c, q->sql, q->nparams, NULL, (const char *const *)q->params,
                                    NULL, NULL, 0);
    if (ok && first && q->step == STEP_EXEC)
        PQsetSingleRowMode(pc->c);
    if (ok)
        ok = PQpipelineSync(pc->c);
    if (!ok) {
        conn_fail(pc);
        return;
    }
    if (q->kind == Q_BEGIN && q->tx) {
        /* The transaction's connection from now on; what it asked so far
         * follows BEGIN. */
        fh_pg_tx_t *tx = q->tx;
        pc->tx = tx;
        tx->pc = pc;
        unsigned epoch = pc->epoch;
        while (tx->head && pc->epoch == epoch) {
            pg_query_t *w = tx->head;
            tx->head = w->next;
            if (!tx->head)
                tx->tail = NULL;
            conn_send(pc, w);
        }
        if (pc->epoch != epoch)
            return;
    }
    conn_flush(pc);
}

/* The connection a new query goes to: an idle one, else the one with the
 * fewest queries in flight among those not stalled, else NULL (all full,
 * down, held by a transaction or waiting for a cancel request). */
static pg_conn_t *conn_pick(pg_loop_t *lp) {
    pg_conn_t *best = NULL;
    bool best_stalled = true;
    uint64_t now = now_ms(lp);
    for (unsigned k = 0; k < lp->n; k++) {
        pg_conn_t *pc = &lp->conns[k];
        if (pc->state != PG_UP || pc->tx || pc->cancels || pc->depth >= lp->pg->depth)
            continue;
        if (pc->depth == 0)
            return pc;
        bool stalled = now - pc->head->sent_at >= PG_STALL_MS;
        if (!best || (best_stalled && !stalled) ||
            (best_stalled == stalled && pc->depth < best->depth)) {
            best = pc;
            best_stalled = stalled;
        }
    }
    return best;
}

/* Whether pc takes another query now (as conn_pick sees it). */
static bool conn_has_room(const pg_conn_t *pc) {
    return pc->state == PG_UP && !pc->tx && !pc->cancels && pc->depth < pc->lp->pg->depth;
}

/* Sends the queries waiting for a connection while one has room: in runs
 * of up to half of pipeline_depth to one connection (chosen by conn_pick)
 * before the next is chosen. Spread one by one over idle connections, each
 * query would wake a database process of its own; a run finds it awake. */
static void conn_dispatch(pg_loop_t *lp) {
    unsigned run = lp->pg->depth / 2 ? lp->pg->depth / 2 : 1, sent = 0;
    pg_conn_t *pc = NULL;
    while (lp->head) {
        if (!pc || sent >= run || !conn_has_room(pc)) {
            if (!(pc = conn_pick(lp)))
                break;
            sent = 0;
        }
        pg_query_t *q = lp->head;
        lp->head = q->next;
        if (!lp->head)
            lp->tail = NULL;
        q->next = NULL;
        conn_send(pc, q);
        sent++;
    }
}

/* Takes q off the list at *head (tail updated); whether it was there. */
static bool list_remove(pg_query_t **head, pg_query_t **tail, pg_query_t *q) {
    pg_query_t **pp = head, *prev = NULL;
    while (*pp && *pp != q) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (!*pp)
        return false;
    *pp = q->next;
    if (*tail == q)
        *tail = prev;
    q->next = NULL;
    return true;
}

/* Answers q now with status, wherever it waits (queued or in flight; one
 * already failed is answered on the next turn anyway). */
static void query_abandon(pg_query_t *q, int status) {
    pg_loop_t *lp = q->lp;
    if (q->pc) {
        query_abandon_inflight(q->pc, q, status);
        return;
    }
    if ((q->tx && list_remove(&q->tx->head, &q->tx->tail, q)) ||
        list_remove(&lp->head, &lp->tail, q)) {
        query_answer(q, status, NULL);
        query_free(q);
    }
}

static void on_sweep(uv_timer_t *t) {
    pg_loop_t *lp = t->data;
    uint64_t now = now_ms(lp);
    for (unsigned k = 0; k < lp->n; k++) {
        pg_conn_t *pc = &lp->conns[k];
        unsigned epoch = pc->epoch;
        for (pg_query_t *q = pc->head; q; q = q->next) {
            if (!q->answered && q->deadline <= now) {
                query_abandon_inflight(pc, q, FH_ETIMEDOUT);
                if (pc->epoch != epoch)
                    break; /* q is gone with the connection */
            }
        }
        /* An abandoned query that has come to the front is stopped too. */
        pg_query_t *h = pc->head;
        if (pc->epoch == epoch && h && h->abandoned && !h->cancel_target && h->step != STEP_SYNC &&
            !pc->cancels && pc->state == PG_UP)
            conn_cancel(pc, h);
        while (pc->tx && pc->tx->head && pc->tx->head->deadline <= now)
            query_abandon(pc->tx->head, FH_ETIMEDOUT);
    }
    while (lp->head && lp->head->deadline <= now)
        query_abandon(lp->head, FH_ETIMEDOUT);
    for (unsigned k = 0; k < lp->n; k++) {
        pg_conn_t *pc = &lp->conns[k];
        if (pc->state == PG_CONNECTING && pc->connect_deadline <= now)
            conn_fail(pc); /* no answer to the connection attempt in time */
        else if (pc->state == PG_DOWN && pc->retry_at <= now)
            conn_start(pc);
    }
}

/* The client went away: every query of its response on lp is answered
 * FH_ECANCELED (and stopped on the server when it runs). */
static void client_gone_on(pg_loop_t *lp, fh_response_t *res) {
    bool again = true;
    while (again) {
        again = false;
        for (pg_query_t *q = lp->head; q; q = q->next) {
            if (q->res == res && !q->answered) {
                query_abandon(q, FH_ECANCELED);
                again = true;
                break;
            }
        }
    }
    for (unsigned k = 0; k < lp->n; k++) {
        pg_conn_t *pc = &lp->conns[k];
        unsigned epoch = pc->epoch;
        for (pg_query_t *q = pc->head; q; q = q->next) {
            if (q->res == res && !q->answered) {
                query_abandon_inflight(pc, q, FH_ECANCELED);
                if (pc->epoch != epoch)
                    break;
            }
        }
    }
    /* Queries of a transaction whose BEGIN waits for a connection. */
    for (pg_query_t *q = lp->head; q; q = q->next) {
        fh_pg_tx_t *tx = q->kind == Q_BEGIN ? q->tx : NULL;
        while (tx && tx->res == res && tx->head)
            query_abandon(tx->head, FH_ECANCELED);
    }
}

/* The loops (one per fh_pg_t, the request's own loop) that hold queries of
 * a request, listed in its arena under gone_key: a request may use several
 * clients, and the one cancel callback of its response reaches them all. */
typedef struct pg_gone {
    pg_loop_t *lp;
    struct pg_gone *next;
} pg_gone_t;

static const char gone_key;

static void on_client_gone(fh_response_t *res, void *data) {
    for (pg_gone_t *g = data; g; g = g->next)
        client_gone_on(g->lp, res);
}

/* Makes the response's cancel callback reach lp's queries too. */
static int cancel_watch(fh_request_t *req, fh_response_t *res, pg_loop_t *lp) {
    pg_gone_t *head = fh_request_get(req, &gone_key);
    bool listed = false;
    for (pg_gone_t *g = head; g && !listed; g = g->next)
        listed = g->lp == lp;
    if (!listed) {
        pg_gone_t *g = fh_alloc(req, sizeof(*g));
        if (!g)
            return FH_ENOMEM;
        g->lp = lp;
        g->next = head;
        if (fh_request_set(req, &gone_key, g) != 0)
            return FH_ENOMEM;
        head = g;
    }
    fh_response_on_cancel(res, on_client_gone, head);
    return 0;
}

static pg_loop_t *loop_get(fh_pg_t *pg, uv_loop_t *loop) {
    for (int i = 0; i < PG_MAX_LOOPS; i++) {
        uv_loop_t *l = atomic_load_explicit(&pg->slot_loop[i], memory_order_acquire);
        if (l == loop) {
            pg_loop_t *lp = atomic_load_explicit(&pg->slot_lp[i], memory_order_acquire);
            if (lp)
                return lp;
        }
        if (!l)
            break;
    }
    atomic_store(&pg->started, true);
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
            uv_check_init(loop, &lp->turn);
            lp->sweep.data = lp->kick.data = lp->turn.data = lp;
            uv_unref((uv_handle_t *)&lp->sweep);
            uv_unref((uv_handle_t *)&lp->kick);
            uv_unref((uv_handle_t *)&lp->turn);
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

static int args_ok(const char *sql, int nparams, const char *const *params) {
    return sql && nparams >= 0 && nparams <= PG_MAX_PARAMS && (nparams == 0 || params);
}

/* Queries asked by handlers leave together once this turn of the loop has
 * run its I/O callbacks (a check handle), not one by one as each is asked:
 * every query still goes with its own Sync (libpq 15 writes to the socket at
 * each), but written back to back they reach a database connection that is
 * awake already, instead of waking it (and its process preempting the
 * loop's thread) once per query. */
static void on_turn(uv_check_t *h) {
    pg_loop_t *lp = h->data;
    uv_check_stop(h);
    lp->turn_armed = false;
    conn_dispatch(lp);
}

static void turn_arm(pg_loop_t *lp) {
    if (lp->turn_armed)
        return;
    lp->turn_armed = true;
    uv_check_start(&lp->turn, on_turn);
}

/* Defers res for a query; FH_EALREADY_SENT when it is final already. */
static int defer(fh_response_t *res) {
    if (fh_response_is_final(res))
        return FH_EALREADY_SENT;
    fh_response_defer(res);
    return 0;
}

static int query_submit(fh_pg_t *pg, fh_request_t *req, fh_response_t *res,
                        const fh_pg_stmt_t *stmt, const char *sql, int nparams,
                        const char *const *params, fh_pg_result_fn cb, void *data) {
    int rc = defer(res);
    if (rc)
        return rc;
    pg_loop_t *lp = loop_get(pg, fh_request_loop(req));
    if (!lp || cancel_watch(req, res, lp) != 0)
        return FH_ENOMEM;
    pg_query_t *q = query_new(lp, req, res, sql, nparams, params, cb, data);
    if (!q)
        return FH_ENOMEM;
    q->stmt = stmt;
    if (!loop_reachable(lp)) {
        fail_later(lp, q, FH_ENOTCONN);
        return 0;
    }
    if (lp->tail)
        lp->tail->next = q;
    else
        lp->head = q;
    lp->tail = q;
    turn_arm(lp);
    return 0;
}

int fh_pg_query(fh_pg_t *pg, fh_request_t *req, fh_response_t *res, const char *sql, int nparams,
                const char *const *params, fh_pg_result_fn cb, void *data) {
    if (!pg || !req || !res || !cb || !args_ok(sql, nparams, params))
        return FH_EINVAL;
    return query_submit(pg, req, res, NULL, sql, nparams, params, cb, data);
}

int fh_pg_query_prepared(fh_pg_t *pg, fh_request_t *req, fh_response_t *res,
                         const fh_pg_stmt_t *stmt, int nparams, const char *const *params,
                         fh_pg_result_fn cb, void *data) {
    if (!pg || !req || !res || !cb || !stmt || stmt->index >= pg->nstmts ||
        pg->stmts[stmt->index] != stmt || nparams != stmt->nparams || !args_ok("", nparams, params))
        return FH_EINVAL;
    return query_submit(pg, req, res, stmt, NULL, nparams, params, cb, data);
}

/* ------------------------------------------------------------ transactions */

/* Every query of tx not answered yet gets status (those waiting on the next
 * turn, those in flight now); a transaction open on its connection is
 * rolled back. */
static void tx_fail(fh_pg_tx_t *tx, int status) {
    if (!tx->fail)
        tx->fail = status;
    while (tx->head) {
        pg_query_t *q = tx->head;
        tx->head = q->next;
        fail_later(tx->lp, q, tx->fail);
    }
    tx->tail = NULL;
    pg_conn_t *pc = tx->pc;
    if (!pc)
        return;
    unsigned epoch = pc->epoch;
    for (pg_query_t *q = pc->head; q; q = q->next) {
        if (q->tx == tx && q->cb && !q->answered && q->kind != Q_BEGIN) {
            q->abandoned = true;
            query_answer(q, tx->fail, NULL);
            if (pc->epoch != epoch || tx->pc != pc)
                return;
        }
    }
    if (!tx->ended) {
        tx->ended = true;
        pg_query_t *rb = query_new(tx->lp, NULL, NULL, "ROLLBACK", 0, NULL, NULL, NULL);
        if (!rb) {
            conn_fail(pc);
            return;
        }
        rb->kind = Q_END;
        rb->tx = tx;
        tx->refs++;
        conn_send(pc, rb);
    }
}

static void tx_request_done(fh_request_t *req, void *data) {
    (void)req;
    fh_pg_tx_t *tx = data;
    /* Nothing may call into the request any more. */
    for (pg_query_t *q = tx->head; q; q = q->next)
        q->cb = NULL;
    for (pg_query_t *q = tx->lp->failed; q; q = q->next)
        if (q->tx == tx)
            q->cb = NULL;
    for (unsigned k = 0; k < tx->lp->n; k++)
        for (pg_query_t *q = tx->lp->conns[k].head; q; q = q->next)
            if (q->tx == tx)
                q->cb = NULL;
    for (pg_query_t *q = tx->lp->head; q; q = q->next)
        if (q->tx == tx)
            q->cb = NULL;
    tx->req = NULL;
    tx->res = NULL;
    if (!tx->ended && !tx->fail) {
        tx->ended = true;
        pg_query_t *q = query_new(tx->lp, NULL, NULL, "ROLLBACK", 0, NULL, NULL, NULL);
        if (q) {
            q->kind = Q_END;
            q->tx = tx;
            tx->refs++;
            if (tx->pc) {
                conn_send(tx->pc, q);
            } else {
                if (tx->tail)
                    tx->tail->next = q;
                else
                    tx->head = q;
                tx->tail = q;
            }
        } else if (tx->pc) {
            conn_fail(tx->pc);
        }
    }
    tx_unref(tx);
}

fh_pg_tx_t *fh_pg_begin(fh_pg_t *pg, fh_request_t *req, fh_response_t *res, int *err) {
    int e = FH_EINVAL;
    fh_pg_tx_t *tx = NULL;
    pg_query_t *q = NULL;
    if (!pg || !req || !res)
        goto fail;
    if ((e = defer(res)) != 0)
        goto fail;
    e = FH_ENOMEM;
    pg_loop_t *lp = loop_get(pg, fh_request_loop(req));
    if (!lp || !(tx = calloc(1, sizeof(*tx))) ||
        !(q = query_new(lp, NULL, NULL, "BEGIN", 0, NULL, NULL, NULL)))
        goto fail;
    tx->lp = lp;
    tx->req = req;
    tx->res = res;
    tx->refs = 1;
    if (fh_request_on_done(req, tx_request_done, tx) != 0)
        goto fail;
    q->kind = Q_BEGIN;
    q->tx = tx;
    tx->refs++;
    if (!loop_reachable(lp)) {
        fail_later(lp, q, FH_ENOTCONN);
        return tx;
    }
    if (lp->tail)
        lp->tail->next = q;
    else
        lp->head = q;
    lp->tail = q;
    turn_arm(lp);
    return tx;
fail:
    free(q);
    free(tx);
    if (err)
        *err = e;
    return NULL;
}

static int tx_add(fh_pg_tx_t *tx, int kind, const fh_pg_stmt_t *stmt, const char *sql, int nparams,
                  const char *const *params, fh_pg_result_fn cb, void *data) {
    if (tx->ended || !tx->req)
        return FH_ESTATE;
    pg_query_t *q = query_new(tx->lp, tx->req, tx->res, sql, nparams, params, cb, data);
    if (!q)
        return FH_ENOMEM;
    if (cancel_watch(tx->req, tx->res, tx->lp) != 0) {
        free(q);
        return FH_ENOMEM;
    }
    q->stmt = stmt;
    q->kind = kind;
    q->tx = tx;
    tx->refs++;
    if (kind == Q_END)
        tx->ended = true;
    if (tx->fail)
        fail_later(tx->lp, q, tx->fail);
    else if (tx->pc)
        conn_send(tx->pc, q);
    else {
        if (tx->tail)
            tx->tail->next = q;
        else
            tx->head = q;
        tx->tail = q;
    }
    return 0;
}

int fh_pg_tx_query(fh_pg_tx_t *tx, const char *sql, int nparams, const char *const *params,
                   fh_pg_result_fn cb, void *data) {
    if (!tx || !cb || !args_ok(sql, nparams, params))
        return FH_EINVAL;
    return tx_add(tx, Q_PLAIN, NULL, sql, nparams, params, cb, data);
}

int fh_pg_tx_query_prepared(fh_pg_tx_t *tx, const fh_pg_stmt_t *stmt, int nparams,
                            const char *const *params, fh_pg_result_fn cb, void *data) {
    if (!tx || !cb || !stmt || nparams != stmt->nparams || !args_ok("", nparams, params) ||
        stmt->index >= tx->lp->pg->nstmts || tx->lp->pg->stmts[stmt->index] != stmt)
        return FH_EINVAL;
    return tx_add(tx, Q_PLAIN, stmt, NULL, nparams, params, cb, data);
}

int fh_pg_commit(fh_pg_tx_t *tx, fh_pg_result_fn cb, void *data) {
    if (!tx || !cb)
        return FH_EINVAL;
    return tx_add(tx, Q_END, NULL, "COMMIT", 0, NULL, cb, data);
}

int fh_pg_rollback(fh_pg_tx_t *tx, fh_pg_result_fn cb, void *data) {
    if (!tx || !cb)
        return FH_EINVAL;
    return tx_add(tx, Q_END, NULL, "ROLLBACK", 0, NULL, cb, data);
}

/* ------------------------------------------------------------ errors */

bool fh_pg_failed(int status, const PGresult *r) {
    if (status || !r)
        return true;
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK && st != PGRES_EMPTY_QUERY)
        return true;
    return false;
}

static const char *sqlstate(const PGresult *r) {
    const char *s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    return s ? s : "";
}

int fh_pg_http_status(int status, const PGresult *r) {
    switch (status) {
    case 0: break;
    case FH_ENOTCONN:
    case FH_ECANCELED: return 503;
    case FH_ETIMEDOUT: return 504;
    case FH_ESTATE: return 409;
    default: return 500;
    }
    const char *s = sqlstate(r);
    if (!strcmp(s, "23505") || !strcmp(s, "23503") || !strcmp(s, "23P01"))
        return 409;
    if (!strncmp(s, "22", 2) || !strcmp(s, "23502") || !strcmp(s, "23514"))
        return 400;
    if (!strcmp(s, "40001") || !strcmp(s, "40P01") || !strcmp(s, "53300") || !strncmp(s, "08", 2) ||
        !strcmp(s, "57P01") || !strcmp(s, "57P02") || !strcmp(s, "57P03"))
        return 503;
    if (!strcmp(s, "57014"))
        return 504;
    return 500;
}

int fh_pg_send_error(fh_response_t *res, int status, const PGresult *r) {
    int http = fh_pg_http_status(status, r);
    const char *title;
    const char *detail = NULL;
    json_t *extra = NULL;
    switch (status) {
    case 0:
        title = http == 409   ? "the change conflicts with stored data"
                : http == 400 ? "the database refused a value"
                : http == 503 ? "the database is unavailable, try again"
                : http == 504 ? "the database query was canceled"
                              : "the database query failed";
        detail = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
        /* On the heap: sending may release the request and its arena. */
        fh_json_scope_t scope = fh_json_heap_begin();
        extra = json_pack("{s:s}", "sqlstate", sqlstate(r));
        fh_json_scope_end(scope);
        break;
    case FH_ENOTCONN: title = "the database is unavailable"; break;
    case FH_ETIMEDOUT: title = "the database query timed out"; break;
    case FH_E2BIG: title = "the database result is over its size limit"; break;
    case FH_ESTATE: title = "the transaction was rolled back"; break;
    case FH_ECANCELED: title = "the request was canceled"; break;
    default: title = "the database query failed"; break;
    }
    if (http == 503)
        fh_response_header(res, "Retry-After", "1");
    int rc = fh_send_problem(res, http, title, detail, extra);
    json_decref(extra);
    return rc;
}

/* ------------------------------------------------------------ JSON */

static json_t *value_json(const PGresult *r, int row, int f) {
    if (PQgetisnull(r, row, f))
        return json_null();
    const char *v = PQgetvalue(r, row, f);
    int len = PQgetlength(r, row, f);
    switch (PQftype(r, f)) {
    case 16: /* bool */ return json_boolean(v[0] == 't');
    case 20: /* int8 */
    case 21: /* int2 */
    case 23: /* int4 */
    case 26: /* oid */ return json_integer(strtoll(v, NULL, 10));
    case 700: /* float4 */
    case 701: /* float8 */ {
        char *end;
        double d = strtod(v, &end);
        /* NaN and the infinities have no JSON number: their text. */
        if (d != d || d > 1.7976931348623157e308 || d < -1.7976931348623157e308)
            return json_stringn(v, (size_t)len);
        return json_real(d);
    }
    case 114: /* json */
    case 3802: /* jsonb */ {
        json_t *j = json_loadb(v, (size_t)len, JSON_DECODE_ANY, NULL);
        return j ? j : json_stringn(v, (size_t)len);
    }
    default: return json_stringn(v, (size_t)len);
    }
}

json_t *fh_pg_row_json(const PGresult *r, int row) {
    if (!r || row < 0 || row >= PQntuples(r))
        return NULL;
    json_t *o = json_object();
    if (!o)
        return NULL;
    int nf = PQnfields(r);
    for (int f = 0; f < nf; f++) {
        json_t *v = value_json(r, row, f);
        if (!v || json_object_set_new(o, PQfname(r, f), v) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

json_t *fh_pg_result_json(const PGresult *r) {
    if (!r)
        return NULL;
    json_t *a = json_array();
    if (!a)
        return NULL;
    int n = PQntuples(r);
    for (int i = 0; i < n; i++) {
        json_t *o = fh_pg_row_json(r, i);
        if (!o || json_array_append_new(a, o) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}
