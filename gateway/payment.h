/* payment: checks the payment part of a transaction against the fee and the service.
 *
 * Methods: cash (tendered >= fee, change computed), card (the terminal's auth code only —
 * never a card number), cheque, waived (supervisor, reason required), none (nothing to pay). */
#ifndef ONESTOP_PAYMENT_H
#define ONESTOP_PAYMENT_H

#include "gateway/store.h"

#include <jansson.h>
#include <stdbool.h>

struct service;

struct payment {
    char method[8];
    long amount_pence;
    long tendered_pence;
    long change_pence;
    char auth_code[16];
    char reason[201];
    bool needs_supervisor; /* waived by someone who is not a supervisor */
};

/* Parses the "payment" object's shape (field errors appended to errors, field names
 * "payment.method" etc.). True when the shape is right; the amounts are checked by
 * payment_settle once the fee is known. */
bool payment_parse(const json_t *payment, const struct service *service, enum staff_role role,
                   struct payment *out, json_t *errors);
/* Applies the fee: amount, change; appends errors (tendered too little, nothing to pay...). */
bool payment_settle(struct payment *p, long fee_pence, json_t *errors);

#endif
