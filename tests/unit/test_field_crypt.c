/* field_crypt: the sealed value format ("enc:v2:<key id>:<base64 IV | ciphertext | tag>")
 * round-trips under the key that sealed it and under a ring that holds it as an older key,
 * opens only in the context it was sealed in (a v1 value, sealed before contexts, anywhere),
 * every seal differs (fresh IV), a changed byte or a missing key is refused, plaintext passes
 * through; the blind index is deterministic per (key, name, value) and differs across each. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway/data_keys.h"
#include "gateway/field_crypt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/onestop-field-crypt-XXXXXX";

static void write_key(const char *id, const char *hex)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s.key", dir, id);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", hex);
    fclose(f);
}

static struct data_keys *ring(const char *first, const char *second)
{
    struct data_keys *k = data_keys_new();
    char path[256], err[256];
    const char *ids[] = {first, second};
    for (int i = 0; i < 2 && ids[i]; i++) {
        snprintf(path, sizeof path, "%s/%s.key", dir, ids[i]);
        assert_true(data_keys_load(k, path, err, sizeof err));
    }
    return k;
}

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(dir))
        return -1;
    write_key("k1", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    write_key("k2", "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char path[256];
    for (const char *const *id = (const char *const[]){"k1", "k2", NULL}; *id; id++) {
        snprintf(path, sizeof path, "%s/%s.key", dir, *id);
        unlink(path);
    }
    rmdir(dir);
    return 0;
}

static void test_seal_round_trip_and_format(void **state)
{
    (void)state;
    struct field_crypt fc = {ring("k1", NULL), NULL, NULL};
    /* lengths around base64's padding: 0, 1 and 2 '=' */
    const char *values[] = {"", "A", "AB", "ABC",
                            "{\"vrm\":\"BD51SMR\",\"phone\":\"0161 480 4949\"}"};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char *a = NULL, *b = NULL, *plain = NULL, err[160];
        assert_true(field_seal(&fc, values[i], "ctx", &a));
        assert_true(field_seal(&fc, values[i], "ctx", &b));
        assert_int_equal(strncmp(a, "enc:v2:k1:", 10), 0);
        assert_string_not_equal(a, b); /* a fresh IV each time */
        if (strlen(values[i]) > 8)     /* a short one may turn up in base64 by chance */
            assert_null(strstr(a, values[i]));
        char id[DATA_KEY_ID_MAX + 1];
        assert_true(field_sealed_key(a, id, sizeof id));
        assert_string_equal(id, "k1");
        assert_true(field_open(&fc, a, "ctx", &plain, err, sizeof err));
        assert_string_equal(plain, values[i]);
        free(plain);
        free(a);
        free(b);
    }
    data_keys_free(fc.data);
}

static void test_an_older_key_opens_and_a_missing_one_is_named(void **state)
{
    (void)state;
    struct field_crypt old = {ring("k1", NULL), NULL, NULL};
    struct field_crypt both = {ring("k2", "k1"), NULL, NULL}; /* k2 current, k1 kept to read */
    struct field_crypt other = {ring("k2", NULL), NULL, NULL};
    char *sealed = NULL, *plain = NULL, *again = NULL, err[160] = "";
    assert_true(field_seal(&old, "BD51SMR", "ctx", &sealed));
    assert_true(field_open(&both, sealed, "ctx", &plain, err, sizeof err));
    assert_string_equal(plain, "BD51SMR");
    assert_true(field_seal(&both, plain, "ctx", &again));
    assert_int_equal(strncmp(again, "enc:v2:k2:", 10), 0);
    free(plain);
    assert_false(field_open(&other, sealed, "ctx", &plain, err, sizeof err));
    assert_non_null(strstr(err, "k1"));
    assert_null(strstr(err, "BD51SMR"));
    free(sealed);
    free(again);
    data_keys_free(old.data);
    data_keys_free(both.data);
    data_keys_free(other.data);
}

static void test_an_altered_value_is_refused(void **state)
{
    (void)state;
    struct field_crypt fc = {ring("k1", NULL), NULL, NULL};
    char *sealed = NULL, *plain = NULL, err[160];
    assert_true(field_seal(&fc, "07700 900461", "ctx", &sealed));
    size_t len = strlen(sealed);
    /* every character but the last three (base64 padding bits may not count) */
    for (size_t i = strlen("enc:v2:k1:"); i + 3 < len; i++) {
        char saved = sealed[i];
        sealed[i] = saved == 'A' ? 'B' : 'A';
        assert_false(field_open(&fc, sealed, "ctx", &plain, err, sizeof err));
        assert_null(plain);
        sealed[i] = saved;
    }
    assert_false(field_open(&fc, "enc:v1:k1:short", "ctx", &plain, err, sizeof err));
    assert_false(field_open(&fc, "enc:v1:k1:", "ctx", &plain, err, sizeof err));
    /* the key id cannot be swapped: k2 is not k1 */
    struct field_crypt two = {ring("k1", "k2"), NULL, NULL};
    sealed[7] = 'k';
    sealed[8] = '2';
    assert_false(field_open(&two, sealed, "ctx", &plain, err, sizeof err));
    free(sealed);
    data_keys_free(fc.data);
    data_keys_free(two.data);
}

