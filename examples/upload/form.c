/* upload: POST /files, a multipart/form-data form (fasthttp/multipart.h)
 * whose file parts are stored under UPLOAD_DIR as they stream in.
 *
 * The body is fed to the parser chunk by chunk. A file part's bytes are
 * gathered into a 512 KiB buffer; when it is full, and at the part's end,
 * the parser is paused (FH_MULTIPART_PAUSE) and so is the socket
 * (FH_BODY_PAUSE) while the buffer is written and hashed on the thread
 * pool. What the paused parser had not read of the chunk is kept (at most
 * one read) and fed again when the write is done.
 *
 * Each file goes to a temporary file, the whole form is renamed into place
 * only once its final boundary has arrived: a form that is aborted,
 * refused or malformed leaves nothing behind. Stored names are the
 * client's filenames made safe by fh_multipart_filename_sanitize
 * ("../../etc/passwd" is stored as "passwd"); a file part with an empty
 * filename (a browser's empty file input) is skipped. Fields are echoed in
 * the answer, at most 64 KiB of them together.
 *
 *   201 {"files":[{"name","filename","field","size","sha256"}],"fields":{...}}
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "upload.h"

fh_multipart_limits_t form_limits;

/* At most this many bytes of field names and values are kept for the answer. */
#define MAX_FIELDS_KEPT (64u << 10)

/* One file of the form, in the request's arena. */
typedef struct stored {
    struct stored *next;
    char tmp[4096];
    char name[FH_MULTIPART_FILENAME_MAX + 1]; /* sanitized */
    const char *filename, *field;             /* as sent (valid UTF-8: sanitized) */
    uint64_t size;
    char sha[2 * 32 + 1];
    bool renamed;
} stored_t;

/* What a pool job does. */
enum { JOB_NONE, JOB_WRITE, JOB_CLOSE, JOB_COMMIT };

/* One form being received, in the request's arena; buf and pending are
 * malloc'ed (the parser's views are only valid during its callbacks). */
typedef struct form {
    fh_request_t *req;
    fh_response_t *res;
    fh_multipart_t *mp;
    EVP_MD_CTX *sha;
    stored_t *files, **tail, *cur; /* cur: the file being written */
    int fd;                        /* cur's, or -1 */
    bool skip;                     /* the current file part is not stored */
    char *buf;                     /* gathered file bytes, written by a job */
    size_t cap, len;
    char *pending; /* body bytes the paused parser has not read */
    size_t pcap, plen, poff;
    json_t *fields;
    size_t fields_kept;
    int job;    /* the job the paused parser asked for */
    int err;    /* errno of a failed job */
    int status; /* a refusal decided in a callback: 400, 413 */
    char why[256];
    bool busy;    /* a job is on the pool */
    bool gone;    /* the client left, or the body failed */
    bool cleaned; /* cleanup ran */
} form_t;

/* Everything not kept goes: open file, temporary files, buffers. */
static void cleanup(form_t *f) {
    if (f->cleaned)
        return;
    f->cleaned = true;
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    if (f->cur)
        unlink(f->cur->tmp);
    for (stored_t *s = f->files; s; s = s->next)
        if (!s->renamed)
            unlink(s->tmp);
    EVP_MD_CTX_free(f->sha);
    free(f->buf);
    free(f->pending);
    fh_multipart_free(f->mp);
    json_decref(f->fields);
    f->sha = NULL;
    f->buf = f->pending = NULL;
    f->mp = NULL;
    f->fields = NULL;
}

/* Answers the refusal: the parser's (400, 413) or one of ours. */
static void refuse(form_t *f) {
    const fh_multipart_error_t *e = f->mp ? fh_multipart_error(f->mp) : NULL;
    if (f->status)
        fh_send_problem(f->res, f->status, NULL, f->why, NULL);
    else if (e && e->reason != FH_MULTIPART_OK && e->reason != FH_MULTIPART_CALLBACK)
        fh_multipart_send_error(f->res, e);
    else
        fh_send_problem(f->res, 500, NULL, f->err ? strerror(f->err) : "the upload failed", NULL);
    cleanup(f);
}

/* ---- the parser's callbacks (inside fh_multipart_feed, on the loop) ------ */

