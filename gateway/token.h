/* token: session bearer tokens and their stored form.
 *
 * A token is 32 random bytes (256 bits) as unpadded base64url (43 characters). The store keeps
 * only the SHA-256 of the token, in hex, so a copy of the database does not sign anyone in. */
#ifndef ONESTOP_TOKEN_H
#define ONESTOP_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#define TOKEN_BYTES        32
#define TOKEN_TEXT_LEN     43
#define TOKEN_HASH_HEX_LEN 64

/* Writes a fresh token (TOKEN_TEXT_LEN + 1 bytes) into out. False if the RNG fails. */
bool token_generate(char out[TOKEN_TEXT_LEN + 1]) __attribute__((warn_unused_result));
/* Lower-case hex SHA-256 of the token text into out (65 bytes). */
void token_hash(const char *token, char out[TOKEN_HASH_HEX_LEN + 1]);
/* True if text has the shape of a token (length and alphabet), before any store look-up. */
bool token_well_formed(const char *text);
/* Parses "Bearer <token>" from an Authorization header value; NULL when absent or malformed. */
const char *token_from_authorization(const char *header);

/* Shared helpers: base64url without padding; hex. */
size_t base64url_encode(const unsigned char *in, size_t len, char *out, size_t outlen);
void hex_encode(const unsigned char *in, size_t len, char *out);

#endif
