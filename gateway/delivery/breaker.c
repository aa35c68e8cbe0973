/* breaker: the circuit breaker state machine (see breaker.h). Every change of state goes
 * through breaker_transition, which refuses moves the diagram does not have. */
#include "gateway/delivery/breaker.h"

#include <assert.h>
#include <stdlib.h>

#define MS_PER_S 1000

static bool transition_allowed(enum breaker_state from, enum breaker_state to)
{
    switch (from) {
    case BREAKER_CLOSED:
        return to == BREAKER_OPEN;
    case BREAKER_OPEN:
        return to == BREAKER_HALF_OPEN || to == BREAKER_CLOSED;
    case BREAKER_HALF_OPEN:
        return to == BREAKER_CLOSED || to == BREAKER_OPEN;
    default:
        abort();
    }
}

static void breaker_transition(struct breaker *b, enum breaker_state to, int64_t now_ms)
{
    if (b->state == to)
        return;
    assert(transition_allowed(b->state, to));
    if (!transition_allowed(b->state, to))
        return;
    b->state = to;
    b->probe_started = false;
    b->failures = 0;
    if (to == BREAKER_OPEN) {
        b->opened_at_ms = now_ms;
        b->opened_count++;
    }
}

void breaker_init(struct breaker *b, long failures, long open_s)
{
    *b = (struct breaker){.state = BREAKER_CLOSED,
                          .threshold = failures > 0 ? failures : 1,
                          .open_ms = (int64_t)(open_s > 0 ? open_s : 1) * MS_PER_S};
}

enum breaker_state breaker_state(struct breaker *b, int64_t now_ms)
{
    if (b->state == BREAKER_OPEN && now_ms - b->opened_at_ms >= b->open_ms)
        breaker_transition(b, BREAKER_HALF_OPEN, now_ms);
    return b->state;
}

int breaker_allowance(struct breaker *b, int64_t now_ms, int wanted)
{
    if (wanted <= 0)
        return 0;
    switch (breaker_state(b, now_ms)) {
    case BREAKER_CLOSED:
        return wanted;
    case BREAKER_HALF_OPEN:
        return b->probe_started ? 0 : 1;
    case BREAKER_OPEN:
        return 0;
    }
    abort();
}

void breaker_started(struct breaker *b, int64_t now_ms)
{
    if (breaker_state(b, now_ms) == BREAKER_HALF_OPEN)
        b->probe_started = true;
}

void breaker_success(struct breaker *b, int64_t now_ms)
{
    (void)breaker_state(b, now_ms);
    breaker_transition(b, BREAKER_CLOSED, now_ms);
    b->failures = 0;
}

void breaker_failure(struct breaker *b, int64_t now_ms)
{
    switch (breaker_state(b, now_ms)) {
    case BREAKER_CLOSED:
        if (++b->failures >= b->threshold)
            breaker_transition(b, BREAKER_OPEN, now_ms);
        break;
    case BREAKER_HALF_OPEN:
        breaker_transition(b, BREAKER_OPEN, now_ms);
        break;
    case BREAKER_OPEN:
        break; /* a request from before it opened: the wait goes on */
    }
}

const char *breaker_state_name(enum breaker_state state)
{
    switch (state) {
    case BREAKER_CLOSED:
        return "closed";
    case BREAKER_OPEN:
        return "open";
    case BREAKER_HALF_OPEN:
        return "half-open";
    }
    return "unknown";
}
