/* Print jobs in the real SQLite store (a fresh database in a temporary folder): the one
 * transition rule, compare-and-set moves, the queue the spooler reads (due pending jobs,
 * jobs left printing), the receipt's source data, reprints and their refusals, the audit
 * trail, counts; and the spooler's retry schedule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway/spooler.h"
#include "gateway/store.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PATH_MAX_LEN 512
#define PRINTER      "sd01-receipt"
#define REF          "RP-4K7M-9Q2X"

struct fixture {
    char dir[PATH_MAX_LEN];
    struct store *store;
    time_t now;
};

static enum store_result insert_run(struct store_tx *tx, void *arg)
{
    const struct txn_record *rec = arg;
    return store_tx_transaction_insert(tx, rec);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    const char *base = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/onestop-store-print-XXXXXX", base && *base ? base : "/tmp");
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
    if (store_staff_add(f->store, "alice", ROLE_ASSISTANT, "AB", "x") != STORE_OK)
        return -1;
    f->now = time(NULL);
    json_t *keys = json_array();
    struct txn_record rec = {
        .reference = REF,
        .service = "residents-parking-permit",
        .counter = "SD-01",
        .site = "Stockport Direct, Fred Perry House",
        .staff = "alice",
        .fields_json = "{}",
        .fee_pence = 4150,
        .lines_json = "[{\"description\":\"Residents' parking permit\",\"amount_pence\":4150}]",
        .keys = keys,
        .method = "cash",
        .amount_pence = 4150,
        .tendered_pence = 5000,
        .change_pence = 850,
        .printer = PRINTER,
        .idempotency_key = "key-1",
        .request_hash = "0000000000000000000000000000000000000000000000000000000000000000",
        .response_status = 201,
        .response_json = "{}",
        .now = f->now,
    };
    enum store_result r = store_run(f->store, insert_run, &rec);
    json_decref(keys);
    if (r != STORE_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(f->store);
    char path[PATH_MAX_LEN + 32];
    const char *files[] = {"onestop.db", "onestop.db-wal", "onestop.db-shm"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", f->dir, files[i]);
        unlink(path);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static int64_t ms(time_t t)
{
    return (int64_t)t * 1000;
}

static struct print_job only_job(struct fixture *f, enum print_state state, int64_t now_ms)
{
    struct print_job jobs[4];
    size_t n = 99;
    assert_int_equal(store_print_jobs(f->store, PRINTER, state, now_ms, jobs, 4, &n), STORE_OK);
    assert_int_equal(n, 1);
    return jobs[0];
}

static size_t count_jobs(struct fixture *f, enum print_state state, int64_t now_ms)
{
    struct print_job jobs[4];
    size_t n = 99;
    assert_int_equal(store_print_jobs(f->store, PRINTER, state, now_ms, jobs, 4, &n), STORE_OK);
    return n;
}

static enum store_result move(struct fixture *f, int64_t id, enum print_state from,
                              enum print_state to, bool new_attempt, int job_id, int64_t next,
                              const char *error)
{
    struct print_move m = {.print_job_id = id,
                           .from = from,
                           .to = to,
                           .new_attempt = new_attempt,
                           .job_id = job_id,
                           .next_attempt_at_ms = next,
                           .error = error,
                           .now_ms = ms(f->now)};
    return store_print_move(f->store, &m);
}

static enum store_result reprint_run(struct store_tx *tx, void *arg)
{
    return store_tx_print_reprint(tx, arg);
}

static enum store_result reprint(struct fixture *f, struct print_reprint *r)
{
    *r = (struct print_reprint){
        .reference = REF, .printer = PRINTER, .staff = "alice", .counter = "SD-02", .now = f->now};
    return store_run(f->store, reprint_run, r);
}

/* ---- the rule ---- */

static void test_transition_rule_table(void **state)
{
    (void)state;
    /* rows: from; columns: to (pending, printing, printed, print_failed) */
    static const bool allowed[4][4] = {
        [PRINT_PENDING] = {false, true, false, true},
        [PRINT_PRINTING] = {true, true, true, true},
        [PRINT_PRINTED] = {false, false, false, false},
        [PRINT_FAILED] = {false, false, false, false},
    };
    for (int from = 0; from < 4; from++)
        for (int to = 0; to < 4; to++)
            assert_int_equal(print_state_can_move((enum print_state)from, (enum print_state)to),
                             allowed[from][to]);
    enum print_state s;
    assert_true(print_state_parse("print_failed", &s));
    assert_int_equal(s, PRINT_FAILED);
    assert_false(print_state_parse("failed", &s));
    assert_false(print_state_parse(NULL, &s));
    assert_string_equal(print_state_name(PRINT_PRINTING), "printing");
}

