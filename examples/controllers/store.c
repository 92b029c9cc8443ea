/* The user store (store.h). */
#include "store.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int store_init(store_t *s) {
    memset(s, 0, sizeof(*s));
    return pthread_mutex_init(&s->lock, NULL) ? -1 : 0;
}

void store_destroy(store_t *s) {
    free(s->users);
    pthread_mutex_destroy(&s->lock);
    memset(s, 0, sizeof(*s));
}

static void set_fields(user_t *u, const user_fields_t *f) {
    if (f->name)
        snprintf(u->name, sizeof(u->name), "%s", f->name);
    if (f->email)
        snprintf(u->email, sizeof(u->email), "%s", f->email);
    if (f->age >= -1)
        u->age = f->age;
}

/* Index of user id, or -1. Callers hold the lock. */
static ptrdiff_t find(const store_t *s, long id) {
    size_t lo = 0, hi = s->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->users[mid].id == id)
            return (ptrdiff_t)mid;
        if (s->users[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

int store_create(store_t *s, const user_fields_t *f, user_t *out) {
    pthread_mutex_lock(&s->lock);
    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        user_t *grown = realloc(s->users, cap * sizeof(*grown));
        if (!grown) {
            pthread_mutex_unlock(&s->lock);
            return -1;
        }
        s->users = grown;
        s->cap = cap;
    }
    user_t *u = &s->users[s->count++];
    memset(u, 0, sizeof(*u));
    u->id = ++s->next_id;
    u->age = -1;
    set_fields(u, f);
    *out = *u;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

bool store_get(store_t *s, long id, user_t *out) {
    pthread_mutex_lock(&s->lock);
    ptrdiff_t i = find(s, id);
    if (i >= 0)
        *out = s->users[i];
    pthread_mutex_unlock(&s->lock);
    return i >= 0;
}

bool store_update(store_t *s, long id, const user_fields_t *f, user_t *out) {
    pthread_mutex_lock(&s->lock);
    ptrdiff_t i = find(s, id);
    if (i >= 0) {
        set_fields(&s->users[i], f);
        *out = s->users[i];
    }
    pthread_mutex_unlock(&s->lock);
    return i >= 0;
}

bool store_delete(store_t *s, long id) {
    pthread_mutex_lock(&s->lock);
    ptrdiff_t i = find(s, id);
    if (i >= 0) {
        memmove(&s->users[i], &s->users[i + 1], (s->count - (size_t)i - 1) * sizeof(user_t));
        s->count--;
    }
    pthread_mutex_unlock(&s->lock);
    return i >= 0;
}

size_t store_page(store_t *s, size_t offset, size_t max, user_t *out, size_t *total) {
    pthread_mutex_lock(&s->lock);
    size_t n = 0;
    if (offset < s->count) {
        n = s->count - offset;
        if (n > max)
            n = max;
        memcpy(out, &s->users[offset], n * sizeof(user_t));
    }
    *total = s->count;
    pthread_mutex_unlock(&s->lock);
    return n;
}
