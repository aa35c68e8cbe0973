/* data_keys: AES-256-GCM data keys and streaming seal/open; see data_keys.h. */
#include "gateway/data_keys.h"

#include "gateway/digest.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <ctype.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_FILE_MAX 256 /* bytes read from a key file: hex digits and some whitespace */

/* Random IVs drawn from OpenSSL this many at a time per thread: each RAND_bytes call costs
 * its DRBG's locking and bookkeeping whatever its length, and a sale seals several values. */
#define IV_POOL_IVS 64

struct data_key {
    char id[DATA_KEY_ID_MAX + 1];
    unsigned char bytes[DATA_KEY_BYTES];
};

struct data_keys {
    struct data_key keys[DATA_KEYS_MAX];
    int len;
    int current; /* index, or -1 */
};

/* A GCM context in use: the thread's cached one (given back on free) or one of its own. */
struct gcm {
    EVP_CIPHER_CTX *ctx;
    struct gcm_cache *cache; /* NULL: ctx is freed with it */
    int dir;                 /* 1 encrypting, 0 decrypting */
};

struct data_seal {
    struct gcm gcm;
};

struct data_open {
    struct gcm gcm;
};

/* Each thread keeps one context per direction with its key schedule: the next value under
 * the same key only sets a new IV (no context allocation, no cipher fetch, no key
 * expansion) - the store opens and seals a value per row it reads or writes. */
struct gcm_cache {
    EVP_CIPHER_CTX *ctx[2];
    unsigned char key[2][DATA_KEY_BYTES]; /* the key ctx[i] is set up with */
    bool keyed[2], busy[2];
};

static pthread_once_t gcm_once = PTHREAD_ONCE_INIT;
static pthread_key_t gcm_cache_key;
static bool gcm_cache_ok;
static EVP_CIPHER *gcm_cipher; /* fetched once: an implicit fetch per value is slow */

static void gcm_cache_free(void *arg)
{
    struct gcm_cache *c = arg;
    for (int i = 0; i < 2; i++)
        EVP_CIPHER_CTX_free(c->ctx[i]);
    OPENSSL_cleanse(c, sizeof *c);
    free(c);
}

static void gcm_init_once(void)
{
    gcm_cache_ok = pthread_key_create(&gcm_cache_key, gcm_cache_free) == 0;
    gcm_cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
}

static struct gcm_cache *gcm_cache_get(void)
{
    pthread_once(&gcm_once, gcm_init_once);
    if (!gcm_cache_ok)
        return NULL;
    struct gcm_cache *c = pthread_getspecific(gcm_cache_key);
    if (!c && (c = calloc(1, sizeof *c)) != NULL && pthread_setspecific(gcm_cache_key, c) != 0) {
        free(c);
        c = NULL;
    }
    return c;
}

static void gcm_release(struct gcm *g)
{
    if (g->cache)
        g->cache->busy[g->dir] = false;
    else
        EVP_CIPHER_CTX_free(g->ctx);
    g->ctx = NULL;
}

struct data_keys *data_keys_new(void)
{
    struct data_keys *keys = calloc(1, sizeof *keys);
    if (keys)
        keys->current = -1;
    return keys;
}

void data_keys_free(struct data_keys *keys)
{
    if (!keys)
        return;
    OPENSSL_cleanse(keys, sizeof *keys);
    free(keys);
}

static const struct data_key *key_find(const struct data_keys *keys, const char *id)
{
    for (int i = 0; id && i < keys->len; i++)
        if (strcmp(keys->keys[i].id, id) == 0)
            return &keys->keys[i];
    return NULL;
}

bool data_keys_has(const struct data_keys *keys, const char *id)
{
    return key_find(keys, id) != NULL;
}

size_t data_keys_count(const struct data_keys *keys)
{
    return keys ? (size_t)keys->len : 0;
}

const char *data_keys_id(const struct data_keys *keys, size_t i)
{
    return keys && i < (size_t)keys->len ? keys->keys[i].id : NULL;
}

/* The id of a key file: its name without folders and without ".key". */
static bool key_id_from_path(const char *path, char *id, size_t idlen)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    if (len > 4 && strcmp(base + len - 4, ".key") == 0)
        len -= 4;
    if (len == 0 || len >= idlen)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)base[i]) && base[i] != '-' && base[i] != '_' && base[i] != '.')
            return false;
    memcpy(id, base, len);
    id[len] = '\0';
    return true;
}

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

