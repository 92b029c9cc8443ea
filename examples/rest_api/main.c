/* rest_api: a todo service stored in SQLite.
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
 * Errors are application/problem+json documents (400, 404, 405, 415, 422,
 * 503 when the database fails).
 *
 * Every query runs on libuv's thread pool (fh_offload) with a connection
 * from an fh_pool_t: one SQLite connection per pool slot, its statements
 * prepared once, given to one pool thread at a time. The response is built
 * in the `done` callback, on the request's loop thread.
 *
 * Usage: rest_api [--host HOST] [--port PORT] [--threads N] [--db FILE]
 * [PORT [THREADS]] (--help lists them). Flags win over the environment
 * variables HOST (default 127.0.0.1), PORT (default 3000), THREADS
 * (default 0: one per CPU) and DB (default ./todos.db).
 */
#include <fasthttp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TITLE_MAX 200
#define LIMIT_DEFAULT 20
#define LIMIT_MAX 100

typedef struct todo {
    sqlite3_int64 id;
    char *title; /* malloc: filled on a pool thread, freed in `done` */
    bool done;
    sqlite3_int64 version; /* bumped by every change: the ETag */
} todo_t;

typedef enum op { OP_LIST, OP_GET, OP_CREATE, OP_UPDATE, OP_DELETE } op_t;
typedef enum outcome { OK, NOT_FOUND, DB_BUSY, DB_FAILED } outcome_t;

/* One request's work. Allocated in the request's arena on the loop thread;
 * the pool thread reads the inputs and writes the outputs, and `done` reads
 * the outputs once the work has returned. */
typedef struct job {
    fh_pool_t *pool;
    op_t op;
    /* inputs */
    sqlite3_int64 id;
    const char *title; /* NULL: unchanged (PATCH) */
    int done;          /* -1: unchanged / no filter; 0 or 1 */
    int64_t limit, offset;
    /* outputs */
    outcome_t outcome;
    todo_t one;
    todo_t *items; /* malloc */
    size_t count;
    sqlite3_int64 total;
} job_t;

/* ------------------------------------------------------------ database */

static const char SCHEMA[] = "CREATE TABLE IF NOT EXISTS todos ("
                             " id INTEGER PRIMARY KEY AUTOINCREMENT,"
                             " title TEXT NOT NULL,"
                             " done INTEGER NOT NULL DEFAULT 0,"
                             " version INTEGER NOT NULL DEFAULT 1)";

/* How long a writer waits for another's lock before the request gets a 503
 * "busy" problem, and how long a work item waits for a free connection. */
#define BUSY_TIMEOUT_MS 5000
#define ACQUIRE_TIMEOUT_MS 5000

/* Every statement the service runs, prepared once per connection. */
enum {
    ST_GET,
    ST_CREATE,
    ST_UPDATE,
    ST_DELETE,
    ST_COUNT_ALL,
    ST_COUNT_DONE,
    ST_LIST_ALL,
    ST_LIST_DONE,
    ST_BEGIN,
    ST_COMMIT,
    ST_COUNT
};

static const char *const SQL[ST_COUNT] = {
    [ST_GET] = "SELECT id, title, done, version FROM todos WHERE id = ?1",
    [ST_CREATE] = "INSERT INTO todos (title, done) VALUES (?1, ?2)"
                  " RETURNING id, title, done, version",
    [ST_UPDATE] = "UPDATE todos SET title = coalesce(?2, title),"
                  " done = coalesce(?3, done), version = version + 1"
                  " WHERE id = ?1 RETURNING id, title, done, version",
    [ST_DELETE] = "DELETE FROM todos WHERE id = ?1",
    [ST_COUNT_ALL] = "SELECT count(*) FROM todos",
    [ST_COUNT_DONE] = "SELECT count(*) FROM todos WHERE done = ?1",
    [ST_LIST_ALL] = "SELECT id, title, done, version FROM todos ORDER BY id LIMIT ?2 OFFSET ?3",
    [ST_LIST_DONE] = "SELECT id, title, done, version FROM todos WHERE done = ?1"
                     " ORDER BY id LIMIT ?2 OFFSET ?3",
    [ST_BEGIN] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
};

