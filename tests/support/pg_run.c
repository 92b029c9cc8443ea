/* fht_pg_run: a throwaway PostgreSQL server (pg_server.h) for the example
 * scripts. Prints its connection string on a line of its own once the
 * server accepts connections, then waits for signals: SIGUSR1 halts the
 * server, SIGUSR2 starts it again (each printing "halted" or "resumed" when
 * done), SIGTERM or SIGINT stop it, remove its directory and exit 0. */
#include <signal.h>
#include <stdio.h>

#include "pg_server.h"

int main(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    fht_pg_t pg;
    if (fht_pg_start(&pg) != 0)
        return 1;
    printf("%s\n", pg.conninfo);
    fflush(stdout);
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGUSR1) {
            fht_pg_halt(&pg);
            printf("halted\n");
        } else if (sig == SIGUSR2) {
            printf(fht_pg_resume(&pg) == 0 ? "resumed\n" : "resume failed\n");
        } else {
            break;
        }
        fflush(stdout);
    }
    fht_pg_stop(&pg);
    return 0;
}
