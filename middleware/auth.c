/* Basic and Bearer authentication. */
#include <stdio.h>
#include <stdlib.h>

#include "middleware/mw.h"

typedef struct auth {
    bool bearer;
    bool problem;                /* refusals as problem documents */
    char *challenge;             /* WWW-Authenticate for "no or wrong credentials" */
    char *challenge_invalid;     /* Bearer: error="invalid_token" */
    char *challenge_bad;         /* Bearer: error="invalid_request" */
    fh_str_t *users, *passwords; /* Basic list; or tokens (Bearer) in users */
    size_t n;
    fh_basic_auth_fn basic_fn;
    fh_bearer_auth_fn bearer_fn;
    void *fn_data;
} auth_t;

const char fh__mw_user_key;

fh_str_t fh_auth_user(const fh_request_t *req) {
    const fh_str_t *u = fh__request_get(req, &fh__mw_user_key);
    return u ? *u : (fh_str_t){ NULL, 0 };
}

int fh_auth_set_user(fh_request_t *req, fh_str_t user) {
    fh_str_t *u = fh_alloc(req, sizeof(*u));
    char *copy = u ? fh_strndup(req, user) : NULL;
    if (!copy)
        return FH_ENOMEM;
    *u = (fh_str_t){ copy, user.len };
    return fh_request_set(req, &fh__mw_user_key, u);
}

bool fh_auth_equal(fh_str_t a, fh_str_t b) {
    /* volatile keeps the compiler from ending the loop at the first
     * difference. */
    volatile unsigned char diff = a.len != b.len;
    size_t n = a.len > b.len ? a.len : b.len;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = i < a.len ? (unsigned char)a.ptr[i] : 0;
        unsigned char y = i < b.len ? (unsigned char)b.ptr[i] : 0;
        diff |= (unsigned char)(x ^ y);
    }
    return diff == 0;
}

/* RFC 7235 token68. */
static bool token68(fh_str_t s) {
    size_t i = 0;
    while (i < s.len) {
        char c = s.ptr[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/')
            i++;
        else
            break;
    }
    if (i == 0)
        return false;
    while (i < s.len && s.ptr[i] == '=')
        i++;
    return i == s.len;
}

/* Splits "Scheme credentials"; false when the scheme differs. */
static bool auth_scheme(fh_str_t h, const char *scheme, fh_str_t *cred) {
    size_t n = strlen(scheme);
    if (h.len < n || !fh_str_ieq((fh_str_t){ h.ptr, n }, (fh_str_t){ scheme, n }))
        return false;
    if (h.len > n && h.ptr[n] != ' ')
        return false;
    size_t i = n;
    while (i < h.len && h.ptr[i] == ' ')
        i++;
    *cred = (fh_str_t){ h.ptr + i, h.len - i };
    return true;
}

/* Standard base64 with optional padding into dst (room for 3/4 of src);
 * returns the decoded length or -1. */
static ptrdiff_t base64_decode(char *dst, fh_str_t src) {
    size_t n = src.len;
    while (n && src.ptr[n - 1] == '=')
        n--;
    if (src.len - n > 2 || n % 4 == 1)
        return -1;
    uint32_t acc = 0;
    int bits = 0;
    char *p = dst;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src.ptr[i];
        int v;
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            v = c - '0' + 52;
        else if (c == '+')
            v = 62;
        else if (c == '/')
            v = 63;
        else
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            *p++ = (char)((acc >> bits) & 0xff);
        }
    }
    return p - dst;
}

/* Answers status with the challenge: a short text, or with the problem
 * option an application/problem+json document whose detail says why. */
static int refuse(const auth_t *a, fh_response_t *res, int status, const char *challenge,
                  const char *detail) {
    int err = fh_response_header(res, "WWW-Authenticate", challenge);
    if (!err)
        err = a->problem ? fh_send_problem(res, status, NULL, detail, NULL)
                         : fh_send_status(res, status);
    return err ? err : FH_STOP;
}

