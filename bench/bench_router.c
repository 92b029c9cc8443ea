/* Router benchmarks.
 *
 *   bench_router [lookup] [--rounds R] [--millis MS]
 *       Lookup cost (ns per fh_router_lookup, median of R rounds of MS
 *       milliseconds each) for synthetic tables of 10, 100, 1,000 and 10,000
 *       routes and for a GitHub-sized REST API of about 200 routes, plus the
 *       number of malloc/free calls made during all the timed lookups (this
 *       program counts every allocation in the process).
 *
 *   bench_router profile [--routes N] [--set fixed|spread] [--rounds R]
 *       R passes (default 7) over one request set and nothing else, for a
 *       profiler or callgrind (instruction counts do not depend on the load
 *       of a shared machine, unlike times): the API requests (N = 0, the
 *       default) or a synthetic table of N routes with the fixed or spread
 *       requests.
 *
 *   bench_router serve --mode raw|routed [--port P] [--threads N]
 *       A hello server for the end-to-end comparison (bench/router_e2e):
 *       "raw" answers GET / from one handler, like examples/hello; "routed"
 *       puts the same handler behind fh_router_handle with the whole API
 *       table, and answers a parameter route (/repos/:owner/:repo) too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fasthttp.h>

#include "alloc_count.h"

/* ------------------------------------------------------------- handlers */

static int hello(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req;
    (void)data;
    return fh_send_text(res, 200, "Hello, World!");
}

/* The unrouted server's handler: examples/hello's. */
static int hello_raw(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t path = fh_request_path(req);
    if (fh_str_eq(path, "/"))
        return fh_send_text(res, 200, "Hello, World!");
    return fh_send_textf(res, 404, "%.*s not found", FH_STR_FMT(path));
}

/* The routed parameter route reads its parameters, as a real one would. */
static int hello_repo(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t owner = fh_request_param(req, "owner"), repo = fh_request_param(req, "repo");
    if (!owner.len || !repo.len)
        return fh_send_status(res, 400);
    return fh_send_text(res, 200, "Hello, World!");
}

/* --------------------------------------------------- a GitHub-sized API */

/* A REST API for a code-hosting service, of the size and shape of GitHub's
 * public one: accounts, organisations, repositories with their issues, pull
 * requests, reviews, git data, releases, CI runs, and the odd global
 * endpoint. Written for this benchmark. */
