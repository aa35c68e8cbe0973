/* partner_referral: the rules of a referral to a partner agency or council team by e-mail.
 *
 * DESIGN: the definition's rules list the partners ({"code","name","backend","reasons",
 * "next_steps"}) and the consent wording with its version. Each partner is an email back-end
 * in onestop.json (its mail_to is the partner's address), so one partner's mail server being
 * down never holds up another's referrals; the rules choose the back-end per transaction
 * (service_evaluation.backend) and config checks that every partner's back-end exists.
 * The reason must be one the chosen partner accepts. Consent must be confirmed for the wording
 * version in force: the version, the staff member and the time are stored with the fields and
 * go into the e-mail. The receipt line names the partner and what happens next.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "services/service_private.h"

#define PARTNERS_MAX   16
#define REASONS_TEXT   512
#define LINE_MAX_BYTES 200
#define ISO_TIME_SIZE  21 /* "2026-11-30T10:00:00Z" */
#define SUBJECT_MAX    200

struct partner {
    const char *code, *name, *backend, *next_steps;
    const json_t *reasons; /* codes of the "reason" field */
};

struct partner_rules {
    struct partner partners[PARTNERS_MAX];
    size_t count;
    const char *consent_version;
    const char *consent_wording;
    const struct field_def *reason_field;
};

static const char *const rule_keys[] = {"partners", "consent", NULL};
static const char *const partner_keys[] = {"code",    "name",       "backend",
                                           "reasons", "next_steps", NULL};
static const char *const consent_keys[] = {"version", "wording", NULL};

static bool has_code(const json_t *codes, const char *code)
{
    size_t i;
    const json_t *c;
    json_array_foreach(codes, i, c) if (json_is_string(c) &&
                                        strcmp(json_string_value(c), code) == 0) return true;
    return false;
}

/* The label of an enum field's value, or NULL. */
static const char *enum_label(const struct field_def *def, const char *code)
{
    size_t i;
    const json_t *v;
    json_array_foreach(def ? def->catalogue_values : NULL, i, v)
    {
        const char *c = json_string_value(json_object_get(v, "code"));
        if (c && code && strcmp(c, code) == 0)
            return json_string_value(json_object_get(v, "label"));
    }
    return NULL;
}

static void partner_load_one(struct partner_rules *r, const struct field_def *partner_field,
                             const json_t *p, size_t i, struct defcheck *dc)
{
    char path[DEFCHECK_PATH_MAX];
    defcheck_path_index(path, sizeof path, "rules.partners", i);
    if (!defcheck_object(dc, path, p, partner_keys, partner_keys))
        return;
    struct partner one = {
        .code = defcheck_string(dc, path, p, "code", true),
        .name = defcheck_string(dc, path, p, "name", true),
        .backend = defcheck_string(dc, path, p, "backend", true),
        .next_steps = defcheck_string(dc, path, p, "next_steps", true),
        .reasons = defcheck_array(dc, path, p, "reasons", true, true),
    };
    if (!one.code || !one.name || !one.backend || !one.next_steps || !one.reasons)
        return;
    if (partner_field && !has_code(partner_field->values, one.code))
        defcheck_problem(dc, path, "code \"%s\" is not a value of the partner field", one.code);
    size_t j;
    const json_t *reason;
    json_array_foreach(one.reasons, j, reason)
    {
        if (!json_is_string(reason) ||
            (r->reason_field && !has_code(r->reason_field->values, json_string_value(reason))))
            defcheck_problem(dc, path, "reasons[%zu] is not a value of the reason field", j);
    }
    r->partners[r->count++] = one;
}

