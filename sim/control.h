/*
 * The test-only control API under /_sim (loopback):
 *
 *   GET  /_sim/health                          {"ok":true,"backends":[...]}
 *   GET  /_sim/received?backend=NAME[&include_reads=1]
 *   GET  /_sim/faults                          {"NAME":{"mode",...}, ...}
 *   POST /_sim/faults   {"backend","mode","rate","delay_ms","retry_after_s"}
 *   POST /_sim/complete {"backend","reference"}
 *   POST /_sim/reset
 */
#ifndef ONESTOP_SIM_CONTROL_H
#define ONESTOP_SIM_CONTROL_H

#include "sim/backend.h"

/* Where callbacks go (the gateway's base URL); NULL: /_sim/complete cannot call back. */
void control_set_callback_url(const char *url);
/* The --callback-url given, or NULL (set before serving starts; safe to read unlocked). */
const char *control_callback_url(void);

/* Answers a control request; `subpath` is the path after "/_sim". Takes the state lock
 * itself and may block on a callback to the gateway. */
void control_handle(const sim_request *req, sim_reply *reply);

#endif
