/* signin_limiter: slows repeated failed sign-ins, per (username, client address) and per
 * client address.
 *
 * After max_failures_per_user failures of one username from one address within the window,
 * further attempts of that username from that address wait lockout_s seconds, doubling with
 * each further failure up to lockout_max_s; after max_failures_per_address failures of any
 * usernames from one address, that address waits the same way. The account itself is never
 * locked: someone guessing a name from one address cannot shut its owner out at her own
 * counter (another address), and one address's failures never slow a user who has not failed
 * from anywhere else. A successful sign-in clears that (username, address) record. Kept in
 * memory: a restart forgives, which is acceptable for one gateway node and keeps sign-in off
 * the disk. */
#ifndef ONESTOP_SIGNIN_LIMITER_H
#define ONESTOP_SIGNIN_LIMITER_H

#include <stdbool.h>
#include <time.h>

struct signin_limiter;

struct signin_limits {
    long max_failures_per_user;    /* of one username from one address */
    long max_failures_per_address; /* of any usernames from one address */
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
void signin_limiter_succeeded(struct signin_limiter *limiter, const char *username,
                              const char *address);

#endif
