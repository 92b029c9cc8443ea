/* pg_api: the todo service of examples/rest_api, stored in PostgreSQL.
 *
 *   GET    /todos            -> {"todos":[...],"total":N,"limit":L,"offset":O}
 *                               ?done=true|false filters, ?limit=1..100
 *                               (default 20) and ?offset=0.. paginate
 *   POST   /todos            -> {"title", "done"?}: 201 with the todo, a
 *                               Location and an ETag, or a 422 problem
 *   GET    /todos/:id        -> the todo with an ETag; 304 when the request's
 *                               If-None-Match names the current one
 *   PATCH  /todos/:id        -> {"title"?, "done"?}: 200 with the new todo
 *   DELETE /todos/:id        -> 204
 * Errors are application/problem+json documents (400, 404, 405, 409, 415,
 * 422; 503 with Retry-After while the database is unreachable, 504 when a
 * query runs past its timeout).
 *
 * Every query goes through fh_pg (fasthttp/pg.h): libpq without blocking
 * on each worker's loop, a few connections per worker in pipeline mode,
 * one prepared statement and one round trip per request (each connection
 * prepares a statement on its first use, in the same round trip, and again
 * after a reconnect). The table is created at start, with a blocking
 * connection, before the server runs.
 *
 * Usage: pg_api [--host HOST] [--port PORT] [--threads N]
 * [--database-url URL] [PORT [THREADS]] (--help lists them). Flags win over
 * the environment variables HOST (default 127.0.0.1), PORT (default 3000),
 * THREADS (default 0: one per CPU) and DATABASE_URL (default
 * "postgresql:///todos": the local server's Unix socket, database todos).
 */
#include <fasthttp.h>
#include <fasthttp/pg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TITLE_MAX 200
#define LIMIT_DEFAULT 20
#define LIMIT_MAX 100

static const char SCHEMA[] = "CREATE TABLE IF NOT EXISTS todos ("
                             " id bigserial PRIMARY KEY,"
                             " title text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),"
                             " done boolean NOT NULL DEFAULT false,"
                             " version bigint NOT NULL DEFAULT 1)";

/* One statement per route; the total comes with the page, and a page past
 * the end still has one row (id NULL) to carry it. */
static const char SQL_LIST[] =
    "WITH f AS (SELECT * FROM todos WHERE $1::boolean IS NULL OR done = $1::boolean) "
    "SELECT (SELECT count(*) FROM f) AS total, t.id, t.title, t.done, t.version "
    "FROM (SELECT 1) one LEFT JOIN LATERAL "
    "(SELECT * FROM f ORDER BY id LIMIT $2::bigint OFFSET $3::bigint) t ON true";
static const char SQL_GET[] = "SELECT id, title, done, version FROM todos WHERE id = $1::bigint";
static const char SQL_CREATE[] = "INSERT INTO todos (title, done) VALUES ($1, $2::boolean) "
                                 "RETURNING id, title, done, version";
static const char SQL_UPDATE[] =
    "UPDATE todos SET title = coalesce($2, title), done = coalesce($3::boolean, done), "
    "version = version + 1 WHERE id = $1::bigint RETURNING id, title, done, version";
static const char SQL_DELETE[] = "DELETE FROM todos WHERE id = $1::bigint";

typedef enum op { OP_LIST, OP_GET, OP_CREATE, OP_UPDATE, OP_DELETE } op_t;

/* The client and its statements, one per route (the routes' data). */
typedef struct app {
    fh_pg_t *pg;
    const fh_pg_stmt_t *list, *get, *create, *update, *del;
} app_t;

/* One request's state, in its arena. */
typedef struct job {
    op_t op;
    int64_t limit, offset;
} job_t;

/* ----------------------------------------------------------- responses */

/* Column col of row as a todo: {"id","title","done"}; col is where id is. */
static json_t *todo_json(const PGresult *r, int row, int col) {
    return json_pack("{s:I, s:s, s:b}", "id",
                     (json_int_t)strtoll(PQgetvalue(r, row, col), NULL, 10), "title",
                     PQgetvalue(r, row, col + 1), "done", PQgetvalue(r, row, col + 2)[0] == 't');
}

