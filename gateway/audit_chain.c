/* audit_chain: canonical hashing of audit rows and the signed chain head; see audit_chain.h.
 *
 * DESIGN: the canonical encoding is a version tag, then every part as "<length>:<bytes>\n"
 * (a NULL column as "-\n"), so that moving bytes from one column to the next, or turning
 * NULL into "", always changes the hash. The row's id is part of it: a row moved to another
 * place in the chain no longer matches its hash, and neither does the row after it. */
#include "gateway/audit_chain.h"

#include "gateway/digest.h"
#include "gateway/token.h"

#include <ctype.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#define AUDIT_CHAIN_TAG  "onestop-audit-v1\n"
#define AUDIT_HEAD_TAG   "onestop-audit-head-v1\n"
#define AUDIT_HEAD_WORD  "audit_head id="
#define AUDIT_NUMBER_MAX 24 /* an int64 in decimal, its sign and a NUL */

static bool digest_part(EVP_MD_CTX *ctx, const char *text)
{
    char prefix[AUDIT_NUMBER_MAX + 1];
    if (!text)
        return EVP_DigestUpdate(ctx, "-\n", 2) == 1;
    size_t n = strlen(text);
    int p = snprintf(prefix, sizeof prefix, "%zu:", n);
    return EVP_DigestUpdate(ctx, prefix, (size_t)p) == 1 && EVP_DigestUpdate(ctx, text, n) == 1 &&
           EVP_DigestUpdate(ctx, "\n", 1) == 1;
}

static bool digest_number(EVP_MD_CTX *ctx, int64_t v)
{
    char text[AUDIT_NUMBER_MAX];
    snprintf(text, sizeof text, "%" PRId64, v);
    return digest_part(ctx, text);
}

/* The canonical encoding is built in one buffer of this size and hashed in one call (an
 * audit row is a few hundred bytes: its parts fed one by one cost ~30 digest calls); a row
 * that does not fit is hashed part by part instead, to the same hash. */
#define AUDIT_ENCODING_MAX 2048

struct encoding {
    char bytes[AUDIT_ENCODING_MAX];
    size_t len;
    bool full; /* something did not fit: the encoding is not whole */
};

static void encode_bytes(struct encoding *e, const char *bytes, size_t n)
{
    if (e->full || n > sizeof e->bytes - e->len) {
        e->full = true;
        return;
    }
    memcpy(e->bytes + e->len, bytes, n);
    e->len += n;
}

/* v in decimal into out (at least AUDIT_NUMBER_MAX bytes), NUL-terminated, as printf's
 * "%" PRId64 writes it; returns its length. By hand: an audit row's encoding has ten of these,
 * and snprintf costs more than the rest of the encoding. */
static size_t decimal(char *out, int64_t v)
{
    char digits[AUDIT_NUMBER_MAX];
    size_t n = 0, len = 0;
    /* the magnitude as unsigned: -INT64_MIN does not fit an int64 */
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        out[len++] = '-';
    while (n)
        out[len++] = digits[--n];
    out[len] = '\0';
    return len;
}

/* The same bytes as digest_part and digest_number. */
static void encode_part_len(struct encoding *e, const char *text, size_t n)
{
    char prefix[AUDIT_NUMBER_MAX + 1];
    size_t p = decimal(prefix, (int64_t)n);
    prefix[p++] = ':';
    encode_bytes(e, prefix, p);
    encode_bytes(e, text, n);
    encode_bytes(e, "\n", 1);
}

static void encode_part(struct encoding *e, const char *text)
{
    if (!text)
        encode_bytes(e, "-\n", 2);
    else
        encode_part_len(e, text, strlen(text));
}

static void encode_number(struct encoding *e, int64_t v)
{
    char text[AUDIT_NUMBER_MAX];
    encode_part_len(e, text, decimal(text, v));
}