static void test_plaintext_passes_and_no_key_stores_plain(void **state)
{
    (void)state;
    struct field_crypt none = {NULL, NULL, NULL};
    char *out = NULL, err[160];
    assert_true(field_seal(&none, "{\"a\":1}", "ctx", &out));
    assert_string_equal(out, "{\"a\":1}");
    free(out);
    assert_true(field_open(&none, "{\"a\":1}", "ctx", &out, err, sizeof err));
    assert_string_equal(out, "{\"a\":1}");
    free(out);
    assert_false(field_sealed_key("{\"a\":1}", NULL, 0));
    assert_false(field_sealed_key("enc:v1:", NULL, 0));
    assert_false(field_open(&none, "enc:v1:k1:AAAA", "ctx", &out, err, sizeof err));
}

static void test_a_value_opens_only_in_its_context(void **state)
{
    (void)state;
    struct field_crypt fc = {ring("k1", NULL), NULL, NULL};
    char *sealed = NULL, *plain = NULL, err[160] = "";
    assert_true(field_seal(&fc, "{\"vrm\":\"BD51SMR\"}", "PK-2026-000001", &sealed));
    assert_int_equal(field_sealed_version(sealed), 2);
    assert_true(field_open(&fc, sealed, "PK-2026-000001", &plain, err, sizeof err));
    assert_string_equal(plain, "{\"vrm\":\"BD51SMR\"}");
    free(plain);
    plain = NULL;
    /* another row, another column, no context: refused, saying why, never the value */
    const char *elsewhere[] = {"PK-2026-000002", "deliveries.payload", "", NULL};
    for (int i = 0; i < 4; i++) {
        assert_false(field_open(&fc, sealed, elsewhere[i], &plain, err, sizeof err));
        assert_null(plain);
        assert_non_null(strstr(err, "copied from another row or column"));
        assert_null(strstr(err, "BD51SMR"));
    }
    free(sealed);
    /* a value sealed before contexts (v1: no associated data) opens in any context */
    const char *v1 = NULL;
    char *v2 = NULL;
    assert_true(field_seal(&fc, "07700 900461", NULL, &v2));
    char *copy = strdup(v2);
    memcpy(copy, "enc:v1:", 7); /* v2 with an empty context seals exactly as v1 did */
    v1 = copy;
    assert_int_equal(field_sealed_version(v1), 1);
    assert_true(field_open(&fc, v1, "PK-2026-000009", &plain, err, sizeof err));
    assert_string_equal(plain, "07700 900461");
    free(plain);
    free(copy);
    free(v2);
    data_keys_free(fc.data);
}

static void test_blind_index(void **state)
{
    (void)state;
    struct field_crypt fc = {NULL, ring("k1", NULL), NULL};
    struct field_crypt other = {NULL, ring("k2", NULL), NULL};
    char a[FIELD_BLIND_SIZE], b[FIELD_BLIND_SIZE], c[FIELD_BLIND_SIZE], d[FIELD_BLIND_SIZE];
    char e[FIELD_BLIND_SIZE], f[FIELD_BLIND_SIZE];
    assert_true(field_blind(&fc, "vehicle", "BD51SMR", a));
    assert_true(field_blind(&fc, "vehicle", "BD51SMR", b));
    assert_string_equal(a, b); /* equality look-ups work */
    assert_int_equal(strlen(a), FIELD_BLIND_SIZE - 1);
    assert_int_equal(strncmp(a, "bi:v1:", 6), 0);
    assert_null(strstr(a, "BD51SMR"));
    assert_true(field_blind(&fc, "vehicle", "BD51SMS", c));
    assert_string_not_equal(a, c);
    assert_true(field_blind(&fc, "household", "BD51SMR", d)); /* the name is bound */
    assert_string_not_equal(a, d);
    assert_true(field_blind(&other, "vehicle", "BD51SMR", e)); /* and the key */
    assert_string_not_equal(a, e);
    /* ("ab","c") and ("a","bc") differ: the name ends with a NUL */
    assert_true(field_blind(&fc, "ab", "c", e));
    assert_true(field_blind(&fc, "a", "bc", f));
    assert_string_not_equal(e, f);
    struct field_crypt none = {NULL, NULL, NULL};
    assert_false(field_blind(&none, "vehicle", "BD51SMR", f));
    data_keys_free(fc.index);
    data_keys_free(other.index);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seal_round_trip_and_format),
        cmocka_unit_test(test_an_older_key_opens_and_a_missing_one_is_named),
        cmocka_unit_test(test_an_altered_value_is_refused),
        cmocka_unit_test(test_plaintext_passes_and_no_key_stores_plain),
        cmocka_unit_test(test_a_value_opens_only_in_its_context),
        cmocka_unit_test(test_blind_index),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
