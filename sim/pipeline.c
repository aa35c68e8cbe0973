/*
 * The request pipeline shared by all back-ends (see pipeline.h for the steps).
 *
 * Everything but the slow-fault wait runs under the state lock, which makes the
 * idempotency check, the back-end's action and the recording one atomic step: two
 * concurrent attempts with the same Idempotency-Key act once. The wait happens before
 * the lock is taken so a slow back-end never holds up the others.
 */
#include "sim/pipeline.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sleep_cond = PTHREAD_COND_INITIALIZER;
static bool shutting_down;

#define IDEMPOTENCY_KEY_MAX 255
#define MS_PER_S            1000
#define NS_PER_MS           1000000L
#define NS_PER_S            1000000000L

bool pipeline_sleep_ms(unsigned ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / MS_PER_S;
    until.tv_nsec += (long)(ms % MS_PER_S) * NS_PER_MS;
    if (until.tv_nsec >= NS_PER_S) {
        until.tv_sec++;
        until.tv_nsec -= NS_PER_S;
    }
    pthread_mutex_lock(&sleep_lock);
    while (!shutting_down) {
        if (pthread_cond_timedwait(&sleep_cond, &sleep_lock, &until) == ETIMEDOUT)
            break;
    }
    bool slept = !shutting_down;
    pthread_mutex_unlock(&sleep_lock);
    return slept;
}

void pipeline_shutdown(void)
{
    pthread_mutex_lock(&sleep_lock);
    shutting_down = true;
    pthread_cond_broadcast(&sleep_cond);
    pthread_mutex_unlock(&sleep_lock);
}

/* A uniform draw in [0,1). */
static double random_draw(void)
{
    uint32_t v = 0;
    if (RAND_bytes((unsigned char *)&v, sizeof v) != 1)
        v = (uint32_t)rand();
    return (double)v / 4294967296.0;
}

static void set_reply_text(sim_reply *reply, unsigned status, const char *body)
{
    free(reply->body);
    reply->status = status;
    reply->body = body ? strdup(body) : NULL;
}

