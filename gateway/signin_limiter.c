/* signin_limiter: a small fixed-size table of failure records, least recently used evicted,
 * so a flood of made-up usernames cannot grow memory. */
#include "gateway/signin_limiter.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIMITER_SLOTS   4096
#define LIMITER_KEY_MAX 96

struct record {
    char key[LIMITER_KEY_MAX]; /* "p:address\nname" or "a:address"; "" when free */
    long failures;
    time_t window_start;
    time_t locked_until;
    time_t last_seen;
};

struct signin_limiter {
    struct signin_limits limits;
    pthread_mutex_t lock;
    struct record records[LIMITER_SLOTS];
};

struct signin_limiter *signin_limiter_new(const struct signin_limits *limits)
{
    struct signin_limiter *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->limits = *limits;
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
    victim->window_start = now;
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
    long wait = 0;
    pthread_mutex_lock(&l->lock);
    const char *keys[] = {ku, ka};
    for (int i = 0; i < 2; i++) {
        struct record *r = find(l, keys[i], false, now);
        if (r && r->locked_until > now && r->locked_until - now > wait)
            wait = (long)(r->locked_until - now);
    }
    pthread_mutex_unlock(&l->lock);
    return wait;
}

static void fail_one(struct signin_limiter *l, const char *key, long max_failures, time_t now)
{
    struct record *r = find(l, key, true, now);
    if (now - r->window_start > l->limits.window_s && r->locked_until <= now) {
        r->failures = 0;
        r->window_start = now;
    }
    r->failures++;
    r->last_seen = now;
    if (r->failures >= max_failures) {
        long lock = l->limits.lockout_s;
        for (long extra = r->failures - max_failures; extra > 0 && lock < l->limits.lockout_max_s;
             extra--)
            lock *= 2;
        if (lock > l->limits.lockout_max_s)
            lock = l->limits.lockout_max_s;
        r->locked_until = now + lock;
    }
}

void signin_limiter_failed(struct signin_limiter *l, const char *username, const char *address,
                           time_t now)
{
    char ku[LIMITER_KEY_MAX], ka[LIMITER_KEY_MAX];
    make_pair_key(ku, sizeof ku, username, address);
    make_key(ka, sizeof ka, 'a', address);
    pthread_mutex_lock(&l->lock);
    fail_one(l, ku, l->limits.max_failures_per_user, now);
    fail_one(l, ka, l->limits.max_failures_per_address, now);
    pthread_mutex_unlock(&l->lock);
}

void signin_limiter_succeeded(struct signin_limiter *l, const char *username, const char *address)
{
    char ku[LIMITER_KEY_MAX];
    make_pair_key(ku, sizeof ku, username, address);
    pthread_mutex_lock(&l->lock);
    struct record *r = find(l, ku, false, 0);
    if (r)
        memset(r, 0, sizeof *r);
    pthread_mutex_unlock(&l->lock);
}
