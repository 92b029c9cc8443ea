/* IMF-fixdate (RFC 9110 section 5.6.7) without locale or strftime. */
#include "core/date.h"

#include <string.h>

static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

static void two(char *p, int v) {
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

void fh__date_format(time_t t, char out[30]) {
    struct tm tm;
    gmtime_r(&t, &tm);
    memcpy(out, days[tm.tm_wday], 3);
    out[3] = ',';
    out[4] = ' ';
    two(out + 5, tm.tm_mday);
    out[7] = ' ';
    memcpy(out + 8, months[tm.tm_mon], 3);
    out[11] = ' ';
    int y = tm.tm_year + 1900;
    out[12] = (char)('0' + (y / 1000) % 10);
    out[13] = (char)('0' + (y / 100) % 10);
    out[14] = (char)('0' + (y / 10) % 10);
    out[15] = (char)('0' + y % 10);
    out[16] = ' ';
    two(out + 17, tm.tm_hour);
    out[19] = ':';
    two(out + 20, tm.tm_min);
    out[22] = ':';
    two(out + 23, tm.tm_sec);
    memcpy(out + 25, " GMT", 4);
    out[29] = '\0';
}

const char *fh__date_update(fh__date_cache_t *c, time_t now) {
    if (now != c->second || c->line[0] == '\0') {
        c->second = now;
        memcpy(c->line, "Date: ", 6);
        fh__date_format(now, c->line + 6);
        c->line[35] = '\r';
        c->line[36] = '\n';
        c->line[37] = '\0';
    }
    return c->line;
}
