/* store_audit: the one insert into the audit trail, chained, and the walk that checks it.
 *
 * DESIGN: every audit row is written by store_audit_insert, inside the write (and so the
 * database transaction) of whatever it records. It reads the last row's id and hash, gives
 * the new row the next id and hash = audit_chain_hash(last hash, row). Writes are serialised
 * by SQLite's write lock (BEGIN IMMEDIATE, also across processes: the onestop command line
 * writes beside onestopd), so the last row read is the last row there is; a write rolled back
 * takes its audit row with it, and the chain never forks. On an engine that several nodes
 * write at once (PostgreSQL) that lock is taken by hand: a transaction-scoped lock on the
 * chain (db_lock_xact) before the last row is read, held until the write commits. Since the
 * lock is held to the end of the transaction, the row appended is the head for the rest of
 * it: the engine may keep it (db_chain_head_keep) so the next row of the same transaction
 * need not read the table again (PostgreSQL: one round trip per row instead of three).
 *
 * Rows written before the chain existed are chained once, the first time this binary opens
 * the database (store_audit_chain_start), followed by an "audit_chain_started" row. */
#include "gateway/store/audit.h"

#include "gateway/log.h"
#include "gateway/store/store_private.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define AUDIT_COLUMNS "id, at, actor, counter, action, subject, detail, remote"

static const char *column_text(struct db_stmt *st, int col)
{
    return db_column_text(st, col);
}

/* The row's content from columns first.. of st (AUDIT_COLUMNS order); valid until st moves. */
static void row_read(struct db_stmt *st, int first, struct audit_row *row)
{
    row->id = db_column_int64(st, first);
    row->at = db_column_int64(st, first + 1);
    row->actor = column_text(st, first + 2);
    row->counter = column_text(st, first + 3);
    row->action = column_text(st, first + 4);
    row->subject = column_text(st, first + 5);
    row->detail = column_text(st, first + 6);
    row->remote = column_text(st, first + 7);
}

/* The last row's id and hash (0 and the genesis when there is none). */
static enum store_result last_row(struct db *db, int64_t *id, char hash[AUDIT_HASH_HEX_SIZE])
{
    struct db_stmt *st = db_cached(db, "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1");
    if (!st)
        return STORE_UNAVAILABLE;
    enum db_step rc = db_step(st);
    *id = 0;
    const char *h = AUDIT_CHAIN_GENESIS;
    if (rc == DB_ROW) {
        *id = db_column_int64(st, 0);
        h = column_text(st, 1) ? column_text(st, 1) : "";
    }
    /* a copy, not snprintf: this runs for every audit row written */
    size_t n = strnlen(h, AUDIT_HASH_HEX_SIZE - 1);
    memcpy(hash, h, n);
    hash[n] = '\0';
    db_release(st);
    return rc == DB_ROW || rc == DB_DONE ? STORE_OK : store_step_result(db, rc);
}

bool store_audit_chain_lock(struct db *db)
{
    return db_lock_xact(db, db_lock_key("audit", "chain"));
}

enum store_result store_audit_insert(struct db *db, const struct audit_entry *e, time_t at)
{
    int64_t last_id;
    char prev[AUDIT_HASH_HEX_SIZE], hash[AUDIT_HASH_HEX_SIZE];
    if (!store_audit_chain_lock(db)) {
        store_log_error(db, "audit chain lock");
        return db_result(db) == STORE_OK ? STORE_UNAVAILABLE : db_result(db);
    }
    enum store_result r = STORE_OK;
    if (!db_chain_head_kept(db, &last_id, prev, sizeof prev))
        r = last_row(db, &last_id, prev);
    if (r != STORE_OK)
        return r;
    struct audit_row row = {.id = last_id + 1,
                            .at = at,
                            .actor = e->actor ? e->actor : "system",
                            .counter = e->counter,
                            .action = e->action,
                            .subject = e->subject,
                            .detail = e->detail,
                            .remote = e->remote};
    if (!audit_chain_hash(prev, &row, hash)) {
        log_msg(LOG_ERROR, "audit_hash_failed", "cannot hash audit row %" PRId64, row.id);
        return STORE_UNAVAILABLE;
    }
    struct db_stmt *st = db_cached(db, "INSERT INTO audit(" AUDIT_COLUMNS ", prev_hash, hash)"
                                       " VALUES(?,?,?,?,?,?,?,?,?,?)");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_int64(st, 1, row.id);
    db_bind_int64(st, 2, row.at);
    db_bind_text(st, 3, row.actor);
    db_bind_text(st, 4, row.counter);
    db_bind_text(st, 5, row.action);
    db_bind_text(st, 6, row.subject);
    db_bind_text(st, 7, row.detail);
    db_bind_text(st, 8, row.remote);
    db_bind_text(st, 9, prev);
    db_bind_text(st, 10, hash);
    r = store_step_done(db, st, "audit insert");
    if (r == STORE_OK)
        db_chain_head_keep(db, row.id, hash);
    return r;
}

