/* Session tokens: 256 random bits, base64url, stored as SHA-256; Bearer parsing. Also the
 * sign-in limiter that guards token issue. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway/signin_limiter.h"
#include "gateway/token.h"

#include <stdio.h>
#include <string.h>

static void test_tokens_are_long_random_and_well_formed(void **state)
{
    (void)state;
    char a[TOKEN_TEXT_LEN + 1], b[TOKEN_TEXT_LEN + 1];
    assert_true(token_generate(a));
    assert_true(token_generate(b));
    assert_int_equal(strlen(a), 43); /* 256 bits in base64url without padding */
    assert_string_not_equal(a, b);
    assert_true(token_well_formed(a));
    for (const char *p = a; *p; p++)
        assert_null(strchr("+/=", *p));
}

static void test_hash_is_sha256_hex(void **state)
{
    (void)state;
    char hash[TOKEN_HASH_HEX_LEN + 1];
    token_hash("abc", hash);
    assert_string_equal(hash, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    char t[TOKEN_TEXT_LEN + 1], h1[65], h2[65];
    assert_true(token_generate(t));
    token_hash(t, h1);
    token_hash(t, h2);
    assert_string_equal(h1, h2);
    assert_string_not_equal(h1, t);
}

static void test_bearer_parsing(void **state)
{
    (void)state;
    char t[TOKEN_TEXT_LEN + 1], header[80];
    assert_true(token_generate(t));
    snprintf(header, sizeof header, "Bearer %s", t);
    assert_string_equal(token_from_authorization(header), t);
    snprintf(header, sizeof header, "bearer %s", t);
    assert_string_equal(token_from_authorization(header), t);
    snprintf(header, sizeof header, "Basic %s", t);
    assert_null(token_from_authorization(header));
    assert_null(token_from_authorization("Bearer short"));
    assert_null(token_from_authorization("Bearer "));
    assert_null(token_from_authorization(NULL));
    snprintf(header, sizeof header, "Bearer %sX", t);
    assert_null(token_from_authorization(header));
    snprintf(header, sizeof header, "Bearer %.42s!", t);
    assert_null(token_from_authorization(header));
}

static void test_base64url_known_vectors(void **state)
{
    (void)state;
    char out[16];
    assert_int_equal(base64url_encode((const unsigned char *)"\xfb\xff", 2, out, sizeof out), 3);
    assert_string_equal(out, "-_8");
    assert_int_equal(base64url_encode((const unsigned char *)"foob", 4, out, sizeof out), 6);
    assert_string_equal(out, "Zm9vYg");
    assert_int_equal(base64url_encode((const unsigned char *)"foobar", 6, out, 4), 0);
}

static void test_limiter_locks_after_failures_and_forgives(void **state)
{
    (void)state;
    struct signin_limits limits = {.max_failures_per_user = 3,
                                   .max_failures_per_address = 100,
                                   .window_s = 60,
                                   .lockout_s = 10,
                                   .lockout_max_s = 40};
    struct signin_limiter *l = signin_limiter_new(&limits, NULL);
    time_t now = 1000;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(signin_limiter_check(l, "ann", "10.0.0.1", now), 0);
        signin_limiter_failed(l, "ann", "10.0.0.1", now);
    }
    assert_int_equal(signin_limiter_check(l, "ann", "10.0.0.1", now), 0);
    signin_limiter_failed(l, "ann", "10.0.0.1", now);
    assert_int_equal(signin_limiter_check(l, "ann", "10.0.0.1", now), 10); /* this pair */
    assert_int_equal(signin_limiter_check(l, "ann", "10.0.0.9", now), 0);  /* ann elsewhere: in */
    assert_int_equal(signin_limiter_check(l, "bob", "10.0.0.1", now), 0);  /* others not */
    assert_int_equal(signin_limiter_check(l, "ann", "10.0.0.1", now + 10), 0);
    signin_limiter_failed(l, "ann", "10.0.0.1", now + 10); /* 4th: doubles */
    assert_int_equal(signin_limiter_check(l, "ann", "10.0.0.1", now + 10), 20);
    signin_limiter_failed(l, "ann", "10.0.0.1", now + 30);
    signin_limiter_failed(l, "ann", "10.0.0.1", now + 30);
    assert_int_equal(signin_limiter_check(l, "ann", "10.0.0.1", now + 30), 40); /* capped */
    signin_limiter_succeeded(l, "ann", "10.0.0.1");
    assert_int_equal(signin_limiter_check(l, "ann", "10.0.0.1", now + 30), 0);
    signin_limiter_free(l);
}

static void test_limiter_per_address(void **state)
{
    (void)state;
    struct signin_limits limits = {.max_failures_per_user = 100,
                                   .max_failures_per_address = 4,
                                   .window_s = 60,
                                   .lockout_s = 5,
                                   .lockout_max_s = 5};
    struct signin_limiter *l = signin_limiter_new(&limits, NULL);
    char name[16];
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "user%d", i);
        signin_limiter_failed(l, name, "192.0.2.7", 50);
    }
    assert_int_equal(signin_limiter_check(l, "someone-else", "192.0.2.7", 50), 5);
    assert_int_equal(signin_limiter_check(l, "someone-else", "192.0.2.8", 50), 0);
    signin_limiter_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens_are_long_random_and_well_formed),
        cmocka_unit_test(test_hash_is_sha256_hex),
        cmocka_unit_test(test_bearer_parsing),
        cmocka_unit_test(test_base64url_known_vectors),
        cmocka_unit_test(test_limiter_locks_after_failures_and_forgives),
        cmocka_unit_test(test_limiter_per_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
