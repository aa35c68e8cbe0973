/* transport_smtp: one e-mail to a back-end's mail server, as a libcurl easy handle.
 *
 * For back-ends whose url is smtp:// or smtps:// (connector "email"). The forwarder adds the
 * easy handle to its curl multi handle like an HTTP request, so a slow mail server never
 * blocks the loop. The request sends MAIL FROM mail_from, RCPT TO each of mail_to, and the
 * message as DATA; TLS follows smtp_tls ("starttls": STARTTLS is required; "smtps": TLS from
 * the first byte; "none": plain, for loopback test servers only), with the back-end's CA file
 * and client certificate; AUTH (libcurl picks the mechanism the server offers) with
 * smtp_username and the password read from smtp_password_file.
 *
 * The outcome is classified from libcurl's result and the last SMTP reply code
 * (CURLINFO_RESPONSE_CODE): delivered on success (250); a 4xx reply, no answer, a timeout or
 * a refused login is transient (retried with backoff: a bad password or an unreachable relay
 * is fixed once, by an operator, not per referral); any other 5xx is permanent (a dead
 * letter, with the server's own reply text for supervisors). */
#ifndef ONESTOP_TRANSPORT_SMTP_H
#define ONESTOP_TRANSPORT_SMTP_H

#include "gateway/delivery/backend_request.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

struct backend_config;
struct smtp_request;

#define SMTP_MUSTCHECK    __attribute__((warn_unused_result))
#define SMTP_REPLY_MAX    200 /* characters of the server's reply text we keep */
#define SMTP_QUEUE_ID_MAX 128

enum smtp_verdict {
    SMTP_DELIVERED, /* the server took the message */
    SMTP_TRANSIENT, /* try again later */
    SMTP_PERMANENT, /* the server refused it for good: a dead letter */
};

struct smtp_result {
    enum smtp_verdict verdict;
    int reply_code;                   /* the last SMTP reply code, 0 when there was none */
    double seconds;                   /* from start to finish */
    char queue_id[SMTP_QUEUE_ID_MAX]; /* delivered: the server's id from "250 ... queued as
                                         ID", or "" */
    char message[BACKEND_ERROR_MAX];  /* what happened, for the log and supervisors; "" when
                                         delivered */
};

/* True when the back-end's url asks for the SMTP transport (smtp:// or smtps://). */
bool transport_smtp_wanted(const struct backend_config *be);

/* The verdict for libcurl's result code and the last SMTP reply code (0: none). Pure. */
enum smtp_verdict smtp_classify(CURLcode code, long reply_code);

/* The id in a "250 ... queued as ID" reply (Postfix, Exim, Sendmail and the simulator say it
 * so), into out; "" when the reply has none. */
void smtp_queue_id(const char *reply, char *out, size_t outlen);

/* Builds the request for be, taking ownership of message (malloc'd, message_len bytes, CRLF
 * line ends; freed with the request, or here on failure). NULL with a message in err when
 * out of memory or libcurl refuses an option. Free with smtp_request_free. */
struct smtp_request *smtp_request_new(const struct backend_config *be, char *message,
                                      size_t message_len, char *err, size_t errlen) SMTP_MUSTCHECK;
/* The easy handle to add to a multi handle (owned by the request). */
CURL *smtp_request_easy(const struct smtp_request *req);
/* Reads the outcome once libcurl reported the transfer done with `code`. */
void smtp_request_finish(struct smtp_request *req, CURLcode code, struct smtp_result *out);
/* Frees the request and its easy handle (remove it from the multi handle first). NULL-safe. */
void smtp_request_free(struct smtp_request *req);

#endif
