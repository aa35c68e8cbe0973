/* signin_limiter: the rule (fail_record) in one place, applied to records kept in one of two
 * places. In memory: a small fixed-size table, least recently used evicted, so a flood of
 * made-up usernames cannot grow memory. In a shared store: one row per key, changed under its
 * row lock in one write (store_signin_update), so nodes counting at once count every failure;
 * the rows are pruned as the window passes. */
#include "gateway/signin_limiter.h"

#include "gateway/log.h"
#include "gateway/store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIMITER_SLOTS   4096
#define LIMITER_KEY_MAX 96

struct record {
    char key[LIMITER_KEY_MAX]; /* "p:address\nname" or "a:address"; "" when free */
    struct signin_record r;
    time_t last_seen;
};

struct signin_limiter {
    struct signin_limits limits;
    struct store *shared; /* keeps the records; NULL: records[] does */
    pthread_mutex_t lock;
    struct record records[LIMITER_SLOTS];
};

struct signin_limiter *signin_limiter_new(const struct signin_limits *limits, struct store *shared)
{
    struct signin_limiter *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->limits = *limits;
    l->shared = shared;
    pthread_mutex_init(&l->lock, NULL);
    return l;
}

void signin_limiter_free(struct signin_limiter *limiter)
{
    if (limiter) {
        pthread_mutex_destroy(&limiter->lock);
        free(limiter);
    }
}

static struct record *find(struct signin_limiter *l, const char *key, bool create, time_t now)
{
    struct record *victim = NULL; /* a free slot, else the least recently seen */
    for (size_t i = 0; i < LIMITER_SLOTS; i++) {
        struct record *r = &l->records[i];
        if (r->key[0] && strcmp(r->key, key) == 0)
            return r;
        if (!r->key[0]) {
            if (!victim || victim->key[0])
                victim = r;
        } else if (!victim || (victim->key[0] && r->last_seen < victim->last_seen)) {
            victim = r;
        }
    }
    if (!create)
        return NULL;
    memset(victim, 0, sizeof *victim);
    snprintf(victim->key, sizeof victim->key, "%s", key);
    victim->r.window_start = now;
    victim->last_seen = now;
    return victim;
}

static void make_key(char *buf, size_t len, char kind, const char *value)
{
    snprintf(buf, len, "%c:%s", kind, value ? value : "");
}

/* The (username, address) pair's key: the address first, so a long name cannot push it out. */
static void make_pair_key(char *buf, size_t len, const char *username, const char *address)
{
    snprintf(buf, len, "p:%s\n%s", address ? address : "", username ? username : "");
}

long signin_limiter_check(struct signin_limiter *l, const char *username, const char *address,
                          time_t now)
{
    char ku[LIMITER_KEY_MAX], ka[LIMITER_KEY_MAX];
    make_pair_key(ku, sizeof ku, username, address);
    make_key(ka, sizeof ka, 'a', address);
    time_t until = 0;
    if (l->shared) {
        enum store_result r = store_signin_locked_until(l->shared, ku, ka, &until);
        if (r != STORE_OK)
            log_msg(LOG_WARN, "signin_limiter_unreadable",
                    "cannot read the sign-in failures (%d); the attempt goes ahead", (int)r);
    } else {
        pthread_mutex_lock(&l->lock);
        const char *keys[] = {ku, ka};
        for (int i = 0; i < 2; i++) {
            struct record *r = find(l, keys[i], false, now);
            if (r && r->r.locked_until > until)
                until = r->r.locked_until;
        }
        pthread_mutex_unlock(&l->lock);
    }
    return until > now ? (long)(until - now) : 0;
}

/* The rule: one more failure of a record allowed max_failures in the window. */
static void fail_record(const struct signin_limits *limits, struct signin_record *r,
                        long max_failures, time_t now)
{
    if (now - r->window_start > limits->window_s && r->locked_until <= now) {
        r->failures = 0;
        r->window_start = now;
    }
    r->failures++;
    if (r->failures >= max_failures) {
        long lock = limits->lockout_s;
        for (long extra = r->failures - max_failures; extra > 0 && lock < limits->lockout_max_s;
             extra--)
            lock *= 2;
        if (lock > limits->lockout_max_s)
            lock = limits->lockout_max_s;
        r->locked_until = now + lock;
    }
}

struct shared_failure {
    const struct signin_limits *limits;
    long max_failures;
    time_t now;
};

static void fail_shared(struct signin_record *record, void *arg)
{
    const struct shared_failure *f = arg;
    fail_record(f->limits, record, f->max_failures, f->now);
}

static void fail_one(struct signin_limiter *l, const char *key, long max_failures, time_t now)
{
    if (l->shared) {
        struct shared_failure f = {&l->limits, max_failures, now};
        enum store_result r =
            store_signin_update(l->shared, key, now, l->limits.window_s, fail_shared, &f);
        if (r != STORE_OK)
            log_msg(LOG_WARN, "signin_failure_not_counted",
                    "cannot record a failed sign-in (%d); it is not counted", (int)r);
        return;
    }
    struct record *r = find(l, key, true, now);
    fail_record(&l->limits, &r->r, max_failures, now);
    r->last_seen = now;
}

void signin_limiter_failed(struct signin_limiter *l, const char *username, const char *address,
                           time_t now)
{
    char ku[LIMITER_KEY_MAX], ka[LIMITER_KEY_MAX];
    make_pair_key(ku, sizeof ku, username, address);
    make_key(ka, sizeof ka, 'a', address);
    if (!l->shared) /* the store's writes are their own lock */
        pthread_mutex_lock(&l->lock);
    fail_one(l, ku, l->limits.max_failures_per_user, now);
    fail_one(l, ka, l->limits.max_failures_per_address, now);
    if (!l->shared)
        pthread_mutex_unlock(&l->lock);
}

void signin_limiter_succeeded(struct signin_limiter *l, const char *username, const char *address)
{
    char ku[LIMITER_KEY_MAX];
    make_pair_key(ku, sizeof ku, username, address);
    if (l->shared) {
        enum store_result r = store_signin_forget(l->shared, ku);
        if (r != STORE_OK)
            log_msg(LOG_WARN, "signin_failures_not_cleared",
                    "cannot clear the failed sign-ins of a good one (%d)", (int)r);
        return;
    }
    pthread_mutex_lock(&l->lock);
    struct record *r = find(l, ku, false, 0);
    if (r)
        memset(r, 0, sizeof *r);
    pthread_mutex_unlock(&l->lock);
}
