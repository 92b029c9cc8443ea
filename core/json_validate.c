/* Request validation: field checks that collect every violation of a JSON
 * body, sent together as one 422 problem document.
 *
 * Violations are JSON objects {"pointer", "field", "detail"} appended to an
 * array held by the root validator; child validators (nested objects, array
 * items) share it and only carry their own JSON Pointer prefix. Everything
 * lives in the request's arena, so a validator needs no cleanup.
 */
#include "core/json.h"

#include <stdio.h>

static fh_arena_t *arena_of(const fh_json_validator_t *v) { return v->_req->arena; }

/* base + "/" + token escaped as a JSON Pointer reference token (RFC 6901:
 * "~" becomes "~0", "/" becomes "~1"), in the arena. */
static char *pointer_join(fh_arena_t *a, const char *base, const char *token) {
    size_t blen = strlen(base), tlen = strlen(token), extra = 0;
    for (size_t i = 0; i < tlen; i++)
        extra += token[i] == '~' || token[i] == '/';
    char *p = fh_arena_alloc(a, blen + 1 + tlen + extra + 1);
    if (!p)
        return NULL;
    memcpy(p, base, blen);
    char *o = p + blen;
    *o++ = '/';
    for (size_t i = 0; i < tlen; i++) {
        if (token[i] == '~' || token[i] == '/') {
            *o++ = '~';
            *o++ = token[i] == '~' ? '0' : '1';
        } else {
            *o++ = token[i];
        }
    }
    *o = '\0';
    return p;
}

/* Characters a URI fragment may hold as they are (RFC 3986 pchar, "/",
 * "?"); everything else is percent-encoded. */
static bool fragment_char(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("-._~!$&'()*+,;=:@/?", c));
}

/* "#" + pointer in URI fragment form, as RFC 9457's examples write it. */
static json_t *fragment(fh_arena_t *a, const char *pointer) {
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(pointer);
    char *buf = fh_arena_alloc(a, 1 + n * 3 + 1);
    if (!buf)
        return NULL;
    char *o = buf;
    *o++ = '#';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)pointer[i];
        if (fragment_char(c)) {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    return json_stringn(buf, (size_t)(o - buf));
}

/* Records one violation at pointer (field: the member name, or NULL). */
static void violation_at(fh_json_validator_t *v, const char *pointer, const char *field,
                         const char *fmt, va_list ap) {
    fh_json_validator_t *root = v->_root;
    fh_arena_t *a = arena_of(v);
    if (++root->_count > FH_JSON_MAX_ERRORS)
        return; /* counted, not listed: a 422 stays small */
    char *detail = fh_arena_vsprintf(a, fmt, ap);
    bool ok = detail != NULL && pointer != NULL;
    fh_json_scope_t s = fh_json_arena_begin(a);
    if (ok && !root->_errors) {
        root->_errors = json_array();
        ok = root->_errors != NULL;
    }
    json_t *e = ok ? json_object() : NULL;
    if (e) {
        fh__json_put(e, "pointer", fragment(a, pointer), &ok);
        if (field)
            fh__json_put(e, "field", fh__json_text(field, strlen(field)), &ok);
        fh__json_put(e, "detail", fh__json_text(detail, strlen(detail)), &ok);
        if (json_array_append_new(root->_errors, e) != 0)
            ok = false;
    } else {
        ok = false;
    }
    fh_json_scope_end(s);
    if (!ok)
        root->_oom = true;
}

static void invalid_at(fh_json_validator_t *v, const char *pointer, const char *field,
                       const char *fmt, ...) FH_PRINTF(4, 5);
static void invalid_at(fh_json_validator_t *v, const char *pointer, const char *field,
                       const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    violation_at(v, pointer, field, fmt, ap);
    va_end(ap);
}

static void invalid(fh_json_validator_t *v, const char *name, const char *fmt, ...) FH_PRINTF(3, 4);
static void invalid(fh_json_validator_t *v, const char *name, const char *fmt, ...) {
    const char *pointer = name ? pointer_join(arena_of(v), v->_pointer, name) : v->_pointer;
    va_list ap;
    va_start(ap, fmt);
    violation_at(v, pointer, name, fmt, ap);
    va_end(ap);
}

void fh_json_invalid(fh_json_validator_t *v, const char *name, const char *fmt, ...) {
    const char *pointer = name ? pointer_join(arena_of(v), v->_pointer, name) : v->_pointer;
    va_list ap;
    va_start(ap, fmt);
    violation_at(v, pointer, name, fmt, ap);
    va_end(ap);
}

static void init(fh_json_validator_t *v, fh_request_t *req, fh_json_validator_t *root,
                 const char *pointer, const json_t *object) {
    memset(v, 0, sizeof(*v));
    v->_req = req;
    v->_root = root ? root : v;
    v->_pointer = pointer;
    v->_object = object;
}

