/* Tests of services/reference: format, forgiving parsing, and a proof over a large random
 * sample that the check symbol catches every single wrong symbol and every swap of two
 * unequal neighbours (including a swap with the check symbol). */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "services/reference.h"

#define SAMPLE       20000
#define SYMBOLS      10 /* prefix 2 + random 7 + check 1 */
#define ALPHABET_LEN 31

/* "RP-4K7M-9Q2X" -> "RP4K7M9Q2X" */
static void strip(const char *ref, char out[SYMBOLS + 1])
{
    size_t n = 0;
    for (const char *p = ref; *p; p++)
        if (*p != '-')
            out[n++] = *p;
    out[n] = '\0';
}

static void test_alphabet(void **state)
{
    assert_int_equal(strlen(REFERENCE_ALPHABET), ALPHABET_LEN);
    assert_int_equal(REFERENCE_RADIX, ALPHABET_LEN);
    for (const char *c = "ILOUZ"; *c; c++)
        assert_null(strchr(REFERENCE_ALPHABET, *c));
    /* 3 is a primitive root mod 31: its powers 3^1..3^30 are all different. */
    int seen[ALPHABET_LEN] = {0};
    int p = 1;
    for (int i = 1; i <= 30; i++) {
        p = p * 3 % 31;
        assert_int_equal(seen[p], 0);
        seen[p] = 1;
    }
}

static void test_generate_format(void **state)
{
    char ref[REFERENCE_SIZE];
    for (int i = 0; i < 1000; i++) {
        assert_true(reference_generate("RP", ref, sizeof ref));
        assert_int_equal(strlen(ref), REFERENCE_LEN);
        assert_memory_equal(ref, "RP-", 3);
        assert_int_equal(ref[7], '-');
        for (int k = 3; k < REFERENCE_LEN; k++)
            if (k != 7)
                assert_non_null(strchr(REFERENCE_ALPHABET, ref[k]));
        char canonical[REFERENCE_SIZE];
        assert_true(reference_parse(ref, canonical, sizeof canonical));
        assert_string_equal(canonical, ref);
        assert_true(reference_valid(ref));
    }
}

static void test_generate_rejects(void **state)
{
    char ref[REFERENCE_SIZE];
    char small[REFERENCE_SIZE - 1];
    assert_false(reference_generate("RP", small, sizeof small));
    assert_false(reference_generate("rp", ref, sizeof ref)); /* prefix is upper case */
    assert_false(reference_generate("R", ref, sizeof ref));
    assert_false(reference_generate("RPX", ref, sizeof ref));
    assert_false(reference_generate("IO", ref, sizeof ref)); /* ambiguous letters */
    assert_false(reference_generate("ZU", ref, sizeof ref));
    assert_false(reference_generate("R1", ref, sizeof ref)); /* letters only */
    assert_false(reference_generate(NULL, ref, sizeof ref));
    assert_true(reference_prefix_valid("BR"));
    assert_false(reference_prefix_valid("BL"));
}

/* Each symbol is (close to) uniform: over 20,000 x 7 symbols each value appears about 4516
 * times; a biased generator (e.g. byte % 31 without rejection) would favour 0-7 by ~12%. */
static void test_generate_uniform(void **state)
{
    long counts[ALPHABET_LEN] = {0};
    char ref[REFERENCE_SIZE], s[SYMBOLS + 1];
    for (int i = 0; i < SAMPLE; i++) {
        assert_true(reference_generate("BR", ref, sizeof ref));
        strip(ref, s);
        for (int k = 2; k < 9; k++)
            counts[strchr(REFERENCE_ALPHABET, s[k]) - REFERENCE_ALPHABET]++;
    }
    double expect = SAMPLE * 7.0 / ALPHABET_LEN;
    for (int v = 0; v < ALPHABET_LEN; v++) {
        assert_true(counts[v] > expect * 0.92);
        assert_true(counts[v] < expect * 1.08);
    }
}

