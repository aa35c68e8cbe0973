/* receipt_pdf: cairo PDF renderer (see receipt_pdf.h).
 *
 * Two passes over the layout. The first measures: it wraps every block into lines with
 * cairo text extents and records where each line, rule and the QR code go (a list of
 * "placed" items with their page). The second draws the placed items. Between the two
 * the page size of an 80 mm roll receipt is set to the measured length — cairo allows
 * cairo_pdf_surface_set_size() until the first drawing operation on a page — so the
 * whole receipt is one surface and one pass of font work.
 *
 * The QR code is a small image scaled up without smoothing (see draw_qr).
 *
 * Fonts: receipt_font.h measures and draws each line, with cairo's toy API or, for a
 * receipt in a right-to-left language, with pango (shaping and bidi). There lines are
 * broken in logical order, pango orders each line, and lines and labels are set against
 * the right margin with amounts on the left. The reference, the amounts and the QR code
 * stay left to right.
 *
 * Tagging: every block is drawn inside a structure tag (H1, H2, P, Figure) within one
 * Document, so the PDF is tagged for screen readers in printed order. cairo 1.16 writes
 * neither /Alt for a Figure nor the document's /Lang: receipt_pdf_tags.h adds both to the
 * finished PDF (the QR code is also described by the status address printed under it).
 */
#include "printing/receipt_pdf.h"

#include "printing/qr.h"
#include "printing/receipt_font.h"
#include "printing/receipt_layout.h"
#include "printing/receipt_pdf_tags.h"

#include <cairo-pdf.h>
#include <cairo.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_FACTOR         1.28 /* line height / font size */
#define REFERENCE_SIZE_STEP 0.25 /* pt: the reference shrinks by this until it fits */
#define ASCENT_FACTOR       0.95 /* baseline below the top of a line / font size */
#define RULE_WIDTH          0.6
#define ROW_GAP_EM          1.0  /* space between a row's text and its amount, in ems */
#define ROW_LEFT_MIN        0.45 /* a row's text keeps at least this share of the width */
#define MM_TO_PT            (72.0 / 25.4)
#define QR_DARK             0x000000u /* CAIRO_FORMAT_RGB24 pixels */
#define QR_LIGHT            0xFFFFFFu

struct paper_style {
    double width;      /* page width, pt */
    double height;     /* page height, pt; 0: fit to content */
    double margin;     /* all four sides, pt */
    double size[5];    /* font size by enum layout_style */
    double qr_module;  /* preferred size of a QR module, pt */
    double min_height; /* shortest roll page, pt */
};

static const struct paper_style ROLL = {
    .width = RECEIPT_ROLL_WIDTH_PT,
    .height = 0,
    .margin = 4 * MM_TO_PT,
    .size = {[LAYOUT_NORMAL] = 8.5,
             [LAYOUT_BOLD] = 8.5,
             [LAYOUT_HEADING] = 12,
             [LAYOUT_SMALL] = 7,
             [LAYOUT_REFERENCE] = 20},
    .qr_module = 2.88, /* 1/25 inch: whole dots at 150, 300 and 600 dpi */
    .min_height = 60 * MM_TO_PT,
};

/* Large print: body text 16 pt on the roll, 18 pt on A4 (the seed asks for at least 16). */
static const struct paper_style ROLL_LARGE = {
    .width = RECEIPT_ROLL_WIDTH_PT,
    .height = 0,
    .margin = 3 * MM_TO_PT,
    .size = {[LAYOUT_NORMAL] = 16,
             [LAYOUT_BOLD] = 16,
             [LAYOUT_HEADING] = 20,
             [LAYOUT_SMALL] = 16,
             [LAYOUT_REFERENCE] = 24},
    .qr_module = 2.88,
    .min_height = 60 * MM_TO_PT,
};

static const struct paper_style A4_LARGE = {
    .width = RECEIPT_A4_WIDTH_PT,
    .height = RECEIPT_A4_HEIGHT_PT,
    .margin = 15 * MM_TO_PT,
    .size = {[LAYOUT_NORMAL] = 18,
             [LAYOUT_BOLD] = 18,
             [LAYOUT_HEADING] = 26,
             [LAYOUT_SMALL] = 16,
             [LAYOUT_REFERENCE] = 40},
    .qr_module = 4.32,
    .min_height = 0,
};

