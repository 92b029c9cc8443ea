/* sse: a live event stream with Server-Sent Events.
 *
 *   GET /        -> a small HTML page whose EventSource shows the ticks
 *   GET /events  -> text/event-stream: an event "tick" every second whose
 *                   data is {"n":N,"time":"..."} and whose id is N. A client
 *                   reconnecting with Last-Event-ID: K resumes at K+1.
 *                   ?count=N ends the stream after N events (0 or absent:
 *                   never).
 *
 * Each stream owns a libuv timer on its request's loop; the timer writes
 * with fh_sse_send and the stream ends when the count is reached or the
 * client leaves (the response's cancel callback).
 *
 * Usage: sse [--host HOST] [--port PORT] [--threads N] [--tick-ms MS]
 * [PORT [THREADS]] (--help lists them). Flags win over the environment
 * variables HOST (default 127.0.0.1), PORT (default 3000), THREADS (default
 * 0: one per CPU) and TICK_MS (default 1000).
 */
#include <fasthttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char PAGE[] = "<!doctype html>\n"
                           "<html lang=\"en\">\n"
                           "<meta charset=\"utf-8\">\n"
                           "<title>fasthttp SSE</title>\n"
                           "<h1>Ticks: <span id=\"n\">-</span></h1>\n"
                           "<p id=\"state\">connecting...</p>\n"
                           "<ol id=\"log\" reversed></ol>\n"
                           "<script>\n"
                           "const events = new EventSource('/events');\n"
                           "const state = document.getElementById('state');\n"
                           "events.onopen = () => { state.textContent = 'connected'; };\n"
                           "events.onerror = () => { state.textContent = 'reconnecting...'; };\n"
                           "events.addEventListener('tick', (e) => {\n"
                           "  const tick = JSON.parse(e.data);\n"
                           "  document.getElementById('n').textContent = tick.n;\n"
                           "  const item = document.createElement('li');\n"
                           "  item.textContent = tick.time;\n"
                           "  const log = document.getElementById('log');\n"
                           "  log.prepend(item);\n"
                           "  while (log.children.length > 10) log.lastChild.remove();\n"
                           "});\n"
                           "</script>\n";

/* One open stream and its timer; freed when the timer handle is closed. */
typedef struct ticker {
    uv_timer_t timer;
    fh_stream_t *st;
    unsigned long long next; /* the next event's number */
    unsigned long long left; /* events still to send; 0: no end */
} ticker_t;

static uint64_t tick_ms = 1000;

static void ticker_free(uv_handle_t *h) { free(h->data); }

/* Ends the stream and releases the ticker. The cancel callback is removed
 * first: after fh_stream_end the request may be gone. */
static void ticker_finish(ticker_t *t) {
    fh_response_on_cancel(fh_stream_response(t->st), NULL, NULL);
    uv_timer_stop(&t->timer);
    fh_stream_end(t->st);
    uv_close((uv_handle_t *)&t->timer, ticker_free);
}

static void on_cancel(fh_response_t *res, void *data) {
    (void)res;
    ticker_finish(data); /* the client left, or the server is stopping */
}

static void on_tick(uv_timer_t *timer) {
    ticker_t *t = timer->data;
    char data[96], id[24], stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(id, sizeof(id), "%llu", t->next);
    snprintf(data, sizeof(data), "{\"n\":%llu,\"time\":\"%s\"}", t->next, stamp);
    fh_sse_event_t ev = { .event = "tick", .id = id, .data = data };
    int err = fh_sse_send(t->st, &ev);
    if (err == FH_EAGAIN)
        return; /* a slow reader: this tick is skipped, the next one tries again */
    if (err) {
        ticker_finish(t); /* FH_ECANCELED is answered by on_cancel too, but */
        return;           /* it cannot hurt to stop writing now */
    }
    t->next++;
    if (t->left && --t->left == 0)
        ticker_finish(t);
}

/* A decimal number, or def for an absent or malformed one. */
static unsigned long long number(fh_str_t s, unsigned long long def) {
    if (fh_str_absent(s) || s.len == 0 || s.len > 18)
        return def;
    unsigned long long v = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] < '0' || s.ptr[i] > '9')
            return def;
        v = v * 10 + (unsigned)(s.ptr[i] - '0');
    }
    return v;
}

static int events(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    ticker_t *t = calloc(1, sizeof(*t));
    if (!t)
        return FH_ENOMEM;
    t->next = number(fh_request_header(req, "Last-Event-ID"), 0) + 1;
    t->left = number(fh_request_query(req, "count"), 0);
    fh_sse_options_t opts = { .retry_ms = 3000 };
    int err = fh_sse_begin(res, &t->st, &opts);
    if (err) {
        free(t);
        return err;
    }
    uv_timer_init(fh_request_loop(req), &t->timer);
    t->timer.data = t;
    fh_response_on_cancel(res, on_cancel, t);
    uv_timer_start(&t->timer, on_tick, 0, tick_ms); /* the first event at once */
    return 0;
}

static int page(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req, (void)data;
    return fh_send(res, 200, "text/html; charset=utf-8", PAGE, sizeof(PAGE) - 1);
}

static const fh_route_t ROUTES[] = {
    FH_GET("/", page),
    FH_GET("/events", events),
    FH_ROUTES_END,
};

int main(int argc, char **argv) {
    fh_server_config_t cfg = fh_server_config_default();
    cfg.port = 3000;
    cfg.host = "127.0.0.1";
    long tick = 1000;
    const fh_flag_t flags[] = {
        FH_NUMBER_FLAG("tick-ms", "MS", "TICK_MS", "milliseconds between events", &tick, 1,
                       3600000),
        FH_FLAGS_END,
    };
    static const char *const operands[] = { "port", "threads", NULL };
    fh_args_t args = { .summary = "A live event stream with Server-Sent Events.",
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
    tick_ms = (uint64_t)tick;

    fh_router_t *router;
    if (fh_router_new(&router, NULL) || fh_router_mount(router, "", ROUTES, NULL)) {
        fprintf(stderr, "sse: routes: %s\n", router ? fh_router_error(router) : "");
        fh_router_free(router);
        return 1;
    }
    cfg.handler = fh_router_handle;
    cfg.handler_data = router;

    fh_server_t *server;
    err = fh_server_new(&server, &cfg);
    if (err) {
        fprintf(stderr, "%s\n", fh_server_config_error(&cfg, err));
        fh_router_free(router);
        return 1;
    }
    printf("sse: listening on %s://%s:%d with %d threads\n", cfg.tls.cert_file ? "https" : "http",
           cfg.host ? cfg.host : "*", fh_server_port(server), fh_server_threads(server));
    fflush(stdout);
    err = fh_server_run(server); /* until SIGINT or SIGTERM */
    fh_server_free(server);
    fh_router_free(router);
    return err ? 1 : 0;
}
