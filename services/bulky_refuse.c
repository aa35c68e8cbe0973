/* bulky_refuse: the rules of a bulky refuse collection.
 *
 * DESIGN: the generic items field already checks the item list, refused items and the most
 * items a booking may have; these rules price the booking. The price is banded by the total
 * number of items ("bands" in the definition's rules map item counts to fee codes, and must
 * cover every count from 1 to the items field's max_total_quantity exactly once); Council
 * Tax Support recipients get council_tax_support_percent_off off (rounded to the nearest
 * penny, halves up). The back-end is Open311: the payload carries the configured
 * route.service_code, the UPRN as address_id and string attributes; when the assistant held
 * the day (an optional slot_hold field, filled by the counter app from the slot_holds
 * look-up), attribute reservation_id confirms the hold with the booking.
 */
#include <stdlib.h>
#include <string.h>

#include "services/service_private.h"

#define BANDS_MAX        10
#define PERCENT          100
#define LINE_MAX_LEN     160
#define ITEMS_TEXT_MAX   512
#define BULKY_HOLD_FIELD "slot_hold" /* optional: the waste system's reservation of the day */

struct bulky_band {
    long min_items;
    long max_items;
    const char *fee;
};

struct bulky_rules {
    struct bulky_band bands[BANDS_MAX];
    size_t band_count;
    long cts_percent_off;
    long max_items;
    const struct field_def *items;
    const char *service_code;
    bool holds; /* the definition has a slot_hold field: its reservation id goes to the back-end */
};

static const char *const rule_keys[] = {"bands", "council_tax_support_percent_off", NULL};
static const char *const band_keys[] = {"min_items", "max_items", "fee", NULL};

static const struct bulky_band *band_for(const struct bulky_rules *r, long count)
{
    for (size_t i = 0; i < r->band_count; i++)
        if (count >= r->bands[i].min_items && count <= r->bands[i].max_items)
            return &r->bands[i];
    return NULL;
}

static void load_bands(const struct service *service, struct bulky_rules *r, const json_t *rules,
                       struct defcheck *dc)
{
    char path[DEFCHECK_PATH_MAX];
    size_t before = dc->count;
    const json_t *bands = defcheck_array(dc, "rules", rules, "bands", true, true);
    if (bands && json_array_size(bands) > BANDS_MAX) {
        defcheck_problem(dc, "rules.bands", "at most %d bands", BANDS_MAX);
        return;
    }
    size_t i;
    const json_t *band;
    json_array_foreach(bands, i, band)
    {
        struct bulky_band b = {0};
        defcheck_path_index(path, sizeof path, "rules.bands", i);
        if (!defcheck_object(dc, path, band, band_keys, band_keys))
            continue;
        bool ok = defcheck_integer(dc, path, band, "min_items", 1, FIELD_ITEMS_ENTRIES_MAX, true,
                                   &b.min_items, NULL);
        ok = defcheck_integer(dc, path, band, "max_items", 1, FIELD_ITEMS_ENTRIES_MAX, true,
                              &b.max_items, NULL) &&
             ok;
        b.fee = defcheck_string(dc, path, band, "fee", true);
        if (b.fee && !fees_has_code(&service->fees, b.fee)) {
            defcheck_problem(dc, path, "fee \"%s\" is not in fees", b.fee);
            ok = false;
        }
        if (ok && b.min_items > b.max_items) {
            defcheck_problem(dc, path, "min_items is more than max_items");
            ok = false;
        }
        if (ok && b.fee)
            r->bands[r->band_count++] = b;
    }
    if (!r->items || dc->count > before)
        return;
    /* Every count a booking can have is priced by exactly one band. */
    for (long n = 1; n <= r->max_items; n++) {
        size_t matches = 0;
        for (size_t k = 0; k < r->band_count; k++)
            matches += n >= r->bands[k].min_items && n <= r->bands[k].max_items;
        if (matches != 1)
            defcheck_problem(dc, "rules.bands", "%s band prices a booking of %ld item%s",
                             matches ? "more than one" : "no", n, n == 1 ? "" : "s");
    }
}

static bool bulky_load(const struct service *service, const json_t *rules, struct defcheck *dc,
                       void **state)
{
    size_t before = dc->count;
    struct bulky_rules *r = calloc(1, sizeof *r);
    if (!r) {
        defcheck_problem(dc, "rules", "out of memory");
        return false;
    }
    *state = r;
    const struct field_set *fs = &service->fields;
    (void)fields_require(fs, "uprn", FIELD_UPRN, dc);
    (void)fields_require(fs, "slot", FIELD_DATE, dc);
    (void)fields_require(fs, "location", FIELD_STRING, dc);
    (void)fields_require(fs, "phone", FIELD_PHONE, dc);
    (void)fields_require(fs, "council_tax_support", FIELD_BOOLEAN, dc);
    r->items = fields_require(fs, "items", FIELD_ITEMS, dc);
    const struct field_def *hold = fields_find(fs, BULKY_HOLD_FIELD);
    if (hold && hold->type != FIELD_STRING)
        defcheck_problem(dc, "fields." BULKY_HOLD_FIELD, "must be of type string");
    r->holds = hold != NULL;
    r->max_items = r->items ? r->items->max_total : 0;
    r->service_code =
        service->route ? json_string_value(json_object_get(service->route, "service_code")) : NULL;
    if (service->route && !r->service_code)
        defcheck_problem(dc, "route.service_code", "is required for an Open311 back-end");
    if (!rules) {
        defcheck_problem(dc, "rules", "is required (bands and concessions)");
        return false;
    }
    if (!defcheck_object(dc, "rules", rules, rule_keys, rule_keys) && !json_is_object(rules))
        return false;
    (void)defcheck_integer(dc, "rules", rules, "council_tax_support_percent_off", 0, PERCENT, true,
                           &r->cts_percent_off, NULL);
    load_bands(service, r, rules, dc);
    return dc->count == before;
}

