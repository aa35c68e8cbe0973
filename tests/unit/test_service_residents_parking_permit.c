/* Tests of the residents' parking permit rules: zones, values, start dates, Leisure Key and
 * Blue Badge prices, scratch cards, household and vehicle limits, store failures. */
#include "test_services_helpers.h"

/* ---- Residents' parking permit -----------------------------------------------------------------
 */

static void test_parking_resident_permit(void **state)
{
    struct fixture *f = *state;
    struct service_evaluation *e =
        evaluate(f, f->parking, TODAY, resident(IN_TC, "ab12 cde", "2026-12-01"));
    assert_valid(e);
    assert_int_equal(e->fee_pence, 4150);
    assert_int_equal(json_array_size(e->lines), 1);
    assert_int_equal(line_amount(e, 0), 4150);
    assert_string_equal(line_text(e, 0), "Resident parking permit, 1 year");
    assert_string_equal(e->live_until, "2027-11-30");
    assert_false(e->store_failed);
    /* Normalised, with defaults. */
    assert_string_equal(field_str(e, "vrm"), "AB12CDE");
    assert_string_equal(field_str(e, "uprn"), IN_TC);
    assert_true(json_is_false(json_object_get(e->fields, "blue_badge")));
    assert_string_equal(field_str(e, "leisure_key_band"), "none");
    assert_int_equal(json_integer_value(json_object_get(e->fields, "scratch_cards")), 0);
    /* Index entries for the limits. */
    assert_int_equal(json_array_size(e->keys), 2);
    assert_key(e, "parking.resident.uprn", IN_TC, "2026-12-01", "2027-11-30");
    assert_key(e, "parking.vrm", "AB12CDE", "2026-12-01", "2027-11-30");

    json_t *payload = service_backend_payload(f->parking, e, "RP-4K7M-9Q2X");
    assert_non_null(payload);
    json_t *expect = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:b, s:s, s:i}",
                               "reference", "RP-4K7M-9Q2X", "uprn", IN_TC, "zone", "TC", "vrm",
                               "AB12CDE", "permit_type", "resident", "start_date", "2026-12-01",
                               "expiry_date", "2027-11-30", "quantity", 1, "fee_pence", 4150,
                               "blue_badge", 0, "leisure_key_band", "none", "scratch_cards", 0);
    if (!json_equal(payload, expect)) {
        char *text = json_dumps(payload, JSON_SORT_KEYS);
        print_error("payload %s\n", text);
        free(text);
        fail();
    }
    json_decref(expect);
    json_decref(payload);

    /* Heaton Moor, and a leap-day start. */
    e = evaluate(f, f->parking, "2028-01-15", resident(IN_HM, "BD51 SMR", "2028-02-29"));
    assert_valid(e);
    assert_string_equal(e->live_until, "2029-02-28");
    payload = service_backend_payload(f->parking, e, "RP-4K7M-9Q2X");
    assert_string_equal(json_string_value(json_object_get(payload, "zone")), "HM");
    json_decref(payload);
}

static void test_parking_zone_and_required(void **state)
{
    struct fixture *f = *state;
    struct service_evaluation *e =
        evaluate(f, f->parking, TODAY, resident(OUTSIDE, "AB12CDE", TODAY));
    assert_invalid(e, 1);
    assert_string_equal(find_error(e, "uprn", "not_in_zone"),
                        "This address is not in a residents' parking zone");
    assert_null(service_backend_payload(f->parking, e, "RP-4K7M-9Q2X"));

    /* A resident permit needs a vehicle; a visitor permit does not. */
    e = evaluate(f, f->parking, TODAY,
                 json_pack("{s:s, s:s, s:s}", "uprn", IN_TC, "permit_type", "resident",
                           "start_date", TODAY));
    assert_invalid(e, 1);
    assert_non_null(strstr(find_error(e, "vrm", "required"), "Vehicle registration is required"));
    e = evaluate(
        f, f->parking, TODAY,
        json_pack("{s:s, s:s, s:s}", "uprn", IN_TC, "permit_type", "visitor", "start_date", TODAY));
    assert_valid(e);
    assert_int_equal(e->fee_pence, 4150);
    assert_false(has_key(e, "parking.vrm"));
    assert_false(has_key(e, "parking.resident.uprn"));
    json_t *payload = service_backend_payload(f->parking, e, "RP-4K7M-9Q2X");
    assert_true(json_is_null(json_object_get(payload, "vrm")));
    json_decref(payload);

    /* Every problem at once. */
    e = evaluate(f, f->parking, TODAY,
                 json_pack("{s:s, s:s, s:s, s:s, s:i}", "uprn", OUTSIDE, "vrm", "AB00CDE",
                           "start_date", "2026-02-30", "colour", "red", "scratch_cards", 11));
    assert_invalid(e, 6);
    find_error(e, "uprn", "not_in_zone");
    find_error(e, "vrm", "invalid_format");
    find_error(e, "start_date", "invalid_format");
    find_error(e, "colour", "unknown_field");
    find_error(e, "permit_type", "required");
    assert_string_equal(find_error(e, "scratch_cards", "out_of_range"),
                        "Visitor scratch cards must be from 0 to 10");

    /* Not an object at all. */
    service_evaluation_clear(&f->eval);
    json_t *array = json_array();
    service_evaluate(f->parking, array, TODAY, &f->lookup, &f->eval);
    json_decref(array);
    assert_invalid(&f->eval, 1);
    find_error(&f->eval, NULL, "invalid_fields");
    /* A bad "today" from the caller. */
    service_evaluation_clear(&f->eval);
    json_t *fields = resident(IN_TC, "AB12CDE", TODAY);
    service_evaluate(f->parking, fields, "23/11/2026", &f->lookup, &f->eval);
    json_decref(fields);
    assert_invalid(&f->eval, 1);
    find_error(&f->eval, NULL, "invalid_today");
}