static const struct paper_style A4 = {
    .width = RECEIPT_A4_WIDTH_PT,
    .height = RECEIPT_A4_HEIGHT_PT,
    .margin = 20 * MM_TO_PT,
    .size = {[LAYOUT_NORMAL] = 11,
             [LAYOUT_BOLD] = 11,
             [LAYOUT_HEADING] = 18,
             [LAYOUT_SMALL] = 9,
             [LAYOUT_REFERENCE] = 30},
    .qr_module = 4.32, /* 3/50 inch */
    .min_height = 0,
};

void receipt_pdf_shutdown(void)
{
    receipt_font_shutdown();
}

/* ---- output buffer ---- */

struct membuf {
    unsigned char *data;
    size_t len;
    size_t cap;
    bool failed;
};

static cairo_status_t membuf_write(void *closure, const unsigned char *data, unsigned int length)
{
    struct membuf *b = closure;
    if (b->failed || length > RECEIPT_PDF_MAX_BYTES - b->len) {
        b->failed = true;
        return CAIRO_STATUS_WRITE_ERROR;
    }
    if (b->len + length > b->cap) {
        size_t cap = b->cap ? b->cap : 16384;
        while (cap < b->len + length) {
            cap *= 2;
        }
        unsigned char *p = realloc(b->data, cap);
        if (p == NULL) {
            b->failed = true;
            return CAIRO_STATUS_WRITE_ERROR;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, length);
    b->len += length;
    return CAIRO_STATUS_SUCCESS;
}

/* ---- placement (pass 1) ---- */

enum placed_kind { PLACED_TEXT, PLACED_RULE, PLACED_QR };

struct placed {
    enum placed_kind kind;
    enum layout_style style;
    int page;
    double x, y;  /* text: start of the baseline; rule: left end; QR: top-left */
    double size;  /* text: font size; QR: module size */
    size_t text;  /* offset of the NUL-terminated line in the text buffer */
    size_t block; /* index of the layout block it belongs to (one structure tag each) */
    bool rtl;     /* text: its paragraph reads right to left (pango receipts only) */
};

struct render {
    const struct paper_style *st;
    cairo_t *cr;
    struct placed *items;
    size_t n_items, cap_items;
    char *text;
    size_t text_len, text_cap;
    char *scratch; /* for measuring substrings */
    size_t scratch_cap;
    double y; /* top of the next line on the current page */
    int page;
    struct qr_matrix qr;
    const struct receipt_layout *layout;
    size_t block;              /* the block being placed */
    struct receipt_font *font; /* the toy API, or pango for a right-to-left receipt */
    bool failed;
};

static double content_width(const struct render *rd)
{
    return rd->st->width - 2 * rd->st->margin;
}

static void *grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) {
        return p;
    }
    size_t c = *cap ? *cap : 64;
    while (c < need) {
        c *= 2;
    }
    void *q = realloc(p, c * elem);
    if (q != NULL) {
        *cap = c;
    }
    return q;
}

/* Copies n bytes of s plus a NUL into the text buffer; returns its offset. */
static size_t save_text(struct render *rd, const char *s, size_t n)
{
    char *t = grow(rd->text, &rd->text_cap, rd->text_len + n + 1, 1);
    if (t == NULL) {
        rd->failed = true;
        return 0;
    }
    rd->text = t;
    memcpy(rd->text + rd->text_len, s, n);
    rd->text[rd->text_len + n] = '\0';
    size_t off = rd->text_len;
    rd->text_len += n + 1;
    return off;
}

static void place(struct render *rd, struct placed item)
{
    struct placed *p = grow(rd->items, &rd->cap_items, rd->n_items + 1, sizeof *p);
    if (p == NULL) {
        rd->failed = true;
        return;
    }
    rd->items = p;
    item.page = rd->page;
    rd->items[rd->n_items++] = item;
}

/* Advance (width) of n bytes of s in the current font. */
static double measure(struct render *rd, const char *s, size_t n)
{
    char *b = grow(rd->scratch, &rd->scratch_cap, n + 1, 1);
    if (b == NULL) {
        rd->failed = true;
        return 0;
    }
    rd->scratch = b;
    memcpy(b, s, n);
    b[n] = '\0';
    return receipt_font_measure(rd->font, b);
}

static void set_font(struct render *rd, enum layout_style style, double size)
{
    receipt_font_set(rd->font, style != LAYOUT_NORMAL && style != LAYOUT_SMALL, size);
}

/* Reserves height h on the current page, starting a new page if it does not fit (only
 * pages of fixed height break). Returns the top of the reserved space. */