bool data_keys_load(struct data_keys *keys, const char *path, char *err, size_t errlen)
{
    struct data_key key;
    if (!key_id_from_path(path, key.id, sizeof key.id)) {
        snprintf(err, errlen, "%s: a data key file is named <id>.key (letters, digits, - _ .)",
                 path);
        return false;
    }
    if (key_find(keys, key.id)) {
        snprintf(err, errlen, "%s: a data key with the id %s is loaded already", path, key.id);
        return false;
    }
    if (keys->len >= DATA_KEYS_MAX) {
        snprintf(err, errlen, "%s: at most %d data keys may be loaded", path, DATA_KEYS_MAX);
        return false;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot read the data key file", path);
        return false;
    }
    char text[KEY_FILE_MAX + 1];
    size_t n = fread(text, 1, KEY_FILE_MAX, f);
    fclose(f);
    text[n] = '\0';
    size_t digits = 0;
    while (digits < n && hex_value((unsigned char)text[digits]) >= 0)
        digits++;
    bool rest_blank = true;
    for (size_t i = digits; i < n; i++)
        rest_blank &= isspace((unsigned char)text[i]) != 0;
    bool ok = digits == 2 * DATA_KEY_BYTES && rest_blank;
    if (ok) {
        for (size_t i = 0; i < DATA_KEY_BYTES; i++)
            key.bytes[i] = (unsigned char)(hex_value((unsigned char)text[2 * i]) * 16 +
                                           hex_value((unsigned char)text[2 * i + 1]));
        keys->keys[keys->len++] = key;
        if (keys->current < 0)
            keys->current = keys->len - 1;
    } else {
        snprintf(err, errlen, "%s: a data key file holds %d hex digits (scripts/keys makes one)",
                 path, 2 * DATA_KEY_BYTES);
    }
    OPENSSL_cleanse(text, sizeof text);
    OPENSSL_cleanse(&key, sizeof key);
    return ok;
}

bool data_keys_set_current(struct data_keys *keys, const char *id)
{
    const struct data_key *k = key_find(keys, id);
    if (!k)
        return false;
    keys->current = (int)(k - keys->keys);
    return true;
}

const char *data_keys_current(const struct data_keys *keys)
{
    return keys && keys->current >= 0 ? keys->keys[keys->current].id : NULL;
}

bool data_keys_mac(const struct data_keys *keys, const void *msg, size_t len, unsigned char out[32])
{
    if (!keys || keys->current < 0)
        return false;
    const struct data_key *k = &keys->keys[keys->current];
    return digest_hmac_sha256(k->bytes, DATA_KEY_BYTES, msg, len, out); /* SHA-256 fetched once */
}

/* g set up with key, IV and associated data, for encrypting or decrypting: the thread's
 * cached context when it is free (only the IV is set when it already holds this key), else
 * a context of its own. false when OpenSSL fails (g holds nothing). */
static bool gcm_begin(struct gcm *g, const struct data_key *key, const unsigned char *iv,
                      const void *aad, size_t aad_len, bool encrypt)
{
    struct gcm_cache *c = gcm_cache_get();
    int d = encrypt ? 1 : 0;
    *g = (struct gcm){.dir = d};
    bool keyed = false;
    if (c && !c->busy[d] && (c->ctx[d] || (c->ctx[d] = EVP_CIPHER_CTX_new()) != NULL)) {
        g->cache = c;
        g->ctx = c->ctx[d];
        c->busy[d] = true;
        keyed = c->keyed[d] && CRYPTO_memcmp(c->key[d], key->bytes, DATA_KEY_BYTES) == 0;
    } else {
        g->ctx = EVP_CIPHER_CTX_new();
    }
    const EVP_CIPHER *cipher = gcm_cipher ? gcm_cipher : EVP_aes_256_gcm();
    int outl = 0;
    bool ok = g->ctx && aad_len <= INT_MAX;
    if (ok && keyed)
        ok = EVP_CipherInit_ex(g->ctx, NULL, NULL, NULL, iv, encrypt) == 1;
    else if (ok) {
        if (g->cache)
            g->cache->keyed[d] = false;
        ok = EVP_CipherInit_ex(g->ctx, cipher, NULL, NULL, NULL, encrypt) == 1 &&
             EVP_CIPHER_CTX_ctrl(g->ctx, EVP_CTRL_GCM_SET_IVLEN, DATA_IV_BYTES, NULL) == 1 &&
             EVP_CipherInit_ex(g->ctx, NULL, NULL, key->bytes, iv, encrypt) == 1;
        if (ok && g->cache) {
            memcpy(g->cache->key[d], key->bytes, DATA_KEY_BYTES);
            g->cache->keyed[d] = true;
        }
    }
    ok = ok && (!aad || !aad_len || EVP_CipherUpdate(g->ctx, NULL, &outl, aad, (int)aad_len) == 1);
    if (!ok) {
        if (g->cache)
            g->cache->keyed[d] = false; /* set it up afresh next time */
        gcm_release(g);
    }
    return ok;
}

