/* receipt_font: how the PDF renderer sets a line of text — measuring it and drawing it.
 *
 * Two engines behind one interface. Left-to-right receipts use cairo's toy font API with
 * DejaVu Sans (fast, and all English and Polish need). Right-to-left receipts (Urdu,
 * Arabic) use pango on the same cairo context: it shapes the Arabic script (joined letter
 * forms) and orders each line (bidi), in Noto Naskh Arabic with DejaVu Sans for Latin text
 * and digits. Internal to printing/.
 */
#ifndef ONESTOP_PRINTING_RECEIPT_FONT_H
#define ONESTOP_PRINTING_RECEIPT_FONT_H

#include <cairo.h>
#include <stdbool.h>

struct receipt_font;

/* A font for drawing on cr (which must outlive it): pango when rtl, else the toy API. NULL
 * on allocation failure. Free with receipt_font_free(). */
struct receipt_font *receipt_font_new(cairo_t *cr, bool rtl) __attribute__((warn_unused_result));
void receipt_font_free(struct receipt_font *f);

/* Chooses regular or bold at size points for what follows. */
void receipt_font_set(struct receipt_font *f, bool bold, double size);

/* The advance (width, pt) of the NUL-terminated s. */
double receipt_font_measure(struct receipt_font *f, const char *s);

/* Draws s with its baseline starting at (x, y). rtl: s is a line of a right-to-left
 * paragraph (pango only; keeps its direction even when it starts with a Latin word). False
 * on allocation failure. */
bool receipt_font_show(struct receipt_font *f, double x, double y, const char *s, bool rtl)
    __attribute__((warn_unused_result));

/* True when s holds Hebrew or Arabic script: on a right-to-left receipt such a paragraph
 * reads right to left; amounts, dates and the reference do not. */
bool receipt_font_text_rtl(const char *s);

/* Releases the shared toy faces, this thread's pango font map and cairo's and
 * fontconfig's static caches (see receipt_pdf_shutdown). */
void receipt_font_shutdown(void);

#endif
