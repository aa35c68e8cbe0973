/* oauth_token: client assertions, token fetches and the per-back-end token cache (see
 * oauth_token.h).
 *
 * DESIGN: the cache is a list of entries, one per back-end (keyed by its config entry, which
 * lives as long as the process), under one mutex and one condition variable. An entry is in
 * one of three situations: it holds a token still good until renew_at; a fetch is running
 * (fetching: exactly one thread is fetching, the others wait on the condition variable for
 * the fetch generation to move on); or it holds the error of the last fetch until retry_at.
 * The fetch itself runs without the mutex (a blocking libcurl easy transfer with the
 * back-end's token_timeout_ms), so other back-ends' tokens are never held up by it.
 *
 * The private key is read from private_key_file at each fetch: fetches happen every few
 * minutes at most, and the key is then never kept in memory between them. Base64url (no
 * padding) is token.h's encoder. */
#include "gateway/delivery/oauth_token.h"

#include "gateway/delivery/backend_request.h"

#include "gateway/config.h"
#include "gateway/strbuf.h"
#include "gateway/token.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TOKEN_ANSWER_MAX (64 * 1024) /* bytes of a token endpoint's answer we read */
#define JWT_PART_MAX     4096        /* bytes of a JWT header or claims set (JSON) */
#define UUID_BYTES       16
#define MS_PER_S         1000
#define NS_PER_MS        1000000L
#define DIGITS_MAX       9 /* digits of an expires_in string */
#define USER_AGENT       "onestop/" ONESTOP_VERSION

struct token_entry {
    struct token_entry *next;
    const struct backend_config *be;
    char token[OAUTH_TOKEN_MAX];
    bool valid;
    int64_t renew_at_ms; /* monotonic */
    bool fetching;
    unsigned long generation; /* fetches finished */
    char error[OAUTH_ERROR_MAX];
    int64_t retry_at_ms; /* monotonic; before it, answer `error` without fetching */
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cache_cond = PTHREAD_COND_INITIALIZER;
static struct token_entry *cache;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * MS_PER_S + ts.tv_nsec / NS_PER_MS;
}

/* ---- the client assertion ---- */

/* base64url without padding of in[0..len) into a malloc'd string (token.h's encoder). */
static char *base64url(const unsigned char *in, size_t len)
{
    size_t cap = 4 * ((len + 2) / 3) + 1;
    char *out = malloc(cap);
    if (out && len > 0 && base64url_encode(in, len, out, cap) == 0) {
        free(out);
        return NULL;
    }
    if (out && len == 0)
        out[0] = '\0';
    return out;
}

static char *base64url_json(json_t *doc)
{
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    char *out = text && strlen(text) < JWT_PART_MAX
                    ? base64url((const unsigned char *)text, strlen(text))
                    : NULL;
    free(text);
    return out;
}

static bool random_uuid(char out[OAUTH_JTI_SIZE])
{
    unsigned char b[UUID_BYTES];
    if (RAND_bytes(b, sizeof b) != 1)
        return false;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, OAUTH_JTI_SIZE,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
    return true;
}

char *oauth_jwt_build(EVP_PKEY *key, const char *kid, const char *client_id, const char *aud,
                      time_t now, char jti[OAUTH_JTI_SIZE], char *err, size_t errlen)
{
    char *result = NULL, *head64 = NULL, *claims64 = NULL, *signing_input = NULL, *sig64 = NULL;
    unsigned char *sig = NULL;
    json_t *header = NULL, *claims = NULL;
    EVP_MD_CTX *md = NULL;
    size_t sig_len = 0;
    if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
        snprintf(err, errlen, "the private key is not an RSA key (RS512 needs one)");
        goto out;
    }
    if (!random_uuid(jti)) {
        snprintf(err, errlen, "no random bytes for the jti");
        goto out;
    }
    header = json_pack("{s:s,s:s,s:s}", "alg", "RS512", "typ", "JWT", "kid", kid);
    claims = json_pack("{s:s,s:s,s:s,s:s,s:I}", "iss", client_id, "sub", client_id, "aud", aud,
                       "jti", jti, "exp", (json_int_t)(now + OAUTH_JWT_LIFETIME_S));
    head64 = base64url_json(header);
    claims64 = base64url_json(claims);
    if (!head64 || !claims64) {
        snprintf(err, errlen, "could not encode the client assertion");
        goto out;
    }
    size_t input_len = strlen(head64) + 1 + strlen(claims64);
    signing_input = malloc(input_len + 1);
    md = EVP_MD_CTX_new();
    if (!signing_input || !md) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    snprintf(signing_input, input_len + 1, "%s.%s", head64, claims64);
    if (EVP_DigestSignInit(md, NULL, EVP_sha512(), NULL, key) != 1 ||
        EVP_DigestSign(md, NULL, &sig_len, (const unsigned char *)signing_input, input_len) != 1 ||
        !(sig = malloc(sig_len)) ||
        EVP_DigestSign(md, sig, &sig_len, (const unsigned char *)signing_input, input_len) != 1 ||
        !(sig64 = base64url(sig, sig_len))) {
        snprintf(err, errlen, "could not sign the client assertion (RS512)");
        goto out;
    }
    size_t total = input_len + 1 + strlen(sig64);
    result = malloc(total + 1);
    if (!result) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    snprintf(result, total + 1, "%s.%s", signing_input, sig64);
