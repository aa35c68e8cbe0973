/* store/sqlite/engine: db.h over sqlite3 — statements (a per-connection cache of the ones
 * from db_cached, keyed by their SQL literal's address), bindings, steps, columns, and the
 * mapping of SQLite's result codes to store_results.
 *
 * Text is bound SQLITE_STATIC: a bound string must stay valid until the statement is stepped
 * to its end, released or finalized (every caller binds its own arguments or locals that
 * outlive the step). */
#include "gateway/store/sqlite/sqlite.h"

#include "gateway/log.h"
#include "gateway/store/db_engine.h"
#include "gateway/store/sqlite/wal_vfs.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STORE_PATH_MAX  4096
#define STORE_FILE_MODE 0600 /* the database: onestop only */

/* A single-row `INSERT INTO t(...) VALUES(...) RETURNING id`, where id is t's INTEGER PRIMARY
 * KEY (its rowid), is prepared without its RETURNING: SQLite runs a RETURNING through a
 * temporary b-tree of the returned rows (opened, filled and read for every insert), while the
 * new rowid is at hand for nothing. The engine then gives the row RETURNING would have given
 * (the new id, or no row when nothing was inserted) from sqlite3_last_insert_rowid. */
enum returned_id {
    RETURNED_NONE, /* not such a statement, or not stepped since its reset */
    RETURNED_ROW,  /* the id row is current */
    RETURNED_DONE, /* stepped past it */
};

#define RETURNING_ID      " RETURNING id"
#define RETURNED_ID_CHARS 24 /* an int64 in decimal with its sign and NUL */

struct sqlite_stmt {
    struct db_stmt base;
    sqlite3_stmt *stmt;
    bool returns_id; /* prepared without its RETURNING id (above) */
    enum returned_id returned;
    int64_t id;
    char id_text[RETURNED_ID_CHARS];
};

struct cached_stmt {
    const char *sql;
    struct sqlite_stmt *st;
};

struct sqlite_db {
    struct db base;
    sqlite3 *handle;
    bool writer;
    bool borrowed; /* the handle belongs to the caller of db_sqlite_borrow */
    int last_rc;   /* the last failure's result code (SQLITE_OK when none yet) */
    struct cached_stmt *cache;
    size_t cache_len, cache_cap;
};

static struct sqlite_db *conn(struct db *db)
{
    return (struct sqlite_db *)db;
}

static sqlite3_stmt *raw(struct db_stmt *st)
{
    return ((struct sqlite_stmt *)st)->stmt;
}

sqlite3 *db_sqlite_handle(struct db *db)
{
    return conn(db)->handle;
}

static void log_failure(struct sqlite_db *c, const char *what)
{
    log_msg(LOG_ERROR, "store_error", "%s: %s (sqlite code %d)", what, sqlite3_errmsg(c->handle),
            sqlite3_extended_errcode(c->handle));
}

#define TABLE_NAME_MAX 64

/* The length of sql without its RETURNING id when it is a single-row INSERT whose id is the
 * table's INTEGER PRIMARY KEY (so the rowid it returns); 0 when it is any other statement. */
static size_t returning_id_cut(sqlite3 *handle, const char *sql)
{
    static const char insert[] = "INSERT INTO ";
    size_t len = strlen(sql), tail = strlen(RETURNING_ID);
    if (strncmp(sql, insert, sizeof insert - 1) != 0 || len <= tail ||
        strcmp(sql + len - tail, RETURNING_ID) != 0 || strstr(sql, "SELECT") ||
        strstr(sql, "ON CONFLICT") || strstr(sql, "),(") || strstr(sql, "), (") ||
        strstr(sql, "RETURNING") != sql + len - tail + 1)
        return 0;
    const char *name = sql + sizeof insert - 1;
    size_t name_len = strcspn(name, "( ");
    if (name_len == 0 || name_len >= TABLE_NAME_MAX)
        return 0;
    char table[TABLE_NAME_MAX];
    memcpy(table, name, name_len);
    table[name_len] = '\0';
    const char *type = NULL;
    int primary = 0;
    if (sqlite3_table_column_metadata(handle, "main", table, "id", &type, NULL, NULL, &primary,
                                      NULL) != SQLITE_OK ||
        !primary || !type || sqlite3_stricmp(type, "INTEGER") != 0)
        return 0;
    return len - tail;
}

