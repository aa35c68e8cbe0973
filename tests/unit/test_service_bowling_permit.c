/* Tests of the bowling green season permit rules: seasons from the definition, the permit
 * running to its season's end, the Leisure Key concession for a live card only, a start
 * outside every season refused with the seasons' dates. */
#include "test_services_helpers.h"

#define BOWLING "bowling-permit"

static int bowling_setup(void **state)
{
    return setup_one(state, BOWLING);
}

static const struct service *bowling(struct fixture *f)
{
    const struct service *s = service_registry_find(f->registry, BOWLING);
    assert_non_null(s);
    return s;
}

static void test_season_price_and_end(void **state)
{
    struct fixture *f = *state;
    struct service_evaluation *e =
        evaluate(f, bowling(f), TODAY,
                 json_pack("{s:s, s:s}", "name", "Alan Green", "start_date", "2027-05-01"));
    assert_valid(e);
    assert_int_equal(e->fee_pence, 2500);
    assert_string_equal(e->live_until, "2027-09-30");
    assert_string_equal(line_text(e, 0), "Bowling green season permit, 2027 season");
}

static void test_out_of_season(void **state)
{
    struct fixture *f = *state;
    struct service_evaluation *e =
        evaluate(f, bowling(f), TODAY,
                 json_pack("{s:s, s:s}", "name", "Alan Green", "start_date", "2027-01-10"));
    const char *message = find_error(e, "start_date", "out_of_season");
    assert_non_null(strstr(message, "2027 season, 1 April 2027 to 30 September 2027"));
    assert_invalid(e, 1);
}

static void test_concession_for_a_live_card(void **state)
{
    struct fixture *f = *state;
    json_t *fields = json_pack("{s:s, s:s, s:s}", "name", "Alan Green", "start_date", "2027-05-01",
                               "leisure_key_number", "1234567890");
    struct service_evaluation *e = evaluate(f, bowling(f), TODAY, json_incref(fields));
    (void)find_error(e, "leisure_key_number", "card_not_live");
    fake_add(&f->store, "leisure-key-card", "1234567890", "2026-01-01", "2026-12-31");
    e = evaluate(f, bowling(f), TODAY, fields);
    assert_valid(e);
    assert_int_equal(e->fee_pence, 1250);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_season_price_and_end, bowling_setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_season, bowling_setup, teardown),
        cmocka_unit_test_setup_teardown(test_concession_for_a_live_card, bowling_setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
