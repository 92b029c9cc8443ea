/* Metrics: per-thread series, merged into the Prometheus text format when
 * scraped (see metrics.h). */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/metrics.h"
#include "core/request.h"

_Thread_local fh__worker_t *fh__worker_current;

static const double default_buckets[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                          0.1,    0.25,  0.5,    1,     2.5,  5,     10 };
enum { NCLASSES = 5 };
/* Route labels of series that are not a route's pattern. */
static const char unmatched_route[] = "unmatched";
static const char other_route[] = "other";

static _Thread_local char metrics_msg[256];

const char *fh_metrics_error(void) { return metrics_msg; }

static int config_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(metrics_msg, sizeof(metrics_msg), "fasthttp: ");
    vsnprintf(metrics_msg + n, sizeof(metrics_msg) - (size_t)n, fmt, ap);
    va_end(ap);
    return FH_ECONFIG;
}

/* ------------------------------------------------------------- the objects */

/* A (route, method) series of one shard. Its counters: a count per status
 * class, then one per latency bucket (+Inf last, not cumulative), then the
 * latency sum in nanoseconds. route is published last (release), so that a
 * scrape that sees it sees the method too. */
typedef struct series {
    const char *_Atomic route;
    uint8_t method;
    fh__counter_t *c;
} series_t;

struct fh__metrics_shard {
    size_t cap, used; /* used: written by the owner only */
    series_t *tab;
    fh__counter_t *block;
    /* Copies of the metrics' own, so that counting a request reads the
     * shard alone. */
    const uint64_t *bounds_ns;
    size_t nbuckets, max_routes;
    series_t *last; /* the series counted last: requests in a row often share it */
};

enum { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM };

struct fh_metric {
    fh_metric_t *next;
    fh_metrics_t *owner;
    int kind;
    char *name, *help;
    size_t nb;
    double bounds[FH_METRICS_MAX_BUCKETS];
    size_t stride; /* counters per slot: 1, or buckets + 1 and the sum's bits */
    /* One slot per worker of the attached server (plain loads and stores by
     * its thread), NULL while not attached; and one slot shared by other
     * threads (read-modify-write atomics). */
    fh__counter_t *slots;
    fh__counter_t *shared;
    _Atomic uint64_t gauge_bits;
};

struct fh_metrics {
    fh_metrics_config_t cfg;
    double buckets[FH_METRICS_MAX_BUCKETS];
    uint64_t bounds_ns[FH_METRICS_MAX_BUCKETS];
    size_t stride; /* counters per series */
    size_t cap;    /* series slots per shard: a power of two */
    fh_server_t *_Atomic server;
    fh__metrics_shard_t *shards;
    int nshards;
    fh_metric_t *metrics, **metrics_tail;
    double start_time;
};

fh_metrics_config_t fh_metrics_config_default(void) {
    fh_metrics_config_t c = { NULL, 0, 256 };
    return c;
}

static int check_buckets(const char *field, const double *b, size_t n) {
    if (n == 0 || n > FH_METRICS_MAX_BUCKETS)
        return config_error("%s: %zu buckets: must be 1..%d", field, n, FH_METRICS_MAX_BUCKETS);
    for (size_t i = 0; i < n; i++) {
        if (!(b[i] > 0) || !isfinite(b[i]))
            return config_error("%s[%zu]: %g is not a positive number of seconds", field, i, b[i]);
        if (i && !(b[i] > b[i - 1]))
            return config_error("%s[%zu]: %g is not above %g", field, i, b[i], b[i - 1]);
    }
    return 0;
}

/* When the process started, in seconds since the epoch: its start in clock
 * ticks after boot (/proc/self/stat) plus the boot time (/proc/stat). */
