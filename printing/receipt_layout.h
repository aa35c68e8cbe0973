/* receipt_layout: the content and order of a receipt, shared by every renderer.
 *
 * receipt_layout_build() turns a receipt into a flat list of blocks (a heading, a
 * paragraph, a "label .... amount" row, a rule, the reference, the QR code) with all
 * text already made safe: valid UTF-8, no control characters. The PDF and ESC/POS
 * renderers only decide how a block looks and where lines wrap, so both kinds of
 * receipt always say the same thing. Internal to printing/.
 */
#ifndef ONESTOP_PRINTING_RECEIPT_LAYOUT_H
#define ONESTOP_PRINTING_RECEIPT_LAYOUT_H

#include "printing/receipt.h"

#include <stdbool.h>
#include <stddef.h>

enum layout_kind {
    LAYOUT_TEXT, /* text, wrapped by words */
    LAYOUT_ROW,  /* text on the left (wrapped), right on the right of its first line */
    LAYOUT_RULE, /* a horizontal line */
    LAYOUT_GAP,  /* half a line of space */
    LAYOUT_QR,   /* QR code of text */
};

enum layout_style {
    LAYOUT_NORMAL,
    LAYOUT_BOLD,
    LAYOUT_HEADING,   /* council name */
    LAYOUT_SMALL,     /* captions and the footer */
    LAYOUT_REFERENCE, /* the reference, as large as fits */
};

enum layout_align {
    LAYOUT_LEFT,
    LAYOUT_CENTRE,
};

struct layout_block {
    enum layout_kind kind;
    enum layout_style style;
    enum layout_align align;
    const char *text;  /* points into the layout's arena; "" for rules and gaps */
    const char *right; /* LAYOUT_ROW only */
    int level;         /* 1, 2: a heading of that level (tagged PDF); 0: not a heading */
};

#define LAYOUT_MAX_PARAGRAPHS 8 /* further line breaks in next_steps become spaces */
#define LAYOUT_MAX_BLOCKS     (RECEIPT_MAX_LINES + 2 * LAYOUT_MAX_PARAGRAPHS + 40)
#define LAYOUT_ARENA_MAX                                                                           \
    (10 * RECEIPT_FIELD_MAX + 2 * RECEIPT_PARAGRAPH_MAX + 2 * RECEIPT_URL_MAX +                    \
     RECEIPT_MAX_LINES * (RECEIPT_FIELD_MAX + RECEIPT_MONEY_MAX + 2) +                             \
     RECEIPT_LABELS_COUNT * RECEIPT_LABEL_MAX + 2048)

struct receipt_layout {
    bool rtl;   /* the receipt's language is written right to left: mirror LEFT blocks */
    bool large; /* large print */
    size_t n;
    struct layout_block blocks[LAYOUT_MAX_BLOCKS];
    size_t used;
    char arena[LAYOUT_ARENA_MAX];
};

/* Fills *out (about 20 KiB: allocate it, don't put it on a small stack) from r. False,
 * with a reason in why, if receipt_check() rejects r. */
bool receipt_layout_build(const struct receipt *r, struct receipt_layout *out, char *why,
                          size_t why_len) __attribute__((warn_unused_result));

/* Length in bytes of the valid UTF-8 sequence at s (1..4), or 0 if s does not start
 * one (or starts with NUL). Used by renderers to step through characters. */
size_t layout_utf8_len(const char *s);

#endif
