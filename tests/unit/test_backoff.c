/* Backoff: full jitter within the schedule, the one-second floor, Retry-After, the last
 * schedule entry repeating, and the give-up deadline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway/delivery/backoff.h"

#include <curl/curl.h>

static const long schedule[] = {1, 5, 15, 60};
#define LEN (sizeof schedule / sizeof schedule[0])

static uint64_t lcg(uint64_t *x)
{
    *x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
    return *x >> 11;
}

static void test_delay_stays_within_the_step_and_spreads(void **state)
{
    (void)state;
    uint64_t seed = 42;
    for (int retry = 0; retry < 6; retry++) {
        long cap = schedule[retry < (int)LEN ? retry : (int)LEN - 1] * 1000;
        int64_t lo = INT64_MAX, hi = 0;
        for (int i = 0; i < 2000; i++) {
            int64_t d = backoff_delay_ms(schedule, LEN, retry, -1, lcg(&seed));
            assert_true(d >= BACKOFF_FLOOR_MS);
            assert_true(d <= (cap > BACKOFF_FLOOR_MS ? cap : BACKOFF_FLOOR_MS));
            if (d < lo)
                lo = d;
            if (d > hi)
                hi = d;
        }
        if (cap >= 15000) { /* jitter really spreads across the range */
            assert_true(lo < cap / 4);
            assert_true(hi > cap * 3 / 4);
        }
    }
}

static void test_extremes_of_the_random_number(void **state)
{
    (void)state;
    assert_int_equal(backoff_delay_ms(schedule, LEN, 2, -1, 0), BACKOFF_FLOOR_MS);
    assert_int_equal(backoff_delay_ms(schedule, LEN, 2, -1, 15000), 15000);
    assert_int_equal(backoff_delay_ms(schedule, LEN, 2, -1, 15001), BACKOFF_FLOOR_MS); /* wraps */
    /* past the end the last entry repeats */
    assert_int_equal(backoff_delay_ms(schedule, LEN, 99, -1, 60000), 60000);
    /* an empty schedule still waits the floor */
    assert_int_equal(backoff_delay_ms(NULL, 0, 0, -1, 123456), BACKOFF_FLOOR_MS);
}

static void test_retry_after_wins_when_longer(void **state)
{
    (void)state;
    assert_int_equal(backoff_delay_ms(schedule, LEN, 0, 30, 500), 30000);
    assert_int_equal(backoff_delay_ms(schedule, LEN, 3, 2, 40000), 40000); /* ours is longer */
    assert_int_equal(backoff_delay_ms(schedule, LEN, 0, 0, 0), BACKOFF_FLOOR_MS);
    assert_int_equal(backoff_delay_ms(schedule, LEN, 0, 999999, 0),
                     (int64_t)BACKOFF_RETRY_AFTER_MAX_S * 1000);
}

static void test_next_attempt_and_deadline(void **state)
{
    (void)state;
    struct backoff_policy p = {schedule, LEN, 600};
    time_t created = 1000000;
    int64_t created_ms = (int64_t)created * 1000, next = 0;
    /* first failure, just after creation: within [floor, 1 s] */
    assert_true(backoff_next_attempt(&p, 1, created, created_ms + 10, -1, 0, &next));
    assert_int_equal(next, created_ms + 10 + BACKOFF_FLOOR_MS);
    /* fourth attempt: up to 60 s */
    assert_true(backoff_next_attempt(&p, 4, created, created_ms + 100000, -1, 60000, &next));
    assert_int_equal(next, created_ms + 160000);
    /* near the deadline: the next attempt is at the deadline, not beyond */
    assert_true(backoff_next_attempt(&p, 20, created, created_ms + 590000, -1, 60000, &next));
    assert_int_equal(next, created_ms + 600000);
    /* within a second of the deadline: the floor still applies */
    assert_true(backoff_next_attempt(&p, 21, created, created_ms + 599900, -1, 60000, &next));
    assert_int_equal(next, created_ms + 599900 + BACKOFF_FLOOR_MS);
    /* at or past the deadline: used up */
    assert_false(backoff_next_attempt(&p, 22, created, created_ms + 600000, -1, 0, &next));
    assert_false(backoff_next_attempt(&p, 2, created, created_ms + 700000, -1, 0, &next));
}

static void test_parse_retry_after(void **state)
{
    (void)state;
    long s = -1;
    assert_true(backoff_parse_retry_after("120", 0, &s));
    assert_int_equal(s, 120);
    assert_true(backoff_parse_retry_after(" 7\r\n", 0, &s));
    assert_int_equal(s, 7);
    /* Wed, 21 Oct 2015 07:28:00 GMT = 1445412480 */
    assert_true(backoff_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480 - 90, &s));
    assert_int_equal(s, 90);
    assert_true(backoff_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480 + 5, &s));
    assert_int_equal(s, 0);
    assert_false(backoff_parse_retry_after("", 0, &s));
    assert_false(backoff_parse_retry_after("-5", 0, &s));
    assert_false(backoff_parse_retry_after("soon", 0, &s));
    assert_false(backoff_parse_retry_after(NULL, 0, &s));
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delay_stays_within_the_step_and_spreads),
        cmocka_unit_test(test_extremes_of_the_random_number),
        cmocka_unit_test(test_retry_after_wins_when_longer),
        cmocka_unit_test(test_next_attempt_and_deadline),
        cmocka_unit_test(test_parse_retry_after),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