static bool partner_load(const struct service *service, const json_t *rules, struct defcheck *dc,
                         void **state)
{
    size_t before = dc->count;
    struct partner_rules *r = calloc(1, sizeof *r);
    if (!r) {
        defcheck_problem(dc, "rules", "out of memory");
        return false;
    }
    *state = r;
    const struct field_def *partner_field =
        fields_require(&service->fields, "partner", FIELD_ENUM, dc);
    r->reason_field = fields_require(&service->fields, "reason", FIELD_ENUM, dc);
    (void)fields_require(&service->fields, "consent", FIELD_BOOLEAN, dc);
    (void)fields_require(&service->fields, "consent_version", FIELD_STRING, dc);
    if (!rules || !defcheck_object(dc, "rules", rules, rule_keys, rule_keys))
        return false;
    const json_t *consent = json_object_get(rules, "consent");
    if (defcheck_object(dc, "rules.consent", consent, consent_keys, consent_keys)) {
        r->consent_version = defcheck_string(dc, "rules.consent", consent, "version", true);
        r->consent_wording = defcheck_string(dc, "rules.consent", consent, "wording", true);
    }
    const json_t *partners = defcheck_array(dc, "rules", rules, "partners", true, true);
    if (json_array_size(partners) > PARTNERS_MAX) {
        defcheck_problem(dc, "rules.partners", "at most %d partners", PARTNERS_MAX);
        return false;
    }
    size_t i;
    const json_t *p;
    json_array_foreach(partners, i, p) partner_load_one(r, partner_field, p, i, dc);
    return dc->count == before;
}

static void partner_free(void *state)
{
    free(state);
}

static const struct partner *partner_find(const struct partner_rules *r, const char *code)
{
    for (size_t i = 0; code && i < r->count; i++)
        if (strcmp(r->partners[i].code, code) == 0)
            return &r->partners[i];
    return NULL;
}