static double reserve(struct render *rd, double h)
{
    if (rd->st->height > 0 && rd->y + h > rd->st->height - rd->st->margin &&
        rd->y > rd->st->margin) {
        rd->page++;
        rd->y = rd->st->margin;
    }
    double top = rd->y;
    rd->y += h;
    return top;
}

/* Takes the next line of at most width points from *s (a cleaned UTF-8 string): whole
 * words joined by single spaces, or, for a word wider than a line, as many characters
 * as fit (at least one). Stores the line and returns its offset; *s moves past it.
 * *line_width gets the line's advance. */
static size_t next_line(struct render *rd, const char **s, double width, double *line_width)
{
    const char *p = *s;
    while (*p == ' ') {
        p++;
    }
    double space = measure(rd, " ", 1);
    const char *words_start = p;
    const char *line_end = p;
    double w = 0;
    bool any = false;
    while (*p != '\0') {
        const char *we = p;
        while (*we != '\0' && *we != ' ') {
            we++;
        }
        double ww = measure(rd, p, (size_t)(we - p));
        double add = any ? space + ww : ww;
        if (w + add <= width) {
            w += add;
            line_end = we;
            any = true;
            p = we;
            while (*p == ' ') {
                p++;
            }
            continue;
        }
        if (!any) {
            /* One word wider than the line: break it between characters. */
            const char *c = p;
            double cw = 0;
            while (c < we) {
                size_t n = layout_utf8_len(c);
                if (n == 0) {
                    n = 1;
                }
                double adv = measure(rd, c, n);
                if (cw + adv > width && c > p) {
                    break;
                }
                cw += adv;
                c += n;
            }
            w = cw;
            line_end = c;
            p = c;
        }
        break;
    }
    /* Collapse runs of spaces inside the line to one. */
    size_t n = (size_t)(line_end - words_start);
    size_t saved = save_text(rd, words_start, n);
    if (!rd->failed) {
        char *t = rd->text + saved;
        size_t o = 0;
        for (size_t i = 0; i < n; i++) {
            if (t[i] == ' ' && o > 0 && t[o - 1] == ' ') {
                continue;
            }
            t[o++] = t[i];
        }
        t[o] = '\0';
    }
    *s = p;
    *line_width = w;
    return saved;
}

static double x_for(const struct render *rd, enum layout_align align, double line_width)
{
    if (align == LAYOUT_CENTRE) {
        return (rd->st->width - line_width) / 2;
    }
    if (rd->layout->rtl) {
        return rd->st->width - rd->st->margin - line_width; /* right-aligned */
    }
    return rd->st->margin;
}

/* Places a wrapped paragraph; if right is given it goes at the right edge of the first
 * line (a row). */
static void place_text(struct render *rd, const struct layout_block *b, double size)
{
    double width = content_width(rd);
    double right_w = 0;
    if (b->right != NULL) {
        set_font(rd, b->style, size);
        right_w = measure(rd, b->right, strlen(b->right));
        double left = width - right_w - ROW_GAP_EM * size;
        width = left < width * ROW_LEFT_MIN ? width * ROW_LEFT_MIN : left;
    }
    set_font(rd, b->style, size);
    double h = size * LINE_FACTOR;
    const char *s = b->text;
    bool first = true;
    do {
        double lw = 0;
        size_t off = next_line(rd, &s, width, &lw);
        double top = reserve(rd, h);
        double baseline = top + size * ASCENT_FACTOR;
        place(rd, (struct placed){PLACED_TEXT, b->style, 0, x_for(rd, b->align, lw), baseline, size,
                                  off, rd->block, receipt_font_text_rtl(b->text)});
        if (first && b->right != NULL) {
            /* The amount sits at the far end of the label's line: the right edge, or the
             * left edge when the receipt reads right to left. */
            size_t roff = save_text(rd, b->right, strlen(b->right));
            double rx = rd->layout->rtl ? rd->st->margin : rd->st->width - rd->st->margin - right_w;
            place(rd, (struct placed){PLACED_TEXT, b->style, 0, rx, baseline, size, roff, rd->block,
                                      receipt_font_text_rtl(b->right)});
        }
        first = false;
    } while (*s != '\0' && !rd->failed);
}