out:
    json_decref(header);
    json_decref(claims);
    free(head64);
    free(claims64);
    free(signing_input);
    free(sig);
    free(sig64);
    EVP_MD_CTX_free(md);
    return result;
}

/* ---- reading the answers ---- */

static bool printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

/* expires_in as a number or a string of digits. */
static bool read_expires_in(const json_t *v, long *out)
{
    long n = -1;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        n = i >= 0 && i <= OAUTH_EXPIRES_IN_MAX ? (long)i : -1;
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        n = d >= 0 && d <= OAUTH_EXPIRES_IN_MAX ? (long)d : -1;
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t len = strlen(s);
        if (len == 0 || len > DIGITS_MAX || strspn(s, "0123456789") != len)
            return false;
        errno = 0;
        n = strtol(s, NULL, 10);
        if (errno != 0 || n > OAUTH_EXPIRES_IN_MAX)
            return false;
    }
    if (n <= 0)
        return false;
    *out = n;
    return true;
}

bool oauth_token_parse(const char *body, size_t len, char token[OAUTH_TOKEN_MAX],
                       long *expires_in_s, char *err, size_t errlen)
{
    bool ok = false;
    json_t *doc = json_loadb(body ? body : "", len, 0, NULL);
    if (!json_is_object(doc)) {
        snprintf(err, errlen, "the token endpoint's answer is not a JSON object");
        goto out;
    }
    const char *access = json_string_value(json_object_get(doc, "access_token"));
    if (!access || !*access || strlen(access) >= OAUTH_TOKEN_MAX || !printable(access)) {
        snprintf(err, errlen, "the token endpoint's answer has no usable access_token");
        goto out;
    }
    const json_t *type = json_object_get(doc, "token_type");
    if (type && (!json_is_string(type) || strcasecmp(json_string_value(type), "Bearer") != 0)) {
        snprintf(err, errlen, "the token endpoint gave a token_type other than Bearer");
        goto out;
    }
    if (!read_expires_in(json_object_get(doc, "expires_in"), expires_in_s)) {
        snprintf(err, errlen,
                 "the token endpoint's expires_in is missing or not a whole number of seconds "
                 "(1 to %d)",
                 OAUTH_EXPIRES_IN_MAX);
        goto out;
    }
    snprintf(token, OAUTH_TOKEN_MAX, "%s", access);
    ok = true;
out:
    json_decref(doc);
    return ok;
}

/* The endpoint's own words for an error, copied into out without control characters. */
static void error_words(const char *body, size_t len, char *out, size_t outlen)
{
    out[0] = '\0';
    json_t *doc = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    const char *code = NULL, *text = NULL;
    if (json_is_object(doc)) {
        code = json_string_value(json_object_get(doc, "error"));
        text = json_string_value(json_object_get(doc, "error_description"));
        if (!text)
            text = json_string_value(json_object_get(doc, "message"));
        const json_t *issue = json_array_get(json_object_get(doc, "issue"), 0);
        if (issue) { /* FHIR OperationOutcome */
            const json_t *coding =
                json_array_get(json_object_get(json_object_get(issue, "details"), "coding"), 0);
            code = json_string_value(json_object_get(coding, "code"));
            text = json_string_value(json_object_get(issue, "diagnostics"));
        }
    }
    snprintf(out, outlen, "%s%s%s", code ? code : "", code && text ? ": " : "", text ? text : "");
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    json_decref(doc);
}

void oauth_token_describe_error(int http_status, const char *body, size_t len, char *out,
                                size_t outlen)
{
    char words[OAUTH_ERROR_MAX];
    const char *what;
    error_words(body, len, words, sizeof words);
    switch (http_status) {
    case 400:
        what = "the token endpoint refused the client assertion as malformed or incomplete "
               "(check client_id, kid and the clock)";
        break;
    case 401:
        what = "the token endpoint did not accept our credentials (check client_id, kid and "
               "that the public key is registered)";
        break;
    case 403:
        what = "the token endpoint says this application has no access to the API (ask for it "
               "to be approved)";
        break;
    case 429:
        what = "the token endpoint is limiting our requests (too many); it will be tried again "
               "shortly";
        break;
    default:
        what = http_status >= 500 ? "the token endpoint is unavailable"
                                  : "the token endpoint gave an unexpected answer";
        break;
    }
    snprintf(out, outlen, "%s [HTTP %d%s%.120s]", what, http_status, words[0] ? " " : "", words);
}

