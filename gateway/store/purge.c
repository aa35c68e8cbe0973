/* store_purge: anonymising the personal fields of transactions past their retention.
 *
 * DESIGN: one pass per service over its ended transactions not yet purged (purged_at IS
 * NULL). For each, the values of its personal fields are read from the transaction's fields
 * and replaced there by PURGE_MARKER; then every string in its outbox payload and its stored
 * idempotent reply that holds one of those values is replaced by the marker too. Payloads are
 * shaped by connectors (a VRM may sit under "vehicle" in one and inside a description in
 * another), so they are searched by value, not by field name. A dry run walks the same code
 * on a read connection and writes nothing. The writer runs with secure_delete on (always), so
 * SQLite overwrites the old values' bytes in the pages it frees instead of leaving them
 * there; purge.c then empties the WAL (store_wal_truncate), which held the older pages. */
#include "gateway/store/purge.h"

#include "gateway/store/store_private.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Most transactions one write purges (about 100 us each): a backlog of years is purged in
 * many short writes, never one that holds the counters' sales up for seconds. */
#define PURGE_BATCH_MAX 500
/* Personal values at least this long are also found inside longer text. */
#define PURGE_INSIDE_MIN 4

struct purge_pass {
    struct db *db;
    bool write;
    long limit; /* most transactions this pass purges; -1: all */
    bool sweep; /* also delete the expired limit keys of purged transactions */
    const char *today;
    struct purge_counts counts; /* of the current service */
};

/* A personal value as a JSON string (a string, or a number as digits), new; NULL for none. */
static json_t *value_string(const json_t *v)
{
    if (json_is_string(v) && json_string_length(v) > 0 &&
        strcmp(json_string_value(v), PURGE_MARKER) != 0)
        return json_string(json_string_value(v));
    if (json_is_integer(v))
        return json_sprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return NULL;
}

/* True when text holds one of values: inside it for values of PURGE_INSIDE_MIN characters or
 * more (a VRM in a description), as the whole text for shorter ones, and always as the whole
 * text when whole (a number), so a short value never takes an amount or a date with it. */
static bool holds_any(const char *text, const json_t *values, bool whole)
{
    size_t i;
    const json_t *v;
    json_array_foreach(values, i, v)
    {
        const char *value = json_string_value(v);
        bool inside = !whole && json_string_length(v) >= PURGE_INSIDE_MIN;
        if (inside ? strstr(text, value) != NULL : strcmp(text, value) == 0)
            return true;
    }
    return false;
}

/* True when v (a string, or a number's digits) holds one of values. */
static bool leaf_holds(const json_t *v, const json_t *values)
{
    if (json_is_string(v))
        return holds_any(json_string_value(v), values, false);
    json_t *digits = json_is_integer(v) ? value_string(v) : NULL;
    bool hit = digits && holds_any(json_string_value(digits), values, true);
    json_decref(digits);
    return hit;
}

/* Replaces, in place, every string or number in doc that holds one of values; the count of
 * replacements. */
static long scrub(json_t *doc, const json_t *values)
{
    long n = 0;
    if (json_is_object(doc)) {
        const char *k;
        json_t *v;
        json_object_foreach(doc, k, v)
        {
            if (leaf_holds(v, values)) {
                json_object_set_new(doc, k, json_string(PURGE_MARKER));
                n++;
            } else {
                n += scrub(v, values);
            }
        }
    } else if (json_is_array(doc)) {
        for (size_t i = 0; i < json_array_size(doc); i++) {
            json_t *v = json_array_get(doc, i);
            if (leaf_holds(v, values)) {
                json_array_set_new(doc, i, json_string(PURGE_MARKER));
                n++;
            } else {
                n += scrub(v, values);
            }
        }
    }
    return n;
}

/* Scrubs the JSON text of the rows select picks for txn_id (its columns: the row's `keys` key
 * columns, then the text), and writes it back with update (?1 the text, ?2.. the key columns)
 * when pass->write; the rows changed. */
