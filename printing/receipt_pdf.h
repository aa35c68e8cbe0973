/* receipt_pdf: a receipt as a one-page vector PDF for IPP Everywhere printers.
 *
 * Paper RECEIPT_PAPER_ROLL_80MM gives a page 80 mm (226.77 pt) wide whose length fits
 * the content (measured first, then drawn); RECEIPT_PAPER_A4 gives A4 pages (a long
 * receipt continues on a second page). Text is DejaVu Sans via cairo's toy font API,
 * wrapped by words; the QR code is drawn as filled rectangles, one per run of dark
 * modules. Thread-safe: each call has its own surface; the font faces are shared.
 */
#ifndef ONESTOP_PRINTING_RECEIPT_PDF_H
#define ONESTOP_PRINTING_RECEIPT_PDF_H

#include "printing/receipt.h"

#include <stdbool.h>
#include <stddef.h>

#define RECEIPT_PDF_MAX_BYTES (4u * 1024u * 1024u) /* a receipt is ~20 KiB; refuse runaways */
#define RECEIPT_ROLL_WIDTH_PT 226.77165354330708   /* 80 mm */
#define RECEIPT_A4_WIDTH_PT   595.275590551181
#define RECEIPT_A4_HEIGHT_PT  841.8897637795276

/* Renders r as a PDF into a new buffer. On success *out (free() it) holds *len bytes.
 * False if receipt_check() rejects r, on allocation failure or a cairo error; *out is
 * then NULL and *len 0. */
bool receipt_render_pdf(const struct receipt *r, enum receipt_paper paper, unsigned char **out,
                        size_t *len) __attribute__((warn_unused_result));

/* Releases the shared font faces and cairo's static caches (font maps, fontconfig
 * patterns) so leak checkers see a clean exit. Call once at process exit, after every
 * renderer thread has finished; no receipt may be rendered afterwards. */
void receipt_pdf_shutdown(void);

#endif
