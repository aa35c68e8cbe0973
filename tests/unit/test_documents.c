/* Uploaded documents' pure parts: the streaming multipart parser (every piece size gives the
 * same parse), magic-byte typing and page counting (across chunk borders), and the data keys'
 * streaming AES-256-GCM (round trip; a changed byte, IV, associated data or key is caught). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway/data_keys.h"
#include "gateway/document_type.h"
#include "gateway/multipart.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CT "multipart/form-data; boundary=abc123"

struct seen {
    char log[4096];
    size_t len;
};

static void note(struct seen *s, const char *text, size_t n)
{
    if (s->len + n < sizeof s->log) {
        memcpy(s->log + s->len, text, n);
        s->len += n;
        s->log[s->len] = '\0';
    }
}

static bool on_begin(void *ctx, const struct multipart_part *p)
{
    char line[800];
    int n = snprintf(line, sizeof line, "[%s|%s|%s]", p->name, p->filename, p->content_type);
    note(ctx, line, (size_t)n);
    return true;
}

static bool on_data(void *ctx, const char *data, size_t len)
{
    note(ctx, data, len);
    return true;
}

static bool on_end(void *ctx)
{
    note(ctx, "<end>", 5);
    return true;
}

static const struct multipart_callbacks cb = {on_begin, on_data, on_end};

static enum multipart_result parse(const char *body, size_t len, size_t step, struct seen *s)
{
    memset(s, 0, sizeof *s);
    struct multipart *mp = multipart_new(CT, &cb, s);
    assert_non_null(mp);
    enum multipart_result r = MULTIPART_OK;
    for (size_t at = 0; at < len && r == MULTIPART_OK; at += step)
        r = multipart_feed(mp, body + at, step < len - at ? step : len - at);
    if (r == MULTIPART_OK)
        r = multipart_finish(mp);
    multipart_free(mp);
    return r;
}

static void test_multipart_same_parse_for_every_piece_size(void **state)
{
    (void)state;
    static const char body[] =
        "preamble\r\n--abc123\r\n"
        "Content-Disposition: form-data; name=\"file\"; filename=\"C:\\\\scans\\\\pay "
        "slip.pdf\"\r\n"
        "Content-Type: application/pdf\r\n\r\n"
        "%PDF-1.4 \r\n--abc12 not a boundary \r\r\n-\r\n--abc12x3\r\n"
        "--abc123\r\nContent-Disposition: form-data; name=note\r\n\r\nhello\r\n"
        "--abc123--\r\nepilogue";
    struct seen whole, pieces;
    assert_int_equal(parse(body, sizeof body - 1, sizeof body, &whole), MULTIPART_OK);
    assert_string_equal(whole.log, "[file|pay slip.pdf|application/pdf]%PDF-1.4 \r\n--abc12 not "
                                   "a boundary \r\r\n-\r\n--abc12x3<end>[note||]hello<end>");
    for (size_t step = 1; step < 40; step++) {
        assert_int_equal(parse(body, sizeof body - 1, step, &pieces), MULTIPART_OK);
        assert_string_equal(pieces.log, whole.log);
    }
}

static void test_multipart_refusals(void **state)
{
    (void)state;
    struct seen s;
    static const char truncated[] = "--abc123\r\nContent-Disposition: form-data; name=a\r\n\r\nxy";
    assert_int_equal(parse(truncated, sizeof truncated - 1, 3, &s), MULTIPART_MALFORMED);
    static const char no_colon[] = "--abc123\r\nbroken header\r\n\r\nxy\r\n--abc123--";
    assert_int_equal(parse(no_colon, sizeof no_colon - 1, 5, &s), MULTIPART_MALFORMED);
    char b[MULTIPART_BOUNDARY_MAX + 1];
    assert_true(multipart_boundary("multipart/form-data; boundary=\"a b'c\"", b));
    assert_string_equal(b, "a b'c");
    assert_false(multipart_boundary("application/json", b));
    assert_false(multipart_boundary("multipart/form-data", b));
    assert_false(multipart_boundary("multipart/form-data; boundary=", b));
    assert_false(multipart_boundary("multipart/form-data; boundary=a@b", b));
    char longer[200];
    snprintf(longer, sizeof longer, "multipart/form-data; boundary=%071d", 0);
    assert_false(multipart_boundary(longer, b));
}

/* Feeds data in pieces of step bytes; its kind, pages and whether the whole file must be read. */
static bool typed_parse(const void *data, size_t len, size_t step, enum document_kind *kind,
                        long *pages)
{
    struct document_type t;
    document_type_init(&t);
    const char *p = data;
    for (size_t at = 0; at < len; at += step)
        document_type_feed(&t, p + at, step < len - at ? step : len - at);
    *kind = document_type_kind(&t);
    *pages = document_type_pages(&t);
    return document_type_pdf_needs_parse(&t);
}

