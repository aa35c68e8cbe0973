/* document_type: what a scanned document is, judged from its bytes as they stream past.
 *
 * The type comes from the magic bytes at the start (PDF, JPEG, PNG, TIFF), never from the
 * name or the declared Content-Type, so a renamed executable is refused. Pages where the
 * format tells: a PDF's page objects (/Type /Page, not /Pages) are counted across chunk
 * borders, and an object stream (/ObjStm), which may hide page objects in compressed data, is
 * noticed so that the caller can have the pages counted from the whole file (document_pdf.h); a
 * TIFF's chain of image file directories is followed while the file streams past (a chain that
 * points backwards, which a stream cannot follow, leaves the count unknown); a JPEG or PNG is one
 * page. The state is a few dozen bytes whatever the file's size.
 */
#ifndef ONESTOP_DOCUMENT_TYPE_H
#define ONESTOP_DOCUMENT_TYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum document_kind {
    DOCUMENT_UNKNOWN = 0, /* not (yet) recognised */
    DOCUMENT_PDF,
    DOCUMENT_JPEG,
    DOCUMENT_PNG,
    DOCUMENT_TIFF,
};

#define DOCUMENT_SNIFF_BYTES 8 /* the longest magic we check */
#define DOCUMENT_PAGES_MAX   100000L

struct document_type {
    unsigned char head[DOCUMENT_SNIFF_BYTES];
    size_t head_len;
    uint64_t offset; /* bytes seen so far */
    enum document_kind kind;
    /* PDF: how far into "/Type" ws* "/Page" we are, and the pages counted */
    int pdf_state;
    long pages;
    bool pages_unknown;
    int pdf_objstm_state; /* how far into "/ObjStm" we are */
    bool pdf_object_streams;
    /* TIFF: the directory walk */
    bool tiff_big_endian;
    int tiff_state;
    uint64_t tiff_target; /* where the next thing we want starts */
    uint32_t tiff_value;  /* bytes of a number being collected */
    int tiff_have;
};

void document_type_init(struct document_type *t);
/* Feeds the next len bytes of the file. */
void document_type_feed(struct document_type *t, const void *data, size_t len);
/* After the whole file: its kind (DOCUMENT_UNKNOWN when none of ours) and its pages (-1 when
 * the format does not tell). */
enum document_kind document_type_kind(const struct document_type *t);
long document_type_pages(const struct document_type *t);
/* True for a PDF whose pages the stream could not count for sure: it has object streams
 * (page objects may be compressed inside them) or no page object was seen. */
bool document_type_pdf_needs_parse(const struct document_type *t);
/* "pdf", "jpeg", "png", "tiff" — the names used in the API and the store; NULL for unknown. */
const char *document_kind_name(enum document_kind kind);
/* The media type of a kind ("application/pdf", ...). */
const char *document_kind_media_type(enum document_kind kind);
/* The file name ending of a kind ("pdf", "jpg", "png", "tif"; "bin" for unknown). */
const char *document_kind_extension(enum document_kind kind);
/* The kind document_kind_name gave this name; DOCUMENT_UNKNOWN for anything else (NULL too). */
enum document_kind document_kind_from_name(const char *name);

#endif
