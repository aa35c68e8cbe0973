/* residents_parking_permit: the rules of a residents' (or visitor) parking permit.
 *
 * DESIGN: the address must be in a permit zone (zones list UPRNs in the definition's
 * "rules"). A permit is live from its start date for permit_years years (to the day before
 * the anniversary). Limits are asked of the store through three index keys this service
 * writes for each permit, live over the permit's dates:
 *   parking.resident.uprn  a resident permit for the household (at most
 *                          household_max_resident_permits live at once)
 *   parking.vrm            a permit for the vehicle (one live permit per vehicle)
 *   parking.free.uprn      the Blue Badge household's free permit (one live at once)
 * The store answers "how many are live at most on any day of the new permit's period"
 * (service_eval_max_live(), exact when the gateway supplies max_live).
 * Fees come from the fee table in force today: "permit", a Leisure Key band's rate
 * (leisure_key_rates maps band to fee code), "scratch_card" per visitor scratch card.
 */
#include <stdlib.h>
#include <string.h>

#include "services/service_private.h"

#define PERMIT_YEARS_MAX    5
#define HOUSEHOLD_MAX_LIMIT 20
#define LINE_MAX_LEN        160

#define KEY_RESIDENT "parking.resident.uprn"
#define KEY_VEHICLE  "parking.vrm"
#define KEY_FREE     "parking.free.uprn"

struct parking_rules {
    const json_t *zones;         /* [{"code","name","uprns":[...]}] */
    const json_t *leisure_rates; /* {"A": "permit_leisure_key_a"} or NULL */
    long household_max;
    long permit_years;
    long scratch_cards_max;
};

static const char *const rule_keys[] = {"zones", "household_max_resident_permits", "permit_years",
                                        "leisure_key_rates", NULL};
static const char *const rule_required[] = {"zones", "household_max_resident_permits",
                                            "permit_years", NULL};
static const char *const zone_keys[] = {"code", "name", "uprns", NULL};

/* The zone holding uprn, or NULL. */
static const json_t *zone_of(const struct parking_rules *r, const char *uprn)
{
    size_t i, j;
    const json_t *zone, *u;
    json_array_foreach(r->zones, i, zone)
    {
        json_array_foreach(json_object_get(zone, "uprns"), j, u)
        {
            if (strcmp(json_string_value(u), uprn) == 0)
                return zone;
        }
    }
    return NULL;
}

static void load_zones(struct parking_rules *r, const json_t *rules, struct defcheck *dc)
{
    char path[DEFCHECK_PATH_MAX], upath[DEFCHECK_PATH_MAX];
    char uprn[VALIDATORS_UPRN_SIZE];
    r->zones = defcheck_array(dc, "rules", rules, "zones", true, true);
    size_t i, j;
    const json_t *zone, *u;
    json_array_foreach(r->zones, i, zone)
    {
        defcheck_path_index(path, sizeof path, "rules.zones", i);
        if (!defcheck_object(dc, path, zone, zone_keys, zone_keys))
            continue;
        (void)defcheck_string(dc, path, zone, "code", true);
        (void)defcheck_string(dc, path, zone, "name", true);
        const json_t *uprns = defcheck_array(dc, path, zone, "uprns", true, true);
        json_array_foreach(uprns, j, u)
        {
            defcheck_path_key_index(upath, sizeof upath, path, "uprns", j);
            if (!json_is_string(u) ||
                !validators_uprn_normalise(json_string_value(u), uprn, sizeof uprn) ||
                strcmp(uprn, json_string_value(u)) != 0) {
                defcheck_problem(dc, upath, "must be a UPRN written as a string of 1 to 12 digits");
                continue;
            }
            /* A UPRN in two zones (or twice in one) is a mistake. */
            for (size_t zi = 0; zi <= i; zi++) {
                const json_t *other = json_object_get(json_array_get(r->zones, zi), "uprns");
                size_t limit = zi == i ? j : json_array_size(other);
                for (size_t k = 0; k < limit; k++)
                    if (json_equal(json_array_get(other, k), u))
                        defcheck_problem(dc, upath, "UPRN %s is already in a zone", uprn);
            }
        }
    }
}

