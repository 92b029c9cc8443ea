/* IMF-fixdate (RFC 9110 section 5.6.7) without locale or strftime. */
#include "core/date.h"

#include <string.h>
#include <time.h>

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

static bool digits(const char *s, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

bool fh__date_parse(const char *p, size_t n, time_t *out) {
    if (n != 29 || p[3] != ',' || p[4] != ' ' || p[7] != ' ' || p[11] != ' ' || p[16] != ' ' ||
        p[19] != ':' || p[22] != ':' || memcmp(p + 25, " GMT", 4) != 0)
        return false;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int year;
    if (!digits(p + 5, 2, &tm.tm_mday) || !digits(p + 12, 4, &year) ||
        !digits(p + 17, 2, &tm.tm_hour) || !digits(p + 20, 2, &tm.tm_min) ||
        !digits(p + 23, 2, &tm.tm_sec))
        return false;
    tm.tm_mon = -1;
    for (int i = 0; i < 12; i++)
        if (memcmp(p + 8, months[i], 3) == 0)
            tm.tm_mon = i;
    if (tm.tm_mon < 0 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
        tm.tm_sec > 60)
        return false;
    tm.tm_year = year - 1900;
    *out = timegm(&tm);
    return true;
}
