/* db_ceiling: the work of bench/db's endpoints done straight through libpq
 * in pipeline mode, with no HTTP: the most a server could get out of the
 * same database with the same number of connections.
 *
 *   db_ceiling CONNINFO ENDPOINT N CONNS DEPTH SECONDS
 *
 * ENDPOINT is db (one random row per unit), queries (N random rows per
 * unit) or updates (N rows read, then the same N rows written with new
 * random numbers, one UPDATE each). CONNS threads, each with its own connection
 * and the statements prepared, keep DEPTH units in flight in one pipeline
 * (non-blocking; a unit answered is replaced by a new one at once; for
 * updates a unit's writes are sent once its reads are back) for SECONDS,
 * then read out what is in flight. Every statement is followed by its own Sync,
 * as fh_pg sends them: each runs in its own implicit transaction, the same
 * work the database does for the servers (one Sync for many statements would make
 * them one transaction: less work for the database, and deadlocks between
 * the updates of two connections). DEPTH units in flight per connection
 * match a load generator's open requests. Prints "units N seconds S
 * per_second R cpu_s C db_s D" (C: this process's user and system time, D:
 * that of its database backends, read from /proc) and exits 1 if any
 * result was wrong. */
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define ROWS 10000

static const char *conninfo;
static int kind, n, depth;
static double seconds;
static atomic_long units;
static atomic_int errors;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rnd(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (int)(*s % ROWS) + 1;
}

