/* store_till: the till — one session per counter per Europe/London day, and its movements.
 *
 * A till session is `open` (float counted in), `counted` (the drawer's blind count is in) or
 * `closed` (a second person signed the cash-up off). Every payment, refund, void and paid
 * in/out is a movement row written inside the same database transaction as its cause (the
 * sale, the void, the refund), so the two commit together or not at all. Movements are signed
 * pence into the drawer (a refund is negative); the expected cash is always summed from them,
 * never kept as a running figure that could drift. The session's state changes only in one
 * transition function with a rule table, and each change is audited. See docs/till.md. */
#ifndef ONESTOP_STORE_TILL_H
#define ONESTOP_STORE_TILL_H

#include "gateway/store/core.h"

#include <jansson.h>
#include <time.h>

/* Most a float, a paid in/out or a count may hold, in pence (£100,000): more is a typing
 * mistake. */
#define TILL_PENCE_MAX 10000000L
/* Longest reason or note, in bytes. */
#define TILL_REASON_MAX 200
/* Longest banking bag number, in bytes. */
#define TILL_BAG_MAX 32
/* Most of one denomination a drawer may hold: more is a typing mistake. */
#define TILL_DENOMINATION_COUNT_MAX 100000

enum till_state { TILL_OPEN, TILL_COUNTED, TILL_CLOSED };
/* "open", "counted", "closed". */
const char *till_state_name(enum till_state state);
/* open -> counted -> closed; nothing else. */
bool till_state_can_move(enum till_state from, enum till_state to);

enum till_kind { TILL_FLOAT, TILL_SALE, TILL_REFUND, TILL_VOID, TILL_PAID_IN, TILL_PAID_OUT };
const char *till_kind_name(enum till_kind kind);

struct till_movement {
    const char *counter;
    const char *day; /* Europe/London "YYYY-MM-DD" */
    enum till_kind kind;
    const char *method; /* cash | card | cheque */
    long amount_pence;  /* signed: into the drawer (or the card terminal's total) */
    const char *reference;
    const char *staff;
    const char *reason;
    time_t now;
};

/* Inside a job: adds a movement to the counter's till for m->day. STORE_NOT_FOUND when that
 * till was never opened, STORE_CONFLICT when it is counted or closed: nothing is written. */
enum store_result store_tx_till_move(struct store_tx *tx,
                                     const struct till_movement *m) STORE_MUSTCHECK;

/* Inside a job: STORE_OK when the counter's till for day is open; STORE_NOT_FOUND when it was
 * never opened, STORE_CONFLICT when it is counted or closed. */
enum store_result store_tx_till_check(struct store_tx *tx, const char *counter,
                                      const char *day) STORE_MUSTCHECK;

/* True when a payment by method of amount_pence moves money through the till (cash, card or
 * cheque, more than nothing); waived and none do not. */
bool till_movement_counts(const char *method, long amount_pence);

/* Opens the counter's till for day with its float (a float movement and an audit entry, one
 * write). STORE_CONFLICT when that day's till already exists. */
enum store_result store_till_open(struct store *store, const char *counter, const char *site,
                                  const char *day, long float_pence, const char *staff,
                                  time_t now) STORE_MUSTCHECK;

/* The till of counter on day as GET /api/v1/till shows it: {"counter","day","state",
 * "opened_at","opened_by","float_pence","takings":{"cash","card","cheque"},"refunds":{...},
 * "voids":{...},"paid_in_pence","paid_out_pence","expected_cash_pence","transactions", and
 * once counted "counted_pence","counted_by", once closed "variance_pence","signed_by",...}.
 * STORE_NOT_FOUND when not opened; *out is new. The expected figure is left out while the
 * till is open and blind is set (the blind count must not see it). */
enum store_result store_till_get(struct store *store, const char *counter, const char *day,
                                 bool blind, json_t **out) STORE_MUSTCHECK;

/* The blind count: what is in the drawer, by denomination (pence value -> how many, as JSON
 * text), counted_pence its total, and the card terminal's and the cheques' totals. open ->
 * counted, audited ("till_counted"); the expected cash is fixed from the movements at that
 * moment. STORE_NOT_FOUND when today's till was never opened; STORE_CONFLICT when it is not
 * open (counted already, or closed). */
enum store_result store_till_count(struct store *store, const char *counter, const char *day,
                                   const char *staff, const char *denominations, long counted_pence,
                                   long card_pence, long cheque_pence, time_t now) STORE_MUSTCHECK;

enum till_signoff_refusal {
    TILL_SIGNOFF_OK,
    TILL_SIGNOFF_NOT_COUNTED, /* not counted yet, or closed already */
    TILL_SIGNOFF_OWN_COUNT,   /* nobody signs off their own count */
    TILL_SIGNOFF_BANKED_TOO_MUCH,
};
/* The cash-up sign-off by a supervisor who did not count: counted -> closed with the banking
 * (banked_pence, the bag's number, a note), audited ("till_closed") with the variance; with a
 * printer (the counter's; NULL: none) the cash-up slip is queued there in the same write.
 * STORE_NOT_FOUND when never opened; STORE_CONFLICT with *why otherwise refused. */
enum store_result store_till_cashup(struct store *store, const char *counter, const char *day,
                                    const char *staff, long banked_pence, const char *bag_number,
                                    const char *note, const char *printer, time_t now,
                                    enum till_signoff_refusal *why) STORE_MUSTCHECK;

/* The float the counter's last closed till banked back (its float, less nothing): a
 * suggestion for the next opening; 0 when there is none. */
long store_till_suggested_float(struct store *store, const char *counter);

#endif
