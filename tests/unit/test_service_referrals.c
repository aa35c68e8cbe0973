/* Tests of the two referral services (issue 12).
 *
 * nhs-referral: a hand-off only from a recorded look-up made at this counter within the rules'
 * 15 minutes, once; the look-up's UBRN, state, priority and the NHS number's last 3 digits
 * become the fields; nothing is forwarded.
 * partner-referral: the reason must be one the partner takes; consent must be given for the
 * wording version in force; the partner's back-end is chosen per transaction; the e-mail
 * payload has the reference in its subject and the consent with version and who. */
#include <time.h>

#include "test_services_helpers.h"

#define NHS     "nhs-referral"
#define PARTNER "partner-referral"
#define LOOKUP  "3f2b8a6e-1c4d-4e5f-9a7b-0c1d2e3f4a5b"

/* ---- a fake recorded look-up ---- */

static json_t *recorded; /* the look-up the fake store holds, or NULL */
static bool lookup_broken;

static int fake_referral_lookup(void *ctx, const char *lookup_id, json_t **record)
{
    (void)ctx;
    *record = NULL;
    if (lookup_broken)
        return -1;
    if (!recorded || strcmp(lookup_id, LOOKUP) != 0)
        return 0;
    *record = json_deep_copy(recorded);
    return 1;
}

static void record_lookup(const char *counter, long age_s)
{
    json_decref(recorded);
    recorded =
        json_pack("{s:s,s:I,s:s,s:s,s:s,s:s,s:s}", "counter", counter, "made_at",
                  (json_int_t)(time(NULL) - age_s), "ubrn", "000000070000", "state", "NOT_BOOKED",
                  "state_label", "Not booked yet", "priority", "Routine", "nhs_last3", "888");
}

/* One service's registry (test_services_helpers.h) with the fake recorded look-up. */
static int with_lookup(void **state, const char *code)
{
    int rc = setup_one(state, code);
    struct fixture *f = *state;
    f->lookup.referral_lookup = fake_referral_lookup;
    lookup_broken = false;
    return rc;
}

static int nhs_setup(void **state)
{
    return with_lookup(state, NHS);
}

static int partner_setup(void **state)
{
    return with_lookup(state, PARTNER);
}

static int both_teardown(void **state)
{
    json_decref(recorded);
    recorded = NULL;
    return teardown(state);
}

static struct service_evaluation *evaluate_at(struct fixture *f, const char *code,
                                              const char *counter, json_t *fields)
{
    const struct service *s = service_registry_find(f->registry, code);
    assert_non_null(s);
    struct service_context context = {.today = TODAY, .counter = counter, .staff = "assistant"};
    service_evaluation_clear(&f->eval);
    service_evaluate_in(s, fields, &context, &f->lookup, &f->eval);
    json_decref(fields);
    return &f->eval;
}

static const char *field_text(const struct service_evaluation *e, const char *name)
{
    return json_string_value(json_object_get(e->fields, name));
}

/* ---- nhs-referral ---- */

static void test_a_recent_lookup_here_is_handed_off_once(void **state)
{
    struct fixture *f = *state;
    record_lookup("SD-01", 60);
    struct service_evaluation *e =
        evaluate_at(f, NHS, "SD-01", json_pack("{s:s}", "lookup_id", LOOKUP));
    assert_valid(e);
    assert_int_equal(e->fee_pence, 0);
    assert_string_equal(field_text(e, "ubrn"), "000000070000");
    assert_string_equal(field_text(e, "state_label"), "Not booked yet");
    assert_string_equal(field_text(e, "nhs_last3"), "888");
    assert_null(json_object_get(e->fields, "nhs_number"));
    assert_null(e->backend);
    assert_null(service_backend(service_registry_find(f->registry, NHS)));
    assert_int_equal(json_array_size(e->keys), 1);
    /* the same look-up again: refused */
    fake_add(&f->store, "nhs-referral-lookup", LOOKUP, TODAY, TODAY);
    e = evaluate_at(f, NHS, "SD-01", json_pack("{s:s}", "lookup_id", LOOKUP));
    (void)find_error(e, "lookup_id", "lookup_used");
    assert_null(e->fields);
}

static void test_unknown_other_counter_and_old_lookups_are_refused(void **state)
{
    struct fixture *f = *state;
    struct service_evaluation *e =
        evaluate_at(f, NHS, "SD-01", json_pack("{s:s}", "lookup_id", LOOKUP));
    assert_non_null(strstr(find_error(e, "lookup_id", "lookup_not_found"), "Look the referral up"));
    record_lookup("LIB-CEN", 60);
    e = evaluate_at(f, NHS, "SD-01", json_pack("{s:s}", "lookup_id", LOOKUP));
    assert_non_null(strstr(find_error(e, "lookup_id", "lookup_other_counter"), "another counter"));
    record_lookup("SD-01", 15 * 60 + 5);
    e = evaluate_at(f, NHS, "SD-01", json_pack("{s:s}", "lookup_id", LOOKUP));
    assert_non_null(strstr(find_error(e, "lookup_id", "lookup_expired"), "15 minutes"));
    record_lookup("SD-01", 15 * 60 - 5);
    e = evaluate_at(f, NHS, "SD-01", json_pack("{s:s}", "lookup_id", LOOKUP));
    assert_valid(e);
    e = evaluate_at(f, NHS, "SD-01", json_pack("{s:s}", "lookup_id", "not-a-uuid"));
    (void)find_error(e, "lookup_id", "invalid_format");
    lookup_broken = true;
    e = evaluate_at(f, NHS, "SD-01", json_pack("{s:s}", "lookup_id", LOOKUP));
    assert_true(e->store_failed);
}

