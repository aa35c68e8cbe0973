/* Unit tests for receipt texts (printing/receipt_text.c) and the receipts they make: the
 * shipped Polish and Urdu files load; a file missing a label, declaring another language
 * or listed twice is refused with the file and key named; an Urdu receipt renders through
 * pango as a tagged PDF, from several threads at once; ESC/POS prints large type double
 * size and refuses a language its code page cannot print. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "printing/receipt.h"
#include "printing/receipt_escpos.h"
#include "printing/receipt_pdf.h"
#include "printing/receipt_text.h"
#include "test_receipt_helpers.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_DIR    "config/receipt-text"
#define THREADS     4
#define RENDERS     5
#define GS_DOUBLE   0x11
#define LARGE_WIDTH (ESCPOS_COLUMNS / 2)

static const char *const SHIPPED[] = {"pl", "ur", NULL};

static struct receipt_texts *load_shipped(void)
{
    char why[512] = "";
    struct receipt_texts *t = receipt_texts_load(TEXT_DIR, SHIPPED, why, sizeof why);
    if (t == NULL) {
        fail_msg("%s", why);
    }
    return t;
}

static void test_shipped_languages_load(void **state)
{
    (void)state;
    struct receipt_texts *t = load_shipped();
    const struct receipt_labels *ur = receipt_texts_labels(t, "ur");
    const struct receipt_labels *pl = receipt_texts_labels(t, "pl");
    assert_non_null(ur);
    assert_non_null(pl);
    assert_true(ur->rtl);
    assert_false(pl->rtl);
    assert_string_equal(pl->what_next, "Co dalej");
    assert_non_null(strstr(pl->qr_alt, "{reference}"));
    assert_non_null(strstr(ur->qr_alt, "{reference}"));
    assert_ptr_equal(receipt_texts_labels(t, "en"), receipt_labels_english());
    assert_null(receipt_texts_labels(t, "xx"));
    assert_null(receipt_texts_labels(t, NULL));
    /* the service's own text, the generic one for another service, none for English */
    assert_non_null(strstr(receipt_texts_next_steps(t, "pl", "residents-parking-permit"),
                           "zespołu ds. parkowania"));
    assert_non_null(strstr(receipt_texts_next_steps(t, "pl", "no-such-service"), "Przekazaliśmy"));
    assert_null(receipt_texts_next_steps(t, "en", "residents-parking-permit"));
    assert_string_equal(receipt_texts_service_name(t, "ur", "bulky-refuse"), "بڑے کچرے کی وصولی");
    assert_null(receipt_texts_service_name(t, "ur", "no-such-service"));
    assert_null(receipt_texts_service_name(t, "en", "bulky-refuse"));
    char list[64];
    receipt_texts_list(t, list, sizeof list);
    assert_string_equal(list, "en, pl, ur");
    const char *code, *name, *english;
    bool rtl;
    assert_true(receipt_texts_at(t, 2, &code, &name, &english, &rtl));
    assert_string_equal(code, "ur");
    assert_string_equal(english, "Urdu");
    assert_true(rtl);
    assert_false(receipt_texts_at(t, 3, &code, &name, &english, &rtl));
    receipt_texts_free(t);
}

static void test_fill_site(void **state)
{
    (void)state;
    char out[64];
    assert_true(receipt_text_fill_site("Thank you for visiting {site}.", "Fred Perry House", out,
                                       sizeof out));
    assert_string_equal(out, "Thank you for visiting Fred Perry House.");
    assert_true(receipt_text_fill_site("No place here.", "X", out, sizeof out));
    assert_string_equal(out, "No place here.");
    assert_false(receipt_text_fill_site("{site}", "a site name far too long for eight", out, 8));
}

