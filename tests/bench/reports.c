/* bench-reports: the daily and monthly reports on a year of a busy council.
 *
 * Fills a fresh store (the real schema, through store_open's migrations) with N transactions
 * (default 1,000,000) spread over the 365 days before today, at 20 counters on 4 sites,
 * opening hours 09:00-17:00, each with its payment, a delivery for most, a till per counter per
 * day with its float and sale movements, and a few refunds and voids; then times the daily
 * report for one day and the monthly report for one month through store_report (the same call
 * the route makes), the best of several runs, and prints the store's size.
 *
 *   bench-reports [DATA_DIR] [TRANSACTIONS]
 *
 * Targets (issue 10): daily under 100 ms, monthly under 1 s. */
#include "common/uktime.h"
#include "gateway/store.h"
#include "gateway/store/report.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SITES           4
#define COUNTERS        20
#define STAFF           40
#define DAYS            365
#define RUNS            5
#define DEFAULT_TXNS    1000000L
#define OPEN_SECONDS    (8 * 3600)
#define OPEN_HOUR_UTC_S (9 * 3600)

static const char *const services[] = {
    "residents-parking-permit", "bulky-refuse",  "leisure-key",
    "bowling-permit",           "library-sales", "hearing-aid-batteries"};
static const char *const methods[] = {"cash", "card", "card", "cheque"};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static void must(int rc, sqlite3 *db, const char *what)
{
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
        exit(1);
    }
}

static void day_text(time_t t, char out[UKTIME_DATE_SIZE])
{
    if (!uktime_date(t, out))
        snprintf(out, UKTIME_DATE_SIZE, "1970-01-01");
}

