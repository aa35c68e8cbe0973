/* Unit tests of sim/workdays.c: London dates across BST edges and working days. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sim/workdays.h"

static time_t utc(int y, int mo, int d, int h, int mi)
{
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    return timegm(&tm);
}

static void assert_date(sim_date d, const char *want)
{
    char got[WORKDAYS_DATE_LEN];
    workdays_format(d, got);
    assert_string_equal(got, want);
}

static void test_london_date(void **state)
{
    /* winter: London is UTC */
    assert_date(workdays_london_date(utc(2026, 1, 15, 23, 30)), "2026-01-15");
    /* summer: 23:30 UTC is 00:30 BST the next day */
    assert_date(workdays_london_date(utc(2026, 7, 15, 23, 30)), "2026-07-16");
    /* BST 2026 starts 29 March 01:00 UTC and ends 25 October 01:00 UTC */
    assert_date(workdays_london_date(utc(2026, 3, 28, 23, 30)), "2026-03-28");
    assert_date(workdays_london_date(utc(2026, 3, 29, 23, 30)), "2026-03-30");
    assert_date(workdays_london_date(utc(2026, 10, 24, 23, 30)), "2026-10-25");
    assert_date(workdays_london_date(utc(2026, 10, 25, 23, 30)), "2026-10-25");
}

static void test_next_working_days(void **state)
{
    sim_date out[10];
    sim_date friday = {2026, 11, 27};
    workdays_next(friday, 10, out);
    static const char *want[] = {"2026-11-30", "2026-12-01", "2026-12-02", "2026-12-03",
                                 "2026-12-04", "2026-12-07", "2026-12-08", "2026-12-09",
                                 "2026-12-10", "2026-12-11"};
    for (size_t i = 0; i < 10; i++)
        assert_date(out[i], want[i]);
    sim_date sunday = {2026, 12, 27};
    workdays_next(sunday, 5, out);
    assert_date(out[0], "2026-12-28");
    assert_date(out[4], "2027-01-01");
}

static void test_parse(void **state)
{
    sim_date d;
    assert_true(workdays_parse("2028-02-29", &d));
    assert_int_equal(d.year, 2028);
    assert_int_equal(d.month, 2);
    assert_int_equal(d.day, 29);
    static const char *bad[] = {"2027-02-29", "2026-13-01",  "2026-00-10", "2026-1-01",
                                "2026/01/01", "2026-01-01x", "",           "abcd-ef-gh"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (workdays_parse(bad[i], &d))
            fail_msg("\"%s\" was accepted", bad[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_london_date),
        cmocka_unit_test(test_next_working_days),
        cmocka_unit_test(test_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
