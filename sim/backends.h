/* The back-ends the simulator serves; one file each. */
#ifndef ONESTOP_SIM_BACKENDS_H
#define ONESTOP_SIM_BACKENDS_H

#include "sim/backend.h"

extern const sim_backend parking_backend;   /* sim/parking.c: permits, JSON REST */
extern const sim_backend leisure_backend;   /* sim/parking.c: Leisure Keys, bowling permits */
extern const sim_backend gazetteer_backend; /* sim/gazetteer.c: addresses by postcode */
extern const sim_backend bulky_backend;     /* sim/bulky.c: Open311 bulky waste + slots */
extern const sim_backend mail_backend;      /* sim/smtp.c: the SMTP sink for e-mail routes */
extern const sim_backend nhs_token_backend; /* sim/nhs.c: NHS API platform OAuth2 tokens */
extern const sim_backend notify_backend;    /* sim/notify.c: GOV.UK Notify (receipt copies) */
extern const sim_backend nhs_ers_backend;   /* sim/nhs.c: e-Referral Service FHIR reads */
extern const sim_backend documents_backend; /* sim/documents.c: benefits documents, multipart */

#endif
