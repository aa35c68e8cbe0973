/*
 * Request signing as docs/backends.md defines it, both directions.
 *
 *   X-Onestop-Signature: v1=<lower hex HMAC-SHA256(key, timestamp "\n" idempotency-key "\n" body)>
 *
 * signature_verify checks the header values against a key and the clock; the replay
 * cache remembers signatures seen within the window so an identical one is refused.
 * Neither takes a lock: the caller (sim/pipeline.c) holds the state lock around the
 * replay cache.
 */
#ifndef ONESTOP_SIM_SIGNATURE_H
#define ONESTOP_SIM_SIGNATURE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>

#define SIGNATURE_WINDOW_S 300 /* allowed distance between a timestamp and our clock */
#define SIGNATURE_HEX_LEN  64  /* hex digits of an HMAC-SHA256 */
#define SIGNATURE_PREFIX   "v1="
#define SIGNATURE_MAX_KEY  4096 /* bytes of a signing key file */
#define REPLAY_CACHE_MAX   200000
#define REPLAY_PRUNE_EVERY 1 /* seconds between sweeps of expired signatures */

typedef enum signature_result {
    SIGNATURE_OK,
    SIGNATURE_MISSING,   /* no timestamp or no signature header */
    SIGNATURE_MALFORMED, /* not "v1=" + 64 lower-case hex digits, or timestamp not digits */
    SIGNATURE_STALE,     /* timestamp more than SIGNATURE_WINDOW_S from now */
    SIGNATURE_MISMATCH,  /* HMAC differs */
    SIGNATURE_REPLAY     /* identical signature already seen within the window */
} signature_result;

/* Writes the lower-case hex HMAC (64 digits and a NUL) of timestamp "\n" key "\n" body
 * into out. idempotency_key NULL counts as "". False only if OpenSSL fails. */
__attribute__((warn_unused_result)) bool signature_compute(const unsigned char *key, size_t key_len,
                                                           const char *timestamp,
                                                           const char *idempotency_key,
                                                           const char *body, size_t body_len,
                                                           char out[SIGNATURE_HEX_LEN + 1]);

/* Checks the two header values (either may be NULL) for a request; does not look at
 * the replay cache. Comparison is constant-time (CRYPTO_memcmp). */
__attribute__((warn_unused_result)) signature_result
signature_verify(const unsigned char *key, size_t key_len, const char *timestamp,
                 const char *signature_header, const char *idempotency_key, const char *body,
                 size_t body_len, time_t now);

/* A short word for logs: "ok", "missing", "stale", ... */
const char *signature_result_name(signature_result r);

/* Reads a key file: raw bytes with trailing CR/LF removed. On success *key is malloc'd
 * (caller frees) and non-empty; on failure prints why to stderr and returns false. */
__attribute__((warn_unused_result)) bool
signature_read_key_file(const char *path, unsigned char **key, size_t *key_len);

/* Signatures accepted within the window. */
typedef struct replay_cache {
    json_t *seen; /* signature hex -> timestamp (integer); insertion ordered */
    time_t last_prune;
} replay_cache;

void replay_cache_init(replay_cache *c);
void replay_cache_clear(replay_cache *c);
void replay_cache_free(replay_cache *c);

/* True when `signature_header` was seen within the window (a replay). Otherwise
 * remembers it with its timestamp and returns false. Expired entries are swept at most
 * every REPLAY_PRUNE_EVERY seconds; past REPLAY_CACHE_MAX the oldest are forgotten. */
bool replay_cache_seen(replay_cache *c, const char *signature_header, long long timestamp,
                       time_t now);

#endif
