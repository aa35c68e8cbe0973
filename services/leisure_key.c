/* leisure_key: the Leisure Key rules that cannot be declared.
 *
 * DESIGN: prices, the cash-only rule and the field checks are declared in leisure-key.json;
 * this hook keeps the cards. Every sale indexes the card handed over under "leisure-key-card"
 * (its number) for as long as it is valid, and new cards and renewals index the holder under
 * "leisure-key-holder" (name in upper case with single spaces, "|", date of birth):
 *   - new: the card number must not be on a live card and the resident must hold no live card
 *     (one live card per resident); valid for card_years from today;
 *   - renewal: the card must exist (live or expired); it is extended by card_years from the
 *     later of today and its old expiry (the latest live_until of its key);
 *   - replacement: the old card must be live; the new card is valid to the old card's expiry,
 *     and the old card's entries end yesterday (applied with the sale), so a lost card no
 *     longer counts as live for a concession.
 * The proof seen must be one the band accepts (rules.band_proofs). The back-end gets the
 * generic body, with the expiry as live_until.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/service_private.h"

#define CARD_KEY       "leisure-key-card"
#define HOLDER_KEY     "leisure-key-holder"
#define HOLDER_MAX     160
#define BANDS_MAX      8
#define CARD_YEARS_MAX 5

struct band_proofs {
    const char *band;
    const json_t *proofs; /* array of proof codes */
};

struct leisure_rules {
    long card_years;
    struct band_proofs bands[BANDS_MAX];
    size_t band_count;
};

static const char *const rule_keys[] = {"card_years", "band_proofs", NULL};

static bool enum_has(const struct field_def *f, const char *value)
{
    size_t i;
    const json_t *v;
    json_array_foreach(f ? f->values : NULL, i, v)
    {
        if (strcmp(json_string_value(v), value) == 0)
            return true;
    }
    return false;
}

static bool leisure_load(const struct service *service, const json_t *rules, struct defcheck *dc,
                         void **state)
{
    size_t before = dc->count;
    struct leisure_rules *r = calloc(1, sizeof *r);
    if (!r) {
        defcheck_problem(dc, "rules", "out of memory");
        return false;
    }
    *state = r;
    const struct field_set *fs = &service->fields;
    const struct field_def *kind = fields_require(fs, "kind", FIELD_ENUM, dc);
    const struct field_def *band = fields_require(fs, "band", FIELD_ENUM, dc);
    const struct field_def *proof = fields_require(fs, "proof", FIELD_ENUM, dc);
    (void)fields_require(fs, "name", FIELD_STRING, dc);
    (void)fields_require(fs, "date_of_birth", FIELD_DATE, dc);
    (void)fields_require(fs, "card_number", FIELD_STRING, dc);
    (void)fields_require(fs, "old_card_number", FIELD_STRING, dc);
    if (kind &&
        (!enum_has(kind, "new") || !enum_has(kind, "renewal") || !enum_has(kind, "replacement")))
        defcheck_problem(dc, "fields", "kind must offer \"new\", \"renewal\" and \"replacement\"");
    if (!rules) {
        defcheck_problem(dc, "rules", "is required (card_years and band_proofs)");
        return false;
    }
    if (!defcheck_object(dc, "rules", rules, rule_keys, rule_keys) && !json_is_object(rules))
        return false;
    (void)defcheck_integer(dc, "rules", rules, "card_years", 1, CARD_YEARS_MAX, true,
                           &r->card_years, NULL);
    const json_t *bp = json_object_get(rules, "band_proofs");
    if (!json_is_object(bp)) {
        defcheck_problem(dc, "rules.band_proofs", "must be an object of band: [proof, ...]");
        return false;
    }
    const char *code;
    const json_t *list;
    json_object_foreach((json_t *)bp, code, list)
    {
        char path[DEFCHECK_PATH_MAX];
        defcheck_path(path, sizeof path, "rules.band_proofs", code);
        if (r->band_count == BANDS_MAX) {
            defcheck_problem(dc, path, "at most %d bands", BANDS_MAX);
            break;
        }
        if (band && !enum_has(band, code))
            defcheck_problem(dc, path, "\"%s\" is not a band of the band field", code);
        if (!json_is_array(list) || json_array_size(list) == 0) {
            defcheck_problem(dc, path, "must list the proofs this band accepts");
            continue;
        }
        size_t i;
        const json_t *p;
        json_array_foreach(list, i, p)
        {
            if (!json_is_string(p) || (proof && !enum_has(proof, json_string_value(p))))
                defcheck_problem(dc, path, "[%zu] is not a value of the proof field", i);
        }
        r->bands[r->band_count++] = (struct band_proofs){code, list};
    }
    for (size_t i = 0; band && i < json_array_size(band->values); i++)
        if (!json_object_get(bp, json_string_value(json_array_get(band->values, i))))
            defcheck_problem(dc, "rules.band_proofs", "band \"%s\" has no proofs",
                             json_string_value(json_array_get(band->values, i)));
    return dc->count == before;
}

