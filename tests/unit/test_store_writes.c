/* The SQLite engine's group commit and outbox reads, against a real database in a temporary
 * folder: a refused job is undone alone (the group, first run without savepoints, runs again
 * with them) and the others commit once; a refused job whose savepoint cannot be rolled back
 * to must not commit its partial rows; a read whose step fails part-way is an error, never a short
 * list; the delivery rule table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>

#include "gateway/store.h"
#include "gateway/store/store_private.h"
#include "gateway/store/sqlite/sqlite.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PATH_MAX_LEN 512

struct fixture {
    char dir[PATH_MAX_LEN];
    struct store *store;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    const char *base = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/onestop-store-writes-XXXXXX",
             base && *base ? base : "/tmp");
    if (!mkdtemp(f->dir))
        return -1;
    struct store_options so = {
        .data_dir = f->dir, .busy_timeout_ms = 5000, .group_commit_max = 64, .read_connections = 2};
    char err[256];
    f->store = store_open(&so, err, sizeof err);
    if (!f->store) {
        fprintf(stderr, "store_open: %s\n", err);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(f->store);
    char path[PATH_MAX_LEN + 32];
    static const char *const files[] = {"onestop.db", "onestop.db-wal", "onestop.db-shm"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", f->dir, files[i]);
        unlink(path);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static enum store_result exec_run(struct store_tx *tx, void *arg)
{
    char err[256];
    return db_exec(store_tx_db(tx), arg, err, sizeof err) ? STORE_OK : STORE_INVALID;
}

/* A job that writes a row, then loses its own savepoint (the group's first run has none: that
 * RELEASE fails, and the refusal runs the group again with savepoints), then is refused. */
static enum store_result partial_then_refused_run(struct store_tx *tx, void *arg)
{
    struct db *db = store_tx_db(tx);
    char err[256];
    assert_true(db_exec(db, "INSERT INTO scratch VALUES('partial')", err, sizeof err));
    (void)db_exec(db, "RELEASE job", err, sizeof err);
    return STORE_CONFLICT;
}

static struct {
    long rows;
} counted;

static enum store_result count_run(struct store_tx *tx, void *arg)
{
    struct db_stmt *st = db_prepare(store_tx_db(tx), arg);
    assert_non_null(st);
    counted.rows = db_step(st) == DB_ROW ? db_column_int64(st, 0) : -1;
    db_finalize(st);
    return STORE_OK;
}

static void refused_job_whose_rollback_fails_commits_nothing(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_run(f->store, exec_run, "CREATE TABLE scratch(v TEXT)"), STORE_OK);
    enum store_result r = store_run(f->store, partial_then_refused_run, NULL);
    /* the group could not be undone job by job: it was rolled back whole */
    assert_int_equal(r, STORE_UNAVAILABLE);
    assert_int_equal(store_run(f->store, count_run, "SELECT COUNT(*) FROM scratch"), STORE_OK);
    assert_int_equal(counted.rows, 0);
    /* and the writer goes on working */
    assert_int_equal(store_run(f->store, exec_run, "INSERT INTO scratch VALUES('next')"), STORE_OK);
    assert_int_equal(store_run(f->store, count_run, "SELECT COUNT(*) FROM scratch"), STORE_OK);
    assert_int_equal(counted.rows, 1);
}

/* ---- a group with a refused job ---- */

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool blocking, released;
    int done;
} gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false, 0};

/* Holds the writer (in a group of its own) until the test has queued the next group. */
static enum store_result blocker_run(struct store_tx *tx, void *arg)
{
    (void)tx;
    (void)arg;
    pthread_mutex_lock(&gate.lock);
    gate.blocking = true;
    pthread_cond_broadcast(&gate.cond);
    while (!gate.released)
        pthread_cond_wait(&gate.cond, &gate.lock);
    pthread_mutex_unlock(&gate.lock);
    return STORE_OK;
}

struct scratch_job {
    struct store_job job;
    const char *value;
    enum store_result answer; /* what run answers */
    int runs;
    enum store_result result; /* what the writer reported */
};

static enum store_result scratch_run(struct store_tx *tx, void *arg)
{
    struct scratch_job *j = arg;
    struct db_stmt *st = db_prepare(store_tx_db(tx), "INSERT INTO scratch VALUES(?)");
    assert_non_null(st);
    db_bind_text(st, 1, j->value);
    assert_int_equal(db_step(st), DB_DONE);
    db_finalize(st);
    j->runs++;
    return j->answer;
}