static int basic_before(fh_request_t *req, fh_response_t *res, void *data) {
    auth_t *a = data;
    fh_str_t h = fh_request_header(req, "Authorization"), cred;
    if (!h.ptr || !auth_scheme(h, "Basic", &cred) || cred.len == 0 || cred.len > 4096)
        return refuse(a, res, 401, a->challenge, "credentials are required (Basic)");
    char *buf = fh_alloc(req, cred.len);
    if (!buf)
        return FH_ENOMEM;
    ptrdiff_t len = base64_decode(buf, cred);
    char *colon = len > 0 ? memchr(buf, ':', (size_t)len) : NULL;
    if (!colon)
        return refuse(a, res, 401, a->challenge, "the credentials are malformed");
    fh_str_t user = { buf, (size_t)(colon - buf) };
    fh_str_t pass = { colon + 1, (size_t)(buf + len - colon - 1) };
    bool ok = false;
    for (size_t i = 0; i < a->n; i++) {
        /* Both compared for every entry: no early exit to time. */
        bool u = fh_auth_equal(user, a->users[i]);
        bool p = fh_auth_equal(pass, a->passwords[i]);
        ok |= u & p;
    }
    if (!ok && a->basic_fn)
        ok = a->basic_fn(req, user, pass, a->fn_data);
    if (!ok)
        return refuse(a, res, 401, a->challenge, "the user name or password is wrong");
    if (!fh_auth_user(req).ptr) {
        int err = fh_auth_set_user(req, user);
        if (err)
            return err;
    }
    return FH_NEXT;
}

static int bearer_before(fh_request_t *req, fh_response_t *res, void *data) {
    auth_t *a = data;
    fh_str_t h = fh_request_header(req, "Authorization"), token;
    if (!h.ptr || !auth_scheme(h, "Bearer", &token))
        return refuse(a, res, 401, a->challenge, "a bearer token is required");
    if (!token68(token))
        return refuse(a, res, 400, a->challenge_bad, "the Authorization header is malformed");
    bool ok = false;
    for (size_t i = 0; i < a->n; i++)
        ok |= fh_auth_equal(token, a->users[i]);
    if (!ok && a->bearer_fn)
        ok = a->bearer_fn(req, token, a->fn_data);
    return ok ? FH_NEXT : refuse(a, res, 401, a->challenge_invalid, "the token is not valid");
}

static void auth_release(void *data) {
    auth_t *a = data;
    if (!a)
        return;
    for (size_t i = 0; i < a->n; i++) {
        free((char *)a->users[i].ptr);
        if (a->passwords)
            free((char *)a->passwords[i].ptr);
    }
    free(a->users);
    free(a->passwords);
    free(a->challenge);
    free(a->challenge_invalid);
    free(a->challenge_bad);
    free(a);
}

static int realm_check(const char *realm, const char *field) {
    for (const char *p = realm; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\' || c < 0x20 || c == 0x7f)
            return fh__mw_fail(
                FH_ECONFIG, "%s.realm: '\"', '\\\\' and control characters are not allowed", field);
    }
    return 0;
}

static int dup_str(fh_str_t *out, const char *s) {
    size_t n = strlen(s);
    char *c = malloc(n + 1);
    if (!c)
        return FH_ENOMEM;
    memcpy(c, s, n + 1);
    *out = (fh_str_t){ c, n };
    return 0;
}