static struct sqlite_stmt *stmt_new(struct sqlite_db *c, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    size_t cut = returning_id_cut(c->handle, sql);
    int rc = sqlite3_prepare_v3(c->handle, sql, cut ? (int)cut : -1, SQLITE_PREPARE_PERSISTENT,
                                &stmt, NULL);
    if (rc != SQLITE_OK) {
        c->last_rc = rc;
        log_failure(c, "prepare");
        return NULL;
    }
    struct sqlite_stmt *st = malloc(sizeof *st);
    if (!st) {
        sqlite3_finalize(stmt);
        c->last_rc = SQLITE_NOMEM;
        return NULL;
    }
    st->base.db = &c->base;
    st->stmt = stmt;
    st->returns_id = cut > 0;
    st->returned = RETURNED_NONE;
    return st;
}

/* The cache is an open-addressing hash table keyed by the SQL literal's address (a slot
 * whose sql is NULL is free), at most half full: a lookup is a probe or two, not a scan of
 * every statement the connection has kept. */
static size_t cache_slot(const struct cached_stmt *table, size_t cap, const char *sql)
{
    uintptr_t h = (uintptr_t)sql;
    h ^= h >> 17;
    h *= (uintptr_t)0x9E3779B97F4A7C15ull;
    size_t i = (size_t)(h >> 7) & (cap - 1);
    while (table[i].sql && table[i].sql != sql)
        i = (i + 1) & (cap - 1);
    return i;
}

static bool cache_add(struct sqlite_db *c, const char *sql, struct sqlite_stmt *st)
{
    if ((c->cache_len + 1) * 2 > c->cache_cap) {
        size_t cap = c->cache_cap ? c->cache_cap * 2 : 128;
        struct cached_stmt *grown = calloc(cap, sizeof *grown);
        if (!grown)
            return false;
        for (size_t i = 0; i < c->cache_cap; i++)
            if (c->cache[i].sql)
                grown[cache_slot(grown, cap, c->cache[i].sql)] = c->cache[i];
        free(c->cache);
        c->cache = grown;
        c->cache_cap = cap;
    }
    c->cache[cache_slot(c->cache, c->cache_cap, sql)] = (struct cached_stmt){sql, st};
    c->cache_len++;
    return true;
}

static struct db_stmt *op_prepare(struct db *db, const char *sql, bool keep)
{
    struct sqlite_db *c = conn(db);
    if (keep && c->cache_cap) {
        struct cached_stmt *hit = &c->cache[cache_slot(c->cache, c->cache_cap, sql)];
        if (hit->sql)
            return &hit->st->base;
    }
    struct sqlite_stmt *st = stmt_new(c, sql);
    if (st && keep && !cache_add(c, sql, st)) {
        sqlite3_finalize(st->stmt);
        free(st);
        c->last_rc = SQLITE_NOMEM;
        return NULL;
    }
    return st ? &st->base : NULL;
}

static struct sqlite_stmt *full(struct db_stmt *st)
{
    return (struct sqlite_stmt *)st;
}

static void op_reset(struct db_stmt *st)
{
    full(st)->returned = RETURNED_NONE;
    sqlite3_reset(raw(st));
    sqlite3_clear_bindings(raw(st));
}

static void op_finalize(struct db_stmt *st)
{
    sqlite3_finalize(raw(st));
    free(st);
}

static bool bound(struct db_stmt *st, int rc)
{
    if (rc == SQLITE_OK)
        return true;
    conn(st->db)->last_rc = rc;
    return false;
}

static bool op_bind_text(struct db_stmt *st, int index, const char *text)
{
    return bound(st, sqlite3_bind_text(raw(st), index, text, -1, SQLITE_STATIC));
}

static bool op_bind_int64(struct db_stmt *st, int index, int64_t value)
{
    return bound(st, sqlite3_bind_int64(raw(st), index, value));
}

static bool op_bind_null(struct db_stmt *st, int index)
{
    return bound(st, sqlite3_bind_null(raw(st), index));
}

/* The step of an INSERT prepared without its RETURNING id: the insert, then the one row it
 * would have returned (none when it inserted nothing), then done. */
static enum db_step returned_id_step(struct sqlite_stmt *st)
{
    if (st->returned != RETURNED_NONE) {
        st->returned = RETURNED_DONE;
        return DB_DONE;
    }
    int rc = sqlite3_step(st->stmt);
    if (rc != SQLITE_DONE) {
        conn(st->base.db)->last_rc = rc == SQLITE_ROW ? SQLITE_MISUSE : rc;
        return DB_ERROR;
    }
    sqlite3 *handle = conn(st->base.db)->handle;
    st->returned = RETURNED_DONE;
    if (sqlite3_changes(handle) != 1)
        return DB_DONE;
    st->id = sqlite3_last_insert_rowid(handle);
    snprintf(st->id_text, sizeof st->id_text, "%lld", (long long)st->id);
    st->returned = RETURNED_ROW;
    return DB_ROW;
}