static void gate_done(struct store_job *job, enum store_result result)
{
    pthread_mutex_lock(&gate.lock);
    if (job->arg)
        ((struct scratch_job *)job->arg)->result = result;
    gate.done++;
    pthread_cond_broadcast(&gate.cond);
    pthread_mutex_unlock(&gate.lock);
}

static void a_refused_job_in_a_group_is_undone_alone(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_run(f->store, exec_run, "CREATE TABLE scratch(v TEXT)"), STORE_OK);
    struct store_job blocker = {.run = blocker_run, .done = gate_done};
    store_submit(f->store, &blocker);
    pthread_mutex_lock(&gate.lock);
    while (!gate.blocking)
        pthread_cond_wait(&gate.cond, &gate.lock);
    pthread_mutex_unlock(&gate.lock);
    /* queued while the writer is held: the next group is these three */
    struct scratch_job jobs[] = {{.value = "a", .answer = STORE_OK},
                                 {.value = "refused", .answer = STORE_CONFLICT},
                                 {.value = "c", .answer = STORE_OK}};
    enum { JOBS = sizeof jobs / sizeof jobs[0] };
    for (int i = 0; i < JOBS; i++) {
        jobs[i].job = (struct store_job){.run = scratch_run, .arg = &jobs[i], .done = gate_done};
        store_submit(f->store, &jobs[i].job);
    }
    pthread_mutex_lock(&gate.lock);
    gate.released = true;
    pthread_cond_broadcast(&gate.cond);
    while (gate.done < 1 + JOBS)
        pthread_cond_wait(&gate.cond, &gate.lock);
    pthread_mutex_unlock(&gate.lock);
    assert_int_equal(jobs[0].result, STORE_OK);
    assert_int_equal(jobs[1].result, STORE_CONFLICT);
    assert_int_equal(jobs[2].result, STORE_OK);
    /* the first run (no savepoints) stopped at the refusal and was rolled back whole; the
     * second ran every job under its own savepoint */
    assert_int_equal(jobs[0].runs, 2);
    assert_int_equal(jobs[1].runs, 2);
    assert_int_equal(jobs[2].runs, 1);
    /* each accepted job's row once, the refused one's not at all */
    assert_int_equal(store_run(f->store, count_run, "SELECT COUNT(*) FROM scratch"), STORE_OK);
    assert_int_equal(counted.rows, 2);
    assert_int_equal(
        store_run(f->store, count_run, "SELECT COUNT(*) FROM scratch WHERE v IN ('a','c')"),
        STORE_OK);
    assert_int_equal(counted.rows, 2);
    /* a group that is all accepted runs once */
    struct scratch_job one = {.value = "d", .answer = STORE_OK};
    one.job = (struct store_job){.run = scratch_run, .arg = &one, .done = gate_done};
    store_submit(f->store, &one.job);
    pthread_mutex_lock(&gate.lock);
    while (gate.done < 2 + JOBS)
        pthread_cond_wait(&gate.cond, &gate.lock);
    pthread_mutex_unlock(&gate.lock);
    assert_int_equal(one.result, STORE_OK);
    assert_int_equal(one.runs, 1);
}

/* ---- the writer's WAL writes, gathered (store/sqlite/wal_vfs.c) ---- */

enum { BIG_ROWS = 400, BIG_ROW_BYTES = 3000 };

static enum store_result big_write_run(struct store_tx *tx, void *arg)
{
    (void)arg;
    char err[256];
    return db_exec(store_tx_db(tx),
                   "CREATE TABLE big(v BLOB);"
                   "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400)"
                   " INSERT INTO big SELECT randomblob(3000) FROM n;",
                   err, sizeof err)
               ? STORE_OK
               : STORE_INVALID;
}

/* One commit of more than a megabyte of WAL (far more than one gathered write), then a
 * connection of the default VFS reads all of it; and the file checks out. */
