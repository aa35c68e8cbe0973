/* The circuit breaker: closed -> open after N consecutive failures -> half-open after the wait
 * with exactly one probe -> closed on success, open again (a fresh wait) on failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway/delivery/breaker.h"

#define WANT 4

static void test_closed_allows_all_and_opens_after_threshold(void **state)
{
    (void)state;
    struct breaker b;
    breaker_init(&b, 3, 10);
    assert_int_equal(breaker_state(&b, 0), BREAKER_CLOSED);
    assert_int_equal(breaker_allowance(&b, 0, WANT), WANT);
    breaker_failure(&b, 1);
    breaker_failure(&b, 2);
    assert_int_equal(breaker_state(&b, 3), BREAKER_CLOSED);
    assert_int_equal(breaker_allowance(&b, 3, WANT), WANT);
    breaker_failure(&b, 4);
    assert_int_equal(breaker_state(&b, 4), BREAKER_OPEN);
    assert_int_equal(breaker_allowance(&b, 4, WANT), 0);
    assert_int_equal(b.opened_count, 1);
}

static void test_success_resets_the_consecutive_count(void **state)
{
    (void)state;
    struct breaker b;
    breaker_init(&b, 3, 10);
    breaker_failure(&b, 1);
    breaker_failure(&b, 2);
    breaker_success(&b, 3);
    breaker_failure(&b, 4);
    breaker_failure(&b, 5);
    assert_int_equal(breaker_state(&b, 6), BREAKER_CLOSED);
    breaker_failure(&b, 7);
    assert_int_equal(breaker_state(&b, 7), BREAKER_OPEN);
}

static void test_half_open_allows_exactly_one_probe(void **state)
{
    (void)state;
    struct breaker b;
    breaker_init(&b, 1, 10); /* 10 s open */
    breaker_failure(&b, 1000);
    assert_int_equal(breaker_state(&b, 1000), BREAKER_OPEN);
    assert_int_equal(breaker_allowance(&b, 10999, WANT), 0); /* 1 ms before the wait is over */
    assert_int_equal(breaker_state(&b, 11000), BREAKER_HALF_OPEN);
    /* asking does not use up the probe */
    assert_int_equal(breaker_allowance(&b, 11000, WANT), 1);
    assert_int_equal(breaker_allowance(&b, 11001, WANT), 1);
    breaker_started(&b, 11002);
    assert_int_equal(breaker_allowance(&b, 11003, WANT), 0);
    assert_int_equal(breaker_allowance(&b, 50000, WANT), 0); /* still waiting for the probe */
    assert_int_equal(breaker_allowance(&b, 11003, 0), 0);
}

static void test_probe_success_closes(void **state)
{
    (void)state;
    struct breaker b;
    breaker_init(&b, 2, 1);
    breaker_failure(&b, 0);
    breaker_failure(&b, 0);
    assert_int_equal(breaker_state(&b, 999), BREAKER_OPEN);
    assert_int_equal(breaker_allowance(&b, 1000, WANT), 1);
    breaker_started(&b, 1000);
    breaker_success(&b, 1200);
    assert_int_equal(breaker_state(&b, 1200), BREAKER_CLOSED);
    assert_int_equal(breaker_allowance(&b, 1200, WANT), WANT);
    /* and the count starts from zero again */
    breaker_failure(&b, 1300);
    assert_int_equal(breaker_state(&b, 1300), BREAKER_CLOSED);
}

static void test_probe_failure_reopens_with_a_fresh_wait(void **state)
{
    (void)state;
    struct breaker b;
    breaker_init(&b, 1, 5);
    breaker_failure(&b, 0);
    assert_int_equal(breaker_allowance(&b, 5000, WANT), 1);
    breaker_started(&b, 5000);
    breaker_failure(&b, 7000);
    assert_int_equal(breaker_state(&b, 7000), BREAKER_OPEN);
    assert_int_equal(b.opened_count, 2);
    assert_int_equal(breaker_allowance(&b, 11999, WANT), 0); /* wait counts from 7000 */
    assert_int_equal(breaker_state(&b, 12000), BREAKER_HALF_OPEN);
    assert_int_equal(breaker_allowance(&b, 12000, WANT), 1);
}

static void test_late_failures_while_open_do_not_extend_the_wait(void **state)
{
    (void)state;
    struct breaker b;
    breaker_init(&b, 1, 5);
    breaker_failure(&b, 0);
    breaker_failure(&b, 4000); /* a request started before it opened */
    assert_int_equal(breaker_state(&b, 5000), BREAKER_HALF_OPEN);
    assert_int_equal(b.opened_count, 1);
}

static void test_state_names(void **state)
{
    (void)state;
    assert_string_equal(breaker_state_name(BREAKER_CLOSED), "closed");
    assert_string_equal(breaker_state_name(BREAKER_OPEN), "open");
    assert_string_equal(breaker_state_name(BREAKER_HALF_OPEN), "half-open");
    /* metric values are the enum values */
    assert_int_equal(BREAKER_CLOSED, 0);
    assert_int_equal(BREAKER_OPEN, 1);
    assert_int_equal(BREAKER_HALF_OPEN, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_closed_allows_all_and_opens_after_threshold),
        cmocka_unit_test(test_success_resets_the_consecutive_count),
        cmocka_unit_test(test_half_open_allows_exactly_one_probe),
        cmocka_unit_test(test_probe_success_closes),
        cmocka_unit_test(test_probe_failure_reopens_with_a_fresh_wait),
        cmocka_unit_test(test_late_failures_while_open_do_not_extend_the_wait),
        cmocka_unit_test(test_state_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
