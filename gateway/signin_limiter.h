/* signin_limiter: slows repeated failed sign-ins, per username and per client address.
 *
 * After max_failures failures within the window, further attempts for that username (or
 * from that address) are refused for lockout_s seconds, doubling with each further failure up
 * to lockout_max_s. A successful sign-in clears the username's record. Kept in memory: a
 * restart forgives, which is acceptable for one gateway node and keeps sign-in off the disk. */
#ifndef ONESTOP_SIGNIN_LIMITER_H
#define ONESTOP_SIGNIN_LIMITER_H

#include <stdbool.h>
#include <time.h>

struct signin_limiter;

struct signin_limits {
    long max_failures_per_user;
    long max_failures_per_address;
    long window_s;
    long lockout_s;
    long lockout_max_s;
};

struct signin_limiter *signin_limiter_new(const struct signin_limits *limits);
void signin_limiter_free(struct signin_limiter *limiter);
/* 0 when an attempt may go ahead, else the seconds to wait (for Retry-After). */
long signin_limiter_check(struct signin_limiter *limiter, const char *username, const char *address,
                          time_t now);
void signin_limiter_failed(struct signin_limiter *limiter, const char *username,
                           const char *address, time_t now);
void signin_limiter_succeeded(struct signin_limiter *limiter, const char *username);

#endif
