/* store_txn: transactions, their payment, limit keys, delivery outbox and print job in the
 * SQLite engine; the resident's view. The outbox the forwarder drains is in store_delivery.c.
 *
 * The transaction, payment, keys, delivery, print job, idempotency record and audit entry are
 * inserted by one function inside one writer job, so they commit together or not at all. */
#include "gateway/store_sqlite_private.h"

#include "gateway/log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LIST_LIMIT_MAX 500

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

static enum store_result audit_insert(sqlite3 *db, const char *actor, const char *counter,
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
    sqlite3 *db = store_tx_db(tx);
    int64_t ms = (int64_t)r->now * 1000;
    sqlite3_stmt *st = store_cached(
        db, "INSERT INTO transactions(reference, service, status, counter, site, staff, fields,"
            " fee_pence, lines, live_until, created_at, updated_at)"
            " VALUES(?,?,?,?,?,?,pd_seal(?, ?1),?,?,?,?,?)");
    if (!st)
        return STORE_UNAVAILABLE;
    sqlite3_bind_text(st, 1, r->reference, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->service, -1, SQLITE_STATIC);
    /* A sale with no back-end to forward to is complete at the counter. */
    sqlite3_bind_text(st, 3, txn_status_name(r->backend ? TXN_ACCEPTED : TXN_COMPLETED), -1,
                      SQLITE_STATIC);
    sqlite3_bind_text(st, 4, r->counter, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, r->site, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, r->staff, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, r->fields_json, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, r->fee_pence);
    sqlite3_bind_text(st, 9, r->lines_json, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, r->live_until && *r->live_until ? r->live_until : NULL, -1,
                      SQLITE_STATIC);
    sqlite3_bind_int64(st, 11, r->now);
    sqlite3_bind_int64(st, 12, r->now);
    enum store_result res = store_step_done(db, st, "transaction insert");
    if (res != STORE_OK)
        return res;
    int64_t txn_id = sqlite3_last_insert_rowid(db);

    st = store_cached(db, "INSERT INTO payments(transaction_id, method, amount_pence,"
                          " tendered_pence, change_pence, auth_code, reason, authorised_by,"
                          " created_at) VALUES(?,?,?,?,?,?,?,?,?)");
    if (!st)
        return STORE_UNAVAILABLE;
    sqlite3_bind_int64(st, 1, txn_id);
    sqlite3_bind_text(st, 2, r->method, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, r->amount_pence);
    if (strcmp(r->method, "cash") == 0) {
        sqlite3_bind_int64(st, 4, r->tendered_pence);
        sqlite3_bind_int64(st, 5, r->change_pence);
    }
    sqlite3_bind_text(st, 6, r->auth_code, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, r->reason, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, r->authorised_by, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 9, r->now);
    if ((res = store_step_done(db, st, "payment insert")) != STORE_OK)
        return res;

    size_t i;
    json_t *key;
    json_array_foreach(r->keys, i, key)
    {
        st = store_cached(db, "INSERT INTO txn_keys(transaction_id, name, value, live_from,"
                              " live_until, sealed) VALUES(?1,?2,pd_blind(?2,?3),?4,?5,"
                              " pd_seal_only(?3, 'txn_keys.sealed'))");
        if (!st)
            return STORE_UNAVAILABLE;
        sqlite3_bind_int64(st, 1, txn_id);
        sqlite3_bind_text(st, 2, json_string_value(json_object_get(key, "name")), -1,
                          SQLITE_STATIC);
        sqlite3_bind_text(st, 3, json_string_value(json_object_get(key, "value")), -1,
                          SQLITE_STATIC);
        sqlite3_bind_text(st, 4, json_string_value(json_object_get(key, "live_from")), -1,
                          SQLITE_STATIC);
        sqlite3_bind_text(st, 5, json_string_value(json_object_get(key, "live_until")), -1,
                          SQLITE_STATIC);
        if ((res = store_step_done(db, st, "key insert")) != STORE_OK)
            return res;
    }

    if (r->backend) {
        st = store_cached(db, "INSERT INTO deliveries(transaction_id, backend, connector,"
                              " idempotency_key, payload, state, next_attempt_at_ms, created_at)"
                              " VALUES(?,?,?,?,pd_seal(?, 'deliveries.payload'),'pending',?,?)");
        if (!st)
            return STORE_UNAVAILABLE;
        sqlite3_bind_int64(st, 1, txn_id);
        sqlite3_bind_text(st, 2, r->backend, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, r->connector, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, r->delivery_key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, r->payload_json, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, ms);
        sqlite3_bind_int64(st, 7, r->now);
        if ((res = store_step_done(db, st, "delivery insert")) != STORE_OK)
            return res;
    }

    if (r->printer) {
        st = store_cached(db, "INSERT INTO print_jobs(transaction_id, printer, state,"
                              " next_attempt_at_ms, created_at, updated_at, receipt_size,"
                              " receipt_language) VALUES(?,?,'pending',?,?,?,?,?)");
        if (!st)
            return STORE_UNAVAILABLE;
        sqlite3_bind_int64(st, 1, txn_id);
        sqlite3_bind_text(st, 2, r->printer, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, ms);
        sqlite3_bind_int64(st, 4, r->now);
        sqlite3_bind_int64(st, 5, r->now);
        sqlite3_bind_text(st, 6, r->receipt_size ? r->receipt_size : "standard", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, r->receipt_language ? r->receipt_language : "en", -1,
                          SQLITE_STATIC);
        if ((res = store_step_done(db, st, "print job insert")) != STORE_OK)
            return res;
    }

    st = store_cached(db, "INSERT INTO idempotency(key, request_hash, transaction_id, status,"
                          " response, created_at, staff)"
                          " VALUES(?,?,?,?,pd_seal(?, 'idempotency.response'),?,?)");
    if (!st)
        return STORE_UNAVAILABLE;
    sqlite3_bind_text(st, 1, r->idempotency_key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->request_hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, txn_id);
    sqlite3_bind_int(st, 4, r->response_status);
    sqlite3_bind_text(st, 5, r->response_json, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, r->now);
    sqlite3_bind_text(st, 7, r->staff, -1, SQLITE_STATIC);
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

static enum store_result idempotency_find(sqlite3 *db, const char *staff, const char *key,
                                          char request_hash[65], int *status, char **response)
{
    sqlite3_stmt *st =
        store_cached(db, "SELECT request_hash, status, pd_open(response, 'idempotency.response')"
                         " FROM idempotency"
                         " WHERE key=? AND staff=?");
    if (!st)
        return STORE_UNAVAILABLE;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, staff, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    enum store_result r;
    if (rc == SQLITE_ROW) {
        snprintf(request_hash, 65, "%s", (const char *)sqlite3_column_text(st, 0));
        *status = sqlite3_column_int(st, 1);
        *response = strdup((const char *)sqlite3_column_text(st, 2));
        r = *response ? STORE_OK : STORE_UNAVAILABLE;
    } else {
        r = rc == SQLITE_DONE ? STORE_NOT_FOUND : store_sqlite_result(rc);
    }
    store_release(st);
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
    sqlite3 *db = store_reader_acquire(store);
    enum store_result r = idempotency_find(db, staff, key, request_hash, status, response);
    store_reader_release(store, db);
    return r;
}

/* Live entries under (key, value) on a day. A transaction counts until it is voided: a paid
 * permit whose delivery failed is still the resident's (a supervisor retries it or voids it),
 * so it still holds its vehicle's place and its household's. */
static long count_live(sqlite3 *db, const char *key, const char *value, const char *on)
{
    sqlite3_stmt *st = store_cached(
        db, "SELECT COUNT(*) FROM txn_keys k JOIN transactions t ON t.id = k.transaction_id"
            " WHERE k.name=?1 AND k.value IN (pd_blind(?1,?2), pd_blind_old(?1,?2))"
            " AND k.live_from <= ?3"
            " AND k.live_until >= ?3"
            " AND t.status <> 'voided'");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, on, -1, SQLITE_STATIC);
    long n = sqlite3_step(st) == SQLITE_ROW ? (long)sqlite3_column_int64(st, 0) : -1;
    store_release(st);
    return n;
}

