/* routes_holds: holding a collection day while the assistant finishes the sale.
 *
 *   POST /api/v1/lookups/slot_holds {"service","uprn","slot"}
 *       -> the service's back-end POST {url}/holds {"uprn","slot","hold_s"} (signed, with a
 *          fresh Idempotency-Key; hold_s is the back-end's slot_hold_s, 15 minutes by default)
 *       201 {"reservation_id","slot","uprn","hold_s","expires_at"}
 *       409 slot_taken     the day has just been taken (booked or held by another counter)
 *       422 the field's problem (service, uprn, slot); 503 backend_unavailable
 *
 * A service asks for this by declaring a field with "lookup":"slot_holds" (bulky-refuse's
 * slot_hold); the counter app fills that field with the reservation id when a day is picked,
 * and the booking carries it to the back-end, which refuses an expired or unknown hold
 * (delivery/slot_offer.c then offers the next free days to the supervisor).
 *
 * DESIGN: the same deferral as the read-only look-ups (routes_lookups.c): the handler checks
 * the input, defers, and the look-up thread's callback replies. The hold is the back-end's:
 * the gateway keeps no copy, so there is nothing to clean up when a hold is never used. */
#include "gateway/app.h"
#include "gateway/config.h"
#include "gateway/log.h"
#include "gateway/lookup.h"
#include "gateway/http/routes.h"
#include "gateway/token.h"

#include "services/service.h"
#include "services/validators.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOLDS_LOOKUP    "slot_holds"
#define HOLDS_PATH      "/holds"
#define REQUEST_ID_MAX  64
#define HOLD_SLOT_TAKEN 409

#define HOLDS_DOWN                                                                                 \
    "The bulky waste booking system is not answering, so the day is not held; try again in a "     \
    "minute, or take the resident's details and book the collection later."
#define HOLDS_TAKEN                                                                                \
    "That collection day has just been taken by another booking. Choose another day."

struct hold_call {
    struct http_request *req;
    char backend[64];
    char request_id[REQUEST_ID_MAX];
};

static void add_problem(json_t *errors, const char *field, const char *code, const char *message)
{
    json_array_append_new(
        errors, json_pack("{s:s,s:s,s:s}", "field", field, "code", code, "message", message));
}

/* On the look-up thread (or at once when it could not start): the back-end's answer. */
static void hold_done(void *ctx, int status, const char *body, size_t len, const char *error)
{
    struct hold_call *call = ctx;
    struct http_request *req = call->req;
    char previous_id[REQUEST_ID_MAX];
    snprintf(previous_id, sizeof previous_id, "%s", log_request_id());
    log_set_request_id(call->request_id);
    json_t *doc = status ? json_loadb(body, len, 0, NULL) : NULL;
    const char *id = json_string_value(json_object_get(doc, "reservation_id"));
    if (status >= 200 && status < 300 && id) {
        log_msg(LOG_INFO, "slot_held", "backend=%s reservation=%s", call->backend, id);
        http_reply_json(req, 201,
                        json_pack("{s:s,s:O?,s:O?,s:O?,s:O?}", "reservation_id", id, "slot",
                                  json_object_get(doc, "slot"), "uprn",
                                  json_object_get(doc, "uprn"), "hold_s",
                                  json_object_get(doc, "hold_s"), "expires_at",
                                  json_object_get(doc, "expires_at")));
    } else if (status == HOLD_SLOT_TAKEN) {
        http_reply_error(req, 409, "slot_taken", HOLDS_TAKEN);
    } else if (status == 404) {
        http_reply_invalid(req, json_pack("[{s:s,s:s,s:s}]", "field", "uprn", "code",
                                          "unknown_uprn", "message",
                                          "The bulky waste system does not know this address; "
                                          "check it."));
    } else {
        log_msg(LOG_WARN, "slot_hold_failed", "backend=%s status=%d%s%s", call->backend, status,
                error ? ": " : "", error ? error : "");
        http_reply_error(req, 503, "backend_unavailable", HOLDS_DOWN);
    }
    json_decref(doc);
    free(call);
    log_set_request_id(previous_id);
    http_complete(req);
}

void route_lookup_write(struct app *app, struct http_request *req)
{
    const char *name = http_param(req, 0);
    if (!name || strcmp(name, HOLDS_LOOKUP) != 0) {
        http_reply_error(req, 404, "unknown_lookup", "There is no such look-up.");
        return;
    }
    json_t *in = http_json_body(req);
    if (!in)
        return;
    const char *code = json_string_value(json_object_get(in, "service"));
    const char *uprn = json_string_value(json_object_get(in, "uprn"));
    const char *slot = json_string_value(json_object_get(in, "slot"));
    const struct service *service =
        code && app->cfg->services ? service_registry_find(app->cfg->services, code) : NULL;
    json_t *errors = json_array();
    char uprn_n[VALIDATORS_UPRN_SIZE];
    struct validators_date day;
    if (!service || !service_declares_lookup(service, HOLDS_LOOKUP))
        add_problem(errors, "service", "unknown_service",
                    "No service offered here holds collection days.");
    if (!uprn || !*uprn)
        add_problem(errors, "uprn", "required", "Choose the address first.");
    else if (!validators_uprn_normalise(uprn, uprn_n, sizeof uprn_n))
        add_problem(errors, "uprn", "invalid_uprn", "A UPRN is 1 to 12 digits.");
    if (!slot || !*slot)
        add_problem(errors, "slot", "required", "Choose the collection day.");
    else if (!validators_date_parse(slot, &day))
        add_problem(errors, "slot", "invalid_format", "Use a date like 2026-11-23.");
    if (json_array_size(errors)) {
        http_reply_invalid(req, errors);
        return;
    }
    json_decref(errors);
    const struct backend_config *be = config_backend(app->cfg, service_backend(service));
    char key[TOKEN_TEXT_LEN + 1];
    struct hold_call *call = calloc(1, sizeof *call);
    json_t *body = be ? json_pack("{s:s,s:s,s:I}", "uprn", uprn_n, "slot", slot, "hold_s",
                                  (json_int_t)be->slot_hold_s)
                      : NULL;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!be || !call || !text || !token_generate(key)) {
        log_msg(LOG_ERROR, "slot_hold_failed", "the hold could not be started");
        free(call);
        free(text);
        http_reply_error(req, 503, "backend_unavailable", HOLDS_DOWN);
        return;
    }
    call->req = req;
    snprintf(call->backend, sizeof call->backend, "%s", be->name);
    snprintf(call->request_id, sizeof call->request_id, "%s", http_request_id(req));
    struct lookup_spec spec = {
        .path_and_query = HOLDS_PATH, .json_body = text, .idempotency_key = key};
    http_defer(req);
    lookup_request(app->lookup, be, &spec, hold_done, call);
    free(text);
}
