/* document_pdf: the pages of an uploaded PDF that the streaming count cannot see.
 *
 * document_type.c counts a PDF's page objects as its bytes stream past. A PDF written with
 * object streams (PDF 1.5 and later: most scanners and office suites) keeps its page objects
 * inside compressed streams, where that count finds none. For those, once the upload is sealed
 * on disk, its plaintext is read back (document_file.h) into memory and libqpdf (Debian's
 * libqpdf, its C API) reads the page tree. The plaintext never reaches the disk; it is wiped
 * before it is freed. An upload still streams to disk as it arrives: this runs only after the
 * file is complete, and only for a PDF whose count the stream could not give.
 */
#ifndef ONESTOP_DOCUMENT_PDF_H
#define ONESTOP_DOCUMENT_PDF_H

#include <stddef.h>

struct data_keys;

/* The pages of the sealed PDF dir/<id>.doc, or -1 when it cannot be read, is larger than
 * limit bytes, is not a PDF qpdf can read (damaged beyond repair, or encrypted with a
 * password) or has no pages. Safe to call from any thread. */
long document_pdf_pages(const struct data_keys *keys, const char *dir, const char *id,
                        size_t limit);

#endif
