/* Table-driven tests of services/validators: each validator with good and bad cases, including
 * the edge cases DOMAIN.md names. A row with expect == NULL must be rejected. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "services/validators.h"

#define ROWS(t) (sizeof(t) / sizeof((t)[0]))

struct row {
    const char *in;
    const char *expect; /* normalised form, or NULL when the input must be rejected */
};

typedef bool (*normaliser)(const char *, char *, size_t);

static void run_rows(const char *what, normaliser fn, const struct row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char out[64] = "junk";
        bool ok = fn(rows[i].in, out, sizeof out);
        if (ok != (rows[i].expect != NULL) || (ok && strcmp(out, rows[i].expect) != 0)) {
            print_error("%s row %zu: \"%s\" gave %s \"%s\", expected %s\n", what, i,
                        rows[i].in ? rows[i].in : "(null)", ok ? "valid" : "invalid", out,
                        rows[i].expect ? rows[i].expect : "invalid");
            fail();
        }
        if (!ok)
            assert_string_equal(out, ""); /* a rejected value never leaves junk behind */
    }
}

static void test_postcode(void **state)
{
    static const struct row rows[] = {
        {"SK1 3XE", "SK1 3XE"},
        {"sk1 3xe", "SK1 3XE"},
        {"SK13XE", "SK1 3XE"},
        {"  SK1   3XE ", "SK1 3XE"},
        {"M1 1AE", "M1 1AE"},     /* A9 */
        {"M60 1NW", "M60 1NW"},   /* A99 */
        {"W1A 0AX", "W1A 0AX"},   /* A9A */
        {"CR2 6XH", "CR2 6XH"},   /* AA9 */
        {"DN55 1PT", "DN55 1PT"}, /* AA99 */
        {"EC1A 1BB", "EC1A 1BB"}, /* AA9A */
        {"SW1A 1AA", "SW1A 1AA"},
        {"GIR 0AA", "GIR 0AA"}, /* Girobank */
        {"gir0aa", "GIR 0AA"},
        {"SK4 4LT", "SK4 4LT"},
        {"", NULL},
        {NULL, NULL},
        {"SK1", NULL}, /* outward code only */
        {"SK1 3X", NULL},
        {"SK1 3XEE", NULL},
        {"QK1 3XE", NULL}, /* Q never first */
        {"VK1 3XE", NULL}, /* V never first */
        {"XK1 3XE", NULL}, /* X never first */
        {"SI1 3XE", NULL}, /* I never second */
        {"SJ1 3XE", NULL}, /* J never second */
        {"SZ1 3XE", NULL}, /* Z never second */
        {"SK1 3CE", NULL}, /* C never in the inward letters */
        {"SK1 3IE", NULL},
        {"SK1 3XK", NULL}, /* K never in the inward letters */
        {"SK1 3XM", NULL},
        {"SK1 3XO", NULL},
        {"SK1 3XV", NULL},
        {"W1I 0AX", NULL},  /* A9A: I not a third letter */
        {"EC1C 1BB", NULL}, /* AA9A: C not a fourth letter */
        {"SK1-3XE", NULL},
        {"SK1 3XÉ", NULL},
        {"SK123 3XE", NULL},
        {"12345", NULL},
        {"GIR 0AB", NULL},
        {"SK1 3XE"
         "                                                                   ",
         NULL},
    };
    run_rows("postcode", validators_postcode_normalise, rows, ROWS(rows));
}

static void test_postcode_borough(void **state)
{
    assert_true(validators_postcode_in_borough("SK1 3XE"));
    assert_true(validators_postcode_in_borough("SK12 1AA"));
    assert_true(validators_postcode_in_borough("M1 1AE"));
    assert_true(validators_postcode_in_borough("M60 1NW"));
    assert_false(validators_postcode_in_borough("MK1 1AA")); /* Milton Keynes */
    assert_false(validators_postcode_in_borough("S1 2HE"));  /* Sheffield */
    assert_false(validators_postcode_in_borough("GIR 0AA"));
    assert_false(validators_postcode_in_borough("W1A 0AX"));
    assert_false(validators_postcode_in_borough(NULL));
}

