/* backup: a consistent copy of the SQLite store while onestopd runs, and bringing a counter
 * back from one.
 *
 * backup_take copies the live database with SQLite's online backup API in ONE step, i.e.
 * inside one read transaction: the copy is the database as it stood at one instant (every
 * write committed before it, nothing after), and in WAL mode the writer is never blocked
 * while it runs. It is never a file copy (a copy of onestop.db without its -wal file loses
 * recent sales, and a copy taken during a checkpoint can be torn). The copy is written beside
 * the destination as NAME.partial, switched to a self-contained rollback-journal file, checked
 * (PRAGMA integrity_check and foreign_key_check) and only then renamed into place, so a
 * backup file that exists is a complete, verified one.
 *
 * backup_restore refuses while onestopd runs on the data folder (it takes onestopd's lock,
 * daemon_lock.h), verifies the backup, copies it in with the same API, verifies that copy,
 * moves the current database (and its -wal and -shm files, which belong to it) aside as
 * onestop.db.before-restore-STAMP, and renames the verified copy into place.
 *
 * With PostgreSQL there is nothing here: use pg_dump or base backups (README "Backups"). */
#ifndef ONESTOP_BACKUP_H
#define ONESTOP_BACKUP_H

#include <stdbool.h>
#include <stddef.h>

#define BACKUP_STAMP_SIZE 17 /* 20261130T190812Z and a NUL */
#define BACKUP_PATH_MAX   4096

struct backup_report {
    char path[BACKUP_PATH_MAX];          /* the backup file written (or read, for restore) */
    char snapshot_at[BACKUP_STAMP_SIZE]; /* UTC instant the copy's read transaction began */
    long pages;                          /* database pages copied */
    long page_size;                      /* bytes a page */
    long long bytes;                     /* size of the file written */
    long long elapsed_ms;                /* wall time of the copy and its verification */
    long long transactions;              /* rows in the copy's transactions table */
    int schema_version;                  /* the copy's PRAGMA user_version */
    long long audit_rows;                /* audit rows whose hash chain was walked intact */
    char aside[BACKUP_PATH_MAX];         /* restore: where the replaced database went, or "" */
};

/* Copies the database db_path to dest (a file that must not exist yet, or an existing folder:
 * then dest/onestop-STAMP.db) and verifies the copy. true with *report filled; false with a
 * message in err, leaving no file at the destination. */
bool backup_take(const char *db_path, const char *dest, struct backup_report *report, char *err,
                 size_t errlen) __attribute__((warn_unused_result));

/* Checks that path is an intact onestop store: integrity_check "ok", no foreign key left
 * dangling, a schema version, a transactions table and an audit trail whose hash chain walks
 * intact (store_audit_walk). Fills report's transactions, schema_version, audit_rows, pages
 * and page_size. false with the first problem in err. */
bool backup_verify(const char *path, struct backup_report *report, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Replaces data_dir's database with the backup at src, as described above. false with a
 * message in err and nothing changed when onestopd runs on data_dir, the backup fails
 * verification, or any step before the final rename fails. */
bool backup_restore(const char *data_dir, const char *src, struct backup_report *report, char *err,
                    size_t errlen) __attribute__((warn_unused_result));

/* `onestop backup PATH` and `onestop restore PATH`: argv[0] is "backup" or "restore". Prints
 * what was done on stdout, problems on stderr; returns the process exit status. */
int backup_command(const char *data_dir, int argc, char **argv);

#endif
