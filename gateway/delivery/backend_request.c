/* backend_request: signed libcurl requests to back-ends, and checking signed callbacks.
 *
 * DESIGN: a backend_request owns everything its easy handle points at (URL, header list, body
 * copy, answer buffer, error buffer), so the handle can live on a multi handle on another
 * thread without references back into the caller. The answer is collected into a strbuf
 * capped at BACKEND_RESPONSE_MAX; going past the cap aborts the transfer. Retry-After is
 * read by the header callback (the value of the last response, so a 100 Continue does not
 * count).
 *
 * The replay cache for incoming signatures is a fixed table of REPLAY_BUCKETS buckets of
 * REPLAY_WAYS entries, indexed by the first bytes of the MAC (uniformly distributed, and no
 * sender without the key can choose them). An entry is live until its timestamp leaves the
 * window; a live entry is never evicted, so a full bucket refuses new signatures instead of
 * letting an old one be replayed. One mutex guards it: callbacks are rare. */
#include "gateway/delivery/backend_request.h"

#include "gateway/delivery/auth.h"
#include "gateway/delivery/backoff.h"
#include "gateway/config.h"
#include "gateway/strbuf.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAC_LEN              32
#define TIMESTAMP_MAX_DIGITS 18
#define URL_MAX              2048
#define HEADER_LINE_MAX      512
#define RETRY_AFTER_HEADER   "retry-after:"
#define REPLAY_BUCKETS       2048
#define REPLAY_WAYS          8
#define USER_AGENT           "onestop/" ONESTOP_VERSION

