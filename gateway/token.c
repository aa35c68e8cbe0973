/* token: random session tokens (OpenSSL RAND_bytes) and their SHA-256 for storage. */
#include "gateway/token.h"

#include "gateway/digest.h"

#include <openssl/rand.h>
#include <string.h>
#include <strings.h>

size_t base64url_encode(const unsigned char *in, size_t len, char *out, size_t outlen)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    unsigned bits = 0;
    int nbits = 0;
    for (size_t i = 0; i < len; i++) {
        bits = (bits << 8) | in[i];
        nbits += 8;
        while (nbits >= 6) {
            if (o + 1 >= outlen)
                return 0;
            out[o++] = alphabet[(bits >> (nbits - 6)) & 63];
            nbits -= 6;
        }
    }
    if (nbits > 0) {
        if (o + 1 >= outlen)
            return 0;
        out[o++] = alphabet[(bits << (6 - nbits)) & 63];
    }
    out[o] = '\0';
    return o;
}

void hex_encode(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

bool token_generate(char out[TOKEN_TEXT_LEN + 1])
{
    unsigned char raw[TOKEN_BYTES];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return false;
    return base64url_encode(raw, sizeof raw, out, TOKEN_TEXT_LEN + 1) == TOKEN_TEXT_LEN;
}

void token_hash(const char *token, char out[TOKEN_HASH_HEX_LEN + 1])
{
    unsigned char digest[DIGEST_SHA256_LEN];
    if (!digest_sha256(token, strlen(token), digest))
        memset(digest, 0, sizeof digest); /* out of memory: a hash no session has */
    hex_encode(digest, sizeof digest, out);
}

bool token_well_formed(const char *text)
{
    if (!text || strlen(text) != TOKEN_TEXT_LEN)
        return false;
    for (const char *p = text; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_'))
            return false;
    return true;
}

const char *token_from_authorization(const char *header)
{
    if (!header || strncasecmp(header, "Bearer ", 7) != 0)
        return NULL;
    const char *t = header + 7;
    while (*t == ' ')
        t++;
    return token_well_formed(t) ? t : NULL;
}