static double process_start_time(void) {
    double now = (double)time(NULL);
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return now;
    char line[1024];
    size_t n = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[n] = '\0';
    char *p = strrchr(line, ')'); /* the command may hold spaces */
    unsigned long long ticks = 0;
    if (!p)
        return now;
    /* Fields after the command: state is the 3rd field, starttime the 22nd. */
    int field = 2;
    for (p++; *p && field < 22; p++)
        if (*p == ' ')
            field++;
    if (field != 22 || sscanf(p, "%llu", &ticks) != 1)
        return now;
    f = fopen("/proc/stat", "r");
    if (!f)
        return now;
    unsigned long long btime = 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "btime %llu", &btime) == 1)
            break;
    fclose(f);
    long hz = sysconf(_SC_CLK_TCK);
    if (!btime || hz <= 0)
        return now;
    return (double)btime + (double)ticks / (double)hz;
}

int fh_metrics_new(fh_metrics_t **out, const fh_metrics_config_t *cfg) {
    *out = NULL;
    metrics_msg[0] = '\0';
    fh_metrics_config_t c = cfg ? *cfg : fh_metrics_config_default();
    if (!c.buckets) {
        c.buckets = default_buckets;
        c.nbuckets = sizeof(default_buckets) / sizeof(default_buckets[0]);
    }
    int err = check_buckets("metrics.buckets", c.buckets, c.nbuckets);
    if (err)
        return err;
    if (c.max_routes == 0)
        c.max_routes = 256;
    if (c.max_routes > 65536)
        return config_error("metrics.max_routes: %zu is above 65536", c.max_routes);
    fh_metrics_t *m = calloc(1, sizeof(*m));
    if (!m)
        return FH_ENOMEM;
    m->cfg = c;
    memcpy(m->buckets, c.buckets, c.nbuckets * sizeof(double));
    m->cfg.buckets = m->buckets;
    for (size_t i = 0; i < c.nbuckets; i++)
        m->bounds_ns[i] = (uint64_t)(c.buckets[i] * 1e9);
    m->stride = NCLASSES + c.nbuckets + 1 + 1;
    /* Room for max_routes series, one "other" per method, and always a free
     * slot to end a probe. */
    size_t want = 2 * (c.max_routes + FH_METHOD_OTHER + 2);
    m->cap = 16;
    while (m->cap < want)
        m->cap *= 2;
    m->metrics_tail = &m->metrics;
    m->start_time = process_start_time();
    *out = m;
    return 0;
}

static void metric_free(fh_metric_t *x) {
    free(x->name);
    free(x->help);
    free(x->slots);
    free(x->shared);
    free(x);
}

static void shards_free(fh_metrics_t *m) {
    for (int i = 0; i < m->nshards; i++) {
        free(m->shards[i].tab);
        free(m->shards[i].block);
    }
    free(m->shards);
    m->shards = NULL;
    m->nshards = 0;
}

void fh_metrics_free(fh_metrics_t *m) {
    if (!m)
        return;
    for (fh_metric_t *x = m->metrics, *next; x; x = next) {
        next = x->next;
        metric_free(x);
    }
    shards_free(m);
    free(m);
}

/* ------------------------------------------------ the application's metrics */

static bool name_ok(const char *s) {
    if (!s || !*s)
        return false;
    for (const char *p = s; *p; p++) {
        char ch = *p;
        bool alpha = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || ch == ':';
        if (!alpha && !(p > s && ch >= '0' && ch <= '9'))
            return false;
    }
    return true;
}