/* Whether If-None-Match (a list of entity tags, or "*") names etag (weak
 * comparison, RFC 9110). */
static bool etag_matches(fh_str_t header, const char *etag) {
    size_t elen = strlen(etag);
    size_t i = 0;
    while (i < header.len) {
        while (i < header.len &&
               (header.ptr[i] == ' ' || header.ptr[i] == '\t' || header.ptr[i] == ','))
            i++;
        size_t start = i;
        while (i < header.len && header.ptr[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (header.ptr[end - 1] == ' ' || header.ptr[end - 1] == '\t'))
            end--;
        const char *tag = header.ptr + start;
        size_t len = end - start;
        if (len == 1 && tag[0] == '*')
            return true;
        if (len > 2 && tag[0] == 'W' && tag[1] == '/') {
            tag += 2;
            len -= 2;
        }
        if (len == elen && memcmp(tag, etag, elen) == 0)
            return true;
    }
    return false;
}

static void answer_list(fh_response_t *res, job_t *job, const PGresult *r) {
    json_t *list = json_array();
    int n = PQntuples(r);
    for (int i = 0; list && i < n; i++)
        if (!PQgetisnull(r, i, 1))
            json_array_append_new(list, todo_json(r, i, 1));
    fh_send_json_new(res, 200,
                     json_pack("{s:o*, s:I, s:i, s:i}", "todos", list, "total",
                               (json_int_t)(n ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0),
                               "limit", (int)job->limit, "offset", (int)job->offset));
}

static void answer_one(fh_request_t *req, fh_response_t *res, job_t *job, const PGresult *r) {
    char etag[48];
    snprintf(etag, sizeof(etag), "\"%s-%s\"", PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 3));
    fh_response_header(res, "ETag", etag);
    if (job->op == OP_GET) {
        fh_str_t inm = fh_request_header(req, "If-None-Match");
        if (!fh_str_absent(inm) && etag_matches(inm, etag)) {
            fh_response_status(res, 304); /* the ETag header only */
            fh_response_end(res);
            return;
        }
    }
    if (job->op == OP_CREATE) {
        fh_response_headerf(res, "Location", "/todos/%s", PQgetvalue(r, 0, 0));
        fh_send_json_new(res, 201, todo_json(r, 0, 0));
        return;
    }
    fh_send_json_new(res, 200, todo_json(r, 0, 0));
}

/* On the loop thread, with the statement's result (in the request's JSON
 * arena scope). */
static void answered(fh_request_t *req, fh_response_t *res, int status, const PGresult *r,
                     void *data) {
    job_t *job = data;
    if (status == FH_ECANCELED) {
        fh_response_end(res); /* the client left: only releases it */
    } else if (fh_pg_failed(status, r)) {
        fh_pg_send_error(res, status, r); /* 503, 504, 409, 400... as a problem */
    } else if (job->op == OP_LIST) {
        answer_list(res, job, r);
    } else if (job->op == OP_DELETE ? strcmp(PQcmdTuples((PGresult *)r), "0") == 0
                                    : PQntuples(r) == 0) {
        fh_send_problem(res, 404, NULL, "no todo with this id", NULL);
    } else if (job->op == OP_DELETE) {
        fh_response_status(res, 204); /* no body, no Content-Type */
        fh_response_end(res);
    } else {
        answer_one(req, res, job, r);
    }
}

/* ------------------------------------------------------------ handlers */

static job_t *new_job(fh_request_t *req, op_t op) {
    job_t *job = fh_alloc(req, sizeof(*job));
    if (job) {
        memset(job, 0, sizeof(*job));
        job->op = op;
    }
    return job;
}

/* The :id parameter as text, or a 404 problem sent and NULL: an id that is
 * no number names no todo. */
static const char *todo_id(fh_request_t *req, fh_response_t *res) {
    int64_t id;
    if (fh_input_parse_i64(fh_request_param(req, "id"), 1, INT64_MAX, &id) != FH_INPUT_OK) {
        fh_send_problem(res, 404, NULL, "no todo with this id", NULL);
        return NULL;
    }
    char *s = fh_alloc(req, 24);
    if (s)
        snprintf(s, 24, "%lld", (long long)id);
    return s;
}

