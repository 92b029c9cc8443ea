/* The command line: the server's flags (--host, --port, --threads) and a
 * program's own, each with its environment variable, and the usage text.
 *
 * Reading happens in two passes so that nothing changes unless everything
 * is right: the first finds, for every flag, the text that sets it (the
 * last one given on the command line, else its environment variable); the
 * second converts and checks each into a scratch copy, and only then are
 * cfg and the program's targets written. A new server flag (TLS files...)
 * is one row of server_flags and one case in set_server. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

enum {
    SRV_HOST,
    SRV_PORT,
    SRV_THREADS,
    SRV_TLS_CERT,
    SRV_TLS_KEY,
    SRV_TLS_CLIENT_CA,
    SRV_TLS_VERIFY,
    SRV_COUNT
};

/* The server's flags, in the order the usage lists them. */
static const fh_flag_t server_flags[SRV_COUNT] = {
    { "host", FH_FLAG_TEXT, "HOST", "HOST", "address to listen on; \"\" or \"*\": every interface",
      NULL, NULL, 0, 0, NULL },
    { "port", FH_FLAG_NUMBER, "PORT", "PORT", "port to listen on; 0: a free one", NULL, NULL, 0,
      65535, NULL },
    { "threads", FH_FLAG_NUMBER, "N", "THREADS", "worker threads; 0: one per CPU", NULL, NULL, 0,
      1024, NULL },
    { "tls-cert", FH_FLAG_TEXT, "FILE", "TLS_CERT", "serve HTTPS: certificate chain (PEM)", NULL,
      NULL, 0, 0, NULL },
    { "tls-key", FH_FLAG_TEXT, "FILE", "TLS_KEY", "the certificate's private key (PEM)", NULL, NULL,
      0, 0, NULL },
    { "tls-ca", FH_FLAG_TEXT, "FILE", "TLS_CLIENT_CA",
      "ask clients for certificates from these CAs (PEM)", NULL, NULL, 0, 0, NULL },
    { "tls-verify", FH_FLAG_TEXT, "MODE", "TLS_VERIFY_CLIENT",
      "client certificates: none, optional or required", NULL, NULL, 0, 0, NULL },
};

/* A TLS_VERIFY_CLIENT text as its value; false when it is none of them. */
static bool verify_mode(const char *t, fh_tls_verify_t *out) {
    if (!*t || strcmp(t, "none") == 0)
        *out = FH_TLS_VERIFY_NONE;
    else if (strcmp(t, "optional") == 0)
        *out = FH_TLS_VERIFY_OPTIONAL;
    else if (strcmp(t, "required") == 0)
        *out = FH_TLS_VERIFY_REQUIRED;
    else
        return false;
    return true;
}

/* Where a flag's text came from. */
typedef enum source { FROM_NONE, FROM_ARGV, FROM_ENV } source_t;

/* One flag while reading: its description, the text found and whence. */
typedef struct slot {
    const fh_flag_t *flag;
    const char *text;
    source_t from;
} slot_t;

/* The most flags a program may declare: a usage longer than a screen is
 * a program that needs a config file instead. */
#define MAX_FLAGS 64

