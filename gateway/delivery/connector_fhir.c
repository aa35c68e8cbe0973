/* connector_fhir: FHIR back-ends (the NHS e-Referral Service), read-only for now.
 *
 * onestopd only reads from FHIR back-ends (GET {url}/STU3/ReferralRequest/{ubrn}, from the
 * look-up thread; gateway/http/routes_referrals.c). Nothing is delivered to them through the
 * outbox: config refuses a service that forwards to one, and should a delivery reach one all
 * the same, it is a dead letter that says why rather than a request the back-end never
 * asked for. */
#include "gateway/delivery/connector.h"

#include <stdio.h>
#include <string.h>

static bool fhir_build_delivery(const struct backend_config *be, const char *payload,
                                struct connector_request *out, char *err, size_t errlen)
{
    (void)be;
    (void)payload;
    (void)out;
    snprintf(err, errlen, "a fhir back-end is read-only: it takes look-ups, not deliveries");
    return false;
}

static void fhir_parse_accepted(const char *body, size_t len, char *reference, size_t reflen)
{
    (void)body;
    (void)len;
    if (reflen > 0)
        reference[0] = '\0';
}

const struct connector connector_fhir = {
    .name = "fhir",
    .build_delivery = fhir_build_delivery,
    .parse_accepted = fhir_parse_accepted,
    .build_poll = NULL,
    .parse_poll = NULL,
};
