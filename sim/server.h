/*
 * The simulator's HTTP server (libmicrohttpd, one thread per connection so a slow
 * back-end never blocks the others). Routes "/_sim/..." to sim/control.c and
 * "/<backend>/..." through sim/pipeline.c; logs one line per request to stderr.
 */
#ifndef ONESTOP_SIM_SERVER_H
#define ONESTOP_SIM_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SERVER_MAX_BODY         (1024u * 1024u) /* larger request bodies get 413 */
#define SERVER_CONNECTION_LIMIT 1000
#define SERVER_TIMEOUT_S        60

/* Parses "127.0.0.1:8081" (an IPv4 address or "localhost", a port 0..65535). */
__attribute__((warn_unused_result)) bool server_parse_listen(const char *text, char *host,
                                                             size_t host_len, uint16_t *port);

/* Starts serving on host:port (port 0 picks a free one). On true *bound_port is the
 * port in use; on false a message has been printed to stderr. */
__attribute__((warn_unused_result)) bool server_start(const char *host, uint16_t port,
                                                      uint16_t *bound_port);

/* Stops serving and waits for the connection threads to end. */
void server_stop(void);

#endif