static enum db_step op_step(struct db_stmt *st)
{
    if (full(st)->returns_id)
        return returned_id_step(full(st));
    int rc = sqlite3_step(raw(st));
    if (rc == SQLITE_ROW)
        return DB_ROW;
    if (rc == SQLITE_DONE)
        return DB_DONE;
    conn(st->db)->last_rc = rc;
    return DB_ERROR;
}

/* Whether the current row is the id a RETURNING id would have given (its one column). */
static bool returned_id(struct db_stmt *st)
{
    return full(st)->returned == RETURNED_ROW;
}

static bool op_column_is_null(struct db_stmt *st, int col)
{
    if (returned_id(st))
        return col != 0;
    return sqlite3_column_type(raw(st), col) == SQLITE_NULL;
}

static int64_t op_column_int64(struct db_stmt *st, int col)
{
    if (returned_id(st))
        return col == 0 ? full(st)->id : 0;
    return sqlite3_column_int64(raw(st), col);
}

static const char *op_column_text(struct db_stmt *st, int col)
{
    if (returned_id(st))
        return col == 0 ? full(st)->id_text : NULL;
    return (const char *)sqlite3_column_text(raw(st), col);
}

static int64_t op_changes(struct db *db)
{
    return sqlite3_changes64(conn(db)->handle);
}

static bool op_exec(struct db *db, const char *sql, char *err, size_t errlen)
{
    struct sqlite_db *c = conn(db);
    char *msg = NULL;
    int rc = sqlite3_exec(c->handle, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        c->last_rc = rc;
        snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(c->handle));
        sqlite3_free(msg);
        return false;
    }
    return true;
}

static enum store_result op_result(struct db *db)
{
    switch (conn(db)->last_rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return STORE_OK;
    case SQLITE_CONSTRAINT:
        return STORE_CONFLICT;
    case SQLITE_NOTFOUND:
        return STORE_NOT_FOUND;
    default:
        return STORE_UNAVAILABLE;
    }
}

static const char *op_errmsg(struct db *db)
{
    return sqlite3_errmsg(conn(db)->handle);
}

static bool op_retryable(struct db *db)
{
    int rc = conn(db)->last_rc & 0xff;
    return rc == SQLITE_BUSY || rc == SQLITE_LOCKED;
}

static bool op_begin(struct db *db, char *err, size_t errlen)
{
    /* from the statement cache: the writer begins a group many times a second */
    struct db_stmt *st = op_prepare(db, "BEGIN IMMEDIATE", true);
    enum db_step rc = st ? op_step(st) : DB_ERROR;
    if (rc == DB_ERROR)
        snprintf(err, errlen, "%s", op_errmsg(db));
    if (st)
        op_reset(st);
    return rc != DB_ERROR;
}

static void op_close(struct db *db)
{
    struct sqlite_db *c = conn(db);
    for (size_t i = 0; i < c->cache_cap; i++)
        if (c->cache[i].sql)
            op_finalize(&c->cache[i].st->base);
    free(c->cache);
    if (c->writer) {
        char err[128];
        op_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", err, sizeof err);
    }
    if (!c->borrowed)
        sqlite3_close_v2(c->handle);
    free(c);
}

static bool op_in_transaction(struct db *db)
{
    return !sqlite3_get_autocommit(conn(db)->handle);
}

static bool op_forget_freed(struct db *db)
{
    /* any connection may checkpoint, a query_only one too; it waits (busy timeout) for the
     * readers still on older pages; the row says whether it was blocked */
    struct db_stmt *st = op_prepare(db, "PRAGMA wal_checkpoint(TRUNCATE)", false);
    bool done = st && op_step(st) == DB_ROW && op_column_int64(st, 0) == 0;
    op_finalize(st);
    return done;
}

static const struct db_ops sqlite_ops = {
    .name = "sqlite",
    .prepare = op_prepare,
    .reset = op_reset,
    .finalize = op_finalize,
    .bind_text = op_bind_text,
    .bind_int64 = op_bind_int64,
    .bind_null = op_bind_null,
    .step = op_step,
    .column_is_null = op_column_is_null,
    .column_int64 = op_column_int64,
    .column_text = op_column_text,
    .changes = op_changes,
    .exec = op_exec,
    .result = op_result,
    .errmsg = op_errmsg,
    .retryable = op_retryable,
    .begin = op_begin,
    .close = op_close,
    .in_transaction = op_in_transaction,
    .forget_freed = op_forget_freed,
};

