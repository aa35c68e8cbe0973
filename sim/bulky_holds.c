/*
 * bulky_holds: the waste system's reservations of collection days (see bulky_holds.h).
 *
 * DESIGN: a hold is a JSON object in `holds` (id -> {"uprn","slot","expires","used",
 * "released"}), kept after it expires, is used or is released so that a late booking is told
 * which it was. Expiry is read
 * against the wall clock whenever a hold is counted or taken; nothing sweeps them. The
 * number of holds is capped like the bulky back-end's requests; a reset forgets them all.
 */
#include "sim/bulky_holds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/gazetteer.h"
#include "sim/record.h"

#define HOLDS_MAX     100000
#define HOLD_ID_LEN   16
#define HOLDS_PREFIX  "/holds/"
#define RELEASE_TAIL  "/release"
#define HOLD_TIME_LEN 40
#define HOLD_MESSAGE  256
#define JSON_TYPE     "application/json"

static json_t *holds; /* reservation id -> {"uprn","slot","expires","used"} */
static unsigned next_hold = 1;

bool bulky_holds_init(void)
{
    holds = json_object();
    next_hold = 1;
    return holds != NULL;
}

void bulky_holds_reset(void)
{
    json_object_clear(holds);
    next_hold = 1;
}

void bulky_holds_destroy(void)
{
    json_decref(holds);
    holds = NULL;
}

static time_t expires_of(const json_t *h)
{
    return (time_t)json_integer_value(json_object_get(h, "expires"));
}

static bool is_live(const json_t *h, time_t now)
{
    return !json_is_true(json_object_get(h, "used")) &&
           !json_is_true(json_object_get(h, "released")) && now < expires_of(h);
}

long long bulky_holds_live_on(const char *date, time_t now)
{
    long long n = 0;
    const char *id;
    json_t *h;
    json_object_foreach(holds, id, h)
    {
        const char *slot = json_string_value(json_object_get(h, "slot"));
        if (slot && strcmp(slot, date) == 0 && is_live(h, now))
            n++;
    }
    return n;
}

static void format_time(time_t t, char out[HOLD_TIME_LEN])
{
    struct timespec ts = {.tv_sec = t, .tv_nsec = 0};
    record_format_time(ts, out, HOLD_TIME_LEN);
}

static void open311_error(sim_reply *reply, unsigned status, const char *code, const char *text)
{
    sim_reply_json(reply, status, json_pack("[{s:s,s:s}]", "code", code, "description", text));
}

static json_t *hold_view(const char *id, const json_t *h, time_t now)
{
    char expires[HOLD_TIME_LEN];
    format_time(expires_of(h), expires);
    const char *state = json_is_true(json_object_get(h, "used"))       ? "used"
                        : json_is_true(json_object_get(h, "released")) ? "released"
                        : is_live(h, now)                              ? "held"
                                                                       : "expired";
    return json_pack("{s:s,s:s,s:O,s:O,s:s}", "reservation_id", id, "state", state, "uprn",
                     json_object_get(h, "uprn"), "slot", json_object_get(h, "slot"), "expires_at",
                     expires);
}

void bulky_holds_create(const sim_request *req, sim_reply *reply, const struct bulky_days *days)
{
    char message[HOLD_MESSAGE];
    if (!req->content_type || strncmp(req->content_type, JSON_TYPE, strlen(JSON_TYPE)) != 0) {
        open311_error(reply, 400, "bad_request", "Content-Type must be " JSON_TYPE);
        return;
    }
    json_t *body = json_loadb(req->body, req->body_len, 0, NULL);
    const char *uprn = json_string_value(json_object_get(body, "uprn"));
    const char *slot = json_string_value(json_object_get(body, "slot"));
    json_int_t hold_s = json_integer_value(json_object_get(body, "hold_s"));
    time_t now = time(NULL);
    if (!uprn || !slot || hold_s < 1 || hold_s > BULKY_HOLD_MAX_S) {
        open311_error(reply, 400, "bad_request",
                      "uprn and slot (strings) and hold_s (1 to 86400) are required");
    } else if (!gazetteer_known_uprn(uprn)) {
        open311_error(reply, 404, "unknown_uprn", "address_id is not a known UPRN");
    } else if (!days->offered(slot)) {
        snprintf(message, sizeof message, "slot %.32s is not offered for this address", slot);
        open311_error(reply, 400, "slot_not_offered", message);
    } else if (!days->has_place(slot, now)) {
        snprintf(message, sizeof message, "slot %.32s is no longer available", slot);
        open311_error(reply, 409, "slot_taken", message);
    } else if (json_object_size(holds) >= HOLDS_MAX) {
        open311_error(reply, 507, "too_many_holds", "the simulator holds too many; reset it");
    } else {
        char id[HOLD_ID_LEN];
        snprintf(id, sizeof id, "RS-%06u", next_hold++);
        json_t *h = json_pack("{s:s,s:s,s:I,s:b}", "uprn", uprn, "slot", slot, "expires",
                              (json_int_t)(now + hold_s), "used", 0);
        json_object_set_new(holds, id, h);
        json_t *view = hold_view(id, h, now);
        json_object_set_new(view, "hold_s", json_integer(hold_s));
        sim_reply_json(reply, 201, view);
    }
    json_decref(body);
}