void fh_json_validate_begin(fh_json_validator_t *v, fh_request_t *req, const json_t *value) {
    init(v, req, NULL, "", json_is_object(value) ? value : NULL);
    if (!v->_object)
        invalid(v, NULL, "must be a JSON object");
}

/* Remembers that name was asked for (fh_json_no_other_fields). */
static void remember(fh_json_validator_t *v, const char *name) {
    if (v->_nseen == v->_capseen) {
        size_t ncap = v->_capseen ? v->_capseen * 2 : 16;
        const char **n = fh_arena_realloc(arena_of(v), (void *)v->_seen, v->_capseen * sizeof(*n),
                                          ncap * sizeof(*n));
        if (!n) {
            v->_root->_oom = true;
            return;
        }
        v->_seen = n;
        v->_capseen = ncap;
    }
    v->_seen[v->_nseen++] = name;
}

/* The member to check, or NULL when the caller returns its default: no
 * object, absent (a violation when required), or null and nullable. */
static const json_t *lookup(fh_json_validator_t *v, const char *name, unsigned flags) {
    if (!v->_object || !name)
        return NULL;
    remember(v, name);
    const json_t *m = json_object_get(v->_object, name);
    if (!m) {
        if (flags & FH_JSON_REQUIRED)
            invalid(v, name, "is required");
        return NULL;
    }
    if (json_is_null(m) && (flags & FH_JSON_NULLABLE))
        return NULL;
    return m;
}

static const char *plural(size_t n) { return n == 1 ? "" : "s"; }

const char *fh_json_field_string(fh_json_validator_t *v, const char *name, unsigned flags,
                                 size_t min_len, size_t max_len) {
    const json_t *m = lookup(v, name, flags);
    if (!m)
        return NULL;
    if (!json_is_string(m)) {
        invalid(v, name, "must be a string");
        return NULL;
    }
    const char *s = json_string_value(m);
    size_t bytes = json_string_length(m), chars = 0;
    for (size_t i = 0; i < bytes; i++)
        chars += ((unsigned char)s[i] & 0xc0) != 0x80; /* count lead bytes */
    if (chars < min_len) {
        if (min_len == 1)
            invalid(v, name, "must not be empty");
        else
            invalid(v, name, "must be at least %zu characters long", min_len);
        return NULL;
    }
    if (max_len && chars > max_len) {
        invalid(v, name, "must be at most %zu character%s long", max_len, plural(max_len));
        return NULL;
    }
    return s;
}

json_int_t fh_json_field_int(fh_json_validator_t *v, const char *name, unsigned flags,
                             json_int_t min, json_int_t max, json_int_t def) {
    const json_t *m = lookup(v, name, flags);
    if (!m)
        return def;
    if (!json_is_integer(m)) {
        invalid(v, name, "must be an integer");
        return def;
    }
    json_int_t x = json_integer_value(m);
    if (x < min) {
        invalid(v, name, "must be at least %" JSON_INTEGER_FORMAT, min);
        return def;
    }
    if (x > max) {
        invalid(v, name, "must be at most %" JSON_INTEGER_FORMAT, max);
        return def;
    }
    return x;
}

double fh_json_field_number(fh_json_validator_t *v, const char *name, unsigned flags, double min,
                            double max, double def) {
    const json_t *m = lookup(v, name, flags);
    if (!m)
        return def;
    if (!json_is_number(m)) {
        invalid(v, name, "must be a number");
        return def;
    }
    double x = json_number_value(m);
    if (x < min) {
        invalid(v, name, "must be at least %g", min);
        return def;
    }
    if (x > max) {
        invalid(v, name, "must be at most %g", max);
        return def;
    }
    return x;
}

bool fh_json_field_bool(fh_json_validator_t *v, const char *name, unsigned flags, bool def) {
    const json_t *m = lookup(v, name, flags);
    if (!m)
        return def;
    if (!json_is_boolean(m)) {
        invalid(v, name, "must be true or false");
        return def;
    }
    return json_is_true(m);
}

int fh_json_field_enum(fh_json_validator_t *v, const char *name, unsigned flags,
                       const char *const *choices, int def) {
    const json_t *m = lookup(v, name, flags);
    if (!m)
        return def;
    if (!json_is_string(m)) {
        invalid(v, name, "must be a string");
        return def;
    }
    const char *s = json_string_value(m);
    size_t len = json_string_length(m), list = 0;
    int i = 0;
    for (; choices && choices[i]; i++) {
        size_t n = strlen(choices[i]);
        if (n == len && memcmp(choices[i], s, n) == 0)
            return i;
        list += n + 4; /* quotes, comma, space */
    }
    /* "must be one of: \"red\", \"green\"" */
    char *msg = fh_arena_alloc(arena_of(v), list + 1);
    if (!msg) {
        invalid(v, name, "must be one of %d values", i);
        return def;
    }
    char *o = msg;
    for (int k = 0; k < i; k++) {
        size_t n = strlen(choices[k]);
        if (k) {
            *o++ = ',';
            *o++ = ' ';
        }
        *o++ = '"';
        memcpy(o, choices[k], n);
        o += n;
        *o++ = '"';
    }
    *o = '\0';
    invalid(v, name, "must be one of: %s", msg);
    return def;
}

