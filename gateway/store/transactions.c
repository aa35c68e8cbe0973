/* store_txn: transactions, their payment, limit keys, delivery outbox and print job in the
 * store; the resident's view. The outbox the forwarder drains is in store/deliveries.c.
 *
 * The transaction, payment, keys, delivery, print job, idempotency record and audit entry are
 * inserted by one function inside one writer job, so they commit together or not at all. */
#include "gateway/store/store_private.h"

#include "gateway/log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LIST_LIMIT_MAX            500
#define STORE_LIMIT_LOCK_NAME_MAX 192 /* a limit key's name and its blind value */

static const char *const status_names[] = {"accepted", "forwarded", "completed", "failed",
                                           "voided"};

const char *txn_status_name(enum txn_status status)
{
    return status <= TXN_VOIDED ? status_names[status] : "unknown";
}

bool txn_status_parse(const char *name, enum txn_status *out)
{
    int i = store_name_index(status_names, TXN_ACCEPTED, TXN_VOIDED, name);
    if (i >= 0)
        *out = (enum txn_status)i;
    return i >= 0;
}

bool txn_status_can_move(enum txn_status from, enum txn_status to)
{
    switch (from) {
    case TXN_ACCEPTED:
        return to == TXN_FORWARDED || to == TXN_COMPLETED || to == TXN_FAILED || to == TXN_VOIDED;
    case TXN_FORWARDED:
        return to == TXN_COMPLETED || to == TXN_VOIDED;
    case TXN_FAILED:
        return to == TXN_ACCEPTED || to == TXN_VOIDED; /* a supervisor's retry */
    case TXN_COMPLETED:
        return to == TXN_VOIDED; /* a same-day void of a sale done at the counter */
    case TXN_VOIDED:
        return false;
    }
    return false;
}

static enum store_result audit_insert(struct db *db, const char *actor, const char *counter,
                                      const char *action, const char *subject, const char *detail,
                                      time_t at)
{
    struct audit_entry e = {
        .actor = actor, .counter = counter, .action = action, .subject = subject, .detail = detail};
    return store_audit_insert(db, &e, at);
}

/* ---- the commit of one transaction ---- */

