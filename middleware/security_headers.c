/* Security headers: a fixed list of response headers, added unless the
 * handler set them. */
#include <stdlib.h>

#include "middleware/mw.h"

#define SEC_MAX 7

typedef struct security {
    size_t n;
    const char *names[SEC_MAX];
    char *values[SEC_MAX];
    fh_str_t name_views[SEC_MAX], value_views[SEC_MAX]; /* lengths known once */
} security_t;

static void security_after(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req;
    security_t *s = data;
    for (size_t i = 0; i < s->n; i++)
        if (!fh_response_header_get(res, s->names[i]).ptr)
            fh_response_header_str(res, s->name_views[i], s->value_views[i]);
}

static void security_release(void *data) {
    security_t *s = data;
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->values[i]);
    free(s);
}

int fh_security_headers_new(fh_middleware_t *out, const fh_security_options_t *opt) {
    static const fh_security_options_t none = { 0 };
    memset(out, 0, sizeof(*out));
    if (!opt)
        opt = &none;
    const struct {
        const char *field, *header, *value, *def;
    } table[SEC_MAX] = {
        { "hsts", "Strict-Transport-Security", opt->hsts, "max-age=31536000; includeSubDomains" },
        { "content_type_options", "X-Content-Type-Options", opt->content_type_options, "nosniff" },
        { "frame_options", "X-Frame-Options", opt->frame_options, "SAMEORIGIN" },
        { "referrer_policy", "Referrer-Policy", opt->referrer_policy, "no-referrer" },
        { "content_security_policy", "Content-Security-Policy", opt->content_security_policy, "" },
        { "cross_origin_opener_policy", "Cross-Origin-Opener-Policy",
          opt->cross_origin_opener_policy, "" },
        { "permissions_policy", "Permissions-Policy", opt->permissions_policy, "" },
    };
    for (size_t i = 0; i < SEC_MAX; i++)
        if (table[i].value && !fh__mw_is_field_value(table[i].value))
            return fh__mw_fail(FH_ECONFIG, "security.%s: control characters in the value",
                               table[i].field);
    security_t *s = calloc(1, sizeof(*s));
    if (!s)
        return FH_ENOMEM;
    for (size_t i = 0; i < SEC_MAX; i++) {
        const char *v = table[i].value ? table[i].value : table[i].def;
        if (!*v)
            continue;
        s->values[s->n] = strdup(v);
        if (!s->values[s->n]) {
            security_release(s);
            return FH_ENOMEM;
        }
        s->names[s->n] = table[i].header;
        s->name_views[s->n] = fh_str(table[i].header);
        s->value_views[s->n] = fh_str(s->values[s->n]);
        s->n++;
    }
    out->name = "security_headers";
    out->after = security_after;
    out->data = s;
    out->release = security_release;
    fh__mw_ok();
    return 0;
}