struct db *db_sqlite_borrow(sqlite3 *handle)
{
    struct sqlite_db *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->base.ops = &sqlite_ops;
    c->handle = handle;
    c->borrowed = true;
    return &c->base;
}

/* SQLite's process-wide settings, before its first use: no memory statistics (with them
 * every sqlite3_malloc and sqlite3_free takes a global mutex; nothing here reads them). A
 * process that used SQLite before (sqlite3_config then says SQLITE_MISUSE) keeps the
 * defaults. */
static void configure_sqlite(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

/* Whether the writer syncs the WAL at every commit (synchronous=FULL or EXTRA), which
 * store/sqlite/wal_vfs.c needs: a commit becomes visible to other connections only after that
 * sync, so every frame they may read has been written by then. */
static bool syncs_every_commit(struct sqlite_db *c, char *err, size_t errlen)
{
    enum { SYNCHRONOUS_FULL = 2 };
    sqlite3_stmt *st = NULL;
    bool full = sqlite3_prepare_v2(c->handle, "PRAGMA synchronous", -1, &st, NULL) == SQLITE_OK &&
                sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) >= SYNCHRONOUS_FULL;
    sqlite3_finalize(st);
    if (!full)
        snprintf(err, errlen, "the writer must run with synchronous=FULL");
    return full;
}

struct db *db_sqlite_open(const char *db_path, long busy_ms, bool writer,
                          const struct field_crypt *crypt, char *err, size_t errlen)
{
    static pthread_once_t configured = PTHREAD_ONCE_INIT;
    pthread_once(&configured, configure_sqlite);
    struct sqlite_db *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->base.ops = &sqlite_ops;
    c->writer = writer;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_CREATE : 0);
    /* the writer's WAL writes gathered into one pwrite per commit (store/sqlite/wal_vfs.c) */
    int rc = sqlite3_open_v2(db_path, &c->handle, flags, writer ? wal_vfs_name() : NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", db_path,
                 c->handle ? sqlite3_errmsg(c->handle) : "no memory");
        sqlite3_close(c->handle);
        free(c);
        return NULL;
    }
    sqlite3_extended_result_codes(c->handle, 1);
    sqlite3_busy_timeout(c->handle, (int)busy_ms);
    /* cache_size: the writer keeps the hot pages of the indexes (16 MiB; the default 2 MiB
     * made every group re-read them); wal_autocheckpoint: a page changed by many groups is
     * copied back into the database once per 4000 WAL pages instead of once per 1000;
     * temp_store: sorts and temporary b-trees stay in memory; secure_delete: the bytes of a
     * value replaced or deleted (a purge, the sealing of what an older binary left in plain
     * text) are zeroed, not left in a free page. */
    const char *pragmas = writer ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                                   "PRAGMA foreign_keys=ON; PRAGMA wal_autocheckpoint=4000;"
                                   "PRAGMA cache_size=-16384; PRAGMA temp_store=MEMORY;"
                                   "PRAGMA secure_delete=ON;"
                                 : "PRAGMA foreign_keys=ON; PRAGMA query_only=ON;"
                                   "PRAGMA cache_size=-8192; PRAGMA temp_store=MEMORY;";
    if (!op_exec(&c->base, pragmas, err, errlen) ||
        (writer && !syncs_every_commit(c, err, errlen)) ||
        !store_crypt_attach(c->handle, crypt, err, errlen)) {
        c->writer = false; /* nothing to checkpoint */
        op_close(&c->base);
        return NULL;
    }
    return &c->base;
}

/* The database holds residents' personal data: in the data folder (store_data_dir_prepare
 * made it), the database (and so its WAL and shared-memory files, which SQLite creates with
 * the database's mode) is created 0600, and tightened to 0600 with a warning when an older
 * onestopd left it readable by others. */
bool db_sqlite_prepare_files(const char *db_path, char *err, size_t errlen)
{
    struct stat st;
    int fd = open(db_path, O_RDWR | O_CREAT | O_CLOEXEC, STORE_FILE_MODE);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", db_path, strerror(errno));
        return false;
    }
    close(fd);
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char path[STORE_PATH_MAX + 16];
        snprintf(path, sizeof path, "%s%s", db_path, suffixes[i]);
        if (stat(path, &st) != 0 || !(st.st_mode & (S_IRWXG | S_IRWXO)))
            continue;
        log_msg(LOG_WARN, "data_file_open", "%s was readable by other users (mode %03o); now 600",
                path, (unsigned)(st.st_mode & 0777));
        if (chmod(path, STORE_FILE_MODE) != 0)
            log_msg(LOG_WARN, "data_file_open", "cannot chmod %s: %s", path, strerror(errno));
    }
    return true;
}