/* The count can only rise on `from` or on an entry's live_from, so the peak is the largest
 * count_live over those days. */
static long max_live(sqlite3 *db, const char *key, const char *value, const char *from,
                     const char *until)
{
    long best = count_live(db, key, value, from);
    sqlite3_stmt *st = store_cached(db, "SELECT DISTINCT live_from FROM txn_keys WHERE name=?1"
                                        " AND value IN (pd_blind(?1,?2), pd_blind_old(?1,?2))"
                                        " AND live_from > ?3"
                                        " AND live_from <= ?4");
    if (!st || best < 0) {
        store_release(st);
        return -1;
    }
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, from, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, until, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        char day[16];
        snprintf(day, sizeof day, "%s", (const char *)sqlite3_column_text(st, 0));
        long n = count_live(db, key, value, day);
        if (n < 0) {
            best = -1;
            break;
        }
        if (n > best)
            best = n;
    }
    if (rc != SQLITE_DONE && best >= 0)
        best = -1;
    store_release(st);
    return best;
}

long store_tx_max_live(struct store_tx *tx, const char *key, const char *value, const char *from,
                       const char *until)
{
    return max_live(store_tx_db(tx), key, value, from, until);
}

long store_max_live(struct store *store, const char *key, const char *value, const char *from,
                    const char *until)
{
    sqlite3 *db = store_reader_acquire(store);
    long n = max_live(db, key, value, from, until);
    store_reader_release(store, db);
    return n;
}

