/* The middleware chain: before hooks in order, the final handler, after
 * hooks in reverse order from one commit hook, error hooks on failure.
 *
 * Per request, a chain with middleware allocates one run record in the
 * arena. It counts how many middleware were entered, so the commit hook
 * runs exactly those after hooks, and, when the chain has error hooks, it
 * is linked into a request slot so fh_chain_fail can find the chains a
 * deferred request went through. */
#include <stdlib.h>

#include "middleware/mw.h"
#include "core/request.h" /* users, fh__request_unref */

/* A before or after hook with its data and the position of its
 * middleware: the chain keeps the hooks that are set in two compact lists,
 * so a request calls them without looking at the middleware lacking one. */
typedef struct chain_hook {
    void (*fn)(void);
    void *data;
    uint32_t at;
} chain_hook_t;

struct fh_chain {
    fh_handler_fn handler;
    void *handler_data;
    fh_middleware_t *mws;
    chain_hook_t *befores, *afters; /* capacity cap each */
    uint32_t n, cap, nbefore, nafter;
    bool has_after, has_error;
};

typedef struct chain_run {
    const fh_chain_t *chain;
    struct chain_run *outer; /* the enclosing chain's run (error hooks) */
    uint32_t entered;        /* middleware reached (before hook ran or runs) */
    fh__hook_t commit;       /* the commit hook's storage */
    fh__slot_t slot;         /* the run slot's storage */
} chain_run_t;

/* Key of the request slot holding the innermost run with error hooks. */
static const char run_key;

int fh_chain_new(fh_chain_t **out, fh_handler_fn handler, void *handler_data) {
    *out = NULL;
    if (!handler)
        return fh__mw_fail(FH_EINVAL, "chain.handler: required");
    fh_chain_t *c = calloc(1, sizeof(*c));
    if (!c)
        return FH_ENOMEM;
    c->handler = handler;
    c->handler_data = handler_data;
    *out = c;
    return 0;
}

int fh_chain_use(fh_chain_t *chain, const fh_middleware_t *mw) {
    if (!mw || (!mw->before && !mw->after && !mw->error))
        return fh__mw_fail(FH_EINVAL, "middleware%s%s%s: needs a before, after or error hook",
                           mw && mw->name ? " \"" : "", mw && mw->name ? mw->name : "",
                           mw && mw->name ? "\"" : "");
    if (chain->n == chain->cap) {
        uint32_t ncap = chain->cap ? chain->cap * 2 : 8;
        fh_middleware_t *nm = realloc(chain->mws, ncap * sizeof(*nm));
        if (!nm)
            return FH_ENOMEM;
        chain->mws = nm;
        chain_hook_t *nb = realloc(chain->befores, ncap * sizeof(*nb));
        if (!nb)
            return FH_ENOMEM;
        chain->befores = nb;
        chain_hook_t *na = realloc(chain->afters, ncap * sizeof(*na));
        if (!na)
            return FH_ENOMEM;
        chain->afters = na;
        chain->cap = ncap;
    }
    if (mw->before)
        chain->befores[chain->nbefore++] =
            (chain_hook_t){ (void (*)(void))mw->before, mw->data, chain->n };
    if (mw->after)
        chain->afters[chain->nafter++] =
            (chain_hook_t){ (void (*)(void))mw->after, mw->data, chain->n };
    chain->mws[chain->n++] = *mw;
    if (mw->after)
        chain->has_after = true;
    if (mw->error)
        chain->has_error = true;
    return 0;
}

void fh_chain_set_handler(fh_chain_t *chain, fh_handler_fn handler, void *handler_data) {
    chain->handler = handler;
    chain->handler_data = handler_data;
}

size_t fh_chain_count(const fh_chain_t *chain) { return chain->n; }

void fh_chain_free(fh_chain_t *chain) {
    if (!chain)
        return;
    free(chain->mws);
    free(chain->befores);
    free(chain->afters);
    free(chain);
}

