/* digest: SHA-256 and HMAC-SHA-256 with SHA-256 fetched once (see digest.h).
 *
 * HMAC is RFC 2104 over the fetched digest: H((K ^ opad) || H((K ^ ipad) || msg)), a key
 * longer than the block hashed first. The fetched EVP_MD lives for the process. */
#include "gateway/digest.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>

#define SHA256_BLOCK 64
#define HMAC_IPAD    0x36
#define HMAC_OPAD    0x5c

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

bool digest_sha256_json(const json_t *value, size_t flags, unsigned char out[DIGEST_SHA256_LEN])
{
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
