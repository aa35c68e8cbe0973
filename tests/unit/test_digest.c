/* digest: SHA-256 and HMAC-SHA-256 with the algorithm fetched once give exactly what
 * OpenSSL's one-shot EVP_Digest and HMAC give, for keys shorter than, equal to and longer
 * than the 64-byte block (and the RFC 4231 vectors); a JSON value's digest is its dump's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway/digest.h"
#include "gateway/token.h"

#include <limits.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

static void hex(const unsigned char *d, char out[2 * DIGEST_SHA256_LEN + 1])
{
    hex_encode(d, DIGEST_SHA256_LEN, out);
}

static void test_sha256_known_vectors(void **state)
{
    (void)state;
    unsigned char d[DIGEST_SHA256_LEN];
    char h[65];
    assert_true(digest_sha256("abc", 3, d));
    hex(d, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_true(digest_sha256("", 0, d));
    hex(d, h);
    assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_hmac_rfc4231(void **state)
{
    (void)state;
    unsigned char key[20], d[DIGEST_SHA256_LEN];
    char h[65];
    memset(key, 0x0b, sizeof key); /* test case 1 */
    assert_true(digest_hmac_sha256(key, sizeof key, "Hi There", 8, d));
    hex(d, h);
    assert_string_equal(h, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    /* test case 2: a short key */
    assert_true(digest_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, d));
    hex(d, h);
    assert_string_equal(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void test_hmac_matches_openssl_for_every_key_length(void **state)
{
    (void)state;
    unsigned char key[200], msg[300];
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (unsigned char)(i * 7 + 3);
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (unsigned char)(i * 13 + 1);
    static const size_t key_lens[] = {0, 1, 16, 32, 63, 64, 65, 128, 200};
    static const size_t msg_lens[] = {0, 1, 12, 55, 56, 64, 300};
    for (size_t k = 0; k < sizeof key_lens / sizeof *key_lens; k++) {
        for (size_t m = 0; m < sizeof msg_lens / sizeof *msg_lens; m++) {
            unsigned char ours[DIGEST_SHA256_LEN], theirs[EVP_MAX_MD_SIZE];
            unsigned int n = 0;
            assert_true(digest_hmac_sha256(key, key_lens[k], msg, msg_lens[m], ours));
            assert_non_null(
                HMAC(EVP_sha256(), key, (int)key_lens[k], msg, msg_lens[m], theirs, &n));
            assert_int_equal(n, DIGEST_SHA256_LEN);
            assert_memory_equal(ours, theirs, DIGEST_SHA256_LEN);
        }
    }
}

static void test_json_digest_is_the_digest_of_its_dump(void **state)
{
    (void)state;
    json_t *v =
        json_pack("{s:s, s:{s:s, s:b, s:i}, s:[i, s, n]}", "service", "caf\xc3\xa9", "fields",
                  "uprn", "100011429101", "blue_badge", 0, "n", -4150, "z", 1, "\"quoted\"", NULL);
    assert_non_null(v);
    char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    unsigned char want[DIGEST_SHA256_LEN], got[DIGEST_SHA256_LEN];
    assert_true(digest_sha256(text, strlen(text), want));
    assert_true(digest_sha256_json(v, JSON_COMPACT | JSON_SORT_KEYS, got));
    assert_memory_equal(got, want, DIGEST_SHA256_LEN);
    free(text);
    json_decref(v);
}

static uint64_t rng = 12345;

static unsigned next(unsigned n)
{
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)((rng >> 33) % n);
}

static void random_text(char *out, size_t max)
{
    static const char *const pieces[] = {
        "a",   "Z",      "0",    "-",    " ",    "\"",       "\\",           "/",
        "\n",  "\t",     "\x01", "\x1f", "\x7f", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
        "key", "fields", "uprn"};
    size_t n = next(6), len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const char *p = pieces[next(sizeof pieces / sizeof *pieces)];
        if (len + strlen(p) + 1 > max)
            break;
        strcpy(out + len, p);
        len += strlen(p);
    }
}

/* A random tree of everything a request body holds but reals. */
static json_t *random_value(int depth)
{
    char text[64];
    switch (depth > 3 ? 3 + next(4) : next(7)) {
    case 0: {
        json_t *o = json_object();
        for (unsigned i = next(7); i > 0; i--) {
            random_text(text, sizeof text);
            json_object_set_new(o, text, random_value(depth + 1));
        }
        return o;
    }
    case 1: {
        json_t *a = json_array();
        for (unsigned i = next(5); i > 0; i--)
            json_array_append_new(a, random_value(depth + 1));
        return a;
    }
    case 2:
        return next(2) ? json_true() : json_false();
    case 3:
        return json_null();
    case 4: {
        static const json_int_t ints[] = {0, 1, -1, 4150, -850, 9007199254740993LL, LLONG_MIN};
        return json_integer(next(3) ? (json_int_t)next(100000) - 500
                                    : ints[next(sizeof ints / sizeof *ints)]);
    }
    default:
        random_text(text, sizeof text);
        return json_string(text);
    }
}

/* The canonical text written by hand is jansson's, byte for byte, for any tree without reals;
 * with a real it is left to jansson and the digest still matches. */
static void test_canonical_text_is_jansson_sorted_compact_dump(void **state)
{
    (void)state;
    for (int i = 0; i < 3000; i++) {
        json_t *v = random_value(0);
        char *want = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        size_t len = 0;
        char *got = digest_canonical_json(v, &len);
        assert_non_null(want);
        assert_non_null(got);
        assert_string_equal(got, want);
        assert_int_equal(len, strlen(want));
        free(got);
        free(want);
        json_decref(v);
    }
    json_t *with_real = json_pack("{s:f, s:i}", "amount", 41.5, "n", 1);
    assert_null(digest_canonical_json(with_real, NULL));
    char *text = json_dumps(with_real, JSON_COMPACT | JSON_SORT_KEYS);
    unsigned char want[DIGEST_SHA256_LEN], got[DIGEST_SHA256_LEN];
    assert_true(digest_sha256(text, strlen(text), want));
    assert_true(digest_sha256_json(with_real, JSON_COMPACT | JSON_SORT_KEYS, got));
    assert_memory_equal(got, want, DIGEST_SHA256_LEN);
    free(text);
    json_decref(with_real);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_known_vectors),
        cmocka_unit_test(test_hmac_rfc4231),
        cmocka_unit_test(test_hmac_matches_openssl_for_every_key_length),
        cmocka_unit_test(test_json_digest_is_the_digest_of_its_dump),
        cmocka_unit_test(test_canonical_text_is_jansson_sorted_compact_dump),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
