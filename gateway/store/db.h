/* db: the small SQL interface both store engines implement (SQLite, PostgreSQL).
 *
 * The store's domain code (transactions, deliveries, print jobs, staff, till, documents,
 * audit) is written once against this interface; an engine is a connection type and the
 * operations below (struct db_ops in db_engine.h). Callers outside gateway/store never see
 * it.
 *
 * The SQL both engines accept (the store's dialect):
 *   - placeholders `?` (numbered from 1 in order) or `?N`; the PostgreSQL engine rewrites
 *     them to `$N` (outside quoted strings);
 *   - values are TEXT or 64-bit integers (times are unix seconds or milliseconds, booleans
 *     0/1, money integer pence); no BLOBs, no floating point in stored columns;
 *   - a parameter's type follows from its use (PostgreSQL infers it; values are sent as
 *     text): one used only in `?N IS NULL`, as a CASE's only result (no ELSE), or against a
 *     literal (`?N > 0`) is cast, `CAST(?N AS TEXT)` / `CAST(?N AS BIGINT)`;
 *   - `x IS NOT DISTINCT FROM ?`, never `x IS ?`; every subquery in FROM has an alias;
 *     qualified columns in `DO UPDATE SET` (`t.c + ?`);
 *   - `INSERT ... ON CONFLICT ... DO NOTHING | DO UPDATE`, never `INSERT OR ...`;
 *   - `... RETURNING id` for a new row's id, never last_insert_rowid;
 *   - COALESCE, CASE, MIN/MAX as aggregates only (scalar: CASE), no date, strftime,
 *     julianday, json_extract, GLOB, IFNULL, or `rowid` (a day is `seconds / 86400`);
 *   - personal data through the engine's functions pd_seal(?N, <context>),
 *     pd_open(column, <context>) and pd_blind(?K, ?V) (store_crypt), where <context> (the
 *     AES-GCM associated data that binds a value to its row or column) is a string
 *     literal, a bound parameter or a plain column of the same row: SQLite registers them as
 *     SQL functions; the PostgreSQL engine evaluates them in the client (it seals bound values
 *     before sending them and opens result columns after reading them), so keys never reach
 *     the server.
 *
 * A connection is used by one thread at a time. Statements from db_cached are kept per
 * connection (keyed by the SQL literal's address): release them, never finalize them. */
#ifndef ONESTOP_STORE_DB_H
#define ONESTOP_STORE_DB_H

#include "gateway/store.h"

#include <stdbool.h>
#include <stdint.h>

struct db;
struct db_stmt;

enum db_step {
    DB_ROW,
    DB_DONE,
    DB_ERROR, /* see db_result / db_errmsg on the statement's connection */
};

/* Prepares sql; the caller finalizes it. NULL on failure (logged). */
struct db_stmt *db_prepare(struct db *db, const char *sql);
/* The same statement prepared once per connection and kept; sql must be a string literal. */
struct db_stmt *db_cached(struct db *db, const char *sql);
/* Resets a statement from db_cached (its bindings cleared) for its next use; NULL is fine. */
void db_release(struct db_stmt *st);
/* Frees a statement from db_prepare; NULL is fine. */
void db_finalize(struct db_stmt *st);

/* Bindings, 1-based. db_bind_text with NULL binds NULL. false when the index is out of
 * range or memory ran out (the step then fails). */
bool db_bind_text(struct db_stmt *st, int index, const char *text);
bool db_bind_int64(struct db_stmt *st, int index, int64_t value);
bool db_bind_null(struct db_stmt *st, int index);

/* Runs the statement (on the first call) and moves to its next row. */
enum db_step db_step(struct db_stmt *st);

/* Result columns of the current row, 0-based. db_column_text is NULL for NULL and stays
 * valid until the next step, release or finalize. db_column_int64 is 0 for NULL. */
bool db_column_is_null(struct db_stmt *st, int col);
int64_t db_column_int64(struct db_stmt *st, int col);
const char *db_column_text(struct db_stmt *st, int col);

/* Rows changed by the last INSERT, UPDATE or DELETE statement stepped on db. */
int64_t db_changes(struct db *db);
/* Runs one or more statements without parameters or results (BEGIN, SAVEPOINT, DDL).
 * false with the engine's message in err. */
bool db_exec(struct db *db, const char *sql, char *err, size_t errlen);

