/* store/transactions: sales, their limit keys, idempotency records and the resident's view. */
#ifndef ONESTOP_STORE_TRANSACTIONS_H
#define ONESTOP_STORE_TRANSACTIONS_H

#include "gateway/store/core.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* ---- transactions ---- */

enum txn_status { TXN_ACCEPTED, TXN_FORWARDED, TXN_COMPLETED, TXN_FAILED, TXN_VOIDED };
const char *txn_status_name(enum txn_status status);
bool txn_status_parse(const char *name, enum txn_status *out) STORE_MUSTCHECK;
/* The one rule for moving a transaction between states (DESIGN.md). */
bool txn_status_can_move(enum txn_status from, enum txn_status to);

struct txn_record {
    const char *reference;
    const char *service;
    const char *counter;
    const char *site;
    const char *staff;
    const char *fields_json; /* normalised fields */
    long fee_pence;
    const char *lines_json;
    const json_t *keys; /* [{"name","value","live_from","live_until"}] */
    const char *live_until;
    /* payment */
    const char *method;
    long amount_pence;
    long tendered_pence;
    long change_pence;
    const char *auth_code;
    const char *reason;
    const char *authorised_by;
    /* delivery (outbox) */
    const char *backend;
    const char *connector;
    const char *payload_json;
    const char *delivery_key; /* Idempotency-Key sent to the back-end on every attempt */
    /* print job, when the counter has a printer */
    const char *printer;
    const char *receipt_size;     /* "standard" | "large"; NULL: standard */
    const char *receipt_language; /* "en", "pl", ...; NULL: en */
    /* idempotency of the counter's request */
    const char *idempotency_key;
    const char *request_hash;
    int response_status;
    const char *response_json;
    time_t now;
};

/* Inside a job: inserts the transaction with its payment, index keys, delivery, print job,
 * idempotency record and audit entry. STORE_CONFLICT when the reference is taken. */
enum store_result store_tx_transaction_insert(struct store_tx *tx,
                                              const struct txn_record *rec) STORE_MUSTCHECK;
/* Inside a job or not: the stored reply for an idempotency key of one staff member (a key is
 * scoped to the staff member who sent it: another's key is simply not found). *response is
 * malloc'd. */
enum store_result store_tx_idempotency_find(struct store_tx *tx, const char *staff, const char *key,
                                            char request_hash[65], int *status,
                                            char **response) STORE_MUSTCHECK;
enum store_result store_idempotency_find(struct store *store, const char *staff, const char *key,
                                         char request_hash[65], int *status,
                                         char **response) STORE_MUSTCHECK;
/* Live transactions indexed under (key, value) on date `on`; -1 if the store failed. */
long store_tx_count_live(struct store_tx *tx, const char *key, const char *value, const char *on);
long store_count_live(struct store *store, const char *key, const char *value, const char *on);
/* The most such transactions live on any one day from `from` to `until`; -1 on failure. */
long store_tx_max_live(struct store_tx *tx, const char *key, const char *value, const char *from,
                       const char *until);
long store_max_live(struct store *store, const char *key, const char *value, const char *from,
                    const char *until);
/* The latest live_until ("YYYY-MM-DD") of such entries, live or not, into until: 1 when there
 * is one, 0 when none, -1 if the store failed. */
int store_tx_latest_until(struct store_tx *tx, const char *key, const char *value, char *until,
                          size_t size);
int store_latest_until(struct store *store, const char *key, const char *value, char *until,
                       size_t size);
/* Ends every (key, value) entry live after until ("YYYY-MM-DD"): its live_until becomes
 * until. Inside a job's transaction (a replaced card stops being live). */
enum store_result store_tx_keys_end(struct store_tx *tx, const char *key, const char *value,
                                    const char *until) STORE_MUSTCHECK;

/* Everything about one transaction for GET /api/v1/transactions/{reference}. site: only a
 * transaction sold at that site (another site's is STORE_NOT_FOUND); NULL: any site. */
enum store_result store_transaction_get(struct store *store, const char *reference,
                                        const char *site, json_t **out) STORE_MUSTCHECK;
#define STORE_SITE_MAX 128
/* The site a transaction was sold at ("" when none was recorded); STORE_NOT_FOUND. */
enum store_result store_transaction_site(struct store *store, const char *reference,
                                         char site[STORE_SITE_MAX]) STORE_MUSTCHECK;
struct txn_filter {
    const char *site; /* only this site's transactions; NULL: every site */
    bool has_period;  /* created in [from, until) */
    time_t from;
    time_t until;
    const char *service;
    const char *status;
    const char *counter;
    int limit;
    int offset;
};
enum store_result store_transaction_list(struct store *store, const struct txn_filter *filter,
                                         json_t **out) STORE_MUSTCHECK;
/* What the resident's status page may show: no personal data. */
struct txn_public {
    char service[64];
    enum txn_status status;
    time_t created_at;
    time_t updated_at;
    char note[200];
};
enum store_result store_transaction_public(struct store *store, const char *reference,
                                           struct txn_public *out) STORE_MUSTCHECK;
/* A back-end says the request is done: accepted|forwarded -> completed. Audited. */
enum store_result store_transaction_complete(struct store *store, const char *reference,
                                             const char *backend, const char *backend_reference,
                                             const char *note) STORE_MUSTCHECK;

#endif