static void test_parking_values(void **state)
{
    struct fixture *f = *state;
    /* Permit type is case-forgiving; the stored value is canonical. */
    struct service_evaluation *e =
        evaluate(f, f->parking, TODAY,
                 json_pack("{s:s, s:s, s:s, s:s}", "uprn", " 100011429001 ", "permit_type",
                           "Resident", "vrm", "AB12CDE", "start_date", TODAY));
    assert_valid(e);
    assert_string_equal(field_str(e, "permit_type"), "resident");
    assert_string_equal(field_str(e, "uprn"), IN_TC);
    e = evaluate(f, f->parking, TODAY,
                 json_pack("{s:s, s:s, s:s, s:s}", "uprn", IN_TC, "permit_type", "business", "vrm",
                           "AB12CDE", "start_date", TODAY));
    assert_invalid(e, 1);
    assert_string_equal(find_error(e, "permit_type", "invalid_value"),
                        "Permit type must be one of: resident, visitor");
    /* UPRN as a JSON number is read too; a bad one is explained. */
    e = evaluate(f, f->parking, TODAY,
                 json_pack("{s:I, s:s, s:s, s:s}", "uprn", (json_int_t)100011429001LL,
                           "permit_type", "resident", "vrm", "AB12CDE", "start_date", TODAY));
    assert_valid(e);
    e = evaluate(f, f->parking, TODAY, resident("10001142900X", "AB12CDE", TODAY));
    assert_invalid(e, 1);
    find_error(e, "uprn", "invalid_format");
    /* Blue Badge must be a boolean. */
    e = evaluate(f, f->parking, TODAY,
                 json_pack("{s:s, s:s, s:s, s:s, s:s}", "uprn", IN_TC, "permit_type", "resident",
                           "vrm", "AB12CDE", "start_date", TODAY, "blue_badge", "maybe"));
    assert_invalid(e, 1);
    find_error(e, "blue_badge", "invalid_format");
    /* Empty strings and nulls count as not given. */
    e = evaluate(f, f->parking, TODAY,
                 json_pack("{s:s, s:s, s:s, s:s, s:n}", "uprn", IN_TC, "permit_type", "visitor",
                           "vrm", "   ", "start_date", TODAY, "leisure_key_number"));
    assert_valid(e);
    assert_null(json_object_get(e->fields, "vrm"));
    /* A flood of unknown fields is named only up to a limit. */
    json_t *fields = resident(IN_TC, "AB12CDE", TODAY);
    for (int i = 0; i < 500; i++) {
        char name[32];
        snprintf(name, sizeof name, "extra_%d", i);
        json_object_set_new(fields, name, json_integer(i));
    }
    e = evaluate(f, f->parking, TODAY, fields);
    assert_invalid(e, 20);
}

static void test_parking_start_date(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *start;
        const char *code; /* NULL: valid */
    } rows[] = {
        {"2026-11-23", NULL},           /* today */
        {"2027-02-21", NULL},           /* today + 90 days */
        {"2027-02-22", "out_of_range"}, /* 91 days */
        {"2026-11-22", "out_of_range"}, /* yesterday */
        {"2026-11-31", "invalid_format"},
        {"23/11/2026", "invalid_format"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct service_evaluation *e =
            evaluate(f, f->parking, TODAY, resident(IN_TC, "AB12CDE", rows[i].start));
        if (!rows[i].code) {
            assert_valid(e);
            continue;
        }
        assert_invalid(e, 1);
        const char *m = find_error(e, "start_date", rows[i].code);
        if (strcmp(rows[i].code, "out_of_range") == 0)
            assert_string_equal(m, "Start date must be from 23 November 2026 to 21 February 2027");
    }
}

