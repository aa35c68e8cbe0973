/* access: who may call a route, which site's transactions a staff member may read, and the
 * per-staff limit on those reads. The route table (routes.c) names each route's access; this
 * module is the one place that says what each access level means. */
#ifndef ONESTOP_ACCESS_H
#define ONESTOP_ACCESS_H

#include "gateway/http/http.h"
#include "gateway/store.h"

#include <stdbool.h>
#include <stdio.h>

struct app;

/* True when a signed-in staff member with `role` may call a route needing `need`. */
bool access_allows(enum http_access need, enum staff_role role);
/* "public", "staff", "supervisor", "admin", "reader", "oversight". */
const char *access_name(enum http_access need);
/* Prints the route table as a JSON array of {"method","pattern","access"} (onestopd --routes). */
void access_print_routes(const struct http_route *routes, FILE *out);

/* The site whose transactions this session may read: its counter's site, or NULL (every site)
 * for an auditor. A counter no longer in the config reads nothing (""). */
const char *access_read_site(const struct app *app, const struct staff_session *session);
/* Counts a transaction read against the staff member's limit (config access.reads_per_minute).
 * False when it is over: 429 with Retry-After has been answered (and sampled into the audit). */
bool access_read_admit(struct app *app, struct http_request *req)
    __attribute__((warn_unused_result));
/* Audits a read of a transaction's full record (personal fields): no personal data in the row.
 * False when the audit row could not be written: 503 has been answered (no record unaudited). */
bool access_audit_read(struct app *app, struct http_request *req, const char *reference)
    __attribute__((warn_unused_result));

/* Writes an audit row for an event anyone can repeat at will (a sign-in at an unknown counter,
 * a 429), sampled: every event is counted in /metrics, one row per (action, address) per
 * access.audit_sample_interval_s, saying how many were suppressed since the last. kind names
 * the event in /metrics (a string literal, e.g. "sign_in_unknown_counter"). */
void access_audit_sampled(struct app *app, const char *kind, const struct audit_entry *entry);

#endif