static bool name_ok(const char *n) {
    if (!n[0] || n[0] == '-')
        return false;
    for (const char *p = n; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-'))
            return false;
    return true;
}

/* Fills slots with the server's flags (when serving) and the program's;
 * refuses names that are malformed or taken twice. */
static int collect(slot_t *slots, size_t *n, bool serving, const fh_args_t *args) {
    *n = 0;
    if (serving)
        for (size_t i = 0; i < SRV_COUNT; i++)
            slots[(*n)++] = (slot_t){ &server_flags[i], NULL, FROM_NONE };
    for (size_t i = 0; args && args->flags && args->flags[i].name; i++) {
        const fh_flag_t *f = &args->flags[i];
        if (*n == MAX_FLAGS)
            return fh__config_refuse("args.flags: more than %d flags", MAX_FLAGS);
        if (!name_ok(f->name) || strcmp(f->name, "help") == 0)
            return fh__config_refuse("args.flags[%zu].name: \"%.40s\" is not a flag name (letters, "
                                     "digits and '-'; not \"help\")",
                                     i, f->name);
        for (size_t k = 0; k < *n; k++)
            if (strcmp(slots[k].flag->name, f->name) == 0)
                return fh__config_refuse("args.flags[%zu].name: --%.40s is taken", i, f->name);
        if ((f->kind == FH_FLAG_TEXT && !f->text) || (f->kind == FH_FLAG_NUMBER && !f->number) ||
            (f->kind == FH_FLAG_SWITCH && !f->on) || f->kind > FH_FLAG_SWITCH ||
            (f->kind == FH_FLAG_NUMBER && f->min > f->max))
            return fh__config_refuse("args.flags[%zu]: --%.40s has no target of its kind (or min "
                                     "> max)",
                                     i, f->name);
        slots[(*n)++] = (slot_t){ f, NULL, FROM_NONE };
    }
    return 0;
}

static slot_t *find(slot_t *slots, size_t n, const char *name, size_t len) {
    for (size_t i = 0; i < n; i++)
        if (strlen(slots[i].flag->name) == len && memcmp(slots[i].flag->name, name, len) == 0)
            return &slots[i];
    return NULL;
}

/* "--port" or "environment variable PORT": where a refused text came from. */
static void source_label(char *dst, size_t cap, const slot_t *s) {
    if (s->from == FROM_ENV)
        snprintf(dst, cap, "environment variable %s", s->flag->env);
    else
        snprintf(dst, cap, "--%s", s->flag->name);
}

/* A whole decimal number (a '-' first only when min is negative) in
 * min..max, nothing before or after it. */
static bool parse_number(const char *s, long min, long max, long *out) {
    const char *d = s[0] == '-' && min < 0 ? s + 1 : s;
    if (*d < '0' || *d > '9')
        return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* Converts one slot's text; refuses it naming its source. */
static int convert(const slot_t *s, long *number, bool *on) {
    char where[96], q[64];
    const fh_flag_t *f = s->flag;
    switch (f->kind) {
    case FH_FLAG_NUMBER:
        if (parse_number(s->text, f->min, f->max, number))
            return 0;
        source_label(where, sizeof(where), s);
        fh__config_quote(q, sizeof(q), s->text);
        return fh__config_refuse("%s: %s is not a whole number in %ld..%ld", where, q, f->min,
                                 f->max);
    case FH_FLAG_SWITCH: {
        static const char *const words[] = { "1", "true", "yes", "", "0", "false", "no" };
        for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
            if (strcmp(s->text, words[i]) == 0) {
                *on = i < 3;
                return 0;
            }
        }
        source_label(where, sizeof(where), s);
        fh__config_quote(q, sizeof(q), s->text);
        return fh__config_refuse("%s: %s is not 1, true or yes (on) nor 0, false, no or \"\" (off)",
                                 where, q);
    }
    case FH_FLAG_TEXT:
    default: return 0;
    }
}

/* The program's name for the usage: args->program, else argv0's last
 * path component. */
static const char *program_name(const char *argv0, const fh_args_t *args) {
    if (args && args->program)
        return args->program;
    if (!argv0 || !*argv0)
        return "program";
    const char *slash = strrchr(argv0, '/');
    return slash ? slash + 1 : argv0;
}

/* Reads argv into the slots' texts. Returns 0, FH_ARGS_HELP or a refusal. */
static int scan(slot_t *slots, size_t n, int argc, char **argv, const fh_args_t *args) {
    /* -h and --help win wherever they stand before "--". */
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return FH_ARGS_HELP;
    const char *const *operands = args ? args->operands : NULL;
    size_t next_operand = 0;
    bool flags_over = false;
    char q[64];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!flags_over && strcmp(a, "--") == 0) {
            flags_over = true;
            continue;
        }
        if (!flags_over && a[0] == '-' && a[1] != '\0') {
            const char *name = a[1] == '-' ? a + 2 : a + 1;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            slot_t *s = a[1] == '-' ? find(slots, n, name, len) : NULL;
            if (!s) {
                fh__config_quote(q, sizeof(q), a);
                return fh__config_refuse("unknown flag %s (--help lists the flags)", q);
            }
            if (s->flag->kind == FH_FLAG_SWITCH) {
                if (eq)
                    return fh__config_refuse("--%s takes no value (it is a switch)", s->flag->name);
                s->text = "1";
            } else if (eq) {
                s->text = eq + 1;
            } else if (i + 1 < argc) {
                s->text = argv[++i];
            } else {
                return fh__config_refuse("--%s needs a value: --%s %s", s->flag->name,
                                         s->flag->name,
                                         s->flag->arg                      ? s->flag->arg
                                         : s->flag->kind == FH_FLAG_NUMBER ? "N"
                                                                           : "VALUE");
            }
            s->from = FROM_ARGV;
            continue;
        }
        const char *oname = operands ? operands[next_operand] : NULL;
        slot_t *s = oname ? find(slots, n, oname, strlen(oname)) : NULL;
        if (!s) {
            fh__config_quote(q, sizeof(q), a);
            return oname ? fh__config_refuse("args.operands[%zu]: \"%.40s\" names no flag",
                                             next_operand, oname)
                         : fh__config_refuse("unexpected argument %s (--help lists the flags)", q);
        }
        next_operand++;
        s->text = a;
        s->from = FROM_ARGV;
    }
    return 0;
}

