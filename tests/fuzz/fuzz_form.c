/* libFuzzer target for the form parser and the typed value parsers
 * (core/input.c).
 *
 * Input: byte 0 picks the field limit (1..256), the rest is the body.
 *
 * What must hold for any input: fh_form_parse returns 0, FH_EINVAL or
 * FH_E2BIG; on 0 it gives at most the limit of fields, none holding an
 * unescaped '&', and their decoded lengths never exceed the body's; on an
 * error no field and an offset inside the body. Every field value read as
 * an integer, unsigned, boolean or decimal gives a status in range, and
 * an OK integer printed back is the value's text.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fasthttp.h>

static fh_arena_cache_t *cache;

/* The typed parsers agree with what they were given. */
static void check_value(fh_str_t v) {
    int64_t i;
    fh_input_status_t st = fh_input_parse_i64(v, INT64_MIN, INT64_MAX, &i);
    if (st > FH_INPUT_OUT_OF_RANGE || st == FH_INPUT_ABSENT)
        abort();
    if (st == FH_INPUT_OK) {
        char buf[32];
        int n = snprintf(buf, sizeof(buf), "%" PRId64, i);
        /* "-0" is the one text that reads back otherwise. */
        if (!((size_t)n == v.len && memcmp(buf, v.ptr, v.len) == 0) &&
            !(v.len == 2 && memcmp(v.ptr, "-0", 2) == 0))
            abort();
    }
    uint64_t u;
    st = fh_input_parse_u64(v, 0, UINT64_MAX, &u);
    if (st > FH_INPUT_OUT_OF_RANGE || st == FH_INPUT_ABSENT)
        abort();
    bool b;
    st = fh_input_parse_bool(v, &b);
    if (st != FH_INPUT_OK && st != FH_INPUT_MALFORMED)
        abort();
    double d;
    st = fh_input_parse_decimal(v, -1e300, 1e300, &d);
    if (st > FH_INPUT_OUT_OF_RANGE || st == FH_INPUT_ABSENT)
        abort();
    if (st == FH_INPUT_OK && !(d >= -1e300 && d <= 1e300))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!cache && fh_arena_cache_new(&cache, 0, 0) != 0)
        abort();
    if (size < 1 || size > 65536)
        return 0;
    size_t limit = (size_t)data[0] + 1;
    fh_str_t body = { (const char *)data + 1, size - 1 };
    fh_arena_t *arena;
    if (fh_arena_new(&arena, cache) != 0)
        abort();
    fh_form_t form;
    fh_form_error_t err;
    int rc = fh_form_parse(arena, body, limit, &form, &err);
    if (rc == 0) {
        if (form.count > limit)
            abort();
        size_t total = 0;
        for (size_t i = 0; i < form.count; i++) {
            total += form.fields[i].name.len + form.fields[i].value.len;
            if (!form.fields[i].name.ptr || !form.fields[i].value.ptr)
                abort();
            check_value(form.fields[i].value);
        }
        if (total > body.len)
            abort();
        if (form.count)
            (void)fh_form_get(&form, "a");
    } else if (rc == FH_EINVAL || rc == FH_E2BIG) {
        if (form.count != 0 || err.offset >= body.len || !err.why)
            abort();
    } else {
        abort(); /* out of memory on at most 64 KiB */
    }
    fh_arena_release(arena);
    return 0;
}