enum store_result store_tx_transaction_insert(struct store_tx *tx, const struct txn_record *r)
{
    struct db *db = store_tx_db(tx);
    int64_t ms = (int64_t)r->now * 1000;
    struct db_stmt *st = db_cached(
        db, "INSERT INTO transactions(reference, service, status, counter, site, staff, fields,"
            " fee_pence, lines, live_until, created_at, updated_at)"
            " VALUES(?,?,?,?,?,?,pd_seal(?, ?1),?,?,?,?,?) RETURNING id");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, r->reference);
    db_bind_text(st, 2, r->service);
    /* A sale with no back-end to forward to is complete at the counter. */
    db_bind_text(st, 3, txn_status_name(r->backend ? TXN_ACCEPTED : TXN_COMPLETED));
    db_bind_text(st, 4, r->counter);
    db_bind_text(st, 5, r->site);
    db_bind_text(st, 6, r->staff);
    db_bind_text(st, 7, r->fields_json);
    db_bind_int64(st, 8, r->fee_pence);
    db_bind_text(st, 9, r->lines_json);
    db_bind_text(st, 10, r->live_until && *r->live_until ? r->live_until : NULL);
    db_bind_int64(st, 11, r->now);
    db_bind_int64(st, 12, r->now);
    int64_t txn_id = 0;
    enum store_result res = store_step_id(db, st, "transaction insert", &txn_id);
    if (res != STORE_OK)
        return res;

    st = db_cached(db, "INSERT INTO payments(transaction_id, method, amount_pence,"
                       " tendered_pence, change_pence, auth_code, reason, authorised_by,"
                       " created_at) VALUES(?,?,?,?,?,?,?,?,?)");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_int64(st, 1, txn_id);
    db_bind_text(st, 2, r->method);
    db_bind_int64(st, 3, r->amount_pence);
    if (strcmp(r->method, "cash") == 0) {
        db_bind_int64(st, 4, r->tendered_pence);
        db_bind_int64(st, 5, r->change_pence);
    }
    db_bind_text(st, 6, r->auth_code);
    db_bind_text(st, 7, r->reason);
    db_bind_text(st, 8, r->authorised_by);
    db_bind_int64(st, 9, r->now);
    if ((res = store_step_done(db, st, "payment insert")) != STORE_OK)
        return res;

    size_t i;
    json_t *key;
    json_array_foreach(r->keys, i, key)
    {
        st = db_cached(db, "INSERT INTO txn_keys(transaction_id, name, value, live_from,"
                           " live_until, sealed) VALUES(?1,?2,pd_blind(?2,?3),?4,?5,"
                           " pd_seal_only(?3, 'txn_keys.sealed'))");
        if (!st)
            return STORE_UNAVAILABLE;
        db_bind_int64(st, 1, txn_id);
        db_bind_text(st, 2, json_string_value(json_object_get(key, "name")));
        db_bind_text(st, 3, json_string_value(json_object_get(key, "value")));
        db_bind_text(st, 4, json_string_value(json_object_get(key, "live_from")));
        db_bind_text(st, 5, json_string_value(json_object_get(key, "live_until")));
        if ((res = store_step_done(db, st, "key insert")) != STORE_OK)
            return res;
    }

    if (r->backend) {
        st = db_cached(db, "INSERT INTO deliveries(transaction_id, backend, connector,"
                           " idempotency_key, payload, state, next_attempt_at_ms, created_at)"
                           " VALUES(?,?,?,?,pd_seal(?, 'deliveries.payload'),'pending',?,?)");
        if (!st)
            return STORE_UNAVAILABLE;
        db_bind_int64(st, 1, txn_id);
        db_bind_text(st, 2, r->backend);
        db_bind_text(st, 3, r->connector);
        db_bind_text(st, 4, r->delivery_key);
        db_bind_text(st, 5, r->payload_json);
        db_bind_int64(st, 6, ms);
        db_bind_int64(st, 7, r->now);
        if ((res = store_step_done(db, st, "delivery insert")) != STORE_OK)
            return res;
    }

    if (r->printer) {
        st = db_cached(db, "INSERT INTO print_jobs(transaction_id, printer, state,"
                           " next_attempt_at_ms, created_at, updated_at, receipt_size,"
                           " receipt_language) VALUES(?,?,'pending',?,?,?,?,?)");
        if (!st)
            return STORE_UNAVAILABLE;
        db_bind_int64(st, 1, txn_id);
        db_bind_text(st, 2, r->printer);
        db_bind_int64(st, 3, ms);
        db_bind_int64(st, 4, r->now);
        db_bind_int64(st, 5, r->now);
        db_bind_text(st, 6, r->receipt_size ? r->receipt_size : "standard");
        db_bind_text(st, 7, r->receipt_language ? r->receipt_language : "en");
        if ((res = store_step_done(db, st, "print job insert")) != STORE_OK)
            return res;
    }

    st = db_cached(db, "INSERT INTO idempotency(key, request_hash, transaction_id, status,"
                       " response, created_at, staff)"
                       " VALUES(?,?,?,?,pd_seal(?, 'idempotency.response'),?,?)");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, r->idempotency_key);
    db_bind_text(st, 2, r->request_hash);
    db_bind_int64(st, 3, txn_id);
    db_bind_int64(st, 4, r->response_status);
    db_bind_text(st, 5, r->response_json);
    db_bind_int64(st, 6, r->now);
    db_bind_text(st, 7, r->staff);
    if ((res = store_step_done(db, st, "idempotency insert")) != STORE_OK)
        return res;

    char detail[160];
    snprintf(detail, sizeof detail, "%s %ldp %s", r->service, r->fee_pence, r->method);
    res = audit_insert(db, r->staff, r->counter, "transaction_accepted", r->reference, detail,
                       r->now);
    /* a sale with no back-end entered `completed` at once: that move is audited too */
    if (res == STORE_OK && !r->backend)
        res = audit_insert(db, r->staff, r->counter, "transaction_completed", r->reference,
                           "complete at the counter (no back-end)", r->now);
    return res;
}

