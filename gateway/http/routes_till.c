/* routes_till: the till of the session's counter for today (Europe/London).
 *
 *   GET  /api/v1/till            -> 200 the till (store_till_get), or 200 {"state":"not_open",
 *                                   "suggested_float_pence"} before it is opened today
 *   POST /api/v1/till/open {"float_pence"}
 *                                -> 201 the till; 409 till_already_open; 422 for the float
 *
 * Opening is idempotent by its nature: a counter has one till a day, so a resend of the same
 * opening finds it open (409 till_already_open, the till unchanged). Assistants see the
 * expected cash only once the drawer has been counted (a blind count); supervisors always. */
#include "common/uktime.h"
#include "gateway/app.h"
#include "gateway/config.h"
#include "gateway/http/routes.h"
#include "gateway/http/routes_till.h"
#include "gateway/store_till.h"

#include "services/validators.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

bool till_today(struct http_request *req, char day[UKTIME_DATE_SIZE])
{
    if (uktime_date(time(NULL), day))
        return true;
    http_reply_error(req, 503, "clock_unavailable", "The gateway's clock cannot be read.");
    return false;
}

void till_day_bounds(const char *day, time_t *from, time_t *until)
{
    struct validators_date d = {0}, next;
    if (!validators_date_parse(day, &d) || !validators_date_add_days(d, 1, &next)) {
        *from = *until = 0;
        return;
    }
    *from = uktime_from_local(d.year, d.month, d.day, 0, 0);
    *until = uktime_from_local(next.year, next.month, next.day, 0, 0);
}

const char *till_reason_field(json_t *body, const char *field, json_t *errors)
{
    const json_t *v = json_object_get(body, field);
    const char *s = json_string_value(v);
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > TILL_REASON_MAX) {
        till_field_error(errors, field, n ? "too_long" : "required",
                         "Give the reason in a few words (at most 200 characters).");
        return NULL;
    }
    return s;
}

void till_field_error(json_t *errors, const char *field, const char *code, const char *message)
{
    json_array_append_new(
        errors, json_pack("{s:s, s:s, s:s}", "field", field, "code", code, "message", message));
}

bool till_body_keys(json_t *body, const char *const *allowed, json_t *errors)
{
    const char *key;
    json_t *v;
    bool ok = true;
    json_object_foreach(body, key, v)
    {
        bool known = false;
        for (const char *const *a = allowed; *a; a++)
            known |= strcmp(*a, key) == 0;
        if (!known) {
            till_field_error(errors, key, "unknown_field", "This is not part of the request.");
            ok = false;
        }
    }
    return ok;
}

bool till_pence_field(json_t *body, const char *field, bool required, long *out, json_t *errors)
{
    const json_t *v = json_object_get(body, field);
    if (!v && !required) {
        *out = 0;
        return true;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > TILL_PENCE_MAX) {
        till_field_error(errors, field, v ? "out_of_range" : "required",
                         "Enter the amount in pence as a whole number from 0 to 10000000 "
                         "(£100,000).");
        return false;
    }
    *out = (long)json_integer_value(v);
    return true;
}

enum store_result till_reply_current(struct app *app, struct http_request *req, const char *day,
                                     int status)
{
    const struct staff_session *s = http_session(req);
    json_t *t = NULL;
    enum store_result r =
        store_till_get(app->store, s->counter, day, s->staff.role == ROLE_ASSISTANT, &t);
    if (r == STORE_OK)
        http_reply_json(req, status, t);
    return r;
}

void route_till_get(struct app *app, struct http_request *req)
{
    char day[UKTIME_DATE_SIZE];
    if (!till_today(req, day))
        return;
    enum store_result r = till_reply_current(app, req, day, 200);
    if (r == STORE_OK)
        return;
    if (r != STORE_NOT_FOUND) {
        http_reply_store_error(req, r);
        return;
    }
    const struct staff_session *s = http_session(req);
    http_reply_json(req, 200,
                    json_pack("{s:s, s:s, s:s, s:I}", "counter", s->counter, "day", day, "state",
                              "not_open", "suggested_float_pence",
                              (json_int_t)store_till_suggested_float(app->store, s->counter)));
}

void route_till_open(struct app *app, struct http_request *req)
{
    json_t *body = http_json_body(req);
    if (!body)
        return;
    json_t *errors = json_array();
    static const char *const allowed[] = {"float_pence", NULL};
    till_body_keys(body, allowed, errors);
    long float_pence = 0;
    till_pence_field(body, "float_pence", true, &float_pence, errors);
    if (json_array_size(errors)) {
        http_reply_invalid(req, errors);
        return;
    }
    json_decref(errors);
    char day[UKTIME_DATE_SIZE];
    if (!till_today(req, day))
        return;
    const struct staff_session *s = http_session(req);
    const struct counter_config *counter = config_counter(app->cfg, s->counter);
    enum store_result r = store_till_open(app->store, s->counter, counter ? counter->site : NULL,
                                          day, float_pence, s->staff.username, time(NULL));
    if (r == STORE_CONFLICT) {
        http_reply_error(req, 409, "till_already_open",
                         "The till at this counter has already been opened today.");
        return;
    }
    if (r == STORE_OK)
        r = till_reply_current(app, req, day, 201);
    if (r != STORE_OK)
        http_reply_store_error(req, r == STORE_NOT_FOUND ? STORE_UNAVAILABLE : r);
}
