/* store/sqlite/migrations: the SQLite schema, as migrations numbered by PRAGMA user_version;
 * a database whose version is newer than this binary's list is refused rather than misread. */
#include "gateway/store/sqlite/sqlite.h"

#include "gateway/log.h"

#include <stdio.h>

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
    /* 12: the audit trail is a hash chain (store/audit.c): each row holds the previous row's
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
    /* 13: retention (store/purge.c): when a transaction's personal fields were anonymised */
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
    /* 22: a delivery claimed by a node (several nodes on one database): which node holds it
     * and until when (wall-clock ms); NULL when no node does */
    "ALTER TABLE deliveries ADD COLUMN lease_owner TEXT;"
    "ALTER TABLE deliveries ADD COLUMN lease_until_ms INTEGER;",
    /* 23: what a sale writes, made cheaper. A CHECK (col IN (...)) of more than two values
     * makes SQLite build a temporary b-tree of the list for every row it checks (each sale's
     * insert into transactions, payments, till_movements): the same rules as ORs of
     * equalities are compared in place. A CHECK cannot be altered in SQLite and transactions
     * cannot be rebuilt under its foreign keys, so the tables' CREATE text is edited as SQLite
     * documents for changing a CHECK (writable_schema; db_sqlite_migrate then bumps
     * schema_version). The rows on disk do not change: every stored row met the old rule and
     * meets the new one. */
    "PRAGMA writable_schema=ON;"
    "UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (status IN    "
    "(''accepted'',''forwarded'',''completed'',''failed'',''voided''))',"
    "  'CHECK (status=''accepted'' OR status=''forwarded'' OR status=''completed'' OR "
    "status=''failed'' OR status=''voided'')')"
    "  WHERE type = 'table' AND name = 'transactions';"
    "UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (method IN "
    "(''cash'',''card'',''cheque'',''waived'',''none''))',"
    "  'CHECK (method=''cash'' OR method=''card'' OR method=''cheque'' OR method=''waived'' OR "
    "method=''none'')')"
    "  WHERE type = 'table' AND name = 'payments';"
    "UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (role IN "
    "(''assistant'',''supervisor'',''admin'',''auditor''))',"
    "  'CHECK (role=''assistant'' OR role=''supervisor'' OR role=''admin'' OR role=''auditor'')')"
    "  WHERE type = 'table' AND name = 'staff';"
    "UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (state IN "
    "(''pending'',''sent'',''failed''))',"
    "  'CHECK (state=''pending'' OR state=''sent'' OR state=''failed'')')"
    "  WHERE type = 'table' AND name = 'receipt_copies';"
    "UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (state IN "
    "(''open'',''counted'',''closed''))',"
    "  'CHECK (state=''open'' OR state=''counted'' OR state=''closed'')')"
    "  WHERE type = 'table' AND name = 'tills';"
    "UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (kind IN    "
    "(''float'',''sale'',''refund'',''void'',''paid_in'',''paid_out''))',"
    "  'CHECK (kind=''float'' OR kind=''sale'' OR kind=''refund'' OR kind=''void'' OR "
    "kind=''paid_in'' OR kind=''paid_out'')')"
    "  WHERE type = 'table' AND name = 'till_movements';"
    "UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (method IN "
    "(''cash'',''card'',''cheque''))',"
    "  'CHECK (method=''cash'' OR method=''card'' OR method=''cheque'')')"
    "  WHERE type = 'table' AND name = 'till_movements';"
    "UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (state IN "
    "(''pending'',''printing'',''printed'',''print_failed''))',"
    "  'CHECK (state=''pending'' OR state=''printing'' OR state=''printed'' OR "
    "state=''print_failed'')')"
    "  WHERE type = 'table' AND name = 'print_jobs';"
    "PRAGMA writable_schema=OFF;"
    /* ... and a till movement is indexed by its sale's reference only when it is a refund or a
     * void (what money.c and report.c look up by reference), not for every sale */
    "DROP INDEX till_movements_reference;"
    "CREATE INDEX till_movements_reference ON till_movements(reference)"
    "  WHERE kind = 'refund' OR kind = 'void';"
    /* ... and a delivery's idempotency key is no longer an index of its own: it is
     * "onestop-<reference>" for the one delivery of a transaction (transaction_id is UNIQUE,
     * and so is the reference), and nothing looks a delivery up by it. A random key's index
     * dirtied one more page of the WAL for nearly every sale. A UNIQUE cannot be dropped in
     * SQLite, so deliveries is rebuilt (nothing refers to it), its state CHECK in the new form. */
    "CREATE TABLE deliveries_v23("
    "  id INTEGER PRIMARY KEY,"
    "  transaction_id INTEGER NOT NULL UNIQUE REFERENCES transactions(id),"
    "  backend TEXT NOT NULL,"
    "  connector TEXT NOT NULL,"
    "  idempotency_key TEXT NOT NULL,"
    "  payload TEXT NOT NULL,"
    "  state TEXT NOT NULL CHECK (state='pending' OR state='delivered' OR state='failed'"
    "    OR state='cancelled' OR state='cancelling' OR state='cancel_failed'),"
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
    "  cancelled_at INTEGER,"
    "  lease_owner TEXT,"
    "  lease_until_ms INTEGER);"
    "INSERT INTO deliveries_v23(id, transaction_id, backend, connector, idempotency_key, payload, "
    "state, attempts, next_attempt_at_ms, last_status, last_error, backend_reference, "
    "next_poll_at_ms, created_at, delivered_at, failed_at, series_started_at, outcome_unknown, "
    "backend_token, token_polls, note, cancelled_at, lease_owner, lease_until_ms)"
    "  SELECT id, transaction_id, backend, connector, idempotency_key, payload, state, attempts, "
    "next_attempt_at_ms, last_status, last_error, backend_reference, next_poll_at_ms, created_at, "
    "delivered_at, failed_at, series_started_at, outcome_unknown, backend_token, token_polls, "
    "note, cancelled_at, lease_owner, lease_until_ms FROM deliveries;"
    "DROP TABLE deliveries;"
    "ALTER TABLE deliveries_v23 RENAME TO deliveries;"
    "CREATE INDEX deliveries_due ON deliveries(backend, state, next_attempt_at_ms);"
    "CREATE INDEX deliveries_poll ON deliveries(backend, next_poll_at_ms)"
    "  WHERE next_poll_at_ms IS NOT NULL;",
    /* 24: failed sign-ins counted in the database, so the nodes sharing one count together
     * (store/signin.h; a single node counts in memory and leaves it empty); keyed by the
     * blind index of "address" or "address + username", never the username */
    "CREATE TABLE signin_failures(key TEXT PRIMARY KEY, failures INTEGER NOT NULL,"
    "  window_start INTEGER NOT NULL, locked_until INTEGER NOT NULL, last_seen INTEGER NOT NULL);"
    "CREATE INDEX signin_failures_seen ON signin_failures(last_seen);"
    /* and the node that began a print job's last attempt (store_node_id), so a node that takes
     * a printer over leaves another node's attempt in flight to it (spooler.c) */
    "ALTER TABLE print_jobs ADD COLUMN attempt_owner TEXT;",
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