static void place_block(struct render *rd, const struct layout_block *b)
{
    const struct paper_style *st = rd->st;
    double normal_h = st->size[LAYOUT_NORMAL] * LINE_FACTOR;
    switch (b->kind) {
    case LAYOUT_TEXT:
    case LAYOUT_ROW: {
        double size = st->size[b->style];
        if (b->style == LAYOUT_REFERENCE) {
            /* As large as fits on one line, but never smaller than normal text. A glyph's
             * advance does not scale exactly with the size (hinting rounds it), so the width
             * is measured again at the scaled size and the size stepped down until the whole
             * reference fits: a reference broken over two lines cannot be read out. */
            set_font(rd, b->style, size);
            double w = measure(rd, b->text, strlen(b->text));
            if (w > content_width(rd)) {
                size = size * content_width(rd) / w;
            }
            for (;;) {
                if (size < st->size[LAYOUT_NORMAL]) {
                    size = st->size[LAYOUT_NORMAL];
                    break;
                }
                set_font(rd, b->style, size);
                if (measure(rd, b->text, strlen(b->text)) <= content_width(rd)) {
                    break;
                }
                size -= REFERENCE_SIZE_STEP;
            }
        }
        place_text(rd, b, size);
        break;
    }
    case LAYOUT_RULE: {
        double top = reserve(rd, normal_h * 0.8);
        place(rd, (struct placed){PLACED_RULE, b->style, 0, st->margin, top + normal_h * 0.4, 0, 0,
                                  rd->block, false});
        break;
    }
    case LAYOUT_GAP:
        (void)reserve(rd, normal_h * 0.5);
        break;
    case LAYOUT_QR: {
        qr_free(&rd->qr);
        if (!qr_encode(b->text, &rd->qr)) {
            rd->failed = true;
            return;
        }
        double module = st->qr_module;
        if (module * rd->qr.size > content_width(rd)) {
            module = content_width(rd) / rd->qr.size;
        }
        double side = module * rd->qr.size;
        double top = reserve(rd, side);
        place(rd, (struct placed){PLACED_QR, b->style, 0, (st->width - side) / 2, top, module, 0,
                                  rd->block, false});
        break;
    }
    }
}

/* ---- drawing (pass 2) ---- */

/* Draws the QR code as an image, one pixel per module, scaled up without smoothing
 * (CAIRO_FILTER_NEAREST becomes /Interpolate false). Drawing it as one rectangle per
 * run of dark modules gives the same picture but costs about three times as much:
 * cairo formats and compresses hundreds of path operators per receipt. */
static bool draw_qr(cairo_t *cr, const struct qr_matrix *m, double x0, double y0, double module)
{
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, m->size, m->size);
    if (cairo_surface_status(img) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(img);
        return false;
    }
    cairo_surface_flush(img);
    unsigned char *data = cairo_image_surface_get_data(img);
    int stride = cairo_image_surface_get_stride(img);
    for (int y = 0; y < m->size; y++) {
        uint32_t *row = (uint32_t *)(void *)(data + (size_t)y * (size_t)stride);
        for (int x = 0; x < m->size; x++) {
            row[x] = qr_module(m, x, y) ? QR_DARK : QR_LIGHT;
        }
    }
    cairo_surface_mark_dirty(img);
    cairo_save(cr);
    cairo_translate(cr, x0, y0);
    cairo_scale(cr, module, module);
    cairo_set_source_surface(cr, img, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
    /* A filled square, not cairo_paint(): cairo 1.16 fails a tagged page whose first
     * content is a paint ("invalid tag name, attributes, or nesting"). */
    cairo_rectangle(cr, 0, 0, m->size, m->size);
    cairo_fill(cr);
    cairo_restore(cr);
    cairo_surface_destroy(img);
    return true;
}

/* The structure tag of a block in the tagged PDF: headings, paragraphs, the QR code as a
 * figure; rules and gaps are decoration and untagged. */
static const char *tag_of(const struct layout_block *b)
{
    switch (b->kind) {
    case LAYOUT_QR:
        return "Figure";
    case LAYOUT_RULE:
    case LAYOUT_GAP:
        return NULL;
    case LAYOUT_TEXT:
    case LAYOUT_ROW:
        break;
    }
    return b->level == 1 ? "H1" : b->level == 2 ? "H2" : "P";
}

static void draw_text(struct render *rd, const struct placed *p)
{
    set_font(rd, p->style, p->size);
    if (!receipt_font_show(rd->font, p->x, p->y, rd->text + p->text, p->rtl)) {
        rd->failed = true;
    }
}

/* Draws the placed items in reading order inside one "Document" element, each block in its
 * own structure tag, so pdfinfo says "Tagged: yes" and a screen reader reads headings,
 * paragraphs and the QR figure in the order printed. A block's tag is closed before a page
 * break, so a block split by one becomes two elements of the same kind. */
