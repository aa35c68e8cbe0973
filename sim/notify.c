/*
 * GOV.UK Notify, as the gateway's receipt copies see it (DOMAIN.md "GOV.UK Notify").
 *
 *   POST /notify/v2/notifications/email {"email_address","template_id","reference",
 *                                        "personalisation"} -> 201 {"id","reference",...}
 *   POST /notify/v2/notifications/sms   {"phone_number", ...}
 *   GET  /notify/v2/notifications?reference=R -> {"notifications":[...]} (newest first)
 *   GET  /notify/v2/notifications/{id}        -> the notification | 404
 *
 * Every request needs "Authorization: Bearer <JWT>": HS256, {"iss": the service id, "iat"}
 * within 30 s of now, signed with the secret of the API key given by --notify-api-key
 * ("{name}-{service id}-{secret}"). Anything else is 403 AuthError, counted in auth_refused.
 * Template ids come from <data>/notify.json and must match the channel (400 BadRequestError
 * otherwise). An attached file (personalisation "link_to_file": {"file": base64, "is_csv"})
 * must decode to a PDF. Errors have Notify's shape {"status_code","errors":[{"error",
 * "message"}]}. There is no idempotency key, as in real Notify: every accepted send is a new
 * notification, recorded in /_sim/received?backend=notify. Faults (down, error, drop, ...)
 * come from the shared pipeline; rate_limit (notify_control) answers 429.
 *
 * Callbacks go to <callback-url>/api/v1/callbacks/notify with the bearer token read from
 * --notify-callback-token, as Notify does to a service's configured callback URL: on request
 * (notify_control_callback), or on its own a little after every accepted send when
 * auto_callback is set (a detached thread per report, never under the state lock).
 */
#include "sim/notify.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "sim/backends.h"
#include "sim/callback.h"
#include "sim/control.h"
#include "sim/pipeline.h"
#include "sim/registry.h"

#define UUID_LEN       36
#define KEY_TAIL       (2 * UUID_LEN + 1)
#define IAT_WINDOW_S   30
#define JWT_PART_MAX   2048
#define FILE_MAX_BYTES (2 * 1024 * 1024)
#define NOTIFY_MAX     100000
#define TOKEN_MAX      256
#define AUTH_ERROR_MAX 160
#define NOTIFY_PREFIX  "/v2/notifications"
#define CALLBACK_ROUTE "/api/v1/callbacks/notify"
#define AUTO_DELAY_MS  300 /* an automatic report follows its send this much later */
#define AUTO_WAIT_MS   10
#define STATUS_MAX     32

static char service_id[UUID_LEN + 1];
static unsigned char secret[UUID_LEN];
static bool have_key;
static char callback_token[TOKEN_MAX];
static json_t *templates;     /* id -> {"type","name"} */
static json_t *notifications; /* array, oldest first */
static long auth_refused;
static long rate_limit;
static char last_auth_error[AUTH_ERROR_MAX];
static char auto_status[STATUS_MAX];  /* "" or the status reported for every accepted send */
static char auto_default[STATUS_MAX]; /* --notify-auto-callback, restored by a reset */
static atomic_int auto_threads;       /* automatic reports still running */

static const char *const report_statuses[] = {"delivered", "permanent-failure", "temporary-failure",
                                              "technical-failure", NULL};

static bool report_status_known(const char *status)
{
    for (const char *const *s = report_statuses; status && *s; s++)
        if (strcmp(*s, status) == 0)
            return true;
    return false;
}

static char *read_small_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char buf[TOKEN_MAX];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    return strdup(buf);
}

