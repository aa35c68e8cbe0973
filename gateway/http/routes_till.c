/* routes_till: the till of the session's counter for today (Europe/London).
 *
 *   GET  /api/v1/till            -> 200 the till (store_till_get), or 200 {"state":"not_open",
 *                                   "suggested_float_pence"} before it is opened today
 *   POST /api/v1/till/open {"float_pence"}
 *                                -> 201 the till; 409 till_already_open; 422 for the float
 *   POST /api/v1/till/count {"denominations":{"5000":2,...,"1":3},"card_pence","cheque_pence"}
 *                                -> 200 the till, now with the expected figure and the variance
 *                                   (a blind count: the counter sees them only now); 409
 *   POST /api/v1/till/cashup {"banked_pence","bag_number","note"}   (supervisor)
 *                                -> 200 the closed till; 403 second_person_required for the
 *                                   one who counted; 409 not_counted; 422 banking > counted
 *
 * Opening is idempotent by its nature: a counter has one till a day, so a resend of the same
 * opening finds it open (409 till_already_open, the till unchanged). Assistants see the
 * expected cash only once the drawer has been counted (a blind count); supervisors always. */
#include "common/uktime.h"
#include "gateway/app.h"
#include "gateway/config.h"
#include "gateway/http/routes.h"
#include "gateway/http/routes_till.h"
#include "gateway/store/till.h"
#include "gateway/till_paper.h"

#include "services/validators.h"

#include <stdio.h>
#include <stdlib.h>
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
        route_field_error(errors, field, n ? "too_long" : "required",
                          "Give the reason in a few words (at most 200 characters).");
        return NULL;
    }
    return s;
}

bool till_checked(struct http_request *req, json_t *errors, char day[UKTIME_DATE_SIZE])
{
    if (json_array_size(errors)) {
        http_reply_invalid(req, errors);
        return false;
    }
    json_decref(errors);
    return till_today(req, day);
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
        route_field_error(errors, field, v ? "out_of_range" : "required",
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

/* After a write that returned r: the till as it is now with `status`, or the store's error. */
static void till_answer(struct app *app, struct http_request *req, const char *day,
                        enum store_result r, int status)
{
    if (r == STORE_OK)
        r = till_reply_current(app, req, day, status);
    if (r != STORE_OK)
        http_reply_store_error(req, r == STORE_NOT_FOUND ? STORE_UNAVAILABLE : r);
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
    route_check_body_keys(body, allowed, errors);
    long float_pence = 0;
    till_pence_field(body, "float_pence", true, &float_pence, errors);
    char day[UKTIME_DATE_SIZE];
    if (!till_checked(req, errors, day))
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
    till_answer(app, req, day, r, 201);
}

/* GET /api/v1/till/slip: today's cash-up slip as PDF (80 mm), to print from the browser. */
void route_till_slip(struct app *app, struct http_request *req)
{
    char day[UKTIME_DATE_SIZE];
    if (!till_today(req, day))
        return;
    const struct staff_session *s = http_session(req);
    json_t *t = NULL;
    enum store_result r = store_till_get(app->store, s->counter, day, true, &t);
    if (r != STORE_OK) {
        http_reply_store_error(req, r);
        return;
    }
    const char *state = json_string_value(json_object_get(t, "state"));
    if (!state || strcmp(state, "open") == 0) {
        json_decref(t);
        http_reply_error(req, 409, "not_counted",
                         "The slip is printed once the drawer is counted.");
        return;
    }
    unsigned char *pdf = NULL;
    size_t len = 0;
    bool ok = till_paper_slip(app->cfg->council_name, t, &pdf, &len);
    json_decref(t);
    if (!ok) {
        http_reply_error(req, 500, "pdf_failed", "The slip could not be laid out as PDF.");
        return;
    }
    http_reply_owned(req, 200, "application/pdf", (char *)pdf, len);
}

/* ---- the blind count and the sign-off ---- */

static const long denominations[] = {5000, 2000, 1000, 500, 200, 100, 50, 20, 10, 5, 2, 1};
#define DENOMINATIONS_LEN (sizeof denominations / sizeof denominations[0])

/* Sums body.denominations ({"<pence>": how many}) into *total; errors name the field. */
static void count_denominations(const json_t *given, long *total, json_t *errors)
{
    *total = 0;
    if (!json_is_object(given)) {
        route_field_error(errors, "denominations", given ? "invalid" : "required",
                          "Enter how many of each note and coin are in the drawer.");
        return;
    }
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)given, key, v)
    {
        char field[64];
        snprintf(field, sizeof field, "denominations.%.40s", key);
        char *end = NULL;
        long pence = strtol(key, &end, 10);
        bool known = false;
        for (size_t i = 0; i < DENOMINATIONS_LEN; i++)
            known |= *key && !*end && pence == denominations[i];
        if (!known) {
            route_field_error(errors, field, "unknown_denomination",
                              "Use the value in pence of a note or coin: 5000, 2000, 1000, 500, "
                              "200, 100, 50, 20, 10, 5, 2 or 1.");
            continue;
        }
        json_int_t n = json_is_integer(v) ? json_integer_value(v) : -1;
        if (n < 0 || n > TILL_DENOMINATION_COUNT_MAX) {
            route_field_error(errors, field, "out_of_range",
                              "Enter how many, as a whole number (0 or more).");
            continue;
        }
        *total += (long)n * pence;
    }
    if (*total > TILL_PENCE_MAX)
        route_field_error(errors, "denominations", "out_of_range",
                          "That is more than a drawer can hold: check the counts.");
}

