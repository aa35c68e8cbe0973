/* Unit tests of sim/gazetteer.c: postcode normalisation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sim/gazetteer.h"

static void test_postcode_normalisation(void **state)
{
    static const struct {
        const char *in;
        const char *want;
    } cases[] = {{"sk13xe", "SK1 3XE"},
                 {" SK1  3XE ", "SK1 3XE"},
                 {"m11aa", "M1 1AA"},
                 {"SK139ZZ", "SK13 9ZZ"},
                 {"gir0aa", "GIR 0AA"}};
    char out[GAZETTEER_POSTCODE_MAX + 2];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_true(gazetteer_normalise_postcode(cases[i].in, out, sizeof out));
        assert_string_equal(out, cases[i].want);
    }
    assert_false(gazetteer_normalise_postcode("SK1", out, sizeof out));
    assert_false(gazetteer_normalise_postcode("SK1 3XE SK1 3XE SK1 3XE", out, sizeof out));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_postcode_normalisation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