static bool notify_init(const sim_options *opts)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/notify.json", opts->data_dir);
    json_t *data = json_load_file(path, 0, NULL);
    templates = json_incref(json_object_get(data, "templates"));
    json_decref(data);
    if (!json_is_object(templates)) {
        fprintf(stderr, "onestop-sim: %s has no \"templates\" object\n", path);
        return false;
    }
    notifications = json_array();
    if (opts->notify_api_key) {
        char *key = read_small_file(opts->notify_api_key);
        size_t len = key ? strlen(key) : 0;
        if (len < KEY_TAIL + 2 || key[len - KEY_TAIL - 1] != '-') {
            fprintf(stderr, "onestop-sim: %s is not a Notify API key\n", opts->notify_api_key);
            free(key);
            return false;
        }
        memcpy(service_id, key + len - KEY_TAIL, UUID_LEN);
        memcpy(secret, key + len - UUID_LEN, UUID_LEN);
        have_key = true;
        OPENSSL_cleanse(key, len);
        free(key);
    }
    if (opts->notify_auto_callback) {
        if (!report_status_known(opts->notify_auto_callback)) {
            fprintf(stderr, "onestop-sim: --notify-auto-callback is delivered, "
                            "permanent-failure, temporary-failure or technical-failure\n");
            return false;
        }
        snprintf(auto_default, sizeof auto_default, "%s", opts->notify_auto_callback);
        snprintf(auto_status, sizeof auto_status, "%s", auto_default);
    }
    if (opts->notify_callback_token) {
        char *t = read_small_file(opts->notify_callback_token);
        if (!t) {
            fprintf(stderr, "onestop-sim: cannot read %s\n", opts->notify_callback_token);
            return false;
        }
        snprintf(callback_token, sizeof callback_token, "%s", t);
        free(t);
    }
    return true;
}

static void notify_destroy(void)
{
    struct timespec wait = {.tv_nsec = AUTO_WAIT_MS * 1000000L};
    while (atomic_load(&auto_threads) > 0) /* each ends within its curl timeout */
        nanosleep(&wait, NULL);
    json_decref(templates);
    json_decref(notifications);
    templates = notifications = NULL;
}

static void notify_reset(void)
{
    json_array_clear(notifications);
    auth_refused = 0;
    rate_limit = 0;
    last_auth_error[0] = '\0';
    snprintf(auto_status, sizeof auto_status, "%s", auto_default);
}

static void notify_error(sim_reply *reply, unsigned status, const char *error, const char *msg)
{
    sim_reply_json(reply, status,
                   json_pack("{s:i, s:[{s:s, s:s}]}", "status_code", (int)status, "errors", "error",
                             error, "message", msg));
}

/* base64url (no padding) into a new NUL-terminated buffer; NULL when malformed. */
static unsigned char *b64url_decode(const char *in, size_t len, size_t *out_len)
{
    if (len == 0 || len > JWT_PART_MAX)
        return NULL;
    char buf[JWT_PART_MAX + 4];
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        buf[n++] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    while (n % 4)
        buf[n++] = '=';
    buf[n] = '\0';
    unsigned char *out = malloc(n + 1);
    if (!out)
        return NULL;
    int got = EVP_DecodeBlock(out, (unsigned char *)buf, (int)n);
    if (got < 0) {
        free(out);
        return NULL;
    }
    size_t pad = 0;
    while (pad < 2 && n > pad && buf[n - 1 - pad] == '=')
        pad++;
    *out_len = (size_t)got - pad;
    out[*out_len] = '\0';
    return out;
}

static void b64url_encode(const unsigned char *in, size_t len, char *out, size_t outlen)
{
    unsigned char tmp[128];
    if (4 * ((len + 2) / 3) + 1 > sizeof tmp || 4 * ((len + 2) / 3) + 1 > outlen) {
        out[0] = '\0';
        return;
    }
    int n = EVP_EncodeBlock(tmp, in, (int)len);
    size_t o = 0;
    for (int i = 0; i < n && tmp[i] != '='; i++)
        out[o++] = tmp[i] == '+' ? '-' : tmp[i] == '/' ? '_' : (char)tmp[i];
    out[o] = '\0';
}

