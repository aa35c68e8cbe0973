/* Unit tests for the PDF renderer: the real PDF is rasterised with pdftoppm, its QR code
 * read back with zbarimg, its text extracted with pdftotext, its page size read with
 * pdfinfo, and word positions (pdftotext -bbox) prove that long lines wrap inside the
 * page. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "printing/receipt.h"
#include "printing/receipt_pdf.h"
#include "test_receipt_helpers.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct fixture {
    char dir[TH_PATH_MAX];
    char pdf[TH_PATH_MAX + 32];
    char out[TH_OUTPUT_MAX];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (f == NULL || !th_tmpdir(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->pdf, sizeof f->pdf, "%s/receipt.pdf", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    th_rm_rf(f->dir);
    free(f);
    return 0;
}

/* Renders r to f->pdf. */
static void render_to_file(struct fixture *f, const struct receipt *r, enum receipt_paper paper)
{
    unsigned char *pdf = NULL;
    size_t len = 0;
    assert_true(receipt_render_pdf(r, paper, &pdf, &len));
    assert_non_null(pdf);
    assert_true(len > 1000);
    assert_memory_equal(pdf, "%PDF-", 5);
    assert_true(th_write_file(f->pdf, pdf, len));
    free(pdf);
}

/* Page width and height from pdfinfo ("Page size:      226.772 x 474.013 pts"). */
static void page_size(struct fixture *f, double *w, double *h, int *pages)
{
    char cmd[TH_PATH_MAX * 2];
    snprintf(cmd, sizeof cmd, "pdfinfo '%s'", f->pdf);
    assert_int_equal(th_run(cmd, f->out, sizeof f->out), 0);
    const char *p = strstr(f->out, "Page size:");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "Page size: %lf x %lf", w, h), 2);
    p = strstr(f->out, "Pages:");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "Pages: %d", pages), 1);
}

static void decode_qr(struct fixture *f, char *text, size_t len)
{
    char cmd[TH_PATH_MAX * 3];
    snprintf(cmd, sizeof cmd, "pdftoppm -r 150 -gray -png -singlefile '%s' '%s/page'", f->pdf,
             f->dir);
    assert_int_equal(th_run(cmd, NULL, 0), 0);
    char png[TH_PATH_MAX + 16];
    snprintf(png, sizeof png, "%s/page.png", f->dir);
    assert_int_equal(th_zbar(png, text, len), 0);
}

/* Runs "tool 'f->pdf' tail", its output into f->out. */
static void run_on_pdf(struct fixture *f, const char *tool, const char *tail)
{
    char cmd[TH_PATH_MAX * 2];
    snprintf(cmd, sizeof cmd, "%s '%s' %s", tool, f->pdf, tail);
    assert_int_equal(th_run(cmd, f->out, sizeof f->out), 0);
}

static void pdf_text(struct fixture *f)
{
    run_on_pdf(f, "pdftotext -layout", "-");
}

/* The PDF's objects as qpdf --json shows them. */
static void pdf_objects(struct fixture *f)
{
    run_on_pdf(f, "qpdf --json=2 --json-key=qpdf", "");
}

static void test_roll_qr_decodes_to_url(void **state)
{
    struct fixture *f = *state;
    struct receipt r = th_sample();
    render_to_file(f, &r, RECEIPT_PAPER_ROLL_80MM);
    double w, h;
    int pages;
    page_size(f, &w, &h, &pages);
    assert_true(w > 226.7 && w < 226.8);
    assert_true(h > 300 && h < 842);
    assert_int_equal(pages, 1);
    char text[1024];
    decode_qr(f, text, sizeof text);
    assert_string_equal(text, TH_URL);
}

static void test_a4_qr_decodes_to_url(void **state)
{
    struct fixture *f = *state;
    struct receipt r = th_sample();
    /* A longer URL needs a larger QR version. */
    r.status_url = "https://onestop.stockport.gov.uk/r/BR-4M8X2K9Q?t=AbCdEfGhIjKlMnOpQrStUvWxYz"
                   "0123456789-_AbCdEfGhIjKlMnOp";
    render_to_file(f, &r, RECEIPT_PAPER_A4);
    double w, h;
    int pages;
    page_size(f, &w, &h, &pages);
    assert_true(w > 595 && w < 596);
    assert_true(h > 841 && h < 842);
    char text[1024];
    decode_qr(f, text, sizeof text);
    assert_string_equal(text, r.status_url);
}

