/*
 * What happens to a request addressed to a back-end, in order:
 *
 *   1. count the attempt;
 *   2. apply the back-end's fault (503 / 500 / 422 without acting, or a delay; late and
 *      drop act first and then answer late or not at all);
 *   3. check the signature: required when the back-end has a key (401 otherwise),
 *      then refuse a replayed signature on a write (401);
 *   4. a POST needs an Idempotency-Key (400); one already accepted gets its first
 *      answer again and is not recorded again — unless the back-end is set to ignore
 *      idempotency keys, when every POST acts and is recorded;
 *      (a back-end with own_auth skips 3 and 4: it checks its own credentials)
 *   5. hand it to the back-end; a 2xx answer is recorded in the received log.
 *
 * Knows nothing of HTTP libraries: sim/server.c fills a pipeline_request.
 */
#ifndef ONESTOP_SIM_PIPELINE_H
#define ONESTOP_SIM_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>

#include "sim/backend.h"
#include "sim/registry.h"

typedef struct pipeline_request {
    sim_request req;       /* method, subpath, body, content type, key, query */
    const char *path;      /* the whole path, "/parking/permits" */
    const char *query_log; /* decoded query string to record for reads, or NULL */
    const char *timestamp; /* X-Onestop-Timestamp or NULL */
    const char *signature; /* X-Onestop-Signature or NULL */
    const json_t *headers; /* every request header, for the received log; may be NULL */
} pipeline_request;

/* Runs one request through the steps above and fills `reply` (the caller frees
 * reply->body and reply->reference). Takes the state lock itself; may sleep (slow). */
void pipeline_handle(sim_slot *slot, const pipeline_request *in, sim_reply *reply);

/* Sleeps up to `ms` milliseconds; returns early, false, once pipeline_shutdown was
 * called (then the caller must not act). */
__attribute__((warn_unused_result)) bool pipeline_sleep_ms(unsigned ms);

/* Wakes every sleeping request so the server can stop. */
void pipeline_shutdown(void);

#endif
