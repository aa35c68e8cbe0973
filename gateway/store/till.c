/* store_till: till sessions and their movements in the store (see store/till.h).
 *
 * DESIGN: a till row per (counter, day) holds what was decided at its three moments (opened
 * with a float, counted blind, signed off); everything in between is a till_movements row.
 * Movements are only ever inserted, into a till that is `open` (checked inside the same
 * database transaction on the one writer thread, so a movement cannot slip into a till being
 * counted). Figures are sums over movements, by kind and method: the float is a movement
 * too, so expected cash = SUM(cash movements). The session's state moves only in till_move
 * (rule table, compare-and-set on the state seen, one audit row). */
#include "gateway/store/till.h"

#include "gateway/store/store_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const state_names[] = {"open", "counted", "closed"};
static const char *const kind_names[] = {"float", "sale", "refund", "void", "paid_in", "paid_out"};
static const char *const methods[] = {"cash", "card", "cheque"};
#define METHODS_LEN (sizeof methods / sizeof methods[0])

const char *till_state_name(enum till_state state)
{
    return state <= TILL_CLOSED ? state_names[state] : "unknown";
}

bool till_state_can_move(enum till_state from, enum till_state to)
{
    return (from == TILL_OPEN && to == TILL_COUNTED) || (from == TILL_COUNTED && to == TILL_CLOSED);
}

const char *till_kind_name(enum till_kind kind)
{
    return kind <= TILL_PAID_OUT ? kind_names[kind] : "unknown";
}

/* The till of (counter, day): its id and state. STORE_NOT_FOUND when none. */
static enum store_result till_find(struct db *db, const char *counter, const char *day, int64_t *id,
                                   enum till_state *state)
{
    struct db_stmt *st = db_cached(db, "SELECT id, state FROM tills WHERE counter=? AND day=?");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, counter);
    db_bind_text(st, 2, day);
    enum db_step rc = db_step(st);
    enum store_result r = STORE_NOT_FOUND;
    if (rc == DB_ROW) {
        *id = db_column_int64(st, 0);
        int i = store_name_index(state_names, TILL_OPEN, TILL_CLOSED, db_column_text(st, 1));
        *state = i >= 0 ? (enum till_state)i : TILL_CLOSED;
        r = STORE_OK;
    } else if (rc != DB_DONE) {
        r = store_step_result(db, rc);
    }
    db_release(st);
    return r;
}

static enum store_result movement_insert(struct db *db, int64_t till_id,
                                         const struct till_movement *m)
{
    struct db_stmt *st =
        db_cached(db, "INSERT INTO till_movements(till_id, kind, method, amount_pence,"
                      " reference, staff, reason, created_at) VALUES(?,?,?,?,?,?,?,?)");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_int64(st, 1, till_id);
    db_bind_text(st, 2, till_kind_name(m->kind));
    db_bind_text(st, 3, m->method);
    db_bind_int64(st, 4, m->amount_pence);
    db_bind_text(st, 5, m->reference);
    db_bind_text(st, 6, m->staff);
    db_bind_text(st, 7, m->reason);
    db_bind_int64(st, 8, m->now);
    return store_step_done(db, st, "till movement insert");
}

enum store_result store_tx_till_move(struct store_tx *tx, const struct till_movement *m)
{
    struct db *db = store_tx_db(tx);
    int64_t id = 0;
    enum till_state state;
    enum store_result r = till_find(db, m->counter, m->day, &id, &state);
    if (r != STORE_OK)
        return r;
    if (state != TILL_OPEN)
        return STORE_CONFLICT;
    return movement_insert(db, id, m);
}

enum store_result store_tx_till_check(struct store_tx *tx, const char *counter, const char *day)
{
    int64_t id = 0;
    enum till_state state;
    enum store_result r = till_find(store_tx_db(tx), counter, day, &id, &state);
    return r == STORE_OK && state != TILL_OPEN ? STORE_CONFLICT : r;
}