static int part_begin(const fh_multipart_part_t *part, void *data) {
    form_t *f = data;
    f->skip = false;
    if (!part->is_file)
        return FH_MULTIPART_CONTINUE; /* a field: its value comes at the end */
    if (part->filename.len == 0) {
        f->skip = true; /* an empty file input */
        return FH_MULTIPART_CONTINUE;
    }
    stored_t *s = fh_alloc(f->req, sizeof(*s));
    if (!s)
        return FH_ENOMEM;
    memset(s, 0, sizeof(*s));
    const char *why;
    if (fh_multipart_filename_sanitize(part->filename, s->name, &why) != 0) {
        f->status = 400;
        snprintf(f->why, sizeof(f->why), "part %u: the filename is refused: %s", part->index, why);
        return FH_EINVAL;
    }
    s->filename = fh_strndup(f->req, part->filename);
    s->field = fh_strndup(f->req, part->name);
    snprintf(s->tmp, sizeof(s->tmp), "%s/.upload-XXXXXX", upload_dir);
    f->fd = mkstemp(s->tmp);
    if (f->fd < 0) {
        f->err = errno;
        return FH_EINVAL;
    }
    f->cur = s;
    if (EVP_DigestInit_ex(f->sha, EVP_sha256(), NULL) != 1) {
        f->err = EIO;
        return FH_EINVAL;
    }
    return FH_MULTIPART_CONTINUE;
}

static int part_data(const fh_multipart_part_t *part, fh_str_t chunk, void *data) {
    form_t *f = data;
    (void)part;
    if (f->skip)
        return FH_MULTIPART_CONTINUE;
    if (f->len + chunk.len > f->cap) {
        size_t cap = f->len + chunk.len < WRITE_BATCH ? WRITE_BATCH : f->len + chunk.len;
        char *b = realloc(f->buf, cap);
        if (!b) {
            f->err = ENOMEM;
            return FH_ENOMEM;
        }
        f->buf = b;
        f->cap = cap;
    }
    memcpy(f->buf + f->len, chunk.ptr, chunk.len);
    f->len += chunk.len;
    f->cur->size += chunk.len;
    if (f->len < WRITE_BATCH)
        return FH_MULTIPART_CONTINUE;
    f->job = JOB_WRITE;
    return FH_MULTIPART_PAUSE;
}

static int part_end(const fh_multipart_part_t *part, fh_str_t value, void *data) {
    form_t *f = data;
    if (!part->is_file) {
        f->fields_kept += part->name.len + value.len;
        if (f->fields_kept > MAX_FIELDS_KEPT) {
            f->status = 413;
            snprintf(f->why, sizeof(f->why), "the form's fields are larger than %u bytes together",
                     MAX_FIELDS_KEPT);
            return FH_E2BIG;
        }
        /* Names and values that are not UTF-8 are not echoed (JSON). */
        json_t *v = json_stringn(value.ptr, value.len);
        if (v && json_object_setn_new(f->fields, part->name.ptr, part->name.len, v) != 0)
            v = NULL; /* freed by jansson */
        return FH_MULTIPART_CONTINUE;
    }
    if (f->skip) {
        f->skip = false;
        return FH_MULTIPART_CONTINUE;
    }
    f->job = JOB_CLOSE; /* write what is left, hash, fsync */
    return FH_MULTIPART_PAUSE;
}

static const fh_multipart_callbacks_t callbacks = { part_begin, part_data, part_end };

/* ---- jobs on the thread pool ------------------------------------------------ */

static void write_all(form_t *f) {
    size_t off = 0;
    while (off < f->len && !f->err) {
        ssize_t n = write(f->fd, f->buf + off, f->len - off);
        if (n < 0 && errno != EINTR)
            f->err = errno;
        else if (n > 0)
            off += (size_t)n;
    }
    if (!f->err && EVP_DigestUpdate(f->sha, f->buf, f->len) != 1)
        f->err = EIO;
}

static void run_job(void *data) {
    form_t *f = data;
    if (f->job == JOB_WRITE || f->job == JOB_CLOSE)
        write_all(f);
    if (f->job == JOB_CLOSE && !f->err) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned mdlen = 0;
        if (EVP_DigestFinal_ex(f->sha, md, &mdlen) != 1 || mdlen != 32)
            f->err = EIO;
        for (unsigned i = 0; i < mdlen && i < 32; i++)
            snprintf(f->cur->sha + 2 * i, 3, "%02x", md[i]);
        if (!f->err && fsync(f->fd) != 0)
            f->err = errno;
    }
    if (f->job == JOB_COMMIT) {
        char final[4096 + FH_MULTIPART_FILENAME_MAX + 2];
        for (stored_t *s = f->files; s && !f->err; s = s->next) {
            snprintf(final, sizeof(final), "%s/%s", upload_dir, s->name);
            if (rename(s->tmp, final) != 0)
                f->err = errno;
            else
                s->renamed = true;
        }
    }
}

static void job_done(fh_request_t *req, fh_response_t *res, int status, void *data);

static void start_job(form_t *f) {
    f->busy = fh_offload(f->req, run_job, job_done, f) == 0;
    if (!f->busy) { /* the client is gone */
        cleanup(f);
        fh_response_end(f->res);
    }
}

