/* nhs_referral: the rules of an NHS e-Referral hand-off.
 *
 * DESIGN: the hand-off names a look-up (lookup_id) that POST /api/v1/referrals/lookup
 * answered and the gateway recorded (gateway/store/referral.h). The look-up must be known,
 * made at this counter, and no older than the rules' lookup_valid_minutes; each look-up hands
 * off once (an index entry under "nhs-referral-lookup"). When it passes, the look-up's UBRN,
 * state, priority and the NHS number's last 3 digits become the transaction's fields: they
 * are all the hand-off slip prints and all that is kept. Nothing is forwarded (no route).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "services/service_private.h"

#define LOOKUP_KEY         "nhs-referral-lookup"
#define VALID_MINUTES_MAX  60
#define SECONDS_PER_MINUTE 60
#define LOOKUP_AGAIN       "Look the referral up again with the UBRN and NHS number"

struct nhs_referral_rules {
    long valid_minutes;
};

static const char *const rule_keys[] = {"lookup_valid_minutes", NULL};
static const char *const copied[] = {"ubrn", "state", "state_label", "priority", "nhs_last3"};

static bool nhs_referral_load(const struct service *service, const json_t *rules,
                              struct defcheck *dc, void **state)
{
    size_t before = dc->count;
    struct nhs_referral_rules *r = calloc(1, sizeof *r);
    if (!r) {
        defcheck_problem(dc, "rules", "out of memory");
        return false;
    }
    *state = r;
    (void)fields_require(&service->fields, "lookup_id", FIELD_STRING, dc);
    if (!rules) {
        defcheck_problem(dc, "rules", "is required (lookup_valid_minutes)");
        return false;
    }
    if (!defcheck_object(dc, "rules", rules, rule_keys, rule_keys))
        return false;
    bool present = false;
    (void)defcheck_integer(dc, "rules", rules, "lookup_valid_minutes", 1, VALID_MINUTES_MAX, true,
                           &r->valid_minutes, &present);
    return dc->count == before;
}

static void nhs_referral_free(void *state)
{
    free(state);
}

static void nhs_referral_evaluate(struct service_eval *ev, const void *state)
{
    const struct nhs_referral_rules *r = state;
    const char *lookup_id = service_eval_string(ev, "lookup_id");
    json_t *record = NULL;
    if (!lookup_id)
        return;
    int found = service_eval_referral_lookup(ev, lookup_id, &record);
    if (found < 0)
        return;
    const char *counter = json_string_value(json_object_get(record, "counter"));
    json_int_t made_at = json_integer_value(json_object_get(record, "made_at"));
    const char *here = ev->context ? ev->context->counter : NULL;
    if (found == 0) {
        service_eval_error(ev, "lookup_id", "lookup_not_found",
                           "No referral look-up has this id. " LOOKUP_AGAIN ".");
    } else if (!here || !counter || strcmp(counter, here) != 0) {
        service_eval_error(ev, "lookup_id", "lookup_other_counter",
                           "This referral was looked up at another counter. " LOOKUP_AGAIN
                           " here.");
    } else if ((json_int_t)time(NULL) - made_at > r->valid_minutes * SECONDS_PER_MINUTE) {
        service_eval_error(ev, "lookup_id", "lookup_expired",
                           "This look-up is more than %ld minutes old. " LOOKUP_AGAIN ".",
                           r->valid_minutes);
    } else {
        long used = service_eval_count_live(ev, LOOKUP_KEY, lookup_id, ev->today_text);
        if (used > 0)
            service_eval_error(ev, "lookup_id", "lookup_used",
                               "A hand-off was already recorded for this look-up: reprint its "
                               "slip, or " LOOKUP_AGAIN " for a new one.");
        if (used == 0) {
            for (size_t i = 0; i < sizeof copied / sizeof copied[0]; i++)
                json_object_set(ev->fields, copied[i], json_object_get(record, copied[i]));
            service_eval_key(ev, LOOKUP_KEY, lookup_id, ev->today_text, ev->today_text);
        }
    }
    json_decref(record);
}

const struct service_rules nhs_referral_rules = {
    .code = "nhs-referral",
    .reads_clock = true,
    .load = nhs_referral_load,
    .free_state = nhs_referral_free,
    .evaluate = nhs_referral_evaluate,
};