bool till_movement_counts(const char *method, long amount_pence)
{
    for (size_t i = 0; method && amount_pence > 0 && i < METHODS_LEN; i++)
        if (strcmp(methods[i], method) == 0)
            return true;
    return false;
}

/* ---- opening ---- */

struct open_args {
    const char *counter, *site, *day, *staff;
    long float_pence;
    time_t now;
};

static enum store_result open_run(struct db *db, void *arg)
{
    struct open_args *a = arg;
    struct db_stmt *st = db_cached(db, "INSERT INTO tills(counter, site, day, state, float_pence,"
                                       " opened_at, opened_by) VALUES(?,?,?,'open',?,?,?)"
                                       " RETURNING id");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, a->counter);
    db_bind_text(st, 2, a->site);
    db_bind_text(st, 3, a->day);
    db_bind_int64(st, 4, a->float_pence);
    db_bind_int64(st, 5, a->now);
    db_bind_text(st, 6, a->staff);
    enum db_step rc = db_step(st);
    int64_t till_id = rc == DB_ROW ? db_column_int64(st, 0) : 0;
    db_release(st);
    if (rc != DB_ROW)
        return rc == DB_DONE ? STORE_UNAVAILABLE
                             : db_result(db); /* a constraint: this day's till exists */
    struct till_movement m = {.counter = a->counter,
                              .day = a->day,
                              .kind = TILL_FLOAT,
                              .method = "cash",
                              .amount_pence = a->float_pence,
                              .staff = a->staff,
                              .now = a->now};
    enum store_result r = movement_insert(db, till_id, &m);
    if (r != STORE_OK)
        return r;
    char detail[64];
    snprintf(detail, sizeof detail, "%s float %ldp", a->day, a->float_pence);
    struct audit_entry e = {
        .actor = a->staff, .counter = a->counter, .action = "till_opened", .detail = detail};
    return store_audit_insert(db, &e, a->now);
}

enum store_result store_till_open(struct store *store, const char *counter, const char *site,
                                  const char *day, long float_pence, const char *staff, time_t now)
{
    struct open_args a = {counter, site, day, staff, float_pence, now};
    return store_write_sync(store, open_run, &a);
}

/* ---- reading ---- */

static const struct store_column till_columns[] = {{"counter", COL_TEXT},
                                                   {"site", COL_TEXT},
                                                   {"day", COL_TEXT},
                                                   {"state", COL_TEXT},
                                                   {"float_pence", COL_INT},
                                                   {"opened_at", COL_TIME},
                                                   {"opened_by", COL_TEXT},
                                                   {"denominations", COL_JSON},
                                                   {"counted_pence", COL_INT},
                                                   {"counted_at", COL_TIME},
                                                   {"counted_by", COL_TEXT},
                                                   {"banked_pence", COL_INT},
                                                   {"bag_number", COL_TEXT},
                                                   {"note", COL_TEXT},
                                                   {"signed_by", COL_TEXT},
                                                   {"closed_at", COL_TIME},
                                                   {"counted_card_pence", COL_INT},
                                                   {"counted_cheque_pence", COL_INT},
                                                   {"expected_at_count_pence", COL_INT},
                                                   {0}};

static json_t *by_method(void)
{
    json_t *o = json_object();
    for (size_t i = 0; i < METHODS_LEN; i++)
        json_object_set_new(o, methods[i], json_integer(0));
    return o;
}

static void add_to(json_t *obj, const char *key, json_int_t pence)
{
    json_object_set_new(obj, key,
                        json_integer(json_integer_value(json_object_get(obj, key)) + pence));
}

/* Sums the till's movements into t: takings, refunds and voids by method (positive figures),
 * paid in/out, the cash expected in the drawer and the number of sales. */
