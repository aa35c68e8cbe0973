/* notify_sender: sends receipt copies to Notify exactly once; see notify_sender.h. */
#include "gateway/delivery/notify_sender.h"

#include "gateway/config.h"
#include "gateway/delivery/backoff.h"
#include "gateway/delivery/connector_notify.h"
#include "gateway/delivery/notify_jwt.h"
#include "gateway/delivery/resend_lookup.h"
#include "gateway/log.h"
#include "gateway/store/copies.h"
#include "gateway/thread_name.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SENDER_LOOK_MS     250         /* look for due copies this often */
#define ANSWER_MAX         (64 * 1024) /* bytes of Notify's answer we read */
#define AUTH_HEADER_MAX    (NOTIFY_JWT_MAX + 32)
#define URL_MAX            1024
#define CONNECT_TIMEOUT_MS 3000L
#define STORE_RETRY_MS     2000

/* Quick at first, then minutes: copies are wanted while the resident is at the counter. */
static const long retry_schedule_s[] = {1, 1, 2, 5, 15, 30, 60, 300, 900};

struct notify_sender {
    const struct config *cfg;
    struct store *store;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool woken;
    atomic_bool stopping;
    struct backoff_policy policy;
    bool store_trouble; /* a record failed in this batch: pause before the next look */
};

struct answer {
    char *body;
    size_t len;
    bool over;
};

struct exchange {
    CURLcode code;
    int status;
    long retry_after_s;
    struct answer answer;
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t random64(void)
{
    uint64_t r = 0;
    if (RAND_bytes((unsigned char *)&r, sizeof r) != 1)
        r = (uint64_t)wall_ms();
    return r;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct answer *a = userdata;
    size_t n = size * nmemb;
    if (a->len + n > ANSWER_MAX) {
        a->over = true;
        return 0; /* an answer past our cap: cut, counted as an unknown outcome */
    }
    char *grown = realloc(a->body, a->len + n + 1);
    if (!grown)
        return 0;
    memcpy(grown + a->len, ptr, n);
    a->body = grown;
    a->len += n;
    a->body[a->len] = '\0';
    return n;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
    struct exchange *x = userdata;
    size_t n = size * nitems;
    static const char name[] = "retry-after:";
    if (n > sizeof name && strncasecmp(buf, name, sizeof name - 1) == 0) {
        char value[64];
        size_t vlen = n - (sizeof name - 1);
        if (vlen >= sizeof value)
            vlen = sizeof value - 1;
        memcpy(value, buf + sizeof name - 1, vlen);
        value[vlen] = '\0';
        char *v = value;
        while (*v == ' ')
            v++;
        v[strcspn(v, "\r\n")] = '\0';
        long s;
        if (backoff_parse_retry_after(v, time(NULL), &s))
            x->retry_after_s = s;
    }
    return n;
}

/* One HTTP exchange with Notify, with a fresh JWT. */
static void notify_exchange(const struct notify_sender *ns, const struct connector_request *rq,
                            struct exchange *x)
{
    memset(x, 0, sizeof *x);
    x->retry_after_s = -1;
    const struct notify_config *nc = &ns->cfg->notify;
    char jwt[NOTIFY_JWT_MAX], auth[AUTH_HEADER_MAX], url[URL_MAX];
    if (!notify_jwt_make(nc->api_key.bytes, nc->api_key.len, time(NULL), jwt)) {
        x->code = CURLE_LOGIN_DENIED; /* nothing was sent */
        return;
    }
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", jwt);
    size_t base = strlen(nc->url);
    while (base > 0 && nc->url[base - 1] == '/')
        base--;
    snprintf(url, sizeof url, "%.*s%s", (int)base, nc->url, rq->path);
    struct curl_slist *headers = curl_slist_append(NULL, auth);
    struct curl_slist *h = headers ? curl_slist_append(headers, "Accept: application/json") : NULL;
    if (h && rq->content_type)
        h = curl_slist_append(h, "Content-Type: application/json");
    CURL *e = h ? curl_easy_init() : NULL;
    if (!e) {
        curl_slist_free_all(headers);
        x->code = CURLE_OUT_OF_MEMORY;
        return;
    }
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, nc->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &x->answer);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (rq->body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, rq->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)rq->body_len);
    }
    x->code = curl_easy_perform(e);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    x->status = x->code == CURLE_OK || x->code == CURLE_WRITE_ERROR ? (int)status : 0;
    if (x->answer.over)
        x->code = CURLE_PARTIAL_FILE;
    curl_easy_cleanup(e);
    curl_slist_free_all(headers);
}