/* ---- fetching ---- */

static size_t on_answer(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct strbuf *b = userdata;
    size_t n = size * nmemb;
    return strbuf_append(b, data, n) ? n : 0;
}

static EVP_PKEY *read_private_key(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read private_key_file: %s", strerror(errno));
        return NULL;
    }
    EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!key)
        snprintf(err, errlen, "private_key_file is not a PEM private key");
    return key;
}

/* The form body for a client assertion (malloc'd), or NULL. */
static char *token_form(const char *assertion)
{
    char *type = curl_easy_escape(NULL, OAUTH_ASSERTION_TYPE, 0);
    char *jwt = curl_easy_escape(NULL, assertion, 0);
    char *out = NULL;
    if (type && jwt) {
        size_t n = strlen("grant_type=client_credentials&client_assertion_type=") + strlen(type) +
                   strlen("&client_assertion=") + strlen(jwt) + 1;
        out = malloc(n);
        if (out)
            snprintf(out, n,
                     "grant_type=client_credentials&client_assertion_type=%s&client_assertion=%s",
                     type, jwt);
    }
    curl_free(type);
    curl_free(jwt);
    return out;
}

/* One blocking token request. On success token and *expires_in_s are set. */
static bool fetch_token(const struct backend_config *be, char token[OAUTH_TOKEN_MAX],
                        long *expires_in_s, char *err, size_t errlen)
{
    bool ok = false;
    char jti[OAUTH_JTI_SIZE];
    char curl_error[CURL_ERROR_SIZE] = "";
    char *assertion = NULL, *form = NULL;
    struct curl_slist *headers = NULL;
    struct strbuf answer;
    strbuf_init(&answer, TOKEN_ANSWER_MAX);
    CURL *e = NULL;
    EVP_PKEY *key = read_private_key(be->private_key_file, err, errlen);
    if (!key)
        goto out;
    assertion =
        oauth_jwt_build(key, be->kid, be->client_id, be->token_url, time(NULL), jti, err, errlen);
    if (!assertion)
        goto out;
    form = token_form(assertion);
    headers = curl_slist_append(NULL, "Accept: application/json");
    e = curl_easy_init();
    if (!form || !headers || !e) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    long connect_ms = be->connect_timeout_ms > 0 && be->connect_timeout_ms < be->token_timeout_ms
                          ? be->connect_timeout_ms
                          : be->token_timeout_ms;
    bool set = curl_easy_setopt(e, CURLOPT_URL, be->token_url) == CURLE_OK &&
               curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
               curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
               curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
               curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, be->token_timeout_ms) == CURLE_OK &&
               curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms) == CURLE_OK &&
               curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers) == CURLE_OK &&
               curl_easy_setopt(e, CURLOPT_USERAGENT, USER_AGENT) == CURLE_OK &&
               curl_easy_setopt(e, CURLOPT_POSTFIELDS, form) == CURLE_OK &&
               curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_answer) == CURLE_OK &&
               curl_easy_setopt(e, CURLOPT_WRITEDATA, &answer) == CURLE_OK &&
               curl_easy_setopt(e, CURLOPT_ERRORBUFFER, curl_error) == CURLE_OK &&
               backend_curl_tls(e, be);
    if (!set) {
        snprintf(err, errlen, "libcurl refused an option for the token request");
        goto out;
    }
    CURLcode code = curl_easy_perform(e);
    long status = 0;
    if (code == CURLE_OPERATION_TIMEDOUT) {
        snprintf(err, errlen, "the token endpoint did not answer within %ld ms",
                 be->token_timeout_ms);
        goto out;
    }
    if (code != CURLE_OK) {
        snprintf(err, errlen, "could not reach the token endpoint: %.150s",
                 curl_error[0] ? curl_error : curl_easy_strerror(code));
        goto out;
    }
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status >= 300) {
        oauth_token_describe_error((int)status, answer.data, answer.len, err, errlen);
        goto out;
    }
    ok = oauth_token_parse(answer.data, answer.len, token, expires_in_s, err, errlen);
out:
    if (e)
        curl_easy_cleanup(e);
    curl_slist_free_all(headers);
    if (form)
        OPENSSL_cleanse(form, strlen(form));
    free(form);
    free(assertion);
    EVP_PKEY_free(key);
    strbuf_free(&answer);
    return ok;
}

/* ---- the cache ---- */

