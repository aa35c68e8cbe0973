/*
 * Bulky waste back-end: Open311 GeoReport v2 requests plus the waste system's slots.
 *
 *   GET  /bulky/slots?uprn=UPRN        the next BULKY_SLOT_DAYS working days after today
 *                                      (Europe/London), BULKY_SLOT_CAPACITY bookings a day
 *   POST /bulky/requests.json          form-encoded Open311 request; books (consumes) a slot
 *   GET  /bulky/requests/{id}.json     the request's status, open until /_sim/complete
 *   GET  /bulky/requests.json?attribute[reference]=REF | ?service_request_id=ID[,ID]
 *                                      the requests that match (each with "attributes":
 *                                      {"reference"}), [] when none; how a sender looks a
 *                                      request up before resending it
 *   POST /bulky/requests/{id}/cancel.json   form (api_key): cancels the booking, frees the slot
 *   GET  /bulky/tokens/{token}.json    [{"token"}] until the id is ready, then
 *                                      [{"token","service_request_id"}]
 *   POST /bulky/holds, GET /bulky/holds/{id}, POST /bulky/holds/{id}/release
 *                                      collection days held before they are booked
 *                                      (sim/bulky_holds.h); a booking with
 *                                      attribute[reservation_id] takes its place from the
 *                                      hold, and is refused 409 [{"code":"reservation_expired"
 *                                      |"reservation_unknown"|...}] when the hold is not good
 *
 * How a new request is answered follows the back-end's fault settings (sim/faults.h):
 * "open311" picks the shape — array (default), object, numeric (the id is a number and the
 * request is known by its digits), token (the id comes from tokens/{token}.json after
 * token_polls exchanges), blackbox (no id at all), error_numeric / error_string (400 with the
 * code as a number or a string, nothing booked) — and "open311_status" the 2xx status.
 *
 * Errors follow Open311: a JSON list [{"code":N,"description":"..."}]. A day's capacity is
 * shared by every address (one crew), so three bookings (or live holds) fill a date for
 * everyone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim/backends.h"
#include "sim/bulky_holds.h"
#include "sim/faults.h"
#include "sim/form.h"
#include "sim/gazetteer.h"
#include "sim/record.h"
#include "sim/workdays.h"

#define BULKY_SLOT_DAYS     10
#define BULKY_SLOT_CAPACITY 3
#define BULKY_SLOT_WINDOW   "07:00-16:00"
#define BULKY_SERVICE_CODE  "bulky-collection"
#define BULKY_MAX_REQUESTS  100000
#define BULKY_ID_LEN        16
#define BULKY_NOTICE_LEN    64
#define BULKY_CLOSED_NOTES  "Collected"
#define REQUESTS_PREFIX     "/requests/"
#define REQUESTS_SUFFIX     ".json"
#define CANCEL_SUFFIX       "/cancel.json"
#define FORM_CONTENT_TYPE   "application/x-www-form-urlencoded"
#define TOKENS_PREFIX       "/tokens/"
#define REQUESTS_LIST       "/requests.json"
#define HOLDS_PATH          "/holds"
#define HOLDS_PREFIX        "/holds/"
#define HOLD_REFUSED_STATUS 409
#define BULKY_TOKEN_LEN     16
#define BULKY_ERROR_CODE    "invalid_request"
#define BULKY_ERROR_TEXT    "the department refused the request (simulated)"

static char *api_key;        /* NULL: any non-empty api_key is accepted */
static json_t *bookings;     /* "YYYY-MM-DD" -> number booked */
static json_t *requests;     /* service_request_id -> request object */
static json_t *by_reference; /* attribute[reference] -> request object (the newest) */
static json_t *reference_of; /* service_request_id -> attribute[reference] */
static json_t *tokens;       /* token -> {"id","polls_left"} */
static unsigned next_number = 1;
static unsigned next_token = 1;

static bool bulky_init(const sim_options *opts)
{
    api_key = opts->open311_api_key ? strdup(opts->open311_api_key) : NULL;
    bookings = json_object();
    requests = json_object();
    by_reference = json_object();
    reference_of = json_object();
    tokens = json_object();
    next_number = next_token = 1;
    return bookings && requests && by_reference && reference_of && tokens && bulky_holds_init() &&
           (api_key || !opts->open311_api_key);
}

static void bulky_reset(void)
{
    json_object_clear(bookings);
    json_object_clear(requests);
    json_object_clear(by_reference);
    json_object_clear(reference_of);
    json_object_clear(tokens);
    bulky_holds_reset();
    next_number = next_token = 1;
}