int fh_server_config_args(fh_server_config_t *cfg, int argc, char **argv, const fh_args_t *args) {
    slot_t slots[MAX_FLAGS];
    size_t n;
    int err = collect(slots, &n, cfg != NULL, args);
    if (!err && argc > 0 && !argv)
        err = FH_EINVAL;
    if (!err)
        err = scan(slots, n, argc, argv, args);
    if (err)
        return err;
    for (size_t i = 0; i < n; i++) {
        if (slots[i].from == FROM_NONE && slots[i].flag->env) {
            slots[i].text = getenv(slots[i].flag->env);
            if (slots[i].text)
                slots[i].from = FROM_ENV;
        }
    }
    /* Convert and check everything before writing anything. */
    long numbers[MAX_FLAGS];
    bool ons[MAX_FLAGS];
    for (size_t i = 0; i < n; i++) {
        if (slots[i].from == FROM_NONE)
            continue;
        if ((err = convert(&slots[i], &numbers[i], &ons[i])) != 0)
            return err;
        if (cfg && slots[i].flag == &server_flags[SRV_HOST]) {
            const char *h = slots[i].text;
            if (h[0] && strcmp(h, "*") != 0 && !fh__config_host_ok(h)) {
                char where[96], q[64];
                source_label(where, sizeof(where), &slots[i]);
                fh__config_quote(q, sizeof(q), h);
                return fh__config_refuse("%s: %s is not an IPv4 or IPv6 address (or "
                                         "\"localhost\"; \"\" or \"*\" for every interface)",
                                         where, q);
            }
        }
    }
    if (cfg) {
        /* A certificate needs its key, and the other way round. */
        const slot_t *cert = &slots[SRV_TLS_CERT], *key = &slots[SRV_TLS_KEY];
        bool has_cert = cert->from != FROM_NONE && *cert->text;
        bool has_key = key->from != FROM_NONE && *key->text;
        if (has_cert != has_key) {
            char where[96];
            source_label(where, sizeof(where), has_cert ? cert : key);
            return fh__config_refuse("%s: given without %s (a certificate needs its key)", where,
                                     has_cert ? "--tls-key (TLS_KEY)" : "--tls-cert (TLS_CERT)");
        }
        const slot_t *v = &slots[SRV_TLS_VERIFY];
        fh_tls_verify_t mode;
        if (v->from != FROM_NONE && !verify_mode(v->text, &mode)) {
            char where[96], q[64];
            source_label(where, sizeof(where), v);
            fh__config_quote(q, sizeof(q), v->text);
            return fh__config_refuse("%s: %s is not \"none\", \"optional\" or \"required\"", where,
                                     q);
        }
    }
    for (size_t i = 0; i < n; i++) {
        const slot_t *s = &slots[i];
        if (s->from == FROM_NONE)
            continue;
        if (cfg &&
            (s->flag == &server_flags[SRV_TLS_CERT] || s->flag == &server_flags[SRV_TLS_KEY] ||
             s->flag == &server_flags[SRV_TLS_CLIENT_CA])) {
            const char *f = *s->text ? s->text : NULL;
            if (s->flag == &server_flags[SRV_TLS_CERT])
                cfg->tls.cert_file = f;
            else if (s->flag == &server_flags[SRV_TLS_KEY])
                cfg->tls.key_file = f;
            else
                cfg->tls.client_ca_file = f;
        } else if (cfg && s->flag == &server_flags[SRV_TLS_VERIFY]) {
            verify_mode(s->text, &cfg->tls.verify_client);
        } else if (cfg && s->flag == &server_flags[SRV_HOST])
            cfg->host = s->text[0] == '\0' || strcmp(s->text, "*") == 0 ? NULL : s->text;
        else if (cfg && s->flag == &server_flags[SRV_PORT])
            cfg->port = (int)numbers[i];
        else if (cfg && s->flag == &server_flags[SRV_THREADS])
            cfg->threads = (int)numbers[i];
        else if (s->flag->kind == FH_FLAG_TEXT)
            *s->flag->text = s->text;
        else if (s->flag->kind == FH_FLAG_NUMBER)
            *s->flag->number = numbers[i];
        else
            *s->flag->on = ons[i];
    }
    return 0;
}

