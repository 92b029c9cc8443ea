/* An access log's output kept in memory, for tests that read the lines a
 * server wrote. One capture per test program, shared by every thread. */
#ifndef FH_TEST_LOG_CAPTURE_H
#define FH_TEST_LOG_CAPTURE_H

#include <stddef.h>

/* The write callback to give fh_access_log_options_t.write (data unused):
 * appends lines under a lock. */
void fht_log_write(const char *lines, size_t len, void *data);
/* Forgets everything written. */
void fht_log_reset(void);
/* Everything written, NUL-terminated, or NULL when nothing was. Read it
 * once nothing more can be written (the server and its log released); the
 * pointer is valid until the next write or fht_log_reset. */
const char *fht_log_text(void);
/* While writes may still come: the lines written so far, the number of
 * write calls and the longest one, read together under the lock. */
void fht_log_stats(size_t *lines, size_t *writes, size_t *max_write);
/* Copies the line of the log holding needle (without its '\n') into out,
 * cut to cap - 1 bytes; fails the test, showing the log, when none does. */
void fht_log_line(const char *needle, char *out, size_t cap);
/* The number of '\n' in s (0 for NULL). */
size_t fht_count_lines(const char *s);

#endif