static enum store_result till_sums(struct db *db, int64_t till_id, json_t *t)
{
    struct db_stmt *st = db_cached(db, "SELECT kind, method, SUM(amount_pence), COUNT(*)"
                                       " FROM till_movements WHERE till_id=? GROUP BY kind,"
                                       " method");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_int64(st, 1, till_id);
    json_t *takings = by_method(), *refunds = by_method(), *voids = by_method();
    json_int_t paid_in = 0, paid_out = 0, cash = 0, sales = 0;
    enum db_step rc;
    while ((rc = db_step(st)) == DB_ROW) {
        const char *kind = db_column_text(st, 0);
        const char *method = db_column_text(st, 1);
        json_int_t sum = db_column_int64(st, 2);
        if (strcmp(method, "cash") == 0)
            cash += sum;
        if (strcmp(kind, "sale") == 0) {
            add_to(takings, method, sum);
            sales += db_column_int64(st, 3);
        } else if (strcmp(kind, "refund") == 0) {
            add_to(refunds, method, -sum);
        } else if (strcmp(kind, "void") == 0) {
            add_to(voids, method, -sum);
        } else if (strcmp(kind, "paid_in") == 0) {
            paid_in += sum;
        } else if (strcmp(kind, "paid_out") == 0) {
            paid_out -= sum;
        }
    }
    db_release(st);
    json_object_set_new(t, "takings", takings);
    json_object_set_new(t, "refunds", refunds);
    json_object_set_new(t, "voids", voids);
    json_object_set_new(t, "paid_in_pence", json_integer(paid_in));
    json_object_set_new(t, "paid_out_pence", json_integer(paid_out));
    json_object_set_new(t, "expected_cash_pence", json_integer(cash));
    json_object_set_new(t, "transactions", json_integer(sales));
    return rc == DB_DONE ? STORE_OK : store_step_result(db, rc);
}

/* Net card or cheque takings of the till (sales less refunds and voids). */
static json_int_t net_of(json_t *t, const char *method)
{
    return json_integer_value(json_object_get(json_object_get(t, "takings"), method)) -
           json_integer_value(json_object_get(json_object_get(t, "refunds"), method)) -
           json_integer_value(json_object_get(json_object_get(t, "voids"), method));
}

/* Once counted: the variance of cash (counted less expected), of card and cheque (the
 * terminal's and the cheques' totals less the net takings), in pence, negative when short. */
static void add_variances(json_t *t)
{
    json_t *counted = json_object_get(t, "counted_pence");
    if (!json_is_integer(counted))
        return;
    json_int_t cash =
        json_integer_value(counted) - json_integer_value(json_object_get(t, "expected_cash_pence"));
    json_object_set_new(t, "variance_pence", json_integer(cash));
    json_object_set_new(
        t, "variances",
        json_pack("{s:I, s:I, s:I}", "cash", cash, "card",
                  json_integer_value(json_object_get(t, "counted_card_pence")) - net_of(t, "card"),
                  "cheque",
                  json_integer_value(json_object_get(t, "counted_cheque_pence")) -
                      net_of(t, "cheque")));
}

enum store_result store_till_get(struct store *store, const char *counter, const char *day,
                                 bool blind, json_t **out)
{
    struct db *db = store_reader_acquire(store);
    struct db_stmt *st = db_cached(
        db, "SELECT counter, site, day, state, float_pence, opened_at, opened_by, denominations,"
            " counted_pence, counted_at, counted_by, banked_pence, bag_number, note, signed_by,"
            " closed_at, counted_card_pence, counted_cheque_pence, expected_pence, id"
            " FROM tills WHERE counter=? AND day=?");
    enum store_result r = STORE_UNAVAILABLE;
    if (st) {
        db_bind_text(st, 1, counter);
        db_bind_text(st, 2, day);
        enum db_step rc = db_step(st);
        int64_t id = 0;
        json_t *t = NULL;
        if (rc == DB_ROW) {
            t = json_object();
            store_row_json(st, 0, till_columns, t);
            id = db_column_int64(st, 19);
        }
        r = rc == DB_ROW ? STORE_OK : rc == DB_DONE ? STORE_NOT_FOUND : store_step_result(db, rc);
        db_release(st);
        if (r == STORE_OK)
            r = till_sums(db, id, t);
        if (r == STORE_OK) {
            add_variances(t);
            const char *state = json_string_value(json_object_get(t, "state"));
            if (blind && state && strcmp(state, "open") == 0)
                json_object_del(t, "expected_cash_pence");
            *out = t;
        } else {
            json_decref(t);
        }
    }
    store_reader_release(store, db);
    return r;
}

