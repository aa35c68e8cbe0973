/* store_rekey: documents' keys for rotation; see store_rekey.h. */
#include "gateway/store_rekey.h"
#include "gateway/store_sqlite_private.h"

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