static void test_postcode_buffer(void **state)
{
    char small[8];
    assert_false(validators_postcode_normalise("SW1A 1AA", small, sizeof small));
    assert_string_equal(small, "");
    char exact[VALIDATORS_POSTCODE_SIZE];
    assert_true(validators_postcode_normalise("sw1a1aa", exact, sizeof exact));
    assert_string_equal(exact, "SW1A 1AA");
}

static void test_vrm(void **state)
{
    static const struct row rows[] = {
        {"AB12 CDE", "AB12CDE"},
        {"ab12cde", "AB12CDE"},
        {" AB 12 CDE ", "AB12CDE"},
        {"MA02 ABC", "MA02ABC"}, /* age 02: March 2002 */
        {"BD51 SMR", "BD51SMR"}, /* age 51: September 2001 */
        {"LB49 XYZ", "LB49XYZ"},
        {"AB99 ZZZ", "AB99ZZZ"}, /* Z allowed in the random letters */
        {"AB00 CDE", NULL},      /* age 00 never issued */
        {"AB01 CDE", NULL},      /* age 01 never issued */
        {"AB50 CDE", NULL},      /* age 50 never issued */
        {"AI12 CDE", NULL},      /* I not used */
        {"QB12 CDE", NULL},      /* Q not used */
        {"AB12 CQE", NULL},
        {"AB12 CDI", NULL},
        {"ZB12 CDE", NULL}, /* Z not in the memory tag */
        {"AZ12 CDE", NULL},
        {"A123 BCD", "A123BCD"}, /* prefix */
        {"P1 ABC", "P1ABC"},
        {"Y999 XYW", "Y999XYW"},
        {"I123 BCD", NULL}, /* I, O, Q, U, Z never year letters */
        {"O123 BCD", NULL},
        {"Q123 BCD", NULL},
        {"U123 BCD", NULL},
        {"Z123 BCD", NULL},
        {"A012 BCD", NULL}, /* no leading zero */
        {"A1234 BCD", NULL},
        {"ABC 123D", "ABC123D"}, /* suffix */
        {"ABC 1D", "ABC1D"},
        {"ABC 123I", NULL},
        {"ABC 123Z", NULL},
        {"ABQ 123D", NULL},
        {"ABC 012D", NULL},
        {"1234 AB", "1234AB"}, /* dateless */
        {"1 A", "1A"},
        {"ABC 123", "ABC123"},
        {"AB 1", "AB1"},
        {"0123 AB", NULL},
        {"12345 AB", NULL},
        {"ABCD 12", NULL},
        {"QA 123", NULL},
        {"ABZ 1234", "ABZ1234"}, /* Northern Ireland */
        {"AIA 1234", "AIA1234"},
        {"IA 123", "IA123"},
        {"", NULL},
        {NULL, NULL},
        {"A", NULL},
        {"1", NULL},
        {"AB12-CDE", NULL},
        {"AB12CDEF", NULL},
        {"AB12 CD3", NULL},
        {"A1B2C3D", NULL},
    };
    run_rows("vrm", validators_vrm_normalise, rows, ROWS(rows));
}