static void test_parking_leisure_key(void **state)
{
    struct fixture *f = *state;
    json_t *fields = resident(IN_TC, "AB12CDE", TODAY);
    json_object_set_new(fields, "leisure_key_band", json_string("A"));
    json_object_set_new(fields, "leisure_key_number", json_string("1234567890"));
    struct service_evaluation *e = evaluate(f, f->parking, TODAY, fields);
    assert_valid(e);
    assert_int_equal(e->fee_pence, 2075);
    assert_string_equal(line_text(e, 0),
                        "Resident parking permit, 1 year - Leisure Key Band A rate");
    json_t *payload = service_backend_payload(f->parking, e, "RP-4K7M-9Q2X");
    assert_string_equal(json_string_value(json_object_get(payload, "leisure_key_band")), "A");
    assert_string_equal(json_string_value(json_object_get(payload, "leisure_key_number")),
                        "1234567890");
    json_decref(payload);

    /* Band B has no permit discount. */
    fields = resident(IN_TC, "AB12CDE", TODAY);
    json_object_set_new(fields, "leisure_key_band", json_string("B"));
    json_object_set_new(fields, "leisure_key_number", json_string("1234567890"));
    e = evaluate(f, f->parking, TODAY, fields);
    assert_valid(e);
    assert_int_equal(e->fee_pence, 4150);

    /* A band needs the card number, in its format. */
    fields = resident(IN_TC, "AB12CDE", TODAY);
    json_object_set_new(fields, "leisure_key_band", json_string("A"));
    e = evaluate(f, f->parking, TODAY, fields);
    assert_invalid(e, 1);
    assert_string_equal(find_error(e, "leisure_key_number", "required"),
                        "Leisure Key number is required when Leisure Key band is A");
    fields = resident(IN_TC, "AB12CDE", TODAY);
    json_object_set_new(fields, "leisure_key_band", json_string("A"));
    json_object_set_new(fields, "leisure_key_number", json_string("123456789"));
    e = evaluate(f, f->parking, TODAY, fields);
    assert_invalid(e, 1);
    assert_string_equal(find_error(e, "leisure_key_number", "invalid_format"),
                        "Leisure Key number must be the 10 digits on the Leisure Key card");
    /* A number without a band is a mistake worth saying. */
    fields = resident(IN_TC, "AB12CDE", TODAY);
    json_object_set_new(fields, "leisure_key_number", json_string("1234567890"));
    e = evaluate(f, f->parking, TODAY, fields);
    assert_invalid(e, 1);
    find_error(e, "leisure_key_number", "not_allowed");
    fields = resident(IN_TC, "AB12CDE", TODAY);
    json_object_set_new(fields, "leisure_key_band", json_string("C"));
    e = evaluate(f, f->parking, TODAY, fields);
    assert_invalid(e, 1);
    find_error(e, "leisure_key_band", "invalid_value");
}

static void test_parking_scratch_cards(void **state)
{
    struct fixture *f = *state;
    struct service_evaluation *e =
        evaluate(f, f->parking, TODAY,
                 json_pack("{s:s, s:s, s:s, s:i}", "uprn", IN_TC, "permit_type", "visitor",
                           "start_date", TODAY, "scratch_cards", 3));
    assert_valid(e);
    assert_int_equal(e->fee_pence, 4150 + 300);
    assert_int_equal(json_array_size(e->lines), 2);
    assert_int_equal(line_amount(e, 1), 300);
    assert_string_equal(line_text(e, 1), "Visitor scratch cards: 3 at \xc2\xa3"
                                         "1.00");
    e = evaluate(f, f->parking, TODAY,
                 json_pack("{s:s, s:s, s:s, s:s}", "uprn", IN_TC, "permit_type", "visitor",
                           "start_date", TODAY, "scratch_cards", "10"));
    assert_valid(e);
    assert_int_equal(e->fee_pence, 4150 + 1000);
    e = evaluate(f, f->parking, TODAY,
                 json_pack("{s:s, s:s, s:s, s:i}", "uprn", IN_TC, "permit_type", "visitor",
                           "start_date", TODAY, "scratch_cards", -1));
    assert_invalid(e, 1);
    find_error(e, "scratch_cards", "out_of_range");
    e = evaluate(f, f->parking, TODAY,
                 json_pack("{s:s, s:s, s:s, s:f}", "uprn", IN_TC, "permit_type", "visitor",
                           "start_date", TODAY, "scratch_cards", 2.5));
    assert_invalid(e, 1);
    find_error(e, "scratch_cards", "invalid_format");
    json_t *fields = resident(IN_TC, "AB12CDE", TODAY);
    json_object_set_new(fields, "scratch_cards", json_integer(2));
    e = evaluate(f, f->parking, TODAY, fields);
    assert_invalid(e, 1);
    assert_string_equal(find_error(e, "scratch_cards", "not_allowed"),
                        "Scratch cards are sold with visitor permits only");
}

