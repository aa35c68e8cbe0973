/* GOV.UK Notify: the API key's shape, the HS256 JWT made from it (checked against a token
 * computed independently with Python's hmac), and the connector's reading of Notify's answers
 * and masking of contacts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway/delivery/connector_notify.h"
#include "gateway/delivery/notify_jwt.h"

#include <stdlib.h>
#include <string.h>

#define KEY "my_test_key-26785a09-ab16-4eb0-8407-a37497a57506-3d844edf-8d35-48ac-975b-e847b4f122b0"

static void test_key_shape(void **state)
{
    (void)state;
    assert_true(notify_key_valid((const unsigned char *)KEY, strlen(KEY)));
    static const char *const bad[] = {
        "26785a09-ab16-4eb0-8407-a37497a57506-3d844edf-8d35-48ac-975b-e847b4f122b0", /* no name */
        "name-26785a09-ab16-4eb0-8407-a37497a57506-3d844edf-8d35-48ac-975b-e847b4f122b",
        "name-26785a09-ab16-4eb0-8407-a37497a57506x3d844edf-8d35-48ac-975b-e847b4f122b0",
        "name-26785a09-ab16-4eb0-8407-a37497a57506-3d844edf-8d35-48ac-975b-e847b4f122bz",
        "an ordinary hex secret 0123456789abcdef0123456789abcdef",
        ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(notify_key_valid((const unsigned char *)bad[i], strlen(bad[i])));
}

static void test_jwt_matches_an_independent_hs256(void **state)
{
    (void)state;
    char jwt[NOTIFY_JWT_MAX];
    assert_true(notify_jwt_make((const unsigned char *)KEY, strlen(KEY), 1764460800, jwt));
    assert_string_equal(jwt, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
                             "eyJpc3MiOiIyNjc4NWEwOS1hYjE2LTRlYjAtODQwNy1hMzc0OTdhNTc1MDYiLCJpYXQi"
                             "OjE3NjQ0NjA4MDB9.NluGVAIytmry17gXOeZYe1eUUBHW5qBVjbOJxW5sZIo");
    char later[NOTIFY_JWT_MAX];
    assert_true(notify_jwt_make((const unsigned char *)KEY, strlen(KEY), 1764460801, later));
    assert_string_not_equal(jwt, later);
    assert_false(notify_jwt_make((const unsigned char *)"not-a-key", 9, 1764460800, jwt));
}

static void test_requests(void **state)
{
    (void)state;
    struct connector_request rq;
    assert_true(notify_build_send("email", "{\"a\":1}", &rq));
    assert_string_equal(rq.method, "POST");
    assert_string_equal(rq.path, "/v2/notifications/email");
    assert_string_equal(rq.body, "{\"a\":1}");
    connector_request_clear(&rq);
    assert_true(notify_build_send("sms", "{}", &rq));
    assert_string_equal(rq.path, "/v2/notifications/sms");
    connector_request_clear(&rq);
    assert_false(notify_build_send("letter", "{}", &rq));
    connector_request_clear(&rq);
    assert_true(notify_build_lookup("RP-ABCD-EFGH-email-0a1b2c3d", &rq));
    assert_string_equal(rq.method, "GET");
    assert_string_equal(rq.path, "/v2/notifications?reference=RP-ABCD-EFGH-email-0a1b2c3d");
    connector_request_clear(&rq);
}

static void test_answers(void **state)
{
    (void)state;
    char id[64];
    const char *ok = "{\"id\":\"740e5834-3a29-46b4-9a6f-16142fde533a\",\"reference\":\"R\"}";
    notify_parse_accepted(ok, strlen(ok), id, sizeof id);
    assert_string_equal(id, "740e5834-3a29-46b4-9a6f-16142fde533a");
    notify_parse_accepted("not json", 8, id, sizeof id);
    assert_string_equal(id, "");

    bool found = true;
    const char *none = "{\"notifications\":[],\"links\":{}}";
    assert_true(notify_parse_lookup(none, strlen(none), "R", &found, id, sizeof id));
    assert_false(found);
    const char *one = "{\"notifications\":[{\"id\":\"X1\",\"reference\":\"other\"},"
                      "{\"id\":\"X2\",\"reference\":\"R\"}]}";
    assert_true(notify_parse_lookup(one, strlen(one), "R", &found, id, sizeof id));
    assert_true(found);
    assert_string_equal(id, "X2");
    /* an answer we cannot read never lets a copy be sent again */
    assert_false(notify_parse_lookup("{}", 2, "R", &found, id, sizeof id));
    assert_false(notify_parse_lookup("<html>", 6, "R", &found, id, sizeof id));

    char msg[200];
    const char *err = "{\"status_code\":400,\"errors\":[{\"error\":\"BadRequestError\","
                      "\"message\":\"Template not found\"}]}";
    notify_describe_error(400, err, strlen(err), msg, sizeof msg);
    assert_string_equal(msg, "HTTP 400: BadRequestError: Template not found");
    notify_describe_error(503, "", 0, msg, sizeof msg);
    assert_string_equal(msg, "HTTP 503");
}

static void test_masking(void **state)
{
    (void)state;
    char out[64];
    assert_true(notify_mask_email("resident@example.org", out, sizeof out));
    assert_string_equal(out, "r***@example.org");
    assert_false(notify_mask_email("@example.org", out, sizeof out));
    assert_true(notify_mask_phone("+447700900123", out, sizeof out));
    assert_string_equal(out, "+44********23");
    char *masked = notify_payload_masked(
        "{\"email_address\":\"resident@example.org\",\"template_id\":\"T\",\"personalisation\":"
        "{\"reference\":\"R\",\"link_to_file\":{\"file\":\"JVBERi0=\",\"is_csv\":false}}}",
        "(removed)");
    assert_non_null(masked);
    assert_null(strstr(masked, "resident"));
    assert_null(strstr(masked, "JVBERi0="));
    assert_non_null(strstr(masked, "\"reference\":\"R\""));
    free(masked);
    assert_null(notify_payload_masked("not json", "x"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_shape), cmocka_unit_test(test_jwt_matches_an_independent_hs256),
        cmocka_unit_test(test_requests),  cmocka_unit_test(test_answers),
        cmocka_unit_test(test_masking),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