struct backend_request {
    CURL *easy;
    struct curl_slist *headers;
    char *url;
    char *body;
    size_t body_len;
    curl_mime *mime; /* a multipart body, or NULL */
    long timeout_ms;
    struct strbuf answer;
    bool too_large;
    char retry_after[HEADER_LINE_MAX];
    struct timespec started;
    char curl_error[CURL_ERROR_SIZE];
    void *ctx;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

/* this thread's spare easy handles (backend_request_keep_handles), reset, ready for reuse */
static _Thread_local CURL *spare[BACKEND_SPARE_HANDLES_MAX];
static _Thread_local size_t spare_len, spare_max;

static void global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* HMAC, fetched from the provider once for the process (a fetch per request took a lock and a
 * look-up each time); NULL if it could not be fetched. Never freed: it lives as long as the
 * process. */
static EVP_MAC *hmac_method;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void hmac_fetch(void)
{
    hmac_method = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

void backend_request_global_init(void)
{
    pthread_once(&global_once, global_init);
}

/* ---- signing ---- */

static bool hmac_sha256(const unsigned char *key, size_t key_len, const char *timestamp,
                        const char *idempotency_key, const char *body, size_t body_len,
                        unsigned char out[MAC_LEN])
{
    bool ok = false;
    char digest_name[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
        OSSL_PARAM_construct_end(),
    };
    const char *ikey = idempotency_key ? idempotency_key : "";
    size_t out_len = 0;
    pthread_once(&hmac_once, hmac_fetch);
    EVP_MAC_CTX *ctx = hmac_method ? EVP_MAC_CTX_new(hmac_method) : NULL;
    if (!ctx || !EVP_MAC_init(ctx, key, key_len, params))
        goto out;
    if (!EVP_MAC_update(ctx, (const unsigned char *)timestamp, strlen(timestamp)) ||
        !EVP_MAC_update(ctx, (const unsigned char *)"\n", 1) ||
        !EVP_MAC_update(ctx, (const unsigned char *)ikey, strlen(ikey)) ||
        !EVP_MAC_update(ctx, (const unsigned char *)"\n", 1))
        goto out;
    if (body_len > 0 && !EVP_MAC_update(ctx, (const unsigned char *)body, body_len))
        goto out;
    if (!EVP_MAC_final(ctx, out, &out_len, MAC_LEN) || out_len != MAC_LEN)
        goto out;
    ok = true;
out:
    EVP_MAC_CTX_free(ctx);
    return ok;
}

bool backend_signature_compute(const unsigned char *key, size_t key_len, const char *timestamp,
                               const char *idempotency_key, const char *body, size_t body_len,
                               char out[BACKEND_SIGNATURE_HEADER_SIZE])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char mac[MAC_LEN];
    if (!hmac_sha256(key, key_len, timestamp, idempotency_key, body, body_len, mac))
        return false;
    memcpy(out, "v1=", 3);
    for (size_t i = 0; i < MAC_LEN; i++) {
        out[3 + 2 * i] = hex[mac[i] >> 4];
        out[3 + 2 * i + 1] = hex[mac[i] & 0xf];
    }
    out[3 + 2 * MAC_LEN] = '\0';
    return true;
}

/* ---- verifying, with the replay cache ---- */

struct replay_entry {
    unsigned char mac[MAC_LEN];
    long long expires; /* unix seconds after which the signature is outside the window */
    bool used;
};

static struct replay_entry replay_cache[REPLAY_BUCKETS][REPLAY_WAYS];
static pthread_mutex_t replay_lock = PTHREAD_MUTEX_INITIALIZER;

enum replay_result { REPLAY_NEW, REPLAY_SEEN, REPLAY_FULL };

/* Remembers mac until `expires` unless it is already remembered. */
static enum replay_result replay_check_and_add(const unsigned char mac[MAC_LEN], long long expires,
                                               long long now)
{
    size_t bucket = (((size_t)mac[0] << 8) | mac[1]) % REPLAY_BUCKETS;
    enum replay_result result = REPLAY_FULL;
    struct replay_entry *free_slot = NULL;
    pthread_mutex_lock(&replay_lock);
    for (size_t i = 0; i < REPLAY_WAYS; i++) {
        struct replay_entry *e = &replay_cache[bucket][i];
        bool live = e->used && e->expires >= now;
        if (live && CRYPTO_memcmp(e->mac, mac, MAC_LEN) == 0) {
            result = REPLAY_SEEN;
            goto out;
        }
        if (!live && !free_slot)
            free_slot = e;
    }
    if (free_slot) {
        memcpy(free_slot->mac, mac, MAC_LEN);
        free_slot->expires = expires;
        free_slot->used = true;
        result = REPLAY_NEW;
    }
out:
    pthread_mutex_unlock(&replay_lock);
    return result;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool parse_signature(const char *s, unsigned char mac[MAC_LEN])
{
    if (strncmp(s, "v1=", 3) != 0 || strlen(s + 3) != BACKEND_SIGNATURE_HEX_LEN)
        return false;
    s += 3;
    for (size_t i = 0; i < MAC_LEN; i++) {
        int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        mac[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

static bool parse_timestamp(const char *s, long long *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > TIMESTAMP_MAX_DIGITS)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

/* The signature and timestamp checks without the replay cache; got receives the MAC sent. */
static bool signature_check(const struct backend_config *be, const char *idempotency_key,
                            const char *timestamp, const char *signature, const char *body,
                            size_t len, time_t now, unsigned char got[MAC_LEN], long long *ts_out,
                            char *why, size_t whylen)
{
    unsigned char want[MAC_LEN];
    long long ts = 0;
    if (!be || !be->signing_key.bytes || be->signing_key.len == 0) {
        snprintf(why, whylen, "no signing key is configured for this back-end");
        return false;
    }
    if (!signature || !*signature) {
        snprintf(why, whylen, "missing X-Onestop-Signature");
        return false;
    }
    if (!timestamp || !*timestamp) {
        snprintf(why, whylen, "missing X-Onestop-Timestamp");
        return false;
    }
    if (!parse_signature(signature, got)) {
        snprintf(why, whylen, "X-Onestop-Signature is not v1=<64 hex digits>");
        return false;
    }
    if (!parse_timestamp(timestamp, &ts)) {
        snprintf(why, whylen, "X-Onestop-Timestamp is not whole unix seconds");
        return false;
    }
    long long skew = ts - (long long)now;
    if (skew > BACKEND_SIGNATURE_WINDOW_S || skew < -BACKEND_SIGNATURE_WINDOW_S) {
        snprintf(why, whylen, "timestamp is %lld s from our clock (more than %d s)", skew,
                 BACKEND_SIGNATURE_WINDOW_S);
        return false;
    }
    if (!hmac_sha256(be->signing_key.bytes, be->signing_key.len, timestamp, idempotency_key, body,
                     body ? len : 0, want)) {
        snprintf(why, whylen, "could not compute the signature");
        return false;
    }
    if (CRYPTO_memcmp(got, want, MAC_LEN) != 0) {
        snprintf(why, whylen, "signature does not match");
        return false;
    }
    *ts_out = ts;
    return true;
}

bool backend_signature_check(const struct backend_config *be, const char *idempotency_key,
                             const char *timestamp, const char *signature, const char *body,
                             size_t len, time_t now, char *why, size_t whylen)
{
    unsigned char got[MAC_LEN];
    long long ts = 0;
    return signature_check(be, idempotency_key, timestamp, signature, body, len, now, got, &ts, why,
                           whylen);
}

bool backend_signature_verify(const struct backend_config *be, const char *idempotency_key,
                              const char *timestamp, const char *signature, const char *body,
                              size_t len, time_t now, char *why, size_t whylen)
{
    unsigned char got[MAC_LEN];
    long long ts = 0;
    if (!signature_check(be, idempotency_key, timestamp, signature, body, len, now, got, &ts, why,
                         whylen))
        return false;
    switch (replay_check_and_add(got, ts + BACKEND_SIGNATURE_WINDOW_S, (long long)now)) {
    case REPLAY_NEW:
        return true;
    case REPLAY_SEEN:
        snprintf(why, whylen, "signature already used (replay)");
        return false;
    case REPLAY_FULL:
        snprintf(why, whylen, "too many signed requests in the last %d s to check for replays",
                 BACKEND_SIGNATURE_WINDOW_S);
        return false;
    }
    return false;
}

/* ---- requests ---- */

void backend_request_keep_handles(size_t max)
{
    spare_max = max < BACKEND_SPARE_HANDLES_MAX ? max : BACKEND_SPARE_HANDLES_MAX;
}

void backend_request_drop_handles(void)
{
    while (spare_len > 0)
        curl_easy_cleanup(spare[--spare_len]);
    spare_max = 0;
}

/* A spare handle of this thread's, or a new one; NULL when out of memory. */
static CURL *easy_take(void)
{
    return spare_len > 0 ? spare[--spare_len] : curl_easy_init();
}

/* Keeps e as a spare (reset: no option, header list or buffer of the last request stays
 * pointed at) or cleans it up. It must not be on a multi handle. */
static void easy_give(CURL *e, bool reusable)
{
    if (reusable && spare_len < spare_max) {
        curl_easy_reset(e);
        spare[spare_len++] = e;
        return;
    }
    curl_easy_cleanup(e);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct backend_request *req = userdata;
    size_t n = size * nmemb;
    if (!strbuf_append(&req->answer, data, n)) {
        req->too_large = true;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct backend_request *req = userdata;
    size_t n = size * nmemb;
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        req->retry_after[0] = '\0'; /* a new response (after 100 Continue) */
    } else if (n > strlen(RETRY_AFTER_HEADER) &&
               strncasecmp(data, RETRY_AFTER_HEADER, strlen(RETRY_AFTER_HEADER)) == 0) {
        size_t vlen = n - strlen(RETRY_AFTER_HEADER);
        if (vlen >= sizeof req->retry_after)
            vlen = sizeof req->retry_after - 1;
        memcpy(req->retry_after, data + strlen(RETRY_AFTER_HEADER), vlen);
        req->retry_after[vlen] = '\0';
    }
    return n;
}

static bool add_header(struct backend_request *req, const char *name, const char *value)
{
    char line[HEADER_LINE_MAX];
    int n = snprintf(line, sizeof line, "%s: %s", name, value);
    if (n < 0 || (size_t)n >= sizeof line)
        return false;
    struct curl_slist *grown = curl_slist_append(req->headers, line);
    if (!grown)
        return false;
    req->headers = grown;
    return true;
}

static bool header_value_ok(const char *v)
{
    for (; *v; v++)
        if ((unsigned char)*v < 0x20 || *v == 0x7f)
            return false;
    return true;
}

struct backend_request *backend_request_new(const struct backend_config *be,
                                            const struct backend_request_spec *spec, time_t now,
                                            char *err, size_t errlen)
{
    bool post = strcmp(spec->method, "POST") == 0;
    if (!post && strcmp(spec->method, "GET") != 0) {
        snprintf(err, errlen, "method %s is not supported", spec->method);
        return NULL;
    }
    if (!spec->path || spec->path[0] != '/') {
        snprintf(err, errlen, "path must start with '/'");
        return NULL;
    }
    if (spec->idempotency_key && !header_value_ok(spec->idempotency_key)) {
        snprintf(err, errlen, "idempotency key holds control characters");
        return NULL;
    }
    struct backend_request *req = calloc(1, sizeof *req);
    if (!req) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    strbuf_init(&req->answer, BACKEND_RESPONSE_MAX);
    req->timeout_ms = spec->timeout_ms > 0 ? spec->timeout_ms : be->timeout_ms;
    size_t url_len = strlen(be->url) + strlen(spec->path);
    if (url_len >= URL_MAX) {
        snprintf(err, errlen, "URL longer than %d bytes", URL_MAX);
        goto fail;
    }
    req->url = malloc(url_len + 1);
    if (!req->url)
        goto oom;
    snprintf(req->url, url_len + 1, "%s%s", be->url, spec->path);

    char ts[32];
    snprintf(ts, sizeof ts, "%lld", (long long)now);
    const char *body = post && spec->body ? spec->body : "";
    size_t body_len = post && spec->body ? spec->body_len : 0;
    if (spec->correlation_id && !header_value_ok(spec->correlation_id)) {
        snprintf(err, errlen, "correlation id holds control characters");
        goto fail;
    }
    if ((spec->idempotency_key && !add_header(req, "Idempotency-Key", spec->idempotency_key)) ||
        (spec->correlation_id && !add_header(req, "X-Correlation-ID", spec->correlation_id)))
        goto oom;
    struct auth_request areq = {.timestamp = ts,
                                .idempotency_key = spec->idempotency_key,
                                .body = body,
                                .body_len = body_len,
                                .access_token = spec->access_token};
    if (!auth_apply(be, &areq, &req->headers, err, errlen))
        goto fail;
    if (!add_header(req, "Accept", "application/json"))
        goto oom;
    /* "Expect:" with no value: never wait for 100 Continue */
    struct curl_slist *grown = curl_slist_append(req->headers, "Expect:");
    if (!grown)
        goto oom;
    req->headers = grown;
    if (post && spec->content_type && !add_header(req, "Content-Type", spec->content_type))
        goto oom;

    req->easy = easy_take();
    if (!req->easy)
        goto oom;
    CURL *e = req->easy;
    bool ok = true;
    ok &= curl_easy_setopt(e, CURLOPT_URL, req->url) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->timeout_ms) == CURLE_OK;
    long connect_ms = be->connect_timeout_ms > 0 ? be->connect_timeout_ms : req->timeout_ms;
    if (connect_ms > req->timeout_ms)
        connect_ms = req->timeout_ms;
    ok &= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->headers) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_USERAGENT, USER_AGENT) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_WRITEDATA, req) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_HEADERDATA, req) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->curl_error) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_PRIVATE, req) == CURLE_OK;
    ok &= backend_curl_tls(e, be);
    if (post && spec->mime_build) {
        req->mime = curl_mime_init(e);
        ok &= req->mime && spec->mime_build(spec->mime_ctx, req->mime) &&
              curl_easy_setopt(e, CURLOPT_MIMEPOST, req->mime) == CURLE_OK;
    } else if (post) {
        if (body_len > 0) {
            req->body = malloc(body_len);
            if (!req->body)
                goto oom;
            memcpy(req->body, body, body_len);
            req->body_len = body_len;
        }
        ok &= curl_easy_setopt(e, CURLOPT_POST, 1L) == CURLE_OK;
        ok &=
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len) == CURLE_OK;
        ok &= curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body ? req->body : "") == CURLE_OK;
    } else {
        ok &= curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) == CURLE_OK;
    }
    if (!ok) {
        snprintf(err, errlen, "libcurl refused an option (client certificate or CA file?)");
        goto fail;
    }
    clock_gettime(CLOCK_MONOTONIC, &req->started);
    return req;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    backend_request_free(req);
    return NULL;
}