/* Checks the bearer JWT; false with why when Notify would refuse it. */
static bool jwt_check(const sim_request *req, char *why, size_t whylen)
{
    const char *auth = req->header ? req->header(req, "Authorization") : NULL;
    if (!have_key) {
        snprintf(why, whylen, "Invalid token: the simulator was given no --notify-api-key");
        return false;
    }
    if (!auth || strncmp(auth, "Bearer ", 7) != 0) {
        snprintf(why, whylen, "Unauthorized: authentication token must be provided");
        return false;
    }
    const char *jwt = auth + 7;
    const char *dot1 = strchr(jwt, '.');
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot1 || !dot2 || strchr(dot2 + 1, '.')) {
        snprintf(why, whylen, "Invalid token: not a JWT");
        return false;
    }
    size_t hlen = 0, plen = 0;
    unsigned char *header = b64url_decode(jwt, (size_t)(dot1 - jwt), &hlen);
    unsigned char *payload = b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &plen);
    json_t *h = header ? json_loadb((char *)header, hlen, 0, NULL) : NULL;
    json_t *p = payload ? json_loadb((char *)payload, plen, 0, NULL) : NULL;
    free(header);
    free(payload);
    bool ok = false;
    const char *alg = json_string_value(json_object_get(h, "alg"));
    const char *iss = json_string_value(json_object_get(p, "iss"));
    json_t *iat = json_object_get(p, "iat");
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    char expect[96];
    if (!alg || strcmp(alg, "HS256") != 0) {
        snprintf(why, whylen, "Invalid token: algorithm used is not HS256");
    } else if (!iss || strcmp(iss, service_id) != 0) {
        snprintf(why, whylen, "Invalid token: service not found");
    } else if (!json_is_integer(iat)) {
        snprintf(why, whylen, "Invalid token: iat is missing");
    } else if (llabs((long long)json_integer_value(iat) - (long long)time(NULL)) > IAT_WINDOW_S) {
        snprintf(why, whylen, "Error: Your system clock must be accurate to within 30 seconds");
    } else if (!HMAC(EVP_sha256(), secret, UUID_LEN, (const unsigned char *)jwt,
                     (size_t)(dot2 - jwt), mac, &mac_len)) {
        snprintf(why, whylen, "Invalid token: signature could not be checked");
    } else {
        b64url_encode(mac, mac_len, expect, sizeof expect);
        ok = strlen(expect) == strlen(dot2 + 1) &&
             CRYPTO_memcmp(expect, dot2 + 1, strlen(expect)) == 0;
        if (!ok)
            snprintf(why, whylen, "Invalid token: signature, api token is not valid");
    }
    json_decref(h);
    json_decref(p);
    return ok;
}

static void uuid4(char out[UUID_LEN + 1])
{
    unsigned char r[16];
    if (RAND_bytes(r, sizeof r) != 1)
        memset(r, 0x42, sizeof r);
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    snprintf(out, UUID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
             r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14],
             r[15]);
}

/* The attached file, when there is one: a PDF in base64. False with why. */
static bool file_check(json_t *personalisation, char *why, size_t whylen)
{
    json_t *f = json_object_get(personalisation, "link_to_file");
    if (!f)
        return true;
    const char *b64 = json_string_value(json_object_get(f, "file"));
    size_t n = b64 ? strlen(b64) : 0;
    if (!n || n % 4 || n / 4 * 3 > FILE_MAX_BYTES) {
        snprintf(why, whylen, "link_to_file: file is not base64 or is over 2MB");
        return false;
    }
    unsigned char *bytes = malloc(n / 4 * 3 + 1);
    int got = bytes ? EVP_DecodeBlock(bytes, (const unsigned char *)b64, (int)n) : -1;
    bool pdf = got >= 5 && memcmp(bytes, "%PDF-", 5) == 0;
    free(bytes);
    if (!pdf)
        snprintf(why, whylen, "Unsupported file type. Notify can only send PDF files here");
    return pdf;
}

static void auto_report_start(const char *id);

