/* evaluation: service_evaluate() and the helpers service rules report through.
 *
 * DESIGN: an evaluation runs the generic field checks (fields.c), then the service's own
 * rules, which always run so that the assistant sees every problem at once; rules read only
 * fields that were valid. If anything was wrong the result is cut back to the errors alone
 * (no fields, fee, lines or keys), so a caller cannot act on half a result.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/service_private.h"

#define MESSAGE_MAX 512

void service_eval_error(struct service_eval *ev, const char *field, const char *code,
                        const char *fmt, ...)
{
    char message[MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    fields_error(ev->out->errors, field, code, "%s", message);
}

bool service_eval_ok(const struct service_eval *ev)
{
    return json_array_size(ev->out->errors) == 0;
}

const json_t *service_eval_field(const struct service_eval *ev, const char *name)
{
    return json_object_get(ev->fields, name);
}

const char *service_eval_string(const struct service_eval *ev, const char *name)
{
    return json_string_value(json_object_get(ev->fields, name));
}

/* Records a store failure (once) and returns -1. */
static long store_failed(struct service_eval *ev)
{
    if (!ev->out->store_failed) {
        ev->out->store_failed = true;
        service_eval_error(ev, NULL, "store_unavailable",
                           "Earlier transactions cannot be checked just now; try again in a "
                           "minute, and tell a supervisor if it keeps happening");
    }
    return -1;
}

long service_eval_count_live(struct service_eval *ev, const char *key, const char *value,
                             const char *on)
{
    if (ev->out->store_failed || !ev->lookup || !ev->lookup->count_live)
        return store_failed(ev);
    long n = ev->lookup->count_live(ev->lookup->ctx, key, value, on);
    return n < 0 ? store_failed(ev) : n;
}

long service_eval_max_live(struct service_eval *ev, const char *key, const char *value,
                           const char *from, const char *until)
{
    if (ev->out->store_failed || !ev->lookup)
        return store_failed(ev);
    if (ev->lookup->max_live) {
        long n = ev->lookup->max_live(ev->lookup->ctx, key, value, from, until);
        return n < 0 ? store_failed(ev) : n;
    }
    long a = service_eval_count_live(ev, key, value, from);
    if (a < 0)
        return -1;
    long b = service_eval_count_live(ev, key, value, until);
    if (b < 0)
        return -1;
    return a > b ? a : b;
}

int service_eval_latest_until(struct service_eval *ev, const char *key, const char *value,
                              char until[SERVICE_DATE_SIZE])
{
    until[0] = '\0';
    if (ev->out->store_failed || !ev->lookup || !ev->lookup->latest_until)
        return (int)store_failed(ev);
    int found = ev->lookup->latest_until(ev->lookup->ctx, key, value, until);
    return found < 0 ? (int)store_failed(ev) : found;
}

int service_eval_referral_lookup(struct service_eval *ev, const char *lookup_id, json_t **record)
{
    *record = NULL;
    if (ev->out->store_failed || !ev->lookup || !ev->lookup->referral_lookup)
        return (int)store_failed(ev);
    int found = ev->lookup->referral_lookup(ev->lookup->ctx, lookup_id, record);
    return found < 0 ? (int)store_failed(ev) : found;
}

bool service_eval_fee(struct service_eval *ev, const char *code, long *pence)
{
    const struct fee_entry *fee = fees_on(&ev->service->fees, code, ev->today);
    if (!fee) {
        char words[VALIDATORS_DATE_WORDS_SIZE];
        service_eval_error(ev, NULL, "fee_not_set",
                           "No fee for \"%s\" is in force on %s; ask a supervisor to check the "
                           "service's fee table",
                           code, service_date_words(ev->today, words));
        return false;
    }
    *pence = fee->amount_pence;
    return true;
}

void service_eval_line(struct service_eval *ev, const char *description, long amount_pence)
{
    json_array_append_new(ev->out->lines, json_pack("{s:s, s:I}", "description", description,
                                                    "amount_pence", (json_int_t)amount_pence));
    ev->out->fee_pence += amount_pence;
}

void service_eval_end_key(struct service_eval *ev, const char *name, const char *value,
                          const char *until)
{
    json_array_append_new(ev->out->ends, json_pack("{s:s, s:s, s:s}", "name", name, "value", value,
                                                   "live_until", until));
}

void service_eval_stock(struct service_eval *ev, const char *item, long quantity)
{
    json_array_append_new(ev->out->stock,
                          json_pack("{s:s, s:I}", "item", item, "quantity", (json_int_t)quantity));
}

void service_eval_key(struct service_eval *ev, const char *name, const char *value,
                      const char *live_from, const char *live_until)
{
    json_array_append_new(ev->out->keys,
                          json_pack("{s:s, s:s, s:s, s:s}", "name", name, "value", value,
                                    "live_from", live_from, "live_until", live_until));
}

const char *service_money(long pence, char buf[VALIDATORS_MONEY_SIZE])
{
    if (!validators_money_format(pence, buf, VALIDATORS_MONEY_SIZE))
        buf[0] = '\0';
    return buf;
}

const char *service_date_words(struct validators_date d, char buf[VALIDATORS_DATE_WORDS_SIZE])
{
    if (!validators_date_words(d, buf, VALIDATORS_DATE_WORDS_SIZE))
        buf[0] = '\0';
    return buf;
}

void service_evaluation_clear(struct service_evaluation *evaluation)
{
    if (!evaluation)
        return;
    json_decref(evaluation->fields);
    json_decref(evaluation->errors);
    json_decref(evaluation->lines);
    json_decref(evaluation->keys);
    json_decref(evaluation->stock);
    json_decref(evaluation->ends);
    memset(evaluation, 0, sizeof *evaluation);
}

bool service_evaluation_repeatable(const struct service *service)
{
    return !service->rules || !service->rules->reads_clock;
}

void service_evaluate_in(const struct service *service, const json_t *fields,
                         const struct service_context *context, const struct service_lookup *lookup,
                         struct service_evaluation *out)
{
    memset(out, 0, sizeof *out);
    out->errors = json_array();
    out->lines = json_array();
    out->keys = json_array();
    out->stock = json_array();
    out->ends = json_array();
    if (!out->errors || !out->lines || !out->keys || !out->stock || !out->ends)
        abort(); /* see fields_error(): an evaluation that cannot hold its errors is unsafe */
    struct service_eval ev = {.service = service, .lookup = lookup, .out = out, .context = context};
    const char *today = context ? context->today : NULL;
    if (!today || !validators_date_parse(today, &ev.today)) {
        service_eval_error(&ev, NULL, "invalid_today", "The gateway gave no valid date for today");
        return;
    }
    validators_date_format(ev.today, ev.today_text);
    ev.fields = json_object();
    if (!ev.fields)
        abort();
    fields_validate(&service->fields, fields, ev.today, ev.fields, out->errors);
    if (json_is_object(fields)) {
        declared_evaluate(&ev);
        if (service->rules && service->rules->evaluate)
            service->rules->evaluate(&ev, service->rules_state);
    }
    if (json_array_size(out->errors) > 0) {
        json_decref(ev.fields);
        json_array_clear(out->lines);
        json_array_clear(out->keys);
        json_array_clear(out->stock);
        json_array_clear(out->ends);
        out->fee_pence = 0;
        out->live_until[0] = '\0';
        return;
    }
    out->fields = ev.fields;
}

void service_evaluate(const struct service *service, const json_t *fields, const char *today,
                      const struct service_lookup *lookup, struct service_evaluation *out)
{
    struct service_context context = {.today = today};
    service_evaluate_in(service, fields, &context, lookup, out);
}