static void test_vrm_kind_and_paper(void **state)
{
    static const struct {
        const char *in;
        enum validators_vrm_kind kind;
        const char *paper;
    } rows[] = {
        {"ab12cde", VALIDATORS_VRM_CURRENT, "AB12 CDE"},
        {"A123BCD", VALIDATORS_VRM_PREFIX, "A123 BCD"},
        {"A1BCD", VALIDATORS_VRM_PREFIX, "A1 BCD"},
        {"ABC123D", VALIDATORS_VRM_SUFFIX, "ABC 123D"},
        {"ABC1D", VALIDATORS_VRM_SUFFIX, "ABC 1D"},
        {"1234AB", VALIDATORS_VRM_DATELESS, "1234 AB"},
        {"ABC123", VALIDATORS_VRM_DATELESS, "ABC 123"},
        {"ABZ1234", VALIDATORS_VRM_NI, "ABZ 1234"},
        {"AB00CDE", VALIDATORS_VRM_INVALID, NULL},
    };
    for (size_t i = 0; i < ROWS(rows); i++) {
        char paper[VALIDATORS_VRM_PAPER_SIZE];
        assert_int_equal(validators_vrm_kind(rows[i].in), rows[i].kind);
        bool ok = validators_vrm_paper(rows[i].in, paper, sizeof paper);
        assert_int_equal(ok, rows[i].paper != NULL);
        if (ok)
            assert_string_equal(paper, rows[i].paper);
    }
}

static void test_nhs_number(void **state)
{
    static const struct row rows[] = {
        {"9434765919", "9434765919"},
        {"9000000009", "9000000009"},
        {"9912003888", "9912003888"},
        {"943 476 5919", "9434765919"},
        {"943-476-5919", "9434765919"},
        {" 9434765919 ", "9434765919"},
        {"4010232137", "4010232137"}, /* check digit 7 */
        {"9434765918", NULL},         /* wrong check digit */
        {"9434765910", NULL},
        {"943476591", NULL},   /* 9 digits */
        {"94347659199", NULL}, /* 11 digits */
        {"94347659I9", NULL},
        {"", NULL},
        {NULL, NULL},
        {"1000000010", NULL},         /* check would be 10: never valid */
        {"0000000000", "0000000000"}, /* sum 0: check 11 -> 0 (valid by the algorithm) */
        {"9434.765919", NULL},
    };
    run_rows("nhs", validators_nhs_number_normalise, rows, ROWS(rows));
    char paper[VALIDATORS_NHS_PAPER_SIZE];
    assert_true(validators_nhs_number_paper("9434765919", paper, sizeof paper));
    assert_string_equal(paper, "943 476 5919");
    assert_false(validators_nhs_number_paper("9434765918", paper, sizeof paper));
}

static void test_nino(void **state)
{
    static const struct row rows[] = {
        {"AB123456C", "AB123456C"},
        {"ab 12 34 56 c", "AB123456C"},
        {"JH123456D", "JH123456D"},
        {"CE123456A", "CE123456A"},
        {"ZY123456B", "ZY123456B"},
        {"AB123456E", NULL}, /* suffix A-D only */
        {"AB123456", NULL},  /* suffix required */
        {"DA123456A", NULL}, /* D never first */
        {"FA123456A", NULL}, /* F never first */
        {"IA123456A", NULL},
        {"QQ123456C", NULL}, /* Q never first */
        {"UA123456A", NULL},
        {"VA123456A", NULL},
        {"AD123456A", NULL}, /* D never second */
        {"AO123456A", NULL}, /* O never second */
        {"BG123456A", NULL}, /* prefixes never issued */
        {"GB123456A", NULL},
        {"KN123456A", NULL},
        {"NK123456A", NULL},
        {"NT123456A", NULL},
        {"TN123456A", NULL},
        {"ZZ123456A", NULL},
        {"AB12345C", NULL},
        {"AB1234567C", NULL},
        {"", NULL},
        {NULL, NULL},
    };
    run_rows("nino", validators_nino_normalise, rows, ROWS(rows));
}

