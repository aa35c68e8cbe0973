/*
 * bulky_holds: collection days held for a while before they are booked (the waste system's
 * reservations), for the bulky back-end (sim/bulky.c).
 *
 *   POST /bulky/holds {"uprn","slot","hold_s"}   holds one place on that day for hold_s
 *        201 {"reservation_id","uprn","slot","hold_s","expires_at"}
 *        409 [{"code":"slot_taken","description"}] the day has no place left (bookings and
 *            live holds both take places); 400 / 404 for a bad request or an unknown UPRN
 *   GET  /bulky/holds/{id}                       {"reservation_id","state":"held|expired|
 *                                                 used|released","slot","uprn",
 *                                                 "expires_at"}
 *   POST /bulky/holds/{id}/release {"uprn","slot"} gives the place back at once
 *        200 the hold's view, "state":"released" (again 200 when it had expired or was
 *            released already); 404 reservation_unknown; 409 reservation_mismatch (another
 *            address or day) or reservation_used (booked: cancel the booking instead)
 *
 * A booking that names attribute[reservation_id] takes its place from the hold (and must be
 * for the same address and day, before the hold expires); the hold is then used.
 * Called with the simulator's state lock held, like every back-end function.
 */
#ifndef ONESTOP_SIM_BULKY_HOLDS_H
#define ONESTOP_SIM_BULKY_HOLDS_H

#include <stdbool.h>
#include <time.h>

#include "sim/backend.h"

#define BULKY_HOLD_MAX_S 86400 /* the longest hold a caller may ask for */

/* What the bulky back-end knows of a day: whether it is offered (a working day in its list)
 * and whether it has a place left once bookings and live holds are counted. */
struct bulky_days {
    bool (*offered)(const char *date);
    bool (*has_place)(const char *date, time_t now);
};

bool bulky_holds_init(void);
void bulky_holds_reset(void);
void bulky_holds_destroy(void);

/* Places on date held by live (unexpired, unused) holds at now. */
long long bulky_holds_live_on(const char *date, time_t now);

/* POST /holds (a known address, an offered day with a place left). */
void bulky_holds_create(const sim_request *req, sim_reply *reply, const struct bulky_days *days);
/* GET /holds/{id}; subpath starts with "/holds/". */
void bulky_holds_show(const sim_request *req, sim_reply *reply);

/* True when req is POST-able as /holds/{id}/release. */
bool bulky_holds_is_release(const sim_request *req);
/* POST /holds/{id}/release {"uprn","slot"}: the place is free again at once. */
void bulky_holds_release(const sim_request *req, sim_reply *reply);

/* A booking names reservation_id for uprn and slot: true (the hold is now used) when it was
 * held for them and has not expired; otherwise false with an Open311 error code
 * ("reservation_unknown", "reservation_expired", "reservation_used", "reservation_released",
 * "reservation_mismatch")
 * and a description in code/description (description_len bytes). */
bool bulky_holds_take(const char *reservation_id, const char *uprn, const char *slot, time_t now,
                      const char **code, char *description, size_t description_len);

#endif