int db_sqlite_schema_latest(void)
{
    return MIGRATIONS_LEN;
}

int db_sqlite_schema_version(struct db *conn)
{
    sqlite3 *db = db_sqlite_handle(conn);
    sqlite3_stmt *st = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* After a migration that edited sqlite_schema itself (writable_schema), its schema cookie is
 * moved on by one, as SQLite's own procedure for such edits asks: every connection then
 * reads the tables' new text before its next statement. Other migrations' DDL moved it
 * already; one more step does no harm. */
static bool schema_version_bump(struct db *db, char *err, size_t errlen)
{
    sqlite3 *handle = db_sqlite_handle(db);
    sqlite3_stmt *st = NULL;
    long long v = -1;
    if (sqlite3_prepare_v2(handle, "PRAGMA schema_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (v < 0) {
        snprintf(err, errlen, "cannot read the schema cookie: %s", db_errmsg(db));
        return false;
    }
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA schema_version=%lld", v + 1);
    return db_exec(db, sql, err, errlen);
}

bool db_sqlite_migrate(struct db *db, char *err, size_t errlen)
{
    int have = db_sqlite_schema_version(db);
    int know = migration_count();
    if (have < 0) {
        snprintf(err, errlen, "cannot read the schema version: %s", db_errmsg(db));
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
        if (!db_begin(db, err, errlen))
            return false;
        snprintf(sql, sizeof sql, "PRAGMA user_version=%d", v + 1);
        if (!db_exec(db, migration_sql(v), err, errlen) || !schema_version_bump(db, err, errlen) ||
            !db_exec(db, sql, err, errlen)) {
            char ignored[64];
            db_exec(db, "ROLLBACK", ignored, sizeof ignored);
            return false;
        }
        if (!db_exec(db, "COMMIT", err, errlen))
            return false;
        log_msg(LOG_INFO, "store_migrated", "schema migrated to version %d", v + 1);
    }
    return true;
}
