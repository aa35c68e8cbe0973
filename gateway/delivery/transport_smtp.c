/* transport_smtp: libcurl SMTP(S) requests and the classification of their outcome.
 *
 * DESIGN: like backend_request, an smtp_request owns everything its easy handle points at
 * (the message, the recipient list, the error buffer), so the handle can sit on the
 * forwarder's multi handle with no references back into the caller. The message is handed
 * to libcurl by a read callback from memory; libcurl does the SMTP dialogue and the
 * dot-stuffing. libcurl reports an SMTP refusal as a bare "RCPT failed: 550", so the debug
 * callback keeps the last reply line the server sent (CURLINFO_HEADER_IN only: what we send,
 * including AUTH, is never looked at), and that line is what supervisors read. */
#include "gateway/delivery/transport_smtp.h"

#include "gateway/delivery/backend_request.h"

#include "gateway/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SMTP_REPLY_LINE_MAX 512
#define SMTP_PROTOCOLS      "smtp,smtps"
#define ADDRESS_PATH_MAX    (2 + 254 + 1) /* "<" address ">" NUL */

struct smtp_request {
    CURL *easy;
    struct curl_slist *rcpt;
    char *message;
    size_t len, sent;
    long timeout_ms;
    struct timespec started;
    char last_reply[SMTP_REPLY_LINE_MAX]; /* the last 4xx or 5xx line the server sent */
    char last_ok[SMTP_REPLY_LINE_MAX];    /* the last 2xx line (after DATA: "queued as") */
    char curl_error[CURL_ERROR_SIZE];
};

bool transport_smtp_wanted(const struct backend_config *be)
{
    return be && be->url &&
           (strncmp(be->url, "smtp://", 7) == 0 || strncmp(be->url, "smtps://", 8) == 0);
}

enum smtp_verdict smtp_classify(CURLcode code, long reply_code)
{
    if (code == CURLE_OK)
        return SMTP_DELIVERED;
    /* our credentials or our TLS demands: an operator fixes them once for every message */
    if (code == CURLE_LOGIN_DENIED || code == CURLE_USE_SSL_FAILED)
        return SMTP_TRANSIENT;
    if (reply_code >= 500 && reply_code <= 599)
        return SMTP_PERMANENT;
    return SMTP_TRANSIENT; /* 4xx, no answer, timeouts, dropped connections */
}

static size_t on_read(char *buffer, size_t size, size_t nitems, void *userdata)
{
    struct smtp_request *req = userdata;
    size_t want = size * nitems;
    size_t left = req->len - req->sent;
    size_t n = left < want ? left : want;
    memcpy(buffer, req->message + req->sent, n);
    req->sent += n;
    return n;
}

/* Keeps the last refusal (4xx or 5xx) line and the last 2xx line the server sent, control
 * characters as spaces: the QUIT that may follow a refusal must not overwrite it. */
static int on_debug(CURL *easy, curl_infotype type, char *data, size_t size, void *userdata)
{
    (void)easy;
    struct smtp_request *req = userdata;
    if (type != CURLINFO_HEADER_IN || size == 0)
        return 0;
    char *line = data[0] == '4' || data[0] == '5' ? req->last_reply
                 : data[0] == '2'                 ? req->last_ok
                                                  : NULL;
    if (!line)
        return 0;
    size_t n = size < SMTP_REPLY_LINE_MAX - 1 ? size : SMTP_REPLY_LINE_MAX - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)data[i];
        line[i] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
    while (n > 0 && line[n - 1] == ' ')
        n--;
    line[n] = '\0';
    return 0;
}

void smtp_queue_id(const char *reply, char *out, size_t outlen)
{
    static const char marker[] = "queued as ";
    out[0] = '\0';
    const char *at = reply && strncmp(reply, "250", 3) == 0 ? strstr(reply, marker) : NULL;
    if (!at || outlen == 0)
        return;
    at += sizeof marker - 1;
    size_t n = 0;
    while (at[n] && at[n] != ' ' && at[n] != ';' && at[n] != ')' && n + 1 < outlen)
        n++;
    memcpy(out, at, n);
    out[n] = '\0';
}

static bool add_recipient(struct smtp_request *req, const char *address)
{
    char path[ADDRESS_PATH_MAX];
    int n = snprintf(path, sizeof path, "<%s>", address);
    if (n < 0 || (size_t)n >= sizeof path)
        return false;
    struct curl_slist *grown = curl_slist_append(req->rcpt, path);
    if (!grown)
        return false;
    req->rcpt = grown;
    return true;
}

/* Sets the login; the password is copied into a NUL-terminated buffer (libcurl keeps its own
 * copy) and wiped. */
static bool set_login(CURL *e, const struct backend_config *be)
{
    if (!be->smtp_username || !be->smtp_password.bytes)
        return true;
    char *password = malloc(be->smtp_password.len + 1);
    if (!password)
        return false;
    memcpy(password, be->smtp_password.bytes, be->smtp_password.len);
    password[be->smtp_password.len] = '\0';
    bool ok = curl_easy_setopt(e, CURLOPT_USERNAME, be->smtp_username) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_PASSWORD, password) == CURLE_OK;
    memset(password, 0, be->smtp_password.len);
    free(password);
    return ok;
}

