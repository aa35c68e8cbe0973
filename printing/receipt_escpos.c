/* receipt_escpos: ESC/POS renderer (see receipt_escpos.h).
 *
 * Each layout block is converted to PC858 first (one byte per character, so a byte is
 * a column), then wrapped by words at the block's width in columns. Rows put the amount
 * at the right edge of their first line. The QR raster is one bit per dot, most
 * significant bit leftmost, 1 = black, ESCPOS_QR_SCALE dots per module. */
#include "printing/receipt_escpos.h"

#include "printing/qr.h"
#include "printing/receipt_layout.h"

#include <stdlib.h>
#include <string.h>

#define ESC 0x1B
#define GS  0x1D
#define LF  0x0A

#define SIZE_NORMAL        0x00
#define SIZE_DOUBLE_HEIGHT 0x01
#define SIZE_DOUBLE        0x11
#define ALIGN_LEFT         0
#define ALIGN_CENTRE       1
#define CUT_PARTIAL_FEED   66
#define RULE_CHAR          '-'

struct out {
    unsigned char *data;
    size_t len, cap;
    bool failed;
};

static void put(struct out *o, const void *bytes, size_t n)
{
    if (o->failed) {
        return;
    }
    if (n > ESCPOS_MAX_BYTES - o->len) {
        o->failed = true;
        return;
    }
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->len + n) {
            cap *= 2;
        }
        unsigned char *p = realloc(o->data, cap);
        if (p == NULL) {
            o->failed = true;
            return;
        }
        o->data = p;
        o->cap = cap;
    }
    memcpy(o->data + o->len, bytes, n);
    o->len += n;
}

static void put3(struct out *o, unsigned char a, unsigned char b, unsigned char c)
{
    unsigned char cmd[3] = {a, b, c};
    put(o, cmd, sizeof cmd);
}

static void put_byte(struct out *o, unsigned char c)
{
    put(o, &c, 1);
}

/* Converts cleaned UTF-8 to PC858, one byte per character: ASCII as is, £ as 0x9C,
 * anything else '?'. dst must hold strlen(src) + 1 bytes. Returns the length. */
static size_t to_pc858(const char *src, char *dst)
{
    size_t o = 0;
    while (*src != '\0') {
        size_t n = layout_utf8_len(src);
        unsigned char c = (unsigned char)*src;
        if (n == 0) {
            n = 1;
            dst[o++] = '?';
        } else if (n == 1) {
            dst[o++] = (c >= 0x20 && c < 0x7F) ? (char)c : '?';
        } else if (n == 2 && c == 0xC2 && (unsigned char)src[1] == 0xA3) {
            dst[o++] = (char)ESCPOS_PC858_POUND;
        } else {
            dst[o++] = '?';
        }
        src += n;
    }
    dst[o] = '\0';
    return o;
}

/* Next line of at most width columns from *s: whole words joined by single spaces, or
 * a hard break inside a word longer than a line. Writes it to line (width + 1 bytes). */
static size_t next_line(const char **s, size_t width, char *line)
{
    const char *p = *s;
    size_t n = 0;
    while (*p == ' ') {
        p++;
    }
    while (*p != '\0') {
        const char *we = p;
        while (*we != '\0' && *we != ' ') {
            we++;
        }
        size_t wl = (size_t)(we - p);
        size_t need = n == 0 ? wl : n + 1 + wl;
        if (need <= width) {
            if (n > 0) {
                line[n++] = ' ';
            }
            memcpy(line + n, p, wl);
            n += wl;
            p = we;
            while (*p == ' ') {
                p++;
            }
            continue;
        }
        if (n == 0) {
            memcpy(line, p, width);
            n = width;
            p += width;
        }
        break;
    }
    line[n] = '\0';
    *s = p;
    return n;
}

/* Large print doubles every character's width and height (half the columns). */
static size_t columns_of(enum layout_style style, bool large)
{
    return style == LAYOUT_REFERENCE || large ? ESCPOS_COLUMNS / 2 : ESCPOS_COLUMNS;
}

static void put_style(struct out *o, enum layout_style style, enum layout_align align, bool large)
{
    bool bold = style != LAYOUT_NORMAL && style != LAYOUT_SMALL;
    unsigned char size = style == LAYOUT_REFERENCE || large ? SIZE_DOUBLE
                         : style == LAYOUT_HEADING          ? SIZE_DOUBLE_HEIGHT
                                                            : SIZE_NORMAL;
    put3(o, ESC, 'a', align == LAYOUT_CENTRE ? ALIGN_CENTRE : ALIGN_LEFT);
    put3(o, ESC, 'E', bold ? 1 : 0);
    put3(o, GS, '!', size);
}

