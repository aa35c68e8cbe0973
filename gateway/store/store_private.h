/* store_private: what the store's domain files share — the writer queue, the read pool and
 * helpers for statements and rows, all over the engine-neutral db.h. Only gateway/store/
 * includes this. */
#ifndef ONESTOP_STORE_PRIVATE_H
#define ONESTOP_STORE_PRIVATE_H

#include "gateway/store.h"
#include "gateway/store/db.h"

#include <pthread.h>

/* A write runs on the writer thread inside the group's transaction, under its own
 * SAVEPOINT: if it returns anything but STORE_OK its changes are rolled back and the rest of
 * the group still commits. Its outputs are valid only if the final result is STORE_OK. */
typedef enum store_result (*store_write_fn)(struct db *db, void *arg);

struct store_write {
    store_write_fn run;
    void *arg;
    enum store_result result;
    bool done;
    /* Async writes: called on the writer thread after the commit (or failure). Keep it short. */
    void (*notify)(struct store_write *write, void *ctx);
    void *notify_ctx;
    struct store_write *next;
};

/* Queues a write and waits until it is committed (or failed). */
enum store_result store_write_sync(struct store *store, store_write_fn run, void *arg);
/* Queues a write; `notify` runs on the writer thread when the outcome is known. */
void store_write_async(struct store *store, struct store_write *write);

/* Borrows a read connection (waits for one); give it back with store_reader_release. */
struct db *store_reader_acquire(struct store *store);
void store_reader_release(struct store *store, struct db *db);

/* What a step of a statement on db came to: STORE_OK for a row or the end, else the failure
 * (db_result: a constraint is STORE_CONFLICT, disk full or I/O STORE_UNAVAILABLE). */
enum store_result store_step_result(struct db *db, enum db_step rc);
/* The connection a statement belongs to. */
struct db *store_stmt_db(struct db_stmt *st);
/* Logs the last failure on db (the engine's message) with what was being done. */
void store_log_error(struct db *db, const char *what);

/* The index of name in names[first..last], or -1: the shared half of the *_parse functions
 * of the store's enums (their names are the values stored in the database). */
int store_name_index(const char *const *names, int first, int last, const char *name);

/* Steps an INSERT ... RETURNING id once, puts the new row's id in *id and releases st; logs
 * unexpected failures (a constraint is STORE_CONFLICT, unlogged). */
enum store_result store_step_id(struct db *db, struct db_stmt *st, const char *what, int64_t *id);
/* Steps a write statement to its end and releases it; logs unexpected failures. */
enum store_result store_step_done(struct db *db, struct db_stmt *st, const char *what);
/* The audit chain's lock until the caller's transaction ends (PostgreSQL: a transaction-scoped
 * advisory lock; SQLite: its write lock already serialises writers): store_audit_insert takes
 * it before reading the last row, and the writer at the start of each group on a shared
 * database. false when it cannot be taken. */
bool store_audit_chain_lock(struct db *db) STORE_MUSTCHECK;
/* The one insert into the audit table (store/audit.c): appends e as the chain's next row, its
 * hash over its content and the previous row's hash, in the caller's write (so the row
 * commits or rolls back with what it records). actor NULL is "system"; the strings are
 * copied. STORE_UNAVAILABLE when the row cannot be written: fail the write with it. */
enum store_result store_audit_insert(struct db *db, const struct audit_entry *e,
                                     time_t at) STORE_MUSTCHECK;
/* Chains the rows of an audit trail written before the hash chain (once, at open, before
 * anything else writes); false with a message in err when it cannot. */
bool store_audit_chain_start(struct db *db, char *err, size_t errlen) STORE_MUSTCHECK;

struct field_crypt;
/* Refuses a store whose sealed data the config has no key for (or whose limit keys are blind
 * with no index key), on either engine. false with a message in err. */
bool store_crypt_check(struct db *db, const struct field_crypt *fc, char *err,
                       size_t errlen) STORE_MUSTCHECK;
/* store_crypt_check, then (SQLite: its SQL passes columns to pd_*) seals the personal values
 * and blinds the limit keys an older binary left in plain text (once, at open, on the
 * writer). false with a message in err. */
bool store_crypt_start(struct db *db, const struct field_crypt *fc, char *err,
                       size_t errlen) STORE_MUSTCHECK;

/* Result columns as JSON; NULL columns become null. */
enum store_column_kind {
    COL_TEXT,
    COL_INT,
    COL_JSON,    /* text holding JSON */
    COL_TIME,    /* unix seconds -> "YYYY-MM-DDTHH:MM:SSZ" */
    COL_TIME_MS, /* unix milliseconds -> the same */
    COL_BOOL,    /* 0 / not 0 -> false / true */
    COL_DAY,     /* days since 1970-01-01 -> "YYYY-MM-DD" */
};
struct store_column {
    const char *name;
    enum store_column_kind kind;
};
json_t *store_column_json(struct db_stmt *st, int col, enum store_column_kind kind);
/* Sets into[columns[i].name] from result column first + i, for a table ending in {0}. */
void store_row_json(struct db_stmt *st, int first, const struct store_column *columns,
                    json_t *into);
/* Steps st to its end, one object per row from columns, into a new array in *out; releases
 * st either way (a NULL st is a failed prepare: STORE_UNAVAILABLE). */