static void bulky_free(void *state)
{
    free(state);
}

static long item_total(const json_t *items)
{
    long total = 0;
    size_t i;
    const json_t *item;
    json_array_foreach(items, i, item)
    {
        total += (long)json_integer_value(json_object_get(item, "quantity"));
    }
    return total;
}

static void bulky_evaluate(struct service_eval *ev, const void *state)
{
    const struct bulky_rules *r = state;
    const json_t *items = service_eval_field(ev, "items");
    bool cts = json_is_true(service_eval_field(ev, "council_tax_support"));
    char line[LINE_MAX_LEN];
    if (!items)
        return;
    long total = item_total(items);
    const struct bulky_band *band = band_for(r, total);
    long pence;
    if (!band || !service_eval_fee(ev, band->fee, &pence))
        return;
    int n = snprintf(line, sizeof line, "Bulky waste collection, %ld item%s", total,
                     total == 1 ? "" : "s");
    if (cts && r->cts_percent_off > 0) {
        pence = (pence * (PERCENT - r->cts_percent_off) + PERCENT / 2) / PERCENT;
        if (n > 0 && (size_t)n < sizeof line) {
            if (r->cts_percent_off * 2 == PERCENT)
                snprintf(line + n, sizeof line - (size_t)n, " - Council Tax Support, half price");
            else
                snprintf(line + n, sizeof line - (size_t)n, " - Council Tax Support, %ld%% off",
                         r->cts_percent_off);
        }
    }
    service_eval_line(ev, line, pence);
}

static void bulky_describe_fees(const struct service *service, const void *state,
                                struct validators_date on, json_t *sentences)
{
    const struct bulky_rules *r = state;
    char money[VALIDATORS_MONEY_SIZE], words[VALIDATORS_DATE_WORDS_SIZE];
    for (size_t i = 0; i < r->band_count; i++) {
        const struct bulky_band *b = &r->bands[i];
        const struct fee_entry *fee = fees_on(&service->fees, b->fee, on);
        if (!fee) {
            json_array_append_new(sentences, json_sprintf("No fee for %ld to %ld items is in "
                                                          "force on %s.",
                                                          b->min_items, b->max_items,
                                                          service_date_words(on, words)));
            continue;
        }
        json_array_append_new(sentences, json_sprintf("A collection of %ld to %ld items costs %s.",
                                                      b->min_items, b->max_items,
                                                      service_money(fee->amount_pence, money)));
    }
    json_array_append_new(sentences,
                          json_sprintf("A booking can have at most %ld items.", r->max_items));
    if (r->cts_percent_off > 0) {
        if (r->cts_percent_off * 2 == PERCENT)
            json_array_append_new(sentences,
                                  json_string("Council Tax Support recipients pay half price."));
        else
            json_array_append_new(
                sentences,
                json_sprintf("Council Tax Support recipients get %ld%% off.", r->cts_percent_off));
    }
    if (r->items && json_array_size(r->items->refused) > 0) {
        char list[ITEMS_TEXT_MAX] = "";
        size_t used = 0, i;
        const json_t *item;
        json_array_foreach(r->items->refused, i, item)
        {
            int n = snprintf(list + used, sizeof list - used, "%s%s", i ? "; " : "",
                             json_string_value(json_object_get(item, "label")));
            if (n < 0 || (size_t)n >= sizeof list - used)
                break;
            used += (size_t)n;
        }
        json_array_append_new(sentences, json_sprintf("We cannot collect: %s.", list));
    }
}

/* "sofa:1,fridge:1" */
static json_t *items_text(const json_t *items)
{
    char text[ITEMS_TEXT_MAX] = "";
    size_t used = 0, i;
    const json_t *item;
    json_array_foreach(items, i, item)
    {
        int n = snprintf(text + used, sizeof text - used, "%s%s:%" JSON_INTEGER_FORMAT,
                         i ? "," : "", json_string_value(json_object_get(item, "code")),
                         json_integer_value(json_object_get(item, "quantity")));
        if (n < 0 || (size_t)n >= sizeof text - used)
            return NULL;
        used += (size_t)n;
    }
    return json_string(text);
}

static json_t *bulky_payload(const struct service *service, const void *state,
                             const struct service_evaluation *e, const char *reference)
{
    const struct bulky_rules *r = state;
    const json_t *f = e->fields;
    const char *uprn = json_string_value(json_object_get(f, "uprn"));
    const char *slot = json_string_value(json_object_get(f, "slot"));
    const char *location = json_string_value(json_object_get(f, "location"));
    const char *phone = json_string_value(json_object_get(f, "phone"));
    json_t *items = items_text(json_object_get(f, "items"));
    if (!uprn || !slot || !location || !phone || !items || !r->service_code) {
        json_decref(items);
        return NULL;
    }
    json_t *payload =
        json_pack("{s:s, s:s, s:{s:s, s:s, s:o, s:s, s:s}}", "service_code", r->service_code,
                  "address_id", uprn, "attributes", "reference", reference, "slot", slot, "items",
                  items, "location", location, "phone", phone);
    const char *hold = json_string_value(json_object_get(f, BULKY_HOLD_FIELD));
    if (payload && r->holds && hold && *hold)
        json_object_set_new(json_object_get(payload, "attributes"), "reservation_id",
                            json_string(hold));
    return payload;
}

const struct service_rules bulky_refuse_rules = {
    .code = "bulky-refuse",
    .connector = "open311",
    .load = bulky_load,
    .free_state = bulky_free,
    .evaluate = bulky_evaluate,
    .describe_fees = bulky_describe_fees,
    .payload = bulky_payload,
};