static enum store_result scrub_rows(struct purge_pass *pass, const char *select, const char *update,
                                    int keys, int64_t txn_id, const json_t *values, long *changed)
{
    struct db_stmt *sel = db_prepare(pass->db, select);
    struct db_stmt *upd = pass->write ? db_prepare(pass->db, update) : NULL;
    enum store_result r = sel && (upd || !pass->write) ? STORE_OK : STORE_UNAVAILABLE;
    enum db_step rc = DB_DONE;
    if (sel)
        db_bind_int64(sel, 1, txn_id);
    while (r == STORE_OK && (rc = db_step(sel)) == DB_ROW) {
        const char *text = db_column_text(sel, keys);
        json_t *doc = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
        /* not JSON (never written so today): the whole text goes if it holds a value */
        bool hit = doc ? scrub(doc, values) > 0 : (text && holds_any(text, values, false));
        char *out = !hit ? NULL : doc ? json_dumps(doc, JSON_COMPACT) : strdup(PURGE_MARKER);
        json_decref(doc);
        if (hit && !out)
            r = STORE_UNAVAILABLE;
        if (hit && out && upd) {
            db_bind_text(upd, 1, out);
            for (int k = 0; k < keys; k++)
                db_bind_text(upd, 2 + k, db_column_text(sel, k));
            if (db_step(upd) != DB_DONE) {
                store_log_error(pass->db, "purge");
                r = STORE_UNAVAILABLE;
            }
            db_release(upd);
        }
        *changed += hit ? 1 : 0;
        free(out);
    }
    if (r == STORE_OK && rc != DB_DONE)
        r = store_step_result(pass->db, rc);
    db_finalize(sel);
    db_finalize(upd);
    return r;
}

/* Steps st once and finalizes it: a count(*) row, or a DELETE whose changes count; into *n. */
static enum store_result step_count(struct db *db, struct db_stmt *st, long *n)
{
    enum db_step rc = db_step(st);
    if (rc == DB_ROW)
        *n += db_column_int64(st, 0);
    else if (rc == DB_DONE)
        *n += db_changes(db);
    else
        store_log_error(db, "purge");
    db_finalize(st);
    return rc == DB_ROW || rc == DB_DONE ? STORE_OK : STORE_UNAVAILABLE;
}

/* Deletes (or, in a dry run, counts) the expired limit keys of the service's transactions
 * that are purged, or about to be: their personal data is no longer needed by any rule. */
static enum store_result keys_sweep(struct purge_pass *pass, const struct purge_plan *plan)
{
    static const char *const ended =
        " AND transaction_id IN (SELECT id FROM transactions WHERE service=?1 AND"
        " (purged_at IS NOT NULL OR (status='completed' AND completed_at<=?3)"
        " OR (status='voided' AND updated_at<=?3)))";
    char sql[512];
    snprintf(sql, sizeof sql, "%s FROM txn_keys WHERE live_until<?2%s",
             pass->write ? "DELETE" : "SELECT count(*)", ended);
    struct db_stmt *st = db_prepare(pass->db, sql);
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, plan->service);
    db_bind_text(st, 2, pass->today);
    db_bind_int64(st, 3, plan->cutoff);
    return step_count(pass->db, st, &pass->counts.keys);
}