void bulky_holds_show(const sim_request *req, sim_reply *reply)
{
    const char *id = req->subpath + strlen(HOLDS_PREFIX);
    json_t *h = json_object_get(holds, id);
    if (!h) {
        open311_error(reply, 404, "reservation_unknown", "no such reservation");
        return;
    }
    sim_reply_json(reply, 200, hold_view(id, h, time(NULL)));
}

bool bulky_holds_is_release(const sim_request *req)
{
    size_t n = strlen(req->subpath), prefix = strlen(HOLDS_PREFIX), tail = strlen(RELEASE_TAIL);
    return strncmp(req->subpath, HOLDS_PREFIX, prefix) == 0 && n > prefix + tail &&
           strcmp(req->subpath + n - tail, RELEASE_TAIL) == 0;
}

void bulky_holds_release(const sim_request *req, sim_reply *reply)
{
    char id[HOLD_ID_LEN];
    size_t id_len = strlen(req->subpath) - strlen(HOLDS_PREFIX) - strlen(RELEASE_TAIL);
    json_t *h = NULL;
    if (id_len < sizeof id) {
        memcpy(id, req->subpath + strlen(HOLDS_PREFIX), id_len);
        id[id_len] = '\0';
        h = json_object_get(holds, id);
    }
    if (!h) {
        open311_error(reply, 404, "reservation_unknown", "no such reservation");
        return;
    }
    json_t *body = json_loadb(req->body, req->body_len, 0, NULL);
    const char *uprn = json_string_value(json_object_get(body, "uprn"));
    const char *slot = json_string_value(json_object_get(body, "slot"));
    if (!uprn || !slot) {
        open311_error(reply, 400, "bad_request", "uprn and slot (strings) are required");
    } else if (strcmp(uprn, json_string_value(json_object_get(h, "uprn"))) != 0 ||
               strcmp(slot, json_string_value(json_object_get(h, "slot"))) != 0) {
        open311_error(reply, 409, "reservation_mismatch",
                      "the reservation holds another address or day");
    } else if (json_is_true(json_object_get(h, "used"))) {
        open311_error(reply, 409, "reservation_used", "the reservation was already booked");
    } else {
        /* releasing a hold that has expired or was released already changes nothing */
        json_object_set_new(h, "released", json_true());
        sim_reply_json(reply, 200, hold_view(id, h, time(NULL)));
    }
    json_decref(body);
}

bool bulky_holds_take(const char *reservation_id, const char *uprn, const char *slot, time_t now,
                      const char **code, char *description, size_t description_len)
{
    json_t *h = json_object_get(holds, reservation_id);
    char expires[HOLD_TIME_LEN];
    if (!h) {
        *code = "reservation_unknown";
        snprintf(description, description_len, "reservation %.20s is not known", reservation_id);
        return false;
    }
    const char *held_uprn = json_string_value(json_object_get(h, "uprn"));
    const char *held_slot = json_string_value(json_object_get(h, "slot"));
    if (json_is_true(json_object_get(h, "released"))) {
        *code = "reservation_released";
        snprintf(description, description_len, "reservation %.20s was released", reservation_id);
        return false;
    }
    if (json_is_true(json_object_get(h, "used"))) {
        *code = "reservation_used";
        snprintf(description, description_len, "reservation %.20s was already used",
                 reservation_id);
        return false;
    }
    if (strcmp(held_uprn, uprn) != 0 || strcmp(held_slot, slot) != 0) {
        *code = "reservation_mismatch";
        snprintf(description, description_len,
                 "reservation %.20s holds %.10s for another address or day", reservation_id,
                 held_slot);
        return false;
    }
    if (!is_live(h, now)) {
        format_time(expires_of(h), expires);
        *code = "reservation_expired";
        snprintf(description, description_len, "reservation %.20s for %.10s expired at %s",
                 reservation_id, held_slot, expires);
        return false;
    }
    json_object_set_new(h, "used", json_true());
    return true;
}
