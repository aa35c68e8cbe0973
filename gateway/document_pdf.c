/* document_pdf: a sealed PDF's pages read by libqpdf; see document_pdf.h. */
#include "gateway/document_pdf.h"

#include "gateway/document_file.h"

#include <openssl/crypto.h>
#include <qpdf/qpdf-c.h>
#include <stdlib.h>

#define PDF_DESCRIPTION "uploaded document" /* how qpdf names the file in its messages */

/* The plaintext of dir/<id>.doc into a malloc'd buffer (*len bytes); NULL when it cannot be
 * read or is over limit. The caller wipes and frees it. */
static unsigned char *read_plaintext(const struct data_keys *keys, const char *dir, const char *id,
                                     size_t limit, size_t *len)
{
    struct document_reader *r = document_reader_open(keys, dir, id);
    if (!r)
        return NULL;
    size_t size = document_reader_size(r), have = 0;
    unsigned char *buf = size > 0 && size <= limit ? malloc(size) : NULL;
    while (buf && have < size) {
        ssize_t n = document_reader_read(r, buf + have, size - have);
        if (n <= 0) {
            OPENSSL_cleanse(buf, have);
            free(buf);
            buf = NULL;
        } else {
            have += (size_t)n;
        }
    }
    document_reader_close(r);
    *len = have;
    return buf;
}

long document_pdf_pages(const struct data_keys *keys, const char *dir, const char *id, size_t limit)
{
    size_t len = 0;
    unsigned char *buf = read_plaintext(keys, dir, id, limit, &len);
    if (!buf)
        return -1;
    long pages = -1;
    qpdf_data q = qpdf_init();
    if (q) {
        qpdf_silence_errors(q); /* a damaged upload is not an error for the log */
        qpdf_set_suppress_warnings(q, QPDF_TRUE);
        if (!(qpdf_read_memory(q, PDF_DESCRIPTION, (const char *)buf, (unsigned long long)len,
                               NULL) &
              QPDF_ERRORS)) {
            int n = qpdf_get_num_pages(q);
            pages = n > 0 ? n : -1;
        }
        qpdf_cleanup(&q);
    }
    OPENSSL_cleanse(buf, len);
    free(buf);
    return pages;
}