static int metric_add(fh_metrics_t *m, int kind, const char *name, const char *help,
                      const double *buckets, size_t nb, fh_metric_t **out) {
    *out = NULL;
    metrics_msg[0] = '\0';
    if (atomic_load(&m->server))
        return FH_ESTATE;
    if (!name_ok(name))
        return config_error("metric name \"%s\": not [a-zA-Z_:][a-zA-Z0-9_:]*", name ? name : "");
    if (strncmp(name, "fasthttp_", 9) == 0 || strncmp(name, "process_", 8) == 0)
        return config_error("metric name \"%s\": the prefix is the server's", name);
    for (fh_metric_t *x = m->metrics; x; x = x->next)
        if (strcmp(x->name, name) == 0)
            return config_error("metric name \"%s\": taken", name);
    if (help && strchr(help, '\n'))
        return config_error("metric \"%s\": help holds a line break", name);
    if (kind == KIND_HISTOGRAM) {
        if (!buckets) {
            buckets = default_buckets;
            nb = sizeof(default_buckets) / sizeof(default_buckets[0]);
        }
        int err = check_buckets(name, buckets, nb);
        if (err)
            return err;
    }
    fh_metric_t *x = calloc(1, sizeof(*x));
    if (!x)
        return FH_ENOMEM;
    x->owner = m;
    x->kind = kind;
    x->nb = kind == KIND_HISTOGRAM ? nb : 0;
    if (x->nb)
        memcpy(x->bounds, buckets, nb * sizeof(double));
    x->stride = kind == KIND_HISTOGRAM ? nb + 2 : 1;
    x->name = strdup(name);
    x->help = strdup(help ? help : "");
    x->shared = calloc(x->stride, sizeof(fh__counter_t));
    if (!x->name || !x->help || !x->shared) {
        metric_free(x);
        return FH_ENOMEM;
    }
    *m->metrics_tail = x;
    m->metrics_tail = &x->next;
    *out = x;
    return 0;
}

int fh_metrics_counter(fh_metrics_t *m, const char *name, const char *help, fh_metric_t **out) {
    return metric_add(m, KIND_COUNTER, name, help, NULL, 0, out);
}

int fh_metrics_gauge(fh_metrics_t *m, const char *name, const char *help, fh_metric_t **out) {
    return metric_add(m, KIND_GAUGE, name, help, NULL, 0, out);
}

int fh_metrics_histogram(fh_metrics_t *m, const char *name, const char *help, const double *buckets,
                         size_t nbuckets, fh_metric_t **out) {
    return metric_add(m, KIND_HISTOGRAM, name, help, buckets, nbuckets, out);
}

static double bits_double(uint64_t b) {
    double d;
    memcpy(&d, &b, sizeof(d));
    return d;
}

static uint64_t double_bits(double d) {
    uint64_t b;
    memcpy(&b, &d, sizeof(b));
    return b;
}

/* This thread's slot of x, or NULL for a thread that is not one of the
 * attached server's workers. */
static fh__counter_t *own_slot(fh_metric_t *x) {
    fh__worker_t *w = fh__worker_current;
    if (!w || !x->slots || w->server->metrics != x->owner)
        return NULL;
    return x->slots + (size_t)w->index * x->stride;
}

void fh_metric_add(fh_metric_t *x, uint64_t n) {
    if (!x || x->kind != KIND_COUNTER)
        return;
    fh__counter_t *slot = own_slot(x);
    if (slot)
        FH__COUNT_ADD(slot[0], n);
    else
        atomic_fetch_add_explicit(&x->shared[0], n, memory_order_relaxed);
}

void fh_metric_set(fh_metric_t *x, double value) {
    if (x && x->kind == KIND_GAUGE)
        atomic_store_explicit(&x->gauge_bits, double_bits(value), memory_order_relaxed);
}

