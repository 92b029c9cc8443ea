#include "pg_server.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char pg_bindir[256];

static uint64_t pg_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The newest /usr/lib/postgresql/<N>/bin holding initdb and postgres. */
static int pg_find_bindir(void) {
    const char *env = getenv("FHT_PG_BINDIR");
    if (env && *env) {
        snprintf(pg_bindir, sizeof pg_bindir, "%s", env);
        return 0;
    }
    DIR *d = opendir("/usr/lib/postgresql");
    if (!d) {
        fprintf(stderr,
                "pg_server: /usr/lib/postgresql is missing (Debian: apt-get install postgresql)\n");
        return -1;
    }
    long best = -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long v = strtol(e->d_name, &end, 10);
        if (end == e->d_name || *end != '\0' || v <= best)
            continue;
        char path[300];
        snprintf(path, sizeof path, "/usr/lib/postgresql/%ld/bin/postgres", v);
        if (access(path, X_OK) == 0)
            best = v;
    }
    closedir(d);
    if (best < 0) {
        fprintf(stderr, "pg_server: no /usr/lib/postgresql/<version>/bin/postgres\n");
        return -1;
    }
    snprintf(pg_bindir, sizeof pg_bindir, "/usr/lib/postgresql/%ld/bin", best);
    return 0;
}

/* Root: the postgres system user's ids, which initdb and postgres run as. */
static int pg_user(uid_t *uid, gid_t *gid) {
    if (geteuid() != 0) {
        *uid = geteuid();
        *gid = getegid();
        return 0;
    }
    struct passwd *pw = getpwnam("postgres");
    if (!pw) {
        fprintf(stderr, "pg_server: running as root and there is no \"postgres\" user to run the "
                        "server as (Debian's postgresql package creates it)\n");
        return -1;
    }
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    return 0;
}

/* fork; the child drops to the server user, sends its output to log and
 * execs argv. Returns the child's pid or -1. */
static pid_t pg_spawn(const fht_pg_t *pg, char *const argv[], const char *log) {
    uid_t uid;
    gid_t gid;
    if (pg_user(&uid, &gid) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0)
            dup2(nul, 0);
        if (geteuid() == 0) {
            if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
                _exit(126);
        }
        if (chdir(pg->dir) != 0)
            _exit(126);
        setenv("LC_ALL", "C", 1);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static int pg_wait_exit(pid_t pid, uint64_t ms) {
    uint64_t end = pg_now_ms() + ms;
    int status;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (r < 0 && errno != EINTR)
            return -1;
        if (pg_now_ms() >= end)
            return -2;
        usleep(20000);
    }
}

bool fht_pg_ready(const fht_pg_t *pg) { return PQping(pg->conninfo) == PQPING_OK; }

static int pg_launch(fht_pg_t *pg) {
    char bin[320], data[300], log[300];
    snprintf(bin, sizeof bin, "%s/postgres", pg_bindir);
    snprintf(data, sizeof data, "%s/data", pg->dir);
    snprintf(log, sizeof log, "%s/postgres.log", pg->dir);
    char sockopt[300];
    snprintf(sockopt, sizeof sockopt, "unix_socket_directories=%s", pg->dir);
    char *argv[] = { bin,
                     "-D",
                     data,
                     "-c",
                     "listen_addresses=",
                     "-c",
                     sockopt,
                     "-c",
                     "fsync=off",
                     "-c",
                     "max_connections=200",
                     "-c",
                     "synchronous_commit=off",
                     NULL };
    pg->pid = pg_spawn(pg, argv, log);
    if (pg->pid < 0) {
        pg->pid = 0;
        return -1;
    }
    uint64_t end = pg_now_ms() + 30000;
    while (pg_now_ms() < end) {
        if (fht_pg_ready(pg))
            return 0;
        int status;
        if (waitpid(pg->pid, &status, WNOHANG) == pg->pid) {
            fprintf(stderr, "pg_server: postgres exited at start; see %s\n", log);
            pg->pid = 0;
            return -1;
        }
        usleep(50000);
    }
    fprintf(stderr, "pg_server: postgres not ready after 30 s; see %s\n", log);
    return -1;
}

int fht_pg_start(fht_pg_t *pg) {
    memset(pg, 0, sizeof *pg);
    if (!pg_bindir[0] && pg_find_bindir() != 0)
        return -1;
    uid_t uid;
    gid_t gid;
    if (pg_user(&uid, &gid) != 0)
        return -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(pg->dir, sizeof pg->dir, "%s/fht-pg-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    /* A socket path has at most 107 bytes: fall back to /tmp. */
    if (strlen(pg->dir) > 80)
        snprintf(pg->dir, sizeof pg->dir, "/tmp/fht-pg-XXXXXX");
    if (!mkdtemp(pg->dir)) {
        fprintf(stderr, "pg_server: mkdtemp %s: %s\n", pg->dir, strerror(errno));
        return -1;
    }
    if (geteuid() == 0 && chown(pg->dir, uid, gid) != 0) {
        fprintf(stderr, "pg_server: chown %s: %s\n", pg->dir, strerror(errno));
        fht_pg_stop(pg);
        return -1;
    }
    snprintf(pg->conninfo, sizeof pg->conninfo,
             "host=%s dbname=postgres user=postgres connect_timeout=5", pg->dir);
    char bin[320], data[300], log[300];
    snprintf(bin, sizeof bin, "%s/initdb", pg_bindir);
    snprintf(data, sizeof data, "%s/data", pg->dir);
    snprintf(log, sizeof log, "%s/initdb.log", pg->dir);
    char *argv[] = { bin,     "-D", data,   "-U",          "postgres", "-A",
                     "trust", "-E", "UTF8", "--no-locale", "-N",       NULL };
    pid_t pid = pg_spawn(pg, argv, log);
    int rc = pid > 0 ? pg_wait_exit(pid, 120000) : -1;
    if (rc == -2) {
        kill(pid, SIGKILL);
        pg_wait_exit(pid, 5000);
    }
    if (rc != 0) {
        fprintf(stderr, "pg_server: initdb failed (%d); see %s\n", rc, log);
        return -1;
    }
    return pg_launch(pg);
}

void fht_pg_halt(fht_pg_t *pg) {
    if (pg->pid <= 0)
        return;
    kill(pg->pid, SIGINT); /* fast shutdown: sessions are ended */
    if (pg_wait_exit(pg->pid, 30000) == -2) {
        kill(pg->pid, SIGKILL);
        pg_wait_exit(pg->pid, 5000);
    }
    pg->pid = 0;
}

int fht_pg_resume(fht_pg_t *pg) {
    if (pg->pid > 0)
        return 0;
    return pg_launch(pg);
}

static int pg_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void fht_pg_stop(fht_pg_t *pg) {
    fht_pg_halt(pg);
    if (pg->dir[0])
        nftw(pg->dir, pg_rm, 16, FTW_DEPTH | FTW_PHYS);
    pg->dir[0] = '\0';
}
