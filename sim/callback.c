/*
 * Signed callbacks to the gateway with libcurl. The reply body is discarded: the
 * gateway's status code is all the test needs.
 */
#include "sim/callback.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/rand.h>

#include "sim/signature.h"

#define EVENT_RANDOM_BYTES 16
#define HEADER_MAX         160

static size_t discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    return size * nmemb;
}

static bool make_event_id(char out[CALLBACK_EVENT_ID_LEN])
{
    unsigned char r[EVENT_RANDOM_BYTES];
    if (RAND_bytes(r, sizeof r) != 1)
        return false;
    int n = snprintf(out, CALLBACK_EVENT_ID_LEN, "evt-");
    for (size_t i = 0; i < sizeof r; i++)
        n += snprintf(out + n, CALLBACK_EVENT_ID_LEN - (size_t)n, "%02x", r[i]);
    return true;
}

bool callback_send(const char *base_url, const char *backend, const unsigned char *key,
                   size_t key_len, const char *body, long *http_status,
                   char event_id[CALLBACK_EVENT_ID_LEN], char *error, size_t error_len)
{
    bool ok = false;
    char url[CALLBACK_URL_MAX];
    char timestamp[32];
    char sig[SIGNATURE_HEX_LEN + 1];
    char header[HEADER_MAX];
    char curl_error[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    struct curl_slist *h = NULL;
    CURL *curl = NULL;
    size_t base_len = strlen(base_url);

    while (base_len > 0 && base_url[base_len - 1] == '/')
        base_len--;
    if (snprintf(url, sizeof url, "%.*s%s%s", (int)base_len, base_url, CALLBACK_PATH, backend) >=
        (int)sizeof url) {
        snprintf(error, error_len, "callback URL too long");
        return false;
    }
    if (!make_event_id(event_id)) {
        snprintf(error, error_len, "no random bytes for an event id");
        return false;
    }
    snprintf(timestamp, sizeof timestamp, "%lld", (long long)time(NULL));

    const char *lines[4] = {"Content-Type: application/json", NULL, NULL, NULL};
    char idem[HEADER_MAX];
    char ts_header[HEADER_MAX];
    snprintf(idem, sizeof idem, "Idempotency-Key: %s", event_id);
    lines[1] = idem;
    if (key) {
        if (!signature_compute(key, key_len, timestamp, event_id, body, strlen(body), sig)) {
            snprintf(error, error_len, "could not compute the signature");
            return false;
        }
        snprintf(ts_header, sizeof ts_header, "X-Onestop-Timestamp: %s", timestamp);
        snprintf(header, sizeof header, "X-Onestop-Signature: " SIGNATURE_PREFIX "%s", sig);
        lines[2] = ts_header;
        lines[3] = header;
    }
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        if (!lines[i])
            continue;
        h = curl_slist_append(headers, lines[i]);
        if (!h) {
            snprintf(error, error_len, "out of memory");
            goto out;
        }
        headers = h;
    }

    curl = curl_easy_init();
    if (!curl) {
        snprintf(error, error_len, "curl_easy_init failed");
        goto out;
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, CALLBACK_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, CALLBACK_CONNECT_MS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error);
    CURLcode rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) {
        snprintf(error, error_len, "%s: %s", url,
                 curl_error[0] ? curl_error : curl_easy_strerror(rc));
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, http_status);
    ok = true;
out:
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    return ok;
}
