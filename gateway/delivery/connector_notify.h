/* connector_notify: GOV.UK Notify's wire format for receipt copies (DOMAIN.md, docs/notify.md).
 *
 *   POST {base}/v2/notifications/email {"email_address","template_id","reference",
 *                                       "personalisation"}
 *   POST {base}/v2/notifications/sms   {"phone_number", ...the same}
 *   201 {"id", ...}; errors {"status_code","errors":[{"error","message"}]}
 *   GET  {base}/v2/notifications?reference=R  200 {"notifications":[{"id","reference",...}]}
 *
 * Notify has no idempotency key, so a copy carries a `reference` of its own (stable for the
 * copy, never the resident's contact) by which the sender can ask whether an attempt whose
 * answer was lost was accepted. Pure functions: no I/O (notify_sender.c sends). */
#ifndef ONESTOP_CONNECTOR_NOTIFY_H
#define ONESTOP_CONNECTOR_NOTIFY_H

#include "gateway/delivery/connector.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define NOTIFY_EMAIL_PATH "/v2/notifications/email"
#define NOTIFY_SMS_PATH   "/v2/notifications/sms"
#define NOTIFY_LIST_PATH  "/v2/notifications"

/* The send request for a copy's stored payload on channel ("email" | "sms"). False when the
 * channel is unknown or the body cannot be copied. */
bool notify_build_send(const char *channel, const char *payload, struct connector_request *out)
    __attribute__((warn_unused_result));

/* The look-up GET /v2/notifications?reference=<notify_reference>. */
bool notify_build_lookup(const char *notify_reference, struct connector_request *out)
    __attribute__((warn_unused_result));

/* Notify's id from a 2xx answer to a send ("" when it gave none). */
void notify_parse_accepted(const char *body, size_t len, char *id, size_t idlen);

/* Reads a look-up's 2xx answer: false when it is not understood; otherwise *found (a
 * notification carrying our reference) and its id. */
bool notify_parse_lookup(const char *body, size_t len, const char *notify_reference, bool *found,
                         char *id, size_t idlen) __attribute__((warn_unused_result));

/* "HTTP 400: ValidationError: ..." from Notify's error answer. */
void notify_describe_error(int http_status, const char *body, size_t len, char *out, size_t outlen);

/* The payload as kept once Notify has it: the contact replaced by masked, the attached file
 * dropped. A new string (free() it), or NULL when payload is not JSON. */
char *notify_payload_masked(const char *payload, const char *masked);

/* The contact as staff see it: "r***@example.org", "07*******89". False when it does not fit. */
bool notify_mask_email(const char *email, char *out, size_t outlen);
bool notify_mask_phone(const char *phone, char *out, size_t outlen);

#endif
