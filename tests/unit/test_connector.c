/* Connectors: the json-rest and Open311 request shapes, reading their answers, and turning
 * error answers into a message for supervisors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway/config.h"
#include "gateway/delivery/connector.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct backend_config open311_backend(const char *api_key)
{
    struct backend_config be = {0};
    be.name = (char *)"bulky";
    be.connector = (char *)"open311";
    be.url = (char *)"http://127.0.0.1:9/bulky";
    be.api_key.bytes = (unsigned char *)api_key;
    be.api_key.len = api_key ? strlen(api_key) : 0;
    return be;
}

static void test_find(void **state)
{
    (void)state;
    assert_ptr_equal(connector_find("json-rest"), &connector_json_rest);
    assert_ptr_equal(connector_find("open311"), &connector_open311);
    assert_ptr_equal(connector_find("fhir"), &connector_fhir);
    assert_null(connector_find("email-nope"));
    assert_null(connector_find(NULL));
    assert_null(connector_json_rest.build_poll); /* progress comes by callback */
    assert_non_null(connector_open311.build_poll);
}

static void test_json_rest_posts_the_payload_as_stored(void **state)
{
    (void)state;
    struct backend_config be = {0};
    const char *payload = "{\"reference\":\"RP-1\",\"vrm\":\"AB12CDE\",\"fee_pence\":4150}";
    struct connector_request req;
    char err[200];
    assert_true(connector_json_rest.build_delivery(&be, payload, &req, err, sizeof err));
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.path, "/permits");
    assert_string_equal(req.content_type, "application/json");
    assert_int_equal(req.body_len, strlen(payload));
    assert_memory_equal(req.body, payload, req.body_len);
    connector_request_clear(&req);
    connector_request_clear(&req);
    assert_false(connector_json_rest.build_delivery(&be, "[1,2]", &req, err, sizeof err));
    connector_request_clear(&req);
    assert_false(connector_json_rest.build_delivery(&be, "{oops", &req, err, sizeof err));
    connector_request_clear(&req);
    assert_false(connector_json_rest.build_delivery(&be, NULL, &req, err, sizeof err));
    connector_request_clear(&req);
}

static void test_json_rest_reads_the_id(void **state)
{
    (void)state;
    char ref[128];
    const char *a = "{\"id\":\"PP-000123\",\"status\":\"issued\"}";
    connector_json_rest.parse_accepted(a, strlen(a), ref, sizeof ref);
    assert_string_equal(ref, "PP-000123");
    connector_json_rest.parse_accepted("{\"id\":42}", 9, ref, sizeof ref);
    assert_string_equal(ref, "42");
    connector_json_rest.parse_accepted("not json", 8, ref, sizeof ref);
    assert_string_equal(ref, "");
    connector_json_rest.parse_accepted("", 0, ref, sizeof ref);
    assert_string_equal(ref, "");
}

static void test_open311_form_is_encoded(void **state)
{
    (void)state;
    struct backend_config be = open311_backend("k3y&=");
    const char *payload =
        "{\"service_code\":\"bulky-collection\",\"address_id\":\"100011429002\","
        "\"attributes\":{\"reference\":\"BR-ABCD-EFGH\",\"slot\":\"2026-11-27\","
        "\"items\":\"sofa:1,fridge:1\",\"location\":\"Front garden & gate = left\","
        "\"phone\":\"01614804949\",\"count\":2,\"urgent\":false}}";
    struct connector_request req;
    char err[200];
    assert_true(connector_open311.build_delivery(&be, payload, &req, err, sizeof err));
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.path, "/requests.json");
    assert_string_equal(req.content_type, "application/x-www-form-urlencoded");
    const char *want = "api_key=k3y%26%3D&service_code=bulky-collection&address_id=100011429002"
                       "&attribute%5Breference%5D=BR-ABCD-EFGH&attribute%5Bslot%5D=2026-11-27"
                       "&attribute%5Bitems%5D=sofa%3A1%2Cfridge%3A1"
                       "&attribute%5Blocation%5D=Front%20garden%20%26%20gate%20%3D%20left"
                       "&attribute%5Bphone%5D=01614804949&attribute%5Bcount%5D=2"
                       "&attribute%5Burgent%5D=false";
    assert_int_equal(req.body_len, strlen(want));
    assert_string_equal(req.body, want);
    connector_request_clear(&req);

    /* no api key configured: none sent */
    struct backend_config bare = open311_backend(NULL);
    assert_true(connector_open311.build_delivery(
        &bare, "{\"service_code\":\"c\",\"address_id\":\"1\"}", &req, err, sizeof err));
    assert_string_equal(req.body, "service_code=c&address_id=1");
    connector_request_clear(&req);
}

