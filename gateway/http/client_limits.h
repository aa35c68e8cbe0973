/* client_limits: deadlines and fair shares for the listener's connections.
 *
 * The contract with http.c: every accepted connection is registered (client_limits_open) and
 * unregistered just before its socket is closed (client_limits_close); http.c reports when a
 * request's headers are in, when its body is in, and when its reply has gone. From that this
 * module closes (shutdown(2), so the HTTP thread that owns the socket sees the end and cleans
 * up) any connection that:
 *   - has not completed its headers within the header deadline, or its body within the body
 *     deadline, however slowly it trickles bytes to keep the idle timeout from firing;
 *   - is the oldest one still sending headers when the connection table is nearly full, so that
 *     a fresh client always finds a free slot (the headroom);
 *   - takes one address past its share of connections. The address is the socket's, or, when
 *     the socket belongs to a trusted proxy, the real client named by X-Forwarded-For.
 * Nothing here knows libmicrohttpd: a connection is a file descriptor and an address. */
#ifndef ONESTOP_CLIENT_LIMITS_H
#define ONESTOP_CLIENT_LIMITS_H

#include <stdbool.h>
#include <stddef.h>

#define CLIENT_ADDRESS_MAX 64 /* an IPv4 or IPv6 address as text, with its NUL */

struct client_limits;
struct client_conn;

struct client_limits_config {
    long header_deadline_s; /* from the connection's start, or from the end of its last reply */
    long body_deadline_s;   /* from the end of the headers */
    long connection_limit;  /* the listener's whole table */
    long headroom;          /* slots kept free for fresh clients */
    long per_client_limit;  /* connections one client address may hold */
    const char *const *trusted_proxies; /* addresses whose X-Forwarded-For is believed */
    size_t trusted_proxies_len;
};

/* Starts the sweeper thread; NULL when out of memory or threads. Free with client_limits_free
 * after the listener has stopped. The config's strings are copied. */
struct client_limits *client_limits_new(const struct client_limits_config *cfg)
    __attribute__((warn_unused_result));
void client_limits_free(struct client_limits *cl);

/* A connection was accepted on socket fd from address (text). Returns its handle (NULL when
 * out of memory: the connection then goes unwatched). When the table is nearly full the
 * oldest connection still sending headers is closed; when address already holds its share,
 * this connection is closed at once. */
struct client_conn *client_limits_open(struct client_limits *cl, int fd, const char *address);
/* The socket is about to be closed: forget it. NULL is ignored. */
void client_limits_close(struct client_limits *cl, struct client_conn *conn);

/* A request's headers are in. forwarded_for is its X-Forwarded-For header or NULL. Writes the
 * real client's address to client (believing X-Forwarded-For only from a trusted proxy).
 * Returns false when that client already holds its share of connections: refuse the request. */
bool client_limits_headers_done(struct client_limits *cl, struct client_conn *conn,
                                const char *forwarded_for, char client[CLIENT_ADDRESS_MAX])
    __attribute__((warn_unused_result));
/* The body of this request may take `seconds` from now (a route whose bodies are large:
 * uploads), instead of the body deadline. */
void client_limits_body_deadline(struct client_limits *cl, struct client_conn *conn, long seconds);
/* The body is in: the request is being handled and has no deadline of its own. */
void client_limits_body_done(struct client_limits *cl, struct client_conn *conn);
/* The reply has gone: the connection waits for its next request's headers. */
void client_limits_request_done(struct client_limits *cl, struct client_conn *conn);

/* True when address is one of the trusted proxies. */
bool client_limits_is_trusted(const struct client_limits *cl, const char *address);
/* The real client of a request that came over a socket from address with the given
 * X-Forwarded-For (may be NULL): the right-most address in the chain that is not a trusted
 * proxy; the socket's address when it is not a trusted proxy itself. Pure; for tests too. */
void client_limits_real_client(const struct client_limits *cl, const char *address,
                               const char *forwarded_for, char client[CLIENT_ADDRESS_MAX]);

/* Where an open connection is: waiting for (or receiving) headers, receiving its body, or
 * being handled and answered. */
enum client_phase { CLIENT_PHASE_HEADERS, CLIENT_PHASE_BODY, CLIENT_PHASE_HANDLING, CLIENT_PHASES };

/* Connections open now, all of them or (client_limits_phase_counts) those in each phase not yet
 * closed by us; and those closed by this module since the start (for /metrics and tests). */
long client_limits_open_count(struct client_limits *cl);
void client_limits_phase_counts(struct client_limits *cl, long counts[CLIENT_PHASES]);
unsigned long client_limits_closed_count(struct client_limits *cl);

#endif
