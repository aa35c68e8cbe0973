/* Unit tests for qr: the matrix has its quiet zone and finder patterns where ISO/IEC
 * 18004 puts them, and a scanner (zbarimg) reads the matrix back as exactly the text
 * that went in, mixed case and all. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "printing/qr.h"
#include "test_receipt_helpers.h"

#include <stdlib.h>
#include <string.h>

#define SCALE 4 /* pixels per module in the test image */

/* Writes the matrix as a PBM, SCALE pixels per module, and decodes it. */
static int decode_matrix(const struct qr_matrix *m, char *text, size_t len)
{
    char dir[TH_PATH_MAX], pbm[TH_PATH_MAX + 16];
    assert_true(th_tmpdir(dir));
    snprintf(pbm, sizeof pbm, "%s/qr.pbm", dir);
    int px = m->size * SCALE;
    size_t row = ((size_t)px + 7) / 8;
    unsigned char *bits = calloc(row * (size_t)px, 1);
    assert_non_null(bits);
    for (int y = 0; y < px; y++) {
        for (int x = 0; x < px; x++) {
            if (qr_module(m, x / SCALE, y / SCALE)) {
                bits[(size_t)y * row + (size_t)x / 8] |= (unsigned char)(0x80 >> (x % 8));
            }
        }
    }
    assert_true(th_write_pbm(pbm, bits, px, px));
    free(bits);
    int rc = th_zbar(pbm, text, len);
    th_rm_rf(dir);
    return rc;
}

static void test_round_trip_keeps_case(void **state)
{
    (void)state;
    static const char *const urls[] = {
        TH_URL,
        "https://onestop.example/r/LK-00000000?t=aaaaAAAAbbbbBBBB",
        "x",
    };
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        struct qr_matrix m;
        assert_true(qr_encode(urls[i], &m));
        char text[1024];
        assert_int_equal(decode_matrix(&m, text, sizeof text), 0);
        assert_string_equal(text, urls[i]);
        qr_free(&m);
    }
}

static void test_quiet_zone_and_finders(void **state)
{
    (void)state;
    struct qr_matrix m;
    assert_true(qr_encode(TH_URL, &m));
    int symbol = m.size - 2 * QR_QUIET_ZONE;
    /* Versions are 21, 25, 29, ... modules wide. */
    assert_true(symbol >= 21 && (symbol - 21) % 4 == 0);
    for (int i = 0; i < m.size; i++) {
        for (int q = 0; q < QR_QUIET_ZONE; q++) {
            assert_int_equal(qr_module(&m, i, q), 0);
            assert_int_equal(qr_module(&m, q, i), 0);
            assert_int_equal(qr_module(&m, i, m.size - 1 - q), 0);
            assert_int_equal(qr_module(&m, m.size - 1 - q, i), 0);
        }
    }
    /* Finder pattern corners: dark 7x7 ring at three corners of the symbol. */
    const int z = QR_QUIET_ZONE;
    assert_int_equal(qr_module(&m, z, z), 1);
    assert_int_equal(qr_module(&m, z + 6, z + 6), 1);
    assert_int_equal(qr_module(&m, z + 1, z + 1), 0);
    assert_int_equal(qr_module(&m, z + 3, z + 3), 1);
    assert_int_equal(qr_module(&m, m.size - z - 1, z), 1);
    assert_int_equal(qr_module(&m, z, m.size - z - 1), 1);
    /* Module values are exactly 0 or 1 (libqrencode's flag bits are masked off). */
    for (size_t i = 0; i < (size_t)m.size * (size_t)m.size; i++) {
        assert_true(m.modules[i] <= 1);
    }
    /* Outside the matrix reads as light. */
    assert_int_equal(qr_module(&m, -1, 0), 0);
    assert_int_equal(qr_module(&m, 0, m.size), 0);
    qr_free(&m);
    qr_free(&m); /* safe twice */
    assert_null(m.modules);
}

static void test_rejects_empty_and_too_long(void **state)
{
    (void)state;
    struct qr_matrix m;
    assert_false(qr_encode("", &m));
    assert_null(m.modules);
    assert_false(qr_encode(NULL, &m));
    char *big = malloc(QR_TEXT_MAX + 2);
    assert_non_null(big);
    memset(big, 'a', QR_TEXT_MAX + 1);
    big[QR_TEXT_MAX + 1] = '\0';
    assert_false(qr_encode(big, &m));
    big[QR_TEXT_MAX] = '\0';
    assert_true(qr_encode(big, &m));
    qr_free(&m);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_keeps_case),
        cmocka_unit_test(test_quiet_zone_and_finders),
        cmocka_unit_test(test_rejects_empty_and_too_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
