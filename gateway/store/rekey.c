/* store_rekey: documents' keys for rotation; see store_rekey.h. */
#include "gateway/store/rekey.h"
#include "gateway/store/store_private.h"
#include "gateway/store/db.h"

#include "gateway/log.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    /* the last limit key done, by (transaction id, name): txn_keys has no key of its own */
    int64_t after_txn;
    char after_name[128];
    long changed;
    bool done;
};

/* A limit key of the batch: where it is and its value opened. */
struct reblind_row {
    char *txn, *name, *value, *plain;
};

#define AFTER_CURSOR "(transaction_id > ?1 OR (transaction_id = ?1 AND name > ?2))"

/* Recomputes the blind index of the next batch of limit keys (in (transaction id, name)
 * order; keys sharing both go together): read with the value opened (pd_open), written back
 * by where they are (pd_blind over bound values), in the SQL both engines run. */
static enum store_result reblind_run(struct db *db, void *arg)
{
    struct reblind *rb = arg;
    rb->changed = 0;
    struct db_stmt *st = db_prepare(db, "SELECT transaction_id, name FROM txn_keys WHERE"
                                        " " AFTER_CURSOR " AND sealed IS NOT NULL"
                                        " ORDER BY transaction_id, name LIMIT ?3");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_int64(st, 1, rb->after_txn);
    db_bind_text(st, 2, rb->after_name);
    db_bind_int64(st, 3, rb->batch);
    enum db_step rc;
    int64_t last = 0;
    char last_name[sizeof rb->after_name] = "";
    while ((rc = db_step(st)) == DB_ROW) {
        last = db_column_int64(st, 0);
        snprintf(last_name, sizeof last_name, "%s", db_column_text(st, 1));
    }
    db_finalize(st);
    if (rc != DB_DONE)
        return store_step_result(db, rc);
    if (!last) {
        rb->done = true;
        return STORE_OK;
    }
    st = db_prepare(db, "SELECT transaction_id, name, value, pd_open(sealed, 'txn_keys.sealed')"
                        " FROM txn_keys WHERE " AFTER_CURSOR " AND (transaction_id < ?3"
                        " OR (transaction_id = ?3 AND name <= ?4)) AND sealed IS NOT NULL");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_int64(st, 1, rb->after_txn);
    db_bind_text(st, 2, rb->after_name);
    db_bind_int64(st, 3, last);
    db_bind_text(st, 4, last_name);
    struct reblind_row *rows = NULL;
    size_t n = 0, cap = 0;
    bool ok = true;
    while (ok && (rc = db_step(st)) == DB_ROW) {
        if (n == cap) {
            size_t more = cap ? cap * 2 : 64;
            struct reblind_row *grown = realloc(rows, more * sizeof *rows);
            if (!grown) {
                ok = false;
                break;
            }
            rows = grown;
            cap = more;
        }
        struct reblind_row *r = &rows[n++];
        const char *v[4];
        for (int c = 0; c < 4; c++)
            v[c] = db_column_text(st, c);
        *r = (struct reblind_row){v[0] ? strdup(v[0]) : NULL, v[1] ? strdup(v[1]) : NULL,
                                  v[2] ? strdup(v[2]) : NULL, v[3] ? strdup(v[3]) : NULL};
        ok = r->txn && r->name && r->value && r->plain;
    }
    enum store_result res = ok ? STORE_OK : STORE_UNAVAILABLE;
    if (ok && rc != DB_DONE) {
        log_msg(LOG_ERROR, "index_rotate", "reading limit keys: %s", db_errmsg(db));
        res = store_step_result(db, rc);
    }
    db_finalize(st);
    st = res == STORE_OK ? db_prepare(db, "UPDATE txn_keys SET value = pd_blind(?2, ?4)"
                                          " WHERE transaction_id = ?1 AND name = ?2"
                                          " AND value = ?3")
                         : NULL;
    if (res == STORE_OK && !st)
        res = STORE_UNAVAILABLE;
    for (size_t i = 0; res == STORE_OK && i < n; i++) {
        db_bind_text(st, 1, rows[i].txn);
        db_bind_text(st, 2, rows[i].name);
        db_bind_text(st, 3, rows[i].value);
        db_bind_text(st, 4, rows[i].plain);
        rc = db_step(st);
        if (rc != DB_DONE) {
            log_msg(LOG_ERROR, "index_rotate", "recomputing limit keys: %s", db_errmsg(db));
            res = store_step_result(db, rc);
        } else {
            rb->changed += db_changes(db);
        }
        db_release(st);
    }
    db_finalize(st);
    for (size_t i = 0; i < n; i++) {
        free(rows[i].txn);
        free(rows[i].name);
        free(rows[i].value);
        free(rows[i].plain);
    }
    free(rows);
    if (res == STORE_OK) {
        rb->after_txn = last;
        snprintf(rb->after_name, sizeof rb->after_name, "%s", last_name);
    }
    return res;
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
        enum store_result r = store_write_sync(store, reblind_run, &rb);
        if (r != STORE_OK)
            return r;
        if (rb.done)
            return STORE_OK;
        *done += rb.changed;
        if (progress)
            progress(*done, total > *done ? total : *done, ctx);
    }
}