/* The answer, once every file is in place. */
static void answer(form_t *f) {
    json_t *files = json_array();
    for (stored_t *s = f->files; s; s = s->next)
        json_array_append_new(files, json_pack("{s:s, s:s, s:s, s:I, s:s}", "name", s->name,
                                               "filename", s->filename, "field", s->field, "size",
                                               (json_int_t)s->size, "sha256", s->sha));
    json_t *doc = json_pack("{s:o, s:O}", "files", files, "fields", f->fields);
    cleanup(f);
    fh_send_json_new(f->res, 201, doc);
}

/* Feeds what the parser had left, then reads on; or finishes. */
static void drive(form_t *f) {
    while (f->poff < f->plen) {
        size_t used = 0;
        int rc =
            fh_multipart_feed(f->mp, (fh_str_t){ f->pending + f->poff, f->plen - f->poff }, &used);
        f->poff += used;
        if (rc < 0) {
            refuse(f);
            return;
        }
        if (rc == FH_MULTIPART_PAUSED) {
            start_job(f);
            return;
        }
    }
    f->plen = f->poff = 0;
    fh_request_body_resume(f->req); /* may call on_body before it returns */
}

static void job_done(fh_request_t *req, fh_response_t *res, int status, void *data) {
    (void)req;
    form_t *f = data;
    int job = f->job;
    f->busy = false;
    f->job = JOB_NONE;
    if (status || f->gone) {
        cleanup(f);
        fh_response_end(res);
        return;
    }
    if (f->err) {
        refuse(f);
        return;
    }
    if (job == JOB_CLOSE) {
        close(f->fd);
        f->fd = -1;
        *f->tail = f->cur;
        f->tail = &f->cur->next;
        f->cur = NULL;
    }
    f->len = 0;
    if (job == JOB_COMMIT) {
        answer(f);
        return;
    }
    drive(f);
}

/* The body, from the connection. */
static int on_body(fh_request_t *req, fh_str_t chunk, int status, void *data) {
    (void)req;
    form_t *f = data;
    if (f->cleaned) /* answered already (a refusal): the rest does not matter */
        return FH_BODY_CONTINUE;
    if (status == FH_BODY_DATA) {
        size_t used = 0;
        int rc = fh_multipart_feed(f->mp, chunk, &used);
        if (rc < 0) {
            refuse(f); /* answered: nothing more is read */
            return FH_BODY_CONTINUE;
        }
        if (rc == 0)
            return FH_BODY_CONTINUE;
        /* Paused: keep the rest of the chunk for after the job. */
        size_t rest = chunk.len - used;
        if (rest > f->pcap) {
            char *p = realloc(f->pending, rest);
            if (!p) {
                f->err = ENOMEM;
                refuse(f);
                return FH_BODY_CONTINUE;
            }
            f->pending = p;
            f->pcap = rest;
        }
        if (rest)
            memcpy(f->pending, chunk.ptr + used, rest);
        f->plen = rest;
        f->poff = 0;
        start_job(f);
        return FH_BODY_PAUSE;
    }
    if (status == FH_BODY_END) {
        if (fh_multipart_finish(f->mp) != 0) {
            refuse(f); /* truncated, or no delimiter at all */
            return 0;
        }
        f->job = JOB_COMMIT;
        start_job(f);
        return 0;
    }
    /* The client left (FH_ECANCELED) or the body failed: the core answers
     * 413, 408 or 400 itself; the temporary files go. */
    f->gone = true;
    if (!f->busy) {
        cleanup(f);
        if (status == FH_ECANCELED)
            fh_response_end(f->res);
    }
    return 0;
}

int post_files(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    if (!upload_authorized(req, res))
        return 0;
    if (!fh_request_body_streaming(req)) /* no body */
        return fh_send_problem(res, 400, NULL, "the body is empty", NULL);
    form_t *f = fh_alloc(req, sizeof(*f));
    if (!f)
        return FH_ENOMEM;
    memset(f, 0, sizeof(*f));
    f->req = req;
    f->res = res;
    f->fd = -1;
    f->tail = &f->files;
    fh_multipart_error_t err;
    int rc = fh_multipart_new(&f->mp, fh_request_header(req, "Content-Type"), &form_limits,
                              &callbacks, f, &err);
    if (rc == FH_EINVAL) /* not a form, or a bad boundary: before the body */
        return fh_multipart_send_error(res, &err);
    if (rc)
        return rc;
    f->sha = EVP_MD_CTX_new();
    f->fields = json_object();
    if (!f->sha || !f->fields) {
        cleanup(f);
        return FH_ENOMEM;
    }
    rc = fh_request_body_read(req, on_body, f);
    if (rc)
        cleanup(f);
    return rc;
}
