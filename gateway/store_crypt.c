/* store_crypt: personal data sealed at rest in the SQLite engine (field_crypt.h).
 *
 * Every connection gets SQL functions over the process's keys, so sealing sits in the SQL
 * that writes a column and opening in the SQL that reads it, and no caller handles keys:
 *   pd_seal(x, c)     x sealed under the current data key, bound to context c (NULL stays
 *                     NULL)
 *   pd_open(x, c)     x opened in context c (plaintext passes through); an error names the
 *                     missing key, or says the value belongs elsewhere
 *   pd_reseal(x, c)   x under the current key in context c: unchanged when it is already,
 *                     else opened and sealed again (rotation, values sealed before contexts)
 * The context is what binds a value to where it lives (field_crypt.h): a transaction's
 * reference for its fields, the literal '<table>.<column>' for the other columns. It is
 * always a string literal, a bound parameter or a plain column of the same row, so an
 * engine that evaluates pd_* in its client can do the same.
 *   pd_key(x)         the key id x is sealed under, 'plain', or NULL for NULL
 *   pd_seal_only(x, c) pd_seal, but NULL (never plain) with no data key: for a copy kept
 *                     only to recompute something (txn_keys.sealed)
 *   pd_blind(n, v)    the blind index of limit key n's value v (v itself with no index key)
 *   pd_blind_old(n, v) the same under the index key being replaced (keys.old_index_key_file;
 *                     NULL without one): look-ups match both while rotate-index runs
 * The columns sealed are listed once below (sealed_columns); store_crypt_start seals what an
 * older binary left in plain text when the store opens (the migration), and
 * store_keys_rotate reseals in short writes while the gateway runs. */
#include "gateway/store_crypt.h"
#include "gateway/store_sqlite_private.h"

#include "gateway/data_keys.h"
#include "gateway/field_crypt.h"
#include "gateway/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ERR_MAX 160

struct sealed_column {
    const char *table, *column;
    const char *context; /* SQL: the value's context, from its own row */
};

/* Every column that can hold a personal value, with the context its statements use. */
static const struct sealed_column sealed_columns[] = {
    {"transactions", "fields", "reference"},
    {"deliveries", "payload", "'deliveries.payload'"},
    {"idempotency", "response", "'idempotency.response'"},
    {"receipt_copies", "payload", "'receipt_copies.payload'"},
    {"txn_keys", "sealed", "'txn_keys.sealed'"},
};
#define SEALED_COLUMNS_LEN (sizeof sealed_columns / sizeof sealed_columns[0])

static void fn_seal(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *x = (const char *)sqlite3_value_text(argv[0]);
    const char *context = (const char *)sqlite3_value_text(argv[1]);
    char *out = NULL;
    if (!x)
        sqlite3_result_null(ctx);
    else if (field_seal(sqlite3_user_data(ctx), x, context, &out))
        sqlite3_result_text(ctx, out, -1, free);
    else
        sqlite3_result_error(ctx, "personal data cannot be sealed", -1);
}

static void fn_seal_only(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const struct field_crypt *fc = sqlite3_user_data(ctx);
    if (!fc || !data_keys_current(fc->data))
        sqlite3_result_null(ctx);
    else
        fn_seal(ctx, argc, argv);
}

static void fn_open(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *x = (const char *)sqlite3_value_text(argv[0]);
    const char *context = (const char *)sqlite3_value_text(argv[1]);
    char *out = NULL;
    char err[ERR_MAX];
    if (!x)
        sqlite3_result_null(ctx);
    else if (field_open(sqlite3_user_data(ctx), x, context, &out, err, sizeof err))
        sqlite3_result_text(ctx, out, -1, free);
    else {
        /* the read fails (the caller answers "unavailable"): say why here, with the context
         * (a reference or a column's name, never a value) */
        log_msg(LOG_ERROR, "personal_data_unreadable", "%s: %s", context ? context : "-", err);
        sqlite3_result_error(ctx, err, -1);
    }
}

static void fn_reseal(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const struct field_crypt *fc = sqlite3_user_data(ctx);
    const char *x = (const char *)sqlite3_value_text(argv[0]);
    const char *context = (const char *)sqlite3_value_text(argv[1]);
    char id[DATA_KEY_ID_MAX + 1];
    const char *current = fc ? data_keys_current(fc->data) : NULL;
    if (!x || !current ||
        (field_sealed_version(x) == 2 && field_sealed_key(x, id, sizeof id) &&
         strcmp(id, current) == 0)) {
        sqlite3_result_value(ctx, argv[0]);
        return;
    }
    char *plain = NULL, *out = NULL;
    char err[ERR_MAX];
    if (!field_open(fc, x, context, &plain, err, sizeof err)) {
        sqlite3_result_error(ctx, err, -1);
        return;
    }
    if (field_seal(fc, plain, context, &out))
        sqlite3_result_text(ctx, out, -1, free);
    else
        sqlite3_result_error(ctx, "personal data cannot be sealed", -1);
    free(plain);
}

