/* client_limits: deadlines and fair shares for the listener's connections (see the header).
 *
 * DESIGN: one mutex guards a list of every open connection in the order they arrived, each
 * with its phase (waiting for headers, receiving a body, being handled), the moment its phase
 * must end by, its socket address and its current client address. A sweeper thread wakes every
 * CLIENT_SWEEP_MS and shuts down the sockets whose deadline has passed. Admission decisions
 * (headroom, per-client shares) are taken at once under the same mutex.
 *
 * We never close a socket ourselves: shutdown(2) makes the owning HTTP thread read the end of
 * the stream and close the connection in its own time. client_limits_close runs (under the
 * mutex) before the socket is closed, so a descriptor we shut down is never one that has been
 * reused by a newer connection. Counting a client's connections is a walk of the list: the
 * table holds at most a few thousand entries and the walk costs microseconds. */
#include "gateway/http/client_limits.h"

#include "gateway/strbuf.h"
#include "gateway/thread_name.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define CLIENT_SWEEP_MS       100  /* how often deadlines are checked */
#define CLIENT_XFF_HOPS_MAX   32   /* X-Forwarded-For entries looked at, from the right */
#define CLIENT_NO_DEADLINE_MS (-1) /* a request being handled has no deadline of ours */

struct client_conn {
    struct client_conn *prev, *next;
    int fd;
    enum client_phase phase;
    int64_t deadline_ms;              /* CLOCK_MONOTONIC; CLIENT_NO_DEADLINE_MS for none */
    bool shut;                        /* we have shut it down; it only waits to be closed */
    char address[CLIENT_ADDRESS_MAX]; /* the socket's peer */
    char client[CLIENT_ADDRESS_MAX];  /* the real client of the current request */
};

struct client_limits {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t sweeper;
    bool stopping;
    struct client_conn *head, *tail;
    long open;
    atomic_ulong closed_by_us;
    long header_deadline_ms, body_deadline_ms;
    long admit_limit; /* connection_limit - headroom */
    long per_client_limit;
    char (*trusted)[CLIENT_ADDRESS_MAX];
    size_t trusted_len;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Writes the canonical text of an IPv4 or IPv6 address; false when text is not one. */
static bool canonical_address(const char *text, size_t len, char out[CLIENT_ADDRESS_MAX])
{
    char buf[CLIENT_ADDRESS_MAX];
    while (len > 0 && (*text == ' ' || *text == '\t')) {
        text++;
        len--;
    }
    while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t'))
        len--;
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, text, len);
    buf[len] = '\0';
    unsigned char bin[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, buf, bin) == 1)
        return inet_ntop(AF_INET, bin, out, CLIENT_ADDRESS_MAX) != NULL;
    if (inet_pton(AF_INET6, buf, bin) == 1)
        return inet_ntop(AF_INET6, bin, out, CLIENT_ADDRESS_MAX) != NULL;
    return false;
}

bool client_limits_is_trusted(const struct client_limits *cl, const char *address)
{
    for (size_t i = 0; i < cl->trusted_len; i++)
        if (strcmp(cl->trusted[i], address) == 0)
            return true;
    return false;
}

void client_limits_real_client(const struct client_limits *cl, const char *address,
                               const char *forwarded_for, char client[CLIENT_ADDRESS_MAX])
{
    text_copy(client, CLIENT_ADDRESS_MAX, address);
    if (!forwarded_for || !client_limits_is_trusted(cl, address))
        return;
    /* walk the chain from the right: each hop we trust vouches for the one before it */
    const char *end = forwarded_for + strlen(forwarded_for);
    for (int hops = 0; hops < CLIENT_XFF_HOPS_MAX && end > forwarded_for; hops++) {
        const char *start = end;
        while (start > forwarded_for && start[-1] != ',')
            start--;
        char hop[CLIENT_ADDRESS_MAX];
        if (!canonical_address(start, (size_t)(end - start), hop))
            return; /* not an address: believe nothing further left */
        text_copy(client, CLIENT_ADDRESS_MAX, hop);
        if (!client_limits_is_trusted(cl, hop))
            return;
        end = start > forwarded_for ? start - 1 : start;
    }
}

