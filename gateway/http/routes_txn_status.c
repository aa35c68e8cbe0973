/* routes_txn_status: GET /api/v1/transactions/{reference}/status, what the counter app polls.
 *
 * DESIGN: the confirmation screen polls a transaction every second until its receipt is printed
 * and its delivery settled. A full read (route_transaction_get) holds the resident's fields, so
 * it is audited and counted against the staff member's read limit; a poll through it wrote an
 * audit row a second. This route answers only the states and their operational detail (no
 * field, no payment, no staff name), taken by name from the full record so that a column
 * added to it later is not exposed here by accident. It is scoped to the session's site like
 * every read (another site's transaction is "not found"), but it is neither audited nor
 * counted: it reveals nothing about the resident. */
#include "gateway/app.h"
#include "gateway/http/receipt_copies.h"
#include "gateway/http/routes.h"
#include "gateway/store.h"

#include <jansson.h>

/* Copies the named members of from (an object or null) into a new object, or null. */
static json_t *status_pick(json_t *from, const char *const *names)
{
    if (!json_is_object(from))
        return json_null();
    json_t *out = json_object();
    for (const char *const *n = names; *n; n++) {
        json_t *v = json_object_get(from, *n);
        json_object_set(out, *n, v ? v : json_null());
    }
    return out;
}

static const char *const status_top[] = {"reference", "service", "status", "updated_at", NULL};
static const char *const status_delivery[] = {"state",      "attempts",          "next_attempt_at",
                                              "last_error", "backend_reference", NULL};
static const char *const status_print[] = {"state",      "printer", "attempts",
                                           "last_error", "receipt", NULL};

void route_transaction_status(struct app *app, struct http_request *req)
{
    char reference[STORE_REFERENCE_MAX];
    json_t *t = NULL;
    if (!transaction_reference_param(req, reference, sizeof reference) ||
        !transaction_read(app, req, reference, &t))
        return;
    json_t *out = status_pick(t, status_top);
    json_object_set_new(out, "delivery",
                        status_pick(json_object_get(t, "delivery"), status_delivery));
    json_object_set_new(out, "print", status_pick(json_object_get(t, "print"), status_print));
    json_decref(t);
    receipt_copies_attach(app, reference, out, false); /* states only, no contact */
    http_reply_json(req, 200, out);
}