/* "debt or money worries, benefits" from the partner's reason codes. */
static void reasons_text(const struct partner_rules *r, const struct partner *p, char *out,
                         size_t size)
{
    size_t used = 0, i;
    const json_t *code;
    out[0] = '\0';
    json_array_foreach(p->reasons, i, code)
    {
        const char *label = enum_label(r->reason_field, json_string_value(code));
        int n = snprintf(out + used, size - used, "%s%s", i ? "; " : "",
                         label ? label : json_string_value(code));
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
}

/* A plain e-mail address: one '@' with text before it and a dotted domain after, no spaces. */
static bool looks_like_email(const char *s)
{
    const char *at = strchr(s, '@');
    return at && at > s && !strchr(at + 1, '@') && strchr(at + 1, '.') && !strpbrk(s, " \t,;<>") &&
           at[1] != '.' && s[strlen(s) - 1] != '.';
}

/* The contact must be a UK phone number (normalised) or an e-mail address, so that the partner
 * can reach the resident. */
static void check_contact(struct service_eval *ev)
{
    const char *contact = service_eval_string(ev, "contact");
    char phone[VALIDATORS_PHONE_SIZE];
    if (!contact || looks_like_email(contact))
        return;
    if (validators_phone_normalise(contact, phone, sizeof phone))
        json_object_set_new(ev->fields, "contact", json_string(phone));
    else
        service_eval_error(ev, "contact", "invalid_format",
                           "Enter a UK phone number (such as 0161 480 4949) or an e-mail address "
                           "the partner can use to contact the resident.");
}

static void partner_evaluate(struct service_eval *ev, const void *state)
{
    const struct partner_rules *r = state;
    const struct partner *p = partner_find(r, service_eval_string(ev, "partner"));
    const char *reason = service_eval_string(ev, "reason");
    const json_t *consent = service_eval_field(ev, "consent");
    const char *version = service_eval_string(ev, "consent_version");
    if (consent && !json_is_true(consent))
        service_eval_error(ev, "consent", "consent_required",
                           "The resident must agree to their details going to the partner. "
                           "Without their consent no referral can be sent.");
    check_contact(ev);
    if (version && strcmp(version, r->consent_version) != 0)
        service_eval_error(ev, "consent_version", "consent_wording_changed",
                           "The consent wording has changed (now version %s): read the new "
                           "wording to the resident and ask again.",
                           r->consent_version);
    if (!p || !reason)
        return;
    if (!has_code(p->reasons, reason)) {
        char text[REASONS_TEXT];
        reasons_text(r, p, text, sizeof text);
        service_eval_error(ev, "reason", "reason_not_accepted",
                           "%s does not take referrals for this. They take: %s.", p->name, text);
        return;
    }
    if (!service_eval_ok(ev))
        return;
    char line[LINE_MAX_BYTES], when[ISO_TIME_SIZE];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(line, sizeof line, "Referral e-mailed to %s. %s", p->name, p->next_steps);
    service_eval_line(ev, line, 0);
    json_object_set_new(ev->fields, "partner_name", json_string(p->name));
    json_object_set_new(ev->fields, "partner_next_steps", json_string(p->next_steps));
    json_object_set_new(ev->fields, "consent_recorded_at", json_string(when));
    if (ev->context && ev->context->staff)
        json_object_set_new(ev->fields, "consent_recorded_by", json_string(ev->context->staff));
    ev->out->backend = p->backend;
}

static json_t *partner_payload(const struct service *service, const void *state,
                               const struct service_evaluation *evaluation, const char *reference)
{
    const struct partner_rules *r = state;
    const json_t *f = evaluation->fields;
    const char *reason = json_string_value(json_object_get(f, "reason"));
    const char *label = enum_label(r->reason_field, reason);
    char subject[SUBJECT_MAX];
    snprintf(subject, sizeof subject, "Referral %s from %s: %s", reference, service_name(service),
             label ? label : reason);
    json_t *details =
        json_pack("{s:O?,s:O?,s:s?,s:O?,s:O?,s:O?}", "Name", json_object_get(f, "resident_name"),
                  "Contact", json_object_get(f, "contact"), "Reason", label ? label : reason,
                  "Details", json_object_get(f, "details"), "Consent wording version",
                  json_object_get(f, "consent_version"), "Consent recorded by",
                  json_object_get(f, "consent_recorded_by"));
    return json_pack("{s:s,s:s,s:s,s:O?,s:{s:b,s:O?,s:O?,s:O?,s:s},s:o}", "subject", subject,
                     "reference", reference, "service", service_code(service), "partner",
                     json_object_get(f, "partner_name"), "consent", "given", 1, "version",
                     json_object_get(f, "consent_version"), "recorded_at",
                     json_object_get(f, "consent_recorded_at"), "recorded_by",
                     json_object_get(f, "consent_recorded_by"), "statement", r->consent_wording,
                     "fields", details);
}

static const char *partner_backend_at(const void *state, size_t i)
{
    const struct partner_rules *r = state;
    return i < r->count ? r->partners[i].backend : NULL;
}

/* {"partners":[{"code","name","reasons":[codes],"next_steps"}],"consent":{"version",
 * "wording"}}: the counter app offers only the chosen partner's reasons and reads the wording
 * out before consent is confirmed. */
static json_t *partner_catalogue(const void *state)
{
    const struct partner_rules *r = state;
    json_t *partners = json_array();
    for (size_t i = 0; i < r->count; i++)
        json_array_append_new(partners,
                              json_pack("{s:s,s:s,s:O,s:s}", "code", r->partners[i].code, "name",
                                        r->partners[i].name, "reasons", r->partners[i].reasons,
                                        "next_steps", r->partners[i].next_steps));
    return json_pack("{s:o,s:{s:s,s:s}}", "partners", partners, "consent", "version",
                     r->consent_version, "wording", r->consent_wording);
}

const struct service_rules partner_referral_rules = {
    .code = "partner-referral",
    .reads_clock = true,
    .connector = "email",
    .load = partner_load,
    .free_state = partner_free,
    .evaluate = partner_evaluate,
    .payload = partner_payload,
    .backend_at = partner_backend_at,
    .catalogue = partner_catalogue,
};
