/* qr: libqrencode wrapper adding the quiet zone (see qr.h). libqrencode's module bytes
 * carry flags in the upper bits; only bit 0 says dark or light. */
#include "printing/qr.h"

#include <qrencode.h>
#include <stdlib.h>
#include <string.h>

#define QR_AUTO_VERSION   0 /* smallest version that fits */
#define QR_CASE_SENSITIVE 1

bool qr_encode(const char *text, struct qr_matrix *out)
{
    out->size = 0;
    out->modules = NULL;
    if (text == NULL || text[0] == '\0' || strnlen(text, QR_TEXT_MAX + 1) > QR_TEXT_MAX) {
        return false;
    }
    QRcode *code =
        QRcode_encodeString(text, QR_AUTO_VERSION, QR_ECLEVEL_M, QR_MODE_8, QR_CASE_SENSITIVE);
    if (code == NULL) {
        return false;
    }
    int size = code->width + 2 * QR_QUIET_ZONE;
    unsigned char *modules = calloc((size_t)size * (size_t)size, 1);
    if (modules == NULL) {
        QRcode_free(code);
        return false;
    }
    for (int y = 0; y < code->width; y++) {
        const unsigned char *row = code->data + (size_t)y * (size_t)code->width;
        unsigned char *dst = modules + (size_t)(y + QR_QUIET_ZONE) * (size_t)size + QR_QUIET_ZONE;
        for (int x = 0; x < code->width; x++) {
            dst[x] = row[x] & 1;
        }
    }
    QRcode_free(code);
    out->size = size;
    out->modules = modules;
    return true;
}

int qr_module(const struct qr_matrix *m, int x, int y)
{
    if (m->modules == NULL || x < 0 || y < 0 || x >= m->size || y >= m->size) {
        return 0;
    }
    return m->modules[(size_t)y * (size_t)m->size + (size_t)x];
}

void qr_free(struct qr_matrix *m)
{
    free(m->modules);
    m->modules = NULL;
    m->size = 0;
}
