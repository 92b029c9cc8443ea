/* Internal: the service manager's notification socket (notify.c). */
#ifndef FH_CORE_NOTIFY_H
#define FH_CORE_NOTIFY_H

/* Sends state ("READY=1", "MAINPID=1234"...) to the socket named by
 * NOTIFY_SOCKET, the documented protocol of sd_notify(3): one datagram on
 * a Unix socket, '@' naming an abstract one. Does nothing and returns 0
 * without NOTIFY_SOCKET (not run by systemd, or not with Type=notify);
 * otherwise 0 or a libuv error. The variable is kept for the generations
 * a restart starts. Callable from any thread. */
int fh__notify(const char *state);

#endif
