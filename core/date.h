/* The Date header, formatted once a second per loop. */
#ifndef FH_CORE_DATE_H
#define FH_CORE_DATE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n" */
#define FH__DATE_LINE_LEN 37

typedef struct fh__date_cache {
    time_t second;
    char line[FH__DATE_LINE_LEN + 1];
} fh__date_cache_t;

/* Writes the 29-byte IMF-fixdate of t into out (plus a NUL). */
void fh__date_format(time_t t, char out[30]);
/* Parses the n bytes at p as an IMF-fixdate (the only form senders may
 * generate) into *out; false for anything else. */
bool fh__date_parse(const char *p, size_t n, time_t *out);
/* Refreshes the cached line when the second changed; returns the line. */
const char *fh__date_update(fh__date_cache_t *cache, time_t now);

#endif
