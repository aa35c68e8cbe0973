/* routes_lookups: look-ups the counter app makes while an assistant fills in a form.
 *
 *   GET /api/v1/addresses?postcode=SK1 3XE
 *       -> gazetteer GET {url}/addresses?postcode=SK1%203XE
 *       200 {"postcode":"SK1 3XE","addresses":[...]}   (the gazetteer's list, passed through)
 *       404 unknown_postcode   the gazetteer knows no addresses there
 *   GET /api/v1/services/bulky-refuse/slots?uprn=100011434583
 *       -> the bulky-refuse service's back-end GET {url}/slots?uprn=100011434583
 *       200 {"uprn":"...","slots":[...]}
 *       404 unknown_uprn
 *   GET /api/v1/lookups/{name}?...  the one route for the look-ups services declare (a field's
 *       "lookup"): addresses?postcode=, slots?service=CODE&uprn= (the service's back-end).
 *       The two routes above stay as aliases.
 *
 * Input is checked with the shared validators (422 with the field's problem). The handler
 * defers; the look-up thread replies. A back-end that is down, slow past its
 * lookup_timeout_ms, or answering nonsense gives 503 backend_unavailable with a message that
 * tells the assistant what to do instead. */
#include "gateway/app.h"
#include "gateway/config.h"
#include "gateway/log.h"
#include "gateway/lookup.h"
#include "gateway/http/routes.h"

#include "services/service.h"
#include "services/validators.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADDRESSES_BACKEND "gazetteer"
#define BULKY_SERVICE     "bulky-refuse"
#define LOOKUP_PATH_MAX   256

#define ADDRESSES_DOWN "The address lookup is not answering; enter the UPRN by hand or try again."
#define SLOTS_DOWN                                                                                 \
    "The bulky waste booking system is not answering; try again in a minute, or take the "         \
    "resident's details and book the collection later."

enum lookup_kind { LOOKUP_ADDRESSES, LOOKUP_SLOTS };

struct lookup_call {
    struct http_request *req;
    enum lookup_kind kind;
    char backend[64];
    char request_id[64]; /* so the look-up thread's log lines follow the request */
    char value[VALIDATORS_POSTCODE_SIZE > VALIDATORS_UPRN_SIZE ? VALIDATORS_POSTCODE_SIZE
                                                               : VALIDATORS_UPRN_SIZE];
};

static void reply_field_error(struct http_request *req, const char *field, const char *code,
                              const char *message)
{
    http_reply_invalid(
        req, json_pack("[{s:s,s:s,s:s}]", "field", field, "code", code, "message", message));
}

static void reply_unavailable(struct http_request *req, enum lookup_kind kind)
{
    http_reply_error(req, 503, "backend_unavailable",
                     kind == LOOKUP_ADDRESSES ? ADDRESSES_DOWN : SLOTS_DOWN);
}

/* On the look-up thread: turn the back-end's answer into ours, then complete the request. */
static void lookup_done(void *ctx, int status, const char *body, size_t len, const char *error)
{
    struct lookup_call *call = ctx;
    struct http_request *req = call->req;
    const char *list_key = call->kind == LOOKUP_ADDRESSES ? "addresses" : "slots";
    const char *echo_key = call->kind == LOOKUP_ADDRESSES ? "postcode" : "uprn";
    char previous_id[64]; /* this may run on an HTTP thread when the look-up never started */
    snprintf(previous_id, sizeof previous_id, "%s", log_request_id());
    log_set_request_id(call->request_id);

    if (status >= 200 && status < 300) {
        json_t *doc = json_loadb(body, len, 0, NULL);
        json_t *list = json_object_get(doc, list_key);
        if (json_is_array(list)) {
            http_reply_json(req, 200,
                            json_pack("{s:s,s:O}", echo_key, call->value, list_key, list));
        } else {
            log_msg(LOG_WARN, "lookup_unreadable", "backend=%s answered %d without a %s list",
                    call->backend, status, list_key);
            reply_unavailable(req, call->kind);
        }
        json_decref(doc);
    } else if (status == 404) {
        char message[200];
        if (call->kind == LOOKUP_ADDRESSES) {
            snprintf(message, sizeof message,
                     "No addresses are known for %s; check the postcode, or enter the UPRN by "
                     "hand.",
                     call->value);
            http_reply_error(req, 404, "unknown_postcode", message);
        } else {
            snprintf(message, sizeof message,
                     "The bulky waste system does not know UPRN %s; check the address.",
                     call->value);
            http_reply_error(req, 404, "unknown_uprn", message);
        }
    } else {
        if (status)
            log_msg(LOG_WARN, "lookup_refused", "backend=%s answered %d", call->backend, status);
        else
            log_msg(LOG_WARN, "lookup_unavailable", "backend=%s: %s", call->backend,
                    error ? error : "no answer");
        reply_unavailable(req, call->kind);
    }
    free(call);
    log_set_request_id(previous_id);
    http_complete(req);
}

