/* forward_mail: the forwarder's SMTP transport for e-mail back-ends (connector email).
 *
 * An email back-end's job carries an smtp_request (job->mail) instead of a backend_request;
 * the message is built by connector_email from the payload, the key and the transaction's
 * creation time, so every attempt sends the same message with the same Message-ID. SMTP
 * replies are classified by transport_smtp (2xx delivered, 4xx and refused logins retried,
 * 5xx a dead letter); the breaker counts a 4xx or no answer as a failure, a 5xx as an
 * answer (fwd_settle_attempt, as for HTTP). The reply code is recorded where HTTP back-ends
 * record their status.
 *
 * A back-end with digest_at sends a day's rows for a site as one message (email_digest.h):
 * the group's leader sends the digest, the others wait (held like a row that could not be
 * recorded) and then take the leader's outcome without a transfer of their own. */
#include "gateway/delivery/forward_private.h"

#include "gateway/config.h"
#include "gateway/delivery/breaker.h"
#include "gateway/delivery/connector_email.h"
#include "gateway/delivery/email_digest.h"
#include "gateway/delivery/transport_smtp.h"
#include "gateway/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

/* A digest row that sends nothing itself: it waits, or takes its leader's outcome. */
static void digest_follow(struct forwarder *fw, struct fwd_job *job, enum digest_step step,
                          const struct digest_plan *plan, int64_t now_mono)
{
    struct delivery_outcome *o = &job->outcome;
    if (step == DIGEST_WAIT || step == DIGEST_TROUBLE) {
        if (step == DIGEST_TROUBLE)
            log_msg(LOG_WARN, "digest_trouble", "backend=%s reference=%s: %s", job->be->cfg->name,
                    job->d.reference, plan->error);
        fwd_hold(job, now_mono);
        return;
    }
    enum fwd_verdict v = step == DIGEST_DELIVERED ? FWD_DELIVERED : FWD_REFUSED;
    enum log_level level = fwd_settle_attempt(fw, job, v, plan->error, -1, now_mono);
    snprintf(o->backend_reference, sizeof o->backend_reference, "%s", plan->backend_reference);
    snprintf(o->supervisor_note, sizeof o->supervisor_note, "%s", plan->note);
    log_msg(level, "delivery_attempt", "backend=%s reference=%s transport=digest outcome=%s%s%s",
            job->be->cfg->name, job->d.reference, fwd_outcome_name(o->kind),
            o->error[0] ? " error=" : "", o->error);
    fwd_record(fw, job);
}

void fwd_mail_start(struct forwarder *fw, struct fwd_job *job, int64_t now_mono, time_t now_sec)
{
    struct fwd_backend *be = job->be;
    char err[BACKEND_ERROR_MAX];
    char *message = NULL;
    size_t len = 0;
    struct digest_plan plan = {0};
    const char *payload = job->d.payload, *key = job->d.idempotency_key;
    time_t date = job->d.created_at;
    if (be->cfg->digest) {
        enum digest_step step =
            email_digest_plan(fw->store, be->cfg, job->d.id, job->d.created_at, now_sec, &plan);
        if (step != DIGEST_SEND) {
            digest_follow(fw, job, step, &plan, now_mono);
            email_digest_plan_clear(&plan);
            return;
        }
        payload = plan.payload;
        key = plan.key;
        date = plan.date;
        snprintf(job->outcome.supervisor_note, sizeof job->outcome.supervisor_note, "%s",
                 plan.note);
    }
    bool built = email_message_build(be->cfg, payload, key, date, &message, &len, err, sizeof err);
    email_digest_plan_clear(&plan);
    if (!built) {
        fwd_fail_unbuildable(fw, job, err);
        return;
    }
    job->mail = smtp_request_new(be->cfg, message, len, err, sizeof err);
    if (!job->mail) {
        log_msg(LOG_ERROR, "forwarder_request_failed", "backend=%s reference=%s: %s", be->cfg->name,
                job->d.reference, err);
        fwd_hold(job, now_mono);
        return;
    }
    if (curl_multi_add_handle(fw->multi, smtp_request_easy(job->mail)) != CURLM_OK) {
        smtp_request_free(job->mail);
        job->mail = NULL;
        fwd_hold(job, now_mono);
        return;
    }
    job->phase = PHASE_SENDING;
    be->running++;
    breaker_started(&be->breaker, now_mono);
    fwd_remember_sent(fw, job->d.id, now_sec);
    atomic_fetch_add(&be->attempted, 1);
}

static void finish_mail(struct forwarder *fw, struct fwd_job *job, const struct smtp_result *res,
                        int64_t now_mono)
{
    struct fwd_backend *be = job->be;
    struct delivery_outcome *o = &job->outcome;
    enum fwd_verdict v = res->verdict == SMTP_DELIVERED   ? FWD_DELIVERED
                         : res->verdict == SMTP_PERMANENT ? FWD_REFUSED
                                                          : FWD_TRANSIENT;
    o->http_status = res->reply_code;
    enum log_level level = fwd_settle_attempt(fw, job, v, res->message, -1, now_mono);
    if (v == FWD_DELIVERED)
        snprintf(o->backend_reference, sizeof o->backend_reference, "%s", res->queue_id);
    log_msg(level, "delivery_attempt",
            "backend=%s reference=%s attempt=%d transport=smtp smtp_reply=%d outcome=%s "
            "duration_ms=%.0f%s%s%s%s",
            be->cfg->name, job->d.reference, job->d.attempts + 1, res->reply_code,
            fwd_outcome_name(o->kind), res->seconds * 1000.0,
            o->backend_reference[0] ? " backend_reference=" : "", o->backend_reference,
            o->error[0] ? " error=" : "", o->error);
    fwd_record(fw, job);
}

/* True when easy was an SMTP job's transfer (then it is finished and recorded). */
bool fwd_mail_finish_transfer(struct forwarder *fw, CURL *easy, CURLcode code)
{
    struct fwd_job *job = fw->jobs;
    while (job && !(job->mail && smtp_request_easy(job->mail) == easy))
        job = job->next;
    if (!job)
        return false;
    struct smtp_result res;
    smtp_request_finish(job->mail, code, &res);
    curl_multi_remove_handle(fw->multi, easy);
    job->be->running--;
    job->be->dirty = true;
    smtp_request_free(job->mail);
    job->mail = NULL;
    finish_mail(fw, job, &res, fwd_mono_ms());
    return true;
}
