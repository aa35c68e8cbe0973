/* store_copies: receipt copies by e-mail and text message (GOV.UK Notify), an outbox of their
 * own beside the deliveries.
 *
 * A copy is one row per message: `pending` (waiting for its next attempt), `sent` (Notify
 * accepted it: it has Notify's id and is never sent again) or `failed` (refused, or given up
 * at the deadline). Its state changes only in copy_move (store/copies.c): one rule table, a
 * compare-and-set UPDATE and one audit row per move. A failed attempt that will be retried is
 * not a move; only the attempt count, last error, next attempt and outcome_unknown change.
 *
 * The resident's address or number is kept only inside the row's payload (the Notify request
 * body) and only while the copy is pending: the move to `sent` or `failed` overwrites the
 * payload with a masked form (the caller's masked_payload). Notify's delivery reports (callbacks)
 * land in notify_status. */
#ifndef ONESTOP_STORE_COPIES_H
#define ONESTOP_STORE_COPIES_H

#include "gateway/store/core.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define COPY_CHANNEL_MAX           8
#define COPY_REFERENCE_MAX         64 /* Notify's reference for one copy: "<transaction ref>-<hex>" */
#define COPY_MASKED_MAX            64
#define COPY_ID_MAX                64 /* Notify's notification id (a UUID) */
#define COPY_ERROR_MAX             320
#define COPIES_DUE_MAX             16
#define COPIES_PER_TRANSACTION_MAX 10 /* copies one transaction may have: Notify is paid for */

enum copy_state { COPY_PENDING, COPY_SENT, COPY_FAILED };
const char *copy_state_name(enum copy_state state);
bool copy_state_can_move(enum copy_state from, enum copy_state to);

/* One copy to insert: payload is the Notify request body with the contact in it. */
struct copy_new {
    const char *channel; /* "email" | "sms" */
    const char *notify_reference;
    const char *payload;
    const char *masked; /* the contact as shown to staff: "r***@example.org", "07*******89" */
};

struct copy_request {
    const char *reference; /* the transaction's */
    const char *staff;
    const char *counter;
    const char *idempotency_key;
    const char *request_hash;
    const struct copy_new *copies;
    size_t copies_len;
    time_t now;
};

/* Inserts the copies, the idempotency record and an audit row in one write, answering with
 * *status and a new *response (free() it): 202 and the copies, or, when this staff member
 * already used the key, the stored answer (same request) or 409 (another request); 429 (and
 * nothing written) when the transaction would have more than COPIES_PER_TRANSACTION_MAX.
 * STORE_NOT_FOUND: no such transaction. */
enum store_result store_copies_request(struct store *store, const struct copy_request *rq,
                                       int *status, char **response) STORE_MUSTCHECK;

/* A pending copy due to be sent (the sender's view). */
struct receipt_copy {
    int64_t id;
    char channel[COPY_CHANNEL_MAX];
    char notify_reference[COPY_REFERENCE_MAX];
    char reference[STORE_REFERENCE_MAX];
    char *payload; /* malloc'd */
    long attempts;
    bool outcome_unknown;
    time_t created_at;
};
void store_copies_free(struct receipt_copy *list, size_t len);

/* Up to limit pending copies whose next attempt is due at now_ms, oldest first. */
enum store_result store_copies_due(struct store *store, int64_t now_ms, int limit,
                                   struct receipt_copy **out, size_t *len) STORE_MUSTCHECK;

enum copy_outcome_kind {
    COPY_OUTCOME_SENT,      /* Notify accepted it (or a look-up found it): mask the contact */
    COPY_OUTCOME_RETRY,     /* nothing accepted, or unknown: try again at next_attempt_at_ms */
    COPY_OUTCOME_FAILED,    /* refused, or the deadline passed */
    COPY_OUTCOME_NOT_FOUND, /* a look-up found nothing: send it now (clears outcome_unknown) */
    COPY_OUTCOME_SENDING,   /* about to send: outcome_unknown until the attempt's answer is
                             * recorded, so a crash mid-flight is looked up, never resent blind */
};

struct copy_outcome {
    int64_t id;
    enum copy_outcome_kind kind;
    const char *notification_id; /* SENT: Notify's id, or NULL */
    const char *masked_payload;  /* SENT, FAILED: the payload without the contact */
    const char *error;           /* RETRY, FAILED */
    const char *note;            /* SENT after a look-up */
    int http_status;
    bool outcome_unknown; /* RETRY: the attempt may have been accepted */
    int64_t next_attempt_at_ms;
    time_t now;
};
enum store_result store_copy_record(struct store *store,
                                    const struct copy_outcome *o) STORE_MUSTCHECK;

/* A Notify delivery report for the copy with that Notify reference (or, when none matches,
 * that notification id). STORE_NOT_FOUND when no copy matches. */
enum store_result store_copy_report(struct store *store, const char *notify_reference,
                                    const char *notification_id, const char *status,
                                    time_t now) STORE_MUSTCHECK;

/* The copies still pending of purged transactions (store_purge), at most limit, as a new
 * array [{"id","payload"}] in *out: the purge fails each with its contact masked
 * (store_copy_record, COPY_OUTCOME_FAILED), so no contact outlives the retention. */
enum store_result store_copies_purged(struct store *store, int limit, json_t **out) STORE_MUSTCHECK;

/* Every copy of a transaction as a new JSON array (no contact, only its masked form). */
enum store_result store_copies_json(struct store *store, const char *reference,
                                    json_t **out) STORE_MUSTCHECK;

#endif
