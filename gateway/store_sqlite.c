/* store_sqlite: the SQLite engine of the store interface.
 *
 * DESIGN: one database file, WAL journal, synchronous=FULL. One writer thread owns the only
 * writing connection. HTTP threads queue store_write jobs; the writer takes everything queued
 * (up to group_commit_max), runs each under its own SAVEPOINT inside one BEGIN IMMEDIATE ...
 * COMMIT, and only after COMMIT returns does it report each job's result. So a reply sent
 * after a successful write means the data is on disk, and one fsync serves a whole group.
 * If COMMIT fails (disk full, I/O error) every job of the group gets STORE_UNAVAILABLE and
 * the database is left as it was before the group: SQLite rolls the transaction back.
 *
 * Schema changes are migrations numbered by PRAGMA user_version; a database whose version is
 * newer than this binary's list is refused rather than misread. */
#include "gateway/store_sqlite_private.h"

#include "gateway/log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define STORE_PATH_MAX  4096
#define STORE_DIR_MODE  0750 /* the data folder: onestop and its group (backups) */
#define STORE_FILE_MODE 0600 /* the database: onestop only */

struct store {
    char path[STORE_PATH_MAX];
    sqlite3 *writer;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t queued;   /* writer waits for work */
    pthread_cond_t finished; /* sync writers wait for their job */
    struct store_write *head, *tail;
    bool stopping;
    long group_max;

    pthread_mutex_t read_lock;
    pthread_cond_t read_free;
    sqlite3 **readers;
    bool *reader_busy;
    long readers_len;

    struct store_stats stats;
};

/* ---- migrations ---- */

