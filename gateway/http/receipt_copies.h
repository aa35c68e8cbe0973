/* receipt_copies: the HTTP side of receipt copies (routes_receipt_copies.c). */
#ifndef ONESTOP_HTTP_RECEIPT_COPIES_H
#define ONESTOP_HTTP_RECEIPT_COPIES_H

#include <jansson.h>
#include <stdbool.h>

struct app;
struct http_request;

/* POST /api/v1/transactions/{reference}/receipt-copies */
void route_receipt_copies_create(struct app *app, struct http_request *req);
/* POST /api/v1/callbacks/notify: GOV.UK Notify's delivery reports */
void route_notify_callback(struct app *app, struct http_request *req);

/* Sets t["receipt_copies"] to the transaction's copies (null when the store failed), each with
 * its masked contact ("to") only when with_contact. */
void receipt_copies_attach(struct app *app, const char *reference, json_t *t, bool with_contact);

#endif
