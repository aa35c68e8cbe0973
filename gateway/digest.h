/* digest: SHA-256 and HMAC-SHA-256 for the request path, with the algorithm fetched once.
 *
 * OpenSSL 3 looks an algorithm up by name (a locked table search) on every EVP_Digest or
 * HMAC given EVP_sha256(); a sale paid for three of those on its HTTP thread. These fetch
 * SHA-256 once per process and reuse it. The results are byte for byte those of EVP_Digest
 * and HMAC (RFC 2104) with EVP_sha256(). */
#ifndef ONESTOP_DIGEST_H
#define ONESTOP_DIGEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define DIGEST_SHA256_LEN 32

/* SHA-256 of len bytes into out. False (out undefined) only when OpenSSL fails (no memory). */
bool digest_sha256(const void *data, size_t len, unsigned char out[DIGEST_SHA256_LEN])
    __attribute__((warn_unused_result));

/* SHA-256 of json_dumps(value, flags), hashed as jansson writes it (no text built). False (out
 * undefined) when jansson or OpenSSL fails (no memory). */
bool digest_sha256_json(const json_t *value, size_t flags, unsigned char out[DIGEST_SHA256_LEN])
    __attribute__((warn_unused_result));

/* What json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS) writes, written in one buffer (len
 * set): the text digest_sha256_json hashes for those flags. NULL (jansson's dump is then
 * used) for a real, a key or string with a NUL in it, nesting past 64 levels, more than
 * 4 MiB, or no memory. The caller frees it. */
char *digest_canonical_json(const json_t *value, size_t *len);

/* HMAC-SHA-256 of msg under key into out. False (out undefined) only when OpenSSL fails. */
bool digest_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                        unsigned char out[DIGEST_SHA256_LEN]) __attribute__((warn_unused_result));

#endif