void fh_metric_gauge_add(fh_metric_t *x, double delta) {
    if (!x || x->kind != KIND_GAUGE)
        return;
    uint64_t old = atomic_load_explicit(&x->gauge_bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&x->gauge_bits, &old,
                                                  double_bits(bits_double(old) + delta),
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

void fh_metric_observe(fh_metric_t *x, double value) {
    if (!x || x->kind != KIND_HISTOGRAM || isnan(value))
        return;
    size_t b = 0;
    while (b < x->nb && value > x->bounds[b])
        b++;
    fh__counter_t *slot = own_slot(x);
    if (slot) {
        FH__COUNT(slot[b]);
        uint64_t sum = FH__COUNT_GET(slot[x->nb + 1]);
        atomic_store_explicit(&slot[x->nb + 1], double_bits(bits_double(sum) + value),
                              memory_order_relaxed);
        return;
    }
    atomic_fetch_add_explicit(&x->shared[b], 1, memory_order_relaxed);
    fh__counter_t *s = &x->shared[x->nb + 1];
    uint64_t old = atomic_load_explicit(s, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(s, &old, double_bits(bits_double(old) + value),
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

/* ------------------------------------------------------- attaching, counting */

int fh__metrics_attach(fh_metrics_t *m, fh_server_t *s) {
    fh_server_t *none = NULL;
    if (!atomic_compare_exchange_strong(&m->server, &none, s))
        return FH_ESTATE;
    int n = s->nworkers;
    m->shards = calloc((size_t)n, sizeof(*m->shards));
    if (!m->shards)
        goto nomem;
    m->nshards = n;
    for (int i = 0; i < n; i++) {
        fh__metrics_shard_t *sh = &m->shards[i];
        sh->cap = m->cap;
        sh->bounds_ns = m->bounds_ns;
        sh->nbuckets = m->cfg.nbuckets;
        sh->max_routes = m->cfg.max_routes;
        sh->tab = calloc(m->cap, sizeof(series_t));
        sh->block = calloc(m->cap * m->stride, sizeof(fh__counter_t));
        if (!sh->tab || !sh->block)
            goto nomem;
        for (size_t k = 0; k < m->cap; k++)
            sh->tab[k].c = sh->block + k * m->stride;
        s->workers[i].metrics = sh;
    }
    for (fh_metric_t *x = m->metrics; x; x = x->next) {
        x->slots = calloc((size_t)n * x->stride, sizeof(fh__counter_t));
        if (!x->slots)
            goto nomem;
    }
    return 0;
nomem:
    for (int i = 0; i < s->nworkers; i++)
        s->workers[i].metrics = NULL;
    fh__metrics_detach(m);
    return FH_ENOMEM;
}

void fh__metrics_detach(fh_metrics_t *m) {
    fh_server_t *s = atomic_load(&m->server);
    if (!s)
        return;
    for (fh_metric_t *x = m->metrics; x; x = x->next) {
        if (!x->slots)
            continue;
        for (int w = 0; w < m->nshards; w++) {
            fh__counter_t *slot = x->slots + (size_t)w * x->stride;
            for (size_t k = 0; k < x->stride; k++) {
                uint64_t v = FH__COUNT_GET(slot[k]);
                if (x->kind == KIND_HISTOGRAM && k == x->nb + 1)
                    atomic_store(
                        &x->shared[k],
                        double_bits(bits_double(atomic_load(&x->shared[k])) + bits_double(v)));
                else
                    atomic_fetch_add(&x->shared[k], v);
            }
        }
        free(x->slots);
        x->slots = NULL;
    }
    shards_free(m);
    atomic_store(&m->server, NULL);
}

/* The series of (route, method) past the first probe: further probes, and
 * a new series (or "other" past max_routes) when there is none. */
__attribute__((noinline)) static series_t *series_find_slow(fh__metrics_shard_t *sh,
                                                            const char *route, uint8_t method) {
    size_t mask = sh->cap - 1;
    for (;;) {
        size_t h =
            (size_t)((((uintptr_t)route >> 3) ^ method) * 0x9E3779B97F4A7C15ull >> 20) & mask;
        for (;;) {
            series_t *s = &sh->tab[h];
            const char *r = atomic_load_explicit(&s->route, memory_order_relaxed);
            if (r == route && s->method == method)
                return s;
            if (!r)
                break;
            h = (h + 1) & mask;
        }
        if (sh->used >= sh->max_routes && route != other_route && route != unmatched_route) {
            route = other_route; /* past the cap: counted together */
            continue;
        }
        series_t *s = &sh->tab[h];
        s->method = method;
        atomic_store_explicit(&s->route, route, memory_order_release);
        sh->used++;
        return s;
    }
}

void fh__metrics_record(fh__metrics_shard_t *sh, const fh_request_t *req) {
    const char *route = req->route ? req->route : unmatched_route;
    uint8_t method = req->method;
    /* The last series, else the first probe here, the rest out of line. */
    series_t *s = sh->last;
    if (!s || atomic_load_explicit(&s->route, memory_order_relaxed) != route ||
        s->method != method) {
        size_t h = (size_t)((((uintptr_t)route >> 3) ^ method) * 0x9E3779B97F4A7C15ull >> 20) &
                   (sh->cap - 1);
        s = &sh->tab[h];
        if (atomic_load_explicit(&s->route, memory_order_relaxed) != route || s->method != method)
            s = series_find_slow(sh, route, method);
        sh->last = s;
    }
    unsigned status = (unsigned)req->res.status;
    unsigned cls = status - 100u < 500u ? status / 100u - 1u : NCLASSES - 1;
    FH__COUNT(s->c[cls]);
    if (!req->start_ns)
        return;
    const fh__worker_t *w = req->worker;
    uint64_t done =
        w->releasing_group && w->group_done_ns ? w->group_done_ns : fh__request_done_ns(req);
    uint64_t ns = done - req->start_ns;
    size_t nb = sh->nbuckets, b = 0;
    while (b < nb && ns > sh->bounds_ns[b])
        b++;
    FH__COUNT(s->c[NCLASSES + b]);
    FH__COUNT_ADD(s->c[NCLASSES + nb + 1], ns);
}

/* ----------------------------------------------------------------- scraping */

typedef struct text {
    char *p;
    size_t len, cap;
    bool failed;
} text_t;

static void put(text_t *t, const char *fmt, ...) {
    if (t->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = true;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t ncap = t->cap * 2 + (size_t)n;
        char *np = realloc(t->p, ncap);
        if (!np) {
            t->failed = true;
            return;
        }
        t->p = np;
        t->cap = ncap;
    }
}

/* A label value with \, " and line feeds escaped. */
static void put_label(text_t *t, const char *v) {
    for (const char *p = v; *p; p++) {
        if (*p == '\\')
            put(t, "\\\\");
        else if (*p == '"')
            put(t, "\\\"");
        else if (*p == '\n')
            put(t, "\\n");
        else
            put(t, "%c", *p);
    }
}

static void put_head(text_t *t, const char *name, const char *type, const char *help) {
    put(t, "# HELP %s ", name);
    for (const char *p = help; *p; p++)
        put(t, *p == '\\' ? "\\\\" : "%c", *p);
    put(t, "\n# TYPE %s %s\n", name, type);
}

/* A merged series: the sum of every shard's series for (route, method). */
typedef struct merged {
    const char *route;
    uint8_t method;
    uint64_t *c;
} merged_t;

static int merged_cmp(const void *a, const void *b) {
    const merged_t *x = a, *y = b;
    int r = strcmp(x->route, y->route);
    return r ? r : (int)x->method - (int)y->method;
}

static void put_routes(text_t *t, fh_metrics_t *m) {
    size_t total = (size_t)m->nshards * m->cap, n = 0;
    merged_t *all = calloc(total ? total : 1, sizeof(*all));
    uint64_t *vals = calloc(total ? total * m->stride : 1, sizeof(uint64_t));
    if (!all || !vals) {
        free(all);
        free(vals);
        t->failed = true;
        return;
    }
    for (int i = 0; i < m->nshards; i++) {
        fh__metrics_shard_t *sh = &m->shards[i];
        for (size_t k = 0; k < sh->cap; k++) {
            const char *r = atomic_load_explicit(&sh->tab[k].route, memory_order_acquire);
            if (!r)
                continue;
            uint8_t method = sh->tab[k].method;
            merged_t *mg = NULL;
            for (size_t j = 0; j < n && !mg; j++)
                if (all[j].method == method && (all[j].route == r || strcmp(all[j].route, r) == 0))
                    mg = &all[j];
            if (!mg) {
                mg = &all[n];
                mg->route = r;
                mg->method = method;
                mg->c = vals + n * m->stride;
                n++;
            }
            for (size_t x = 0; x < m->stride; x++)
                mg->c[x] += FH__COUNT_GET(sh->tab[k].c[x]);
        }
    }
    qsort(all, n, sizeof(*all), merged_cmp);
    size_t nb = m->cfg.nbuckets;
    put_head(t, "fasthttp_requests_total", "counter",
             "Requests answered, by route pattern, method and status class.");
    for (size_t j = 0; j < n; j++)
        for (unsigned cls = 0; cls < NCLASSES; cls++) {
            if (!all[j].c[cls])
                continue;
            put(t, "fasthttp_requests_total{route=\"");
            put_label(t, all[j].route);
            put(t, "\",method=\"%s\",code=\"%uxx\"} %" PRIu64 "\n", fh_method_name(all[j].method),
                cls + 1, all[j].c[cls]);
        }
    put_head(t, "fasthttp_request_duration_seconds", "histogram",
             "Time from the complete request head to the response written, by route pattern "
             "and method.");
    for (size_t j = 0; j < n; j++) {
        uint64_t cum = 0;
        for (size_t b = 0; b <= nb; b++)
            cum += all[j].c[NCLASSES + b];
        if (!cum)
            continue;
        cum = 0;
        for (size_t b = 0; b <= nb; b++) {
            cum += all[j].c[NCLASSES + b];
            put(t, "fasthttp_request_duration_seconds_bucket{route=\"");
            put_label(t, all[j].route);
            if (b < nb)
                put(t, "\",method=\"%s\",le=\"%.9g\"} %" PRIu64 "\n", fh_method_name(all[j].method),
                    m->buckets[b], cum);
            else
                put(t, "\",method=\"%s\",le=\"+Inf\"} %" PRIu64 "\n", fh_method_name(all[j].method),
                    cum);
        }
        for (int k = 0; k < 2; k++) {
            put(t, "fasthttp_request_duration_seconds_%s{route=\"", k ? "count" : "sum");
            put_label(t, all[j].route);
            put(t, "\",method=\"%s\"} ", fh_method_name(all[j].method));
            if (k)
                put(t, "%" PRIu64 "\n", cum);
            else
                put(t, "%.9f\n", (double)all[j].c[NCLASSES + nb + 1] / 1e9);
        }
    }
    free(all);
    free(vals);
}

static void put_server(text_t *t, fh_metrics_t *m, fh_server_t *s) {
    uint64_t created = 0, released = 0, accepted = 0, refused = 0, in = 0, out = 0;
    uint64_t errors[200] = { 0 };
    for (int i = 0; i < s->nworkers; i++) {
        fh__worker_t *w = &s->workers[i];
        /* released first: a request counted released was counted created. */
        released += FH__COUNT_GET(w->stats.released);
        created += FH__COUNT_GET(w->stats.created);
        accepted += FH__COUNT_GET(w->stats.accepted);
        refused += FH__COUNT_GET(w->stats.refused);
        in += FH__COUNT_GET(w->stats.bytes_in);
        out += FH__COUNT_GET(w->stats.bytes_out);
        for (int k = 0; k < 200; k++)
            errors[k] += FH__COUNT_GET(w->stats.core_errors[k]);
    }
    uint64_t open = atomic_load_explicit(&s->nconns, memory_order_relaxed);
    put_head(t, "fasthttp_requests_in_flight", "gauge",
             "Requests received and not yet done (answered and written).");
    put(t, "fasthttp_requests_in_flight %" PRIu64 "\n",
        created > released ? created - released : 0);
    put_head(t, "fasthttp_connections_open", "gauge", "Client connections open now.");
    put(t, "fasthttp_connections_open %" PRIu64 "\n", open);
    put_head(t, "fasthttp_connections_accepted_total", "counter", "Client connections accepted.");
    put(t, "fasthttp_connections_accepted_total %" PRIu64 "\n", accepted);
    put_head(t, "fasthttp_connections_refused_total", "counter",
             "Accepted connections closed at once for lack of memory.");
    put(t, "fasthttp_connections_refused_total %" PRIu64 "\n", refused);
    put_head(t, "fasthttp_received_bytes_total", "counter", "Bytes read from client sockets.");
    put(t, "fasthttp_received_bytes_total %" PRIu64 "\n", in);
    put_head(t, "fasthttp_sent_bytes_total", "counter", "Bytes written to client sockets.");
    put(t, "fasthttp_sent_bytes_total %" PRIu64 "\n", out);
    put_head(t, "fasthttp_core_errors_total", "counter",
             "Error answers the server gave itself (malformed requests, limits, timeouts, "
             "failed handlers), by status.");
    for (int k = 0; k < 200; k++)
        if (errors[k])
            put(t, "fasthttp_core_errors_total{code=\"%d\"} %" PRIu64 "\n", 400 + k, errors[k]);
    put_head(t, "fasthttp_worker_threads", "gauge", "Worker threads serving requests.");
    put(t, "fasthttp_worker_threads %d\n", s->nworkers);
    put_head(t, "process_start_time_seconds", "gauge",
             "Start time of the process since the Unix epoch in seconds.");
    put(t, "process_start_time_seconds %.3f\n", m->start_time);
}

static void put_user(text_t *t, fh_metrics_t *m) {
    for (fh_metric_t *x = m->metrics; x; x = x->next) {
        static const char *const types[] = { "counter", "gauge", "histogram" };
        put_head(t, x->name, types[x->kind], x->help);
        if (x->kind == KIND_GAUGE) {
            put(t, "%s %.17g\n", x->name,
                bits_double(atomic_load_explicit(&x->gauge_bits, memory_order_relaxed)));
            continue;
        }
        uint64_t v[FH_METRICS_MAX_BUCKETS + 2] = { 0 };
        double sum = 0;
        int nslots = x->slots ? m->nshards : 0;
        for (int w = -1; w < nslots; w++) {
            fh__counter_t *slot = w < 0 ? x->shared : x->slots + (size_t)w * x->stride;
            for (size_t k = 0; k < x->stride; k++) {
                uint64_t c = FH__COUNT_GET(slot[k]);
                if (x->kind == KIND_HISTOGRAM && k == x->nb + 1)
                    sum += bits_double(c);
                else
                    v[k] += c;
            }
        }
        if (x->kind == KIND_COUNTER) {
            put(t, "%s %" PRIu64 "\n", x->name, v[0]);
            continue;
        }
        uint64_t cum = 0;
        for (size_t b = 0; b <= x->nb; b++) {
            cum += v[b];
            if (b < x->nb)
                put(t, "%s_bucket{le=\"%.9g\"} %" PRIu64 "\n", x->name, x->bounds[b], cum);
            else
                put(t, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", x->name, cum);
        }
        put(t, "%s_sum %.17g\n%s_count %" PRIu64 "\n", x->name, sum, x->name, cum);
    }
}

int fh_metrics_text(fh_metrics_t *m, char **text, size_t *len) {
    *text = NULL;
    *len = 0;
    fh_server_t *s = atomic_load(&m->server);
    if (!s)
        return FH_ESTATE;
    text_t t = { malloc(16384), 0, 16384, false };
    if (!t.p)
        return FH_ENOMEM;
    put_routes(&t, m);
    put_server(&t, m, s);
    put_user(&t, m);
    if (t.failed) {
        free(t.p);
        return FH_ENOMEM;
    }
    *text = t.p;
    *len = t.len;
    return 0;
}

int fh_metrics_handler(fh_request_t *req, fh_response_t *res, void *data) {
    fh_metrics_t *m = data;
    if (!m || atomic_load(&m->server) != req->worker->server)
        return fh_send_text(res, 503, "metrics are not counted by this server\n");
    char *text;
    size_t len;
    int err = fh_metrics_text(m, &text, &len);
    if (err)
        return err;
    err = fh_send(res, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
    return err;
}

/* ------------------------------------------------------------------ health */

int fh_health_live(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req;
    (void)data;
    int err = fh_response_header(res, "Cache-Control", "no-store");
    return err ? err : fh_send_text(res, 200, "ok\n");
}

int fh_health_ready(fh_request_t *req, fh_response_t *res, void *data) {
    const fh_readiness_t *r = data;
    fh__worker_t *w = req->worker;
    int err = fh_response_header(res, "Cache-Control", "no-store");
    if (err)
        return err;
    if (w->stopping || atomic_load_explicit(&w->server->stop_requested, memory_order_relaxed))
        return fh_send_text(res, 503, "draining\n");
    if (r && r->check && !r->check(r->data))
        return fh_send_text(res, 503, "not ready\n");
    return fh_send_text(res, 200, "ready\n");
}