static void test_parking_blue_badge(void **state)
{
    struct fixture *f = *state;
    json_t *fields = resident(IN_TC, "AB12CDE", "2026-12-01");
    json_object_set_new(fields, "blue_badge", json_true());
    struct service_evaluation *e = evaluate(f, f->parking, TODAY, json_deep_copy(fields));
    assert_valid(e);
    assert_int_equal(e->fee_pence, 0);
    assert_int_equal(line_amount(e, 0), 0);
    assert_non_null(strstr(line_text(e, 0), "first permit free"));
    assert_key(e, "parking.free.uprn", IN_TC, "2026-12-01", "2027-11-30");

    /* The household already has its free permit: this one is paid for. */
    fake_add(&f->store, "parking.free.uprn", IN_TC, "2026-06-01", "2027-05-31");
    e = evaluate(f, f->parking, TODAY, json_deep_copy(fields));
    assert_valid(e);
    assert_int_equal(e->fee_pence, 4150);
    assert_false(has_key(e, "parking.free.uprn"));

    /* A free permit that ends the day before this one starts does not count (renewal). */
    f->store.count = 0;
    fake_add(&f->store, "parking.free.uprn", IN_TC, "2025-12-01", "2026-11-30");
    e = evaluate(f, f->parking, TODAY, json_deep_copy(fields));
    assert_valid(e);
    assert_int_equal(e->fee_pence, 0);

    /* Blue Badge beats the Leisure Key rate. */
    f->store.count = 0;
    json_object_set_new(fields, "leisure_key_band", json_string("A"));
    json_object_set_new(fields, "leisure_key_number", json_string("1234567890"));
    e = evaluate(f, f->parking, TODAY, fields);
    assert_valid(e);
    assert_int_equal(e->fee_pence, 0);
}

static void test_parking_household_limit(void **state)
{
    struct fixture *f = *state;
    fake_add(&f->store, "parking.resident.uprn", IN_TC, "2026-06-01", "2027-05-31");
    struct service_evaluation *e =
        evaluate(f, f->parking, TODAY, resident(IN_TC, "AB12CDE", TODAY));
    assert_valid(e); /* one live: a second is fine */
    fake_add(&f->store, "parking.resident.uprn", IN_TC, "2026-09-01", "2027-08-31");
    e = evaluate(f, f->parking, TODAY, resident(IN_TC, "AB12CDE", TODAY));
    assert_invalid(e, 1);
    assert_non_null(
        strstr(find_error(e, "uprn", "household_limit"), "already has 2 live resident permits"));
    /* Another household is not affected; nor are visitor permits. */
    e = evaluate(f, f->parking, TODAY, resident("100011429002", "AB12CDE", TODAY));
    assert_valid(e);
    e = evaluate(
        f, f->parking, TODAY,
        json_pack("{s:s, s:s, s:s}", "uprn", IN_TC, "permit_type", "visitor", "start_date", TODAY));
    assert_valid(e);
    /* Starting after both have ended is fine. */
    e = evaluate(f, f->parking, "2027-06-15", resident(IN_TC, "AB12CDE", "2027-09-01"));
    assert_valid(e);
    /* Two permits that overlap each other only inside the new one's period: from 10 January
     * to 31 May there would be three. */
    f->store.count = 0;
    fake_add(&f->store, "parking.resident.uprn", IN_TC, "2026-06-01", "2027-05-31");
    fake_add(&f->store, "parking.resident.uprn", IN_TC, "2027-01-10", "2028-01-09");
    e = evaluate(f, f->parking, TODAY, resident(IN_TC, "AB12CDE", "2026-12-01"));
    assert_invalid(e, 1);
    find_error(e, "uprn", "household_limit");
    /* A permit and its renewal never overlap: with them a second car is fine. */
    f->store.count = 0;
    fake_add(&f->store, "parking.resident.uprn", IN_TC, "2026-06-01", "2027-05-31");
    fake_add(&f->store, "parking.resident.uprn", IN_TC, "2027-06-01", "2028-05-31");
    e = evaluate(f, f->parking, TODAY, resident(IN_TC, "AB12CDE", "2026-12-01"));
    assert_valid(e);
}

