/* store: the durable record of onestop — staff, sessions, audit, transactions, deliveries.
 *
 * This header is the store interface. The SQLite engine (store_sqlite.c) implements it; a
 * PostgreSQL engine for several gateway nodes would implement the same functions. Callers
 * never see SQL. Every write goes through ONE writer thread that groups the writes queued
 * while it was busy into one database transaction (group commit) and reports each write's
 * result only after COMMIT returned, i.e. after the data is on disk (synchronous=FULL).
 * Reads use a small pool of read connections (WAL lets them run beside the writer).
 *
 * Every function returns a store_result. STORE_UNAVAILABLE means the disk is full or the
 * database cannot be written; nothing of that call was stored, and the HTTP layer answers 503. */
#ifndef ONESTOP_STORE_H
#define ONESTOP_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define STORE_MUSTCHECK __attribute__((warn_unused_result))

enum store_result {
    STORE_OK = 0,
    STORE_NOT_FOUND,
    STORE_CONFLICT,    /* unique key taken, or a state change that is not allowed */
    STORE_INVALID,     /* the caller's data was refused (job-specific) */
    STORE_UNAVAILABLE, /* disk full, read-only, I/O error: nothing was written */
};

struct store;
struct field_crypt;

struct store_options {
    const char *data_dir;
    long busy_timeout_ms;
    long group_commit_max;
    long read_connections;
    /* the keys personal data is sealed with (field_crypt.h); NULL stores it in plain text.
     * It must outlive the store. */
    const struct field_crypt *crypt;
};

/* The SQLite engine's database file inside data_dir (`onestop backup` and `restore` use it). */
#define STORE_FILE_NAME "onestop.db"

/* Opens (creating if needed) data_dir/onestop.db, applies migrations, starts the writer.
 * NULL with a message in err when the file cannot be opened or its schema is newer than this
 * binary knows. */
struct store *store_open(const struct store_options *opts, char *err,
                         size_t errlen) STORE_MUSTCHECK;
/* Shutdown on a slow or locked disk: every write still queued (not yet begun by the writer)
 * is finished at once with STORE_UNAVAILABLE — nothing of it was written — so the requests
 * waiting on it can be answered. A write the writer has begun is not touched. Returns how
 * many were refused. */
long store_refuse_queued(struct store *store);
/* Finishes queued writes, stops the writer, closes every connection. */
void store_close(struct store *store);

/* A tiny real write (and rollback-free commit): proves the disk takes writes now. */
enum store_result store_check_writable(struct store *store) STORE_MUSTCHECK;
int store_schema_version(struct store *store);
const char *store_engine_name(void);

struct store_stats {
    uint64_t commits;
    uint64_t writes;
    uint64_t failed_commits;
    long max_batch;
    long queued;  /* writes waiting for the writer now */
    long writing; /* writes in the group the writer is committing now */
};
void store_stats(struct store *store, struct store_stats *out);

/* ---- staff ---- */
/* Roles are not a ladder: an auditor reads transactions at every site but may not sell,
 * void or reprint (gateway/http/http.c, access_allows, reads the rule). */
enum staff_role { ROLE_ASSISTANT = 1, ROLE_SUPERVISOR = 2, ROLE_ADMIN = 3, ROLE_AUDITOR = 4 };
const char *staff_role_name(enum staff_role role);
bool staff_role_parse(const char *name, enum staff_role *role) STORE_MUSTCHECK;

struct staff {
    int64_t id;
    char username[64];
    char initials[8];
    enum staff_role role;
    char password_hash[256];
    bool disabled;
};

enum store_result store_staff_add(struct store *store, const char *username, enum staff_role role,
                                  const char *initials, const char *password_hash) STORE_MUSTCHECK;
enum store_result store_staff_find(struct store *store, const char *username,
                                   struct staff *out) STORE_MUSTCHECK;
/* Both end every open session of that staff member in the same write (audited). */
enum store_result store_staff_set_password(struct store *store, const char *username,
                                           const char *password_hash) STORE_MUSTCHECK;
enum store_result store_staff_set_disabled(struct store *store, const char *username,
                                           bool disabled) STORE_MUSTCHECK;
/* JSON array of {"username","role","initials","disabled"}; caller decrefs. */
enum store_result store_staff_list(struct store *store, json_t **out) STORE_MUSTCHECK;

/* ---- sessions (tokens are stored only as their SHA-256) ---- */
struct staff_session {
    char token_hash[65];
    struct staff staff;
    char counter[32];
    time_t created_at;
    time_t expires_at;
    time_t last_seen_at;
};

/* Creates the session and its audit entry in one write. */
enum store_result store_session_create(struct store *store, const char *token_hash,
                                       const struct staff *staff, const char *counter, time_t now,
                                       time_t expires_at, const char *remote) STORE_MUSTCHECK;
/* STORE_NOT_FOUND when unknown, ended or expired at `now`, or the staff member is disabled. */
enum store_result store_session_find(struct store *store, const char *token_hash, time_t now,
                                     struct staff_session *out) STORE_MUSTCHECK;
