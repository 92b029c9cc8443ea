/* The command line (core/args.c): the server's flags and a program's own,
 * their environment variables, every refusal naming the flag or variable
 * and quoting the value, --help, operands and the usage text; and the host
 * checks of the environment and the config (core/server.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fasthttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req;
    (void)data;
    return fh_send_status(res, 204);
}

static void clear_env(void) {
    unsetenv("PORT");
    unsetenv("THREADS");
    unsetenv("HOST");
    unsetenv("FHT_ROOT");
    unsetenv("FHT_COUNT");
    unsetenv("FHT_LIST");
}

static fh_server_config_t base(void) {
    fh_server_config_t cfg = fh_server_config_default();
    cfg.port = 3000;
    cfg.threads = 2;
    cfg.host = "127.0.0.1";
    cfg.handler = handler;
    return cfg;
}

/* Runs fh_server_config_args over a NULL-terminated list of arguments
 * (argv[0] is "prog"). */
static int run_args(fh_server_config_t *cfg, const fh_args_t *args, const char *const *list) {
    char *argv[64];
    int argc = 0;
    argv[argc++] = (char *)"prog";
    for (; list && list[argc - 1]; argc++)
        argv[argc] = (char *)list[argc - 1];
    argv[argc] = NULL;
    return fh_server_config_args(cfg, argc, argv, args);
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* A refusal with exactly this message, leaving cfg as it was. */
static void refused(const fh_args_t *args, const char *const *list, const char *msg) {
    fh_server_config_t cfg = base();
    assert_int_equal(run_args(&cfg, args, list), FH_ECONFIG);
    assert_string_equal(fh_server_config_error(&cfg, FH_ECONFIG), msg);
    assert_int_equal(cfg.port, 3000);
    assert_int_equal(cfg.threads, 2);
    assert_string_equal(cfg.host, "127.0.0.1");
}

static void test_server_flags(void **state) {
    (void)state;
    clear_env();
    fh_server_config_t cfg = base();
    assert_int_equal(run_args(&cfg, NULL, NULL), 0); /* nothing given: unchanged */
    assert_int_equal(cfg.port, 3000);
    assert_int_equal(cfg.threads, 2);
    assert_string_equal(cfg.host, "127.0.0.1");

    assert_int_equal(run_args(&cfg, NULL, ARGS("--port", "8080", "--threads=4", "--host", "::1")),
                     0);
    assert_int_equal(cfg.port, 8080);
    assert_int_equal(cfg.threads, 4);
    assert_string_equal(cfg.host, "::1");
    assert_int_equal(run_args(&cfg, NULL, ARGS("--host=*")), 0);
    assert_null(cfg.host);
    cfg.host = "127.0.0.1";
    assert_int_equal(run_args(&cfg, NULL, ARGS("--host", "")), 0);
    assert_null(cfg.host);
    assert_int_equal(run_args(&cfg, NULL, ARGS("--host", "localhost")), 0);
    assert_string_equal(cfg.host, "localhost");
    /* The limits themselves pass; the last of a repeated flag wins. */
    assert_int_equal(run_args(&cfg, NULL, ARGS("--port=65535", "--threads", "1024")), 0);
    assert_int_equal(cfg.port, 65535);
    assert_int_equal(cfg.threads, 1024);
    assert_int_equal(run_args(&cfg, NULL, ARGS("--port=0", "--port", "7", "--threads=0")), 0);
    assert_int_equal(cfg.port, 7);
    assert_int_equal(cfg.threads, 0);
}

static void test_flags_win_over_environment(void **state) {
    (void)state;
    clear_env();
    setenv("PORT", "4001", 1);
    setenv("THREADS", "3", 1);
    setenv("HOST", "::1", 1);
    fh_server_config_t cfg = base();
    assert_int_equal(run_args(&cfg, NULL, NULL), 0);
    assert_int_equal(cfg.port, 4001);
    assert_int_equal(cfg.threads, 3);
    assert_string_equal(cfg.host, "::1");
    cfg = base();
    assert_int_equal(run_args(&cfg, NULL, ARGS("--port", "4002", "--host=127.0.0.1")), 0);
    assert_int_equal(cfg.port, 4002);
    assert_int_equal(cfg.threads, 3);
    assert_string_equal(cfg.host, "127.0.0.1");
    /* A bad variable is refused when its flag is absent; a flag given wins. */
    setenv("THREADS", "two", 1);
    refused(NULL, NULL,
            "fasthttp: environment variable THREADS: \"two\" is not a whole number in 0..1024");
    cfg = base();
    assert_int_equal(run_args(&cfg, NULL, ARGS("--threads", "1")), 0); /* the flag wins */
    assert_int_equal(cfg.threads, 1);
    setenv("HOST", "example.com", 1);
    unsetenv("THREADS");
    refused(NULL, NULL,
            "fasthttp: environment variable HOST: \"example.com\" is not an IPv4 or IPv6 "
            "address (or \"localhost\"; \"\" or \"*\" for every interface)");
    clear_env();
}

static void test_bad_values_name_the_flag(void **state) {
    (void)state;
    clear_env();
    static const char *const bad_ports[] = {
        "", "80a", "-1", "+80", " 80", "80 ", "0x50", "65536", "99999999999999999999999", "8.0"
    };
    for (size_t i = 0; i < sizeof(bad_ports) / sizeof(bad_ports[0]); i++) {
        char want[160];
        snprintf(want, sizeof(want), "fasthttp: --port: \"%s\" is not a whole number in 0..65535",
                 bad_ports[i]);
        refused(NULL, ARGS("--port", bad_ports[i]), want);
        refused(NULL, ARGS("--threads=1", "--port=80", "--port", bad_ports[i]), want);
    }
    refused(NULL, ARGS("--threads", "1025"),
            "fasthttp: --threads: \"1025\" is not a whole number in 0..1024");
    refused(NULL, ARGS("--host", "nope"),
            "fasthttp: --host: \"nope\" is not an IPv4 or IPv6 address (or \"localhost\"; \"\" "
            "or \"*\" for every interface)");
    refused(NULL, ARGS("--prot", "80"),
            "fasthttp: unknown flag \"--prot\" (--help lists the flags)");
    refused(NULL, ARGS("-p"), "fasthttp: unknown flag \"-p\" (--help lists the flags)");
    refused(NULL, ARGS("--port"), "fasthttp: --port needs a value: --port PORT");
    refused(NULL, ARGS("--threads"), "fasthttp: --threads needs a value: --threads N");
    refused(NULL, ARGS("8080"), "fasthttp: unexpected argument \"8080\" (--help lists the flags)");
    /* A good flag before a bad one is not taken either. */
    refused(NULL, ARGS("--port", "1", "--threads", "x"),
            "fasthttp: --threads: \"x\" is not a whole number in 0..1024");
    /* Far past any sensible length: the message stays one short line. */
    char *big = malloc(100001);
    memset(big, '9', 100000);
    big[100000] = '\0';
    fh_server_config_t cfg = base();
    assert_int_equal(run_args(&cfg, NULL, ARGS("--port", big)), FH_ECONFIG);
    const char *msg = fh_server_config_error(&cfg, FH_ECONFIG);
    assert_true(strlen(msg) < 160);
    assert_non_null(strstr(msg, "fasthttp: --port: \"999"));
    assert_non_null(strstr(msg, "...\" is not a whole number in 0..65535"));
    free(big);
}

static void test_help(void **state) {
    (void)state;
    clear_env();
    setenv("PORT", "bad", 1); /* --help wins over everything else */
    fh_server_config_t cfg = base();
    assert_int_equal(run_args(&cfg, NULL, ARGS("--help")), FH_ARGS_HELP);
    assert_int_equal(run_args(&cfg, NULL, ARGS("--port", "5", "-h")), FH_ARGS_HELP);
    assert_int_equal(run_args(&cfg, NULL, ARGS("--bogus", "--help")), FH_ARGS_HELP);
    assert_int_equal(cfg.port, 3000); /* untouched: the usage shows the defaults */
    /* After "--" it is an argument like any other. */
    static const char *const ops[] = { "port", NULL };
    fh_args_t args = { .operands = ops };
    assert_int_equal(run_args(&cfg, &args, ARGS("--", "--help")), FH_ECONFIG);
    assert_string_equal(fh_server_config_error(&cfg, FH_ECONFIG),
                        "fasthttp: --port: \"--help\" is not a whole number in 0..65535");
    clear_env();
}

static void test_operands(void **state) {
    (void)state;
    clear_env();
    static const char *const ops[] = { "port", "threads", NULL };
    fh_args_t args = { .operands = ops };
    fh_server_config_t cfg = base();
    assert_int_equal(run_args(&cfg, &args, ARGS("8080", "2")), 0);
    assert_int_equal(cfg.port, 8080);
    assert_int_equal(cfg.threads, 2);
    assert_int_equal(run_args(&cfg, &args, ARGS("--host=::1", "9090")), 0);
    assert_int_equal(cfg.port, 9090);
    refused(&args, ARGS("1", "2", "3"),
            "fasthttp: unexpected argument \"3\" (--help lists the flags)");
    refused(&args, ARGS("80a"), "fasthttp: --port: \"80a\" is not a whole number in 0..65535");
    static const char *const bad_ops[] = { "nothing", NULL };
    fh_args_t bad = { .operands = bad_ops };
    refused(&bad, ARGS("1"), "fasthttp: args.operands[0]: \"nothing\" names no flag");
}

static void test_program_flags(void **state) {
    (void)state;
    clear_env();
    const char *root = ".";
    long count = 10;
    bool list = false;
    const fh_flag_t flags[] = {
        FH_TEXT_FLAG("root", "DIR", "FHT_ROOT", "the directory to serve", &root),
        FH_NUMBER_FLAG("count", NULL, "FHT_COUNT", "how many", &count, -5, 1000),
        FH_SWITCH_FLAG("list", "FHT_LIST", "list directories", &list),
        FH_FLAGS_END,
    };
    fh_args_t args = { .flags = flags };
    fh_server_config_t cfg = base();
    assert_int_equal(run_args(&cfg, &args, ARGS("--root", "/srv", "--count=-5", "--list")), 0);
    assert_string_equal(root, "/srv");
    assert_int_equal(count, -5);
    assert_true(list);
    /* The environment, when the flags are absent. */
    root = ".";
    count = 10;
    list = false;
    setenv("FHT_ROOT", "/var/www", 1);
    setenv("FHT_COUNT", "1000", 1);
    setenv("FHT_LIST", "yes", 1);
    assert_int_equal(run_args(&cfg, &args, NULL), 0);
    assert_string_equal(root, "/var/www");
    assert_int_equal(count, 1000);
    assert_true(list);
    setenv("FHT_LIST", "0", 1);
    assert_int_equal(run_args(&cfg, &args, ARGS("--root", "/x")), 0);
    assert_string_equal(root, "/x");
    assert_false(list);
    /* Refusals name the flag or the variable; nothing is taken. */
    root = ".";
    count = 10;
    setenv("FHT_LIST", "maybe", 1);
    refused(&args, ARGS("--root", "/y"),
            "fasthttp: environment variable FHT_LIST: \"maybe\" is not 1, true or yes (on) nor "
            "0, false, no or \"\" (off)");
    assert_string_equal(root, ".");
    unsetenv("FHT_LIST");
    refused(&args, ARGS("--count", "1001"),
            "fasthttp: --count: \"1001\" is not a whole number in -5..1000");
    refused(&args, ARGS("--count", "-6"),
            "fasthttp: --count: \"-6\" is not a whole number in -5..1000");
    refused(&args, ARGS("--list=1"), "fasthttp: --list takes no value (it is a switch)");
    refused(&args, ARGS("--root"), "fasthttp: --root needs a value: --root DIR");
    assert_int_equal(count, 10);
    clear_env();
}

static void test_bad_declarations(void **state) {
    (void)state;
    clear_env();
    const char *t = NULL;
    long n = 0;
    const fh_flag_t taken[] = { FH_TEXT_FLAG("port", NULL, NULL, NULL, &t), FH_FLAGS_END };
    fh_args_t args = { .flags = taken };
    refused(&args, NULL, "fasthttp: args.flags[0].name: --port is taken");
    const fh_flag_t twice[] = { FH_TEXT_FLAG("a", NULL, NULL, NULL, &t),
                                FH_TEXT_FLAG("a", NULL, NULL, NULL, &t), FH_FLAGS_END };
    args.flags = twice;
    refused(&args, NULL, "fasthttp: args.flags[1].name: --a is taken");
    const fh_flag_t help[] = { FH_TEXT_FLAG("help", NULL, NULL, NULL, &t), FH_FLAGS_END };
    args.flags = help;
    refused(&args, NULL,
            "fasthttp: args.flags[0].name: \"help\" is not a flag name (letters, digits and '-'; "
            "not \"help\")");
    const fh_flag_t spaced[] = { FH_TEXT_FLAG("a b", NULL, NULL, NULL, &t), FH_FLAGS_END };
    args.flags = spaced;
    assert_int_equal(run_args(NULL, &args, NULL), FH_ECONFIG);
    const fh_flag_t no_target[] = { FH_NUMBER_FLAG("n", NULL, NULL, NULL, NULL, 0, 1),
                                    FH_FLAGS_END };
    args.flags = no_target;
    assert_int_equal(run_args(NULL, &args, NULL), FH_ECONFIG);
    const fh_flag_t range[] = { FH_NUMBER_FLAG("n", NULL, NULL, NULL, &n, 2, 1), FH_FLAGS_END };
    args.flags = range;
    assert_int_equal(run_args(NULL, &args, NULL), FH_ECONFIG);
    /* More flags than a usage can show. */
    fh_flag_t *many = calloc(70, sizeof(*many));
    char names[69][8];
    for (int i = 0; i < 69; i++) {
        snprintf(names[i], sizeof(names[i]), "f%d", i);
        many[i] = (fh_flag_t)FH_TEXT_FLAG(names[i], NULL, NULL, NULL, &t);
    }
    args.flags = many;
    assert_int_equal(run_args(NULL, &args, NULL), FH_ECONFIG);
    assert_string_equal(fh_server_config_error(NULL, FH_ECONFIG),
                        "fasthttp: args.flags: more than 64 flags");
    free(many);
}

/* Without a config (a program that serves nothing) the server's flags are
 * unknown and the environment's PORT is not read. */
static void test_without_server(void **state) {
    (void)state;
    clear_env();
    setenv("PORT", "bad", 1);
    long iterations = 1000;
    const fh_flag_t flags[] = {
        FH_NUMBER_FLAG("iterations", NULL, NULL, "per run", &iterations, 1, 1000000000),
        FH_FLAGS_END,
    };
    static const char *const ops[] = { "iterations", NULL };
    fh_args_t args = { .flags = flags, .operands = ops };
    assert_int_equal(run_args(NULL, &args, ARGS("5000")), 0);
    assert_int_equal(iterations, 5000);
    assert_int_equal(run_args(NULL, &args, ARGS("--port", "1")), FH_ECONFIG);
    assert_string_equal(fh_server_config_error(NULL, FH_ECONFIG),
                        "fasthttp: unknown flag \"--port\" (--help lists the flags)");
    assert_int_equal(run_args(NULL, &args, ARGS("--iterations", "0")), FH_ECONFIG);
    assert_int_equal(iterations, 5000);
    clear_env();
}

/* Ten thousand flags: read in one pass, the last one wins. */
static void test_many_arguments(void **state) {
    (void)state;
    clear_env();
    int argc = 20001;
    char **argv = calloc((size_t)argc + 1, sizeof(char *));
    argv[0] = (char *)"prog";
    for (int i = 1; i < argc; i += 2) {
        argv[i] = (char *)"--port";
        argv[i + 1] = (char *)(i + 2 < argc ? "1" : "2");
    }
    fh_server_config_t cfg = base();
    assert_int_equal(fh_server_config_args(&cfg, argc, argv, NULL), 0);
    assert_int_equal(cfg.port, 2);
    free(argv);
}

static char *usage_of(const fh_server_config_t *cfg, const fh_args_t *args, const char *argv0) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    fh_server_usage(f, argv0, cfg, args);
    fclose(f);
    return text;
}