int fh_basic_auth_new(fh_middleware_t *out, const fh_basic_auth_options_t *opt) {
    memset(out, 0, sizeof(*out));
    if (!opt || (!opt->users && !opt->validate))
        return fh__mw_fail(FH_ECONFIG, "basic_auth.users: set users or validate");
    const char *realm = opt->realm ? opt->realm : "Restricted";
    int err = realm_check(realm, "basic_auth");
    if (err)
        return err;
    size_t n = 0;
    if (opt->users) {
        for (; opt->users[n].user; n++) {
            if (strchr(opt->users[n].user, ':'))
                return fh__mw_fail(FH_ECONFIG, "basic_auth.users[%zu].user: ':' is not allowed", n);
            if (!opt->users[n].password)
                return fh__mw_fail(FH_ECONFIG, "basic_auth.users[%zu].password: required", n);
        }
        if (n == 0 && !opt->validate)
            return fh__mw_fail(FH_ECONFIG, "basic_auth.users: the list is empty");
    }
    auth_t *a = calloc(1, sizeof(*a));
    if (!a)
        return FH_ENOMEM;
    a->users = calloc(n ? n : 1, sizeof(fh_str_t));
    a->passwords = calloc(n ? n : 1, sizeof(fh_str_t));
    if (!a->users || !a->passwords)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        if (dup_str(&a->users[i], opt->users[i].user) ||
            dup_str(&a->passwords[i], opt->users[i].password)) {
            a->n = i + 1;
            goto nomem;
        }
    }
    a->n = n;
    a->problem = opt->problem;
    a->basic_fn = opt->validate;
    a->fn_data = opt->validate_data;
    size_t cl = strlen(realm) + 64;
    a->challenge = malloc(cl);
    if (!a->challenge)
        goto nomem;
    snprintf(a->challenge, cl, "Basic realm=\"%s\", charset=\"UTF-8\"", realm);
    out->name = "basic_auth";
    out->before = basic_before;
    out->data = a;
    out->release = auth_release;
    fh__mw_ok();
    return 0;
nomem:
    auth_release(a);
    return FH_ENOMEM;
}

int fh_bearer_auth_new(fh_middleware_t *out, const fh_bearer_auth_options_t *opt) {
    memset(out, 0, sizeof(*out));
    if (!opt || (!opt->tokens && !opt->validate))
        return fh__mw_fail(FH_ECONFIG, "bearer_auth.tokens: set tokens or validate");
    const char *realm = opt->realm ? opt->realm : "api";
    int err = realm_check(realm, "bearer_auth");
    if (err)
        return err;
    size_t n = 0;
    if (opt->tokens) {
        for (; opt->tokens[n]; n++)
            if (!token68(fh_str(opt->tokens[n])))
                return fh__mw_fail(FH_ECONFIG, "bearer_auth.tokens[%zu]: not a token68", n);
        if (n == 0 && !opt->validate)
            return fh__mw_fail(FH_ECONFIG, "bearer_auth.tokens: the list is empty");
    }
    auth_t *a = calloc(1, sizeof(*a));
    if (!a)
        return FH_ENOMEM;
    a->bearer = true;
    a->users = calloc(n ? n : 1, sizeof(fh_str_t));
    if (!a->users)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        if (dup_str(&a->users[i], opt->tokens[i])) {
            a->n = i;
            goto nomem;
        }
        a->n = i + 1;
    }
    a->problem = opt->problem;
    a->bearer_fn = opt->validate;
    a->fn_data = opt->validate_data;
    size_t cl = strlen(realm) + 64;
    a->challenge = malloc(cl);
    a->challenge_invalid = malloc(cl);
    a->challenge_bad = malloc(cl);
    if (!a->challenge || !a->challenge_invalid || !a->challenge_bad)
        goto nomem;
    snprintf(a->challenge, cl, "Bearer realm=\"%s\"", realm);
    snprintf(a->challenge_invalid, cl, "Bearer realm=\"%s\", error=\"invalid_token\"", realm);
    snprintf(a->challenge_bad, cl, "Bearer realm=\"%s\", error=\"invalid_request\"", realm);
    out->name = "bearer_auth";
    out->before = bearer_before;
    out->data = a;
    out->release = auth_release;
    fh__mw_ok();
    return 0;
nomem:
    auth_release(a);
    return FH_ENOMEM;
}
