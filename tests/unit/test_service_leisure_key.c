/* Tests of the Leisure Key rules: band fees for new cards and renewals, the replacement fee,
 * cash only, the proof a band accepts, one live card per resident, card numbers in use,
 * renewals from the later of today and the old expiry, replacements to the old expiry. */
#include "test_services_helpers.h"

#define LK "leisure-key"

static int lk_setup(void **state)
{
    return setup_one(state, LK);
}

static const struct service *lk(struct fixture *f)
{
    const struct service *s = service_registry_find(f->registry, LK);
    assert_non_null(s);
    return s;
}

static json_t *card_fields(const char *kind, const char *band, const char *proof,
                           const char *number)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kind", kind, "band", band, "proof", proof,
                     "name", "Mary  smith", "date_of_birth", "1950-02-01", "card_number", number);
}

static void test_fees_by_band_and_kind(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *kind, *band, *proof;
        long pence;
    } rows[] = {
        {"new", "A", "pension_credit", 265},   {"new", "B", "carer", 645},
        {"new", "D", "armed_forces", 615},     {"new", "E", "armed_forces", 1000},
        {"renewal", "A", "pip_dla", 140},      {"renewal", "B", "carer", 325},
        {"renewal", "D", "armed_forces", 615}, {"renewal", "E", "armed_forces", 1000},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        f->store.count = 0;
        if (strcmp(rows[i].kind, "renewal") == 0)
            fake_add(&f->store, "leisure-key-card", "1234567890", "2026-01-01", "2026-12-31");
        struct service_evaluation *e = evaluate(
            f, lk(f), TODAY, card_fields(rows[i].kind, rows[i].band, rows[i].proof, "1234567890"));
        assert_valid(e);
        assert_int_equal(e->fee_pence, rows[i].pence);
        assert_int_equal(json_array_size(e->lines), 2); /* the fee, and the expiry */
        assert_int_equal(line_amount(e, 1), 0);
    }
    f->store.count = 0;
    fake_add(&f->store, "leisure-key-card", "1111111111", "2026-01-01", "2026-12-31");
    struct service_evaluation *e =
        evaluate(f, lk(f), TODAY,
                 json_pack("{s:s, s:s, s:s, s:s}", "kind", "replacement", "band", "B",
                           "card_number", "2222222222", "old_card_number", "1111111111"));
    assert_valid(e);
    assert_int_equal(e->fee_pence, 220);
    assert_string_equal(e->live_until, "2026-12-31");
    assert_key(e, "leisure-key-card", "2222222222", TODAY, "2026-12-31");
    /* the lost card stops being live today */
    assert_int_equal(json_array_size(e->ends), 1);
    const json_t *end = json_array_get(e->ends, 0);
    assert_string_equal(json_string_value(json_object_get(end, "name")), "leisure-key-card");
    assert_string_equal(json_string_value(json_object_get(end, "value")), "1111111111");
    assert_string_equal(json_string_value(json_object_get(end, "live_until")), "2026-11-22");
}

static void test_cash_only(void **state)
{
    struct fixture *f = *state;
    assert_true(service_payment_method_allowed(lk(f), "cash"));
    assert_false(service_payment_method_allowed(lk(f), "card"));
    assert_false(service_payment_method_allowed(lk(f), "waived"));
}

static void test_new_card_keys_and_one_per_resident(void **state)
{
    struct fixture *f = *state;
    struct service_evaluation *e =
        evaluate(f, lk(f), TODAY, card_fields("new", "A", "pension_credit", "1234567890"));
    assert_valid(e);
    assert_string_equal(e->live_until, "2027-11-22");
    assert_string_equal(line_text(e, 1), "Card valid until 22 November 2027");
    assert_key(e, "leisure-key-card", "1234567890", TODAY, "2027-11-22");
    assert_key(e, "leisure-key-holder", "MARY SMITH|1950-02-01", TODAY, "2027-11-22");

    fake_add(&f->store, "leisure-key-holder", "MARY SMITH|1950-02-01", "2026-06-01", "2027-05-31");
    e = evaluate(f, lk(f), TODAY, card_fields("new", "A", "pension_credit", "5555555555"));
    (void)find_error(e, "name", "has_live_card");
    assert_invalid(e, 1);

    fake_add(&f->store, "leisure-key-card", "6666666666", "2026-06-01", "2027-05-31");
    e = evaluate(f, lk(f), TODAY,
                 json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kind", "new", "band", "A", "proof",
                           "carer", "name", "Someone Else", "date_of_birth", "1980-01-01",
                           "card_number", "6666666666"));
    (void)find_error(e, "card_number", "card_in_use");
}

