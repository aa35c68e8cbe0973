/* service_private: what the registry, the evaluation driver and each service's C rules share
 * (private to services/; the gateway uses services/service.h only).
 *
 * Everything a definition can declare (fields, fees, pricing, limits, stock, payment methods,
 * route) is read by the registry and declared.c, and a service with nothing more needs no C.
 * A service whose rules cannot be declared has one C file defining a struct service_rules of
 * hooks, listed once in the table in registry.c; the definition's "rules" object belongs to
 * its load hook.
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
    long retention_days; /* "retention_days", or -1: the gateway's default */
    struct fee_table fees;
    const struct service_rules *rules; /* NULL when the definition alone says it all */
    void *rules_state;                 /* owned by rules->free_state */
    struct declared *declared;         /* pricing, limits, stock (declared.c; owned) */
};

/* One evaluation in progress: what the rules read and the helpers they report through. */
struct service_eval {
    const struct service *service;
    struct validators_date today;
    char today_text[VALIDATORS_DATE_SIZE];
    const struct service_context *context; /* site, counter, role (today as above) */
    const struct service_lookup *lookup;
    json_t *fields; /* valid, normalised fields (absent when missing or invalid) */
    struct service_evaluation *out;
};

/* A service's C hooks. Every hook but code is optional: without load the definition may have
 * no "rules"; evaluate and describe_fees run after the declared pricing and limits; without
 * payload the generic body is sent. */
struct service_rules {
    const char *code;      /* the service these rules are for */
    const char *connector; /* the connector its payload is shaped for (NULL: any) */
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
    /* The i-th back-end the rules may choose (service_rules_backend), or NULL past the last. */
    const char *(*backend_at)(const void *state, size_t i);
    /* More members for the service's catalogue entry (a new object), e.g. what the counter app
     * must show that no field says (a partner's reasons, the consent wording). */
    json_t *(*catalogue)(const void *state);
    /* True when evaluate reads the clock (a timestamp in the fields, an age check): the same
     * fields, context and store answers may then give another evaluation a moment later. */
    bool reads_clock;
};

/* ---- Declared rules (declared.c) ------------------------------------------------------- */

/* Reads the definition's "pricing", "limits" and "stock" (reporting to dc) into s->declared. */
bool declared_load(struct service *s, struct defcheck *dc) __attribute__((warn_unused_result));
void declared_free(struct declared *declared);
/* Prices, checks limits (adding their keys) and takes stock, for the valid fields. */
void declared_evaluate(struct service_eval *ev);
/* Sentences about the declared prices in force on a date. */
void declared_describe_fees(const struct service *s, struct validators_date on, json_t *sentences);
/* The generic back-end body (new reference). */
json_t *declared_payload(const struct service *s, const struct service_evaluation *evaluation,
                         const char *reference);
/* The declared stock item {"item","name","low_at","quantity_field"} or NULL (borrowed). */
const json_t *declared_stock_item(const struct service *s);

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
/* The latest live_until of (key, value) into until: 1 found, 0 none, -1 store failure
 * (reported as for count_live). */
int service_eval_latest_until(struct service_eval *ev, const char *key, const char *value,
                              char until[SERVICE_DATE_SIZE]) __attribute__((warn_unused_result));
/* The recorded NHS e-Referral look-up (see struct service_lookup) into *record: 1 found,
 * 0 none, -1 store failure (reported as for count_live). */
int service_eval_referral_lookup(struct service_eval *ev, const char *lookup_id, json_t **record)
    __attribute__((warn_unused_result));
/* The fee in force today for code; false (reported as fee_not_set) when there is none. */
bool service_eval_fee(struct service_eval *ev, const char *code, long *pence)
    __attribute__((warn_unused_result));
/* Adds a receipt line. */
void service_eval_line(struct service_eval *ev, const char *description, long amount_pence);
/* Ends the earlier (key, value) entries: live no later than until. */
void service_eval_end_key(struct service_eval *ev, const char *name, const char *value,
                          const char *until);
/* Takes quantity of a stock item from the context's site. */
void service_eval_stock(struct service_eval *ev, const char *item, long quantity);
/* Adds an index entry. */
void service_eval_key(struct service_eval *ev, const char *name, const char *value,
                      const char *live_from, const char *live_until);

/* "£41.50" into a buffer of VALIDATORS_MONEY_SIZE. */
const char *service_money(long pence, char buf[VALIDATORS_MONEY_SIZE]);
/* "1 April 2026" into a buffer of VALIDATORS_DATE_WORDS_SIZE. */
const char *service_date_words(struct validators_date d, char buf[VALIDATORS_DATE_WORDS_SIZE]);

#endif