static int list_todos(fh_request_t *req, fh_response_t *res, void *data) {
    job_t *job = new_job(req, OP_LIST);
    if (!job)
        return FH_ENOMEM;
    bool done = false;
    job->limit = LIMIT_DEFAULT;
    if (fh_query_bool_opt(req, res, "done", &done) ||
        fh_query_i64_opt(req, res, "limit", 1, LIMIT_MAX, &job->limit) ||
        fh_query_i64_opt(req, res, "offset", 0, 1000000000, &job->offset))
        return 0;
    fh_str_t sent;
    const char *p[3] = { NULL, NULL, NULL };
    if (fh_request_query_raw(req, "done", &sent) == FH_INPUT_OK) /* a filter only when sent */
        p[0] = done ? "true" : "false";
    char *limit = fh_alloc(req, 48);
    if (!limit)
        return FH_ENOMEM;
    snprintf(limit, 24, "%lld", (long long)job->limit);
    snprintf(limit + 24, 24, "%lld", (long long)job->offset);
    p[1] = limit;
    p[2] = limit + 24;
    app_t *app = data;
    return fh_pg_query_prepared(app->pg, req, res, app->list, 3, p, answered, job);
}

static int get_todo(fh_request_t *req, fh_response_t *res, void *data) {
    job_t *job = new_job(req, OP_GET);
    if (!job)
        return FH_ENOMEM;
    const char *p[1] = { todo_id(req, res) };
    app_t *app = data;
    return p[0] ? fh_pg_query_prepared(app->pg, req, res, app->get, 1, p, answered, job) : 0;
}

static int delete_todo(fh_request_t *req, fh_response_t *res, void *data) {
    job_t *job = new_job(req, OP_DELETE);
    if (!job)
        return FH_ENOMEM;
    const char *p[1] = { todo_id(req, res) };
    app_t *app = data;
    return p[0] ? fh_pg_query_prepared(app->pg, req, res, app->del, 1, p, answered, job) : 0;
}

/* Validates a POST (create) or PATCH body: *title (NULL: unchanged) and
 * *done ("true", "false" or NULL: unchanged), copied into the arena; false
 * when a problem was sent. */
static bool read_body(fh_request_t *req, fh_response_t *res, bool create, const char **title_out,
                      const char **done_out) {
    json_t *body;
    fh_json_error_t jerr;
    if (fh_request_json(req, &body, &jerr)) {
        fh_send_json_error(res, &jerr);
        return false;
    }
    fh_json_validator_t v;
    fh_json_validate_begin(&v, req, body);
    const char *title = fh_json_field_string(
        &v, "title", create ? FH_JSON_REQUIRED : FH_JSON_OPTIONAL, 1, TITLE_MAX);
    bool has_done = json_is_object(body) && json_object_get(body, "done") != NULL;
    bool done = fh_json_field_bool(&v, "done", FH_JSON_OPTIONAL, false);
    fh_json_no_other_fields(&v);
    if (!create && json_is_object(body) && json_object_size(body) == 0)
        fh_json_invalid(&v, NULL, "must change \"title\" or \"done\"");
    bool bad = fh_json_validate_end(&v, res);
    if (!bad) {
        *title_out = title ? fh_strdup(req, title) : NULL;
        *done_out = has_done ? (done ? "true" : "false") : (create ? "false" : NULL);
    }
    json_decref(body);
    if (!bad && title && !*title_out) {
        fh_send_problem(res, 503, NULL, "out of memory", NULL);
        return false;
    }
    return !bad;
}

static int create_todo(fh_request_t *req, fh_response_t *res, void *data) {
    job_t *job = new_job(req, OP_CREATE);
    if (!job)
        return FH_ENOMEM;
    const char *p[2];
    if (!read_body(req, res, true, &p[0], &p[1]))
        return 0;
    app_t *app = data;
    return fh_pg_query_prepared(app->pg, req, res, app->create, 2, p, answered, job);
}

