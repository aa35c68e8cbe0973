/* app: everything a request handler may use, built once by main and shared read-only. */
#ifndef ONESTOP_APP_H
#define ONESTOP_APP_H

#include <stdatomic.h>
#include <time.h>

struct config;
struct store;
struct metrics;
struct signin_limiter;
struct forwarder;
struct lookup;
struct spooler;
struct rate_limiter;
struct audit_sampler;
struct documents;

struct app {
    struct config *cfg;
    struct store *store;
    struct metrics *metrics;
    struct signin_limiter *signin_limiter;
    struct rate_limiter *status_limiter;
    struct rate_limiter *read_limiter;   /* transaction reads per staff member */
    struct audit_sampler *audit_sampler; /* repeatable events into the audit trail */
    struct forwarder *forwarder;
    struct lookup *lookup;
    struct spooler *spooler;
    struct documents *documents; /* uploaded documents: their folder and data key */
    time_t started_at;
    /* Called after a write that gives the workers something to do (a committed transaction,
     * a retry, a reprint); wakes the forwarder and the print spooler. May be NULL. */
    void (*wake_workers)(struct app *app);
};

static inline void app_wake_workers(struct app *app)
{
    if (app->wake_workers)
        app->wake_workers(app);
}

#endif
