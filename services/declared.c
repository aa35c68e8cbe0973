/* declared: the rules a definition declares instead of writing C.
 *
 * DESIGN: three optional top-level keys of a definition, read once when the service loads
 * and applied by every evaluation before the service's own C hook (if any):
 *
 *   "pricing": [ {"fee": CODE, "when": {FIELD: [VALUE, ...], ...}, "quantity_field": FIELD},
 *                {"items_field": FIELD} ]
 *       A fee rule adds one receipt line (the fee's description, times the quantity field when
 *       one is named; no line for a quantity of 0) when every "when" field's value is one of
 *       those listed. An items rule adds a line per chosen item, priced by the item's "fee".
 *   "limits": [ {"key": NAME, "fields": [FIELD, ...], "max": N, "per": "day" | "year",
 *                "message": TEXT} ]
 *       "at most N live per value": the value is the named fields' values joined by "|"; a
 *       transaction is live for the day, or for a year from today. The evaluation refuses with
 *       limit_reached when N are already live, and otherwise adds the key, which the gateway
 *       writes in the sale's own database transaction (so two counters cannot both pass).
 *   "stock": {"item": CODE, "name": TEXT, "low_at": N, "quantity_field": FIELD}
 *       each sale takes the quantity field's value of the item from the counter's site.
 *
 * "At most N per visit" is the integer field's own "max". The generic back-end body is
 * {"reference","service","subject","fields","lines","fee_pence","live_until"?} for json-rest
 * and email.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/service_private.h"

#define PRICING_MAX      32
#define LIMITS_MAX       8
#define LIMIT_FIELDS_MAX 4
#define LIMIT_VALUE_MAX  512
#define LINE_MAX_LEN     200
#define STOCK_LOW_MAX    1000000L
#define LIMIT_MAX_MAX    1000L

enum limit_period { LIMIT_PER_DAY, LIMIT_PER_YEAR };

struct price_rule {
    const char *fee;            /* or NULL for an items rule */
    const json_t *when;         /* object FIELD -> [values], or NULL */
    const char *quantity_field; /* or NULL */
    const struct field_def *items;
};

struct limit_rule {
    const char *key;
    const char *fields[LIMIT_FIELDS_MAX];
    size_t field_count;
    long max;
    enum limit_period per;
    const char *message;
};

struct declared {
    struct price_rule prices[PRICING_MAX];
    size_t price_count;
    struct limit_rule limits[LIMITS_MAX];
    size_t limit_count;
    const json_t *stock;
    const char *stock_item;
    const char *stock_field;
};

static const char *const price_keys[] = {"fee", "when", "quantity_field", "items_field", NULL};
static const char *const limit_keys[] = {"key", "fields", "max", "per", "message", NULL};
static const char *const limit_required[] = {"key", "fields", "max", "per", NULL};
static const char *const stock_keys[] = {"item", "name", "low_at", "quantity_field", NULL};

static void load_price(struct service *s, struct declared *d, const json_t *rule, const char *path,
                       struct defcheck *dc)
{
    char p[DEFCHECK_PATH_MAX];
    struct price_rule r = {0};
    if (!defcheck_object(dc, path, rule, price_keys, NULL))
        return;
    const char *items = defcheck_string(dc, path, rule, "items_field", false);
    r.fee = defcheck_string(dc, path, rule, "fee", false);
    r.quantity_field = defcheck_string(dc, path, rule, "quantity_field", false);
    r.when = json_object_get(rule, "when");
    if (!items == !r.fee) {
        defcheck_problem(dc, path, "must name either a fee or an items_field");
        return;
    }
    if (items) {
        r.items = fields_require(&s->fields, items, FIELD_ITEMS, dc);
        size_t i;
        const json_t *v;
        json_array_foreach(r.items ? r.items->values : NULL, i, v)
        {
            const char *fee = json_string_value(json_object_get(v, "fee"));
            if (!fee || !fees_has_code(&s->fees, fee))
                defcheck_problem(dc, path, "item \"%s\" of %s has no fee from fees",
                                 json_string_value(json_object_get(v, "code")), items);
        }
    } else if (!fees_has_code(&s->fees, r.fee)) {
        defcheck_problem(dc, path, "fee \"%s\" is not in fees", r.fee);
    }
    if (r.quantity_field)
        (void)fields_require(&s->fields, r.quantity_field, FIELD_INTEGER, dc);
    if (r.when) {
        defcheck_path(p, sizeof p, path, "when");
        if (!json_is_object(r.when)) {
            defcheck_problem(dc, p, "must be an object of field names and lists of values");
            return;
        }
        const char *name;
        const json_t *values;
        json_object_foreach((json_t *)r.when, name, values)
        {
            const struct field_def *f = fields_find(&s->fields, name);
            if (!f || (f->type != FIELD_ENUM && f->type != FIELD_BOOLEAN))
                defcheck_problem(dc, p, "\"%s\" is not an enum or boolean field", name);
            if (!json_is_array(values) || json_array_size(values) == 0)
                defcheck_problem(dc, p, "\"%s\" must list the values it applies to", name);
        }
    }
    d->prices[d->price_count++] = r;
}