static void typed(const void *data, size_t len, size_t step, enum document_kind *kind, long *pages)
{
    (void)typed_parse(data, len, step, kind, pages);
}

static void test_types_and_pages(void **state)
{
    (void)state;
    static const char pdf[] = "%PDF-1.7\n<< /Type /Pages /Count 3 >>\n<< /Type /Page >>\n"
                              "<</Type/Page/Parent 2 0 R>>\n<< /Type\n  /Page >>\n%%EOF";
    static const unsigned char tiff_le[] = {'I', 'I', 42, 0, 8, 0, 0, 0,
                                            /* IFD at 8: one entry, next at 26 */
                                            1, 0, 0, 1, 4, 0, 1, 0, 0, 0, 1, 0, 0, 0, 26, 0, 0, 0,
                                            /* IFD at 26: no entries, no next */
                                            0, 0, 0, 0, 0, 0};
    static const unsigned char tiff_back[] = {'M', 'M', 0, 42, 0, 0, 0, 8, 0, 0, 0, 0, 0, 4};
    static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0};
    static const unsigned char jpeg[] = {0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 'J', 'F'};
    static const unsigned char elf[] = {0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0};
    enum document_kind kind;
    long pages;
    for (size_t step = 1; step <= 64; step++) {
        typed(pdf, sizeof pdf - 1, step, &kind, &pages);
        assert_int_equal(kind, DOCUMENT_PDF);
        assert_int_equal(pages, 3);
        typed(tiff_le, sizeof tiff_le, step, &kind, &pages);
        assert_int_equal(kind, DOCUMENT_TIFF);
        assert_int_equal(pages, 2);
    }
    typed(tiff_back, sizeof tiff_back, 3, &kind, &pages);
    assert_int_equal(kind, DOCUMENT_TIFF);
    assert_int_equal(pages, -1); /* a chain pointing backwards cannot be followed */
    typed(png, sizeof png, 2, &kind, &pages);
    assert_int_equal(kind, DOCUMENT_PNG);
    assert_int_equal(pages, 1);
    typed(jpeg, sizeof jpeg, 1, &kind, &pages);
    assert_int_equal(kind, DOCUMENT_JPEG);
    typed(elf, sizeof elf, 4, &kind, &pages);
    assert_int_equal(kind, DOCUMENT_UNKNOWN);
    assert_string_equal(document_kind_name(DOCUMENT_TIFF), "tiff");
}

/* A PDF with object streams (its page objects may be compressed in them), or with no page
 * object seen, is counted from the whole file; one whose pages the stream saw is not. */
static void test_pdf_object_streams_need_the_whole_file(void **state)
{
    (void)state;
    static const char classic[] = "%PDF-1.4\n<< /Type /Pages /Count 1 >>\n<< /Type /Page >>\n";
    static const char packed[] = "%PDF-1.5\n<< /Type /Page >>\n4 0 obj << /Type /ObjStm /N 9 "
                                 "/First 40 /Filter /FlateDecode >>\nstream\nx\x9c...";
    static const char no_pages[] = "%PDF-1.5\n<< /Type /XRef /W [1 2 1] >>\n";
    static const char jpeg[] = "\xff\xd8\xff\xe0 /ObjStm";
    enum document_kind kind;
    long pages;
    for (size_t step = 1; step <= 16; step++) {
        assert_false(typed_parse(classic, sizeof classic - 1, step, &kind, &pages));
        assert_int_equal(pages, 1);
        assert_true(typed_parse(packed, sizeof packed - 1, step, &kind, &pages));
        assert_true(typed_parse(no_pages, sizeof no_pages - 1, step, &kind, &pages));
        assert_int_equal(pages, -1);
        assert_false(typed_parse(jpeg, sizeof jpeg - 1, step, &kind, &pages));
    }
    assert_null(document_kind_name(DOCUMENT_UNKNOWN));
}