bool backend_curl_tls(CURL *e, const struct backend_config *be)
{
    return (!be->client_cert ||
            curl_easy_setopt(e, CURLOPT_SSLCERT, be->client_cert) == CURLE_OK) &&
           (!be->client_key || curl_easy_setopt(e, CURLOPT_SSLKEY, be->client_key) == CURLE_OK) &&
           (!be->ca_file || curl_easy_setopt(e, CURLOPT_CAINFO, be->ca_file) == CURLE_OK);
}

CURL *backend_request_easy(struct backend_request *req)
{
    return req->easy;
}

struct backend_request *backend_request_of(CURL *easy)
{
    char *p = NULL;
    if (!easy || curl_easy_getinfo(easy, CURLINFO_PRIVATE, &p) != CURLE_OK)
        return NULL;
    return (struct backend_request *)p;
}

void backend_request_set_ctx(struct backend_request *req, void *ctx)
{
    req->ctx = ctx;
}

void *backend_request_ctx(const struct backend_request *req)
{
    return req->ctx;
}

static void transport_error(const struct backend_request *req, CURLcode code, char *out,
                            size_t outlen)
{
    const char *detail = req->curl_error[0] ? req->curl_error : curl_easy_strerror(code);
    switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
        snprintf(out, outlen, "no answer within %ld ms", req->timeout_ms);
        break;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
        snprintf(out, outlen, "could not connect: %.200s", detail);
        break;
    case CURLE_WRITE_ERROR:
        if (req->too_large) {
            snprintf(out, outlen, "answer longer than %d bytes", BACKEND_RESPONSE_MAX);
            break;
        }
        /* fall through */
    default:
        snprintf(out, outlen, "transfer failed: %.200s", detail);
        break;
    }
}

void backend_request_finish(struct backend_request *req, CURLcode code,
                            struct backend_response *out)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    *out = (struct backend_response){.retry_after_s = -1};
    out->seconds = (double)(now.tv_sec - req->started.tv_sec) +
                   (double)(now.tv_nsec - req->started.tv_nsec) / 1e9;
    out->body = req->answer.data ? req->answer.data : "";
    out->len = req->answer.len;
    if (code != CURLE_OK) {
        transport_error(req, code, out->error, sizeof out->error);
        return;
    }
    long status = 0;
    if (curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status <= 0) {
        snprintf(out->error, sizeof out->error, "no HTTP answer");
        return;
    }
    out->http_status = (int)status;
    long ra = 0;
    if (req->retry_after[0] && backoff_parse_retry_after(req->retry_after, time(NULL), &ra))
        out->retry_after_s = ra;
}

void backend_request_free(struct backend_request *req)
{
    if (!req)
        return;
    if (req->easy)
        easy_give(req->easy, req->mime == NULL);
    curl_mime_free(req->mime); /* after the handle: its parts' readers close here */
    curl_slist_free_all(req->headers);
    free(req->url);
    free(req->body);
    strbuf_free(&req->answer);
    free(req);
}
