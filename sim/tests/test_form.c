/* Unit tests of sim/form.c: form decoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sim/form.h"

static json_t *parse_ok(const char *body)
{
    json_t *out = NULL;
    const char *error = NULL;
    if (!form_parse(body, strlen(body), &out, &error))
        fail_msg("parse of \"%s\" failed: %s", body, error);
    return out;
}

static void test_decodes_plus_and_percent(void **state)
{
    json_t *f = parse_ok("api_key=open+key&attribute%5Bslot%5D=2026-11-27&x=a%26b%3Dc&empty=&bare");
    assert_string_equal(json_string_value(json_object_get(f, "api_key")), "open key");
    assert_string_equal(json_string_value(json_object_get(f, "attribute[slot]")), "2026-11-27");
    assert_string_equal(json_string_value(json_object_get(f, "x")), "a&b=c");
    assert_string_equal(json_string_value(json_object_get(f, "empty")), "");
    assert_string_equal(json_string_value(json_object_get(f, "bare")), "");
    assert_int_equal(json_object_size(f), 5);
    json_decref(f);
}

static void test_empty_pieces_and_utf8(void **state)
{
    json_t *f = parse_ok("&&a=1&&b=caf%C3%A9&");
    assert_string_equal(json_string_value(json_object_get(f, "b")), "caf\xc3\xa9");
    assert_int_equal(json_object_size(f), 2);
    json_decref(f);
    f = parse_ok("");
    assert_int_equal(json_object_size(f), 0);
    json_decref(f);
}

static void test_rejects_bad_input(void **state)
{
    static const char *bad[] = {"a=%", "a=%4", "a=%zz", "a=%00", "a=1&a=2", "a=%ff", "%=1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *out = NULL;
        const char *error = NULL;
        if (form_parse(bad[i], strlen(bad[i]), &out, &error))
            fail_msg("\"%s\" was accepted", bad[i]);
        assert_non_null(error);
    }
}

static void test_field_cap(void **state)
{
    char body[FORM_MAX_FIELDS * 8 + 16] = "";
    size_t n = 0;
    for (int i = 0; i <= FORM_MAX_FIELDS; i++)
        n += (size_t)snprintf(body + n, sizeof body - n, "f%d=1&", i);
    json_t *out = NULL;
    const char *error = NULL;
    assert_false(form_parse(body, n, &out, &error));
}

static void test_body_is_not_nul_terminated(void **state)
{
    const char body[] = {'a', '=', '1', '%', '2'}; /* no NUL, escape cut short */
    json_t *out = NULL;
    const char *error = NULL;
    assert_true(form_parse(body, 3, &out, &error));
    assert_string_equal(json_string_value(json_object_get(out, "a")), "1");
    json_decref(out);
    assert_false(form_parse(body, sizeof body, &out, &error));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decodes_plus_and_percent),
        cmocka_unit_test(test_empty_pieces_and_utf8),
        cmocka_unit_test(test_rejects_bad_input),
        cmocka_unit_test(test_field_cap),
        cmocka_unit_test(test_body_is_not_nul_terminated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
