/* digest: SHA-256 and HMAC-SHA-256 with SHA-256 fetched once (see digest.h).
 *
 * HMAC is RFC 2104 over the fetched digest: H((K ^ opad) || H((K ^ ipad) || msg)), a key
 * longer than the block hashed first. The fetched EVP_MD lives for the process.
 *
 * The canonical JSON hashed for a request (JSON_COMPACT | JSON_SORT_KEYS) is written here
 * into one buffer, byte for byte as jansson writes it, rather than by jansson's dump, which
 * calls back once per token; anything unusual (a real, a key with a NUL) goes to jansson. */
#include "gateway/digest.h"

#include "gateway/strbuf.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SHA256_BLOCK         64
#define HMAC_IPAD            0x36
#define HMAC_OPAD            0x5c
#define CANONICAL_TEXT_MAX   (4 * 1024 * 1024) /* past this, jansson's own dump is hashed */
#define CANONICAL_DEPTH_MAX  64                /* deeper, too */
#define CANONICAL_KEYS_STACK 32                /* an object's keys sorted without malloc */

static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* The fetched SHA-256, or EVP_sha256() (fetched per use) if the fetch failed. */
static const EVP_MD *sha256(void)
{
    pthread_once(&sha256_once, sha256_fetch);
    return sha256_md ? sha256_md : EVP_sha256();
}

bool digest_sha256(const void *data, size_t len, unsigned char out[DIGEST_SHA256_LEN])
{
    unsigned int n = 0;
    return EVP_Digest(data, len, out, &n, sha256(), NULL) == 1 && n == DIGEST_SHA256_LEN;
}

static int json_chunk(const char *buffer, size_t size, void *data)
{
    return EVP_DigestUpdate(data, buffer, size) == 1 ? 0 : -1;
}

static int compare_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Appends what json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS) writes for value. False when
 * out of memory, past CANONICAL_DEPTH_MAX, or at a real (jansson's formatting of reals is
 * left to jansson) or a key with a NUL in it: the caller then asks jansson. */
static bool canonical_append(struct strbuf *b, const json_t *value, int depth)
{
    if (depth > CANONICAL_DEPTH_MAX)
        return false;
    switch (json_typeof(value)) {
    case JSON_NULL:
        return strbuf_append(b, "null", 4);
    case JSON_TRUE:
        return strbuf_append(b, "true", 4);
    case JSON_FALSE:
        return strbuf_append(b, "false", 5);
    case JSON_INTEGER:
        return strbuf_json_int(b, json_integer_value(value));
    case JSON_STRING:
        return strlen(json_string_value(value)) == json_string_length(value) &&
               strbuf_json_string(b, json_string_value(value));
    case JSON_ARRAY: {
        bool ok = strbuf_append(b, "[", 1);
        for (size_t i = 0; ok && i < json_array_size(value); i++)
            ok = (i == 0 || strbuf_append(b, ",", 1)) &&
                 canonical_append(b, json_array_get(value, i), depth + 1);
        return ok && strbuf_append(b, "]", 1);
    }
    case JSON_OBJECT: {
        size_t n = json_object_size(value);
        const char *stack_keys[CANONICAL_KEYS_STACK];
        const char **keys = n <= CANONICAL_KEYS_STACK ? stack_keys : malloc(n * sizeof *keys);
        if (!keys)
            return false;
        size_t k = 0;
        bool ok = true;
        for (void *it = json_object_iter((json_t *)value); it && k < n;
             it = json_object_iter_next((json_t *)value, it)) {
            keys[k] = json_object_iter_key(it);
            ok = ok && strlen(keys[k]) == json_object_iter_key_len(it);
            k++;
        }
        qsort(keys, k, sizeof *keys, compare_keys);
        ok = ok && strbuf_append(b, "{", 1);
        for (size_t i = 0; ok && i < k; i++)
            ok = (i == 0 || strbuf_append(b, ",", 1)) && strbuf_json_string(b, keys[i]) &&
                 strbuf_append(b, ":", 1) &&
                 canonical_append(b, json_object_get(value, keys[i]), depth + 1);
        if (keys != stack_keys)
            free(keys);
        return ok && strbuf_append(b, "}", 1);
    }
    default: /* a real */
        return false;
    }
}

char *digest_canonical_json(const json_t *value, size_t *len)
{
    struct strbuf b;
    strbuf_init(&b, CANONICAL_TEXT_MAX);
    if (!value || !canonical_append(&b, value, 0)) {
        strbuf_free(&b);
        return NULL;
    }
    return strbuf_take(&b, len);
}

bool digest_sha256_json(const json_t *value, size_t flags, unsigned char out[DIGEST_SHA256_LEN])
{
    if (flags == (JSON_COMPACT | JSON_SORT_KEYS)) {
        size_t len = 0;
        char *text = digest_canonical_json(value, &len);
        bool ok = text && digest_sha256(text, len, out);
        free(text);
        if (ok)
            return true;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int n = 0;
    bool ok = ctx && EVP_DigestInit_ex(ctx, sha256(), NULL) == 1 &&
              json_dump_callback(value, json_chunk, ctx, flags) == 0 &&
              EVP_DigestFinal_ex(ctx, out, &n) == 1 && n == DIGEST_SHA256_LEN;
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* H(pad || parts...) for the two halves of HMAC: pad is the key block XORed with a constant. */
static bool hash_padded(EVP_MD_CTX *ctx, const unsigned char *key_block, unsigned char pad,
                        const void *msg, size_t msg_len, unsigned char out[DIGEST_SHA256_LEN])
{
    unsigned char block[SHA256_BLOCK];
    for (size_t i = 0; i < SHA256_BLOCK; i++)
        block[i] = key_block[i] ^ pad;
    unsigned int n = 0;
    bool ok = EVP_DigestInit_ex(ctx, sha256(), NULL) == 1 &&
              EVP_DigestUpdate(ctx, block, sizeof block) == 1 &&
              EVP_DigestUpdate(ctx, msg, msg_len) == 1 && EVP_DigestFinal_ex(ctx, out, &n) == 1 &&
              n == DIGEST_SHA256_LEN;
    OPENSSL_cleanse(block, sizeof block);
    return ok;
}

bool digest_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                        unsigned char out[DIGEST_SHA256_LEN])
{
    unsigned char key_block[SHA256_BLOCK] = {0};
    unsigned char inner[DIGEST_SHA256_LEN];
    bool ok = true;
    if (key_len > SHA256_BLOCK)
        ok = digest_sha256(key, key_len, key_block);
    else if (key_len)
        memcpy(key_block, key, key_len);
    EVP_MD_CTX *ctx = ok ? EVP_MD_CTX_new() : NULL;
    ok = ctx && hash_padded(ctx, key_block, HMAC_IPAD, msg, msg_len, inner) &&
         hash_padded(ctx, key_block, HMAC_OPAD, inner, sizeof inner, out);
    EVP_MD_CTX_free(ctx);
    OPENSSL_cleanse(key_block, sizeof key_block);
    OPENSSL_cleanse(inner, sizeof inner);
    return ok;
}
