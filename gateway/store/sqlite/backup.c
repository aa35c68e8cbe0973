/* backup: the online backup and restore of the SQLite store (see backup.h for the design).
 *
 * Every file this writes holds residents' personal data: it is created 0600 with O_EXCL
 * before SQLite opens it, so no other user can ever read a half-written copy. */
#include "gateway/store/sqlite/backup.h"
#include "gateway/store/sqlite/sqlite.h"
#include "gateway/store/audit.h"

#include "gateway/daemon_lock.h"
#include "gateway/store.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BACKUP_FILE_MODE    0600
#define BACKUP_BUSY_MS      5000 /* how long to wait for a lock on the source or the copy */
#define BACKUP_BUSY_RETRIES 100  /* source busy (WAL recovery): retries, BACKUP_RETRY_MS apart */
#define BACKUP_RETRY_MS     50
#define BACKUP_PARTIAL      ".partial"
#define BACKUP_RESTORING    ".restoring"
#define BACKUP_ASIDE        ".before-restore-"
#define BACKUP_NAME_PREFIX  "onestop-"
#define BACKUP_NAME_SUFFIX  ".db"

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void stamp_now(char out[BACKUP_STAMP_SIZE])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, BACKUP_STAMP_SIZE, "%Y%m%dT%H%M%SZ", &tm);
}

static bool path_join(char *out, size_t len, const char *a, const char *b, const char *c)
{
    return snprintf(out, len, "%s%s%s", a, b, c) < (int)len;
}

/* Makes path an empty file only we can read, failing when anything is already there. */
static bool create_private(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, BACKUP_FILE_MODE);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return false;
    }
    close(fd);
    return true;
}

/* fsync of a file or a folder (a rename is durable once its folder is synced). */
static bool sync_path(const char *path, bool folder, char *err, size_t errlen)
{
    int fd = open(path, (folder ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        snprintf(err, errlen, "cannot sync %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return false;
    }
    close(fd);
    return true;
}

static bool sync_parent(const char *path, char *err, size_t errlen)
{
    char dir[BACKUP_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    return sync_path(dir, true, err, errlen);
}

static sqlite3 *open_db(const char *path, int flags, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", path, db ? sqlite3_errmsg(db) : "no memory");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, BACKUP_BUSY_MS);
    return db;
}

/* The first column of the first row of sql as an integer; false when there is no row. */
static bool query_int(sqlite3 *db, const char *sql, long long *out)
{
    sqlite3_stmt *st = NULL;
    bool ok =
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW;
    if (ok)
        *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return ok;
}

/* Copies src into dst with the online backup API in one step: one read transaction on src,
 * so the copy is one consistent instant. Retries while src is busy (WAL recovery). */
static bool copy_database(sqlite3 *src, sqlite3 *dst, struct backup_report *report, char *err,
                          size_t errlen)
{
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
    if (!b) {
        snprintf(err, errlen, "cannot start the backup: %s", sqlite3_errmsg(dst));
        return false;
    }
    int rc;
    int retries = 0;
    do {
        stamp_now(report->snapshot_at);
        rc = sqlite3_backup_step(b, -1);
        if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
            sqlite3_sleep(BACKUP_RETRY_MS);
    } while ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && ++retries < BACKUP_BUSY_RETRIES);
    report->pages = sqlite3_backup_pagecount(b);
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "backup failed: %s", sqlite3_errstr(rc));
        return false;
    }
    return true;
}