static void send_notification(const sim_request *req, const char *type, sim_reply *reply)
{
    if (rate_limit > 0) {
        rate_limit--;
        notify_error(reply, 429, "RateLimitError",
                     "Exceeded rate limit for key type LIVE of 3000 requests per 60 seconds");
        return;
    }
    json_t *body = json_loadb(req->body, req->body_len, 0, NULL);
    bool email = strcmp(type, "email") == 0;
    const char *to_key = email ? "email_address" : "phone_number";
    const char *to = json_string_value(json_object_get(body, to_key));
    const char *template_id = json_string_value(json_object_get(body, "template_id"));
    const char *reference = json_string_value(json_object_get(body, "reference"));
    json_t *personalisation = json_object_get(body, "personalisation");
    json_t *tpl = template_id ? json_object_get(templates, template_id) : NULL;
    char why[200];
    if (!json_is_object(body)) {
        notify_error(reply, 400, "BadRequestError", "Invalid JSON supplied in POST data");
    } else if (!to || !*to) {
        snprintf(why, sizeof why, "%s is a required property", to_key);
        notify_error(reply, 400, "ValidationError", why);
    } else if (!tpl) {
        notify_error(reply, 400, "BadRequestError", "Template not found");
    } else if (strcmp(json_string_value(json_object_get(tpl, "type")), type) != 0) {
        snprintf(why, sizeof why, "%s template is not suitable for %s notification",
                 json_string_value(json_object_get(tpl, "type")), type);
        notify_error(reply, 400, "BadRequestError", why);
    } else if (personalisation && !json_is_object(personalisation)) {
        notify_error(reply, 400, "ValidationError", "personalisation is not an object");
    } else if (!file_check(personalisation, why, sizeof why)) {
        notify_error(reply, 400, "BadRequestError", why);
    } else if (json_array_size(notifications) >= NOTIFY_MAX) {
        notify_error(reply, 500, "Exception", "the simulator holds too many notifications");
    } else {
        char id[UUID_LEN + 1];
        uuid4(id);
        json_t *n =
            json_pack("{s:s, s:s?, s:s, s:s, s:s, s:s, s:b}", "id", id, "reference", reference,
                      "type", type, "template_id", template_id, "to", to, "status", "created",
                      "has_file", json_object_get(personalisation, "link_to_file") != NULL);
        json_array_append_new(notifications, n);
        auto_report_start(id);
        sim_reply_set_reference(reply, reference);
        sim_reply_json(reply, 201,
                       json_pack("{s:s, s:s?, s:{s:s}, s:{s:s, s:i}}", "id", id, "reference",
                                 reference, "content", "subject", "Your receipt", "template", "id",
                                 template_id, "version", 1));
    }
    json_decref(body);
}

static void list_notifications(const sim_request *req, sim_reply *reply)
{
    const char *reference = req->query ? req->query(req, "reference") : NULL;
    json_t *out = json_array();
    for (size_t i = json_array_size(notifications); i-- > 0;) {
        json_t *n = json_array_get(notifications, i);
        const char *r = json_string_value(json_object_get(n, "reference"));
        if (!reference || (r && strcmp(r, reference) == 0))
            json_array_append(out, n);
    }
    sim_reply_json(reply, 200, json_pack("{s:o, s:{}}", "notifications", out, "links"));
}

static json_t *find_notification(const char *id, const char *reference)
{
    for (size_t i = json_array_size(notifications); i-- > 0;) {
        json_t *n = json_array_get(notifications, i);
        const char *nid = json_string_value(json_object_get(n, "id"));
        const char *r = json_string_value(json_object_get(n, "reference"));
        if ((id && nid && strcmp(id, nid) == 0) || (!id && reference && r && !strcmp(reference, r)))
            return n;
    }
    return NULL;
}

