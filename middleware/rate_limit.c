/* Rate limit: token buckets per client address in a per-thread,
 * set-associative table. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "middleware/mw.h"

#define WAYS 8

typedef struct bucket {
    uint8_t key[16]; /* IPv6, or IPv4 mapped into ::ffff:0:0/96 */
    double tokens;
    uint64_t seen; /* uv_now() + 1 of the last request; 0 = free */
    uint64_t used; /* table->clock at the last request: exact LRU order */
} bucket_t;

typedef struct table {
    bucket_t *buckets;
    size_t nsets;
    uint64_t clock; /* counts requests */
    uint64_t seed[2];
} table_t;

typedef struct rate_limit {
    double rate; /* tokens per second */
    double burst;
    uint32_t burst_u;
    size_t max_clients;
    char *trusted_header;
    int ipv6_prefix;
    bool headers;
    char limit[16];  /* RateLimit-Limit value */
    char policy[48]; /* RateLimit-Policy value */
    fh__perloop_t loops;
} rate_limit_t;

/* What the after hook needs to write the headers of an allowed request. */
typedef struct rl_state {
    uint32_t remaining, reset;
} rl_state_t;

static const char state_key;

static void *table_create(void *owner, uv_loop_t *loop) {
    (void)loop;
    rate_limit_t *rl = owner;
    table_t *t = malloc(sizeof(*t));
    if (!t)
        return NULL;
    t->nsets = rl->max_clients / WAYS;
    t->buckets = calloc(t->nsets * WAYS, sizeof(bucket_t));
    if (!t->buckets) {
        free(t);
        return NULL;
    }
    if (uv_random(NULL, NULL, t->seed, sizeof(t->seed), 0, NULL) != 0) {
        t->seed[0] = uv_hrtime() ^ (uint64_t)(uintptr_t)t;
        t->seed[1] = t->seed[0] * 0x9e3779b97f4a7c15ull + (uint64_t)(uintptr_t)loop;
    }
    return t;
}

static void table_destroy(void *owner, void *state) {
    (void)owner;
    table_t *t = state;
    free(t->buckets);
    free(t);
}

