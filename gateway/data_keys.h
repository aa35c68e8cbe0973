/* data_keys: the data keys that encrypt personal data at rest (AES-256-GCM, OpenSSL EVP).
 *
 * A key is 32 random bytes kept hex-encoded in a file of its own (scripts/keys makes them);
 * its id is the file's name without ".key" and is stored beside everything it encrypts, so a
 * new key can become current while data under an older one still opens (rotation: load both,
 * make the new one current). Keys live only in this module's memory and are wiped on free.
 *
 * Encryption is streaming: data_seal_* takes the plaintext in pieces of any size and gives the
 * ciphertext of each piece at once (GCM is a stream mode: ciphertext is as long as plaintext),
 * then a 16-byte tag; data_open_* reverses it and checks the tag at the end. Every seal has
 * a fresh random 96-bit IV and may bind associated data (a document's id, a row's key) so a
 * sealed value cannot be moved to another record unnoticed. Documents use it through
 * documents_file.c; issue 14 seals personal fields with the same calls.
 */
#ifndef ONESTOP_DATA_KEYS_H
#define ONESTOP_DATA_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#define DATA_KEY_BYTES  32
#define DATA_KEY_ID_MAX 64 /* bytes of an id, without its NUL */
#define DATA_IV_BYTES   12
#define DATA_TAG_BYTES  16
#define DATA_KEYS_MAX   16 /* keys loaded at once (current and older ones) */

struct data_keys;
struct data_seal;
struct data_open;

/* An empty key ring; NULL when out of memory. Free with data_keys_free. */
struct data_keys *data_keys_new(void) __attribute__((warn_unused_result));
void data_keys_free(struct data_keys *keys);

/* Loads the key file at path (64 hex digits, then optional whitespace); its id is the file's
 * name without a ".key" ending. The first key loaded becomes current. false with a message
 * naming the file and the problem in err. */
bool data_keys_load(struct data_keys *keys, const char *path, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Makes the loaded key `id` the one new data is sealed with; false when it is not loaded. */
bool data_keys_set_current(struct data_keys *keys, const char *id)
    __attribute__((warn_unused_result));
/* The current key's id, or NULL when none is loaded. Owned by keys. */
const char *data_keys_current(const struct data_keys *keys);
/* True when a key with this id is loaded. */
bool data_keys_has(const struct data_keys *keys, const char *id);
/* How many keys are loaded, and the id of the i-th (0-based, below the count; owned by keys). */
size_t data_keys_count(const struct data_keys *keys);
const char *data_keys_id(const struct data_keys *keys, size_t i);

/* HMAC-SHA256 of msg under the current key into out; false when no key is current. A key
 * ring kept for this (the blind index key) never seals. */
bool data_keys_mac(const struct data_keys *keys, const void *msg, size_t len, unsigned char out[32])
    __attribute__((warn_unused_result));

/* Starts sealing under the current key with a fresh IV (written to iv) and associated data
 * aad (may be NULL). NULL when no key is current or OpenSSL fails. */
struct data_seal *data_seal_begin(const struct data_keys *keys, unsigned char iv[DATA_IV_BYTES],
                                  const void *aad, size_t aad_len)
    __attribute__((warn_unused_result));
/* Encrypts len bytes of in into out (len bytes; may be the same buffer). */
bool data_seal_update(struct data_seal *seal, const void *in, size_t len, void *out)
    __attribute__((warn_unused_result));
/* Ends the seal and gives its tag. */
bool data_seal_final(struct data_seal *seal, unsigned char tag[DATA_TAG_BYTES])
    __attribute__((warn_unused_result));
/* Frees a seal, ended or not (NULL is fine). */
void data_seal_free(struct data_seal *seal);

/* Starts opening data sealed under key `key_id` with this IV and associated data. NULL when
 * the key is not loaded or OpenSSL fails. */
struct data_open *data_open_begin(const struct data_keys *keys, const char *key_id,
                                  const unsigned char iv[DATA_IV_BYTES], const void *aad,
                                  size_t aad_len) __attribute__((warn_unused_result));
/* Decrypts len bytes of in into out. The plaintext is not proven genuine until
 * data_open_final succeeds: a caller that passes it on must be able to take it back. */
bool data_open_update(struct data_open *open, const void *in, size_t len, void *out)
    __attribute__((warn_unused_result));
/* Checks the tag: false when the data, the IV, the associated data or the key is not the one
 * that was sealed. */
bool data_open_final(struct data_open *open, const unsigned char tag[DATA_TAG_BYTES])
    __attribute__((warn_unused_result));
void data_open_free(struct data_open *open);

#endif