/* A pooled connection: the handle and its prepared statements. Used by one
 * pool thread at a time (between fh_pool_acquire and fh_pool_release), so
 * SQLITE_OPEN_NOMUTEX is enough. */
typedef struct conn {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
} conn_t;

static sqlite3 *db_open(const char *path, int flags) {
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        fprintf(stderr, "rest_api: %s: %s\n", path, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return NULL;
    }
    /* Writers on other pool threads hold the lock briefly: wait for it. */
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    return db;
}

static void conn_destroy(void *handle, void *data) {
    (void)data;
    conn_t *c = handle;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(c->st[i]);
    sqlite3_close(c->db);
    free(c);
}

/* The pool's create: opens the file and prepares every statement. */
static int conn_create(void **out, void *data) {
    const char *path = data;
    conn_t *c = calloc(1, sizeof(*c));
    if (!c)
        return FH_ENOMEM;
    c->db = db_open(path, SQLITE_OPEN_READWRITE);
    if (!c->db)
        goto error;
    for (int i = 0; i < ST_COUNT; i++) {
        if (sqlite3_prepare_v3(c->db, SQL[i], -1, SQLITE_PREPARE_PERSISTENT, &c->st[i], NULL) !=
            SQLITE_OK) {
            fprintf(stderr, "rest_api: %s: %s\n", path, sqlite3_errmsg(c->db));
            goto error;
        }
    }
    *out = c;
    return 0;

error:
    conn_destroy(c, NULL);
    return FH_EAGAIN;
}

/* A statement ready for its next use: reset and without bindings. */
static void stmt_done(sqlite3_stmt *stmt) {
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
}

/* What a failed step means: the lock stayed taken for the whole busy
 * timeout, or the database failed. */
static outcome_t failed(int rc) {
    rc &= 0xff; /* the primary code */
    return rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? DB_BUSY : DB_FAILED;
}

/* Reads the todo row of stmt (columns id, title, done, version). */
static bool read_todo(sqlite3_stmt *stmt, todo_t *t) {
    const unsigned char *title = sqlite3_column_text(stmt, 1);
    t->id = sqlite3_column_int64(stmt, 0);
    t->title = strdup(title ? (const char *)title : "");
    t->done = sqlite3_column_int(stmt, 2) != 0;
    t->version = sqlite3_column_int64(stmt, 3);
    return t->title != NULL;
}

/* Steps stmt (bound already) and reads at most one todo into job->one. */
static outcome_t step_one(sqlite3_stmt *stmt, job_t *job) {
    int rc = sqlite3_step(stmt);
    outcome_t out = rc == SQLITE_ROW    ? (read_todo(stmt, &job->one) ? OK : DB_FAILED)
                    : rc == SQLITE_DONE ? NOT_FOUND
                                        : failed(rc);
    stmt_done(stmt);
    return out;
}

static outcome_t do_list(conn_t *c, job_t *job) {
    sqlite3_stmt *count = c->st[job->done < 0 ? ST_COUNT_ALL : ST_COUNT_DONE];
    sqlite3_stmt *list = c->st[job->done < 0 ? ST_LIST_ALL : ST_LIST_DONE];
    if (job->done >= 0) {
        sqlite3_bind_int(count, 1, job->done);
        sqlite3_bind_int(list, 1, job->done);
    }
    sqlite3_bind_int64(list, 2, job->limit);
    sqlite3_bind_int64(list, 3, job->offset);
    outcome_t out = DB_FAILED;
    /* Both reads in one transaction: the total matches the page. */
    int rc = sqlite3_step(c->st[ST_BEGIN]);
    stmt_done(c->st[ST_BEGIN]);
    if (rc != SQLITE_DONE) {
        out = failed(rc);
        goto done;
    }
    if ((rc = sqlite3_step(count)) != SQLITE_ROW) {
        out = failed(rc);
        goto end;
    }
    job->total = sqlite3_column_int64(count, 0);
    job->items = calloc((size_t)job->limit, sizeof(todo_t));
    if (!job->items)
        goto end;
    while (job->count < (size_t)job->limit && (rc = sqlite3_step(list)) == SQLITE_ROW) {
        if (!read_todo(list, &job->items[job->count]))
            goto end;
        job->count++;
    }
    if (job->count == (size_t)job->limit || rc == SQLITE_DONE)
        out = OK;
    else
        out = failed(rc);
end:
    stmt_done(count);
    stmt_done(list);
    sqlite3_step(c->st[ST_COMMIT]);
    stmt_done(c->st[ST_COMMIT]);
done:
    stmt_done(count);
    stmt_done(list);
    return out;
}

