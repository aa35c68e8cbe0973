/*
 * HMAC-SHA256 request signatures and the replay cache.
 *
 * The MAC is computed with OpenSSL's EVP_MAC in three updates (timestamp "\n",
 * key "\n", body) so the body is never copied. Verification parses the header
 * strictly, checks the clock window first (cheap), then compares the HMAC with
 * CRYPTO_memcmp so timing reveals nothing about the expected value.
 *
 * The replay cache is a jansson object used as an insertion-ordered hash map from the
 * signature string to its timestamp: a signature can only be valid while its
 * timestamp is within the window, so anything older can be forgotten.
 */
#include "sim/signature.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#define TIMESTAMP_MAX_DIGITS 18

bool signature_compute(const unsigned char *key, size_t key_len, const char *timestamp,
                       const char *idempotency_key, const char *body, size_t body_len,
                       char out[SIGNATURE_HEX_LEN + 1])
{
    bool ok = false;
    EVP_MAC *mac = NULL;
    EVP_MAC_CTX *ctx = NULL;
    unsigned char digest[EVP_MAX_MD_SIZE];
    size_t digest_len = 0;
    const char *ikey = idempotency_key ? idempotency_key : "";
    char digest_name[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
        OSSL_PARAM_construct_end(),
    };

    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!mac)
        goto out;
    ctx = EVP_MAC_CTX_new(mac);
    if (!ctx || !EVP_MAC_init(ctx, key, key_len, params))
        goto out;
    if (!EVP_MAC_update(ctx, (const unsigned char *)timestamp, strlen(timestamp)) ||
        !EVP_MAC_update(ctx, (const unsigned char *)"\n", 1) ||
        !EVP_MAC_update(ctx, (const unsigned char *)ikey, strlen(ikey)) ||
        !EVP_MAC_update(ctx, (const unsigned char *)"\n", 1))
        goto out;
    if (body_len > 0 && !EVP_MAC_update(ctx, (const unsigned char *)body, body_len))
        goto out;
    if (!EVP_MAC_final(ctx, digest, &digest_len, sizeof digest) ||
        digest_len * 2 != SIGNATURE_HEX_LEN)
        goto out;
    for (size_t i = 0; i < digest_len; i++)
        snprintf(out + 2 * i, 3, "%02x", digest[i]);
    ok = true;
out:
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return ok;
}

/* Parses a decimal unix timestamp; false on anything but 1..18 digits. */
static bool parse_timestamp(const char *s, long long *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > TIMESTAMP_MAX_DIGITS)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

static bool is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

signature_result signature_verify(const unsigned char *key, size_t key_len, const char *timestamp,
                                  const char *signature_header, const char *idempotency_key,
                                  const char *body, size_t body_len, time_t now)
{
    const size_t prefix_len = strlen(SIGNATURE_PREFIX);
    long long ts = 0;
    char expected[SIGNATURE_HEX_LEN + 1];

    if (!timestamp || !signature_header || !*timestamp || !*signature_header)
        return SIGNATURE_MISSING;
    if (!parse_timestamp(timestamp, &ts))
        return SIGNATURE_MALFORMED;
    if (strlen(signature_header) != prefix_len + SIGNATURE_HEX_LEN ||
        strncmp(signature_header, SIGNATURE_PREFIX, prefix_len) != 0 ||
        !is_lower_hex(signature_header + prefix_len, SIGNATURE_HEX_LEN))
        return SIGNATURE_MALFORMED;
    if (ts > (long long)now + SIGNATURE_WINDOW_S || ts < (long long)now - SIGNATURE_WINDOW_S)
        return SIGNATURE_STALE;
    if (!signature_compute(key, key_len, timestamp, idempotency_key, body, body_len, expected))
        return SIGNATURE_MISMATCH;
    if (CRYPTO_memcmp(expected, signature_header + prefix_len, SIGNATURE_HEX_LEN) != 0)
        return SIGNATURE_MISMATCH;
    return SIGNATURE_OK;
}

const char *signature_result_name(signature_result r)
{
    switch (r) {
    case SIGNATURE_OK:
        return "ok";
    case SIGNATURE_MISSING:
        return "missing";
    case SIGNATURE_MALFORMED:
        return "malformed";
    case SIGNATURE_STALE:
        return "stale";
    case SIGNATURE_MISMATCH:
        return "mismatch";
    case SIGNATURE_REPLAY:
        return "replay";
    }
    return "unknown";
}

bool signature_read_key_file(const char *path, unsigned char **key, size_t *key_len)
{
    bool ok = false;
    unsigned char *buf = NULL;
    size_t n = 0;
    FILE *f = fopen(path, "rb");

    if (!f) {
        fprintf(stderr, "onestop-sim: cannot open key file %s: %s\n", path, strerror(errno));
        return false;
    }
    buf = malloc(SIGNATURE_MAX_KEY + 1);
    if (!buf)
        goto out;
    n = fread(buf, 1, SIGNATURE_MAX_KEY + 1, f);
    if (ferror(f)) {
        fprintf(stderr, "onestop-sim: cannot read key file %s\n", path);
        goto out;
    }
    if (n > SIGNATURE_MAX_KEY) {
        fprintf(stderr, "onestop-sim: key file %s is longer than %d bytes\n", path,
                SIGNATURE_MAX_KEY);
        goto out;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    if (n == 0) {
        fprintf(stderr, "onestop-sim: key file %s is empty\n", path);
        goto out;
    }
    *key = buf;
    *key_len = n;
    buf = NULL;
    ok = true;
out:
    free(buf);
    fclose(f);
    return ok;
}

void replay_cache_init(replay_cache *c)
{
    c->seen = json_object();
    c->last_prune = 0;
}

void replay_cache_clear(replay_cache *c)
{
    json_object_clear(c->seen);
    c->last_prune = 0;
}

void replay_cache_free(replay_cache *c)
{
    json_decref(c->seen);
    c->seen = NULL;
}

/* Forgets signatures whose timestamp has left the window. */
static void replay_cache_prune(replay_cache *c, time_t now)
{
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(c->seen, tmp, k, v)
    {
        long long ts = json_integer_value(v);
        if (ts < (long long)now - SIGNATURE_WINDOW_S || ts > (long long)now + SIGNATURE_WINDOW_S)
            json_object_del(c->seen, k);
    }
    c->last_prune = now;
}

bool replay_cache_seen(replay_cache *c, const char *signature_header, long long timestamp,
                       time_t now)
{
    if (now - c->last_prune >= REPLAY_PRUNE_EVERY)
        replay_cache_prune(c, now);
    if (json_object_get(c->seen, signature_header))
        return true;
    while (json_object_size(c->seen) >= REPLAY_CACHE_MAX) {
        void *it = json_object_iter(c->seen);
        if (!it)
            break;
        json_object_del(c->seen, json_object_iter_key(it));
    }
    json_object_set_new(c->seen, signature_header, json_integer(timestamp));
    return false;
}