/* Writes dir/<code>.json as pl.json with one edit applied (from -> to). */
static void write_variant(const char *dir, const char *code, const char *from, const char *to)
{
    char src[TH_PATH_MAX], out[TH_OUTPUT_MAX];
    snprintf(src, sizeof src, "%s/pl.json", TEXT_DIR);
    FILE *f = fopen(src, "rb");
    assert_non_null(f);
    size_t n = fread(out, 1, sizeof out - 1, f);
    fclose(f);
    out[n] = '\0';
    char *at = strstr(out, from);
    assert_non_null(at);
    char edited[TH_OUTPUT_MAX];
    snprintf(edited, sizeof edited, "%.*s%s%s", (int)(at - out), out, to, at + strlen(from));
    char path[TH_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/%s.json", dir, code);
    assert_true(th_write_file(path, edited, strlen(edited)));
}

static void expect_refused(const char *dir, const char *const *codes, const char *needle)
{
    char why[512] = "";
    struct receipt_texts *t = receipt_texts_load(dir, codes, why, sizeof why);
    assert_null(t);
    if (strstr(why, needle) == NULL) {
        fail_msg("\"%s\" does not say \"%s\"", why, needle);
    }
}

static void test_bad_files_are_refused_by_name(void **state)
{
    (void)state;
    char dir[TH_PATH_MAX];
    assert_true(th_tmpdir(dir));
    write_variant(dir, "pl", "\"total\": \"Razem\",", "");
    expect_refused(dir, (const char *const[]){"pl", NULL}, "labels.total is missing");
    write_variant(dir, "cy", "\"language\": \"pl\"", "\"language\": \"pl\"");
    expect_refused(dir, (const char *const[]){"cy", NULL}, "\"language\" must be \"cy\"");
    expect_refused(dir, (const char *const[]){"bn", NULL}, "bn.json");
    expect_refused(TEXT_DIR, (const char *const[]){"pl", "pl", NULL}, "listed twice");
    expect_refused(TEXT_DIR, (const char *const[]){"../etc", NULL}, "not a language code");
    th_rm_rf(dir);
}

static bool contains(const unsigned char *data, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++) {
        if (memcmp(data + i, needle, n) == 0) {
            return true;
        }
    }
    return false;
}

struct worker {
    const struct receipt *r;
    int tagged;
};

static void *render_urdu(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < RENDERS; i++) {
        unsigned char *pdf = NULL;
        size_t len = 0;
        enum receipt_paper paper = i % 2 ? RECEIPT_PAPER_A4 : RECEIPT_PAPER_ROLL_80MM;
        if (receipt_render_pdf(w->r, paper, &pdf, &len) &&
            contains(pdf, len, "/MarkInfo << /Marked true >>") &&
            contains(pdf, len, "NotoNaskhArabic")) {
            w->tagged++;
        }
        free(pdf);
    }
    return NULL;
}

static void test_urdu_large_renders_tagged_on_many_threads(void **state)
{
    (void)state;
    struct receipt_texts *t = load_shipped();
    struct receipt r = th_sample();
    r.labels = receipt_texts_labels(t, "ur");
    r.next_steps = receipt_texts_next_steps(t, "ur", "residents-parking-permit");
    r.size = RECEIPT_SIZE_LARGE;
    r.copy = true;
    pthread_t threads[THREADS];
    struct worker workers[THREADS];
    for (int i = 0; i < THREADS; i++) {
        workers[i] = (struct worker){&r, 0};
        assert_int_equal(pthread_create(&threads[i], NULL, render_urdu, &workers[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(workers[i].tagged, RENDERS);
    }
    receipt_texts_free(t);
}

static void test_escpos_large_is_double_size_and_refuses_urdu(void **state)
{
    (void)state;
    struct receipt_texts *t = load_shipped();
    struct receipt r = th_sample();
    unsigned char *out = NULL;
    size_t len = 0;
    r.labels = receipt_texts_labels(t, "ur");
    assert_false(receipt_render_escpos(&r, &out, &len));
    assert_null(out);
    assert_false(receipt_escpos_supports("pl"));
    assert_true(receipt_escpos_supports("en"));

    r.labels = NULL;
    r.size = RECEIPT_SIZE_LARGE;
    assert_true(receipt_render_escpos(&r, &out, &len));
    struct th_escpos *e = calloc(1, sizeof *e);
    assert_non_null(e);
    assert_true(th_escpos_parse(out, len, e));
    int text_lines = 0;
    for (int i = 0; i < e->n_lines; i++) {
        if (e->lines[i][0] == '\0') {
            continue;
        }
        text_lines++;
        assert_int_equal(e->line_size[i], GS_DOUBLE);
        assert_true(strlen(e->lines[i]) <= LARGE_WIDTH);
    }
    assert_true(text_lines > 10);
    assert_true(th_escpos_find(e, "RP-7K3M9Q2X") >= 0);
    free(e->image);
    free(e);
    free(out);
    receipt_texts_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_languages_load),
        cmocka_unit_test(test_fill_site),
        cmocka_unit_test(test_bad_files_are_refused_by_name),
        cmocka_unit_test(test_urdu_large_renders_tagged_on_many_threads),
        cmocka_unit_test(test_escpos_large_is_double_size_and_refuses_urdu),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    receipt_pdf_shutdown();
    return failed;
}