static long count_client(const struct client_limits *cl, const char *client, bool by_socket)
{
    long n = 0;
    for (const struct client_conn *c = cl->head; c; c = c->next)
        if (!c->shut && strcmp(by_socket ? c->address : c->client, client) == 0)
            n++;
    return n;
}

static void shut(struct client_limits *cl, struct client_conn *c)
{
    if (c->shut)
        return;
    c->shut = true;
    shutdown(c->fd, SHUT_RDWR);
    atomic_fetch_add(&cl->closed_by_us, 1);
}

static void unlink_conn(struct client_limits *cl, struct client_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        cl->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        cl->tail = c->prev;
    cl->open--;
}

/* Closes the oldest connections still sending headers until the table has headroom again
 * for the one just opened (which is the newest, so never its own victim). */
static void keep_headroom(struct client_limits *cl)
{
    long live = 0;
    for (const struct client_conn *c = cl->head; c; c = c->next)
        live += !c->shut;
    for (struct client_conn *c = cl->head; c && live > cl->admit_limit; c = c->next) {
        if (!c->shut && c->phase == CLIENT_PHASE_HEADERS && c != cl->tail) {
            shut(cl, c);
            live--;
        }
    }
}

static void *sweeper_main(void *arg)
{
    struct client_limits *cl = arg;
    thread_name_set("limit-sweeper");
    pthread_mutex_lock(&cl->lock);
    while (!cl->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += CLIENT_SWEEP_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&cl->wake, &cl->lock, &until);
        int64_t now = now_ms();
        for (struct client_conn *c = cl->head; c; c = c->next)
            if (!c->shut && c->deadline_ms != CLIENT_NO_DEADLINE_MS && c->deadline_ms <= now)
                shut(cl, c);
    }
    pthread_mutex_unlock(&cl->lock);
    return NULL;
}

struct client_limits *client_limits_new(const struct client_limits_config *cfg)
{
    struct client_limits *cl = calloc(1, sizeof *cl);
    if (!cl)
        return NULL;
    cl->header_deadline_ms = cfg->header_deadline_s * 1000;
    cl->body_deadline_ms = cfg->body_deadline_s * 1000;
    cl->admit_limit = cfg->connection_limit - cfg->headroom;
    if (cl->admit_limit < 1)
        cl->admit_limit = 1;
    cl->per_client_limit = cfg->per_client_limit;
    if (cfg->trusted_proxies_len > 0) {
        cl->trusted = calloc(cfg->trusted_proxies_len, sizeof *cl->trusted);
        if (!cl->trusted) {
            free(cl);
            return NULL;
        }
        for (size_t i = 0; i < cfg->trusted_proxies_len; i++) {
            const char *p = cfg->trusted_proxies[i];
            if (canonical_address(p, strlen(p), cl->trusted[cl->trusted_len]))
                cl->trusted_len++;
        }
    }
    pthread_mutex_init(&cl->lock, NULL);
    pthread_cond_init(&cl->wake, NULL);
    if (pthread_create(&cl->sweeper, NULL, sweeper_main, cl) != 0) {
        pthread_cond_destroy(&cl->wake);
        pthread_mutex_destroy(&cl->lock);
        free(cl->trusted);
        free(cl);
        return NULL;
    }
    return cl;
}

void client_limits_free(struct client_limits *cl)
{
    if (!cl)
        return;
    pthread_mutex_lock(&cl->lock);
    cl->stopping = true;
    pthread_cond_signal(&cl->wake);
    pthread_mutex_unlock(&cl->lock);
    pthread_join(cl->sweeper, NULL);
    while (cl->head) {
        struct client_conn *c = cl->head;
        unlink_conn(cl, c);
        free(c);
    }
    pthread_cond_destroy(&cl->wake);
    pthread_mutex_destroy(&cl->lock);
    free(cl->trusted);
    free(cl);
}

