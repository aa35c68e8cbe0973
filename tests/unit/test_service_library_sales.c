/* Tests of library-sales, a service made from its definition alone (no C file): items priced
 * from the list in the definition, quantities, cash or card, the generic back-end body and
 * the catalogue's sentences. Also the declared rules' checks of a broken definition. */
#include "test_services_helpers.h"

#define SALES "library-sales"

static int sales_setup(void **state)
{
    return setup_one(state, SALES);
}

static json_t *items(const char *code, int quantity)
{
    return json_pack("{s:[{s:s, s:i}]}", "items", "code", code, "quantity", quantity);
}

static void test_priced_by_item_and_quantity(void **state)
{
    struct fixture *f = *state;
    const struct service *s = service_registry_find(f->registry, SALES);
    assert_non_null(s);
    struct service_evaluation *e =
        evaluate(f, s, TODAY,
                 json_pack("{s:[{s:s, s:i}, {s:s, s:i}, {s:s, s:i}]}", "items", "code", "copy_bw",
                           "quantity", 12, "code", "bag", "quantity", 1, "code", "print_colour",
                           "quantity", 3));
    assert_valid(e);
    assert_int_equal(e->fee_pence, 12 * 10 + 100 + 3 * 50);
    assert_int_equal(json_array_size(e->lines), 3);
    assert_string_equal(line_text(e, 0), "Photocopy, black and white (per page), 12 at \xc2\xa3"
                                         "0.10");
    assert_int_equal(line_amount(e, 0), 120);
    assert_string_equal(line_text(e, 1), "Library bag");
    assert_int_equal(line_amount(e, 1), 100);
    assert_int_equal(line_amount(e, 2), 150);
    assert_int_equal(json_array_size(e->keys), 0);
    assert_int_equal(json_array_size(e->stock), 0);
    assert_int_equal(f->store.calls, 0); /* nothing to ask the store */

    e = evaluate(f, s, TODAY, items("replacement_card", 1));
    assert_valid(e);
    assert_int_equal(e->fee_pence, 250);
}

static void test_items_checked(void **state)
{
    struct fixture *f = *state;
    const struct service *s = service_registry_find(f->registry, SALES);
    struct service_evaluation *e = evaluate(f, s, TODAY, json_pack("{}"));
    (void)find_error(e, "items", "required");
    assert_invalid(e, 1);
    e = evaluate(f, s, TODAY, items("sofa", 1));
    (void)find_error(e, "items", "invalid_value");
    e = evaluate(f, s, TODAY, items("copy_bw", 101));
    assert_true(json_array_size(e->errors) > 0);
    assert_null(e->fields);
}

static void test_cash_or_card(void **state)
{
    struct fixture *f = *state;
    const struct service *s = service_registry_find(f->registry, SALES);
    assert_true(service_payment_method_allowed(s, "cash"));
    assert_true(service_payment_method_allowed(s, "card"));
    assert_false(service_payment_method_allowed(s, "cheque"));
    assert_false(service_payment_method_allowed(s, "none"));
}

static void test_payload_and_catalogue(void **state)
{
    struct fixture *f = *state;
    const struct service *s = service_registry_find(f->registry, SALES);
    assert_null(service_backend(s)); /* nothing is forwarded */
    struct service_evaluation *e = evaluate(f, s, TODAY, items("bag", 2));
    assert_valid(e);
    json_t *body = service_backend_payload(s, e, "SA-TEST-0001");
    assert_non_null(body);
    assert_string_equal(json_string_value(json_object_get(body, "reference")), "SA-TEST-0001");
    assert_string_equal(json_string_value(json_object_get(body, "service")), SALES);
    assert_int_equal(json_integer_value(json_object_get(body, "fee_pence")), 200);
    json_decref(body);

    json_t *entry = service_catalogue_entry_on(s, TODAY);
    assert_non_null(entry);
    const json_t *sentences = json_object_get(entry, "fee_rules");
    bool found = false;
    size_t i;
    json_t *v;
    json_array_foreach(sentences, i, v)
    {
        found = found || strcmp(json_string_value(v), "Library bag: \xc2\xa3"
                                                      "1.00 each.") == 0;
    }
    assert_true(found);
    assert_string_equal(json_string_value(json_object_get(entry, "receipt_next_steps")),
                        "Keep this receipt: it is your proof of payment.");
    json_decref(entry);
}

/* The declared rules' own checks, each reported as FILE: KEY: problem. */
static void test_declared_definition_problems(void **state)
{
    (void)state;
    static const struct {
        const char *json; /* merged into the real definition */
        const char *problem;
    } cases[] = {
        {"{\"pricing\": [{\"fee\": \"nothing\"}]}",
         "library-sales.json: pricing[0]: fee \"nothing\" is not in fees"},
        {"{\"pricing\": [{}]}", "library-sales.json: pricing[0]: must name either a fee or an "
                                "items_field"},
        {"{\"limits\": [{\"key\": \"k\", \"fields\": [\"nope\"], \"max\": 1, \"per\": \"day\"}]}",
         "library-sales.json: limits[0]: fields[0] names no field of this service"},
        {"{\"limits\": [{\"key\": \"k\", \"fields\": [\"items\"], \"max\": 1, \"per\": \"week\"}]}",
         "library-sales.json: limits[0]: per must be \"day\" or \"year\""},
        {"{\"stock\": {\"item\": \"x\", \"name\": \"X\", \"low_at\": 1, \"quantity_field\": "
         "\"items\"}}",
         "library-sales.json: fields: this service's rules need a field \"items\" of type "
         "integer"},
        {"{\"rules\": {}}", "library-sales.json: rules: this service has no C rules to read it; "
                            "declare pricing and limits instead"},
    };
    char dir[] = "/tmp/onestop-sales-XXXXXX";
    assert_non_null(mkdtemp(dir));
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *def = real_definition(SALES);
        json_t *patch = json_loads(cases[i].json, 0, NULL);
        assert_non_null(patch);
        assert_int_equal(json_object_update(def, patch), 0);
        json_decref(patch);
        write_definition(dir, SALES, def);
        json_decref(def);
        json_t *problems = json_array();
        json_t *enabled = json_pack("[s]", SALES);
        assert_null(service_registry_load(dir, enabled, problems));
        bool found = false;
        size_t k;
        json_t *p;
        json_array_foreach(problems, k, p)
        {
            found = found || strcmp(json_string_value(p), cases[i].problem) == 0;
        }
        if (!found) {
            char *text = json_dumps(problems, JSON_INDENT(2));
            print_error("case %zu: want %s\ngot %s\n", i, cases[i].problem, text);
            free(text);
            fail();
        }
        json_decref(problems);
        json_decref(enabled);
    }
    char path[sizeof dir + 32];
    snprintf(path, sizeof path, "%s/%s.json", dir, SALES);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_priced_by_item_and_quantity, sales_setup, teardown),
        cmocka_unit_test_setup_teardown(test_items_checked, sales_setup, teardown),
        cmocka_unit_test_setup_teardown(test_cash_or_card, sales_setup, teardown),
        cmocka_unit_test_setup_teardown(test_payload_and_catalogue, sales_setup, teardown),
        cmocka_unit_test(test_declared_definition_problems),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
