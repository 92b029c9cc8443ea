/* Schemas: every keyword both ways (a value it accepts, a value it refuses
 * with the right pointer and detail), the formats, schemas that cannot
 * compile, the bound on the violations listed, and the JSON Schema form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/schema.h"

/* Checks text (JSON) against s: NULL pointer = valid, else exactly one
 * violation at pointer with detail. */
static void expect(const fh_schema_t *s, const char *text, const char *pointer,
                   const char *detail) {
    fh_schema_compiled_t *c;
    char why[256];
    int rc = fh_schema_compile(&c, s, why, sizeof(why));
    if (rc)
        fail_msg("compile: %s", why);
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
    if (!v)
        fail_msg("bad test JSON %s: %s", text, je.text);
    json_t *errs = NULL;
    unsigned flags = 0;
    size_t n = fh_schema_validate(c, v, 0, &errs, &flags);
    if (!pointer) {
        if (n) {
            char *d = json_dumps(errs, 0);
            fail_msg("%s should pass, got %s", text, d);
        }
        assert_null(errs);
    } else {
        if (n != 1) {
            char *d = errs ? json_dumps(errs, 0) : NULL;
            fail_msg("%s: %zu violations, expected 1 (%s): %s", text, n, detail, d ? d : "");
        }
        const json_t *e = json_array_get(errs, 0);
        assert_string_equal(json_string_value(json_object_get(e, "pointer")), pointer);
        assert_string_equal(json_string_value(json_object_get(e, "detail")), detail);
        assert_int_equal(flags, 0);
    }
    json_decref(errs);
    json_decref(v);
    fh_schema_compiled_free(c);
}

static void bad_schema(const fh_schema_t *s, const char *why_part) {
    fh_schema_compiled_t *c = (void *)1;
    char why[256];
    assert_int_equal(fh_schema_compile(&c, s, why, sizeof(why)), FH_EINVAL);
    assert_null(c);
    if (!strstr(why, why_part))
        fail_msg("\"%s\" does not say \"%s\"", why, why_part);
}

static void test_types(void **state) {
    (void)state;
    expect(FH_STRING(), "\"a\"", NULL, NULL);
    expect(FH_STRING(), "1", "#", "must be a string");
    expect(FH_INTEGER(), "12", NULL, NULL);
    expect(FH_INTEGER(), "1.5", "#", "must be an integer");
    expect(FH_INTEGER(), "\"1\"", "#", "must be an integer");
    expect(FH_NUMBER(), "1.5", NULL, NULL);
    expect(FH_NUMBER(), "3", NULL, NULL);
    expect(FH_NUMBER(), "true", "#", "must be a number");
    expect(FH_BOOLEAN(), "false", NULL, NULL);
    expect(FH_BOOLEAN(), "0", "#", "must be true or false");
    expect(FH_ARRAY(NULL), "[]", NULL, NULL);
    expect(FH_ARRAY(NULL), "{}", "#", "must be an array");
    expect(FH_OBJECT(NULL), "{}", NULL, NULL);
    expect(FH_OBJECT(NULL), "[]", "#", "must be an object");
    expect(FH_SCHEMA(), "null", NULL, NULL);
    expect(FH_SCHEMA(), "[1,{}]", NULL, NULL);
}

static void test_nullable(void **state) {
    (void)state;
    expect(FH_STRING(.nullable = true), "null", NULL, NULL);
    expect(FH_STRING(.nullable = true), "\"x\"", NULL, NULL);
    expect(FH_STRING(.nullable = true), "3", "#", "must be a string or null");
    expect(FH_STRING(), "null", "#", "must be a string");
    expect(FH_INTEGER(FH_MIN(5), .nullable = true), "null", NULL, NULL);
}

static void test_ranges(void **state) {
    (void)state;
    const fh_schema_t *r = FH_INTEGER(FH_RANGE(1, 100));
    expect(r, "1", NULL, NULL);
    expect(r, "100", NULL, NULL);
    expect(r, "0", "#", "must be at least 1");
    expect(r, "101", "#", "must be at most 100");
    expect(r, "-9223372036854775808", "#", "must be at least 1");
    const fh_schema_t *x =
        FH_NUMBER(FH_RANGE(0, 1), .exclusive_minimum = true, .exclusive_maximum = true);
    expect(x, "0.5", NULL, NULL);
    expect(x, "0", "#", "must be greater than 0");
    expect(x, "1", "#", "must be less than 1");
    expect(x, "1e300", "#", "must be less than 1");
    expect(FH_NUMBER(FH_MIN(0.25)), "0.125", "#", "must be at least 0.25");
    expect(FH_NUMBER(FH_MAX(-2)), "-1.5", "#", "must be at most -2");
}

