/* breaker: a circuit breaker per back-end, so a back-end that is down is not hammered.
 *
 *   CLOSED --(breaker_failures consecutive failures)--> OPEN
 *   OPEN --(breaker_open_s passed)--> HALF_OPEN: exactly one request (the probe) may start
 *   HALF_OPEN --probe succeeds--> CLOSED;  --probe fails--> OPEN (the wait starts again)
 *
 * A success in any state closes the circuit (the back-end answered); a failure of a request
 * that started before the circuit opened does not restart the open wait. "Failure" is the
 * caller's judgement (the forwarder: no answer, a timeout, 5xx, 408, 429). Not thread-safe:
 * one thread (the forwarder) owns a breaker; breaker_transition is the one place the state
 * changes. Times are milliseconds on any clock that does not go backwards. */
#ifndef ONESTOP_BREAKER_H
#define ONESTOP_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

enum breaker_state { BREAKER_CLOSED = 0, BREAKER_OPEN = 1, BREAKER_HALF_OPEN = 2 };

struct breaker {
    enum breaker_state state;
    long threshold;  /* consecutive failures that open it */
    int64_t open_ms; /* how long it stays open */
    long failures;   /* consecutive, while closed */
    int64_t opened_at_ms;
    bool probe_started;         /* half-open: the one probe is out */
    unsigned long opened_count; /* times it has opened (for logs and tests) */
};

void breaker_init(struct breaker *b, long failures, long open_s);
/* Current state at now_ms (moves OPEN to HALF_OPEN when the wait is over). */
enum breaker_state breaker_state(struct breaker *b, int64_t now_ms);
/* How many requests may start now: `wanted` when closed, 1 when half-open and the probe is
 * not out yet, else 0. Starts nothing; call breaker_started for each request started. */
int breaker_allowance(struct breaker *b, int64_t now_ms, int wanted);
/* A request started (in half-open it is the probe). */
void breaker_started(struct breaker *b, int64_t now_ms);
/* The outcome of a request. */
void breaker_success(struct breaker *b, int64_t now_ms);
void breaker_failure(struct breaker *b, int64_t now_ms);
const char *breaker_state_name(enum breaker_state state);

#endif
