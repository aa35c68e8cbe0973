/* Tests of hearing-aid-batteries, a service made from its definition alone: free, packs per
 * visit, one issue per book per day (a declared limit), and the stock each issue takes
 * (declared; the gateway applies it in the sale's write). */
#include "test_services_helpers.h"

#define HAB "hearing-aid-batteries"

static int hab_setup(void **state)
{
    return setup_one(state, HAB);
}

static const struct service *hab(struct fixture *f)
{
    const struct service *s = service_registry_find(f->registry, HAB);
    assert_non_null(s);
    return s;
}

static json_t *issue(const char *book, int packs)
{
    return json_pack("{s:s, s:i}", "book_number", book, "packs", packs);
}

static void test_free_issue_takes_stock_and_keys_the_book(void **state)
{
    struct fixture *f = *state;
    struct service_evaluation *e = evaluate(f, hab(f), TODAY, issue("BOOK0001", 2));
    assert_valid(e);
    assert_int_equal(e->fee_pence, 0);
    assert_int_equal(json_array_size(e->lines), 1);
    assert_string_equal(line_text(e, 0), "Hearing aid batteries (free NHS issue)");
    assert_key(e, "battery-book", "BOOK0001", TODAY, TODAY);
    assert_int_equal(json_array_size(e->stock), 1);
    const json_t *take = json_array_get(e->stock, 0);
    assert_string_equal(json_string_value(json_object_get(take, "item")),
                        "hearing_aid_battery_pack");
    assert_int_equal(json_integer_value(json_object_get(take, "quantity")), 2);
    assert_true(service_payment_method_allowed(hab(f), "none"));
    assert_false(service_payment_method_allowed(hab(f), "cash"));
    const json_t *item = service_stock_item(hab(f));
    assert_int_equal(json_integer_value(json_object_get(item, "low_at")), 20);
}

static void test_one_issue_per_book_per_day(void **state)
{
    struct fixture *f = *state;
    fake_add(&f->store, "battery-book", "BOOK0001", TODAY, TODAY);
    struct service_evaluation *e = evaluate(f, hab(f), TODAY, issue("BOOK0001", 1));
    (void)find_error(e, "book_number", "limit_reached");
    assert_invalid(e, 1);
    assert_int_equal(json_array_size(e->stock), 0);
    /* yesterday's issue does not count */
    f->store.count = 0;
    fake_add(&f->store, "battery-book", "BOOK0001", "2026-11-22", "2026-11-22");
    e = evaluate(f, hab(f), TODAY, issue("BOOK0001", 1));
    assert_valid(e);
}

static void test_packs_and_book_checked(void **state)
{
    struct fixture *f = *state;
    struct service_evaluation *e = evaluate(f, hab(f), TODAY, issue("BOOK0001", 3));
    (void)find_error(e, "packs", "out_of_range");
    e = evaluate(f, hab(f), TODAY, issue("BOOK0001", 0));
    (void)find_error(e, "packs", "out_of_range");
    e = evaluate(f, hab(f), TODAY, issue("bk 1", 1));
    (void)find_error(e, "book_number", "invalid_format");
    e = evaluate(f, hab(f), TODAY, json_pack("{}"));
    (void)find_error(e, "book_number", "required");
    (void)find_error(e, "packs", "required");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_free_issue_takes_stock_and_keys_the_book, hab_setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_one_issue_per_book_per_day, hab_setup, teardown),
        cmocka_unit_test_setup_teardown(test_packs_and_book_checked, hab_setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
