/* signin_limiter: slows repeated failed sign-ins, per (username, client address) and per
 * client address.
 *
 * After max_failures_per_user failures of one username from one address within the window,
 * further attempts of that username from that address wait lockout_s seconds, doubling with
 * each further failure up to lockout_max_s; after max_failures_per_address failures of any
 * usernames from one address, that address waits the same way. The account itself is never
 * locked: someone guessing a name from one address cannot shut its owner out at her own
 * counter (another address), and one address's failures never slow a user who has not failed
 * from anywhere else. A successful sign-in clears that (username, address) record.
 *
 * Where the records live: one node (SQLite) keeps them in memory (a restart forgives, which is
 * acceptable for one node, and sign-in stays off the disk); several nodes sharing one database
 * (a shared store, store_is_shared) keep them in it (store/signin.h), so the failures made
 * through every node count together and a guesser gets max_failures_per_user tries in all,
 * not that many per node. */
#ifndef ONESTOP_SIGNIN_LIMITER_H
#define ONESTOP_SIGNIN_LIMITER_H

#include <stdbool.h>
#include <time.h>

struct signin_limiter;
struct store;

struct signin_limits {
    long max_failures_per_user;    /* of one username from one address */
    long max_failures_per_address; /* of any usernames from one address */
    long window_s;
    long lockout_s;
    long lockout_max_s;
};

/* shared: the store to keep the records in (a store several nodes share), or NULL to keep
 * them in memory. NULL when out of memory. */
struct signin_limiter *signin_limiter_new(const struct signin_limits *limits, struct store *shared);
void signin_limiter_free(struct signin_limiter *limiter);
/* 0 when an attempt may go ahead, else the seconds to wait (for Retry-After). A shared store
 * that cannot be read now lets the attempt go ahead (logged): the sign-in itself then needs
 * the store, and fails there. */
long signin_limiter_check(struct signin_limiter *limiter, const char *username, const char *address,
                          time_t now);
/* Counts a failure; a shared store that cannot be written is logged (the failure goes
 * uncounted). */
void signin_limiter_failed(struct signin_limiter *limiter, const char *username,
                           const char *address, time_t now);
void signin_limiter_succeeded(struct signin_limiter *limiter, const char *username,
                              const char *address);

#endif