static void load_limit(struct service *s, struct declared *d, const json_t *rule, const char *path,
                       struct defcheck *dc)
{
    struct limit_rule r = {0};
    if (!defcheck_object(dc, path, rule, limit_keys, limit_required))
        return;
    r.key = defcheck_string(dc, path, rule, "key", true);
    r.message = defcheck_string(dc, path, rule, "message", false);
    bool ok = defcheck_integer(dc, path, rule, "max", 1, LIMIT_MAX_MAX, true, &r.max, NULL);
    const char *per = defcheck_string(dc, path, rule, "per", true);
    if (per && strcmp(per, "day") == 0)
        r.per = LIMIT_PER_DAY;
    else if (per && strcmp(per, "year") == 0)
        r.per = LIMIT_PER_YEAR;
    else if (per)
        defcheck_problem(dc, path, "per must be \"day\" or \"year\"");
    const json_t *fields = defcheck_array(dc, path, rule, "fields", true, true);
    if (fields && json_array_size(fields) > LIMIT_FIELDS_MAX) {
        defcheck_problem(dc, path, "at most %d fields make a limit's value", LIMIT_FIELDS_MAX);
        return;
    }
    size_t i;
    const json_t *f;
    json_array_foreach(fields, i, f)
    {
        const char *name = json_string_value(f);
        if (!name || !fields_find(&s->fields, name)) {
            defcheck_problem(dc, path, "fields[%zu] names no field of this service", i);
            ok = false;
            continue;
        }
        r.fields[r.field_count++] = name;
    }
    if (ok && r.key && per && r.field_count > 0)
        d->limits[d->limit_count++] = r;
}

static void load_stock(struct service *s, struct declared *d, struct defcheck *dc)
{
    const json_t *stock = json_object_get(s->definition, "stock");
    long low_at = 0;
    if (!stock || !defcheck_object(dc, "stock", stock, stock_keys, stock_keys))
        return;
    d->stock_item = defcheck_string(dc, "stock", stock, "item", true);
    (void)defcheck_string(dc, "stock", stock, "name", true);
    (void)defcheck_integer(dc, "stock", stock, "low_at", 0, STOCK_LOW_MAX, true, &low_at, NULL);
    d->stock_field = defcheck_string(dc, "stock", stock, "quantity_field", true);
    if (d->stock_field) {
        const struct field_def *f = fields_require(&s->fields, d->stock_field, FIELD_INTEGER, dc);
        if (f && (!f->required || !f->has_min || f->min < 1))
            defcheck_problem(dc, "stock.quantity_field",
                             "must be a required integer of at least 1");
    }
    d->stock = stock;
}

