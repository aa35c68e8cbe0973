/* Unit tests of sim/faults.c: parsing and per-request decisions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sim/faults.h"

static fault_config parse_ok(const char *text)
{
    fault_config c;
    const char *error = NULL;
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    if (!faults_parse(j, &c, &error))
        fail_msg("%s: %s", text, error);
    json_decref(j);
    return c;
}

static void test_parse(void **state)
{
    fault_config c = parse_ok("{\"mode\":\"slow\"}");
    assert_int_equal(c.mode, FAULT_SLOW);
    assert_int_equal(c.delay_ms, FAULTS_DEFAULT_DELAY_MS);
    c = parse_ok("{\"mode\":\"slow\",\"delay_ms\":250}");
    assert_int_equal(c.delay_ms, 250);
    c = parse_ok("{\"mode\":\"down\",\"retry_after_s\":30}");
    assert_int_equal(c.mode, FAULT_DOWN);
    assert_int_equal(c.retry_after_s, 30);
    c = parse_ok("{\"mode\":\"flaky\",\"rate\":0.25}");
    assert_true(c.rate > 0.249 && c.rate < 0.251);
    c = parse_ok("{\"mode\":\"flaky\",\"rate\":1}");
    assert_true(c.rate == 1.0);

    static const char *bad[] = {"{}",
                                "{\"mode\":\"sideways\"}",
                                "{\"mode\":3}",
                                "{\"mode\":\"flaky\",\"rate\":1.5}",
                                "{\"mode\":\"flaky\",\"rate\":\"x\"}",
                                "{\"mode\":\"slow\",\"delay_ms\":-1}",
                                "{\"mode\":\"slow\",\"delay_ms\":999999}",
                                "{\"mode\":\"down\",\"retry_after_s\":1.5}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fault_config out;
        const char *error = NULL;
        json_t *j = json_loads(bad[i], 0, NULL);
        if (faults_parse(j, &out, &error))
            fail_msg("%s was accepted", bad[i]);
        assert_non_null(error);
        json_decref(j);
    }
}

static void test_decide(void **state)
{
    fault_config c = faults_none();
    assert_int_equal(faults_decide(&c, 0.0), FAULT_ACT_NONE);
    c.mode = FAULT_DOWN;
    assert_int_equal(faults_decide(&c, 0.9), FAULT_ACT_UNAVAILABLE);
    c.mode = FAULT_ERROR;
    assert_int_equal(faults_decide(&c, 0.9), FAULT_ACT_ERROR);
    c.mode = FAULT_REJECT;
    assert_int_equal(faults_decide(&c, 0.9), FAULT_ACT_REJECT);
    c.mode = FAULT_SLOW;
    assert_int_equal(faults_decide(&c, 0.9), FAULT_ACT_DELAY);
    c.mode = FAULT_FLAKY;
    c.rate = 0.3;
    assert_int_equal(faults_decide(&c, 0.29), FAULT_ACT_ERROR);
    assert_int_equal(faults_decide(&c, 0.3), FAULT_ACT_NONE);
    c.rate = 0.0;
    assert_int_equal(faults_decide(&c, 0.0), FAULT_ACT_NONE);
}

static void test_parse_open311_and_idempotency(void **state)
{
    (void)state;
    fault_config c = parse_ok("{\"mode\":\"up\"}");
    assert_int_equal(c.open311, OPEN311_ARRAY);
    assert_int_equal(c.open311_status, 201);
    assert_int_equal(c.token_polls, FAULTS_DEFAULT_TOKEN_POLLS);
    assert_false(c.ignore_idempotency);
    c = parse_ok("{\"mode\":\"late\",\"idempotency\":\"ignore\",\"count\":1,\"writes_only\":true}");
    assert_int_equal(c.mode, FAULT_LATE);
    assert_int_equal(c.delay_ms, FAULTS_DEFAULT_DELAY_MS);
    assert_true(c.ignore_idempotency);
    assert_int_equal(c.count, 1);
    assert_true(c.writes_only);
    assert_int_equal(faults_decide(&c, 0.5), FAULT_ACT_LATE);
    c = parse_ok("{\"mode\":\"drop\"}");
    assert_int_equal(faults_decide(&c, 0.5), FAULT_ACT_DROP);
    static const struct {
        const char *text;
        open311_variant variant;
    } variants[] = {
        {"{\"mode\":\"up\",\"open311\":\"object\",\"open311_status\":200}", OPEN311_OBJECT},
        {"{\"mode\":\"up\",\"open311\":\"numeric\"}", OPEN311_NUMERIC},
        {"{\"mode\":\"up\",\"open311\":\"token\",\"token_polls\":0}", OPEN311_TOKEN},
        {"{\"mode\":\"up\",\"open311\":\"blackbox\",\"open311_status\":202}", OPEN311_BLACKBOX},
        {"{\"mode\":\"up\",\"open311\":\"error_numeric\"}", OPEN311_ERROR_NUMERIC},
        {"{\"mode\":\"up\",\"open311\":\"error_string\"}", OPEN311_ERROR_STRING},
    };
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++)
        assert_int_equal(parse_ok(variants[i].text).open311, variants[i].variant);
    static const char *bad[] = {
        "{\"mode\":\"up\",\"open311\":\"xml\"}",       "{\"mode\":\"up\",\"open311_status\":204}",
        "{\"mode\":\"up\",\"idempotency\":\"maybe\"}", "{\"mode\":\"up\",\"count\":-1}",
        "{\"mode\":\"up\",\"writes_only\":1}",         "{\"mode\":\"up\",\"token_polls\":\"2\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fault_config out;
        const char *error = NULL;
        json_t *j = json_loads(bad[i], 0, NULL);
        assert_false(faults_parse(j, &out, &error));
        assert_non_null(error);
        json_decref(j);
    }
}

static void test_take_counts_down(void **state)
{
    (void)state;
    fault_config c = parse_ok("{\"mode\":\"drop\",\"count\":2,\"writes_only\":true,"
                              "\"idempotency\":\"ignore\"}");
    assert_false(faults_take(&c, true)); /* reads pass and are not counted */
    assert_true(faults_take(&c, false));
    assert_int_equal(c.mode, FAULT_DROP);
    assert_true(faults_take(&c, false));
    assert_int_equal(c.mode, FAULT_UP); /* used up: back to up, the rest stays */
    assert_true(c.ignore_idempotency);
    assert_false(faults_take(&c, false));
    c = parse_ok("{\"mode\":\"error\"}");
    for (int i = 0; i < 5; i++)
        assert_true(faults_take(&c, i % 2 == 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_decide),
        cmocka_unit_test(test_parse_open311_and_idempotency),
        cmocka_unit_test(test_take_counts_down),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