static void bulky_destroy(void)
{
    free(api_key);
    api_key = NULL;
    json_decref(bookings);
    json_decref(requests);
    json_decref(by_reference);
    json_decref(reference_of);
    json_decref(tokens);
    bulky_holds_destroy();
    bookings = requests = by_reference = reference_of = tokens = NULL;
}

/* Replies with an Open311 error list. */
static void open311_error(sim_reply *reply, unsigned status, const char *description)
{
    sim_reply_json(reply, status,
                   json_pack("[{s:i,s:s}]", "code", (int)status, "description", description));
}

static long long booked_on(const char *date)
{
    return json_integer_value(json_object_get(bookings, date));
}

/* The offered dates (formatted) from tomorrow, Europe/London. */
static void offered_dates(char dates[BULKY_SLOT_DAYS][WORKDAYS_DATE_LEN])
{
    sim_date days[BULKY_SLOT_DAYS];
    workdays_next(workdays_london_date(time(NULL)), BULKY_SLOT_DAYS, days);
    for (size_t i = 0; i < BULKY_SLOT_DAYS; i++)
        workdays_format(days[i], dates[i]);
}

static bool is_offered(const char *date)
{
    char dates[BULKY_SLOT_DAYS][WORKDAYS_DATE_LEN];
    offered_dates(dates);
    for (size_t i = 0; i < BULKY_SLOT_DAYS; i++)
        if (strcmp(dates[i], date) == 0)
            return true;
    return false;
}

/* Places on date taken by bookings and live holds. */
static long long taken_on(const char *date, time_t now)
{
    return booked_on(date) + bulky_holds_live_on(date, now);
}

static bool has_place(const char *date, time_t now)
{
    return taken_on(date, now) < BULKY_SLOT_CAPACITY;
}

static const struct bulky_days bulky_days = {.offered = is_offered, .has_place = has_place};

static void list_slots(const sim_request *req, sim_reply *reply)
{
    char dates[BULKY_SLOT_DAYS][WORKDAYS_DATE_LEN];
    const char *uprn = req->query(req, "uprn");

    if (!uprn || !*uprn) {
        sim_reply_error(reply, 400, "missing_uprn", "uprn query parameter is required");
        return;
    }
    if (!gazetteer_known_uprn(uprn)) {
        sim_reply_error(reply, 404, "unknown_uprn", NULL);
        return;
    }
    offered_dates(dates);
    json_t *list = json_array();
    time_t now = time(NULL);
    for (size_t i = 0; i < BULKY_SLOT_DAYS; i++) {
        long long booked = taken_on(dates[i], now);
        json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:b,s:I}", "id", dates[i], "date",
                                              dates[i], "window", BULKY_SLOT_WINDOW, "available",
                                              booked < BULKY_SLOT_CAPACITY, "remaining",
                                              (json_int_t)(BULKY_SLOT_CAPACITY - booked)));
    }
    sim_reply_json(reply, 200, json_pack("{s:o}", "slots", list));
}

static const char *field(const json_t *form, const char *name)
{
    const char *v = json_string_value(json_object_get(form, name));
    return v && *v ? v : NULL;
}

/* Checks the form; on a problem replies and returns false. */
static bool check_request(const json_t *form, sim_reply *reply, const char **slot_out)
{
    char msg[256];
    const char *key = field(form, "api_key");
    const char *service = field(form, "service_code");
    const char *uprn = field(form, "address_id");
    const char *slot = field(form, "attribute[slot]");

    if (!key || (api_key && strcmp(key, api_key) != 0)) {
        open311_error(reply, 403, "invalid api_key");
        return false;
    }
    if (!service || strcmp(service, BULKY_SERVICE_CODE) != 0) {
        open311_error(reply, 400, "service_code must be " BULKY_SERVICE_CODE);
        return false;
    }
    if (!uprn) {
        open311_error(reply, 400, "address_id (UPRN) is required");
        return false;
    }
    if (!gazetteer_known_uprn(uprn)) {
        snprintf(msg, sizeof msg, "address_id %.32s is not a known UPRN", uprn);
        open311_error(reply, 400, msg);
        return false;
    }
    if (!field(form, "attribute[reference]")) {
        open311_error(reply, 400, "attribute[reference] is required");
        return false;
    }
    if (!field(form, "attribute[items]")) {
        open311_error(reply, 400, "attribute[items] is required");
        return false;
    }
    if (!slot) {
        open311_error(reply, 400, "attribute[slot] is required");
        return false;
    }
    if (!is_offered(slot)) {
        snprintf(msg, sizeof msg, "slot %.32s is not offered for this address", slot);
        open311_error(reply, 400, msg);
        return false;
    }
    /* a held day's place is the hold's (taken in create_request) */
    if (!field(form, "attribute[reservation_id]") && !has_place(slot, time(NULL))) {
        snprintf(msg, sizeof msg, "slot %.32s is no longer available", slot);
        open311_error(reply, 400, msg);
        return false;
    }
    if (json_object_size(requests) >= BULKY_MAX_REQUESTS) {
        open311_error(reply, 507, "the simulator holds too many requests; reset it");
        return false;
    }
    *slot_out = slot;
    return true;
}

