/* The shape limits of a JSON request body, checked in one pass over its
 * bytes before jansson builds anything (see fh_json_parse_opts_t): how deep
 * containers nest, how many members one object or array has, how many
 * values there are in all. A body over a limit costs one scan, not the
 * memory and time of building and checking a million values. The scan only
 * follows the structure (strings, their escapes, brackets, commas, colons):
 * whether the text is JSON at all is jansson's to say afterwards. */
#include <stdio.h>

#include "core/json.h"

typedef struct level {
    size_t members;  /* values directly in this container */
    bool object;     /* an object: its strings alternate key, value */
    bool expect_key; /* in an object, the next string is a key */
} level_t;

/* Counts one value starting at depth d (below levels[d - 1], if any). */
static int count_value(level_t *lv, size_t d, size_t *values, const fh__json_limits_t *lim,
                       char *why, size_t whylen) {
    if (++*values > lim->max_values) {
        snprintf(why, whylen, "JSON body has more than %zu values (limit max_values)",
                 lim->max_values);
        return -1;
    }
    if (d > 0 && ++lv[d - 1].members > lim->max_members) {
        snprintf(why, whylen, "a JSON %s has more than %zu members (limit max_members)",
                 lv[d - 1].object ? "object" : "array", lim->max_members);
        return -1;
    }
    return 0;
}

static int check_limits(const char *p, size_t n, const fh__json_limits_t *lim, level_t *lv,
                        char *why, size_t whylen) {
    size_t d = 0, values = 0;
    bool in_value = false; /* inside a scalar (a number, true...) */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '"') {
            bool key = d > 0 && lv[d - 1].object && lv[d - 1].expect_key;
            if (!key && count_value(lv, d, &values, lim, why, whylen) != 0)
                return -1;
            for (i++; i < n && p[i] != '"'; i++)
                if (p[i] == '\\')
                    i++;
            in_value = false;
            continue;
        }
        if (c == '{' || c == '[') {
            if (count_value(lv, d, &values, lim, why, whylen) != 0)
                return -1;
            if (d == lim->max_depth) {
                snprintf(why, whylen, "JSON nesting is deeper than %zu levels (limit max_depth)",
                         lim->max_depth);
                return -1;
            }
            lv[d].members = 0;
            lv[d].object = c == '{';
            lv[d].expect_key = true;
            d++;
            in_value = false;
        } else if (c == '}' || c == ']') {
            if (d)
                d--;
            in_value = false;
        } else if (c == ',') {
            if (d)
                lv[d - 1].expect_key = true;
            in_value = false;
        } else if (c == ':') {
            if (d)
                lv[d - 1].expect_key = false;
            in_value = false;
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            in_value = false;
        } else if (!in_value) {
            /* The first byte of a number, true, false or null. */
            in_value = true;
            if (count_value(lv, d, &values, lim, why, whylen) != 0)
                return -1;
        }
    }
    return 0;
}

int fh__json_limits(fh_arena_t *arena, fh_str_t body, const fh__json_limits_t *lim, char *why,
                    size_t whylen) {
    level_t *lv = fh_arena_alloc(arena, (lim->max_depth + 1) * sizeof(*lv));
    if (!lv)
        return FH_ENOMEM;
    return check_limits(body.ptr, body.len, lim, lv, why, whylen) ? FH_EINVAL : 0;
}
