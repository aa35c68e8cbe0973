/* routes_callbacks: status updates that back-ends push to us.
 *
 * POST /api/v1/callbacks/{backend} must be signed with that back-end's key (docs/backends.md);
 * a stale timestamp or a replayed signature is refused. The body names our reference and the
 * new status; "completed" moves accepted|forwarded -> completed through the store's one
 * transition rule. */
#include "gateway/app.h"
#include "gateway/delivery/backend_request.h"
#include "gateway/config.h"
#include "gateway/log.h"
#include "gateway/http/routes.h"
#include "gateway/store.h"

#include "services/reference.h"

#include <string.h>
#include <time.h>

void route_callback(struct app *app, struct http_request *req)
{
    const struct backend_config *backend = config_backend(app->cfg, http_param(req, 0));
    if (!backend) {
        http_reply_error(req, 404, "unknown_backend", "No back-end of that name.");
        return;
    }
    size_t len;
    const char *body = http_body(req, &len);
    char why[160];
    if (!backend_signature_verify(
            backend, http_header(req, "Idempotency-Key"), http_header(req, "X-Onestop-Timestamp"),
            http_header(req, "X-Onestop-Signature"), body, len, time(NULL), why, sizeof why)) {
        log_msg(LOG_WARN, "callback_refused", "callback from %s refused: %s", backend->name, why);
        http_reply_error(req, 401, "bad_signature", why);
        return;
    }
    json_t *json = http_json_body(req);
    if (!json)
        return;
    const char *status = json_string_value(json_object_get(json, "status"));
    char reference[STORE_REFERENCE_MAX];
    if (!reference_parse(json_string_value(json_object_get(json, "reference")), reference,
                         sizeof reference)) {
        http_reply_error(req, 404, "not_found", "No transaction has that reference.");
        return;
    }
    if (!status || strcmp(status, "completed") != 0) {
        http_reply_invalid(req,
                           json_pack("[{s:s, s:s, s:s}]", "field", "status", "code", "unsupported",
                                     "message", "Only status \"completed\" is taken."));
        return;
    }
    const char *note = json_string_value(json_object_get(json, "note"));
    const char *backend_ref = json_string_value(json_object_get(json, "backend_reference"));
    enum store_result r =
        store_transaction_complete(app->store, reference, backend->name, backend_ref, note);
    if (r == STORE_CONFLICT) {
        http_reply_error(req, 409, "state_conflict",
                         "That transaction cannot be completed from its present state.");
        return;
    }
    if (r != STORE_OK) {
        http_reply_store_error(req, r);
        return;
    }
    log_msg(LOG_INFO, "transaction_completed", "%s completed by %s", reference, backend->name);
    http_reply_json(req, 204, NULL);
}
