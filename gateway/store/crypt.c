/* store_crypt: personal data sealed at rest (field_crypt.h).
 *
 * Every connection gets SQL functions over the process's keys (the SQLite engine registers
 * them: store/sqlite/crypt_functions.c), so sealing sits in the SQL
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
#include "gateway/store/crypt.h"
#include "gateway/store/store_private.h"

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
    const char *key;     /* the table's key columns */
};

/* Every column that can hold a personal value, with the context its statements use. */
static const struct sealed_column sealed_columns[] = {
    {"transactions", "fields", "reference", "id"},
    {"deliveries", "payload", "'deliveries.payload'", "id"},
    {"idempotency", "response", "'idempotency.response'", "staff, key"},
    {"receipt_copies", "payload", "'receipt_copies.payload'", "id"},
    {"txn_keys", "sealed", "'txn_keys.sealed'", "transaction_id, name, value"},
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

/* Appends to out (size n) a LIKE pattern for values sealed under key id: `enc:v_:<id>:%`, the
 * id's own % and _ escaped with a backslash (ESCAPE '\'). */
static void sealed_under_pattern(const char *id, char *out, size_t n)
{
    size_t k = (size_t)snprintf(out, n, "enc:v_:");
    for (const char *c = id; *c && k + 4 < n; c++) {
        if (*c == '%' || *c == '_' || *c == '\\' || *c == '\'')
            out[k++] = *c == '\'' ? '\'' : '\\';
        out[k++] = *c;
    }
    snprintf(out + k, n - k, ":%%");
}

/* False, naming the key, when a value of the column is sealed under a key not loaded: the
 * store would open but its reads would fail. Looks for one value sealed under none of the
 * loaded keys (LIKE, in the SQL both engines run), and reads its key id in C. */
static bool keys_loaded(struct db *db, const struct field_crypt *fc, const struct sealed_column *c,
                        char *err, size_t errlen)
{
    char sql[2048];
    int len = snprintf(sql, sizeof sql, "SELECT %s FROM %s WHERE %s LIKE '%s'", c->column, c->table,
                       c->column, FIELD_SEALED_LIKE);
    for (size_t i = 0; i < data_keys_count(fc->data) && len < (int)sizeof sql; i++) {
        char pattern[2 * DATA_KEY_ID_MAX + 16];
        sealed_under_pattern(data_keys_id(fc->data, i), pattern, sizeof pattern);
        len += snprintf(sql + len, sizeof sql - (size_t)len, " AND %s NOT LIKE '%s' ESCAPE '\\'",
                        c->column, pattern);
    }
    if (len >= (int)sizeof sql - 16) {
        snprintf(err, errlen, "too many data keys to check %s.%s", c->table, c->column);
        return false;
    }
    snprintf(sql + len, sizeof sql - (size_t)len, " LIMIT 1");
    struct db_stmt *st = db_prepare(db, sql);
    enum db_step rc = st ? db_step(st) : DB_ERROR;
    bool ok = rc == DB_DONE;
    char id[DATA_KEY_ID_MAX + 1];
    if (rc == DB_ROW && field_sealed_key(db_column_text(st, 0), id, sizeof id))
        snprintf(err, errlen,
                 "personal data in %s.%s is sealed under data key %s, which is not loaded:"
                 " list its file in keys.old_data_key_files",
                 c->table, c->column, id);
    else if (rc != DB_DONE)
        snprintf(err, errlen, "cannot read %s.%s: %s", c->table, c->column, db_errmsg(db));
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

bool store_crypt_check(struct db *db, const struct field_crypt *fc, char *err, size_t errlen)
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
    return true;
}

bool store_crypt_start(struct db *db, const struct field_crypt *fc, char *err, size_t errlen)
{
    if (!store_crypt_check(db, fc, err, errlen))
        return false;
    bool has_data = fc && data_keys_current(fc->data);
    bool has_index = fc && fc->index;
    char why[ERR_MAX];
    if (!db_begin(db, why, sizeof why)) {
        snprintf(err, errlen, "sealing personal data at open: %s", why);
        return false;
    }
    bool ok = true;
    long sealed = 0;
    for (size_t i = 0; ok && has_data && i < SEALED_COLUMNS_LEN; i++) {
        char sql[256];
        const struct sealed_column *c = &sealed_columns[i];
        snprintf(sql, sizeof sql, "UPDATE %s SET %s = pd_seal(%s, %s) WHERE %s NOT LIKE '%s'",
                 c->table, c->column, c->column, c->context, c->column, FIELD_SEALED_LIKE);
        ok = exec_sql(db, sql, err, errlen);
        sealed += db_changes(db);
    }
    long blinded = 0;
    if (ok && has_index) {
        ok = exec_sql(db,
                      "UPDATE txn_keys SET value = pd_blind(name, value),"
                      " sealed = pd_seal_only(value, 'txn_keys.sealed')"
                      " WHERE value NOT LIKE '" FIELD_BLIND_PREFIX "%'",
                      err, errlen);
        blinded = db_changes(db);
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
    if ((sealed || blinded) && !db_forget_freed(db)) {
        snprintf(err, errlen, "the sealed values' old pages could not be cleared: %s",
                 db_errmsg(db));
        return false;
    }
    if (sealed || blinded)
        log_msg(LOG_INFO, "personal_data_sealed",
                "sealed %ld stored values and blinded %ld limit keys left by an older version",
                sealed, blinded);
    return true;
}

enum store_result store_wal_truncate(struct store *store)
{
    struct db *db = store_reader_acquire(store);
    bool done = db_forget_freed(db);
    store_reader_release(store, db);
    if (!done) {
        log_msg(
            LOG_WARN, "wal_truncate",
            "the old pages of purged values could not be cleared now; the next checkpoint will");
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

/* One row to reseal: its value opened, its context and its key columns' values. */
struct reseal_row {
    char *plain, *context;
    char *key[3];
};

static void reseal_rows_free(struct reseal_row *rows, long n)
{
    for (long i = 0; rows && i < n; i++) {
        free(rows[i].plain);
        free(rows[i].context);
        for (int k = 0; k < 3; k++)
            free(rows[i].key[k]);
    }
    free(rows);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Reseals up to job's batch values of one column under the current key: reads them opened
 * (pd_open), then writes each back sealed (pd_seal) by its key columns, in the client's SQL
 * both engines run (no pd_reseal over a column, no rowid). */
static enum store_result reseal_column(struct db *db, const struct sealed_column *sc,
                                       struct rotate_job *job)
{
    char keys[3][24] = {{0}};
    int nkeys = sscanf(sc->key, "%23[^, ], %23[^, ], %23[^, ]", keys[0], keys[1], keys[2]);
    char sql[400];
    snprintf(sql, sizeof sql,
             "SELECT pd_open(%s, %s), %s, %s FROM %s WHERE %s IS NOT NULL"
             " AND substr(%s, 1, length(CAST(?1 AS TEXT))) <> ?1 LIMIT ?2",
             sc->column, sc->context, sc->context, sc->key, sc->table, sc->column, sc->column);
    long want = job->batch - job->moved, n = 0;
    struct reseal_row *rows = calloc((size_t)want + 1, sizeof *rows);
    struct db_stmt *st = rows && nkeys > 0 ? db_prepare(db, sql) : NULL;
    if (!st) {
        free(rows);
        return STORE_UNAVAILABLE;
    }
    db_bind_text(st, 1, job->current);
    db_bind_int64(st, 2, want);
    enum db_step rc;
    bool ok = true;
    while (ok && n < want && (rc = db_step(st)) == DB_ROW) {
        struct reseal_row *r = &rows[n++];
        r->plain = dup_or_null(db_column_text(st, 0));
        r->context = dup_or_null(db_column_text(st, 1));
        ok = r->plain && r->context;
        for (int k = 0; ok && k < nkeys; k++)
            ok = (r->key[k] = dup_or_null(db_column_text(st, 2 + k))) != NULL;
    }
    if (ok && n < want && rc != DB_DONE) {
        log_msg(LOG_ERROR, "keys_rotate", "reading %s.%s: %s", sc->table, sc->column,
                db_errmsg(db));
        db_finalize(st);
        reseal_rows_free(rows, n);
        return store_step_result(db, rc);
    }
    db_finalize(st);
    if (!ok) {
        reseal_rows_free(rows, n);
        return STORE_UNAVAILABLE;
    }
    int len = snprintf(sql, sizeof sql, "UPDATE %s SET %s = pd_seal(?1, ?2) WHERE", sc->table,
                       sc->column);
    for (int k = 0; k < nkeys; k++)
        len += snprintf(sql + len, sizeof sql - (size_t)len, "%s %s = ?%d", k ? " AND" : "",
                        keys[k], k + 3);
    st = db_prepare(db, sql);
    enum store_result res = st ? STORE_OK : STORE_UNAVAILABLE;
    for (long i = 0; res == STORE_OK && i < n; i++) {
        db_bind_text(st, 1, rows[i].plain);
        db_bind_text(st, 2, rows[i].context);
        for (int k = 0; k < nkeys; k++)
            db_bind_text(st, 3 + k, rows[i].key[k]);
        rc = db_step(st);
        if (rc != DB_DONE) {
            log_msg(LOG_ERROR, "keys_rotate", "resealing %s.%s: %s", sc->table, sc->column,
                    db_errmsg(db));
            res = store_step_result(db, rc);
        } else {
            job->moved += db_changes(db);
        }
        db_release(st);
    }
    db_finalize(st);
    reseal_rows_free(rows, n);
    return res;
}

static enum store_result rotate_batch(struct db *db, void *arg)
{
    struct rotate_job *job = arg;
    job->moved = 0;
    enum store_result r = STORE_OK;
    for (size_t i = 0; r == STORE_OK && i < SEALED_COLUMNS_LEN && job->moved < job->batch; i++)
        r = reseal_column(db, &sealed_columns[i], job);
    return r;
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
    struct db *db = store_reader_acquire(store);
    enum store_result r = STORE_OK;
    for (size_t i = 0; r == STORE_OK && i < SEALED_COLUMNS_LEN; i++) {
        char sql[256], name[64];
        const char *t = sealed_columns[i].table, *c = sealed_columns[i].column;
        /* the key id is in each value's prefix (pd_key): read the prefixes, count here */
        snprintf(sql, sizeof sql, "SELECT substr(%s, 1, %d) FROM %s WHERE %s IS NOT NULL", c,
                 (int)(sizeof FIELD_SEALED_PREFIX + DATA_KEY_ID_MAX + 1), t, c);
        snprintf(name, sizeof name, "%s.%s", t, c);
        json_t *counts = json_object();
        struct db_stmt *st = db_prepare(db, sql);
        enum db_step rc = DB_ERROR;
        while (st && counts && (rc = db_step(st)) == DB_ROW) {
            char id[DATA_KEY_ID_MAX + 1];
            const char *key = field_sealed_key(db_column_text(st, 0), id, sizeof id) ? id : "plain";
            json_object_set_new(counts, key,
                                json_integer(json_integer_value(json_object_get(counts, key)) + 1));
        }
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
    /* uploaded documents are files sealed under a key id of their own (document_rekey.h
     * reseals them): the kept files under each key */
    st = r == STORE_OK ? db_prepare(db, "SELECT key_id, COUNT(*) FROM documents"
                                        " WHERE file_deleted_at IS NULL GROUP BY 1")
                       : NULL;
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
