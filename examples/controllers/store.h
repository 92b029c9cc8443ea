/* A thread-safe in-memory user store shared by every worker thread.
 *
 * Users are plain C structs on the heap: the store copies every string it
 * is given (request views and arena strings die with their request), and
 * hands copies back (user_copy_t) so that no caller holds a pointer into
 * the store after the lock is released. One mutex guards everything; the
 * critical sections are a few memcpy long.
 */
#ifndef CONTROLLERS_STORE_H
#define CONTROLLERS_STORE_H
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#define USER_NAME_MAX 400 /* bytes: 100 code points of up to 4 bytes */
#define USER_EMAIL_MAX 320 /* bytes: the email format allows 64 + 1 + 253 + NUL room */

typedef struct user {
    long id;
    char name[USER_NAME_MAX + 1];
    char email[USER_EMAIL_MAX + 1];
    int age; /* -1: not given */
} user_t;

typedef struct store {
    pthread_mutex_t lock;
    user_t *users; /* sorted by id (ids only grow), users[0..count) */
    size_t count, cap;
    long next_id;
} store_t;

int store_init(store_t *s);
void store_destroy(store_t *s);

/* The fields a create or update sets; NULL / age < -1 = leave unchanged. */
typedef struct user_fields {
    const char *name;
    const char *email;
    int age; /* -2: unchanged, -1: remove, 0..: set */
} user_fields_t;

/* Adds a user (name and email required); *out gets the stored copy.
 * Returns 0 or -1 when out of memory. */
int store_create(store_t *s, const user_fields_t *f, user_t *out);
/* Copies the user with this id into *out; false when there is none. */
bool store_get(store_t *s, long id, user_t *out);
/* Changes the given fields of user id; *out gets the result. false when
 * there is no such user. */
bool store_update(store_t *s, long id, const user_fields_t *f, user_t *out);
/* Removes user id; false when there is none. */
bool store_delete(store_t *s, long id);
/* Copies at most max users, starting at the offset-th (0-based) in id
 * order, into out; returns how many, and the total count in *total. */
size_t store_page(store_t *s, size_t offset, size_t max, user_t *out, size_t *total);

#endif