static void draw(struct render *rd)
{
    cairo_t *cr = rd->cr;
    int page = 0;
    const char *open = NULL;
    size_t open_block = 0;
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, RULE_WIDTH);
    cairo_tag_begin(cr, "Document", "");
    for (size_t i = 0; i < rd->n_items; i++) {
        const struct placed *p = &rd->items[i];
        if (open != NULL && (p->block != open_block || p->page != page)) {
            cairo_tag_end(cr, open);
            open = NULL;
        }
        while (page < p->page) {
            cairo_show_page(cr);
            page++;
        }
        if (open == NULL) {
            open = tag_of(&rd->layout->blocks[p->block]);
            open_block = p->block;
            if (open != NULL) {
                cairo_tag_begin(cr, open, "");
            }
        }
        switch (p->kind) {
        case PLACED_TEXT:
            draw_text(rd, p);
            break;
        case PLACED_RULE:
            cairo_move_to(cr, p->x, p->y);
            cairo_line_to(cr, rd->st->width - rd->st->margin, p->y);
            cairo_stroke(cr);
            break;
        case PLACED_QR:
            if (!draw_qr(cr, &rd->qr, p->x, p->y, p->size)) {
                rd->failed = true;
            }
            break;
        }
    }
    if (open != NULL) {
        cairo_tag_end(cr, open);
    }
    cairo_tag_end(cr, "Document");
    cairo_show_page(cr);
}

static const struct paper_style *style_for(enum receipt_paper paper, bool large)
{
    if (paper == RECEIPT_PAPER_A4) {
        return large ? &A4_LARGE : &A4;
    }
    return large ? &ROLL_LARGE : &ROLL;
}

bool receipt_render_pdf(const struct receipt *r, enum receipt_paper paper, unsigned char **out,
                        size_t *len)
{
    *out = NULL;
    *len = 0;
    bool ok = false;
    struct membuf buf = {0};
    struct render rd = {0};
    cairo_surface_t *surface = NULL;
    struct receipt_layout *layout = malloc(sizeof *layout);
    if (layout == NULL || !receipt_layout_build(r, layout, NULL, 0)) {
        goto out;
    }
    rd.layout = layout;
    rd.st = style_for(paper, layout->large);
    double first_height = rd.st->height > 0 ? rd.st->height : rd.st->min_height;
    surface = cairo_pdf_surface_create_for_stream(membuf_write, &buf, rd.st->width, first_height);
    rd.cr = cairo_create(surface);
    if (cairo_status(rd.cr) != CAIRO_STATUS_SUCCESS) {
        goto out;
    }
    rd.font = receipt_font_new(rd.cr, layout->rtl);
    if (rd.font == NULL) {
        goto out;
    }

    rd.y = rd.st->margin;
    for (size_t i = 0; i < layout->n && !rd.failed; i++) {
        rd.block = i;
        place_block(&rd, &layout->blocks[i]);
    }
    if (rd.failed) {
        goto out;
    }
    if (rd.st->height <= 0) {
        double h = rd.y + rd.st->margin;
        cairo_pdf_surface_set_size(surface, rd.st->width,
                                   h < rd.st->min_height ? rd.st->min_height : h);
    }
    char title[RECEIPT_FIELD_MAX + 16];
    snprintf(title, sizeof title, "Receipt %s", r->reference);
    cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_TITLE, title);
    cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_CREATOR, "onestop");
    draw(&rd);
    if (rd.failed || cairo_status(rd.cr) != CAIRO_STATUS_SUCCESS) {
        goto out;
    }
    cairo_destroy(rd.cr);
    rd.cr = NULL;
    cairo_surface_finish(surface);
    if (cairo_surface_status(surface) != CAIRO_STATUS_SUCCESS || buf.failed ||
        !receipt_pdf_add_language_and_alt(r, &buf.data, &buf.len)) {
        goto out;
    }
    *out = buf.data;
    *len = buf.len;
    buf.data = NULL;
    ok = true;
out:
    receipt_font_free(rd.font);
    if (rd.cr != NULL) {
        cairo_destroy(rd.cr);
    }
    if (surface != NULL) {
        cairo_surface_destroy(surface);
    }
    qr_free(&rd.qr);
    free(rd.items);
    free(rd.text);
    free(rd.scratch);
    free(layout);
    free(buf.data);
    return ok;
}
