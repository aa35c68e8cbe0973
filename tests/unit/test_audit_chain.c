/* The audit chain's canonical hashing and its signed head (gateway/audit_chain.c): a known
 * vector (the same one docs/audit.md's recipe gives), and every change a forger could make to
 * a row — a column, NULL for "", bytes moved between columns, its place, its predecessor —
 * changes the hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway/audit_chain.h"

#include <inttypes.h>
#include <openssl/evp.h>

#include <stdio.h>
#include <string.h>

static const struct audit_row base = {.id = 1,
                                      .at = 1700000000,
                                      .actor = "assistant",
                                      .counter = "SD-01",
                                      .action = "sign_in",
                                      .subject = "assistant",
                                      .detail = NULL,
                                      .remote = "127.0.0.1"};

static void hash_of(const char *prev, const struct audit_row *row, char out[AUDIT_HASH_HEX_SIZE])
{
    assert_true(audit_chain_hash(prev, row, out));
}

static void test_a_known_row_has_the_documented_hash(void **state)
{
    (void)state;
    char h[AUDIT_HASH_HEX_SIZE];
    hash_of(AUDIT_CHAIN_GENESIS, &base, h);
    assert_string_equal(h, "5bdf5fbeba0c125d42edee7b1e39e65bcf3512ee7bf98c89c4c24f6554e5678a");
    char again[AUDIT_HASH_HEX_SIZE];
    hash_of(AUDIT_CHAIN_GENESIS, &base, again);
    assert_string_equal(h, again);
}

/* A row too long for one buffer is hashed part by part: to the hash of the same encoding. */
static void test_a_long_row_has_the_hash_of_its_encoding(void **state)
{
    (void)state;
    static char detail[5000];
    memset(detail, 'd', sizeof detail - 1);
    struct audit_row row = base;
    row.detail = detail;
    char encoding[6000], want[AUDIT_HASH_HEX_SIZE], got[AUDIT_HASH_HEX_SIZE];
    int n = snprintf(encoding, sizeof encoding,
                     "onestop-audit-v1\n%zu:%s\n1:1\n10:1700000000\n9:assistant\n5:SD-01\n"
                     "7:sign_in\n9:assistant\n%zu:%s\n9:127.0.0.1\n",
                     strlen(AUDIT_CHAIN_GENESIS), AUDIT_CHAIN_GENESIS, strlen(detail), detail);
    assert_true(n > 0 && (size_t)n < sizeof encoding);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    assert_int_equal(EVP_Digest(encoding, (size_t)n, md, &md_len, EVP_sha256(), NULL), 1);
    for (unsigned int i = 0; i < md_len; i++)
        snprintf(want + 2 * i, 3, "%02x", md[i]);
    hash_of(AUDIT_CHAIN_GENESIS, &row, got);
    assert_string_equal(got, want);
    /* and a short one too (the known row, whose detail is NULL) */
    n = snprintf(encoding, sizeof encoding,
                 "onestop-audit-v1\n%zu:%s\n1:1\n10:1700000000\n9:assistant\n5:SD-01\n"
                 "7:sign_in\n9:assistant\n-\n9:127.0.0.1\n",
                 strlen(AUDIT_CHAIN_GENESIS), AUDIT_CHAIN_GENESIS);
    assert_int_equal(EVP_Digest(encoding, (size_t)n, md, &md_len, EVP_sha256(), NULL), 1);
    for (unsigned int i = 0; i < md_len; i++)
        snprintf(want + 2 * i, 3, "%02x", md[i]);
    hash_of(AUDIT_CHAIN_GENESIS, &base, got);
    assert_string_equal(got, want);
}

/* The numbers of a row (its id and time) are encoded as printf's "%" PRId64 writes them, at
 * the ends of their range and around zero too. */
static void test_numbers_are_encoded_as_printf_writes_them(void **state)
{
    (void)state;
    static const int64_t values[] = {0, 9, 10, 99, 100, -1, -10, 1700000000, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        struct audit_row row = base;
        row.id = values[i];
        row.at = values[(i + 1) % (sizeof values / sizeof values[0])];
        char id[32], at[32], encoding[1024], want[AUDIT_HASH_HEX_SIZE], got[AUDIT_HASH_HEX_SIZE];
        snprintf(id, sizeof id, "%" PRId64, row.id);
        snprintf(at, sizeof at, "%" PRId64, row.at);
        int n = snprintf(encoding, sizeof encoding,
                         "onestop-audit-v1\n%zu:%s\n%zu:%s\n%zu:%s\n9:assistant\n5:SD-01\n"
                         "7:sign_in\n9:assistant\n-\n9:127.0.0.1\n",
                         strlen(AUDIT_CHAIN_GENESIS), AUDIT_CHAIN_GENESIS, strlen(id), id,
                         strlen(at), at);
        assert_true(n > 0 && (size_t)n < sizeof encoding);
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int md_len = 0;
        assert_int_equal(EVP_Digest(encoding, (size_t)n, md, &md_len, EVP_sha256(), NULL), 1);
        for (unsigned int j = 0; j < md_len; j++)
            snprintf(want + 2 * j, 3, "%02x", md[j]);
        hash_of(AUDIT_CHAIN_GENESIS, &row, got);
        assert_string_equal(got, want);
    }
}