static void test_uprn_ubrn(void **state)
{
    static const struct row uprns[] = {
        {"100011429001", "100011429001"},
        {"1", "1"},
        {" 100011434583 ", "100011434583"},
        {"000000000123", "123"}, /* leading zeros allowed, dropped */
        {"0", "0"},
        {"1000114290011", NULL}, /* 13 digits */
        {"10001142900A", NULL},
        {"1000 11429001", NULL},
        {"-1", NULL},
        {"", NULL},
        {NULL, NULL},
    };
    run_rows("uprn", validators_uprn_normalise, uprns, ROWS(uprns));
    static const struct row ubrns[] = {
        {"000000070000", "000000070000"},
        {"0000 0007 0003", "000000070003"},
        {"0000-0007-0001", "000000070001"},
        {"00000007000", NULL},
        {"0000000700000", NULL},
        {"00000007000X", NULL},
        {"", NULL},
    };
    run_rows("ubrn", validators_ubrn_normalise, ubrns, ROWS(ubrns));
}

static void test_phone(void **state)
{
    static const struct row rows[] = {
        {"0161 480 4949", "01614804949"},
        {"01614804949", "01614804949"},
        {"+44 161 480 4949", "01614804949"},
        {"+44 (0)161 480 4949", "01614804949"},
        {"0044 161 480 4949", "01614804949"},
        {"07700 900123", "07700900123"},
        {"(0161) 474-1234", "01614741234"},
        {"0800 123 456", "0800123456"}, /* 10-digit freephone */
        {"0300 123 4567", "03001234567"},
        {"016977 3456", "0169773456"}, /* 10-digit area */
        {"0161 480 494", NULL},        /* 9 digits */
        {"0161 480 49491", NULL},      /* 12 digits */
        {"0909 876 5432", NULL},       /* premium rate */
        {"0400 123 4567", NULL},
        {"0600 123 4567", NULL},
        {"1614804949", NULL},
        {"+1 212 555 0100", NULL},
        {"0161 480 4949 ext 2", NULL},
        {"", NULL},
        {NULL, NULL},
    };
    run_rows("phone", validators_phone_normalise, rows, ROWS(rows));
}

static void test_money_parse(void **state)
{
    static const struct {
        const char *in;
        bool ok;
        long pence;
    } rows[] = {
        {"41.50", true, 4150},
        {"\xc2\xa3"
         "41.50",
         true, 4150},
        {"41", true, 4100},
        {"41.5", true, 4150},
        {"0", true, 0},
        {"0.01", true, 1},
        {" 20.75 ", true, 2075},
        {"\xc2\xa3"
         "0.99",
         true, 99},
        {"00041.50", true, 4150},
        {"92233720368547758.07", true, LONG_MAX},
        {"92233720368547758.08", false, 0}, /* one penny over */
        {"92233720368547759", false, 0},
        {"999999999999999999999999", false, 0},
        {"-41.50", false, 0},
        {"\xc2\xa3-41.50", false, 0},
        {"41.505", false, 0},
        {"41.", false, 0},
        {".50", false, 0},
        {"1,000.00", false, 0},
        {"41.50p", false, 0},
        {"\xc2\xa3", false, 0},
        {"", false, 0},
        {"  ", false, 0},
        {"41 .50", false, 0},
        {"$41.50", false, 0},
        {"4e2", false, 0},
        {NULL, false, 0},
    };
    for (size_t i = 0; i < ROWS(rows); i++) {
        long pence = -12345;
        bool ok = validators_money_parse(rows[i].in, &pence);
        if (ok != rows[i].ok || (ok && pence != rows[i].pence)) {
            print_error("money row %zu: \"%s\" gave %d %ld\n", i, rows[i].in ? rows[i].in : "", ok,
                        pence);
            fail();
        }
    }
}