bool backup_verify(const char *path, struct backup_report *report, char *err, size_t errlen)
{
    sqlite3 *db = open_db(path, SQLITE_OPEN_READONLY, err, errlen);
    if (!db)
        return false;
    bool ok = false;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s is not a database onestop can read: %s", path,
                 sqlite3_errmsg(db));
        goto out;
    }
    if (sqlite3_step(st) != SQLITE_ROW) {
        snprintf(err, errlen, "%s: integrity check failed: %s", path, sqlite3_errmsg(db));
        goto out;
    }
    const char *first = (const char *)sqlite3_column_text(st, 0);
    if (!first || strcmp(first, "ok") != 0) {
        snprintf(err, errlen, "%s: integrity check failed: %s", path, first ? first : "?");
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    long long n = 0;
    if (query_int(db, "PRAGMA foreign_key_check", &n)) {
        snprintf(err, errlen, "%s: a row refers to one that is missing (foreign_key_check)", path);
        goto out;
    }
    long long version = 0, tables = 0, page_size = 0, pages = 0;
    if (!query_int(db, "PRAGMA user_version", &version) || version <= 0 ||
        !query_int(db,
                   "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                   "name = 'transactions'",
                   &tables) ||
        tables != 1) {
        snprintf(err, errlen, "%s is not an onestop store (no schema version or transactions)",
                 path);
        goto out;
    }
    if (!query_int(db, "SELECT count(*) FROM transactions", &report->transactions) ||
        !query_int(db, "PRAGMA page_size", &page_size) ||
        !query_int(db, "PRAGMA page_count", &pages)) {
        snprintf(err, errlen, "%s: cannot read: %s", path, sqlite3_errmsg(db));
        goto out;
    }
    struct audit_verify_result chain;
    struct db *conn = db_sqlite_borrow(db);
    enum store_result walked =
        conn ? store_audit_walk(conn, NULL, NULL, 0, &chain) : STORE_UNAVAILABLE;
    db_close(conn);
    if (walked != STORE_OK) {
        snprintf(err, errlen, "%s: cannot read the audit trail: %s", path, sqlite3_errmsg(db));
        goto out;
    }
    if (chain.kind != AUDIT_INTACT) {
        snprintf(err, errlen, "%s: the audit trail does not verify: %s", path, chain.message);
        goto out;
    }
    report->audit_rows = (long long)chain.rows;
    report->schema_version = (int)version;
    report->page_size = (long)page_size;
    report->pages = (long)pages;
    ok = true;
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return ok;
}

/* Removes a database file we were writing, with any journal SQLite made beside it. */
static void remove_database(const char *path)
{
    static const char *const parts[] = {"", "-journal", "-wal", "-shm"};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        char p[BACKUP_PATH_MAX];
        if (path_join(p, sizeof p, path, parts[i], ""))
            unlink(p);
    }
}

/* Copies the database at src_path into the new file dst_path (created here, 0600), as a
 * self-contained rollback-journal database, synced to disk, then verifies it. On failure the
 * file at dst_path is removed. */
static bool copy_verified(const char *src_path, const char *dst_path, struct backup_report *report,
                          char *err, size_t errlen)
{
    if (!create_private(dst_path, err, errlen))
        return false;
    bool ok = false;
    sqlite3 *src = open_db(src_path, SQLITE_OPEN_READONLY, err, errlen);
    sqlite3 *dst = src ? open_db(dst_path, SQLITE_OPEN_READWRITE, err, errlen) : NULL;
    if (!dst)
        goto out;
    char *msg = NULL;
    if (sqlite3_exec(dst, "PRAGMA synchronous=FULL", NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "cannot write %s: %s", dst_path, msg ? msg : "?");
        sqlite3_free(msg);
        goto out;
    }
    if (!copy_database(src, dst, report, err, errlen))
        goto out;
    sqlite3_close(src);
    src = NULL;
    /* the copy keeps the source's WAL flag; a backup file is one self-contained file */
    if (sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "cannot finish %s: %s", dst_path, msg ? msg : "?");
        sqlite3_free(msg);
        goto out;
    }
    sqlite3_close(dst);
    dst = NULL;
    ok = sync_path(dst_path, false, err, errlen) && backup_verify(dst_path, report, err, errlen);
out:
    sqlite3_close(dst);
    sqlite3_close(src);
    if (!ok)
        remove_database(dst_path);
    return ok;
}

/* The file name of a backup written into a folder: onestop-STAMP.db. */
static bool folder_name(char *out, size_t len, const char *folder, const char *stamp,
                        const char *suffix)
{
    char name[64];
    snprintf(name, sizeof name, "/" BACKUP_NAME_PREFIX "%s" BACKUP_NAME_SUFFIX "%s", stamp, suffix);
    return path_join(out, len, folder, name, "");
}

