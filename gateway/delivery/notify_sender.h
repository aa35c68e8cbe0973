/* notify_sender: the thread that sends receipt copies to GOV.UK Notify (store/copies.h).
 *
 * Exactly once, although Notify has no idempotency key:
 * - a 2xx is final: the copy is `sent` with Notify's id (its contact masked) and is never sent
 *   again, whatever else happens;
 * - an attempt that surely reached nobody (connection refused, a name or TLS failure, 429,
 *   503, 401/408) is retried with backoff until notify.give_up_after_s;
 * - an attempt whose outcome is unknown (a timeout or a connection dropped after the request
 *   went, an answer cut short, 500/502/504: resend_outcome_unknown) marks the copy
 *   outcome_unknown in the store, and before the copy is sent again the sender asks Notify
 *   GET /v2/notifications?reference=<the copy's own reference>: found, the copy is `sent` with
 *   that id and not sent again; an empty list, it is sent; no usable answer, it waits and
 *   asks again (never resends blind);
 * - every send is marked outcome_unknown in the store before it goes (a write per attempt:
 *   copies are few), so a copy in flight when onestopd is killed is looked up after the
 *   restart, never resent blind; the attempt's answer then sets or clears the mark;
 * - any other 4xx (a bad template, a refused key) is a refusal: the copy is `failed` with
 *   Notify's words, shown on the transaction.
 *
 * One request at a time with libcurl's easy interface on this thread (copies are few, and
 * never wait on an HTTP thread). The contact never appears in a log line or a URL. */
#ifndef ONESTOP_NOTIFY_SENDER_H
#define ONESTOP_NOTIFY_SENDER_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct store;
struct notify_sender;

/* Starts the thread (NULL cfg->notify.url: returns NULL and does nothing, not an error). */
struct notify_sender *notify_sender_start(const struct config *cfg, struct store *store);
/* Sends what is due now rather than at the next look. NULL-safe. */
void notify_sender_wake(struct notify_sender *ns);
/* Stops the thread (a request in flight runs to its timeout) and frees it. NULL-safe. */
void notify_sender_stop(struct notify_sender *ns);

#endif
