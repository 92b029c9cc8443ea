/* A TLS relay for tests that speak plain bytes: fht_tls_relay(tcp) starts
 * a thread that makes tcp (a connected socket to a TLS server) a TLS
 * client connection and passes its plain bytes to and from the socket it
 * returns (one end of a socketpair), so that a test or the conformance
 * runner written for plain HTTP runs unchanged over TLS. The returned
 * socket shut or closed by the test sends close_notify; the server's end
 * shuts the returned socket for writing. The certificate is not verified.
 * Returns the test's end, or -1 (tcp is then closed). */
#ifndef FH_TLS_RELAY_H
#define FH_TLS_RELAY_H

int fht_tls_relay(int tcp);

#endif
