/* email_digest: the digest time parsed from config, and which day's digest a row belongs to
 * (Europe/London, across both clock changes and the end of a month). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/uktime.h"
#include "gateway/config.h"
#include "gateway/delivery/email_digest.h"

static void test_times_of_day(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        bool ok;
        long seconds;
    } cases[] = {
        {"17:30", true, 17 * 3600 + 30 * 60},
        {"00:00", true, 0},
        {"23:59:59", true, 86399},
        {"07:05:09", true, 7 * 3600 + 5 * 60 + 9},
        {"24:00", false, 0},
        {"17:60", false, 0},
        {"17:30:60", false, 0},
        {"7:30", false, 0},
        {"17-30", false, 0},
        {"17:30x", false, 0},
        {"17:30:0", false, 0},
        {"", false, 0},
        {" 17:30", false, 0},
        {"+7:30", false, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long s = -1;
        bool ok = email_digest_time_parse(cases[i].text, &s);
        assert_int_equal(ok, cases[i].ok);
        if (ok)
            assert_int_equal(s, cases[i].seconds);
    }
    long s;
    assert_false(email_digest_time_parse(NULL, &s));
}

/* The UTC instant of a UK civil time, seconds included. */
static time_t uk(int y, int mo, int d, int h, int mi, int s)
{
    return uktime_from_local(y, mo, d, h, mi) + s;
}

static void test_the_day_a_row_belongs_to(void **state)
{
    (void)state;
    assert_true(uktime_init());
    struct backend_config be = {.digest = true, .digest_at_s = 17 * 3600 + 30 * 60};
    static const struct {
        int created[6];
        int cut[6];
    } cases[] = {
        /* before the time: that day's; at it: still that day's; after: the next day's */
        {{2026, 11, 30, 9, 0, 0}, {2026, 11, 30, 17, 30, 0}},
        {{2026, 11, 30, 17, 30, 0}, {2026, 11, 30, 17, 30, 0}},
        {{2026, 11, 30, 17, 30, 1}, {2026, 12, 1, 17, 30, 0}},
        {{2026, 12, 31, 23, 59, 0}, {2027, 1, 1, 17, 30, 0}},
        /* summer time (BST): the same civil time, an hour earlier in UTC */
        {{2026, 7, 1, 10, 0, 0}, {2026, 7, 1, 17, 30, 0}},
        /* the days the clocks change */
        {{2026, 3, 29, 12, 0, 0}, {2026, 3, 29, 17, 30, 0}},
        {{2026, 10, 24, 18, 0, 0}, {2026, 10, 25, 17, 30, 0}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const int *c = cases[i].created, *w = cases[i].cut;
        time_t created = uk(c[0], c[1], c[2], c[3], c[4], c[5]);
        assert_int_equal(email_digest_cut(&be, created), uk(w[0], w[1], w[2], w[3], w[4], w[5]));
    }
    /* July 17:30 BST is 16:30 UTC */
    time_t july = email_digest_cut(&be, uk(2026, 7, 1, 10, 0, 0));
    struct tm utc;
    gmtime_r(&july, &utc);
    assert_int_equal(utc.tm_hour, 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_times_of_day),
        cmocka_unit_test(test_the_day_a_row_belongs_to),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