static enum store_result idempotency_find(struct db *db, const char *staff, const char *key,
                                          char request_hash[65], int *status, char **response)
{
    struct db_stmt *st =
        db_cached(db, "SELECT request_hash, status, pd_open(response, 'idempotency.response')"
                      " FROM idempotency"
                      " WHERE key=? AND staff=?");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, key);
    db_bind_text(st, 2, staff);
    enum db_step rc = db_step(st);
    enum store_result r;
    if (rc == DB_ROW) {
        snprintf(request_hash, 65, "%s", db_column_text(st, 0));
        *status = db_column_int64(st, 1);
        *response = strdup(db_column_text(st, 2));
        r = *response ? STORE_OK : STORE_UNAVAILABLE;
    } else {
        r = rc == DB_DONE ? STORE_NOT_FOUND : store_step_result(db, rc);
    }
    db_release(st);
    return r;
}

enum store_result store_tx_idempotency_find(struct store_tx *tx, const char *staff, const char *key,
                                            char request_hash[65], int *status, char **response)
{
    return idempotency_find(store_tx_db(tx), staff, key, request_hash, status, response);
}

enum store_result store_idempotency_find(struct store *store, const char *staff, const char *key,
                                         char request_hash[65], int *status, char **response)
{
    struct db *db = store_reader_acquire(store);
    enum store_result r = idempotency_find(db, staff, key, request_hash, status, response);
    store_reader_release(store, db);
    return r;
}

/* Live entries under (key, value) on a day. A transaction counts until it is voided: a paid
 * permit whose delivery failed is still the resident's (a supervisor retries it or voids it),
 * so it still holds its vehicle's place and its household's. */
static long count_live(struct db *db, const char *key, const char *value, const char *on)
{
    struct db_stmt *st = db_cached(
        db, "SELECT COUNT(*) FROM txn_keys k JOIN transactions t ON t.id = k.transaction_id"
            " WHERE k.name=?1 AND k.value IN (pd_blind(?1,?2), pd_blind_old(?1,?2))"
            " AND k.live_from <= ?3"
            " AND k.live_until >= ?3"
            " AND t.status <> 'voided'");
    if (!st)
        return -1;
    db_bind_text(st, 1, key);
    db_bind_text(st, 2, value);
    db_bind_text(st, 3, on);
    long n = db_step(st) == DB_ROW ? (long)db_column_int64(st, 0) : -1;
    db_release(st);
    return n;
}

/* The count can only rise on `from` or on an entry's live_from, so the peak is the largest
 * count_live over those days. */
static long max_live(struct db *db, const char *key, const char *value, const char *from,
                     const char *until)
{
    long best = count_live(db, key, value, from);
    struct db_stmt *st = db_cached(db, "SELECT DISTINCT live_from FROM txn_keys WHERE name=?1"
                                       " AND value IN (pd_blind(?1,?2), pd_blind_old(?1,?2))"
                                       " AND live_from > ?3"
                                       " AND live_from <= ?4");
    if (!st || best < 0) {
        db_release(st);
        return -1;
    }
    db_bind_text(st, 1, key);
    db_bind_text(st, 2, value);
    db_bind_text(st, 3, from);
    db_bind_text(st, 4, until);
    enum db_step rc;
    while ((rc = db_step(st)) == DB_ROW) {
        char day[16];
        snprintf(day, sizeof day, "%s", db_column_text(st, 0));
        long n = count_live(db, key, value, day);
        if (n < 0) {
            best = -1;
            break;
        }
        if (n > best)
            best = n;
    }
    if (rc != DB_DONE && best >= 0)
        best = -1;
    db_release(st);
    return best;
}

/* Inside a write, before a limit is counted: on an engine several nodes write at once, a
 * transaction-scoped lock on the limit key's blind value, so a second node's sale under the
 * same key waits for the first to commit and then counts it (under READ COMMITTED each
 * statement sees what committed before it). The lock's key is hashed from the blind value,
 * never the value itself. false when the engine failed. */
