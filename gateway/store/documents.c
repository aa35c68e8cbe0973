/* store_documents: uploaded documents' records; see store/documents.h. */
#include "gateway/store/documents.h"
#include "gateway/store/store_private.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define DOCUMENTS_DETAIL_MAX  64
#define DOCUMENTS_MESSAGE_MAX 256
#define DOCUMENTS_MIB         (1024.0 * 1024.0)

struct add {
    const struct document_record *docs;
    size_t n;
    const char *staff, *counter;
    time_t now, expires_at;
};

static enum store_result add_run(struct db *db, void *arg)
{
    struct add *a = arg;
    for (size_t i = 0; i < a->n; i++) {
        const struct document_record *d = &a->docs[i];
        struct db_stmt *st = db_cached(
            db, "INSERT INTO documents(id, counter, staff, type, bytes, sha256, pages, key_id,"
                " created_at, expires_at) VALUES(?,?,?,?,?,?,?,?,?,?)");
        if (!st)
            return STORE_UNAVAILABLE;
        db_bind_text(st, 1, d->id);
        db_bind_text(st, 2, a->counter);
        db_bind_text(st, 3, a->staff);
        db_bind_text(st, 4, d->type);
        db_bind_int64(st, 5, d->bytes);
        db_bind_text(st, 6, d->sha256);
        if (d->pages >= 0)
            db_bind_int64(st, 7, d->pages);
        else
            db_bind_null(st, 7);
        db_bind_text(st, 8, d->key_id);
        db_bind_int64(st, 9, a->now);
        db_bind_int64(st, 10, a->expires_at);
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

struct forget_expired {
    time_t now;
    int limit;
    json_t *ids;
};

/* One statement in the writer: a transaction taking a document (also a write) either comes
 * first, and the row no longer matches, or after, and finds no row (document_not_found). So a
 * file is never deleted under a transaction that took it. */
static enum store_result forget_expired_run(struct db *db, void *arg)
{
    struct forget_expired *fe = arg;
    struct db_stmt *st = db_cached(
        db, "DELETE FROM documents WHERE id IN (SELECT id FROM documents WHERE reference IS NULL"
            " AND file_deleted_at IS NULL AND expires_at <= ? ORDER BY expires_at LIMIT ?)"
            " RETURNING id");
    if (st) {
        db_bind_int64(st, 1, fe->now);
        db_bind_int64(st, 2, fe->limit);
    }
    return store_rows_json(st, id_columns, &fe->ids);
}

enum store_result store_documents_forget_expired(struct store *store, time_t now, int limit,
                                                 json_t **out)
{
    struct forget_expired fe = {now, limit, NULL};
    enum store_result r = store_write_sync(store, forget_expired_run, &fe);
    if (r == STORE_OK)
        *out = fe.ids;
    else
        json_decref(fe.ids);
    return r;
}

enum store_result store_documents_delivered(struct store *store, time_t delivered_before, int limit,
                                            json_t **out)
{
    struct db *db = store_reader_acquire(store);
    struct db_stmt *st = db_cached(
        db, "SELECT d.id FROM documents d JOIN transactions t ON t.reference = d.reference"
            " JOIN deliveries v ON v.transaction_id = t.id WHERE d.file_deleted_at IS NULL"
            " AND v.state = 'delivered' AND v.delivered_at <= ? LIMIT ?");
    if (st) {
        db_bind_int64(st, 1, delivered_before);
        db_bind_int64(st, 2, limit);
    }
    enum store_result r = store_rows_json(st, id_columns, out);
    store_reader_release(store, db);
    return r;
}

enum store_result store_documents_purged(struct store *store, int limit, json_t **out)
{
    struct db *db = store_reader_acquire(store);
    struct db_stmt *st = db_cached(
        db, "SELECT d.id FROM documents d JOIN transactions t ON t.reference = d.reference"
            " WHERE d.file_deleted_at IS NULL AND t.purged_at IS NOT NULL LIMIT ?");
    if (st)
        db_bind_int64(st, 1, limit);
    enum store_result r = store_rows_json(st, id_columns, out);
    store_reader_release(store, db);
    return r;
}

enum store_result store_documents_known(struct store *store, const char *id, bool *known)
{
    *known = false;
    struct db *db = store_reader_acquire(store);
    struct db_stmt *st = db_cached(db, "SELECT 1 FROM documents WHERE id = ?");
    enum store_result r = STORE_UNAVAILABLE;
    if (st) {
        db_bind_text(st, 1, id);
        enum db_step rc = db_step(st);
        *known = rc == DB_ROW;
        r = rc == DB_ROW || rc == DB_DONE ? STORE_OK : store_step_result(db, rc);
        db_release(st);
    }
    store_reader_release(store, db);
    return r;
}

struct files_deleted {
    json_t *ids;
    time_t now;
};

static enum store_result files_deleted_run(struct db *db, void *arg)
{
    struct files_deleted *fd = arg;
    size_t i;
    json_t *v;
    json_array_foreach(fd->ids, i, v)
    {
        struct db_stmt *st = db_cached(db, "UPDATE documents SET file_deleted_at = ? WHERE id = ?");
        if (!st)
            return STORE_UNAVAILABLE;
        db_bind_int64(st, 1, fd->now);
        db_bind_text(st, 2, json_string_value(json_object_get(v, "id")));
        enum store_result r = store_step_done(db, st, "document file deleted");
        if (r != STORE_OK)
            return r;
    }
    return STORE_OK;
}

enum store_result store_documents_files_deleted(struct store *store, json_t *ids, time_t now)
{
    struct files_deleted fd = {ids, now};
    return store_write_sync(store, files_deleted_run, &fd);
}

static void document_error(json_t *errors, const char *field, const char *code, const char *fmt,
                           ...) __attribute__((format(printf, 4, 5)));
static void document_error(json_t *errors, const char *field, const char *code, const char *fmt,
                           ...)
{
    char message[DOCUMENTS_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    json_array_append_new(
        errors, json_pack("{s:s, s:s, s:s}", "field", field, "code", code, "message", message));
}

enum store_result store_tx_documents_check(struct store_tx *tx, json_t *list, const char *counter,
                                           long long limit, time_t now, const char *field_path,
                                           json_t *errors)
{
    struct db *db = store_tx_db(tx);
    long long total = 0;
    size_t before = json_array_size(errors);
    size_t i;
    json_t *entry;
    json_array_foreach(list, i, entry)
    {
        const char *id = json_string_value(json_object_get(entry, "id"));
        struct db_stmt *st = db_cached(db, "SELECT counter, expires_at, reference, bytes,"
                                           " sha256, pages, type, upper(type) FROM documents"
                                           " WHERE id = ?");
        if (!st)
            return STORE_UNAVAILABLE;
        db_bind_text(st, 1, id);
        enum db_step rc = db_step(st);
        if (rc != DB_ROW && rc != DB_DONE) {
            db_release(st);
            return store_step_result(db, rc);
        }
        if (rc == DB_DONE) {
            document_error(errors, field_path, "document_not_found",
                           "Document %zu was not found: it may have expired. Upload it again.",
                           i + 1);
        } else if (strcmp(db_column_text(st, 0), counter) != 0) {
            /* another counter's upload is not revealed: the same words as not found */
            document_error(errors, field_path, "document_not_found",
                           "Document %zu was not uploaded at this counter. Upload it here.", i + 1);
        } else if (!db_column_is_null(st, 2)) {
            document_error(errors, field_path, "document_used",
                           "Document %zu (a %s) was already sent with %s.", i + 1,
                           db_column_text(st, 7), db_column_text(st, 2));
        } else if (db_column_int64(st, 1) <= now) {
            document_error(errors, field_path, "document_expired",
                           "Document %zu (a %s) was uploaded too long ago and has been deleted. "
                           "Upload it again.",
                           i + 1, db_column_text(st, 7));
        } else {
            long long bytes = db_column_int64(st, 3);
            total += bytes;
            json_object_set_new(entry, "sha256", json_string(db_column_text(st, 4)));
            json_object_set_new(entry, "bytes", json_integer(bytes));
            json_object_set_new(entry, "format", json_string(db_column_text(st, 6)));
            json_object_set_new(entry, "pages",
                                db_column_is_null(st, 5) ? json_null()
                                                         : json_integer(db_column_int64(st, 5)));
        }
        db_release(st);
    }
    if (json_array_size(errors) == before && total > limit)
        document_error(errors, field_path, "submission_too_large",
                       "These documents come to %.1f MiB together; one submission can be at most "
                       "%.0f MiB. Send the rest as a second submission.",
                       (double)total / DOCUMENTS_MIB, (double)limit / DOCUMENTS_MIB);
    return json_array_size(errors) == before ? STORE_OK : STORE_INVALID;
}

enum store_result store_tx_documents_take(struct store_tx *tx, const json_t *list,
                                          const char *reference)
{
    struct db *db = store_tx_db(tx);
    size_t i;
    const json_t *entry;
    json_array_foreach(list, i, entry)
    {
        struct db_stmt *st =
            db_cached(db, "UPDATE documents SET reference = ? WHERE id = ? AND reference IS NULL");
        if (!st)
            return STORE_UNAVAILABLE;
        db_bind_text(st, 1, reference);
        db_bind_text(st, 2, json_string_value(json_object_get(entry, "id")));
        enum store_result r = store_step_done(db, st, "document take");
        if (r != STORE_OK)
            return r;
        if (db_changes(db) != 1)
            return STORE_UNAVAILABLE; /* checked in this same write: cannot happen */
    }
    return STORE_OK;
}
