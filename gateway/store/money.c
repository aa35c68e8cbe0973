/* store_money: voids, refunds and paid in/out in the store (see store/money.h).
 *
 * DESIGN: each runs as one job on the writer thread. What a sale took is its payment row;
 * what has been given back is the sum of its refund and void movements in the tills (the
 * movement names the sale's reference), so "available" is always derived, never a stored
 * running figure. A refund states what it believes is available and is refused when that no
 * longer holds: the writer runs jobs one at a time, so of two racing refunds made against the
 * same figure the second sees the first's movement and is refused. */
#include "gateway/store/money.h"

#include "gateway/store/store_private.h"
#include "gateway/store/till.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a sale took and where. */
struct sale_row {
    int64_t id;
    enum txn_status status;
    time_t created_at;
    char method[16];
    long paid_pence;
    long given_back_pence; /* refunds and voids so far */
};

static enum store_result sale_read(struct db *db, const char *reference, const char *site,
                                   struct sale_row *out)
{
    struct db_stmt *st =
        db_cached(db, "SELECT t.id, t.status, t.created_at, coalesce(p.method, 'none'),"
                      " coalesce(p.amount_pence, 0),"
                      " (SELECT coalesce(-SUM(m.amount_pence), 0) FROM till_movements m"
                      "  WHERE m.reference = t.reference"
                      "  AND (m.kind = 'refund' OR m.kind = 'void'))"
                      " FROM transactions t LEFT JOIN payments p ON p.transaction_id = t.id"
                      " WHERE t.reference=?1 AND (CAST(?2 AS TEXT) IS NULL OR t.site = ?2)");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, reference);
    db_bind_text(st, 2, site);
    enum db_step rc = db_step(st);
    enum store_result r = STORE_NOT_FOUND;
    if (rc == DB_ROW) {
        out->id = db_column_int64(st, 0);
        r = txn_status_parse(db_column_text(st, 1), &out->status) ? STORE_OK : STORE_INVALID;
        out->created_at = (time_t)db_column_int64(st, 2);
        snprintf(out->method, sizeof out->method, "%s", db_column_text(st, 3));
        out->paid_pence = (long)db_column_int64(st, 4);
        out->given_back_pence = (long)db_column_int64(st, 5);
    } else if (rc != DB_DONE) {
        r = store_step_result(db, rc);
    }
    db_release(st);
    return r;
}

/* A till movement; a till that is not open is a refusal (STORE_CONFLICT with *why). */
static enum store_result till_movement(struct store_tx *tx, const struct till_movement *m,
                                       enum money_refusal *why)
{
    enum store_result r = store_tx_till_move(tx, m);
    if (r == STORE_NOT_FOUND || r == STORE_CONFLICT) {
        *why = r == STORE_NOT_FOUND ? MONEY_TILL_NOT_OPEN : MONEY_TILL_CLOSED;
        return STORE_CONFLICT;
    }
    return r;
}

/* A slip for the sale at the acting counter's printer (none without one): its receipt with
 * the banner printed large at the top. */
static enum store_result print_slip(struct db *db, int64_t txn_id, const char *printer,
                                    const char *banner, time_t now)
{
    if (!printer)
        return STORE_OK;
    struct db_stmt *st =
        db_cached(db, "INSERT INTO print_jobs(transaction_id, printer, state,"
                      " next_attempt_at_ms, created_at, updated_at, banner)"
                      " VALUES(?1,?2,'pending',CAST(?3 AS BIGINT) * 1000,?3,?3,?4)");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_int64(st, 1, txn_id);
    db_bind_text(st, 2, printer);
    db_bind_int64(st, 3, now);
    db_bind_text(st, 4, banner);
    return store_step_done(db, st, "slip print job");
}

static enum store_result audit(struct db *db, const char *staff, const char *counter,
                               const char *action, const char *subject, const char *detail,
                               time_t now)
{
    struct audit_entry e = {
        .actor = staff, .counter = counter, .action = action, .subject = subject, .detail = detail};
    return store_audit_insert(db, &e, now);
}

/* ---- void ---- */