/* Chains rows [from the first unhashed one] in id order; the caller holds the transaction. */
static enum store_result chain_unhashed(struct db *db, long *chained)
{
    struct db_stmt *sel = db_prepare(db, "SELECT " AUDIT_COLUMNS " FROM audit ORDER BY id");
    struct db_stmt *upd = db_prepare(db, "UPDATE audit SET prev_hash=?, hash=? WHERE id=?");
    enum store_result r = sel && upd ? STORE_OK : STORE_UNAVAILABLE;
    char prev[AUDIT_HASH_HEX_SIZE] = AUDIT_CHAIN_GENESIS, hash[AUDIT_HASH_HEX_SIZE];
    enum db_step rc = DB_DONE;
    while (r == STORE_OK && (rc = db_step(sel)) == DB_ROW) {
        struct audit_row row;
        row_read(sel, 0, &row);
        if (!audit_chain_hash(prev, &row, hash)) {
            r = STORE_UNAVAILABLE;
            break;
        }
        db_bind_text(upd, 1, prev);
        db_bind_text(upd, 2, hash);
        db_bind_int64(upd, 3, row.id);
        if (db_step(upd) != DB_DONE)
            r = STORE_UNAVAILABLE;
        db_release(upd);
        memcpy(prev, hash, sizeof prev);
        (*chained)++;
    }
    if (r == STORE_OK && rc != DB_DONE)
        r = store_step_result(db, rc);
    db_finalize(sel);
    db_finalize(upd);
    return r;
}

bool store_audit_chain_start(struct db *db, char *err, size_t errlen)
{
    struct db_stmt *st = db_prepare(db, "SELECT count(*), count(hash) FROM audit");
    if (!st) {
        snprintf(err, errlen, "cannot read the audit trail: %s", db_errmsg(db));
        return false;
    }
    enum db_step rc = db_step(st);
    long rows = rc == DB_ROW ? (long)db_column_int64(st, 0) : -1;
    long hashed = rc == DB_ROW ? (long)db_column_int64(st, 1) : -1;
    db_finalize(st);
    if (rows < 0) {
        snprintf(err, errlen, "cannot read the audit trail: %s", db_errmsg(db));
        return false;
    }
    if (rows == 0 || hashed > 0) /* a new trail, or one already chained: nothing to do */
        return true;
    long chained = 0;
    char detail[96];
    enum store_result r = STORE_UNAVAILABLE;
    char why[256];
    if (db_begin(db, why, sizeof why)) {
        r = chain_unhashed(db, &chained);
        snprintf(detail, sizeof detail, "%ld earlier rows chained", chained);
        struct audit_entry e = {.action = "audit_chain_started", .detail = detail};
        if (r == STORE_OK)
            r = store_audit_insert(db, &e, time(NULL));
        if (r == STORE_OK && !db_exec(db, "COMMIT", why, sizeof why))
            r = STORE_UNAVAILABLE;
        if (r != STORE_OK)
            db_exec(db, "ROLLBACK", why, sizeof why);
    }
    if (r != STORE_OK) {
        snprintf(err, errlen, "cannot chain the audit trail: %s", db_errmsg(db));
        return false;
    }
    log_msg(LOG_INFO, "audit_chain_started", "%ld audit rows written before the chain chained",
            chained);
    return true;
}

enum store_result store_audit_head(struct store *store, struct audit_head *head)
{
    struct db *db = store_reader_acquire(store);
    enum store_result r = last_row(db, &head->id, head->hash);
    store_reader_release(store, db);
    return r;
}

/* ---- the walk ---- */

/* The id of the row whose hash is `hash`, or 0. */
static int64_t row_with_hash(struct db *db, const char *hash)
{
    struct db_stmt *st = db_prepare(db, "SELECT id FROM audit WHERE hash=? LIMIT 1");
    int64_t id = 0;
    if (st) {
        db_bind_text(st, 1, hash);
        if (db_step(st) == DB_ROW)
            id = db_column_int64(st, 0);
        db_finalize(st);
    }
    return id;
}

static void verdict(struct audit_verify_result *out, enum audit_break kind, int64_t row,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void verdict(struct audit_verify_result *out, enum audit_break kind, int64_t row,
                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->message, sizeof out->message, fmt, ap);
    va_end(ap);
    out->kind = kind;
    out->row = row;
}

/* Judges the row st stands on, given the row before it (prev_id, prev_hash); false (and the
 * verdict in out) when it breaks the chain. */
