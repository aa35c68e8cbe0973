/*
 * The simulator's SMTP sink: the "mail" back-end, for e-mail routes (partner referrals).
 *
 * A small ESMTP server on loopback that speaks enough for libcurl: EHLO/HELO, AUTH PLAIN and
 * AUTH LOGIN (checking the configured user and password), MAIL, RCPT, DATA, RSET, NOOP, QUIT.
 * STARTTLS when given a certificate (then TLS is required before AUTH and MAIL; without one
 * it is not offered and test gateways use smtp_tls "none"). Each message it
 * accepts is recorded in the "mail" back-end's received log (GET /_sim/received?backend=mail)
 * with the raw message as "body" and "mail_from", "rcpt_to", "message_id", "auth_user" and
 * "tls" (whether it came over STARTTLS).
 * Nothing is de-duplicated: SMTP has no idempotency key; a resend shows the same message_id.
 *
 * Faults (POST /_sim/faults with backend "mail"): down answers 421 at the greeting; error and
 * flaky refuse with 451, reject with 550 (or "smtp_code"), at DATA's end or, with
 * "smtp_stage":"rcpt", at RCPT TO; slow waits delay_ms before answering DATA. "attempts"
 * counts every MAIL command, every refused login and every connection turned away.
 *
 * One thread per connection, at most SMTP_CONNECTIONS_MAX at once; lines are capped at
 * SMTP_LINE_MAX bytes and messages at SMTP_MESSAGE_MAX (552 beyond); an idle connection is
 * closed after SMTP_IDLE_S.
 */
#ifndef ONESTOP_SIM_SMTP_H
#define ONESTOP_SIM_SMTP_H

#include <stdbool.h>
#include <stdint.h>

#define SMTP_CONNECTIONS_MAX 16
#define SMTP_LINE_MAX        1000 /* RFC 5321: a text line with its CRLF */
#define SMTP_MESSAGE_MAX     (1024u * 1024u)
#define SMTP_RECIPIENTS_MAX  100
#define SMTP_IDLE_S          30
#define SMTP_BACKEND_NAME    "mail"

/* Starts the sink on host:port (port 0 picks one); *bound_port is the port in use. user and
 * password (NULL: no AUTH offered) must outlive the sink. cert_file and key_file (PEM; NULL:
 * no STARTTLS) are read now. False after printing why. */
__attribute__((warn_unused_result)) bool smtp_start(const char *host, uint16_t port,
                                                    const char *user, const char *password,
                                                    const char *cert_file, const char *key_file,
                                                    uint16_t *bound_port);

/* Stops accepting, ends every connection and waits for their threads. Safe when not started. */
void smtp_stop(void);

#endif