static bool limit_lock(struct db *db, const char *key, const char *value)
{
    if (!db_shared(db))
        return true;
    struct db_stmt *st = db_cached(db, "SELECT pd_blind(?1, ?2)");
    if (!st)
        return false;
    db_bind_text(st, 1, key);
    db_bind_text(st, 2, value);
    bool ok = db_step(st) == DB_ROW;
    char name[STORE_LIMIT_LOCK_NAME_MAX];
    snprintf(name, sizeof name, "%s:%s", key,
             ok && db_column_text(st, 0) ? db_column_text(st, 0) : "");
    db_release(st);
    return ok && db_lock_xact(db, db_lock_key("limit", name));
}

long store_tx_max_live(struct store_tx *tx, const char *key, const char *value, const char *from,
                       const char *until)
{
    if (!limit_lock(store_tx_db(tx), key, value))
        return -1;
    return max_live(store_tx_db(tx), key, value, from, until);
}

long store_max_live(struct store *store, const char *key, const char *value, const char *from,
                    const char *until)
{
    struct db *db = store_reader_acquire(store);
    long n = max_live(db, key, value, from, until);
    store_reader_release(store, db);
    return n;
}

long store_tx_count_live(struct store_tx *tx, const char *key, const char *value, const char *on)
{
    if (!limit_lock(store_tx_db(tx), key, value))
        return -1;
    return count_live(store_tx_db(tx), key, value, on);
}

long store_count_live(struct store *store, const char *key, const char *value, const char *on)
{
    struct db *db = store_reader_acquire(store);
    long n = count_live(db, key, value, on);
    store_reader_release(store, db);
    return n;
}

enum store_result store_tx_keys_end(struct store_tx *tx, const char *key, const char *value,
                                    const char *until)
{
    struct db *db = store_tx_db(tx);
    struct db_stmt *st = db_cached(db, "UPDATE txn_keys SET live_until = ?3"
                                       " WHERE name = ?1"
                                       " AND value IN (pd_blind(?1,?2), pd_blind_old(?1,?2))"
                                       " AND live_until > ?3");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, key);
    db_bind_text(st, 2, value);
    db_bind_text(st, 3, until);
    return store_step_done(db, st, "key end");
}

/* The latest live_until of (key, value) entries of transactions not voided, into until. */
static int latest_until(struct db *db, const char *key, const char *value, char *until, size_t size)
{
    struct db_stmt *st =
        db_cached(db, "SELECT MAX(k.live_until) FROM txn_keys k JOIN transactions t"
                      " ON t.id = k.transaction_id WHERE k.name=?1"
                      " AND k.value IN (pd_blind(?1,?2), pd_blind_old(?1,?2))"
                      " AND t.status <> 'voided'");
    if (!st)
        return -1;
    db_bind_text(st, 1, key);
    db_bind_text(st, 2, value);
    int found = -1;
    if (db_step(st) == DB_ROW) {
        const char *text = db_column_text(st, 0);
        found = text ? 1 : 0;
        snprintf(until, size, "%s", text ? (const char *)text : "");
    }
    db_release(st);
    return found;
}

int store_tx_latest_until(struct store_tx *tx, const char *key, const char *value, char *until,
                          size_t size)
{
    return latest_until(store_tx_db(tx), key, value, until, size);
}

int store_latest_until(struct store *store, const char *key, const char *value, char *until,
                       size_t size)
{
    struct db *db = store_reader_acquire(store);
    int found = latest_until(db, key, value, until, size);
    store_reader_release(store, db);
    return found;
}

/* ---- reading transactions ---- */

static const struct store_column transaction_columns[] = {{"reference", COL_TEXT},
                                                          {"service", COL_TEXT},
                                                          {"status", COL_TEXT},
                                                          {"counter", COL_TEXT},
                                                          {"site", COL_TEXT},
                                                          {"staff", COL_TEXT},
                                                          {"fields", COL_JSON},
                                                          {"fee_pence", COL_INT},
                                                          {"lines", COL_JSON},
                                                          {"live_until", COL_TEXT},
                                                          {"backend_reference", COL_TEXT},
                                                          {"status_note", COL_TEXT},
                                                          {"created_at", COL_TIME},
                                                          {"updated_at", COL_TIME},
                                                          {"completed_at", COL_TIME},
                                                          {0}};