static void test_open311_refuses_payloads_it_cannot_send(void **state)
{
    (void)state;
    struct backend_config be = open311_backend("k");
    struct connector_request req;
    char err[200];
    const char *bad[] = {
        "{\"address_id\":\"1\",\"attributes\":{}}",
        "{\"service_code\":\"c\",\"attributes\":{}}",
        "{\"service_code\":\"c\",\"address_id\":\"1\",\"attributes\":[1]}",
        "{\"service_code\":\"c\",\"address_id\":\"1\",\"attributes\":{\"items\":[\"sofa\"]}}",
        "not json",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_false(connector_open311.build_delivery(&be, bad[i], &req, err, sizeof err));
        assert_true(err[0] != '\0');
        connector_request_clear(&req);
    }
}

static void test_open311_answers(void **state)
{
    (void)state;
    char ref[128], note[200];
    const char *a = "[{\"service_request_id\":\"BW-000042\",\"service_notice\":\"Booked\"}]";
    connector_open311.parse_accepted(a, strlen(a), ref, sizeof ref);
    assert_string_equal(ref, "BW-000042");
    connector_open311.parse_accepted("[]", 2, ref, sizeof ref);
    assert_string_equal(ref, "");

    struct backend_config be = open311_backend("k");
    struct connector_request req;
    char err[200];
    assert_true(connector_open311.build_poll(&be, "BW-000042", &req, err, sizeof err));
    assert_string_equal(req.method, "GET");
    assert_string_equal(req.path, "/requests/BW-000042.json");
    assert_null(req.body);
    assert_true(connector_open311.build_poll(&be, "a b/c", &req, err, sizeof err));
    assert_string_equal(req.path, "/requests/a%20b%2Fc.json");
    assert_false(connector_open311.build_poll(&be, "", &req, err, sizeof err));

    bool closed = true;
    const char *open =
        "[{\"service_request_id\":\"BW-1\",\"status\":\"open\",\"status_notes\":\"\"}]";
    assert_true(connector_open311.parse_poll(open, strlen(open), &closed, note, sizeof note));
    assert_false(closed);
    const char *done =
        "[{\"service_request_id\":\"BW-1\",\"status\":\"closed\",\"status_notes\":\"Collected\"}]";
    assert_true(connector_open311.parse_poll(done, strlen(done), &closed, note, sizeof note));
    assert_true(closed);
    assert_string_equal(note, "Collected");
    assert_false(connector_open311.parse_poll("[{}]", 4, &closed, note, sizeof note));
    assert_false(connector_open311.parse_poll("<html>", 6, &closed, note, sizeof note));
}

static void test_error_messages(void **state)
{
    (void)state;
    char out[512];
    struct {
        int status;
        const char *body;
        const char *want;
    } cases[] = {
        {400, "[{\"code\":400,\"description\":\"slot 2026-11-27 is no longer available\"}]",
         "HTTP 400: slot 2026-11-27 is no longer available"},
        {422, "{\"error\":\"rejected\",\"message\":\"vehicle already has a permit\"}",
         "HTTP 422: vehicle already has a permit"},
        {404, "{\"error\":\"unknown_postcode\"}", "HTTP 404: unknown_postcode"},
        {409, "{\"error\":{\"code\":\"dup\",\"message\":\"already booked\"}}",
         "HTTP 409: already booked"},
        {500, "<html>Internal Server Error</html>", "HTTP 500"},
        {503, "", "HTTP 503"},
        {400, "{\"message\":\"line one\\nline two\\u0007\"}", "HTTP 400: line one line two "},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        connector_describe_error(cases[i].status, cases[i].body, strlen(cases[i].body), out,
                                 sizeof out);
        assert_string_equal(out, cases[i].want);
    }
}

static void test_long_messages_are_cut_on_a_character_boundary(void **state)
{
    (void)state;
    /* 400 copies of "é" (2 bytes each): cut at CONNECTOR_MESSAGE_MAX bytes of text */
    char body[2000] = "{\"message\":\"";
    for (int i = 0; i < 400; i++)
        strcat(body, "\xc3\xa9");
    strcat(body, "\"}");
    char out[512];
    connector_describe_error(400, body, strlen(body), out, sizeof out);
    size_t text = strlen(out) - strlen("HTTP 400: ");
    assert_true(text <= CONNECTOR_MESSAGE_MAX);
    assert_true(text >= CONNECTOR_MESSAGE_MAX - 1);
    assert_int_equal(text % 2, 0); /* whole characters only */
    /* a small buffer: still a valid string */
    char small[16];
    connector_describe_error(400, body, strlen(body), small, sizeof small);
    assert_true(strncmp(small, "HTTP 400: ", 10) == 0);
    assert_int_equal((strlen(small) - 10) % 2, 0);
}

/* connector_json_object_valid agrees with jansson (json_loadb, no flags, an object) on every
 * input here: the grammar, UTF-8, escapes, number ranges and nesting depth. */
static bool jansson_object(const char *text, size_t len)
{
    json_t *doc = json_loadb(text, len, 0, NULL);
    bool object = json_is_object(doc);
    json_decref(doc);
    return object;
}

static void agrees(const char *text, size_t len)
{
    bool want = jansson_object(text, len);
    if (connector_json_object_valid(text, len) != want)
        fail_msg("connector_json_object_valid and jansson disagree on \"%.*s\" (jansson: %s)",
                 (int)(len > 80 ? 80 : len), text, want ? "object" : "not an object");
}

