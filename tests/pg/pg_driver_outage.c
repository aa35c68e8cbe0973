/* pg_driver_check outage: the server crashes while a transaction is open, stays down a while,
 * and comes back. Each step is printed on stdout; its pytest kills and restarts the server
 * when it reads "ready" and "down" and answers with a line on stdin. */
#include "tests/pg/pg_driver_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERR_MAX  512
#define LINE_MAX 64

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "outage: %s:%d: %s failed (last error: %s)\n", __FILE__, __LINE__,     \
                    #cond, db_errmsg(db));                                                         \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static void say_and_wait(const char *what)
{
    char line[LINE_MAX];
    printf("%s\n", what);
    fflush(stdout);
    if (!fgets(line, sizeof line, stdin)) {
        fprintf(stderr, "outage: no answer after \"%s\"\n", what);
        exit(1);
    }
}

static enum db_step run_cached(struct db *db, const char *sql, int64_t arg)
{
    struct db_stmt *st = db_cached(db, sql);
    if (!st)
        return DB_ERROR;
    enum db_step s = db_bind_int64(st, 1, arg) ? db_step(st) : DB_ERROR;
    db_release(st);
    return s;
}

int check_outage(void)
{
    static const char insert[] = "INSERT INTO outage(n) VALUES(?)";
    char err[ERR_MAX];
    struct db *db = check_connect();
    CHECK(
        db_exec(db, "DROP TABLE IF EXISTS outage; CREATE TABLE outage(n BIGINT)", err, sizeof err));
    CHECK(run_cached(db, insert, 1) == DB_DONE);
    CHECK(db_begin(db, err, sizeof err));
    CHECK(run_cached(db, insert, 2) == DB_DONE);
    say_and_wait("ready"); /* the server is killed with SIGKILL now */

    CHECK(run_cached(db, insert, 3) == DB_ERROR);
    CHECK(db_result(db) == STORE_UNAVAILABLE);
    printf("unavailable: %s\n", db_errmsg(db));
    CHECK(!db_exec(db, "SELECT 1", err, sizeof err)); /* still down: connecting fails */
    CHECK(db_result(db) == STORE_UNAVAILABLE);
    CHECK(strstr(err, "PostgreSQL is unreachable") != NULL);
    printf("still down: %s\n", err);
    say_and_wait("down"); /* the server is started again now */

    /* the transaction died with the connection: nothing runs outside it by mistake */
    CHECK(run_cached(db, insert, 4) == DB_ERROR);
    CHECK(strstr(db_errmsg(db), "lost inside a transaction") != NULL);
    CHECK(db_exec(db, "ROLLBACK", err, sizeof err));
    CHECK(run_cached(db, insert, 5) == DB_DONE); /* prepared again on the new connection */
    struct db_stmt *st = db_prepare(db, "SELECT string_agg(n::text, ',' ORDER BY n) FROM outage");
    CHECK(st && db_step(st) == DB_ROW);
    printf("rows: %s\n", db_column_text(st, 0));
    CHECK(strcmp(db_column_text(st, 0), "1,5") == 0);
    db_finalize(st);
    db_close(db);
    printf("recovered\n");
    return 0;
}