/* The answer to a new request, in the shape the fault settings ask for. */
static void answer_created(const fault_config *f, const char *id, const char *notice,
                           sim_reply *reply)
{
    open311_variant v = f ? f->open311 : OPEN311_ARRAY;
    unsigned status = f ? f->open311_status : 201;
    char token[BULKY_TOKEN_LEN];
    switch (v) {
    case OPEN311_OBJECT:
        sim_reply_json(reply, status,
                       json_pack("{s:s,s:s}", "service_request_id", id, "service_notice", notice));
        return;
    case OPEN311_NUMERIC:
        sim_reply_json(reply, status,
                       json_pack("[{s:I,s:s}]", "service_request_id",
                                 (json_int_t)strtoll(id, NULL, 10), "service_notice", notice));
        return;
    case OPEN311_TOKEN:
        snprintf(token, sizeof token, "TK-%06u", next_token++);
        json_object_set_new(
            tokens, token,
            json_pack("{s:s,s:I}", "id", id, "polls_left", (json_int_t)(f ? f->token_polls : 0)));
        sim_reply_json(reply, status, json_pack("[{s:s}]", "token", token));
        return;
    case OPEN311_BLACKBOX:
        sim_reply_json(reply, status, json_pack("[{s:s}]", "service_notice", notice));
        return;
    case OPEN311_ARRAY:
    case OPEN311_ERROR_NUMERIC:
    case OPEN311_ERROR_STRING:
        break;
    }
    sim_reply_json(reply, status,
                   json_pack("[{s:s,s:s}]", "service_request_id", id, "service_notice", notice));
}

/* The error variants: a refusal before anything is booked. True when it answered. */
static bool answer_refused(const fault_config *f, sim_reply *reply)
{
    if (!f || (f->open311 != OPEN311_ERROR_NUMERIC && f->open311 != OPEN311_ERROR_STRING))
        return false;
    if (f->open311 == OPEN311_ERROR_NUMERIC)
        open311_error(reply, 400, BULKY_ERROR_TEXT);
    else
        sim_reply_json(
            reply, 400,
            json_pack("[{s:s,s:s}]", "code", BULKY_ERROR_CODE, "description", BULKY_ERROR_TEXT));
    return true;
}

/* A booking naming a reservation takes the hold's place; false (answered 409) when the hold is
 * not good for it. True when there is no reservation. */
static bool take_hold(const json_t *form, const char *slot, sim_reply *reply)
{
    const char *reservation = field(form, "attribute[reservation_id]");
    const char *code = NULL;
    char description[256];
    if (!reservation || bulky_holds_take(reservation, field(form, "address_id"), slot, time(NULL),
                                         &code, description, sizeof description))
        return true;
    sim_reply_json(reply, HOLD_REFUSED_STATUS,
                   json_pack("[{s:s,s:s}]", "code", code, "description", description));
    return false;
}

