/* A streamed body spooled to a temporary file (include/fasthttp/spool.h):
 * the body's chunks are gathered, written on the thread pool while the
 * socket pauses, and the descriptor handed to fn once the body is whole. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/request.h"
#include <fasthttp/async.h>
#include <fasthttp/body.h>
#include <fasthttp/json.h>
#include <fasthttp/spool.h>

#define SPOOL_BUFFER (256u << 10)

/* One spool, in the request's arena; buf is malloc'ed. */
typedef struct spool {
    fh_response_t *res;
    fh_spool_fn fn;
    void *data;
    int fd;
    char *buf;
    size_t cap, len, batch;
    uint64_t size;
    int err;    /* errno of a failed write */
    int failed; /* the body's error, while a write was in flight */
    bool busy;  /* a write is on the pool */
    bool end;   /* the body is complete: rewind after the write */
    bool done;  /* fn has run */
} spool_t;

/* The arena goes: the descriptor and the buffer with it. */
static void spool_release(void *data) {
    spool_t *s = data;
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    free(s->buf);
    s->buf = NULL;
}

/* Calls fn once; an error it does not answer is answered here. */
static void spool_finish(fh_request_t *req, spool_t *s, int status) {
    if (s->done)
        return;
    s->done = true;
    free(s->buf); /* not needed any more; the descriptor stays */
    s->buf = NULL;
    s->fn(req, s->res, status ? -1 : s->fd, s->size, status, s->data);
    if (status == 0 || fh_response_is_final(s->res))
        return;
    if (status == FH_ECANCELED)
        fh_response_end(s->res); /* releases it: nobody reads an answer */
    else if (status == FH_E2BIG || status == FH_ETIMEDOUT || status == FH_EINVAL)
        return; /* the core answers 413, 408, 400 (it has, when a write was in flight) */
    else
        fh_send_problem(s->res, 500, NULL, "the body could not be stored", NULL);
}

/* The pool thread: write what is gathered; at the end, rewind. */
static void spool_write(void *data) {
    spool_t *s = data;
    size_t off = 0;
    while (off < s->len && !s->err) {
        ssize_t n = write(s->fd, s->buf + off, s->len - off);
        if (n < 0 && errno != EINTR)
            s->err = errno;
        else if (n > 0)
            off += (size_t)n;
    }
    if (s->end && !s->err && lseek(s->fd, 0, SEEK_SET) != 0)
        s->err = errno;
}

static void spool_written(fh_request_t *req, fh_response_t *res, int status, void *data) {
    (void)res;
    spool_t *s = data;
    s->busy = false;
    s->len = 0;
    if (status) /* canceled before it ran: the client left */
        spool_finish(req, s, FH_ECANCELED);
    else if (s->failed)
        spool_finish(req, s, s->failed);
    else if (s->err)
        spool_finish(req, s, -s->err);
    else if (s->end)
        spool_finish(req, s, 0);
    else
        fh_request_body_resume(req);
}

static void spool_flush(fh_request_t *req, spool_t *s) {
    s->busy = fh_offload(req, spool_write, spool_written, s) == 0;
    if (!s->busy)
        spool_finish(req, s, FH_ECANCELED);
}

static int spool_body(fh_request_t *req, fh_str_t chunk, int status, void *data) {
    spool_t *s = data;
    if (s->done)
        return FH_BODY_CONTINUE;
    if (status == FH_BODY_DATA) {
        if (s->len + chunk.len > s->cap) {
            size_t cap = s->len + chunk.len < s->batch ? s->batch : s->len + chunk.len;
            char *b = realloc(s->buf, cap);
            if (!b) {
                spool_finish(req, s, FH_ENOMEM);
                return FH_BODY_CONTINUE;
            }
            s->buf = b;
            s->cap = cap;
        }
        memcpy(s->buf + s->len, chunk.ptr, chunk.len);
        s->len += chunk.len;
        s->size += chunk.len;
        if (s->len < s->batch)
            return FH_BODY_CONTINUE;
        spool_flush(req, s);
        return FH_BODY_PAUSE;
    }
    if (status == FH_BODY_END) {
        s->end = true;
        spool_flush(req, s);
        return 0;
    }
    if (s->busy)
        s->failed = status; /* fn hears it when the write is back */
    else
        spool_finish(req, s, status);
    return 0;
}

/* A file without a name in dir: O_TMPFILE, else one unlinked at once. */
static int spool_open(const char *dir) {
#ifdef O_TMPFILE
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC | O_EXCL, 0600);
    if (fd >= 0)
        return fd;
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
        return -errno;
#endif
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/.fh-spool-XXXXXX", dir) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    int tmp = mkostemp(path, O_CLOEXEC);
    if (tmp < 0)
        return -errno;
    unlink(path);
    return tmp;
}

int fh_request_body_spool(fh_request_t *req, const fh_spool_options_t *opts, fh_spool_fn fn,
                          void *data) {
    if (!fn || !fh_request_body_streaming(req))
        return FH_ESTATE;
    const char *dir = opts && opts->dir ? opts->dir : getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    spool_t *s = fh_alloc(req, sizeof(*s));
    if (!s)
        return FH_ENOMEM;
    memset(s, 0, sizeof(*s));
    s->res = &req->res;
    s->fn = fn;
    s->data = data;
    s->batch = opts && opts->buffer_bytes ? opts->buffer_bytes : SPOOL_BUFFER;
    s->fd = spool_open(dir);
    if (s->fd < 0)
        return s->fd;
    if (fh_arena_on_release(fh_request_arena(req), spool_release, s) != 0) {
        close(s->fd);
        return FH_ENOMEM;
    }
    int err = fh_request_body_read(req, spool_body, s);
    if (err) {
        s->done = true; /* fn never runs; the descriptor goes with the arena */
        return err;
    }
    return 0;
}
