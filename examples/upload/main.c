/* upload: files stored as their bodies stream in (fasthttp/body.h).
 *
 *   PUT /files/:name  -> the raw body, Content-Length or chunked, stored as
 *                        UPLOAD_DIR/<name>: 201 with
 *                        {"files":[{"name","filename","size","sha256"}]}
 *   POST /files       -> every file part of a multipart/form-data body,
 *                        stored under its sanitized filename (form.c): 201
 *                        with the same "files" and the form's "fields"
 *
 * Chunks are gathered into a 512 KiB buffer, which is written and hashed
 * on libuv's thread pool (fh_offload) while reading from the socket is
 * paused (FH_BODY_PAUSE), so an upload holds about 512 KiB of memory
 * whatever its size. The body goes to a
 * temporary file in UPLOAD_DIR, renamed to its name once complete: a
 * client that leaves mid-upload leaves nothing behind. At most --max-size
 * bytes per file (MAX_SIZE, default 4 GiB): more gets 413, a declared
 * length before anything is read. A name is one path segment of letters,
 * digits, '.', '-' and '_', not starting with '.': anything else gets 400.
 * With --token (UPLOAD_TOKEN), an upload without "Authorization: Bearer
 * <token>" gets 401 before any byte of its body is read.
 *
 * Usage: upload [--host HOST] [--port PORT] [--threads N] [--dir DIR]
 * [--max-size BYTES] [--max-form BYTES] [--token TOKEN] [PORT [THREADS]] (--help lists them). Flags win over
 * the environment variables HOST (default 127.0.0.1), PORT (default 3000),
 * THREADS (0: one per CPU), UPLOAD_DIR (default ./uploads), MAX_SIZE and
 * MAX_FORM (the most bytes of a whole form, default 8 GiB).
 */
#include <errno.h>
#include <fasthttp.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "upload.h"

const char *upload_dir = "./uploads";
static const char *token = ""; /* "": no authorization needed */
static fh_body_options_t file_limit = { .max_bytes = FH_BODY_STREAM_MAX };
static fh_body_options_t form_limit = { .max_bytes = 8ull << 30 };

bool upload_authorized(fh_request_t *req, fh_response_t *res) {
    if (!*token)
        return true;
    /* Before any byte of the body is read: a refused client sends nothing
     * more (no 100 Continue) and the connection closes. */
    fh_str_t auth = fh_request_header(req, "Authorization");
    size_t n = strlen(token);
    if (auth.len == 7 + n && memcmp(auth.ptr, "Bearer ", 7) == 0 &&
        memcmp(auth.ptr + 7, token, n) == 0)
        return true;
    fh_response_header(res, "WWW-Authenticate", "Bearer");
    fh_send_problem(res, 401, NULL, "a bearer token is required", NULL);
    return false;
}

/* One upload in progress, in the request's arena; the bytes of the chunk
 * being written live in buf (malloc'ed: the chunk is only valid during fn). */
typedef struct upload {
    fh_response_t *res;
    const char *name;
    char tmp[4096], final[4096];
    int fd;
    EVP_MD_CTX *sha;
    char *buf;
    size_t cap, len;
    uint64_t size;
    int err;   /* errno of a failed write, or 0 */
    bool busy; /* an offload is in flight */
    bool gone; /* the client left, or the body failed */
    bool end;  /* the body is complete: finish after the write */
} upload_t;

static void upload_free(upload_t *u) {
    if (u->fd >= 0) {
        close(u->fd);
        unlink(u->tmp); /* nothing stays behind an unfinished upload */
        u->fd = -1;
    }
    EVP_MD_CTX_free(u->sha);
    u->sha = NULL;
    free(u->buf);
    u->buf = NULL;
}

/* The pool thread: write the chunk and hash it. */
static void write_chunk(void *data) {
    upload_t *u = data;
    size_t off = 0;
    while (off < u->len && !u->err) {
        ssize_t n = write(u->fd, u->buf + off, u->len - off);
        if (n < 0 && errno != EINTR)
            u->err = errno;
        else if (n > 0)
            off += (size_t)n;
    }
    if (!u->err && EVP_DigestUpdate(u->sha, u->buf, u->len) != 1)
        u->err = EIO;
}