static long use_ssl(const struct backend_config *be)
{
    if (be->smtp_tls && strcmp(be->smtp_tls, "none") == 0)
        return (long)CURLUSESSL_NONE;
    return (long)CURLUSESSL_ALL; /* starttls, and smtps (TLS from the start anyway) */
}

struct smtp_request *smtp_request_new(const struct backend_config *be, char *message,
                                      size_t message_len, char *err, size_t errlen)
{
    struct smtp_request *req = calloc(1, sizeof *req);
    if (!req) {
        free(message);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    req->message = message;
    req->len = message_len;
    req->timeout_ms = be->timeout_ms;
    char from[ADDRESS_PATH_MAX];
    int n = snprintf(from, sizeof from, "<%s>", be->mail_from ? be->mail_from : "");
    if (n < 0 || (size_t)n >= sizeof from) {
        snprintf(err, errlen, "mail_from is too long");
        goto fail;
    }
    size_t i;
    const json_t *to;
    json_array_foreach(be->mail_to, i, to)
    {
        if (!add_recipient(req, json_string_value(to)))
            goto oom;
    }
    req->easy = curl_easy_init();
    if (!req->easy)
        goto oom;
    CURL *e = req->easy;
    long connect_ms = be->connect_timeout_ms > 0 ? be->connect_timeout_ms : req->timeout_ms;
    if (connect_ms > req->timeout_ms)
        connect_ms = req->timeout_ms;
    bool ok = true;
    ok &= curl_easy_setopt(e, CURLOPT_URL, be->url) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, SMTP_PROTOCOLS) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->timeout_ms) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_USE_SSL, use_ssl(be)) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_MAIL_FROM, from) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_MAIL_RCPT, req->rcpt) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_UPLOAD, 1L) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->len) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_READDATA, req) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, on_debug) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_DEBUGDATA, req) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_VERBOSE, 1L) == CURLE_OK; /* feeds on_debug only */
    ok &= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->curl_error) == CURLE_OK;
    ok &= backend_curl_tls(e, be);
    if (!ok || !set_login(e, be)) {
        snprintf(err, errlen, "libcurl refused an SMTP option (TLS, CA file or login?)");
        goto fail;
    }
    clock_gettime(CLOCK_MONOTONIC, &req->started);
    return req;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    smtp_request_free(req);
    return NULL;
}

CURL *smtp_request_easy(const struct smtp_request *req)
{
    return req->easy;
}

/* The server's reply text after its code ("5.7.1 refused ..."), or "" when the last line
 * is not a reply with that code. */
static const char *reply_text(const struct smtp_request *req, long code)
{
    char prefix[24];
    snprintf(prefix, sizeof prefix, "%03ld", code);
    if (code < 100 || code > 999 || strncmp(req->last_reply, prefix, 3) != 0)
        return "";
    const char *t = req->last_reply + 3;
    while (*t == ' ' || *t == '-')
        t++;
    return t;
}

void smtp_request_finish(struct smtp_request *req, CURLcode code, struct smtp_result *out)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    *out = (struct smtp_result){0};
    out->seconds = (double)(now.tv_sec - req->started.tv_sec) +
                   (double)(now.tv_nsec - req->started.tv_nsec) / 1e9;
    long reply = 0;
    if (curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &reply) != CURLE_OK || reply < 0)
        reply = 0;
    out->reply_code = (int)reply;
    out->verdict = smtp_classify(code, reply);
    if (out->verdict == SMTP_DELIVERED) {
        smtp_queue_id(req->last_ok, out->queue_id, sizeof out->queue_id);
        return;
    }
    const char *text = reply_text(req, reply);
    const char *detail = req->curl_error[0] ? req->curl_error : curl_easy_strerror(code);
    if (code == CURLE_LOGIN_DENIED)
        snprintf(out->message, sizeof out->message,
                 "the mail server refused our login (SMTP %ld %.*s); check smtp_username and "
                 "smtp_password_file",
                 reply, SMTP_REPLY_MAX / 2, text);
    else if (code == CURLE_USE_SSL_FAILED)
        snprintf(out->message, sizeof out->message,
                 "the mail server does not offer STARTTLS, which smtp_tls requires");
    else if (code == CURLE_OPERATION_TIMEDOUT)
        snprintf(out->message, sizeof out->message, "no answer within %ld ms", req->timeout_ms);
    else if (reply >= 400 && reply <= 599)
        snprintf(out->message, sizeof out->message, "SMTP %ld%s%.*s", reply, *text ? ": " : "",
                 SMTP_REPLY_MAX, text);
    else if (code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST)
        snprintf(out->message, sizeof out->message, "could not connect: %.200s", detail);
    else
        snprintf(out->message, sizeof out->message, "transfer failed: %.200s", detail);
}

void smtp_request_free(struct smtp_request *req)
{
    if (!req)
        return;
    if (req->easy)
        curl_easy_cleanup(req->easy);
    curl_slist_free_all(req->rcpt);
    free(req->message);
    free(req);
}