static void test_usage(void **state) {
    (void)state;
    const char *root = ".";
    bool list = false;
    const fh_flag_t flags[] = {
        FH_TEXT_FLAG("root", "DIR", "ROOT", "the directory to serve", &root),
        FH_SWITCH_FLAG("list", "LIST", "HTML listings", &list),
        FH_FLAGS_END,
    };
    static const char *const ops[] = { "port", "threads", NULL };
    fh_args_t args = { .summary = "Serves a directory.", .flags = flags, .operands = ops };
    fh_server_config_t cfg = base();
    char *u = usage_of(&cfg, &args, "/usr/local/bin/static");
    assert_non_null(strstr(u, "usage: static [--host HOST] [--port PORT] [--threads N] "
                              "[--tls-cert FILE --tls-key FILE] [--root "
                              "DIR] [--list] [PORT [THREADS]]\nServes a directory.\n\n"));
    assert_non_null(strstr(u, "  --tls-cert FILE    serve HTTPS: certificate chain (PEM) "
                              "[TLS_CERT]\n"));
    assert_non_null(strstr(u, "  --tls-verify MODE  client certificates: none, optional or "
                              "required [TLS_VERIFY_CLIENT]\n"));
    assert_non_null(strstr(u, "  --port PORT        port to listen on; 0: a free one [PORT, "
                              "default 3000]\n"));
    assert_non_null(strstr(u, "[HOST, default 127.0.0.1]\n"));
    assert_non_null(strstr(u, "[THREADS, default 2]\n"));
    assert_non_null(strstr(u, "  --root DIR         the directory to serve [ROOT, default .]\n"));
    assert_non_null(strstr(u, "  --list             HTML listings [LIST=1]\n"));
    assert_non_null(strstr(u, "  -h, --help         print this and exit\n"));
    free(u);
    cfg.host = NULL;
    args.program = "files";
    u = usage_of(&cfg, &args, "ignored");
    assert_non_null(strstr(u, "usage: files "));
    assert_non_null(strstr(u, "[HOST, default every interface]"));
    free(u);
    /* No server: only the program's flags. */
    u = usage_of(NULL, NULL, "bench");
    assert_string_equal(u, "usage: bench\n\n  -h, --help         print this and exit\n");
    free(u);
}