static void put_text_block(struct out *o, const struct layout_block *b, bool large, char *conv,
                           char *right, char *line)
{
    size_t columns = columns_of(b->style, large);
    (void)to_pc858(b->text, conv);
    size_t right_len = 0;
    size_t width = columns;
    if (b->kind == LAYOUT_ROW && b->right != NULL) {
        right_len = to_pc858(b->right, right);
        if (right_len > columns / 2) {
            right_len = columns / 2;
            right[right_len] = '\0';
        }
        width = columns - right_len - 1;
    }
    put_style(o, b->style, b->align, large);
    const char *s = conv;
    bool first = true;
    do {
        size_t n = next_line(&s, width, line);
        put(o, line, n);
        if (first && right_len > 0) {
            for (size_t i = n; i < columns - right_len; i++) {
                put_byte(o, ' ');
            }
            put(o, right, right_len);
        }
        put_byte(o, LF);
        first = false;
    } while (*s != '\0');
}

static void put_qr(struct out *o, const char *url)
{
    struct qr_matrix m;
    if (!qr_encode(url, &m)) {
        o->failed = true;
        return;
    }
    int scale = ESCPOS_QR_SCALE;
    while (scale > 1 && m.size * scale > ESCPOS_HEAD_DOTS) {
        scale--;
    }
    size_t dots = (size_t)m.size * (size_t)scale;
    size_t row_bytes = (dots + 7) / 8;
    unsigned char *row = calloc(row_bytes, 1);
    if (row == NULL) {
        qr_free(&m);
        o->failed = true;
        return;
    }
    put3(o, ESC, 'a', ALIGN_CENTRE);
    unsigned char header[8] = {GS,
                               'v',
                               '0',
                               0, /* normal density */
                               (unsigned char)(row_bytes & 0xFF),
                               (unsigned char)(row_bytes >> 8),
                               (unsigned char)(dots & 0xFF),
                               (unsigned char)(dots >> 8)};
    put(o, header, sizeof header);
    for (int y = 0; y < m.size; y++) {
        memset(row, 0, row_bytes);
        for (size_t x = 0; x < dots; x++) {
            if (qr_module(&m, (int)(x / (size_t)scale), y)) {
                row[x / 8] |= (unsigned char)(0x80 >> (x % 8));
            }
        }
        for (int k = 0; k < scale; k++) {
            put(o, row, row_bytes);
        }
    }
    put_byte(o, LF);
    free(row);
    qr_free(&m);
}

bool receipt_render_escpos(const struct receipt *r, unsigned char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    struct out o = {0};
    struct receipt_layout *layout = malloc(sizeof *layout);
    /* Conversion buffers: a block's text is at most the whole arena. */
    char *conv = malloc(LAYOUT_ARENA_MAX);
    char *right = malloc(LAYOUT_ARENA_MAX);
    char line[ESCPOS_COLUMNS + 1];
    bool ok = false;
    if (layout == NULL || conv == NULL || right == NULL ||
        !receipt_escpos_supports(r->labels != NULL ? r->labels->language : "en") ||
        !receipt_layout_build(r, layout, NULL, 0)) {
        goto out;
    }
    const unsigned char init[] = {ESC, '@', ESC, 't', ESCPOS_PC858};
    put(&o, init, sizeof init);
    for (size_t i = 0; i < layout->n; i++) {
        const struct layout_block *b = &layout->blocks[i];
        switch (b->kind) {
        case LAYOUT_TEXT:
        case LAYOUT_ROW:
            put_text_block(&o, b, layout->large, conv, right, line);
            break;
        case LAYOUT_RULE:
            put_style(&o, LAYOUT_NORMAL, LAYOUT_LEFT, layout->large);
            memset(line, RULE_CHAR, columns_of(LAYOUT_NORMAL, layout->large));
            put(&o, line, columns_of(LAYOUT_NORMAL, layout->large));
            put_byte(&o, LF);
            break;
        case LAYOUT_GAP:
            put_byte(&o, LF);
            break;
        case LAYOUT_QR:
            put_qr(&o, b->text);
            break;
        }
    }
    put_style(&o, LAYOUT_NORMAL, LAYOUT_LEFT, false);
    const unsigned char cut[] = {GS, 'V', CUT_PARTIAL_FEED, ESCPOS_CUT_FEED};
    put(&o, cut, sizeof cut);
    if (o.failed) {
        goto out;
    }
    *out = o.data;
    *len = o.len;
    o.data = NULL;
    ok = true;
out:
    free(o.data);
    free(layout);
    free(conv);
    free(right);
    return ok;
}

bool receipt_escpos_supports(const char *language)
{
    return language != NULL && strcmp(language, "en") == 0;
}