bool audit_chain_hash(const char *prev, const struct audit_row *row, char out[AUDIT_HASH_HEX_SIZE])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    struct encoding e;
    e.len = 0;
    e.full = false;
    encode_bytes(&e, AUDIT_CHAIN_TAG, strlen(AUDIT_CHAIN_TAG));
    encode_part(&e, prev);
    encode_number(&e, row->id);
    encode_number(&e, row->at);
    encode_part(&e, row->actor);
    encode_part(&e, row->counter);
    encode_part(&e, row->action);
    encode_part(&e, row->subject);
    encode_part(&e, row->detail);
    encode_part(&e, row->remote);
    if (!e.full) {
        bool ok = digest_sha256(e.bytes, e.len, md); /* SHA-256 fetched once */
        if (ok)
            hex_encode(md, DIGEST_SHA256_LEN, out);
        return ok;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
              EVP_DigestUpdate(ctx, AUDIT_CHAIN_TAG, strlen(AUDIT_CHAIN_TAG)) == 1 &&
              digest_part(ctx, prev) && digest_number(ctx, row->id) &&
              digest_number(ctx, row->at) && digest_part(ctx, row->actor) &&
              digest_part(ctx, row->counter) && digest_part(ctx, row->action) &&
              digest_part(ctx, row->subject) && digest_part(ctx, row->detail) &&
              digest_part(ctx, row->remote) && EVP_DigestFinal_ex(ctx, md, &md_len) == 1;
    EVP_MD_CTX_free(ctx);
    if (ok)
        hex_encode(md, md_len, out);
    return ok;
}

static bool head_mac(const struct audit_head *head, const unsigned char *key, size_t key_len,
                     char out[AUDIT_HASH_HEX_SIZE])
{
    char msg[AUDIT_HEAD_LINE_MAX];
    int n = snprintf(msg, sizeof msg, AUDIT_HEAD_TAG "%" PRId64 "\n%s\n%" PRId64 "\n", head->id,
                     head->hash, head->at);
    unsigned char md[DIGEST_SHA256_LEN];
    if (n < 0 || (size_t)n >= sizeof msg || !key || key_len == 0 ||
        !digest_hmac_sha256(key, key_len, msg, (size_t)n, md))
        return false;
    hex_encode(md, sizeof md, out);
    return true;
}

bool audit_head_sign(struct audit_head *head, const unsigned char *key, size_t key_len)
{
    return head_mac(head, key, key_len, head->mac);
}

bool audit_head_check(const struct audit_head *head, const unsigned char *key, size_t key_len)
{
    char want[AUDIT_HASH_HEX_SIZE];
    return head_mac(head, key, key_len, want) && strlen(head->mac) == AUDIT_HASH_HEX_SIZE - 1 &&
           CRYPTO_memcmp(want, head->mac, AUDIT_HASH_HEX_SIZE - 1) == 0;
}

void audit_head_format(const struct audit_head *head, char *out, size_t len)
{
    snprintf(out, len, AUDIT_HEAD_WORD "%" PRId64 " hash=%s at=%" PRId64 " mac=%s", head->id,
             head->hash, head->at, head->mac);
}

static bool is_hex64(const char *s)
{
    for (int i = 0; i < AUDIT_HASH_HEX_SIZE - 1; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

bool audit_head_parse(const char *text, struct audit_head *out)
{
    const char *last = NULL;
    for (const char *p = text; (p = strstr(p, AUDIT_HEAD_WORD)) != NULL; p++)
        last = p;
    if (!last)
        return false;
    struct audit_head h = {0};
    char hash[AUDIT_HASH_HEX_SIZE], mac[AUDIT_HASH_HEX_SIZE];
    int end = 0;
    if (sscanf(last,
               AUDIT_HEAD_WORD "%" SCNd64 " hash=%64[0-9a-f] at=%" SCNd64 " mac=%64[0-9a-f]%n",
               &h.id, hash, &h.at, mac, &end) != 4 ||
        end == 0 || isxdigit((unsigned char)last[end]) || strlen(hash) != AUDIT_HASH_HEX_SIZE - 1 ||
        strlen(mac) != AUDIT_HASH_HEX_SIZE - 1 || !is_hex64(hash) || !is_hex64(mac) || h.id < 0)
        return false;
    memcpy(h.hash, hash, sizeof h.hash);
    memcpy(h.mac, mac, sizeof h.mac);
    *out = h;
    return true;
}
