/* Unit tests for the receipt model: money formatting, UK civil time, checks and the
 * shared layout (content, order, cleaning of untrusted text). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "printing/receipt.h"
#include "printing/receipt_layout.h"
#include "common/uktime.h"
#include "test_receipt_helpers.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static void test_money_format(void **state)
{
    (void)state;
    static const struct {
        int64_t pence;
        const char *text;
    } cases[] = {
        {0, "\xc2\xa3"
            "0.00"},
        {5, "\xc2\xa3"
            "0.05"},
        {4150, "\xc2\xa3"
               "41.50"},
        {2075, "\xc2\xa3"
               "20.75"},
        {100000, "\xc2\xa3"
                 "1000.00"},
        {-105, "-\xc2\xa3"
               "1.05"},
        {-1, "-\xc2\xa3"
             "0.01"},
        {INT64_MAX, "\xc2\xa3"
                    "92233720368547758.07"},
        {INT64_MIN, "-\xc2\xa3"
                    "92233720368547758.08"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[RECEIPT_MONEY_MAX];
        assert_true(receipt_format_money(cases[i].pence, buf, sizeof buf));
        assert_string_equal(buf, cases[i].text);
    }
    char small[6];
    assert_false(receipt_format_money(4150, small, sizeof small));
    assert_string_equal(small, "");
}

/* Seconds since the epoch of a UTC date and time, without timegm (not POSIX). */
static time_t utc(int y, int mo, int d, int h, int mi, int s)
{
    /* days_from_civil, as in common/uktime.c but written again here so the test does not
     * simply trust it. */
    int64_t yy = y - (mo <= 2);
    int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
    int64_t yoe = yy - era * 400;
    int64_t doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = era * 146097 + doe - 719468;
    return (time_t)(days * 86400 + h * 3600 + mi * 60 + s);
}

