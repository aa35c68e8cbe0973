/* resend_lookup: what the forwarder adds for back-ends that do not honour idempotency keys
 * (lookup_before_resend) and for Open311 answers without an id (tokens, blackbox services).
 *
 * An attempt's outcome is unknown when the request may have reached the back-end without our
 * learning its answer: a timeout, a connection dropped after the body was sent, most 5xx.
 * The store remembers that per delivery (outcome_unknown). Before sending such a delivery
 * again to a back-end configured with lookup_before_resend, the forwarder asks the back-end
 * whether it holds our reference (the connector's build_lookup): found, the delivery is
 * delivered with the back-end's reference and not sent again; not found, it is sent; no
 * usable answer, the look-up counts as a failed attempt (retried with backoff, a dead letter
 * at the give-up deadline) and the outcome stays unknown.
 *
 * Open311 tokens: a 2xx answer with a token instead of an id leaves the delivery delivered and
 * the transaction forwarded without a back-end reference, and the forwarder exchanges the token
 * (GET tokens/{token}.json) every token_poll_interval_s, at most token_poll_tries times. When
 * the tries are used up the request is still with the back-end, so it is NOT sent again: the
 * delivery keeps no reference and gets a note for supervisors. A 2xx with neither an id nor a
 * token (a "blackbox" service) is delivered with no reference and never polled.
 *
 * Pure functions: no I/O; the forwarder sends and the store records. */
#ifndef ONESTOP_RESEND_LOOKUP_H
#define ONESTOP_RESEND_LOOKUP_H

#include "gateway/store.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

struct backend_config;
struct backend_response;
struct connector;

/* True when the transfer that ended with `code` and `http_status` (0: no HTTP answer) may have
 * been acted on by the back-end: timeouts, connections dropped or answers cut after the request
 * was sent, and 5xx other than 501 and 503 (which say the request was not processed). */
bool resend_outcome_unknown(CURLcode code, int http_status);

/* True when delivery d, due to be sent, must first be looked up at the back-end. */
bool resend_lookup_first(const struct backend_config *be, const struct connector *c,
                         const struct delivery *d);

enum resend_lookup_answer {
    RESEND_FOUND,     /* o is a DELIVERED outcome with the back-end's reference and a note */
    RESEND_NOT_FOUND, /* o is a NOT_FOUND step: the delivery may be sent again */
    RESEND_NO_ANSWER, /* nothing usable; o untouched: record it as a failed attempt */
};

/* Reads a look-up's answer for delivery d (now_ms is the wall clock). Only a 2xx answer the
 * connector understands is FOUND or NOT_FOUND: a 404 or an answer it cannot read never lets a
 * request be sent again. */
enum resend_lookup_answer resend_lookup_read(const struct backend_config *be,
                                             const struct connector *c, const struct delivery *d,
                                             const struct backend_response *resp, int64_t now_ms,
                                             struct delivery_outcome *o)
    __attribute__((warn_unused_result));

/* Completes an attempt's outcome before it is recorded: a DELIVERED answer without a reference
 * gets its token (and the first exchange time in next_attempt_at_ms) or, with neither,
 * no_polling and a note; a RETRY or FAILED gets outcome_unknown from `code` and the status
 * (always true after a look-up that got no answer, was_lookup, whose error is prefixed so
 * supervisors see what failed). */
void resend_note_attempt(const struct backend_config *be, const struct connector *c,
                         bool was_lookup, CURLcode code, const struct backend_response *resp,
                         struct delivery_outcome *o);

/* An attempt aborted at shutdown while in flight: o becomes an ABORTED step (the outcome is
 * unknown; the delivery stays pending with its attempts unchanged). */
void resend_note_aborted(struct delivery_outcome *o, int64_t now_ms);

/* Reads an Open311 token exchange for delivery d into o (a TOKEN step). Returns false when the
 * back-end did not answer usefully (no answer or 5xx: a failure for the circuit breaker). */
bool resend_token_read(const struct backend_config *be, const struct connector *c,
                       const struct delivery *d, const struct backend_response *resp,
                       int64_t now_ms, struct delivery_outcome *o)
    __attribute__((warn_unused_result));

#endif
