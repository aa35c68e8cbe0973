/* store/callbacks: the answers given to back-ends' signed callbacks, by event id. */
#ifndef ONESTOP_STORE_CALLBACKS_H
#define ONESTOP_STORE_CALLBACKS_H

#include "gateway/store/core.h"

/* ---- callback events: what a back-end's signed callback was answered, by its event id ----
 * The event id is the callback's Idempotency-Key (or, without one, its signature), kept in the
 * store so that a resend gets the stored answer and a replay is recognised after a restart. */
/* STORE_OK with the stored request hash, status and answer (*response malloc'd, "" for none);
 * STORE_NOT_FOUND for a new event. */
enum store_result store_callback_find(struct store *store, const char *backend,
                                      const char *event_id, char request_hash[65], int *status,
                                      char **response) STORE_MUSTCHECK;
/* Records the answer given, and in the same write deletes every event received more than
 * keep_s seconds ago (they are past the replay window: a keyless replay of one is refused by
 * its timestamp). STORE_CONFLICT when the event was recorded meanwhile. */
enum store_result store_callback_record(struct store *store, const char *backend,
                                        const char *event_id, const char *request_hash, int status,
                                        const char *response, long keep_s) STORE_MUSTCHECK;

#endif