static void test_text_and_pound_sign(void **state)
{
    struct fixture *f = *state;
    struct receipt r = th_sample();
    render_to_file(f, &r, RECEIPT_PAPER_ROLL_80MM);
    pdf_text(f);
    assert_non_null(strstr(f->out, "RP-7K3M9Q2X"));
    assert_non_null(strstr(f->out, "\xc2\xa3"
                                   "41.50"));
    assert_non_null(strstr(f->out, "\xc2\xa3"
                                   "44.50"));
    assert_non_null(strstr(f->out, "\xc2\xa3"
                                   "5.50"));
    assert_non_null(strstr(f->out, "24 Jul 2026 13:25"));
    assert_non_null(strstr(f->out, "SD-01"));
    assert_non_null(strstr(f->out, "What happens next"));
    assert_null(strstr(f->out, "COPY RECEIPT"));
    r.copy = true;
    render_to_file(f, &r, RECEIPT_PAPER_ROLL_80MM);
    pdf_text(f);
    assert_non_null(strstr(f->out, "COPY RECEIPT"));
}

/* Every word's right edge (pdftotext -bbox: xMax) stays inside the page margins, even
 * for a description with a 90-character word and a long paragraph. */
static void test_long_lines_wrap_inside_page(void **state)
{
    struct fixture *f = *state;
    struct receipt r = th_sample();
    static const struct receipt_line lines[] = {
        {"Bulky collection: sofa, two armchairs, a fridge freezer, a washing machine and a "
         "wardrobe that will need two people to lift it down the stairs",
         8000},
        {"Averyveryverylongwordwithoutanyspacesatallthatcannotbebrokenbywordsandmustbebrokenby"
         "characters",
         100},
    };
    r.lines = lines;
    r.n_lines = 2;
    r.total_pence = 8100;
    r.next_steps = "Put the items outside your property by 7am on the day of collection. If you "
                   "need to cancel, contact us by 2pm on the working day before and we will "
                   "refund the fee in full. Items that are not on this receipt will not be "
                   "collected, and nothing can be collected from inside your home.";
    render_to_file(f, &r, RECEIPT_PAPER_ROLL_80MM);
    char cmd[TH_PATH_MAX * 2];
    snprintf(cmd, sizeof cmd, "pdftotext -bbox '%s' -", f->pdf);
    assert_int_equal(th_run(cmd, f->out, sizeof f->out), 0);
    int words = 0;
    double max_x = 0;
    for (const char *p = strstr(f->out, "<word "); p != NULL; p = strstr(p + 1, "<word ")) {
        double x_min, y_min, x_max, y_max;
        assert_int_equal(sscanf(p, "<word xMin=\"%lf\" yMin=\"%lf\" xMax=\"%lf\" yMax=\"%lf\"",
                                &x_min, &y_min, &x_max, &y_max),
                         4);
        assert_true(x_min >= 11.0);
        if (x_max > max_x) {
            max_x = x_max;
        }
        words++;
    }
    assert_true(words > 60);
    /* 80 mm page, 4 mm margins: content ends at 215.4 pt (allow rounding). */
    assert_true(max_x <= 216.0);
    /* The long word is broken, not lost: its pieces run together in the text. */
    pdf_text(f);
    assert_non_null(strstr(f->out, "Averyveryverylongword"));
    assert_non_null(strstr(f->out, "characters"));
}

/* The reference is printed as large as fits on one line, and always whole: scaled down to
 * the content width, hinting can leave it a fraction wider than that, and the renderer then
 * broke its last letter onto a line of its own ("RP-GWAW-VHR" / "S" on a large-print Urdu
 * receipt). The widest letters, in every size and language direction, stay one word. */
static void test_reference_is_never_broken(void **state)
{
    struct fixture *f = *state;
    static const char *const refs[] = {"RP-GWAW-VHRS", "RP-WWWW-WWWW", "RP-MWMW-WMWM",
                                       "RP-7K3M9Q2X"};
    static const enum receipt_size sizes[] = {RECEIPT_SIZE_STANDARD, RECEIPT_SIZE_LARGE};
    static const enum receipt_paper papers[] = {RECEIPT_PAPER_ROLL_80MM, RECEIPT_PAPER_A4};
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
        for (size_t s = 0; s < 2; s++) {
            for (size_t p = 0; p < 2; p++) {
                struct receipt r = th_sample();
                r.reference = refs[i];
                r.size = sizes[s];
                render_to_file(f, &r, papers[p]);
                char cmd[TH_PATH_MAX * 2];
                snprintf(cmd, sizeof cmd, "pdftotext -bbox '%s' -", f->pdf);
                assert_int_equal(th_run(cmd, f->out, sizeof f->out), 0);
                char word[64];
                snprintf(word, sizeof word, ">%s</word>", refs[i]);
                if (strstr(f->out, word) == NULL) {
                    fail_msg("reference %s broken (size %zu, paper %zu)", refs[i], s, p);
                }
            }
        }
    }
}