static const fh_route_t code_host_api[] = {
    FH_GET("/", hello),
    FH_GET("/meta", hello),
    FH_GET("/rate_limit", hello),
    FH_GET("/emojis", hello),
    FH_GET("/octocat", hello),
    FH_GET("/zen", hello),
    FH_GET("/versions", hello),
    FH_POST("/markdown", hello),
    FH_POST("/markdown/raw", hello),
    FH_GET("/licenses", hello),
    FH_GET("/licenses/:license", hello),
    FH_GET("/gitignore/templates", hello),
    FH_GET("/gitignore/templates/:name", hello),
    FH_GET("/events", hello),
    FH_GET("/feeds", hello),
    FH_GET("/notifications", hello),
    FH_PUT("/notifications", hello),
    FH_GET("/notifications/threads/:thread_id", hello),
    FH_PATCH("/notifications/threads/:thread_id", hello),
    FH_DELETE("/notifications/threads/:thread_id", hello),
    FH_GET("/notifications/threads/:thread_id/subscription", hello),
    FH_PUT("/notifications/threads/:thread_id/subscription", hello),
    FH_GET("/search/code", hello),
    FH_GET("/search/commits", hello),
    FH_GET("/search/issues", hello),
    FH_GET("/search/labels", hello),
    FH_GET("/search/repositories", hello),
    FH_GET("/search/topics", hello),
    FH_GET("/search/users", hello),
    /* The signed-in account. */
    FH_GET("/user", hello),
    FH_PATCH("/user", hello),
    FH_GET("/user/emails", hello),
    FH_POST("/user/emails", hello),
    FH_DELETE("/user/emails", hello),
    FH_GET("/user/followers", hello),
    FH_GET("/user/following", hello),
    FH_GET("/user/following/:username", hello),
    FH_PUT("/user/following/:username", hello),
    FH_DELETE("/user/following/:username", hello),
    FH_GET("/user/keys", hello),
    FH_POST("/user/keys", hello),
    FH_GET("/user/keys/:key_id", hello),
    FH_DELETE("/user/keys/:key_id", hello),
    FH_GET("/user/gpg_keys", hello),
    FH_POST("/user/gpg_keys", hello),
    FH_GET("/user/gpg_keys/:gpg_key_id", hello),
    FH_DELETE("/user/gpg_keys/:gpg_key_id", hello),
    FH_GET("/user/repos", hello),
    FH_POST("/user/repos", hello),
    FH_GET("/user/orgs", hello),
    FH_GET("/user/teams", hello),
    FH_GET("/user/issues", hello),
    FH_GET("/user/starred", hello),
    FH_GET("/user/starred/:owner/:repo", hello),
    FH_PUT("/user/starred/:owner/:repo", hello),
    FH_DELETE("/user/starred/:owner/:repo", hello),
    FH_GET("/user/subscriptions", hello),
    FH_GET("/user/installations", hello),
    FH_GET("/user/blocks", hello),
    FH_GET("/user/blocks/:username", hello),
    FH_PUT("/user/blocks/:username", hello),
    FH_DELETE("/user/blocks/:username", hello),
    /* Other accounts. */
    FH_GET("/users", hello),
    FH_GET("/users/:username", hello),
    FH_GET("/users/:username/events", hello),
    FH_GET("/users/:username/events/public", hello),
    FH_GET("/users/:username/followers", hello),
    FH_GET("/users/:username/following", hello),
    FH_GET("/users/:username/following/:target_user", hello),
    FH_GET("/users/:username/gists", hello),
    FH_GET("/users/:username/keys", hello),
    FH_GET("/users/:username/orgs", hello),
    FH_GET("/users/:username/repos", hello),
    FH_GET("/users/:username/starred", hello),
    FH_GET("/users/:username/subscriptions", hello),
    FH_GET("/users/:username/received_events", hello),
    /* Gists. */
    FH_GET("/gists", hello),
    FH_POST("/gists", hello),
    FH_GET("/gists/public", hello),
    FH_GET("/gists/starred", hello),
    FH_GET("/gists/:gist_id", hello),
    FH_PATCH("/gists/:gist_id", hello),
    FH_DELETE("/gists/:gist_id", hello),
    FH_GET("/gists/:gist_id/comments", hello),
    FH_POST("/gists/:gist_id/comments", hello),
    FH_GET("/gists/:gist_id/comments/:comment_id", hello),
    FH_PATCH("/gists/:gist_id/comments/:comment_id", hello),
    FH_DELETE("/gists/:gist_id/comments/:comment_id", hello),
    FH_GET("/gists/:gist_id/commits", hello),
    FH_GET("/gists/:gist_id/forks", hello),
    FH_POST("/gists/:gist_id/forks", hello),
    FH_PUT("/gists/:gist_id/star", hello),
    FH_DELETE("/gists/:gist_id/star", hello),
    FH_GET("/gists/:gist_id/:sha", hello),
    /* Organisations and teams. */
    FH_GET("/organizations", hello),
    FH_GET("/orgs/:org", hello),
    FH_PATCH("/orgs/:org", hello),
    FH_GET("/orgs/:org/events", hello),
    FH_GET("/orgs/:org/hooks", hello),
    FH_POST("/orgs/:org/hooks", hello),
    FH_GET("/orgs/:org/hooks/:hook_id", hello),
    FH_PATCH("/orgs/:org/hooks/:hook_id", hello),
    FH_DELETE("/orgs/:org/hooks/:hook_id", hello),
    FH_GET("/orgs/:org/members", hello),
    FH_GET("/orgs/:org/members/:username", hello),
    FH_DELETE("/orgs/:org/members/:username", hello),
    FH_GET("/orgs/:org/memberships/:username", hello),
    FH_PUT("/orgs/:org/memberships/:username", hello),
    FH_GET("/orgs/:org/repos", hello),
    FH_POST("/orgs/:org/repos", hello),
    FH_GET("/orgs/:org/teams", hello),
    FH_POST("/orgs/:org/teams", hello),
    FH_GET("/orgs/:org/teams/:team_slug", hello),
    FH_PATCH("/orgs/:org/teams/:team_slug", hello),
    FH_DELETE("/orgs/:org/teams/:team_slug", hello),
    FH_GET("/orgs/:org/teams/:team_slug/members", hello),
    FH_GET("/orgs/:org/teams/:team_slug/repos", hello),
    FH_PUT("/orgs/:org/teams/:team_slug/repos/:owner/:repo", hello),
    FH_GET("/orgs/:org/actions/secrets", hello),
    FH_GET("/orgs/:org/actions/secrets/:secret_name", hello),
    FH_PUT("/orgs/:org/actions/secrets/:secret_name", hello),
    /* Repositories. */
    FH_GET("/repositories", hello),
    FH_GET("/repos/:owner/:repo", hello_repo),
    FH_PATCH("/repos/:owner/:repo", hello),
    FH_DELETE("/repos/:owner/:repo", hello),
    FH_GET("/repos/:owner/:repo/topics", hello),
    FH_PUT("/repos/:owner/:repo/topics", hello),
    FH_GET("/repos/:owner/:repo/languages", hello),
    FH_GET("/repos/:owner/:repo/contributors", hello),
    FH_GET("/repos/:owner/:repo/tags", hello),
    FH_GET("/repos/:owner/:repo/forks", hello),
    FH_POST("/repos/:owner/:repo/forks", hello),
    FH_GET("/repos/:owner/:repo/stargazers", hello),
    FH_GET("/repos/:owner/:repo/subscribers", hello),
    FH_GET("/repos/:owner/:repo/events", hello),
    FH_GET("/repos/:owner/:repo/readme", hello),
    FH_GET("/repos/:owner/:repo/contents/*path", hello),
    FH_PUT("/repos/:owner/:repo/contents/*path", hello),
    FH_DELETE("/repos/:owner/:repo/contents/*path", hello),
    FH_GET("/repos/:owner/:repo/tarball/:ref", hello),
    FH_GET("/repos/:owner/:repo/zipball/:ref", hello),
    FH_GET("/repos/:owner/:repo/branches", hello),
    FH_GET("/repos/:owner/:repo/branches/:branch", hello),
    FH_GET("/repos/:owner/:repo/branches/:branch/protection", hello),
    FH_PUT("/repos/:owner/:repo/branches/:branch/protection", hello),
    FH_DELETE("/repos/:owner/:repo/branches/:branch/protection", hello),
    FH_POST("/repos/:owner/:repo/branches/:branch/rename", hello),
    FH_GET("/repos/:owner/:repo/collaborators", hello),
    FH_GET("/repos/:owner/:repo/collaborators/:username", hello),
    FH_PUT("/repos/:owner/:repo/collaborators/:username", hello),
    FH_DELETE("/repos/:owner/:repo/collaborators/:username", hello),
    FH_GET("/repos/:owner/:repo/commits", hello),
    FH_GET("/repos/:owner/:repo/commits/:ref", hello),
    FH_GET("/repos/:owner/:repo/commits/:ref/status", hello),
    FH_GET("/repos/:owner/:repo/commits/:ref/statuses", hello),
    FH_GET("/repos/:owner/:repo/commits/:ref/comments", hello),
    FH_POST("/repos/:owner/:repo/commits/:ref/comments", hello),
    FH_GET("/repos/:owner/:repo/compare/:basehead", hello),
    FH_POST("/repos/:owner/:repo/statuses/:sha", hello),
    FH_GET("/repos/:owner/:repo/hooks", hello),
    FH_POST("/repos/:owner/:repo/hooks", hello),
    FH_GET("/repos/:owner/:repo/hooks/:hook_id", hello),
    FH_PATCH("/repos/:owner/:repo/hooks/:hook_id", hello),
    FH_DELETE("/repos/:owner/:repo/hooks/:hook_id", hello),
    FH_POST("/repos/:owner/:repo/hooks/:hook_id/pings", hello),
    FH_GET("/repos/:owner/:repo/keys", hello),
    FH_POST("/repos/:owner/:repo/keys", hello),
    FH_GET("/repos/:owner/:repo/keys/:key_id", hello),
    FH_DELETE("/repos/:owner/:repo/keys/:key_id", hello),
    /* Issues. */
    FH_GET("/repos/:owner/:repo/issues", hello),
    FH_POST("/repos/:owner/:repo/issues", hello),
    FH_GET("/repos/:owner/:repo/issues/comments", hello),
    FH_GET("/repos/:owner/:repo/issues/comments/:comment_id", hello),
    FH_PATCH("/repos/:owner/:repo/issues/comments/:comment_id", hello),
    FH_DELETE("/repos/:owner/:repo/issues/comments/:comment_id", hello),
    FH_GET("/repos/:owner/:repo/issues/events", hello),
    FH_GET("/repos/:owner/:repo/issues/:issue_number", hello),
    FH_PATCH("/repos/:owner/:repo/issues/:issue_number", hello),
    FH_GET("/repos/:owner/:repo/issues/:issue_number/comments", hello),
    FH_POST("/repos/:owner/:repo/issues/:issue_number/comments", hello),
    FH_GET("/repos/:owner/:repo/issues/:issue_number/events", hello),
    FH_GET("/repos/:owner/:repo/issues/:issue_number/labels", hello),
    FH_POST("/repos/:owner/:repo/issues/:issue_number/labels", hello),
    FH_PUT("/repos/:owner/:repo/issues/:issue_number/labels", hello),
    FH_DELETE("/repos/:owner/:repo/issues/:issue_number/labels", hello),
    FH_DELETE("/repos/:owner/:repo/issues/:issue_number/labels/:name", hello),
    FH_PUT("/repos/:owner/:repo/issues/:issue_number/lock", hello),
    FH_DELETE("/repos/:owner/:repo/issues/:issue_number/lock", hello),
    FH_GET("/repos/:owner/:repo/labels", hello),
    FH_POST("/repos/:owner/:repo/labels", hello),
    FH_GET("/repos/:owner/:repo/labels/:name", hello),
    FH_PATCH("/repos/:owner/:repo/labels/:name", hello),
    FH_DELETE("/repos/:owner/:repo/labels/:name", hello),
    FH_GET("/repos/:owner/:repo/milestones", hello),
    FH_POST("/repos/:owner/:repo/milestones", hello),
    FH_GET("/repos/:owner/:repo/milestones/:milestone_number", hello),
    FH_PATCH("/repos/:owner/:repo/milestones/:milestone_number", hello),
    FH_DELETE("/repos/:owner/:repo/milestones/:milestone_number", hello),
    /* Pull requests. */
    FH_GET("/repos/:owner/:repo/pulls", hello),
    FH_POST("/repos/:owner/:repo/pulls", hello),
    FH_GET("/repos/:owner/:repo/pulls/comments", hello),
    FH_GET("/repos/:owner/:repo/pulls/:pull_number", hello),
    FH_PATCH("/repos/:owner/:repo/pulls/:pull_number", hello),
    FH_GET("/repos/:owner/:repo/pulls/:pull_number/commits", hello),
    FH_GET("/repos/:owner/:repo/pulls/:pull_number/files", hello),
    FH_GET("/repos/:owner/:repo/pulls/:pull_number/merge", hello),
    FH_PUT("/repos/:owner/:repo/pulls/:pull_number/merge", hello),
    FH_GET("/repos/:owner/:repo/pulls/:pull_number/comments", hello),
    FH_POST("/repos/:owner/:repo/pulls/:pull_number/comments", hello),
    FH_GET("/repos/:owner/:repo/pulls/:pull_number/reviews", hello),
    FH_POST("/repos/:owner/:repo/pulls/:pull_number/reviews", hello),
    FH_GET("/repos/:owner/:repo/pulls/:pull_number/reviews/:review_id", hello),
    FH_PUT("/repos/:owner/:repo/pulls/:pull_number/reviews/:review_id", hello),
    FH_POST("/repos/:owner/:repo/pulls/:pull_number/reviews/:review_id/events", hello),
    FH_GET("/repos/:owner/:repo/pulls/:pull_number/requested_reviewers", hello),
    FH_POST("/repos/:owner/:repo/pulls/:pull_number/requested_reviewers", hello),
    /* Git data. */
    FH_POST("/repos/:owner/:repo/git/blobs", hello),
    FH_GET("/repos/:owner/:repo/git/blobs/:file_sha", hello),
    FH_POST("/repos/:owner/:repo/git/commits", hello),
    FH_GET("/repos/:owner/:repo/git/commits/:commit_sha", hello),
    FH_GET("/repos/:owner/:repo/git/matching-refs/*ref", hello),
    FH_GET("/repos/:owner/:repo/git/ref/*ref", hello),
    FH_POST("/repos/:owner/:repo/git/refs", hello),
    FH_PATCH("/repos/:owner/:repo/git/refs/*ref", hello),
    FH_DELETE("/repos/:owner/:repo/git/refs/*ref", hello),
    FH_POST("/repos/:owner/:repo/git/tags", hello),
    FH_GET("/repos/:owner/:repo/git/tags/:tag_sha", hello),
    FH_POST("/repos/:owner/:repo/git/trees", hello),
    FH_GET("/repos/:owner/:repo/git/trees/:tree_sha", hello),
    /* Releases. */
    FH_GET("/repos/:owner/:repo/releases", hello),
    FH_POST("/repos/:owner/:repo/releases", hello),
    FH_GET("/repos/:owner/:repo/releases/latest", hello),
    FH_GET("/repos/:owner/:repo/releases/tags/:tag", hello),
    FH_GET("/repos/:owner/:repo/releases/:release_id", hello),
    FH_PATCH("/repos/:owner/:repo/releases/:release_id", hello),
    FH_DELETE("/repos/:owner/:repo/releases/:release_id", hello),
    FH_GET("/repos/:owner/:repo/releases/:release_id/assets", hello),
    FH_GET("/repos/:owner/:repo/releases/assets/:asset_id", hello),
    /* CI. */
    FH_GET("/repos/:owner/:repo/actions/workflows", hello),
    FH_GET("/repos/:owner/:repo/actions/workflows/:workflow_id", hello),
    FH_POST("/repos/:owner/:repo/actions/workflows/:workflow_id/dispatches", hello),
    FH_GET("/repos/:owner/:repo/actions/workflows/:workflow_id/runs", hello),
    FH_GET("/repos/:owner/:repo/actions/runs", hello),
    FH_GET("/repos/:owner/:repo/actions/runs/:run_id", hello),
    FH_DELETE("/repos/:owner/:repo/actions/runs/:run_id", hello),
    FH_POST("/repos/:owner/:repo/actions/runs/:run_id/cancel", hello),
    FH_POST("/repos/:owner/:repo/actions/runs/:run_id/rerun", hello),
    FH_GET("/repos/:owner/:repo/actions/runs/:run_id/jobs", hello),
    FH_GET("/repos/:owner/:repo/actions/runs/:run_id/logs", hello),
    FH_GET("/repos/:owner/:repo/actions/jobs/:job_id", hello),
    FH_GET("/repos/:owner/:repo/actions/jobs/:job_id/logs", hello),
    FH_GET("/repos/:owner/:repo/actions/artifacts", hello),
    FH_GET("/repos/:owner/:repo/actions/artifacts/:artifact_id", hello),
    FH_DELETE("/repos/:owner/:repo/actions/artifacts/:artifact_id", hello),
    FH_GET("/repos/:owner/:repo/actions/secrets", hello),
    FH_GET("/repos/:owner/:repo/actions/secrets/:secret_name", hello),
    FH_PUT("/repos/:owner/:repo/actions/secrets/:secret_name", hello),
    FH_DELETE("/repos/:owner/:repo/actions/secrets/:secret_name", hello),
    FH_ROUTES_END,
};