static void create_request(const sim_request *req, sim_reply *reply)
{
    const char *error = NULL;
    const char *slot = NULL;
    json_t *form = NULL;
    char id[BULKY_ID_LEN];
    char notice[BULKY_NOTICE_LEN];
    char now_text[40];
    struct timespec now;

    if (!req->content_type ||
        strncmp(req->content_type, FORM_CONTENT_TYPE, strlen(FORM_CONTENT_TYPE)) != 0) {
        open311_error(reply, 400, "Content-Type must be " FORM_CONTENT_TYPE);
        return;
    }
    if (!form_parse(req->body, req->body_len, &form, &error)) {
        open311_error(reply, 400, error);
        return;
    }
    sim_reply_set_reference(reply, field(form, "attribute[reference]"));
    if (!check_request(form, reply, &slot) || answer_refused(req->faults, reply) ||
        !take_hold(form, slot, reply)) {
        json_decref(form);
        return;
    }
    clock_gettime(CLOCK_REALTIME, &now);
    now.tv_nsec = 0;
    record_format_time(now, now_text, sizeof now_text);
    if (req->faults && req->faults->open311 == OPEN311_NUMERIC)
        snprintf(id, sizeof id, "%u", next_number++);
    else
        snprintf(id, sizeof id, "BW-%06u", next_number++);
    snprintf(notice, sizeof notice, "Collection booked for %s", slot);
    json_object_set_new(bookings, slot, json_integer(booked_on(slot) + 1));

    json_t *r =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "service_request_id", id, "status", "open",
                  "status_notes", notice, "requested_datetime", now_text, "service_code",
                  BULKY_SERVICE_CODE, "address_id", field(form, "address_id"), "slot", slot);
    json_object_set(requests, id, r);
    json_object_set(by_reference, field(form, "attribute[reference]"), r);
    json_object_set_new(reference_of, id, json_string(field(form, "attribute[reference]")));
    json_decref(r);
    json_decref(form);
    answer_created(req->faults, id, notice, reply);
}

/* A copy of a request for a list answer, with the reference it carried. */
static json_t *listed(const char *id, const json_t *r)
{
    json_t *copy = json_copy((json_t *)r);
    const char *ref = json_string_value(json_object_get(reference_of, id));
    json_object_set_new(copy, "attributes", json_pack("{s:s?}", "reference", ref));
    return copy;
}

/* GET requests.json: by attribute[reference], by service_request_id (comma-separated), or
 * every request. */
static void list_requests(const sim_request *req, sim_reply *reply)
{
    const char *reference = req->query(req, "attribute[reference]");
    const char *ids = req->query(req, "service_request_id");
    json_t *list = json_array();
    const char *id;
    json_t *r;
    json_object_foreach(requests, id, r)
    {
        const char *ref = json_string_value(json_object_get(reference_of, id));
        if (reference && (!ref || strcmp(ref, reference) != 0))
            continue;
        if (ids) {
            size_t n = strlen(id);
            bool wanted = false;
            for (const char *p = ids; *p;) {
                const char *comma = strchr(p, ',');
                size_t len = comma ? (size_t)(comma - p) : strlen(p);
                wanted = wanted || (len == n && strncmp(p, id, n) == 0);
                p += len + (comma ? 1 : 0);
            }
            if (!wanted)
                continue;
        }
        json_array_append_new(list, listed(id, r));
    }
    sim_reply_json(reply, 200, list);
}

/* GET tokens/{token}.json: no id for the first polls_left exchanges, then the id. */
static void show_token(const sim_request *req, sim_reply *reply)
{
    const char *rest = req->subpath + strlen(TOKENS_PREFIX);
    size_t n = strlen(rest);
    size_t suffix = strlen(REQUESTS_SUFFIX);
    char token[BULKY_TOKEN_LEN];

    if (n <= suffix || n - suffix >= sizeof token ||
        strcmp(rest + n - suffix, REQUESTS_SUFFIX) != 0) {
        open311_error(reply, 404, "token not found");
        return;
    }
    snprintf(token, sizeof token, "%.*s", (int)(n - suffix), rest);
    json_t *t = json_object_get(tokens, token);
    if (!t) {
        open311_error(reply, 404, "token not found");
        return;
    }
    json_int_t left = json_integer_value(json_object_get(t, "polls_left"));
    if (left > 0) {
        json_object_set_new(t, "polls_left", json_integer(left - 1));
        sim_reply_json(reply, 200, json_pack("[{s:s}]", "token", token));
        return;
    }
    sim_reply_json(
        reply, 200,
        json_pack("[{s:s,s:O}]", "token", token, "service_request_id", json_object_get(t, "id")));
}

static void show_request(const sim_request *req, sim_reply *reply)
{
    const char *rest = req->subpath + strlen(REQUESTS_PREFIX);
    size_t n = strlen(rest);
    size_t suffix = strlen(REQUESTS_SUFFIX);
    char id[BULKY_ID_LEN];

    if (n <= suffix || n - suffix >= sizeof id || strcmp(rest + n - suffix, REQUESTS_SUFFIX) != 0) {
        open311_error(reply, 404, "service request not found");
        return;
    }
    snprintf(id, sizeof id, "%.*s", (int)(n - suffix), rest);
    json_t *r = json_object_get(requests, id);
    if (!r) {
        open311_error(reply, 404, "service request not found");
        return;
    }
    sim_reply_json(reply, 200, json_pack("[O]", r));
}