long store_tx_count_live(struct store_tx *tx, const char *key, const char *value, const char *on)
{
    return count_live(store_tx_db(tx), key, value, on);
}

long store_count_live(struct store *store, const char *key, const char *value, const char *on)
{
    sqlite3 *db = store_reader_acquire(store);
    long n = count_live(db, key, value, on);
    store_reader_release(store, db);
    return n;
}

enum store_result store_tx_keys_end(struct store_tx *tx, const char *key, const char *value,
                                    const char *until)
{
    sqlite3 *db = store_tx_db(tx);
    sqlite3_stmt *st = store_cached(db, "UPDATE txn_keys SET live_until = ?3"
                                        " WHERE name = ?1"
                                        " AND value IN (pd_blind(?1,?2), pd_blind_old(?1,?2))"
                                        " AND live_until > ?3");
    if (!st)
        return STORE_UNAVAILABLE;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, until, -1, SQLITE_STATIC);
    return store_step_done(db, st, "key end");
}

/* The latest live_until of (key, value) entries of transactions not voided, into until. */
static int latest_until(sqlite3 *db, const char *key, const char *value, char *until, size_t size)
{
    sqlite3_stmt *st =
        store_cached(db, "SELECT MAX(k.live_until) FROM txn_keys k JOIN transactions t"
                         " ON t.id = k.transaction_id WHERE k.name=?1"
                         " AND k.value IN (pd_blind(?1,?2), pd_blind_old(?1,?2))"
                         " AND t.status <> 'voided'");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    int found = -1;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *text = sqlite3_column_text(st, 0);
        found = text ? 1 : 0;
        snprintf(until, size, "%s", text ? (const char *)text : "");
    }
    store_release(st);
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
    sqlite3 *db = store_reader_acquire(store);
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
/* store_delivery_steps.c's columns, selected last */
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
    sqlite3 *db = store_reader_acquire(store);
    sqlite3_stmt *st = store_cached(
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
        " WHERE t.reference=?1 AND (?2 IS NULL OR t.site = ?2)");
    enum store_result r = STORE_UNAVAILABLE;
    if (st) {
        sqlite3_bind_text(st, 1, reference, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, site, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            json_t *t = json_object();
            store_row_json(st, 0, transaction_columns, t);
            json_t *p = json_object();
            store_row_json(st, 15, payment_columns, p);
            json_object_set_new(t, "payment", p);
            json_t *d = json_null();
            if (sqlite3_column_type(st, 22) != SQLITE_NULL) {
                d = json_object();
                store_row_json(st, 22, delivery_columns, d);
                store_row_json(st, 37, delivery_step_columns, d);
                if (strcmp((const char *)sqlite3_column_text(st, 23), "pending") != 0)
                    json_object_set_new(d, "next_attempt_at", json_null());
            }
            json_object_set_new(t, "delivery", d);
            json_t *j = json_null();
            if (sqlite3_column_type(st, 31) != SQLITE_NULL) {
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
            r = rc == SQLITE_DONE ? STORE_NOT_FOUND : store_sqlite_result(rc);
        }
        store_release(st);
    }
    store_reader_release(store, db);
    return r;
}

