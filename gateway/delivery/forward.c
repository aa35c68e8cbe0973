/* forward: the forwarder thread (see forward.h).
 *
 * DESIGN: one thread owns a curl multi handle and a list of jobs. A job is one delivery
 * attempt or one status poll, and lives through three phases:
 *   SENDING    its request is on the multi handle;
 *   RECORDING  its outcome was handed to the store and is not committed yet (the outcomes
 *              that finish in one turn of the loop go as one write: store_delivery_record_batch);
 *   HOLD       the store could not record it; the delivery is kept out of play for a moment
 *              (it is still pending in the store, so it will be tried again).
 * While a job exists its delivery id is excluded from store_deliveries_due (and polls are
 * filtered the same way), so no delivery is ever sent twice at once. The store's writer thread
 * hands committed jobs back through a mutex-protected list and wakes the multi handle.
 *
 * Two more kinds of job come from resend_lookup.h: a look-up before resending a delivery whose
 * last outcome was unknown (lookup_before_resend), and the exchange of an Open311 token for the
 * back-end's id. They are kept apart below ("look-ups and tokens") so the main path stays short.
 *
 * Each turn of the loop: take back recorded jobs; for each back-end whose breaker allows and
 * that has free slots, ask the store for due deliveries (when woken, when a slot freed, or
 * every DUE_CHECK_MS) and start them; for Open311 back-ends, start due status polls; run curl;
 * classify finished transfers; then sleep in curl_multi_poll for at most LOOP_POLL_MS.
 *
 * Classification: 2xx delivered; 4xx other than 401/408/429 refused (dead letter with the
 * back-end's message; the breaker counts it as the back-end answering); anything else (no
 * answer, timeout, 5xx, 401, 408, 429, 3xx) is a failure for the breaker and a retry at the
 * backoff time, or a dead letter once the give-up deadline has passed. 401 is retried because
 * it says nothing about the resident's request: it is our key, our clock or a replay, all
 * fixed without a supervisor touching each transaction.
 *
 * Replays: back-ends refuse a signature they have seen, and the signature covers a
 * whole-second timestamp, so two attempts of one delivery must never share a second. Backoff
 * keeps retries a second apart; a hand retry soon after a failure is held back by a table of
 * the (delivery, second) pairs sent in the current second; and after a restart nothing is sent
 * until the clock has moved past the second we started in, which is later than anything the
 * previous process sent.
 *
 * A refused bulky booking whose held day was not kept gets the next free days in its note for
 * the supervisor (slot_offer.h: a short blocking GET, only on that refusal).
 *
 * Authentication is the back-end's (auth.h). For oauth2-jwt the access token comes from the
 * shared cache (oauth_token.h); when none is cached, start_job fetches one, a short bounded
 * blocking fetch (the back-end's token_timeout_ms, 3 s by default) that holds up this loop for
 * other back-ends at most that long and only every few minutes; after a failure the cache
 * answers at once for a few seconds. A delivery without a token is held and stays pending. A
 * 401 forgets the token, so the retry (at the backoff time) carries a new one.
 *
 * Breaker state uses the monotonic clock; delivery times are wall-clock milliseconds because
 * the store keeps them. Metrics are atomics written here and read by the scrape thread
 * (forward_metrics.c). E-mail back-ends' jobs go through SMTP (forward_mail.c); both
 * transports settle an attempt through fwd_settle_attempt, so the breaker, the counters and
 * the backoff and give-up rules are one piece of code. */
#include "gateway/delivery/forward.h"

#include "gateway/delivery/auth.h"
#include "gateway/delivery/backend_request.h"
#include "gateway/delivery/backoff.h"
#include "gateway/delivery/breaker.h"
#include "gateway/config.h"
#include "gateway/delivery/connector.h"
#include "gateway/delivery/connector_email.h"
#include "gateway/delivery/transport_smtp.h"
#include "gateway/documents_mime.h"
#include "gateway/delivery/oauth_token.h"
#include "gateway/delivery/resend_lookup.h"
#include "gateway/delivery/slot_offer.h"
#include "gateway/log.h"
#include "gateway/store.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gateway/delivery/forward_private.h"
#include "gateway/thread_name.h"

static int64_t clock_ms(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * MS_PER_S + ts.tv_nsec / 1000000;
}

int64_t fwd_wall_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

int64_t fwd_mono_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

