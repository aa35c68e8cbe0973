/* store_report: the supervisors' reports in the store (see store/report.h).
 *
 * DESIGN: a report is a handful of GROUP BY queries on a read connection, each reading the
 * period once through an index (transactions by created_at, tills by day): the sales as one
 * cube grouped by service, site, counter, staff and method, folded here into the five
 * dimensions; the tills' refunds, voids and paid in/out; the cash-up variances; the period's
 * deliveries by state; and takings per London day and service for the chart. Nothing is
 * kept as a running total: the figures are the movements and payments, summed. */
#include "gateway/store/report.h"

#include "gateway/store/store_private.h"

#include <stdio.h>
#include <string.h>

/* The London day of a sale, in SQL, as days since 1970-01-01 (COL_DAY), given the period's
 * clock change (?4 instant, ?5 offset after, ?6 offset before). Integer division in both
 * engines; neither's date functions are the other's. */
#define LONDON_DAY                                                                                 \
    "(t.created_at + CASE WHEN CAST(?4 AS BIGINT) > 0 AND t.created_at >= ?4"                      \
    " THEN CAST(?5 AS BIGINT) ELSE ?6 END) / 86400"

static void bind_period(struct db_stmt *st, const struct report_period *p)
{
    db_bind_int64(st, 1, p->from);
    db_bind_int64(st, 2, p->until);
    db_bind_text(st, 3, p->site);
}

/* Adds count and pence to dim[name] ({"transactions","takings_pence"}). */
static void tally(json_t *dim, const char *name, json_int_t count, json_int_t pence)
{
    json_t *e = json_object_get(dim, name);
    if (!e) {
        e = json_pack("{s:I, s:I}", "transactions", (json_int_t)0, "takings_pence", (json_int_t)0);
        json_object_set_new(dim, name, e);
    }
    json_object_set_new(
        e, "transactions",
        json_integer(json_integer_value(json_object_get(e, "transactions")) + count));
    json_object_set_new(
        e, "takings_pence",
        json_integer(json_integer_value(json_object_get(e, "takings_pence")) + pence));
}

/* {"a":{...},"b":{...}} -> [{"name":"a",...},{"name":"b",...}] (sorted by name). */
static json_t *as_list(json_t *dim)
{
    json_t *list = json_array();
    const char *key;
    json_t *v;
    json_object_foreach(dim, key, v)
    {
        json_t *e = json_deep_copy(v);
        json_object_set_new(e, "name", json_string(key));
        json_array_append_new(list, e);
    }
    json_decref(dim);
    return list;
}

static enum store_result sales_cube(struct db *db, const struct report_period *p, json_t *out)
{
    struct db_stmt *st =
        db_cached(db, "SELECT t.service, coalesce(t.site, ''), t.counter, t.staff,"
                      " coalesce(p.method, 'none'), t.status = 'voided', COUNT(*),"
                      " coalesce(SUM(p.amount_pence), 0)"
                      " FROM transactions t LEFT JOIN payments p ON p.transaction_id = t.id"
                      " WHERE t.created_at >= ?1 AND t.created_at < ?2"
                      " AND (CAST(?3 AS TEXT) IS NULL OR t.site = ?3)"
                      " GROUP BY 1, 2, 3, 4, 5, 6");
    if (!st)
        return STORE_UNAVAILABLE;
    bind_period(st, p);
    static const char *const dims[] = {"by_service", "by_site", "by_counter", "by_staff",
                                       "by_method"};
    json_t *maps[5];
    for (int i = 0; i < 5; i++)
        maps[i] = json_object();
    json_int_t count = 0, pence = 0, voided = 0;
    enum db_step rc;
    while ((rc = db_step(st)) == DB_ROW) {
        json_int_t n = db_column_int64(st, 6), sum = db_column_int64(st, 7);
        for (int i = 0; i < 5; i++)
            tally(maps[i], db_column_text(st, i), n, sum);
        count += n;
        pence += sum;
        if (db_column_int64(st, 5))
            voided += n;
    }
    db_release(st);
    for (int i = 0; i < 5; i++)
        json_object_set_new(out, dims[i], as_list(maps[i]));
    json_object_set_new(out, "sales",
                        json_pack("{s:I, s:I, s:I}", "transactions", count, "takings_pence", pence,
                                  "voided", voided));
    return rc == DB_DONE ? STORE_OK : store_step_result(db, rc);
}