static void test_lengths(void **state) {
    (void)state;
    const fh_schema_t *s = FH_STRING(.min_length = 2, .max_length = 3);
    expect(s, "\"ab\"", NULL, NULL);
    expect(s, "\"abc\"", NULL, NULL);
    expect(s, "\"a\"", "#", "must be at least 2 characters long");
    expect(s, "\"abcd\"", "#", "must be at most 3 characters long");
    /* Code points, not bytes: three of two, three and four bytes. */
    expect(s, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"", NULL, NULL);
    expect(FH_STRING(.min_length = 1), "\"\"", "#", "must not be empty");
    expect(FH_STRING(.max_length = 1), "\"ab\"", "#", "must be at most 1 character long");
    const fh_schema_t *a = FH_ARRAY(NULL, .min_items = 1, .max_items = 2);
    expect(a, "[1]", NULL, NULL);
    expect(a, "[1,2]", NULL, NULL);
    expect(a, "[]", "#", "must have at least 1 item");
    expect(a, "[1,2,3]", "#", "must have at most 2 items");
}

static void test_pattern_enum(void **state) {
    (void)state;
    const fh_schema_t *p = FH_STRING(.pattern = "^[a-z]+(-[a-z]+)*$");
    expect(p, "\"good-slug\"", NULL, NULL);
    expect(p, "\"Bad slug\"", "#", "must match the pattern ^[a-z]+(-[a-z]+)*$");
    /* Unanchored patterns search, as in JSON Schema. */
    expect(FH_STRING(.pattern = "[0-9]"), "\"ab1\"", NULL, NULL);
    const fh_schema_t *e = FH_STRING(.enum_values = FH_ENUM("asc", "desc"));
    expect(e, "\"desc\"", NULL, NULL);
    expect(e, "\"up\"", "#", "must be one of: \"asc\", \"desc\"");
    expect(e, "\"as\"", "#", "must be one of: \"asc\", \"desc\"");
    expect(FH_STRING(.enum_values = FH_ENUM("a"), .nullable = true), "null", NULL, NULL);
}

static void test_formats(void **state) {
    (void)state;
    static const struct {
        fh_schema_format_t f;
        const char *good, *bad, *detail;
    } t[] = {
        { FH_FORMAT_EMAIL, "\"ada.l+x@mail.example.com\"", "\"ada@example\"",
          "must be an email address" },
        { FH_FORMAT_UUID, "\"123e4567-E89B-12d3-a456-426614174000\"",
          "\"123e4567e89b12d3a456426614174000\"", "must be a UUID" },
        { FH_FORMAT_DATE_TIME, "\"2024-02-29T23:59:60.25+05:30\"", "\"2023-02-29T10:00:00Z\"",
          "must be a date-time (RFC 3339)" },
        { FH_FORMAT_DATE, "\"2000-02-29\"", "\"1900-02-29\"", "must be a date (RFC 3339)" },
        { FH_FORMAT_URI, "\"https://example.com/a?b=%20#c\"", "\"/relative/path\"",
          "must be an absolute URI" },
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        fh_schema_t s = { .type = FH_TYPE_STRING, .format = t[i].f };
        expect(&s, t[i].good, NULL, NULL);
        expect(&s, t[i].bad, "#", t[i].detail);
    }
    static const char *const bad_emails[] = {
        "",        "@a.b",   "a@",     "a@b",    "a..b@c.d", ".a@c.d", "a.@c.d",
        "a b@c.d", "a@-c.d", "a@c-.d", "a@c..d", "a@c.d.",   "a@@c.d", "a@c_d.e",
    };
    for (size_t i = 0; i < sizeof(bad_emails) / sizeof(bad_emails[0]); i++)
        if (fh__format_email(bad_emails[i], strlen(bad_emails[i])))
            fail_msg("\"%s\" passed as an email", bad_emails[i]);
    char local[80];
    memset(local, 'a', 65);
    strcpy(local + 65, "@b.c");
    assert_false(fh__format_email(local, strlen(local)));
    assert_true(fh__format_email(local + 1, strlen(local + 1))); /* 64: the limit */
    static const char *const bad_times[] = {
        "2024-01-01T24:00:00Z",      "2024-01-01T10:60:00Z",  "2024-01-01T10:00:61Z",
        "2024-13-01T10:00:00Z",      "2024-04-31T10:00:00Z",  "2024-01-01 10:00:00Z",
        "2024-01-01T10:00:00",       "2024-01-01T10:00:00.Z", "2024-01-01T10:00:00+0100",
        "2024-01-01T10:00:00+24:00",
    };
    for (size_t i = 0; i < sizeof(bad_times) / sizeof(bad_times[0]); i++)
        if (fh__format_date_time(bad_times[i], strlen(bad_times[i])))
            fail_msg("\"%s\" passed as a date-time", bad_times[i]);
    assert_true(fh__format_date_time("2024-01-01t10:00:00z", 20));
    static const char *const bad_uris[] = {
        "", ":x", "1http://a", "http", "http://a b", "http://a%2", "http://a%zz", "http://a\"b"
    };
    for (size_t i = 0; i < sizeof(bad_uris) / sizeof(bad_uris[0]); i++)
        if (fh__format_uri(bad_uris[i], strlen(bad_uris[i])))
            fail_msg("\"%s\" passed as a URI", bad_uris[i]);
    assert_true(fh__format_uri("urn:isbn:0451450523", 19));
    assert_false(fh__format_uuid("123e4567-e89b-12d3-a456-42661417400g", 36));
}