static void test_every_change_to_a_row_changes_its_hash(void **state)
{
    (void)state;
    char want[AUDIT_HASH_HEX_SIZE], got[AUDIT_HASH_HEX_SIZE];
    hash_of(AUDIT_CHAIN_GENESIS, &base, want);
    struct audit_row changed[] = {base, base, base, base, base, base, base, base, base};
    changed[0].id = 2;          /* moved to another place in the chain */
    changed[1].at = 1700000001; /* another time */
    changed[2].actor = "supervisor";
    changed[3].detail = "";         /* NULL is not the empty string */
    changed[4].counter = "SD-0";    /* a byte moved from one column ... */
    changed[4].action = "1sign_in"; /* ... to the next */
    changed[5].remote = NULL;
    changed[6].subject = "assistant ";
    changed[7].action = "sign_out";
    changed[8].counter = NULL;
    for (size_t i = 0; i < sizeof changed / sizeof changed[0]; i++) {
        hash_of(AUDIT_CHAIN_GENESIS, &changed[i], got);
        assert_string_not_equal(got, want);
    }
    /* the same row after another row */
    hash_of("1111111111111111111111111111111111111111111111111111111111111111", &base, got);
    assert_string_not_equal(got, want);
}

static void test_a_signed_head_checks_only_under_its_key_and_unchanged(void **state)
{
    (void)state;
    const unsigned char key[] = "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk";
    const unsigned char other[] = "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkl";
    struct audit_head h = {.id = 7, .at = 1700000000};
    for (int i = 0; i < 32; i++)
        memcpy(h.hash + 2 * i, "ab", 2);
    h.hash[64] = '\0';
    assert_true(audit_head_sign(&h, key, 32));
    assert_string_equal(h.mac, "ae8be9a567294aaf2395e9f576786c79256b440e867fb56786409d887a9f394d");
    assert_true(audit_head_check(&h, key, 32));
    assert_false(audit_head_check(&h, other, 32));
    assert_false(audit_head_check(&h, NULL, 0));
    struct audit_head moved = h;
    moved.id = 8;
    assert_false(audit_head_check(&moved, key, 32));
    struct audit_head rehashed = h;
    rehashed.hash[0] = 'c';
    assert_false(audit_head_check(&rehashed, key, 32));
    struct audit_head later = h;
    later.at++;
    assert_false(audit_head_check(&later, key, 32));
}

static void test_a_head_reads_back_from_a_json_log_line_and_the_last_one_wins(void **state)
{
    (void)state;
    const unsigned char key[] = "0123456789abcdef0123456789abcdef";
    struct audit_head a = {.id = 3, .at = 1700000000}, b = {.id = 9, .at = 1700000300};
    memset(a.hash, 'a', 64);
    memset(b.hash, 'b', 64);
    assert_true(audit_head_sign(&a, key, 32));
    assert_true(audit_head_sign(&b, key, 32));
    char la[AUDIT_HEAD_LINE_MAX], lb[AUDIT_HEAD_LINE_MAX], log[1024];
    audit_head_format(&a, la, sizeof la);
    audit_head_format(&b, lb, sizeof lb);
    snprintf(log, sizeof log,
             "{\"ts\":\"x\",\"level\":\"info\",\"event\":\"audit_head\",\"msg\":\"%s\"}\n"
             "{\"event\":\"started\"}\n{\"event\":\"audit_head\",\"msg\":\"%s\"}\n",
             la, lb);
    struct audit_head got;
    assert_true(audit_head_parse(log, &got));
    assert_int_equal(got.id, 9);
    assert_int_equal(got.at, 1700000300);
    assert_string_equal(got.hash, b.hash);
    assert_true(audit_head_check(&got, key, 32));
    assert_true(audit_head_parse(la, &got));
    assert_int_equal(got.id, 3);
}

static void test_malformed_heads_are_refused(void **state)
{
    (void)state;
    struct audit_head got;
    const char *bad[] = {
        "",
        "audit_head id=3",
        "audit_head id=3 hash=abc at=1 mac=def",
        "audit_head id=-3 hash=" AUDIT_CHAIN_GENESIS " at=1 mac=" AUDIT_CHAIN_GENESIS,
        "audit_head id=3 hash=" AUDIT_CHAIN_GENESIS " at=1 mac=" AUDIT_CHAIN_GENESIS "0",
        "audit_head id=3 hash=" AUDIT_CHAIN_GENESIS "g at=1 mac=" AUDIT_CHAIN_GENESIS,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(audit_head_parse(bad[i], &got));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_known_row_has_the_documented_hash),
        cmocka_unit_test(test_numbers_are_encoded_as_printf_writes_them),
        cmocka_unit_test(test_a_long_row_has_the_hash_of_its_encoding),
        cmocka_unit_test(test_every_change_to_a_row_changes_its_hash),
        cmocka_unit_test(test_a_signed_head_checks_only_under_its_key_and_unchanged),
        cmocka_unit_test(test_a_head_reads_back_from_a_json_log_line_and_the_last_one_wins),
        cmocka_unit_test(test_malformed_heads_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
