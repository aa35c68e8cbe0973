/* db_engine: what an engine provides behind db.h. Only gateway/store/ includes this. */
#ifndef ONESTOP_STORE_DB_ENGINE_H
#define ONESTOP_STORE_DB_ENGINE_H

#include "gateway/store/db.h"

#include <stddef.h>

struct db_ops {
    const char *name;
    struct db_stmt *(*prepare)(struct db *db, const char *sql, bool keep);
    void (*reset)(struct db_stmt *st);
    void (*finalize)(struct db_stmt *st);
    bool (*bind_text)(struct db_stmt *st, int index, const char *text);
    bool (*bind_int64)(struct db_stmt *st, int index, int64_t value);
    bool (*bind_null)(struct db_stmt *st, int index);
    enum db_step (*step)(struct db_stmt *st);
    bool (*column_is_null)(struct db_stmt *st, int col);
    int64_t (*column_int64)(struct db_stmt *st, int col);
    const char *(*column_text)(struct db_stmt *st, int col);
    int64_t (*changes)(struct db *db);
    bool (*exec)(struct db *db, const char *sql, char *err, size_t errlen);
    enum store_result (*result)(struct db *db);
    const char *(*errmsg)(struct db *db);
    bool (*retryable)(struct db *db);
    /* Opens the writer's transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: BEGIN). */
    bool (*begin)(struct db *db, char *err, size_t errlen);
    void (*close)(struct db *db);
    /* Whether a transaction is open on db (SQLite rolls the whole one back on disk full). */
    bool (*in_transaction)(struct db *db);
    /* db_forget_freed; NULL: the engine has nothing to clear */
    bool (*forget_freed)(struct db *db);
    /* db_shared: several processes write this database (rows are claimed FOR UPDATE SKIP
     * LOCKED); false: one writer at a time holds the whole database (SQLite) */
    bool shared;
    /* db_lock_xact, db_hold_session, db_session_holds, db_unlock_session; NULL: always
     * granted (an engine whose one writer already excludes every other) */
    bool (*lock_xact)(struct db *db, int64_t key);
    bool (*hold_session)(struct db *db, int64_t key, enum db_hold *hold, int64_t *session);
    bool (*session_holds)(struct db *db, int64_t key, int64_t session, bool *held);
    bool (*unlock_session)(struct db *db, int64_t key);
    /* db_chain_head_keep, db_chain_head_kept; NULL: nothing kept (the head is read) */
    void (*chain_head_keep)(struct db *db, int64_t id, const char *hash);
    bool (*chain_head_kept)(struct db *db, int64_t *id, char *hash, size_t hash_size);
};

/* Each engine's constructor (its own header declares it): the SQLite engine opens a file,
 * the PostgreSQL engine connects with a conninfo string and takes the process's field_crypt
 * (NULL: no keys) to evaluate pd_seal, pd_open and pd_blind in the client:
 *   struct db *db_postgresql_connect(const char *conninfo, const struct field_crypt *fc,
 *                                    char *err, size_t errlen);
 * Connections are closed with db_close. */

/* Every engine's connection and statement begin with these, so db.c can dispatch. */
struct db {
    const struct db_ops *ops;
};
struct db_stmt {
    struct db *db;
};

#endif
