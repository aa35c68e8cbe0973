/* oauth_token: OAuth2 client credentials with a signed JWT client assertion (RFC 7523), as
 * the NHS API platform's application-restricted access wants it, and the access-token cache
 * shared by the forwarder thread and the look-up thread.
 *
 * The assertion is a JWT {"alg":"RS512","typ":"JWT","kid"} with claims iss = sub = client_id,
 * aud = token_url, a random jti (a UUID) and exp = now + OAUTH_JWT_LIFETIME_S (at most five
 * minutes ahead), signed with the back-end's private_key_file. It is posted as
 *   grant_type=client_credentials
 *   &client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer
 *   &client_assertion=<JWT>
 * and the answer {"access_token","expires_in","token_type":"Bearer",...} is cached per
 * back-end until OAUTH_RENEW_MARGIN_S before it expires. expires_in may be a number or a
 * string ("599", as the NHS platform sends it).
 *
 * oauth_token_get BLOCKS the calling thread while it fetches a token, for at most the
 * back-end's token_timeout_ms (3 s by default). Callers are the look-up thread and the
 * forwarder thread, never an HTTP thread. One fetch per back-end runs at a time: other callers
 * wait for its result instead of fetching again, so 20 look-ups at once cause one fetch. After
 * a failed fetch, callers get the same error for OAUTH_FAILURE_HOLD_MS without fetching, so a
 * token endpoint that is down cannot stall the forwarder turn after turn. */
#ifndef ONESTOP_OAUTH_TOKEN_H
#define ONESTOP_OAUTH_TOKEN_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct backend_config;

#define OAUTH_MUSTCHECK       __attribute__((warn_unused_result))
#define OAUTH_TOKEN_MAX       2048 /* bytes of an access token we accept, NUL included */
#define OAUTH_JTI_SIZE        37   /* a UUID and its NUL */
#define OAUTH_JWT_LIFETIME_S  300  /* exp of a client assertion: at most five minutes ahead */
#define OAUTH_RENEW_MARGIN_S  60   /* renew a token this long before it expires */
#define OAUTH_FAILURE_HOLD_MS 5000 /* after a failed fetch, answer its error this long */
#define OAUTH_EXPIRES_IN_MAX  86400
#define OAUTH_ERROR_MAX       256
#define OAUTH_ASSERTION_TYPE  "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

/* The signed client assertion (a malloc'd NUL-terminated JWT, caller frees) for client_id
 * at aud, valid from now; its jti is written to jti. NULL with a message in err when OpenSSL
 * or jansson fail (key not RSA, out of memory). */
char *oauth_jwt_build(EVP_PKEY *key, const char *kid, const char *client_id, const char *aud,
                      time_t now, char jti[OAUTH_JTI_SIZE], char *err,
                      size_t errlen) OAUTH_MUSTCHECK;

/* Reads a token endpoint's 2xx answer: access_token (printable, shorter than
 * OAUTH_TOKEN_MAX) into token, expires_in (a whole number of seconds, 1 to
 * OAUTH_EXPIRES_IN_MAX, given as a number or a string of digits) into *expires_in_s, and
 * token_type, when present, must be Bearer. False with a message in err otherwise. */
bool oauth_token_parse(const char *body, size_t len, char token[OAUTH_TOKEN_MAX],
                       long *expires_in_s, char *err, size_t errlen) OAUTH_MUSTCHECK;

/* A message an operator can act on for a token endpoint's error answer (400, 401, 403, 429,
 * 5xx), with the endpoint's own words when it gave some (OAuth "error"/"error_description",
 * or a FHIR OperationOutcome's code and diagnostics). */
void oauth_token_describe_error(int http_status, const char *body, size_t len, char *out,
                                size_t outlen);

/* A valid access token for be (auth oauth2-jwt) into token: the cached one, or one fetched
 * now (see the blocking note above). False with a message in err (no secrets in it) when no
 * token can be had. Thread-safe. */
bool oauth_token_get(const struct backend_config *be, char token[OAUTH_TOKEN_MAX], char *err,
                     size_t errlen) OAUTH_MUSTCHECK;

/* The back-end refused `token` (401): forget it, unless a newer one is cached already, so the
 * next oauth_token_get fetches once however many requests saw the 401. Thread-safe. */
void oauth_token_invalidate(const struct backend_config *be, const char *token);

/* Frees every cached token (at shutdown, when no thread uses them any more). */
void oauth_token_cache_free(void);

#endif