static void test_uktime_transitions(void **state)
{
    (void)state;
    static const struct {
        int y, mo, d, h, mi, s;
        int offset;
    } cases[] = {
        /* 2026: BST from 29 March 01:00 UTC to 25 October 01:00 UTC. */
        {2026, 3, 29, 0, 59, 59, 0},
        {2026, 3, 29, 1, 0, 0, 3600},
        {2026, 10, 25, 0, 59, 59, 3600},
        {2026, 10, 25, 1, 0, 0, 0},
        /* 2024: last Sunday of March is the 31st; of October the 27th. */
        {2024, 3, 31, 0, 59, 59, 0},
        {2024, 3, 31, 1, 0, 0, 3600},
        {2024, 10, 27, 0, 59, 59, 3600},
        {2024, 10, 27, 1, 0, 0, 0},
        /* 2027: 28 March and 31 October (a month ending on a Sunday). */
        {2027, 3, 28, 1, 0, 0, 3600},
        {2027, 10, 31, 0, 59, 59, 3600},
        {2027, 10, 31, 1, 0, 0, 0},
        {2026, 1, 12, 14, 5, 0, 0},
        {2026, 7, 24, 12, 25, 0, 3600},
        {2026, 12, 31, 23, 59, 59, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        time_t t = utc(cases[i].y, cases[i].mo, cases[i].d, cases[i].h, cases[i].mi, cases[i].s);
        assert_int_equal(uktime_offset(t), cases[i].offset);
    }
    char buf[UKTIME_TEXT_MAX];
    assert_true(uktime_format(utc(2026, 7, 24, 12, 25, 0), buf, sizeof buf));
    assert_string_equal(buf, "24 Jul 2026 13:25");
    assert_true(uktime_format(utc(2026, 1, 12, 14, 5, 0), buf, sizeof buf));
    assert_string_equal(buf, "12 Jan 2026 14:05");
    /* New Year's Eve 23:30 UTC is still 31 Dec in London; a BST evening crosses midnight. */
    assert_true(uktime_format(utc(2026, 12, 31, 23, 30, 0), buf, sizeof buf));
    assert_string_equal(buf, "31 Dec 2026 23:30");
    assert_true(uktime_format(utc(2026, 6, 30, 23, 30, 0), buf, sizeof buf));
    assert_string_equal(buf, "1 Jul 2026 00:30");
    char tiny[8];
    assert_false(uktime_format(utc(2026, 6, 30, 23, 30, 0), tiny, sizeof tiny));
}

/* Cross-check against the system's tz database, if it has Europe/London: every hour
 * from 2000 to 2040. (Single-threaded test, so setting TZ here is fine.) */
static void test_uktime_matches_tzdata(void **state)
{
    (void)state;
    if (access("/usr/share/zoneinfo/Europe/London", R_OK) != 0) {
        skip();
    }
    setenv("TZ", "Europe/London", 1);
    tzset();
    for (time_t t = utc(2000, 1, 1, 0, 0, 0); t < utc(2040, 1, 1, 0, 0, 0); t += 3600) {
        struct tm want, got;
        assert_non_null(localtime_r(&t, &want));
        assert_true(uktime_local(t, &got));
        if (want.tm_hour != got.tm_hour || want.tm_mday != got.tm_mday) {
            fail_msg("t=%lld: tzdata %02d:00 day %d, uktime %02d:00 day %d", (long long)t,
                     want.tm_hour, want.tm_mday, got.tm_hour, got.tm_mday);
        }
        assert_int_equal(want.tm_isdst > 0, got.tm_isdst > 0);
    }
    unsetenv("TZ");
    tzset();
}

static void test_receipt_check(void **state)
{
    (void)state;
    char why[200];
    struct receipt r = th_sample();
    assert_true(receipt_check(&r, why, sizeof why));

    r.reference = "";
    assert_false(receipt_check(&r, why, sizeof why));
    assert_non_null(strstr(why, "reference"));

    r = th_sample();
    r.n_lines = RECEIPT_MAX_LINES + 1;
    assert_false(receipt_check(&r, why, sizeof why));

    char *long_text = malloc(RECEIPT_FIELD_MAX + 2);
    assert_non_null(long_text);
    memset(long_text, 'x', RECEIPT_FIELD_MAX + 1);
    long_text[RECEIPT_FIELD_MAX + 1] = '\0';
    r = th_sample();
    r.service_name = long_text;
    assert_false(receipt_check(&r, why, sizeof why));
    assert_non_null(strstr(why, "service_name"));
    long_text[RECEIPT_FIELD_MAX] = '\0'; /* exactly the limit is fine */
    assert_true(receipt_check(&r, why, sizeof why));
    free(long_text);

    r = th_sample();
    struct receipt_line bad[] = {{NULL, 100}};
    r.lines = bad;
    r.n_lines = 1;
    assert_false(receipt_check(&r, why, sizeof why));

    r = th_sample();
    r.payment = (enum receipt_payment)42;
    assert_false(receipt_check(&r, why, sizeof why));
}

static int find_block(const struct receipt_layout *l, enum layout_kind kind, const char *text)
{
    for (size_t i = 0; i < l->n; i++) {
        if (l->blocks[i].kind == kind && (text == NULL || strcmp(l->blocks[i].text, text) == 0)) {
            return (int)i;
        }
    }
    return -1;
}

static void test_layout_content_and_order(void **state)
{
    (void)state;
    struct receipt_layout *l = malloc(sizeof *l);
    assert_non_null(l);
    struct receipt r = th_sample();
    assert_true(receipt_layout_build(&r, l, NULL, 0));

    int council = find_block(l, LAYOUT_TEXT, "Stockport Council");
    int ref = find_block(l, LAYOUT_TEXT, "RP-7K3M9Q2X");
    int total = find_block(l, LAYOUT_ROW, "Total");
    int tendered = find_block(l, LAYOUT_ROW, "Tendered");
    int change = find_block(l, LAYOUT_ROW, "Change");
    int qr = find_block(l, LAYOUT_QR, TH_URL);
    int when = find_block(l, LAYOUT_ROW, "Date");
    assert_true(council == 0);
    assert_true(ref > council && total > ref && tendered > total && change > tendered);
    assert_true(qr > change);
    assert_int_equal(l->blocks[ref].style, LAYOUT_REFERENCE);
    assert_string_equal(l->blocks[total].right, "\xc2\xa3"
                                                "44.50");
    assert_string_equal(l->blocks[change].right, "\xc2\xa3"
                                                 "5.50");
    assert_string_equal(l->blocks[when].right, "24 Jul 2026 13:25");
    /* The short URL under the QR code drops "https://". */
    assert_true(find_block(l, LAYOUT_TEXT,
                           "onestop.stockport.gov.uk/r/RP-7K3M9Q2X?t=Xy7_aB3dEf9GhJkLmN0pQr") ==
                qr + 1);
    /* next_steps is two paragraphs. */
    assert_true(find_block(l, LAYOUT_TEXT, "Display it on the windscreen.") > 0);

    /* Card: no tendered or change; no URL: no QR code; a copy is marked. */
    r.payment = RECEIPT_PAYMENT_CARD;
    r.status_url = NULL;
    r.copy = true;
    assert_true(receipt_layout_build(&r, l, NULL, 0));
    assert_int_equal(find_block(l, LAYOUT_ROW, "Tendered"), -1);
    assert_int_equal(find_block(l, LAYOUT_QR, NULL), -1);
    assert_true(find_block(l, LAYOUT_TEXT, "COPY RECEIPT") >= 0);
    int paid = find_block(l, LAYOUT_ROW, "Paid by");
    assert_true(paid >= 0);
    assert_string_equal(l->blocks[paid].right, "Card");
    free(l);
}

static void test_layout_cleans_text(void **state)
{
    (void)state;
    struct receipt_layout *l = malloc(sizeof *l);
    assert_non_null(l);
    struct receipt r = th_sample();
    /* An ESC/POS command, a tab, a line break, invalid UTF-8, an overlong '/', a C1
     * control, and valid multi-byte text that must survive. */
    r.service_name =
        "Bulky\x1b@ waste\tcollection\nnow \xff\xc0\xaf \xc2\x85 caf\xc3\xa9 \xe2\x82\xac";
    assert_true(receipt_layout_build(&r, l, NULL, 0));
    int i =
        find_block(l, LAYOUT_TEXT, "Bulky?@ waste collection now ??? ? caf\xc3\xa9 \xe2\x82\xac");
    if (i < 0) {
        for (size_t k = 0; k < l->n; k++) {
            print_message("block %zu: '%s'\n", k, l->blocks[k].text);
        }
    }
    assert_true(i >= 0);
    for (size_t k = 0; k < l->n; k++) {
        for (const unsigned char *p = (const unsigned char *)l->blocks[k].text; *p; p++) {
            assert_true(*p >= 0x20 || *p == '\0');
        }
    }
    free(l);
}

static void test_utf8_len(void **state)
{
    (void)state;
    assert_int_equal(layout_utf8_len("a"), 1);
    assert_int_equal(layout_utf8_len("\xc2\xa3"), 2);
    assert_int_equal(layout_utf8_len("\xe2\x82\xac"), 3);
    assert_int_equal(layout_utf8_len("\xf0\x9f\x98\x80"), 4);
    assert_int_equal(layout_utf8_len(""), 0);
    assert_int_equal(layout_utf8_len("\x80"), 0);
    assert_int_equal(layout_utf8_len("\xc0\xaf"), 0);         /* overlong */
    assert_int_equal(layout_utf8_len("\xe0\x80\xaf"), 0);     /* overlong */
    assert_int_equal(layout_utf8_len("\xed\xa0\x80"), 0);     /* surrogate */
    assert_int_equal(layout_utf8_len("\xf4\x90\x80\x80"), 0); /* > U+10FFFF */
    assert_int_equal(layout_utf8_len("\xc2"), 0);             /* truncated */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_money_format),
        cmocka_unit_test(test_uktime_transitions),
        cmocka_unit_test(test_uktime_matches_tzdata),
        cmocka_unit_test(test_receipt_check),
        cmocka_unit_test(test_layout_content_and_order),
        cmocka_unit_test(test_layout_cleans_text),
        cmocka_unit_test(test_utf8_len),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