void route_till_count(struct app *app, struct http_request *req)
{
    json_t *body = http_json_body(req);
    if (!body)
        return;
    json_t *errors = json_array();
    static const char *const allowed[] = {"denominations", "card_pence", "cheque_pence", NULL};
    route_check_body_keys(body, allowed, errors);
    long counted = 0, card = 0, cheque = 0;
    count_denominations(json_object_get(body, "denominations"), &counted, errors);
    till_pence_field(body, "card_pence", false, &card, errors);
    till_pence_field(body, "cheque_pence", false, &cheque, errors);
    char day[UKTIME_DATE_SIZE];
    if (!till_checked(req, errors, day))
        return;
    char *given = json_dumps(json_object_get(body, "denominations"), JSON_COMPACT | JSON_SORT_KEYS);
    const struct staff_session *s = http_session(req);
    enum store_result r = given ? store_till_count(app->store, s->counter, day, s->staff.username,
                                                   given, counted, card, cheque, time(NULL))
                                : STORE_UNAVAILABLE;
    free(given);
    if (r == STORE_NOT_FOUND || r == STORE_CONFLICT) {
        http_reply_error(req, 409,
                         r == STORE_NOT_FOUND ? "till_not_open" : "till_not_open_to_count",
                         r == STORE_NOT_FOUND
                             ? "The till at this counter was not opened today: there is nothing "
                               "to count."
                             : "The till at this counter has already been counted today.");
        return;
    }
    till_answer(app, req, day, r, 200);
}

void route_till_cashup(struct app *app, struct http_request *req)
{
    json_t *body = http_json_body(req);
    if (!body)
        return;
    json_t *errors = json_array();
    static const char *const allowed[] = {"banked_pence", "bag_number", "note", NULL};
    route_check_body_keys(body, allowed, errors);
    long banked = 0;
    till_pence_field(body, "banked_pence", true, &banked, errors);
    const char *bag = json_string_value(json_object_get(body, "bag_number"));
    if (!bag || !*bag || strlen(bag) > TILL_BAG_MAX)
        route_field_error(errors, "bag_number", bag && *bag ? "too_long" : "required",
                          "Enter the number on the banking bag (at most 32 characters).");
    const json_t *note = json_object_get(body, "note");
    if (note && !json_is_null(note) &&
        (!json_is_string(note) || json_string_length(note) > TILL_REASON_MAX))
        route_field_error(errors, "note", "too_long",
                          "The note is text of at most 200 characters.");
    char day[UKTIME_DATE_SIZE];
    if (!till_checked(req, errors, day))
        return;
    const struct staff_session *s = http_session(req);
    enum till_signoff_refusal why;
    const struct counter_config *counter = config_counter(app->cfg, s->counter);
    /* the cash-up slip is queued at the counter's receipt printer (none without one) */
    enum store_result r = store_till_cashup(app->store, s->counter, day, s->staff.username, banked,
                                            bag, json_string_value(note),
                                            counter ? counter->printer : NULL, time(NULL), &why);
    if (r == STORE_CONFLICT && why == TILL_SIGNOFF_OWN_COUNT) {
        http_reply_error(req, 403, "second_person_required",
                         "You counted this drawer, so you cannot sign it off. Ask another "
                         "supervisor to sign off the cash-up.");
        return;
    }
    if (r == STORE_CONFLICT && why == TILL_SIGNOFF_BANKED_TOO_MUCH) {
        json_t *fields = json_array();
        route_field_error(fields, "banked_pence", "more_than_counted",
                          "You cannot bank more than was counted in the drawer.");
        http_reply_invalid(req, fields);
        return;
    }
    if (r == STORE_NOT_FOUND || r == STORE_CONFLICT) {
        http_reply_error(req, 409, "not_counted",
                         "Count the drawer before the cash-up is signed off (or it has been "
                         "signed off already).");
        return;
    }
    till_answer(app, req, day, r, 200);
}