/* count nested arrays in an object, holding inner (or nothing) */
static void agrees_nested(int count, const char *inner)
{
    size_t cap = 2 * (size_t)count + strlen(inner) + 16;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t n = 0;
    n += (size_t)snprintf(text + n, cap - n, "{\"a\":");
    for (int i = 0; i < count; i++)
        text[n++] = '[';
    n += (size_t)snprintf(text + n, cap - n, "%s", inner);
    for (int i = 0; i < count; i++)
        text[n++] = ']';
    text[n++] = '}';
    agrees(text, n);
    free(text);
}

static void test_json_object_check_agrees_with_jansson(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "{}",
        " {} ",
        "\t{\n}\r\n",
        "{} x",
        "{}}",
        "{",
        "}",
        "[]",
        "[{}]",
        "\"s\"",
        "1",
        "null",
        "",
        " ",
        "{\"a\":1}",
        "{\"a\":1,}",
        "{,}",
        "{\"a\" : [1, 2.5, -3e2, true, false, null]}",
        "{\"a\":[1,]}",
        "{\"a\":[,1]}",
        "{a:1}",
        "{'a':1}",
        "{\"a\":01}",
        "{\"a\":-0}",
        "{\"a\":-}",
        "{\"a\":1.}",
        "{\"a\":.5}",
        "{\"a\":1e}",
        "{\"a\":1e+}",
        "{\"a\":1E-2}",
        "{\"a\":+1}",
        "{\"a\":0x10}",
        "{\"a\":9223372036854775807}",
        "{\"a\":9223372036854775808}",
        "{\"a\":-9223372036854775808}",
        "{\"a\":-9223372036854775809}",
        "{\"a\":1e308}",
        "{\"a\":1e309}",
        "{\"a\":-1e309}",
        "{\"a\":1e-400}",
        "{\"a\":1.7976931348623157e308}",
        "{\"a\":1.7976931348623159e308}",
        "{\"a\":tru}",
        "{\"a\":truex}",
        "{\"a\":nul}",
        "{\"a\":NaN}",
        "{\"a\":Infinity}",
        "{\"a\":\"\\u0041\"}",
        "{\"a\":\"\\u0000\"}",
        "{\"\\u0000\":1}",
        "{\"a\":\"\\ud83d\\ude00\"}",
        "{\"a\":\"\\ud83d\"}",
        "{\"a\":\"\\ud83dx\"}",
        "{\"a\":\"\\ude00\"}",
        "{\"a\":\"\\ud83d\\u0041\"}",
        "{\"a\":\"\\u12\"}",
        "{\"a\":\"\\u12g4\"}",
        "{\"a\":\"\\x\"}",
        "{\"a\":\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"}",
        "{\"a\":\"tab\there\"}",
        "{\"a\":\"\x7f\"}",
        "{\"a\":\"unterminated}",
        "{\"a\":\"caf\xc3\xa9\"}",
        "{\"a\":\"\xc3\"}",
        "{\"a\":\"\xc0\xaf\"}",
        "{\"a\":\"\xe0\x80\xaf\"}",
        "{\"a\":\"\xed\xa0\x80\"}",
        "{\"a\":\"\xf4\x90\x80\x80\"}",
        "{\"a\":\"\xf0\x9f\x98\x80\"}",
        "{\"a\":\"\xf5\x80\x80\x80\"}",
        "{\"a\":\"\x80\"}",
        "{} \xc3\xa9",
        "\xef\xbb\xbf{}",
        "{\"a\":1 \"b\":2}",
        "{\"a\" 1}",
        "{\"a\":1,\"a\":2}",
        "{\"\":\"\"}",
        "{\"a\":{}}",
        "{\"a\":{\"b\":{\"c\":[[],{}]}}}",
        "{\"a\":[1 2]}",
        "{\"a\":\v1}",
        "{\"a\":1}\x0c",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        agrees(cases[i], strlen(cases[i]));
    agrees("{}", 0);
    agrees("{\"a\":1}", 3);
    /* jansson counts every value into its depth (2048 at most) */
    for (int depth = 2044; depth <= 2050; depth++) {
        agrees_nested(depth, "");
        agrees_nested(depth, "1");
        agrees_nested(depth, "{}");
    }
    /* a long number is checked from a copy */
    char longnum[200] = "{\"a\":";
    memset(longnum + 5, '1', 150);
    memcpy(longnum + 155, "}", 2);
    agrees(longnum, strlen(longnum));
    memcpy(longnum + 5, "0.", 2);
    agrees(longnum, strlen(longnum));
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_json_rest_posts_the_payload_as_stored),
        cmocka_unit_test(test_json_rest_reads_the_id),
        cmocka_unit_test(test_json_object_check_agrees_with_jansson),
        cmocka_unit_test(test_open311_form_is_encoded),
        cmocka_unit_test(test_open311_refuses_payloads_it_cannot_send),
        cmocka_unit_test(test_open311_answers),
        cmocka_unit_test(test_error_messages),
        cmocka_unit_test(test_long_messages_are_cut_on_a_character_boundary),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