/* Anonymises one transaction (fields_text its fields); the personal values it held. */
static enum store_result purge_one(struct purge_pass *pass, const struct purge_plan *plan,
                                   int64_t id, const char *reference, const char *fields_text,
                                   time_t now)
{
    json_t *fields = json_loads(fields_text ? fields_text : "{}", 0, NULL);
    json_t *values = json_array();
    enum store_result r = fields && values ? STORE_OK : STORE_UNAVAILABLE;
    size_t i;
    const json_t *name;
    json_array_foreach(plan->personal, i, name)
    {
        if (r != STORE_OK)
            break;
        const json_t *v = json_object_get(fields, json_string_value(name));
        if (!v || json_is_null(v) ||
            (json_is_string(v) && strcmp(json_string_value(v), PURGE_MARKER) == 0))
            continue;
        json_t *text = value_string(v); /* what the payload is searched for: text, numbers */
        if (text)
            json_array_append_new(values, text);
        json_object_set_new(fields, json_string_value(name), json_string(PURGE_MARKER));
        pass->counts.fields++;
    }
    char *out = r == STORE_OK ? json_dumps(fields, JSON_COMPACT) : NULL;
    if (r == STORE_OK && !out)
        r = STORE_UNAVAILABLE;
    if (r == STORE_OK && pass->write) {
        struct db_stmt *st = db_prepare(pass->db, "UPDATE transactions SET fields=pd_seal(?1, ?4),"
                                                  " purged_at=?2 WHERE id=?3");
        if (!st)
            r = STORE_UNAVAILABLE;
        else {
            db_bind_text(st, 1, out);
            db_bind_int64(st, 2, now);
            db_bind_int64(st, 3, id);
            db_bind_text(st, 4, reference); /* the context: bound, as the client seals */
            r = db_step(st) == DB_DONE ? STORE_OK : STORE_UNAVAILABLE;
            db_finalize(st);
        }
    }
    free(out);
    if (r == STORE_OK && json_array_size(values) > 0)
        r = scrub_rows(pass,
                       "SELECT id, pd_open(payload, 'deliveries.payload') FROM deliveries"
                       " WHERE transaction_id=?",
                       "UPDATE deliveries SET payload=pd_seal(?, 'deliveries.payload') WHERE id=?",
                       1, id, values, &pass->counts.payloads);
    if (r == STORE_OK && json_array_size(values) > 0)
        r = scrub_rows(
            pass,
            "SELECT staff, key, pd_open(response, 'idempotency.response') FROM idempotency"
            " WHERE transaction_id=?",
            "UPDATE idempotency SET response=pd_seal(?1, 'idempotency.response')"
            " WHERE staff=?2 AND key=?3",
            2, id, values, &pass->counts.replies);
    /* the limit keys' sealed values go too (their blind index stays while live; rotate-index
     * then leaves them under the old index key until they expire) */
    struct db_stmt *keys = r == STORE_OK && pass->write
                               ? db_prepare(pass->db, "UPDATE txn_keys SET sealed = NULL"
                                                      " WHERE transaction_id = ?1")
                               : NULL;
    if (keys) {
        db_bind_int64(keys, 1, id);
        r = db_step(keys) == DB_DONE ? STORE_OK : STORE_UNAVAILABLE;
        db_finalize(keys);
    } else if (r == STORE_OK && pass->write) {
        r = STORE_UNAVAILABLE;
    }
    /* what is left to do outside this write: the document files, the pending copies */
    static const char *const leftovers[] = {
        "SELECT count(*) FROM documents WHERE file_deleted_at IS NULL AND reference ="
        " (SELECT reference FROM transactions WHERE id=?1)",
        "SELECT count(*) FROM receipt_copies WHERE transaction_id=?1 AND state='pending'"};
    long *leftover_counts[] = {&pass->counts.documents, &pass->counts.copies};
    for (size_t k = 0; r == STORE_OK && k < sizeof leftovers / sizeof leftovers[0]; k++) {
        struct db_stmt *q = db_prepare(pass->db, leftovers[k]);
        if (!q) {
            r = STORE_UNAVAILABLE;
            break;
        }
        db_bind_int64(q, 1, id);
        r = step_count(pass->db, q, leftover_counts[k]);
    }
    struct db_stmt *live = r == STORE_OK ? db_prepare(pass->db, "SELECT count(*) FROM txn_keys"
                                                                " WHERE transaction_id=?1 AND"
                                                                " live_until>=?2")
                                         : NULL;
    if (live) {
        db_bind_int64(live, 1, id);
        db_bind_text(live, 2, pass->today);
        r = step_count(pass->db, live, &pass->counts.keys_live);
    } else if (r == STORE_OK) {
        r = STORE_UNAVAILABLE;
    }
    pass->counts.transactions++;
    json_decref(fields);
    json_decref(values);
    return r;
}

