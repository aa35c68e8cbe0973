/* store_rekey: documents' keys for rotation; see store_rekey.h. */
#include "gateway/store_rekey.h"
#include "gateway/store_sqlite_private.h"

#include "gateway/log.h"

enum store_result store_documents_stale_count(struct store *store, const char *current, long *n)
{
    *n = 0;
    sqlite3 *db = store_reader_acquire(store);
    sqlite3_stmt *st = store_cached(db, "SELECT COUNT(*) FROM documents"
                                        " WHERE file_deleted_at IS NULL AND key_id <> ?1");
    enum store_result r = STORE_UNAVAILABLE;
    if (st) {
        sqlite3_bind_text(st, 1, current, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            *n = (long)sqlite3_column_int64(st, 0);
        r = rc == SQLITE_ROW ? STORE_OK : store_sqlite_result(rc);
        store_release(st);
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
    sqlite3 *db = store_reader_acquire(store);
    sqlite3_stmt *st = store_cached(db, "SELECT id FROM documents WHERE file_deleted_at IS NULL"
                                        " AND key_id <> ?1 AND id > ?2 ORDER BY id LIMIT ?3");
    int rc = SQLITE_ERROR;
    if (st) {
        sqlite3_bind_text(st, 1, current, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, after, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, limit);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            json_array_append_new(*out, json_string((const char *)sqlite3_column_text(st, 0)));
        store_release(st);
    }
    store_reader_release(store, db);
    if (rc != SQLITE_DONE) {
        json_decref(*out);
        *out = NULL;
        return st ? store_sqlite_result(rc) : STORE_UNAVAILABLE;
    }
    return STORE_OK;
}

struct rekeyed {
    const char *id, *key_id;
};

static enum store_result rekeyed_run(sqlite3 *db, void *arg)
{
    const struct rekeyed *k = arg;
    sqlite3_stmt *st = store_cached(
        db, "UPDATE documents SET key_id = ?2 WHERE id = ?1 AND file_deleted_at IS NULL");
    if (!st)
        return STORE_UNAVAILABLE;
    sqlite3_bind_text(st, 1, k->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, k->key_id, -1, SQLITE_STATIC);
    enum store_result r = store_step_done(db, st, "document key");
    return r == STORE_OK && sqlite3_changes(db) == 0 ? STORE_NOT_FOUND : r;
}

enum store_result store_documents_rekeyed(struct store *store, const char *id, const char *key_id)
{
    struct rekeyed k = {id, key_id};
    return store_write_sync(store, rekeyed_run, &k);
}

/* ---- the blind index under a new index key ---- */

static long count_keys(struct store *store, const char *sql)
{
    sqlite3 *db = store_reader_acquire(store);
    sqlite3_stmt *st = store_prepare(db, sql);
    long n = st && sqlite3_step(st) == SQLITE_ROW ? (long)sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    store_reader_release(store, db);
    return n;
}

struct reblind {
    long batch;
    int64_t after; /* the last rowid done */
    long changed;
};

static enum store_result reblind_run(sqlite3 *db, void *arg)
{
    struct reblind *rb = arg;
    rb->changed = 0;
    sqlite3_stmt *st = store_prepare(db, "SELECT max(rowid) FROM (SELECT rowid FROM txn_keys"
                                         " WHERE rowid > ?1 AND sealed IS NOT NULL"
                                         " ORDER BY rowid LIMIT ?2)");
    if (!st)
        return STORE_UNAVAILABLE;
    sqlite3_bind_int64(st, 1, rb->after);
    sqlite3_bind_int64(st, 2, rb->batch);
    int rc = sqlite3_step(st);
    bool none = rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_NULL;
    int64_t last = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return store_sqlite_result(rc);
    if (none)
        return STORE_OK;
    st = store_prepare(db, "UPDATE txn_keys SET value = pd_blind(name, pd_open(sealed,"
                           " 'txn_keys.sealed')) WHERE rowid > ?1 AND rowid <= ?2"
                           " AND sealed IS NOT NULL");
    if (!st)
        return STORE_UNAVAILABLE;
    sqlite3_bind_int64(st, 1, rb->after);
    sqlite3_bind_int64(st, 2, last);
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        log_msg(LOG_ERROR, "index_rotate", "recomputing limit keys: %s", sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return store_sqlite_result(rc);
    }
    rb->changed = sqlite3_changes(db);
    rb->after = last;
    sqlite3_finalize(st);
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
