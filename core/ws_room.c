/* WebSocket rooms: sets of connections that span the server's workers.
 *
 * A room holds one list per worker; a worker's list holds the members on
 * its loop and only that loop reads or changes it, so joining, leaving
 * and the sends of a broadcast take no lock. A broadcast copies the
 * message once, shared by the workers, and posts it to each (the worker's
 * post queue is the only lock it meets); the last worker done frees it. */
#include <stdlib.h>
#include <string.h>

#include "core/websocket.h"
#include "core/worker.h"

typedef struct fh__ws_member {
    fh_ws_room_t *room;
    fh_ws_t *ws;
    struct fh__ws_member *prev, *next; /* in the room's list for ws's worker */
    struct fh__ws_member *next_of_ws;  /* the rooms ws joined */
} member_t;

struct fh_ws_room {
    fh_server_t *server;
    int nworkers;
    _Atomic size_t size;
    member_t *lists[]; /* one per worker */
};

/* One broadcast: the message, and one part per worker to post. */
typedef struct bcast bcast_t;
typedef struct bcast_part {
    bcast_t *b;
    int worker;
} bcast_part_t;
struct bcast {
    fh_ws_room_t *room;
    _Atomic int left; /* parts not yet done */
    fh_ws_kind_t kind;
    size_t len;
    char *data;
    bcast_part_t parts[];
};

int fh_ws_room_new(fh_server_t *server, fh_ws_room_t **out) {
    int n = server->nworkers;
    fh_ws_room_t *r = calloc(1, sizeof(*r) + (size_t)n * sizeof(member_t *));
    if (!r)
        return FH_ENOMEM;
    r->server = server;
    r->nworkers = n;
    *out = r;
    return 0;
}

void fh_ws_room_free(fh_ws_room_t *room) {
    if (!room)
        return;
    /* Members still listed (a server stopped while they were in): their
     * handles have gone or go without touching the room again. */
    for (int i = 0; i < room->nworkers; i++) {
        member_t *m = room->lists[i];
        while (m) {
            member_t *next = m->next;
            m->room = NULL; /* the handle's list keeps the node until it goes */
            m = next;
        }
    }
    free(room);
}

static void unlink_member(member_t *m) {
    fh_ws_room_t *r = m->room;
    if (!r)
        return;
    int i = m->ws->w->index;
    if (m->prev)
        m->prev->next = m->next;
    else
        r->lists[i] = m->next;
    if (m->next)
        m->next->prev = m->prev;
    atomic_fetch_sub_explicit(&r->size, 1, memory_order_relaxed);
}

int fh_ws_room_join(fh_ws_room_t *room, fh_ws_t *ws) {
    for (member_t *m = ws->rooms; m; m = m->next_of_ws)
        if (m->room == room)
            return FH_EEXIST;
    member_t *m = calloc(1, sizeof(*m));
    if (!m)
        return FH_ENOMEM;
    int i = ws->w->index;
    m->room = room;
    m->ws = ws;
    m->next = room->lists[i];
    if (m->next)
        m->next->prev = m;
    room->lists[i] = m;
    m->next_of_ws = ws->rooms;
    ws->rooms = m;
    atomic_fetch_add_explicit(&room->size, 1, memory_order_relaxed);
    return 0;
}

void fh_ws_room_leave(fh_ws_room_t *room, fh_ws_t *ws) {
    for (member_t **pp = &ws->rooms; *pp; pp = &(*pp)->next_of_ws) {
        member_t *m = *pp;
        if (m->room == room) {
            unlink_member(m);
            *pp = m->next_of_ws;
            free(m);
            return;
        }
    }
}

void fh__ws_leave_all(fh_ws_t *ws) {
    member_t *m = ws->rooms;
    ws->rooms = NULL;
    while (m) {
        member_t *next = m->next_of_ws;
        unlink_member(m);
        free(m);
        m = next;
    }
}

size_t fh_ws_room_size(const fh_ws_room_t *room) {
    return atomic_load_explicit(&room->size, memory_order_relaxed);
}

static void bcast_done(bcast_t *b) {
    if (atomic_fetch_sub_explicit(&b->left, 1, memory_order_acq_rel) == 1)
        free(b);
}

/* On worker part->worker's loop: its members get the message. */
static void bcast_run(void *data) {
    bcast_part_t *part = data;
    bcast_t *b = part->b;
    member_t *m = b->room->lists[part->worker];
    while (m) {
        /* A send that fails closes that member, which unlinks only it. */
        member_t *next = m->next;
        fh_ws_send(m->ws, b->kind, b->data, b->len);
        m = next;
    }
    bcast_done(b);
}

int fh_ws_room_broadcast(fh_ws_room_t *room, fh_ws_kind_t kind, const void *msg, size_t len) {
    if (kind != FH_WS_TEXT && kind != FH_WS_BINARY)
        return FH_EINVAL;
    int n = room->nworkers;
    size_t head = sizeof(bcast_t) + (size_t)n * sizeof(bcast_part_t);
    bcast_t *b = malloc(head + len);
    if (!b)
        return FH_ENOMEM;
    b->room = room;
    b->kind = kind;
    b->len = len;
    b->data = (char *)b + head;
    if (len)
        memcpy(b->data, msg, len);
    /* One part for each worker, plus this call's own until every post is
     * made, so that a fast worker cannot free b under the loop. */
    atomic_init(&b->left, n + 1);
    int posted = 0, err = 0;
    for (int i = 0; i < n; i++) {
        b->parts[i] = (bcast_part_t){ b, i };
        int e = fh__worker_post(&room->server->workers[i], bcast_run, &b->parts[i], false);
        if (e) {
            err = e;
            bcast_done(b);
        } else {
            posted++;
        }
    }
    bcast_done(b);
    return posted ? 0 : err;
}