static int update_todo(fh_request_t *req, fh_response_t *res, void *data) {
    job_t *job = new_job(req, OP_UPDATE);
    if (!job)
        return FH_ENOMEM;
    const char *p[3];
    if (!(p[0] = todo_id(req, res)) || !read_body(req, res, false, &p[1], &p[2]))
        return 0;
    app_t *app = data;
    return fh_pg_query_prepared(app->pg, req, res, app->update, 3, p, answered, job);
}

static int not_found(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req, (void)data;
    return fh_send_problem(res, 404, NULL, NULL, NULL);
}

static int not_allowed(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req, (void)data;
    return fh_send_problem(res, 405, NULL, NULL, NULL); /* Allow is already set */
}

static const fh_route_t ROUTES[] = {
    FH_GET("/todos", list_todos),         FH_POST("/todos", create_todo),
    FH_GET("/todos/:id", get_todo),       FH_PATCH("/todos/:id", update_todo),
    FH_DELETE("/todos/:id", delete_todo), FH_ROUTES_END,
};

/* The table, with a blocking connection before the server runs; the
 * connection string is not printed (it may hold a password). */
static int create_schema(const char *url) {
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "pg_api: cannot reach the database named by DATABASE_URL: %s",
                PQerrorMessage(c));
        PQfinish(c);
        return -1;
    }
    PGresult *r = PQexec(c, SCHEMA);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "pg_api: creating the table: %s", PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return ok ? 0 : -1;
}

int main(int argc, char **argv) {
    fh_server_config_t cfg = fh_server_config_default();
    cfg.port = 3000;
    cfg.host = "127.0.0.1";
    const char *url = "";
    const fh_flag_t flags[] = {
        FH_TEXT_FLAG("database-url", "URL", "DATABASE_URL",
                     "the libpq connection string or URI (default postgresql:///todos)", &url),
        FH_FLAGS_END,
    };
    static const char *const operands[] = { "port", "threads", NULL };
    fh_args_t args = { .summary = "A todo service stored in PostgreSQL.",
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
    if (!*url)
        url = "postgresql:///todos";
    fh_pg_config_t pcfg = { .conninfo = url };
    fh_pg_t *pg = fh_pg_new(&pcfg, &err); /* says what is wrong on stderr */
    if (!pg)
        return 2;
    app_t app = { .pg = pg };
    if (!(app.list = fh_pg_prepare(pg, "todo_list", SQL_LIST, 3, &err)) ||
        !(app.get = fh_pg_prepare(pg, "todo_get", SQL_GET, 1, &err)) ||
        !(app.create = fh_pg_prepare(pg, "todo_create", SQL_CREATE, 2, &err)) ||
        !(app.update = fh_pg_prepare(pg, "todo_update", SQL_UPDATE, 3, &err)) ||
        !(app.del = fh_pg_prepare(pg, "todo_delete", SQL_DELETE, 1, &err)) || create_schema(url)) {
        fh_pg_free(pg);
        return 1;
    }

    fh_router_config_t rcfg = fh_router_config_default();
    rcfg.not_found = not_found;
    rcfg.method_not_allowed = not_allowed;
    fh_router_t *router;
    if (fh_router_new(&router, &rcfg) || fh_router_mount(router, "", ROUTES, &app)) {
        fprintf(stderr, "pg_api: routes: %s\n", router ? fh_router_error(router) : "");
        fh_router_free(router);
        fh_pg_free(pg);
        return 1;
    }
    cfg.handler = fh_router_handle;
    cfg.handler_data = router;

    fh_server_t *server;
    err = fh_server_new(&server, &cfg);
    if (err) {
        fprintf(stderr, "%s\n", fh_server_config_error(&cfg, err));
        fh_router_free(router);
        fh_pg_free(pg);
        return 1;
    }
    printf("pg_api: listening on %s://%s:%d with %d threads\n",
           cfg.tls.cert_file ? "https" : "http", cfg.host ? cfg.host : "*", fh_server_port(server),
           fh_server_threads(server));
    fflush(stdout);
    err = fh_server_run(server); /* until SIGINT or SIGTERM */
    fh_server_free(server);
    fh_pg_free(pg); /* after the workers: their loops own the connections' handles */
    fh_router_free(router);
    return err ? 1 : 0;
}