static const char *const migrations[] = {
    /* 1: foundation — staff, sessions, audit */
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE staff("
    "  id INTEGER PRIMARY KEY,"
    "  username TEXT NOT NULL UNIQUE,"
    "  role TEXT NOT NULL CHECK (role IN ('assistant','supervisor','admin')),"
    "  initials TEXT NOT NULL DEFAULT '',"
    "  password_hash TEXT NOT NULL,"
    "  disabled INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE sessions("
    "  token_hash TEXT PRIMARY KEY,"
    "  staff_id INTEGER NOT NULL REFERENCES staff(id),"
    "  counter TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL,"
    "  ended_at INTEGER);"
    "CREATE TABLE audit("
    "  id INTEGER PRIMARY KEY,"
    "  at INTEGER NOT NULL,"
    "  actor TEXT NOT NULL,"
    "  counter TEXT,"
    "  action TEXT NOT NULL,"
    "  subject TEXT,"
    "  detail TEXT,"
    "  remote TEXT);"
    "CREATE INDEX audit_action ON audit(action, id);",

    /* 2: transactions, payments, limit keys, the delivery outbox, print jobs, idempotency */
    "CREATE TABLE transactions("
    "  id INTEGER PRIMARY KEY,"
    "  reference TEXT NOT NULL UNIQUE,"
    "  service TEXT NOT NULL,"
    "  status TEXT NOT NULL CHECK (status IN"
    "    ('accepted','forwarded','completed','failed','voided')),"
    "  counter TEXT NOT NULL,"
    "  site TEXT,"
    "  staff TEXT NOT NULL,"
    "  fields TEXT NOT NULL,"
    "  fee_pence INTEGER NOT NULL CHECK (fee_pence >= 0),"
    "  lines TEXT NOT NULL,"
    "  live_until TEXT,"
    "  backend_reference TEXT,"
    "  status_note TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  completed_at INTEGER);"
    "CREATE INDEX transactions_created ON transactions(created_at);"
    "CREATE INDEX transactions_counter ON transactions(counter, created_at);"
    "CREATE TABLE payments("
    "  id INTEGER PRIMARY KEY,"
    "  transaction_id INTEGER NOT NULL REFERENCES transactions(id),"
    "  method TEXT NOT NULL CHECK (method IN ('cash','card','cheque','waived','none')),"
    "  amount_pence INTEGER NOT NULL CHECK (amount_pence >= 0),"
    "  tendered_pence INTEGER,"
    "  change_pence INTEGER,"
    "  auth_code TEXT,"
    "  reason TEXT,"
    "  authorised_by TEXT,"
    "  created_at INTEGER NOT NULL);"
    "CREATE INDEX payments_transaction ON payments(transaction_id);"
    "CREATE TABLE txn_keys("
    "  transaction_id INTEGER NOT NULL REFERENCES transactions(id),"
    "  name TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  live_from TEXT NOT NULL,"
    "  live_until TEXT NOT NULL);"
    "CREATE INDEX txn_keys_lookup ON txn_keys(name, value);"
    "CREATE TABLE deliveries("
    "  id INTEGER PRIMARY KEY,"
    "  transaction_id INTEGER NOT NULL UNIQUE REFERENCES transactions(id),"
    "  backend TEXT NOT NULL,"
    "  connector TEXT NOT NULL,"
    "  idempotency_key TEXT NOT NULL UNIQUE,"
    "  payload TEXT NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('pending','delivered','failed')),"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt_at_ms INTEGER NOT NULL,"
    "  last_status INTEGER,"
    "  last_error TEXT,"
    "  backend_reference TEXT,"
    "  next_poll_at_ms INTEGER,"
    "  created_at INTEGER NOT NULL,"
    "  delivered_at INTEGER,"
    "  failed_at INTEGER);"
    "CREATE INDEX deliveries_due ON deliveries(backend, state, next_attempt_at_ms);"
    "CREATE INDEX deliveries_poll ON deliveries(backend, next_poll_at_ms)"
    "  WHERE next_poll_at_ms IS NOT NULL;"
    "CREATE TABLE print_jobs("
    "  id INTEGER PRIMARY KEY,"
    "  transaction_id INTEGER NOT NULL REFERENCES transactions(id),"
    "  printer TEXT NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('pending','printing','printed','print_failed')),"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt_at_ms INTEGER NOT NULL,"
    "  job_id INTEGER,"
    "  last_error TEXT,"
    "  reprint_of INTEGER REFERENCES print_jobs(id),"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE INDEX print_jobs_due ON print_jobs(printer, state, next_attempt_at_ms);"
    "CREATE INDEX print_jobs_transaction ON print_jobs(transaction_id);"
    "CREATE TABLE idempotency("
    "  key TEXT PRIMARY KEY,"
    "  request_hash TEXT NOT NULL,"
    "  transaction_id INTEGER REFERENCES transactions(id),"
    "  status INTEGER NOT NULL,"
    "  response TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL);",

    /* 3: sessions remember when they were last used (server-side idle sign-out) */
    "ALTER TABLE sessions ADD COLUMN last_seen_at INTEGER;"
    "UPDATE sessions SET last_seen_at = created_at;",

    /* 4: a delivery's give-up deadline counts from the start of its current series of
     * attempts (its creation, or a supervisor's hand retry), not always from its creation */
    "ALTER TABLE deliveries ADD COLUMN series_started_at INTEGER;"
    "UPDATE deliveries SET series_started_at = created_at;",

    /* 5: deliveries remember an attempt whose outcome is unknown (lookup_before_resend), an
     * Open311 token still to exchange for the back-end's id, and a note for supervisors */
    "ALTER TABLE deliveries ADD COLUMN outcome_unknown INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE deliveries ADD COLUMN backend_token TEXT;"
    "ALTER TABLE deliveries ADD COLUMN token_polls INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE deliveries ADD COLUMN note TEXT;",

    /* 6: the auditor role (reads every site, changes nothing). A CHECK cannot be altered in
     * SQLite, so staff is rebuilt; its sessions are set aside and put back so that no
     * foreign key is left dangling while the old table is dropped. */
    "CREATE TEMP TABLE sessions_kept AS SELECT * FROM sessions;"
    "DELETE FROM sessions;"
    "CREATE TABLE staff_v6("
    "  id INTEGER PRIMARY KEY,"
    "  username TEXT NOT NULL UNIQUE,"
    "  role TEXT NOT NULL CHECK (role IN ('assistant','supervisor','admin','auditor')),"
    "  initials TEXT NOT NULL DEFAULT '',"
    "  password_hash TEXT NOT NULL,"
    "  disabled INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL);"
    "INSERT INTO staff_v6(id, username, role, initials, password_hash, disabled, created_at)"
    "  SELECT id, username, role, initials, password_hash, disabled, created_at FROM staff;"
    "DROP TABLE staff;"
    "ALTER TABLE staff_v6 RENAME TO staff;"
    "INSERT INTO sessions SELECT * FROM sessions_kept;"
    "DROP TABLE sessions_kept;",

    /* 7: an idempotency key belongs to the staff member who sent it (IETF Idempotency-Key
     * draft): the record is keyed by (staff, key); old records take their transaction's staff */
    "CREATE TABLE idempotency_v7("
    "  staff TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  request_hash TEXT NOT NULL,"
    "  transaction_id INTEGER REFERENCES transactions(id),"
    "  status INTEGER NOT NULL,"
    "  response TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (staff, key));"
    "INSERT INTO idempotency_v7(staff, key, request_hash, transaction_id, status, response,"
    "  created_at)"
    "  SELECT coalesce(t.staff, ''), i.key, i.request_hash, i.transaction_id, i.status,"
    "  i.response, i.created_at FROM idempotency i"
    "  LEFT JOIN transactions t ON t.id = i.transaction_id;"
    "DROP TABLE idempotency;"
    "ALTER TABLE idempotency_v7 RENAME TO idempotency;",

    /* 8: signed callbacks by event id (their Idempotency-Key, or their signature), with the
     * answer given: a resend gets it again, a replay is known after a restart */
    "CREATE TABLE callback_events("
    "  backend TEXT NOT NULL,"
    "  event_id TEXT NOT NULL,"
    "  request_hash TEXT NOT NULL,"
    "  status INTEGER NOT NULL,"
    "  response TEXT NOT NULL,"
    "  received_at INTEGER NOT NULL,"
    "  PRIMARY KEY (backend, event_id));",
    /* 9: stock kept per site (hearing aid batteries): what is on hand, never below zero, and
     * every movement (a sale's issue, a delivery received) with who and why */
    "CREATE TABLE stock("
    "  site TEXT NOT NULL,"
    "  item TEXT NOT NULL,"
    "  on_hand INTEGER NOT NULL CHECK (on_hand >= 0),"
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY (site, item));"
    "CREATE TABLE stock_movements("
    "  id INTEGER PRIMARY KEY,"
    "  site TEXT NOT NULL,"
    "  item TEXT NOT NULL,"
    "  delta INTEGER NOT NULL,"
    "  reference TEXT,"
    "  staff TEXT,"
    "  note TEXT,"
    "  created_at INTEGER NOT NULL);"
    "CREATE INDEX stock_movements_site ON stock_movements(site, item, created_at);",
    /* 10: callback events are pruned by age once they are past the replay window */
    "CREATE INDEX callback_events_received ON callback_events(received_at);",
    /* 11: referrals: an NHS e-Referral look-up that matched, kept only for the hand-off that may
     * follow at the same counter (no full NHS number: its last 3 digits for the slip) */
    "CREATE TABLE referral_lookups("
    "  lookup_id TEXT PRIMARY KEY,"
    "  counter TEXT NOT NULL,"
    "  staff TEXT NOT NULL,"
    "  made_at INTEGER NOT NULL,"
    "  ubrn TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  state_label TEXT NOT NULL,"
    "  priority TEXT NOT NULL,"
    "  nhs_last3 TEXT NOT NULL);"
    "CREATE INDEX referral_lookups_made_at ON referral_lookups(made_at);",
    /* 12: the audit trail is a hash chain (store_audit.c): each row holds the previous row's
     * hash and its own; rows written before are chained at open (store_audit_chain_start).
     * The triggers keep onestop's own code to appending chained rows (a forger with the file
     * can drop them: the chain is what catches a forger) */
    "ALTER TABLE audit ADD COLUMN prev_hash TEXT;"
    "ALTER TABLE audit ADD COLUMN hash TEXT;"
    "CREATE TRIGGER audit_append_only_insert BEFORE INSERT ON audit WHEN NEW.hash IS NULL"
    "  BEGIN SELECT RAISE(ABORT, 'audit rows are appended by store_audit_insert'); END;"
    "CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit WHEN OLD.hash IS NOT NULL"
    "  BEGIN SELECT RAISE(ABORT, 'audit rows are never changed'); END;"
    "CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit"
    "  BEGIN SELECT RAISE(ABORT, 'audit rows are never deleted'); END;",
    /* 13: retention (store_purge.c): when a transaction's personal fields were anonymised */
    "ALTER TABLE transactions ADD COLUMN purged_at INTEGER;"
    "CREATE INDEX transactions_unpurged ON transactions(service, completed_at)"
    "  WHERE purged_at IS NULL;",
    /* 14: the receipt the resident asked for at the counter: large print, its language */
    "ALTER TABLE print_jobs ADD COLUMN receipt_size TEXT NOT NULL DEFAULT 'standard';"
    "ALTER TABLE print_jobs ADD COLUMN receipt_language TEXT NOT NULL DEFAULT 'en';",
    /* 15: receipt copies by e-mail and text message (GOV.UK Notify), an outbox of their own:
     * the payload holds the contact only until Notify accepts the copy (then it is masked) */
    "CREATE TABLE receipt_copies("
    "  id INTEGER PRIMARY KEY,"
    "  transaction_id INTEGER NOT NULL REFERENCES transactions(id),"
    "  channel TEXT NOT NULL CHECK (channel IN ('email','sms')),"
    "  notify_reference TEXT NOT NULL UNIQUE,"
    "  payload TEXT NOT NULL,"
    "  masked_contact TEXT NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('pending','sent','failed')),"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt_at_ms INTEGER NOT NULL,"
    "  outcome_unknown INTEGER NOT NULL DEFAULT 0,"
    "  last_status INTEGER,"
    "  last_error TEXT,"
    "  note TEXT,"
    "  notification_id TEXT,"
    "  notify_status TEXT,"
    "  staff TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  sent_at INTEGER,"
    "  status_at INTEGER);"
    "CREATE INDEX receipt_copies_due ON receipt_copies(state, next_attempt_at_ms);"
    "CREATE INDEX receipt_copies_transaction ON receipt_copies(transaction_id);",
    /* 16: the till — one session per counter per London day (open -> counted -> closed) and
     * its movements in signed pence, each written with its cause (docs/till.md) */
    "CREATE TABLE tills("
    "  id INTEGER PRIMARY KEY,"
    "  counter TEXT NOT NULL,"
    "  site TEXT,"
    "  day TEXT NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('open','counted','closed')),"
    "  float_pence INTEGER NOT NULL CHECK (float_pence >= 0),"
    "  opened_at INTEGER NOT NULL,"
    "  opened_by TEXT NOT NULL,"
    "  denominations TEXT,"
    "  counted_pence INTEGER,"
    "  counted_at INTEGER,"
    "  counted_by TEXT,"
    "  counted_card_pence INTEGER,"
    "  counted_cheque_pence INTEGER,"
    "  expected_pence INTEGER,"
    "  banked_pence INTEGER,"
    "  bag_number TEXT,"
    "  note TEXT,"
    "  signed_by TEXT,"
    "  closed_at INTEGER,"
    "  UNIQUE (counter, day));"
    "CREATE INDEX tills_day ON tills(day);"
    "CREATE TABLE till_movements("
    "  id INTEGER PRIMARY KEY,"
    "  till_id INTEGER NOT NULL REFERENCES tills(id),"
    "  kind TEXT NOT NULL CHECK (kind IN"
    "    ('float','sale','refund','void','paid_in','paid_out')),"
    "  method TEXT NOT NULL CHECK (method IN ('cash','card','cheque')),"
    "  amount_pence INTEGER NOT NULL,"
    "  reference TEXT,"
    "  staff TEXT NOT NULL,"
    "  reason TEXT,"
    "  created_at INTEGER NOT NULL);"
    "CREATE INDEX till_movements_till ON till_movements(till_id, kind, method);"
    "CREATE INDEX till_movements_reference ON till_movements(reference)"
    "  WHERE reference IS NOT NULL;",
    /* 17: a void cancels a delivery: `cancelled` (never sent, or the back-end acknowledged
     * the cancellation), `cancelling` (a cancellation waits in the outbox), `cancel_failed`.
     * A CHECK cannot be altered in SQLite, so deliveries is rebuilt (nothing refers to it). */
    "CREATE TABLE deliveries_v11("
    "  id INTEGER PRIMARY KEY,"
    "  transaction_id INTEGER NOT NULL UNIQUE REFERENCES transactions(id),"
    "  backend TEXT NOT NULL,"
    "  connector TEXT NOT NULL,"
    "  idempotency_key TEXT NOT NULL UNIQUE,"
    "  payload TEXT NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN"
    "    ('pending','delivered','failed','cancelled','cancelling','cancel_failed')),"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt_at_ms INTEGER NOT NULL,"
    "  last_status INTEGER,"
    "  last_error TEXT,"
    "  backend_reference TEXT,"
    "  next_poll_at_ms INTEGER,"
    "  created_at INTEGER NOT NULL,"
    "  delivered_at INTEGER,"
    "  failed_at INTEGER,"
    "  series_started_at INTEGER,"
    "  outcome_unknown INTEGER NOT NULL DEFAULT 0,"
    "  backend_token TEXT,"
    "  token_polls INTEGER NOT NULL DEFAULT 0,"
    "  note TEXT,"
    "  cancelled_at INTEGER);"
    "INSERT INTO deliveries_v11(id, transaction_id, backend, connector, idempotency_key,"
    "  payload, state, attempts, next_attempt_at_ms, last_status, last_error,"
    "  backend_reference, next_poll_at_ms, created_at, delivered_at, failed_at,"
    "  series_started_at, outcome_unknown, backend_token, token_polls, note)"
    "  SELECT id, transaction_id, backend, connector, idempotency_key, payload, state,"
    "  attempts, next_attempt_at_ms, last_status, last_error, backend_reference,"
    "  next_poll_at_ms, created_at, delivered_at, failed_at, series_started_at,"
    "  outcome_unknown, backend_token, token_polls, note FROM deliveries;"
    "DROP TABLE deliveries;"
    "ALTER TABLE deliveries_v11 RENAME TO deliveries;"
    "CREATE INDEX deliveries_due ON deliveries(backend, state, next_attempt_at_ms);"
    "CREATE INDEX deliveries_poll ON deliveries(backend, next_poll_at_ms)"
    "  WHERE next_poll_at_ms IS NOT NULL;",
    /* 18: a print job may be a slip for something done to the sale since (a void, a refund):
     * its banner is printed large at the top ("VOID", "REFUND £1.50 CASH") */
    "ALTER TABLE print_jobs ADD COLUMN banner TEXT;",
    /* 19: uploaded documents (benefit evidence): the sealed file's id, its format, size, hash
     * and key id (never its file name, which may name the resident); the upload's counter and staff
     * (only they may attach it), when it expires unattached, the transaction it was attached to,
     * and when its file was deleted (the row stays as the record of what was received) */
    "CREATE TABLE documents("
    "  id TEXT PRIMARY KEY,"
    "  counter TEXT NOT NULL,"
    "  staff TEXT NOT NULL,"
    "  type TEXT NOT NULL,"
    "  bytes INTEGER NOT NULL,"
    "  sha256 TEXT NOT NULL,"
    "  pages INTEGER,"
    "  key_id TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL,"
    "  reference TEXT REFERENCES transactions(reference),"
    "  file_deleted_at INTEGER);"
    "CREATE INDEX documents_unattached ON documents(expires_at) WHERE reference IS NULL"
    "  AND file_deleted_at IS NULL;"
    "CREATE INDEX documents_reference ON documents(reference) WHERE reference IS NOT NULL;",
    /* 20: a print job is for a transaction (its receipt, a void or refund slip) or for a till
     * session (its cash-up slip): exactly one of the two. NOT NULL cannot be dropped in
     * SQLite, so print_jobs is rebuilt; reprint_of names the new table, and the rename makes
     * it print_jobs again. */
    "CREATE TABLE print_jobs_v20("
    "  id INTEGER PRIMARY KEY,"
    "  transaction_id INTEGER REFERENCES transactions(id),"
    "  till_id INTEGER REFERENCES tills(id),"
    "  printer TEXT NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('pending','printing','printed','print_failed')),"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt_at_ms INTEGER NOT NULL,"
    "  job_id INTEGER,"
    "  last_error TEXT,"
    "  reprint_of INTEGER REFERENCES print_jobs_v20(id),"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  receipt_size TEXT NOT NULL DEFAULT 'standard',"
    "  receipt_language TEXT NOT NULL DEFAULT 'en',"
    "  banner TEXT,"
    "  CHECK ((transaction_id IS NULL) <> (till_id IS NULL)));"
    "INSERT INTO print_jobs_v20(id, transaction_id, printer, state, attempts,"
    "  next_attempt_at_ms, job_id, last_error, reprint_of, created_at, updated_at,"
    "  receipt_size, receipt_language, banner)"
    "  SELECT id, transaction_id, printer, state, attempts, next_attempt_at_ms, job_id,"
    "  last_error, reprint_of, created_at, updated_at, receipt_size, receipt_language, banner"
    "  FROM print_jobs;"
    "DROP TABLE print_jobs;"
    "ALTER TABLE print_jobs_v20 RENAME TO print_jobs;"
    "CREATE INDEX print_jobs_due ON print_jobs(printer, state, next_attempt_at_ms);"
    "CREATE INDEX print_jobs_transaction ON print_jobs(transaction_id);"
    "CREATE INDEX print_jobs_till ON print_jobs(till_id) WHERE till_id IS NOT NULL;",
    /* 21: a limit key's value sealed under the data key (pd_seal_only: NULL without one) beside
     * its blind index, so `onestop keys rotate-index` can recompute the index under a new
     * index key; it goes with the key row when the key expires */
    "ALTER TABLE txn_keys ADD COLUMN sealed TEXT;",
};

