/* housekeeper: the gateway's timed chores; see housekeeper.h.
 *
 * DESIGN: one thread sleeps on a condition variable (monotonic clock) until the next chore
 * is due or it is told to stop. The head is logged only when it moved since it was last
 * logged, so an idle gateway does not fill its log; the purge runs as one store write (it
 * queues behind the counters' sales like any other write). */
#include "gateway/housekeeper.h"

#include "gateway/log.h"
#include "gateway/purge.h"
#include "gateway/store/audit.h"
#include "gateway/thread_name.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HOUSEKEEPER_ACTOR "retention"

struct housekeeper {
    const struct config *cfg;
    struct store *store;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stopping;
    struct audit_head logged; /* the head last logged */
};

static time_t mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

bool housekeeper_log_head(const struct config *cfg, struct store *store, struct audit_head *head)
{
    struct audit_head h = {0};
    if (!cfg->audit.head_key.bytes) {
        log_msg(LOG_WARN, "audit_head_unsigned",
                "audit.head_key_file is not set: the audit chain's head is not signed, so a "
                "rewrite of the whole chain would not be detected");
        return false;
    }
    if (store_audit_head(store, &h) != STORE_OK) {
        log_msg(LOG_ERROR, "audit_head_failed", "cannot read the audit chain's head");
        return false;
    }
    h.at = time(NULL);
    if (!audit_head_sign(&h, cfg->audit.head_key.bytes, cfg->audit.head_key.len)) {
        log_msg(LOG_ERROR, "audit_head_failed", "cannot sign the audit chain's head");
        return false;
    }
    char line[AUDIT_HEAD_LINE_MAX];
    audit_head_format(&h, line, sizeof line);
    log_msg(LOG_INFO, "audit_head", "%s", line);
    if (head)
        *head = h;
    return true;
}

static void head_chore(struct housekeeper *hk)
{
    struct audit_head now = {0};
    if (store_audit_head(hk->store, &now) != STORE_OK ||
        (now.id == hk->logged.id && strcmp(now.hash, hk->logged.hash) == 0))
        return;
    housekeeper_log_head(hk->cfg, hk->store, &hk->logged);
}

static void purge_chore(struct housekeeper *hk)
{
    struct purge_counts c;
    if (purge_run(hk->cfg, hk->store, time(NULL), -1, HOUSEKEEPER_ACTOR, false, &c) != STORE_OK)
        log_msg(LOG_ERROR, "purge_failed",
                "the retention purge could not run; it is tried again "
                "at the next interval");
    else if (c.transactions > 0 || c.keys > 0) {
        char counts[PURGE_COUNTS_TEXT_MAX];
        purge_counts_format(&c, counts, sizeof counts);
        log_msg(LOG_INFO, "purged", "retention purge: %s", counts);
    }
}

static void *housekeeper_main(void *arg)
{
    struct housekeeper *hk = arg;
    thread_name_set("housekeeper");
    log_set_request_id("housekeeper");
    long head_every = hk->cfg->audit.head_interval_s;
    long purge_every = hk->cfg->retention.purge_interval_s;
    time_t next_head = mono_now() + head_every;
    time_t next_purge = purge_every > 0 ? mono_now() + purge_every : 0;
    if (hk->cfg->audit.head_key.bytes)
        housekeeper_log_head(hk->cfg, hk->store, &hk->logged);
    pthread_mutex_lock(&hk->lock);
    while (!hk->stopping) {
        time_t due = next_purge && next_purge < next_head ? next_purge : next_head;
        struct timespec until = {.tv_sec = due};
        int rc = 0;
        while (!hk->stopping && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&hk->cond, &hk->lock, &until);
        if (hk->stopping)
            break;
        pthread_mutex_unlock(&hk->lock);
        time_t now = mono_now();
        if (now >= next_head) {
            if (hk->cfg->audit.head_key.bytes)
                head_chore(hk);
            next_head = now + head_every;
        }
        if (next_purge && now >= next_purge) {
            purge_chore(hk);
            next_purge = mono_now() + purge_every;
        }
        pthread_mutex_lock(&hk->lock);
    }
    pthread_mutex_unlock(&hk->lock);
    return NULL;
}

struct housekeeper *housekeeper_start(const struct config *cfg, struct store *store, char *err,
                                      size_t errlen)
{
    struct housekeeper *hk = calloc(1, sizeof *hk);
    if (!hk) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    hk->cfg = cfg;
    hk->store = store;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&hk->lock, NULL);
    pthread_cond_init(&hk->cond, &attr);
    pthread_condattr_destroy(&attr);
    int rc = pthread_create(&hk->thread, NULL, housekeeper_main, hk);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the housekeeper thread: %s", strerror(rc));
        pthread_cond_destroy(&hk->cond);
        pthread_mutex_destroy(&hk->lock);
        free(hk);
        return NULL;
    }
    if (!cfg->audit.head_key.bytes)
        housekeeper_log_head(cfg, store, NULL); /* warns once */
    return hk;
}

void housekeeper_stop(struct housekeeper *hk)
{
    if (!hk)
        return;
    pthread_mutex_lock(&hk->lock);
    hk->stopping = true;
    pthread_cond_signal(&hk->cond);
    pthread_mutex_unlock(&hk->lock);
    pthread_join(hk->thread, NULL);
    if (hk->cfg->audit.head_key.bytes)
        housekeeper_log_head(hk->cfg, hk->store, NULL);
    pthread_cond_destroy(&hk->cond);
    pthread_mutex_destroy(&hk->lock);
    free(hk);
}
