/* Request signatures (docs/backends.md): HMAC-SHA256 over timestamp "\n" key "\n" body, and
 * the check of incoming signed requests with its window and replay cache.
 *
 * The known vectors were computed independently with Python's hmac module:
 *   key = b"test-signing-key-0123456789abcdef"
 *   hmac.new(key, b'1767225600\nidem-0001\n{"reference":"RP-TEST"}', hashlib.sha256).hexdigest()
 *     == "df26f49dafcf3cee7b4755a7b7177ac8d5a25d3a56f15df6dc721dee09909d43"
 *   hmac.new(key, b"1767225600\n\n", hashlib.sha256).hexdigest()
 *     == "d4d80bc74af6e1dfc58cb1249d6189be1415563bc5d705a2e6b0e080cc49e37b"
 *   hmac.new(key, b'1767225600\nevt-1\n{"reference":"RP-TEST","status":"completed"}',
 *            hashlib.sha256).hexdigest()
 *     == "d8ace8c396ce7864fcd0422d90cd40e641c83d5bba1fd6b3950309d009876ead"
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway/delivery/backend_request.h"
#include "gateway/config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define KEY           "test-signing-key-0123456789abcdef"
#define TS            1767225600
#define TS_TEXT       "1767225600"
#define CALLBACK_BODY "{\"reference\":\"RP-TEST\",\"status\":\"completed\"}"
#define CALLBACK_SIG  "v1=d8ace8c396ce7864fcd0422d90cd40e641c83d5bba1fd6b3950309d009876ead"

static struct backend_config backend(const char *key)
{
    struct backend_config be = {0};
    be.name = (char *)"parking";
    be.signing_key.bytes = (unsigned char *)key;
    be.signing_key.len = key ? strlen(key) : 0;
    return be;
}

static void test_known_vectors(void **state)
{
    (void)state;
    char sig[BACKEND_SIGNATURE_HEADER_SIZE];
    const char *body = "{\"reference\":\"RP-TEST\"}";
    assert_true(backend_signature_compute((const unsigned char *)KEY, strlen(KEY), TS_TEXT,
                                          "idem-0001", body, strlen(body), sig));
    assert_string_equal(sig, "v1=df26f49dafcf3cee7b4755a7b7177ac8d5a25d3a56f15df6dc721dee09909d43");
    /* a GET: empty body, no idempotency key (signed as "") */
    assert_true(backend_signature_compute((const unsigned char *)KEY, strlen(KEY), TS_TEXT, NULL,
                                          NULL, 0, sig));
    assert_string_equal(sig, "v1=d4d80bc74af6e1dfc58cb1249d6189be1415563bc5d705a2e6b0e080cc49e37b");
    assert_true(backend_signature_compute((const unsigned char *)KEY, strlen(KEY), TS_TEXT, "", "",
                                          0, sig));
    assert_string_equal(sig, "v1=d4d80bc74af6e1dfc58cb1249d6189be1415563bc5d705a2e6b0e080cc49e37b");
}