static outcome_t do_create(conn_t *c, job_t *job) {
    sqlite3_stmt *stmt = c->st[ST_CREATE];
    sqlite3_bind_text(stmt, 1, job->title, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 2, job->done > 0);
    outcome_t out = step_one(stmt, job);
    return out == NOT_FOUND ? DB_FAILED : out; /* RETURNING always gives the row */
}

static outcome_t do_update(conn_t *c, job_t *job) {
    sqlite3_stmt *stmt = c->st[ST_UPDATE];
    sqlite3_bind_int64(stmt, 1, job->id);
    if (job->title)
        sqlite3_bind_text(stmt, 2, job->title, -1, SQLITE_STATIC);
    if (job->done >= 0)
        sqlite3_bind_int(stmt, 3, job->done);
    return step_one(stmt, job);
}

static outcome_t do_delete(conn_t *c, job_t *job) {
    sqlite3_stmt *stmt = c->st[ST_DELETE];
    sqlite3_bind_int64(stmt, 1, job->id);
    int rc = sqlite3_step(stmt);
    outcome_t out = rc != SQLITE_DONE ? failed(rc) : sqlite3_changes(c->db) == 0 ? NOT_FOUND : OK;
    stmt_done(stmt);
    return out;
}

/* On a pool thread: a pooled connection for this work item. */
static void run_job(void *data) {
    job_t *job = data;
    conn_t *c;
    int err = fh_pool_acquire(job->pool, ACQUIRE_TIMEOUT_MS, (void **)&c);
    if (err) {
        job->outcome = err == FH_ETIMEDOUT ? DB_BUSY : DB_FAILED;
        return;
    }
    switch (job->op) {
    case OP_LIST: job->outcome = do_list(c, job); break;
    case OP_GET:
        sqlite3_bind_int64(c->st[ST_GET], 1, job->id);
        job->outcome = step_one(c->st[ST_GET], job);
        break;
    case OP_CREATE: job->outcome = do_create(c, job); break;
    case OP_UPDATE: job->outcome = do_update(c, job); break;
    case OP_DELETE: job->outcome = do_delete(c, job); break;
    }
    /* A connection that failed otherwise than by waiting for a lock is not
     * trusted again: the pool opens a fresh one. */
    fh_pool_release(job->pool, c, job->outcome == DB_FAILED);
}

/* ----------------------------------------------------------- responses */

static json_t *todo_json(const todo_t *t) {
    return json_pack("{s:I, s:s, s:b}", "id", (json_int_t)t->id, "title", t->title, "done",
                     t->done);
}

static void set_etag(fh_response_t *res, const todo_t *t) {
    fh_response_headerf(res, "ETag", "\"%lld-%lld\"", (long long)t->id, (long long)t->version);
}

/* Whether If-None-Match (a list of entity tags, or "*") names etag. Weak
 * comparison, as RFC 9110 asks for If-None-Match. */
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

static void free_job(job_t *job) {
    free(job->one.title);
    for (size_t i = 0; i < job->count; i++)
        free(job->items[i].title);
    free(job->items);
}

static void answer_list(fh_response_t *res, job_t *job) {
    json_t *list = json_array();
    for (size_t i = 0; list && i < job->count; i++)
        json_array_append_new(list, todo_json(&job->items[i]));
    fh_send_json_new(res, 200,
                     json_pack("{s:o*, s:I, s:i, s:i}", "todos", list, "total",
                               (json_int_t)job->total, "limit", (int)job->limit, "offset",
                               (int)job->offset));
}

static void answer_one(fh_request_t *req, fh_response_t *res, job_t *job) {
    set_etag(res, &job->one);
    if (job->op == OP_GET) {
        char etag[48];
        snprintf(etag, sizeof(etag), "\"%lld-%lld\"", (long long)job->one.id,
                 (long long)job->one.version);
        fh_str_t inm = fh_request_header(req, "If-None-Match");
        if (!fh_str_absent(inm) && etag_matches(inm, etag)) {
            fh_response_status(res, 304); /* the ETag header only */
            fh_response_end(res);
            return;
        }
    }
    if (job->op == OP_CREATE) {
        fh_response_headerf(res, "Location", "/todos/%lld", (long long)job->one.id);
        fh_send_json_new(res, 201, todo_json(&job->one));
        return;
    }
    fh_send_json_new(res, 200, todo_json(&job->one));
}

