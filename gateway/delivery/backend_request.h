/* backend_request: one signed HTTP request to a back-end, as a libcurl easy handle, and the
 * check of signed requests a back-end sends us (docs/backends.md, "Signing").
 *
 * A request carries Idempotency-Key (when given) and its back-end's authentication (auth.h):
 * for hmac, X-Onestop-Timestamp and
 * X-Onestop-Signature: v1=<hex HMAC-SHA256(key, timestamp "\n" idempotency key "\n" body)>.
 * It never follows redirects, speaks only http and https, uses the back-end's timeouts and,
 * when configured, its client certificate and CA file, and keeps at most
 * BACKEND_RESPONSE_MAX bytes of the answer (a longer answer fails the transfer).
 *
 * The caller adds the easy handle to its own curl multi handle, and when the transfer is done
 * calls backend_request_finish to learn what happened. Requests are owned by one thread at a
 * time; backend_signature_verify is safe from any thread. */
#ifndef ONESTOP_BACKEND_REQUEST_H
#define ONESTOP_BACKEND_REQUEST_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct backend_config;
struct backend_request;

#define BACKEND_MUSTCHECK __attribute__((warn_unused_result))

#define BACKEND_RESPONSE_MAX          (256 * 1024) /* bytes of an answer we keep */
#define BACKEND_SIGNATURE_WINDOW_S    300 /* |now - timestamp| allowed on signed requests */
#define BACKEND_SIGNATURE_HEX_LEN     64  /* hex digits of an HMAC-SHA256 */
#define BACKEND_SIGNATURE_HEADER_SIZE (3 + BACKEND_SIGNATURE_HEX_LEN + 1) /* "v1=" hex NUL */
#define BACKEND_ERROR_MAX             256

/* Makes libcurl ready for use; safe to call many times from any thread. */
void backend_request_global_init(void);

/* Sets the back-end's client certificate, key and CA file (when configured) on an easy
 * handle: the one place every transport (HTTP, SMTP, token fetches) takes them from. False
 * when libcurl refuses one. */
bool backend_curl_tls(CURL *e, const struct backend_config *be) BACKEND_MUSTCHECK;

/* Writes "v1=<lower-case hex>" of the signature of (timestamp, idempotency_key, body) under
 * key into out. idempotency_key may be NULL (signed as ""). False only when OpenSSL fails. */
bool backend_signature_compute(const unsigned char *key, size_t key_len, const char *timestamp,
                               const char *idempotency_key, const char *body, size_t body_len,
                               char out[BACKEND_SIGNATURE_HEADER_SIZE]) BACKEND_MUSTCHECK;

/* Checks the three signing headers of a request a back-end sent us (callbacks). True when the
 * signature is right for be's signing key, the timestamp is within BACKEND_SIGNATURE_WINDOW_S
 * of now and the signature has not been seen before within that window; the signature is then
 * remembered, so the same request a second time is refused as a replay. On false, why says
 * what was wrong (for the log; the caller answers 401 without detail). Thread-safe. The replay
 * cache is bounded: when it is full of live signatures the request is refused (why says so)
 * rather than forgetting one. */
bool backend_signature_verify(const struct backend_config *be, const char *idempotency_key,
                              const char *timestamp, const char *signature, const char *body,
                              size_t len, time_t now, char *why, size_t whylen) BACKEND_MUSTCHECK;

/* backend_signature_verify without the in-memory replay cache: the caller recognises replays
 * itself (routes_callbacks.c keeps every callback's event id in the store). Thread-safe. */
bool backend_signature_check(const struct backend_config *be, const char *idempotency_key,
                             const char *timestamp, const char *signature, const char *body,
                             size_t len, time_t now, char *why, size_t whylen) BACKEND_MUSTCHECK;

struct backend_request_spec {
    const char *method;       /* "GET" or "POST" */
    const char *path;         /* appended to the back-end's url; starts with '/' */
    const char *content_type; /* POST only; NULL for none */
    const char *body;         /* POST only; copied */
    size_t body_len;
    const char *idempotency_key; /* sent and signed; NULL: no header, signed as "" */
    long timeout_ms;             /* whole transfer; 0: the back-end's timeout_ms */
    const char *access_token;    /* auth oauth2-jwt: the bearer token (oauth_token.h) */
    const char *correlation_id;  /* sent as X-Correlation-ID when not NULL */
    /* POST multipart/form-data instead of body (the multipart connector): called once, while
     * the request is built, to add the parts to the request's mime (which owns what the parts'
     * callbacks hold); body is then not sent but is still what authentication signs. */
    bool (*mime_build)(void *ctx, curl_mime *mime);
    void *mime_ctx;
};

/* Builds the request, authenticated as the back-end's auth says (auth.h; hmac signs with
 * timestamp `now`). NULL with a message in err when out of
 * memory or the spec is unusable. Free with backend_request_free. */
struct backend_request *backend_request_new(const struct backend_config *be,
                                            const struct backend_request_spec *spec, time_t now,
                                            char *err, size_t errlen) BACKEND_MUSTCHECK;
/* The easy handle to add to a multi handle (owned by the request). */
CURL *backend_request_easy(struct backend_request *req);
/* The request whose easy handle this is (CURLOPT_PRIVATE), or NULL. */
struct backend_request *backend_request_of(CURL *easy);
void backend_request_set_ctx(struct backend_request *req, void *ctx);
void *backend_request_ctx(const struct backend_request *req);

struct backend_response {
    int http_status;  /* 0 when there was no HTTP answer */
    const char *body; /* the answer (NUL-terminated), borrowed from the request */
    size_t len;
    long retry_after_s;            /* from Retry-After (seconds or HTTP date), -1 when absent */
    double seconds;                /* from start to finish */
    char error[BACKEND_ERROR_MAX]; /* why there was no usable answer, "" when there was one */
};

/* Reads the outcome once libcurl reported the transfer done with `code`. The request must
 * already be removed from its multi handle or be about to be freed. */
void backend_request_finish(struct backend_request *req, CURLcode code,
                            struct backend_response *out);
/* Frees the request and its easy handle (remove it from the multi handle first). NULL-safe. */
void backend_request_free(struct backend_request *req);
/* Spare easy handles for the calling thread: from here on, backend_request_free keeps up to
 * max (at most BACKEND_SPARE_HANDLES_MAX) of this thread's freed handles, reset, and
 * backend_request_new on this thread takes one of them before it makes a new one (a handle
 * made and freed per request cost an allocation of its buffers and their teardown). A
 * handle that carried a multipart body is never kept. The thread must call
 * backend_request_drop_handles before it ends. Without keep, nothing is kept. */
#define BACKEND_SPARE_HANDLES_MAX 64
void backend_request_keep_handles(size_t max);
void backend_request_drop_handles(void);

#endif
