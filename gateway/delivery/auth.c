/* auth: the authentication headers of one request (see auth.h).
 *
 * DESIGN: one switch on the back-end's kind; every header goes through add_line, which
 * refuses values with control characters (a secret file with a stray byte must not let a
 * header be split) and lines longer than AUTH_HEADER_MAX. Secrets are copied onto the stack
 * only for as long as the header line is built, then wiped. */
#include "gateway/delivery/auth.h"

#include "gateway/config.h"
#include "gateway/delivery/backend_request.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

enum auth_kind auth_kind_of(const struct backend_config *be)
{
    static const struct {
        const char *name;
        enum auth_kind kind;
    } kinds[] = {{BACKEND_AUTH_HMAC, AUTH_HMAC},
                 {BACKEND_AUTH_API_KEY, AUTH_API_KEY},
                 {BACKEND_AUTH_OAUTH2_JWT, AUTH_OAUTH2_JWT},
                 {BACKEND_AUTH_BEARER, AUTH_BEARER},
                 {BACKEND_AUTH_NONE, AUTH_NONE}};
    if (be && be->auth)
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
            if (strcmp(be->auth, kinds[i].name) == 0)
                return kinds[i].kind;
    return AUTH_HMAC;
}

static bool value_ok(const char *v, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
            return false;
    return true;
}

/* Appends "name: <prefix><value>" (value not NUL-terminated). */
static bool add_line(struct curl_slist **headers, const char *name, const char *prefix,
                     const char *value, size_t value_len, char *err, size_t errlen)
{
    char line[AUTH_HEADER_MAX];
    bool ok = false;
    if (!value_ok(value, value_len)) {
        snprintf(err, errlen, "the value for %s holds control characters", name);
        goto out;
    }
    int n = snprintf(line, sizeof line, "%s: %s%.*s", name, prefix, (int)value_len, value);
    if (n < 0 || (size_t)n >= sizeof line || value_len > sizeof line) {
        snprintf(err, errlen, "the %s header would be longer than %d bytes", name, AUTH_HEADER_MAX);
        goto out;
    }
    struct curl_slist *grown = curl_slist_append(*headers, line);
    if (!grown) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    *headers = grown;
    ok = true;
out:
    OPENSSL_cleanse(line, sizeof line);
    return ok;
}

static bool apply_hmac(const struct backend_config *be, const struct auth_request *r,
                       struct curl_slist **headers, char *err, size_t errlen)
{
    char sig[BACKEND_SIGNATURE_HEADER_SIZE];
    const char *body = r->body ? r->body : "";
    size_t body_len = r->body ? r->body_len : 0;
    if (!be->signing_key.bytes) {
        snprintf(err, errlen, "auth hmac needs signing_key_file");
        return false;
    }
    if (!backend_signature_compute(be->signing_key.bytes, be->signing_key.len, r->timestamp,
                                   r->idempotency_key, body, body_len, sig)) {
        snprintf(err, errlen, "could not sign the request");
        return false;
    }
    return add_line(headers, "X-Onestop-Timestamp", "", r->timestamp, strlen(r->timestamp), err,
                    errlen) &&
           add_line(headers, "X-Onestop-Signature", "", sig, strlen(sig), err, errlen);
}

bool auth_apply(const struct backend_config *be, const struct auth_request *r,
                struct curl_slist **headers, char *err, size_t errlen)
{
    switch (auth_kind_of(be)) {
    case AUTH_HMAC:
        return apply_hmac(be, r, headers, err, errlen);
    case AUTH_API_KEY:
        if (!be->api_key_header) /* open311: the connector sends the api_key form field */
            return true;
        if (!be->api_key.bytes) {
            snprintf(err, errlen, "auth api-key needs api_key_file");
            return false;
        }
        return add_line(headers, be->api_key_header, "", (const char *)be->api_key.bytes,
                        be->api_key.len, err, errlen);
    case AUTH_BEARER:
        if (!be->bearer_token.bytes) {
            snprintf(err, errlen, "auth bearer needs bearer_token_file");
            return false;
        }
        return add_line(headers, "Authorization", AUTH_BEARER_SCHEME,
                        (const char *)be->bearer_token.bytes, be->bearer_token.len, err, errlen);
    case AUTH_OAUTH2_JWT:
        if (!r->access_token || !*r->access_token) {
            snprintf(err, errlen, "no access token for an oauth2-jwt request");
            return false;
        }
        return add_line(headers, "Authorization", AUTH_BEARER_SCHEME, r->access_token,
                        strlen(r->access_token), err, errlen);
    case AUTH_NONE:
        return true;
    }
    snprintf(err, errlen, "unknown auth kind");
    return false;
}