/* Requests spread over the API: static, one to four parameters, catch-alls,
 * backtracking ("/gists/starred" vs "/gists/:gist_id"), misses and 405s. */
typedef struct request {
    fh_method_t method;
    const char *path;
} request_t;

static const request_t api_requests[] = {
    { FH_METHOD_GET, "/" },
    { FH_METHOD_GET, "/rate_limit" },
    { FH_METHOD_GET, "/user" },
    { FH_METHOD_GET, "/user/repos" },
    { FH_METHOD_GET, "/users/octocat" },
    { FH_METHOD_GET, "/users/octocat/repos" },
    { FH_METHOD_GET, "/gists/starred" },
    { FH_METHOD_GET, "/gists/aa5a315d61ae9438b18d" },
    { FH_METHOD_GET, "/gists/aa5a315d61ae9438b18d/comments/42" },
    { FH_METHOD_GET, "/orgs/acme/teams/platform/members" },
    { FH_METHOD_GET, "/repos/acme/web" },
    { FH_METHOD_PATCH, "/repos/acme/web" },
    { FH_METHOD_GET, "/repos/acme/web/issues" },
    { FH_METHOD_POST, "/repos/acme/web/issues" },
    { FH_METHOD_GET, "/repos/acme/web/issues/1347" },
    { FH_METHOD_GET, "/repos/acme/web/issues/comments/99" },
    { FH_METHOD_POST, "/repos/acme/web/issues/1347/comments" },
    { FH_METHOD_GET, "/repos/acme/web/pulls/88/reviews/5" },
    { FH_METHOD_GET, "/repos/acme/web/pulls/88/files" },
    { FH_METHOD_GET, "/repos/acme/web/contents/src/server/main.c" },
    { FH_METHOD_GET, "/repos/acme/web/git/ref/heads/main" },
    { FH_METHOD_GET, "/repos/acme/web/commits/6dcb09b5b5/status" },
    { FH_METHOD_GET, "/repos/acme/web/releases/latest" },
    { FH_METHOD_GET, "/repos/acme/web/actions/runs/30433642/jobs" },
    { FH_METHOD_GET, "/search/repositories" },
    { FH_METHOD_GET, "/notifications/threads/1/subscription" },
    { FH_METHOD_GET, "/repos/acme/web/nothing" },   /* 404 */
    { FH_METHOD_DELETE, "/repos/acme/web/issues" }, /* 405 */
};