static const struct store_column payment_columns[] = {
    {"method", COL_TEXT},        {"amount_pence", COL_INT},
    {"tendered_pence", COL_INT}, {"change_pence", COL_INT},
    {"auth_code", COL_TEXT},     {"reason", COL_TEXT},
    {"authorised_by", COL_TEXT}, {0}};
static const struct store_column delivery_columns[] = {
    {"backend", COL_TEXT},           {"state", COL_TEXT},
    {"attempts", COL_INT},           {"next_attempt_at", COL_TIME_MS},
    {"last_status", COL_INT},        {"last_error", COL_TEXT},
    {"backend_reference", COL_TEXT}, {"delivered_at", COL_TIME},
    {"idempotency_key", COL_TEXT},   {0}};
/* store/delivery_steps.c's columns, selected last */
static const struct store_column delivery_step_columns[] = {
    {"outcome_unknown", COL_BOOL}, {"backend_token", COL_TEXT}, {"note", COL_TEXT}, {0}};
static const struct store_column print_columns[] = {{"state", COL_TEXT},
                                                    {"printer", COL_TEXT},
                                                    {"attempts", COL_INT},
                                                    {"job_id", COL_INT},
                                                    {"last_error", COL_TEXT},
                                                    {"updated_at", COL_TIME},
                                                    {0}};
static const struct store_column receipt_columns[] = {
    {"size", COL_TEXT}, {"language", COL_TEXT}, {0}};
static const struct store_column summary_columns[] = {{"reference", COL_TEXT},
                                                      {"service", COL_TEXT},
                                                      {"status", COL_TEXT},
                                                      {"counter", COL_TEXT},
                                                      {"staff", COL_TEXT},
                                                      {"fee_pence", COL_INT},
                                                      {"payment_method", COL_TEXT},
                                                      {"created_at", COL_TIME},
                                                      {"delivery_state", COL_TEXT},
                                                      {"print_state", COL_TEXT},
                                                      {0}};

enum store_result store_transaction_get(struct store *store, const char *reference,
                                        const char *site, json_t **out)
{
    struct db *db = store_reader_acquire(store);
    struct db_stmt *st = db_cached(
        db,
        "SELECT t.reference, t.service, t.status, t.counter, t.site, t.staff, pd_open(t.fields, "
        "t.reference), t.fee_pence, t.lines, t.live_until, t.backend_reference, t.status_note,"
        " t.created_at, t.updated_at, t.completed_at,"
        " p.method, p.amount_pence, p.tendered_pence, p.change_pence, p.auth_code, p.reason,"
        " p.authorised_by,"
        " d.backend, d.state, d.attempts, d.next_attempt_at_ms, d.last_status, d.last_error,"
        " d.backend_reference, d.delivered_at, d.idempotency_key,"
        " j.state, j.printer, j.attempts, j.job_id, j.last_error, j.updated_at,"
        " d.outcome_unknown, d.backend_token, d.note, j.receipt_size, j.receipt_language"
        " FROM transactions t"
        " LEFT JOIN payments p ON p.transaction_id = t.id"
        " LEFT JOIN deliveries d ON d.transaction_id = t.id"
        " LEFT JOIN print_jobs j ON j.id = (SELECT MAX(id) FROM print_jobs WHERE"
        "   transaction_id = t.id)"
        " WHERE t.reference=?1 AND (CAST(?2 AS TEXT) IS NULL OR t.site = ?2)");
    enum store_result r = STORE_UNAVAILABLE;
    if (st) {
        db_bind_text(st, 1, reference);
        db_bind_text(st, 2, site);
        enum db_step rc = db_step(st);
        if (rc == DB_ROW) {
            json_t *t = json_object();
            store_row_json(st, 0, transaction_columns, t);
            json_t *p = json_object();
            store_row_json(st, 15, payment_columns, p);
            json_object_set_new(t, "payment", p);
            json_t *d = json_null();
            if (!db_column_is_null(st, 22)) {
                d = json_object();
                store_row_json(st, 22, delivery_columns, d);
                store_row_json(st, 37, delivery_step_columns, d);
                if (strcmp(db_column_text(st, 23), "pending") != 0)
                    json_object_set_new(d, "next_attempt_at", json_null());
            }
            json_object_set_new(t, "delivery", d);
            json_t *j = json_null();
            if (!db_column_is_null(st, 31)) {
                j = json_object();
                store_row_json(st, 31, print_columns, j);
                /* the size and language the resident asked for (migration 10) */
                json_t *receipt = json_object();
                store_row_json(st, 40, receipt_columns, receipt);
                json_object_set_new(j, "receipt", receipt);
            }
            json_object_set_new(t, "print", j);
            *out = t;
            r = STORE_OK;
        } else {
            r = rc == DB_DONE ? STORE_NOT_FOUND : store_step_result(db, rc);
        }
        db_release(st);
    }
    store_reader_release(store, db);
    return r;
}

