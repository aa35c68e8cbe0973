/* Unit tests for the ESC/POS renderer: the byte stream is walked command by command
 * by a parser that knows only what the renderer may send (test_receipt_helpers.h); the
 * GS v 0 raster is written out as a PBM and its QR code read back with zbarimg. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "printing/receipt.h"
#include "printing/receipt_escpos.h"
#include "test_receipt_helpers.h"

#include <stdlib.h>
#include <string.h>

static void render(const struct receipt *r, struct th_escpos *e)
{
    unsigned char *out = NULL;
    size_t len = 0;
    assert_true(receipt_render_escpos(r, &out, &len));
    assert_non_null(out);
    bool ok = th_escpos_parse(out, len, e);
    if (!ok) {
        fail_msg("ESC/POS parse: %s", e->error);
    }
    free(out);
}

static void decode_image(const struct th_escpos *e, char *text, size_t len)
{
    char dir[TH_PATH_MAX], pbm[TH_PATH_MAX + 16];
    assert_true(th_tmpdir(dir));
    snprintf(pbm, sizeof pbm, "%s/qr.pbm", dir);
    assert_true(th_write_pbm(pbm, e->image, e->image_width_dots, e->image_height));
    int rc = th_zbar(pbm, text, len);
    th_rm_rf(dir);
    assert_int_equal(rc, 0);
}

static void test_stream_structure(void **state)
{
    (void)state;
    struct receipt r = th_sample();
    struct th_escpos *e = malloc(sizeof *e);
    assert_non_null(e);
    render(&r, e);
    assert_true(e->init_first);
    assert_int_equal(e->inits, 1);
    assert_int_equal(e->code_page, ESCPOS_PC858);
    assert_int_equal(e->cut_count, 1);
    assert_true(e->cut_last);
    assert_int_equal(e->cut_feed, ESCPOS_CUT_FEED);
    assert_int_equal(e->images, 1);
    /* Every line fits the roll: 42 columns, 21 in double width. */
    for (int i = 0; i < e->n_lines; i++) {
        size_t limit = (e->line_size[i] & 0x70) ? ESCPOS_COLUMNS / 2 : ESCPOS_COLUMNS;
        if (strlen(e->lines[i]) > limit) {
            fail_msg("line %d too long (%zu): '%s'", i, strlen(e->lines[i]), e->lines[i]);
        }
    }
    /* The reference is printed double size. */
    int ref = th_escpos_find(e, "RP-7K3M9Q2X");
    assert_true(ref >= 0);
    assert_int_equal(e->line_size[ref], 0x11);
    free(e->image);
    free(e);
}

static void test_pound_sign_and_right_aligned_amounts(void **state)
{
    (void)state;
    struct receipt r = th_sample();
    struct th_escpos *e = malloc(sizeof *e);
    assert_non_null(e);
    render(&r, e);
    int total = th_escpos_find(e, "Total");
    assert_true(total >= 0);
    const char *line = e->lines[total];
    assert_int_equal(strlen(line), ESCPOS_COLUMNS);
    /* "£44.50" with £ as PC858 0x9C, flush right. */
    assert_string_equal(line + ESCPOS_COLUMNS - 6, "\x9c"
                                                   "44.50");
    /* The wrapped description keeps its amount on the first line. */
    int permit = th_escpos_find(e, "Residents' parking permit, zone H");
    assert_true(permit >= 0);
    assert_string_equal(e->lines[permit] + ESCPOS_COLUMNS - 6, "\x9c"
                                                               "41.50");
    assert_non_null(strstr(e->lines[permit + 1], "December 2026"));
    int when = th_escpos_find(e, "Date");
    assert_true(when >= 0);
    assert_non_null(strstr(e->lines[when], "24 Jul 2026 13:25"));
    free(e->image);
    free(e);
}

static void test_qr_raster_decodes_to_url(void **state)
{
    (void)state;
    struct receipt r = th_sample();
    struct th_escpos *e = malloc(sizeof *e);
    assert_non_null(e);
    render(&r, e);
    assert_non_null(e->image);
    assert_true(e->image_width_dots <= ESCPOS_HEAD_DOTS);
    char text[1024];
    decode_image(e, text, sizeof text);
    assert_string_equal(text, TH_URL);
    free(e->image);

    /* A 400-character URL makes a big symbol: it is scaled down to fit the head. */
    char url[401];
    memcpy(url, "https://onestop.stockport.gov.uk/r/X?t=", 39);
    for (size_t i = 39; i < 400; i++) {
        url[i] = "AbCdEfGh0123456789"[i % 18];
    }
    url[400] = '\0';
    r.status_url = url;
    render(&r, e);
    assert_true(e->image_width_dots <= ESCPOS_HEAD_DOTS);
    decode_image(e, text, sizeof text);
    assert_string_equal(text, url);
    free(e->image);
    free(e);
}

static void test_text_cannot_inject_commands(void **state)
{
    (void)state;
    struct receipt r = th_sample();
    /* ESC @ would reset the printer, GS V would cut, ESC t would change code page. */
    r.service_name = "Evil\x1b@\x1dV\x42\x03\x1bt\x01 caf\xc3\xa9 \xe2\x82\xac";
    r.footer = "\x1d"
               "v0\x00\x10\x00\x10";
    struct th_escpos *e = malloc(sizeof *e);
    assert_non_null(e);
    render(&r, e);
    assert_int_equal(e->inits, 1);
    assert_int_equal(e->cut_count, 1);
    assert_int_equal(e->images, 1);
    assert_int_equal(e->code_page, ESCPOS_PC858);
    /* Non-ASCII other than £ prints as one '?' per character. */
    assert_true(th_escpos_find(e, "Evil?@?VB??t? caf? ?") >= 0);
    free(e->image);
    free(e);
}

static void test_no_url_no_image(void **state)
{
    (void)state;
    struct receipt r = th_sample();
    r.status_url = "";
    r.payment = RECEIPT_PAYMENT_WAIVED;
    struct th_escpos *e = malloc(sizeof *e);
    assert_non_null(e);
    render(&r, e);
    assert_int_equal(e->images, 0);
    assert_int_equal(th_escpos_find(e, "Tendered"), -1);
    assert_true(th_escpos_find(e, "Fee waived") >= 0);
    free(e);
}

static void test_rejects_bad_receipt(void **state)
{
    (void)state;
    struct receipt r = th_sample();
    r.reference = "";
    unsigned char *out = (unsigned char *)"x";
    size_t len = 5;
    assert_false(receipt_render_escpos(&r, &out, &len));
    assert_null(out);
    assert_int_equal(len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_structure),
        cmocka_unit_test(test_pound_sign_and_right_aligned_amounts),
        cmocka_unit_test(test_qr_raster_decodes_to_url),
        cmocka_unit_test(test_text_cannot_inject_commands),
        cmocka_unit_test(test_no_url_no_image),
        cmocka_unit_test(test_rejects_bad_receipt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