static enum store_result purge_service(struct purge_pass *pass, const struct purge_plan *plan,
                                       time_t now)
{
    struct db_stmt *st =
        db_prepare(pass->db, "SELECT id, pd_open(fields, reference), reference FROM transactions"
                             " WHERE service=?1"
                             " AND purged_at IS NULL"
                             " AND ((status='completed' AND completed_at<=?2)"
                             " OR (status='voided' AND updated_at<=?2)) ORDER BY id LIMIT ?3");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, plan->service);
    db_bind_int64(st, 2, plan->cutoff);
    db_bind_int64(st, 3, pass->limit < 0 ? INT64_MAX : pass->limit); /* LIMIT -1 is SQLite's */
    enum store_result r = pass->sweep ? keys_sweep(pass, plan) : STORE_OK;
    enum db_step rc = DB_DONE;
    while (r == STORE_OK && (rc = db_step(st)) == DB_ROW)
        r = purge_one(pass, plan, db_column_int64(st, 0), db_column_text(st, 2),
                      db_column_text(st, 1), now);
    if (r == STORE_OK && rc != DB_DONE)
        r = store_step_result(pass->db, rc);
    db_finalize(st);
    return r;
}

void purge_counts_format(const struct purge_counts *c, char *out, size_t len)
{
    snprintf(out, len,
             "%ld transactions, %ld personal values, %ld payloads, %ld replies; limit keys: "
             "%ld expired deleted, %ld kept while live; %ld document files, %ld pending copies",
             c->transactions, c->fields, c->payloads, c->replies, c->keys, c->keys_live,
             c->documents, c->copies);
}

static void counts_add(struct purge_counts *to, const struct purge_counts *c)
{
    to->transactions += c->transactions;
    to->fields += c->fields;
    to->payloads += c->payloads;
    to->replies += c->replies;
    to->keys += c->keys;
    to->keys_live += c->keys_live;
    to->documents += c->documents;
    to->copies += c->copies;
}

struct purge_job {
    const struct purge_plan *plans;
    size_t len;
    const char *actor, *today;
    time_t now;
    bool sweep; /* the first write of a run sweeps the expired keys */
    struct purge_counts *out;
};

static enum store_result purge_write(struct db *db, void *arg)
{
    struct purge_job *job = arg;
    memset(job->out, 0, sizeof *job->out);
    enum store_result r = STORE_OK;
    for (size_t i = 0; r == STORE_OK && i < job->len; i++) {
        struct purge_pass pass = {.db = db,
                                  .write = true,
                                  .limit = PURGE_BATCH_MAX - job->out->transactions,
                                  .sweep = job->sweep,
                                  .today = job->today};
        r = purge_service(&pass, &job->plans[i], job->now);
        if (r != STORE_OK || (pass.counts.transactions == 0 && pass.counts.keys == 0))
            continue;
        char detail[PURGE_COUNTS_TEXT_MAX];
        purge_counts_format(&pass.counts, detail, sizeof detail);
        struct audit_entry e = {.actor = job->actor,
                                .action = "personal_data_purged",
                                .subject = job->plans[i].service,
                                .detail = detail};
        r = store_audit_insert(db, &e, job->now);
        counts_add(job->out, &pass.counts);
    }
    return r;
}

enum store_result store_purge(struct store *store, const struct purge_plan *plans, size_t len,
                              const char *actor, time_t now, const char *today, bool dry_run,
                              struct purge_counts *out)
{
    memset(out, 0, sizeof *out);
    if (!dry_run) {
        /* batch after batch, each its own write: sales go on between them */
        struct purge_counts batch;
        struct purge_job job = {plans, len, actor, today, now, true, &batch};
        enum store_result r;
        do {
            r = store_write_sync(store, purge_write, &job);
            job.sweep = false;
            if (r == STORE_OK)
                counts_add(out, &batch);
        } while (r == STORE_OK && batch.transactions >= PURGE_BATCH_MAX);
        return r;
    }
    struct db *db = store_reader_acquire(store);
    enum store_result r = STORE_OK;
    char ignored[256];
    db_exec(db, "BEGIN", ignored, sizeof ignored);
    for (size_t i = 0; r == STORE_OK && i < len; i++) {
        struct purge_pass pass = {
            .db = db, .write = false, .limit = -1, .sweep = true, .today = today};
        r = purge_service(&pass, &plans[i], now);
        counts_add(out, &pass.counts);
    }
    db_exec(db, "COMMIT", ignored, sizeof ignored);
    store_reader_release(store, db);
    return r;
}
