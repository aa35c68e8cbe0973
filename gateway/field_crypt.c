/* field_crypt: sealed values and blind indexes; see field_crypt.h. */
#include "gateway/field_crypt.h"

#include "gateway/config.h"
#include "gateway/data_keys.h"

#include <jansson.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX_LEN (sizeof FIELD_SEALED_PREFIX - 1) /* the same for every version */
#define BLIND_HEX  64

int field_sealed_version(const char *text)
{
    if (!text)
        return 0;
    if (strncmp(text, FIELD_SEALED_PREFIX, PREFIX_LEN) == 0)
        return 2;
    if (strncmp(text, FIELD_SEALED_PREFIX_V1, PREFIX_LEN) == 0)
        return 1;
    return 0;
}

bool field_sealed_key(const char *text, char *id, size_t idlen)
{
    if (field_sealed_version(text) == 0)
        return false;
    const char *start = text + PREFIX_LEN;
    const char *colon = strchr(start, ':');
    if (!colon || colon == start || (size_t)(colon - start) > DATA_KEY_ID_MAX)
        return false;
    if (id) {
        size_t n = (size_t)(colon - start);
        if (n >= idlen)
            return false;
        memcpy(id, start, n);
        id[n] = '\0';
    }
    return true;
}

bool field_seal(const struct field_crypt *fc, const char *plain, const char *context, char **out)
{
    if (!context)
        context = "";
    *out = NULL;
    const char *key_id = fc ? data_keys_current(fc->data) : NULL;
    if (!key_id) {
        *out = strdup(plain);
        return *out != NULL;
    }
    size_t len = strlen(plain);
    size_t raw_len = DATA_IV_BYTES + len + DATA_TAG_BYTES;
    unsigned char *raw = malloc(raw_len);
    size_t head = PREFIX_LEN + strlen(key_id) + 1;
    size_t b64_len = 4 * ((raw_len + 2) / 3);
    char *text = malloc(head + b64_len + 1);
    struct data_seal *seal = NULL;
    bool ok = raw && text && (seal = data_seal_begin(fc->data, raw, context, strlen(context))) &&
              data_seal_update(seal, plain, len, raw + DATA_IV_BYTES) &&
              data_seal_final(seal, raw + DATA_IV_BYTES + len);
    data_seal_free(seal);
    if (ok) {
        snprintf(text, head + 1, "%s%s:", FIELD_SEALED_PREFIX, key_id);
        ok = EVP_EncodeBlock((unsigned char *)text + head, raw, (int)raw_len) == (int)b64_len;
    }
    if (raw)
        OPENSSL_cleanse(raw, raw_len);
    free(raw);
    if (!ok) {
        free(text);
        return false;
    }
    *out = text;
    return true;
}

