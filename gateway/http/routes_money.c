/* routes_money: a supervisor gives money back or moves it by hand (store/money.h).
 *
 *   POST /api/v1/transactions/{reference}/void {"reason"}
 *        -> 200 {"reference","status":"voided","reversed_pence","method","delivery"}
 *           409 already_voided | not_today | till_not_open | till_closed
 *   POST /api/v1/transactions/{reference}/cancel {"reason"}
 *        -> the same as a void, for a booking (a "slot" date) on any day before its cut-off
 *           (config till.cancel_cutoff on the till.cancel_working_days-th working day before:
 *           Monday to Friday, not one of the slot field's closed_dates);
 *           409 past_cutoff with the cut-off in the message, 409 not_a_booking
 *   POST /api/v1/transactions/{reference}/refunds  (Idempotency-Key)
 *        {"amount_pence","method","reason","amount_available_pence"}
 *        -> 201 {"reference","refund_pence","method","remaining_pence"}
 *           409 refund_stale (with the amount available now) | refund_too_much |
 *               nothing_to_refund | till_not_open | till_closed | idempotency_conflict
 *   POST /api/v1/till/paid-in, /api/v1/till/paid-out  (Idempotency-Key) {"amount_pence","reason"}
 *        -> 201 {"kind","amount_pence","reason"}
 *
 * The money goes out of (or into) the till of the counter the supervisor is signed in at,
 * which must be open today. A void is idempotent by its nature (a second void is 409
 * already_voided, nothing changes); refunds and paid in/out are idempotent by their key. */
#include "gateway/app.h"
#include "gateway/config.h"
#include "gateway/http/access.h"
#include "gateway/http/routes.h"
#include "gateway/http/routes_till.h"
#include "gateway/store/money.h"
#include "gateway/store/till.h"

#include "services/reference.h"
#include "services/service.h"
#include "services/validators.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The date field that makes a sale a booking (bulky refuse's collection day). */
#define BOOKING_FIELD "slot"

/* The counter's printer (a slip is printed there), or NULL. */
static const char *counter_printer(struct app *app, const struct staff_session *s)
{
    const struct counter_config *c = config_counter(app->cfg, s->counter);
    return c ? c->printer : NULL;
}

/* The 409 of each refusal that needs no figure in its answer. */
static const struct {
    enum money_refusal why;
    const char *code, *message;
} refusals[] = {
    {MONEY_ALREADY_VOIDED, "already_voided", "This sale has already been voided."},
    {MONEY_NOT_TODAY, "not_today", "Only a sale made today can be voided. Give a refund instead."},
    {MONEY_TILL_NOT_OPEN, "till_not_open",
     "The till at this counter is not open today. Open it first: the money goes back from this "
     "counter's drawer."},
    {MONEY_TILL_CLOSED, "till_closed",
     "The till at this counter has been counted or cashed up today and cannot pay out. Use "
     "another counter's till."},
    {MONEY_TOO_MUCH, "refund_too_much", "That is more than is left to refund on this sale."},
    {MONEY_NOTHING_PAID, "nothing_to_refund",
     "Nothing was paid for this sale in cash, card or cheque (or it was voided), so there is "
     "nothing to refund."},
    {MONEY_KEY_CONFLICT, "idempotency_conflict",
     "This Idempotency-Key was already used for a different request."},
};

/* Answers a refused money write. */
static void money_refused(struct http_request *req, enum money_refusal why, long available)
{
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++)
        if (refusals[i].why == why) {
            http_reply_error(req, 409, refusals[i].code, refusals[i].message);
            return;
        }
    if (why == MONEY_STALE) {
        char message[200];
        snprintf(message, sizeof message,
                 "The amount available to refund has changed (someone else may have refunded "
                 "this sale): £%ld.%02ld is available now. Check and try again.",
                 available / 100, available % 100);
        http_reply_json(req, 409,
                        json_pack("{s:{s:s, s:s, s:I}}", "error", "code", "refund_stale", "message",
                                  message, "amount_available_pence", (json_int_t)available));
    } else if (why == MONEY_WRONG_METHOD) {
        json_t *errors = json_array();
        route_field_error(errors, "method", "invalid_value",
                          "Refund in cash or to the way the resident paid.");
        http_reply_invalid(req, errors);
    } else {
        http_reply_error(req, 500, "internal_error", "The refusal could not be explained.");
    }
}

static bool reference_of(struct http_request *req, char *out, size_t len)
{
    if (reference_parse(http_param(req, 0), out, len))
        return true;
    http_reply_error(req, 404, "not_found", "There is no transaction with that reference.");
    return false;
}

/* The Idempotency-Key header; NULL after answering 400. */
static const char *money_key(struct http_request *req)
{
    const char *key = http_header(req, "Idempotency-Key");
    if (idempotency_key_valid(key))
        return key;
    http_reply_error(req, 400, key ? "invalid_idempotency_key" : "missing_idempotency_key",
                     "Send an Idempotency-Key header (1 to 128 printable characters, the same on "
                     "every retry of this request).");
    return NULL;
}