/* Refunds, voids and paid in/out of the period's tills. */
static enum store_result till_figures(struct db *db, const struct report_period *p, json_t *out)
{
    struct db_stmt *st = db_cached(
        db, "SELECT m.kind, m.method, COUNT(*), coalesce(SUM(m.amount_pence), 0)"
            " FROM tills l JOIN till_movements m ON m.till_id = l.id"
            " WHERE l.day >= ?1 AND l.day < ?2 AND (CAST(?3 AS TEXT) IS NULL OR l.site = ?3)"
            " AND m.kind IN ('refund', 'void', 'paid_in', 'paid_out') GROUP BY 1, 2");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, p->day_from);
    db_bind_text(st, 2, p->day_until);
    db_bind_text(st, 3, p->site);
    json_t *refunds =
        json_pack("{s:I, s:I, s:{}}", "count", (json_int_t)0, "pence", (json_int_t)0, "by_method");
    json_t *voids = json_deep_copy(refunds);
    json_int_t paid_in = 0, paid_out = 0;
    enum db_step rc;
    while ((rc = db_step(st)) == DB_ROW) {
        const char *kind = db_column_text(st, 0);
        const char *method = db_column_text(st, 1);
        json_int_t n = db_column_int64(st, 2), sum = db_column_int64(st, 3);
        json_t *into = strcmp(kind, "refund") == 0 ? refunds
                       : strcmp(kind, "void") == 0 ? voids
                                                   : NULL;
        if (into) {
            json_object_set_new(
                into, "count",
                json_integer(json_integer_value(json_object_get(into, "count")) + n));
            json_object_set_new(
                into, "pence",
                json_integer(json_integer_value(json_object_get(into, "pence")) - sum));
            json_object_set_new(json_object_get(into, "by_method"), method, json_integer(-sum));
        } else if (strcmp(kind, "paid_in") == 0) {
            paid_in += sum;
        } else {
            paid_out -= sum;
        }
    }
    db_release(st);
    json_object_set_new(out, "refunds", refunds);
    json_object_set_new(out, "voids", voids);
    json_object_set_new(out, "paid_in_pence", json_integer(paid_in));
    json_object_set_new(out, "paid_out_pence", json_integer(paid_out));
    return rc == DB_DONE ? STORE_OK : store_step_result(db, rc);
}

static const struct store_column variance_columns[] = {
    {"counter", COL_TEXT},      {"day", COL_TEXT},           {"state", COL_TEXT},
    {"counted_pence", COL_INT}, {"expected_pence", COL_INT}, {"variance_pence", COL_INT},
    {"counted_by", COL_TEXT},   {"signed_by", COL_TEXT},     {0}};

static enum store_result variances(struct db *db, const struct report_period *p, json_t *out)
{
    struct db_stmt *st =
        db_cached(db, "SELECT counter, day, state, counted_pence, expected_pence,"
                      " counted_pence - expected_pence, counted_by, signed_by FROM tills"
                      " WHERE day >= ?1 AND day < ?2 AND (CAST(?3 AS TEXT) IS NULL OR site = ?3)"
                      " AND counted_pence IS NOT NULL ORDER BY day, counter");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, p->day_from);
    db_bind_text(st, 2, p->day_until);
    db_bind_text(st, 3, p->site);
    json_t *list = NULL;
    enum store_result r = store_rows_json(st, variance_columns, &list);
    if (r == STORE_OK)
        json_object_set_new(out, "variances", list);
    return r;
}

static enum store_result deliveries(struct db *db, const struct report_period *p, json_t *out)
{
    struct db_stmt *st =
        db_cached(db, "SELECT d.state, COUNT(*), MIN(d.created_at) FROM transactions t"
                      " JOIN deliveries d ON d.transaction_id = t.id"
                      " WHERE t.created_at >= ?1 AND t.created_at < ?2"
                      " AND (CAST(?3 AS TEXT) IS NULL OR t.site = ?3)"
                      " GROUP BY 1");
    if (!st)
        return STORE_UNAVAILABLE;
    bind_period(st, p);
    json_t *d =
        json_pack("{s:I, s:I, s:I, s:I, s:n}", "delivered", (json_int_t)0, "waiting", (json_int_t)0,
                  "failed", (json_int_t)0, "cancelled", (json_int_t)0, "oldest_waiting_at");
    enum db_step rc;
    while ((rc = db_step(st)) == DB_ROW) {
        const char *state = db_column_text(st, 0);
        const char *key = strcmp(state, "pending") == 0         ? "waiting"
                          : strcmp(state, "cancelling") == 0    ? "waiting"
                          : strcmp(state, "cancel_failed") == 0 ? "failed"
                                                                : state;
        json_int_t n = db_column_int64(st, 1);
        json_object_set_new(d, key, json_integer(json_integer_value(json_object_get(d, key)) + n));
        if (strcmp(state, "pending") == 0)
            json_object_set_new(d, "oldest_waiting_at", store_column_json(st, 2, COL_TIME));
    }
    db_release(st);
    json_object_set_new(out, "deliveries", d);
    return rc == DB_DONE ? STORE_OK : store_step_result(db, rc);
}

static const struct store_column day_columns[] = {{"day", COL_DAY},
                                                  {"service", COL_TEXT},
                                                  {"transactions", COL_INT},
                                                  {"takings_pence", COL_INT},
                                                  {0}};