enum store_result store_transaction_list(struct store *store, const struct txn_filter *f,
                                         json_t **out)
{
    int limit = f->limit > 0 && f->limit <= LIST_LIMIT_MAX ? f->limit : 100;
    struct db *db = store_reader_acquire(store);
    struct db_stmt *st = db_cached(
        db, "SELECT t.reference, t.service, t.status, t.counter, t.staff, t.fee_pence, p.method,"
            " t.created_at, d.state, j.state"
            " FROM transactions t"
            " LEFT JOIN payments p ON p.transaction_id = t.id"
            " LEFT JOIN deliveries d ON d.transaction_id = t.id"
            " LEFT JOIN print_jobs j ON j.id = (SELECT MAX(id) FROM print_jobs WHERE"
            "   transaction_id = t.id)"
            " WHERE (CAST(?1 AS BIGINT) IS NULL OR (t.created_at >= ?1 AND t.created_at < ?7))"
            "   AND (CAST(?2 AS TEXT) IS NULL OR t.service = ?2)"
            " AND (CAST(?3 AS TEXT) IS NULL OR t.status = ?3)"
            "   AND (CAST(?4 AS TEXT) IS NULL OR t.counter = ?4)"
            " AND (CAST(?8 AS TEXT) IS NULL OR t.site = ?8)"
            " ORDER BY t.id DESC LIMIT ?5 OFFSET ?6");
    enum store_result r = STORE_UNAVAILABLE;
    if (st) {
        if (f->has_period) {
            db_bind_int64(st, 1, f->from);
            db_bind_int64(st, 7, f->until);
        }
        db_bind_text(st, 2, f->service);
        db_bind_text(st, 3, f->status);
        db_bind_text(st, 4, f->counter);
        db_bind_int64(st, 5, limit);
        db_bind_int64(st, 6, f->offset > 0 ? f->offset : 0);
        db_bind_text(st, 8, f->site);
        json_t *list = NULL;
        r = store_rows_json(st, summary_columns, &list);
        if (r == STORE_OK)
            *out = json_pack("{s:o, s:i, s:i}", "transactions", list, "limit", limit, "offset",
                             f->offset > 0 ? f->offset : 0);
    }
    store_reader_release(store, db);
    return r;
}

enum store_result store_transaction_public(struct store *store, const char *reference,
                                           struct txn_public *out)
{
    struct db *db = store_reader_acquire(store);
    struct db_stmt *st = db_cached(db, "SELECT service, status, created_at, updated_at,"
                                       " status_note FROM transactions WHERE reference=?");
    enum store_result r = STORE_UNAVAILABLE;
    if (st) {
        db_bind_text(st, 1, reference);
        enum db_step rc = db_step(st);
        if (rc == DB_ROW) {
            snprintf(out->service, sizeof out->service, "%s", db_column_text(st, 0));
            if (!txn_status_parse(db_column_text(st, 1), &out->status))
                out->status = TXN_ACCEPTED;
            out->created_at = (time_t)db_column_int64(st, 2);
            out->updated_at = (time_t)db_column_int64(st, 3);
            const char *note = db_column_text(st, 4);
            snprintf(out->note, sizeof out->note, "%s", note ? (const char *)note : "");
            r = STORE_OK;
        } else {
            r = rc == DB_DONE ? STORE_NOT_FOUND : store_step_result(db, rc);
        }
        db_release(st);
    }
    store_reader_release(store, db);
    return r;
}

