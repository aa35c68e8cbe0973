/* store_referral: NHS e-Referral look-ups kept for the hand-off that may follow.
 *
 * A look-up that matched (routes_referrals.c) is recorded under its lookup_id with the
 * counter and staff that made it and the little the hand-off slip needs: the UBRN, the
 * referral's state and priority in words, and the last 3 digits of the NHS number. Nothing
 * else about the referral is ever stored. The nhs-referral service asks for the record
 * (through struct service_lookup) when the hand-off is recorded, and refuses one made at
 * another counter or too long ago. Records older than a day are removed as new ones come.
 */
#ifndef ONESTOP_STORE_REFERRAL_H
#define ONESTOP_STORE_REFERRAL_H

#include "gateway/store/core.h"

#include <jansson.h>
#include <time.h>

#define REFERRAL_KEEP_S (24 * 3600) /* look-ups older than this are removed */

struct referral_lookup_record {
    const char *lookup_id; /* a UUID */
    const char *counter;
    const char *staff;
    time_t made_at;
    const char *ubrn;
    const char *state; /* the e-RS code, "NOT_BOOKED" */
    const char *state_label;
    const char *priority;
    const char *nhs_last3;
};

/* Inside a job's transaction: records a look-up that matched, with an audit entry
 * "referral_lookup" (subject: the lookup_id; no personal data), and removes look-ups older
 * than REFERRAL_KEEP_S. STORE_INVALID when a part is missing. */
enum store_result
store_tx_referral_lookup_put(struct store_tx *tx,
                             const struct referral_lookup_record *rec) STORE_MUSTCHECK;

/* The look-up lookup_id as a new object {"lookup_id","counter","staff","made_at","ubrn",
 * "state","state_label","priority","nhs_last3"} in *out: 1 found, 0 not found, -1 the store
 * failed. The _tx form runs inside a job's transaction, the other on a read connection. */
int store_tx_referral_lookup_get(struct store_tx *tx, const char *lookup_id,
                                 json_t **out) STORE_MUSTCHECK;
int store_referral_lookup_get(struct store *store, const char *lookup_id,
                              json_t **out) STORE_MUSTCHECK;

/* The stored fields of transaction reference as a new object in *out (the hand-off slip is
 * printed from them). */
enum store_result store_referral_fields(struct store *store, const char *reference,
                                        json_t **out) STORE_MUSTCHECK;

#endif