enum store_result store_session_end(struct store *store, const struct staff_session *session,
                                    time_t now, const char *remote) STORE_MUSTCHECK;
/* Records that the session was used at `now` (queued; no wait, best effort). */
void store_session_touch(struct store *store, const char *token_hash, time_t now);

/* ---- audit ---- */
struct audit_entry {
    const char *actor; /* staff username, "system", or a back-end name */
    const char *counter;
    const char *action;  /* sign_in, sign_in_failed, sign_out, ... */
    const char *subject; /* a reference or username; never personal data of residents */
    const char *detail;
    const char *remote;
};
enum store_result store_audit(struct store *store, const struct audit_entry *entry) STORE_MUSTCHECK;
/* The newest `limit` entries, newest first, optionally only one action. */
enum store_result store_audit_list(struct store *store, const char *action, int limit,
                                   json_t **out) STORE_MUSTCHECK;

/* ---- callback events: what a back-end's signed callback was answered, by its event id ----
 * The event id is the callback's Idempotency-Key (or, without one, its signature), kept in the
 * store so that a resend gets the stored answer and a replay is recognised after a restart. */
/* STORE_OK with the stored request hash, status and answer (*response malloc'd, "" for none);
 * STORE_NOT_FOUND for a new event. */
enum store_result store_callback_find(struct store *store, const char *backend,
                                      const char *event_id, char request_hash[65], int *status,
                                      char **response) STORE_MUSTCHECK;
/* Records the answer given, and in the same write deletes every event received more than
 * keep_s seconds ago (they are past the replay window: a keyless replay of one is refused by
 * its timestamp). STORE_CONFLICT when the event was recorded meanwhile. */
enum store_result store_callback_record(struct store *store, const char *backend,
                                        const char *event_id, const char *request_hash, int status,
                                        const char *response, long keep_s) STORE_MUSTCHECK;

/* ---- writes that span several records, run on the writer inside one database transaction ----
 * A store_tx is valid only inside the run function of a store_job. The job's done callback
 * runs on the writer thread once the group is committed (result STORE_OK) or failed; it must
 * be quick (resume a connection, free memory). */
struct store_tx;
struct store_job {
    enum store_result (*run)(struct store_tx *tx, void *arg);
    void *arg;
    void (*done)(struct store_job *job, enum store_result result);
    void *ctx;
    void *engine; /* private to the engine */
};
void store_submit(struct store *store, struct store_job *job);
/* Runs a job and waits for its commit. */
enum store_result store_run(struct store *store,
                            enum store_result (*run)(struct store_tx *, void *),
                            void *arg) STORE_MUSTCHECK;

/* ---- transactions ---- */
#define STORE_REFERENCE_MAX 24

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

/* ---- deliveries: the outbox the forwarder drains ---- */
/* pending -> delivered | failed; failed -> pending (a supervisor's hand retry). A void:
 * pending | failed -> cancelled (never sent), delivered -> cancelling (a cancellation waits in
 * the outbox) -> cancelled | cancel_failed; cancelled -> cancelling when a request that was in
 * flight at the void reached the back-end after all. Every move is audited (delivery_delivered,
 * delivery_failed, delivery_retried, delivery_cancelled, delivery_cancelling,
 * delivery_cancel_failed); see store_delivery.c. */
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
    /* What look-ups before a resend and Open311 tokens add (store_delivery_steps.c). */
    enum delivery_step step;
    bool outcome_unknown;      /* RETRY, FAILED: this attempt may have reached the back-end */
    bool no_polling;           /* DELIVERED: the back-end gave nothing to poll (blackbox) */
    char backend_token[128];   /* DELIVERED: an Open311 token to exchange for the reference */
    char supervisor_note[300]; /* what happened, for supervisors, when it is not an error */
    /* the store calls this on the writer thread after the outcome is committed or failed */
    void (*done)(struct delivery_outcome *outcome, enum store_result result);
    void *ctx;
    struct store_job job; /* private */
};
/* Records an attempt's outcome asynchronously (grouped with other writes). */
void store_delivery_record(struct store *store, struct delivery_outcome *outcome);
/* Inside store_delivery_record's job (store_delivery_steps.c): records a TOKEN or NOT_FOUND
 * step, or, after an ATTEMPT's own changes, its token, note and unknown outcome. */
enum store_result store_delivery_step_run(struct store_tx *tx,
                                          const struct delivery_outcome *o) STORE_MUSTCHECK;

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

/* ---- print jobs: the receipts the spooler prints (gateway/spooler.c) ----
 * A transaction gets a pending print job in its own commit when its counter has a printer;
 * a reprint adds another job (reprint_of = the newest earlier one). State changes go through
 * store_print_move, the one transition function, and each is audited. */