static void leisure_free(void *state)
{
    free(state);
}

static bool proof_accepted(const struct leisure_rules *r, const char *band, const char *proof)
{
    for (size_t i = 0; i < r->band_count; i++) {
        if (strcmp(r->bands[i].band, band) != 0)
            continue;
        size_t k;
        const json_t *p;
        json_array_foreach(r->bands[i].proofs, k, p)
        {
            if (strcmp(json_string_value(p), proof) == 0)
                return true;
        }
    }
    return false;
}

/* "MARY ANN SMITH|1950-02-01": the holder's key value. False when it does not fit. */
static bool holder_value(const char *name, const char *dob, char out[HOLDER_MAX])
{
    size_t n = 0;
    bool space = false;
    for (const char *c = name; *c; c++) {
        if (isspace((unsigned char)*c)) {
            space = n > 0;
            continue;
        }
        if (space && n + 1 < HOLDER_MAX)
            out[n++] = ' ';
        space = false;
        if (n + 1 >= HOLDER_MAX)
            return false;
        out[n++] = (char)toupper((unsigned char)*c);
    }
    int w = snprintf(out + n, HOLDER_MAX - n, "|%s", dob);
    return w > 0 && (size_t)w < HOLDER_MAX - n;
}

/* Today plus years, less a day: the last day a card sold today is valid. */
static bool years_on(struct validators_date from, long years, struct validators_date *out)
{
    struct validators_date next;
    return validators_date_add_years(from, (int)years, &next) &&
           validators_date_add_days(next, -1, out);
}

/* Records the card's expiry, and says it on the receipt (a line of no charge). */
static void set_expiry(struct service_eval *ev, struct validators_date until)
{
    char words[VALIDATORS_DATE_WORDS_SIZE], line[VALIDATORS_DATE_WORDS_SIZE + 32];
    validators_date_format(until, ev->out->live_until);
    snprintf(line, sizeof line, "Card valid until %s", service_date_words(until, words));
    service_eval_line(ev, line, 0);
}

static void sell_new(struct service_eval *ev, const struct leisure_rules *r, const char *card,
                     const char *holder)
{
    struct validators_date until;
    char until_text[VALIDATORS_DATE_SIZE];
    long cards = service_eval_count_live(ev, CARD_KEY, card, ev->today_text);
    long held = holder ? service_eval_count_live(ev, HOLDER_KEY, holder, ev->today_text) : 0;
    if (cards < 0 || held < 0)
        return;
    if (cards > 0)
        service_eval_error(ev, "card_number", "card_in_use",
                           "This card number is already on a live Leisure Key; hand over a new "
                           "card and type its number");
    if (held > 0)
        service_eval_error(ev, "name", "has_live_card",
                           "This resident already has a live Leisure Key (one per resident): "
                           "renew it, or replace it if it is lost");
    if (!holder || !service_eval_ok(ev) || !years_on(ev->today, r->card_years, &until))
        return;
    validators_date_format(until, until_text);
    service_eval_key(ev, CARD_KEY, card, ev->today_text, until_text);
    service_eval_key(ev, HOLDER_KEY, holder, ev->today_text, until_text);
    set_expiry(ev, until);
}