bool field_open(const struct field_crypt *fc, const char *text, const char *context, char **out,
                char *err, size_t errlen)
{
    /* v1 (before contexts) bound nothing; v2 binds the value to its context */
    int version = field_sealed_version(text);
    if (!context || version == 1)
        context = "";
    *out = NULL;
    char id[DATA_KEY_ID_MAX + 1];
    if (!field_sealed_key(text, id, sizeof id)) {
        *out = strdup(text);
        if (!*out)
            snprintf(err, errlen, "out of memory");
        return *out != NULL;
    }
    if (!fc || !fc->data || !data_keys_has(fc->data, id)) {
        snprintf(err, errlen, "personal data sealed under data key %s, which is not loaded", id);
        return false;
    }
    const char *b64 = text + PREFIX_LEN + strlen(id) + 1;
    size_t b64_len = strlen(b64);
    if (b64_len % 4 != 0 || b64_len / 4 * 3 < DATA_IV_BYTES + DATA_TAG_BYTES) {
        snprintf(err, errlen, "a value sealed under data key %s is damaged", id);
        return false;
    }
    unsigned char *raw = malloc(b64_len / 4 * 3 + 1);
    int n = raw ? EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)b64_len) : -1;
    /* EVP_DecodeBlock counts the padding's zero bytes too */
    if (n > 0 && b64_len >= 1 && b64[b64_len - 1] == '=')
        n -= b64[b64_len - 2] == '=' ? 2 : 1;
    bool ok = n >= DATA_IV_BYTES + DATA_TAG_BYTES;
    size_t len = ok ? (size_t)n - DATA_IV_BYTES - DATA_TAG_BYTES : 0;
    char *plain = ok ? malloc(len + 1) : NULL;
    struct data_open *open = NULL;
    ok = plain && (open = data_open_begin(fc->data, id, raw, context, strlen(context))) &&
         data_open_update(open, raw + DATA_IV_BYTES, len, plain) &&
         data_open_final(open, raw + DATA_IV_BYTES + len);
    data_open_free(open);
    free(raw);
    if (!ok) {
        if (plain)
            OPENSSL_cleanse(plain, len);
        free(plain);
        if (version == 2)
            snprintf(err, errlen,
                     "a value sealed under data key %s does not open here: it was altered, or "
                     "copied from another row or column, or the key is wrong",
                     id);
        else
            snprintf(err, errlen, "a value sealed under data key %s is damaged or the key is wrong",
                     id);
        return false;
    }
    plain[len] = '\0';
    *out = plain;
    return true;
}

static bool blind_under(const struct data_keys *ring, const char *name, const char *value,
                        char out[FIELD_BLIND_SIZE])
{
    if (!ring)
        return false;
    size_t nlen = strlen(name), vlen = strlen(value);
    char *msg = malloc(nlen + 1 + vlen);
    if (!msg)
        return false;
    memcpy(msg, name, nlen + 1); /* the NUL keeps ("ab","c") apart from ("a","bc") */
    memcpy(msg + nlen + 1, value, vlen);
    unsigned char mac[32];
    bool ok = data_keys_mac(ring, msg, nlen + 1 + vlen, mac);
    OPENSSL_cleanse(msg, nlen + 1 + vlen);
    free(msg);
    if (!ok)
        return false;
    static const char hex[] = "0123456789abcdef";
    memcpy(out, FIELD_BLIND_PREFIX, sizeof FIELD_BLIND_PREFIX - 1);
    char *p = out + sizeof FIELD_BLIND_PREFIX - 1;
    for (int i = 0; i < 32; i++) {
        *p++ = hex[mac[i] >> 4];
        *p++ = hex[mac[i] & 15];
    }
    *p = '\0';
    return true;
}

bool field_blind(const struct field_crypt *fc, const char *name, const char *value,
                 char out[FIELD_BLIND_SIZE])
{
    return fc && blind_under(fc->index, name, value, out);
}

bool field_blind_old(const struct field_crypt *fc, const char *name, const char *value,
                     char out[FIELD_BLIND_SIZE])
{
    return fc && blind_under(fc->index_old, name, value, out);
}

void field_crypt_free(struct field_crypt *fc)
{
    data_keys_free(fc->data);
    data_keys_free(fc->index);
    data_keys_free(fc->index_old);
    fc->data = fc->index = fc->index_old = NULL;
}

bool field_crypt_load(struct field_crypt *fc, const struct config *cfg, char *err, size_t errlen)
{
    fc->data = fc->index = fc->index_old = NULL;
    snprintf(err, errlen, "out of memory");
    bool ok = true;
    if (cfg->data_key_file) /* the current key, then the older ones kept to read */
        ok = (fc->data = data_keys_new()) && config_data_keys_load(cfg, fc->data, err, errlen);
    if (ok && cfg->index_key_file)
        ok = (fc->index = data_keys_new()) &&
             data_keys_load(fc->index, cfg->index_key_file, err, errlen);
    if (ok && cfg->old_index_key_file)
        ok = (fc->index_old = data_keys_new()) &&
             data_keys_load(fc->index_old, cfg->old_index_key_file, err, errlen);
    if (!ok)
        field_crypt_free(fc);
    return ok;
}