static bool enum_has(const struct field_def *f, const char *value)
{
    size_t i;
    const json_t *v;
    json_array_foreach(f ? f->values : NULL, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), value) == 0)
            return true;
    }
    return false;
}

static bool parking_load(const struct service *service, const json_t *rules, struct defcheck *dc,
                         void **state)
{
    size_t before = dc->count;
    struct parking_rules *r = calloc(1, sizeof *r);
    if (!r) {
        defcheck_problem(dc, "rules", "out of memory");
        return false;
    }
    *state = r;
    const struct field_set *fs = &service->fields;
    (void)fields_require(fs, "uprn", FIELD_UPRN, dc);
    (void)fields_require(fs, "vrm", FIELD_VRM, dc);
    (void)fields_require(fs, "start_date", FIELD_DATE, dc);
    (void)fields_require(fs, "blue_badge", FIELD_BOOLEAN, dc);
    (void)fields_require(fs, "leisure_key_number", FIELD_STRING, dc);
    const struct field_def *type = fields_require(fs, "permit_type", FIELD_ENUM, dc);
    const struct field_def *band = fields_require(fs, "leisure_key_band", FIELD_ENUM, dc);
    const struct field_def *cards = fields_require(fs, "scratch_cards", FIELD_INTEGER, dc);
    if (type && type->values && (!enum_has(type, "resident") || !enum_has(type, "visitor")))
        defcheck_problem(dc, "fields", "permit_type must offer \"resident\" and \"visitor\"");
    r->scratch_cards_max = cards && cards->has_max ? cards->max : 0;
    if (!fees_has_code(&service->fees, "permit"))
        defcheck_problem(dc, "fees", "needs a fee with code \"permit\"");
    if (!fees_has_code(&service->fees, "scratch_card"))
        defcheck_problem(dc, "fees", "needs a fee with code \"scratch_card\"");
    if (!rules) {
        defcheck_problem(dc, "rules", "is required (zones and limits)");
        return false;
    }
    if (!defcheck_object(dc, "rules", rules, rule_keys, rule_required) && !json_is_object(rules))
        return false;
    load_zones(r, rules, dc);
    (void)defcheck_integer(dc, "rules", rules, "household_max_resident_permits", 1,
                           HOUSEHOLD_MAX_LIMIT, true, &r->household_max, NULL);
    (void)defcheck_integer(dc, "rules", rules, "permit_years", 1, PERMIT_YEARS_MAX, true,
                           &r->permit_years, NULL);
    r->leisure_rates = json_object_get(rules, "leisure_key_rates");
    if (r->leisure_rates) {
        if (!json_is_object(r->leisure_rates)) {
            defcheck_problem(dc, "rules.leisure_key_rates",
                             "must be an object of Leisure Key band to fee code");
        } else {
            const char *b;
            const json_t *code;
            char path[DEFCHECK_PATH_MAX];
            json_object_foreach((json_t *)r->leisure_rates, b, code)
            {
                defcheck_path(path, sizeof path, "rules.leisure_key_rates", b);
                if (!enum_has(band, b) || strcmp(b, "none") == 0)
                    defcheck_problem(dc, path,
                                     "\"%s\" is not a Leisure Key band of the "
                                     "leisure_key_band field",
                                     b);
                if (!json_is_string(code) ||
                    !fees_has_code(&service->fees, json_string_value(code)))
                    defcheck_problem(dc, path, "must name a fee code in fees");
            }
        }
    }
    return dc->count == before;
}

static void parking_free(void *state)
{
    free(state);
}

