/* store_money: money given back or moved by hand — voids, refunds, paid in and paid out.
 *
 * Each is one write on the writer thread: the till movement, the transaction's move (a void),
 * its delivery's cancellation (a void), a print job for the slip when the counter has a
 * printer, an idempotency record (refunds, paid in/out: the same Idempotency-Key and body
 * again gets the stored answer) and an audit entry commit together or not at all. Checks that
 * decide (is it already voided, how much is left to refund) are made inside that write, so
 * two supervisors racing cannot both succeed. */
#ifndef ONESTOP_STORE_MONEY_H
#define ONESTOP_STORE_MONEY_H

#include "gateway/store/core.h"
#include "gateway/store/deliveries.h"

#include <jansson.h>
#include <time.h>

/* Why a money write was refused (STORE_CONFLICT with one of these in `why`). */
enum money_refusal {
    MONEY_OK = 0,
    MONEY_ALREADY_VOIDED,
    MONEY_NOT_TODAY,     /* a void of an earlier day's sale: refund it instead */
    MONEY_TILL_NOT_OPEN, /* the acting counter's till is not open today */
    MONEY_TILL_CLOSED,   /* ... or it is counted or closed */
    MONEY_STALE,         /* a refund: amount_available_pence no longer holds */
    MONEY_TOO_MUCH,      /* a refund of more than remains */
    MONEY_NOTHING_PAID,  /* a refund of a sale that took no money (or was voided) */
    MONEY_KEY_CONFLICT,  /* the Idempotency-Key was used for another request */
    MONEY_WRONG_METHOD,  /* a refund to a method other than cash or the sale's own */
};

struct money_void {
    const char *reference;
    const char *site; /* only a sale of this site; NULL: any */
    const char *staff;
    const char *counter; /* the acting counter: its till gives the money back */
    const char *day;     /* today, Europe/London */
    time_t day_from;     /* today's bounds as UTC instants */
    time_t day_until;
    const char *reason;
    const char *printer; /* the acting counter's printer, or NULL */
    bool booking;        /* a booking cancelled before its cut-off (any day), not a void */
    time_t now;
    /* out */
    enum money_refusal why;
    long reversed_pence;
    char method[16];
    enum delivery_state delivery_was; /* meaningful when has_delivery */
    bool has_delivery;
};
/* Voids a sale of today (or, with booking, cancels a booking: the route has checked its
 * cut-off; a CANCELLED slip, audited "booking_cancelled"). STORE_NOT_FOUND for an unknown reference
 * (or another site's); STORE_CONFLICT with v->why. */
enum store_result store_money_void(struct store *store, struct money_void *v) STORE_MUSTCHECK;

struct money_refund {
    const char *reference;
    const char *site;
    const char *staff;
    const char *counter;
    const char *day;
    long amount_pence;
    long available_pence; /* what the client believes remains */
    const char *method;   /* cash, or the sale's own method */
    const char *reason;
    const char *printer;
    const char *idempotency_key;
    const char *request_hash;
    time_t now;
    /* out */
    enum money_refusal why;
    long remaining_pence; /* after this refund (or now, when refused) */
    int replay_status;    /* 0, or the stored answer's status for a resend */
    char *replay_body;    /* malloc'd stored answer for a resend; the caller frees it */
};
/* Refunds part or all of a sale. STORE_CONFLICT with r->why; STORE_OK with replay_status set
 * for a resend of the same request under the same key. */
enum store_result store_money_refund(struct store *store, struct money_refund *r) STORE_MUSTCHECK;
/* The 201 answer of a refund: {"reference","refund_pence","method","remaining_pence"}. */
json_t *store_money_refund_reply(const struct money_refund *r);

/* How much of a sale's payment is left to refund: paid less refunds and voids. */
enum store_result store_money_available(struct store *store, const char *reference,
                                        long *available) STORE_MUSTCHECK;

struct money_paid {
    const char *staff;
    const char *counter;
    const char *day;
    bool out; /* paid out of the drawer; else paid in */
    long amount_pence;
    const char *reason;
    const char *idempotency_key;
    const char *request_hash;
    time_t now;
    /* out */
    enum money_refusal why;
    int replay_status;
    char *replay_body; /* malloc'd; the caller frees it */
};
/* Cash paid in or out of the counter's open till. STORE_CONFLICT with p->why. */
enum store_result store_money_paid(struct store *store, struct money_paid *p) STORE_MUSTCHECK;

#endif