enum print_state { PRINT_PENDING, PRINT_PRINTING, PRINT_PRINTED, PRINT_FAILED };
/* "pending", "printing", "printed", "print_failed". */
const char *print_state_name(enum print_state state);
bool print_state_parse(const char *name, enum print_state *out) STORE_MUSTCHECK;
/* The one rule: pending -> printing | print_failed; printing -> printing (a new attempt or
 * the printer's job id) | printed | pending (retry later) | print_failed; printed and
 * print_failed are final (a reprint is a new job). */
bool print_state_can_move(enum print_state from, enum print_state to);

#define STORE_PRINTER_NAME_MAX 64

struct print_job {
    int64_t id;
    char reference[STORE_REFERENCE_MAX];
    char printer[STORE_PRINTER_NAME_MAX];
    enum print_state state;
    int attempts; /* submits so far */
    int job_id;   /* the printer's job id; 0 when none is recorded */
    int64_t next_attempt_at_ms;
    int64_t reprint_of; /* 0 for the first receipt */
    int64_t till_id;    /* a till session's cash-up slip: the session; 0 for a transaction's */
};

/* Jobs of one printer in `state`, oldest first, at most `limit` (into out[], caller's array):
 * PRINT_PENDING ones only when due at now_ms; PRINT_PRINTING ones whatever their time (after
 * a restart these are the jobs the previous process was printing). */
enum store_result store_print_jobs(struct store *store, const char *printer, enum print_state state,
                                   int64_t now_ms, struct print_job *out, size_t limit,
                                   size_t *len) STORE_MUSTCHECK;
/* Earliest next_attempt_at_ms of the printer's pending jobs, or INT64_MAX. */
int64_t store_print_next_due(struct store *store, const char *printer);

/* What a receipt is printed from: the stored transaction, its payment and who sold it; or,
 * for a cash-up slip, the till session (till_id, counter, site, day; read the figures with
 * store_till_get). */
struct print_source {
    char reference[STORE_REFERENCE_MAX];
    char service[64];
    char counter[32];
    char site[128];
    char staff_initials[8];
    char method[16]; /* cash | card | cheque | waived | none */
    char status[16]; /* the transaction's status now */
    int64_t fee_pence;
    int64_t tendered_pence; /* cash only, else 0 */
    int64_t change_pence;
    time_t created_at;
    bool copy;             /* the job is a reprint */
    char banner[64];       /* a slip's banner ("VOID", "REFUND £1.50 CASH"); "" for a receipt */
    char *lines_json;      /* malloc'd: [{"description","amount_pence"}] */
    char receipt_size[16]; /* "standard" | "large" */
    char receipt_language[16]; /* "en", "pl", "ur", ... */

    /* a cash-up slip: the till session (its counter, and day below); else 0 */
    int64_t till_id;
    char day[16]; /* a cash-up slip: the session's Europe/London day "YYYY-MM-DD" */
};
/* Fills *out for print job print_job_id; free out->lines_json with free(). */
enum store_result store_print_source(struct store *store, int64_t print_job_id,
                                     struct print_source *out) STORE_MUSTCHECK;

struct print_move {
    int64_t print_job_id;
    enum print_state from; /* the state the caller holds: STORE_CONFLICT if it changed */
    enum print_state to;
    bool new_attempt;           /* to printing: attempts + 1 and the old job id cleared */
    int job_id;                 /* > 0: the printer's job id to record */
    int64_t next_attempt_at_ms; /* to pending: when to try again */
    const char *error;          /* to pending or print_failed: why (shown to the assistant) */
    const char *actor;          /* audit actor; NULL: "spooler" */
    int64_t now_ms;
};
/* Moves a print job through print_state_can_move and audits it (print_printing: an attempt
 * begins; print_submitted: the printer's job id; print_printed; print_retry; print_failed),
 * waiting for the commit. STORE_CONFLICT for a move the rule refuses or a stale `from`;
 * STORE_NOT_FOUND for an unknown job. Blocks on the disk: call it from a worker thread, never an
 * HTTP one. */
enum store_result store_print_move(struct store *store,
                                   const struct print_move *move) STORE_MUSTCHECK;

struct print_reprint {
    const char *reference;
    const char *printer; /* where to print: the asking assistant's counter's printer */
    const char *staff;
    const char *counter;
    const char *receipt_size;     /* "standard" | "large"; NULL: standard */
    const char *receipt_language; /* NULL: en */
    time_t now;
    int64_t print_job_id; /* out: the new job */
    int64_t reprint_of;   /* out: the job it copies (0 if the transaction had none) */
};
/* Inside a job: adds a pending reprint of a transaction, audited ("print_reprint"). NOT_FOUND
 * for an unknown reference; CONFLICT while one of its print jobs is pending or printing;
 * INVALID for a voided transaction. */
enum store_result store_tx_print_reprint(struct store_tx *tx,
                                         struct print_reprint *r) STORE_MUSTCHECK;

/* For /metrics: a printer's jobs by state. */
struct print_counts {
    long pending;
    long printing;
    long printed;
    long failed;
};
enum store_result store_print_counts(struct store *store, const char *printer,
                                     struct print_counts *out) STORE_MUSTCHECK;

#endif