static void exchange_clear(struct exchange *x)
{
    free(x->answer.body);
    x->answer.body = NULL;
}

#define CONTACT_REMOVED "(removed once sent)"

/* Records an outcome. A copy that leaves `pending` (sent, or failed for good) has no more use
 * for the contact: its payload is stored masked in the same move. */
static void record(struct notify_sender *ns, const struct receipt_copy *c,
                   const struct copy_outcome *o)
{
    struct copy_outcome final = *o;
    char *masked = NULL;
    if ((o->kind == COPY_OUTCOME_SENT || o->kind == COPY_OUTCOME_FAILED) && !o->masked_payload) {
        masked = notify_payload_masked(c->payload, CONTACT_REMOVED);
        final.masked_payload = masked ? masked : "{}";
    }
    enum store_result r = store_copy_record(ns->store, &final);
    free(masked);
    if (r != STORE_OK && r != STORE_CONFLICT)
        ns->store_trouble = true;
    if (r != STORE_OK && r != STORE_CONFLICT)
        log_msg(LOG_WARN, "receipt_copy_unrecorded",
                "copy %lld: its outcome could not be stored (%d); it will be looked up before "
                "any resend",
                (long long)o->id, (int)r);
}

/* A failed attempt: retried at the backoff time, or failed past the deadline. */
static void settle_retry(struct notify_sender *ns, const struct receipt_copy *c, const char *error,
                         int status, bool unknown, long retry_after_s)
{
    int64_t now_ms = wall_ms();
    struct copy_outcome o = {.id = c->id,
                             .error = error,
                             .http_status = status,
                             .outcome_unknown = unknown,
                             .now = time(NULL)};
    if (backoff_next_attempt(&ns->policy, (int)c->attempts + 1, c->created_at, now_ms,
                             retry_after_s, random64(), &o.next_attempt_at_ms)) {
        o.kind = COPY_OUTCOME_RETRY;
        log_msg(LOG_INFO, "receipt_copy_retry", "copy %lld of %s: %s; trying again",
                (long long)c->id, c->reference, error);
    } else {
        o.kind = COPY_OUTCOME_FAILED;
        log_msg(LOG_WARN, "receipt_copy_failed", "copy %lld of %s given up: %s", (long long)c->id,
                c->reference, error);
    }
    record(ns, c, &o);
}

static void describe_transfer(const struct exchange *x, char *out, size_t outlen)
{
    if (x->status)
        notify_describe_error(x->status, x->answer.body, x->answer.len, out, outlen);
    else
        snprintf(out, outlen, "no answer from Notify: %s", curl_easy_strerror(x->code));
}

static void mark_sent(struct notify_sender *ns, const struct receipt_copy *c, const char *id,
                      const char *note)
{
    /* the masked form shown to staff is kept in its own column; the payload keeps only a
     * placeholder once Notify has the message (record) */
    struct copy_outcome o = {.id = c->id,
                             .kind = COPY_OUTCOME_SENT,
                             .notification_id = id && *id ? id : NULL,
                             .note = note,
                             .http_status = 0,
                             .now = time(NULL)};
    log_msg(LOG_INFO, "receipt_copy_sent", "copy %lld of %s by %s accepted by Notify (%s)%s",
            (long long)c->id, c->reference, c->channel, id && *id ? id : "no id",
            note ? "; found by look-up, not sent again" : "");
    record(ns, c, &o);
}