/* ---- the state machine: open -> counted -> closed ---- */

/* The one transition function: moves till `id` from `from` to `to` (compare-and-set on the
 * state) and audits it; the caller has written the move's own columns in the same database
 * transaction. STORE_CONFLICT when the till is no longer in `from`. */
static enum store_result till_move(struct db *db, int64_t id, const char *counter,
                                   enum till_state from, enum till_state to, const char *actor,
                                   const char *detail, time_t now)
{
    if (!till_state_can_move(from, to)) {
        store_illegal_move("till", till_state_name(from), till_state_name(to));
        return STORE_INVALID;
    }
    struct db_stmt *st = db_cached(db, "UPDATE tills SET state=? WHERE id=? AND state=?");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, till_state_name(to));
    db_bind_int64(st, 2, id);
    db_bind_text(st, 3, till_state_name(from));
    struct audit_entry e = {.actor = actor,
                            .counter = counter,
                            .action = to == TILL_COUNTED ? "till_counted" : "till_closed",
                            .detail = detail};
    return store_move_commit(db, st, "till move", &e, now);
}

/* The cash expected in the till now: the sum of its cash movements. */
static enum store_result expected_cash(struct db *db, int64_t id, long *out)
{
    struct db_stmt *st = db_cached(db, "SELECT coalesce(SUM(amount_pence), 0) FROM"
                                       " till_movements WHERE till_id=? AND method='cash'");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_int64(st, 1, id);
    enum db_step rc = db_step(st);
    if (rc == DB_ROW)
        *out = (long)db_column_int64(st, 0);
    db_release(st);
    return rc == DB_ROW ? STORE_OK : store_step_result(db, rc);
}

struct count_args {
    const char *counter, *day, *staff, *denominations;
    long counted, card, cheque;
    time_t now;
};

static enum store_result count_run(struct db *db, void *arg)
{
    struct count_args *a = arg;
    int64_t id = 0;
    enum till_state state;
    long expected = 0;
    enum store_result r = till_find(db, a->counter, a->day, &id, &state);
    if (r != STORE_OK)
        return r;
    if (state != TILL_OPEN)
        return STORE_CONFLICT;
    if ((r = expected_cash(db, id, &expected)) != STORE_OK)
        return r;
    struct db_stmt *st = db_cached(db, "UPDATE tills SET denominations=?, counted_pence=?,"
                                       " counted_card_pence=?, counted_cheque_pence=?,"
                                       " expected_pence=?, counted_at=?, counted_by=? WHERE id=?");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, a->denominations);
    db_bind_int64(st, 2, a->counted);
    db_bind_int64(st, 3, a->card);
    db_bind_int64(st, 4, a->cheque);
    db_bind_int64(st, 5, expected);
    db_bind_int64(st, 6, a->now);
    db_bind_text(st, 7, a->staff);
    db_bind_int64(st, 8, id);
    if ((r = store_step_done(db, st, "till count")) != STORE_OK)
        return r;
    char detail[96];
    snprintf(detail, sizeof detail, "%s counted %ldp, expected %ldp", a->day, a->counted, expected);
    return till_move(db, id, a->counter, TILL_OPEN, TILL_COUNTED, a->staff, detail, a->now);
}

