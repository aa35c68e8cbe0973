/* password: PBKDF2-HMAC-SHA256 through OpenSSL's PKCS5_PBKDF2_HMAC; CRYPTO_memcmp to compare. */
#include "gateway/password.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SALT_LEN   16
#define KEY_LEN    32
#define B64_LEN(n) (4 * (((n) + 2) / 3) + 1)
#define PREFIX     "pbkdf2-sha256$"

static bool derive(const char *password, const unsigned char *salt, size_t salt_len,
                   long iterations, unsigned char *key)
{
    return PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)salt_len, (int)iterations,
                             EVP_sha256(), KEY_LEN, key) == 1;
}

bool password_hash(const char *password, long iterations, char *out, size_t outlen)
{
    unsigned char salt[SALT_LEN], key[KEY_LEN];
    char salt_b64[B64_LEN(SALT_LEN)], key_b64[B64_LEN(KEY_LEN)];
    if (iterations < PASSWORD_MIN_ITERATIONS || strlen(password) > PASSWORD_MAX_LENGTH)
        return false;
    if (RAND_bytes(salt, sizeof salt) != 1 || !derive(password, salt, sizeof salt, iterations, key))
        return false;
    EVP_EncodeBlock((unsigned char *)salt_b64, salt, sizeof salt);
    EVP_EncodeBlock((unsigned char *)key_b64, key, sizeof key);
    OPENSSL_cleanse(key, sizeof key);
    int n = snprintf(out, outlen, PREFIX "%ld$%s$%s", iterations, salt_b64, key_b64);
    return n > 0 && (size_t)n < outlen;
}

/* Decodes standard base64 of a known decoded length; false on any mismatch. */
static bool decode_exact(const char *b64, size_t b64_len, unsigned char *out, size_t want)
{
    unsigned char buf[64];
    if (b64_len != 4 * ((want + 2) / 3) || b64_len > 4 * (sizeof buf / 3))
        return false;
    int n = EVP_DecodeBlock(buf, (const unsigned char *)b64, (int)b64_len);
    if (n < (int)want)
        return false;
    memcpy(out, buf, want);
    return true;
}

bool password_verify(const char *password, const char *stored)
{
    if (!password || !stored || strncmp(stored, PREFIX, strlen(PREFIX)) != 0 ||
        strlen(password) > PASSWORD_MAX_LENGTH)
        return false;
    const char *p = stored + strlen(PREFIX);
    char *end;
    errno = 0;
    long iterations = strtol(p, &end, 10);
    if (errno || *end != '$' || iterations < 1 || iterations > 100000000)
        return false;
    const char *salt_b64 = end + 1;
    const char *dollar = strchr(salt_b64, '$');
    if (!dollar)
        return false;
    unsigned char salt[SALT_LEN], want[KEY_LEN], got[KEY_LEN];
    if (!decode_exact(salt_b64, (size_t)(dollar - salt_b64), salt, SALT_LEN) ||
        !decode_exact(dollar + 1, strlen(dollar + 1), want, KEY_LEN))
        return false;
    if (!derive(password, salt, SALT_LEN, iterations, got))
        return false;
    bool same = CRYPTO_memcmp(got, want, KEY_LEN) == 0;
    OPENSSL_cleanse(got, sizeof got);
    return same;
}

void password_burn(long iterations)
{
    unsigned char salt[SALT_LEN] = {0}, key[KEY_LEN];
    (void)derive("not a password", salt, sizeof salt, iterations, key);
}
