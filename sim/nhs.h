/*
 * The NHS back-ends (sim/nhs.c): the API platform's token endpoint (nhs-token) and the
 * e-Referral Service FHIR reads (nhs-ers), and their test controls.
 */
#ifndef ONESTOP_SIM_NHS_H
#define ONESTOP_SIM_NHS_H

#include "sim/backend.h"

/* GET /_sim/nhs -> {"tokens_issued","tokens_refused","tokens_live","referral_reads",
 * "referral_reads_refused","token_error","ers_error","token_lifetime_s","ers_retry_after_s"}.
 * POST /_sim/nhs {"revoke_tokens":true, "token_error":0|400|403|429,
 * "ers_error":0|400|403|422|429|503, "ers_retry_after_s":0..86400, "token_lifetime_s":1..599}
 * changes what is given and answers the same counters. Takes the state lock itself. */
void nhs_control(const sim_request *req, sim_reply *reply);

#endif