bool declared_load(struct service *s, struct defcheck *dc)
{
    char path[DEFCHECK_PATH_MAX];
    size_t before = dc->count;
    struct declared *d = calloc(1, sizeof *d);
    if (!d) {
        defcheck_problem(dc, "pricing", "out of memory");
        return false;
    }
    s->declared = d;
    const json_t *pricing = defcheck_array(dc, "", s->definition, "pricing", false, true);
    if (json_array_size(pricing) > PRICING_MAX)
        defcheck_problem(dc, "pricing", "at most %d rules", PRICING_MAX);
    size_t i;
    const json_t *rule;
    json_array_foreach(pricing, i, rule)
    {
        if (i >= PRICING_MAX)
            break;
        defcheck_path_index(path, sizeof path, "pricing", i);
        load_price(s, d, rule, path, dc);
    }
    const json_t *limits = defcheck_array(dc, "", s->definition, "limits", false, true);
    if (json_array_size(limits) > LIMITS_MAX)
        defcheck_problem(dc, "limits", "at most %d limits", LIMITS_MAX);
    json_array_foreach(limits, i, rule)
    {
        if (i >= LIMITS_MAX)
            break;
        defcheck_path_index(path, sizeof path, "limits", i);
        load_limit(s, d, rule, path, dc);
    }
    load_stock(s, d, dc);
    return dc->count == before;
}

void declared_free(struct declared *declared)
{
    free(declared);
}

const json_t *declared_stock_item(const struct service *s)
{
    return s->declared ? s->declared->stock : NULL;
}

/* A field's value as text for a limit key or a "when" match: strings as they are, true and
 * false, whole numbers in decimal. Returns false for anything else. */
static bool value_text(const json_t *v, char *buf, size_t size)
{
    int n;
    if (json_is_string(v))
        n = snprintf(buf, size, "%s", json_string_value(v));
    else if (json_is_boolean(v))
        n = snprintf(buf, size, "%s", json_is_true(v) ? "true" : "false");
    else if (json_is_integer(v))
        n = snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else
        return false;
    return n >= 0 && (size_t)n < size;
}

static bool rule_applies(struct service_eval *ev, const struct price_rule *r)
{
    const char *name;
    const json_t *values;
    json_object_foreach((json_t *)r->when, name, values)
    {
        const json_t *v = service_eval_field(ev, name);
        bool match = false;
        size_t i;
        const json_t *want;
        json_array_foreach(values, i, want)
        {
            match = match || (v && json_equal(v, want));
        }
        if (!match)
            return false;
    }
    return true;
}

static void price_items(struct service_eval *ev, const struct price_rule *r)
{
    char line[LINE_MAX_LEN], money[VALIDATORS_MONEY_SIZE];
    size_t i;
    const json_t *item;
    json_array_foreach(service_eval_field(ev, r->items->name), i, item)
    {
        const char *code = json_string_value(json_object_get(item, "code"));
        long quantity = (long)json_integer_value(json_object_get(item, "quantity"));
        const json_t *def = NULL;
        size_t k;
        const json_t *v;
        json_array_foreach(r->items->values, k, v)
        {
            if (code && strcmp(json_string_value(json_object_get(v, "code")), code) == 0)
                def = v;
        }
        long pence;
        if (!def || !service_eval_fee(ev, json_string_value(json_object_get(def, "fee")), &pence))
            continue;
        const char *label = json_string_value(json_object_get(def, "label"));
        if (quantity == 1)
            snprintf(line, sizeof line, "%s", label);
        else
            snprintf(line, sizeof line, "%s, %ld at %s", label, quantity,
                     service_money(pence, money));
        service_eval_line(ev, line, pence * quantity);
    }
}

static void price_fee(struct service_eval *ev, const struct price_rule *r)
{
    char line[LINE_MAX_LEN], money[VALIDATORS_MONEY_SIZE];
    long quantity = 1, pence;
    if (r->quantity_field) {
        const json_t *q = service_eval_field(ev, r->quantity_field);
        if (!json_is_integer(q) || json_integer_value(q) <= 0)
            return;
        quantity = (long)json_integer_value(q);
    }
    const struct fee_entry *fee = fees_on(&ev->service->fees, r->fee, ev->today);
    if (!service_eval_fee(ev, r->fee, &pence) || !fee)
        return;
    if (quantity == 1)
        snprintf(line, sizeof line, "%s", fee->description);
    else
        snprintf(line, sizeof line, "%s, %ld at %s", fee->description, quantity,
                 service_money(pence, money));
    service_eval_line(ev, line, pence * quantity);
}