#define MIGRATIONS_LEN ((int)(sizeof migrations / sizeof migrations[0]))

static int migration_count(void)
{
    return MIGRATIONS_LEN;
}

static const char *migration_sql(int index)
{
    return migrations[index];
}

const char *store_engine_name(void)
{
    return "sqlite";
}

enum store_result store_sqlite_result(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return STORE_OK;
    case SQLITE_CONSTRAINT:
        return STORE_CONFLICT;
    case SQLITE_NOTFOUND:
        return STORE_NOT_FOUND;
    default:
        return STORE_UNAVAILABLE;
    }
}

void store_log_error(sqlite3 *db, const char *what)
{
    log_msg(LOG_ERROR, "store_error", "%s: %s (sqlite code %d)", what, sqlite3_errmsg(db),
            sqlite3_extended_errcode(db));
}

sqlite3_stmt *store_prepare(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL) != SQLITE_OK) {
        store_log_error(db, "prepare");
        return NULL;
    }
    return stmt;
}

/* ---- the statement cache ----
 * One small table per connection, found by the connection's address in a registry filled at
 * open and emptied at close (when no thread uses the store). Entries are published with
 * release stores, so lookups need no lock. */
#define STMT_CACHE_MAX    96
#define STMT_REGISTRY_MAX 512