static void test_parse_forgiving(void **state)
{
    char ref[REFERENCE_SIZE], canonical[REFERENCE_SIZE];
    /* Find a reference whose symbols include 0 and 1 so O, I and L readings are exercised. */
    do {
        assert_true(reference_generate("RP", ref, sizeof ref));
    } while (!strchr(ref + 3, '0') || !strchr(ref + 3, '1'));
    char typed[64];
    size_t n = 0;
    for (const char *p = ref; *p; p++) {
        char c = *p;
        if (c == '-') {
            typed[n++] = ' ';
            continue;
        }
        if (c == '0')
            c = 'o';
        else if (c == '1')
            c = (n % 2) ? 'l' : 'I';
        else
            c = (char)tolower((unsigned char)c);
        typed[n++] = c;
        if (n == 5)
            typed[n++] = '-';
    }
    typed[n] = '\0';
    assert_true(reference_parse(typed, canonical, sizeof canonical));
    assert_string_equal(canonical, ref);

    char s[SYMBOLS + 1];
    strip(ref, s);
    assert_true(reference_parse(s, canonical, sizeof canonical)); /* no hyphens at all */
    assert_string_equal(canonical, ref);

    static const char *const bad[] = {
        "",
        "RP",
        "RP-",
        "RP-4K7M-9Q2",
        "RP-4K7M-9Q2XX",
        "RP-4K7M-9Q2Z",
        "RP-4K7M-9Q2U",
        "R1-4K7M-9Q2X",
        "RP_4K7M_9Q2X",
        "RP-4K7M-9Q2X!",
        "RP-4K7M-9Q2X                                                                    ",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(canonical, sizeof canonical, "junk");
        assert_false(reference_parse(bad[i], canonical, sizeof canonical));
        assert_string_equal(canonical, "");
    }
    assert_false(reference_parse(NULL, canonical, sizeof canonical));
    assert_false(reference_valid(NULL));
}

static void test_check_value_definition(void **state)
{
    /* sum(v_i * 3^(n-i)) + c == 0 (mod 31), checked by hand for a known case. */
    int v[9] = {24, 22, 4, 19, 7, 20, 9, 23, 2}; /* R P 4 K 7 M 9 Q 2 */
    int sum = 0, w = 1;
    for (int i = 8; i >= 0; i--) {
        w = w * 3 % 31;
        sum += v[i] * w;
    }
    int c = reference_check_value(v, 9);
    assert_int_equal((sum + c) % 31, 0);
    char ref[REFERENCE_SIZE] = "RP-4K7M-9Q2?";
    ref[11] = REFERENCE_ALPHABET[c];
    assert_true(reference_valid(ref));
}

/* Every single-symbol change and every adjacent swap of unequal symbols of SAMPLE random
 * references is rejected. */
static void test_check_catches_errors(void **state)
{
    static const char *const prefixes[] = {"RP", "BR", "AB", "YX"};
    char ref[REFERENCE_SIZE], s[SYMBOLS + 1], t[SYMBOLS + 1];
    long substitutions = 0, swaps = 0;
    for (int i = 0; i < SAMPLE; i++) {
        assert_true(reference_generate(prefixes[i % 4], ref, sizeof ref));
        strip(ref, s);
        for (int pos = 0; pos < SYMBOLS; pos++) {
            for (int v = 0; v < ALPHABET_LEN; v++) {
                char sym = REFERENCE_ALPHABET[v];
                if (sym == s[pos])
                    continue;
                memcpy(t, s, sizeof t);
                t[pos] = sym;
                if (reference_valid(t)) {
                    print_error("%s with position %d as %c passed\n", ref, pos, sym);
                    fail();
                }
                substitutions++;
            }
        }
        for (int pos = 0; pos + 1 < SYMBOLS; pos++) {
            if (s[pos] == s[pos + 1])
                continue;
            memcpy(t, s, sizeof t);
            t[pos] = s[pos + 1];
            t[pos + 1] = s[pos];
            if (reference_valid(t)) {
                print_error("%s with positions %d and %d swapped passed\n", ref, pos, pos + 1);
                fail();
            }
            swaps++;
        }
    }
    assert_true(substitutions == (long)SAMPLE * SYMBOLS * (ALPHABET_LEN - 1));
    assert_true(swaps > (long)SAMPLE * 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alphabet),
        cmocka_unit_test(test_generate_format),
        cmocka_unit_test(test_generate_rejects),
        cmocka_unit_test(test_generate_uniform),
        cmocka_unit_test(test_parse_forgiving),
        cmocka_unit_test(test_check_value_definition),
        cmocka_unit_test(test_check_catches_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
