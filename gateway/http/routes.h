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
/* True when the transaction was sold at the session's site (any site for an auditor); else
 * it has answered 404 (another site's is not revealed) or 503. */
bool transaction_at_own_site(struct app *app, struct http_request *req, const char *reference);

/* routes_resident.c */
void route_resident_status(struct app *app, struct http_request *req);

/* routes_referrals.c */
void route_referral_lookup(struct app *app, struct http_request *req);

/* routes_lookups.c */
void route_addresses(struct app *app, struct http_request *req);
void route_bulky_slots(struct app *app, struct http_request *req);
void route_lookup(struct app *app, struct http_request *req);

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

/* routes_callbacks.c */
void route_callback(struct app *app, struct http_request *req);

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
