/* store/deliveries: the outbox the forwarder drains. */
#ifndef ONESTOP_STORE_DELIVERIES_H
#define ONESTOP_STORE_DELIVERIES_H

#include "gateway/store/core.h"
#include "gateway/store/transactions.h"

#include <stdint.h>

/* ---- deliveries: the outbox the forwarder drains ---- */
/* pending -> delivered | failed; failed -> pending (a supervisor's hand retry). A void:
 * pending | failed -> cancelled (never sent), delivered -> cancelling (a cancellation waits in
 * the outbox) -> cancelled | cancel_failed; cancelled -> cancelling when a request that was in
 * flight at the void reached the back-end after all. Every move is audited (delivery_delivered,
 * delivery_failed, delivery_retried, delivery_cancelled, delivery_cancelling,
 * delivery_cancel_failed); the transaction's move that a delivered attempt or a dead letter
 * causes (-> forwarded, -> failed) is recorded in that same row (docs/delivery.md); see
 * store/deliveries.c. */
enum delivery_state {
    DELIVERY_PENDING,
    DELIVERY_DELIVERED,
    DELIVERY_FAILED,
    DELIVERY_CANCELLED,
    DELIVERY_CANCELLING,
    DELIVERY_CANCEL_FAILED,
};
const char *delivery_state_name(enum delivery_state state);
bool delivery_state_parse(const char *name, enum delivery_state *out);
bool delivery_state_can_move(enum delivery_state from, enum delivery_state to);

struct delivery {
    int64_t id;
    char reference[STORE_REFERENCE_MAX];
    char backend[64];
    char connector[16];
    char idempotency_key[64];
    char *payload; /* malloc'd */
    int attempts;
    int64_t next_attempt_at_ms;
    time_t created_at;
    time_t series_started_at;    /* the give-up deadline counts from here: creation or the
                                    supervisor's hand retry that started this series */
    char backend_reference[128]; /* for polls */
    char backend_token[128];     /* open311: a token to exchange for the reference, or "" */
    int token_polls;             /* token exchanges tried */
    bool outcome_unknown;        /* an earlier attempt may have reached the back-end */
    bool cancel; /* a cancellation of the delivered request (state cancelling), not the request */
};
void store_delivery_free(struct delivery *list, size_t len);

/* Pending deliveries of one back-end due at now_ms, oldest first, skipping the ids in
 * `exclude` (those in flight). *out is a malloc'd array. */
enum store_result store_deliveries_due(struct store *store, const char *backend, int64_t now_ms,
                                       int limit, const int64_t *exclude, size_t exclude_len,
                                       struct delivery **out, size_t *len) STORE_MUSTCHECK;
/* The same, claimed for this node (store_node_id) for lease_ms: on an engine several nodes
 * write (PostgreSQL) one UPDATE, on a connection of the read pool (not queued behind the
 * writer), leases due rows that no node holds (or whose lease ran out), FOR UPDATE SKIP
 * LOCKED, so two nodes never claim one delivery; recording its
 * outcome clears the lease, and is a conflict (nothing changes) when another node holds it
 * by then. On SQLite (one writer, one process) it is store_deliveries_due. */
enum store_result store_deliveries_claim(struct store *store, const char *backend, int64_t now_ms,
                                         int64_t lease_ms, int limit, const int64_t *exclude,
                                         size_t exclude_len, struct delivery **out,
                                         size_t *len) STORE_MUSTCHECK;
/* This process's node id (logged once), the owner of its leases: onestopd's is kept in its data
 * folder, so a restarted node takes back its own leases at once (node_id.c); the CLI's is
 * random. */
const char *store_node_id(void);
/* Delivered requests whose transaction is still `forwarded` and whose next status poll is
 * due (open311 polling). */
enum store_result store_polls_due(struct store *store, const char *backend, int64_t now_ms,
                                  int limit, struct delivery **out, size_t *len) STORE_MUSTCHECK;
/* Earliest next_attempt_at_ms of pending deliveries (or INT64_MAX), to sleep until then. */
int64_t store_deliveries_next_due(struct store *store);

enum delivery_outcome_kind {
    OUTCOME_DELIVERED, /* 2xx: transaction -> forwarded, backend_reference kept */
    OUTCOME_RETRY,     /* try again at next_attempt_at_ms */
    OUTCOME_FAILED,    /* dead letter: transaction -> failed, last_error kept */
    OUTCOME_POLLED,    /* a status poll: next_poll_at_ms set; completed if `completed` */
};

