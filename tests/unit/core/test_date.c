/* Date cache: IMF-fixdate formatting and once-a-second refresh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/date.h"

static void test_known_dates(void **state) {
    (void)state;
    char out[30];
    fh__date_format(784111777, out); /* RFC 9110's example */
    assert_string_equal(out, "Sun, 06 Nov 1994 08:49:37 GMT");
    fh__date_format(0, out);
    assert_string_equal(out, "Thu, 01 Jan 1970 00:00:00 GMT");
    fh__date_format(951782400, out); /* leap day 2000 */
    assert_string_equal(out, "Tue, 29 Feb 2000 00:00:00 GMT");
    fh__date_format(4102444799, out);
    assert_string_equal(out, "Thu, 31 Dec 2099 23:59:59 GMT");
}

static void test_cache_line(void **state) {
    (void)state;
    fh__date_cache_t c;
    memset(&c, 0, sizeof(c));
    const char *l = fh__date_update(&c, 784111777);
    assert_int_equal(strlen(l), FH__DATE_LINE_LEN);
    assert_string_equal(l, "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n");
    fh__date_update(&c, 784111777);
    assert_string_equal(c.line, "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n");
    fh__date_update(&c, 784111778);
    assert_string_equal(c.line, "Date: Sun, 06 Nov 1994 08:49:38 GMT\r\n");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_dates),
        cmocka_unit_test(test_cache_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
