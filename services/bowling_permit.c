/* bowling_permit: the rules of a bowling green season permit.
 *
 * DESIGN: seasons are listed in the definition's rules ({"name","from","until"}, in order, not
 * overlapping). The permit's start date must fall in a season, and the permit runs to that
 * season's end; a start outside every season is refused with the seasons' dates in the
 * message. The price is the rules' fee, or its concession_fee when a Leisure Key number is
 * given and that card is live today (leisure-key indexes its cards under "leisure-key-card").
 * The back-end gets the generic body, with the season's end as live_until.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/service_private.h"

#define SEASONS_MAX  10
#define SEASONS_TEXT 512
#define LEISURE_CARD "leisure-key-card"

struct season {
    const char *name;
    struct validators_date from, until;
};

struct bowling_rules {
    struct season seasons[SEASONS_MAX];
    size_t count;
    const char *fee;
    const char *concession_fee;
};

static const char *const rule_keys[] = {"seasons", "fee", "concession_fee", NULL};
static const char *const season_keys[] = {"name", "from", "until", NULL};

static const char *fee_code(const struct service *service, const json_t *rules, const char *key,
                            struct defcheck *dc)
{
    const char *code = defcheck_string(dc, "rules", rules, key, true);
    if (code && !fees_has_code(&service->fees, code))
        defcheck_problem(dc, "rules", "%s \"%s\" is not in fees", key, code);
    return code;
}

static bool bowling_load(const struct service *service, const json_t *rules, struct defcheck *dc,
                         void **state)
{
    char path[DEFCHECK_PATH_MAX];
    size_t before = dc->count;
    struct bowling_rules *r = calloc(1, sizeof *r);
    if (!r) {
        defcheck_problem(dc, "rules", "out of memory");
        return false;
    }
    *state = r;
    (void)fields_require(&service->fields, "start_date", FIELD_DATE, dc);
    (void)fields_require(&service->fields, "leisure_key_number", FIELD_STRING, dc);
    if (!rules) {
        defcheck_problem(dc, "rules", "is required (seasons and fees)");
        return false;
    }
    if (!defcheck_object(dc, "rules", rules, rule_keys, rule_keys) && !json_is_object(rules))
        return false;
    r->fee = fee_code(service, rules, "fee", dc);
    r->concession_fee = fee_code(service, rules, "concession_fee", dc);
    const json_t *seasons = defcheck_array(dc, "rules", rules, "seasons", true, true);
    if (json_array_size(seasons) > SEASONS_MAX) {
        defcheck_problem(dc, "rules.seasons", "at most %d seasons", SEASONS_MAX);
        return false;
    }
    size_t i;
    const json_t *s;
    json_array_foreach(seasons, i, s)
    {
        struct season season = {0};
        defcheck_path_index(path, sizeof path, "rules.seasons", i);
        if (!defcheck_object(dc, path, s, season_keys, season_keys))
            continue;
        season.name = defcheck_string(dc, path, s, "name", true);
        const char *from = defcheck_date(dc, path, s, "from", true);
        const char *until = defcheck_date(dc, path, s, "until", true);
        if (!season.name || !from || !until || !validators_date_parse(from, &season.from) ||
            !validators_date_parse(until, &season.until))
            continue;
        if (validators_date_compare(season.from, season.until) > 0)
            defcheck_problem(dc, path, "from is after until");
        else if (r->count > 0 &&
                 validators_date_compare(r->seasons[r->count - 1].until, season.from) >= 0)
            defcheck_problem(dc, path, "must start after the season before it ends");
        else
            r->seasons[r->count++] = season;
    }
    return dc->count == before;
}

static void bowling_free(void *state)
{
    free(state);
}

/* "2026 season, 1 April 2026 to 30 September 2026; 2027 season, ..." */
static void seasons_text(const struct bowling_rules *r, char *out, size_t size)
{
    char a[VALIDATORS_DATE_WORDS_SIZE], b[VALIDATORS_DATE_WORDS_SIZE];
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < r->count; i++) {
        int n = snprintf(out + used, size - used, "%s%s, %s to %s", i ? "; " : "",
                         r->seasons[i].name, service_date_words(r->seasons[i].from, a),
                         service_date_words(r->seasons[i].until, b));
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
}

static void bowling_evaluate(struct service_eval *ev, const void *state)
{
    const struct bowling_rules *r = state;
    const char *start_text = service_eval_string(ev, "start_date");
    const char *card = service_eval_string(ev, "leisure_key_number");
    struct validators_date start;
    const struct season *season = NULL;
    if (!start_text || !validators_date_parse(start_text, &start))
        return;
    for (size_t i = 0; i < r->count; i++)
        if (validators_date_compare(r->seasons[i].from, start) <= 0 &&
            validators_date_compare(start, r->seasons[i].until) <= 0)
            season = &r->seasons[i];
    if (!season) {
        char text[SEASONS_TEXT];
        seasons_text(r, text, sizeof text);
        service_eval_error(ev, "start_date", "out_of_season",
                           "Bowling permits are sold for a day in a season: %s", text);
        return;
    }
    bool concession = false;
    if (card) {
        long live = service_eval_count_live(ev, LEISURE_CARD, card, ev->today_text);
        if (live < 0)
            return;
        if (live == 0) {
            service_eval_error(ev, "leisure_key_number", "card_not_live",
                               "No live Leisure Key has this number: renew the card first, or "
                               "leave the number out to pay the full price");
            return;
        }
        concession = true;
    }
    const char *code = concession ? r->concession_fee : r->fee;
    const struct fee_entry *fee = fees_on(&ev->service->fees, code, ev->today);
    long pence;
    if (!fee || !service_eval_fee(ev, code, &pence))
        return;
    char line[VALIDATORS_DATE_WORDS_SIZE + 200];
    snprintf(line, sizeof line, "%s, %s", fee->description, season->name);
    service_eval_line(ev, line, pence);
    validators_date_format(season->until, ev->out->live_until);
}

static void bowling_describe_fees(const struct service *service, const void *state,
                                  struct validators_date on, json_t *sentences)
{
    const struct bowling_rules *r = state;
    char money[VALIDATORS_MONEY_SIZE], text[SEASONS_TEXT];
    const struct fee_entry *full = fees_on(&service->fees, r->fee, on);
    const struct fee_entry *concession = fees_on(&service->fees, r->concession_fee, on);
    if (full)
        json_array_append_new(sentences, json_sprintf("A season permit costs %s.",
                                                      service_money(full->amount_pence, money)));
    if (concession)
        json_array_append_new(sentences,
                              json_sprintf("Leisure Key holders pay %s (the card must be live).",
                                           service_money(concession->amount_pence, money)));
    seasons_text(r, text, sizeof text);
    json_array_append_new(sentences, json_sprintf("Seasons: %s.", text));
}

const struct service_rules bowling_permit_rules = {
    .code = "bowling-permit",
    .connector = "json-rest",
    .load = bowling_load,
    .free_state = bowling_free,
    .evaluate = bowling_evaluate,
    .describe_fees = bowling_describe_fees,
};
