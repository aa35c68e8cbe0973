/* store_signin: see signin.h. The row is taken by an UPDATE (after an INSERT that does nothing
 * when it is there), which locks it on PostgreSQL until the write commits, so two nodes
 * counting the same key's failures at once count both. */
#include "gateway/store/store_private.h"

#include <stdint.h>
#include <stdio.h>

enum store_result store_signin_locked_until(struct store *store, const char *key_a,
                                            const char *key_b, time_t *locked_until)
{
    *locked_until = 0;
    struct db *db = store_reader_acquire(store);
    struct db_stmt *st = db_cached(db, "SELECT COALESCE(MAX(locked_until), 0) FROM signin_failures"
                                       " WHERE key IN (pd_blind('signin', ?1),"
                                       " pd_blind('signin', ?2))");
    enum store_result r = STORE_UNAVAILABLE;
    if (st) {
        db_bind_text(st, 1, key_a);
        db_bind_text(st, 2, key_b);
        enum db_step rc = db_step(st);
        if (rc == DB_ROW)
            *locked_until = (time_t)db_column_int64(st, 0);
        r = rc == DB_ROW ? STORE_OK : store_step_result(db, rc);
        db_release(st);
    }
    store_reader_release(store, db);
    return r;
}

struct signin_update {
    const char *key;
    time_t now;
    long window_s;
    store_signin_update_fn update;
    void *arg;
};

static enum store_result signin_update_run(struct db *db, void *arg)
{
    const struct signin_update *u = arg;
    struct db_stmt *st = db_cached(db, "INSERT INTO signin_failures(key, failures, window_start,"
                                       " locked_until, last_seen)"
                                       " VALUES(pd_blind('signin', ?1), 0, ?2, 0, ?2)"
                                       " ON CONFLICT(key) DO NOTHING");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, u->key);
    db_bind_int64(st, 2, u->now);
    enum store_result r = store_step_done(db, st, "sign-in failure record");
    if (r != STORE_OK)
        return r;
    st =
        db_cached(db, "UPDATE signin_failures SET last_seen = ?2 WHERE key = pd_blind('signin', ?1)"
                      " RETURNING failures, window_start, locked_until");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, u->key);
    db_bind_int64(st, 2, u->now);
    enum db_step rc = db_step(st);
    struct signin_record rec = {0};
    if (rc == DB_ROW) {
        rec.failures = (long)db_column_int64(st, 0);
        rec.window_start = (time_t)db_column_int64(st, 1);
        rec.locked_until = (time_t)db_column_int64(st, 2);
        rc = db_step(st); /* to its end: a statement left on a row keeps SQLite's write open */
    }
    db_release(st);
    if (rc != DB_DONE)
        return store_step_result(db, rc);
    u->update(&rec, u->arg);
    st = db_cached(db, "UPDATE signin_failures SET failures = ?2, window_start = ?3,"
                       " locked_until = ?4 WHERE key = pd_blind('signin', ?1)");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, u->key);
    db_bind_int64(st, 2, rec.failures);
    db_bind_int64(st, 3, rec.window_start);
    db_bind_int64(st, 4, rec.locked_until);
    r = store_step_done(db, st, "sign-in failure record");
    if (r != STORE_OK)
        return r;
    st = db_cached(db, "DELETE FROM signin_failures WHERE locked_until <= ?1"
                       " AND last_seen <= CAST(?1 AS BIGINT) - CAST(?2 AS BIGINT)");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_int64(st, 1, u->now);
    db_bind_int64(st, 2, u->window_s);
    return store_step_done(db, st, "old sign-in failure records");
}

enum store_result store_signin_update(struct store *store, const char *key, time_t now,
                                      long window_s, store_signin_update_fn update, void *arg)
{
    struct signin_update u = {key, now, window_s, update, arg};
    return store_write_sync(store, signin_update_run, &u);
}

static enum store_result signin_forget_run(struct db *db, void *arg)
{
    struct db_stmt *st =
        db_cached(db, "DELETE FROM signin_failures WHERE key = pd_blind('signin', ?1)");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, (const char *)arg);
    return store_step_done(db, st, "sign-in failure record");
}

enum store_result store_signin_forget(struct store *store, const char *key)
{
    return store_write_sync(store, signin_forget_run, (void *)key);
}