static void test_page_length_fits_content(void **state)
{
    struct fixture *f = *state;
    struct receipt r = th_sample();
    double w, h_short, h_long;
    int pages;
    struct receipt_line many[12];
    for (size_t i = 0; i < 12; i++) {
        many[i] = (struct receipt_line){"Visitor scratch card", 100};
    }
    r.lines = many;
    r.n_lines = 2;
    render_to_file(f, &r, RECEIPT_PAPER_ROLL_80MM);
    page_size(f, &w, &h_short, &pages);
    r.n_lines = 12;
    render_to_file(f, &r, RECEIPT_PAPER_ROLL_80MM);
    page_size(f, &w, &h_long, &pages);
    /* Ten more lines of 8.5 pt type at 1.28 line spacing: about 109 pt longer. */
    assert_true(h_long - h_short > 100 && h_long - h_short < 120);
    assert_int_equal(pages, 1);
}

/* A long receipt on A4 continues on a second page; nothing is cut off the bottom. */
static void test_a4_long_receipt_breaks_pages(void **state)
{
    struct fixture *f = *state;
    struct receipt r = th_sample();
    struct receipt_line many[RECEIPT_MAX_LINES];
    for (size_t i = 0; i < RECEIPT_MAX_LINES; i++) {
        many[i] = (struct receipt_line){"Bulky item: a three-seater sofa with a fold-out bed frame "
                                        "and two matching cushions, to be left by the front gate",
                                        1000};
    }
    r.lines = many;
    r.n_lines = RECEIPT_MAX_LINES;
    r.total_pence = 1000 * RECEIPT_MAX_LINES;
    render_to_file(f, &r, RECEIPT_PAPER_A4);
    double w, h;
    int pages;
    page_size(f, &w, &h, &pages);
    assert_int_equal(pages, 2);
    /* Words stay between the top and bottom margins (20 mm = 56.7 pt) on both pages. */
    char cmd[TH_PATH_MAX * 2];
    snprintf(cmd, sizeof cmd, "pdftotext -bbox '%s' -", f->pdf);
    assert_int_equal(th_run(cmd, f->out, sizeof f->out), 0);
    for (const char *p = strstr(f->out, "<word "); p != NULL; p = strstr(p + 1, "<word ")) {
        double x_min, y_min, x_max, y_max;
        assert_int_equal(sscanf(p, "<word xMin=\"%lf\" yMin=\"%lf\" xMax=\"%lf\" yMax=\"%lf\"",
                                &x_min, &y_min, &x_max, &y_max),
                         4);
        assert_true(y_min >= 50 && y_max <= RECEIPT_A4_HEIGHT_PT - 50);
    }
    /* The QR code is on the second page and still reads. */
    char page_cmd[TH_PATH_MAX * 4];
    snprintf(page_cmd, sizeof page_cmd,
             "pdftoppm -r 150 -gray -png -f 2 -l 2 -singlefile '%s' '%s/page'", f->pdf, f->dir);
    assert_int_equal(th_run(page_cmd, NULL, 0), 0);
    char png[TH_PATH_MAX + 16], text[1024];
    snprintf(png, sizeof png, "%s/page.png", f->dir);
    assert_int_equal(th_zbar(png, text, sizeof text), 0);
    assert_string_equal(text, TH_URL);
}

static void test_untrusted_text_still_renders(void **state)
{
    struct fixture *f = *state;
    struct receipt r = th_sample();
    r.service_name = "Bad\xff\xfe text \x1b@ with controls";
    r.status_url = NULL;
    render_to_file(f, &r, RECEIPT_PAPER_ROLL_80MM);
    pdf_text(f);
    assert_non_null(strstr(f->out, "Bad?? text ?@ with controls"));
    /* No URL: no QR code on the page. */
    char cmd[TH_PATH_MAX * 3];
    snprintf(cmd, sizeof cmd, "pdftoppm -r 150 -gray -png -singlefile '%s' '%s/page'", f->pdf,
             f->dir);
    assert_int_equal(th_run(cmd, NULL, 0), 0);
    char png[TH_PATH_MAX + 16], text[256];
    snprintf(png, sizeof png, "%s/page.png", f->dir);
    assert_int_equal(th_zbar(png, text, sizeof text), 4);
}

#define THREADS            4
#define RENDERS_PER_THREAD 25

struct worker {
    pthread_t thread;
    int ok;
    size_t min_len, max_len;
};