/* ---------------------------------------------------------- lookup bench */

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static volatile size_t sink;

typedef struct result {
    double ns;     /* median ns per lookup */
    double ns_min; /* best round */
    unsigned long lookups;
    unsigned long allocs;
} result_t;

/* Looks up reqs[0..n) over and over for `millis` per round; the median and
 * the best round, and the allocations made meanwhile. */
static result_t time_lookups(const fh_router_t *r, const request_t *reqs, size_t n, int rounds,
                             int millis) {
    double per[64];
    result_t out = { 0, 0, 0, 0 };
    fh_route_match_t m;
    /* Path lengths are computed once: the timing is the lookup's alone. */
    fh_str_t paths[256];
    fh_method_t methods[256];
    if (n > 256)
        n = 256;
    for (size_t i = 0; i < n; i++) {
        paths[i] = fh_str(reqs[i].path);
        methods[i] = reqs[i].method;
    }
    unsigned long a0 = fht_alloc_count_mallocs() + fht_alloc_count_frees();
    for (int k = 0; k < rounds && k < 64; k++) {
        unsigned long done = 0;
        uint64_t t0 = now_ns(), deadline = t0 + (uint64_t)millis * 1000000u, t1;
        do {
            for (int rep = 0; rep < 16; rep++)
                for (size_t i = 0; i < n; i++) {
                    fh_router_lookup(r, methods[i], paths[i], &m);
                    sink += (size_t)m.status + m.nparams;
                }
            done += 16 * n;
            t1 = now_ns();
        } while (t1 < deadline);
        per[k] = (double)(t1 - t0) / (double)done;
        out.lookups += done;
    }
    out.allocs = fht_alloc_count_mallocs() + fht_alloc_count_frees() - a0;
    qsort(per, (size_t)rounds, sizeof(double), cmp_double);
    out.ns = per[rounds / 2];
    out.ns_min = per[0];
    return out;
}