static enum store_result void_run(struct store_tx *tx, void *arg)
{
    struct money_void *v = arg;
    struct db *db = store_tx_db(tx);
    struct sale_row sale;
    enum store_result r = sale_read(db, v->reference, v->site, &sale);
    if (r != STORE_OK)
        return r;
    if (sale.status == TXN_VOIDED) {
        v->why = MONEY_ALREADY_VOIDED;
        return STORE_CONFLICT;
    }
    if (!v->booking && (sale.created_at < v->day_from || sale.created_at >= v->day_until)) {
        v->why = MONEY_NOT_TODAY;
        return STORE_CONFLICT;
    }
    snprintf(v->method, sizeof v->method, "%s", sale.method);
    v->reversed_pence = sale.paid_pence - sale.given_back_pence;
    if (till_movement_counts(sale.method, v->reversed_pence)) {
        struct till_movement m = {.counter = v->counter,
                                  .day = v->day,
                                  .kind = TILL_VOID,
                                  .method = sale.method,
                                  .amount_pence = -v->reversed_pence,
                                  .reference = v->reference,
                                  .staff = v->staff,
                                  .reason = v->reason,
                                  .now = v->now};
        if ((r = till_movement(tx, &m, &v->why)) != STORE_OK)
            return r;
    } else {
        v->reversed_pence = 0;
    }
    if ((r = store_txn_move(db, sale.id, v->reference, TXN_VOIDED, v->staff, v->counter, v->reason,
                            v->now)) != STORE_OK)
        return r;
    r = store_delivery_void(db, sale.id, v->staff, v->counter, v->now, &v->delivery_was);
    v->has_delivery = r != STORE_NOT_FOUND;
    if (r != STORE_OK && r != STORE_NOT_FOUND)
        return r;
    if (v->booking && (r = audit(db, v->staff, v->counter, "booking_cancelled", v->reference,
                                 v->reason, v->now)) != STORE_OK)
        return r;
    return print_slip(db, sale.id, v->printer, v->booking ? "CANCELLED" : "VOID", v->now);
}

enum store_result store_money_void(struct store *store, struct money_void *v)
{
    v->why = MONEY_OK;
    return store_run(store, void_run, v);
}

/* ---- idempotency of refunds and paid in/out ---- */

/* A resend: fills *status and *body from the stored answer (STORE_OK, and the caller answers
 * it) or refuses another body under the same key (STORE_CONFLICT, *why). STORE_NOT_FOUND for a
 * new key. */
static enum store_result replay_find(struct store_tx *tx, const char *staff, const char *key,
                                     const char *hash, int *status, char **body,
                                     enum money_refusal *why)
{
    char stored_hash[65];
    enum store_result r = store_tx_idempotency_find(tx, staff, key, stored_hash, status, body);
    if (r == STORE_OK && strcmp(stored_hash, hash) != 0) {
        free(*body);
        *body = NULL;
        *status = 0;
        *why = MONEY_KEY_CONFLICT;
        return STORE_CONFLICT;
    }
    return r;
}

static enum store_result replay_record(struct db *db, const char *staff, const char *key,
                                       const char *hash, int64_t txn_id, json_t *reply, time_t now)
{
    char *body = json_dumps(reply, JSON_COMPACT);
    struct db_stmt *st =
        body ? db_cached(db, "INSERT INTO idempotency(staff, key, request_hash,"
                             " transaction_id, status, response, created_at)"
                             " VALUES(?,?,?,?,201,pd_seal(?, 'idempotency.response'),?)")
             : NULL;
    if (!st) {
        free(body);
        return STORE_UNAVAILABLE;
    }
    db_bind_text(st, 1, staff);
    db_bind_text(st, 2, key);
    db_bind_text(st, 3, hash);
    if (txn_id)
        db_bind_int64(st, 4, txn_id);
    db_bind_text(st, 5, body);
    db_bind_int64(st, 6, now);
    enum store_result r = store_step_done(db, st, "money idempotency");
    free(body);
    return r;
}

/* ---- refunds ---- */

json_t *store_money_refund_reply(const struct money_refund *r)
{
    return json_pack("{s:s, s:I, s:s, s:I}", "reference", r->reference, "refund_pence",
                     (json_int_t)r->amount_pence, "method", r->method, "remaining_pence",
                     (json_int_t)r->remaining_pence);
}

