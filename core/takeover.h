/* Internal: taken-over connections (takeover.c). */
#ifndef FH_CORE_TAKEOVER_H
#define FH_CORE_TAKEOVER_H

typedef struct fh__worker fh__worker_t;

/* Server stop: closes every taken-over connection of the worker. */
void fh__takeover_close_all(fh__worker_t *w);

#endif