struct stmt_cache {
    _Atomic(sqlite3 *) db;
    int len;
    const char *sql[STMT_CACHE_MAX];
    sqlite3_stmt *stmt[STMT_CACHE_MAX];
};

static struct stmt_cache stmt_registry[STMT_REGISTRY_MAX];
static pthread_mutex_t stmt_registry_lock = PTHREAD_MUTEX_INITIALIZER;

static void stmt_cache_attach(sqlite3 *db)
{
    pthread_mutex_lock(&stmt_registry_lock);
    for (int i = 0; i < STMT_REGISTRY_MAX; i++) {
        if (atomic_load_explicit(&stmt_registry[i].db, memory_order_acquire) == NULL) {
            stmt_registry[i].len = 0;
            atomic_store_explicit(&stmt_registry[i].db, db, memory_order_release);
            break;
        }
    }
    pthread_mutex_unlock(&stmt_registry_lock);
}

static void stmt_cache_detach(sqlite3 *db)
{
    pthread_mutex_lock(&stmt_registry_lock);
    for (int i = 0; i < STMT_REGISTRY_MAX; i++) {
        struct stmt_cache *c = &stmt_registry[i];
        if (atomic_load_explicit(&c->db, memory_order_acquire) == db) {
            for (int k = 0; k < c->len; k++)
                sqlite3_finalize(c->stmt[k]);
            c->len = 0;
            atomic_store_explicit(&c->db, NULL, memory_order_release);
        }
    }
    pthread_mutex_unlock(&stmt_registry_lock);
}

