/* lookup: interactive reads from back-ends (addresses for a postcode, collection slots), and
 * the one interactive write (holding a collection day), for the counter, without an HTTP
 * thread ever waiting on the network.
 *
 * One thread with its own curl multi handle runs every look-up: a signed GET to the back-end
 * with its lookup_timeout_ms. The HTTP handler defers its request, calls lookup_get, and the
 * done callback (on the look-up thread) replies and completes it. */
#ifndef ONESTOP_LOOKUP_H
#define ONESTOP_LOOKUP_H

#include <stdbool.h>
#include <stddef.h>

struct backend_config;
struct lookup;

#define LOOKUP_QUEUE_MAX 256 /* look-ups waiting or running; more are refused at once */

/* http_status: the back-end's status, or 0 when there was no answer, and then error says why
 * ("no answer within 2000 ms", "could not connect: ..."). body (NUL-terminated, at most
 * BACKEND_RESPONSE_MAX bytes) is borrowed for the call. */
typedef void (*lookup_done_fn)(void *ctx, int http_status, const char *body, size_t len,
                               const char *error);

/* Starts the look-up thread; NULL with a message in err. */
struct lookup *lookup_start(char *err, size_t errlen) __attribute__((warn_unused_result));
/* GET {be->url}{path_and_query}, signed, within be->lookup_timeout_ms. be must outlive the
 * call. done is called exactly once: on the look-up thread, or — when the look-up cannot be
 * started (stopping, LOOKUP_QUEUE_MAX reached, out of memory) — before lookup_get returns,
 * with http_status 0. Thread-safe. */
void lookup_get(struct lookup *lk, const struct backend_config *be, const char *path_and_query,
                lookup_done_fn done, void *ctx);

struct lookup_spec {
    const char *path_and_query; /* appended to be->url; copied */
    const char *correlation_id; /* sent as X-Correlation-ID when not NULL; copied */
    /* a write the back-end answers at once (a slot hold): with json_body the request is a
     * POST of it, sent with idempotency_key; NULL for a GET. Both copied. */
    const char *json_body;
    const char *idempotency_key;
    /* when not NULL: set to the answer's Retry-After in seconds (delta or HTTP date), or -1
     * when it had none or there was no answer, before done is called; must live until then */
    long *retry_after_s;
};
/* lookup_get with the extra request details of spec; the same contract otherwise. */
void lookup_request(struct lookup *lk, const struct backend_config *be,
                    const struct lookup_spec *spec, lookup_done_fn done, void *ctx);
/* Finishes: every look-up still waiting or running gets done(..., 0, ..., "the gateway is
 * shutting down"); then the thread stops and everything is freed. NULL-safe. */
void lookup_stop(struct lookup *lk);

#endif
