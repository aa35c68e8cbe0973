/* Tests of the bulky refuse rules: bookings, bands and the Council Tax Support concession,
 * items, and the slot, location and phone fields. */
#include "test_services_helpers.h"

static void test_bulky_booking(void **state)
{
    struct fixture *f = *state;
    struct service_evaluation *e =
        evaluate(f, f->bulky, TODAY,
                 bulky(json_pack("[{s:s, s:i}, {s:s, s:i}]", "code", "sofa", "quantity", 1, "code",
                                 "fridge", "quantity", 1),
                       "2026-11-27"));
    assert_valid(e);
    assert_int_equal(e->fee_pence, 4000);
    assert_int_equal(json_array_size(e->lines), 1);
    assert_string_equal(line_text(e, 0), "Bulky waste collection, 2 items");
    assert_string_equal(field_str(e, "phone"), "01614804949");
    assert_int_equal(json_array_size(e->keys), 0);
    assert_false(e->store_failed);
    assert_int_equal(f->store.calls, 0);

    json_t *payload = service_backend_payload(f->bulky, e, "BR-4K7M-9Q2X");
    json_t *expect = json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s}}", "service_code",
                               "bulky-collection", "address_id", OUTSIDE, "attributes", "reference",
                               "BR-4K7M-9Q2X", "slot", "2026-11-27", "items", "sofa:1,fridge:1",
                               "location", "Front garden, by the gate", "phone", "01614804949");
    if (!json_equal(payload, expect)) {
        char *text = json_dumps(payload, JSON_SORT_KEYS);
        print_error("payload %s\n", text);
        free(text);
        fail();
    }
    json_decref(payload);
    json_decref(expect);
}

static void test_bulky_bands_and_concession(void **state)
{
    struct fixture *f = *state;
    static const struct {
        int sofas, fridges;
        bool cts;
        long pence;
        const char *code; /* error, or NULL */
    } rows[] = {
        {1, 0, false, 4000, NULL},          {2, 1, false, 4000, NULL},    {3, 1, false, 8000, NULL},
        {4, 2, false, 8000, NULL},          {1, 0, true, 2000, NULL},     {5, 1, true, 4000, NULL},
        {5, 2, false, 0, "too_many_items"}, {0, 0, false, 0, "required"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        json_t *items = json_array();
        if (rows[i].sofas)
            json_array_append_new(
                items, json_pack("{s:s, s:i}", "code", "sofa", "quantity", rows[i].sofas));
        if (rows[i].fridges)
            json_array_append_new(
                items, json_pack("{s:s, s:i}", "code", "fridge", "quantity", rows[i].fridges));
        json_t *fields = bulky(items, "2026-11-27");
        json_object_set_new(fields, "council_tax_support", json_boolean(rows[i].cts));
        struct service_evaluation *e = evaluate(f, f->bulky, TODAY, fields);
        if (rows[i].code) {
            assert_invalid(e, 1);
            const char *m = find_error(e, "items", rows[i].code);
            if (strcmp(rows[i].code, "too_many_items") == 0)
                assert_non_null(strstr(m, "at most 6 items (this one has 7)"));
            continue;
        }
        assert_valid(e);
        if (e->fee_pence != rows[i].pence) {
            print_error("row %zu: fee %ld\n", i, e->fee_pence);
            fail();
        }
        if (rows[i].cts)
            assert_non_null(strstr(line_text(e, 0), "Council Tax Support, half price"));
    }
}

static void test_bulky_items(void **state)
{
    struct fixture *f = *state;
    /* Refused items name why. */
    struct service_evaluation *e = evaluate(
        f, f->bulky, TODAY,
        bulky(json_pack("[{s:s, s:i}, {s:s}]", "code", "sofa", "quantity", 1, "code", "asbestos"),
              "2026-11-27"));
    assert_invalid(e, 1);
    assert_string_equal(find_error(e, "items", "refused_item"),
                        "We cannot collect asbestos: it is hazardous waste; the resident must use "
                        "a licensed asbestos contractor");
    e = evaluate(f, f->bulky, TODAY,
                 bulky(json_pack("[{s:s}, {s:s}]", "code", "Gas_Bottle", "code", "too_heavy"),
                       "2026-11-27"));
    assert_invalid(e, 2);
    /* Unknown items and malformed entries. */
    e = evaluate(f, f->bulky, TODAY, bulky(json_pack("[{s:s}]", "code", "piano"), "2026-11-27"));
    assert_invalid(e, 1);
    assert_string_equal(find_error(e, "items", "invalid_value"),
                        "\"piano\" is not on the list of items we collect");
    e = evaluate(f, f->bulky, TODAY,
                 bulky(json_pack("[{s:s, s:i}]", "code", "sofa", "quantity", 0), "2026-11-27"));
    assert_invalid(e, 1);
    find_error(e, "items", "invalid_format");
    e = evaluate(f, f->bulky, TODAY,
                 bulky(json_pack("[{s:s, s:s}]", "code", "sofa", "colour", "red"), "2026-11-27"));
    assert_invalid(e, 1);
    e = evaluate(f, f->bulky, TODAY, bulky(json_pack("[s]", "sofa"), "2026-11-27"));
    assert_invalid(e, 1);
    e = evaluate(f, f->bulky, TODAY, bulky(json_string("sofa"), "2026-11-27"));
    assert_invalid(e, 1);
    /* The same item twice is one line; quantity defaults to 1; codes are case-forgiving. */
    e = evaluate(f, f->bulky, TODAY,
                 bulky(json_pack("[{s:s}, {s:s, s:i}, {s:s}]", "code", "Sofa", "code", "mattress",
                                 "quantity", 2, "code", "sofa"),
                       "2026-11-27"));
    assert_valid(e);
    assert_int_equal(e->fee_pence, 8000); /* 4 items */
    json_t *payload = service_backend_payload(f->bulky, e, "BR-4K7M-9Q2X");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(payload, "attributes"), "items")),
        "sofa:2,mattress:2");
    json_decref(payload);
}