/* What a delivery_outcome records. ATTEMPT: a delivery attempt, a look-up that found the
 * request (DELIVERED), or a status poll. TOKEN: an Open311 token exchange (POLLED): a
 * backend_reference when the back-end gave it, otherwise the next exchange at
 * next_attempt_at_ms, or none (0) when the tries are used up. NOT_FOUND: a look-up before a
 * resend did not find the request, so it may be sent again (the outcome is known again).
 * ABORTED: an attempt was in flight when onestopd stopped; the delivery stays pending with its
 * outcome unknown. */
enum delivery_step {
    DELIVERY_STEP_ATTEMPT,
    DELIVERY_STEP_TOKEN,
    DELIVERY_STEP_NOT_FOUND,
    DELIVERY_STEP_ABORTED,
};

struct delivery_outcome {
    int64_t delivery_id;
    enum delivery_outcome_kind kind;
    int http_status; /* 0 when no HTTP answer */
    char error[512]; /* what went wrong, for supervisors; no personal data */
    char backend_reference[128];
    int64_t next_attempt_at_ms; /* RETRY; POLLED: next poll */
    bool completed;             /* POLLED */
    char note[200];             /* POLLED: the back-end's status note */
    int64_t now_ms;
    /* What look-ups before a resend and Open311 tokens add (store/delivery_steps.c). */
    enum delivery_step step;
    bool outcome_unknown;      /* RETRY, FAILED: this attempt may have reached the back-end */
    bool no_polling;           /* DELIVERED: the back-end gave nothing to poll (blackbox) */
    char backend_token[128];   /* DELIVERED: an Open311 token to exchange for the reference */
    char supervisor_note[300]; /* what happened, for supervisors, when it is not an error */
    /* the store calls this on its finisher thread after the outcome is committed or failed */
    void (*done)(struct delivery_outcome *outcome, enum store_result result);
    void *ctx;
    struct store_job job;                /* private */
    struct delivery_outcome *batch_next; /* private: the next outcome of its batch */
    enum store_result batch_result;      /* private: this outcome's result in its batch */
};
/* Records an attempt's outcome asynchronously (grouped with other writes). */
void store_delivery_record(struct store *store, struct delivery_outcome *outcome);

/* Several outcomes recorded as one write (one store job): each runs under its own savepoint,
 * so an outcome that conflicts (another node holds the delivery, it left `pending`) or fails
 * is undone alone and the others are still recorded. Each outcome's done gets its own result,
 * in the order of the list, on the store's finisher thread; then the batch's done (if any).
 * When the write as a whole fails (the commit, a savepoint) every outcome gets that failure.
 * The batch and its outcomes must stay valid until the batch's done has run (or, with no
 * batch done, until the last outcome's done). */
struct delivery_outcome_batch {
    struct delivery_outcome *first; /* linked through batch_next */
    void (*done)(struct delivery_outcome_batch *batch);
    void *ctx;
    struct store_job job; /* private */
};
void store_delivery_record_batch(struct store *store, struct delivery_outcome_batch *batch);
/* Inside store_delivery_record's job (store/delivery_steps.c): records a TOKEN or NOT_FOUND
 * step, or, after an ATTEMPT's own changes, its token, note and unknown outcome (columns_written:
 * the delivered attempt's UPDATE set those columns already; only the note's audit row is left). */
enum store_result store_delivery_step_run(struct store_tx *tx, const struct delivery_outcome *o,
                                          bool columns_written) STORE_MUSTCHECK;

/* Supervisor: failed deliveries (newest first), and a hand retry (failed -> pending now,
 * transaction failed -> accepted). Both audited. */
enum store_result store_deliveries_failed(struct store *store, const char *site, int limit,
                                          json_t **out) STORE_MUSTCHECK;
enum store_result store_delivery_retry_now(struct store *store, const char *reference,
                                           const char *staff, const char *counter) STORE_MUSTCHECK;
/* Counts for /metrics: pending, failed, delivered; oldest pending age in seconds. */
struct delivery_counts {
    long pending;
    long failed;
    long delivered;
    long oldest_pending_s;
};
enum store_result store_delivery_counts(struct store *store, const char *backend,
                                        struct delivery_counts *out) STORE_MUSTCHECK;

#endif