static void test_money_format(void **state)
{
    static const struct {
        long pence;
        const char *text;
    } rows[] = {
        {4150, "\xc2\xa3"
               "41.50"},
        {2075, "\xc2\xa3"
               "20.75"},
        {0, "\xc2\xa3"
            "0.00"},
        {1, "\xc2\xa3"
            "0.01"},
        {100, "\xc2\xa3"
              "1.00"},
        {123456, "\xc2\xa3"
                 "1234.56"},
        {-200, "-\xc2\xa3"
               "2.00"},
        {LONG_MAX, "\xc2\xa3"
                   "92233720368547758.07"},
        {LONG_MIN, "-\xc2\xa3"
                   "92233720368547758.08"},
    };
    for (size_t i = 0; i < ROWS(rows); i++) {
        char out[VALIDATORS_MONEY_SIZE];
        assert_true(validators_money_format(rows[i].pence, out, sizeof out));
        assert_string_equal(out, rows[i].text);
        long back;
        if (rows[i].pence >= 0) {
            assert_true(validators_money_parse(out, &back)); /* round trip */
            assert_int_equal(back, rows[i].pence);
        }
    }
    char small[6];
    assert_false(validators_money_format(4150, small, sizeof small)); /* needs 8 bytes */
    assert_string_equal(small, "");
    char exact[8];
    assert_true(validators_money_format(4150, exact, sizeof exact));
}

static void test_date_parse(void **state)
{
    static const struct {
        const char *in;
        bool ok;
    } rows[] = {
        {"2026-04-01", true},
        {"2024-02-29", true},
        {"2000-02-29", true},
        {"2026-12-31", true},
        {"0001-01-01", true},
        {"9999-12-31", true},
        {"2026-02-29", false}, /* not a leap year */
        {"1900-02-29", false}, /* century, not a leap year */
        {"2100-02-29", false},
        {"2026-04-31", false},
        {"2026-13-01", false},
        {"2026-00-10", false},
        {"2026-01-00", false},
        {"2026-01-32", false},
        {"0000-01-01", false},
        {"2026-4-01", false},
        {"2026/04/01", false},
        {"26-04-01", false},
        {"2026-04-01T00:00", false},
        {" 2026-04-01", false},
        {"", false},
        {NULL, false},
        {"2026-0a-01", false},
        {"+026-04-01", false},
    };
    for (size_t i = 0; i < ROWS(rows); i++) {
        struct validators_date d;
        bool ok = validators_date_parse(rows[i].in, &d);
        if (ok != rows[i].ok) {
            print_error("date row %zu: \"%s\" gave %d\n", i, rows[i].in ? rows[i].in : "", ok);
            fail();
        }
        if (ok) {
            char back[VALIDATORS_DATE_SIZE];
            validators_date_format(d, back);
            assert_string_equal(back, rows[i].in);
        }
    }
}

static struct validators_date D(const char *s) {
    struct validators_date d = {0, 0, 0};
    assert_true(validators_date_parse(s, &d));
    return d;
}

static void
assert_date(struct validators_date d, const char *expect)
{
    char text[VALIDATORS_DATE_SIZE];
    validators_date_format(d, text);
    assert_string_equal(text, expect);
}