static void fn_key(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *x = (const char *)sqlite3_value_text(argv[0]);
    char id[DATA_KEY_ID_MAX + 1];
    if (!x)
        sqlite3_result_null(ctx);
    else if (field_sealed_key(x, id, sizeof id))
        sqlite3_result_text(ctx, id, -1, SQLITE_TRANSIENT);
    else
        sqlite3_result_text(ctx, "plain", -1, SQLITE_STATIC);
}

static void fn_blind(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const struct field_crypt *fc = sqlite3_user_data(ctx);
    const char *name = (const char *)sqlite3_value_text(argv[0]);
    const char *value = (const char *)sqlite3_value_text(argv[1]);
    char out[FIELD_BLIND_SIZE];
    if (!name || !value || !fc || !fc->index ||
        strncmp(value, FIELD_BLIND_PREFIX, sizeof FIELD_BLIND_PREFIX - 1) == 0)
        sqlite3_result_value(ctx, argv[1]);
    else if (field_blind(fc, name, value, out))
        sqlite3_result_text(ctx, out, -1, SQLITE_TRANSIENT);
    else
        sqlite3_result_error(ctx, "a blind index cannot be made", -1);
}

static void fn_blind_old(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const struct field_crypt *fc = sqlite3_user_data(ctx);
    const char *name = (const char *)sqlite3_value_text(argv[0]);
    const char *value = (const char *)sqlite3_value_text(argv[1]);
    char out[FIELD_BLIND_SIZE];
    if (name && value && field_blind_old(fc, name, value, out))
        sqlite3_result_text(ctx, out, -1, SQLITE_TRANSIENT);
    else
        sqlite3_result_null(ctx); /* no old key: matches nothing */
}

bool store_crypt_attach(sqlite3 *db, const struct field_crypt *fc, char *err, size_t errlen)
{
    void *ud = (void *)fc;
    const int det = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY;
    const int once = SQLITE_UTF8 | SQLITE_DIRECTONLY; /* a fresh IV each call */
    if (sqlite3_create_function(db, "pd_seal", 2, once, ud, fn_seal, NULL, NULL) != SQLITE_OK ||
        sqlite3_create_function(db, "pd_open", 2, det, ud, fn_open, NULL, NULL) != SQLITE_OK ||
        sqlite3_create_function(db, "pd_reseal", 2, once, ud, fn_reseal, NULL, NULL) != SQLITE_OK ||
        sqlite3_create_function(db, "pd_key", 1, det, ud, fn_key, NULL, NULL) != SQLITE_OK ||
        sqlite3_create_function(db, "pd_seal_only", 2, once, ud, fn_seal_only, NULL, NULL) !=
            SQLITE_OK ||
        sqlite3_create_function(db, "pd_blind_old", 2, det, ud, fn_blind_old, NULL, NULL) !=
            SQLITE_OK ||
        sqlite3_create_function(db, "pd_blind", 2, det, ud, fn_blind, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot register the personal data functions: %s",
                 sqlite3_errmsg(db));
        return false;
    }
    return true;
}

/* True when any row of table.column matches the LIKE pattern; -1 on an error. */
static int column_has(sqlite3 *db, const char *table, const char *column, const char *pattern)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT 1 FROM %s WHERE %s LIKE ? LIMIT 1", table, column);
    sqlite3_stmt *st = store_prepare(db, sql);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, pattern, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* False, naming the key, when a value of the column is sealed under a key not loaded: the
 * store would open but its reads would fail. */