static inline uint64_t mix(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static size_t set_of(const table_t *t, const uint8_t key[16]) {
    uint64_t a, b;
    memcpy(&a, key, 8);
    memcpy(&b, key + 8, 8);
    return (size_t)(mix(mix(a ^ t->seed[0]) ^ b ^ t->seed[1]) % t->nsets);
}

/* The bucket of key, refilled to now; a new or evicted bucket is full. */
static bucket_t *bucket_get(const rate_limit_t *rl, table_t *t, const uint8_t key[16],
                            uint64_t now) {
    bucket_t *set = t->buckets + set_of(t, key) * WAYS;
    bucket_t *victim = &set[0];
    uint64_t clock = ++t->clock;
    for (int i = 0; i < WAYS; i++) {
        bucket_t *b = &set[i];
        if (b->seen && memcmp(b->key, key, 16) == 0) {
            double elapsed = (double)(now + 1 - b->seen) / 1000.0;
            b->tokens += elapsed * rl->rate;
            if (b->tokens > rl->burst)
                b->tokens = rl->burst;
            b->seen = now + 1;
            b->used = clock;
            return b;
        }
        if (victim->seen && (!b->seen || b->used < victim->used))
            victim = b;
    }
    memcpy(victim->key, key, 16);
    victim->tokens = rl->burst;
    victim->seen = now + 1;
    victim->used = clock;
    return victim;
}

static void key_from_v4(uint8_t key[16], const void *addr4) {
    memset(key, 0, 10);
    key[10] = key[11] = 0xff;
    memcpy(key + 12, addr4, 4);
}

static void key_from_v6(const rate_limit_t *rl, uint8_t key[16], const void *addr6) {
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    memcpy(key, addr6, 16);
    if (memcmp(key, mapped, 12) == 0)
        return; /* an IPv4 client on a dual-stack socket */
    int bits = rl->ipv6_prefix;
    for (int i = 0; i < 16; i++) {
        if (bits >= 8)
            bits -= 8;
        else {
            key[i] &= (uint8_t)(0xff00u >> bits);
            bits = 0;
        }
    }
}

/* Parses the last entry of a proxy header ("a, b, c" -> c), accepting
 * "1.2.3.4", "1.2.3.4:port", "::1" and "[::1]:port". */
static bool key_from_header(const rate_limit_t *rl, fh_str_t v, uint8_t key[16]) {
    size_t start = v.len;
    while (start > 0 && v.ptr[start - 1] != ',')
        start--;
    fh_str_t s = { v.ptr + start, v.len - start };
    while (s.len && (s.ptr[0] == ' ' || s.ptr[0] == '\t'))
        s.ptr++, s.len--;
    while (s.len && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t'))
        s.len--;
    char buf[64];
    if (s.len == 0 || s.len >= sizeof(buf))
        return false;
    memcpy(buf, s.ptr, s.len);
    buf[s.len] = '\0';
    char *a = buf;
    if (a[0] == '[') {
        char *close = strchr(a, ']');
        if (!close)
            return false;
        *close = '\0';
        a++;
    } else {
        char *colon = strchr(a, ':');
        if (colon && !strchr(colon + 1, ':'))
            *colon = '\0'; /* IPv4 with a port */
    }
    uint8_t bin[16];
    if (uv_inet_pton(AF_INET, a, bin) == 0) {
        key_from_v4(key, bin);
        return true;
    }
    if (uv_inet_pton(AF_INET6, a, bin) == 0) {
        key_from_v6(rl, key, bin);
        return true;
    }
    return false;
}

static bool client_key(const rate_limit_t *rl, fh_request_t *req, uint8_t key[16]) {
    if (rl->trusted_header) {
        fh_str_t v = fh_request_header(req, rl->trusted_header);
        if (v.ptr && key_from_header(rl, v, key))
            return true;
    }
    struct sockaddr_storage ss;
    if (fh_request_remote_addr(req, &ss) != 0)
        return false;
    if (ss.ss_family == AF_INET)
        key_from_v4(key, &((struct sockaddr_in *)&ss)->sin_addr);
    else
        key_from_v6(rl, key, &((struct sockaddr_in6 *)&ss)->sin6_addr);
    return true;
}

/* x rounded up, for 0 <= x < 4e9 (no libm needed). */
static uint32_t ceil_u32(double x) {
    if (x >= 4e9)
        return 4000000000u;
    uint32_t i = (uint32_t)x;
    return (double)i < x ? i + 1 : i;
}

static uint32_t secs_until(double missing, double rate) {
    return missing <= 0 ? 0 : ceil_u32(missing / rate);
}

static int rl_before(fh_request_t *req, fh_response_t *res, void *data) {
    rate_limit_t *rl = data;
    uv_loop_t *loop = fh_request_loop(req);
    table_t *t = fh__perloop_get(&rl->loops, loop);
    uint8_t key[16];
    if (!t || !client_key(rl, req, key))
        return FH_NEXT; /* no table (out of memory) or no address: let it through */
    bucket_t *b = bucket_get(rl, t, key, uv_now(loop));
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        if (!rl->headers)
            return FH_NEXT;
        rl_state_t *st = fh_alloc(req, sizeof(*st));
        if (!st)
            return FH_ENOMEM;
        st->remaining = (uint32_t)b->tokens;
        st->reset = secs_until(rl->burst - b->tokens, rl->rate);
        return fh_request_set(req, &state_key, st);
    }
    uint32_t retry = secs_until(1.0 - b->tokens, rl->rate);
    int err = fh_response_headerf(res, "Retry-After", "%u", retry ? retry : 1);
    if (!err)
        err = fh_response_header(res, "RateLimit-Limit", rl->limit);
    if (!err)
        err = fh_response_header(res, "RateLimit-Remaining", "0");
    if (!err)
        err = fh_response_headerf(res, "RateLimit-Reset", "%u",
                                  secs_until(rl->burst - b->tokens, rl->rate));
    if (!err)
        err = fh_response_header(res, "RateLimit-Policy", rl->policy);
    if (!err)
        err = fh_send_status(res, 429);
    return err ? err : FH_STOP;
}

/* Decimal digits of v at p; returns the length. */
static size_t fmt_u32(char *p, uint32_t v) {
    char tmp[10];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

static void rl_after(fh_request_t *req, fh_response_t *res, void *data) {
    rate_limit_t *rl = data;
    const rl_state_t *st = fh_request_get(req, &state_key);
    if (!st)
        return;
    char remaining[10], reset[10];
    fh_str_t rem = { remaining, fmt_u32(remaining, st->remaining) };
    fh_str_t rst = { reset, fmt_u32(reset, st->reset) };
    /* Added, not replaced: only this middleware sets these on an allowed
     * response. */
    fh_response_header_str(res, FH_STR_LIT("RateLimit-Limit"), fh_str(rl->limit));
    fh_response_header_str(res, FH_STR_LIT("RateLimit-Remaining"), rem);
    fh_response_header_str(res, FH_STR_LIT("RateLimit-Reset"), rst);
    fh_response_header_str(res, FH_STR_LIT("RateLimit-Policy"), fh_str(rl->policy));
}

static void rl_release(void *data) {
    rate_limit_t *rl = data;
    if (!rl)
        return;
    fh__perloop_free(&rl->loops);
    free(rl->trusted_header);
    free(rl);
}

int fh_rate_limit_new(fh_middleware_t *out, const fh_rate_limit_options_t *opt) {
    memset(out, 0, sizeof(*out));
    if (!opt || !(opt->rate > 0) || !isfinite(opt->rate))
        return fh__mw_fail(FH_ECONFIG, "rate_limit.rate: must be > 0 (tokens per second)");
    if (opt->max_clients > (1u << 24))
        return fh__mw_fail(FH_ECONFIG, "rate_limit.max_clients: %zu is over %u", opt->max_clients,
                           1u << 24);
    if (opt->ipv6_prefix < 0 || opt->ipv6_prefix > 128)
        return fh__mw_fail(FH_ECONFIG, "rate_limit.ipv6_prefix: %d is not 0..128",
                           opt->ipv6_prefix);
    if (opt->trusted_header && !fh__mw_is_token(fh_str(opt->trusted_header)))
        return fh__mw_fail(FH_ECONFIG, "rate_limit.trusted_header: \"%s\" is not a header name",
                           opt->trusted_header);
    rate_limit_t *rl = calloc(1, sizeof(*rl));
    if (!rl)
        return FH_ENOMEM;
    rl->rate = opt->rate;
    if (opt->burst)
        rl->burst_u = opt->burst;
    else
        rl->burst_u = opt->rate < 1 ? 1 : (opt->rate > 1e9 ? 1000000000u : ceil_u32(opt->rate));
    rl->burst = rl->burst_u;
    size_t m = opt->max_clients ? opt->max_clients : 16384;
    rl->max_clients = (m + WAYS - 1) / WAYS * WAYS;
    rl->ipv6_prefix = opt->ipv6_prefix ? opt->ipv6_prefix : 64;
    rl->headers = !opt->no_headers;
    snprintf(rl->limit, sizeof(rl->limit), "%u", rl->burst_u);
    snprintf(rl->policy, sizeof(rl->policy), "%u;w=%u", rl->burst_u,
             secs_until(rl->burst, rl->rate));
    if (opt->trusted_header && !(rl->trusted_header = strdup(opt->trusted_header))) {
        rl_release(rl);
        return FH_ENOMEM;
    }
    int err = fh__perloop_init(&rl->loops, 256, table_create, table_destroy, rl);
    if (err) {
        rl_release(rl);
        return err;
    }
    out->name = "rate_limit";
    out->before = rl_before;
    out->after = rl->headers ? rl_after : NULL;
    out->data = rl;
    out->release = rl_release;
    fh__mw_ok();
    return 0;
}
