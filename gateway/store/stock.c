/* store_stock: stock per site and its movements; see store/stock.h. */
#include "gateway/store/stock.h"
#include "gateway/store/store_private.h"

#include <stdio.h>
#include <string.h>

#define STOCK_DETAIL_MAX 160

static enum store_result movement_insert(struct db *db, const char *site, const char *item,
                                         long delta, const char *reference, const char *staff,
                                         const char *note, time_t now)
{
    struct db_stmt *st = db_cached(db, "INSERT INTO stock_movements(site, item, delta, reference,"
                                       " staff, note, created_at) VALUES(?,?,?,?,?,?,?)");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, site);
    db_bind_text(st, 2, item);
    db_bind_int64(st, 3, delta);
    db_bind_text(st, 4, reference);
    db_bind_text(st, 5, staff);
    db_bind_text(st, 6, note);
    db_bind_int64(st, 7, now);
    return store_step_done(db, st, "stock movement insert");
}

enum store_result store_tx_stock_take(struct store_tx *tx, const char *site, const char *item,
                                      long quantity, const char *reference, const char *staff,
                                      time_t now)
{
    struct db *db = store_tx_db(tx);
    if (!site || quantity <= 0)
        return STORE_INVALID;
    struct db_stmt *st = db_cached(db, "UPDATE stock SET on_hand = on_hand - ?1, updated_at = ?4"
                                       " WHERE site = ?2 AND item = ?3 AND on_hand >= ?1");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_int64(st, 1, quantity);
    db_bind_text(st, 2, site);
    db_bind_text(st, 3, item);
    db_bind_int64(st, 4, now);
    enum store_result r = store_step_done(db, st, "stock take");
    if (r != STORE_OK)
        return r;
    if (db_changes(db) != 1)
        return STORE_INVALID; /* none (or too few) left at this site */
    return movement_insert(db, site, item, -quantity, reference, staff, NULL, now);
}

struct receive {
    const char *site, *item, *note, *staff, *counter;
    long quantity;
    time_t now;
    long on_hand;
};

static enum store_result receive_run(struct db *db, void *arg)
{
    struct receive *rc = arg;
    struct db_stmt *st = db_cached(
        db, "INSERT INTO stock(site, item, on_hand, updated_at) VALUES(?1, ?2, ?3, ?4)"
            " ON CONFLICT(site, item) DO UPDATE SET on_hand = stock.on_hand + ?3, updated_at = ?4");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, rc->site);
    db_bind_text(st, 2, rc->item);
    db_bind_int64(st, 3, rc->quantity);
    db_bind_int64(st, 4, rc->now);
    enum store_result r = store_step_done(db, st, "stock receive");
    if (r == STORE_OK)
        r = movement_insert(db, rc->site, rc->item, rc->quantity, NULL, rc->staff, rc->note,
                            rc->now);
    if (r != STORE_OK)
        return r;
    st = db_cached(db, "SELECT on_hand FROM stock WHERE site=? AND item=?");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, rc->site);
    db_bind_text(st, 2, rc->item);
    r = db_step(st) == DB_ROW ? STORE_OK : STORE_UNAVAILABLE;
    if (r == STORE_OK)
        rc->on_hand = (long)db_column_int64(st, 0);
    db_release(st);
    if (r != STORE_OK)
        return r;
    char detail[STOCK_DETAIL_MAX];
    snprintf(detail, sizeof detail, "%s +%ld at %s", rc->item, rc->quantity, rc->site);
    struct audit_entry e = {.actor = rc->staff,
                            .counter = rc->counter,
                            .action = "stock_received",
                            .subject = rc->item,
                            .detail = detail};
    return store_audit_insert(db, &e, rc->now);
}

enum store_result store_stock_receive(struct store *store, const char *site, const char *item,
                                      long quantity, const char *note, const char *staff,
                                      const char *counter, time_t now, long *on_hand)
{
    if (!site || !item || quantity < 1 || quantity > STOCK_DELIVERY_MAX)
        return STORE_INVALID;
    struct receive rc = {site, item, note, staff, counter, quantity, now, 0};
    enum store_result r = store_write_sync(store, receive_run, &rc);
    if (r == STORE_OK)
        *on_hand = rc.on_hand;
    return r;
}

enum store_result store_stock_on_hand(struct store *store, const char *site, const char *item,
                                      long *on_hand)
{
    struct db *db = store_reader_acquire(store);
    struct db_stmt *st = db_cached(db, "SELECT on_hand FROM stock WHERE site=? AND item=?");
    enum store_result r = STORE_UNAVAILABLE;
    if (st) {
        db_bind_text(st, 1, site);
        db_bind_text(st, 2, item);
        enum db_step rc = db_step(st);
        if (rc == DB_ROW || rc == DB_DONE) {
            *on_hand = rc == DB_ROW ? (long)db_column_int64(st, 0) : 0;
            r = STORE_OK;
        } else {
            r = store_step_result(db, rc);
        }
        db_release(st);
    }
    store_reader_release(store, db);
    return r;
}

static const struct store_column stock_columns[] = {
    {"site", COL_TEXT}, {"item", COL_TEXT}, {"on_hand", COL_INT}, {0}};

enum store_result store_stock_all(struct store *store, json_t **out)
{
    struct db *db = store_reader_acquire(store);
    enum store_result r =
        store_rows_json(db_cached(db, "SELECT site, item, on_hand FROM stock ORDER BY site, item"),
                        stock_columns, out);
    store_reader_release(store, db);
    return r;
}
