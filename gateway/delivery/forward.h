/* forward: the forwarder — drains the store's outbox to the back-ends (DESIGN.md).
 *
 * One thread with one libcurl multi handle sends every delivery: per back-end a concurrency
 * cap, a circuit breaker, full-jitter backoff, the same Idempotency-Key on every attempt, the
 * HMAC signature, and a dead letter when a back-end refuses the request (4xx) or the give-up
 * deadline passes. Open311 back-ends are also polled for status. Each attempt's outcome is
 * recorded through store_delivery_record_batch (the outcomes of one turn of its loop in one
 * write); a delivery stays "in flight" (never sent twice at once) until that record is
 * committed. Nothing here runs on an HTTP thread. */
#ifndef ONESTOP_FORWARD_H
#define ONESTOP_FORWARD_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct store;
struct forwarder;
struct strbuf;

#define FORWARD_STOP_GRACE_MS 5000 /* in-flight requests get this long at shutdown */

/* Starts the forwarder thread for every back-end in cfg. cfg and store must outlive it.
 * NULL with a message in err when a back-end names an unknown connector or the thread cannot
 * start. */
struct forwarder *forwarder_start(const struct config *cfg, struct store *store, char *err,
                                  size_t errlen) __attribute__((warn_unused_result));
/* The sealed documents the multipart connector streams from (documents.h); until it is set
 * such deliveries wait. Any thread. */
struct documents;
void forwarder_set_documents(struct forwarder *fw, const struct documents *docs);
/* Look at the outbox now (call after committing a transaction or a hand retry). Any thread;
 * NULL-safe; cheap. */
void forwarder_wake(struct forwarder *fw);
/* Stops starting requests, gives those in flight FORWARD_STOP_GRACE_MS, aborts the rest
 * (their deliveries stay pending: the back-end de-duplicates a resend by its key), waits for
 * outcomes already handed to the store, and frees everything. Call before store_close.
 * NULL-safe. */
void forwarder_stop(struct forwarder *fw);
/* A metrics_writer_fn (ctx = the forwarder): per back-end attempts, successes, dead letters,
 * retries, breaker state, requests in flight, and the outbox depth from the store. */
void forwarder_metrics(void *ctx, struct strbuf *out);

#endif