/* Asks Notify whether an attempt with an unknown outcome was accepted. True when the copy may
 * be sent now (nothing found); false when it is settled or must wait. */
static bool lookup_first(struct notify_sender *ns, const struct receipt_copy *c)
{
    struct connector_request rq;
    if (!notify_build_lookup(c->notify_reference, &rq)) {
        settle_retry(ns, c, "look-up before resend: the reference does not fit", 0, true, -1);
        return false;
    }
    struct exchange x;
    notify_exchange(ns, &rq, &x);
    connector_request_clear(&rq);
    bool found = false, send = false;
    char id[COPY_ID_MAX];
    if (x.code == CURLE_OK && x.status >= 200 && x.status < 300 &&
        notify_parse_lookup(x.answer.body, x.answer.len, c->notify_reference, &found, id,
                            sizeof id)) {
        if (found) {
            mark_sent(ns, c, id, "Found at Notify after an unknown outcome: not sent again.");
        } else {
            struct copy_outcome o = {.id = c->id,
                                     .kind = COPY_OUTCOME_NOT_FOUND,
                                     .next_attempt_at_ms = wall_ms(),
                                     .now = time(NULL)};
            enum store_result rr = store_copy_record(ns->store, &o);
            send = rr == STORE_OK;
            ns->store_trouble |= rr != STORE_OK && rr != STORE_CONFLICT;
        }
    } else {
        char why[COPY_ERROR_MAX], error[COPY_ERROR_MAX + 32];
        describe_transfer(&x, why, sizeof why);
        snprintf(error, sizeof error, "look-up before resend: %s", why);
        settle_retry(ns, c, error, x.status, true, x.retry_after_s);
    }
    exchange_clear(&x);
    return send;
}

static void send_copy(struct notify_sender *ns, const struct receipt_copy *c)
{
    if (c->outcome_unknown && !lookup_first(ns, c))
        return;
    /* marked before it goes: a crash while it is in flight leaves it to be looked up */
    struct copy_outcome sending = {.id = c->id, .kind = COPY_OUTCOME_SENDING, .now = time(NULL)};
    enum store_result marked = store_copy_record(ns->store, &sending);
    if (marked != STORE_OK) {
        ns->store_trouble |= marked != STORE_CONFLICT;
        if (marked != STORE_CONFLICT) /* a conflict: it left pending meanwhile */
            log_msg(LOG_WARN, "receipt_copy_unmarked",
                    "copy %lld of %s not sent: the store could not mark it", (long long)c->id,
                    c->reference);
        return;
    }
    struct connector_request rq;
    if (!notify_build_send(c->channel, c->payload, &rq)) {
        struct copy_outcome o = {.id = c->id,
                                 .kind = COPY_OUTCOME_FAILED,
                                 .error = "The stored copy cannot be sent (unknown channel).",
                                 .now = time(NULL)};
        record(ns, c, &o);
        return;
    }
    struct exchange x;
    notify_exchange(ns, &rq, &x);
    connector_request_clear(&rq);
    char error[COPY_ERROR_MAX];
    if (x.status >= 200 && x.status < 300 && x.code == CURLE_OK) {
        char id[COPY_ID_MAX];
        notify_parse_accepted(x.answer.body, x.answer.len, id, sizeof id);
        mark_sent(ns, c, id, NULL);
    } else if (x.status >= 200 && x.status < 300) {
        /* accepted, then the answer was cut: Notify has it; never send again */
        mark_sent(ns, c, NULL, NULL);
    } else if (x.code == CURLE_LOGIN_DENIED && !x.status) {
        struct copy_outcome o = {.id = c->id,
                                 .kind = COPY_OUTCOME_FAILED,
                                 .error = "The Notify API key in the configuration is not usable.",
                                 .now = time(NULL)};
        record(ns, c, &o);
    } else if (x.status == 429 || x.status == 408 || x.status >= 500 || x.status == 0) {
        describe_transfer(&x, error, sizeof error);
        bool unknown = resend_outcome_unknown(x.code, x.status);
        settle_retry(ns, c, error, x.status, unknown, x.retry_after_s);
    } else {
        describe_transfer(&x, error, sizeof error);
        struct copy_outcome o = {.id = c->id,
                                 .kind = COPY_OUTCOME_FAILED,
                                 .error = error,
                                 .http_status = x.status,
                                 .now = time(NULL)};
        log_msg(LOG_WARN, "receipt_copy_refused", "copy %lld of %s refused by Notify: %s",
                (long long)c->id, c->reference, error);
        record(ns, c, &o);
    }
    exchange_clear(&x);
}

