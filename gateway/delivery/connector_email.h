/* connector_email: the e-mail payload — a stored delivery as an RFC 5322 message.
 *
 * For back-ends that have no API (partner agencies, council teams): the service's stored JSON
 * payload becomes a plain-text message (UTF-8, quoted-printable), optionally with the payload
 * attached as JSON, sent by the SMTP transport (transport_smtp.h). The payload shape is in
 * docs/backends.md ("partner referrals (connector email)").
 *
 * The message is a pure function of the back-end's mail settings, the payload, the delivery's
 * idempotency key and the transaction's creation time: a resend is byte for byte the same
 * message, with the same Message-ID, so a recipient (or its mail system) can tell a resend
 * from a new referral. Header injection is impossible: every header value comes from config
 * (checked by --check-config) or from the payload, and a value holding a line break or any
 * other control character is refused, never passed on. */
#ifndef ONESTOP_CONNECTOR_EMAIL_H
#define ONESTOP_CONNECTOR_EMAIL_H

#include "gateway/delivery/connector.h"

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct backend_config;

#define EMAIL_MUSTCHECK __attribute__((warn_unused_result))

#define EMAIL_ADDRESS_MAX    254           /* RFC 5321 path limit */
#define EMAIL_RECIPIENTS_MAX 20            /* mail_to addresses per back-end */
#define EMAIL_SUBJECT_MAX    200           /* bytes of subject text */
#define EMAIL_REFERENCE_MAX  64            /* bytes of the transaction reference */
#define EMAIL_MESSAGE_MAX    (1024 * 1024) /* bytes of a whole message */
#define EMAIL_MESSAGE_ID_MAX 400

/* The connector table's entry ("email"). It has no build_delivery: an e-mail needs the
 * delivery's key and date, so the forwarder's SMTP path calls email_message_build instead.
 * No polls (a partner answers by e-mail, to people). */
extern const struct connector connector_email;

/* True for a plain address "local@domain": RFC 5322 atext in the local part (dots between),
 * letters, digits, '-' and '.' in the domain, at most EMAIL_ADDRESS_MAX bytes. No display
 * names, brackets, quotes, spaces or control characters. */
bool email_address_valid(const char *addr);

/* True when v holds no control character (no CR, LF, NUL, DEL, ...): safe in a header. */
bool email_header_value_ok(const char *v);

/* "<id@domain>" into out, derived from the idempotency key and the sender's domain: the key
 * itself when it is made of letters, digits, '.', '-' and '_', otherwise "h." and the first
 * 32 hex digits of its SHA-256. False when out is too small or OpenSSL fails. */
bool email_message_id(const char *idempotency_key, const char *mail_from, char *out,
                      size_t outlen) EMAIL_MUSTCHECK;

/* Builds the whole message (headers, CRLF line ends) for be's mail_from and mail_to from the
 * stored payload. date is the transaction's creation time (the Date: header). On success
 * *out is malloc'd (the caller frees it) and *out_len its length. False with a message for
 * supervisors in err when the payload cannot be sent (not an object, no reference, a header
 * value with a line break, consent not given, larger than EMAIL_MESSAGE_MAX): such a delivery
 * will never succeed. */
bool email_message_build(const struct backend_config *be, const char *payload,
                         const char *idempotency_key, time_t date, char **out, size_t *out_len,
                         char *err, size_t errlen) EMAIL_MUSTCHECK;

#endif