static void renew(struct service_eval *ev, const struct leisure_rules *r, const char *card,
                  const char *holder)
{
    char old_text[SERVICE_DATE_SIZE], until_text[VALIDATORS_DATE_SIZE];
    struct validators_date old, until;
    int found = service_eval_latest_until(ev, CARD_KEY, card, old_text);
    if (found < 0)
        return;
    if (found == 0 || !validators_date_parse(old_text, &old)) {
        service_eval_error(ev, "card_number", "card_not_found",
                           "No Leisure Key has this number: check it, or sell a new card");
        return;
    }
    /* card_years from the later of today and the old expiry: a live card's expiry moves on
     * by a year; an expired card runs a year from today, as a new one would. */
    bool extended = validators_date_compare(old, ev->today) >= 0
                        ? validators_date_add_years(old, (int)r->card_years, &until)
                        : years_on(ev->today, r->card_years, &until);
    if (!holder || !service_eval_ok(ev) || !extended)
        return;
    validators_date_format(until, until_text);
    service_eval_key(ev, CARD_KEY, card, ev->today_text, until_text);
    service_eval_key(ev, HOLDER_KEY, holder, ev->today_text, until_text);
    set_expiry(ev, until);
}

static void replace(struct service_eval *ev, const char *card, const char *old_card)
{
    char old_text[SERVICE_DATE_SIZE];
    struct validators_date old;
    if (!old_card)
        return;
    if (strcmp(card, old_card) == 0) {
        service_eval_error(ev, "card_number", "same_card",
                           "The new card's number must differ from the lost card's");
        return;
    }
    int found = service_eval_latest_until(ev, CARD_KEY, old_card, old_text);
    long cards = service_eval_count_live(ev, CARD_KEY, card, ev->today_text);
    if (found < 0 || cards < 0)
        return;
    if (found == 0 || !validators_date_parse(old_text, &old) ||
        validators_date_compare(old, ev->today) < 0) {
        service_eval_error(ev, "old_card_number", "card_not_live",
                           "No live Leisure Key has this number: an expired card is renewed, "
                           "not replaced");
        return;
    }
    if (cards > 0) {
        service_eval_error(ev, "card_number", "card_in_use",
                           "This card number is already on a live Leisure Key; hand over a new "
                           "card and type its number");
        return;
    }
    /* the lost card stops being live today; the new one runs to its expiry */
    struct validators_date yesterday;
    char yesterday_text[VALIDATORS_DATE_SIZE];
    if (!validators_date_add_days(ev->today, -1, &yesterday))
        return;
    validators_date_format(yesterday, yesterday_text);
    service_eval_end_key(ev, CARD_KEY, old_card, yesterday_text);
    service_eval_key(ev, CARD_KEY, card, ev->today_text, old_text);
    set_expiry(ev, old);
}

static void leisure_evaluate(struct service_eval *ev, const void *state)
{
    const struct leisure_rules *r = state;
    const char *kind = service_eval_string(ev, "kind");
    const char *band = service_eval_string(ev, "band");
    const char *proof = service_eval_string(ev, "proof");
    const char *card = service_eval_string(ev, "card_number");
    const char *name = service_eval_string(ev, "name");
    const char *dob = service_eval_string(ev, "date_of_birth");
    char holder[HOLDER_MAX];
    bool have_holder = name && dob && holder_value(name, dob, holder);
    struct validators_date born;
    if (dob && validators_date_parse(dob, &born) && validators_date_compare(born, ev->today) >= 0)
        service_eval_error(ev, "date_of_birth", "invalid_value",
                           "The date of birth must be before today");
    if (band && proof && !proof_accepted(r, band, proof))
        service_eval_error(ev, "proof", "proof_not_for_band",
                           "This proof does not give Band %s: choose the band the proof gives, or "
                           "ask for another proof",
                           band);
    if (!kind || !card)
        return;
    if (strcmp(kind, "new") == 0)
        sell_new(ev, r, card, have_holder ? holder : NULL);
    else if (strcmp(kind, "renewal") == 0)
        renew(ev, r, card, have_holder ? holder : NULL);
    else
        replace(ev, card, service_eval_string(ev, "old_card_number"));
}

const struct service_rules leisure_key_rules = {
    .code = "leisure-key",
    .connector = "json-rest",
    .load = leisure_load,
    .free_state = leisure_free,
    .evaluate = leisure_evaluate,
};
