/* store_crypt: personal data sealed at rest (field_crypt.h).
 *
 * Every connection gets SQL functions over the process's keys (the SQLite engine registers
 * them: store/sqlite/crypt_functions.c), so sealing sits in the SQL
 * that writes a column and opening in the SQL that reads it, and no caller handles keys:
 *   pd_seal(x)        x sealed under the current data key (NULL stays NULL)
 *   pd_open(x)        x opened (plaintext passes through); an error names the missing key
 *   pd_reseal(x)      x under the current key: unchanged when it is already, else opened
 *                     and sealed again (rotation, and plaintext left by an older binary)
 *   pd_key(x)         the key id x is sealed under, 'plain', or NULL for NULL
 *   pd_blind(n, v)    the blind index of limit key n's value v (v itself with no index key)
 * The columns sealed are listed once below (sealed_columns); store_crypt_start seals what an
 * older binary left in plain text when the store opens (the migration), and
 * store_keys_rotate reseals in short writes while the gateway runs. */
#include "gateway/store/crypt.h"
#include "gateway/store/store_private.h"

#include "gateway/data_keys.h"
#include "gateway/field_crypt.h"
#include "gateway/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERR_MAX 160

struct sealed_column {
    const char *table, *column;
    const char *key; /* the table's key columns */
};

/* Every column that can hold a personal value. */
static const struct sealed_column sealed_columns[] = {
    {"transactions", "fields", "id"},
    {"deliveries", "payload", "id"},
    {"idempotency", "response", "staff, key"},
    {"receipt_copies", "payload", "id"},
};
#define SEALED_COLUMNS_LEN (sizeof sealed_columns / sizeof sealed_columns[0])

/* True when any row of table.column matches the LIKE pattern; -1 on an error. */
static int column_has(struct db *db, const char *table, const char *column, const char *pattern)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT 1 FROM %s WHERE %s LIKE ? LIMIT 1", table, column);
    struct db_stmt *st = db_prepare(db, sql);
    if (!st)
        return -1;
    db_bind_text(st, 1, pattern);
    enum db_step rc = db_step(st);
    db_finalize(st);
    return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}

/* False, naming the key, when a value of the column is sealed under a key not loaded: the
 * store would open but its reads would fail. */
static bool keys_loaded(struct db *db, const struct field_crypt *fc, const struct sealed_column *c,
                        char *err, size_t errlen)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT DISTINCT pd_key(%s) FROM %s WHERE %s LIKE '%s%%'", c->column,
             c->table, c->column, FIELD_SEALED_PREFIX);
    struct db_stmt *st = db_prepare(db, sql);
    enum db_step rc = DB_ERROR;
    bool ok = st != NULL;
    while (ok && (rc = db_step(st)) == DB_ROW) {
        const char *id = db_column_text(st, 0);
        if (!data_keys_has(fc->data, id)) {
            snprintf(err, errlen,
                     "personal data in %s.%s is sealed under data key %s, which is not loaded:"
                     " list its file in keys.old_data_key_files",
                     c->table, c->column, id);
            ok = false;
        }
    }
    if (ok && rc != DB_DONE) {
        snprintf(err, errlen, "cannot read %s.%s: %s", c->table, c->column, db_errmsg(db));
        ok = false;
    }
    db_finalize(st);
    return ok;
}

static bool exec_sql(struct db *db, const char *sql, char *err, size_t errlen)
{
    char msg[ERR_MAX - 40];
    if (db_exec(db, sql, msg, sizeof msg))
        return true;
    snprintf(err, errlen, "sealing personal data at open: %s", msg);
    return false;
}

bool store_crypt_start(struct db *db, const struct field_crypt *fc, char *err, size_t errlen)
{
    bool has_data = fc && data_keys_current(fc->data);
    bool has_index = fc && fc->index;
    if (!has_index && column_has(db, "txn_keys", "value", FIELD_BLIND_PREFIX "%") != 0) {
        snprintf(err, errlen,
                 "the store's limit keys are blind indexes: configure "
                 "keys.index_key_file (the same key that made them)");
        return false;
    }
    if (!has_data) {
        for (size_t i = 0; i < SEALED_COLUMNS_LEN; i++)
            if (column_has(db, sealed_columns[i].table, sealed_columns[i].column,
                           FIELD_SEALED_PREFIX "%") != 0) {
                snprintf(err, errlen,
                         "the store holds sealed personal data: configure "
                         "keys.data_key_file");
                return false;
            }
        log_msg(LOG_WARN, "personal_data_plain",
                "keys.data_key_file is not set: personal data is stored unencrypted");
    }
    for (size_t i = 0; has_data && i < SEALED_COLUMNS_LEN; i++)
        if (!keys_loaded(db, fc, &sealed_columns[i], err, errlen))
            return false;
    char why[ERR_MAX];
    if (!db_begin(db, why, sizeof why)) {
        snprintf(err, errlen, "sealing personal data at open: %s", why);
        return false;
    }
    bool ok = true;
    long sealed = 0;
    for (size_t i = 0; ok && has_data && i < SEALED_COLUMNS_LEN; i++) {
        char sql[256];
        snprintf(sql, sizeof sql, "UPDATE %s SET %s = pd_seal(%s) WHERE %s NOT LIKE '%s%%'",
                 sealed_columns[i].table, sealed_columns[i].column, sealed_columns[i].column,
                 sealed_columns[i].column, FIELD_SEALED_PREFIX);
        ok = exec_sql(db, sql, err, errlen);
        sealed += db_changes(db);
    }
    long blinded = 0;
    if (ok && has_index) {
        ok = exec_sql(db,
                      "UPDATE txn_keys SET value = pd_blind(name, value)"
                      " WHERE value NOT LIKE '" FIELD_BLIND_PREFIX "%'",
                      err, errlen);
        blinded = db_changes(db);
    }
    char ignored[ERR_MAX];
    if (!ok || !exec_sql(db, "COMMIT", err, errlen)) {
        (void)exec_sql(db, "ROLLBACK", ignored, sizeof ignored);
        return false;
    }
    if (sealed || blinded)
        log_msg(LOG_INFO, "personal_data_sealed",
                "sealed %ld stored values and blinded %ld limit keys left by an older version",
                sealed, blinded);
    return true;
}

