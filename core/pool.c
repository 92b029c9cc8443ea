/* A pool of handles taken and given back by any thread (fasthttp/pool.h).
 *
 * One mutex guards everything; create and destroy run outside it, so a slow
 * open does not stop other takers. `open` counts the handles open or being
 * opened (a slot is reserved before create runs and given back if it
 * fails), so at most max_size exist at once. Idle handles are a stack: the
 * one used last is warm (its statements prepared, its pages cached). The
 * struct lives until it is freed and no handle is out (`out` == 0).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include <fasthttp.h>

#include "core/worker.h"

#define POOL_MAX_SIZE 65536

struct fh_pool {
    fh_pool_config_t cfg;
    pthread_mutex_t lock;
    pthread_cond_t released; /* a handle came back, a slot freed, or closed */
    void **idle;             /* cfg.max_size slots */
    size_t nidle;
    size_t open; /* open or being opened: idle + out + creating */
    size_t out;  /* taken and not yet released */
    size_t waiting;
    bool closed;
    bool freed;
    struct fh_pool *owned_next; /* the server's list (fh_server_own_pool) */
};

fh_pool_config_t fh_pool_config_default(void) { return (fh_pool_config_t){ .max_size = 8 }; }

int fh_pool_new(fh_pool_t **out, const fh_pool_config_t *cfg) {
    if (!out)
        return FH_EINVAL;
    *out = NULL;
    if (!cfg || !cfg->create || !cfg->destroy || cfg->max_size < 1 || cfg->max_size > POOL_MAX_SIZE)
        return FH_EINVAL;
    fh_pool_t *p = calloc(1, sizeof(*p));
    if (!p)
        return FH_ENOMEM;
    p->cfg = *cfg;
    p->idle = calloc(cfg->max_size, sizeof(void *));
    if (!p->idle)
        goto error;
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr))
        goto error;
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int err = pthread_cond_init(&p->released, &attr);
    pthread_condattr_destroy(&attr);
    if (err)
        goto error;
    if (pthread_mutex_init(&p->lock, NULL)) {
        pthread_cond_destroy(&p->released);
        goto error;
    }
    *out = p;
    return 0;

error:
    free(p->idle);
    free(p);
    return FH_ENOMEM;
}

static void pool_release_struct(fh_pool_t *p) {
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->released);
    free(p->idle);
    free(p);
}

/* The absolute CLOCK_MONOTONIC time timeout_ms from now. */
static struct timespec deadline_after(uint32_t timeout_ms) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

int fh_pool_acquire(fh_pool_t *p, uint32_t timeout_ms, void **out) {
    if (!p || !out)
        return FH_EINVAL;
    *out = NULL;
    struct timespec deadline = deadline_after(timeout_ms);
    pthread_mutex_lock(&p->lock);
    for (;;) {
        if (p->closed) {
            pthread_mutex_unlock(&p->lock);
            return FH_ESTATE;
        }
        if (p->nidle > 0) {
            void *h = p->idle[--p->nidle];
            p->out++;
            pthread_mutex_unlock(&p->lock);
            if (!p->cfg.check || p->cfg.check(h, p->cfg.data)) {
                *out = h;
                return 0;
            }
            /* Stale: destroyed, and its slot is free for a new one. */
            p->cfg.destroy(h, p->cfg.data);
            pthread_mutex_lock(&p->lock);
            p->out--;
            p->open--;
            continue;
        }
        if (p->open < p->cfg.max_size) {
            p->open++; /* the slot is ours while create runs */
            p->out++;
            pthread_mutex_unlock(&p->lock);
            void *h = NULL;
            int err = p->cfg.create(&h, p->cfg.data);
            if (!err) {
                *out = h;
                return 0;
            }
            pthread_mutex_lock(&p->lock);
            p->open--;
            p->out--;
            if (p->waiting)
                pthread_cond_signal(&p->released); /* the slot is free again */
            pthread_mutex_unlock(&p->lock);
            return err < 0 ? err : FH_EINVAL;
        }
        if (timeout_ms == 0) {
            pthread_mutex_unlock(&p->lock);
            return FH_ETIMEDOUT;
        }
        p->waiting++;
        int rc = pthread_cond_timedwait(&p->released, &p->lock, &deadline);
        p->waiting--;
        if (rc == ETIMEDOUT && !p->closed && p->nidle == 0 && p->open >= p->cfg.max_size) {
            pthread_mutex_unlock(&p->lock);
            return FH_ETIMEDOUT;
        }
    }
}

void fh_pool_release(fh_pool_t *p, void *handle, bool broken) {
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    if (!broken && !p->closed) {
        p->idle[p->nidle++] = handle; /* nidle + out <= open <= max_size */
        p->out--;
        if (p->waiting)
            pthread_cond_signal(&p->released);
        pthread_mutex_unlock(&p->lock);
        return;
    }
    pthread_mutex_unlock(&p->lock);
    p->cfg.destroy(handle, p->cfg.data);
    pthread_mutex_lock(&p->lock);
    p->open--;
    p->out--;
    bool last = p->freed && p->out == 0;
    if (p->waiting)
        pthread_cond_signal(&p->released);
    pthread_mutex_unlock(&p->lock);
    if (last)
        pool_release_struct(p);
}

void fh_pool_close(fh_pool_t *p) {
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->closed = true;
    pthread_cond_broadcast(&p->released);
    while (p->nidle > 0) {
        void *h = p->idle[--p->nidle];
        p->open--;
        pthread_mutex_unlock(&p->lock);
        p->cfg.destroy(h, p->cfg.data);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
}

void fh_pool_free(fh_pool_t *p) {
    if (!p)
        return;
    fh_pool_close(p);
    pthread_mutex_lock(&p->lock);
    p->freed = true;
    /* Waiters leave at once (closed), but still hold the lock's cond: wait
     * for them before the struct goes. */
    while (p->waiting > 0) {
        pthread_mutex_unlock(&p->lock);
        sched_yield();
        pthread_mutex_lock(&p->lock);
    }
    bool now = p->out == 0;
    pthread_mutex_unlock(&p->lock);
    if (now)
        pool_release_struct(p);
}

size_t fh_pool_size(fh_pool_t *p) {
    pthread_mutex_lock(&p->lock);
    size_t n = p->open;
    pthread_mutex_unlock(&p->lock);
    return n;
}

size_t fh_pool_idle(fh_pool_t *p) {
    pthread_mutex_lock(&p->lock);
    size_t n = p->nidle;
    pthread_mutex_unlock(&p->lock);
    return n;
}

int fh_server_own_pool(fh_server_t *s, fh_pool_t *p) {
    if (!s || !p)
        return FH_EINVAL;
    pthread_mutex_lock(&s->run_lock);
    p->owned_next = s->pools;
    s->pools = p;
    pthread_mutex_unlock(&s->run_lock);
    return 0;
}

void fh__pools_free(fh_pool_t *head) {
    while (head) {
        fh_pool_t *next = head->owned_next;
        fh_pool_free(head);
        head = next;
    }
}