/* 1..IDEMPOTENCY_KEY_MAX printable ASCII characters, no spaces. */
static bool idempotency_key_valid(const char *key)
{
    size_t n = strlen(key);
    if (n == 0 || n > IDEMPOTENCY_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (key[i] < '!' || key[i] > '~')
            return false;
    return true;
}

/* Step 2. True when the request may go on; *cfg is the back-end's configuration as it was
 * and *after what to do once the back-end has acted (late, drop, or nothing). */
static bool apply_fault(sim_slot *slot, bool is_read, fault_config *cfg, fault_action *after,
                        sim_reply *reply)
{
    sim_state_lock();
    slot->record.attempts++;
    *cfg = slot->faults;
    bool hit = faults_take(&slot->faults, is_read);
    sim_state_unlock();

    *after = FAULT_ACT_NONE;
    if (!hit)
        return true;
    fault_action action = faults_decide(cfg, random_draw());
    switch (action) {
    case FAULT_ACT_NONE:
        return true;
    case FAULT_ACT_LATE:
    case FAULT_ACT_DROP:
        *after = action;
        return true;
    case FAULT_ACT_DELAY:
        if (pipeline_sleep_ms(cfg->delay_ms))
            return true;
        sim_reply_error(reply, 503, "unavailable", "the simulator is stopping");
        return false;
    case FAULT_ACT_UNAVAILABLE:
        sim_reply_error(reply, 503, "unavailable", "the back-end is down (simulated)");
        reply->retry_after_s = cfg->retry_after_s;
        return false;
    case FAULT_ACT_ERROR:
        sim_reply_error(reply, 500, "internal_error", "the back-end failed (simulated)");
        return false;
    case FAULT_ACT_REJECT:
        sim_reply_error(reply, 422, "rejected", FAULTS_REJECT_MESSAGE);
        return false;
    }
    return true;
}

/* Step 3, lock held. True when the request may go on; *signature_ok says whether a
 * signature was verified. Reads are not checked for replays: replaying a read changes
 * nothing, and two identical reads (same key, empty body) within one second, e.g. two
 * counters looking up one postcode, legitimately carry the same signature. */
static bool check_signature(sim_slot *slot, const pipeline_request *in, bool is_read,
                            const char *signed_body, size_t signed_len, bool *signature_ok,
                            sim_reply *reply)
{
    *signature_ok = false;
    if (!slot->key)
        return true;
    time_t now = time(NULL);
    signature_result r =
        signed_body ? signature_verify(slot->key, slot->key_len, in->timestamp, in->signature,
                                       in->req.idempotency_key, signed_body, signed_len, now)
                    : SIGNATURE_MISMATCH;
    /* A replayed signature is refused unless the request was already accepted: then it is a
     * resend of an acknowledged request (say, by a sender that crashed before recording the
     * answer, and resent within the same second) and gets the stored answer below, which
     * acts on nothing. */
    unsigned ignored_status;
    const char *ignored_first;
    if (r == SIGNATURE_OK && !is_read &&
        replay_cache_seen(&slot->replay, in->signature, strtoll(in->timestamp, NULL, 10), now) &&
        !(in->req.idempotency_key &&
          record_find(&slot->record, in->req.idempotency_key, &ignored_status, &ignored_first)))
        r = SIGNATURE_REPLAY;
    if (r != SIGNATURE_OK) {
        sim_reply_error(reply, 401, "bad_signature", signature_result_name(r));
        return false;
    }
    *signature_ok = true;
    return true;
}

void pipeline_handle(sim_slot *slot, const pipeline_request *in, sim_reply *reply)
{
    bool signature_ok = false;
    bool is_read = strcmp(in->req.method, "GET") == 0 || strcmp(in->req.method, "HEAD") == 0;
    const char *key = in->req.idempotency_key;
    unsigned status = 0;
    const char *first = NULL;
    fault_config cfg;
    fault_action after = FAULT_ACT_NONE;

    if (!apply_fault(slot, is_read, &cfg, &after, reply))
        return;
    /* what the signature covers: the body, or the part of it the back-end names */
    char *part = NULL;
    size_t part_len = 0;
    const char *signed_body = in->req.body;
    size_t signed_len = in->req.body_len;
    if (slot->backend->signed_content && !is_read) {
        signed_body = slot->backend->signed_content(&in->req, &part, &part_len) ? part : NULL;
        signed_len = part_len;
    }

    sim_state_lock();
    if (slot->backend->own_auth)
        goto act;
    if (!check_signature(slot, in, is_read, signed_body, signed_len, &signature_ok, reply))
        goto out;
    if (!is_read && (!key || !*key)) {
        sim_reply_error(reply, 400, "missing_idempotency_key",
                        "Idempotency-Key header is required");
        goto out;
    }
    if (key && *key && !idempotency_key_valid(key)) {
        sim_reply_error(reply, 400, "invalid_idempotency_key",
                        "Idempotency-Key must be 1 to 255 printable ASCII characters");
        goto out;
    }
    if (!is_read && !cfg.ignore_idempotency && record_find(&slot->record, key, &status, &first)) {
        set_reply_text(reply, status, *first ? first : NULL);
        goto out;
    }
act:;
    sim_request req = in->req;
    req.faults = &cfg;
    slot->backend->handle(&req, reply);
    if (reply->status >= 200 && reply->status < 300) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        record_entry e = {
            .method = in->req.method,
            .path = in->path,
            .query = is_read ? in->query_log : NULL,
            .idempotency_key = is_read ? NULL : key,
            .body = reply->record_body ? reply->record_body : in->req.body,
            .body_len = reply->record_body ? strlen(reply->record_body) : in->req.body_len,
            .received_at = now,
            .signature_ok = signature_ok,
            .reference = reply->reference,
            .status = reply->status,
            .response = reply->body,
            .headers = in->headers,
        };
        if (!record_add(&slot->record, &e))
            sim_reply_error(reply, 500, "out_of_memory", "could not record the request");
    }
out:
    sim_state_unlock();
    free(part);
    free(reply->record_body);
    reply->record_body = NULL;
    /* late and drop: the back-end has acted; the client learns nothing in time */
    if (after == FAULT_ACT_DROP)
        reply->drop = true;
    else if (after == FAULT_ACT_LATE && !pipeline_sleep_ms(cfg.delay_ms))
        reply->drop = true; /* stopping: do not keep the server waiting */
}