enum store_result store_transaction_list(struct store *store, const struct txn_filter *f,
                                         json_t **out)
{
    int limit = f->limit > 0 && f->limit <= LIST_LIMIT_MAX ? f->limit : 100;
    sqlite3 *db = store_reader_acquire(store);
    sqlite3_stmt *st = store_cached(
        db, "SELECT t.reference, t.service, t.status, t.counter, t.staff, t.fee_pence, p.method,"
            " t.created_at, d.state, j.state"
            " FROM transactions t"
            " LEFT JOIN payments p ON p.transaction_id = t.id"
            " LEFT JOIN deliveries d ON d.transaction_id = t.id"
            " LEFT JOIN print_jobs j ON j.id = (SELECT MAX(id) FROM print_jobs WHERE"
            "   transaction_id = t.id)"
            " WHERE (?1 IS NULL OR (t.created_at >= ?1 AND t.created_at < ?7))"
            "   AND (?2 IS NULL OR t.service = ?2) AND (?3 IS NULL OR t.status = ?3)"
            "   AND (?4 IS NULL OR t.counter = ?4) AND (?8 IS NULL OR t.site = ?8)"
            " ORDER BY t.id DESC LIMIT ?5 OFFSET ?6");
    enum store_result r = STORE_UNAVAILABLE;
    if (st) {
        if (f->has_period) {
            sqlite3_bind_int64(st, 1, f->from);
            sqlite3_bind_int64(st, 7, f->until);
        }
        sqlite3_bind_text(st, 2, f->service, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, f->status, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, f->counter, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 5, limit);
        sqlite3_bind_int(st, 6, f->offset > 0 ? f->offset : 0);
        sqlite3_bind_text(st, 8, f->site, -1, SQLITE_STATIC);
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
    sqlite3 *db = store_reader_acquire(store);
    sqlite3_stmt *st = store_cached(db, "SELECT service, status, created_at, updated_at,"
                                        " status_note FROM transactions WHERE reference=?");
    enum store_result r = STORE_UNAVAILABLE;
    if (st) {
        sqlite3_bind_text(st, 1, reference, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            snprintf(out->service, sizeof out->service, "%s", sqlite3_column_text(st, 0));
            if (!txn_status_parse((const char *)sqlite3_column_text(st, 1), &out->status))
                out->status = TXN_ACCEPTED;
            out->created_at = (time_t)sqlite3_column_int64(st, 2);
            out->updated_at = (time_t)sqlite3_column_int64(st, 3);
            const unsigned char *note = sqlite3_column_text(st, 4);
            snprintf(out->note, sizeof out->note, "%s", note ? (const char *)note : "");
            r = STORE_OK;
        } else {
            r = rc == SQLITE_DONE ? STORE_NOT_FOUND : store_sqlite_result(rc);
        }
        store_release(st);
    }
    store_reader_release(store, db);
    return r;
}

enum store_result store_txn_move(sqlite3 *db, int64_t txn_id, const char *reference,
                                 enum txn_status to, const char *actor, const char *counter,
                                 const char *detail, time_t now)
{
    sqlite3_stmt *st = store_cached(db, "SELECT status FROM transactions WHERE id=?");
    if (!st)
        return STORE_UNAVAILABLE;
    sqlite3_bind_int64(st, 1, txn_id);
    enum txn_status from;
    int rc = sqlite3_step(st);
    bool known =
        rc == SQLITE_ROW && txn_status_parse((const char *)sqlite3_column_text(st, 0), &from);
    store_release(st);
    if (!known)
        return rc == SQLITE_ROW || rc == SQLITE_DONE ? STORE_NOT_FOUND : store_sqlite_result(rc);
    if (from == to)
        return STORE_OK;
    if (!txn_status_can_move(from, to))
        return STORE_CONFLICT;
    st = store_cached(db, "UPDATE transactions SET status=?, updated_at=?,"
                          " completed_at = CASE WHEN ?1 = 'completed' THEN ?2 ELSE completed_at END"
                          " WHERE id=?3");
    if (!st)
        return STORE_UNAVAILABLE;
    sqlite3_bind_text(st, 1, txn_status_name(to), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int64(st, 3, txn_id);
    enum store_result r = store_step_done(db, st, "status update");
    if (r != STORE_OK)
        return r;
    char what[64];
    snprintf(what, sizeof what, "transaction_%s", txn_status_name(to));
    return audit_insert(db, actor, counter, what, reference, detail, now);
}

struct complete_args {
    const char *reference, *backend, *backend_reference, *note;
};

static enum store_result complete_run(struct store_tx *tx, void *arg)
{
    struct complete_args *a = arg;
    sqlite3 *db = store_tx_db(tx);
    sqlite3_stmt *st = store_cached(db, "SELECT t.id FROM transactions t JOIN deliveries d ON"
                                        " d.transaction_id = t.id WHERE t.reference=? AND"
                                        " d.backend=?");
    if (!st)
        return STORE_UNAVAILABLE;
    sqlite3_bind_text(st, 1, a->reference, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, a->backend, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int64_t id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    store_release(st);
    if (!id)
        return rc == SQLITE_DONE ? STORE_NOT_FOUND : store_sqlite_result(rc);
    time_t now = time(NULL);
    enum store_result r =
        store_txn_move(db, id, a->reference, TXN_COMPLETED, a->backend, NULL, a->note, now);
    if (r != STORE_OK)
        return r;
    /* the back-end has the request: no resend of a delivery still pending */
    if ((r = store_delivery_settle_completed(db, id, a->backend, now)) != STORE_OK)
        return r;
    st = store_cached(db, "UPDATE transactions SET status_note = coalesce(?, status_note),"
                          " backend_reference = coalesce(backend_reference, ?) WHERE id=?");
    if (!st)
        return STORE_UNAVAILABLE;
    sqlite3_bind_text(st, 1, a->note && *a->note ? a->note : NULL, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, a->backend_reference, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, id);
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
    sqlite3 *db = store_reader_acquire(store);
    sqlite3_stmt *st = store_cached(db, "SELECT site FROM transactions WHERE reference=?");
    enum store_result r = STORE_UNAVAILABLE;
    if (st) {
        sqlite3_bind_text(st, 1, reference, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const unsigned char *text = sqlite3_column_text(st, 0);
            snprintf(site, STORE_SITE_MAX, "%s", text ? (const char *)text : "");
            r = STORE_OK;
        } else {
            r = rc == SQLITE_DONE ? STORE_NOT_FOUND : store_sqlite_result(rc);
        }
        store_release(st);
    }
    store_reader_release(store, db);
    return r;
}

/* ---- callback events ---- */

enum store_result store_callback_find(struct store *store, const char *backend,
                                      const char *event_id, char request_hash[65], int *status,
                                      char **response)
{
    sqlite3 *db = store_reader_acquire(store);
    sqlite3_stmt *st = store_cached(db, "SELECT request_hash, status, response FROM"
                                        " callback_events WHERE backend=? AND event_id=?");
    enum store_result r = STORE_UNAVAILABLE;
    if (st) {
        sqlite3_bind_text(st, 1, backend, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, event_id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            snprintf(request_hash, 65, "%s", (const char *)sqlite3_column_text(st, 0));
            *status = sqlite3_column_int(st, 1);
            *response = strdup((const char *)sqlite3_column_text(st, 2));
            r = *response ? STORE_OK : STORE_UNAVAILABLE;
        } else {
            r = rc == SQLITE_DONE ? STORE_NOT_FOUND : store_sqlite_result(rc);
        }
        store_release(st);
    }
    store_reader_release(store, db);
    return r;
}

struct callback_record {
    const char *backend, *event_id, *request_hash, *response;
    int status;
    long keep_s;
};

static enum store_result callback_record_run(sqlite3 *db, void *arg)
{
    struct callback_record *c = arg;
    time_t now = time(NULL);
    sqlite3_stmt *st = store_cached(db, "DELETE FROM callback_events WHERE received_at < ?");
    if (!st)
        return STORE_UNAVAILABLE;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)now - c->keep_s);
    int rc = sqlite3_step(st);
    store_release(st);
    if (rc != SQLITE_DONE)
        return store_sqlite_result(rc);
    st = store_cached(db, "INSERT INTO callback_events(backend, event_id,"
                          " request_hash, status, response, received_at)"
                          " VALUES(?,?,?,?,?,?)");
    if (!st)
        return STORE_UNAVAILABLE;
    sqlite3_bind_text(st, 1, c->backend, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, c->event_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, c->request_hash, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, c->status);
    sqlite3_bind_text(st, 5, c->response ? c->response : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, now);
    rc = sqlite3_step(st);
    store_release(st);
    return store_sqlite_result(rc);
}

enum store_result store_callback_record(struct store *store, const char *backend,
                                        const char *event_id, const char *request_hash, int status,
                                        const char *response, long keep_s)
{
    struct callback_record c = {backend, event_id, request_hash, response, status, keep_s};
    return store_write_sync(store, callback_record_run, &c);
}
