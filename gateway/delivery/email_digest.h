/* email_digest: one e-mail a day per site for an e-mail back-end with digest_at.
 *
 * A service routed to such a back-end still puts one outbox row per transaction; what
 * changes is how the forwarder sends them. A day's digest for a site gathers the rows whose
 * transactions were sold there after the previous day's digest time and up to this day's
 * (Europe/London), and goes out once, after that time plus digest_settle_s (so a sale being
 * committed at the stroke of the hour is not left out of a message already sent). Its leader
 * — the group's oldest row — sends one message listing every row; the others wait for the
 * leader and then take its outcome without sending anything. The message is built by
 * email_message_build from a payload made of the group, with an idempotency key made of the
 * back-end, the site and the day: a resend (after a crash, or a retry) is the same message
 * with the same Message-ID, and a row is only ever part of one day's digest, so each day and
 * site is one e-mail, even across restarts. */
#ifndef ONESTOP_EMAIL_DIGEST_H
#define ONESTOP_EMAIL_DIGEST_H

#include "gateway/store/digest.h"

#include <stdbool.h>
#include <time.h>

struct backend_config;

#define DIGEST_KEY_MAX  (STORE_SITE_MAX + 96)
#define DIGEST_NOTE_MAX 300

/* "17:30" or "17:30:00" -> seconds after midnight; false for anything else. */
bool email_digest_time_parse(const char *text, long *seconds) __attribute__((warn_unused_result));

/* The digest time (UTC instant) that the row created at created_at belongs to: the first
 * digest_at at or after it, Europe/London. */
time_t email_digest_cut(const struct backend_config *be, time_t created_at);

enum digest_step {
    DIGEST_WAIT,      /* not yet: before the time, or the leader has not been sent */
    DIGEST_SEND,      /* the leader: send payload with key and date */
    DIGEST_DELIVERED, /* a follower whose leader was delivered: backend_reference is its */
    DIGEST_REFUSED,   /* a follower whose leader was refused: error says why */
    DIGEST_TROUBLE,   /* the store could not be read or the group is too large: error */
};

struct digest_plan {
    char *payload; /* DIGEST_SEND: malloc'd */
    char key[DIGEST_KEY_MAX];
    time_t date; /* the day's digest time (the message's Date:) */
    char backend_reference[128];
    char note[DIGEST_NOTE_MAX]; /* for the delivery, on every step but WAIT and TROUBLE */
    char error[DIGEST_ERROR_MAX];
};

/* What to do with the outbox row (id, created_at) of an e-mail back-end with digest_at at
 * now. Reads the store (a pooled connection) only once the day's digest is due. Free the plan
 * with email_digest_plan_clear whatever the step. */
enum digest_step email_digest_plan(struct store *store, const struct backend_config *be,
                                   int64_t delivery_id, time_t created_at, time_t now,
                                   struct digest_plan *out);
void email_digest_plan_clear(struct digest_plan *plan);

#endif