enum store_result store_rows_json(struct db_stmt *st, const struct store_column *columns,
                                  json_t **out);

/* Moves a transaction through txn_status_can_move and audits the move ("transaction_<to>").
 * STORE_OK when it is already in `to`; STORE_CONFLICT when the rule refuses the move. */
enum store_result store_txn_move(struct db *db, int64_t txn_id, const char *reference,
                                 enum txn_status to, const char *actor, const char *counter,
                                 const char *detail, time_t now);
/* store_txn_move for a move caused by another machine's move, whose audit row the caller
 * writes and which must record this one too (a delivery outcome's row, store/deliveries.c):
 * the same rule table and compare-and-set UPDATE, no audit row of its own. `from` is the
 * status the caller read in this write (the UPDATE still checks it: STORE_CONFLICT when the
 * row is no longer in it). *moved says whether the status changed (false when `from` is
 * already `to`, or on any failure). */
enum store_result store_txn_move_recorded(struct db *db, int64_t txn_id, enum txn_status from,
                                          enum txn_status to, time_t now, bool *moved)
    __attribute__((warn_unused_result));

/* Queues the cash-up slip of till session till_id at printer (pending, due now), audited
 * ("print_queued", subject "TILL-<id>") by actor at counter; in the caller's write. */
enum store_result store_print_queue_till(struct db *db, int64_t till_id, const char *printer,
                                         const char *actor, const char *counter, time_t now);

/* A state machine's transition function was asked for a move its rule table does not hold:
 * a bug in the caller, not a race (a race is a compare-and-set conflict). Debug builds
 * (ONESTOP_ABORT_ON_ILLEGAL_MOVE: sanitizer and Debug builds) abort so a test catches it;
 * release builds log it and refuse the move. */
void store_illegal_move(const char *machine, const char *from, const char *to);
/* The end of a state machine's move (state_move.c): steps `update` — the move's UPDATE, bound,
 * whose WHERE names the row and the state the caller saw — and releases it; when it moved the
 * row, appends the audit entry e at `now` in the same write. STORE_CONFLICT when the row was
 * no longer in that state (a race, not a bug). */
enum store_result store_move_commit(struct db *db, struct db_stmt *update, const char *what,
                                    const struct audit_entry *e, time_t now) STORE_MUSTCHECK;

/* A back-end reported transaction txn_id completed: its delivery, if still pending, is
 * delivered (the back-end evidently has it). Audited; STORE_OK when there is nothing to do. */
enum store_result store_delivery_settle_completed(struct db *db, int64_t txn_id, const char *actor,
                                                  time_t now);
/* A void of transaction txn_id: its delivery, if it has one, is cancelled before it is sent
 * (pending, failed) or queued for a cancellation (delivered), through the one transition
 * function. *was: the state found. STORE_NOT_FOUND when it has no delivery; STORE_CONFLICT
 * when it is already cancelled or cancelling. */
enum store_result store_delivery_void(struct db *db, int64_t txn_id, const char *actor,
                                      const char *counter, time_t now, enum delivery_state *was);
/* Reads up to limit deliveries from st (DELIVERY_COLUMNS), skipping the excluded ids. A step
 * that fails is an error (the list is freed), never a short list. */
struct delivery;
enum store_result store_deliveries_collect(struct db_stmt *st, int limit, const int64_t *exclude,
                                           size_t exclude_len, struct delivery **out, size_t *len);

/* The writer connection behind a job's transaction handle. */
struct db *store_tx_db(struct store_tx *tx);

/* The session that holds this node's printer locks (store_printer_hold), for a write to check
 * that the lock is still held (db_session_holds); 0 on an engine without them. */
int64_t store_printer_session(struct store *store);

/* onestopd's start (store_options.stable_node_id): this node's id is the one kept in
 * data_dir/node-id (made when there is none), unless another session holds it on a shared
 * store (locks: the connection that keeps this node's session locks; NULL on SQLite), which
 * leaves store_node_id random. On a shared store with the kept id, *session is the session that
 * took its lock (0 otherwise). Call it before store_node_id. false (err says why) when the
 * file cannot be read or written. node_id.c. */
bool store_node_id_start(const char *data_dir, struct db *locks, int64_t *session, char *err,
                         size_t errlen) STORE_MUSTCHECK;
/* Whether this node runs with its kept id under a session lock (a shared store), which must
 * then be held for it to claim work: see store_node_id_hold and store_node_fence. */
bool store_node_id_guarded(void);
/* On the locks connection (its users serialised by the caller): whether its session holds the
 * kept id's lock, taking it when free (db_hold_session's *hold and *session). false when the
 * engine failed. Only while store_node_id_guarded. */
bool store_node_id_hold(struct db *locks, enum db_hold *hold, int64_t *session) STORE_MUSTCHECK;
/* Before a claim of work for this node (on the connection that claims): STORE_OK when
 * session (store_node_session) holds the kept id's lock now, or the id is not guarded;
 * STORE_CONFLICT when it does not (the lock was lost with its session, and perhaps taken by a
 * copy of this node's data folder); another result when the engine failed. */
enum store_result store_node_fence(struct db *db, int64_t session) STORE_MUSTCHECK;
/* The session that holds this node's id lock now as the node guard last saw it; 0 while it
 * holds none (lost, not yet taken again). writer.c. */
int64_t store_node_session(struct store *store);

#endif
