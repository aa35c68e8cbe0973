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
#include <stdio.h>
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

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_json_rest_posts_the_payload_as_stored),
        cmocka_unit_test(test_json_rest_reads_the_id),
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
