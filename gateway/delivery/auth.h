/* auth: how a request to a back-end shows who sends it, chosen per back-end in config
 * ("auth" in the back-end's entry; docs/backends.md, "Authentication").
 *
 *   hmac        X-Onestop-Timestamp and X-Onestop-Signature (backend_request.h, "Signing");
 *   api-key     the api_key_file's value in the api_key_header header (open311 back-ends also
 *               get it as the api_key form field, which their connector adds);
 *   bearer      Authorization: Bearer <bearer_token_file's value>;
 *   oauth2-jwt  Authorization: Bearer <access token>, the token coming from oauth_token.h
 *               (the caller fetches it, so this module never touches the network);
 *   none        nothing.
 * mTLS (client_cert_file/client_key_file/ca_file) is set on the transfer by backend_request
 * and works with any of them. auth_apply is pure and thread-safe. */
#ifndef ONESTOP_AUTH_H
#define ONESTOP_AUTH_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

struct backend_config;

#define AUTH_MUSTCHECK     __attribute__((warn_unused_result))
#define AUTH_HEADER_MAX    4096 /* one header line we add, "Name: value" */
#define AUTH_BEARER_SCHEME "Bearer "

enum auth_kind { AUTH_HMAC, AUTH_API_KEY, AUTH_OAUTH2_JWT, AUTH_BEARER, AUTH_NONE };

/* The back-end's kind (config has checked the name; a missing one is hmac). */
enum auth_kind auth_kind_of(const struct backend_config *be);

/* What the request carries that its authentication may cover. */
struct auth_request {
    const char *timestamp;       /* unix seconds, as sent (hmac) */
    const char *idempotency_key; /* NULL when the request has none (hmac signs "") */
    const char *body;            /* the exact body bytes; NULL/0 for a GET */
    size_t body_len;
    const char *access_token; /* oauth2-jwt: the token to send; ignored otherwise */
};

/* Appends the authentication headers of be's kind to *headers (the list may grow even when
 * this fails; the caller frees it either way). False with a message in err when OpenSSL cannot
 * sign, memory runs out, a header would be too long or hold control characters, or an
 * oauth2-jwt request has no access token. */
bool auth_apply(const struct backend_config *be, const struct auth_request *r,
                struct curl_slist **headers, char *err, size_t errlen) AUTH_MUSTCHECK;

#endif