/* The entry of be, made when missing; NULL when out of memory. Lock held. */
static struct token_entry *entry_of(const struct backend_config *be)
{
    for (struct token_entry *t = cache; t; t = t->next)
        if (t->be == be)
            return t;
    struct token_entry *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->be = be;
    t->next = cache;
    cache = t;
    return t;
}

/* Waits on the cache until the fetch running now ends, or until deadline_ms. Lock held. */
static void wait_for_fetch(int64_t deadline_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    int64_t left = deadline_ms - mono_ms();
    if (left < 0)
        left = 0;
    until.tv_sec += (time_t)(left / MS_PER_S);
    until.tv_nsec += (long)(left % MS_PER_S) * NS_PER_MS;
    if (until.tv_nsec >= NS_PER_MS * MS_PER_S) {
        until.tv_sec++;
        until.tv_nsec -= NS_PER_MS * MS_PER_S;
    }
    pthread_cond_timedwait(&cache_cond, &cache_lock, &until);
}

/* The renewal time for a token that lives expires_in seconds from now. */
static int64_t renew_at(int64_t now_ms, long expires_in)
{
    long keep =
        expires_in > 2 * OAUTH_RENEW_MARGIN_S ? expires_in - OAUTH_RENEW_MARGIN_S : expires_in / 2;
    return now_ms + (int64_t)keep * MS_PER_S;
}

bool oauth_token_get(const struct backend_config *be, char token[OAUTH_TOKEN_MAX], char *err,
                     size_t errlen)
{
    bool ok = false;
    char fetched[OAUTH_TOKEN_MAX];
    char why[OAUTH_ERROR_MAX] = "";
    long expires_in = 0;
    if (!be->token_url || !be->client_id || !be->private_key_file || !be->kid) {
        snprintf(err, errlen, "back-end %s is not configured for oauth2-jwt", be->name);
        return false;
    }
    /* a waiter gives up after twice the fetch timeout: the fetch it waits for is bounded */
    int64_t deadline = mono_ms() + 2 * (int64_t)be->token_timeout_ms;
    pthread_mutex_lock(&cache_lock);
    struct token_entry *t = entry_of(be);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (;;) {
        int64_t now = mono_ms();
        if (t->valid && now < t->renew_at_ms) {
            snprintf(token, OAUTH_TOKEN_MAX, "%s", t->token);
            ok = true;
            goto out;
        }
        if (!t->fetching && t->error[0] && now < t->retry_at_ms) {
            snprintf(err, errlen, "%s", t->error);
            goto out;
        }
        if (!t->fetching)
            break;
        unsigned long generation = t->generation;
        while (t->fetching && t->generation == generation && mono_ms() < deadline)
            wait_for_fetch(deadline);
        if (t->generation == generation) {
            snprintf(err, errlen, "timed out waiting for another thread's token fetch");
            goto out;
        }
        if (!t->valid) { /* the fetch we waited for failed: its error is ours */
            snprintf(err, errlen, "%s", t->error);
            goto out;
        }
    }
    t->fetching = true;
    pthread_mutex_unlock(&cache_lock);
    bool fetched_ok = fetch_token(be, fetched, &expires_in, why, sizeof why);
    pthread_mutex_lock(&cache_lock);
    t->fetching = false;
    t->generation++;
    int64_t now = mono_ms();
    if (fetched_ok) {
        memcpy(t->token, fetched, sizeof t->token);
        t->valid = true;
        t->renew_at_ms = renew_at(now, expires_in);
        t->error[0] = '\0';
        snprintf(token, OAUTH_TOKEN_MAX, "%s", fetched);
        ok = true;
    } else {
        t->valid = false;
        snprintf(t->error, sizeof t->error, "%s", why);
        t->retry_at_ms = now + OAUTH_FAILURE_HOLD_MS;
        snprintf(err, errlen, "%s", why);
    }
    pthread_cond_broadcast(&cache_cond);
out:
    pthread_mutex_unlock(&cache_lock);
    OPENSSL_cleanse(fetched, sizeof fetched);
    return ok;
}

void oauth_token_invalidate(const struct backend_config *be, const char *token)
{
    if (!be || !token)
        return;
    pthread_mutex_lock(&cache_lock);
    for (struct token_entry *t = cache; t; t = t->next)
        if (t->be == be && t->valid && strcmp(t->token, token) == 0) {
            t->valid = false;
            OPENSSL_cleanse(t->token, sizeof t->token);
        }
    pthread_mutex_unlock(&cache_lock);
}

void oauth_token_cache_free(void)
{
    pthread_mutex_lock(&cache_lock);
    while (cache) {
        struct token_entry *t = cache;
        cache = t->next;
        OPENSSL_cleanse(t->token, sizeof t->token);
        free(t);
    }
    pthread_mutex_unlock(&cache_lock);
}
