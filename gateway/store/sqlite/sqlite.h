/* store/sqlite: the SQLite engine behind db.h — one database file, WAL, synchronous=FULL.
 * Only gateway/store/ includes this: the engine's constructor, its migrations, and the raw
 * handle for the few things only SQLite has (the pd_* SQL functions, the online backup). */
#ifndef ONESTOP_STORE_SQLITE_H
#define ONESTOP_STORE_SQLITE_H

#include "gateway/store/db.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

struct field_crypt;

/* Creates data_dir (0750) and db_path (0600) when missing, and tightens a database, WAL or
 * shared-memory file that other users may read (warned about). false with a message in err. */
bool db_sqlite_prepare_files(const char *db_path, char *err, size_t errlen);
/* Opens db_path: the writer connection (WAL, synchronous=FULL, foreign keys) or a read-only
 * one; a locked database is waited for up to busy_ms; the pd_* SQL functions are registered
 * over crypt (NULL: no keys). NULL with a message in err. Close it with db_close. */
struct db *db_sqlite_open(const char *db_path, long busy_ms, bool writer,
                          const struct field_crypt *crypt, char *err, size_t errlen);
/* A connection over a handle opened elsewhere (a backup being checked); db_close frees the
 * connection and its statements but leaves the handle open. NULL when memory ran out. */
struct db *db_sqlite_borrow(sqlite3 *handle);
/* The sqlite3 handle of an SQLite connection. */
sqlite3 *db_sqlite_handle(struct db *db);

/* Brings the schema to this binary's version (PRAGMA user_version), one migration per
 * transaction; refuses a database written by a newer onestop. false with a message in err. */
bool db_sqlite_migrate(struct db *db, char *err, size_t errlen);
/* PRAGMA user_version, or -1 when it cannot be read. */
int db_sqlite_schema_version(struct db *db);
/* The schema version this binary migrates a database to. */
int db_sqlite_schema_latest(void);

/* Registers the pd_* SQL functions (store/sqlite/crypt_functions.c) over fc (NULL: no keys)
 * on db; false with a message in err. */
bool store_crypt_attach(sqlite3 *db, const struct field_crypt *fc, char *err, size_t errlen);

#endif