/* The current status of transaction txn_id. */
static enum store_result txn_status_read(struct db *db, int64_t txn_id, enum txn_status *status)
{
    struct db_stmt *st = db_cached(db, "SELECT status FROM transactions WHERE id=?");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_int64(st, 1, txn_id);
    enum db_step rc = db_step(st);
    bool known = rc == DB_ROW && txn_status_parse(db_column_text(st, 0), status);
    db_release(st);
    if (!known)
        return rc == DB_ROW || rc == DB_DONE ? STORE_NOT_FOUND : store_step_result(db, rc);
    return STORE_OK;
}

/* The move from -> to without its audit row: the rule table, then the compare-and-set UPDATE
 * bound in *update, to be stepped by the caller. *moved says whether there is a move (false
 * when the status is already `to`). */
static enum store_result txn_move_row(struct db *db, int64_t txn_id, enum txn_status from,
                                      enum txn_status to, time_t now, struct db_stmt **update,
                                      bool *moved)
{
    *moved = false;
    *update = NULL;
    if (from == to)
        return STORE_OK;
    if (!txn_status_can_move(from, to))
        return STORE_CONFLICT;
    struct db_stmt *st =
        db_cached(db, "UPDATE transactions SET status=?, updated_at=?,"
                      " completed_at = CASE WHEN ?1 = 'completed' THEN ?2 ELSE completed_at END"
                      " WHERE id=?3 AND status=?4");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, txn_status_name(to));
    db_bind_int64(st, 2, now);
    db_bind_int64(st, 3, txn_id);
    db_bind_text(st, 4, txn_status_name(from));
    *update = st;
    *moved = true;
    return STORE_OK;
}

enum store_result store_txn_move(struct db *db, int64_t txn_id, const char *reference,
                                 enum txn_status to, const char *actor, const char *counter,
                                 const char *detail, time_t now)
{
    enum txn_status from = to;
    struct db_stmt *st;
    bool moved = false;
    enum store_result r = txn_status_read(db, txn_id, &from);
    if (r == STORE_OK)
        r = txn_move_row(db, txn_id, from, to, now, &st, &moved);
    if (r != STORE_OK || !moved)
        return r;
    char what[64];
    snprintf(what, sizeof what, "transaction_%s", txn_status_name(to));
    struct audit_entry e = {
        .actor = actor, .counter = counter, .action = what, .subject = reference, .detail = detail};
    return store_move_commit(db, st, "status update", &e, now);
}

enum store_result store_txn_move_recorded(struct db *db, int64_t txn_id, enum txn_status from,
                                          enum txn_status to, time_t now, bool *moved)
{
    struct db_stmt *st;
    enum store_result r = txn_move_row(db, txn_id, from, to, now, &st, moved);
    if (r != STORE_OK || !*moved)
        return r;
    r = store_step_done(db, st, "status update");
    if (r == STORE_OK && db_changes(db) != 1)
        r = STORE_CONFLICT; /* it left the state we saw: another move came first */
    if (r != STORE_OK)
        *moved = false;
    return r;
}

struct complete_args {
    const char *reference, *backend, *backend_reference, *note;
};

static enum store_result complete_run(struct store_tx *tx, void *arg)
{
    struct complete_args *a = arg;
    struct db *db = store_tx_db(tx);
    struct db_stmt *st = db_cached(db, "SELECT t.id FROM transactions t JOIN deliveries d ON"
                                       " d.transaction_id = t.id WHERE t.reference=? AND"
                                       " d.backend=?");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, a->reference);
    db_bind_text(st, 2, a->backend);
    enum db_step rc = db_step(st);
    int64_t id = rc == DB_ROW ? db_column_int64(st, 0) : 0;
    db_release(st);
    if (!id)
        return rc == DB_DONE ? STORE_NOT_FOUND : store_step_result(db, rc);
    time_t now = time(NULL);
    enum store_result r =
        store_txn_move(db, id, a->reference, TXN_COMPLETED, a->backend, NULL, a->note, now);
    if (r != STORE_OK)
        return r;
    /* the back-end has the request: no resend of a delivery still pending */
    if ((r = store_delivery_settle_completed(db, id, a->backend, now)) != STORE_OK)
        return r;
    st = db_cached(db, "UPDATE transactions SET status_note = coalesce(?, status_note),"
                       " backend_reference = coalesce(backend_reference, ?) WHERE id=?");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, a->note && *a->note ? a->note : NULL);
    db_bind_text(st, 2, a->backend_reference);
    db_bind_int64(st, 3, id);
    return store_step_done(db, st, "completion note");
}

