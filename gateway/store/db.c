/* db: dispatch from the store's SQL interface to the connection's engine. */
#include "gateway/store/db_engine.h"

struct db_stmt *db_prepare(struct db *db, const char *sql)
{
    return db->ops->prepare(db, sql, false);
}

struct db_stmt *db_cached(struct db *db, const char *sql)
{
    return db->ops->prepare(db, sql, true);
}

void db_release(struct db_stmt *st)
{
    if (st)
        st->db->ops->reset(st);
}

void db_finalize(struct db_stmt *st)
{
    if (st)
        st->db->ops->finalize(st);
}

bool db_bind_text(struct db_stmt *st, int index, const char *text)
{
    return st->db->ops->bind_text(st, index, text);
}

bool db_bind_int64(struct db_stmt *st, int index, int64_t value)
{
    return st->db->ops->bind_int64(st, index, value);
}

bool db_bind_null(struct db_stmt *st, int index)
{
    return st->db->ops->bind_null(st, index);
}

enum db_step db_step(struct db_stmt *st)
{
    return st->db->ops->step(st);
}

bool db_column_is_null(struct db_stmt *st, int col)
{
    return st->db->ops->column_is_null(st, col);
}

int64_t db_column_int64(struct db_stmt *st, int col)
{
    return st->db->ops->column_int64(st, col);
}

const char *db_column_text(struct db_stmt *st, int col)
{
    return st->db->ops->column_text(st, col);
}

int64_t db_changes(struct db *db)
{
    return db->ops->changes(db);
}

bool db_exec(struct db *db, const char *sql, char *err, size_t errlen)
{
    return db->ops->exec(db, sql, err, errlen);
}

enum store_result db_result(struct db *db)
{
    return db->ops->result(db);
}

const char *db_errmsg(struct db *db)
{
    return db->ops->errmsg(db);
}

bool db_retryable(struct db *db)
{
    return db->ops->retryable(db);
}

const char *db_engine(struct db *db)
{
    return db->ops->name;
}

bool db_begin(struct db *db, char *err, size_t errlen)
{
    return db->ops->begin(db, err, errlen);
}

void db_close(struct db *db)
{
    if (db)
        db->ops->close(db);
}

bool db_in_transaction(struct db *db)
{
    return db->ops->in_transaction(db);
}

bool db_forget_freed(struct db *db)
{
    return !db->ops->forget_freed || db->ops->forget_freed(db);
}

bool db_shared(struct db *db)
{
    return db->ops->shared;
}

int64_t db_lock_key(const char *space, const char *name)
{
    /* FNV-1a over "space:name" */
    uint64_t h = 14695981039346656037ULL;
    for (const char *p = space; p && *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h = (h ^ (unsigned char)':') * 1099511628211ULL;
    for (const char *p = name; p && *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return (int64_t)h;
}

bool db_lock_xact(struct db *db, int64_t key)
{
    return !db->ops->lock_xact || db->ops->lock_xact(db, key);
}

bool db_hold_session(struct db *db, int64_t key, enum db_hold *hold, int64_t *session)
{
    *hold = DB_HOLD_KEPT;
    *session = 0;
    return !db->ops->hold_session || db->ops->hold_session(db, key, hold, session);
}

bool db_session_holds(struct db *db, int64_t key, int64_t session, bool *held)
{
    *held = true;
    return !db->ops->session_holds || db->ops->session_holds(db, key, session, held);
}

bool db_unlock_session(struct db *db, int64_t key)
{
    return !db->ops->unlock_session || db->ops->unlock_session(db, key);
}

void db_chain_head_keep(struct db *db, int64_t id, const char *hash)
{
    if (db->ops->chain_head_keep)
        db->ops->chain_head_keep(db, id, hash);
}

bool db_chain_head_kept(struct db *db, int64_t *id, char *hash, size_t hash_size)
{
    return db->ops->chain_head_kept && db->ops->chain_head_kept(db, id, hash, hash_size);
}