/* A synthetic table of n routes in the shapes APIs use: for resource i,
 * "/v1/res<i>", "/v1/res<i>/:id", "/v1/res<i>/:id/items" and
 * "/v1/res<i>/:id/items/:item" (so n/4 resources), <i> written with four
 * digits so that the paths looked up have the same length in every table:
 * what changes with n is only the number of routes around them. */
static fh_router_t *synthetic(int n) {
    fh_router_t *r;
    if (fh_router_new(&r, NULL))
        return NULL;
    static const char *const shapes[] = { "", "/:id", "/:id/items", "/:id/items/:item" };
    for (int i = 0; i < n; i++) {
        char pat[96];
        snprintf(pat, sizeof(pat), "/v1/res%04d%s", i / 4, shapes[i % 4]);
        if (fh_router_add(r, FH_METHOD_GET, pat, hello, NULL)) {
            fprintf(stderr, "%s\n", fh_router_error(r));
            exit(1);
        }
    }
    return r;
}

/* Paths for resource `res` in the four shapes. */
static void synthetic_paths(int res, char (*buf)[96], request_t *out) {
    static const char *const tails[] = { "", "/12345", "/12345/items", "/12345/items/678" };
    for (int s = 0; s < 4; s++) {
        snprintf(buf[s], 96, "/v1/res%04d%s", res, tails[s]);
        out[s].method = FH_METHOD_GET;
        out[s].path = buf[s];
    }
}

