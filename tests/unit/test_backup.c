/* backup (gateway/store/sqlite/backup.c) and daemon_lock: the copy is one committed instant of the
 * live database — rows committed but still only in the -wal are in it, rows of a write transaction
 * still open are not — and restore refuses while the data folder's lock is held. */
#include "gateway/store/sqlite/backup.h"
#include "gateway/daemon_lock.h"
#include "gateway/store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIR_SIZE    64  /* the temporary folder's name */
#define DATA_SIZE   128 /* it and a short file name */
#define PATH_SIZE   512
#define SERVICE_UID 65534 /* nobody: stands for the onestop user when the test runs as root */

struct fixture {
    char dir[DIR_SIZE];   /* a fresh temporary folder */
    char data[DATA_SIZE]; /* dir/data: the data folder */
    char db[PATH_SIZE];   /* dir/data/onestop.db */
    sqlite3 *live;        /* a connection to db, as onestopd's writer would hold */
};

static void exec_ok(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
}

static long long count_rows(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM transactions", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/onestop-test-backup-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->data, sizeof f->data, "%s/data", f->dir);
    assert_int_equal(mkdir(f->data, 0700), 0);
    snprintf(f->db, sizeof f->db, "%s/%s", f->data, STORE_FILE_NAME);
    assert_int_equal(sqlite3_open(f->db, &f->live), SQLITE_OK);
    /* the store's shape as far as backup_verify looks: a schema version, transactions, and an
     * audit trail (empty: a chain of no rows is intact) */
    exec_ok(f->live, "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;"
                     "PRAGMA user_version=9;"
                     "CREATE TABLE transactions(id INTEGER PRIMARY KEY, reference TEXT);"
                     "CREATE TABLE audit(id INTEGER PRIMARY KEY, at INTEGER, actor TEXT,"
                     "  counter TEXT, action TEXT, subject TEXT, detail TEXT, remote TEXT,"
                     "  prev_hash TEXT, hash TEXT);"
                     "INSERT INTO transactions(reference) VALUES ('PP-1'), ('PP-2');");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sqlite3_close(f->live);
    char cmd[PATH_SIZE + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void test_the_copy_is_one_committed_instant(void **state)
{
    struct fixture *f = *state;
    /* committed, and (autocheckpoint off) only in the -wal: a copy of onestop.db would lose it */
    exec_ok(f->live, "INSERT INTO transactions(reference) VALUES ('PP-3')");
    /* a write transaction still open while the backup runs: not in the copy */
    sqlite3 *writer = NULL;
    assert_int_equal(sqlite3_open(f->db, &writer), SQLITE_OK);
    exec_ok(writer, "BEGIN IMMEDIATE; INSERT INTO transactions(reference) VALUES ('PP-4')");

    char dest[PATH_SIZE], err[512];
    snprintf(dest, sizeof dest, "%s/copy.db", f->dir);
    struct backup_report r;
    assert_true(backup_take(f->db, dest, &r, err, sizeof err));
    assert_string_equal(r.path, dest);
    assert_int_equal(r.transactions, 3);
    assert_int_equal(r.schema_version, 9);
    assert_true(r.pages > 0 && r.page_size > 0 && r.bytes == r.pages * r.page_size);
    assert_int_equal(count_rows(dest), 3);
    struct stat st;
    assert_int_equal(stat(dest, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char wal[PATH_SIZE + 8];
    snprintf(wal, sizeof wal, "%s-wal", dest);
    assert_int_not_equal(access(wal, F_OK), 0); /* one self-contained file */

    exec_ok(writer, "COMMIT");
    sqlite3_close(writer);
    /* a backup never overwrites a file */
    assert_false(backup_take(f->db, dest, &r, err, sizeof err));
    assert_non_null(strstr(err, "exists already"));
    assert_int_equal(count_rows(dest), 3);
    /* a folder: the copy is named after its instant */
    assert_true(backup_take(f->db, f->dir, &r, err, sizeof err));
    assert_non_null(strstr(r.path, "/onestop-"));
    assert_int_equal(count_rows(r.path), 4);
}

static void test_restore_waits_for_the_lock_and_keeps_the_old_store(void **state)
{
    struct fixture *f = *state;
    char dest[PATH_SIZE], err[512];
    snprintf(dest, sizeof dest, "%s/copy.db", f->dir);
    struct backup_report r;
    assert_true(backup_take(f->db, dest, &r, err, sizeof err));
    exec_ok(f->live, "INSERT INTO transactions(reference) VALUES ('PP-5')");
    sqlite3_close(f->live);
    f->live = NULL;

    pid_t holder = 0;
    int lock = daemon_lock_take(f->data, &holder, err, sizeof err);
    assert_true(lock >= 0);
    assert_false(backup_restore(f->data, dest, &r, err, sizeof err));
    assert_non_null(strstr(err, "nothing was changed"));
    assert_int_equal(count_rows(f->db), 3);
    /* the lock names its holder to whoever is refused */
    assert_int_equal(daemon_lock_take(f->data, &holder, err, sizeof err), -1);
    assert_int_equal(holder, getpid());
    daemon_lock_release(lock);

    /* run by root beside a service user: what restore makes belongs to the folder's owner */
    bool as_root = geteuid() == 0;
    char lock_path[PATH_SIZE];
    snprintf(lock_path, sizeof lock_path, "%s/%s", f->data, DAEMON_LOCK_FILE_NAME);
    if (as_root) {
        assert_int_equal(chown(f->data, SERVICE_UID, SERVICE_UID), 0);
        assert_int_equal(chown(lock_path, 0, 0), 0);
    }
    assert_true(backup_restore(f->data, dest, &r, err, sizeof err));
    assert_int_equal(count_rows(f->db), 2);
    struct stat st;
    if (as_root) {
        assert_int_equal(stat(f->db, &st), 0);
        assert_int_equal(st.st_uid, SERVICE_UID);
        assert_int_equal(stat(lock_path, &st), 0);
        assert_int_equal(st.st_uid, SERVICE_UID);
    }
    assert_non_null(strstr(r.aside, ".before-restore-"));
    assert_int_equal(count_rows(r.aside), 3);
}

static void test_a_file_that_is_not_a_store_is_refused(void **state)
{
    struct fixture *f = *state;
    char path[PATH_SIZE], err[512];
    snprintf(path, sizeof path, "%s/notes.db", f->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    exec_ok(db, "CREATE TABLE notes(x)");
    sqlite3_close(db);
    struct backup_report r;
    assert_false(backup_verify(path, &r, err, sizeof err));
    assert_non_null(strstr(err, "not an onestop store"));
    assert_false(backup_restore(f->data, path, &r, err, sizeof err));
    assert_int_equal(count_rows(f->db), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_the_copy_is_one_committed_instant, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_waits_for_the_lock_and_keeps_the_old_store,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_file_that_is_not_a_store_is_refused, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