static void check_limit(struct service_eval *ev, const struct limit_rule *r)
{
    char value[LIMIT_VALUE_MAX] = "", part[LIMIT_VALUE_MAX], until[VALIDATORS_DATE_SIZE];
    size_t used = 0;
    for (size_t i = 0; i < r->field_count; i++) {
        const json_t *v = service_eval_field(ev, r->fields[i]);
        if (!v || json_is_null(v) || !value_text(v, part, sizeof part))
            return; /* not given or not valid: nothing to limit */
        int n = snprintf(value + used, sizeof value - used, "%s%s", i ? "|" : "", part);
        if (n < 0 || (size_t)n >= sizeof value - used)
            return;
        used += (size_t)n;
    }
    struct validators_date end = ev->today;
    if (r->per == LIMIT_PER_YEAR) {
        struct validators_date next;
        if (!validators_date_add_years(ev->today, 1, &next) ||
            !validators_date_add_days(next, -1, &end))
            return;
    }
    validators_date_format(end, until);
    long live = service_eval_max_live(ev, r->key, value, ev->today_text, until);
    if (live < 0)
        return;
    if (live >= r->max) {
        if (r->message)
            service_eval_error(ev, r->fields[0], "limit_reached", "%s", r->message);
        else
            service_eval_error(ev, r->fields[0], "limit_reached",
                               "At most %ld a %s: the limit is "
                               "already reached",
                               r->max, r->per == LIMIT_PER_DAY ? "day" : "year");
        return;
    }
    service_eval_key(ev, r->key, value, ev->today_text, until);
}

void declared_evaluate(struct service_eval *ev)
{
    const struct declared *d = ev->service->declared;
    if (!d)
        return;
    for (size_t i = 0; i < d->price_count; i++) {
        const struct price_rule *r = &d->prices[i];
        if (r->items)
            price_items(ev, r);
        else if (!r->when || rule_applies(ev, r))
            price_fee(ev, r);
    }
    for (size_t i = 0; i < d->limit_count; i++)
        check_limit(ev, &d->limits[i]);
    if (d->stock_item) {
        const json_t *q = service_eval_field(ev, d->stock_field);
        if (json_is_integer(q) && json_integer_value(q) > 0)
            service_eval_stock(ev, d->stock_item, (long)json_integer_value(q));
    }
}

/* "Band A, new card: £2.65." for each fee rule in force on the day. */
void declared_describe_fees(const struct service *s, struct validators_date on, json_t *sentences)
{
    const struct declared *d = s->declared;
    char money[VALIDATORS_MONEY_SIZE];
    for (size_t i = 0; d && i < d->price_count; i++) {
        const struct price_rule *r = &d->prices[i];
        if (r->items) {
            size_t k;
            const json_t *v;
            json_array_foreach(r->items->values, k, v)
            {
                const struct fee_entry *fee =
                    fees_on(&s->fees, json_string_value(json_object_get(v, "fee")), on);
                if (fee)
                    json_array_append_new(
                        sentences,
                        json_sprintf("%s: %s each.", json_string_value(json_object_get(v, "label")),
                                     service_money(fee->amount_pence, money)));
            }
            continue;
        }
        const struct fee_entry *fee = fees_on(&s->fees, r->fee, on);
        if (fee)
            json_array_append_new(sentences, json_sprintf("%s: %s%s.", fee->description,
                                                          service_money(fee->amount_pence, money),
                                                          r->quantity_field ? " each" : ""));
    }
    if (s->payment_methods == SERVICE_PAY_CASH)
        json_array_append_new(sentences, json_string("Cash only."));
}

json_t *declared_payload(const struct service *s, const struct service_evaluation *evaluation,
                         const char *reference)
{
    return json_pack("{s:s, s:s, s:s, s:O, s:O, s:I, s:s?}", "reference", reference, "service",
                     s->code, "subject", s->name, "fields", evaluation->fields, "lines",
                     evaluation->lines, "fee_pence", (json_int_t)evaluation->fee_pence,
                     "live_until", evaluation->live_until[0] ? evaluation->live_until : NULL);
}
