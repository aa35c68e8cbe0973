/* service: the contract between the gateway and the counter services.
 *
 * A service is a JSON definition (config/services/<code>.json: fields, fee table with
 * effective dates, route to a back-end) plus built-in C rules (zones, limits, fees, payload).
 * The registry loads the enabled definitions once at start-up; after that everything here is
 * read-only and safe to call from many threads at once. services/ knows nothing of HTTP or
 * SQL: questions about earlier transactions go through struct service_lookup, which the
 * gateway supplies.
 */
#ifndef ONESTOP_SERVICES_SERVICE_H
#define ONESTOP_SERVICES_SERVICE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define SERVICE_WUR __attribute__((warn_unused_result))

/* Answers store questions a service's rules ask; supplied by the gateway. count_live counts
 * live transactions (not voided/failed) indexed under (key, value) whose
 * live_from <= on <= live_until. Returns -1 when the store failed (the evaluation then
 * reports a "store_unavailable" error and sets store_failed).
 *
 * max_live is optional (NULL is fine): the largest number of such transactions live on any
 * one day from `from` to `until` inclusive, or -1 when the store failed. The count can only
 * rise on `from` or on some entry's live_from, so it is the largest count_live(d) for d in
 * {from} and every live_from of the (key, value) entries that falls within [from, until].
 * Without it the rules use the larger of count_live(from) and count_live(until), which is
 * exact for "is there any overlap" between periods of equal length, but can undercount a
 * household limit when two existing permits overlap each other only inside the new
 * permit's period. */
struct service_lookup {
    void *ctx;
    long (*count_live)(void *ctx, const char *key, const char *value, const char *on);
    long (*max_live)(void *ctx, const char *key, const char *value, const char *from,
                     const char *until);
    /* The latest live_until of any (key, value) entry of a transaction not voided, live or
     * expired, into until (SERVICE_DATE_SIZE): 1 found, 0 none, -1 the store failed. A card
     * renewal finds the current expiry this way. Optional for services that never ask. */
    int (*latest_until)(void *ctx, const char *key, const char *value, char *until);
    /* The NHS e-Referral look-up recorded under lookup_id, as a new object {"counter",
     * "made_at" (unix seconds),"ubrn","state","state_label","priority","nhs_last3"} in
     * *record: 1 found, 0 none, -1 the store failed. Optional (nhs-referral asks). */
    int (*referral_lookup)(void *ctx, const char *lookup_id, json_t **record);
};

#define SERVICE_DATE_SIZE 11 /* "YYYY-MM-DD" */

/* Where and by whom a transaction is made: rules are evaluated in this context. today is
 * "YYYY-MM-DD" in Europe/London (required); site, counter, role, staff ("assistant",
 * "supervisor", ...) may be NULL when not known (a quote from a test, say). Borrowed. */
struct service_context {
    const char *today;
    const char *site;
    const char *counter;
    const char *role;
    const char *staff; /* the signed-in username (consent is recorded against it); may be NULL */
};

/* What service_evaluate() found. After service_evaluate() errors, lines and keys are always
 * arrays (never NULL, barring out-of-memory); when errors is not empty, fields is NULL,
 * fee_pence is 0, lines and keys are empty and live_until is "". */
struct service_evaluation {
    json_t *fields; /* normalised fields (owned), NULL if invalid */
    json_t *errors; /* array of {"field","code","message"} (owned); empty when valid. Every
                       problem at once. "field" is null for problems not about one field
                       (store_unavailable, fee_not_set, invalid_fields). */
    long fee_pence;
    json_t *lines; /* [{"description","amount_pence"}] (owned); amounts are never negative */
    json_t *keys;  /* [{"name","value","live_from","live_until"}] index entries this
                      transaction adds (owned) */
    json_t *ends;  /* [{"name","value","live_until"}] index entries of earlier transactions
                      this one ends (owned): their live_until is brought back to the date (a
                      lost card replaced). Applied in the sale's database transaction. */
    json_t *stock; /* [{"item","quantity"}] packs this transaction takes from the context's
                      site (owned); the gateway applies them in the sale's database
                      transaction and refuses the sale if any would go below zero */
    char live_until[SERVICE_DATE_SIZE]; /* YYYY-MM-DD or "" */
    bool store_failed;
    const char *backend; /* the back-end the rules chose for this transaction (borrowed from
                            the definition: a partner's), or NULL for the service's route */
};

struct service;
struct service_registry;

/* Loads config/services/<code>.json from dir for each code in enabled_codes (a JSON array of
 * strings; NULL means every *.json file in dir). Every problem found in any file is appended
 * to problems (when not NULL) as a string "FILE: KEY: problem", e.g.
 * "residents-parking-permit.json: fees[1].amount_pence: must be a whole number of pence".
 * Returns NULL when there was any problem; otherwise a registry to free with
 * service_registry_free(). */