static void notify_handle(const sim_request *req, sim_reply *reply)
{
    char why[AUTH_ERROR_MAX];
    if (!jwt_check(req, why, sizeof why)) {
        auth_refused++;
        snprintf(last_auth_error, sizeof last_auth_error, "%s", why);
        notify_error(reply, 403, "AuthError", why);
        return;
    }
    bool post = strcmp(req->method, "POST") == 0;
    bool get = strcmp(req->method, "GET") == 0;
    const char *p = req->subpath;
    if (post && strcmp(p, NOTIFY_PREFIX "/email") == 0)
        send_notification(req, "email", reply);
    else if (post && strcmp(p, NOTIFY_PREFIX "/sms") == 0)
        send_notification(req, "sms", reply);
    else if (get && strcmp(p, NOTIFY_PREFIX) == 0)
        list_notifications(req, reply);
    else if (get && strncmp(p, NOTIFY_PREFIX "/", sizeof NOTIFY_PREFIX) == 0) {
        json_t *n = find_notification(p + sizeof NOTIFY_PREFIX, NULL);
        if (n)
            sim_reply_json(reply, 200, json_incref(n));
        else
            notify_error(reply, 404, "NoResultFound", "No result found");
    } else
        notify_error(reply, 404, "NotFound", "no such Notify endpoint in the simulator");
}

const sim_backend notify_backend = {
    .name = "notify",
    .own_auth = true,
    .init = notify_init,
    .handle = notify_handle,
    .reset = notify_reset,
    .destroy = notify_destroy,
};

/* ---- test controls ---- */

void notify_control(const sim_request *req, sim_reply *reply)
{
    if (strcmp(req->method, "POST") == 0) {
        json_t *body = json_loadb(req->body, req->body_len, 0, NULL);
        json_t *rl = json_object_get(body, "rate_limit");
        json_t *ac = json_object_get(body, "auto_callback");
        const char *acs = json_string_value(ac);
        if ((rl && (!json_is_integer(rl) || json_integer_value(rl) < 0)) ||
            (ac && !json_is_null(ac) && !report_status_known(acs)) || (!rl && !ac)) {
            json_decref(body);
            sim_reply_error(reply, 400, "invalid_request",
                            "rate_limit is a count (0 or more); auto_callback is null or a "
                            "status (delivered, permanent-failure, ...)");
            return;
        }
        sim_state_lock();
        if (rl)
            rate_limit = (long)json_integer_value(rl);
        if (ac)
            snprintf(auto_status, sizeof auto_status, "%s", acs ? acs : "");
        sim_state_unlock();
        json_decref(body);
    }
    sim_state_lock();
    json_t *out = json_pack(
        "{s:I, s:I, s:s, s:I, s:s?}", "messages", (json_int_t)json_array_size(notifications),
        "auth_refused", (json_int_t)auth_refused, "last_auth_error", last_auth_error, "rate_limit",
        (json_int_t)rate_limit, "auto_callback", auto_status[0] ? auto_status : NULL);
    sim_state_unlock();
    sim_reply_json(reply, 200, out);
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    (void)ptr;
    (void)userdata;
    return size * nmemb;
}

/* Lock held: marks notification n with status and returns the callback body (free() it). */
static char *callback_body(json_t *n, const char *status)
{
    json_object_set_new(n, "status", json_string(status));
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S.000000Z", gmtime_r(&now, &tm));
    json_t *cb =
        json_pack("{s:O, s:O, s:O, s:s, s:s, s:s, s:s, s:O}", "id", json_object_get(n, "id"),
                  "reference", json_object_get(n, "reference"), "to", json_object_get(n, "to"),
                  "status", status, "created_at", when, "completed_at", when, "sent_at", when,
                  "notification_type", json_object_get(n, "type"));
    char *text = cb ? json_dumps(cb, JSON_COMPACT) : NULL;
    json_decref(cb);
    return text;
}

