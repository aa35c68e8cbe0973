/* rate_limiter: fixed one-minute windows in a hashed table; a collision shares a window, which
 * can only make the limit stricter for the two keys, never let more through. */
#include "gateway/rate_limiter.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RATE_SLOTS 4096

struct window {
    uint64_t key_hash;
    time_t minute;
    long count;
};

struct rate_limiter {
    long per_minute;
    pthread_mutex_t lock;
    struct window slots[RATE_SLOTS];
};

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

struct rate_limiter *rate_limiter_new(long per_minute)
{
    struct rate_limiter *l = calloc(1, sizeof *l);
    if (l) {
        l->per_minute = per_minute;
        pthread_mutex_init(&l->lock, NULL);
    }
    return l;
}

void rate_limiter_free(struct rate_limiter *limiter)
{
    if (limiter) {
        pthread_mutex_destroy(&limiter->lock);
        free(limiter);
    }
}

bool rate_limiter_allow(struct rate_limiter *l, const char *key, time_t now)
{
    uint64_t h = hash(key);
    time_t minute = now / 60;
    pthread_mutex_lock(&l->lock);
    struct window *w = &l->slots[h % RATE_SLOTS];
    if (w->minute != minute || w->key_hash != h) {
        if (w->minute != minute) {
            w->count = 0;
            w->minute = minute;
        }
        w->key_hash = h;
    }
    bool ok = w->count < l->per_minute;
    if (ok)
        w->count++;
    pthread_mutex_unlock(&l->lock);
    return ok;
}