enum store_result store_transaction_complete(struct store *store, const char *reference,
                                             const char *backend, const char *backend_reference,
                                             const char *note)
{
    struct complete_args a = {reference, backend, backend_reference, note};
    return store_run(store, complete_run, &a);
}

enum store_result store_transaction_site(struct store *store, const char *reference,
                                         char site[STORE_SITE_MAX])
{
    struct db *db = store_reader_acquire(store);
    struct db_stmt *st = db_cached(db, "SELECT site FROM transactions WHERE reference=?");
    enum store_result r = STORE_UNAVAILABLE;
    if (st) {
        db_bind_text(st, 1, reference);
        enum db_step rc = db_step(st);
        if (rc == DB_ROW) {
            const char *text = db_column_text(st, 0);
            snprintf(site, STORE_SITE_MAX, "%s", text ? (const char *)text : "");
            r = STORE_OK;
        } else {
            r = rc == DB_DONE ? STORE_NOT_FOUND : store_step_result(db, rc);
        }
        db_release(st);
    }
    store_reader_release(store, db);
    return r;
}

/* ---- callback events ---- */

enum store_result store_callback_find(struct store *store, const char *backend,
                                      const char *event_id, char request_hash[65], int *status,
                                      char **response)
{
    struct db *db = store_reader_acquire(store);
    struct db_stmt *st = db_cached(db, "SELECT request_hash, status, response FROM"
                                       " callback_events WHERE backend=? AND event_id=?");
    enum store_result r = STORE_UNAVAILABLE;
    if (st) {
        db_bind_text(st, 1, backend);
        db_bind_text(st, 2, event_id);
        enum db_step rc = db_step(st);
        if (rc == DB_ROW) {
            snprintf(request_hash, 65, "%s", db_column_text(st, 0));
            *status = db_column_int64(st, 1);
            *response = strdup(db_column_text(st, 2));
            r = *response ? STORE_OK : STORE_UNAVAILABLE;
        } else {
            r = rc == DB_DONE ? STORE_NOT_FOUND : store_step_result(db, rc);
        }
        db_release(st);
    }
    store_reader_release(store, db);
    return r;
}

struct callback_record {
    const char *backend, *event_id, *request_hash, *response;
    int status;
    long keep_s;
};

static enum store_result callback_record_run(struct db *db, void *arg)
{
    struct callback_record *c = arg;
    time_t now = time(NULL);
    struct db_stmt *st = db_cached(db, "DELETE FROM callback_events WHERE received_at < ?");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_int64(st, 1, (int64_t)now - c->keep_s);
    enum db_step rc = db_step(st);
    db_release(st);
    if (rc != DB_DONE)
        return store_step_result(db, rc);
    st = db_cached(db, "INSERT INTO callback_events(backend, event_id,"
                       " request_hash, status, response, received_at)"
                       " VALUES(?,?,?,?,?,?)");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, c->backend);
    db_bind_text(st, 2, c->event_id);
    db_bind_text(st, 3, c->request_hash);
    db_bind_int64(st, 4, c->status);
    db_bind_text(st, 5, c->response ? c->response : "");
    db_bind_int64(st, 6, now);
    rc = db_step(st);
    db_release(st);
    return store_step_result(db, rc);
}

enum store_result store_callback_record(struct store *store, const char *backend,
                                        const char *event_id, const char *request_hash, int status,
                                        const char *response, long keep_s)
{
    struct callback_record c = {backend, event_id, request_hash, response, status, keep_s};
    return store_write_sync(store, callback_record_run, &c);
}