/* POSTs a callback body to the gateway with the bearer token (blocking; no lock held). */
static bool callback_post(const char *callback_url, const char *text, long *status_code, char *err,
                          size_t errlen)
{
    char url[CALLBACK_URL_MAX], auth[TOKEN_MAX + 32], curl_err[CURL_ERROR_SIZE] = "";
    size_t base = strlen(callback_url);
    while (base > 0 && callback_url[base - 1] == '/')
        base--;
    snprintf(url, sizeof url, "%.*s%s", (int)base, callback_url, CALLBACK_ROUTE);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", callback_token);
    struct curl_slist *headers = curl_slist_append(NULL, auth);
    struct curl_slist *more =
        headers ? curl_slist_append(headers, "Content-Type: application/json") : NULL;
    CURL *c = more ? curl_easy_init() : NULL;
    CURLcode rc = CURLE_FAILED_INIT;
    *status_code = 0;
    if (c) {
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, CALLBACK_TIMEOUT_MS);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, CALLBACK_CONNECT_MS);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
        rc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status_code);
    }
    curl_easy_cleanup(c);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK)
        snprintf(err, errlen, "%s", curl_err[0] ? curl_err : curl_easy_strerror(rc));
    return rc == CURLE_OK;
}

struct auto_report {
    char id[UUID_LEN + 1];
    char status[STATUS_MAX];
};

/* Notify reports on its own a little after a send, as the real one does. */
static void *auto_report_main(void *arg)
{
    struct auto_report *ar = arg;
    const char *url = control_callback_url();
    if (pipeline_sleep_ms(AUTO_DELAY_MS) && url) {
        sim_state_lock();
        json_t *n = find_notification(ar->id, NULL);
        char *text = n ? callback_body(n, ar->status) : NULL;
        sim_state_unlock();
        long code;
        char err[CURL_ERROR_SIZE];
        if (text && !callback_post(url, text, &code, err, sizeof err))
            fprintf(stderr, "onestop-sim: notify callback failed: %s\n", err);
        free(text);
    }
    free(ar);
    atomic_fetch_sub(&auto_threads, 1);
    return NULL;
}

/* Lock held: starts the automatic report of notification id, when one is set up. */
static void auto_report_start(const char *id)
{
    if (!auto_status[0] || !callback_token[0] || !control_callback_url())
        return;
    struct auto_report *ar = calloc(1, sizeof *ar);
    if (!ar)
        return;
    snprintf(ar->id, sizeof ar->id, "%s", id);
    snprintf(ar->status, sizeof ar->status, "%s", auto_status);
    pthread_attr_t attr;
    pthread_t t;
    atomic_fetch_add(&auto_threads, 1);
    bool started = pthread_attr_init(&attr) == 0 &&
                   pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0 &&
                   pthread_create(&t, &attr, auto_report_main, ar) == 0;
    pthread_attr_destroy(&attr);
    if (!started) {
        atomic_fetch_sub(&auto_threads, 1);
        free(ar);
    }
}

void notify_control_callback(const sim_request *req, sim_reply *reply, const char *callback_url)
{
    json_t *body = json_loadb(req->body, req->body_len, 0, NULL);
    const char *status = json_string_value(json_object_get(body, "status"));
    if (!report_status_known(status)) {
        json_decref(body);
        sim_reply_error(reply, 400, "invalid_request",
                        "status is delivered, permanent-failure, temporary-failure or "
                        "technical-failure");
        return;
    }
    if (!callback_url || !callback_token[0]) {
        json_decref(body);
        sim_reply_error(reply, 409, "no_callback_url",
                        "start the simulator with --callback-url and --notify-callback-token");
        return;
    }
    sim_state_lock();
    json_t *n = find_notification(json_string_value(json_object_get(body, "id")),
                                  json_string_value(json_object_get(body, "reference")));
    char *text = n ? callback_body(n, status) : NULL;
    sim_state_unlock();
    json_decref(body);
    if (!text) {
        sim_reply_error(reply, 404, "unknown_reference",
                        "no notification with that id or reference");
        return;
    }
    long code = 0;
    char err[CURL_ERROR_SIZE];
    bool sent = callback_post(callback_url, text, &code, err, sizeof err);
    free(text);
    if (!sent) {
        sim_reply_error(reply, 502, "callback_failed", err);
        return;
    }
    sim_reply_json(reply, 200, json_pack("{s:I}", "gateway_status", (json_int_t)code));
}
