/* The GOV.UK Notify stand-in (sim/notify.c): the notify back-end and its test controls.
 *
 *   GET  /_sim/notify   -> {"messages","auth_refused","last_auth_error","rate_limit",
 *                           "auto_callback"}
 *   POST /_sim/notify {"rate_limit": N}   the next N sends answer 429 RateLimitError
 *   POST /_sim/notify {"auto_callback": "delivered"|...|null}  every accepted send is
 *        reported on its own ~300 ms later (--notify-auto-callback sets it at start)
 *   POST /_sim/notify/callback {"reference"|"id", "status"}
 *        sends Notify's delivery callback for that notification to
 *        <callback-url>/api/v1/callbacks/notify with the bearer token
 *        -> 200 {"gateway_status"} | 404 | 409 (no --callback-url) | 502 */
#ifndef ONESTOP_SIM_NOTIFY_H
#define ONESTOP_SIM_NOTIFY_H

#include "sim/backend.h"

void notify_control(const sim_request *req, sim_reply *reply);
void notify_control_callback(const sim_request *req, sim_reply *reply, const char *callback_url);

#endif