static void test_date_arithmetic(void **state)
{
    static const struct {
        const char *from;
        long days;
        const char *to;
    } add_days[] = {
        {"2026-04-01", 0, "2026-04-01"},   {"2026-04-01", 1, "2026-04-02"},
        {"2026-04-30", 1, "2026-05-01"},   {"2026-12-31", 1, "2027-01-01"},
        {"2024-02-28", 1, "2024-02-29"},   {"2026-02-28", 1, "2026-03-01"},
        {"2026-03-01", -1, "2026-02-28"},  {"2024-03-01", -1, "2024-02-29"},
        {"2026-11-23", 90, "2027-02-21"},  {"1970-01-01", -1, "1969-12-31"},
        {"2000-02-28", 366, "2001-02-28"}, {"1900-02-28", 1, "1900-03-01"},
        {"2026-01-01", 365, "2027-01-01"}, {"2028-01-01", 366, "2029-01-01"},
    };
    for (size_t i = 0; i < ROWS(add_days); i++) {
        struct validators_date out;
        assert_true(validators_date_add_days(D(add_days[i].from), add_days[i].days, &out));
        assert_date(out, add_days[i].to);
        assert_int_equal(validators_date_days_between(D(add_days[i].from), D(add_days[i].to)),
                         add_days[i].days);
    }
    static const struct {
        const char *from;
        int years;
        const char *to;
    } add_years[] = {
        {"2026-04-01", 1, "2027-04-01"}, {"2024-02-29", 1, "2025-03-01"},
        {"2024-02-29", 4, "2028-02-29"}, {"2026-12-31", -1, "2025-12-31"},
        {"2027-03-01", 1, "2028-03-01"},
    };
    for (size_t i = 0; i < ROWS(add_years); i++) {
        struct validators_date out;
        assert_true(validators_date_add_years(D(add_years[i].from), add_years[i].years, &out));
        assert_date(out, add_years[i].to);
    }
    /* "start + 1 year - 1 day": the day before the anniversary, leap days included. */
    static const struct {
        const char *start;
        const char *last;
    } permit[] = {
        {"2026-12-01", "2027-11-30"},
        {"2028-02-29", "2029-02-28"},
        {"2027-03-01", "2028-02-29"},
        {"2026-01-01", "2026-12-31"},
    };
    for (size_t i = 0; i < ROWS(permit); i++) {
        struct validators_date a, last;
        assert_true(validators_date_add_years(D(permit[i].start), 1, &a));
        assert_true(validators_date_add_days(a, -1, &last));
        assert_date(last, permit[i].last);
    }
    struct validators_date out;
    assert_false(validators_date_add_days(D("9999-12-31"), 1, &out));
    assert_false(validators_date_add_days(D("0001-01-01"), -1, &out));
    assert_false(validators_date_add_years(D("9999-01-01"), 1, &out));
    assert_false(validators_date_add_days(D("2026-01-01"), LONG_MAX, &out));
    assert_false(validators_date_add_days(D("2026-01-01"), LONG_MIN, &out));
}

static void test_date_compare_weekday_words(void **state)
{
    assert_true(validators_date_compare(D("2026-04-01"), D("2026-04-02")) < 0);
    assert_true(validators_date_compare(D("2027-01-01"), D("2026-12-31")) > 0);
    assert_true(validators_date_compare(D("2026-05-01"), D("2026-04-30")) > 0);
    assert_int_equal(validators_date_compare(D("2026-04-01"), D("2026-04-01")), 0);
    assert_int_equal(validators_date_weekday(D("2026-11-23")), 1); /* Monday */
    assert_int_equal(validators_date_weekday(D("2026-11-29")), 7); /* Sunday */
    assert_int_equal(validators_date_weekday(D("1970-01-01")), 4); /* Thursday */
    assert_int_equal(validators_date_weekday(D("2000-02-29")), 2); /* Tuesday */
    assert_int_equal(validators_date_weekday(D("1969-12-31")), 3); /* Wednesday */
    char words[VALIDATORS_DATE_WORDS_SIZE];
    assert_true(validators_date_words(D("2026-04-01"), words, sizeof words));
    assert_string_equal(words, "1 April 2026");
    assert_true(validators_date_words(D("2026-09-30"), words, sizeof words));
    assert_string_equal(words, "30 September 2026");
    /* Every day for 800 years round-trips through day numbers. */
    struct validators_date d = D("1800-01-01");
    long n = validators_date_to_days(d);
    for (long i = 0; i < 800L * 366L && d.year < 2600; i++) {
        struct validators_date next;
        assert_true(validators_date_add_days(d, 1, &next));
        assert_int_equal(validators_date_to_days(next), n + 1);
        assert_true(validators_date_valid(next));
        assert_true(validators_date_compare(d, next) < 0);
        d = next;
        n++;
    }
}

/* Unix time of a UTC date and time. */
static time_t utc(const char *date, int hour, int minute)
{
    return (time_t)(validators_date_to_days(D(date)) * 86400L + hour * 3600L + minute * 60L);
}