/* The pool thread: the file reaches the disk under its name. */
static void finish_file(void *data) {
    upload_t *u = data;
    if (!u->err && fsync(u->fd) != 0)
        u->err = errno;
    if (!u->err && rename(u->tmp, u->final) != 0)
        u->err = errno;
}

static void finished(fh_request_t *req, fh_response_t *res, int status, void *data) {
    upload_t *u = data;
    u->busy = false;
    if (status || u->gone || u->err) {
        int err = u->err;
        upload_free(u);
        if (u->gone || status)
            fh_response_end(res);
        else
            fh_send_problem(res, 500, NULL, strerror(err), NULL);
        return;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    EVP_DigestFinal_ex(u->sha, md, &mdlen);
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    close(u->fd);
    u->fd = -1; /* renamed: keep it */
    upload_free(u);
    json_t *doc = json_pack("{s:[{s:s, s:s, s:I, s:s}]}", "files", "name", u->name, "filename",
                            u->name, "size", (json_int_t)u->size, "sha256", hex);
    fh_response_header(res, "Location", fh_sprintf(req, "/files/%s", u->name));
    fh_send_json_new(res, 201, doc);
}

static void written(fh_request_t *req, fh_response_t *res, int status, void *data) {
    upload_t *u = data;
    u->busy = false;
    u->len = 0;
    if (status || u->gone || u->err) {
        finished(req, res, status, data);
        return;
    }
    if (u->end) {
        u->busy = fh_offload(req, finish_file, finished, u) == 0;
        if (!u->busy)
            finished(req, res, FH_ECANCELED, data);
        return;
    }
    fh_request_body_resume(req); /* the next chunk, when it comes */
}

static int on_body(fh_request_t *req, fh_str_t chunk, int status, void *data) {
    upload_t *u = data;
    if (status == FH_BODY_DATA) {
        if (u->len + chunk.len > u->cap) {
            size_t cap = u->len + chunk.len < WRITE_BATCH ? WRITE_BATCH : u->len + chunk.len;
            char *b = realloc(u->buf, cap);
            if (!b) {
                upload_free(u);
                fh_send_problem(u->res, 503, NULL, "out of memory", NULL);
                return FH_BODY_CONTINUE; /* answered: nothing more is read */
            }
            u->buf = b;
            u->cap = cap;
        }
        memcpy(u->buf + u->len, chunk.ptr, chunk.len);
        u->len += chunk.len;
        u->size += chunk.len;
        if (u->len < WRITE_BATCH)
            return FH_BODY_CONTINUE; /* gathered: written by the batch */
        u->busy = fh_offload(req, write_chunk, written, u) == 0;
        if (!u->busy) {
            u->gone = true;
            upload_free(u);
            fh_response_end(u->res);
            return FH_BODY_CONTINUE;
        }
        return FH_BODY_PAUSE; /* reading waits for the write */
    }
    if (status == FH_BODY_END) {
        u->end = true;
        /* What is gathered is written first (written() then finishes). */
        u->busy = fh_offload(req, u->len ? write_chunk : finish_file, u->len ? written : finished,
                             u) == 0;
        if (!u->busy)
            finished(req, u->res, FH_ECANCELED, u);
        return 0;
    }
    /* The client left (FH_ECANCELED) or the body failed: the core answers
     * 413, 408 or 400 itself; the file goes. */
    u->gone = true;
    if (!u->busy) {
        upload_free(u);
        if (status == FH_ECANCELED)
            fh_response_end(u->res);
    }
    return 0;
}

/* Whether name is one plain segment. */
static bool name_ok(fh_str_t name) {
    if (name.len == 0 || name.len > 200 || name.ptr[0] == '.')
        return false;
    for (size_t i = 0; i < name.len; i++) {
        char c = name.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_'))
            return false;
    }
    return true;
}

static int put_file(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    if (!upload_authorized(req, res))
        return 0;
    fh_str_t name = fh_request_param(req, "name");
    if (!name_ok(name))
        return fh_send_problem(res, 400, NULL,
                               "a file name is letters, digits, '.', '-' and '_', not starting "
                               "with '.'",
                               NULL);
    if (!fh_request_body_streaming(req)) /* an empty body */
        return fh_send_problem(res, 400, NULL, "the body is empty", NULL);
    upload_t *u = fh_alloc(req, sizeof(*u));
    if (!u)
        return FH_ENOMEM;
    memset(u, 0, sizeof(*u));
    u->res = res;
    u->fd = -1;
    u->name = fh_strndup(req, name);
    snprintf(u->final, sizeof(u->final), "%s/%s", upload_dir, u->name);
    snprintf(u->tmp, sizeof(u->tmp), "%s/.upload-XXXXXX", upload_dir);
    u->fd = mkstemp(u->tmp);
    if (u->fd < 0)
        return fh_send_problem(res, 500, NULL, strerror(errno), NULL);
    u->sha = EVP_MD_CTX_new();
    if (!u->sha || EVP_DigestInit_ex(u->sha, EVP_sha256(), NULL) != 1) {
        upload_free(u);
        return FH_ENOMEM;
    }
    int err = fh_request_body_read(req, on_body, u);
    if (err) {
        upload_free(u);
        return err;
    }
    return 0;
}

static const fh_route_t routes[] = {
    FH_ROUTE_STREAM(FH_METHOD_PUT, "/files/:name", put_file, NULL, &file_limit),
    FH_ROUTE_STREAM(FH_METHOD_POST, "/files", post_files, NULL, &form_limit),
    FH_ROUTES_END,
};

int main(int argc, char **argv) {
    fh_server_config_t cfg = fh_server_config_default();
    cfg.port = 3000;
    cfg.host = "127.0.0.1";
    long max_size = (long)FH_BODY_STREAM_MAX, max_form = (long)(8ull << 30);
    const fh_flag_t flags[] = {
        FH_TEXT_FLAG("dir", "DIR", "UPLOAD_DIR", "where files are stored (created if missing)",
                     &upload_dir),
        FH_TEXT_FLAG("token", "TOKEN", "UPLOAD_TOKEN",
                     "a bearer token every upload must carry; empty: none", &token),
        FH_NUMBER_FLAG("max-size", "BYTES", "MAX_SIZE", "the most bytes of one file", &max_size, 1,
                       (long)(1ull << 40)),
        FH_NUMBER_FLAG("max-form", "BYTES", "MAX_FORM", "the most bytes of a whole form", &max_form,
                       1, (long)(1ull << 40)),
        FH_FLAGS_END,
    };
    static const char *const operands[] = { "port", "threads", NULL };
    fh_args_t args = { .summary = "Stores uploaded files as they stream in, with their SHA-256.",
                       .flags = flags,
                       .operands = operands };
    int err = fh_server_config_args(&cfg, argc, argv, &args); /* flags, then the environment */
    if (err == FH_ARGS_HELP) {
        fh_server_usage(stdout, argv[0], &cfg, &args);
        return 0;
    }
    if (err) {
        fprintf(stderr, "%s\n", fh_server_config_error(&cfg, err));
        return 2;
    }
    if (!*upload_dir)
        upload_dir = "./uploads";
    file_limit.max_bytes = (uint64_t)max_size;
    form_limit.max_bytes = (uint64_t)max_form;
    form_limits = (fh_multipart_limits_t){ .max_file_bytes = (uint64_t)max_size,
                                           .max_total_bytes = (uint64_t)max_form };
    if (mkdir(upload_dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "upload: cannot create the upload directory \"%s\": %s\n", upload_dir,
                strerror(errno));
        return 1;
    }

    fh_router_t *router;
    err = fh_router_new(&router, NULL);
    if (!err)
        err = fh_router_mount(router, "/", routes, NULL);
    if (err) {
        fprintf(stderr, "%s\n", router ? fh_router_error(router) : fh_strerror(err));
        return 1;
    }
    cfg.handler = fh_router_handle;
    cfg.handler_data = router;
    cfg.body_stream = fh_router_body_stream;
    cfg.body_stream_data = router;
    fh_server_t *server;
    err = fh_server_new(&server, &cfg);
    if (err) {
        fprintf(stderr, "%s\n", fh_server_config_error(&cfg, err));
        fh_router_free(router);
        return 1;
    }
    printf("upload: listening on http://%s:%d with %d threads, files into %s\n",
           cfg.host ? cfg.host : "*", fh_server_port(server), fh_server_threads(server),
           upload_dir);
    fflush(stdout);
    err = fh_server_run(server); /* until SIGINT or SIGTERM */
    fh_server_free(server);
    fh_router_free(router);
    return err ? 1 : 0;
}