struct client_conn *client_limits_open(struct client_limits *cl, int fd, const char *address)
{
    struct client_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->fd = fd;
    c->phase = CLIENT_PHASE_HEADERS;
    c->deadline_ms = now_ms() + cl->header_deadline_ms;
    snprintf(c->address, sizeof c->address, "%s", address);
    snprintf(c->client, sizeof c->client, "%s", address);
    pthread_mutex_lock(&cl->lock);
    c->prev = cl->tail;
    if (cl->tail)
        cl->tail->next = c;
    else
        cl->head = c;
    cl->tail = c;
    cl->open++;
    /* a trusted proxy carries many clients: their shares are counted per request */
    if (!client_limits_is_trusted(cl, address) &&
        count_client(cl, address, true) > cl->per_client_limit)
        shut(cl, c);
    else
        keep_headroom(cl);
    pthread_mutex_unlock(&cl->lock);
    return c;
}

void client_limits_close(struct client_limits *cl, struct client_conn *conn)
{
    if (!conn)
        return;
    pthread_mutex_lock(&cl->lock);
    unlink_conn(cl, conn);
    pthread_mutex_unlock(&cl->lock);
    free(conn);
}

bool client_limits_headers_done(struct client_limits *cl, struct client_conn *conn,
                                const char *forwarded_for, char client[CLIENT_ADDRESS_MAX])
{
    if (!conn) {
        client[0] = '\0';
        return true;
    }
    client_limits_real_client(cl, conn->address, forwarded_for, client);
    bool ok = true;
    pthread_mutex_lock(&cl->lock);
    text_copy(conn->client, sizeof conn->client, client);
    conn->phase = CLIENT_PHASE_BODY;
    conn->deadline_ms = now_ms() + cl->body_deadline_ms;
    if (client_limits_is_trusted(cl, conn->address) &&
        count_client(cl, client, false) > cl->per_client_limit)
        ok = false;
    pthread_mutex_unlock(&cl->lock);
    return ok;
}

void client_limits_body_deadline(struct client_limits *cl, struct client_conn *conn, long seconds)
{
    if (!conn)
        return;
    pthread_mutex_lock(&cl->lock);
    if (conn->phase == CLIENT_PHASE_BODY)
        conn->deadline_ms = now_ms() + (int64_t)seconds * 1000;
    pthread_mutex_unlock(&cl->lock);
}

void client_limits_body_done(struct client_limits *cl, struct client_conn *conn)
{
    if (!conn)
        return;
    pthread_mutex_lock(&cl->lock);
    conn->phase = CLIENT_PHASE_HANDLING;
    conn->deadline_ms = CLIENT_NO_DEADLINE_MS;
    pthread_mutex_unlock(&cl->lock);
}

void client_limits_request_done(struct client_limits *cl, struct client_conn *conn)
{
    if (!conn)
        return;
    pthread_mutex_lock(&cl->lock);
    conn->phase = CLIENT_PHASE_HEADERS;
    conn->deadline_ms = now_ms() + cl->header_deadline_ms;
    text_copy(conn->client, sizeof conn->client, conn->address);
    pthread_mutex_unlock(&cl->lock);
}

long client_limits_open_count(struct client_limits *cl)
{
    pthread_mutex_lock(&cl->lock);
    long n = cl->open;
    pthread_mutex_unlock(&cl->lock);
    return n;
}

void client_limits_phase_counts(struct client_limits *cl, long counts[CLIENT_PHASES])
{
    for (int i = 0; i < CLIENT_PHASES; i++)
        counts[i] = 0;
    pthread_mutex_lock(&cl->lock);
    for (const struct client_conn *c = cl->head; c; c = c->next)
        if (!c->shut)
            counts[c->phase]++;
    pthread_mutex_unlock(&cl->lock);
}

unsigned long client_limits_closed_count(struct client_limits *cl)
{
    return atomic_load(&cl->closed_by_us);
}
