/* The till's rules: the session's one-way state machine and which payments move money
 * through the drawer (store/till.h). */
#include "gateway/store/till.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

static void session_rule_table(void **state)
{
    (void)state;
    static const struct {
        enum till_state from, to;
        bool allowed;
    } cases[] = {
        {TILL_OPEN, TILL_COUNTED, true}, {TILL_COUNTED, TILL_CLOSED, true},
        {TILL_OPEN, TILL_CLOSED, false}, {TILL_COUNTED, TILL_OPEN, false},
        {TILL_CLOSED, TILL_OPEN, false}, {TILL_CLOSED, TILL_COUNTED, false},
        {TILL_OPEN, TILL_OPEN, false},   {TILL_CLOSED, TILL_CLOSED, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(till_state_can_move(cases[i].from, cases[i].to), cases[i].allowed);
    assert_string_equal(till_state_name(TILL_COUNTED), "counted");
    assert_string_equal(till_kind_name(TILL_PAID_OUT), "paid_out");
}

static void which_payments_move_money(void **state)
{
    (void)state;
    static const struct {
        const char *method;
        long pence;
        bool moves;
    } cases[] = {
        {"cash", 100, true},     {"card", 1, true},      {"cheque", 4150, true},
        {"cash", 0, false},      {"waived", 100, false}, {"none", 0, false},
        {"bitcoin", 100, false}, {NULL, 100, false},     {"card", -5, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(till_movement_counts(cases[i].method, cases[i].pence), cases[i].moves);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(session_rule_table),
        cmocka_unit_test(which_payments_move_money),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