/* The last failure on db as a store_result: a unique or check constraint is
 * STORE_CONFLICT; disk full, I/O, read-only, a lost connection are STORE_UNAVAILABLE. */
enum store_result db_result(struct db *db);
/* The engine's message for the last failure on db (for the log; never shown to a user). */
const char *db_errmsg(struct db *db);
/* A failed write that is worth running again as it was (SQLite: busy; PostgreSQL: a
 * serialization failure or deadlock): the writer retries its group. */
bool db_retryable(struct db *db);

/* Opens the writer's transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: BEGIN); COMMIT,
 * ROLLBACK and SAVEPOINTs go through db_exec. */
bool db_begin(struct db *db, char *err, size_t errlen);
/* Closes a connection and every statement kept for it; NULL is fine. */
void db_close(struct db *db);

/* The engine's name: "sqlite" or "postgresql". */
const char *db_engine(struct db *db);

/* Whether a transaction is open on db now: false after the engine rolled a failed one back
 * by itself (SQLite does on disk full; PostgreSQL keeps it open, aborted, until ROLLBACK). */
bool db_in_transaction(struct db *db);
/* Leaves no copy of replaced or deleted values in files the engine can clear itself: SQLite
 * empties its WAL (a TRUNCATE checkpoint; secure_delete is always on, so freed pages are
 * zeroed); an engine with nothing to clear does nothing. false when it could not now (readers
 * still on older pages): the next checkpoint will. */
bool db_forget_freed(struct db *db);

/* Locks across the processes that share a database (several onestopd nodes on PostgreSQL).
 * On an engine with one writer for the whole database (SQLite) they are always granted and
 * cost nothing.
 *
 * db_shared: whether several processes may write db at once; a query that claims rows then
 * selects them `FOR UPDATE SKIP LOCKED` (the engine-specific text: pick the literal by this).
 * db_lock_key: a lock's key, a 64-bit hash of its space ("audit", "printer") and name.
 * db_lock_xact: waits for the transaction-scoped lock `key` (released at COMMIT or ROLLBACK);
 * false when the engine failed (db_result).
 * db_hold_session: whether this connection's session holds the session lock `key`, taking it
 * when it is free: *hold is DB_HOLD_KEPT (held already), DB_HOLD_TAKEN (it was free and is held
 * now) or DB_HOLD_NONE (another session holds it); a lock is kept until db_unlock_session or the
 * session ends, and a session ends with its connection (a node that dies frees its locks; a
 * connection the engine makes again is a new session, so after a reset the answer is TAKEN or
 * NONE, never KEPT). *session names the session (PostgreSQL: the backend's pid; 0 on an engine
 * without these locks) for db_session_holds. false when the engine failed (db_result).
 * db_session_holds: from any connection, whether `session` holds the session lock `key` now
 * (always on an engine without these locks); false when the engine failed. */
enum db_hold { DB_HOLD_NONE, DB_HOLD_KEPT, DB_HOLD_TAKEN };
bool db_shared(struct db *db);
int64_t db_lock_key(const char *space, const char *name);
bool db_lock_xact(struct db *db, int64_t key) __attribute__((warn_unused_result));
bool db_hold_session(struct db *db, int64_t key, enum db_hold *hold, int64_t *session)
    __attribute__((warn_unused_result));
bool db_session_holds(struct db *db, int64_t key, int64_t session, bool *held)
    __attribute__((warn_unused_result));
bool db_unlock_session(struct db *db, int64_t key);

/* The audit chain's head as the open transaction left it, so that an engine on which reading
 * it back costs a round trip (PostgreSQL) need not read it for every row: store_audit_insert
 * keeps the row it appended (db_chain_head_keep) while its transaction holds the chain lock,
 * and reads the kept head (db_chain_head_kept) before the table. The engine forgets it when
 * the transaction ends (COMMIT, ROLLBACK), rolls back to any savepoint (the row may be gone),
 * or the connection is made again. db_chain_head_kept is false when nothing is kept (read the
 * table); hash gets at most hash_size bytes. An engine that keeps nothing (SQLite) is always
 * false. */
void db_chain_head_keep(struct db *db, int64_t id, const char *hash);
bool db_chain_head_kept(struct db *db, int64_t *id, char *hash, size_t hash_size);

#endif
