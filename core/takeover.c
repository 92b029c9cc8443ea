/* Takeover: handing a connection's socket, and the bytes already read after
 * the request, to user code.
 *
 * The takeover request is the connection's last: its protocol stops
 * reading and parsing when it is asked for (ops->takeover_prepare), keeps
 * the bytes that followed the request (req->rest), and writes every earlier
 * response and the takeover's own. Once they are written it calls the
 * response's handover, set here: the socket's descriptor is duplicated into
 * a uv_tcp_t of the takeover on the same loop, and the connection closes
 * its own handle as usual: its counts, buffers and timeouts go with it,
 * while the socket stays open through the duplicate. No byte is lost in
 * between: reading stopped before the duplicate was made.
 *
 * The takeover lives in the request's arena and holds the request (users)
 * until its handle is closed. A done hook on the request tells the user when
 * the handover never happened (connection lost, server stopping).
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "core/request.h"
#include "core/takeover.h"
#include "core/worker.h"

struct fh_takeover {
    uv_tcp_t tcp; /* first: the close callback finds the takeover from it */
    fh_request_t *req;
    fh__worker_t *w;
    struct fh_takeover *prev, *next; /* the worker's open takeovers */
    fh_str_t rest;
    fh_takeover_fn on_ready;
    void *ready_data;
    fh_takeover_close_fn on_close;
    void *close_data;
    bool handed_over;
    bool closing;
};

static void takeover_handover(fh_request_t *req, uv_os_sock_t fd);

/* The request slot that finds a request's takeover. */
static const char takeover_key;

static fh_takeover_t *takeover_of(const fh_request_t *req) {
    return fh_request_get(req, &takeover_key);
}

/* Released without a handover: the user learns it once. */
static void takeover_request_done(fh_request_t *req, void *data) {
    (void)req;
    fh_takeover_t *tk = data;
    if (!tk->handed_over && tk->on_ready)
        tk->on_ready(NULL, FH_ECANCELED, tk->ready_data);
}

int fh_request_takeover(fh_response_t *res, unsigned flags, fh_takeover_fn on_ready, void *data) {
    fh_request_t *req = res->req;
    if (!on_ready)
        return FH_EINVAL;
    if ((res->flags & FH__RES_FINAL) || req->state != FH__RS_HANDLING || !req->conn)
        return FH_ESTATE;
    fh_takeover_t *tk = fh_arena_calloc(req->arena, 1, sizeof(*tk));
    if (!tk)
        return FH_ENOMEM;
    tk->req = req;
    tk->on_ready = on_ready;
    tk->ready_data = data;
    tk->rest = FH_STR_LIT("");
    /* The request's views serve the takeover long after the read buffer is
     * reused. */
    int err = fh__request_pin(req);
    if (!err)
        err = fh_request_set(req, &takeover_key, tk);
    if (!err)
        err = fh_request_on_done(req, takeover_request_done, tk);
    if (!err && (err = req->ops->takeover_prepare(req, true)) != 0)
        tk->on_ready = NULL; /* a failed call never calls back */
    if (err)
        return err;
    res->flags |= FH__RES_TAKEOVER;
    res->handover = takeover_handover;
    if (flags & FH_TAKEOVER_SILENT)
        return fh_send_raw(res, "", 0, FH_RAW_BORROW);
    return fh_response_end(res);
}

static void on_failed_open(uv_handle_t *h) { fh__request_unref(((fh_takeover_t *)h)->req); }

/* The response's handover: every byte before and of the takeover's
 * response has been written; fd is the connection's socket. */
static void takeover_handover(fh_request_t *req, uv_os_sock_t fd) {
    fh_takeover_t *tk = takeover_of(req);
    fh__worker_t *w = req->worker;
    /* A stopping server closes takeovers rather than opening new ones. */
    if (w->stopping)
        return;
    tk->rest = req->rest.ptr ? req->rest : FH_STR_LIT("");
    int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup_fd < 0)
        return;
    if (uv_tcp_init(&w->loop, &tk->tcp) != 0) {
        close(dup_fd);
        return;
    }
    if (uv_tcp_open(&tk->tcp, dup_fd) != 0) {
        close(dup_fd);
        req->users++;
        uv_close((uv_handle_t *)&tk->tcp, on_failed_open);
        return;
    }
    tk->handed_over = true;
    tk->w = w;
    tk->next = w->takeovers;
    if (w->takeovers)
        w->takeovers->prev = tk;
    w->takeovers = tk;
    req->users++; /* until the handle is closed */
    tk->on_ready(tk, 0, tk->ready_data);
}

uv_tcp_t *fh_takeover_tcp(fh_takeover_t *tk) { return &tk->tcp; }
fh_str_t fh_takeover_rest(const fh_takeover_t *tk) { return tk->rest; }
fh_request_t *fh_takeover_request(fh_takeover_t *tk) { return tk->req; }

void fh_takeover_on_close(fh_takeover_t *tk, fh_takeover_close_fn fn, void *data) {
    tk->on_close = fn;
    tk->close_data = data;
}

static void on_takeover_closed(uv_handle_t *h) {
    fh__request_unref(((fh_takeover_t *)h)->req); /* frees tk with the arena */
}

void fh_takeover_close(fh_takeover_t *tk) {
    if (tk->closing)
        return;
    tk->closing = true;
    if (tk->prev)
        tk->prev->next = tk->next;
    else
        tk->w->takeovers = tk->next;
    if (tk->next)
        tk->next->prev = tk->prev;
    if (tk->on_close)
        tk->on_close(tk, tk->close_data);
    uv_close((uv_handle_t *)&tk->tcp, on_takeover_closed);
}

int fh_takeover_detach(fh_takeover_t *tk, uv_os_sock_t *out) {
    uv_os_fd_t fd;
    int err = uv_fileno((uv_handle_t *)&tk->tcp, &fd);
    if (err)
        return err;
    int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup_fd < 0)
        return uv_translate_sys_error(errno);
    *out = dup_fd;
    fh_takeover_close(tk);
    return 0;
}

void fh__takeover_close_all(fh__worker_t *w) {
    while (w->takeovers)
        fh_takeover_close(w->takeovers);
}
