/* receipt_font: the toy-API and pango engines behind receipt_font.h.
 *
 * The two toy faces (DejaVu Sans regular and bold) are created once per process: creating
 * them per receipt costs a fontconfig lookup each time. pango uses the calling thread's
 * default font map (pango keeps one per thread, so printer threads never share one; it
 * goes when its thread exits, or in receipt_font_shutdown for the calling thread), with a
 * context and a layout of its own per receipt. Each line is drawn as its own layout; a
 * zero-width direction mark put first gives it its paragraph's direction. */
#include "printing/receipt_font.h"

#include "printing/receipt_layout.h"

#include <fontconfig/fontconfig.h>
#include <pango/pangocairo.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FONT_FAMILY        "DejaVu Sans"
#define PANGO_FAMILY       "Noto Naskh Arabic, DejaVu Sans"
#define DIRECTION_MARK_LTR "\xE2\x80\x8E" /* U+200E LEFT-TO-RIGHT MARK */
#define DIRECTION_MARK_RTL "\xE2\x80\x8F" /* U+200F RIGHT-TO-LEFT MARK */

struct receipt_font {
    cairo_t *cr;
    PangoContext *ctx; /* NULL: the toy API */
    PangoLayout *layout;
    PangoFontDescription *desc;
    char *scratch; /* a line with its direction mark */
    size_t scratch_cap;
};

static pthread_once_t fonts_once = PTHREAD_ONCE_INIT;
static cairo_font_face_t *font_regular;
static cairo_font_face_t *font_bold;

static void fonts_init(void)
{
    font_regular =
        cairo_toy_font_face_create(FONT_FAMILY, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    font_bold =
        cairo_toy_font_face_create(FONT_FAMILY, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
}

void receipt_font_shutdown(void)
{
    pthread_once(&fonts_once, fonts_init);
    cairo_font_face_destroy(font_regular);
    cairo_font_face_destroy(font_bold);
    font_regular = NULL;
    font_bold = NULL;
    /* This thread's pango font map (other threads' go when they exit) holds cairo fonts. */
    pango_cairo_font_map_set_default(NULL);
    cairo_debug_reset_static_data();
    FcFini();
}

struct receipt_font *receipt_font_new(cairo_t *cr, bool rtl)
{
    pthread_once(&fonts_once, fonts_init);
    struct receipt_font *f = calloc(1, sizeof *f);
    if (f == NULL) {
        return NULL;
    }
    f->cr = cr;
    if (!rtl) {
        return f;
    }
    PangoFontMap *map = pango_cairo_font_map_get_default();
    f->ctx = map != NULL ? pango_font_map_create_context(map) : NULL;
    if (f->ctx != NULL) {
        pango_cairo_update_context(cr, f->ctx);
        pango_context_set_base_dir(f->ctx, PANGO_DIRECTION_RTL);
        f->layout = pango_layout_new(f->ctx);
        f->desc = pango_font_description_from_string(PANGO_FAMILY);
    }
    if (f->layout == NULL || f->desc == NULL) {
        receipt_font_free(f);
        return NULL;
    }
    return f;
}

void receipt_font_free(struct receipt_font *f)
{
    if (f == NULL) {
        return;
    }
    if (f->layout != NULL) {
        g_object_unref(f->layout);
    }
    if (f->desc != NULL) {
        pango_font_description_free(f->desc);
    }
    if (f->ctx != NULL) {
        g_object_unref(f->ctx);
    }
    free(f->scratch);
    free(f);
}

void receipt_font_set(struct receipt_font *f, bool bold, double size)
{
    if (f->ctx != NULL) {
        pango_font_description_set_weight(f->desc, bold ? PANGO_WEIGHT_BOLD : PANGO_WEIGHT_NORMAL);
        pango_font_description_set_absolute_size(f->desc, size * PANGO_SCALE);
        pango_layout_set_font_description(f->layout, f->desc);
        return;
    }
    cairo_set_font_face(f->cr, bold ? font_bold : font_regular);
    cairo_set_font_size(f->cr, size);
}

double receipt_font_measure(struct receipt_font *f, const char *s)
{
    if (f->ctx != NULL) {
        PangoRectangle logical;
        pango_layout_set_text(f->layout, s, -1);
        pango_layout_get_extents(f->layout, NULL, &logical);
        return (double)logical.width / PANGO_SCALE;
    }
    cairo_text_extents_t e;
    cairo_text_extents(f->cr, s, &e);
    return e.x_advance;
}

bool receipt_font_show(struct receipt_font *f, double x, double y, const char *s, bool rtl)
{
    if (f->ctx == NULL) {
        cairo_move_to(f->cr, x, y);
        cairo_show_text(f->cr, s);
        return true;
    }
    size_t need = strlen(s) + sizeof DIRECTION_MARK_LTR;
    if (need > f->scratch_cap) {
        char *p = realloc(f->scratch, need);
        if (p == NULL) {
            return false;
        }
        f->scratch = p;
        f->scratch_cap = need;
    }
    snprintf(f->scratch, need, "%s%s", rtl ? DIRECTION_MARK_RTL : DIRECTION_MARK_LTR, s);
    pango_layout_set_text(f->layout, f->scratch, -1);
    double baseline = (double)pango_layout_get_baseline(f->layout) / PANGO_SCALE;
    cairo_move_to(f->cr, x, y - baseline);
    pango_cairo_show_layout(f->cr, f->layout);
    return true;
}

bool receipt_font_text_rtl(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p != '\0') {
        size_t n = layout_utf8_len((const char *)p);
        if (n == 0) {
            p++;
            continue;
        }
        unsigned int cp = n == 1 ? p[0] : (unsigned int)(p[0] & (0xFF >> (n + 1)));
        for (size_t i = 1; i < n; i++) {
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if ((cp >= 0x0590 && cp <= 0x08FF) || (cp >= 0xFB1D && cp <= 0xFDFF) ||
            (cp >= 0xFE70 && cp <= 0xFEFF)) {
            return true;
        }
        p += n;
    }
    return false;
}
