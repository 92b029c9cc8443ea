#ifndef FHT_DELAY_RELAY_H
#define FHT_DELAY_RELAY_H

/* A TCP relay that adds latency: it listens on 127.0.0.1 (a free port),
 * connects each client it accepts to a Unix socket, and forwards the bytes
 * of both directions in order, each piece held delay_ms after it was read.
 * A round trip through it therefore takes 2 * delay_ms more, and pieces
 * sent back to back are delayed together, not one after the other: what
 * a far-away server looks like. One thread; up to 16 connections. */

#include <stdint.h>

typedef struct fht_relay fht_relay_t;

/* Starts the relay to the Unix socket at path; *port gets its TCP port.
 * Returns NULL on failure (a message on stderr). */
fht_relay_t *fht_relay_start(const char *path, int delay_ms, int *port);
/* Stops the thread and closes every socket. */
void fht_relay_stop(fht_relay_t *r);

#endif