/* The hash a resend must match: the route's path and the body. */
static void money_hash(struct http_request *req, const char *what, json_t *body, char out[65])
{
    json_t *all =
        json_pack("{s:s, s:s?, s:O}", "what", what, "reference", http_param(req, 0), "body", body);
    idempotency_request_hash(all, out);
    json_decref(all);
}

static void replay(struct http_request *req, int status, char *body)
{
    json_t *v = json_loads(body, 0, NULL);
    free(body);
    if (v)
        http_reply_json(req, status == 201 ? 200 : status, v);
    else
        http_reply_error(req, 500, "internal_error", "The stored reply could not be read.");
}

/* A working day for a booking's cut-off: Monday to Friday and not one of the booking
 * field's closed dates (the bank holidays in the service's definition). */
static bool booking_working_day(const struct service *service, struct validators_date d)
{
    char text[VALIDATORS_DATE_SIZE];
    validators_date_format(d, text);
    return validators_date_weekday(d) <= 5 &&
           !(service && service_date_closed(service, BOOKING_FIELD, text));
}

/* The instant a booking for `date` stops being cancellable: the configured time (London) on
 * the day the configured number of working days before it. False when the date or the
 * configured time cannot be read. */
static bool booking_cutoff(const struct config *cfg, const struct service *service,
                           const char *date, time_t *out, char *words, size_t wordslen)
{
    struct validators_date d;
    int hh = 0, mm = 0;
    const char *at = cfg->till.cancel_cutoff ? cfg->till.cancel_cutoff : "14:00";
    if (!validators_date_parse(date, &d) || sscanf(at, "%2d:%2d", &hh, &mm) != 2 || hh > 23 ||
        mm > 59)
        return false;
    for (long left = cfg->till.cancel_working_days; left > 0;) {
        if (!validators_date_add_days(d, -1, &d))
            return false;
        if (booking_working_day(service, d))
            left--;
    }
    *out = uktime_from_local(d.year, d.month, d.day, hh, mm);
    return uktime_format(*out, words, wordslen);
}

/* A cancel: only a booking (a service with a "slot" date) before its cut-off. False after
 * answering. */
static bool booking_cancellable(struct app *app, struct http_request *req, const char *reference)
{
    json_t *t = NULL;
    enum store_result r =
        store_transaction_get(app->store, reference, access_read_site(app, http_session(req)), &t);
    if (r != STORE_OK) {
        http_reply_store_error(req, r);
        return false;
    }
    const char *slot =
        json_string_value(json_object_get(json_object_get(t, "fields"), BOOKING_FIELD));
    const char *code = json_string_value(json_object_get(t, "service"));
    const struct service *service = code ? service_registry_find(app->cfg->services, code) : NULL;
    time_t cutoff = 0;
    char when[UKTIME_TEXT_MAX] = "", message[256];
    bool ok = slot && booking_cutoff(app->cfg, service, slot, &cutoff, when, sizeof when);
    if (!slot)
        http_reply_error(req, 409, "not_a_booking",
                         "Only a booked collection can be cancelled. Void or refund this sale.");
    else if (!ok)
        http_reply_error(req, 500, "cutoff_unknown",
                         "The cancellation cut-off cannot be worked out.");
    else if (time(NULL) >= cutoff) {
        snprintf(message, sizeof message,
                 "Too late to cancel: cancellations for this collection closed at %s. Ask the "
                 "waste team.",
                 when);
        http_reply_json(req, 409,
                        json_pack("{s:{s:s, s:s, s:s}}", "error", "code", "past_cutoff", "message",
                                  message, "cutoff", when));
        ok = false;
    }
    json_decref(t);
    return ok && slot;
}

static void void_or_cancel(struct app *app, struct http_request *req, bool booking)
{
    char reference[STORE_REFERENCE_MAX];
    if (!reference_of(req, reference, sizeof reference))
        return;
    json_t *body = http_json_body(req);
    if (!body)
        return;
    json_t *errors = json_array();
    static const char *const allowed[] = {"reason", NULL};
    route_check_body_keys(body, allowed, errors);
    const char *reason = till_reason_field(body, "reason", errors);
    if (json_array_size(errors)) {
        http_reply_invalid(req, errors);
        return;
    }
    json_decref(errors);
    char day[UKTIME_DATE_SIZE];
    if (!till_today(req, day) || (booking && !booking_cancellable(app, req, reference)))
        return;
    const struct staff_session *s = http_session(req);
    struct money_void v = {.reference = reference,
                           .site = access_read_site(app, s),
                           .staff = s->staff.username,
                           .counter = s->counter,
                           .day = day,
                           .reason = reason,
                           .printer = counter_printer(app, s),
                           .booking = booking,
                           .now = time(NULL)};
    till_day_bounds(day, &v.day_from, &v.day_until);
    enum store_result r = store_money_void(app->store, &v);
    if (r == STORE_CONFLICT && v.why != MONEY_OK) {
        money_refused(req, v.why, 0);
        return;
    }
    if (r != STORE_OK) {
        http_reply_store_error(req, r);
        return;
    }
    app_wake_workers(app);
    const char *delivery = NULL;
    if (v.has_delivery)
        delivery = v.delivery_was == DELIVERY_DELIVERED ? "cancelling" : "cancelled";
    http_reply_json(req, 200,
                    json_pack("{s:s, s:s, s:I, s:s, s:s?}", "reference", reference, "status",
                              "voided", "reversed_pence", (json_int_t)v.reversed_pence, "method",
                              v.method, "delivery", delivery));
}