/* ---- rotation and status ---- */

struct rotate_job {
    const char *current;
    long batch;
    long moved;
};

static enum store_result rotate_batch(struct db *db, void *arg)
{
    struct rotate_job *job = arg;
    job->moved = 0;
    for (size_t i = 0; i < SEALED_COLUMNS_LEN && job->moved < job->batch; i++) {
        char sql[320];
        const char *t = sealed_columns[i].table, *c = sealed_columns[i].column;
        const char *k = sealed_columns[i].key;
        snprintf(sql, sizeof sql,
                 "UPDATE %s SET %s = pd_reseal(%s) WHERE (%s) IN (SELECT %s FROM %s"
                 " WHERE %s IS NOT NULL AND pd_key(%s) <> ?1 LIMIT ?2)",
                 t, c, c, k, k, t, c, c);
        struct db_stmt *st = db_prepare(db, sql);
        if (!st)
            return STORE_UNAVAILABLE;
        db_bind_text(st, 1, job->current);
        db_bind_int64(st, 2, job->batch - job->moved);
        enum db_step rc = db_step(st);
        if (rc != DB_DONE) {
            log_msg(LOG_ERROR, "keys_rotate", "resealing %s.%s: %s", t, c, db_errmsg(db));
            db_finalize(st);
            return store_step_result(db, rc);
        }
        job->moved += db_changes(db);
        db_finalize(st);
    }
    return STORE_OK;
}

enum store_result store_keys_rotate(struct store *store, const char *current, long batch,
                                    long *moved)
{
    *moved = 0;
    struct rotate_job job = {.current = current, .batch = batch > 0 ? batch : 1};
    for (;;) {
        enum store_result r = store_write_sync(store, rotate_batch, &job);
        if (r != STORE_OK)
            return r;
        *moved += job.moved;
        if (job.moved == 0)
            return STORE_OK;
    }
}

enum store_result store_keys_status(struct store *store, json_t **out)
{
    *out = json_object();
    if (!*out)
        return STORE_UNAVAILABLE;
    struct db *db = store_reader_acquire(store);
    enum store_result r = STORE_OK;
    for (size_t i = 0; r == STORE_OK && i < SEALED_COLUMNS_LEN; i++) {
        char sql[256], name[64];
        const char *t = sealed_columns[i].table, *c = sealed_columns[i].column;
        snprintf(sql, sizeof sql,
                 "SELECT pd_key(%s), COUNT(*) FROM %s WHERE %s IS NOT NULL GROUP BY 1", c, t, c);
        snprintf(name, sizeof name, "%s.%s", t, c);
        json_t *counts = json_object();
        struct db_stmt *st = db_prepare(db, sql);
        enum db_step rc = DB_ERROR;
        while (st && counts && (rc = db_step(st)) == DB_ROW)
            json_object_set_new(counts, db_column_text(st, 0),
                                json_integer(db_column_int64(st, 1)));
        db_finalize(st);
        if (rc != DB_DONE || !counts)
            r = STORE_UNAVAILABLE;
        json_object_set_new(*out, name, counts ? counts : json_object());
    }
    struct db_stmt *st = r == STORE_OK
                             ? db_prepare(db, "SELECT CASE WHEN value LIKE '" FIELD_BLIND_PREFIX
                                              "%' THEN 1 ELSE 0 END, COUNT(*)"
                                              " FROM txn_keys GROUP BY 1")
                             : NULL;
    json_t *keys = json_object();
    enum db_step rc = DB_ERROR;
    while (st && keys && (rc = db_step(st)) == DB_ROW)
        json_object_set_new(keys, db_column_int64(st, 0) ? "blind" : "plain",
                            json_integer(db_column_int64(st, 1)));
    db_finalize(st);
    if (r == STORE_OK && rc != DB_DONE)
        r = STORE_UNAVAILABLE;
    json_object_set_new(*out, "txn_keys.value", keys ? keys : json_object());
    /* uploaded documents are files sealed under a key id of their own: not resealed (they
     * live days, not years), counted so the old key is kept until they are gone */
    st = r == STORE_OK ? db_prepare(db, "SELECT key_id, COUNT(*) FROM documents GROUP BY 1") : NULL;
    json_t *docs = json_object();
    rc = DB_ERROR;
    while (st && docs && (rc = db_step(st)) == DB_ROW)
        json_object_set_new(docs, db_column_text(st, 0), json_integer(db_column_int64(st, 1)));
    db_finalize(st);
    if (r == STORE_OK && rc != DB_DONE)
        r = STORE_UNAVAILABLE;
    json_object_set_new(*out, "documents", docs ? docs : json_object());
    store_reader_release(store, db);
    if (r != STORE_OK) {
        json_decref(*out);
        *out = NULL;
    }
    return r;
}