enum store_result store_till_count(struct store *store, const char *counter, const char *day,
                                   const char *staff, const char *denominations, long counted_pence,
                                   long card_pence, long cheque_pence, time_t now)
{
    struct count_args a = {counter,       day,        staff,        denominations,
                           counted_pence, card_pence, cheque_pence, now};
    return store_write_sync(store, count_run, &a);
}

struct cashup_args {
    const char *counter, *day, *staff, *bag, *note, *printer;
    long banked;
    time_t now;
    enum till_signoff_refusal *why;
};

static enum store_result cashup_run(struct db *db, void *arg)
{
    struct cashup_args *a = arg;
    struct db_stmt *st = db_cached(db, "SELECT id, state, counted_by, counted_pence,"
                                       " expected_pence FROM tills WHERE counter=? AND day=?");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, a->counter);
    db_bind_text(st, 2, a->day);
    enum db_step rc = db_step(st);
    int64_t id = 0;
    long counted = 0, expected = 0;
    bool is_counted = false, own = false;
    if (rc == DB_ROW) {
        id = db_column_int64(st, 0);
        is_counted = strcmp(db_column_text(st, 1), "counted") == 0;
        const char *by = db_column_text(st, 2);
        own = by && strcmp((const char *)by, a->staff) == 0;
        counted = (long)db_column_int64(st, 3);
        expected = (long)db_column_int64(st, 4);
    }
    db_release(st);
    if (rc != DB_ROW)
        return rc == DB_DONE ? STORE_NOT_FOUND : store_step_result(db, rc);
    if (!is_counted || own || a->banked > counted) {
        *a->why = !is_counted ? TILL_SIGNOFF_NOT_COUNTED
                  : own       ? TILL_SIGNOFF_OWN_COUNT
                              : TILL_SIGNOFF_BANKED_TOO_MUCH;
        return STORE_CONFLICT;
    }
    st = db_cached(db, "UPDATE tills SET banked_pence=?, bag_number=?, note=?, signed_by=?,"
                       " closed_at=? WHERE id=?");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_int64(st, 1, a->banked);
    db_bind_text(st, 2, a->bag);
    db_bind_text(st, 3, a->note);
    db_bind_text(st, 4, a->staff);
    db_bind_int64(st, 5, a->now);
    db_bind_int64(st, 6, id);
    enum store_result r = store_step_done(db, st, "till cash-up");
    if (r != STORE_OK)
        return r;
    char detail[128];
    snprintf(detail, sizeof detail, "%s variance %ldp, banked %ldp", a->day, counted - expected,
             a->banked);
    r = till_move(db, id, a->counter, TILL_COUNTED, TILL_CLOSED, a->staff, detail, a->now);
    if (r != STORE_OK || !a->printer)
        return r;
    return store_print_queue_till(db, id, a->printer, a->staff, a->counter, a->now);
}

enum store_result store_till_cashup(struct store *store, const char *counter, const char *day,
                                    const char *staff, long banked_pence, const char *bag_number,
                                    const char *note, const char *printer, time_t now,
                                    enum till_signoff_refusal *why)
{
    *why = TILL_SIGNOFF_OK;
    struct cashup_args a = {counter, day, staff, bag_number, note, printer, banked_pence, now, why};
    return store_write_sync(store, cashup_run, &a);
}

long store_till_suggested_float(struct store *store, const char *counter)
{
    struct db *db = store_reader_acquire(store);
    struct db_stmt *st = db_cached(db, "SELECT counted_pence - banked_pence FROM tills"
                                       " WHERE counter=? AND state='closed' ORDER BY day DESC"
                                       " LIMIT 1");
    long pence = 0;
    if (st) {
        db_bind_text(st, 1, counter);
        if (db_step(st) == DB_ROW)
            pence = (long)db_column_int64(st, 0);
        db_release(st);
    }
    store_reader_release(store, db);
    return pence > 0 ? pence : 0;
}