static void parking_evaluate(struct service_eval *ev, const void *state)
{
    const struct parking_rules *r = state;
    const char *uprn = service_eval_string(ev, "uprn");
    const char *type = service_eval_string(ev, "permit_type");
    const char *vrm = service_eval_string(ev, "vrm");
    const char *start_text = service_eval_string(ev, "start_date");
    const char *band = service_eval_string(ev, "leisure_key_band");
    const char *lk_number = service_eval_string(ev, "leisure_key_number");
    bool blue_badge = json_is_true(service_eval_field(ev, "blue_badge"));
    long cards = (long)json_integer_value(service_eval_field(ev, "scratch_cards"));
    bool resident = type && strcmp(type, "resident") == 0;
    bool visitor = type && strcmp(type, "visitor") == 0;
    char expiry[VALIDATORS_DATE_SIZE] = "";
    char line[LINE_MAX_LEN], money[VALIDATORS_MONEY_SIZE];

    const json_t *zone = uprn ? zone_of(r, uprn) : NULL;
    if (uprn && !zone)
        service_eval_error(ev, "uprn", "not_in_zone",
                           "This address is not in a residents' parking zone");
    if (resident && cards > 0)
        service_eval_error(ev, "scratch_cards", "not_allowed",
                           "Scratch cards are sold with visitor permits only");
    if (lk_number && (!band || strcmp(band, "none") == 0))
        service_eval_error(ev, "leisure_key_number", "not_allowed",
                           "A Leisure Key number is only needed when a Leisure Key band is "
                           "chosen");

    struct validators_date start, anniversary, last;
    if (start_text && validators_date_parse(start_text, &start) &&
        validators_date_add_years(start, (int)r->permit_years, &anniversary) &&
        validators_date_add_days(anniversary, -1, &last))
        validators_date_format(last, expiry);

    /* Limits: only when what they are about is known and valid. */
    bool free_permit = false;
    if (expiry[0] && zone && resident) {
        long n = service_eval_max_live(ev, KEY_RESIDENT, uprn, start_text, expiry);
        if (n >= r->household_max)
            service_eval_error(ev, "uprn", "household_limit",
                               "This household already has %ld live resident permits, the most "
                               "it can hold; a new one can start when one of them ends",
                               n);
    }
    if (expiry[0] && vrm) {
        long n = service_eval_max_live(ev, KEY_VEHICLE, vrm, start_text, expiry);
        if (n > 0)
            service_eval_error(ev, "vrm", "vehicle_has_permit",
                               "This vehicle already has a live parking permit; a renewal should "
                               "start the day after the current permit ends");
    }
    if (expiry[0] && zone && blue_badge) {
        long n = service_eval_max_live(ev, KEY_FREE, uprn, start_text, expiry);
        free_permit = n == 0;
    }

    /* Fees in force today. */
    if (resident || visitor) {
        const char *kind = resident ? "Resident" : "Visitor";
        const char *rate_code = band && r->leisure_rates
                                    ? json_string_value(json_object_get(r->leisure_rates, band))
                                    : NULL;
        long pence;
        if (free_permit) {
            snprintf(line, sizeof line,
                     "%s parking permit, %ld year%s - Blue Badge household, "
                     "first permit free",
                     kind, r->permit_years, r->permit_years == 1 ? "" : "s");
            service_eval_line(ev, line, 0);
        } else if (rate_code) {
            if (service_eval_fee(ev, rate_code, &pence)) {
                snprintf(line, sizeof line,
                         "%s parking permit, %ld year%s - Leisure Key Band %s "
                         "rate",
                         kind, r->permit_years, r->permit_years == 1 ? "" : "s", band);
                service_eval_line(ev, line, pence);
            }
        } else if (service_eval_fee(ev, "permit", &pence)) {
            snprintf(line, sizeof line, "%s parking permit, %ld year%s", kind, r->permit_years,
                     r->permit_years == 1 ? "" : "s");
            service_eval_line(ev, line, pence);
        }
        if (visitor && cards > 0 && service_eval_fee(ev, "scratch_card", &pence)) {
            snprintf(line, sizeof line, "Visitor scratch cards: %ld at %s", cards,
                     service_money(pence, money));
            service_eval_line(ev, line, pence * cards);
        }
    }

    if (!expiry[0] || !uprn)
        return;
    snprintf(ev->out->live_until, sizeof ev->out->live_until, "%s", expiry);
    if (resident)
        service_eval_key(ev, KEY_RESIDENT, uprn, start_text, expiry);
    if (vrm)
        service_eval_key(ev, KEY_VEHICLE, vrm, start_text, expiry);
    if (free_permit)
        service_eval_key(ev, KEY_FREE, uprn, start_text, expiry);
}

