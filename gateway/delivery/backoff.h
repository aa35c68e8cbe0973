/* backoff: when to try a delivery again after a failed attempt ("full jitter").
 *
 * Retry n (0 = the retry after the first attempt) waits a uniform random time in
 * [0, schedule[n]] seconds, where the schedule is the back-end's retry_schedule_s and its last
 * entry repeats (config.h). The wait is never below BACKOFF_FLOOR_MS: the back-ends refuse a
 * signature they have seen, and the signature covers a whole-second timestamp, so two attempts
 * of one delivery must be at least a second apart. A back-end's Retry-After wins when it asks
 * for longer (capped at BACKOFF_RETRY_AFTER_MAX_S).
 *
 * A delivery is given up (dead letter) once give_up_after_s have passed since it was created:
 * the last attempt is made at that deadline, and if it fails too the schedule is used up.
 * Pure functions; the caller supplies the random number. */
#ifndef ONESTOP_BACKOFF_H
#define ONESTOP_BACKOFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define BACKOFF_FLOOR_MS          1000
#define BACKOFF_RETRY_AFTER_MAX_S 3600

/* Milliseconds to wait before retry `retry` (>= 0). schedule may be empty (then only the
 * floor applies). retry_after_s < 0 means the back-end gave none. */
int64_t backoff_delay_ms(const long *schedule, size_t len, int retry, long retry_after_s,
                         uint64_t random);

struct backoff_policy {
    const long *schedule; /* seconds */
    size_t len;
    long give_up_after_s;
};

/* After attempt number `attempts` (>= 1) of a delivery whose series of attempts started at
 * series_started_at (its creation, or a hand retry) failed at now_ms:
 * true with the time of the next attempt in *next_ms (never later than the deadline), or
 * false when the deadline has passed and the delivery is to be given up. */
bool backoff_next_attempt(const struct backoff_policy *policy, int attempts,
                          time_t series_started_at, int64_t now_ms, long retry_after_s,
                          uint64_t random, int64_t *next_ms) __attribute__((warn_unused_result));

/* Parses a Retry-After value: delta seconds ("120") or an HTTP date ("Wed, 21 Oct 2015
 * 07:28:00 GMT"), as seconds from now (0 when the date is past). False when it is neither. */
bool backoff_parse_retry_after(const char *value, time_t now, long *seconds)
    __attribute__((warn_unused_result));

#endif
