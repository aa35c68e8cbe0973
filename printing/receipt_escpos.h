/* receipt_escpos: a receipt as ESC/POS bytes for 80 mm thermal receipt printers.
 *
 * The stream is: ESC @ (initialise), ESC t 19 (code page PC858, where £ is 0x9C; other
 * characters outside ASCII print as '?'), text wrapped at ESCPOS_COLUMNS columns with
 * ESC a / ESC E / GS ! for alignment, bold and size (the reference is double width and
 * height), the QR code as a GS v 0 raster image drawn from libqrencode's matrix (which
 * even printers without GS ( k print), then GS V 66 n to feed and cut. Text never
 * carries control bytes, so receipt text cannot inject printer commands.
 *
 * Large print (RECEIPT_SIZE_LARGE) prints every line double width and height, 21 columns.
 * PC858 has no Arabic script and lacks most Polish letters, so only English receipts are
 * printed: any other language is refused (never printed as '?' marks).
 */
#ifndef ONESTOP_PRINTING_RECEIPT_ESCPOS_H
#define ONESTOP_PRINTING_RECEIPT_ESCPOS_H

#include "printing/receipt.h"

#include <stdbool.h>
#include <stddef.h>

#define ESCPOS_COLUMNS     42  /* font A on an 80 mm roll */
#define ESCPOS_HEAD_DOTS   576 /* printable dots across (72 mm at 203 dpi) */
#define ESCPOS_QR_SCALE    6   /* dots per QR module (shrunk if the code would not fit) */
#define ESCPOS_CUT_FEED    3   /* n of GS V 66 n: feed before the cut */
#define ESCPOS_PC858       19  /* n of ESC t n */
#define ESCPOS_PC858_POUND 0x9C
#define ESCPOS_MAX_BYTES   (512u * 1024u)

/* Renders r as ESC/POS. On success *out (free() it) holds *len bytes. False if
 * receipt_check() rejects r, its language is not one receipt_escpos_supports(), or on
 * allocation failure; *out is then NULL, *len 0. */
bool receipt_render_escpos(const struct receipt *r, unsigned char **out, size_t *len)
    __attribute__((warn_unused_result));

/* True if a receipt in language (a code such as "en") can be printed as ESC/POS. */
bool receipt_escpos_supports(const char *language);

#endif