static int bench_lookup(int rounds, int millis) {
    printf("Router lookup, ns per fh_router_lookup (median of %d rounds of %d ms; best round in "
           "brackets)\n\n",
           rounds, millis);
    printf("| table | routes | requests | ns/lookup | allocations during %s lookups |\n", "all");
    printf("|---|---:|---|---:|---:|\n");

    static const int sizes[] = { 10, 100, 1000, 10000 };
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        int n = sizes[s];
        fh_router_t *r = synthetic(n);
        if (!r)
            return 1;
        int nres = (n + 3) / 4;
        /* The same 8 requests in every table: resources 0 and 1. */
        char same_buf[8][96];
        request_t same[8];
        synthetic_paths(0, same_buf, same);
        synthetic_paths(1, same_buf + 4, same + 4);
        /* 256 requests spread over all resources (cache misses grow with
         * the table; the work per lookup does not). */
        static char spread_buf[256][96];
        static request_t spread[256];
        for (int i = 0; i < 64; i++)
            synthetic_paths((int)((unsigned)i * 2654435761u % (unsigned)nres), spread_buf + 4 * i,
                            spread + 4 * i);
        result_t a = time_lookups(r, same, 8, rounds, millis);
        result_t b = time_lookups(r, spread, 256, rounds, millis);
        for (size_t i = 0; i < 8; i++) {
            fh_route_match_t m;
            if (fh_router_lookup(r, same[i].method, fh_str(same[i].path), &m) != FH_ROUTE_FOUND) {
                fprintf(stderr, "lookup of %s failed\n", same[i].path);
                return 1;
            }
        }
        printf(
            "| synthetic | %d | 8 fixed (`/v1/res0000`, `/v1/res0001/12345/items/678`, ...) | %.1f "
            "[%.1f] | %lu in %lu |\n",
            n, a.ns, a.ns_min, a.allocs, a.lookups);
        printf("| synthetic | %d | 256 spread over the table | %.1f [%.1f] | %lu in %lu |\n", n,
               b.ns, b.ns_min, b.allocs, b.lookups);
        fh_router_free(r);
    }

    fh_router_t *r;
    if (fh_router_new(&r, NULL) || fh_router_mount(r, NULL, code_host_api, NULL)) {
        fprintf(stderr, "%s\n", r ? fh_router_error(r) : "out of memory");
        return 1;
    }
    size_t nreq = sizeof(api_requests) / sizeof(api_requests[0]);
    result_t c = time_lookups(r, api_requests, nreq, rounds, millis);
    printf("| code-hosting API | %zu | %zu realistic (static, 1-4 params, catch-all, 404, 405) | "
           "%.1f [%.1f] | %lu in %lu |\n",
           fh_router_route_count(r), nreq, c.ns, c.ns_min, c.allocs, c.lookups);
    /* Per request, to show where the time goes. */
    printf("\nPer request in the code-hosting API:\n\n| request | outcome | ns/lookup |\n"
           "|---|---|---:|\n");
    static const char *const outcome[] = { "found", "404", "405", "options", "308", "400" };
    for (size_t i = 0; i < nreq; i++) {
        fh_route_match_t m;
        fh_route_status_t st =
            fh_router_lookup(r, api_requests[i].method, fh_str(api_requests[i].path), &m);
        result_t one = time_lookups(r, &api_requests[i], 1, 3, millis / 4 > 0 ? millis / 4 : 1);
        printf("| %s %s | %s%s%s | %.1f |\n", fh_method_name(api_requests[i].method),
               api_requests[i].path, outcome[st], st == FH_ROUTE_FOUND ? ": " : "",
               st == FH_ROUTE_FOUND ? m.route->pattern : "", one.ns);
    }
    fh_router_free(r);
    return 0;
}