const json_t *fh_json_field_array(fh_json_validator_t *v, const char *name, unsigned flags,
                                  size_t min_items, size_t max_items) {
    const json_t *m = lookup(v, name, flags);
    if (!m)
        return NULL;
    if (!json_is_array(m)) {
        invalid(v, name, "must be an array");
        return NULL;
    }
    size_t n = json_array_size(m);
    if (n < min_items) {
        invalid(v, name, "must have at least %zu item%s", min_items, plural(min_items));
        return NULL;
    }
    if (max_items && n > max_items) {
        invalid(v, name, "must have at most %zu item%s", max_items, plural(max_items));
        return NULL;
    }
    return m;
}

bool fh_json_field_object(fh_json_validator_t *v, fh_json_validator_t *child, const char *name,
                          unsigned flags) {
    init(child, v->_req, v->_root, v->_pointer, NULL); /* inert unless it succeeds */
    const json_t *m = lookup(v, name, flags);
    if (!m)
        return false;
    if (!json_is_object(m)) {
        invalid(v, name, "must be an object");
        return false;
    }
    const char *pointer = pointer_join(arena_of(v), v->_pointer, name);
    if (!pointer) {
        v->_root->_oom = true;
        return false;
    }
    init(child, v->_req, v->_root, pointer, m);
    return true;
}

bool fh_json_validate_item(fh_json_validator_t *v, fh_json_validator_t *child, const char *name,
                           size_t index) {
    init(child, v->_req, v->_root, v->_pointer, NULL);
    if (!v->_object || !name)
        return false;
    const json_t *array = json_object_get(v->_object, name);
    if (!json_is_array(array) || index >= json_array_size(array))
        return false; /* fh_json_field_array reports these */
    fh_arena_t *a = arena_of(v);
    const char *base = pointer_join(a, v->_pointer, name);
    const char *pointer = base ? fh_arena_sprintf(a, "%s/%zu", base, index) : NULL;
    if (!pointer) {
        v->_root->_oom = true;
        return false;
    }
    const json_t *item = json_array_get(array, index);
    if (!json_is_object(item)) {
        invalid_at(v, pointer, name, "must be an object");
        return false;
    }
    init(child, v->_req, v->_root, pointer, item);
    return true;
}

void fh_json_no_other_fields(fh_json_validator_t *v) {
    if (!v->_object)
        return;
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)v->_object, key, value) {
        bool seen = false;
        for (size_t i = 0; i < v->_nseen && !seen; i++)
            seen = strcmp(v->_seen[i], key) == 0;
        if (!seen)
            invalid(v, key, "is not allowed");
    }
}

size_t fh_json_validate_count(const fh_json_validator_t *v) { return v->_root->_count; }

const json_t *fh_json_validate_errors(const fh_json_validator_t *v) { return v->_root->_errors; }

bool fh_json_validate_end(fh_json_validator_t *v, fh_response_t *res) {
    fh_json_validator_t *root = v->_root;
    if (root->_count == 0 && !root->_oom)
        return false;
    if (fh_response_is_final(res))
        return true;
    fh_request_t *req = fh_response_request(res);
    int status = root->_oom ? 500 : 422;
    json_t *p;
    if (root->_oom) {
        p = fh_json_problem(req, 500, NULL, "out of memory while validating the request body",
                            NULL);
    } else {
        char detail[96];
        bool cut = root->_count > FH_JSON_MAX_ERRORS;
        if (cut)
            snprintf(detail, sizeof(detail), "%zu validation errors (the first %d listed)",
                     root->_count, FH_JSON_MAX_ERRORS);
        else
            snprintf(detail, sizeof(detail), "%zu validation error%s", root->_count,
                     plural(root->_count));
        p = fh_json_problem(req, 422, NULL, detail, NULL);
        if (p) {
            fh_json_scope_t s = fh_json_arena_begin(req->arena);
            if ((cut && json_object_set_new(p, "truncated", json_true()) != 0) ||
                json_object_set(p, "errors", root->_errors) != 0) {
                json_decref(p);
                p = NULL;
            }
            fh_json_scope_end(s);
        }
    }
    if (fh__json_send_doc(res, status, p, fh__json_problem_type) != 0 &&
        !fh_response_is_final(res)) {
        /* Out of memory: the status alone still answers (and should even
         * that fail, fh_response_end sends the core's static 500). */
        fh_response_status(res, status);
        fh_response_body_borrow(res, "", 0);
        res->content_type = (fh_str_t){ NULL, 0 };
        fh_response_end(res);
    }
    return true;
}
