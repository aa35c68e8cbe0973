/* routes_holds: holding a collection day while the assistant finishes the sale.
 *
 *   POST /api/v1/lookups/slot_holds {"service","uprn","slot"}
 *       -> the service's back-end POST {url}/holds {"uprn","slot","hold_s"} (signed, with a
 *          fresh Idempotency-Key; hold_s is the back-end's slot_hold_s, 15 minutes by default)
 *       201 {"reservation_id","slot","uprn","hold_s","expires_at"}
 *       409 slot_taken     the day has just been taken (booked or held by another counter)
 *       422 the field's problem (service, uprn, slot); 503 backend_unavailable
 *   POST /api/v1/lookups/slot_holds/{reservation_id}/release {"service","uprn","slot"}
 *       -> the back-end's POST {url}/holds/{reservation_id}/release {"uprn","slot"}
 *       200 {"reservation_id","state":"released"|"expired"} the day's place is free at once
 *       404 reservation_unknown; 409 reservation_used (booked: the sale took it) or
 *       reservation_mismatch (the hold is for another address or day); 422; 503
 *
 * A service asks for this by declaring a field with "lookup":"slot_holds" (bulky-refuse's
 * slot_hold); the counter app fills that field with the reservation id when a day is picked,
 * and the booking carries it to the back-end, which refuses an expired, released or unknown
 * hold (delivery/slot_offer.c then offers the next free days to the supervisor). The app
 * releases the hold when the assistant picks another day or abandons the sale, so the day is
 * free for other counters at once rather than when the hold lapses. A release names the
 * address and day as well as the id, and the back-end checks they match, so a guessed id
 * alone frees nothing.
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

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOLDS_LOOKUP    "slot_holds"
#define HOLDS_PATH      "/holds"
#define RELEASE_TAIL    "/release"
#define REQUEST_ID_MAX  64
#define HOLD_SLOT_TAKEN 409
#define HOLD_ID_MAX     64 /* the longest reservation id taken from a path */
#define HOLD_PATH_MAX   (sizeof HOLDS_PATH + 1 + HOLD_ID_MAX + sizeof RELEASE_TAIL)

#define HOLDS_DOWN                                                                                 \
    "The bulky waste booking system is not answering, so the day is not held; try again in a "     \
    "minute, or take the resident's details and book the collection later."
#define HOLDS_TAKEN                                                                                \
    "That collection day has just been taken by another booking. Choose another day."
#define HOLDS_NOT_OFFERED                                                                          \
    "The bulky waste system does not collect from this address on that day. Choose one of the "    \
    "days it offers."
#define RELEASE_DOWN                                                                               \
    "The bulky waste booking system is not answering, so the day is still held; it will be "       \
    "free again when the hold runs out."
#define RELEASE_USED                                                                               \
    "That day was already booked with this hold, so it cannot be released; cancel the "            \
    "collection instead."
#define RELEASE_MISMATCH "That hold is for another address or day, so it was not released."
#define RELEASE_UNKNOWN  "The bulky waste system does not know that hold."

struct hold_call;
/* Replies to the counter from the back-end's answer (doc: its JSON, NULL when none). */
typedef void (*hold_answer_fn)(struct hold_call *call, int status, json_t *doc, const char *error);

struct hold_call {
    struct http_request *req;
    hold_answer_fn answer;
    char backend[64];
    char request_id[REQUEST_ID_MAX];
    char reservation[HOLD_ID_MAX + 1]; /* a release: the hold it names */
};

/* What a hold or its release names: the service, its back-end and the address and day. */
struct hold_input {
    const struct backend_config *be;
    char uprn[VALIDATORS_UPRN_SIZE];
    const char *slot;
};

static void add_problem(json_t *errors, const char *field, const char *code, const char *message)
{
    json_array_append_new(
        errors, json_pack("{s:s,s:s,s:s}", "field", field, "code", code, "message", message));
}

/* On the look-up thread (or at once when it could not start): the back-end's answer, replied
 * by the call's answer function under the request's id. */
static void call_done(void *ctx, int status, const char *body, size_t len, const char *error)
{
    struct hold_call *call = ctx;
    struct http_request *req = call->req;
    char previous_id[REQUEST_ID_MAX];
    snprintf(previous_id, sizeof previous_id, "%s", log_request_id());
    log_set_request_id(call->request_id);
    json_t *doc = status ? json_loadb(body, len, 0, NULL) : NULL;
    call->answer(call, status, doc, error);
    json_decref(doc);
    free(call);
    log_set_request_id(previous_id);
    http_complete(req);
}

/* True when the back-end's Open311 error answer ([{"code","description"}]) has this code. */
static bool open311_code_is(const json_t *doc, const char *code)
{
    const char *got = json_string_value(json_object_get(json_array_get(doc, 0), "code"));
    return got && strcmp(got, code) == 0;
}

static void hold_answer(struct hold_call *call, int status, json_t *doc, const char *error)
{
    struct http_request *req = call->req;
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
    } else if (status == 400 && open311_code_is(doc, "slot_not_offered")) {
        http_reply_invalid(req, json_pack("[{s:s,s:s,s:s}]", "field", "slot", "code",
                                          "slot_not_offered", "message", HOLDS_NOT_OFFERED));
    } else {
        log_msg(LOG_WARN, "slot_hold_failed", "backend=%s status=%d%s%s", call->backend, status,
                error ? ": " : "", error ? error : "");
        http_reply_error(req, 503, "backend_unavailable", HOLDS_DOWN);
    }
}

/* Checks {"service","uprn","slot"} into *out; false when it answered 422 (or 400/503). The
 * body is the caller's (in), borrowed by out->slot. */