static void fill(const char *path, long n, time_t first_day)
{
    sqlite3 *db = NULL;
    must(sqlite3_open(path, &db), db, "open");
    must(sqlite3_exec(db, "PRAGMA synchronous=OFF; BEGIN", NULL, NULL, NULL), db, "begin");
    sqlite3_stmt *till, *move, *txn, *pay, *del;
    must(sqlite3_prepare_v2(db,
                            "INSERT INTO tills(id, counter, site, day, state, float_pence,"
                            " opened_at, opened_by, counted_pence, expected_pence,"
                            " counted_by, signed_by, banked_pence) VALUES(?,?,?,?,'closed',"
                            " 10000,?, 'staff0', 10000 + ?, 10000, 'staff1', 'staff2', 0)",
                            -1, &till, NULL),
         db, "till");
    must(sqlite3_prepare_v2(db,
                            "INSERT INTO till_movements(till_id, kind, method,"
                            " amount_pence, reference, staff, created_at)"
                            " VALUES(?,?,?,?,?,?,?)",
                            -1, &move, NULL),
         db, "move");
    must(sqlite3_prepare_v2(db,
                            "INSERT INTO transactions(id, reference, service, status,"
                            " counter, site, staff, fields, fee_pence, lines, created_at,"
                            " updated_at) VALUES(?,?,?,?,?,?,?,'{}',?,'[]',?,?)",
                            -1, &txn, NULL),
         db, "txn");
    must(sqlite3_prepare_v2(db,
                            "INSERT INTO payments(transaction_id, method, amount_pence,"
                            " created_at) VALUES(?,?,?,?)",
                            -1, &pay, NULL),
         db, "pay");
    must(sqlite3_prepare_v2(db,
                            "INSERT INTO deliveries(transaction_id, backend, connector,"
                            " idempotency_key, payload, state, next_attempt_at_ms,"
                            " created_at) VALUES(?,'parking','json-rest',?,'{}',?,0,?)",
                            -1, &del, NULL),
         db, "delivery");
    long per_day = n / DAYS + 1, id = 0;
    for (int d = 0; d < DAYS && id < n; d++) {
        time_t day0 = first_day + (time_t)d * 86400;
        char day[UKTIME_DATE_SIZE];
        day_text(day0 + OPEN_HOUR_UTC_S, day);
        for (int c = 0; c < COUNTERS; c++) {
            char counter[16], site[16];
            snprintf(counter, sizeof counter, "C-%02d", c);
            snprintf(site, sizeof site, "Site %d", c % SITES);
            sqlite3_bind_int64(till, 1, (int64_t)d * COUNTERS + c + 1);
            sqlite3_bind_text(till, 2, counter, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(till, 3, site, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(till, 4, day, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(till, 5, day0 + OPEN_HOUR_UTC_S);
            sqlite3_bind_int(till, 6, (d + c) % 7 - 3);
            must(sqlite3_step(till), db, "till step");
            sqlite3_reset(till);
        }
        for (long i = 0; i < per_day && id < n; i++, id++) {
            int c = (int)(id % COUNTERS);
            char reference[32], counter[16], site[16], staff[16], key[48];
            snprintf(reference, sizeof reference, "BX-%08ld", id);
            snprintf(counter, sizeof counter, "C-%02d", c);
            snprintf(site, sizeof site, "Site %d", c % SITES);
            snprintf(staff, sizeof staff, "staff%ld", id % STAFF);
            snprintf(key, sizeof key, "onestop-%s", reference);
            const char *service = services[id % 6];
            const char *method = methods[(id / 6) % 4];
            long fee = 100 + (id * 37) % 5000;
            bool voided = id % 97 == 0;
            time_t at = day0 + OPEN_HOUR_UTC_S + (time_t)((i * OPEN_SECONDS) / per_day);
            sqlite3_bind_int64(txn, 1, id + 1);
            sqlite3_bind_text(txn, 2, reference, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(txn, 3, service, -1, SQLITE_STATIC);
            sqlite3_bind_text(txn, 4, voided ? "voided" : "completed", -1, SQLITE_STATIC);
            sqlite3_bind_text(txn, 5, counter, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(txn, 6, site, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(txn, 7, staff, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(txn, 8, fee);
            sqlite3_bind_int64(txn, 9, at);
            sqlite3_bind_int64(txn, 10, at);
            must(sqlite3_step(txn), db, "txn step");
            sqlite3_reset(txn);
            sqlite3_bind_int64(pay, 1, id + 1);
            sqlite3_bind_text(pay, 2, method, -1, SQLITE_STATIC);
            sqlite3_bind_int64(pay, 3, fee);
            sqlite3_bind_int64(pay, 4, at);
            must(sqlite3_step(pay), db, "pay step");
            sqlite3_reset(pay);
            if (id % 3 != 0) {
                sqlite3_bind_int64(del, 1, id + 1);
                sqlite3_bind_text(del, 2, key, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(del, 3, id % 500 == 1 ? "failed" : "delivered", -1,
                                  SQLITE_STATIC);
                sqlite3_bind_int64(del, 4, at);
                must(sqlite3_step(del), db, "delivery step");
                sqlite3_reset(del);
            }
            const char *kinds[] = {"sale", voided ? "void" : NULL, id % 211 == 0 ? "refund" : NULL};
            for (int k = 0; k < 3; k++) {
                if (!kinds[k])
                    continue;
                sqlite3_bind_int64(move, 1, (int64_t)d * COUNTERS + c + 1);
                sqlite3_bind_text(move, 2, kinds[k], -1, SQLITE_STATIC);
                sqlite3_bind_text(move, 3, method, -1, SQLITE_STATIC);
                sqlite3_bind_int64(move, 4, k == 0 ? fee : k == 1 ? -fee : -fee / 2);
                sqlite3_bind_text(move, 5, reference, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(move, 6, staff, -1, SQLITE_TRANSIENT);
                sqlite3_bind_int64(move, 7, at);
                must(sqlite3_step(move), db, "move step");
                sqlite3_reset(move);
            }
        }
    }
    sqlite3_finalize(till);
    sqlite3_finalize(move);
    sqlite3_finalize(txn);
    sqlite3_finalize(pay);
    sqlite3_finalize(del);
    must(sqlite3_exec(db, "COMMIT; ANALYZE; PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL), db,
         "commit");
    sqlite3_close(db);
}

/* The best of RUNS reports of [from, from + days) (ms); *count gets its sales count. */
static double time_report(struct store *store, time_t from, int days, long long *count)
{
    char day_from[UKTIME_DATE_SIZE], day_until[UKTIME_DATE_SIZE];
    day_text(from + 43200, day_from);
    day_text(from + (time_t)days * 86400 + 43200, day_until);
    struct report_period p = {.from = from,
                              .until = from + (time_t)days * 86400,
                              .day_from = day_from,
                              .day_until = day_until,
                              .offset_before = uktime_offset(from),
                              .offset_after = uktime_offset(from)};
    double best = 1e12;
    for (int i = 0; i < RUNS; i++) {
        json_t *out = NULL;
        double t0 = now_ms();
        if (store_report(store, &p, &out) != STORE_OK) {
            fprintf(stderr, "report failed\n");
            exit(1);
        }
        double t = now_ms() - t0;
        *count = json_integer_value(json_object_get(json_object_get(out, "sales"), "transactions"));
        json_decref(out);
        if (t < best)
            best = t;
    }
    return best;
}

int main(int argc, char **argv)
{
    if (!uktime_init())
        return 1;
    char tmpl[] = "/tmp/onestop-bench-reports-XXXXXX";
    const char *dir = argc > 1 ? argv[1] : mkdtemp(tmpl);
    long n = argc > 2 ? strtol(argv[2], NULL, 10) : DEFAULT_TXNS;
    if (!dir || n <= 0) {
        fprintf(stderr, "usage: bench-reports [DATA_DIR] [TRANSACTIONS]\n");
        return 2;
    }
    char err[256], path[512];
    snprintf(path, sizeof path, "%s/onestop.db", dir);
    struct store_options opts = {
        .data_dir = dir, .busy_timeout_ms = 5000, .group_commit_max = 64, .read_connections = 2};
    struct store *store = store_open(&opts, err, sizeof err);
    if (!store) {
        fprintf(stderr, "store: %s\n", err);
        return 1;
    }
    store_close(store);
    time_t midnight = (time(NULL) / 86400) * 86400;
    time_t first_day = midnight - (time_t)DAYS * 86400;
    double t0 = now_ms();
    fill(path, n, first_day);
    printf("filled %ld transactions, %d counters, %d sites, %d days in %.1f s\n", n, COUNTERS,
           SITES, DAYS, (now_ms() - t0) / 1000);
    struct stat sb;
    if (stat(path, &sb) == 0)
        printf("store size: %.1f MiB (%s)\n", sb.st_size / 1048576.0, path);
    if (!(store = store_open(&opts, err, sizeof err))) {
        fprintf(stderr, "store: %s\n", err);
        return 1;
    }
    long long count = 0;
    time_t day = first_day + 200L * 86400;
    double daily = time_report(store, day, 1, &count);
    printf("daily report:   %8.1f ms  (%lld sales; target < 100 ms)\n", daily, count);
    double monthly = time_report(store, day, 30, &count);
    printf("monthly report: %8.1f ms  (%lld sales; target < 1000 ms)\n", monthly, count);
    store_close(store);
    return daily < 100 && monthly < 1000 ? 0 : 3;
}
