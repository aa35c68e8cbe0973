/* Password hashing: PBKDF2-HMAC-SHA256 with >= 600,000 iterations, salted, verified exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway/password.h"

#include <stdio.h>
#include <string.h>

static void test_hash_then_verify(void **state)
{
    (void)state;
    char hash[PASSWORD_HASH_MAX];
    assert_true(password_hash("onestop-demo", 600000, hash, sizeof hash));
    assert_true(strncmp(hash, "pbkdf2-sha256$600000$", 21) == 0);
    assert_true(password_verify("onestop-demo", hash));
    assert_false(password_verify("onestop-demO", hash));
    assert_false(password_verify("", hash));
    assert_false(password_verify("onestop-demo ", hash));
}

static void test_salts_differ(void **state)
{
    (void)state;
    char a[PASSWORD_HASH_MAX], b[PASSWORD_HASH_MAX];
    assert_true(password_hash("same password", 600000, a, sizeof a));
    assert_true(password_hash("same password", 600000, b, sizeof b));
    assert_string_not_equal(a, b);
    assert_true(password_verify("same password", a));
    assert_true(password_verify("same password", b));
}

static void test_too_few_iterations_refused(void **state)
{
    (void)state;
    char hash[PASSWORD_HASH_MAX];
    assert_false(password_hash("onestop-demo", 1000, hash, sizeof hash));
    assert_false(password_hash("onestop-demo", 599999, hash, sizeof hash));
}

static void test_iteration_count_travels_with_the_hash(void **state)
{
    (void)state;
    char hash[PASSWORD_HASH_MAX];
    assert_true(password_hash("raise me", 700000, hash, sizeof hash));
    assert_true(strncmp(hash, "pbkdf2-sha256$700000$", 21) == 0);
    assert_true(password_verify("raise me", hash));
    /* the same salt and key with another count must not verify */
    char tampered[PASSWORD_HASH_MAX];
    snprintf(tampered, sizeof tampered, "pbkdf2-sha256$600000$%s", hash + 21);
    assert_false(password_verify("raise me", tampered));
}

static void test_malformed_stored_hashes_never_match(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "plain-text-password",
        "pbkdf2-sha256$",
        "pbkdf2-sha256$abc$AAAA$AAAA",
        "pbkdf2-sha256$600000$",
        "pbkdf2-sha256$600000$c2FsdA==$",
        "pbkdf2-sha256$600000$!!!!!!!!!!!!!!!!!!!!!!!!$"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "md5$600000$c2FsdHNhbHRzYWx0c2FsdA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(password_verify("anything", bad[i]));
    assert_false(password_verify(NULL, "pbkdf2-sha256$600000$x$y"));
}

static void test_overlong_password_refused(void **state)
{
    (void)state;
    static char longpw[PASSWORD_MAX_LENGTH + 10];
    memset(longpw, 'x', sizeof longpw - 1);
    char hash[PASSWORD_HASH_MAX];
    assert_false(password_hash(longpw, 600000, hash, sizeof hash));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_then_verify),
        cmocka_unit_test(test_salts_differ),
        cmocka_unit_test(test_too_few_iterations_refused),
        cmocka_unit_test(test_iteration_count_travels_with_the_hash),
        cmocka_unit_test(test_malformed_stored_hashes_never_match),
        cmocka_unit_test(test_overlong_password_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
