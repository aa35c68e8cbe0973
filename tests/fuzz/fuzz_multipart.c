/* fuzz_multipart: the streaming multipart/form-data parser (gateway/multipart.c) and the
 * document typing it feeds (gateway/document_type.c). The input is parsed twice: whole, and
 * cut into pieces whose sizes come from its first byte. Both parses must see the same parts,
 * the same data and the same outcome (a piece border must never change what is parsed), and
 * the typing of each part's data must agree too. */
#include "fuzz_util.h"
#include "gateway/document_type.h"
#include "gateway/multipart.h"

#include <openssl/evp.h>
#include <string.h>

#define CONTENT_TYPE "multipart/form-data; boundary=XyZ-fuzz"

struct trace {
    EVP_MD_CTX *md; /* a digest of every event in order */
    struct document_type type;
    long parts;
    long pages;
    int kind;
};

static void event(struct trace *t, const char *tag, const void *data, size_t len)
{
    EVP_DigestUpdate(t->md, tag, strlen(tag));
    EVP_DigestUpdate(t->md, data, len);
}

static bool on_begin(void *ctx, const struct multipart_part *part)
{
    struct trace *t = ctx;
    t->parts++;
    event(t, "B", part, sizeof *part);
    document_type_init(&t->type);
    return t->parts < 64;
}

static bool on_data(void *ctx, const char *data, size_t len)
{
    struct trace *t = ctx;
    if (len == 0)
        abort();                        /* the parser never hands over empty runs */
    EVP_DigestUpdate(t->md, data, len); /* no tag: piece borders may split runs */
    document_type_feed(&t->type, data, len);
    return true;
}

static bool on_end(void *ctx)
{
    struct trace *t = ctx;
    t->kind += document_type_kind(&t->type);
    t->pages += document_type_pages(&t->type);
    event(t, "E", "", 0);
    return true;
}

static const struct multipart_callbacks callbacks = {on_begin, on_data, on_end};

/* One parse in pieces of `step` bytes (0: whole); the digest of its events into out. */
static int parse(const uint8_t *data, size_t size, size_t step, unsigned char out[32], long *pages,
                 int *kind)
{
    struct trace t = {.md = EVP_MD_CTX_new()};
    EVP_DigestInit_ex(t.md, EVP_sha256(), NULL);
    struct multipart *mp = multipart_new(CONTENT_TYPE, &callbacks, &t);
    if (!mp)
        abort();
    enum multipart_result r = MULTIPART_OK;
    for (size_t at = 0; at < size && r == MULTIPART_OK;) {
        size_t n = step && step < size - at ? step : size - at;
        r = multipart_feed(mp, (const char *)data + at, n);
        at += n;
    }
    if (r == MULTIPART_OK)
        r = multipart_finish(mp);
    event(&t, "R", &r, sizeof r);
    multipart_free(mp);
    unsigned int len = 0;
    EVP_DigestFinal_ex(t.md, out, &len);
    EVP_MD_CTX_free(t.md);
    *pages = t.pages;
    *kind = t.kind;
    return (int)r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)(data[0] % 17) + 1;
    unsigned char whole[32], pieces[32];
    long pages_whole, pages_pieces;
    int kind_whole, kind_pieces;
    int r1 = parse(data + 1, size - 1, 0, whole, &pages_whole, &kind_whole);
    int r2 = parse(data + 1, size - 1, step, pieces, &pages_pieces, &kind_pieces);
    if (r1 != r2 || memcmp(whole, pieces, sizeof whole) != 0 || pages_whole != pages_pieces ||
        kind_whole != kind_pieces)
        abort();
    char boundary[MULTIPART_BOUNDARY_MAX + 1];
    char *ct = fuzz_cstr(data, size);
    (void)multipart_boundary(ct, boundary);
    free(ct);
    return 0;
}