static void parking_describe_fees(const struct service *service, const void *state,
                                  struct validators_date on, json_t *sentences)
{
    const struct parking_rules *r = state;
    char money[VALIDATORS_MONEY_SIZE], words[VALIDATORS_DATE_WORDS_SIZE];
    const struct fee_entry *permit = fees_on(&service->fees, "permit", on);
    const struct fee_entry *card = fees_on(&service->fees, "scratch_card", on);
    if (permit)
        json_array_append_new(sentences,
                              json_sprintf("A resident or visitor permit costs %s and runs for "
                                           "%ld year%s from its start date (fees from %s).",
                                           service_money(permit->amount_pence, money),
                                           r->permit_years, r->permit_years == 1 ? "" : "s",
                                           service_date_words(permit->effective_from, words)));
    else
        json_array_append_new(sentences, json_sprintf("No permit fee is in force on %s.",
                                                      service_date_words(on, words)));
    const char *band;
    const json_t *code;
    json_object_foreach((json_t *)r->leisure_rates, band, code)
    {
        const struct fee_entry *rate = fees_on(&service->fees, json_string_value(code), on);
        if (rate)
            json_array_append_new(sentences,
                                  json_sprintf("Leisure Key Band %s holders pay %s a permit.", band,
                                               service_money(rate->amount_pence, money)));
    }
    json_array_append_new(sentences,
                          json_string("A Blue Badge holder's household gets its first live "
                                      "permit free."));
    if (card)
        json_array_append_new(sentences,
                              json_sprintf("Visitor scratch cards cost %s each, up to %ld, sold "
                                           "with a visitor permit.",
                                           service_money(card->amount_pence, money),
                                           r->scratch_cards_max));
    json_array_append_new(sentences,
                          json_sprintf("A household can hold at most %ld live resident permits; "
                                       "a vehicle can have one live permit.",
                                       r->household_max));
    char zones[LINE_MAX_LEN] = "";
    size_t used = 0, i;
    const json_t *zone;
    json_array_foreach(r->zones, i, zone)
    {
        int n = snprintf(zones + used, sizeof zones - used, "%s%s (%s)", i ? ", " : "",
                         json_string_value(json_object_get(zone, "name")),
                         json_string_value(json_object_get(zone, "code")));
        if (n < 0 || (size_t)n >= sizeof zones - used)
            break;
        used += (size_t)n;
    }
    json_array_append_new(sentences,
                          json_sprintf("The address must be in a permit zone: %s.", zones));
}

/* A copy of a normalised field's value, or null. */
static json_t *field_copy(const json_t *fields, const char *name)
{
    const json_t *v = json_object_get(fields, name);
    return v ? json_deep_copy(v) : json_null();
}

static json_t *parking_payload(const struct service *service, const void *state,
                               const struct service_evaluation *e, const char *reference)
{
    const struct parking_rules *r = state;
    const json_t *f = e->fields;
    const char *uprn = json_string_value(json_object_get(f, "uprn"));
    const json_t *zone = uprn ? zone_of(r, uprn) : NULL;
    json_t *body = json_pack(
        "{s:s, s:s, s:s, s:o, s:o, s:o, s:s, s:i, s:I, s:o, s:o, s:o}", "reference", reference,
        "uprn", uprn ? uprn : "", "zone",
        zone ? json_string_value(json_object_get(zone, "code")) : "", "vrm", field_copy(f, "vrm"),
        "permit_type", field_copy(f, "permit_type"), "start_date", field_copy(f, "start_date"),
        "expiry_date", e->live_until, "quantity", 1, "fee_pence", (json_int_t)e->fee_pence,
        "blue_badge", field_copy(f, "blue_badge"), "leisure_key_band",
        field_copy(f, "leisure_key_band"), "scratch_cards", field_copy(f, "scratch_cards"));
    if (body && json_object_get(f, "leisure_key_number"))
        json_object_set_new(body, "leisure_key_number", field_copy(f, "leisure_key_number"));
    return body;
}

const struct service_rules residents_parking_permit_rules = {
    .code = "residents-parking-permit",
    .connector = "json-rest",
    .load = parking_load,
    .free_state = parking_free,
    .evaluate = parking_evaluate,
    .describe_fees = parking_describe_fees,
    .payload = parking_payload,
};