static const fh_schema_t item = {
    .type = FH_TYPE_OBJECT,
    .closed = true,
    .fields = FH_FIELDS(FH_FIELD_REQ("sku", FH_STRING(.min_length = 1)),
                        FH_FIELD("qty", FH_INTEGER(FH_RANGE(1, 9)))),
};

static const fh_schema_t order = {
    .type = FH_TYPE_OBJECT,
    .closed = true,
    .fields = FH_FIELDS(
        FH_FIELD_REQ("id", FH_STRING(.format = FH_FORMAT_UUID)),
        FH_FIELD("tags", FH_ARRAY(FH_STRING(), .max_items = 3)), FH_FIELD("items", FH_ARRAY(&item)),
        FH_FIELD("address", FH_OBJECT(FH_FIELDS(FH_FIELD_REQ("city", FH_STRING()))))),
};

static void test_objects(void **state) {
    (void)state;
    const char *id = "\"id\":\"123e4567-e89b-12d3-a456-426614174000\"";
    char buf[512];
    snprintf(buf, sizeof(buf), "{%s,\"tags\":[\"a\"],\"items\":[{\"sku\":\"x\",\"qty\":2}]}", id);
    expect(&order, buf, NULL, NULL);
    expect(&order, "{}", "#/id", "is required");
    snprintf(buf, sizeof(buf), "{%s,\"tags\":[\"a\",2]}", id);
    expect(&order, buf, "#/tags/1", "must be a string");
    snprintf(buf, sizeof(buf), "{%s,\"items\":[{\"sku\":\"x\"},{\"sku\":\"y\",\"qty\":10}]}", id);
    expect(&order, buf, "#/items/1/qty", "must be at most 9");
    snprintf(buf, sizeof(buf), "{%s,\"items\":[{\"qty\":1}]}", id);
    expect(&order, buf, "#/items/0/sku", "is required");
    snprintf(buf, sizeof(buf), "{%s,\"address\":{}}", id);
    expect(&order, buf, "#/address/city", "is required");
    /* closed: other members are refused, named (escaped) in the pointer. */
    snprintf(buf, sizeof(buf), "{%s,\"a/b~c\":1}", id);
    expect(&order, buf, "#/a~1b~0c", "is not allowed");
    snprintf(buf, sizeof(buf), "{%s,\"items\":[{\"sku\":\"x\",\"n\":1}]}", id);
    expect(&order, buf, "#/items/0/n", "is not allowed");
    /* Not closed: other members pass; with additional: they are checked. */
    expect(FH_OBJECT(FH_FIELDS(FH_FIELD("a", FH_STRING()))), "{\"b\":1}", NULL, NULL);
    const fh_schema_t *m = FH_OBJECT(NULL, .additional = FH_INTEGER(FH_MIN(0)));
    expect(m, "{\"x\":1,\"y\":2}", NULL, NULL);
    expect(m, "{\"x\":1,\"y\":-2}", "#/y", "must be at least 0");
    expect(FH_OBJECT(FH_FIELDS(FH_FIELD("x", FH_STRING())), .additional = FH_INTEGER()),
           "{\"x\":\"s\",\"y\":2}", NULL, NULL);
    /* A pointer with bytes a fragment cannot hold as they are. */
    expect(FH_OBJECT(NULL, .closed = true), "{\"a b\":1}", "#/a%20b", "is not allowed");
}

