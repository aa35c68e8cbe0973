/* store_rekey: documents' keys for rotation; see store_rekey.h. */
#include "gateway/store/rekey.h"
#include "gateway/store/store_private.h"
#include "gateway/store/db.h"

#include "gateway/log.h"

enum store_result store_documents_stale_count(struct store *store, const char *current, long *n)
{
    *n = 0;
    struct db *db = store_reader_acquire(store);
    struct db_stmt *st = db_cached(db, "SELECT COUNT(*) FROM documents"
                                       " WHERE file_deleted_at IS NULL AND key_id <> ?1");
    enum store_result r = STORE_UNAVAILABLE;
    if (st) {
        db_bind_text(st, 1, current);
        enum db_step rc = db_step(st);
        if (rc == DB_ROW)
            *n = (long)db_column_int64(st, 0);
        r = rc == DB_ROW ? STORE_OK : store_step_result(db, rc);
        db_release(st);
    }
    store_reader_release(store, db);
    return r;
}

enum store_result store_documents_stale(struct store *store, const char *current, const char *after,
                                        int limit, json_t **out)
{
    *out = json_array();
    if (!*out)
        return STORE_UNAVAILABLE;
    struct db *db = store_reader_acquire(store);
    struct db_stmt *st = db_cached(db, "SELECT id FROM documents WHERE file_deleted_at IS NULL"
                                       " AND key_id <> ?1 AND id > ?2 ORDER BY id LIMIT ?3");
    enum db_step rc = DB_ERROR;
    if (st) {
        db_bind_text(st, 1, current);
        db_bind_text(st, 2, after);
        db_bind_int64(st, 3, limit);
        while ((rc = db_step(st)) == DB_ROW)
            json_array_append_new(*out, json_string(db_column_text(st, 0)));
        db_release(st);
    }
    enum store_result r = rc == DB_DONE ? STORE_OK
                          : st          ? store_step_result(db, rc)
                                        : STORE_UNAVAILABLE;
    store_reader_release(store, db);
    if (r != STORE_OK) {
        json_decref(*out);
        *out = NULL;
    }
    return r;
}

struct rekeyed {
    const char *id, *key_id;
};

static enum store_result rekeyed_run(struct db *db, void *arg)
{
    const struct rekeyed *k = arg;
    struct db_stmt *st =
        db_cached(db, "UPDATE documents SET key_id = ?2 WHERE id = ?1 AND file_deleted_at IS NULL");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, k->id);
    db_bind_text(st, 2, k->key_id);
    enum store_result r = store_step_done(db, st, "document key");
    return r == STORE_OK && db_changes(db) == 0 ? STORE_NOT_FOUND : r;
}

enum store_result store_documents_rekeyed(struct store *store, const char *id, const char *key_id)
{
    struct rekeyed k = {id, key_id};
    return store_write_sync(store, rekeyed_run, &k);
}

/* ---- the blind index under a new index key ---- */

static long count_keys(struct store *store, const char *sql)
{
    struct db *db = store_reader_acquire(store);
    struct db_stmt *st = db_prepare(db, sql);
    long n = st && db_step(st) == DB_ROW ? (long)db_column_int64(st, 0) : -1;
    db_finalize(st);
    store_reader_release(store, db);
    return n;
}

struct reblind {
    long batch;
    int64_t after; /* the last rowid done */
    long changed;
};

static enum store_result reblind_run(struct db *db, void *arg)
{
    struct reblind *rb = arg;
    rb->changed = 0;
    struct db_stmt *st = db_prepare(db, "SELECT max(rowid) FROM (SELECT rowid FROM txn_keys"
                                        " WHERE rowid > ?1 AND sealed IS NOT NULL"
                                        " ORDER BY rowid LIMIT ?2)");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_int64(st, 1, rb->after);
    db_bind_int64(st, 2, rb->batch);
    enum db_step rc = db_step(st);
    bool none = rc == DB_ROW && db_column_is_null(st, 0);
    int64_t last = rc == DB_ROW ? db_column_int64(st, 0) : 0;
    db_finalize(st);
    if (rc != DB_ROW)
        return store_step_result(db, rc);
    if (none)
        return STORE_OK;
    st = db_prepare(db, "UPDATE txn_keys SET value = pd_blind(name, pd_open(sealed,"
                        " 'txn_keys.sealed')) WHERE rowid > ?1 AND rowid <= ?2"
                        " AND sealed IS NOT NULL");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_int64(st, 1, rb->after);
    db_bind_int64(st, 2, last);
    rc = db_step(st);
    if (rc != DB_DONE) {
        log_msg(LOG_ERROR, "index_rotate", "recomputing limit keys: %s", db_errmsg(db));
        db_finalize(st);
        return store_step_result(db, rc);
    }
    rb->changed = db_changes(db);
    rb->after = last;
    db_finalize(st);
    return STORE_OK;
}

enum store_result store_index_rotate(struct store *store, long batch,
                                     void (*progress)(long done, long total, void *ctx), void *ctx,
                                     long *done, long *unsealed)
{
    *done = 0;
    long total = count_keys(store, "SELECT COUNT(*) FROM txn_keys WHERE sealed IS NOT NULL");
    *unsealed = count_keys(store, "SELECT COUNT(*) FROM txn_keys WHERE sealed IS NULL");
    if (total < 0 || *unsealed < 0)
        return STORE_UNAVAILABLE;
    struct reblind rb = {.batch = batch > 0 ? batch : 1};
    for (;;) {
        int64_t before = rb.after;
        enum store_result r = store_write_sync(store, reblind_run, &rb);
        if (r != STORE_OK)
            return r;
        if (rb.after == before)
            return STORE_OK;
        *done += rb.changed;
        if (progress)
            progress(*done, total > *done ? total : *done, ctx);
    }
}