static bool keys_loaded(sqlite3 *db, const struct field_crypt *fc, const struct sealed_column *c,
                        char *err, size_t errlen)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT DISTINCT pd_key(%s) FROM %s WHERE %s LIKE '%s'", c->column,
             c->table, c->column, FIELD_SEALED_LIKE);
    sqlite3_stmt *st = store_prepare(db, sql);
    int rc = SQLITE_ERROR;
    bool ok = st != NULL;
    while (ok && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        if (!data_keys_has(fc->data, id)) {
            snprintf(err, errlen,
                     "personal data in %s.%s is sealed under data key %s, which is not loaded:"
                     " list its file in keys.old_data_key_files",
                     c->table, c->column, id);
            ok = false;
        }
    }
    if (ok && rc != SQLITE_DONE) {
        snprintf(err, errlen, "cannot read %s.%s: %s", c->table, c->column, sqlite3_errmsg(db));
        ok = false;
    }
    sqlite3_finalize(st);
    return ok;
}

static bool exec_sql(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return true;
    snprintf(err, errlen, "sealing personal data at open: %s", msg ? msg : "failed");
    sqlite3_free(msg);
    return false;
}

bool store_crypt_start(sqlite3 *db, const struct field_crypt *fc, char *err, size_t errlen)
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
                           FIELD_SEALED_LIKE) != 0) {
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
    if (!exec_sql(db, "BEGIN IMMEDIATE", err, errlen))
        return false;
    bool ok = true;
    long sealed = 0;
    for (size_t i = 0; ok && has_data && i < SEALED_COLUMNS_LEN; i++) {
        char sql[256];
        const struct sealed_column *c = &sealed_columns[i];
        snprintf(sql, sizeof sql, "UPDATE %s SET %s = pd_seal(%s, %s) WHERE %s NOT LIKE '%s'",
                 c->table, c->column, c->column, c->context, c->column, FIELD_SEALED_LIKE);
        ok = exec_sql(db, sql, err, errlen);
        sealed += sqlite3_changes(db);
    }
    long blinded = 0;
    if (ok && has_index) {
        ok = exec_sql(db,
                      "UPDATE txn_keys SET value = pd_blind(name, value),"
                      " sealed = pd_seal_only(value, 'txn_keys.sealed')"
                      " WHERE value NOT LIKE '" FIELD_BLIND_PREFIX "%'",
                      err, errlen);
        blinded = sqlite3_changes(db);
    }
    if (ok && (sealed || blinded)) { /* a key operation: audited with what it did */
        char detail[96];
        snprintf(detail, sizeof detail, "%ld values sealed, %ld limit keys blinded", sealed,
                 blinded);
        struct audit_entry e = {.action = "personal_data_sealed",
                                .subject = has_data ? data_keys_current(fc->data) : NULL,
                                .detail = detail};
        ok = store_audit_insert(db, &e, time(NULL)) == STORE_OK;
        if (!ok)
            snprintf(err, errlen, "sealing personal data at open: the audit row failed");
    }
    char ignored[ERR_MAX];
    if (!ok || !exec_sql(db, "COMMIT", err, errlen)) {
        (void)exec_sql(db, "ROLLBACK", ignored, sizeof ignored);
        return false;
    }
    /* the WAL still holds the pages as they were (the plain values): empty it. Nothing reads
     * yet, so the checkpoint is complete. */
    if ((sealed || blinded) && !exec_sql(db, "PRAGMA wal_checkpoint(TRUNCATE)", err, errlen))
        return false;
    if (sealed || blinded)
        log_msg(LOG_INFO, "personal_data_sealed",
                "sealed %ld stored values and blinded %ld limit keys left by an older version",
                sealed, blinded);
    return true;
}

enum store_result store_wal_truncate(struct store *store)
{
    /* any connection may checkpoint, a query_only one too; it waits (busy timeout) for the
     * readers still on older pages */
    sqlite3 *db = store_reader_acquire(store);
    sqlite3_stmt *st = store_prepare(db, "PRAGMA wal_checkpoint(TRUNCATE)");
    int rc = st ? sqlite3_step(st) : SQLITE_ERROR;
    bool busy = rc == SQLITE_ROW && sqlite3_column_int(st, 0) != 0;
    sqlite3_finalize(st);
    store_reader_release(store, db);
    if (rc != SQLITE_ROW || busy) {
        log_msg(LOG_WARN, "wal_truncate",
                "the WAL could not be emptied (%s); the next checkpoint"
                " will",
                busy ? "busy" : "failed");
        return STORE_UNAVAILABLE;
    }
    return STORE_OK;
}

/* ---- rotation and status ---- */

struct rotate_job {
    const char *current; /* FIELD_SEALED_PREFIX "<key id>:": what needs no resealing */
    long batch;
    long moved;
};