/* One streaming step in either direction; GCM gives out exactly what goes in. */
static bool gcm_update(EVP_CIPHER_CTX *ctx, const void *in, size_t len, void *out)
{
    const unsigned char *src = in;
    unsigned char *dst = out;
    while (len > 0) {
        int step = len > INT_MAX / 2 ? INT_MAX / 2 : (int)len;
        int outl = 0;
        if (EVP_CipherUpdate(ctx, dst, &outl, src, step) != 1 || outl != step)
            return false;
        src += step;
        dst += step;
        len -= (size_t)step;
    }
    return true;
}

/* A fresh random IV into iv: the next unused one of this thread's pool, refilled from
 * RAND_bytes when empty. Each pool byte is handed out once and wiped as it is. False when
 * RAND_bytes fails (nothing written). */
static bool iv_random(unsigned char iv[DATA_IV_BYTES])
{
    static _Thread_local unsigned char pool[IV_POOL_IVS * DATA_IV_BYTES];
    static _Thread_local size_t used = sizeof pool; /* empty until first filled */
    if (used == sizeof pool) {
        if (RAND_bytes(pool, (int)sizeof pool) != 1)
            return false;
        used = 0;
    }
    memcpy(iv, pool + used, DATA_IV_BYTES);
    OPENSSL_cleanse(pool + used, DATA_IV_BYTES);
    used += DATA_IV_BYTES;
    return true;
}

struct data_seal *data_seal_begin(const struct data_keys *keys, unsigned char iv[DATA_IV_BYTES],
                                  const void *aad, size_t aad_len)
{
    if (!keys || keys->current < 0 || !iv_random(iv))
        return NULL;
    struct data_seal *seal = calloc(1, sizeof *seal);
    if (!seal)
        return NULL;
    if (!gcm_begin(&seal->gcm, &keys->keys[keys->current], iv, aad, aad_len, true)) {
        free(seal);
        return NULL;
    }
    return seal;
}

bool data_seal_update(struct data_seal *seal, const void *in, size_t len, void *out)
{
    return gcm_update(seal->gcm.ctx, in, len, out);
}

bool data_seal_final(struct data_seal *seal, unsigned char tag[DATA_TAG_BYTES])
{
    unsigned char rest[EVP_MAX_BLOCK_LENGTH];
    int outl = 0;
    return EVP_EncryptFinal_ex(seal->gcm.ctx, rest, &outl) == 1 && outl == 0 &&
           EVP_CIPHER_CTX_ctrl(seal->gcm.ctx, EVP_CTRL_GCM_GET_TAG, DATA_TAG_BYTES, tag) == 1;
}

void data_seal_free(struct data_seal *seal)
{
    if (!seal)
        return;
    gcm_release(&seal->gcm);
    free(seal);
}

struct data_open *data_open_begin(const struct data_keys *keys, const char *key_id,
                                  const unsigned char iv[DATA_IV_BYTES], const void *aad,
                                  size_t aad_len)
{
    const struct data_key *key = keys ? key_find(keys, key_id) : NULL;
    if (!key)
        return NULL;
    struct data_open *open = calloc(1, sizeof *open);
    if (!open)
        return NULL;
    if (!gcm_begin(&open->gcm, key, iv, aad, aad_len, false)) {
        free(open);
        return NULL;
    }
    return open;
}

bool data_open_update(struct data_open *open, const void *in, size_t len, void *out)
{
    return gcm_update(open->gcm.ctx, in, len, out);
}

bool data_open_final(struct data_open *open, const unsigned char tag[DATA_TAG_BYTES])
{
    unsigned char copy[DATA_TAG_BYTES];
    memcpy(copy, tag, sizeof copy);
    unsigned char rest[EVP_MAX_BLOCK_LENGTH];
    int outl = 0;
    return EVP_CIPHER_CTX_ctrl(open->gcm.ctx, EVP_CTRL_GCM_SET_TAG, DATA_TAG_BYTES, copy) == 1 &&
           EVP_DecryptFinal_ex(open->gcm.ctx, rest, &outl) == 1 && outl == 0;
}

void data_open_free(struct data_open *open)
{
    if (!open)
        return;
    gcm_release(&open->gcm);
    free(open);
}