static void test_today_london(void **state)
{
    static const struct {
        const char *utc_date;
        int hour, minute;
        const char *london;
    } rows[] = {
        {"2026-01-15", 23, 30, "2026-01-15"}, /* GMT: London = UTC */
        {"2026-07-15", 22, 59, "2026-07-15"}, /* BST: 23:59 in London */
        {"2026-07-15", 23, 0, "2026-07-16"},  /* BST: already midnight in London */
        {"2026-03-28", 23, 30, "2026-03-28"}, /* the night before BST starts: still GMT */
        {"2026-03-29", 0, 59, "2026-03-29"},  /* BST starts 2026-03-29 01:00 UTC */
        {"2026-03-29", 23, 0, "2026-03-30"},  /* BST in force */
        {"2026-10-24", 23, 30, "2026-10-25"}, /* still BST (ends 25 Oct 01:00 UTC) */
        {"2026-10-25", 0, 59, "2026-10-25"},
        {"2026-10-25", 23, 30, "2026-10-25"}, /* GMT again */
        {"2026-12-31", 23, 59, "2026-12-31"},
        {"2027-03-27", 23, 30, "2027-03-27"}, /* 2027: BST starts 28 March */
        {"2027-03-28", 23, 30, "2027-03-29"},
        {"2027-10-30", 23, 30, "2027-10-31"}, /* 2027: BST ends 31 October */
        {"2027-10-31", 23, 30, "2027-10-31"},
        {"1969-12-31", 23, 59, "1970-01-01"}, /* British Standard Time: UTC+1 all year 1968-71 */
    };
    for (size_t i = 0; i < ROWS(rows); i++) {
        struct validators_date d =
            validators_date_today_london(utc(rows[i].utc_date, rows[i].hour, rows[i].minute));
        char text[VALIDATORS_DATE_SIZE];
        validators_date_format(d, text);
        if (strcmp(text, rows[i].london) != 0) {
            print_error("london row %zu: %s %02d:%02d UTC gave %s\n", i, rows[i].utc_date,
                        rows[i].hour, rows[i].minute, text);
            fail();
        }
    }
}

/* The zone table (common/uktime.c) agrees with localtime_r under TZ=Europe/London, hour by
 * hour, for 2020-2035, even when TZ is changed after the table was built. */
static void test_today_london_matches_tzdata(void **state)
{
    if (setenv("TZ", "Europe/London", 1) != 0)
        skip();
    tzset();
    struct tm probe;
    time_t summer = utc("2026-07-01", 12, 0);
    if (!localtime_r(&summer, &probe) || probe.tm_hour != 13)
        skip(); /* no tzdata for Europe/London here */
    for (time_t t = utc("2020-01-01", 0, 30); t < utc("2036-01-01", 0, 0); t += 3600) {
        struct tm tm;
        assert_non_null(localtime_r(&t, &tm));
        struct validators_date d = validators_date_today_london(t);
        if (d.year != tm.tm_year + 1900 || d.month != tm.tm_mon + 1 || d.day != tm.tm_mday) {
            print_error("at %ld tzdata says %04d-%02d-%02d\n", (long)t, tm.tm_year + 1900,
                        tm.tm_mon + 1, tm.tm_mday);
            fail();
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_postcode),
        cmocka_unit_test(test_postcode_borough),
        cmocka_unit_test(test_postcode_buffer),
        cmocka_unit_test(test_vrm),
        cmocka_unit_test(test_vrm_kind_and_paper),
        cmocka_unit_test(test_nhs_number),
        cmocka_unit_test(test_nino),
        cmocka_unit_test(test_uprn_ubrn),
        cmocka_unit_test(test_phone),
        cmocka_unit_test(test_money_parse),
        cmocka_unit_test(test_money_format),
        cmocka_unit_test(test_date_parse),
        cmocka_unit_test(test_date_arithmetic),
        cmocka_unit_test(test_date_compare_weekday_words),
        cmocka_unit_test(test_today_london),
        cmocka_unit_test(test_today_london_matches_tzdata),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