struct service_registry *service_registry_load(const char *dir, const json_t *enabled_codes,
                                               json_t *problems) SERVICE_WUR;
void service_registry_free(struct service_registry *registry);

/* NULL when no enabled service has this code. */
const struct service *service_registry_find(const struct service_registry *registry,
                                            const char *code);
size_t service_registry_count(const struct service_registry *registry);
/* Services in the order they were enabled; NULL when i is out of range. */
const struct service *service_registry_at(const struct service_registry *registry, size_t i);

/* The i-th back-end the service's rules may route a transaction to besides its route (a
 * partner's), or NULL past the last. Config checks each names a back-end. */
const char *service_rules_backend(const struct service *service, size_t i);

/* Accessors; the strings live as long as the registry. */
/* The declared stock item ({"item","name","low_at"}), or NULL when the service draws on no
 * stock (borrowed). */
const json_t *service_stock_item(const struct service *service);
const char *service_code(const struct service *service);
const char *service_name(const struct service *service);
const char *service_description(const struct service *service);
const char *service_reference_prefix(const struct service *service);
/* Name of a back-end in onestop.json ("parking"). */
const char *service_backend(const struct service *service);
/* The connector the payload is shaped for: "json-rest" or "open311". */
const char *service_connector(const struct service *service);
/* The whole definition file (borrowed; do not modify). */
const json_t *service_definition(const struct service *service);
/* The name of the service's documents field (uploaded documents the transaction takes), or
 * NULL when it has none. */
const char *service_documents_field(const struct service *service);
/* True when date ("YYYY-MM-DD") is one of the closed_dates (bank holidays) of the service's
 * date field `field`; false when it is open or there is no such date field. */
bool service_date_closed(const struct service *service, const char *field, const char *date);

/* Longest retention a definition may declare (100 years). */
#define SERVICE_RETENTION_DAYS_MAX 36500L
/* Days the personal fields of a completed transaction are kept: the definition's
 * "retention_days", or fallback when it declares none. */
long service_retention_days(const struct service *service, long fallback);
/* The names of the fields marked "personal": true, in definition order: a new array of
 * strings (json_decref it), empty when there are none. */
json_t *service_personal_fields(const struct service *service);

/* The catalogue entry for GET /api/v1/services, as of today's date in Europe/London:
 * {"code","name","description","reference_prefix","fields":[{"name","type","label",
 * "required","constraints", and for enum and items "values"; optional "help","default",
 * "required_when","refused"}],"payment_methods":[...],"fee_rules":["sentence", ...]}.
 * New reference; NULL only when out of memory. */
json_t *service_catalogue_entry(const struct service *service);
/* The same with the fee rules in force on today ("YYYY-MM-DD"). */
json_t *service_catalogue_entry_on(const struct service *service, const char *today);

/* True when one of the service's fields takes its choices from the named look-up
 * ("addresses", "slots"). */
bool service_declares_lookup(const struct service *service, const char *lookup);

/* method is one of cash, card, cheque, waived, none. */
bool service_payment_method_allowed(const struct service *service, const char *method);

/* Checks fields (the request's "fields" object) against the service's definition and rules
 * as of today ("YYYY-MM-DD", Europe/London), asking lookup about earlier transactions, and
 * fills out (which need not be initialised; free it with service_evaluation_clear()).
 * lookup may be NULL only for services whose rules ask nothing of the store. */
void service_evaluate(const struct service *service, const json_t *fields, const char *today,
                      const struct service_lookup *lookup, struct service_evaluation *out);
/* The same in a full context (site, counter, staff role); service_evaluate() is this with
 * only today. */
void service_evaluate_in(const struct service *service, const json_t *fields,
                         const struct service_context *context, const struct service_lookup *lookup,
                         struct service_evaluation *out);
/* True when service_evaluate_in() is a function of its arguments and of what lookup answers:
 * the same fields in the same context, given the same answer to every question asked of the
 * store, give the same evaluation (the service's rules read no clock). The gateway then takes
 * an evaluation made earlier once the store's answers are confirmed unchanged. */
bool service_evaluation_repeatable(const struct service *service);
/* Frees what an evaluation owns and zeroes it; safe on a zeroed struct and twice. */
void service_evaluation_clear(struct service_evaluation *evaluation);

/* The body to send to the service's back-end for a valid evaluation (new reference; NULL when
 * the evaluation is not valid). A service's C hook may shape it (open311:
 * {"service_code","address_id","attributes":{...}}); otherwise, for json-rest and email,
 * {"reference","service","subject","fields","lines","fee_pence"}. */
json_t *service_backend_payload(const struct service *service,
                                const struct service_evaluation *evaluation, const char *reference);

#endif
