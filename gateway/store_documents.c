/* store_documents: uploaded documents' records; see store_documents.h. */
#include "gateway/store_documents.h"
#include "gateway/store_sqlite_private.h"

#include <stdio.h>

#define DOCUMENTS_DETAIL_MAX 64

struct add {
    const struct document_record *docs;
    size_t n;
    const char *staff, *counter;
    time_t now, expires_at;
};

static enum store_result add_run(sqlite3 *db, void *arg)
{
    struct add *a = arg;
    for (size_t i = 0; i < a->n; i++) {
        const struct document_record *d = &a->docs[i];
        sqlite3_stmt *st = store_cached(
            db, "INSERT INTO documents(id, counter, staff, name, type, bytes, sha256, pages,"
                " key_id, created_at, expires_at) VALUES(?,?,?,?,?,?,?,?,?,?,?)");
        if (!st)
            return STORE_UNAVAILABLE;
        sqlite3_bind_text(st, 1, d->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, a->counter, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, a->staff, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, d->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, d->type, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, d->bytes);
        sqlite3_bind_text(st, 7, d->sha256, -1, SQLITE_STATIC);
        if (d->pages >= 0)
            sqlite3_bind_int64(st, 8, d->pages);
        else
            sqlite3_bind_null(st, 8);
        sqlite3_bind_text(st, 9, d->key_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 10, a->now);
        sqlite3_bind_int64(st, 11, a->expires_at);
        enum store_result r = store_step_done(db, st, "document insert");
        if (r != STORE_OK)
            return r;
    }
    char detail[DOCUMENTS_DETAIL_MAX];
    snprintf(detail, sizeof detail, "%zu document%s", a->n, a->n == 1 ? "" : "s");
    struct audit_entry e = {.actor = a->staff,
                            .counter = a->counter,
                            .action = "documents_uploaded",
                            .subject = a->n ? a->docs[0].id : NULL,
                            .detail = detail};
    return store_audit_insert(db, &e, a->now);
}

enum store_result store_documents_add(struct store *store, const struct document_record *docs,
                                      size_t n, const char *staff, const char *counter, time_t now,
                                      time_t expires_at)
{
    struct add a = {docs, n, staff, counter, now, expires_at};
    return store_write_sync(store, add_run, &a);
}

static const struct store_column id_columns[] = {{"id", COL_TEXT}, {0}};

enum store_result store_documents_expired(struct store *store, time_t now, int limit, json_t **out)
{
    sqlite3 *db = store_reader_acquire(store);
    sqlite3_stmt *st = store_cached(db, "SELECT id FROM documents WHERE transaction_id IS NULL"
                                        " AND file_deleted_at IS NULL AND expires_at <= ?"
                                        " ORDER BY expires_at LIMIT ?");
    if (st) {
        sqlite3_bind_int64(st, 1, now);
        sqlite3_bind_int(st, 2, limit);
    }
    enum store_result r = store_rows_json(st, id_columns, out);
    store_reader_release(store, db);
    return r;
}

static enum store_result forget_run(sqlite3 *db, void *arg)
{
    json_t *ids = arg;
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        sqlite3_stmt *st =
            store_cached(db, "DELETE FROM documents WHERE id = ? AND transaction_id IS NULL");
        if (!st)
            return STORE_UNAVAILABLE;
        sqlite3_bind_text(st, 1, json_string_value(json_object_get(v, "id")), -1, SQLITE_STATIC);
        enum store_result r = store_step_done(db, st, "document forget");
        if (r != STORE_OK)
            return r;
    }
    return STORE_OK;
}

enum store_result store_documents_forget(struct store *store, json_t *ids)
{
    return store_write_sync(store, forget_run, ids);
}