/* xorshift64*: jitter only, not secrets. */
uint64_t fwd_next_random(struct forwarder *fw)
{
    uint64_t x = fw->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    fw->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

const char *fwd_outcome_name(enum delivery_outcome_kind kind)
{
    switch (kind) {
    case OUTCOME_DELIVERED:
        return "delivered";
    case OUTCOME_RETRY:
        return "retry";
    case OUTCOME_FAILED:
        return "failed";
    case OUTCOME_POLLED:
        return "polled";
    }
    return "unknown";
}

/* The slot where a delivery's (delivery, second) pair goes in fw->recent (Fibonacci hashing
 * of the id; then linear probing). */
static size_t recent_slot(int64_t delivery_id)
{
    return (size_t)(((uint64_t)delivery_id * 0x9E3779B97F4A7C15ULL) >> (64 - RECENT_SLOTS_BITS));
}

/* True when this delivery was sent in this second already (its signature would repeat). Only
 * the current second's pairs matter, so a slot holding another second counts as empty: the
 * table needs no clearing when the second moves on. */
static bool sent_this_second(const struct forwarder *fw, int64_t delivery_id, time_t second)
{
    if (second != fw->recent_second)
        return false;
    for (size_t i = recent_slot(delivery_id), n = 0; n < RECENT_SLOTS;
         i = (i + 1) & (RECENT_SLOTS - 1), n++) {
        const struct recent_attempt *r = &fw->recent[i];
        if (r->second != second)
            return false;
        if (r->delivery_id == delivery_id)
            return true;
    }
    return false;
}

void fwd_remember_sent(struct forwarder *fw, int64_t delivery_id, time_t second)
{
    if (second != fw->recent_second) {
        fw->recent_second = second;
        fw->recent_len = 0;
    }
    if (fw->recent_len >= RECENT_ATTEMPTS_MAX)
        return; /* more sends in one second than remembered: the rest are not */
    for (size_t i = recent_slot(delivery_id);; i = (i + 1) & (RECENT_SLOTS - 1)) {
        struct recent_attempt *r = &fw->recent[i];
        if (r->second != second) {
            *r = (struct recent_attempt){delivery_id, second};
            fw->recent_len++;
            return;
        }
        if (r->delivery_id == delivery_id)
            return;
    }
}

/* ---- jobs ---- */

static void job_free(struct fwd_job *job)
{
    backend_request_free(job->req);
    smtp_request_free(job->mail);
    free(job->access_token);
    free(job->d.payload); /* job->d is embedded: free only what it owns */
    free(job);
}

static void job_unlink(struct forwarder *fw, struct fwd_job *job)
{
    for (struct fwd_job **p = &fw->jobs; *p; p = &(*p)->next)
        if (*p == job) {
            *p = job->next;
            return;
        }
}

static bool job_exists(const struct forwarder *fw, int64_t delivery_id)
{
    for (const struct fwd_job *j = fw->jobs; j; j = j->next)
        if (j->d.id == delivery_id)
            return true;
    return false;
}

/* Runs on the store's writer thread once the outcome is committed (or failed). */
static void on_recorded(struct delivery_outcome *outcome, enum store_result result)
{
    struct fwd_job *job = outcome->ctx;
    struct forwarder *fw = job->fw;
    pthread_mutex_lock(&fw->lock);
    job->record_result = result;
    job->recorded_next = fw->recorded;
    /* a list that was not empty has a wake-up pending already (the loop takes it whole); the
     * outcomes of a batch are counted back, with one wake-up, at its end (on_batch_recorded) */
    bool wake = fw->recorded == NULL && !job->in_batch;
    fw->recorded = job;
    if (!job->in_batch) {
        fw->recording--;
        pthread_cond_broadcast(&fw->cond);
    }
    if (wake)
        curl_multi_wakeup(fw->multi); /* under the lock: the multi handle outlives it */
    pthread_mutex_unlock(&fw->lock);
}

void fwd_record(struct forwarder *fw, struct fwd_job *job)
{
    job->phase = PHASE_RECORDING;
    job->outcome.delivery_id = job->d.id;
    job->outcome.done = on_recorded;
    job->outcome.ctx = job;
    job->outcome.batch_next = NULL;
    *fw->to_record_tail = &job->outcome;
    fw->to_record_tail = &job->outcome.batch_next;
    fw->to_record_len++;
}

/* One write of outcomes (flush_records): the store's batch, and what the forwarder counts. */
struct fwd_batch {
    struct delivery_outcome_batch batch;
    struct forwarder *fw;
    long len;
};

/* After every outcome of the batch is back (on_recorded): one wake-up for all of them, unless
 * the loop took them already. They leave `recording` only now, so a stopping forwarder is not
 * freed before this last call into it. */
static void on_batch_recorded(struct delivery_outcome_batch *batch)
{
    struct fwd_batch *b = batch->ctx;
    struct forwarder *fw = b->fw;
    long len = b->len;
    free(b);
    pthread_mutex_lock(&fw->lock);
    if (fw->recorded)
        curl_multi_wakeup(fw->multi);
    fw->recording -= len;
    pthread_cond_broadcast(&fw->cond);
    pthread_mutex_unlock(&fw->lock); /* fw may be freed from here on */
}

/* Hands the outcomes of this turn (fwd_record) to the store as one write. */
static void flush_records(struct forwarder *fw)
{
    if (!fw->to_record)
        return;
    struct fwd_batch *b = calloc(1, sizeof *b);
    pthread_mutex_lock(&fw->lock);
    fw->recording += fw->to_record_len;
    pthread_mutex_unlock(&fw->lock);
    for (struct delivery_outcome *o = fw->to_record; o; o = o->batch_next)
        ((struct fwd_job *)o->ctx)->in_batch = b != NULL;
    if (b) {
        b->fw = fw;
        b->len = fw->to_record_len;
        b->batch = (struct delivery_outcome_batch){
            .first = fw->to_record, .done = on_batch_recorded, .ctx = b};
        store_delivery_record_batch(fw->store, &b->batch);
    } else { /* out of memory: one write each, as they would have gone before batches */
        for (struct delivery_outcome *o = fw->to_record, *next; o; o = next) {
            next = o->batch_next;
            store_delivery_record(fw->store, o);
        }
    }
    fw->to_record = NULL;
    fw->to_record_tail = &fw->to_record;
    fw->to_record_len = 0;
}

void fwd_hold(struct fwd_job *job, int64_t now_mono)
{
    job->phase = PHASE_HOLD;
    job->hold_until_ms = now_mono + RECORD_HOLD_MS;
}

/* Takes back the jobs the store has recorded, and ends holds that are over. */
static void collect_recorded(struct forwarder *fw, int64_t now_mono)
{
    pthread_mutex_lock(&fw->lock);
    struct fwd_job *list = fw->recorded;
    fw->recorded = NULL;
    pthread_mutex_unlock(&fw->lock);
    while (list) {
        struct fwd_job *job = list;
        list = job->recorded_next;
        /* a delivery recorded leaves nothing new due (a retry waits its backoff, a second at
         * least, for the periodic look); when the last look was full, more may be waiting */
        job->be->dirty |=
            job->be->outbox_more || job->kind != JOB_DELIVER || job->record_result != STORE_OK;
        /* CONFLICT: the delivery left "pending" meanwhile (a void, a hand retry): nothing to
         * keep it out of play for */
        if (job->record_result == STORE_OK || job->record_result == STORE_CONFLICT) {
            job_unlink(fw, job);
            job_free(job);
        } else {
            log_msg(LOG_WARN, "delivery_record_failed",
                    "backend=%s reference=%s: the store could not record the outcome (%d); "
                    "the delivery stays pending",
                    job->be->cfg->name, job->d.reference, (int)job->record_result);
            fwd_hold(job, now_mono);
        }
    }
    for (struct fwd_job **p = &fw->jobs; *p;) {
        struct fwd_job *job = *p;
        if (job->phase == PHASE_HOLD && now_mono >= job->hold_until_ms) {
            *p = job->next;
            job->be->dirty = true;
            job_free(job);
        } else {
            p = &job->next;
        }
    }
}

/* ---- starting requests ---- */

static void store_trouble(struct fwd_backend *be, const char *what, enum store_result r,
                          int64_t now_mono)
{
    if (now_mono - be->last_store_error_log_ms < STORE_ERROR_LOG_MS &&
        be->last_store_error_log_ms != 0)
        return;
    be->last_store_error_log_ms = now_mono;
    log_msg(LOG_WARN, "forwarder_store_error", "backend=%s: %s failed (%d); will try again",
            be->cfg->name, what, (int)r);
}

/* The request could not even be built: a delivery that can never be sent is a dead letter;
 * a poll is tried again at the next interval. */
void fwd_fail_unbuildable(struct forwarder *fw, struct fwd_job *job, const char *err)
{
    int64_t now = fwd_wall_ms();
    struct delivery_outcome *o = &job->outcome;
    o->now_ms = now;
    if (job->kind == JOB_DELIVER || job->kind == JOB_LOOKUP) {
        o->kind = OUTCOME_FAILED;
        o->outcome_unknown = job->kind == JOB_LOOKUP;
        snprintf(o->error, sizeof o->error, "cannot be %s: %s",
                 job->kind == JOB_LOOKUP ? "looked up before resending" : "sent", err);
        atomic_fetch_add(&job->be->failed, 1);
    } else if (job->kind == JOB_TOKEN) {
        o->kind = OUTCOME_POLLED;
        o->step = DELIVERY_STEP_TOKEN;
        o->next_attempt_at_ms = 0; /* nothing to exchange: stop */
        snprintf(o->supervisor_note, sizeof o->supervisor_note, "token cannot be exchanged: %s",
                 err);
    } else {
        o->kind = OUTCOME_POLLED;
        o->completed = false;
        o->next_attempt_at_ms = now + (int64_t)job->be->cfg->poll_interval_s * MS_PER_S;
    }
    log_msg(LOG_ERROR, job->kind == JOB_DELIVER ? "delivery_attempt" : "status_poll",
            "backend=%s reference=%s outcome=%s error=%s", job->be->cfg->name, job->d.reference,
            fwd_outcome_name(o->kind), err);
    fwd_record(fw, job);
}

/* For an oauth2-jwt back-end, the access token of the job's request (a short bounded blocking
 * fetch when none is cached; see the design note). True when the job may be sent. */
static bool job_access_token(struct fwd_job *job, char *err, size_t errlen)
{
    char token[OAUTH_TOKEN_MAX];
    if (auth_kind_of(job->be->cfg) != AUTH_OAUTH2_JWT)
        return true;
    if (!oauth_token_get(job->be->cfg, token, err, errlen))
        return false;
    job->access_token = strdup(token);
    if (!job->access_token)
        snprintf(err, errlen, "out of memory");
    return job->access_token != NULL;
}

/* A 401 from an oauth2-jwt back-end: forget the token the job carried (the retry fetches a new
 * one). */
static void forget_refused_token(const struct fwd_job *job, int http_status)
{
    if (http_status == 401 && job->access_token)
        oauth_token_invalidate(job->be->cfg, job->access_token);
}

/* The request for a job of any kind. */
static bool build_request(const struct fwd_backend *be, const struct fwd_job *job,
                          struct connector_request *creq, char *err, size_t errlen)
{
    const struct connector *c = be->connector;
    switch (job->kind) {
    case JOB_DELIVER:
        if (job->d.cancel)
            return c->build_cancel(be->cfg, job->d.backend_reference, creq, err, errlen);
        return c->build_delivery(be->cfg, job->d.payload, creq, err, errlen);
    case JOB_POLL:
        return c->build_poll(be->cfg, job->d.backend_reference, creq, err, errlen);
    case JOB_TOKEN:
        return c->build_token_poll &&
               c->build_token_poll(be->cfg, job->d.backend_token, creq, err, errlen);
    case JOB_LOOKUP:
        return c->build_lookup(be->cfg, job->d.reference, creq, err, errlen);
    }
    return false;
}

/* Takes ownership of *d (its payload). now_sec signs the request. */
static void start_job(struct forwarder *fw, struct fwd_backend *be, enum job_kind kind,
                      struct delivery *d, int64_t now_mono, time_t now_sec)
{
    struct fwd_job *job = calloc(1, sizeof *job);
    if (!job) {
        free(d->payload); /* d is an element of the caller's list */
        d->payload = NULL;
        return;
    }
    job->fw = fw;
    job->be = be;
    job->kind = kind;
    job->d = *d;
    d->payload = NULL;
    job->next = fw->jobs;
    fw->jobs = job;
    if (job->d.cancel && (be->smtp || !be->connector->build_cancel)) {
        fwd_fail_unbuildable(fw, job,
                             "this back-end takes no cancellations: tell its team of "
                             "the void by hand");
        return;
    }
    if (be->smtp) {
        fwd_mail_start(fw, job, now_mono, now_sec);
        return;
    }

    char err[BACKEND_ERROR_MAX];
    struct connector_request creq = {0};
    if (!build_request(be, job, &creq, err, sizeof err)) {
        connector_request_clear(&creq);
        fwd_fail_unbuildable(fw, job, err);
        return;
    }
    if (!job_access_token(job, err, sizeof err)) {
        connector_request_clear(&creq);
        log_msg(LOG_WARN, "forwarder_token_failed", "backend=%s reference=%s: %s", be->cfg->name,
                job->d.reference, err);
        fwd_hold(job, now_mono);
        return;
    }
    const struct documents *docs = atomic_load(&fw->documents);
    struct documents_mime mime = {docs, creq.body, creq.body_len};
    if (creq.documents && !docs) {
        connector_request_clear(&creq);
        fwd_hold(job, now_mono);
        return;
    }
    struct backend_request_spec spec = {
        .mime_build = creq.documents ? documents_mime_build : NULL,
        .mime_ctx = &mime,
        .method = creq.method,
        .path = creq.path,
        .content_type = creq.content_type,
        .body = creq.body,
        .body_len = creq.body_len,
        .idempotency_key = kind == JOB_DELIVER ? job->d.idempotency_key : NULL,
        .access_token = job->access_token,
    };
    job->req = backend_request_new(be->cfg, &spec, now_sec, err, sizeof err);
    connector_request_clear(&creq);
    if (!job->req) {
        log_msg(LOG_ERROR, "forwarder_request_failed", "backend=%s reference=%s: %s", be->cfg->name,
                job->d.reference, err);
        fwd_hold(job, now_mono);
        return;
    }
    backend_request_set_ctx(job->req, job);
    if (curl_multi_add_handle(fw->multi, backend_request_easy(job->req)) != CURLM_OK) {
        backend_request_free(job->req);
        job->req = NULL;
        fwd_hold(job, now_mono);
        return;
    }
    job->phase = PHASE_SENDING;
    be->running++;
    breaker_started(&be->breaker, now_mono);
    if (kind == JOB_DELIVER) {
        fwd_remember_sent(fw, job->d.id, now_sec);
        atomic_fetch_add(&be->attempted, 1);
    } else
        atomic_fetch_add(&be->polls, 1);
}

static int jobs_of(const struct forwarder *fw, const struct fwd_backend *be)
{
    int n = 0;
    for (const struct fwd_job *j = fw->jobs; j; j = j->next)
        if (j->be == be)
            n++;
    return n;
}

static void start_deliveries(struct forwarder *fw, struct fwd_backend *be, int64_t now_mono)
{
    time_t now_sec = time(NULL);
    if (now_sec < fw->not_before || (!be->dirty && now_mono < be->next_due_check_ms))
        return;
    int slots = (int)be->cfg->concurrency - be->running;
    /* while requests are in flight, look only once a few slots are free (each finished one
     * frees one): one look then starts several deliveries instead of one each (the periodic
     * look still comes; be->dirty stays set meanwhile) */
    int batch = (int)be->cfg->concurrency / CLAIM_BATCH_DIVISOR;
    if (be->running > 0 && slots < batch && now_mono < be->next_due_check_ms)
        return;
    int allowed = breaker_allowance(&be->breaker, now_mono, slots);
    if (allowed <= 0)
        return;
    be->dirty = false;
    be->next_due_check_ms = now_mono + DUE_CHECK_MS;

    int n = jobs_of(fw, be);
    int64_t *exclude = n ? calloc((size_t)n, sizeof *exclude) : NULL;
    if (n && !exclude)
        return;
    size_t used = 0;
    for (const struct fwd_job *j = fw->jobs; j; j = j->next)
        if (j->be == be)
            exclude[used++] = j->d.id;
    struct delivery *list = NULL;
    size_t len = 0;
    int64_t lease_ms = be->cfg->lease_ms ? be->cfg->lease_ms : 2 * be->cfg->timeout_ms;
    enum store_result r = store_deliveries_claim(fw->store, be->cfg->name, fwd_wall_ms(), lease_ms,
                                                 allowed, exclude, used, &list, &len);
    free(exclude);
    if (r != STORE_OK) {
        store_trouble(be, "store_deliveries_claim", r, now_mono);
        return;
    }
    /* fewer than asked for: nothing more is due until a wake-up (new work, a hand retry), a
     * hold ends or the periodic look (in-flight deliveries are left out of the count) */
    be->outbox_more = len >= (size_t)allowed;
    for (size_t i = 0; i < len; i++) {
        /* the breaker may allow only one (the half-open probe) */
        if ((int)i >= allowed || job_exists(fw, list[i].id))
            continue;
        if (sent_this_second(fw, list[i].id, now_sec)) {
            be->dirty = true; /* try it again next second */
            continue;
        }
        bool lookup = !list[i].cancel && resend_lookup_first(be->cfg, be->connector, &list[i]);
        start_job(fw, be, lookup ? JOB_LOOKUP : JOB_DELIVER, &list[i], now_mono, now_sec);
    }
    store_delivery_free(list, len);
}

static void start_polls(struct forwarder *fw, struct fwd_backend *be, int64_t now_mono)
{
    if (!be->connector->build_poll || now_mono < be->next_poll_check_ms)
        return;
    int slots = (int)be->cfg->concurrency - be->running;
    int allowed = breaker_allowance(&be->breaker, now_mono, slots);
    if (allowed <= 0)
        return;
    be->next_poll_check_ms = now_mono + POLL_CHECK_MS;
    struct delivery *list = NULL;
    size_t len = 0;
    /* ask for more than we may start: some may already be in flight */
    enum store_result r = store_polls_due(fw->store, be->cfg->name, fwd_wall_ms(),
                                          allowed + jobs_of(fw, be), &list, &len);
    if (r != STORE_OK) {
        store_trouble(be, "store_polls_due", r, now_mono);
        return;
    }
    int started = 0;
    for (size_t i = 0; i < len && started < allowed; i++) {
        if (job_exists(fw, list[i].id))
            continue;
        bool token = !list[i].backend_reference[0] && list[i].backend_token[0];
        start_job(fw, be, token ? JOB_TOKEN : JOB_POLL, &list[i], now_mono, time(NULL));
        started++;
        /* half-open: the probe is out now */
        if (breaker_allowance(&be->breaker, now_mono, allowed - started) <= 0)
            break;
    }
    store_delivery_free(list, len);
}

/* ---- finishing requests ---- */

static bool refused(int status)
{
    return status >= 400 && status < 500 && status != 401 && status != 408 && status != 429;
}

enum log_level fwd_settle_attempt(struct forwarder *fw, struct fwd_job *job, enum fwd_verdict v,
                                  const char *message, long retry_after_s, int64_t now_mono)
{
    struct fwd_backend *be = job->be;
    struct delivery_outcome *o = &job->outcome;
    int64_t now = fwd_wall_ms();
    int attempt = job->d.attempts + 1;
    int64_t next = 0;
    o->now_ms = now;
    switch (v) {
    case FWD_DELIVERED:
        breaker_success(&be->breaker, now_mono);
        o->kind = OUTCOME_DELIVERED;
        /* the first status poll, for back-ends that are polled */
        o->next_attempt_at_ms = now + (int64_t)be->cfg->poll_interval_s * MS_PER_S;
        atomic_fetch_add(&be->succeeded, 1);
        return LOG_INFO;
    case FWD_REFUSED:
        breaker_success(&be->breaker, now_mono); /* it answered: it is up */
        o->kind = OUTCOME_FAILED;
        snprintf(o->error, sizeof o->error, "%s", message);
        atomic_fetch_add(&be->failed, 1);
        return LOG_WARN;
    case FWD_TRANSIENT:
        breaker_failure(&be->breaker, now_mono);
        if (backoff_next_attempt(&be->policy, attempt, job->d.series_started_at, now, retry_after_s,
                                 fwd_next_random(fw), &next)) {
            o->kind = OUTCOME_RETRY;
            o->next_attempt_at_ms = next;
            snprintf(o->error, sizeof o->error, "%s", message);
            atomic_fetch_add(&be->retried, 1);
            return LOG_INFO;
        }
        o->kind = OUTCOME_FAILED;
        snprintf(o->error, sizeof o->error, "gave up after %d attempts: %.400s", attempt, message);
        atomic_fetch_add(&be->failed, 1);
        return LOG_WARN;
    }
    return LOG_ERROR;
}

static void finish_delivery(struct forwarder *fw, struct fwd_job *job,
                            const struct backend_response *resp, int64_t now_mono)
{
    struct fwd_backend *be = job->be;
    struct delivery_outcome *o = &job->outcome;
    int st = resp->http_status;
    char message[sizeof o->error] = "";
    enum fwd_verdict v = FWD_TRANSIENT;
    if (st >= 200 && st < 300)
        v = FWD_DELIVERED;
    else if (refused(st))
        v = FWD_REFUSED;
    if (v != FWD_DELIVERED && st)
        connector_describe_error(st, resp->body, resp->len, message, sizeof message);
    else if (v != FWD_DELIVERED)
        snprintf(message, sizeof message, "%s", resp->error);
    o->http_status = st;
    enum log_level level = fwd_settle_attempt(fw, job, v, message, resp->retry_after_s, now_mono);
    if (v == FWD_DELIVERED)
        be->connector->parse_accepted(resp->body, resp->len, o->backend_reference,
                                      sizeof o->backend_reference);
    resend_note_attempt(be->cfg, be->connector, job->kind == JOB_LOOKUP, job->curl_code, resp, o);
    if (v == FWD_REFUSED && be->connector == &connector_open311)
        slot_offer_note(be->cfg, job->d.payload, resp->body, resp->len, o->supervisor_note,
                        sizeof o->supervisor_note);
    log_msg(level, "delivery_attempt",
            "backend=%s reference=%s attempt=%d status=%d outcome=%s duration_ms=%.0f%s%s%s%s",
            be->cfg->name, job->d.reference, job->d.attempts + 1, st, fwd_outcome_name(o->kind),
            resp->seconds * 1000.0, o->backend_reference[0] ? " backend_reference=" : "",
            o->backend_reference, o->error[0] ? " error=" : "", o->error);
    fwd_record(fw, job);
}

/* ---- look-ups and tokens (resend_lookup.h) ---- */

/* A look-up before a resend: found, the delivery is delivered; not found, it may be sent
 * again; no usable answer, it counts as a failed attempt (finish_delivery, with the error
 * marked as the look-up's and the outcome still unknown). */
static void finish_lookup(struct forwarder *fw, struct fwd_job *job,
                          const struct backend_response *resp, int64_t now_mono)
{
    struct fwd_backend *be = job->be;
    struct delivery_outcome *o = &job->outcome;
    enum resend_lookup_answer a =
        resend_lookup_read(be->cfg, be->connector, &job->d, resp, fwd_wall_ms(), o);
    if (a == RESEND_NO_ANSWER) {
        struct backend_response unread = *resp;
        if (resp->http_status >= 200 && resp->http_status < 300) {
            unread.http_status = 0; /* a 2xx we cannot read says nothing: not delivered */
            snprintf(unread.error, sizeof unread.error, "HTTP %d answer not understood",
                     resp->http_status);
        }
        finish_delivery(fw, job, &unread, now_mono);
        return;
    }
    breaker_success(&be->breaker, now_mono);
    if (a == RESEND_FOUND)
        atomic_fetch_add(&be->succeeded, 1);
    log_msg(LOG_INFO, "resend_lookup", "backend=%s reference=%s status=%d result=%s%s%s",
            be->cfg->name, job->d.reference, resp->http_status,
            a == RESEND_FOUND ? "found" : "not_found",
            o->backend_reference[0] ? " backend_reference=" : "", o->backend_reference);
    fwd_record(fw, job);
}

/* An Open311 token exchange: the id, or another try later, or a note when the tries are out. */
static void finish_token(struct forwarder *fw, struct fwd_job *job,
                         const struct backend_response *resp, int64_t now_mono)
{
    struct fwd_backend *be = job->be;
    struct delivery_outcome *o = &job->outcome;
    if (resend_token_read(be->cfg, be->connector, &job->d, resp, fwd_wall_ms(), o))
        breaker_success(&be->breaker, now_mono);
    else
        breaker_failure(&be->breaker, now_mono);
    log_msg(o->backend_reference[0] || o->next_attempt_at_ms == 0 ? LOG_INFO : LOG_DEBUG,
            "token_exchange", "backend=%s reference=%s token=%s status=%d try=%d%s%s%s",
            be->cfg->name, job->d.reference, job->d.backend_token, resp->http_status,
            job->d.token_polls + 1, o->backend_reference[0] ? " backend_reference=" : "",
            o->backend_reference,
            o->next_attempt_at_ms == 0 && !o->backend_reference[0] ? " result=gave_up" : "");
    fwd_record(fw, job);
}

static void finish_poll(struct forwarder *fw, struct fwd_job *job,
                        const struct backend_response *resp, int64_t now_mono)
{
    struct fwd_backend *be = job->be;
    struct delivery_outcome *o = &job->outcome;
    int64_t now = fwd_wall_ms();
    int st = resp->http_status;
    o->kind = OUTCOME_POLLED;
    o->http_status = st;
    o->now_ms = now;
    o->next_attempt_at_ms = now + (int64_t)be->cfg->poll_interval_s * MS_PER_S;
    bool closed = false;
    const char *result;
    if (st >= 200 && st < 300) {
        breaker_success(&be->breaker, now_mono);
        if (be->connector->parse_poll(resp->body, resp->len, &closed, o->note, sizeof o->note)) {
            o->completed = closed;
            result = closed ? "closed" : "open";
        } else {
            result = "unreadable";
        }
    } else if (refused(st)) {
        breaker_success(&be->breaker, now_mono);
        connector_describe_error(st, resp->body, resp->len, o->error, sizeof o->error);
        result = "refused";
    } else {
        breaker_failure(&be->breaker, now_mono);
        if (st)
            connector_describe_error(st, resp->body, resp->len, o->error, sizeof o->error);
        else
            snprintf(o->error, sizeof o->error, "%s", resp->error);
        result = "no_answer";
    }
    log_msg(closed ? LOG_INFO : LOG_DEBUG, "status_poll",
            "backend=%s reference=%s backend_reference=%s status=%d result=%s duration_ms=%.0f",
            be->cfg->name, job->d.reference, job->d.backend_reference, st, result,
            resp->seconds * 1000.0);
    fwd_record(fw, job);
}

static void finish_transfers(struct forwarder *fw)
{
    CURLMsg *msg;
    int queued = 0;
    while ((msg = curl_multi_info_read(fw->multi, &queued))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode code = msg->data.result;
        /* an HTTP transfer carries its request; only an SMTP one (none) is looked for among
         * the jobs */
        struct backend_request *req = backend_request_of(easy);
        if (!req && fwd_mail_finish_transfer(fw, easy, code))
            continue;
        struct fwd_job *job = req ? backend_request_ctx(req) : NULL;
        curl_multi_remove_handle(fw->multi, easy);
        if (!job)
            continue;
        int64_t now_mono = fwd_mono_ms();
        struct backend_response resp;
        backend_request_finish(req, code, &resp);
        forget_refused_token(job, resp.http_status);
        job->be->running--;
        /* a slot is free: look again if more may be due */
        job->be->dirty |= job->be->outbox_more || job->kind != JOB_DELIVER;
        job->curl_code = code;
        if (job->kind == JOB_DELIVER)
            finish_delivery(fw, job, &resp, now_mono);
        else if (job->kind == JOB_LOOKUP)
            finish_lookup(fw, job, &resp, now_mono);
        else if (job->kind == JOB_TOKEN)
            finish_token(fw, job, &resp, now_mono);
        else
            finish_poll(fw, job, &resp, now_mono);
        backend_request_free(job->req);
        job->req = NULL;
    }
}

/* ---- the thread ---- */

static void update_gauges(struct forwarder *fw, int64_t now_mono)
{
    for (size_t i = 0; i < fw->backends_len; i++) {
        struct fwd_backend *be = &fw->backends[i];
        enum breaker_state st = breaker_state(&be->breaker, now_mono);
        if (st != be->last_state) {
            log_msg(st == BREAKER_OPEN ? LOG_WARN : LOG_INFO, "breaker",
                    "backend=%s circuit %s -> %s", be->cfg->name,
                    breaker_state_name(be->last_state), breaker_state_name(st));
            be->last_state = st;
        }
        atomic_store(&be->breaker_gauge, (int)st);
        atomic_store(&be->in_flight_gauge, be->running);
    }
}

static int running_total(const struct forwarder *fw)
{
    int n = 0;
    for (size_t i = 0; i < fw->backends_len; i++)
        n += fw->backends[i].running;
    return n;
}

/* Shutdown: abort what is still sending (the deliveries stay pending), then wait for the
 * store to hand back every outcome it holds. */
static void wind_down(struct forwarder *fw)
{
    int aborted = 0;
    for (struct fwd_job **p = &fw->jobs; *p;) {
        struct fwd_job *job = *p;
        if (job->phase == PHASE_SENDING) {
            curl_multi_remove_handle(fw->multi, job->mail ? smtp_request_easy(job->mail)
                                                          : backend_request_easy(job->req));
            job->be->running--;
            aborted++;
            if (job->kind == JOB_DELIVER) { /* it may have reached the back-end: say so */
                resend_note_aborted(&job->outcome, fwd_wall_ms());
                fwd_record(fw, job);
                p = &job->next;
                continue;
            }
            *p = job->next;
            job_free(job);
        } else {
            p = &job->next;
        }
    }
    if (aborted)
        log_msg(LOG_WARN, "forwarder_aborted",
                "%d request(s) still in flight after %d ms were aborted; their deliveries stay "
                "pending, marked as of unknown outcome, and will be resent with the same "
                "idempotency key (looked up first where lookup_before_resend is set)",
                aborted, FORWARD_STOP_GRACE_MS);
    flush_records(fw);

    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += RECORD_WAIT_MS / MS_PER_S;
    pthread_mutex_lock(&fw->lock);
    while (fw->recording > 0) {
        if (pthread_cond_timedwait(&fw->cond, &fw->lock, &deadline) == ETIMEDOUT)
            break;
    }
    if (fw->recording > 0)
        fw->leaked = true;
    pthread_mutex_unlock(&fw->lock);
    if (fw->leaked) {
        log_msg(LOG_ERROR, "forwarder_stop_timeout",
                "the store did not finish recording %ld outcome(s); leaving them", fw->recording);
        return;
    }
    collect_recorded(fw, INT64_MAX);
}

static void *forwarder_main(void *arg)
{
    struct forwarder *fw = arg;
    thread_name_set("forwarder");
    int64_t stop_deadline = 0;
    log_set_request_id("forwarder");
    backend_request_keep_handles(BACKEND_SPARE_HANDLES_MAX);
    for (;;) {
        log_hold(); /* a line per delivery attempt: one write per wait (log_release) */
        int64_t now_mono = fwd_mono_ms();
        collect_recorded(fw, now_mono);
        if (atomic_load(&fw->stopping)) {
            if (!stop_deadline)
                stop_deadline = now_mono + FORWARD_STOP_GRACE_MS;
            if (running_total(fw) == 0 || now_mono >= stop_deadline)
                break;
        } else {
            if (atomic_exchange(&fw->woken, false))
                for (size_t i = 0; i < fw->backends_len; i++)
                    fw->backends[i].dirty = true;
            for (size_t i = 0; i < fw->backends_len; i++) {
                start_deliveries(fw, &fw->backends[i], now_mono);
                start_polls(fw, &fw->backends[i], now_mono);
            }
        }
        int still = 0;
        curl_multi_perform(fw->multi, &still);
        finish_transfers(fw);
        flush_records(fw);
        update_gauges(fw, fwd_mono_ms());
        log_release();
        curl_multi_poll(fw->multi, NULL, 0, LOOP_POLL_MS, NULL);
        log_hold();
        curl_multi_perform(fw->multi, &still);
        finish_transfers(fw);
        flush_records(fw);
    }
    log_release();
    wind_down(fw);
    update_gauges(fw, fwd_mono_ms());
    backend_request_drop_handles(); /* the jobs left are freed on the stopping thread */
    return NULL;
}

static void forwarder_free(struct forwarder *fw)
{
    if (!fw)
        return;
    if (fw->leaked)
        return; /* the store may still call back into it */
    while (fw->jobs) {
        struct fwd_job *job = fw->jobs;
        fw->jobs = job->next;
        job_free(job);
    }
    if (fw->multi)
        curl_multi_cleanup(fw->multi);
    pthread_mutex_destroy(&fw->lock);
    pthread_cond_destroy(&fw->cond);
    free(fw->backends);
    free(fw);
}

struct forwarder *forwarder_start(const struct config *cfg, struct store *store, char *err,
                                  size_t errlen)
{
    backend_request_global_init();
    struct forwarder *fw = calloc(1, sizeof *fw);
    if (!fw) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    fw->cfg = cfg;
    fw->store = store;
    pthread_mutex_init(&fw->lock, NULL);
    pthread_cond_init(&fw->cond, NULL);
    fw->to_record_tail = &fw->to_record;
    atomic_init(&fw->stopping, false);
    atomic_init(&fw->woken, true);
    if (RAND_bytes((unsigned char *)&fw->rng, sizeof fw->rng) != 1 || fw->rng == 0)
        fw->rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ 0x9E3779B97F4A7C15ULL;
    fw->not_before = time(NULL) + 1;
    fw->backends_len = cfg->backends_len;
    fw->backends = calloc(cfg->backends_len ? cfg->backends_len : 1, sizeof *fw->backends);
    if (!fw->backends) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < cfg->backends_len; i++) {
        struct fwd_backend *be = &fw->backends[i];
        be->cfg = &cfg->backends[i];
        be->connector = connector_find(be->cfg->connector);
        be->smtp = transport_smtp_wanted(be->cfg);
        if (be->connector == &connector_email && !be->smtp) {
            snprintf(err, errlen, "back-end %s: connector email needs an smtp(s):// url",
                     be->cfg->name);
            goto fail;
        }
        if (!be->connector) {
            snprintf(err, errlen, "back-end %s: no connector called %s", be->cfg->name,
                     be->cfg->connector);
            goto fail;
        }
        breaker_init(&be->breaker, be->cfg->breaker_failures, be->cfg->breaker_open_s);
        be->policy = (struct backoff_policy){be->cfg->retry_schedule_s, be->cfg->retry_schedule_len,
                                             be->cfg->give_up_after_s};
        be->dirty = true;
        be->last_state = BREAKER_CLOSED;
    }
    fw->multi = curl_multi_init();
    if (!fw->multi) {
        snprintf(err, errlen, "curl_multi_init failed");
        goto fail;
    }
    /* keep as many idle connections as may be busy at once: libcurl's default (4 per transfer
     * on the handle when one ends) closed most of them whenever few were in flight, and the
     * next burst connected again */
    long connections = 0;
    for (size_t i = 0; i < cfg->backends_len; i++)
        connections += (long)cfg->backends[i].concurrency;
    if (connections > 0)
        curl_multi_setopt(fw->multi, CURLMOPT_MAXCONNECTS, connections);
    int rc = pthread_create(&fw->thread, NULL, forwarder_main, fw);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the forwarder thread: %s", strerror(rc));
        goto fail;
    }
    return fw;
fail:
    forwarder_free(fw);
    return NULL;
}

void forwarder_set_documents(struct forwarder *fw, const struct documents *docs)
{
    atomic_store(&fw->documents, docs);
}

void forwarder_wake(struct forwarder *fw)
{
    if (!fw)
        return;
    /* one wake-up while one is pending: the loop clears woken before it looks at the
     * outbox, so whatever was committed before this call is seen */
    if (!atomic_exchange(&fw->woken, true))
        curl_multi_wakeup(fw->multi);
}

void forwarder_stop(struct forwarder *fw)
{
    if (!fw)
        return;
    atomic_store(&fw->stopping, true);
    curl_multi_wakeup(fw->multi);
    pthread_join(fw->thread, NULL);
    forwarder_free(fw);
}