/* ---- partner-referral ---- */

static json_t *partner_fields(const char *partner, const char *reason, bool consent,
                              const char *version)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:b,s:s}", "partner", partner, "resident_name",
                     "Alex Example", "contact", "07700 900123", "reason", reason, "consent",
                     consent, "consent_version", version);
}

static void test_a_partner_referral_goes_to_the_partners_backend(void **state)
{
    struct fixture *f = *state;
    const struct service *s = service_registry_find(f->registry, PARTNER);
    struct service_evaluation *e = evaluate_at(
        f, PARTNER, "SD-01", partner_fields("citizens-advice", "debt", true, "2026-11"));
    assert_valid(e);
    assert_string_equal(e->backend, "partner-citizens-advice");
    assert_string_equal(field_text(e, "consent_recorded_by"), "assistant");
    assert_non_null(field_text(e, "consent_recorded_at"));
    assert_non_null(strstr(line_text(e, 0), "Citizens Advice Stockport"));
    json_t *body = service_backend_payload(s, e, "PR-TEST-0001");
    assert_non_null(strstr(json_string_value(json_object_get(body, "subject")), "PR-TEST-0001"));
    const json_t *consent = json_object_get(body, "consent");
    assert_true(json_is_true(json_object_get(consent, "given")));
    assert_string_equal(json_string_value(json_object_get(consent, "version")), "2026-11");
    assert_string_equal(json_string_value(json_object_get(consent, "recorded_by")), "assistant");
    assert_string_equal(json_string_value(json_object_get(body, "partner")),
                        "Citizens Advice Stockport");
    json_decref(body);
    /* config checks each partner's back-end */
    assert_string_equal(service_rules_backend(s, 0), "partner-stockport-homes");
    assert_null(service_rules_backend(s, 4));
    /* the catalogue says which reasons each partner takes, and the consent wording */
    json_t *entry = service_catalogue_entry_on(s, TODAY);
    assert_int_equal(json_array_size(json_object_get(entry, "partners")), 4);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(entry, "consent"), "version")),
        "2026-11");
    json_decref(entry);
}

static void test_reason_and_consent_are_checked(void **state)
{
    struct fixture *f = *state;
    struct service_evaluation *e =
        evaluate_at(f, PARTNER, "SD-01", partner_fields("age-uk", "debt", true, "2026-11"));
    assert_non_null(
        strstr(find_error(e, "reason", "reason_not_accepted"), "Age UK Stockport does not take"));
    e = evaluate_at(f, PARTNER, "SD-01",
                    partner_fields("citizens-advice", "debt", false, "2026-11"));
    (void)find_error(e, "consent", "consent_required");
    assert_null(e->fields);
    e = evaluate_at(f, PARTNER, "SD-01",
                    partner_fields("citizens-advice", "debt", true, "2025-01"));
    (void)find_error(e, "consent_version", "consent_wording_changed");
    assert_null(e->backend);
    /* the contact: a UK phone number (normalised) or an e-mail address */
    json_t *fields = partner_fields("citizens-advice", "debt", true, "2026-11");
    json_object_set_new(fields, "contact", json_string("sam@example.org"));
    e = evaluate_at(f, PARTNER, "SD-01", fields);
    assert_valid(e);
    assert_string_equal(field_text(e, "contact"), "sam@example.org");
    fields = partner_fields("citizens-advice", "debt", true, "2026-11");
    json_object_set_new(fields, "contact", json_string("ring after 5"));
    e = evaluate_at(f, PARTNER, "SD-01", fields);
    assert_non_null(strstr(find_error(e, "contact", "invalid_format"), "UK phone number"));
    e = evaluate_at(f, PARTNER, "SD-01",
                    partner_fields("citizens-advice", "debt", true, "2026-11"));
    assert_string_equal(field_text(e, "contact"), "07700900123");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_recent_lookup_here_is_handed_off_once, nhs_setup,
                                        both_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_other_counter_and_old_lookups_are_refused,
                                        nhs_setup, both_teardown),
        cmocka_unit_test_setup_teardown(test_a_partner_referral_goes_to_the_partners_backend,
                                        partner_setup, both_teardown),
        cmocka_unit_test_setup_teardown(test_reason_and_consent_are_checked, partner_setup,
                                        both_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