/* The host the config holds, and the one the environment gives, are quoted
 * when refused. */
static void test_host_messages(void **state) {
    (void)state;
    clear_env();
    fh_server_t *s = NULL;
    fh_server_config_t cfg = base();
    cfg.host = "300.1.2.3";
    assert_int_equal(fh_server_new(&s, &cfg), FH_ECONFIG);
    assert_string_equal(fh_server_config_error(&cfg, FH_ECONFIG),
                        "fasthttp: config.host: \"300.1.2.3\" is not an IPv4 or IPv6 address (or "
                        "\"localhost\")");
    setenv("HOST", "my host", 1);
    cfg = base();
    assert_int_equal(fh_server_config_env(&cfg), FH_ECONFIG);
    assert_string_equal(fh_server_config_error(&cfg, FH_ECONFIG),
                        "fasthttp: environment variable HOST: \"my host\" is not an IPv4 or IPv6 "
                        "address (or \"localhost\"; \"\" or \"*\" for every interface)");
    assert_string_equal(cfg.host, "127.0.0.1");
    /* Other errors afterwards read as before. */
    cfg.port = 70000;
    assert_int_equal(fh_server_new(&s, &cfg), FH_ECONFIG);
    assert_string_equal(fh_server_config_error(&cfg, FH_ECONFIG),
                        "fasthttp: config.port: must be 0..65535");
    clear_env();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_flags),
        cmocka_unit_test(test_flags_win_over_environment),
        cmocka_unit_test(test_bad_values_name_the_flag),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_operands),
        cmocka_unit_test(test_program_flags),
        cmocka_unit_test(test_bad_declarations),
        cmocka_unit_test(test_without_server),
        cmocka_unit_test(test_many_arguments),
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_host_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