static struct stmt_cache *stmt_cache_of(sqlite3 *db)
{
    for (int i = 0; i < STMT_REGISTRY_MAX; i++)
        if (atomic_load_explicit(&stmt_registry[i].db, memory_order_acquire) == db)
            return &stmt_registry[i];
    return NULL;
}

sqlite3_stmt *store_cached(sqlite3 *db, const char *sql)
{
    struct stmt_cache *c = stmt_cache_of(db); /* only the thread holding db touches it */
    if (c)
        for (int i = 0; i < c->len; i++)
            if (c->sql[i] == sql)
                return c->stmt[i];
    sqlite3_stmt *stmt = store_prepare(db, sql);
    if (stmt && c && c->len < STMT_CACHE_MAX) { /* else store_release finalizes it */
        c->sql[c->len] = sql;
        c->stmt[c->len] = stmt;
        c->len++;
    }
    return stmt;
}

void store_release(sqlite3_stmt *stmt)
{
    if (!stmt)
        return;
    struct stmt_cache *c = stmt_cache_of(sqlite3_db_handle(stmt));
    for (int i = 0; c && i < c->len; i++)
        if (c->stmt[i] == stmt) {
            sqlite3_reset(stmt);
            sqlite3_clear_bindings(stmt);
            return;
        }
    sqlite3_finalize(stmt);
}

static bool exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return false;
    }
    return true;
}