static void a_large_commit_is_whole_for_another_connection(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_run(f->store, big_write_run, NULL), STORE_OK);
    char path[PATH_MAX_LEN + 32];
    snprintf(path, sizeof path, "%s/onestop.db", f->dir);
    sqlite3 *other = NULL;
    assert_int_equal(sqlite3_open_v2(path, &other, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(other, "SELECT count(*), sum(length(v)) FROM big", -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(st, 0), BIG_ROWS);
    assert_int_equal(sqlite3_column_int64(st, 1), (int64_t)BIG_ROWS * BIG_ROW_BYTES);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(other, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    sqlite3_close(other);
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Another process holds the write lock past busy_timeout: the group is run again (busy is
 * retryable), then refused whole; once the lock is gone the writer goes on. */
static void a_busy_group_runs_again_then_is_refused(void **state)
{
    struct fixture *f = *state;
    store_close(f->store);
    enum { BUSY_MS = 40, TRIES = 3 };
    struct store_options so = {.data_dir = f->dir,
                               .busy_timeout_ms = BUSY_MS,
                               .group_commit_max = 64,
                               .read_connections = 1};
    char err[256], path[PATH_MAX_LEN + 32];
    f->store = store_open(&so, err, sizeof err);
    assert_non_null(f->store);
    snprintf(path, sizeof path, "%s/onestop.db", f->dir);
    sqlite3 *lock = NULL;
    assert_int_equal(sqlite3_open(path, &lock), SQLITE_OK);
    assert_int_equal(sqlite3_exec(lock, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    struct store_stats before, after;
    store_stats(f->store, &before);
    int64_t t0 = monotonic_ms();
    assert_int_equal(store_check_writable(f->store), STORE_UNAVAILABLE);
    /* each run waited out the busy timeout before giving up */
    assert_true(monotonic_ms() - t0 >= TRIES * BUSY_MS);
    store_stats(f->store, &after);
    assert_int_equal(after.failed_commits, before.failed_commits + 1);
    assert_int_equal(after.commits, before.commits);
    assert_int_equal(sqlite3_exec(lock, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(lock);
    assert_int_equal(store_check_writable(f->store), STORE_OK);
}

static void a_failed_step_is_an_error_not_a_short_list(void **state)
{
    (void)state;
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TABLE t(v INTEGER);"
                                  "INSERT INTO t VALUES(7);"
                                  "INSERT INTO t VALUES(-9223372036854775807 - 1);",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    struct db *conn = db_sqlite_borrow(db);
    assert_non_null(conn);
    /* the second row's abs() overflows: its step fails after one good row */
    struct db_stmt *st =
        db_prepare(conn, "SELECT abs(v), 'RP-TEST-0001', 'parking', 'json-rest',"
                         " 'key', '{}', 0, 0, 0, NULL, NULL, NULL, 0, 0, 'pending' FROM t"
                         " ORDER BY rowid");
    assert_non_null(st);
    struct delivery *list = NULL;
    size_t len = 99;
    enum store_result r = store_deliveries_collect(st, 10, NULL, 0, &list, &len);
    assert_int_not_equal(r, STORE_OK);
    assert_null(list);
    assert_int_equal(len, 0);
    db_finalize(st);

    /* the same statement without the bad row reads in full */
    assert_int_equal(sqlite3_exec(db, "DELETE FROM t WHERE v < 0", NULL, NULL, NULL), SQLITE_OK);
    st = db_prepare(conn, "SELECT abs(v), 'RP-TEST-0001', 'parking', 'json-rest',"
                          " 'key', '{}', 0, 0, 0, NULL, NULL, NULL, 0, 0, 'pending' FROM t");
    assert_non_null(st);
    assert_int_equal(store_deliveries_collect(st, 10, NULL, 0, &list, &len), STORE_OK);
    assert_int_equal(len, 1);
    assert_int_equal(list[0].id, 7);
    assert_string_equal(list[0].backend, "parking");
    assert_int_equal(list[0].series_started_at, 0);
    store_delivery_free(list, len);
    db_finalize(st);
    db_close(conn);
    sqlite3_close(db);
}

/* INSERT ... RETURNING id gives the new row's id once, then done, whether SQLite runs the
 * RETURNING (id not the rowid) or the engine gives the rowid itself; a refused insert is an
 * error and leaves no row behind for the next use of the same statement. */
static void returning_id_gives_the_new_id_once(void **state)
{
    (void)state;
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TABLE rowid_ids(id INTEGER PRIMARY KEY, v TEXT UNIQUE);"
                                  "CREATE TABLE other_ids(n INTEGER PRIMARY KEY, id INTEGER);"
                                  "INSERT INTO rowid_ids VALUES(41, 'first');"
                                  "CREATE TRIGGER side AFTER INSERT ON rowid_ids"
                                  "  BEGIN INSERT INTO other_ids(n, id) VALUES(NULL, 1000); END;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    struct db *conn = db_sqlite_borrow(db);
    assert_non_null(conn);
    static const char *const inserts[] = {
        "INSERT INTO rowid_ids(v) VALUES(?) RETURNING id",
        "INSERT INTO other_ids(n, id) VALUES(NULL, length(?) + 7) RETURNING id",
    };
    static const int64_t first_ids[] = {42, 13}; /* "second" is 6 long */
    for (size_t i = 0; i < sizeof inserts / sizeof inserts[0]; i++) {
        struct db_stmt *st = db_cached(conn, inserts[i]);
        assert_non_null(st);
        assert_true(db_bind_text(st, 1, "second"));
        assert_int_equal(db_step(st), DB_ROW);
        assert_int_equal(db_column_int64(st, 0), first_ids[i]);
        assert_false(db_column_is_null(st, 0));
        char want[32];
        snprintf(want, sizeof want, "%lld", (long long)first_ids[i]);
        assert_string_equal(db_column_text(st, 0), want);
        assert_int_equal(db_step(st), DB_DONE);
        db_release(st);
    }
    /* the rowid table's insert runs without a RETURNING; the other keeps its own */
    int cut = 0, kept = 0;
    for (sqlite3_stmt *s = sqlite3_next_stmt(db, NULL); s; s = sqlite3_next_stmt(db, s)) {
        cut += strcmp(sqlite3_sql(s), "INSERT INTO rowid_ids(v) VALUES(?)") == 0;
        kept += strcmp(sqlite3_sql(s), inserts[1]) == 0;
    }
    assert_int_equal(cut, 1);
    assert_int_equal(kept, 1);
    /* a refused insert (the UNIQUE v) is an error, and the statement's next use is clean */
    struct db_stmt *st = db_cached(conn, inserts[0]);
    assert_true(db_bind_text(st, 1, "first"));
    assert_int_equal(db_step(st), DB_ERROR);
    assert_int_equal(db_result(conn), STORE_CONFLICT);
    db_release(st);
    assert_true(db_bind_text(st, 1, "third"));
    assert_int_equal(db_step(st), DB_ROW);
    assert_int_equal(db_column_int64(st, 0), 43);
    db_release(st);
    db_close(conn);
    sqlite3_close(db);
}

static void delivery_rule_table(void **state)
{
    (void)state;
    static const struct {
        enum delivery_state from, to;
        bool allowed;
    } cases[] = {
        {DELIVERY_PENDING, DELIVERY_DELIVERED, true},
        {DELIVERY_PENDING, DELIVERY_FAILED, true},
        {DELIVERY_FAILED, DELIVERY_PENDING, true},
        {DELIVERY_PENDING, DELIVERY_PENDING, false},
        {DELIVERY_DELIVERED, DELIVERY_PENDING, false},
        {DELIVERY_DELIVERED, DELIVERY_FAILED, false},
        {DELIVERY_FAILED, DELIVERY_DELIVERED, false},
        {DELIVERY_FAILED, DELIVERY_FAILED, false},
        {DELIVERY_DELIVERED, DELIVERY_DELIVERED, false},
        /* a void */
        {DELIVERY_PENDING, DELIVERY_CANCELLED, true},
        {DELIVERY_FAILED, DELIVERY_CANCELLED, true},
        {DELIVERY_DELIVERED, DELIVERY_CANCELLING, true},
        {DELIVERY_CANCELLED, DELIVERY_CANCELLING, true},
        {DELIVERY_CANCELLING, DELIVERY_CANCELLED, true},
        {DELIVERY_CANCELLING, DELIVERY_CANCEL_FAILED, true},
        {DELIVERY_DELIVERED, DELIVERY_CANCELLED, false},
        {DELIVERY_PENDING, DELIVERY_CANCELLING, false},
        {DELIVERY_CANCELLED, DELIVERY_PENDING, false},
        {DELIVERY_CANCELLING, DELIVERY_DELIVERED, false},
        {DELIVERY_CANCEL_FAILED, DELIVERY_PENDING, false},
        {DELIVERY_CANCEL_FAILED, DELIVERY_CANCELLING, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(delivery_state_can_move(cases[i].from, cases[i].to), cases[i].allowed);
    enum delivery_state s;
    assert_true(delivery_state_parse("failed", &s));
    assert_int_equal(s, DELIVERY_FAILED);
    assert_false(delivery_state_parse("lost", &s));
    assert_string_equal(delivery_state_name(DELIVERY_DELIVERED), "delivered");
    assert_true(delivery_state_parse("cancel_failed", &s));
    assert_int_equal(s, DELIVERY_CANCEL_FAILED);
    assert_string_equal(delivery_state_name(DELIVERY_CANCELLING), "cancelling");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(refused_job_whose_rollback_fails_commits_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_refused_job_in_a_group_is_undone_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(a_large_commit_is_whole_for_another_connection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_busy_group_runs_again_then_is_refused, setup, teardown),
        cmocka_unit_test(a_failed_step_is_an_error_not_a_short_list),
        cmocka_unit_test(returning_id_gives_the_new_id_once),
        cmocka_unit_test(delivery_rule_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
