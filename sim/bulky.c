/*
 * Bulky waste back-end: Open311 GeoReport v2 requests plus the waste system's slots.
 *
 *   GET  /bulky/slots?uprn=UPRN        the next BULKY_SLOT_DAYS working days after today
 *                                      (Europe/London), BULKY_SLOT_CAPACITY bookings a day
 *   POST /bulky/requests.json          form-encoded Open311 request; books (consumes) a slot
 *   GET  /bulky/requests/{id}.json     the request's status, open until /_sim/complete
 *
 * Errors follow Open311: a JSON list [{"code":N,"description":"..."}]. A day's capacity is
 * shared by every address (one crew), so three bookings fill a date for everyone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim/backends.h"
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
#define FORM_CONTENT_TYPE   "application/x-www-form-urlencoded"

static char *api_key;        /* NULL: any non-empty api_key is accepted */
static json_t *bookings;     /* "YYYY-MM-DD" -> number booked */
static json_t *requests;     /* service_request_id -> request object */
static json_t *by_reference; /* attribute[reference] -> request object */
static unsigned next_number = 1;

static bool bulky_init(const sim_options *opts)
{
    api_key = opts->open311_api_key ? strdup(opts->open311_api_key) : NULL;
    bookings = json_object();
    requests = json_object();
    by_reference = json_object();
    next_number = 1;
    return bookings && requests && by_reference && (api_key || !opts->open311_api_key);
}

static void bulky_reset(void)
{
    json_object_clear(bookings);
    json_object_clear(requests);
    json_object_clear(by_reference);
    next_number = 1;
}

static void bulky_destroy(void)
{
    free(api_key);
    api_key = NULL;
    json_decref(bookings);
    json_decref(requests);
    json_decref(by_reference);
    bookings = requests = by_reference = NULL;
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
    for (size_t i = 0; i < BULKY_SLOT_DAYS; i++) {
        long long booked = booked_on(dates[i]);
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
    char dates[BULKY_SLOT_DAYS][WORKDAYS_DATE_LEN];
    const char *key = field(form, "api_key");
    const char *service = field(form, "service_code");
    const char *uprn = field(form, "address_id");
    const char *slot = field(form, "attribute[slot]");
    bool offered = false;

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
    offered_dates(dates);
    for (size_t i = 0; i < BULKY_SLOT_DAYS; i++)
        if (strcmp(dates[i], slot) == 0)
            offered = true;
    if (!offered) {
        snprintf(msg, sizeof msg, "slot %.32s is not offered for this address", slot);
        open311_error(reply, 400, msg);
        return false;
    }
    if (booked_on(slot) >= BULKY_SLOT_CAPACITY) {
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
    if (!check_request(form, reply, &slot)) {
        json_decref(form);
        return;
    }
    clock_gettime(CLOCK_REALTIME, &now);
    now.tv_nsec = 0;
    record_format_time(now, now_text, sizeof now_text);
    snprintf(id, sizeof id, "BW-%06u", next_number++);
    snprintf(notice, sizeof notice, "Collection booked for %s", slot);
    json_object_set_new(bookings, slot, json_integer(booked_on(slot) + 1));

    json_t *r =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "service_request_id", id, "status", "open",
                  "status_notes", notice, "requested_datetime", now_text, "service_code",
                  BULKY_SERVICE_CODE, "address_id", field(form, "address_id"), "slot", slot);
    json_object_set(requests, id, r);
    json_object_set(by_reference, field(form, "attribute[reference]"), r);
    json_decref(r);
    json_decref(form);
    sim_reply_json(reply, 201,
                   json_pack("[{s:s,s:s}]", "service_request_id", id, "service_notice", notice));
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

static void bulky_handle(const sim_request *req, sim_reply *reply)
{
    bool get = strcmp(req->method, "GET") == 0;
    bool post = strcmp(req->method, "POST") == 0;

    if (strcmp(req->subpath, "/slots") == 0 && get)
        list_slots(req, reply);
    else if (strcmp(req->subpath, "/requests.json") == 0 && post)
        create_request(req, reply);
    else if (strncmp(req->subpath, REQUESTS_PREFIX, strlen(REQUESTS_PREFIX)) == 0 && get)
        show_request(req, reply);
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