/* On the loop thread, once run_job has returned (or was dropped). */
static void job_done(fh_request_t *req, fh_response_t *res, int status, void *data) {
    job_t *job = data;
    /* Loop callbacks allocate JSON on the heap by default; this response's
     * values may live in its arena, like a handler's. */
    fh_json_scope_t scope = fh_json_arena_begin(fh_request_arena(req));
    if (status == FH_ECANCELED) {
        fh_response_end(res); /* the client left: only releases it */
    } else if (job->outcome == DB_BUSY) {
        fh_response_header(res, "Retry-After", "1");
        fh_send_problem(res, 503, NULL, "the database is busy, try again", NULL);
    } else if (job->outcome == DB_FAILED) {
        fh_send_problem(res, 503, NULL, "the database is unavailable", NULL);
    } else if (job->outcome == NOT_FOUND) {
        fh_send_problem(res, 404, NULL, "no todo with this id", NULL);
    } else if (job->op == OP_LIST) {
        answer_list(res, job);
    } else if (job->op == OP_DELETE) {
        fh_response_status(res, 204); /* no body, no Content-Type */
        fh_response_end(res);
    } else {
        answer_one(req, res, job);
    }
    fh_json_scope_end(scope);
    free_job(job);
}

/* ------------------------------------------------------------ handlers */

static job_t *new_job(fh_request_t *req, op_t op, void *data) {
    job_t *job = fh_alloc(req, sizeof(*job));
    if (job) {
        memset(job, 0, sizeof(*job));
        job->pool = data;
        job->op = op;
        job->done = -1;
    }
    return job;
}

/* The :id parameter, or a 404 problem sent and false: an id that is no
 * number names no todo, so it is "not found" rather than a bad request. */
static bool todo_id(fh_request_t *req, fh_response_t *res, job_t *job) {
    int64_t id;
    if (fh_input_parse_i64(fh_request_param(req, "id"), 1, INT64_MAX, &id) != FH_INPUT_OK) {
        fh_send_problem(res, 404, NULL, "no todo with this id", NULL);
        return false;
    }
    job->id = id;
    return true;
}

/* ?done, ?limit and ?offset, each checked by one call that answers the 400
 * problem itself (naming the parameter) when it is malformed or out of
 * range. */
static int list_todos(fh_request_t *req, fh_response_t *res, void *data) {
    job_t *job = new_job(req, OP_LIST, data);
    if (!job)
        return FH_ENOMEM;
    bool done = false;
    job->limit = LIMIT_DEFAULT;
    if (fh_query_bool_opt(req, res, "done", &done) ||
        fh_query_i64_opt(req, res, "limit", 1, LIMIT_MAX, &job->limit) ||
        fh_query_i64_opt(req, res, "offset", 0, 1000000000, &job->offset))
        return 0;
    fh_str_t sent;
    if (fh_request_query_raw(req, "done", &sent) == FH_INPUT_OK) /* a filter only when sent */
        job->done = done;
    return fh_offload(req, run_job, job_done, job);
}

static int get_todo(fh_request_t *req, fh_response_t *res, void *data) {
    job_t *job = new_job(req, OP_GET, data);
    if (!job)
        return FH_ENOMEM;
    if (!todo_id(req, res, job))
        return 0;
    return fh_offload(req, run_job, job_done, job);
}

static int delete_todo(fh_request_t *req, fh_response_t *res, void *data) {
    job_t *job = new_job(req, OP_DELETE, data);
    if (!job)
        return FH_ENOMEM;
    if (!todo_id(req, res, job))
        return 0;
    return fh_offload(req, run_job, job_done, job);
}

/* Validates a POST (create) or PATCH body into job; false when a problem
 * was sent. The title is copied into the arena: the JSON body is freed
 * here, the job lives until `done`. */