/* A gateway without max_live: the rules fall back to the first and last days. */
static void test_parking_without_max_live(void **state)
{
    struct fixture *f = *state;
    f->lookup.max_live = NULL;
    fake_add(&f->store, "parking.resident.uprn", IN_TC, "2026-06-01", "2027-05-31");
    fake_add(&f->store, "parking.resident.uprn", IN_TC, "2026-09-01", "2027-08-31");
    struct service_evaluation *e =
        evaluate(f, f->parking, TODAY, resident(IN_TC, "AB12CDE", TODAY));
    assert_invalid(e, 1);
    find_error(e, "uprn", "household_limit");
    /* A vehicle's permit that starts later in the period is caught on the last day. */
    f->store.count = 0;
    fake_add(&f->store, "parking.vrm", "AB12CDE", "2027-01-10", "2028-01-09");
    e = evaluate(f, f->parking, TODAY, resident(IN_TC, "AB12CDE", "2026-12-01"));
    assert_invalid(e, 1);
    find_error(e, "vrm", "vehicle_has_permit");
    f->store.count = 0;
    f->store.calls = 0;
    e = evaluate(f, f->parking, TODAY, resident(IN_TC, "AB12CDE", "2026-12-01"));
    assert_valid(e);
    assert_int_equal(f->store.calls, 4); /* household and vehicle, each on two days */
}

static void test_parking_vehicle_limit(void **state)
{
    struct fixture *f = *state;
    fake_add(&f->store, "parking.vrm", "AB12CDE", "2026-06-01", "2027-05-31");
    struct service_evaluation *e =
        evaluate(f, f->parking, TODAY, resident(IN_TC, "ab12 cde", TODAY));
    assert_invalid(e, 1);
    assert_non_null(
        strstr(find_error(e, "vrm", "vehicle_has_permit"), "already has a live parking permit"));
    /* The renewal, starting the day after the current permit ends. */
    e = evaluate(f, f->parking, "2027-05-20", resident(IN_TC, "AB12CDE", "2027-06-01"));
    assert_valid(e);
    /* Another vehicle. */
    e = evaluate(f, f->parking, TODAY, resident(IN_TC, "AB12CDF", TODAY));
    assert_valid(e);
    /* Several problems, store ones included, at once. */
    fake_add(&f->store, "parking.resident.uprn", IN_TC, "2026-06-01", "2027-05-31");
    fake_add(&f->store, "parking.resident.uprn", IN_TC, "2026-06-01", "2027-05-31");
    e = evaluate(f, f->parking, TODAY, resident(IN_TC, "AB12CDE", TODAY));
    assert_invalid(e, 2);
    find_error(e, "uprn", "household_limit");
    find_error(e, "vrm", "vehicle_has_permit");
}

static void test_parking_store_failure(void **state)
{
    struct fixture *f = *state;
    f->store.broken = true;
    struct service_evaluation *e =
        evaluate(f, f->parking, TODAY, resident(IN_TC, "AB12CDE", TODAY));
    assert_true(e->store_failed);
    assert_invalid(e, 1); /* reported once, however many questions were left */
    find_error(e, NULL, "store_unavailable");
    assert_int_equal(f->store.calls, 1);
    /* No lookup at all is the same as a failed store. */
    service_evaluation_clear(&f->eval);
    json_t *fields = resident(IN_TC, "AB12CDE", TODAY);
    service_evaluate(f->parking, fields, TODAY, NULL, &f->eval);
    json_decref(fields);
    assert_true(f->eval.store_failed);
    /* Nothing about the store is asked when the address is not in a zone and there is no VRM. */
    f->store.calls = 0;
    e = evaluate(f, f->parking, TODAY,
                 json_pack("{s:s, s:s, s:s}", "uprn", OUTSIDE, "permit_type", "visitor",
                           "start_date", TODAY));
    assert_false(e->store_failed);
    assert_int_equal(f->store.calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_parking_resident_permit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parking_zone_and_required, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parking_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parking_start_date, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parking_leisure_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parking_scratch_cards, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parking_blue_badge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parking_household_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parking_without_max_live, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parking_vehicle_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parking_store_failure, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