static void *render_many(void *arg)
{
    struct worker *w = arg;
    struct receipt r = th_sample();
    w->min_len = SIZE_MAX;
    for (int i = 0; i < RENDERS_PER_THREAD; i++) {
        unsigned char *pdf = NULL;
        size_t len = 0;
        enum receipt_paper paper = i % 2 ? RECEIPT_PAPER_A4 : RECEIPT_PAPER_ROLL_80MM;
        if (receipt_render_pdf(&r, paper, &pdf, &len) && paper == RECEIPT_PAPER_ROLL_80MM) {
            w->ok++;
            w->min_len = len < w->min_len ? len : w->min_len;
            w->max_len = len > w->max_len ? len : w->max_len;
        }
        free(pdf);
    }
    return NULL;
}

/* Printer worker threads render at the same time: the shared font faces and cairo's
 * caches must cope (run under ASan/UBSan too). */
static void test_renders_on_many_threads(void **state)
{
    struct fixture *f = *state;
    struct worker w[THREADS];
    memset(w, 0, sizeof w);
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_create(&w[i].thread, NULL, render_many, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(w[i].thread, NULL), 0);
        assert_int_equal(w[i].ok, (RENDERS_PER_THREAD + 1) / 2);
        /* Same receipt, same bytes give or take the creation date. */
        assert_true(w[i].max_len - w[i].min_len < 64);
    }
    struct receipt r = th_sample();
    render_to_file(f, &r, RECEIPT_PAPER_ROLL_80MM);
    char text[1024];
    decode_qr(f, text, sizeof text);
    assert_string_equal(text, TH_URL);
}

/* Renders r and finds, with qpdf --json, /Lang lang on the catalog and /Alt alt on the QR
 * code's Figure (no /Alt at all when alt is NULL), in a PDF that is still tagged. */
static void check_language_and_alt(struct fixture *f, const struct receipt *r,
                                   enum receipt_paper paper, const char *lang, const char *alt)
{
    render_to_file(f, r, paper);
    pdf_objects(f);
    char want[512];
    snprintf(want, sizeof want, "\"/Lang\": \"u:%s\"", lang);
    assert_non_null(strstr(f->out, want));
    snprintf(want, sizeof want, "\"/Alt\": \"u:%s\"", alt ? alt : "");
    assert_true(alt ? strstr(f->out, want) != NULL : strstr(f->out, "\"/Alt\"") == NULL);
    assert_non_null(strstr(f->out, "\"/MarkInfo\""));
}

/* cairo 1.16 writes no /Lang and no /Alt: receipt_pdf_tags adds both, in the receipt's
 * language. */
static void test_language_and_qr_alt(void **state)
{
    struct receipt r = th_sample();
    check_language_and_alt(*state, &r, RECEIPT_PAPER_ROLL_80MM, "en-GB",
                           "QR code linking to the status page of reference RP-7K3M9Q2X");
    struct receipt_labels polish = *receipt_labels_english();
    polish.language = "pl";
    polish.qr_alt = "Kod QR sprawy {reference}";
    r.labels = &polish;
    check_language_and_alt(*state, &r, RECEIPT_PAPER_A4, "pl", "Kod QR sprawy RP-7K3M9Q2X");
    polish.qr_alt = NULL; /* a language without the text: the English one */
    check_language_and_alt(*state, &r, RECEIPT_PAPER_ROLL_80MM, "pl",
                           "QR code linking to the status page of reference RP-7K3M9Q2X");
    r.status_url = NULL; /* no QR code: no figure to describe */
    check_language_and_alt(*state, &r, RECEIPT_PAPER_ROLL_80MM, "pl", NULL);
}

static void test_rejects_bad_receipt(void **state)
{
    (void)state;
    struct receipt r = th_sample();
    r.reference = NULL;
    unsigned char *out = (unsigned char *)"x";
    size_t len = 99;
    assert_false(receipt_render_pdf(&r, RECEIPT_PAPER_ROLL_80MM, &out, &len));
    assert_null(out);
    assert_int_equal(len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roll_qr_decodes_to_url, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a4_qr_decodes_to_url, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_and_pound_sign, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_lines_wrap_inside_page, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reference_is_never_broken, setup, teardown),
        cmocka_unit_test_setup_teardown(test_page_length_fits_content, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a4_long_receipt_breaks_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_untrusted_text_still_renders, setup, teardown),
        cmocka_unit_test_setup_teardown(test_renders_on_many_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_language_and_qr_alt, setup, teardown),
        cmocka_unit_test(test_rejects_bad_receipt),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    receipt_pdf_shutdown();
    return failed;
}
