/* field_crypt: personal data at rest, one value at a time, and its keyed blind index.
 *
 * A sealed value is text: "enc:v2:<key id>:<base64 of IV | ciphertext | tag>", AES-256-GCM
 * under the data key ring's current key (data_keys.h), a fresh IV each time, the key id in
 * clear so rotation can find what still uses an older key. The value is bound to where it
 * lives: its context (a transaction's reference for its fields, "<table>.<column>" for the
 * other columns) is the GCM associated data, so a value copied into another row or column
 * does not open. Values sealed before contexts ("enc:v1:", no associated data) still open
 * anywhere; `onestop keys rotate` reseals them as v2. The store seals whole columns that
 * carry personal fields (a transaction's fields, an outbox payload, a stored reply, a
 * receipt copy's contact): one value each, so a reader opens one string and parses the JSON
 * it always did. Text that does not start "enc:v" is plaintext written before encryption
 * (or with no data key configured) and opens to itself.
 *
 * A blind index is "bi:v1:<hex HMAC-SHA256(index key, name NUL value)>": equal values under
 * the same name give equal text, so the limit rules' equality look-ups work, and nothing in
 * the database gives the value back. The index key is its own file (keys.index_key_file), so
 * the data key never meets it. */
#ifndef ONESTOP_FIELD_CRYPT_H
#define ONESTOP_FIELD_CRYPT_H

#include <stdbool.h>
#include <stddef.h>

#define FIELD_SEALED_PREFIX    "enc:v2:"  /* what field_seal writes */
#define FIELD_SEALED_PREFIX_V1 "enc:v1:"  /* before contexts: opens, never written */
#define FIELD_SEALED_LIKE      "enc:v_:%" /* an SQL LIKE pattern for any sealed value */
#define FIELD_BLIND_PREFIX     "bi:v1:"
/* the text of a blind index: prefix, 64 hex digits, NUL */
#define FIELD_BLIND_SIZE (sizeof FIELD_BLIND_PREFIX - 1 + 64 + 1)

struct data_keys;
struct config;

struct field_crypt {
    struct data_keys *data;      /* seals and opens; NULL: values stay plaintext */
    struct data_keys *index;     /* its current key makes blind indexes; NULL: none */
    struct data_keys *index_old; /* the index key being replaced (rotate-index); NULL: none */
};

/* Loads keys.data_key_file (the current key), keys.old_data_key_files (kept for reading
 * what older keys sealed), keys.index_key_file and keys.old_index_key_file into fc; a key left out
 * of the config leaves its ring NULL. false with a message naming the file. Free with
 * field_crypt_free. */
bool field_crypt_load(struct field_crypt *fc, const struct config *cfg, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void field_crypt_free(struct field_crypt *fc);

/* Seals plain (NUL-ended) under the current data key, bound to context (NULL: ""), into a
 * new string in *out (free()). With no data key, *out is a copy of plain. false on an
 * OpenSSL or memory failure. */
bool field_seal(const struct field_crypt *fc, const char *plain, const char *context, char **out)
    __attribute__((warn_unused_result));
/* Opens text into a new string in *out (free()): sealed text is decrypted and checked
 * against context (the one it was sealed with; v1 values have none), anything else is
 * copied. false with a message in err when the key is not loaded, the value was altered or
 * it belongs to another context (the message names the key id, never the value). */
bool field_open(const struct field_crypt *fc, const char *text, const char *context, char **out,
                char *err, size_t errlen) __attribute__((warn_unused_result));
/* 2 for a value sealed with its context, 1 for one sealed before contexts, 0 for plain. */
int field_sealed_version(const char *text);
/* True when text is a sealed value; its key id into id (size idlen) when id is not NULL. */
bool field_sealed_key(const char *text, char *id, size_t idlen);
/* The blind index of value under name into out; false with no index key or on failure. */
bool field_blind(const struct field_crypt *fc, const char *name, const char *value,
                 char out[FIELD_BLIND_SIZE]) __attribute__((warn_unused_result));
/* The same under the index key being replaced (fc->index_old); false when there is none. */
bool field_blind_old(const struct field_crypt *fc, const char *name, const char *value,
                     char out[FIELD_BLIND_SIZE]) __attribute__((warn_unused_result));

#endif
