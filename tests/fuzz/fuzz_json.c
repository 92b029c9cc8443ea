/* libFuzzer target for the JSON serializer (core/json_dump.c), against
 * jansson itself.
 *
 * Input: byte 0 picks the mode, the rest is the data.
 *
 *   mode 0 (byte 0 even): the data is parsed by jansson as any JSON value
 *     (JSON_DECODE_ANY | JSON_ALLOW_NUL); a value that parses is
 *     serialized both ways;
 *   mode 1 (byte 0 odd): the data becomes one string as it is
 *     (json_stringn_nocheck: any bytes, invalid UTF-8 included), alone and
 *     as an object's key and value.
 *
 * What must hold for any input: the arena serializer gives byte for byte
 * what json_dumps(JSON_COMPACT | JSON_ENCODE_ANY) gives, or refuses with
 * FH__DUMP_UNSUPPORTED exactly when jansson refuses too (invalid UTF-8);
 * and fh_json_dump, which falls back to jansson, always agrees with it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"

static fh_arena_cache_t *cache;

/* Both serializations of v agree. */
static void check(const json_t *v) {
    fh_arena_t *arena;
    if (fh_arena_new(&arena, cache) != 0)
        abort();
    char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    fh_str_t got;
    int rc = fh__json_dump_compact(arena, v, &got);
    if (rc == 0) {
        if (!want || got.len != strlen(want) || memcmp(got.ptr, want, got.len) != 0 ||
            got.ptr[got.len] != '\0')
            abort(); /* a different serialization, or one jansson refuses */
    } else if (rc == FH__DUMP_UNSUPPORTED) {
        /* Refused: only what jansson refuses too (nesting this shallow is
         * under the depth bound). */
        if (want)
            abort();
    } else {
        abort(); /* out of memory on an input of at most a few kB */
    }
    fh_str_t any = fh_json_dump(arena, v, JSON_COMPACT | JSON_ENCODE_ANY);
    if ((any.ptr == NULL) != (want == NULL) ||
        (want && (any.len != strlen(want) || memcmp(any.ptr, want, any.len) != 0)))
        abort();
    fh_json_free(want); /* jansson's memory, through fasthttp's hooks */
    fh_arena_release(arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!cache && fh_arena_cache_new(&cache, 0, 0) != 0)
        abort();
    if (size < 1 || size > 4096)
        return 0;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    if (!(data[0] & 1)) {
        json_error_t err;
        json_t *v = json_loadb(p, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
        if (v) {
            check(v);
            json_decref(v);
        }
        return 0;
    }
    json_t *s = json_stringn_nocheck(p, n);
    if (!s)
        return 0;
    check(s);
    json_t *obj = json_object();
    if (obj) {
        /* The same bytes as a key (set with _nocheck: no UTF-8 check). */
        char *key = malloc(n + 1);
        if (key) {
            memcpy(key, p, n);
            key[n] = '\0';
            json_object_setn_new_nocheck(obj, key, n, json_incref(s));
            free(key);
            check(obj);
        }
        json_decref(obj);
    }
    json_decref(s);
    return 0;
}
