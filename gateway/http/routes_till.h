/* routes_till: what the till's handlers share (routes_till.c, routes_money.c). */
#ifndef ONESTOP_ROUTES_TILL_H
#define ONESTOP_ROUTES_TILL_H

#include "common/uktime.h"
#include "gateway/http/http.h"

#include <jansson.h>
#include <stdbool.h>
#include <time.h>

/* Today's Europe/London date; false after answering 503 when the clock cannot be read. */
bool till_today(struct http_request *req, char day[UKTIME_DATE_SIZE]);
/* The UTC instants at which the Europe/London day `day` ("YYYY-MM-DD") starts and ends. */
void till_day_bounds(const char *day, time_t *from, time_t *until);
/* Reads body[field] as a reason of 1..TILL_REASON_MAX bytes; NULL after appending its error. */
const char *till_reason_field(json_t *body, const char *field, json_t *errors);
/* A request's checks are done: answers 422 with errors (taken) when there are any, else frees
 * them and fills today's date (false after answering 503 when the clock fails). */
bool till_checked(struct http_request *req, json_t *errors, char day[UKTIME_DATE_SIZE]);
/* Reads body[field] as whole pence 0..TILL_PENCE_MAX into *out (0 when absent and not
 * required); false after appending the field's error. */
bool till_pence_field(json_t *body, const char *field, bool required, long *out, json_t *errors);
/* Answers `status` with the session's counter's till for day; the store's result otherwise
 * (nothing answered). */
enum store_result till_reply_current(struct app *app, struct http_request *req, const char *day,
                                     int status) __attribute__((warn_unused_result));

#endif
