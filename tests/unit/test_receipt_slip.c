/* The NHS referral hand-off slip (printing/receipt_layout.c, issue 12): its own layout with
 * the UBRN in the reference style, the state and priority, how to book, the NHS number masked
 * but for its last 3 digits, and no fee lines or QR code; receipt_check refuses a hand-off
 * whose UBRN or digits are malformed, so nothing else can be printed in their place. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "printing/receipt_layout.h"
#include "test_receipt_helpers.h"

static const struct receipt_handoff handoff = {
    .ubrn = "000000070000",
    .state_label = "Not booked yet",
    .priority = "Routine",
    .nhs_last3 = "888",
};

static struct receipt slip(void)
{
    struct receipt r = th_sample();
    r.service_name = "NHS referral hand-off";
    r.reference = "NR-7K3M-9Q2X";
    r.n_lines = 0;
    r.lines = NULL;
    r.total_pence = 0;
    r.payment = RECEIPT_PAYMENT_NONE;
    r.next_steps = "Book on a library PC: open Manage your referral at www.nhs.uk/referrals.";
    r.handoff = &handoff;
    return r;
}

/* The blocks' text joined with '|' (rows as "left=right"). */
static void layout_text(const struct receipt_layout *l, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < l->n; i++) {
        const struct layout_block *b = &l->blocks[i];
        int n = snprintf(out + used, size - used, "%s%s%s|", b->text, b->right ? "=" : "",
                         b->right ? b->right : "");
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
}

static void test_the_slip_has_its_own_layout(void **state)
{
    (void)state;
    struct receipt r = slip();
    struct receipt_layout *l = calloc(1, sizeof *l);
    char why[128], *text = malloc(TH_OUTPUT_MAX);
    assert_true(receipt_layout_build(&r, l, why, sizeof why));
    layout_text(l, text, TH_OUTPUT_MAX);
    assert_non_null(strstr(text, "|0000 0007 0000|"));
    assert_non_null(strstr(text, "Referral=Not booked yet|"));
    assert_non_null(strstr(text, "Priority=Routine|"));
    assert_non_null(strstr(text, "NHS number=*** *** *888|"));
    assert_non_null(strstr(text, "Manage your referral"));
    assert_non_null(strstr(text, "Counter=SD-01|"));
    assert_null(strstr(text, "Total"));
    bool large_ubrn = false;
    for (size_t i = 0; i < l->n; i++) {
        assert_int_not_equal(l->blocks[i].kind, LAYOUT_QR);
        if (l->blocks[i].style == LAYOUT_REFERENCE)
            large_ubrn = strcmp(l->blocks[i].text, "0000 0007 0000") == 0;
    }
    assert_true(large_ubrn);
    free(text);
    free(l);
}

static void test_a_malformed_handoff_is_refused(void **state)
{
    (void)state;
    char why[128];
    struct receipt r = slip();
    struct receipt_handoff bad = handoff;
    r.handoff = &bad;
    bad.ubrn = "00000007000";
    assert_false(receipt_check(&r, why, sizeof why));
    assert_non_null(strstr(why, "UBRN"));
    bad.ubrn = handoff.ubrn;
    bad.nhs_last3 = "9912003888"; /* a whole NHS number never fits */
    assert_false(receipt_check(&r, why, sizeof why));
    bad.nhs_last3 = NULL;
    assert_false(receipt_check(&r, why, sizeof why));
    bad.nhs_last3 = "888";
    assert_true(receipt_check(&r, why, sizeof why));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_slip_has_its_own_layout),
        cmocka_unit_test(test_a_malformed_handoff_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
