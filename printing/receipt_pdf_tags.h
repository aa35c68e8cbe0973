/* receipt_pdf_tags: what cairo 1.16 cannot write into a tagged PDF, added afterwards.
 *
 * cairo tags the receipt's structure (Document, H1, H2, P, Figure) but writes neither the
 * document's language (/Lang on the catalog, PDF 1.7 14.9.2) nor a Figure's alternative
 * text (/Alt on its structure element, 14.9.3); a screen reader then guesses the language
 * and reads the QR code as an unnamed image. This rewrites the finished PDF with libqpdf:
 * the catalog gets /Lang and every Figure element /Alt. Nothing else changes: the
 * structure tree, /MarkInfo (pdfinfo's "Tagged: yes") and the pages are copied as they are.
 */
#ifndef ONESTOP_PRINTING_RECEIPT_PDF_TAGS_H
#define ONESTOP_PRINTING_RECEIPT_PDF_TAGS_H

#include "printing/receipt.h"

#include <stdbool.h>
#include <stddef.h>

/* Rewrites the PDF rendered from r (*pdf, *len bytes, malloc'd): /Lang from r's language
 * ("en-GB" for English, else the language's code: "pl", "ur"), and, when r has a QR code,
 * /Alt on the Figure elements: the language's qr_alt label with {reference} filled in
 * (English when the language has none). On success *pdf is replaced by a new buffer (the old
 * one freed) and *len updated; on failure (a PDF qpdf cannot read, no memory, a result over
 * RECEIPT_PDF_MAX_BYTES) *pdf and *len are left as they were and false is returned. */
bool receipt_pdf_add_language_and_alt(const struct receipt *r, unsigned char **pdf, size_t *len)
    __attribute__((warn_unused_result));

#endif
