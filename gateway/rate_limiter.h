/* rate_limiter: at most N requests a minute per key (a client address), in a fixed table. */
#ifndef ONESTOP_RATE_LIMITER_H
#define ONESTOP_RATE_LIMITER_H

#include <stdbool.h>
#include <time.h>

struct rate_limiter;

struct rate_limiter *rate_limiter_new(long per_minute);
void rate_limiter_free(struct rate_limiter *limiter);
/* True when this request is within the limit (and counts it). */
bool rate_limiter_allow(struct rate_limiter *limiter, const char *key, time_t now);

#endif
