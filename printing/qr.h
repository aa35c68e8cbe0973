/* qr: a URL as a QR code module matrix, ready to draw.
 *
 * Uses libqrencode with error correction level M in 8-bit mode, case-sensitive (a
 * status URL carries a token that must survive byte for byte). The matrix includes the
 * quiet zone of QR_QUIET_ZONE light modules on every side that scanners need, so a
 * renderer draws every dark module and nothing else.
 */
#ifndef ONESTOP_PRINTING_QR_H
#define ONESTOP_PRINTING_QR_H

#include <stdbool.h>
#include <stddef.h>

#define QR_QUIET_ZONE 4    /* light modules around the symbol (ISO/IEC 18004) */
#define QR_TEXT_MAX   1024 /* bytes accepted for encoding */

struct qr_matrix {
    int size;               /* modules per side, quiet zone included */
    unsigned char *modules; /* size * size bytes, row by row: 1 dark, 0 light */
};

/* Encodes text (NUL-terminated, 1..QR_TEXT_MAX bytes) into *out. On success the
 * caller frees out with qr_free(). False on empty or too long text or if libqrencode
 * fails (out is then zeroed). Thread-safe. */
bool qr_encode(const char *text, struct qr_matrix *out) __attribute__((warn_unused_result));

/* 1 if the module at (x, y) is dark; 0 if light or outside the matrix. */
int qr_module(const struct qr_matrix *m, int x, int y);

/* Frees the matrix; safe on a zeroed or already freed matrix. */
void qr_free(struct qr_matrix *m);

#endif
