/* notify_jwt: a Notify API key's HS256 bearer token; see notify_jwt.h. */
#include "gateway/delivery/notify_jwt.h"

#include "gateway/token.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#define NOTIFY_KEY_TAIL (2 * NOTIFY_UUID_LEN + 1) /* "{service id}-{secret}" */
#define CLAIMS_MAX      128

static bool uuid_valid(const unsigned char *p)
{
    for (int i = 0; i < NOTIFY_UUID_LEN; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        unsigned char c = p[i];
        if (dash ? c != '-'
                 : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    }
    return true;
}

bool notify_key_valid(const unsigned char *key, size_t len)
{
    if (!key || len < NOTIFY_KEY_TAIL + 2) /* at least a one-character name and its dash */
        return false;
    const unsigned char *tail = key + len - NOTIFY_KEY_TAIL;
    return tail[-1] == '-' && uuid_valid(tail) && tail[NOTIFY_UUID_LEN] == '-' &&
           uuid_valid(tail + NOTIFY_UUID_LEN + 1);
}

bool notify_jwt_make(const unsigned char *key, size_t len, time_t now, char out[NOTIFY_JWT_MAX])
{
    if (!notify_key_valid(key, len))
        return false;
    const char *service_id = (const char *)key + len - NOTIFY_KEY_TAIL;
    const unsigned char *secret = key + len - NOTIFY_UUID_LEN;
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char claims[CLAIMS_MAX];
    int n = snprintf(claims, sizeof claims, "{\"iss\":\"%.*s\",\"iat\":%lld}", NOTIFY_UUID_LEN,
                     service_id, (long long)now);
    if (n < 0 || (size_t)n >= sizeof claims)
        return false;
    size_t used =
        base64url_encode((const unsigned char *)header, strlen(header), out, NOTIFY_JWT_MAX);
    if (!used || used + 2 >= NOTIFY_JWT_MAX)
        return false;
    out[used++] = '.';
    size_t c = base64url_encode((const unsigned char *)claims, (size_t)n, out + used,
                                NOTIFY_JWT_MAX - used);
    if (!c)
        return false;
    used += c;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (!HMAC(EVP_sha256(), secret, NOTIFY_UUID_LEN, (const unsigned char *)out, used, mac,
              &mac_len))
        return false;
    if (used + 2 >= NOTIFY_JWT_MAX)
        return false;
    out[used++] = '.';
    return base64url_encode(mac, mac_len, out + used, NOTIFY_JWT_MAX - used) != 0;
}