static int user_version(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

static bool migrate(sqlite3 *db, char *err, size_t errlen)
{
    int have = user_version(db);
    int know = migration_count();
    if (have < 0) {
        snprintf(err, errlen, "cannot read the schema version: %s", sqlite3_errmsg(db));
        return false;
    }
    if (have > know) {
        snprintf(err, errlen,
                 "the database schema is version %d but this onestopd knows versions up to %d; "
                 "it was written by a newer onestop — run that version, or restore a backup",
                 have, know);
        return false;
    }
    for (int v = have; v < know; v++) {
        char sql[64];
        if (!exec(db, "BEGIN IMMEDIATE", err, errlen))
            return false;
        snprintf(sql, sizeof sql, "PRAGMA user_version=%d", v + 1);
        if (!exec(db, migration_sql(v), err, errlen) || !exec(db, sql, err, errlen)) {
            char ignored[64];
            exec(db, "ROLLBACK", ignored, sizeof ignored);
            return false;
        }
        if (!exec(db, "COMMIT", err, errlen))
            return false;
        log_msg(LOG_INFO, "store_migrated", "schema migrated to version %d", v + 1);
    }
    return true;
}

static sqlite3 *open_connection(const char *path, long busy_ms, bool writer,
                                const struct field_crypt *crypt, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(path, &db, flags, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", path, db ? sqlite3_errmsg(db) : "no memory");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, (int)busy_ms);
    /* cache_size: the writer keeps the hot pages of the indexes (16 MiB; the default 2 MiB
     * made every group re-read them); wal_autocheckpoint: a page changed by many groups is
     * copied back into the database once per 4000 WAL pages instead of once per 1000;
     * temp_store: sorts and temporary b-trees stay in memory; secure_delete: the bytes of a
     * value replaced or deleted (a purge, the sealing of what an older binary left in plain
     * text) are zeroed, not left in a free page. */
    const char *pragmas = writer ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                                   "PRAGMA foreign_keys=ON; PRAGMA wal_autocheckpoint=4000;"
                                   "PRAGMA cache_size=-16384; PRAGMA temp_store=MEMORY;"
                                   "PRAGMA secure_delete=ON;"
                                 : "PRAGMA foreign_keys=ON; PRAGMA query_only=ON;"
                                   "PRAGMA cache_size=-8192; PRAGMA temp_store=MEMORY;";
    if (!exec(db, pragmas, err, errlen) || !store_crypt_attach(db, crypt, err, errlen)) {
        sqlite3_close(db);
        return NULL;
    }
    stmt_cache_attach(db);
    return db;
}

static void close_connection(sqlite3 *db)
{
    stmt_cache_detach(db);
    sqlite3_close_v2(db);
}

/* ---- the writer ---- */

/* Runs one group of writes in one database transaction. Each job runs under its own
 * SAVEPOINT, so a job that fails is undone alone and the others still commit. Every step of
 * that bracket is checked: when a SAVEPOINT cannot be opened, released or rolled back to, we
 * can no longer tell which rows belong to which job, so the whole group is rolled back and
 * every job in it gets STORE_UNAVAILABLE — never a commit of a refused job's partial rows. */
/* One statement of the group's bracket (BEGIN, SAVEPOINT, RELEASE, ROLLBACK TO, COMMIT),
 * prepared once and kept in the writer's statement cache: sqlite3_exec parsed each of them
 * again for every job. */
static bool bracket(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
    sqlite3_stmt *st = store_cached(db, sql);
    if (!st) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(db));
        return false;
    }
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        snprintf(err, errlen, "%s", sqlite3_errmsg(db));
    store_release(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW;
}

static void run_group(struct store *store, struct store_write *group, long count)
{
    sqlite3 *db = store->writer;
    char err[256];
    bool began = bracket(db, "BEGIN IMMEDIATE", err, sizeof err);
    if (!began)
        log_msg(LOG_ERROR, "store_unavailable", "cannot begin a write: %s", err);
    bool aborted = !began;
    for (struct store_write *w = group; w; w = w->next) {
        if (aborted) {
            w->result = STORE_UNAVAILABLE;
            continue;
        }
        if (!bracket(db, "SAVEPOINT job", err, sizeof err)) {
            log_msg(LOG_ERROR, "store_unavailable", "cannot open a savepoint: %s", err);
            aborted = true;
            continue;
        }
        w->result = w->run(db, w->arg);
        if (sqlite3_get_autocommit(db)) {
            /* SQLite rolled the whole transaction back (e.g. SQLITE_FULL): the group is lost */
            aborted = true;
            log_msg(LOG_ERROR, "store_unavailable", "write group rolled back: %s",
                    sqlite3_errmsg(db));
        } else if (w->result == STORE_OK) {
            if (!bracket(db, "RELEASE job", err, sizeof err)) {
                log_msg(LOG_ERROR, "store_unavailable", "cannot release a savepoint: %s", err);
                aborted = true;
            }
        } else if (!bracket(db, "ROLLBACK TO job", err, sizeof err) ||
                   !bracket(db, "RELEASE job", err, sizeof err)) {
            /* the refused job's rows may still be in the transaction: commit nothing */
            log_msg(LOG_ERROR, "store_unavailable",
                    "cannot undo a refused write (%s); the whole group is rolled back", err);
            aborted = true;
        }
    }
    if (!aborted && !bracket(db, "COMMIT", err, sizeof err)) {
        log_msg(LOG_ERROR, "store_unavailable", "commit failed (disk full or unwritable?): %s",
                err);
        aborted = true;
    }
    if (aborted) {
        if (began && !sqlite3_get_autocommit(db) && !bracket(db, "ROLLBACK", err, sizeof err))
            log_msg(LOG_ERROR, "store_unavailable", "rollback failed: %s", err);
        for (struct store_write *w = group; w; w = w->next)
            w->result = STORE_UNAVAILABLE;
    }
    pthread_mutex_lock(&store->lock);
    store->stats.commits += aborted ? 0 : 1;
    store->stats.failed_commits += aborted ? 1 : 0;
    store->stats.writes += (uint64_t)count;
    if (count > store->stats.max_batch)
        store->stats.max_batch = count;
    pthread_mutex_unlock(&store->lock);
}

/* Reports each write of list (its result set) to whoever waits for it; called with the lock
 * held, returns with it released. Sync waiters are marked done under the lock (each may
 * return and drop its stack frame as soon as we unlock); async writes are notified outside
 * it (their notify frees them), in the order they were queued. */
static void finish_writes(struct store *store, struct store_write *list)
{
    struct store_write *async_head = NULL, **async_tail = &async_head;
    for (struct store_write *w = list, *next; w; w = next) {
        next = w->next;
        if (w->notify) {
            w->next = NULL;
            *async_tail = w;
            async_tail = &w->next;
        } else {
            w->done = true;
        }
    }
    pthread_cond_broadcast(&store->finished);
    pthread_mutex_unlock(&store->lock);
    for (struct store_write *w = async_head, *next; w; w = next) {
        next = w->next;
        w->done = true;
        w->notify(w, w->notify_ctx);
    }
}

static void *writer_main(void *arg)
{
    struct store *store = arg;
    log_set_request_id("store-writer");
    pthread_mutex_lock(&store->lock);
    for (;;) {
        while (!store->head && !store->stopping)
            pthread_cond_wait(&store->queued, &store->lock);
        if (!store->head && store->stopping)
            break;
        struct store_write *group = store->head, *last = group;
        long count = 1;
        while (last->next && count < store->group_max) {
            last = last->next;
            count++;
        }
        store->head = last->next;
        if (!store->head)
            store->tail = NULL;
        store->stats.queued -= count;
        store->stats.writing = count;
        last->next = NULL;
        pthread_mutex_unlock(&store->lock);

        run_group(store, group, count);

        pthread_mutex_lock(&store->lock);
        store->stats.writing = 0;
        finish_writes(store, group);
        pthread_mutex_lock(&store->lock);
    }
    pthread_mutex_unlock(&store->lock);
    return NULL;
}

static void enqueue(struct store *store, struct store_write *w)
{
    w->next = NULL;
    w->done = false;
    pthread_mutex_lock(&store->lock);
    if (store->tail)
        store->tail->next = w;
    else
        store->head = w;
    store->tail = w;
    store->stats.queued++;
    pthread_cond_signal(&store->queued);
    pthread_mutex_unlock(&store->lock);
}

void store_write_async(struct store *store, struct store_write *write)
{
    enqueue(store, write);
}

enum store_result store_write_sync(struct store *store, store_write_fn run, void *arg)
{
    struct store_write w = {.run = run, .arg = arg};
    enqueue(store, &w);
    pthread_mutex_lock(&store->lock);
    while (!w.done)
        pthread_cond_wait(&store->finished, &store->lock);
    pthread_mutex_unlock(&store->lock);
    return w.result;
}

long store_refuse_queued(struct store *store)
{
    pthread_mutex_lock(&store->lock);
    struct store_write *list = store->head;
    store->head = store->tail = NULL;
    store->stats.queued = 0;
    long n = 0;
    for (struct store_write *w = list; w; w = w->next) {
        w->result = STORE_UNAVAILABLE;
        n++;
    }
    finish_writes(store, list);
    return n;
}

/* ---- readers ---- */

sqlite3 *store_reader_acquire(struct store *store)
{
    pthread_mutex_lock(&store->read_lock);
    for (;;) {
        for (long i = 0; i < store->readers_len; i++) {
            if (!store->reader_busy[i]) {
                store->reader_busy[i] = true;
                pthread_mutex_unlock(&store->read_lock);
                return store->readers[i];
            }
        }
        pthread_cond_wait(&store->read_free, &store->read_lock);
    }
}

void store_reader_release(struct store *store, sqlite3 *db)
{
    pthread_mutex_lock(&store->read_lock);
    for (long i = 0; i < store->readers_len; i++)
        if (store->readers[i] == db)
            store->reader_busy[i] = false;
    pthread_cond_signal(&store->read_free);
    pthread_mutex_unlock(&store->read_lock);
}

/* ---- open / close ---- */

/* The database holds residents' personal data: the folder is created 0750 and warned about
 * when anyone else may enter it; the database (and so its WAL and shared-memory files, which
 * SQLite creates with the database's mode) is created 0600, and tightened to 0600 with a warning
 * when an older onestopd left it readable by others. */
static bool prepare_data_files(const char *data_dir, const char *db_path, char *err, size_t errlen)
{
    struct stat st;
    if (mkdir(data_dir, STORE_DIR_MODE) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create data folder %s: %s", data_dir, strerror(errno));
        return false;
    }
    if (stat(data_dir, &st) == 0 && (st.st_mode & S_IRWXO))
        log_msg(LOG_WARN, "data_folder_open",
                "data folder %s can be entered by every user (mode %03o); chmod 750 it", data_dir,
                (unsigned)(st.st_mode & 0777));
    int fd = open(db_path, O_RDWR | O_CREAT | O_CLOEXEC, STORE_FILE_MODE);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", db_path, strerror(errno));
        return false;
    }
    close(fd);
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char path[STORE_PATH_MAX + 16];
        snprintf(path, sizeof path, "%s%s", db_path, suffixes[i]);
        if (stat(path, &st) != 0 || !(st.st_mode & (S_IRWXG | S_IRWXO)))
            continue;
        log_msg(LOG_WARN, "data_file_open", "%s was readable by other users (mode %03o); now 600",
                path, (unsigned)(st.st_mode & 0777));
        if (chmod(path, STORE_FILE_MODE) != 0)
            log_msg(LOG_WARN, "data_file_open", "cannot chmod %s: %s", path, strerror(errno));
    }
    return true;
}