static void test_verify_accepts_once_then_refuses_the_replay(void **state)
{
    (void)state;
    struct backend_config be = backend(KEY);
    char why[160] = "";
    assert_true(backend_signature_verify(&be, "evt-1", TS_TEXT, CALLBACK_SIG, CALLBACK_BODY,
                                         strlen(CALLBACK_BODY), TS + 10, why, sizeof why));
    assert_false(backend_signature_verify(&be, "evt-1", TS_TEXT, CALLBACK_SIG, CALLBACK_BODY,
                                          strlen(CALLBACK_BODY), TS + 11, why, sizeof why));
    assert_non_null(strstr(why, "replay"));
    /* the same MAC in capitals is the same signature: still a replay */
    char upper[sizeof CALLBACK_SIG];
    snprintf(upper, sizeof upper, "%s", CALLBACK_SIG);
    for (char *p = upper + 3; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    assert_false(backend_signature_verify(&be, "evt-1", TS_TEXT, upper, CALLBACK_BODY,
                                          strlen(CALLBACK_BODY), TS + 12, why, sizeof why));
    assert_non_null(strstr(why, "replay"));
}

static void test_verify_refuses_tampering_and_wrong_keys(void **state)
{
    (void)state;
    struct backend_config be = backend(KEY), other = backend("another-key-another-key-another");
    char why[160];
    const char *tampered = "{\"reference\":\"RP-TEST\",\"status\":\"completeD\"}";
    assert_false(backend_signature_verify(&be, "evt-1", TS_TEXT, CALLBACK_SIG, tampered,
                                          strlen(tampered), TS, why, sizeof why));
    assert_string_equal(why, "signature does not match");
    assert_false(backend_signature_verify(&be, "evt-2", TS_TEXT, CALLBACK_SIG, CALLBACK_BODY,
                                          strlen(CALLBACK_BODY), TS, why, sizeof why));
    assert_false(backend_signature_verify(&be, "evt-1", "1767225601", CALLBACK_SIG, CALLBACK_BODY,
                                          strlen(CALLBACK_BODY), TS, why, sizeof why));
    assert_false(backend_signature_verify(&other, "evt-1", TS_TEXT, CALLBACK_SIG, CALLBACK_BODY,
                                          strlen(CALLBACK_BODY), TS, why, sizeof why));
    struct backend_config none = backend(NULL);
    assert_false(backend_signature_verify(&none, "evt-1", TS_TEXT, CALLBACK_SIG, CALLBACK_BODY,
                                          strlen(CALLBACK_BODY), TS, why, sizeof why));
    assert_false(backend_signature_verify(NULL, "evt-1", TS_TEXT, CALLBACK_SIG, CALLBACK_BODY,
                                          strlen(CALLBACK_BODY), TS, why, sizeof why));
}

static void test_verify_refuses_malformed_headers(void **state)
{
    (void)state;
    struct backend_config be = backend(KEY);
    char why[160];
    const char *b = CALLBACK_BODY;
    size_t n = strlen(b);
    const char *bad_sigs[] = {
        NULL,
        "",
        "d8ace8c396ce7864fcd0422d90cd40e641c83d5bba1fd6b3950309d009876ead",
        "v2=d8ace8c396ce7864fcd0422d90cd40e641c83d5bba1fd6b3950309d009876ead",
        "v1=d8ace8c396ce7864fcd0422d90cd40e641c83d5bba1fd6b3950309d009876ea",
        "v1=d8ace8c396ce7864fcd0422d90cd40e641c83d5bba1fd6b3950309d009876eadd",
        "v1=x8ace8c396ce7864fcd0422d90cd40e641c83d5bba1fd6b3950309d009876ead"};
    for (size_t i = 0; i < sizeof bad_sigs / sizeof bad_sigs[0]; i++)
        assert_false(backend_signature_verify(&be, "evt-1", TS_TEXT, bad_sigs[i], b, n, TS, why,
                                              sizeof why));
    const char *bad_ts[] = {NULL,          "",           "-1767225600",        "1767225600.0",
                            " 1767225600", "17672256OO", "1234567890123456789"};
    for (size_t i = 0; i < sizeof bad_ts / sizeof bad_ts[0]; i++)
        assert_false(backend_signature_verify(&be, "evt-1", bad_ts[i], CALLBACK_SIG, b, n, TS, why,
                                              sizeof why));
}

/* Signs (ts, key, body) with KEY. */
static void sign(const char *ts, const char *ikey, const char *body, char *out)
{
    assert_true(backend_signature_compute((const unsigned char *)KEY, strlen(KEY), ts, ikey, body,
                                          strlen(body), out));
}

static void test_window_is_300_seconds_either_way(void **state)
{
    (void)state;
    struct backend_config be = backend(KEY);
    char why[160], sig[BACKEND_SIGNATURE_HEADER_SIZE];
    const char *ts = "1800000000";
    time_t t = 1800000000;
    sign(ts, "w-1", "{}", sig);
    assert_false(backend_signature_verify(&be, "w-1", ts, sig, "{}", 2, t + 301, why, sizeof why));
    assert_non_null(strstr(why, "from our clock"));
    assert_false(backend_signature_verify(&be, "w-1", ts, sig, "{}", 2, t - 301, why, sizeof why));
    /* refusals do not poison the cache: the same request in the window is accepted */
    assert_true(backend_signature_verify(&be, "w-1", ts, sig, "{}", 2, t + 300, why, sizeof why));
    sign(ts, "w-2", "{}", sig);
    assert_true(backend_signature_verify(&be, "w-2", ts, sig, "{}", 2, t - 300, why, sizeof why));
}

/* Fills the cache with live signatures: it refuses rather than forgets, never lets a seen
 * signature through, and takes new ones again once the old ones have left the window. */
static void test_replay_cache_is_bounded_and_never_forgets_live_entries(void **state)
{
    (void)state;
    struct backend_config be = backend(KEY);
    char why[160], sig[BACKEND_SIGNATURE_HEADER_SIZE], ikey[32];
    const char *ts = "1900000000";
    time_t t = 1900000000;
    int accepted = 0, refused_full = 0;
    for (int i = 0; i < 40000 && refused_full == 0; i++) {
        snprintf(ikey, sizeof ikey, "fill-%d", i);
        sign(ts, ikey, "{}", sig);
        if (backend_signature_verify(&be, ikey, ts, sig, "{}", 2, t, why, sizeof why))
            accepted++;
        else if (strstr(why, "too many"))
            refused_full++;
        else
            fail_msg("unexpected refusal: %s", why);
    }
    assert_int_equal(refused_full, 1);
    assert_true(accepted > 100);
    assert_true(accepted <= 2048 * 8);
    for (int i = 0; i < accepted; i++) {
        snprintf(ikey, sizeof ikey, "fill-%d", i);
        sign(ts, ikey, "{}", sig);
        assert_false(backend_signature_verify(&be, ikey, ts, sig, "{}", 2, t + 1, why, sizeof why));
        assert_non_null(strstr(why, "replay"));
    }
    /* later, when those have left the window, their slots are reused */
    const char *ts2 = "1900000400";
    for (int i = 0; i < accepted; i++) {
        snprintf(ikey, sizeof ikey, "again-%d", i);
        sign(ts2, ikey, "{}", sig);
        assert_true(
            backend_signature_verify(&be, ikey, ts2, sig, "{}", 2, t + 401, why, sizeof why));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_vectors),
        cmocka_unit_test(test_verify_accepts_once_then_refuses_the_replay),
        cmocka_unit_test(test_verify_refuses_tampering_and_wrong_keys),
        cmocka_unit_test(test_verify_refuses_malformed_headers),
        cmocka_unit_test(test_window_is_300_seconds_either_way),
        cmocka_unit_test(test_replay_cache_is_bounded_and_never_forgets_live_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