/* Defers req and asks be for path; the reply comes from lookup_done. */
static void start_lookup(struct app *app, struct http_request *req, enum lookup_kind kind,
                         const struct backend_config *be, const char *query_key, const char *value)
{
    if (!be) {
        log_msg(LOG_ERROR, "lookup_unconfigured", "no back-end is configured for this look-up");
        reply_unavailable(req, kind);
        return;
    }
    char path[LOOKUP_PATH_MAX];
    char *escaped = curl_easy_escape(NULL, value, 0);
    int n = escaped ? snprintf(path, sizeof path, "/%s?%s=%s",
                               kind == LOOKUP_ADDRESSES ? "addresses" : "slots", query_key, escaped)
                    : -1;
    curl_free(escaped);
    struct lookup_call *call = calloc(1, sizeof *call);
    if (n < 0 || (size_t)n >= sizeof path || !call) {
        free(call);
        http_reply_error(req, 500, "internal_error", "The look-up could not be started.");
        return;
    }
    call->req = req;
    call->kind = kind;
    snprintf(call->backend, sizeof call->backend, "%s", be->name);
    snprintf(call->request_id, sizeof call->request_id, "%s", http_request_id(req));
    snprintf(call->value, sizeof call->value, "%s", value);
    http_defer(req);
    lookup_get(app->lookup, be, path, lookup_done, call);
}

void route_addresses(struct app *app, struct http_request *req)
{
    const char *postcode = http_query(req, "postcode");
    char normalised[VALIDATORS_POSTCODE_SIZE];
    if (!postcode || !*postcode) {
        reply_field_error(req, "postcode", "required", "Enter the resident's postcode.");
        return;
    }
    if (!validators_postcode_normalise(postcode, normalised, sizeof normalised)) {
        reply_field_error(req, "postcode", "invalid_postcode",
                          "That is not a full UK postcode; it looks like SK1 3XE.");
        return;
    }
    start_lookup(app, req, LOOKUP_ADDRESSES, config_backend(app->cfg, ADDRESSES_BACKEND),
                 "postcode", normalised);
}

/* Free collection days for the uprn parameter from the service's back-end. */
static void slots_for(struct app *app, struct http_request *req, const struct service *service)
{
    const char *uprn = http_query(req, "uprn");
    char normalised[VALIDATORS_UPRN_SIZE];
    if (!uprn || !*uprn) {
        reply_field_error(req, "uprn", "required", "Choose the address first (its UPRN).");
        return;
    }
    if (!validators_uprn_normalise(uprn, normalised, sizeof normalised)) {
        reply_field_error(req, "uprn", "invalid_uprn", "A UPRN is 1 to 12 digits.");
        return;
    }
    start_lookup(app, req, LOOKUP_SLOTS, config_backend(app->cfg, service_backend(service)), "uprn",
                 normalised);
}

void route_bulky_slots(struct app *app, struct http_request *req)
{
    const struct service *service =
        app->cfg->services ? service_registry_find(app->cfg->services, BULKY_SERVICE) : NULL;
    if (!service) {
        http_reply_error(req, 404, "unknown_service",
                         "Bulky refuse collection is not offered here.");
        return;
    }
    slots_for(app, req, service);
}

void route_lookup(struct app *app, struct http_request *req)
{
    const char *name = http_param(req, 0);
    if (name && strcmp(name, "addresses") == 0) {
        route_addresses(app, req);
        return;
    }
    if (!name || strcmp(name, "slots") != 0) {
        http_reply_error(req, 404, "unknown_lookup", "There is no such look-up.");
        return;
    }
    const char *code = http_query(req, "service");
    const struct service *service =
        code && app->cfg->services ? service_registry_find(app->cfg->services, code) : NULL;
    if (!service || !service_declares_lookup(service, name)) {
        http_reply_error(req, 404, "unknown_service",
                         "No service offered here takes its choices from this look-up.");
        return;
    }
    slots_for(app, req, service);
}