void route_transaction_void(struct app *app, struct http_request *req)
{
    void_or_cancel(app, req, false);
}

void route_transaction_cancel(struct app *app, struct http_request *req)
{
    void_or_cancel(app, req, true);
}

/* body.amount_pence: whole pence, more than nothing (0 after appending its error). */
static long money_amount(json_t *body, json_t *errors)
{
    long amount = 0;
    if (till_pence_field(body, "amount_pence", true, &amount, errors) && amount == 0)
        route_field_error(errors, "amount_pence", "out_of_range",
                          "Enter the amount in pence (more than nothing).");
    return amount;
}

/* After a refund or paid in/out returned r: answers a refusal, a store failure or a resend's
 * stored answer (taking replay_body) and returns true; false when the caller answers 201. */
static bool money_answered(struct http_request *req, enum store_result r, enum money_refusal why,
                           long available, int replay_status, char *replay_body)
{
    if (r == STORE_CONFLICT && why != MONEY_OK)
        money_refused(req, why, available);
    else if (r != STORE_OK)
        http_reply_store_error(req, r);
    else if (replay_status)
        replay(req, replay_status, replay_body);
    else
        return false;
    if (!replay_status)
        free(replay_body);
    return true;
}

void route_transaction_refund(struct app *app, struct http_request *req)
{
    char reference[STORE_REFERENCE_MAX];
    if (!reference_of(req, reference, sizeof reference))
        return;
    const char *key = money_key(req);
    if (!key)
        return;
    json_t *body = http_json_body(req);
    if (!body)
        return;
    json_t *errors = json_array();
    static const char *const allowed[] = {"amount_pence", "method", "reason",
                                          "amount_available_pence", NULL};
    route_check_body_keys(body, allowed, errors);
    long amount = money_amount(body, errors), available = 0;
    till_pence_field(body, "amount_available_pence", true, &available, errors);
    const char *method = json_string_value(json_object_get(body, "method"));
    if (!method || (strcmp(method, "cash") && strcmp(method, "card") && strcmp(method, "cheque")))
        route_field_error(errors, "method", method ? "invalid_value" : "required",
                          "Refund in cash or to the way the resident paid (card or cheque).");
    const char *reason = till_reason_field(body, "reason", errors);
    char day[UKTIME_DATE_SIZE], hash[65];
    if (!till_checked(req, errors, day))
        return;
    money_hash(req, "refund", body, hash);
    const struct staff_session *s = http_session(req);
    struct money_refund f = {.reference = reference,
                             .site = access_read_site(app, s),
                             .staff = s->staff.username,
                             .counter = s->counter,
                             .day = day,
                             .amount_pence = amount,
                             .available_pence = available,
                             .method = method,
                             .reason = reason,
                             .printer = counter_printer(app, s),
                             .idempotency_key = key,
                             .request_hash = hash,
                             .now = time(NULL)};
    enum store_result r = store_money_refund(app->store, &f);
    if (money_answered(req, r, f.why, f.remaining_pence, f.replay_status, f.replay_body))
        return;
    app_wake_workers(app);
    http_reply_json(req, 201, store_money_refund_reply(&f));
}

static void paid(struct app *app, struct http_request *req, bool out)
{
    const char *key = money_key(req);
    if (!key)
        return;
    json_t *body = http_json_body(req);
    if (!body)
        return;
    json_t *errors = json_array();
    static const char *const allowed[] = {"amount_pence", "reason", NULL};
    route_check_body_keys(body, allowed, errors);
    long amount = money_amount(body, errors);
    const char *reason = till_reason_field(body, "reason", errors);
    char day[UKTIME_DATE_SIZE], hash[65];
    if (!till_checked(req, errors, day))
        return;
    money_hash(req, out ? "paid_out" : "paid_in", body, hash);
    const struct staff_session *s = http_session(req);
    struct money_paid p = {.staff = s->staff.username,
                           .counter = s->counter,
                           .day = day,
                           .out = out,
                           .amount_pence = amount,
                           .reason = reason,
                           .idempotency_key = key,
                           .request_hash = hash,
                           .now = time(NULL)};
    enum store_result r = store_money_paid(app->store, &p);
    if (money_answered(req, r, p.why, 0, p.replay_status, p.replay_body))
        return;
    http_reply_json(req, 201,
                    json_pack("{s:s, s:I, s:s}", "kind", out ? "paid_out" : "paid_in",
                              "amount_pence", (json_int_t)amount, "reason", reason));
}

void route_till_paid_in(struct app *app, struct http_request *req)
{
    paid(app, req, false);
}

void route_till_paid_out(struct app *app, struct http_request *req)
{
    paid(app, req, true);
}
