/* Unit tests of sim/signature.c: HMAC vectors, header checks, window, replay cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sim/signature.h"

#define KEY     ((const unsigned char *)"key")
#define KEY_LEN 3
#define TS      "1700000000"
#define NOW     ((time_t)1700000000)
#define VECTOR  "a05cd053e3dc10d7f58c61005ccb7d81a9fc92516ec7abb4d7c1f5b0a2964aeb"

static void test_compute_matches_python_hmac(void **state)
{
    char hex[SIGNATURE_HEX_LEN + 1];
    assert_true(signature_compute(KEY, KEY_LEN, TS, "abc", "{}", 2, hex));
    assert_string_equal(hex, VECTOR);
    /* a GET: no key, empty body */
    assert_true(signature_compute(KEY, KEY_LEN, TS, NULL, "", 0, hex));
    assert_string_equal(hex, "167c01e6749f4af85c2764e0b99cabb6a87bebdaced032c35267c5b9ecc6979b");
}

static void test_verify_table(void **state)
{
    static const struct {
        const char *ts;
        const char *sig;
        const char *body;
        time_t now;
        signature_result want;
    } cases[] = {
        {TS, "v1=" VECTOR, "{}", NOW, SIGNATURE_OK},
        {TS, "v1=" VECTOR, "{}", NOW + SIGNATURE_WINDOW_S, SIGNATURE_OK},
        {TS, "v1=" VECTOR, "{}", NOW - SIGNATURE_WINDOW_S, SIGNATURE_OK},
        {TS, "v1=" VECTOR, "{}", NOW + SIGNATURE_WINDOW_S + 1, SIGNATURE_STALE},
        {TS, "v1=" VECTOR, "{}", NOW - SIGNATURE_WINDOW_S - 1, SIGNATURE_STALE},
        {TS, "v1=" VECTOR, "{ }", NOW, SIGNATURE_MISMATCH},
        {NULL, "v1=" VECTOR, "{}", NOW, SIGNATURE_MISSING},
        {TS, NULL, "{}", NOW, SIGNATURE_MISSING},
        {"", "v1=" VECTOR, "{}", NOW, SIGNATURE_MISSING},
        {"17e8", "v1=" VECTOR, "{}", NOW, SIGNATURE_MALFORMED},
        {"-1700000000", "v1=" VECTOR, "{}", NOW, SIGNATURE_MALFORMED},
        {TS, VECTOR, "{}", NOW, SIGNATURE_MALFORMED},
        {TS, "v2=" VECTOR, "{}", NOW, SIGNATURE_MALFORMED},
        {TS, "v1=" VECTOR "00", "{}", NOW, SIGNATURE_MALFORMED},
        {TS, "v1=A05CD053E3DC10D7F58C61005CCB7D81A9FC92516EC7ABB4D7C1F5B0A2964AEB", "{}", NOW,
         SIGNATURE_MALFORMED},
        {TS, "v1=b05cd053e3dc10d7f58c61005ccb7d81a9fc92516ec7abb4d7c1f5b0a2964aeb", "{}", NOW,
         SIGNATURE_MISMATCH},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        signature_result got = signature_verify(KEY, KEY_LEN, cases[i].ts, cases[i].sig, "abc",
                                                cases[i].body, strlen(cases[i].body), cases[i].now);
        if (got != cases[i].want)
            fail_msg("case %zu: got %s want %s", i, signature_result_name(got),
                     signature_result_name(cases[i].want));
    }
    /* the idempotency key is covered */
    assert_int_equal(signature_verify(KEY, KEY_LEN, TS, "v1=" VECTOR, "abd", "{}", 2, NOW),
                     SIGNATURE_MISMATCH);
    /* so is the key */
    assert_int_equal(
        signature_verify((const unsigned char *)"kez", 3, TS, "v1=" VECTOR, "abc", "{}", 2, NOW),
        SIGNATURE_MISMATCH);
}

static void test_replay_cache(void **state)
{
    replay_cache c;
    replay_cache_init(&c);
    assert_false(replay_cache_seen(&c, "v1=aa", 1000, 1000));
    assert_true(replay_cache_seen(&c, "v1=aa", 1000, 1000));
    assert_false(replay_cache_seen(&c, "v1=bb", 1000, 1001));
    /* after the window the entry is swept: the signature would be stale anyway */
    assert_false(replay_cache_seen(&c, "v1=aa", 1000, 1000 + SIGNATURE_WINDOW_S + 2));
    replay_cache_clear(&c);
    assert_false(replay_cache_seen(&c, "v1=bb", 1000, 1000));
    replay_cache_free(&c);
}

static void test_read_key_file_strips_newlines(void **state)
{
    char path[] = "/tmp/sim-key-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "wb");
    fputs("secret\r\n\n", f);
    fclose(f);
    unsigned char *key = NULL;
    size_t len = 0;
    assert_true(signature_read_key_file(path, &key, &len));
    assert_int_equal(len, 6);
    assert_memory_equal(key, "secret", 6);
    free(key);

    f = fopen(path, "wb");
    fputs("\n", f);
    fclose(f);
    assert_false(signature_read_key_file(path, &key, &len));
    remove(path);
    assert_false(signature_read_key_file(path, &key, &len));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compute_matches_python_hmac),
        cmocka_unit_test(test_verify_table),
        cmocka_unit_test(test_replay_cache),
        cmocka_unit_test(test_read_key_file_strips_newlines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
