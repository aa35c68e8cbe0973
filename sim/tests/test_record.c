/* Unit tests of sim/record.c: idempotency lookups, describe, and eviction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sim/record.h"

static record_entry entry(const char *method, const char *key, const char *body,
                          const char *response)
{
    record_entry e = {
        .method = method,
        .path = "/parking/permits",
        .query = NULL,
        .idempotency_key = key,
        .body = body,
        .body_len = strlen(body),
        .received_at = {1700000000, 123000000},
        .signature_ok = true,
        .reference = "RP-1",
        .status = 201,
        .response = response,
    };
    return e;
}

static void test_find_and_describe(void **state)
{
    sim_record r;
    record_init(&r);
    record_entry a = entry("POST", "k1", "{\"reference\":\"RP-1\"}", "{\"id\":\"PP-000001\"}");
    record_entry g = entry("GET", NULL, "", "{}");
    assert_true(record_add(&r, &a));
    assert_true(record_add(&r, &g));
    r.attempts = 5;

    unsigned status = 0;
    const char *response = NULL;
    assert_true(record_find(&r, "k1", &status, &response));
    assert_int_equal(status, 201);
    assert_string_equal(response, "{\"id\":\"PP-000001\"}");
    assert_false(record_find(&r, "k2", &status, &response));

    json_t *d = record_describe(&r, "parking", false);
    assert_int_equal(json_integer_value(json_object_get(d, "attempts")), 5);
    json_t *list = json_object_get(d, "requests");
    assert_int_equal(json_array_size(list), 1);
    json_t *e = json_array_get(list, 0);
    assert_string_equal(json_string_value(json_object_get(e, "received_at")),
                        "2023-11-14T22:13:20.123Z");
    assert_string_equal(json_string_value(json_object_get(e, "idempotency_key")), "k1");
    assert_true(json_is_true(json_object_get(e, "signature_ok")));
    assert_null(json_object_get(e, "_bytes"));
    json_decref(d);
    d = record_describe(&r, "parking", true);
    assert_int_equal(json_array_size(json_object_get(d, "requests")), 2);
    json_decref(d);

    record_clear(&r);
    assert_false(record_find(&r, "k1", &status, &response));
    assert_int_equal(r.attempts, 0);
    record_free(&r);
}

static void test_binary_body_is_base64(void **state)
{
    sim_record r;
    record_init(&r);
    record_entry a = entry("POST", "k1", "\xff\xfe", "{}");
    assert_true(record_add(&r, &a));
    json_t *d = record_describe(&r, "docs", false);
    json_t *e = json_array_get(json_object_get(d, "requests"), 0);
    assert_true(json_is_null(json_object_get(e, "body")));
    assert_string_equal(json_string_value(json_object_get(e, "body_base64")), "//4=");
    json_decref(d);
    record_free(&r);
}

static void test_eviction_forgets_oldest_keys(void **state)
{
    sim_record r;
    record_init(&r);
    char key[32];
    for (unsigned i = 0; i < RECORD_MAX_ENTRIES + 2; i++) {
        snprintf(key, sizeof key, "k%u", i);
        record_entry a = entry("POST", key, "{}", "{}");
        assert_true(record_add(&r, &a));
    }
    assert_int_equal(json_array_size(r.log), RECORD_MAX_ENTRIES);
    unsigned status;
    const char *response;
    assert_false(record_find(&r, "k0", &status, &response));
    assert_false(record_find(&r, "k1", &status, &response));
    assert_true(record_find(&r, "k2", &status, &response));
    record_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find_and_describe),
        cmocka_unit_test(test_binary_body_is_base64),
        cmocka_unit_test(test_eviction_forgets_oldest_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