static void test_retry_schedule(void **state)
{
    (void)state;
    assert_int_equal(spooler_retry_delay_ms(1), 1000);
    assert_int_equal(spooler_retry_delay_ms(2), 2000);
    assert_int_equal(spooler_retry_delay_ms(3), 5000);
    assert_int_equal(spooler_retry_delay_ms(4), 10000);
    assert_int_equal(spooler_retry_delay_ms(SPOOLER_MAX_ATTEMPTS), -1);
    assert_int_equal(spooler_retry_delay_ms(SPOOLER_MAX_ATTEMPTS + 7), -1);
}

/* ---- the store ---- */

static void test_a_sale_queues_one_pending_job_with_its_receipt_source(void **state)
{
    struct fixture *f = *state;
    struct print_job j = only_job(f, PRINT_PENDING, ms(f->now));
    assert_string_equal(j.reference, REF);
    assert_string_equal(j.printer, PRINTER);
    assert_int_equal(j.attempts, 0);
    assert_int_equal(j.job_id, 0);
    assert_int_equal(j.reprint_of, 0);
    assert_int_equal(count_jobs(f, PRINT_PRINTING, 0), 0);
    /* Another printer's queue is empty. */
    struct print_job other[1];
    size_t n = 9;
    assert_int_equal(
        store_print_jobs(f->store, "elsewhere", PRINT_PENDING, ms(f->now), other, 1, &n), STORE_OK);
    assert_int_equal(n, 0);

    struct print_source src;
    assert_int_equal(store_print_source(f->store, j.id, &src), STORE_OK);
    assert_string_equal(src.reference, REF);
    assert_string_equal(src.counter, "SD-01");
    assert_string_equal(src.site, "Stockport Direct, Fred Perry House");
    assert_string_equal(src.staff_initials, "AB");
    assert_string_equal(src.method, "cash");
    assert_int_equal(src.fee_pence, 4150);
    assert_int_equal(src.tendered_pence, 5000);
    assert_int_equal(src.change_pence, 850);
    assert_int_equal(src.created_at, f->now);
    assert_false(src.copy);
    assert_non_null(strstr(src.lines_json, "Residents' parking permit"));
    free(src.lines_json);
    assert_int_equal(store_print_source(f->store, j.id + 100, &src), STORE_NOT_FOUND);
}

static void test_moves_follow_the_rule_and_compare_the_state(void **state)
{
    struct fixture *f = *state;
    int64_t id = only_job(f, PRINT_PENDING, ms(f->now)).id;
    assert_int_equal(move(f, id, PRINT_PENDING, PRINT_PRINTED, false, 0, 0, NULL),
                     STORE_CONFLICT); /* never printed without being sent */
    assert_int_equal(move(f, id + 50, PRINT_PENDING, PRINT_PRINTING, true, 0, 0, NULL),
                     STORE_NOT_FOUND);
    assert_int_equal(move(f, id, PRINT_PENDING, PRINT_PRINTING, true, 0, 0, NULL), STORE_OK);
    /* A stale `from` is refused: two writers cannot both move the job. */
    assert_int_equal(move(f, id, PRINT_PENDING, PRINT_PRINTING, true, 0, 0, NULL), STORE_CONFLICT);
    struct print_job j = only_job(f, PRINT_PRINTING, 0);
    assert_int_equal(j.attempts, 1);
    assert_int_equal(j.job_id, 0); /* written before the submit: no job id yet */
    assert_int_equal(count_jobs(f, PRINT_PENDING, ms(f->now) + 1000000), 0);

    assert_int_equal(move(f, id, PRINT_PRINTING, PRINT_PRINTING, false, 7, 0, NULL), STORE_OK);
    j = only_job(f, PRINT_PRINTING, 0);
    assert_int_equal(j.job_id, 7);
    assert_int_equal(j.attempts, 1);
    /* The printer has it: never a new attempt (another node's resend); it is re-checked. */
    assert_int_equal(move(f, id, PRINT_PRINTING, PRINT_PRINTING, true, 0, 0, NULL), STORE_CONFLICT);
    assert_int_equal(only_job(f, PRINT_PRINTING, 0).job_id, 7);

    /* The printer did not take it: back to pending, due in 2 s, with the reason. */
    assert_int_equal(move(f, id, PRINT_PRINTING, PRINT_PENDING, false, 0, ms(f->now) + 2000,
                          "Receipt printer sd01-receipt is not answering"),
                     STORE_OK);
    assert_int_equal(count_jobs(f, PRINT_PENDING, ms(f->now)), 0);
    assert_int_equal(count_jobs(f, PRINT_PENDING, ms(f->now) + 2000), 1);
    assert_int_equal(store_print_next_due(f->store, PRINTER), ms(f->now) + 2000);
    json_t *t = NULL;
    assert_int_equal(store_transaction_get(f->store, REF, NULL, &t), STORE_OK);
    json_t *p = json_object_get(t, "print");
    assert_string_equal(json_string_value(json_object_get(p, "state")), "pending");
    assert_string_equal(json_string_value(json_object_get(p, "last_error")),
                        "Receipt printer sd01-receipt is not answering");
    json_decref(t);

    /* A new attempt clears the old printer job id. */
    assert_int_equal(move(f, id, PRINT_PENDING, PRINT_PRINTING, true, 0, 0, NULL), STORE_OK);
    j = only_job(f, PRINT_PRINTING, 0);
    assert_int_equal(j.attempts, 2);
    assert_int_equal(j.job_id, 0);
    assert_int_equal(move(f, id, PRINT_PRINTING, PRINT_PRINTED, false, 12, 0, NULL), STORE_OK);
    assert_int_equal(store_print_next_due(f->store, PRINTER), INT64_MAX);
    /* Printed is final. */
    for (int to = 0; to < 4; to++)
        assert_int_equal(move(f, id, PRINT_PRINTED, (enum print_state)to, true, 0, 0, NULL),
                         STORE_CONFLICT);
    assert_int_equal(store_transaction_get(f->store, REF, NULL, &t), STORE_OK);
    p = json_object_get(t, "print");
    assert_string_equal(json_string_value(json_object_get(p, "state")), "printed");
    assert_int_equal(json_integer_value(json_object_get(p, "job_id")), 12);
    assert_int_equal(json_integer_value(json_object_get(p, "attempts")), 2);
    assert_true(json_is_null(json_object_get(p, "last_error")));
    json_decref(t);

    /* Every move is in the audit trail, in order. */
    json_t *audit = NULL;
    assert_int_equal(store_audit_list(f->store, NULL, 50, &audit), STORE_OK);
    const char *want[] = {"print_printed", "print_printing", "print_retry", "print_submitted",
                          "print_printing"};
    size_t w = 0, i;
    json_t *e;
    json_array_foreach(audit, i, e)
    {
        const char *action = json_string_value(json_object_get(e, "action"));
        if (strncmp(action, "print_", 6) != 0)
            continue;
        assert_true(w < sizeof want / sizeof want[0]);
        assert_string_equal(action, want[w]);
        assert_string_equal(json_string_value(json_object_get(e, "subject")), REF);
        assert_string_equal(json_string_value(json_object_get(e, "actor")), "spooler");
        w++;
    }
    assert_int_equal(w, sizeof want / sizeof want[0]);
    json_decref(audit);
}

