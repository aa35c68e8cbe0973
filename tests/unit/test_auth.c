/* auth: the headers each kind of back-end authentication adds to a request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway/config.h"
#include "gateway/delivery/auth.h"
#include "gateway/delivery/backend_request.h"

#include <stdio.h>
#include <string.h>

#define SIGNING_KEY "unit-test-signing-key-0123456789"
#define API_KEY     "api-key-value-0123456789abcdef"
#define BEARER      "static-bearer-token-0123456789"
#define TIMESTAMP   "1764500000"
#define IDEM_KEY    "idem-123"
#define BODY        "{\"reference\":\"RP-1\"}"

static struct backend_config backend(const char *auth)
{
    struct backend_config be = {.name = "test", .connector = "json-rest", .auth = (char *)auth};
    be.signing_key = (struct secret){(unsigned char *)SIGNING_KEY, strlen(SIGNING_KEY)};
    be.api_key = (struct secret){(unsigned char *)API_KEY, strlen(API_KEY)};
    be.bearer_token = (struct secret){(unsigned char *)BEARER, strlen(BEARER)};
    return be;
}

static const struct auth_request request = {.timestamp = TIMESTAMP,
                                            .idempotency_key = IDEM_KEY,
                                            .body = BODY,
                                            .body_len = sizeof BODY - 1,
                                            .access_token = "access-token-abc"};

/* The header lines auth_apply adds, joined with "\n" (static buffer); NULL when it fails. */
static const char *apply(const struct backend_config *be, const struct auth_request *r)
{
    static char joined[4096];
    char err[256] = "";
    struct curl_slist *headers = NULL;
    bool ok = auth_apply(be, r, &headers, err, sizeof err);
    joined[0] = '\0';
    for (struct curl_slist *h = headers; h; h = h->next) {
        strncat(joined, h->data, sizeof joined - strlen(joined) - 2);
        strcat(joined, "\n");
    }
    curl_slist_free_all(headers);
    if (!ok) {
        assert_true(err[0] != '\0'); /* a failure always says why */
        return NULL;
    }
    return joined;
}

static void test_kind_of(void **state)
{
    (void)state;
    struct backend_config be = backend(NULL);
    assert_int_equal(auth_kind_of(&be), AUTH_HMAC); /* the default */
    const char *names[] = {"hmac", "api-key", "oauth2-jwt", "bearer", "none"};
    enum auth_kind kinds[] = {AUTH_HMAC, AUTH_API_KEY, AUTH_OAUTH2_JWT, AUTH_BEARER, AUTH_NONE};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        be.auth = (char *)names[i];
        assert_int_equal(auth_kind_of(&be), kinds[i]);
    }
}

static void test_hmac_signs_timestamp_key_and_body(void **state)
{
    (void)state;
    struct backend_config be = backend("hmac");
    char sig[BACKEND_SIGNATURE_HEADER_SIZE], want[512];
    assert_true(backend_signature_compute((const unsigned char *)SIGNING_KEY, strlen(SIGNING_KEY),
                                          TIMESTAMP, IDEM_KEY, BODY, strlen(BODY), sig));
    snprintf(want, sizeof want, "X-Onestop-Timestamp: " TIMESTAMP "\nX-Onestop-Signature: %s\n",
             sig);
    assert_string_equal(apply(&be, &request), want);
    be.auth = NULL; /* no auth given: hmac */
    assert_string_equal(apply(&be, &request), want);
    be.signing_key = (struct secret){0};
    assert_null(apply(&be, &request));
}

static void test_api_key_goes_in_its_header(void **state)
{
    (void)state;
    struct backend_config be = backend("api-key");
    be.api_key_header = "X-Api-Key";
    assert_string_equal(apply(&be, &request), "X-Api-Key: " API_KEY "\n");
    /* open311 without a header name: the connector sends the api_key form field instead */
    be.api_key_header = NULL;
    be.connector = "open311";
    assert_string_equal(apply(&be, &request), "");
}

static void test_bearer_sends_the_static_token(void **state)
{
    (void)state;
    struct backend_config be = backend("bearer");
    assert_string_equal(apply(&be, &request), "Authorization: Bearer " BEARER "\n");
    be.bearer_token = (struct secret){0};
    assert_null(apply(&be, &request));
}

static void test_oauth2_jwt_sends_the_access_token(void **state)
{
    (void)state;
    struct backend_config be = backend("oauth2-jwt");
    assert_string_equal(apply(&be, &request), "Authorization: Bearer access-token-abc\n");
    struct auth_request without = request;
    without.access_token = NULL;
    assert_null(apply(&be, &without));
    without.access_token = "";
    assert_null(apply(&be, &without));
}

static void test_none_sends_nothing(void **state)
{
    (void)state;
    struct backend_config be = backend("none");
    assert_string_equal(apply(&be, &request), "");
}

static void test_control_characters_never_split_a_header(void **state)
{
    (void)state;
    struct backend_config be = backend("bearer");
    be.bearer_token = (struct secret){(unsigned char *)"abc\r\nX-Evil: 1", 14};
    assert_null(apply(&be, &request));
    be = backend("oauth2-jwt");
    struct auth_request evil = request;
    evil.access_token = "tok\nX-Evil: 1";
    assert_null(apply(&be, &evil));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kind_of),
        cmocka_unit_test(test_hmac_signs_timestamp_key_and_body),
        cmocka_unit_test(test_api_key_goes_in_its_header),
        cmocka_unit_test(test_bearer_sends_the_static_token),
        cmocka_unit_test(test_oauth2_jwt_sends_the_access_token),
        cmocka_unit_test(test_none_sends_nothing),
        cmocka_unit_test(test_control_characters_never_split_a_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