struct store *store_open(const struct store_options *opts, char *err, size_t errlen)
{
    char db_path[STORE_PATH_MAX];
    snprintf(db_path, sizeof db_path, "%s/%s", opts->data_dir, STORE_FILE_NAME);
    if (!prepare_data_files(opts->data_dir, db_path, err, errlen))
        return NULL;
    struct store *store = calloc(1, sizeof *store);
    if (!store) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(store->path, sizeof store->path, "%s/%s", opts->data_dir, STORE_FILE_NAME);
    store->group_max = opts->group_commit_max > 0 ? opts->group_commit_max : 256;
    store->writer =
        open_connection(store->path, opts->busy_timeout_ms, true, opts->crypt, err, errlen);
    if (!store->writer) {
        free(store);
        return NULL;
    }
    if (!migrate(store->writer, err, errlen) ||
        !store_audit_chain_start(store->writer, err, errlen) ||
        !store_crypt_start(store->writer, opts->crypt, err, errlen)) {
        close_connection(store->writer);
        free(store);
        return NULL;
    }
    store->readers_len = opts->read_connections > 0 ? opts->read_connections : 4;
    store->readers = calloc((size_t)store->readers_len, sizeof *store->readers);
    store->reader_busy = calloc((size_t)store->readers_len, sizeof *store->reader_busy);
    for (long i = 0; i < store->readers_len; i++) {
        store->readers[i] =
            open_connection(store->path, opts->busy_timeout_ms, false, opts->crypt, err, errlen);
        if (!store->readers[i]) {
            store->readers_len = i;
            store->thread = 0;
            store_close(store);
            return NULL;
        }
    }
    pthread_mutex_init(&store->lock, NULL);
    pthread_cond_init(&store->queued, NULL);
    pthread_cond_init(&store->finished, NULL);
    pthread_mutex_init(&store->read_lock, NULL);
    pthread_cond_init(&store->read_free, NULL);
    if (pthread_create(&store->thread, NULL, writer_main, store) != 0) {
        snprintf(err, errlen, "cannot start the store writer thread");
        store->thread = 0;
        store_close(store);
        return NULL;
    }
    return store;
}

