/* Unit tests of the SMTP sink's fault settings in sim/faults.c: smtp_code and smtp_stage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sim/faults.h"

static bool parse(const char *text, fault_config *c, const char **error)
{
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    bool ok = faults_parse(j, c, error);
    json_decref(j);
    return ok;
}

static void test_smtp_settings(void **state)
{
    (void)state;
    fault_config c;
    const char *error = NULL;
    assert_true(parse("{\"mode\":\"reject\"}", &c, &error));
    assert_int_equal(c.smtp_code, 0); /* the sink's default: 550 */
    assert_false(c.smtp_at_rcpt);
    assert_true(
        parse("{\"mode\":\"error\",\"smtp_code\":452,\"smtp_stage\":\"rcpt\"}", &c, &error));
    assert_int_equal(c.smtp_code, 452);
    assert_true(c.smtp_at_rcpt);
    json_t *d = faults_describe(&c);
    assert_int_equal(json_integer_value(json_object_get(d, "smtp_code")), 452);
    assert_string_equal(json_string_value(json_object_get(d, "smtp_stage")), "rcpt");
    json_decref(d);
    assert_true(parse("{\"mode\":\"error\",\"smtp_stage\":\"data\"}", &c, &error));
    assert_false(c.smtp_at_rcpt);

    static const char *bad[] = {
        "{\"mode\":\"error\",\"smtp_code\":250}",
        "{\"mode\":\"error\",\"smtp_code\":600}",
        "{\"mode\":\"error\",\"smtp_code\":\"451\"}",
        "{\"mode\":\"error\",\"smtp_stage\":\"mail\"}",
        "{\"mode\":\"error\",\"smtp_stage\":1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        error = NULL;
        if (parse(bad[i], &c, &error))
            fail_msg("accepted %s", bad[i]);
        assert_non_null(error);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smtp_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
