/* password: staff password hashing with PBKDF2-HMAC-SHA256 (OpenSSL), verified in constant time.
 *
 * Stored form: "pbkdf2-sha256$ITERATIONS$SALT_B64$HASH_B64" — the iteration count travels with
 * the hash, so raising it in config only affects new hashes and old ones still verify. */
#ifndef ONESTOP_PASSWORD_H
#define ONESTOP_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#define PASSWORD_HASH_MAX       200
#define PASSWORD_MIN_LENGTH     8
#define PASSWORD_MAX_LENGTH     1024
#define PASSWORD_MIN_ITERATIONS 600000

/* Hashes password into out (at least PASSWORD_HASH_MAX bytes). False if OpenSSL fails or
 * iterations is below PASSWORD_MIN_ITERATIONS. */
bool password_hash(const char *password, long iterations, char *out, size_t outlen)
    __attribute__((warn_unused_result));
/* True when password matches the stored hash. A malformed stored hash never matches. */
bool password_verify(const char *password, const char *stored) __attribute__((warn_unused_result));
/* Spends the same time as a real verification, for unknown usernames (no timing oracle). */
void password_burn(long iterations);

#endif