static bool hold_input_check(struct app *app, struct http_request *req, json_t *in,
                             struct hold_input *out)
{
    const char *code = json_string_value(json_object_get(in, "service"));
    const char *uprn = json_string_value(json_object_get(in, "uprn"));
    const char *slot = json_string_value(json_object_get(in, "slot"));
    const struct service *service =
        code && app->cfg->services ? service_registry_find(app->cfg->services, code) : NULL;
    json_t *errors = json_array();
    struct validators_date day;
    if (!service || !service_declares_lookup(service, HOLDS_LOOKUP))
        add_problem(errors, "service", "unknown_service",
                    "No service offered here holds collection days.");
    if (!uprn || !*uprn)
        add_problem(errors, "uprn", "required", "Choose the address first.");
    else if (!validators_uprn_normalise(uprn, out->uprn, sizeof out->uprn))
        add_problem(errors, "uprn", "invalid_uprn", "A UPRN is 1 to 12 digits.");
    if (!slot || !*slot)
        add_problem(errors, "slot", "required", "Choose the collection day.");
    else if (!validators_date_parse(slot, &day))
        add_problem(errors, "slot", "invalid_format", "Use a date like 2026-11-23.");
    if (json_array_size(errors)) {
        http_reply_invalid(req, errors);
        return false;
    }
    json_decref(errors);
    out->slot = slot;
    out->be = config_backend(app->cfg, service_backend(service));
    return true;
}

/* Sends body to path at the back-end on the look-up thread; answer replies. Takes body. */
static void hold_send(struct app *app, struct http_request *req, const struct backend_config *be,
                      json_t *body, const char *path, const char *reservation,
                      hold_answer_fn answer, const char *down)
{
    char key[TOKEN_TEXT_LEN + 1];
    struct hold_call *call = calloc(1, sizeof *call);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!be || !call || !text || !token_generate(key)) {
        log_msg(LOG_ERROR, "slot_hold_failed", "the hold request could not be started");
        free(call);
        free(text);
        http_reply_error(req, 503, "backend_unavailable", down);
        return;
    }
    call->req = req;
    call->answer = answer;
    snprintf(call->backend, sizeof call->backend, "%s", be->name);
    snprintf(call->request_id, sizeof call->request_id, "%s", http_request_id(req));
    snprintf(call->reservation, sizeof call->reservation, "%s", reservation ? reservation : "");
    struct lookup_spec spec = {.path_and_query = path, .json_body = text, .idempotency_key = key};
    http_defer(req);
    lookup_request(app->lookup, be, &spec, call_done, call);
    free(text);
}

void route_lookup_write(struct app *app, struct http_request *req)
{
    const char *name = http_param(req, 0);
    if (!name || strcmp(name, HOLDS_LOOKUP) != 0) {
        http_reply_error(req, 404, "unknown_lookup", "There is no such look-up.");
        return;
    }
    json_t *in = http_json_body(req);
    struct hold_input hi;
    if (!in || !hold_input_check(app, req, in, &hi))
        return;
    json_t *body = hi.be ? json_pack("{s:s,s:s,s:I}", "uprn", hi.uprn, "slot", hi.slot, "hold_s",
                                     (json_int_t)hi.be->slot_hold_s)
                         : NULL;
    hold_send(app, req, hi.be, body, HOLDS_PATH, NULL, hold_answer, HOLDS_DOWN);
}

/* The back-end's answer to a release. */
static void release_answer(struct hold_call *call, int status, json_t *doc, const char *error)
{
    struct http_request *req = call->req;
    if (status >= 200 && status < 300) {
        const char *state = json_string_value(json_object_get(doc, "state"));
        log_msg(LOG_INFO, "slot_hold_released", "backend=%s reservation=%s state=%s", call->backend,
                call->reservation, state ? state : "?");
        http_reply_json(req, 200,
                        json_pack("{s:s,s:s}", "reservation_id", call->reservation, "state",
                                  state ? state : "released"));
    } else if (status == 404) {
        http_reply_error(req, 404, "reservation_unknown", RELEASE_UNKNOWN);
    } else if (status == 409 && open311_code_is(doc, "reservation_used")) {
        http_reply_error(req, 409, "reservation_used", RELEASE_USED);
    } else if (status == 409 && open311_code_is(doc, "reservation_mismatch")) {
        http_reply_error(req, 409, "reservation_mismatch", RELEASE_MISMATCH);
    } else {
        log_msg(LOG_WARN, "slot_hold_release_failed", "backend=%s status=%d%s%s", call->backend,
                status, error ? ": " : "", error ? error : "");
        http_reply_error(req, 503, "backend_unavailable", RELEASE_DOWN);
    }
}

/* A reservation id as the back-end gave it: letters, digits, '-' and '_' only, so it goes
 * into the back-end's path as it is. */
static bool reservation_id_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > HOLD_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)id[i]) || id[i] == '-' || id[i] == '_'))
            return false;
    return true;
}

void route_slot_hold_release(struct app *app, struct http_request *req)
{
    const char *id = http_param(req, 0);
    if (!reservation_id_valid(id)) {
        http_reply_error(req, 404, "reservation_unknown", RELEASE_UNKNOWN);
        return;
    }
    json_t *in = http_json_body(req);
    struct hold_input hi;
    if (!in || !hold_input_check(app, req, in, &hi))
        return;
    char path[HOLD_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s%s", HOLDS_PATH, id, RELEASE_TAIL);
    json_t *body = json_pack("{s:s,s:s}", "uprn", hi.uprn, "slot", hi.slot);
    hold_send(app, req, hi.be, body, path, id, release_answer, RELEASE_DOWN);
}