static void test_reprint_waits_for_the_first_then_copies_it(void **state)
{
    struct fixture *f = *state;
    int64_t id = only_job(f, PRINT_PENDING, ms(f->now)).id;
    struct print_reprint r;
    assert_int_equal(reprint(f, &r), STORE_CONFLICT); /* still pending */
    assert_int_equal(move(f, id, PRINT_PENDING, PRINT_PRINTING, true, 0, 0, NULL), STORE_OK);
    assert_int_equal(reprint(f, &r), STORE_CONFLICT); /* at the printer */
    assert_int_equal(move(f, id, PRINT_PRINTING, PRINT_FAILED, false, 0, 0, "paper jam"), STORE_OK);
    assert_int_equal(reprint(f, &r), STORE_OK);
    assert_int_equal(r.reprint_of, id);
    assert_true(r.print_job_id > id);
    struct print_job j = only_job(f, PRINT_PENDING, ms(f->now));
    assert_int_equal(j.id, r.print_job_id);
    assert_int_equal(j.reprint_of, id);
    assert_int_equal(j.attempts, 0);
    struct print_source src;
    assert_int_equal(store_print_source(f->store, j.id, &src), STORE_OK);
    assert_true(src.copy);
    free(src.lines_json);
    assert_int_equal(reprint(f, &r), STORE_CONFLICT); /* the copy is pending now */

    struct print_counts c;
    assert_int_equal(store_print_counts(f->store, PRINTER, &c), STORE_OK);
    assert_int_equal(c.pending, 1);
    assert_int_equal(c.printing, 0);
    assert_int_equal(c.printed, 0);
    assert_int_equal(c.failed, 1);

    json_t *audit = NULL;
    assert_int_equal(store_audit_list(f->store, "print_reprint", 5, &audit), STORE_OK);
    assert_int_equal(json_array_size(audit), 1);
    json_t *e = json_array_get(audit, 0);
    assert_string_equal(json_string_value(json_object_get(e, "actor")), "alice");
    assert_string_equal(json_string_value(json_object_get(e, "counter")), "SD-02");
    json_decref(audit);

    r = (struct print_reprint){.reference = "RP-0000-0000",
                               .printer = PRINTER,
                               .staff = "alice",
                               .counter = "SD-01",
                               .now = f->now};
    assert_int_equal(store_run(f->store, reprint_run, &r), STORE_NOT_FOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transition_rule_table),
        cmocka_unit_test(test_retry_schedule),
        cmocka_unit_test_setup_teardown(test_a_sale_queues_one_pending_job_with_its_receipt_source,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_moves_follow_the_rule_and_compare_the_state, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reprint_waits_for_the_first_then_copies_it, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