static void test_bulky_slot_location_phone(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *slot;
        const char *code;
    } slots[] = {
        {"2026-11-24", NULL},              /* tomorrow, Tuesday */
        {"2026-11-23", "out_of_range"},    /* today */
        {"2026-11-28", "not_working_day"}, /* Saturday */
        {"2026-11-29", "not_working_day"}, /* Sunday */
        {"2026-12-25", "not_working_day"}, /* Christmas Day, a Friday */
        {"2026-12-28", "not_working_day"}, /* Boxing Day substitute */
        {"2026-12-29", NULL},
        {"2027-01-22", NULL}, /* 60 days ahead */
        {"2027-01-25", "out_of_range"},
        {"2026-13-01", "invalid_format"},
    };
    for (size_t i = 0; i < sizeof slots / sizeof slots[0]; i++) {
        struct service_evaluation *e = evaluate(
            f, f->bulky, TODAY, bulky(json_pack("[{s:s}]", "code", "bike"), slots[i].slot));
        if (!slots[i].code) {
            assert_valid(e);
            continue;
        }
        assert_invalid(e, 1);
        find_error(e, "slot", slots[i].code);
    }
    /* Where items are left: required, at most 200 characters (counted as characters). */
    char text[400];
    memset(text, 'x', 200);
    text[200] = '\0';
    json_t *fields = bulky(json_pack("[{s:s}]", "code", "bike"), "2026-11-24");
    json_object_set_new(fields, "location", json_string(text));
    struct service_evaluation *e = evaluate(f, f->bulky, TODAY, fields);
    assert_valid(e);
    text[200] = 'x';
    text[201] = '\0';
    fields = bulky(json_pack("[{s:s}]", "code", "bike"), "2026-11-24");
    json_object_set_new(fields, "location", json_string(text));
    e = evaluate(f, f->bulky, TODAY, fields);
    assert_invalid(e, 1);
    assert_string_equal(find_error(e, "location", "too_long"),
                        "Where the items will be left must be at most 200 characters (it has 201)");
    size_t n = 0;
    for (int i = 0; i < 100; i++) {
        memcpy(text + n, "\xc2\xa3", 2); /* 100 two-byte characters: 100, not 200 */
        n += 2;
    }
    text[n] = '\0';
    fields = bulky(json_pack("[{s:s}]", "code", "bike"), "2026-11-24");
    json_object_set_new(fields, "location", json_string(text));
    e = evaluate(f, f->bulky, TODAY, fields);
    assert_valid(e);
    fields = bulky(json_pack("[{s:s}]", "code", "bike"), "2026-11-24");
    json_object_set_new(fields, "location", json_string("front\ngarden"));
    e = evaluate(f, f->bulky, TODAY, fields);
    assert_invalid(e, 1);
    find_error(e, "location", "invalid_format");
    fields = bulky(json_pack("[{s:s}]", "code", "bike"), "2026-11-24");
    json_object_del(fields, "location");
    json_object_set_new(fields, "phone", json_string("12345"));
    e = evaluate(f, f->bulky, TODAY, fields);
    assert_invalid(e, 2);
    find_error(e, "location", "required");
    find_error(e, "phone", "invalid_format");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bulky_booking, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bulky_bands_and_concession, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bulky_items, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bulky_slot_location_phone, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
