/* document_type: magic-byte typing and page counting; see document_type.h. */
#include "gateway/document_type.h"

#include <string.h>

enum tiff_state {
    TIFF_HEADER,    /* collecting the 8-byte header */
    TIFF_SEEK_IFD,  /* skipping to the next directory */
    TIFF_COUNT,     /* its 2-byte entry count */
    TIFF_SEEK_NEXT, /* skipping its entries */
    TIFF_NEXT,      /* the 4-byte offset of the next directory */
    TIFF_DONE,
};

void document_type_init(struct document_type *t)
{
    memset(t, 0, sizeof *t);
}

static enum document_kind sniff(const unsigned char *h, size_t n)
{
    if (n >= 5 && memcmp(h, "%PDF-", 5) == 0)
        return DOCUMENT_PDF;
    if (n >= 3 && h[0] == 0xFF && h[1] == 0xD8 && h[2] == 0xFF)
        return DOCUMENT_JPEG;
    if (n >= 8 && memcmp(h, "\x89PNG\r\n\x1a\n", 8) == 0)
        return DOCUMENT_PNG;
    if (n >= 4 && (memcmp(h, "II*\0", 4) == 0 || memcmp(h, "MM\0*", 4) == 0))
        return DOCUMENT_TIFF;
    return DOCUMENT_UNKNOWN;
}

/* "/Type" then optional whitespace then "/Page" and then anything but 's'. */
static void pdf_byte(struct document_type *t, unsigned char c)
{
    static const char type[] = "/Type";
    static const char page[] = "/Page";
    int s = t->pdf_state;
    if (s < 5) { /* in "/Type" */
        t->pdf_state = c == (unsigned char)type[s] ? s + 1 : (c == '/' ? 1 : 0);
    } else if (s == 5) { /* whitespace, or the slash of "/Page" */
        if (c == '/')
            t->pdf_state = 6;
        else if (!(c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == 0))
            t->pdf_state = 0;
    } else if (s < 10) { /* in "Page" */
        t->pdf_state = c == (unsigned char)page[s - 5] ? s + 1 : (c == '/' ? 1 : 0);
    } else { /* after "/Page": 's' makes it /Pages */
        if (c != 's' && t->pages < DOCUMENT_PAGES_MAX)
            t->pages++;
        t->pdf_state = c == '/' ? 1 : 0;
    }
}

/* "/ObjStm" anywhere: the file has object streams. No proper prefix of it repeats but "/". */
static void pdf_objstm_byte(struct document_type *t, unsigned char c)
{
    static const char objstm[] = "/ObjStm";
    int s = t->pdf_objstm_state;
    s = c == (unsigned char)objstm[s] ? s + 1 : (c == '/' ? 1 : 0);
    if (s == (int)sizeof objstm - 1) {
        t->pdf_object_streams = true;
        s = 0;
    }
    t->pdf_objstm_state = s;
}

static uint32_t tiff_number(const struct document_type *t, const unsigned char *b, int n)
{
    uint32_t v = 0;
    for (int i = 0; i < n; i++)
        v = t->tiff_big_endian ? (v << 8) | b[i] : v | ((uint32_t)b[i] << (8 * i));
    return v;
}

/* Collects n bytes of a number starting at t->tiff_target; true when it is complete. */
static bool tiff_collect(struct document_type *t, unsigned char c, int n)
{
    unsigned char *b = (unsigned char *)&t->tiff_value;
    b[t->tiff_have++] = c;
    if (t->tiff_have < n)
        return false;
    t->tiff_value = tiff_number(t, b, n);
    t->tiff_have = 0;
    return true;
}

/* One directory more; the next one must lie ahead of `at`, or the walk stops unknown. */
static void tiff_next_ifd(struct document_type *t, uint32_t next, uint64_t at)
{
    if (next == 0) {
        t->tiff_state = TIFF_DONE;
    } else if (next <= at || t->pages >= DOCUMENT_PAGES_MAX) {
        t->pages_unknown = true;
        t->tiff_state = TIFF_DONE;
    } else {
        t->tiff_target = next;
        t->tiff_state = TIFF_SEEK_IFD;
    }
}

