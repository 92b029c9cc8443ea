/* Shared by the middleware socket tests: a server whose handler is a chain
 * of the given middleware around a test handler, and one-shot requests. */
#ifndef FH_TEST_MW_HARNESS_H
#define FH_TEST_MW_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

typedef struct mwh {
    fh_server_t *server;
    fh_chain_t *chain;
} mwh_t;

/* Starts a server with `threads` workers running chain(mws..., handler). */
static inline void mwh_start(mwh_t *h, fh_handler_fn handler, int threads,
                             const fh_middleware_t *mws, size_t n) {
    assert_int_equal(fh_chain_new(&h->chain, handler, NULL), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(fh_chain_use(h->chain, &mws[i]), 0);
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = fh_chain_handle;
    cfg.handler_data = h->chain;
    cfg.threads = threads;
    h->server = fht_server_start(&cfg);
}

static inline void mwh_stop(mwh_t *h) {
    fht_server_stop(h->server);
    fh_chain_free(h->chain);
    memset(h, 0, sizeof(*h));
}

/* Sends raw on a new connection and reads one response into *r. */
static inline void mwh_ask(const mwh_t *h, const char *raw, fht_response_t *r) {
    int fd = fht_connect(fh_server_port(h->server));
    fht_send_str(fd, raw);
    assert_int_equal(fht_read_response(fd, r, strncmp(raw, "HEAD ", 5) == 0), 0);
    fht_close(fd);
}

/* The value of header name in r ("" when absent, NULL-safe). */
static inline const char *mwh_header(const fht_response_t *r, const char *name) {
    static char v[4][512];
    static int slot;
    char *out = v[slot++ % 4];
    if (!fht_header(r, name, out, sizeof(v[0])))
        out[0] = '\0';
    return out;
}

static inline bool mwh_has(const fht_response_t *r, const char *name) {
    return fht_header(r, name, NULL, 0) != 0;
}

#endif
