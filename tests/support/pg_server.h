#ifndef FHT_PG_SERVER_H
#define FHT_PG_SERVER_H

/* A throwaway PostgreSQL server for tests: initdb into a new directory under
 * $TMPDIR (or /tmp), postgres listening on a Unix socket in that directory
 * only (listen_addresses=''), fsync off. Run as root (as make test is on a
 * fresh Debian machine), initdb and postgres run as the "postgres" system
 * user the Debian package creates, the directory chowned to it; run as
 * anyone else, they run as that user. The binaries come from
 * $FHT_PG_BINDIR, else the newest /usr/lib/postgresql/<version>/bin. */

#include <stdbool.h>
#include <sys/types.h>

typedef struct fht_pg {
    char dir[256];      /* the temporary directory, also the socket directory */
    char conninfo[512]; /* "host=<dir> dbname=postgres user=postgres" */
    pid_t pid;          /* the postmaster, 0 while stopped */
} fht_pg_t;

/* initdb and start; waits (30 s at most) until it accepts connections.
 * Returns 0, or -1 with a message on stderr (the logs are left in dir). */
int fht_pg_start(fht_pg_t *pg);
/* Stops the server (fast shutdown, SIGKILL after 30 s) and keeps the data:
 * clients get connection errors until fht_pg_resume. */
void fht_pg_halt(fht_pg_t *pg);
/* Starts the halted server again on the same socket; waits as fht_pg_start. */
int fht_pg_resume(fht_pg_t *pg);
/* Stops the server if it runs and removes the directory. */
void fht_pg_stop(fht_pg_t *pg);
/* Whether the server accepts connections right now (libpq's PQping). */
bool fht_pg_ready(const fht_pg_t *pg);

#endif