/* Walks the directory chain over len bytes that start at file offset base. */
static void tiff_feed(struct document_type *t, const unsigned char *p, size_t len, uint64_t base)
{
    size_t i = 0;
    while (i < len && t->tiff_state != TIFF_DONE) {
        uint64_t at = base + i;
        if (t->tiff_state == TIFF_SEEK_IFD || t->tiff_state == TIFF_SEEK_NEXT) {
            if (at < t->tiff_target) { /* skip straight to the target */
                uint64_t skip = t->tiff_target - at;
                i += skip < len - i ? (size_t)skip : len - i;
                continue;
            }
            t->tiff_state = t->tiff_state == TIFF_SEEK_IFD ? TIFF_COUNT : TIFF_NEXT;
            continue;
        }
        unsigned char c = p[i++];
        if (t->tiff_state == TIFF_HEADER) {
            if (at == 0)
                t->tiff_big_endian = c == 'M';
            if (at >= 4 && tiff_collect(t, c, 4))
                tiff_next_ifd(t, t->tiff_value < 8 ? 1 : t->tiff_value, at);
        } else if (t->tiff_state == TIFF_COUNT) {
            if (tiff_collect(t, c, 2)) {
                t->pages++;
                t->tiff_target = at + 1 + 12u * t->tiff_value;
                t->tiff_state = TIFF_SEEK_NEXT;
            }
        } else if (t->tiff_state == TIFF_NEXT && tiff_collect(t, c, 4)) {
            tiff_next_ifd(t, t->tiff_value, at);
        }
    }
}

static void kind_feed(struct document_type *t, const unsigned char *p, size_t len, uint64_t base)
{
    if (t->kind == DOCUMENT_PDF)
        for (size_t i = 0; i < len; i++) {
            pdf_byte(t, p[i]);
            pdf_objstm_byte(t, p[i]);
        }
    else if (t->kind == DOCUMENT_TIFF)
        tiff_feed(t, p, len, base);
}

void document_type_feed(struct document_type *t, const void *data, size_t len)
{
    const unsigned char *p = data;
    if (t->kind == DOCUMENT_UNKNOWN && t->head_len < DOCUMENT_SNIFF_BYTES) {
        size_t before = t->head_len; /* every earlier byte is in head */
        size_t take = DOCUMENT_SNIFF_BYTES - before < len ? DOCUMENT_SNIFF_BYTES - before : len;
        memcpy(t->head + before, p, take);
        t->head_len += take;
        t->kind = sniff(t->head, t->head_len);
        if (t->kind != DOCUMENT_UNKNOWN)
            kind_feed(t, t->head, before, 0); /* the bytes seen before the kind was known */
    }
    if (t->kind != DOCUMENT_UNKNOWN)
        kind_feed(t, p, len, t->offset);
    t->offset += len;
}

enum document_kind document_type_kind(const struct document_type *t)
{
    return t->kind;
}

long document_type_pages(const struct document_type *t)
{
    switch (t->kind) {
    case DOCUMENT_JPEG:
    case DOCUMENT_PNG:
        return 1;
    case DOCUMENT_PDF:
        return t->pages > 0 ? t->pages : -1;
    case DOCUMENT_TIFF:
        return t->pages_unknown || t->tiff_state != TIFF_DONE || t->pages == 0 ? -1 : t->pages;
    default:
        return -1;
    }
}

bool document_type_pdf_needs_parse(const struct document_type *t)
{
    return t->kind == DOCUMENT_PDF && (t->pdf_object_streams || t->pages <= 0);
}

const char *document_kind_name(enum document_kind kind)
{
    switch (kind) {
    case DOCUMENT_PDF:
        return "pdf";
    case DOCUMENT_JPEG:
        return "jpeg";
    case DOCUMENT_PNG:
        return "png";
    case DOCUMENT_TIFF:
        return "tiff";
    default:
        return NULL;
    }
}

const char *document_kind_media_type(enum document_kind kind)
{
    switch (kind) {
    case DOCUMENT_PDF:
        return "application/pdf";
    case DOCUMENT_JPEG:
        return "image/jpeg";
    case DOCUMENT_PNG:
        return "image/png";
    case DOCUMENT_TIFF:
        return "image/tiff";
    default:
        return "application/octet-stream";
    }
}

const char *document_kind_extension(enum document_kind kind)
{
    switch (kind) {
    case DOCUMENT_JPEG:
        return "jpg";
    case DOCUMENT_TIFF:
        return "tif";
    case DOCUMENT_UNKNOWN:
        return "bin";
    default:
        return document_kind_name(kind);
    }
}

enum document_kind document_kind_from_name(const char *name)
{
    for (int k = DOCUMENT_PDF; k <= DOCUMENT_TIFF; k++)
        if (name && strcmp(document_kind_name((enum document_kind)k), name) == 0)
            return (enum document_kind)k;
    return DOCUMENT_UNKNOWN;
}
