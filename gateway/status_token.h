/* status_token: the token in a resident's status URL, /r/{reference}?t={token}.
 *
 * token = first 12 bytes of HMAC-SHA256(status key, reference), base64url (16 characters).
 * It proves the URL came from a receipt without storing anything per transaction, and says
 * nothing about the resident. */
#ifndef ONESTOP_STATUS_TOKEN_H
#define ONESTOP_STATUS_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#define STATUS_TOKEN_LEN 16

struct secret;

void status_token_make(const struct secret *key, const char *reference,
                       char out[STATUS_TOKEN_LEN + 1]);
/* Constant-time check of a presented token. */
bool status_token_check(const struct secret *key, const char *reference, const char *token);
/* "{base}/r/{reference}?t={token}" into out; false when it does not fit. */
bool status_token_url(const struct secret *key, const char *base_url, const char *reference,
                      char *out, size_t outlen);

#endif
