#include "log_capture.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *text;
static size_t text_len, writes, max_write;

void fht_log_write(const char *lines, size_t len, void *data) {
    (void)data;
    pthread_mutex_lock(&lock);
    char *grown = realloc(text, text_len + len + 1);
    assert_non_null(grown);
    text = grown;
    memcpy(text + text_len, lines, len);
    text_len += len;
    text[text_len] = '\0';
    writes++;
    if (len > max_write)
        max_write = len;
    pthread_mutex_unlock(&lock);
}

void fht_log_reset(void) {
    pthread_mutex_lock(&lock);
    free(text);
    text = NULL;
    text_len = writes = max_write = 0;
    pthread_mutex_unlock(&lock);
}

const char *fht_log_text(void) {
    pthread_mutex_lock(&lock);
    const char *t = text;
    pthread_mutex_unlock(&lock);
    return t;
}

void fht_log_stats(size_t *lines, size_t *nwrites, size_t *longest) {
    pthread_mutex_lock(&lock);
    *lines = fht_count_lines(text);
    *nwrites = writes;
    *longest = max_write;
    pthread_mutex_unlock(&lock);
}

void fht_log_line(const char *needle, char *out, size_t cap) {
    pthread_mutex_lock(&lock);
    const char *hit = text ? strstr(text, needle) : NULL;
    if (hit) {
        const char *b = hit, *e = strchr(hit, '\n');
        if (!e)
            e = hit + strlen(hit);
        while (b > text && b[-1] != '\n')
            b--;
        size_t n = (size_t)(e - b);
        n = n < cap - 1 ? n : cap - 1;
        memcpy(out, b, n);
        out[n] = '\0';
    }
    pthread_mutex_unlock(&lock);
    if (!hit)
        fail_msg("no log line with %s in:\n%s", needle, text ? text : "");
}

size_t fht_count_lines(const char *s) {
    size_t n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}