static bool read_body(fh_request_t *req, fh_response_t *res, job_t *job, bool create) {
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
        job->title = title ? fh_strdup(req, title) : NULL;
        job->done = has_done ? done : (create ? 0 : -1);
    }
    json_decref(body);
    if (!bad && title && !job->title) {
        fh_send_problem(res, 503, NULL, "out of memory", NULL);
        return false;
    }
    return !bad;
}

static int create_todo(fh_request_t *req, fh_response_t *res, void *data) {
    job_t *job = new_job(req, OP_CREATE, data);
    if (!job)
        return FH_ENOMEM;
    if (!read_body(req, res, job, true))
        return 0;
    return fh_offload(req, run_job, job_done, job);
}

static int update_todo(fh_request_t *req, fh_response_t *res, void *data) {
    job_t *job = new_job(req, OP_UPDATE, data);
    if (!job)
        return FH_ENOMEM;
    if (!todo_id(req, res, job) || !read_body(req, res, job, false))
        return 0;
    return fh_offload(req, run_job, job_done, job);
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

int main(int argc, char **argv) {
    fh_server_config_t cfg = fh_server_config_default();
    cfg.port = 3000;
    cfg.host = "127.0.0.1";
    const char *db_path = "./todos.db";
    const fh_flag_t flags[] = {
        FH_TEXT_FLAG("db", "FILE", "DB", "the SQLite database, created on first run", &db_path),
        FH_FLAGS_END,
    };
    static const char *const operands[] = { "port", "threads", NULL };
    fh_args_t args = { .summary = "A todo service stored in SQLite.",
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
    if (!*db_path)
        db_path = "./todos.db";

    /* The database and its table are created on first run. WAL lets readers
     * on other pool threads go on while one writes; the mode is stored in
     * the file. */
    sqlite3 *db = db_open(db_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    if (!db)
        return 1;
    char *msg = NULL;
    if (sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(db, SCHEMA, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "rest_api: %s: %s\n", db_path, msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        sqlite3_close(db);
        return 1;
    }
    sqlite3_close(db);

    /* One connection per thread of libuv's pool (UV_THREADPOOL_SIZE, 4 by
     * default): a work item never waits for a connection. */
    const char *tp = getenv("UV_THREADPOOL_SIZE");
    long slots = tp ? strtol(tp, NULL, 10) : 4;
    fh_pool_config_t pcfg = fh_pool_config_default();
    pcfg.max_size = slots >= 1 && slots <= 1024 ? (size_t)slots : 4;
    pcfg.create = conn_create;
    pcfg.destroy = conn_destroy;
    pcfg.data = (void *)db_path;
    fh_pool_t *pool;
    if (fh_pool_new(&pool, &pcfg)) {
        fprintf(stderr, "rest_api: out of memory\n");
        return 1;
    }

    fh_router_config_t rcfg = fh_router_config_default();
    rcfg.not_found = not_found;
    rcfg.method_not_allowed = not_allowed;
    fh_router_t *router;
    if (fh_router_new(&router, &rcfg) || fh_router_mount(router, "", ROUTES, pool)) {
        fprintf(stderr, "rest_api: routes: %s\n", router ? fh_router_error(router) : "");
        fh_router_free(router);
        fh_pool_free(pool);
        return 1;
    }

    cfg.handler = fh_router_handle;
    cfg.handler_data = router;

    fh_server_t *server;
    err = fh_server_new(&server, &cfg);
    if (err) {
        fprintf(stderr, "%s\n", fh_server_config_error(&cfg, err));
        fh_router_free(router);
        fh_pool_free(pool);
        return 1;
    }
    /* Freed by fh_server_free, once the last work item has given back its
     * connection: no connection outlives the server. */
    if (fh_server_own_pool(server, pool)) {
        fh_pool_free(pool);
        fh_server_free(server);
        fh_router_free(router);
        return 1;
    }
    printf("rest_api: listening on %s://%s:%d with %d threads, database %s\n",
           cfg.tls.cert_file ? "https" : "http", cfg.host ? cfg.host : "*", fh_server_port(server),
           fh_server_threads(server), db_path);
    fflush(stdout);
    err = fh_server_run(server); /* until SIGINT or SIGTERM */
    fh_server_free(server);
    fh_router_free(router);
    return err ? 1 : 0;
}