static void test_every_violation(void **state) {
    (void)state;
    fh_schema_compiled_t *c;
    assert_int_equal(fh_schema_compile(&c, &order, NULL, 0), 0);
    json_t *v = json_loads("{\"id\":\"x\",\"tags\":[1,\"b\",true],\"zz\":0}", 0, NULL);
    json_t *errs;
    unsigned flags;
    assert_int_equal(fh_schema_validate(c, v, 0, &errs, &flags), 4);
    char *d = json_dumps(errs, JSON_COMPACT);
    assert_string_equal(d,
                        "[{\"pointer\":\"#/id\",\"field\":\"id\",\"detail\":\"must be a UUID\"},"
                        "{\"pointer\":\"#/tags/0\",\"field\":\"tags\",\"detail\":\"must be a "
                        "string\"},{\"pointer\":\"#/tags/2\",\"field\":\"tags\",\"detail\":\"must "
                        "be a string\"},{\"pointer\":\"#/zz\",\"field\":\"zz\",\"detail\":\"is not "
                        "allowed\"}]");
    fh_json_free(d);
    json_decref(errs);
    json_decref(v);
    fh_schema_compiled_free(c);
}

/* Ten thousand bad items: 100 listed, the rest cut, and the work stops. */
static void test_bounded(void **state) {
    (void)state;
    fh_schema_compiled_t *c;
    assert_int_equal(fh_schema_compile(&c, FH_ARRAY(FH_INTEGER()), NULL, 0), 0);
    json_t *v = json_array();
    for (int i = 0; i < 10000; i++)
        json_array_append_new(v, json_string("x"));
    json_t *errs;
    unsigned flags;
    assert_int_equal(fh_schema_validate(c, v, 0, &errs, &flags), FH_SCHEMA_MAX_ERRORS);
    assert_int_equal(flags, FH_SCHEMA_TRUNCATED);
    assert_int_equal(json_array_size(errs), FH_SCHEMA_MAX_ERRORS);
    assert_string_equal(json_string_value(json_object_get(json_array_get(errs, 99), "pointer")),
                        "#/99");
    json_decref(errs);
    /* Exactly at the limit: not cut. */
    while (json_array_size(v) > FH_SCHEMA_MAX_ERRORS)
        json_array_remove(v, 0);
    assert_int_equal(fh_schema_validate(c, v, 0, NULL, &flags), FH_SCHEMA_MAX_ERRORS);
    assert_int_equal(flags, 0);
    json_array_append_new(v, json_integer(1)); /* a good one after: still 100 */
    assert_int_equal(fh_schema_validate(c, v, 0, NULL, &flags), FH_SCHEMA_MAX_ERRORS);
    assert_int_equal(flags, 0);
    assert_int_equal(fh_schema_validate(c, v, 3, NULL, &flags), 3);
    assert_int_equal(flags, FH_SCHEMA_TRUNCATED);
    json_decref(v);
    fh_schema_compiled_free(c);
}

static const fh_schema_t loop_a; /* a schema that holds itself */
static const fh_schema_t loop_a = { .type = FH_TYPE_ARRAY, .items = &loop_a };

