/* routes: the route table of onestopd and the handlers, one file per area (routes_*.c). */
#ifndef ONESTOP_ROUTES_H
#define ONESTOP_ROUTES_H

#include "gateway/http/http.h"

/* The table, ending with a zeroed entry. */
extern const struct http_route onestop_routes[];

/* routes_system.c */
void route_healthz(struct app *app, struct http_request *req);
void route_readyz(struct app *app, struct http_request *req);
void route_metrics(struct app *app, struct http_request *req);
/* GET /api/v1/openapi.json: docs/openapi.yaml as JSON (embedded at build time) */
void route_openapi(struct app *app, struct http_request *req);

/* routes_sessions.c */
void route_session_create(struct app *app, struct http_request *req);
void route_session_delete(struct app *app, struct http_request *req);
void route_session_current(struct app *app, struct http_request *req);

/* routes_services.c */
void route_services_list(struct app *app, struct http_request *req);

/* routes_transactions.c */
void route_quote(struct app *app, struct http_request *req);
void route_transaction_create(struct app *app, struct http_request *req);
void route_transaction_get(struct app *app, struct http_request *req);
void route_transaction_list(struct app *app, struct http_request *req);
void route_transaction_retry(struct app *app, struct http_request *req);
void route_deliveries_failed(struct app *app, struct http_request *req);
/* The {reference} path parameter, checked (check character included) into out; false when it
 * is not a reference, having answered 404. */
bool transaction_reference_param(struct http_request *req, char *out, size_t len);
/* The whole record of a transaction sold at the session's site (any site for an auditor) into
 * *out (the caller frees it); false when it has answered 404 (another site's is not revealed)
 * or 503. Neither audited nor counted: the caller does what its route needs. */
bool transaction_read(struct app *app, struct http_request *req, const char *reference,
                      json_t **out);
/* Appends {"field","code","message"} to a 422's errors (field may be NULL). */
void route_field_error(json_t *errors, const char *field, const char *code, const char *message);
/* Appends an unknown_field error for each key of body not in allowed (NULL-terminated);
 * false when there was one. */
bool route_check_body_keys(json_t *body, const char *const *allowed, json_t *errors);
/* An Idempotency-Key header's value is 1 to 128 printable characters. */
bool idempotency_key_valid(const char *key);
/* The SHA-256 (hex) of the body's canonical JSON: what a resend under the same key must match. */
void idempotency_request_hash(json_t *body, char out[65]);
/* True when the transaction was sold at the session's site (any site for an auditor); else
 * it has answered 404 (another site's is not revealed) or 503. */
bool transaction_at_own_site(struct app *app, struct http_request *req, const char *reference);

/* routes_txn_status.c: states only, for polling; neither audited nor read-limited */
void route_transaction_status(struct app *app, struct http_request *req);

/* routes_resident.c */
void route_resident_status(struct app *app, struct http_request *req);

/* routes_referrals.c */
void route_referral_lookup(struct app *app, struct http_request *req);

/* routes_lookups.c */
void route_addresses(struct app *app, struct http_request *req);
void route_bulky_slots(struct app *app, struct http_request *req);
void route_lookup(struct app *app, struct http_request *req);

/* routes_holds.c: POST /api/v1/lookups/slot_holds holds a collection day */
void route_lookup_write(struct app *app, struct http_request *req);
/* routes_holds.c: POST /api/v1/lookups/slot_holds/{id}/release gives the day back */
void route_slot_hold_release(struct app *app, struct http_request *req);

/* routes_stock.c */
void route_stock_list(struct app *app, struct http_request *req);
void route_stock_delivery(struct app *app, struct http_request *req);
struct strbuf;
/* The stock gauges for /metrics (ctx: the app). */
void stock_metrics(void *ctx, struct strbuf *out);

/* routes_static.c */
void route_static(struct app *app, struct http_request *req);

/* routes_print.c */
void route_transaction_reprint(struct app *app, struct http_request *req);
void route_receipt_options(struct app *app, struct http_request *req);

/* routes_callbacks.c */
void route_callback(struct app *app, struct http_request *req);

/* routes_till.c */
void route_till_get(struct app *app, struct http_request *req);
void route_till_open(struct app *app, struct http_request *req);
void route_till_count(struct app *app, struct http_request *req);
void route_till_cashup(struct app *app, struct http_request *req);
void route_till_slip(struct app *app, struct http_request *req);

/* routes_reports.c */
void route_report_daily(struct app *app, struct http_request *req);
void route_report_monthly(struct app *app, struct http_request *req);

/* routes_money.c */
void route_transaction_void(struct app *app, struct http_request *req);
void route_transaction_refund(struct app *app, struct http_request *req);
void route_transaction_cancel(struct app *app, struct http_request *req);
void route_till_paid_in(struct app *app, struct http_request *req);
void route_till_paid_out(struct app *app, struct http_request *req);
/* routes_documents.c: the streamed upload (onestop_streams in routes.c) */
void route_documents_create(struct app *app, struct http_request *req);
long route_documents_body_limit(const struct app *app);
long route_documents_body_deadline_s(const struct app *app);
bool route_documents_begin(struct app *app, struct http_request *req);
bool route_documents_data(struct http_request *req, const char *data, size_t len);
void route_documents_release(struct http_request *req);
/* Inside a transaction's write: the documents its service's documents field names, checked
 * (routes_transactions.c calls these). check: STORE_INVALID with the problems in *errors (new
 * reference), and each entry given its sha256, bytes and pages, and a receipt line each added
 * to lines (type, pages, the hash's first 8 characters); take: marks them as the
 * transaction's. STORE_OK at once for a service without documents. */
struct store_tx;
struct service;
enum store_result transaction_documents_check(struct app *app, struct store_tx *tx,
                                              const struct service *service, json_t *fields,
                                              json_t *lines, const char *counter,
                                              json_t **errors) STORE_MUSTCHECK;
enum store_result transaction_documents_take(struct store_tx *tx, const struct service *service,
                                             const json_t *fields,
                                             const char *reference) STORE_MUSTCHECK;

#endif