/* CPU seconds (user + system) of process pid so far. */
static double proc_cpu(long pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char buf[1024];
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[got] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    /* After "pid (comm)": state, then fields 4..13, then utime, stime. */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static _Atomic double db_cpu;

/* One connection's units: what each statement sent belongs to, in order. */
typedef struct conn_state {
    PGconn *c;
    uint64_t seed;
    int *owner; /* unit of each statement in flight (a ring) */
    unsigned cap, head, count;
    int *left; /* statements of each unit still to answer, by phase */
    bool *writing;
    int *ids; /* the rows each unit read (per of them), which its writes update */
    bool failed;
} conn_state_t;

/* Sends the statements of unit u (its reads, or its writes). */
static bool send_unit(conn_state_t *cs, int u) {
    int per = kind == 0 ? 1 : n;
    const char *stmt = cs->writing[u] ? "w_set" : "w_get";
    for (int i = 0; i < per; i++) {
        char a[12], b[12];
        /* A unit's writes update the rows it read, as the servers do. */
        int *id = &cs->ids[(size_t)u * (size_t)per + (size_t)i];
        if (!cs->writing[u])
            *id = rnd(&cs->seed);
        snprintf(a, sizeof a, "%d", *id);
        snprintf(b, sizeof b, "%d", rnd(&cs->seed));
        const char *p[2] = { a, b };
        if (!PQsendQueryPrepared(cs->c, stmt, cs->writing[u] ? 2 : 1, p, NULL, NULL, 0) ||
            !PQpipelineSync(cs->c))
            return false;
        cs->owner[(cs->head + cs->count++) % cs->cap] = u;
    }
    cs->left[u] = per;
    return true;
}

static void *worker(void *arg) {
    conn_state_t cs = { .seed = 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)arg };
    PGconn *c = cs.c = PQconnectdb(conninfo);
    long backend = PQbackendPID(c);
    double cpu0 = proc_cpu(backend);
    PGresult *a =
        PQprepare(c, "w_get", "SELECT id, randomnumber FROM world WHERE id = $1", 0, NULL);
    PGresult *b =
        PQprepare(c, "w_set", "UPDATE world SET randomnumber = $2 WHERE id = $1", 0, NULL);
    bool ok = PQstatus(c) == CONNECTION_OK && PQresultStatus(a) == PGRES_COMMAND_OK &&
              PQresultStatus(b) == PGRES_COMMAND_OK && PQsetnonblocking(c, 1) == 0 &&
              PQenterPipelineMode(c) == 1;
    PQclear(a);
    PQclear(b);
    cs.cap = (unsigned)(depth * (kind == 0 ? 1 : n));
    cs.owner = calloc(cs.cap, sizeof(int));
    cs.left = calloc((size_t)depth, sizeof(int));
    cs.writing = calloc((size_t)depth, sizeof(bool));
    cs.ids = calloc((size_t)depth * (size_t)(kind == 0 ? 1 : n), sizeof(int));
    ok = ok && cs.owner && cs.left && cs.writing && cs.ids;
    for (int u = 0; ok && u < depth; u++)
        ok = send_unit(&cs, u);
    double end = now_s() + seconds;
    bool got_result = false;
    long done = 0;
    /* Keeps depth units in flight: each one answered is replaced at once,
     * until the time is up; then the ones in flight are read out. */
    while (ok && cs.count > 0) {
        int f = PQflush(c);
        if (f < 0) {
            ok = false;
            break;
        }
        struct pollfd pfd = { .fd = PQsocket(c), .events = POLLIN | (f ? POLLOUT : 0) };
        if (poll(&pfd, 1, 1000) < 0)
            continue;
        if ((pfd.revents & POLLIN) && !PQconsumeInput(c)) {
            ok = false;
            break;
        }
        while (ok && cs.count > 0 && !PQisBusy(c)) {
            PGresult *r = PQgetResult(c);
            if (!r)
                continue; /* the end of one statement's results */
            ExecStatusType st = PQresultStatus(r);
            PQclear(r);
            if (st != PGRES_PIPELINE_SYNC) {
                got_result = st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
                if (!got_result)
                    ok = false;
                continue;
            }
            if (!got_result) {
                ok = false;
                break;
            }
            got_result = false;
            int u = cs.owner[cs.head];
            cs.head = (cs.head + 1) % cs.cap;
            cs.count--;
            if (--cs.left[u] > 0)
                continue;
            if (kind == 2 && !cs.writing[u]) { /* read: now its writes */
                cs.writing[u] = true;
                ok = send_unit(&cs, u);
                continue;
            }
            done++;
            cs.writing[u] = false;
            if (now_s() < end)
                ok = send_unit(&cs, u);
        }
    }
    atomic_fetch_add(&units, done);
    double used = proc_cpu(backend) - cpu0, old = atomic_load(&db_cpu);
    while (!atomic_compare_exchange_weak(&db_cpu, &old, old + used))
        ;
    if (!ok) {
        fprintf(stderr, "db_ceiling: %s", PQerrorMessage(c));
        atomic_fetch_add(&errors, 1);
    }
    free(cs.owner);
    free(cs.left);
    free(cs.writing);
    free(cs.ids);
    PQfinish(c);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: db_ceiling CONNINFO db|queries|updates N CONNS DEPTH SECONDS\n");
        return 2;
    }
    conninfo = argv[1];
    kind = !strcmp(argv[2], "db") ? 0 : !strcmp(argv[2], "queries") ? 1 : 2;
    n = atoi(argv[3]);
    int conns = atoi(argv[4]);
    depth = atoi(argv[5]);
    seconds = atof(argv[6]);
    if (n < 1 || conns < 1 || conns > 256 || depth < 1 || seconds <= 0) {
        fprintf(stderr, "db_ceiling: bad arguments\n");
        return 2;
    }
    pthread_t t[256];
    double t0 = now_s();
    for (int i = 0; i < conns; i++)
        pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < conns; i++)
        pthread_join(t[i], NULL);
    double took = now_s() - t0;
    long u = atomic_load(&units);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    printf("units %ld seconds %.3f per_second %.0f cpu_s %.3f db_s %.3f\n", u, took,
           (double)u / took, cpu, atomic_load(&db_cpu));
    return atomic_load(&errors) ? 1 : 0;
}
