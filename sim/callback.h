/*
 * Status callbacks from a back-end to the gateway:
 *   POST <callback-url>/api/v1/callbacks/<backend>, signed with the back-end's key,
 *   Idempotency-Key = the event's own fresh id ("evt-" + 32 hex digits).
 * Blocking (libcurl easy interface); call it without the state lock held.
 */
#ifndef ONESTOP_SIM_CALLBACK_H
#define ONESTOP_SIM_CALLBACK_H

#include <stdbool.h>
#include <stddef.h>

#define CALLBACK_PATH         "/api/v1/callbacks/"
#define CALLBACK_TIMEOUT_MS   10000L
#define CALLBACK_CONNECT_MS   5000L
#define CALLBACK_EVENT_ID_LEN 40
#define CALLBACK_URL_MAX      2048

/* POSTs `body` (JSON) for `backend`, signed when key is not NULL. On true, *http_status
 * is the gateway's answer (any status). On false (no connection, timeout), `error`
 * holds a message. event_id (CALLBACK_EVENT_ID_LEN bytes) receives the key used. */
__attribute__((warn_unused_result)) bool callback_send(const char *base_url, const char *backend,
                                                       const unsigned char *key, size_t key_len,
                                                       const char *body, long *http_status,
                                                       char event_id[CALLBACK_EVENT_ID_LEN],
                                                       char *error, size_t error_len);

#endif
