/* service_private: what the registry, the evaluation driver and each service's C rules share
 * (private to services/; the gateway uses services/service.h only).
 *
 * A service's rules are a struct service_rules registered in the table in registry.c. The
 * generic part of a definition (fields, fees, payment methods, route) is read by the
 * registry; the definition's "rules" object belongs to the service's own load function.
 */
#ifndef ONESTOP_SERVICES_SERVICE_PRIVATE_H
#define ONESTOP_SERVICES_SERVICE_PRIVATE_H

#include "services/defcheck.h"
#include "services/fees.h"
#include "services/fields.h"
#include "services/service.h"
#include "services/validators.h"

enum service_payment_method {
    SERVICE_PAY_CASH = 1 << 0,
    SERVICE_PAY_CARD = 1 << 1,
    SERVICE_PAY_CHEQUE = 1 << 2,
    SERVICE_PAY_WAIVED = 1 << 3,
    SERVICE_PAY_NONE = 1 << 4,
};

struct service {
    json_t *definition; /* the whole file (owned); the strings below point into it */
    char file[DEFCHECK_PATH_MAX];
    const char *code;
    const char *name;
    const char *description;
    const char *reference_prefix;
    const char *backend;
    const char *connector;
    const json_t *route;
    unsigned payment_methods; /* enum service_payment_method bits */
    struct field_set fields;
    struct fee_table fees;
    const struct service_rules *rules;
    void *rules_state; /* owned by rules->free_state */
};

/* One evaluation in progress: what the rules read and the helpers they report through. */
struct service_eval {
    const struct service *service;
    struct validators_date today;
    char today_text[VALIDATORS_DATE_SIZE];
    const struct service_lookup *lookup;
    json_t *fields; /* valid, normalised fields (absent when missing or invalid) */
    struct service_evaluation *out;
};

struct service_rules {
    const char *code;      /* the service these rules are for */
    const char *connector; /* the connector its payload is shaped for */
    /* Checks the definition's "rules" object (path "rules") and whatever the rules need of
     * the fields and fees; *state receives what evaluation needs. Reports through dc. */
    bool (*load)(const struct service *service, const json_t *rules, struct defcheck *dc,
                 void **state);
    void (*free_state)(void *state);
    /* Adds errors, lines, keys and live_until through the service_eval helpers. Runs even
     * when some fields were invalid: it must skip what it cannot check. */
    void (*evaluate)(struct service_eval *ev, const void *state);
    /* Appends sentences (strings) describing the fees in force on a date. */
    void (*describe_fees)(const struct service *service, const void *state,
                          struct validators_date on, json_t *sentences);
    /* The back-end body for a valid evaluation (new reference). */
    json_t *(*payload)(const struct service *service, const void *state,
                       const struct service_evaluation *evaluation, const char *reference);
};

extern const struct service_rules residents_parking_permit_rules;
extern const struct service_rules bulky_refuse_rules;

/* ---- Helpers for rules ----------------------------------------------------------------- */

/* Adds an error; field NULL for problems not about one field. */
void service_eval_error(struct service_eval *ev, const char *field, const char *code,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* True when the evaluation has no errors so far. */
bool service_eval_ok(const struct service_eval *ev);
/* A valid normalised field's value, or NULL. */
const json_t *service_eval_field(const struct service_eval *ev, const char *name);
const char *service_eval_string(const struct service_eval *ev, const char *name);
/* Asks the lookup; -1 when the store failed (reported once as store_unavailable, and
 * store_failed set; later calls return -1 without asking). */
long service_eval_count_live(struct service_eval *ev, const char *key, const char *value,
                             const char *on);
/* The most entries live on any one day from `from` to `until`: the lookup's max_live when it
 * has one, otherwise the larger of count_live on the two days (see service.h). -1 as above. */
long service_eval_max_live(struct service_eval *ev, const char *key, const char *value,
                           const char *from, const char *until);
/* The fee in force today for code; false (reported as fee_not_set) when there is none. */
bool service_eval_fee(struct service_eval *ev, const char *code, long *pence)
    __attribute__((warn_unused_result));
/* Adds a receipt line. */
void service_eval_line(struct service_eval *ev, const char *description, long amount_pence);
/* Adds an index entry. */
void service_eval_key(struct service_eval *ev, const char *name, const char *value,
                      const char *live_from, const char *live_until);

/* "£41.50" into a buffer of VALIDATORS_MONEY_SIZE. */
const char *service_money(long pence, char buf[VALIDATORS_MONEY_SIZE]);
/* "1 April 2026" into a buffer of VALIDATORS_DATE_WORDS_SIZE. */
const char *service_date_words(struct validators_date d, char buf[VALIDATORS_DATE_WORDS_SIZE]);

#endif
