/* db_postgresql: the PostgreSQL engine behind the store's SQL interface (db.h), over libpq.
 *
 * One connection per struct db, used by one thread at a time. Statements are sent with text
 * parameters; db_cached ones are prepared once per connection under a name. Personal data is
 * sealed, opened and blind-indexed in this process (pg_sql.h), so the keys never reach the
 * server. A lost connection fails what was running with STORE_UNAVAILABLE and is reset on the
 * next use (its statements prepared again); a transaction it held is gone, so until the caller
 * rolls back (or begins again) every statement fails rather than run outside it. */
#ifndef ONESTOP_STORE_DB_POSTGRESQL_H
#define ONESTOP_STORE_DB_POSTGRESQL_H

#include "gateway/store/db.h"

#include <stdbool.h>
#include <stddef.h>

struct field_crypt;

/* Connects with a libpq conninfo string ("host=... dbname=... user=... password=..." or a
 * postgresql:// URI). fc holds the keys personal data is sealed with (NULL: plain text) and
 * must outlive the connection. NULL with a message in err (never the password). Close with
 * db_close. */
struct db *db_postgresql_connect(const char *conninfo, const struct field_crypt *fc, char *err,
                                 size_t errlen) __attribute__((warn_unused_result));

/* Brings the schema to the latest version (migrations_postgresql.c), under an advisory lock so
 * that nodes starting together apply each migration once. false with a message in err. */
bool db_postgresql_migrate(struct db *db, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* The schema version the database is at: 0 when it has none, -1 when it cannot be read. */
int db_postgresql_schema_version(struct db *db);
/* The latest schema version this build knows. */
int db_postgresql_schema_latest(void);

#endif
