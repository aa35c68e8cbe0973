/* store_digest: the deliveries one daily e-mail digest gathers (delivery/email_digest.h).
 *
 * A digest is a group of ordinary outbox rows — one per transaction, each moved through
 * delivery_move like any other — that share a back-end, the site their transactions were
 * sold at and the digest day their creation falls in. This is the one read that finds a
 * group; it changes nothing. */
#ifndef ONESTOP_STORE_DIGEST_H
#define ONESTOP_STORE_DIGEST_H

#include "gateway/store/core.h"
#include "gateway/store/deliveries.h"

#define DIGEST_MEMBERS_MAX 2000 /* deliveries one digest may gather */
#define DIGEST_ERROR_MAX   256

struct digest_member {
    int64_t id;
    char reference[STORE_REFERENCE_MAX];
    enum delivery_state state;
    char *payload; /* malloc'd */
    time_t created_at;
    char backend_reference[128];
    char last_error[DIGEST_ERROR_MAX];
};

/* The deliveries to backend whose transactions were sold at the site of delivery_id's
 * transaction and created in (from, until], by id (oldest first), whatever their state; site
 * receives that site. *out is malloc'd (free with store_digest_free); STORE_INVALID when the
 * group holds more than DIGEST_MEMBERS_MAX, STORE_NOT_FOUND when delivery_id is unknown. */
enum store_result store_digest_members(struct store *store, const char *backend,
                                       int64_t delivery_id, time_t from, time_t until,
                                       char site[STORE_SITE_MAX], struct digest_member **out,
                                       size_t *len) STORE_MUSTCHECK;
void store_digest_free(struct digest_member *list, size_t len);

#endif
