/* notify_jwt: GOV.UK Notify's API key and the bearer token made from it.
 *
 * A Notify API key reads "{key name}-{service id}-{secret}", where the service id and the
 * secret are UUIDs (36 characters each, the last 73 characters of the key). A request carries
 * "Authorization: Bearer <JWT>", the JWT being HS256 over {"iss": service id, "iat": now}
 * signed with the secret (OpenSSL HMAC); Notify refuses one whose iat is more than 30 s away
 * from its clock, so a token is made fresh for every request. */
#ifndef ONESTOP_NOTIFY_JWT_H
#define ONESTOP_NOTIFY_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define NOTIFY_UUID_LEN 36
#define NOTIFY_JWT_MAX  512

/* True when key (not NUL-terminated) has Notify's API key shape. */
bool notify_key_valid(const unsigned char *key, size_t len);

/* Writes the JWT for key at time now into out (NOTIFY_JWT_MAX). False when the key is not a
 * Notify key or signing failed. */
bool notify_jwt_make(const unsigned char *key, size_t len, time_t now, char out[NOTIFY_JWT_MAX])
    __attribute__((warn_unused_result));

#endif