static bool row_judge(struct db *db, struct db_stmt *st, int64_t prev_id, const char *prev_hash,
                      struct audit_verify_result *out)
{
    struct audit_row row;
    row_read(st, 0, &row);
    const char *stored_prev = column_text(st, 8), *stored = column_text(st, 9);
    char want[AUDIT_HASH_HEX_SIZE];
    if (!stored || !stored_prev) {
        verdict(out, AUDIT_UNCHAINED, row.id,
                "row %" PRId64 " has no hash: it was added outside onestop", row.id);
        return false;
    }
    bool content_ok = audit_chain_hash(stored_prev, &row, want) && strcmp(want, stored) == 0;
    bool linked = strcmp(stored_prev, prev_hash) == 0;
    if (content_ok && linked)
        return true;
    int64_t follows = linked ? 0 : row_with_hash(db, stored_prev);
    if (follows && follows != prev_id) {
        verdict(out, AUDIT_REORDERED, row.id,
                "row %" PRId64 " is out of order: it was written after row %" PRId64
                ", which now stands elsewhere in the trail",
                row.id, follows);
    } else if (!content_ok) {
        verdict(out, AUDIT_EDITED, row.id,
                "row %" PRId64 " was edited: its content no longer matches its hash", row.id);
    } else if (row.id > prev_id + 1) {
        verdict(out, AUDIT_DELETED, prev_id + 1,
                "rows %" PRId64 " to %" PRId64 " were deleted (row %" PRId64
                " no longer follows row %" PRId64 ")",
                prev_id + 1, row.id - 1, row.id, prev_id);
    } else {
        verdict(out, AUDIT_EDITED, prev_id,
                "row %" PRId64 " was edited and its hash recomputed: row %" PRId64
                " no longer follows it",
                prev_id, row.id);
    }
    return false;
}

/* Checks the walked chain against a signed head. */
static void head_judge(struct db *db, const struct audit_head *h, const unsigned char *key,
                       size_t key_len, struct audit_verify_result *out)
{
    if (!audit_head_check(h, key, key_len)) {
        verdict(out, AUDIT_BAD_HEAD, 0,
                "the head's signature does not check out: it is forged, damaged or signed "
                "with another key");
        return;
    }
    if (h->id == 0)
        return;
    struct db_stmt *st = db_prepare(db, "SELECT hash FROM audit WHERE id=?");
    if (!st)
        return;
    db_bind_int64(st, 1, h->id);
    if (db_step(st) != DB_ROW) {
        verdict(out, AUDIT_DELETED, h->id,
                "row %" PRId64 " of the signed head is gone: rows up to it were deleted", h->id);
    } else if (strcmp(column_text(st, 0) ? column_text(st, 0) : "", h->hash) != 0) {
        verdict(out, AUDIT_REWRITTEN, h->id,
                "the chain was rewritten: row %" PRId64 " does not have the hash the signed "
                "head holds",
                h->id);
    }
    db_finalize(st);
}

enum store_result store_audit_walk(struct db *db, const struct audit_head *signed_head,
                                   const unsigned char *key, size_t key_len,
                                   struct audit_verify_result *out)
{
    memset(out, 0, sizeof *out);
    /* one read transaction: the walk and the head check see the same trail (the caller's,
     * when one is open: `store copy` checks its copy before it commits it) */
    char ignored[256];
    bool own = !db_in_transaction(db);
    if (own)
        db_exec(db, "BEGIN", ignored, sizeof ignored);
    struct db_stmt *st = db_prepare(db, "SELECT " AUDIT_COLUMNS ", prev_hash, hash FROM audit"
                                        " ORDER BY id");
    enum store_result r = st ? STORE_OK : STORE_UNAVAILABLE;
    char prev_hash[AUDIT_HASH_HEX_SIZE] = AUDIT_CHAIN_GENESIS;
    int64_t prev_id = 0;
    enum db_step rc = DB_DONE;
    while (st && (rc = db_step(st)) == DB_ROW) {
        if (!row_judge(db, st, prev_id, prev_hash, out))
            break;
        prev_id = db_column_int64(st, 0);
        snprintf(prev_hash, sizeof prev_hash, "%s", column_text(st, 9));
        out->rows++;
    }
    if (st && rc != DB_ROW && rc != DB_DONE)
        r = store_step_result(db, rc);
    db_finalize(st);
    out->head.id = prev_id;
    snprintf(out->head.hash, sizeof out->head.hash, "%s", prev_hash);
    if (r == STORE_OK && out->kind == AUDIT_INTACT && signed_head)
        head_judge(db, signed_head, key, key_len, out);
    if (r == STORE_OK && out->kind == AUDIT_INTACT)
        snprintf(out->message, sizeof out->message,
                 "the audit trail is intact: %" PRId64 " rows, head row %" PRId64 " hash %s",
                 out->rows, out->head.id, out->head.hash);
    if (own)
        db_exec(db, "COMMIT", ignored, sizeof ignored);
    return r;
}

enum store_result store_audit_verify(struct store *store, const struct audit_head *signed_head,
                                     const unsigned char *key, size_t key_len,
                                     struct audit_verify_result *out)
{
    struct db *db = store_reader_acquire(store);
    enum store_result r = store_audit_walk(db, signed_head, key, key_len, out);
    store_reader_release(store, db);
    return r;
}