/* Looks up one request set `passes` times and nothing else: with
 * callgrind --toggle-collect=fh_router_lookup, the instructions counted
 * divided by the lookups printed are the cost of one lookup. */
static int profile(int routes, const char *set, int passes) {
    static char buf[256][96];
    static request_t reqs[256];
    size_t n;
    fh_router_t *r;
    if (routes == 0) {
        if (fh_router_new(&r, NULL) || fh_router_mount(r, NULL, code_host_api, NULL))
            return 1;
        n = sizeof(api_requests) / sizeof(api_requests[0]);
        memcpy(reqs, api_requests, sizeof(api_requests));
    } else {
        r = synthetic(routes);
        if (!r)
            return 1;
        int nres = (routes + 3) / 4;
        if (strcmp(set, "spread") == 0) {
            for (int i = 0; i < 64; i++)
                synthetic_paths((int)((unsigned)i * 2654435761u % (unsigned)nres), buf + 4 * i,
                                reqs + 4 * i);
            n = 256;
        } else {
            synthetic_paths(0, buf, reqs);
            synthetic_paths(1, buf + 4, reqs + 4);
            n = 8;
        }
    }
    fh_str_t paths[256];
    for (size_t i = 0; i < n; i++)
        paths[i] = fh_str(reqs[i].path);
    fh_route_match_t m;
    for (int k = 0; k < passes; k++)
        for (size_t i = 0; i < n; i++) {
            fh_router_lookup(r, reqs[i].method, paths[i], &m);
            sink += (size_t)m.status + m.nparams;
        }
    printf("%zu lookups %zu routes\n", (size_t)passes * n, fh_router_route_count(r));
    fh_router_free(r);
    return 0;
}