static void test_compile_errors(void **state) {
    (void)state;
    bad_schema(FH_INTEGER(FH_RANGE(10, 5)), "#: minimum 10 is above maximum 5");
    bad_schema(FH_INTEGER(FH_RANGE(5, 5), .exclusive_maximum = true), "no number fits");
    bad_schema(FH_STRING(.min_length = 3, .max_length = 2), "min_length 3 is above max_length 2");
    bad_schema(FH_ARRAY(NULL, .min_items = 3, .max_items = 2), "min_items 3 is above max_items");
    bad_schema(FH_STRING(.pattern = "[a-"), "#: pattern \"[a-\":");
    bad_schema(FH_STRING(.enum_values = (const char *const[]){ NULL }), "enum_values is empty");
    bad_schema(FH_INTEGER(.min_length = 1), "apply to strings, not to a integer");
    bad_schema(FH_STRING(FH_MIN(1)), "apply to numbers, not to a string");
    bad_schema(FH_STRING(.items = FH_STRING()), "apply to arrays");
    bad_schema(FH_ARRAY(NULL, .closed = true), "apply to objects");
    bad_schema(FH_OBJECT(NULL, .closed = true, .additional = FH_STRING()), "exclude each other");
    bad_schema(FH_OBJECT(FH_FIELDS(FH_FIELD("a", FH_STRING()), FH_FIELD("a", FH_STRING()))),
               "field \"a\" is declared twice");
    bad_schema(FH_OBJECT(FH_FIELDS(FH_FIELD("a", NULL))),
               "#/properties/a: the field has no schema");
    bad_schema(FH_OBJECT(FH_FIELDS(FH_FIELD("n", FH_INTEGER(FH_RANGE(3, 1))))),
               "#/properties/n: minimum 3");
    bad_schema(FH_INTEGER(FH_MIN(1), .default_json = "0"),
               "default 0 does not fit: must be at least 1");
    bad_schema(FH_INTEGER(.default_json = "zero"), "default \"zero\" is not JSON");
    bad_schema(FH_STRING(.example_json = "5"), "example 5 does not fit: must be a string");
    bad_schema(FH_STRING(.name = "bad name"), "name \"bad name\"");
    bad_schema(&loop_a, "nest deeper than 64");
    fh_schema_compiled_t *c;
    assert_int_equal(fh_schema_compile(&c, NULL, NULL, 0), FH_EINVAL);
}

static void test_json_form(void **state) {
    (void)state;
    json_t *j = fh_schema_json(&order);
    char *d = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(
        d, "{\"additionalProperties\":false,\"properties\":{\"address\":{\"properties\":{\"city\":"
           "{\"type\":\"string\"}},\"required\":[\"city\"],\"type\":\"object\"},\"id\":{\"format\":"
           "\"uuid\",\"type\":\"string\"},\"items\":{\"items\":{\"additionalProperties\":false,"
           "\"properties\":{\"qty\":{\"maximum\":9,\"minimum\":1,\"type\":\"integer\"},\"sku\":{"
           "\"minLength\":1,\"type\":\"string\"}},\"required\":[\"sku\"],\"type\":\"object\"},"
           "\"type\":\"array\"},\"tags\":{\"items\":{\"type\":\"string\"},\"maxItems\":3,\"type\":"
           "\"array\"}},\"required\":[\"id\"],\"type\":\"object\"}");
    fh_json_free(d);
    json_decref(j);
    j = fh_schema_json(FH_NUMBER(FH_RANGE(0, 1.5), .exclusive_minimum = true, .nullable = true,
                                 .default_json = "1", .example_json = "0.5", .description = "d"));
    d = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(d,
                        "{\"default\":1,\"description\":\"d\",\"examples\":[0.5],"
                        "\"exclusiveMinimum\":0.0,\"maximum\":1.5,\"type\":[\"number\",\"null\"]}");
    fh_json_free(d);
    json_decref(j);
    j = fh_schema_json(FH_STRING(.enum_values = FH_ENUM("a", "b"), .nullable = true,
                                 .pattern = "^x", .max_length = 4, .format = FH_FORMAT_DATE_TIME));
    d = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(d, "{\"enum\":[\"a\",\"b\",null],\"format\":\"date-time\",\"maxLength\":4,"
                           "\"pattern\":\"^x\",\"type\":[\"string\",\"null\"]}");
    fh_json_free(d);
    json_decref(j);
    j = fh_schema_json(FH_OBJECT(NULL, .additional = FH_BOOLEAN()));
    d = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(d, "{\"additionalProperties\":{\"type\":\"boolean\"},\"type\":\"object\"}");
    fh_json_free(d);
    json_decref(j);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types),        cmocka_unit_test(test_nullable),
        cmocka_unit_test(test_ranges),       cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_pattern_enum), cmocka_unit_test(test_formats),
        cmocka_unit_test(test_objects),      cmocka_unit_test(test_every_violation),
        cmocka_unit_test(test_bounded),      cmocka_unit_test(test_compile_errors),
        cmocka_unit_test(test_json_form),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
