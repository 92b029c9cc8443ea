/* Configuration messages and checks shared by server.c (the config struct
 * and the environment) and args.c (the command line). Internal. */
#ifndef FH_CORE_CONFIG_H
#define FH_CORE_CONFIG_H

#include <fasthttp.h>

/* Records a refusal whose whole text is given, naming its source and
 * quoting the value ("--port: \"80a\" is not a whole number in 0..65535");
 * fh_server_config_error then answers it after "fasthttp: ". Returns
 * FH_ECONFIG. */
int fh__config_refuse(const char *fmt, ...) FH_PRINTF(1, 2);

/* Writes value in double quotes into dst, cut to 48 bytes with "..." after
 * it when longer, so a message stays one short line. */
void fh__config_quote(char *dst, size_t cap, const char *value);

/* Whether host is an address fh_server_new can listen on: an IPv4 or IPv6
 * literal, or "localhost". */
bool fh__config_host_ok(const char *host);

#endif
