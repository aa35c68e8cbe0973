#include "gateway/status_token.h"

#include "gateway/config.h"
#include "gateway/digest.h"
#include "gateway/token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

void status_token_make(const struct secret *key, const char *reference,
                       char out[STATUS_TOKEN_LEN + 1])
{
    unsigned char mac[DIGEST_SHA256_LEN];
    if (!digest_hmac_sha256(key->bytes, key->len, reference, strlen(reference), mac)) {
        unsigned int len = 0; /* out of memory on the fast path: OpenSSL's own */
        HMAC(EVP_sha256(), key->bytes, (int)key->len, (const unsigned char *)reference,
             strlen(reference), mac, &len);
    }
    base64url_encode(mac, 12, out, STATUS_TOKEN_LEN + 1);
}

bool status_token_check(const struct secret *key, const char *reference, const char *token)
{
    char want[STATUS_TOKEN_LEN + 1];
    if (!token || strlen(token) != STATUS_TOKEN_LEN)
        return false;
    status_token_make(key, reference, want);
    return CRYPTO_memcmp(want, token, STATUS_TOKEN_LEN) == 0;
}

bool status_token_url(const struct secret *key, const char *base_url, const char *reference,
                      char *out, size_t outlen)
{
    char token[STATUS_TOKEN_LEN + 1];
    status_token_make(key, reference, token);
    size_t base_len = strlen(base_url);
    while (base_len > 0 && base_url[base_len - 1] == '/')
        base_len--;
    int n = snprintf(out, outlen, "%.*s/r/%s?t=%s", (int)base_len, base_url, reference, token);
    return n > 0 && (size_t)n < outlen;
}