static enum store_result refund_run(struct store_tx *tx, void *arg)
{
    struct money_refund *f = arg;
    struct db *db = store_tx_db(tx);
    enum store_result r = replay_find(tx, f->staff, f->idempotency_key, f->request_hash,
                                      &f->replay_status, &f->replay_body, &f->why);
    if (r != STORE_NOT_FOUND)
        return r;
    struct sale_row sale;
    if ((r = sale_read(db, f->reference, f->site, &sale)) != STORE_OK)
        return r;
    long available = sale.paid_pence - sale.given_back_pence;
    f->remaining_pence = available;
    if (!till_movement_counts(sale.method, sale.paid_pence) || sale.status == TXN_VOIDED)
        f->why = MONEY_NOTHING_PAID;
    else if (available != f->available_pence)
        f->why = MONEY_STALE;
    else if (f->amount_pence > available)
        f->why = MONEY_TOO_MUCH;
    else if (strcmp(f->method, "cash") != 0 && strcmp(f->method, sale.method) != 0)
        f->why = MONEY_WRONG_METHOD;
    if (f->why != MONEY_OK)
        return STORE_CONFLICT;
    struct till_movement m = {.counter = f->counter,
                              .day = f->day,
                              .kind = TILL_REFUND,
                              .method = f->method,
                              .amount_pence = -f->amount_pence,
                              .reference = f->reference,
                              .staff = f->staff,
                              .reason = f->reason,
                              .now = f->now};
    if ((r = till_movement(tx, &m, &f->why)) != STORE_OK)
        return r;
    f->remaining_pence = available - f->amount_pence;
    char detail[TILL_REASON_MAX + 64];
    snprintf(detail, sizeof detail, "%ldp %s: %s", f->amount_pence, f->method, f->reason);
    if ((r = audit(db, f->staff, f->counter, "refund", f->reference, detail, f->now)) != STORE_OK)
        return r;
    json_t *reply = store_money_refund_reply(f);
    r = replay_record(db, f->staff, f->idempotency_key, f->request_hash, sale.id, reply, f->now);
    json_decref(reply);
    if (r != STORE_OK)
        return r;
    char banner[64];
    snprintf(banner, sizeof banner, "REFUND £%ld.%02ld %s", f->amount_pence / 100,
             f->amount_pence % 100, f->method);
    return print_slip(db, sale.id, f->printer, banner, f->now);
}

enum store_result store_money_refund(struct store *store, struct money_refund *f)
{
    f->why = MONEY_OK;
    f->replay_status = 0;
    f->replay_body = NULL;
    return store_run(store, refund_run, f);
}

enum store_result store_money_available(struct store *store, const char *reference, long *available)
{
    struct db *db = store_reader_acquire(store);
    struct sale_row sale;
    enum store_result r = sale_read(db, reference, NULL, &sale);
    store_reader_release(store, db);
    if (r == STORE_OK)
        *available = sale.status == TXN_VOIDED || !till_movement_counts(sale.method, 1)
                         ? 0
                         : sale.paid_pence - sale.given_back_pence;
    return r;
}

/* ---- paid in / paid out ---- */

static enum store_result paid_run(struct store_tx *tx, void *arg)
{
    struct money_paid *p = arg;
    enum store_result r = replay_find(tx, p->staff, p->idempotency_key, p->request_hash,
                                      &p->replay_status, &p->replay_body, &p->why);
    if (r != STORE_NOT_FOUND)
        return r;
    struct till_movement m = {.counter = p->counter,
                              .day = p->day,
                              .kind = p->out ? TILL_PAID_OUT : TILL_PAID_IN,
                              .method = "cash",
                              .amount_pence = p->out ? -p->amount_pence : p->amount_pence,
                              .staff = p->staff,
                              .reason = p->reason,
                              .now = p->now};
    if ((r = till_movement(tx, &m, &p->why)) != STORE_OK)
        return r;
    struct db *db = store_tx_db(tx);
    char detail[TILL_REASON_MAX + 32];
    snprintf(detail, sizeof detail, "%ldp: %s", p->amount_pence, p->reason);
    const char *action = p->out ? "till_paid_out" : "till_paid_in";
    if ((r = audit(db, p->staff, p->counter, action, NULL, detail, p->now)) != STORE_OK)
        return r;
    json_t *reply = json_pack("{s:s, s:I, s:s}", "kind", p->out ? "paid_out" : "paid_in",
                              "amount_pence", (json_int_t)p->amount_pence, "reason", p->reason);
    r = replay_record(db, p->staff, p->idempotency_key, p->request_hash, 0, reply, p->now);
    json_decref(reply);
    return r;
}

enum store_result store_money_paid(struct store *store, struct money_paid *p)
{
    p->why = MONEY_OK;
    p->replay_status = 0;
    p->replay_body = NULL;
    return store_run(store, paid_run, p);
}