static void wait_a_while(struct notify_sender *ns, int ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_nsec += (long)ms * 1000000L;
    deadline.tv_sec += deadline.tv_nsec / 1000000000L;
    deadline.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&ns->lock);
    while (!ns->woken && !atomic_load(&ns->stopping))
        if (pthread_cond_timedwait(&ns->cond, &ns->lock, &deadline) == ETIMEDOUT)
            break;
    ns->woken = false;
    pthread_mutex_unlock(&ns->lock);
}

static void *sender_main(void *arg)
{
    struct notify_sender *ns = arg;
    thread_name_set("notify-sender");
    while (!atomic_load(&ns->stopping)) {
        struct receipt_copy *due = NULL;
        size_t n = 0;
        enum store_result r = store_copies_due(ns->store, wall_ms(), COPIES_DUE_MAX, &due, &n);
        if (r != STORE_OK) {
            log_msg(LOG_WARN, "receipt_copies_unreadable", "the copy outbox could not be read");
            wait_a_while(ns, STORE_RETRY_MS);
            continue;
        }
        for (size_t i = 0; i < n && !atomic_load(&ns->stopping); i++)
            send_copy(ns, &due[i]);
        store_copies_free(due, n);
        if (ns->store_trouble) /* the copies stay due; do not spin on a failing store */
            wait_a_while(ns, STORE_RETRY_MS);
        else if (n == 0)
            wait_a_while(ns, SENDER_LOOK_MS);
        ns->store_trouble = false;
    }
    return NULL;
}

struct notify_sender *notify_sender_start(const struct config *cfg, struct store *store)
{
    if (!cfg->notify.url)
        return NULL;
    struct notify_sender *ns = calloc(1, sizeof *ns);
    if (!ns)
        return NULL;
    ns->cfg = cfg;
    ns->store = store;
    ns->policy =
        (struct backoff_policy){.schedule = retry_schedule_s,
                                .len = sizeof retry_schedule_s / sizeof retry_schedule_s[0],
                                .give_up_after_s = cfg->notify.give_up_after_s};
    pthread_mutex_init(&ns->lock, NULL);
    pthread_cond_init(&ns->cond, NULL);
    if (pthread_create(&ns->thread, NULL, sender_main, ns) != 0) {
        log_msg(LOG_ERROR, "notify_sender_start_failed", "could not start the copy sender");
        pthread_mutex_destroy(&ns->lock);
        pthread_cond_destroy(&ns->cond);
        free(ns);
        return NULL;
    }
    return ns;
}

void notify_sender_wake(struct notify_sender *ns)
{
    if (!ns)
        return;
    pthread_mutex_lock(&ns->lock);
    ns->woken = true;
    pthread_cond_signal(&ns->cond);
    pthread_mutex_unlock(&ns->lock);
}

void notify_sender_stop(struct notify_sender *ns)
{
    if (!ns)
        return;
    atomic_store(&ns->stopping, true);
    notify_sender_wake(ns);
    pthread_join(ns->thread, NULL);
    pthread_mutex_destroy(&ns->lock);
    pthread_cond_destroy(&ns->cond);
    free(ns);
}