bool backup_take(const char *db_path, const char *dest, struct backup_report *report, char *err,
                 size_t errlen)
{
    memset(report, 0, sizeof *report);
    long long started = now_ms();
    struct stat st;
    if (stat(db_path, &st) != 0) {
        snprintf(err, errlen, "no store at %s: %s", db_path, strerror(errno));
        return false;
    }
    /* into a folder, the name is the copy's instant, known once it is taken */
    bool folder = stat(dest, &st) == 0 && S_ISDIR(st.st_mode);
    char partial[BACKUP_PATH_MAX], stamp[BACKUP_STAMP_SIZE];
    stamp_now(stamp);
    bool fits = folder ? folder_name(partial, sizeof partial, dest, stamp, BACKUP_PARTIAL)
                       : path_join(report->path, sizeof report->path, dest, "", "") &&
                             path_join(partial, sizeof partial, dest, BACKUP_PARTIAL, "");
    if (!fits) {
        snprintf(err, errlen, "backup path too long");
        return false;
    }
    if (!folder && access(report->path, F_OK) == 0) {
        snprintf(err, errlen, "%s exists already; a backup never overwrites a file", report->path);
        return false;
    }
    unlink(partial); /* what an interrupted earlier backup left: never a finished backup */
    if (!copy_verified(db_path, partial, report, err, errlen))
        return false;
    if (folder && !folder_name(report->path, sizeof report->path, dest, report->snapshot_at, "")) {
        snprintf(err, errlen, "backup path too long");
        unlink(partial);
        return false;
    }
    /* link, not rename: it fails rather than replace a file that appeared meanwhile */
    if (link(partial, report->path) != 0) {
        snprintf(err, errlen, "cannot name the backup %s: %s%s", report->path, strerror(errno),
                 errno == EEXIST ? " (a backup never overwrites a file)" : "");
        unlink(partial);
        return false;
    }
    unlink(partial);
    if (!sync_parent(report->path, err, errlen))
        return false;
    report->bytes = stat(report->path, &st) == 0 ? (long long)st.st_size : 0;
    report->elapsed_ms = now_ms() - started;
    return true;
}

/* Moves db_path and its -wal and -shm files (if any) aside under one new name, so that the
 * set can still be opened together. */
static bool move_aside(const char *db_path, struct backup_report *report, char *err, size_t errlen)
{
    report->aside[0] = '\0';
    if (access(db_path, F_OK) != 0)
        return true; /* a new counter: nothing to keep */
    char stamp[BACKUP_STAMP_SIZE];
    stamp_now(stamp);
    if (!path_join(report->aside, sizeof report->aside, db_path, BACKUP_ASIDE, stamp)) {
        snprintf(err, errlen, "data folder path too long");
        return false;
    }
    static const char *const parts[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        char from[BACKUP_PATH_MAX], to[BACKUP_PATH_MAX];
        if (!path_join(from, sizeof from, db_path, parts[i], "") ||
            !path_join(to, sizeof to, report->aside, parts[i], "")) {
            snprintf(err, errlen, "data folder path too long");
            return false;
        }
        if (rename(from, to) != 0 && errno != ENOENT) {
            snprintf(err, errlen, "cannot move %s aside: %s", from, strerror(errno));
            return false;
        }
    }
    return true;
}

/* Gives the restored file to whoever owns the data folder (run as root beside a service that
 * runs as its own user, the file would otherwise be root's and unreadable to onestopd). */
static bool give_to_folder_owner(const char *data_dir, const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (geteuid() != 0 || stat(data_dir, &st) != 0)
        return true;
    if (chown(path, st.st_uid, st.st_gid) != 0) {
        snprintf(err, errlen, "cannot give %s to the data folder's owner: %s", path,
                 strerror(errno));
        return false;
    }
    return true;
}

