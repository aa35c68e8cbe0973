/* bench-fsync: how many single-row INSERT transactions per second SQLite commits to disk
 * here, with the store's own settings (WAL, synchronous=FULL) — the ceiling a gateway that
 * committed each transaction on its own would have.
 *
 *   bench-fsync DIR [SECONDS]        prints {"inserts":N,"seconds":S,"per_second":R} */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench-fsync DIR [SECONDS]\n");
        return 2;
    }
    double seconds = argc > 2 ? strtod(argv[2], NULL) : 3.0;
    char path[4096];
    snprintf(path, sizeof path, "%s/fsync-ceiling.db", argv[1]);
    remove(path);
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        return 1;
    sqlite3_exec(db,
                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                 "CREATE TABLE t(id INTEGER PRIMARY KEY, body TEXT NOT NULL)",
                 NULL, NULL, NULL);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "INSERT INTO t(body) VALUES(?)", -1, &st, NULL);
    const char *body = "{\"service\":\"residents-parking-permit\",\"fee_pence\":4150}";
    long n = 0;
    double t0 = now_s(), elapsed = 0;
    while (elapsed < seconds) {
        sqlite3_bind_text(st, 1, body, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            return 1;
        sqlite3_reset(st);
        n++;
        elapsed = now_s() - t0;
    }
    printf("{\"inserts\":%ld,\"seconds\":%.3f,\"per_second\":%.1f}\n", n, elapsed,
           (double)n / elapsed);
    sqlite3_finalize(st);
    sqlite3_close(db);
    remove(path);
    return 0;
}