static struct data_keys *keys_with(const char *hex, const char *name, char *path, size_t len)
{
    snprintf(path, len, "/tmp/onestop-test-%d-%s.key", (int)getpid(), name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(hex, f);
    fclose(f);
    struct data_keys *keys = data_keys_new();
    assert_non_null(keys);
    char err[256];
    bool ok = data_keys_load(keys, path, err, sizeof err);
    unlink(path);
    if (!ok) {
        data_keys_free(keys);
        return NULL;
    }
    return keys;
}

static void test_seal_and_open(void **state)
{
    (void)state;
    char path[256];
    struct data_keys *keys =
        keys_with("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n", "k1", path,
                  sizeof path);
    assert_non_null(keys);
    char id[64];
    snprintf(id, sizeof id, "onestop-test-%d-k1", (int)getpid());
    assert_string_equal(data_keys_current(keys), id);
    static const char plain[] = "Payslip for April: a secret worth keeping.";
    unsigned char iv[DATA_IV_BYTES], tag[DATA_TAG_BYTES], sealed[sizeof plain];
    struct data_seal *seal = data_seal_begin(keys, iv, "doc-1", 5);
    assert_non_null(seal);
    /* in pieces, as a stream */
    assert_true(data_seal_update(seal, plain, 10, sealed));
    assert_true(data_seal_update(seal, plain + 10, sizeof plain - 10, sealed + 10));
    assert_true(data_seal_final(seal, tag));
    data_seal_free(seal);
    assert_memory_not_equal(sealed, plain, sizeof plain);

    char opened[sizeof plain];
    struct data_open *open = data_open_begin(keys, id, iv, "doc-1", 5);
    assert_non_null(open);
    assert_true(data_open_update(open, sealed, sizeof sealed, opened));
    assert_true(data_open_final(open, tag));
    data_open_free(open);
    assert_memory_equal(opened, plain, sizeof plain);

    /* another record's associated data, a changed byte: the tag does not check */
    open = data_open_begin(keys, id, iv, "doc-2", 5);
    assert_true(data_open_update(open, sealed, sizeof sealed, opened));
    assert_false(data_open_final(open, tag));
    data_open_free(open);
    sealed[3] ^= 1;
    open = data_open_begin(keys, id, iv, "doc-1", 5);
    assert_true(data_open_update(open, sealed, sizeof sealed, opened));
    assert_false(data_open_final(open, tag));
    data_open_free(open);
    assert_null(data_open_begin(keys, "no-such-key", iv, NULL, 0));
    data_keys_free(keys);

    /* key files: 64 hex digits, nothing else */
    assert_null(keys_with("0011", "short", path, sizeof path));
    assert_null(keys_with("zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
                          "nothex", path, sizeof path));
}

/* Every seal gets its own IV, across the refills of the thread's pool of random IVs (64 at a
 * time): 1,000 seals, no IV twice, each value opens with its own IV. */
static void test_seal_ivs_unique(void **state)
{
    (void)state;
    enum { SEALS = 1000 };
    char path[256];
    struct data_keys *keys =
        keys_with("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n", "k2", path,
                  sizeof path);
    assert_non_null(keys);
    static unsigned char ivs[SEALS][DATA_IV_BYTES];
    static const unsigned char zero[DATA_IV_BYTES];
    for (int i = 0; i < SEALS; i++) {
        unsigned char tag[DATA_TAG_BYTES], sealed[sizeof i], opened[sizeof i];
        struct data_seal *seal = data_seal_begin(keys, ivs[i], NULL, 0);
        assert_non_null(seal);
        assert_true(data_seal_update(seal, &i, sizeof i, sealed));
        assert_true(data_seal_final(seal, tag));
        data_seal_free(seal);
        struct data_open *open = data_open_begin(keys, data_keys_current(keys), ivs[i], NULL, 0);
        assert_non_null(open);
        assert_true(data_open_update(open, sealed, sizeof sealed, opened));
        assert_true(data_open_final(open, tag));
        data_open_free(open);
        assert_memory_equal(opened, &i, sizeof i);
        assert_memory_not_equal(ivs[i], zero, DATA_IV_BYTES);
        for (int j = 0; j < i; j++)
            assert_memory_not_equal(ivs[i], ivs[j], DATA_IV_BYTES);
    }
    data_keys_free(keys);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multipart_same_parse_for_every_piece_size),
        cmocka_unit_test(test_multipart_refusals),
        cmocka_unit_test(test_types_and_pages),
        cmocka_unit_test(test_pdf_object_streams_need_the_whole_file),
        cmocka_unit_test(test_seal_and_open),
        cmocka_unit_test(test_seal_ivs_unique),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