bool backup_restore(const char *data_dir, const char *src, struct backup_report *report, char *err,
                    size_t errlen)
{
    memset(report, 0, sizeof *report);
    long long started = now_ms();
    snprintf(report->path, sizeof report->path, "%s", src);
    pid_t holder = 0;
    char lock_err[512];
    int lock = daemon_lock_take(data_dir, &holder, lock_err, sizeof lock_err);
    if (lock < 0) {
        if (holder)
            snprintf(err, errlen,
                     "onestopd (process %ld) is running on %s; stop it first "
                     "(systemctl stop onestopd) — nothing was changed",
                     (long)holder, data_dir);
        else
            snprintf(err, errlen, "%s — nothing was changed", lock_err);
        return false;
    }
    bool ok = false;
    char db_path[BACKUP_PATH_MAX], staged[BACKUP_PATH_MAX], lock_path[BACKUP_PATH_MAX];
    if (!path_join(db_path, sizeof db_path, data_dir, "/", STORE_FILE_NAME) ||
        !path_join(staged, sizeof staged, db_path, BACKUP_RESTORING, "") ||
        !path_join(lock_path, sizeof lock_path, data_dir, "/", DAEMON_LOCK_FILE_NAME)) {
        snprintf(err, errlen, "data folder path too long");
        goto out;
    }
    /* a lock file made here by root must still open for onestopd */
    if (!give_to_folder_owner(data_dir, lock_path, err, errlen))
        goto out;
    struct backup_report checked;
    if (!backup_verify(src, &checked, err, errlen))
        goto out;
    unlink(staged); /* an interrupted earlier restore's copy */
    if (!copy_verified(src, staged, report, err, errlen))
        goto out;
    if (!give_to_folder_owner(data_dir, staged, err, errlen) ||
        !move_aside(db_path, report, err, errlen)) {
        unlink(staged);
        goto out;
    }
    if (rename(staged, db_path) != 0) {
        snprintf(err, errlen, "cannot put %s in place: %s (the old database is at %s)", staged,
                 strerror(errno), report->aside);
        goto out;
    }
    struct stat st;
    report->bytes = stat(db_path, &st) == 0 ? (long long)st.st_size : 0;
    ok = sync_parent(db_path, err, errlen);
    report->elapsed_ms = now_ms() - started;
out:
    daemon_lock_release(lock);
    return ok;
}

int backup_command(const char *data_dir, int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: onestop --config PATH %s PATH\n", argv[0]);
        return 2;
    }
    char db_path[BACKUP_PATH_MAX], err[1024];
    if (!path_join(db_path, sizeof db_path, data_dir, "/", STORE_FILE_NAME)) {
        fprintf(stderr, "onestop: data folder path too long\n");
        return 1;
    }
    struct backup_report r;
    if (strcmp(argv[0], "backup") == 0) {
        if (!backup_take(db_path, argv[1], &r, err, sizeof err)) {
            fprintf(stderr, "onestop: backup failed: %s\n", err);
            return 1;
        }
        printf("backup of %s written to %s\n"
               "  snapshot at %s (UTC): %lld transactions, schema version %d\n"
               "  %ld pages of %ld bytes, %lld bytes, %lld ms; integrity ok; audit chain of"
               " %lld rows intact\n",
               db_path, r.path, r.snapshot_at, r.transactions, r.schema_version, r.pages,
               r.page_size, r.bytes, r.elapsed_ms, r.audit_rows);
        return 0;
    }
    if (!backup_restore(data_dir, argv[1], &r, err, sizeof err)) {
        fprintf(stderr, "onestop: restore refused: %s\n", err);
        return 1;
    }
    printf("restored %s from %s\n"
           "  %lld transactions, schema version %d; %ld pages of %ld bytes; integrity ok; audit"
           " chain of %lld rows intact; %lld ms\n",
           db_path, r.path, r.transactions, r.schema_version, r.pages, r.page_size, r.audit_rows,
           r.elapsed_ms);
    if (r.aside[0])
        printf("  the database it replaced is kept as %s\n", r.aside);
    printf("  start onestopd again (systemctl start onestopd)\n");
    return 0;
}
