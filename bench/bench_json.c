/* bench_json: what one JSON response body costs, built and serialized per
 * request with jansson, three ways:
 *
 *   plain  jansson on its default malloc/free: json_pack, json_dumps, free,
 *          json_decref (what a server without arenas does)
 *   heap   the same through fasthttp's tagged allocator hooks outside any
 *          scope (what code outside a handler pays for the tags)
 *   arena  what a fasthttp handler does: a request arena from the per-thread
 *          cache, json_pack in its scope, fh_json_dump into the arena,
 *          json_decref, the arena released
 *
 * for two documents: TechEmpower's {"message":"Hello, World!"} and a list of
 * 20 objects (a typical API page). Prints nanoseconds per body, best of 5.
 *
 * Usage: fh_bench_json [--iterations N] [N]   (default 1000000 per run;
 * --help lists the flags)
 */
#include <fasthttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static volatile size_t sink; /* keeps the work observable */

static json_t *doc_hello(void) { return json_pack("{s:s}", "message", "Hello, World!"); }

static json_t *doc_list(void) {
    json_t *items = json_array();
    for (int i = 0; i < 20; i++)
        json_array_append_new(items, json_pack("{s:i, s:s, s:b, s:f}", "id", i + 1, "message",
                                               "A computer program does what you tell it to do",
                                               "done", i & 1, "score", i * 1.5));
    return json_pack("{s:o, s:i}", "items", items, "total", 20);
}

typedef json_t *(*doc_fn)(void);

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void run_heap(doc_fn doc, long n) {
    for (long i = 0; i < n; i++) {
        json_t *v = doc();
        char *s = json_dumps(v, JSON_COMPACT);
        sink += strlen(s);
        free(s);
        json_decref(v);
    }
}

static void run_heap_tagged(doc_fn doc, long n) {
    for (long i = 0; i < n; i++) {
        json_t *v = doc();
        char *s = json_dumps(v, JSON_COMPACT);
        sink += strlen(s);
        fh_json_free(s); /* tagged memory: not free() */
        json_decref(v);
    }
}

static fh_arena_cache_t *cache;

static void run_arena(doc_fn doc, long n) {
    for (long i = 0; i < n; i++) {
        fh_arena_t *a;
        if (fh_arena_new(&a, cache) != 0)
            abort();
        fh_json_scope_t s = fh_json_arena_begin(a);
        json_t *v = doc();
        fh_str_t out = fh_json_dump(a, v, JSON_COMPACT);
        sink += out.len;
        json_decref(v);
        fh_json_scope_end(s);
        fh_arena_release(a);
    }
}

/* Best of 5 runs of n iterations, in ns per iteration. */
static double measure(void (*run)(doc_fn, long), doc_fn doc, long n) {
    run(doc, n / 10 + 1); /* warm caches and the allocator */
    double best = 0;
    for (int r = 0; r < 5; r++) {
        double t0 = now_ns();
        run(doc, n);
        double ns = (now_ns() - t0) / (double)n;
        if (r == 0 || ns < best)
            best = ns;
    }
    return best;
}

int main(int argc, char **argv) {
    long n = 1000000;
    const fh_flag_t flags[] = {
        FH_NUMBER_FLAG("iterations", "N", NULL, "bodies per run (the list gets a tenth)", &n, 10,
                       1000000000),
        FH_FLAGS_END,
    };
    static const char *const operands[] = { "iterations", NULL };
    fh_args_t args = { .summary = "What one JSON body costs: plain jansson, tagged heap, arena.",
                       .flags = flags,
                       .operands = operands };
    /* No server here: only the program's flags (cfg NULL). */
    int err = fh_server_config_args(NULL, argc, argv, &args);
    if (err == FH_ARGS_HELP) {
        fh_server_usage(stdout, argv[0], NULL, &args);
        return 0;
    }
    if (err) {
        fprintf(stderr, "%s\n", fh_server_config_error(NULL, err));
        return 2;
    }
    if (fh_arena_cache_new(&cache, 0, 0) != 0) {
        fprintf(stderr, "fh_bench_json: %s\n", fh_strerror(FH_ENOMEM));
        return 1;
    }
    static const struct {
        const char *name;
        doc_fn fn;
    } docs[] = { { "hello", doc_hello }, { "list20", doc_list } };

    printf("%-8s %12s %12s %12s %10s\n", "document", "plain ns", "heap ns", "arena ns",
           "plain/arena");
    for (size_t d = 0; d < sizeof(docs) / sizeof(docs[0]); d++) {
        long iters = d == 0 ? n : n / 10;
        /* plain: jansson's own allocator. Allowed here because no jansson
         * value exists while it is swapped in. */
        json_malloc_t fh_malloc;
        json_free_t fh_free;
        json_get_alloc_funcs(&fh_malloc, &fh_free);
        json_set_alloc_funcs(malloc, free);
        double plain = measure(run_heap, docs[d].fn, iters);
        json_set_alloc_funcs(fh_malloc, fh_free);
        double heap = measure(run_heap_tagged, docs[d].fn, iters);
        double arena = measure(run_arena, docs[d].fn, iters);
        printf("%-8s %12.1f %12.1f %12.1f %9.2fx\n", docs[d].name, plain, heap, arena,
               plain / arena);
    }
    fh_arena_cache_free(cache);
    return sink == 0;
}