/* ---------------------------------------------------------------- serve */

static int serve(const char *mode, int port, int threads) {
    fh_server_config_t cfg = fh_server_config_default();
    cfg.host = "127.0.0.1";
    cfg.port = port;
    cfg.threads = threads;
    fh_router_t *router = NULL;
    if (strcmp(mode, "raw") == 0) {
        cfg.handler = hello_raw;
    } else if (strcmp(mode, "routed") == 0) {
        if (fh_router_new(&router, NULL) || fh_router_mount(router, NULL, code_host_api, NULL)) {
            fprintf(stderr, "%s\n", router ? fh_router_error(router) : "out of memory");
            return 1;
        }
        cfg.handler = fh_router_handle;
        cfg.handler_data = router;
    } else {
        fprintf(stderr, "bench_router: --mode raw|routed\n");
        return 2;
    }
    fh_server_t *server;
    int err = fh_server_new(&server, &cfg);
    if (err) {
        fprintf(stderr, "%s\n", fh_server_config_error(&cfg, err));
        return 1;
    }
    printf("bench_router: %s on http://127.0.0.1:%d, %d threads, %zu routes\n", mode,
           fh_server_port(server), fh_server_threads(server),
           router ? fh_router_route_count(router) : (size_t)0);
    fflush(stdout);
    err = fh_server_run(server);
    fh_server_free(server);
    fh_router_free(router);
    return err ? 1 : 0;
}

int main(int argc, char **argv) {
    /* Every allocation of the process is counted from here on, as the
     * lookup report's malloc/free column needs (tests/support/alloc_count). */
    fht_alloc_count_start();
    const char *cmd = "lookup", *mode = "routed", *set = "fixed";
    int rounds = 7, millis = 200, port = 18090, threads = 1, routes = 0;
    int i = 1;
    if (argc > 1 && argv[1][0] != '-') {
        cmd = argv[1];
        i = 2;
    }
    for (; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "bench_router: %s needs a value\n", a);
            return 2;
        }
        if (strcmp(a, "--rounds") == 0)
            rounds = atoi(v);
        else if (strcmp(a, "--millis") == 0)
            millis = atoi(v);
        else if (strcmp(a, "--mode") == 0)
            mode = v;
        else if (strcmp(a, "--set") == 0)
            set = v;
        else if (strcmp(a, "--routes") == 0)
            routes = atoi(v);
        else if (strcmp(a, "--port") == 0)
            port = atoi(v);
        else if (strcmp(a, "--threads") == 0)
            threads = atoi(v);
        else {
            fprintf(stderr, "bench_router: unknown option %s\n", a);
            return 2;
        }
        i++;
    }
    if (strcmp(cmd, "profile") == 0)
        return profile(routes, set, rounds);
    if (rounds < 1 || rounds > 64 || millis < 1) {
        fprintf(stderr, "bench_router: --rounds 1..64, --millis >= 1\n");
        return 2;
    }
    if (strcmp(cmd, "lookup") == 0)
        return bench_lookup(rounds, millis);
    if (strcmp(cmd, "serve") == 0)
        return serve(mode, port, threads);
    fprintf(stderr, "usage: bench_router [lookup|serve] [options]\n");
    return 2;
}
