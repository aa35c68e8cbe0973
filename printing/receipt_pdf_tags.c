/* receipt_pdf_tags: /Lang and /Alt added with libqpdf's C API (see receipt_pdf_tags.h).
 *
 * qpdf reads the PDF from memory, the structure tree is walked from the catalog's
 * /StructTreeRoot through each element's /K (a dictionary, an array of kids, or marked
 * content ids, which are skipped), and qpdf writes the result to memory with the same
 * object layout (no object streams; each stream's bytes copied as they are). Each call has its own
 * qpdf_data, so renderer threads never share one. */
#include "printing/receipt_pdf_tags.h"

#include "printing/receipt_pdf.h"
#include "printing/receipt_text.h"

#include <qpdf/qpdf-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STRUCT_DEPTH_MAX 16 /* a receipt's tree is Document > element; refuse deep nesting */

/* Sets /Alt on every Figure element at or under oh; counts them in *figures. */
static void alt_on_figures(qpdf_data q, qpdf_oh oh, const char *alt, int depth, int *figures)
{
    if (depth > STRUCT_DEPTH_MAX) {
        return;
    }
    if (qpdf_oh_is_array(q, oh)) {
        int n = qpdf_oh_get_array_n_items(q, oh);
        for (int i = 0; i < n; i++) {
            alt_on_figures(q, qpdf_oh_get_array_item(q, oh, i), alt, depth + 1, figures);
        }
        return;
    }
    if (!qpdf_oh_is_dictionary(q, oh)) {
        return; /* a marked-content id */
    }
    if (qpdf_oh_is_name_and_equals(q, qpdf_oh_get_key(q, oh, "/S"), "/Figure")) {
        qpdf_oh_replace_key(q, oh, "/Alt", qpdf_oh_new_unicode_string(q, alt));
        (*figures)++;
    }
    if (qpdf_oh_has_key(q, oh, "/K")) {
        alt_on_figures(q, qpdf_oh_get_key(q, oh, "/K"), alt, depth + 1, figures);
    }
}

static bool rewrite(unsigned char **pdf, size_t *len, const char *lang, const char *figure_alt)
{
    bool ok = false;
    qpdf_data q = qpdf_init();
    if (q == NULL) {
        return false;
    }
    qpdf_silence_errors(q);
    qpdf_set_suppress_warnings(q, QPDF_TRUE);
    if (qpdf_read_memory(q, "receipt", (const char *)*pdf, (unsigned long long)*len, NULL) &
        QPDF_ERRORS) {
        goto out;
    }
    qpdf_oh root = qpdf_get_root(q);
    qpdf_oh_replace_key(q, root, "/Lang", qpdf_oh_new_unicode_string(q, lang));
    if (figure_alt != NULL && qpdf_oh_has_key(q, root, "/StructTreeRoot")) {
        int figures = 0;
        alt_on_figures(q, qpdf_oh_get_key(q, root, "/StructTreeRoot"), figure_alt, 0, &figures);
    }
    if (qpdf_has_error(q) || (qpdf_init_write_memory(q) & QPDF_ERRORS)) {
        goto out;
    }
    qpdf_set_object_stream_mode(q, qpdf_o_disable);
    /* the streams (page content, fonts, the QR image) are copied as cairo compressed them:
     * decoding and compressing them again would double the time a receipt takes */
    qpdf_set_decode_level(q, qpdf_dl_none);
    qpdf_set_deterministic_ID(q, QPDF_TRUE);
    if (qpdf_write(q) & QPDF_ERRORS) {
        goto out;
    }
    size_t n = qpdf_get_buffer_length(q);
    const unsigned char *data = qpdf_get_buffer(q);
    if (data == NULL || n == 0 || n > RECEIPT_PDF_MAX_BYTES) {
        goto out;
    }
    unsigned char *copy = malloc(n);
    if (copy == NULL) {
        goto out;
    }
    memcpy(copy, data, n);
    free(*pdf);
    *pdf = copy;
    *len = n;
    ok = true;
out:
    qpdf_cleanup(&q);
    return ok;
}

/* The receipt's language as a BCP 47 tag: English receipts are British English. */
static const char *language_tag(const struct receipt *r)
{
    const char *code = r->labels != NULL ? r->labels->language : NULL;
    return code == NULL || strcmp(code, "en") == 0 ? "en-GB" : code;
}

bool receipt_pdf_add_language_and_alt(const struct receipt *r, unsigned char **pdf, size_t *len)
{
    if (r->status_url == NULL || r->status_url[0] == '\0') {
        return rewrite(pdf, len, language_tag(r), NULL); /* no QR code: no Figure */
    }
    const char *pattern = r->labels != NULL ? r->labels->qr_alt : NULL;
    if (pattern == NULL) {
        pattern = receipt_labels_english()->qr_alt;
    }
    char alt[RECEIPT_LABEL_MAX + RECEIPT_FIELD_MAX];
    if (!receipt_text_fill(pattern, RECEIPT_REFERENCE_PLACEHOLDER, r->reference, alt, sizeof alt)) {
        return false;
    }
    return rewrite(pdf, len, language_tag(r), alt);
}