static enum store_result rotate_batch(sqlite3 *db, void *arg)
{
    struct rotate_job *job = arg;
    job->moved = 0;
    for (size_t i = 0; i < SEALED_COLUMNS_LEN && job->moved < job->batch; i++) {
        char sql[320];
        const char *t = sealed_columns[i].table, *c = sealed_columns[i].column;
        snprintf(sql, sizeof sql,
                 "UPDATE %s SET %s = pd_reseal(%s, %s) WHERE rowid IN (SELECT rowid FROM %s"
                 " WHERE %s IS NOT NULL AND substr(%s, 1, length(?1)) <> ?1 LIMIT ?2)",
                 t, c, c, sealed_columns[i].context, t, c, c);
        sqlite3_stmt *st = store_prepare(db, sql);
        if (!st)
            return STORE_UNAVAILABLE;
        sqlite3_bind_text(st, 1, job->current, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, job->batch - job->moved);
        int rc = sqlite3_step(st);
        if (rc != SQLITE_DONE) {
            log_msg(LOG_ERROR, "keys_rotate", "resealing %s.%s: %s", t, c, sqlite3_errmsg(db));
            sqlite3_finalize(st);
            return store_sqlite_result(rc);
        }
        job->moved += sqlite3_changes(db);
        sqlite3_finalize(st);
    }
    return STORE_OK;
}

enum store_result store_keys_rotate(struct store *store, const char *current, long batch,
                                    long *moved)
{
    *moved = 0;
    char prefix[sizeof FIELD_SEALED_PREFIX + DATA_KEY_ID_MAX + 1];
    snprintf(prefix, sizeof prefix, "%s%s:", FIELD_SEALED_PREFIX, current);
    struct rotate_job job = {.current = prefix, .batch = batch > 0 ? batch : 1};
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
    sqlite3 *db = store_reader_acquire(store);
    enum store_result r = STORE_OK;
    for (size_t i = 0; r == STORE_OK && i < SEALED_COLUMNS_LEN; i++) {
        char sql[256], name[64];
        const char *t = sealed_columns[i].table, *c = sealed_columns[i].column;
        snprintf(sql, sizeof sql,
                 "SELECT pd_key(%s), COUNT(*) FROM %s WHERE %s IS NOT NULL GROUP BY 1", c, t, c);
        snprintf(name, sizeof name, "%s.%s", t, c);
        json_t *counts = json_object();
        sqlite3_stmt *st = store_prepare(db, sql);
        int rc = SQLITE_ERROR;
        while (st && counts && (rc = sqlite3_step(st)) == SQLITE_ROW)
            json_object_set_new(counts, (const char *)sqlite3_column_text(st, 0),
                                json_integer(sqlite3_column_int64(st, 1)));
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE || !counts)
            r = STORE_UNAVAILABLE;
        json_object_set_new(*out, name, counts ? counts : json_object());
    }
    sqlite3_stmt *st = r == STORE_OK ? store_prepare(db, "SELECT value LIKE '" FIELD_BLIND_PREFIX
                                                         "%', COUNT(*) FROM txn_keys GROUP BY 1")
                                     : NULL;
    json_t *keys = json_object();
    int rc = SQLITE_ERROR;
    while (st && keys && (rc = sqlite3_step(st)) == SQLITE_ROW)
        json_object_set_new(keys, sqlite3_column_int(st, 0) ? "blind" : "plain",
                            json_integer(sqlite3_column_int64(st, 1)));
    sqlite3_finalize(st);
    if (r == STORE_OK && rc != SQLITE_DONE)
        r = STORE_UNAVAILABLE;
    json_object_set_new(*out, "txn_keys.value", keys ? keys : json_object());
    /* uploaded documents are files sealed under a key id of their own (document_rekey.h
     * reseals them): the kept files under each key */
    st = r == STORE_OK ? store_prepare(db, "SELECT key_id, COUNT(*) FROM documents"
                                           " WHERE file_deleted_at IS NULL GROUP BY 1")
                       : NULL;
    json_t *docs = json_object();
    rc = SQLITE_ERROR;
    while (st && docs && (rc = sqlite3_step(st)) == SQLITE_ROW)
        json_object_set_new(docs, (const char *)sqlite3_column_text(st, 0),
                            json_integer(sqlite3_column_int64(st, 1)));
    sqlite3_finalize(st);
    if (r == STORE_OK && rc != SQLITE_DONE)
        r = STORE_UNAVAILABLE;
    json_object_set_new(*out, "documents", docs ? docs : json_object());
    store_reader_release(store, db);
    if (r != STORE_OK) {
        json_decref(*out);
        *out = NULL;
    }
    return r;
}
