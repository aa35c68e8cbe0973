/* slot_offer: the next free collection days for a booking whose held day was not kept.
 *
 * A bulky booking confirms the day it held (attribute reservation_id). When the waste
 * back-end refuses it because the hold is no longer good — expired, unknown, already used, or
 * for another address or day (an Open311 error whose code starts "reservation_") — the
 * delivery is refused like any other, but the supervisor who picks it up from the failed list
 * has to agree a new day with the resident. slot_offer_note asks the back-end for the
 * address's free days and writes a note that offers the first few.
 *
 * The fetch is a short blocking GET (the back-end's lookup_timeout_ms) on the forwarder
 * thread, like an access-token fetch: it happens only for such a refusal, which is rare. */
#ifndef ONESTOP_SLOT_OFFER_H
#define ONESTOP_SLOT_OFFER_H

#include <stdbool.h>
#include <stddef.h>

struct backend_config;

#define SLOT_OFFER_DAYS 3 /* free days offered in the note */

/* For a refused delivery (its stored payload and the back-end's error answer): when the
 * answer says the held day was not kept, writes the supervisor note into note (notelen
 * bytes) — the next free days, or why they could not be fetched — and returns true. False
 * (note untouched) for any other refusal. */
bool slot_offer_note(const struct backend_config *be, const char *payload, const char *body,
                     size_t len, char *note, size_t notelen);

#endif
