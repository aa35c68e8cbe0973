/* store_referral: look-ups kept for the NHS referral hand-off; see store_referral.h. */
#include "gateway/store_referral.h"
#include "gateway/store_sqlite_private.h"

#include <string.h>

static const struct store_column lookup_columns[] = {
    {"lookup_id", COL_TEXT},   {"counter", COL_TEXT},
    {"staff", COL_TEXT},       {"made_at", COL_INT},
    {"ubrn", COL_TEXT},        {"state", COL_TEXT},
    {"state_label", COL_TEXT}, {"priority", COL_TEXT},
    {"nhs_last3", COL_TEXT},   {0}};

static enum store_result put_run(sqlite3 *db, const struct referral_lookup_record *rec)
{
    sqlite3_stmt *st = store_cached(db, "DELETE FROM referral_lookups WHERE made_at < ?");
    if (!st)
        return STORE_UNAVAILABLE;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)(rec->made_at - REFERRAL_KEEP_S));
    enum store_result r = store_step_done(db, st, "referral look-ups expiry");
    if (r != STORE_OK)
        return r;
    st = store_cached(db, "INSERT INTO referral_lookups(lookup_id, counter, staff, made_at, ubrn,"
                          " state, state_label, priority, nhs_last3) VALUES(?,?,?,?,?,?,?,?,?)");
    if (!st)
        return STORE_UNAVAILABLE;
    sqlite3_bind_text(st, 1, rec->lookup_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, rec->counter, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, rec->staff, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)rec->made_at);
    sqlite3_bind_text(st, 5, rec->ubrn, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, rec->state, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, rec->state_label, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, rec->priority, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, rec->nhs_last3, -1, SQLITE_STATIC);
    r = store_step_done(db, st, "referral look-up insert");
    if (r != STORE_OK)
        return r;
    /* who looked a referral up, where and when: NHS data is special category */
    struct audit_entry e = {.actor = rec->staff,
                            .counter = rec->counter,
                            .action = "referral_lookup",
                            .subject = rec->lookup_id,
                            .detail = "matched"};
    return store_audit_insert(db, &e, rec->made_at);
}

enum store_result store_tx_referral_lookup_put(struct store_tx *tx,
                                               const struct referral_lookup_record *rec)
{
    if (!rec->lookup_id || !rec->counter || !rec->staff || !rec->ubrn || !rec->state ||
        !rec->state_label || !rec->priority || !rec->nhs_last3)
        return STORE_INVALID;
    return put_run(store_tx_db(tx), rec);
}

static int lookup_get(sqlite3 *db, const char *lookup_id, json_t **out)
{
    *out = NULL;
    sqlite3_stmt *st = store_cached(db, "SELECT lookup_id, counter, staff, made_at, ubrn, state,"
                                        " state_label, priority, nhs_last3 FROM referral_lookups"
                                        " WHERE lookup_id = ?");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, lookup_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int found = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
    if (found == 1) {
        *out = json_object();
        if (*out)
            store_row_json(st, 0, lookup_columns, *out);
        else
            found = -1;
    }
    store_release(st);
    return found;
}

int store_tx_referral_lookup_get(struct store_tx *tx, const char *lookup_id, json_t **out)
{
    return lookup_get(store_tx_db(tx), lookup_id, out);
}

int store_referral_lookup_get(struct store *store, const char *lookup_id, json_t **out)
{
    sqlite3 *db = store_reader_acquire(store);
    int found = lookup_get(db, lookup_id, out);
    store_reader_release(store, db);
    return found;
}

enum store_result store_referral_fields(struct store *store, const char *reference, json_t **out)
{
    *out = NULL;
    sqlite3 *db = store_reader_acquire(store);
    sqlite3_stmt *st =
        store_cached(db, "SELECT pd_open(fields, reference) FROM transactions WHERE reference = ?");
    enum store_result r = STORE_UNAVAILABLE;
    if (st) {
        sqlite3_bind_text(st, 1, reference, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const char *text = (const char *)sqlite3_column_text(st, 0);
            *out = text ? json_loads(text, 0, NULL) : NULL;
            r = json_is_object(*out) ? STORE_OK : STORE_INVALID;
        } else {
            r = rc == SQLITE_DONE ? STORE_NOT_FOUND : store_sqlite_result(rc);
        }
        store_release(st);
    }
    store_reader_release(store, db);
    if (r != STORE_OK) {
        json_decref(*out);
        *out = NULL;
    }
    return r;
}