/* POST /requests/{id}/cancel.json (form: api_key): the booking is cancelled and its slot
 * freed; a second cancel of the same request is answered the same (nothing changes). */
static void cancel_request(const sim_request *req, sim_reply *reply)
{
    const char *rest = req->subpath + strlen(REQUESTS_PREFIX);
    const char *slash = strchr(rest, '/');
    char id[BULKY_ID_LEN];
    json_t *form = NULL;
    if (!slash || strcmp(slash, CANCEL_SUFFIX) != 0 || (size_t)(slash - rest) >= sizeof id) {
        open311_error(reply, 404, "not found");
        return;
    }
    snprintf(id, sizeof id, "%.*s", (int)(slash - rest), rest);
    const char *error = NULL;
    if (!form_parse(req->body, req->body_len, &form, &error)) {
        open311_error(reply, 400, error ? error : "the body is not a form");
        return;
    }
    const char *key = field(form, "api_key");
    bool key_ok = key && (!api_key || strcmp(key, api_key) == 0);
    json_decref(form);
    if (!key_ok) {
        open311_error(reply, 403, "invalid api_key");
        return;
    }
    json_t *r = json_object_get(requests, id);
    if (!r) {
        open311_error(reply, 404, "service request not found");
        return;
    }
    sim_reply_set_reference(reply, json_string_value(json_object_get(reference_of, id)));
    const char *slot = json_string_value(json_object_get(r, "slot"));
    if (slot && strcmp(json_string_value(json_object_get(r, "status")), "cancelled") != 0 &&
        booked_on(slot) > 0)
        json_object_set_new(bookings, slot, json_integer(booked_on(slot) - 1));
    json_object_set_new(r, "status", json_string("cancelled"));
    json_object_set_new(r, "status_notes", json_string("Cancelled at the counter"));
    sim_reply_json(reply, 200, json_pack("[O]", r));
}

static void bulky_handle(const sim_request *req, sim_reply *reply)
{
    bool get = strcmp(req->method, "GET") == 0;
    bool post = strcmp(req->method, "POST") == 0;

    if (strcmp(req->subpath, "/slots") == 0 && get)
        list_slots(req, reply);
    else if (strcmp(req->subpath, HOLDS_PATH) == 0 && post)
        bulky_holds_create(req, reply, &bulky_days);
    else if (post && bulky_holds_is_release(req))
        bulky_holds_release(req, reply);
    else if (strncmp(req->subpath, HOLDS_PREFIX, strlen(HOLDS_PREFIX)) == 0 && get)
        bulky_holds_show(req, reply);
    else if (strcmp(req->subpath, REQUESTS_LIST) == 0 && post)
        create_request(req, reply);
    else if (strcmp(req->subpath, REQUESTS_LIST) == 0 && get)
        list_requests(req, reply);
    else if (strncmp(req->subpath, TOKENS_PREFIX, strlen(TOKENS_PREFIX)) == 0 && get)
        show_token(req, reply);
    else if (strncmp(req->subpath, REQUESTS_PREFIX, strlen(REQUESTS_PREFIX)) == 0 && get)
        show_request(req, reply);
    else if (strncmp(req->subpath, REQUESTS_PREFIX, strlen(REQUESTS_PREFIX)) == 0 && post)
        cancel_request(req, reply);
    else
        open311_error(reply, 404, "not found");
}

static sim_complete_result bulky_complete(const char *reference, json_t **out)
{
    json_t *r = json_object_get(by_reference, reference);
    if (!r)
        r = json_object_get(requests, reference);
    if (!r)
        return SIM_COMPLETE_UNKNOWN;
    json_object_set_new(r, "status", json_string("closed"));
    json_object_set_new(r, "status_notes", json_string(BULKY_CLOSED_NOTES));
    *out = json_copy(r);
    return SIM_COMPLETE_DONE;
}

const sim_backend bulky_backend = {
    .name = "bulky",
    .init = bulky_init,
    .handle = bulky_handle,
    .reset = bulky_reset,
    .complete = bulky_complete,
    .destroy = bulky_destroy,
};