/* Commit hook: the after hooks of the middleware entered, innermost first. */
static void run_afters(fh_response_t *res, void *data) {
    chain_run_t *run = data;
    fh_request_t *req = fh__response_req(res);
    const fh_chain_t *c = run->chain;
    uint32_t entered = run->entered;
    const chain_hook_t *afters = c->afters;
    for (uint32_t k = c->nafter; k-- > 0;) {
        const chain_hook_t *h = &afters[k];
        if (h->at < entered)
            ((fh_after_fn)h->fn)(req, res, h->data);
    }
}

/* Error hooks of middleware [0, upto), innermost first. Returns 0 when one
 * answered, else the (possibly replaced) error. */
static int run_errors(const fh_chain_t *c, uint32_t upto, fh_request_t *req, fh_response_t *res,
                      int err) {
    for (uint32_t i = upto; i-- > 0;) {
        const fh_middleware_t *m = &c->mws[i];
        if (!m->error)
            continue;
        int rc = m->error(req, res, err, m->data);
        if (rc > 0 || fh_response_is_final(res))
            return 0;
        if (rc < 0)
            err = rc;
    }
    return err;
}

static int chain_run(fh_chain_t *c, fh_request_t *req, fh_response_t *res) {
    chain_run_t *run = NULL;
    if (c->has_after || c->has_error) {
        run = fh__alloc(req, sizeof(*run));
        if (!run)
            return FH_ENOMEM;
        run->chain = c;
        run->entered = 0;
        run->outer = NULL;
        if (c->has_after) {
            int err = fh__response_on_commit_node(res, &run->commit, run_afters, run);
            if (err)
                return err;
        }
        if (c->has_error) {
            run->outer = fh_request_get(req, &run_key);
            fh__request_set_node(req, &run->slot, &run_key, run);
        }
    }
    int rc = 0;
    uint32_t i = c->n; /* the middleware whose before hook stopped, or n */
    /* The list is read once: hooks cannot change the chain. */
    for (const chain_hook_t *h = c->befores, *end = h + c->nbefore; h < end; h++) {
        /* Counted before the hook runs: a hook that sends a response
         * triggers the commit hook from inside, and its own after hook
         * belongs to that response. Middleware without a before hook
         * ahead of it count as entered too. */
        if (run)
            run->entered = h->at + 1;
        rc = ((fh_before_fn)h->fn)(req, res, h->data);
        if (rc != FH_NEXT || fh__response_final(res)) {
            i = h->at;
            break;
        }
    }
    if (i == c->n) {
        if (run)
            run->entered = c->n;
        rc = c->handler(req, res, c->handler_data);
    } else if (rc >= 0) {
        return 0; /* a before hook answered */
    }
    if (rc < 0 && !fh_response_is_final(res) && c->has_error) {
        /* A failing before hook's own error hook is not asked. */
        rc = run_errors(c, i, req, res, rc);
    }
    return rc;
}

int fh_chain_handle(fh_request_t *req, fh_response_t *res, void *chain) {
    fh_chain_t *c = chain;
    if (c->n == 0)
        return c->handler(req, res, c->handler_data);
    return chain_run(c, req, res);
}

/* Called outside the handler, an error hook that answers ends a deferred
 * response: the connection may write it and release the request at once,
 * while run_errors and the loop below still read res. A hold (as streams
 * and offloads take) keeps the request until they are done. */
int fh_chain_fail(fh_response_t *res, int err) {
    if (fh_response_is_final(res))
        return FH_EALREADY_SENT;
    if (err >= 0)
        return FH_EINVAL;
    fh_request_t *req = fh_response_request(res);
    req->users++;
    int rc = 1;
    for (chain_run_t *run = fh_request_get(req, &run_key); run && rc; run = run->outer) {
        err = run_errors(run->chain, run->entered, req, res, err);
        if (err == 0) {
            /* Answered; a builder response left open is ended here, as the
             * core does when a handler returns. */
            if (!fh_response_is_final(res))
                fh_response_end(res);
            rc = 0;
        }
    }
    if (rc) {
        fh_response_reset(res);
        rc = fh_send_status(res, 500);
    }
    fh__request_unref(req); /* may release it */
    return rc;
}
