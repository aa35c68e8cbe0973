/* store/signin: failed sign-ins counted in the database, for several nodes that share it.
 *
 * signin_limiter.c keeps its records here when the store is shared (store_is_shared), so a
 * guesser gets auth.max_failures_per_user tries in all, not that many per node; one node
 * (SQLite) keeps them in memory. A record is keyed by the blind index (pd_blind, under the
 * name "signin") of the limiter's key text, "address" or "address + username": with an index
 * key neither the username nor the address is stored as it is (docs/personal-data.md). */
#ifndef ONESTOP_STORE_SIGNIN_H
#define ONESTOP_STORE_SIGNIN_H

#include "gateway/store/core.h"

#include <time.h>

struct signin_record {
    long failures; /* within the window that began at window_start */
    time_t window_start;
    time_t locked_until; /* attempts wait until then (0: never locked) */
};

/* The latest locked_until of the records of key_a and key_b (0 when neither has one) into
 * *locked_until. Reads only. */
enum store_result store_signin_locked_until(struct store *store, const char *key_a,
                                            const char *key_b,
                                            time_t *locked_until) STORE_MUSTCHECK;

/* Changes key's record: one write transaction reads it (a zero record, window_start now,
 * when there is none) with its row locked against the other nodes, calls update(record, arg),
 * writes it back, and deletes every record last changed window_s ago or earlier whose lockout
 * is over. */
typedef void (*store_signin_update_fn)(struct signin_record *record, void *arg);
enum store_result store_signin_update(struct store *store, const char *key, time_t now,
                                      long window_s, store_signin_update_fn update,
                                      void *arg) STORE_MUSTCHECK;

/* Deletes key's record (a successful sign-in). */
enum store_result store_signin_forget(struct store *store, const char *key) STORE_MUSTCHECK;

#endif
