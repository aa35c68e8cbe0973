/* forward_private: what the forwarder's files share (forward.c the thread, jobs and HTTP;
 * forward_mail.c the SMTP transport; forward_metrics.c the metrics). Not for other modules. */
#ifndef ONESTOP_FORWARD_PRIVATE_H
#define ONESTOP_FORWARD_PRIVATE_H

#include "gateway/delivery/backoff.h"
#include "gateway/delivery/breaker.h"
#include "gateway/delivery/forward.h"
#include "gateway/log.h"
#include "gateway/store.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct backend_request;
struct connector;
struct smtp_request;

#define LOOP_POLL_MS  200 /* longest sleep between looks at the outbox */
#define DUE_CHECK_MS  250 /* look at a back-end's outbox at least this often */
#define POLL_CHECK_MS 500 /* look for due status polls this often */
#define CLAIM_BATCH_DIVISOR                                                                        \
    4                             /* under load, look for due deliveries once this share of a      \
                                     back-end's slots is free (see start_deliveries) */
#define RECORD_HOLD_MS      2000  /* keep a delivery out of play after a failed record */
#define RECORD_WAIT_MS      15000 /* at shutdown, wait this long for the store's records */
#define STORE_ERROR_LOG_MS  60000 /* at most one store-failure line per back-end per minute */
#define RECENT_ATTEMPTS_MAX 8192  /* sends in one second remembered against replays */
#define RECENT_SLOTS_BITS   15    /* the table that holds them: a quarter full at most */
#define RECENT_SLOTS        ((size_t)1 << RECENT_SLOTS_BITS)
#define MS_PER_S            1000

enum job_kind {
    JOB_DELIVER,
    JOB_POLL,
    JOB_TOKEN,  /* exchange an Open311 token for the back-end's id */
    JOB_LOOKUP, /* ask the back-end for our reference before resending */
};
enum job_phase { PHASE_SENDING, PHASE_RECORDING, PHASE_HOLD };

struct fwd_backend {
    const struct backend_config *cfg;
    const struct connector *connector;
    struct breaker breaker;
    struct backoff_policy policy;
    int running;               /* requests on the multi handle */
    bool dirty;                /* look at the outbox at the next turn */
    bool outbox_more;          /* the last look found all the due deliveries it asked for */
    int64_t next_due_check_ms; /* monotonic */
    int64_t next_poll_check_ms;
    int64_t last_store_error_log_ms;
    enum breaker_state last_state;
    bool smtp; /* transport: SMTP (email back-ends) instead of HTTP; see "transports" below */
    /* metrics */
    atomic_ulong attempted, succeeded, failed, retried, polls;
    atomic_int breaker_gauge, in_flight_gauge;
};

struct fwd_job {
    struct fwd_job *next;          /* in forwarder.jobs (forwarder thread only) */
    struct fwd_job *recorded_next; /* in forwarder.recorded (under lock) */
    struct forwarder *fw;
    struct fwd_backend *be;
    enum job_kind kind;
    enum job_phase phase;
    struct delivery d;
    struct backend_request *req;
    struct smtp_request *mail; /* instead of req on SMTP back-ends */
    char *access_token;        /* auth oauth2-jwt: the token the request carries (malloc'd) */
    struct delivery_outcome outcome;
    enum store_result record_result;
    bool in_batch;         /* its outcome went with others (the batch wakes the loop once) */
    int64_t hold_until_ms; /* monotonic */
    CURLcode curl_code;    /* how the transfer ended */
};

struct recent_attempt {
    int64_t delivery_id;
    time_t second;
};

struct forwarder {
    const struct config *cfg;
    struct store *store;
    struct fwd_backend *backends;
    size_t backends_len;
    CURLM *multi;
    pthread_t thread;
    atomic_bool stopping;
    atomic_bool woken;
    struct fwd_job *jobs; /* forwarder thread only */
    uint64_t rng;
    pthread_mutex_t lock; /* guards recorded, recording; also held around curl_multi_wakeup */
    pthread_cond_t cond;
    struct fwd_job *recorded;
    long recording;
    /* outcomes of this turn, handed to the store as one batch at its end (forwarder thread) */
    struct delivery_outcome *to_record, **to_record_tail;
    long to_record_len;
    bool leaked;       /* records never came back at shutdown: keep memory rather than risk it */
    time_t not_before; /* no delivery is sent before this second (see the replay note) */
    /* the deliveries sent in recent_second (an open-addressing table; a slot holding another
     * second is free) and how many */
    struct recent_attempt recent[RECENT_SLOTS];
    time_t recent_second;
    size_t recent_len;
    _Atomic(const struct documents *) documents; /* sealed documents (multipart deliveries) */
};

/* What an attempt's answer means, whatever the transport. */
enum fwd_verdict {
    FWD_DELIVERED, /* the back-end took it */
    FWD_REFUSED,   /* it answered no: a dead letter with its words */
    FWD_TRANSIENT, /* no answer, or not now: retried at the backoff time until the deadline */
};

int64_t fwd_wall_ms(void);
int64_t fwd_mono_ms(void);
uint64_t fwd_next_random(struct forwarder *fw);
const char *fwd_outcome_name(enum delivery_outcome_kind kind);
/* Remembers that this delivery was sent in this second (see the replay note in forward.c). */
void fwd_remember_sent(struct forwarder *fw, int64_t delivery_id, time_t second);
/* Queues the job's outcome for the store (sent with the rest of this turn's at its end); the
 * job comes back through on_recorded. */
void fwd_record(struct forwarder *fw, struct fwd_job *job);
/* Keeps a delivery out of play for RECORD_HOLD_MS (it stays pending in the store). */
void fwd_hold(struct fwd_job *job, int64_t now_mono);
/* A request that cannot be built: a delivery is a dead letter, a poll waits for the next. */
void fwd_fail_unbuildable(struct forwarder *fw, struct fwd_job *job, const char *err);
/* Applies an attempt's verdict to the job's outcome, its back-end's breaker and counters:
 * delivered (the first poll scheduled), refused (dead letter with message), or transient
 * (retry at the backoff time counted from the series start, or a dead letter once the
 * deadline has passed). Returns the level to log the attempt at. */
enum log_level fwd_settle_attempt(struct forwarder *fw, struct fwd_job *job, enum fwd_verdict v,
                                  const char *message, long retry_after_s, int64_t now_mono);

/* forward_mail.c: starts an e-mail job's SMTP transfer; true (and the job finished and
 * recorded) when easy was an SMTP job's transfer. */
void fwd_mail_start(struct forwarder *fw, struct fwd_job *job, int64_t now_mono, time_t now_sec);
bool fwd_mail_finish_transfer(struct forwarder *fw, CURL *easy, CURLcode code);

#endif