void store_close(struct store *store)
{
    if (!store)
        return;
    if (store->thread) {
        pthread_mutex_lock(&store->lock);
        store->stopping = true;
        pthread_cond_signal(&store->queued);
        pthread_mutex_unlock(&store->lock);
        pthread_join(store->thread, NULL);
    }
    for (long i = 0; i < store->readers_len; i++)
        close_connection(store->readers[i]);
    free(store->readers);
    free(store->reader_busy);
    if (store->writer) {
        char err[128];
        exec(store->writer, "PRAGMA wal_checkpoint(TRUNCATE)", err, sizeof err);
        close_connection(store->writer);
    }
    free(store);
}

void store_stats(struct store *store, struct store_stats *out)
{
    pthread_mutex_lock(&store->lock);
    *out = store->stats;
    pthread_mutex_unlock(&store->lock);
}

/* ---- the engine-neutral job layer (store.h) over the SQLite writes ---- */

struct store_tx {
    sqlite3 *db;
};

sqlite3 *store_tx_db(struct store_tx *tx)
{
    return tx->db;
}

static enum store_result job_run(sqlite3 *db, void *arg)
{
    struct store_job *job = arg;
    struct store_tx tx = {db};
    return job->run(&tx, job->arg);
}

static void job_notify(struct store_write *write, void *ctx)
{
    struct store_job *job = ctx;
    enum store_result result = write->result;
    free(write);
    if (job->done)
        job->done(job, result);
}

void store_submit(struct store *store, struct store_job *job)
{
    struct store_write *w = calloc(1, sizeof *w);
    if (!w) {
        if (job->done)
            job->done(job, STORE_UNAVAILABLE);
        return;
    }
    w->run = job_run;
    w->arg = job;
    w->notify = job_notify;
    w->notify_ctx = job;
    store_write_async(store, w);
}

struct sync_job {
    enum store_result (*run)(struct store_tx *, void *);
    void *arg;
};

static enum store_result sync_job_run(sqlite3 *db, void *arg)
{
    struct sync_job *j = arg;
    struct store_tx tx = {db};
    return j->run(&tx, j->arg);
}

enum store_result store_run(struct store *store,
                            enum store_result (*run)(struct store_tx *, void *), void *arg)
{
    struct sync_job j = {run, arg};
    return store_write_sync(store, sync_job_run, &j);
}

static enum store_result write_probe(sqlite3 *db, void *arg)
{
    (void)arg;
    sqlite3_stmt *st =
        store_cached(db, "INSERT INTO meta(key, value) VALUES('last_probe', strftime('%s','now'))"
                         " ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    if (!st)
        return STORE_UNAVAILABLE;
    int rc = sqlite3_step(st);
    store_release(st);
    return store_sqlite_result(rc);
}

enum store_result store_check_writable(struct store *store)
{
    return store_write_sync(store, write_probe, NULL);
}

int store_schema_version(struct store *store)
{
    sqlite3 *db = store_reader_acquire(store);
    int v = user_version(db);
    store_reader_release(store, db);
    return v;
}
