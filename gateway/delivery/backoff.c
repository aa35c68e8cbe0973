/* backoff: full-jitter retry delays, the give-up deadline, and Retry-After parsing.
 * See backoff.h for the rules. */
#include "gateway/delivery/backoff.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define MS_PER_S            1000
#define RETRY_AFTER_MAX_LEN 64

int64_t backoff_delay_ms(const long *schedule, size_t len, int retry, long retry_after_s,
                         uint64_t random)
{
    int64_t cap_ms = 0;
    if (len > 0 && schedule) {
        size_t n = retry < 0 ? 0 : (size_t)retry;
        if (n >= len)
            n = len - 1;
        long s = schedule[n] < 0 ? 0 : schedule[n];
        cap_ms = (int64_t)s * MS_PER_S;
    }
    /* uniform in [0, cap_ms] */
    int64_t delay = cap_ms > 0 ? (int64_t)(random % ((uint64_t)cap_ms + 1)) : 0;
    if (delay < BACKOFF_FLOOR_MS)
        delay = BACKOFF_FLOOR_MS;
    if (retry_after_s >= 0) {
        long ra =
            retry_after_s > BACKOFF_RETRY_AFTER_MAX_S ? BACKOFF_RETRY_AFTER_MAX_S : retry_after_s;
        if ((int64_t)ra * MS_PER_S > delay)
            delay = (int64_t)ra * MS_PER_S;
    }
    return delay;
}

bool backoff_next_attempt(const struct backoff_policy *policy, int attempts,
                          time_t series_started_at, int64_t now_ms, long retry_after_s,
                          uint64_t random, int64_t *next_ms)
{
    int64_t deadline_ms = ((int64_t)series_started_at + policy->give_up_after_s) * MS_PER_S;
    if (now_ms >= deadline_ms)
        return false;
    int64_t next = now_ms + backoff_delay_ms(policy->schedule, policy->len, attempts - 1,
                                             retry_after_s, random);
    /* The last attempt is made at the deadline itself, but never sooner than the floor. */
    if (next > deadline_ms)
        next = deadline_ms > now_ms + BACKOFF_FLOOR_MS ? deadline_ms : now_ms + BACKOFF_FLOOR_MS;
    *next_ms = next;
    return true;
}

bool backoff_parse_retry_after(const char *value, time_t now, long *seconds)
{
    if (!value)
        return false;
    char buf[RETRY_AFTER_MAX_LEN];
    while (*value == ' ' || *value == '\t')
        value++;
    size_t n = strlen(value);
    while (n > 0 && isspace((unsigned char)value[n - 1]))
        n--;
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, value, n);
    buf[n] = '\0';

    bool digits = true;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)buf[i]))
            digits = false;
    if (digits) {
        errno = 0;
        char *end = NULL;
        long long v = strtoll(buf, &end, 10);
        if (errno != 0 || *end != '\0' || v < 0)
            return false;
        *seconds = v > LONG_MAX ? LONG_MAX : (long)v;
        return true;
    }
    time_t when = curl_getdate(buf, NULL);
    if (when == (time_t)-1)
        return false;
    *seconds = when > now ? (long)(when - now) : 0;
    return true;
}