static enum store_result by_day(struct db *db, const struct report_period *p, json_t *out)
{
    struct db_stmt *st =
        db_cached(db, "SELECT " LONDON_DAY ", t.service, COUNT(*), coalesce(SUM(p.amount_pence), 0)"
                      " FROM transactions t LEFT JOIN payments p ON p.transaction_id = t.id"
                      " WHERE t.created_at >= ?1 AND t.created_at < ?2"
                      " AND (CAST(?3 AS TEXT) IS NULL OR t.site = ?3)"
                      " GROUP BY 1, 2 ORDER BY 1, 2");
    if (!st)
        return STORE_UNAVAILABLE;
    bind_period(st, p);
    db_bind_int64(st, 4, p->clock_change);
    db_bind_int64(st, 5, p->offset_after);
    db_bind_int64(st, 6, p->offset_before);
    json_t *list = NULL;
    enum store_result r = store_rows_json(st, day_columns, &list);
    if (r == STORE_OK)
        json_object_set_new(out, "by_day", list);
    return r;
}

enum store_result store_report(struct store *store, const struct report_period *p, json_t **out)
{
    struct db *db = store_reader_acquire(store);
    json_t *rep = json_object();
    enum store_result r = sales_cube(db, p, rep);
    if (r == STORE_OK)
        r = till_figures(db, p, rep);
    if (r == STORE_OK)
        r = variances(db, p, rep);
    if (r == STORE_OK)
        r = deliveries(db, p, rep);
    if (r == STORE_OK)
        r = by_day(db, p, rep);
    store_reader_release(store, db);
    if (r != STORE_OK) {
        json_decref(rep);
        return r;
    }
    json_int_t net =
        json_integer_value(json_object_get(json_object_get(rep, "sales"), "takings_pence")) -
        json_integer_value(json_object_get(json_object_get(rep, "refunds"), "pence")) -
        json_integer_value(json_object_get(json_object_get(rep, "voids"), "pence"));
    json_object_set_new(rep, "net_pence", json_integer(net));
    *out = rep;
    return STORE_OK;
}

/* Calls row() for each line of the sale e (its lines as stored: [{"description",
 * "amount_pence"}]); the sale's figures on the first line only. False when row() stopped. */
static bool sale_lines(struct report_row *e, const char *lines_json, long fee_pence,
                       bool (*row)(void *ctx, const struct report_row *r), void *ctx)
{
    json_t *lines = lines_json ? json_loads(lines_json, 0, NULL) : NULL;
    size_t n = json_array_size(lines);
    bool go = true;
    if (n == 0) {
        e->line = 1;
        e->description = "";
        e->line_pence = fee_pence;
        go = row(ctx, e);
    }
    for (size_t i = 0; go && i < n; i++) {
        const json_t *l = json_array_get(lines, i);
        const char *d = json_string_value(json_object_get(l, "description"));
        e->line = (int)i + 1;
        e->description = d ? d : "";
        e->line_pence = (long)json_integer_value(json_object_get(l, "amount_pence"));
        go = row(ctx, e);
        e->amount_pence = e->refunded_pence = e->voided_pence = 0; /* the sale's: once */
    }
    json_decref(lines);
    return go;
}

enum store_result store_report_rows(struct store *store, const struct report_period *p,
                                    bool (*row)(void *ctx, const struct report_row *r), void *ctx)
{
    struct db *db = store_reader_acquire(store);
    struct db_stmt *st = db_cached(
        db, "SELECT t.reference, t.service, coalesce(t.site, ''), t.counter, t.staff, t.status,"
            " coalesce(p.method, 'none'), t.created_at, coalesce(p.amount_pence, 0),"
            " (SELECT coalesce(-SUM(m.amount_pence), 0) FROM till_movements m"
            "  WHERE m.reference = t.reference AND m.kind = 'refund'),"
            " (SELECT coalesce(-SUM(m.amount_pence), 0) FROM till_movements m"
            "  WHERE m.reference = t.reference AND m.kind = 'void'),"
            " t.lines, t.fee_pence"
            " FROM transactions t LEFT JOIN payments p ON p.transaction_id = t.id"
            " WHERE t.created_at >= ?1 AND t.created_at < ?2"
            " AND (CAST(?3 AS TEXT) IS NULL OR t.site = ?3)"
            " ORDER BY t.created_at, t.id");
    enum store_result r = STORE_UNAVAILABLE;
    if (st) {
        bind_period(st, p);
        enum db_step rc;
        bool go = true;
        while (go && (rc = db_step(st)) == DB_ROW) {
            struct report_row e = {
                .reference = db_column_text(st, 0),
                .service = db_column_text(st, 1),
                .site = db_column_text(st, 2),
                .counter = db_column_text(st, 3),
                .staff = db_column_text(st, 4),
                .status = db_column_text(st, 5),
                .method = db_column_text(st, 6),
                .created_at = (time_t)db_column_int64(st, 7),
                .amount_pence = (long)db_column_int64(st, 8),
                .refunded_pence = (long)db_column_int64(st, 9),
                .voided_pence = (long)db_column_int64(st, 10),
            };
            go = sale_lines(&e, db_column_text(st, 11), (long)db_column_int64(st, 12), row, ctx);
        }
        r = !go || rc == DB_DONE ? STORE_OK : store_step_result(db, rc);
        db_release(st);
    }
    store_reader_release(store, db);
    return r;
}