/* "--port PORT", "--list": a flag as the usage writes it. */
static void flag_form(char *dst, size_t cap, const fh_flag_t *f) {
    if (f->kind == FH_FLAG_SWITCH)
        snprintf(dst, cap, "--%s", f->name);
    else
        snprintf(dst, cap, "--%s %s", f->name,
                 f->arg                      ? f->arg
                 : f->kind == FH_FLAG_NUMBER ? "N"
                                             : "VALUE");
}

/* "[HOST, default 127.0.0.1]": the variable and the default, as far as
 * there are any. */
static void flag_note(char *dst, size_t cap, const fh_flag_t *f, const fh_server_config_t *cfg) {
    char def[80] = "";
    if (cfg && f == &server_flags[SRV_HOST])
        snprintf(def, sizeof(def), "%.64s", cfg->host ? cfg->host : "every interface");
    else if (cfg && f == &server_flags[SRV_PORT])
        snprintf(def, sizeof(def), "%d", cfg->port);
    else if (cfg && f == &server_flags[SRV_THREADS])
        snprintf(def, sizeof(def), "%d", cfg->threads);
    else if (f->kind == FH_FLAG_TEXT && f->text && *f->text)
        snprintf(def, sizeof(def), "%.64s", *f->text);
    else if (f->kind == FH_FLAG_NUMBER && f->number)
        snprintf(def, sizeof(def), "%ld", *f->number);
    if (f->env && def[0])
        snprintf(dst, cap, " [%s, default %s]", f->env, def);
    else if (f->env && f->kind == FH_FLAG_SWITCH)
        snprintf(dst, cap, " [%s=1]", f->env);
    else if (f->env)
        snprintf(dst, cap, " [%s]", f->env);
    else if (def[0])
        snprintf(dst, cap, " [default %s]", def);
    else
        dst[0] = '\0';
}

void fh_server_usage(FILE *to, const char *argv0, const fh_server_config_t *cfg,
                     const fh_args_t *args) {
    const fh_flag_t *list[MAX_FLAGS];
    size_t n = 0;
    if (cfg)
        for (size_t i = 0; i < SRV_COUNT; i++)
            list[n++] = &server_flags[i];
    for (size_t i = 0; args && args->flags && args->flags[i].name && n < MAX_FLAGS; i++)
        list[n++] = &args->flags[i];

    char form[128];
    fprintf(to, "usage: %s", program_name(argv0, args));
    for (size_t i = 0; i < n; i++) {
        /* The TLS flags, in the line as the pair that switches HTTPS on;
         * the list below gives them all. */
        bool tls = cfg && i >= SRV_TLS_CERT && i <= SRV_TLS_VERIFY;
        if (tls && i == SRV_TLS_CERT)
            fputs(" [--tls-cert FILE --tls-key FILE]", to);
        if (tls)
            continue;
        flag_form(form, sizeof(form), list[i]);
        fprintf(to, " [%s]", form);
    }
    /* Operands by their flag's name in capitals: [PORT [THREADS]]. */
    size_t nops = 0;
    for (; args && args->operands && args->operands[nops]; nops++) {
        fputs(" [", to);
        for (const char *p = args->operands[nops]; *p; p++)
            fputc(*p == '-' ? '_' : (*p >= 'a' && *p <= 'z') ? *p - 'a' + 'A' : *p, to);
    }
    for (size_t i = 0; i < nops; i++)
        fputc(']', to);
    fputc('\n', to);
    if (args && args->summary)
        fprintf(to, "%s\n", args->summary);
    fputc('\n', to);
    bool any_env = false;
    for (size_t i = 0; i < n; i++) {
        char note[128];
        flag_form(form, sizeof(form), list[i]);
        flag_note(note, sizeof(note), list[i], cfg);
        fprintf(to, "  %-18s %s%s\n", form, list[i]->help ? list[i]->help : "", note);
        any_env |= list[i]->env != NULL;
    }
    fprintf(to, "  %-18s %s\n", "-h, --help", "print this and exit");
    if (any_env)
        fprintf(to, "A flag wins over the environment variable in brackets.\n");
}
