/* upload: what the two routes share (main.c: PUT /files/:name, the server;
 * form.c: POST /files, multipart forms). */
#ifndef UPLOAD_H
#define UPLOAD_H

#include <fasthttp.h>

/* Where files go (--dir, UPLOAD_DIR). */
extern const char *upload_dir;
/* Limits of a form (form.c), set from the flags by main. */
extern fh_multipart_limits_t form_limits;

/* Whether the request carries the bearer token (when one is configured);
 * when not, answers 401 and returns false. */
bool upload_authorized(fh_request_t *req, fh_response_t *res);

/* Chunks are gathered up to this many bytes per write on the thread pool:
 * one pool round trip per 512 KiB, not per read. */
#define WRITE_BATCH (512u << 10)

/* POST /files: every file part of a multipart/form-data body (form.c). */
int post_files(fh_request_t *req, fh_response_t *res, void *data);

#endif