static void test_renewal_from_the_later_date(void **state)
{
    struct fixture *f = *state;
    /* still live: a year on from the old expiry */
    fake_add(&f->store, "leisure-key-card", "1234567890", "2026-03-01", "2027-02-28");
    struct service_evaluation *e =
        evaluate(f, lk(f), TODAY, card_fields("renewal", "A", "pension_credit", "1234567890"));
    assert_valid(e);
    assert_string_equal(e->live_until, "2028-02-28");
    assert_key(e, "leisure-key-card", "1234567890", TODAY, "2028-02-28");
    /* expired: a year from today */
    f->store.count = 0;
    fake_add(&f->store, "leisure-key-card", "1234567890", "2025-01-01", "2025-12-31");
    e = evaluate(f, lk(f), TODAY, card_fields("renewal", "A", "pension_credit", "1234567890"));
    assert_valid(e);
    assert_string_equal(e->live_until, "2027-11-22");
    /* no such card */
    f->store.count = 0;
    e = evaluate(f, lk(f), TODAY, card_fields("renewal", "A", "pension_credit", "1234567890"));
    (void)find_error(e, "card_number", "card_not_found");
}

static void test_replacement_needs_a_live_card(void **state)
{
    struct fixture *f = *state;
    fake_add(&f->store, "leisure-key-card", "1111111111", "2025-01-01", "2025-12-31");
    struct service_evaluation *e =
        evaluate(f, lk(f), TODAY,
                 json_pack("{s:s, s:s, s:s, s:s}", "kind", "replacement", "band", "A",
                           "card_number", "2222222222", "old_card_number", "1111111111"));
    (void)find_error(e, "old_card_number", "card_not_live");
    e = evaluate(f, lk(f), TODAY,
                 json_pack("{s:s, s:s, s:s}", "kind", "replacement", "band", "A", "card_number",
                           "2222222222"));
    (void)find_error(e, "old_card_number", "required");
    e = evaluate(f, lk(f), TODAY,
                 json_pack("{s:s, s:s, s:s, s:s}", "kind", "replacement", "band", "A",
                           "card_number", "1111111111", "old_card_number", "1111111111"));
    (void)find_error(e, "card_number", "same_card");
}

static void test_proof_and_fields(void **state)
{
    struct fixture *f = *state;
    struct service_evaluation *e =
        evaluate(f, lk(f), TODAY, card_fields("new", "D", "pension_credit", "1234567890"));
    (void)find_error(e, "proof", "proof_not_for_band");
    e = evaluate(f, lk(f), TODAY, card_fields("new", "A", "photocopy_of_passport", "1234567890"));
    (void)find_error(e, "proof", "invalid_value");
    e = evaluate(f, lk(f), TODAY, card_fields("new", "A", "carer", "12345"));
    (void)find_error(e, "card_number", "invalid_format");
    e = evaluate(f, lk(f), TODAY,
                 json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kind", "new", "band", "A", "proof",
                           "carer", "name", "Baby", "date_of_birth", "2027-01-01", "card_number",
                           "1234567890"));
    (void)find_error(e, "date_of_birth", "invalid_value");
    e = evaluate(
        f, lk(f), TODAY,
        json_pack("{s:s, s:s, s:s}", "kind", "new", "band", "A", "card_number", "1234567890"));
    (void)find_error(e, "proof", "required");
    (void)find_error(e, "name", "required");
    (void)find_error(e, "date_of_birth", "required");
}

static void test_store_failure(void **state)
{
    struct fixture *f = *state;
    f->store.broken = true;
    struct service_evaluation *e =
        evaluate(f, lk(f), TODAY, card_fields("renewal", "A", "pension_credit", "1234567890"));
    (void)find_error(e, NULL, "store_unavailable");
    assert_true(e->store_failed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fees_by_band_and_kind, lk_setup, teardown),
        cmocka_unit_test_setup_teardown(test_cash_only, lk_setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_card_keys_and_one_per_resident, lk_setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_renewal_from_the_later_date, lk_setup, teardown),
        cmocka_unit_test_setup_teardown(test_replacement_needs_a_live_card, lk_setup, teardown),
        cmocka_unit_test_setup_teardown(test_proof_and_fields, lk_setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_failure, lk_setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
