/* Tests of the service registry, the catalogue, fee dates, random input and broken
 * definitions, against the real config/services files and broken copies of them written to a
 * temporary directory. Each service's own rules are tested in test_service_<code>.c. */
#include "test_services_helpers.h"

/* ---- Registry -------------------------------------------------------------------------------- */

static void test_registry_loads_real_config(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(service_registry_count(f->registry), 2);
    assert_ptr_equal(service_registry_at(f->registry, 0), f->parking);
    assert_ptr_equal(service_registry_at(f->registry, 1), f->bulky);
    assert_null(service_registry_at(f->registry, 2));
    assert_null(service_registry_find(f->registry, "leisure-key"));
    assert_null(service_registry_find(f->registry, NULL));

    assert_string_equal(service_code(f->parking), PARKING);
    assert_string_equal(service_name(f->parking), "Residents' parking permit");
    assert_string_equal(service_reference_prefix(f->parking), "RP");
    assert_string_equal(service_backend(f->parking), "parking");
    assert_string_equal(service_connector(f->parking), "json-rest");
    assert_string_equal(service_reference_prefix(f->bulky), "BR");
    assert_string_equal(service_backend(f->bulky), "bulky");
    assert_string_equal(service_connector(f->bulky), "open311");
    assert_non_null(service_description(f->bulky));
    assert_string_equal(json_string_value(json_object_get(service_definition(f->bulky), "code")),
                        BULKY);

    /* NULL enabled list: every file in the directory. */
    json_t *problems = json_array();
    struct service_registry *all = service_registry_load(services_dir(), NULL, problems);
    assert_non_null(all);
    assert_true(service_registry_count(all) >= 2);
    assert_non_null(service_registry_find(all, BULKY));
    service_registry_free(all);
    assert_int_equal(json_array_size(problems), 0);

    /* Only the enabled ones. */
    json_t *one = json_pack("[s]", BULKY);
    struct service_registry *r = service_registry_load(services_dir(), one, problems);
    assert_non_null(r);
    assert_int_equal(service_registry_count(r), 1);
    assert_null(service_registry_find(r, PARKING));
    service_registry_free(r);
    json_decref(one);
    json_decref(problems);
}

static void test_payment_methods(void **state)
{
    struct fixture *f = *state;
    static const char *const all[] = {"cash", "card", "cheque", "waived", "none"};
    for (size_t i = 0; i < 5; i++)
        assert_true(service_payment_method_allowed(f->parking, all[i]));
    assert_true(service_payment_method_allowed(f->bulky, "cash"));
    assert_true(service_payment_method_allowed(f->bulky, "card"));
    assert_true(service_payment_method_allowed(f->bulky, "waived"));
    assert_false(service_payment_method_allowed(f->bulky, "cheque"));
    assert_false(service_payment_method_allowed(f->bulky, "none"));
    assert_false(service_payment_method_allowed(f->parking, "bitcoin"));
    assert_false(service_payment_method_allowed(f->parking, "CASH"));
    assert_false(service_payment_method_allowed(f->parking, NULL));
}

static const json_t *catalogue_field(const json_t *entry, const char *name)
{
    size_t i;
    json_t *field;
    json_array_foreach(json_object_get(entry, "fields"), i, field)
    {
        if (strcmp(json_string_value(json_object_get(field, "name")), name) == 0)
            return field;
    }
    return NULL;
}

static bool sentences_contain(const json_t *sentences, const char *text)
{
    size_t i;
    json_t *s;
    json_array_foreach(sentences, i, s)
    {
        if (strstr(json_string_value(s), text))
            return true;
    }
    return false;
}

static void test_catalogue(void **state)
{
    struct fixture *f = *state;
    json_t *p = service_catalogue_entry_on(f->parking, TODAY);
    assert_non_null(p);
    assert_string_equal(json_string_value(json_object_get(p, "code")), PARKING);
    assert_string_equal(json_string_value(json_object_get(p, "name")), "Residents' parking permit");
    assert_true(json_is_string(json_object_get(p, "description")));
    assert_string_equal(json_string_value(json_object_get(p, "reference_prefix")), "RP");
    assert_int_equal(json_array_size(json_object_get(p, "payment_methods")), 5);
    /* Every field has the same shape. */
    size_t i;
    json_t *field;
    json_array_foreach(json_object_get(p, "fields"), i, field)
    {
        assert_true(json_is_string(json_object_get(field, "name")));
        assert_true(json_is_string(json_object_get(field, "type")));
        assert_true(json_is_string(json_object_get(field, "label")));
        assert_true(json_is_boolean(json_object_get(field, "required")));
        assert_true(json_is_object(json_object_get(field, "constraints")));
        assert_null(json_object_get(field, "_comment"));
    }
    const json_t *type = catalogue_field(p, "permit_type");
    assert_true(json_is_true(json_object_get(type, "required")));
    assert_int_equal(json_array_size(json_object_get(type, "values")), 2);
    const json_t *vrm = catalogue_field(p, "vrm");
    assert_true(json_is_false(json_object_get(vrm, "required")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(vrm, "required_when"), "field")),
        "permit_type");
    const json_t *cards = catalogue_field(p, "scratch_cards");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(cards, "constraints"), "max")), 10);
    const json_t *rules = json_object_get(p, "fee_rules");
    assert_true(json_array_size(rules) >= 4);
    assert_true(sentences_contain(rules, "\xc2\xa3"
                                         "41.50"));
    assert_true(sentences_contain(rules, "Band A holders pay \xc2\xa3"
                                         "20.75"));
    assert_true(sentences_contain(rules, "Blue Badge"));
    assert_true(sentences_contain(rules, "\xc2\xa3"
                                         "1.00 each, up to 10"));
    assert_true(sentences_contain(rules, "at most 2 live resident permits"));
    assert_true(sentences_contain(rules, "Town Centre (TC), Heaton Moor (HM)"));
    json_decref(p);

    json_t *b = service_catalogue_entry_on(f->bulky, TODAY);
    assert_non_null(b);
    assert_int_equal(json_array_size(json_object_get(b, "payment_methods")), 3);
    const json_t *items = catalogue_field(b, "items");
    assert_string_equal(json_string_value(json_object_get(items, "type")), "items");
    assert_true(json_array_size(json_object_get(items, "values")) >= 9);
    assert_true(json_array_size(json_object_get(items, "refused")) == 4);
    const json_t *sofa = json_array_get(json_object_get(items, "values"), 0);
    assert_string_equal(json_string_value(json_object_get(sofa, "code")), "sofa");
    assert_non_null(strstr(json_string_value(json_object_get(sofa, "note")), "POPs"));
    rules = json_object_get(b, "fee_rules");
    assert_true(sentences_contain(rules, "1 to 3 items costs \xc2\xa3"
                                         "40.00"));
    assert_true(sentences_contain(rules, "4 to 6 items costs \xc2\xa3"
                                         "80.00"));
    assert_true(sentences_contain(rules, "at most 6 items"));
    assert_true(sentences_contain(rules, "half price"));
    assert_true(sentences_contain(rules, "asbestos"));
    json_decref(b);

    /* Before any fee is in force the catalogue says so rather than inventing one. */
    json_t *early = service_catalogue_entry_on(f->parking, "2026-03-31");
    assert_true(sentences_contain(json_object_get(early, "fee_rules"), "No permit fee"));
    assert_true(sentences_contain(json_object_get(early, "fee_rules"), "From 1 April 2026"));
    json_decref(early);
    assert_null(service_catalogue_entry_on(f->parking, "2026-02-30"));
    json_t *now = service_catalogue_entry(f->parking);
    assert_non_null(now);
    json_decref(now);
}

static void test_fees_by_effective_date(void **state)
{
    struct fixture *f = *state;
    char dir[] = "/tmp/onestop-services-XXXXXX";
    assert_non_null(mkdtemp(dir));
    json_t *def = real_definition(PARKING);
    json_array_append_new(json_object_get(def, "fees"),
                          json_pack("{s:s, s:s, s:i, s:s}", "code", "permit", "description",
                                    "Resident or visitor parking permit", "amount_pence", 4300,
                                    "effective_from", "2027-04-01"));
    write_definition(dir, PARKING, def);
    json_decref(def);
    json_t *problems = json_array();
    json_t *enabled = json_pack("[s]", PARKING);
    struct service_registry *r = service_registry_load(dir, enabled, problems);
    assert_non_null(r);
    const struct service *s = service_registry_find(r, PARKING);

    struct service_evaluation *e =
        evaluate(f, s, "2027-03-31", resident(IN_TC, "AB12CDE", "2027-04-15"));
    assert_valid(e);
    assert_int_equal(e->fee_pence, 4150); /* the fee in force on the day of sale */
    e = evaluate(f, s, "2027-04-01", resident(IN_TC, "AB12CDE", "2027-04-01"));
    assert_valid(e);
    assert_int_equal(e->fee_pence, 4300);
    e = evaluate(f, s, "2026-03-31", resident(IN_TC, "AB12CDE", "2026-04-01"));
    assert_invalid(e, 1);
    assert_non_null(strstr(find_error(e, NULL, "fee_not_set"), "31 March 2026"));

    json_t *c = service_catalogue_entry_on(s, "2027-01-10");
    assert_true(sentences_contain(json_object_get(c, "fee_rules"),
                                  "From 1 April 2027: Resident or visitor parking permit \xc2\xa3"
                                  "43.00."));
    json_decref(c);
    service_evaluation_clear(&f->eval);
    service_registry_free(r);
    json_decref(enabled);
    json_decref(problems);
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.json", dir, PARKING);
    unlink(path);
    rmdir(dir);
}

/* ---- Bulky refuse -------------------------------------------------------------------------------
 */

/* Random values of every JSON type in every field never crash an evaluation, and the result
 * is always either valid (fields, fee >= 0) or errors alone. Run under ASan/UBSan in CI. */
static void test_random_inputs(void **state)
{
    struct fixture *f = *state;
    char long_text[600];
    memset(long_text, 'x', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    json_t *values[] = {
        json_null(),
        json_true(),
        json_false(),
        json_integer(0),
        json_integer(-5),
        json_integer(3),
        json_integer(100011429001LL),
        json_real(2.5),
        json_string(""),
        json_string(" "),
        json_string(long_text),
        json_string("AB12CDE"),
        json_string("2026-12-01"),
        json_string("2026-11-24"),
        json_string("resident"),
        json_string("visitor"),
        json_string("A"),
        json_string("1234567890"),
        json_string(IN_TC),
        json_string("0161 480 4949"),
        json_string("\xc2\xa3\xc3\xa9\xe2\x82\xac"),
        json_array(),
        json_object(),
        json_pack("[{s:s}]", "code", "sofa"),
        json_pack("[{s:s, s:i}]", "code", "fridge", "quantity", 7),
        json_pack("[{s:s}]", "code", "asbestos"),
        json_pack("[i]", 1),
    };
    const size_t nvalues = sizeof values / sizeof values[0];
    static const char *const names[] = {"uprn",
                                        "permit_type",
                                        "vrm",
                                        "start_date",
                                        "blue_badge",
                                        "leisure_key_band",
                                        "leisure_key_number",
                                        "scratch_cards",
                                        "items",
                                        "slot",
                                        "location",
                                        "phone",
                                        "council_tax_support",
                                        "colour"};
    const size_t nnames = sizeof names / sizeof names[0];
    unsigned seed = 12345;
    for (int round = 0; round < 4000; round++) {
        const struct service *svc = round % 2 ? f->bulky : f->parking;
        json_t *fields = json_object();
        for (size_t k = 0; k < nnames; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t pick = (seed >> 16) % (nvalues + 3);
            if (pick < nvalues)
                json_object_set(fields, names[k], values[pick]);
        }
        f->store.broken = round % 17 == 0;
        struct service_evaluation *e = evaluate(f, svc, TODAY, fields);
        if (json_array_size(e->errors) == 0) {
            assert_non_null(e->fields);
            assert_true(e->fee_pence >= 0);
            json_t *payload = service_backend_payload(svc, e, "RP-4K7M-9Q2X");
            assert_non_null(payload);
            json_decref(payload);
        } else {
            assert_null(e->fields);
            assert_int_equal(e->fee_pence, 0);
            size_t i;
            json_t *err;
            json_array_foreach(e->errors, i, err)
            {
                assert_true(json_is_string(json_object_get(err, "code")));
                assert_true(json_string_length(json_object_get(err, "message")) > 0);
            }
        }
    }
    for (size_t i = 0; i < nvalues; i++)
        json_decref(values[i]);
}

/* ---- Broken definition files --------------------------------------------------------------- */

typedef void (*mutation)(json_t *def);

static void m_fee_fraction(json_t *def)
{
    json_object_set_new(json_array_get(json_object_get(def, "fees"), 1), "amount_pence",
                        json_real(20.75));
}
static void m_unknown_top(json_t *def)
{
    json_object_set_new(def, "colour", json_string("red"));
}
static void m_unknown_field_key(json_t *def)
{
    json_object_set_new(json_array_get(json_object_get(def, "fields"), 0), "colour",
                        json_string("red"));
}
static void m_unknown_zone_key(json_t *def)
{
    json_t *zones = json_object_get(json_object_get(def, "rules"), "zones");
    json_object_set_new(json_array_get(zones, 1), "colour", json_string("red"));
}
static void m_prefix(json_t *def)
{
    json_object_set_new(def, "reference_prefix", json_string("RI"));
}
static void m_type(json_t *def)
{
    json_object_set_new(json_array_get(json_object_get(def, "fields"), 1), "type",
                        json_string("colour"));
}
static void m_payment(json_t *def)
{
    json_array_append_new(json_object_get(def, "payment_methods"), json_string("bitcoin"));
}
static void m_fee_date(json_t *def)
{
    json_object_set_new(json_array_get(json_object_get(def, "fees"), 0), "effective_from",
                        json_string("2026-02-30"));
}
static void m_fee_negative(json_t *def)
{
    json_object_set_new(json_array_get(json_object_get(def, "fees"), 2), "amount_pence",
                        json_integer(-100));
}
static void m_fee_missing(json_t *def)
{
    json_array_remove(json_object_get(def, "fees"), 2); /* scratch_card */
}
static void m_pattern(json_t *def)
{
    json_t *lk = json_array_get(json_object_get(def, "fields"), 6);
    json_object_set_new(json_object_get(lk, "constraints"), "pattern", json_string("^[0-9{10}$"));
}
static void m_default(json_t *def)
{
    json_object_set_new(json_array_get(json_object_get(def, "fields"), 5), "default",
                        json_string("Z"));
}
static void m_required_when(json_t *def)
{
    json_t *vrm = json_array_get(json_object_get(def, "fields"), 2);
    json_object_set_new(json_object_get(vrm, "required_when"), "field", json_string("colour"));
}
static void m_zone_uprn(json_t *def)
{
    json_t *zones = json_object_get(json_object_get(def, "rules"), "zones");
    json_array_append_new(json_object_get(json_array_get(zones, 1), "uprns"),
                          json_string("100011429001"));
}
static void m_leisure_rate(json_t *def)
{
    json_object_set_new(json_object_get(json_object_get(def, "rules"), "leisure_key_rates"), "Q",
                        json_string("permit_leisure_key_q"));
}
static void m_code(json_t *def)
{
    json_object_set_new(def, "code", json_string("parking"));
}
static void m_connector(json_t *def)
{
    json_object_set_new(json_object_get(def, "route"), "connector", json_string("open311"));
}
static void m_no_rules(json_t *def)
{
    json_object_del(def, "rules");
}
static void m_two_problems(json_t *def)
{
    json_object_del(def, "name");
    json_object_set_new(json_object_get(def, "rules"), "household_max_resident_permits",
                        json_string("two"));
}
static void m_band_gap(json_t *def)
{
    json_t *band = json_array_get(json_object_get(json_object_get(def, "rules"), "bands"), 1);
    json_object_set_new(band, "min_items", json_integer(5));
}
static void m_band_fee(json_t *def)
{
    json_t *band = json_array_get(json_object_get(json_object_get(def, "rules"), "bands"), 0);
    json_object_set_new(band, "fee", json_string("band_small"));
}
static void m_refused_twice(json_t *def)
{
    json_t *items = json_array_get(json_object_get(def, "fields"), 1);
    json_array_append_new(
        json_object_get(items, "refused"),
        json_pack("{s:s, s:s, s:s}", "code", "sofa", "label", "sofas", "reason", "no"));
}
static void m_no_service_code(json_t *def)
{
    json_object_del(json_object_get(def, "route"), "service_code");
}
static void m_cts(json_t *def)
{
    json_object_set_new(json_object_get(def, "rules"), "council_tax_support_percent_off",
                        json_integer(150));
}
static void m_closed_date(json_t *def)
{
    json_t *slot = json_array_get(json_object_get(def, "fields"), 2);
    json_array_append_new(json_object_get(json_object_get(slot, "constraints"), "closed_dates"),
                          json_string("25/12/2027"));
}

static void test_bad_definitions(void **state)
{
    static const struct {
        const char *code;
        mutation mutate;
        const char *problem; /* one expected problem, exactly */
    } cases[] = {
        {PARKING, m_fee_fraction,
         "residents-parking-permit.json: fees[1].amount_pence: must be a whole number of pence"},
        {PARKING, m_unknown_top, "residents-parking-permit.json: colour: unknown key"},
        {PARKING, m_unknown_field_key,
         "residents-parking-permit.json: fields[0].colour: unknown key"},
        {PARKING, m_unknown_zone_key,
         "residents-parking-permit.json: rules.zones[1].colour: unknown key"},
        {PARKING, m_prefix,
         "residents-parking-permit.json: reference_prefix: must be two upper-case letters other "
         "than I, L, O, U and Z"},
        {PARKING, m_type,
         "residents-parking-permit.json: fields[1].type: unknown type \"colour\" (string, uprn, "
         "vrm, postcode, date, boolean, enum, integer, phone, items, nhs_number, nino, ubrn, "
         "documents)"},
        {PARKING, m_payment,
         "residents-parking-permit.json: payment_methods[5]: must be one of cash, card, cheque, "
         "waived, none"},
        {PARKING, m_fee_date,
         "residents-parking-permit.json: fees[0].effective_from: must be a date written "
         "YYYY-MM-DD"},
        {PARKING, m_fee_negative,
         "residents-parking-permit.json: fees[2].amount_pence: must be from 0 to 10000000 pence"},
        {PARKING, m_fee_missing,
         "residents-parking-permit.json: fees: needs a fee with code \"scratch_card\""},
        {PARKING, m_pattern,
         "residents-parking-permit.json: fields[6].constraints.pattern: is not a valid POSIX "
         "extended regular expression"},
        {PARKING, m_default,
         "residents-parking-permit.json: fields[5].default: is not a valid value of this field"},
        {PARKING, m_required_when,
         "residents-parking-permit.json: fields[2].required_when: names no other field "
         "\"colour\""},
        {PARKING, m_zone_uprn,
         "residents-parking-permit.json: rules.zones[1].uprns[3]: UPRN 100011429001 is already in "
         "a zone"},
        {PARKING, m_leisure_rate,
         "residents-parking-permit.json: rules.leisure_key_rates.Q: must name a fee code in fees"},
        {PARKING, m_code,
         "residents-parking-permit.json: code: is \"parking\" but the file is named for "
         "\"residents-parking-permit\""},
        {PARKING, m_connector,
         "residents-parking-permit.json: route.connector: this service's payload is made for "
         "\"json-rest\""},
        {PARKING, m_no_rules,
         "residents-parking-permit.json: rules: is required (zones and limits)"},
        {PARKING, m_two_problems, "residents-parking-permit.json: name: is required"},
        {PARKING, m_two_problems,
         "residents-parking-permit.json: rules.household_max_resident_permits: must be a whole "
         "number"},
        {BULKY, m_band_gap, "bulky-refuse.json: rules.bands: no band prices a booking of 4 items"},
        {BULKY, m_band_fee, "bulky-refuse.json: rules.bands[0]: fee \"band_small\" is not in fees"},
        {BULKY, m_refused_twice,
         "bulky-refuse.json: fields[1].refused[4].code: \"sofa\" is listed twice"},
        {BULKY, m_no_service_code,
         "bulky-refuse.json: route.service_code: is required for an Open311 back-end"},
        {BULKY, m_cts,
         "bulky-refuse.json: rules.council_tax_support_percent_off: must be from 0 to 100"},
        {BULKY, m_closed_date,
         "bulky-refuse.json: fields[2].constraints.closed_dates[10]: must be a date written "
         "YYYY-MM-DD"},
    };
    char dir[] = "/tmp/onestop-services-XXXXXX";
    char path[1200];
    assert_non_null(mkdtemp(dir));
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *def = real_definition(cases[i].code);
        cases[i].mutate(def);
        write_definition(dir, cases[i].code, def);
        json_decref(def);
        json_t *problems = json_array();
        json_t *enabled = json_pack("[s]", cases[i].code);
        struct service_registry *r = service_registry_load(dir, enabled, problems);
        bool found = false;
        size_t k;
        json_t *p;
        json_array_foreach(problems, k, p)
        {
            found = found || strcmp(json_string_value(p), cases[i].problem) == 0;
        }
        if (r || !found) {
            char *text = json_dumps(problems, JSON_INDENT(2));
            print_error("case %zu: wanted \"%s\"; got %s\n", i, cases[i].problem, text);
            free(text);
            fail();
        }
        json_decref(problems);
        json_decref(enabled);
        snprintf(path, sizeof path, "%s/%s.json", dir, cases[i].code);
        unlink(path);
    }

    /* Files that cannot be read or parsed, and enabled lists that are wrong. */
    json_t *problems = json_array();
    json_t *enabled = json_pack("[s]", "leisure-key");
    assert_null(service_registry_load(dir, enabled, problems));
    assert_int_equal(json_array_size(problems), 1);
    assert_non_null(strstr(json_string_value(json_array_get(problems, 0)),
                           "leisure-key.json: (file): cannot read"));
    json_decref(enabled);
    json_array_clear(problems);

    snprintf(path, sizeof path, "%s/%s.json", dir, PARKING);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("{\"code\": \"residents-parking-permit\",\n \"code\": \"twice\"}\n", fp);
    fclose(fp);
    enabled = json_pack("[s, s, i, s]", PARKING, PARKING, 7, "../etc/passwd");
    assert_null(service_registry_load(dir, enabled, problems));
    char *text = json_dumps(problems, 0);
    assert_non_null(strstr(text, "residents-parking-permit.json: (file): line 2"));
    assert_non_null(strstr(text, "onestop.json: services[1]: this service is enabled twice"));
    assert_non_null(strstr(text, "onestop.json: services[2]: must be a service code"));
    assert_non_null(strstr(text, "onestop.json: services[3]: must be a service code"));
    free(text);
    unlink(path);
    json_decref(enabled);

    /* Two services may not share a reference prefix. */
    json_array_clear(problems);
    json_t *def = real_definition(PARKING);
    write_definition(dir, PARKING, def);
    json_decref(def);
    def = real_definition(BULKY);
    json_object_set_new(def, "reference_prefix", json_string("RP"));
    write_definition(dir, BULKY, def);
    json_decref(def);
    enabled = json_pack("[s, s]", PARKING, BULKY);
    assert_null(service_registry_load(dir, enabled, problems));
    assert_int_equal(json_array_size(problems), 1);
    assert_string_equal(json_string_value(json_array_get(problems, 0)),
                        "bulky-refuse.json: reference_prefix: \"RP\" is already used by "
                        "residents-parking-permit.json");
    json_decref(enabled);
    json_decref(problems);
    /* NULL problems is allowed: the caller only learns that it failed. */
    enabled = json_pack("[s, s]", PARKING, BULKY);
    assert_null(service_registry_load(dir, enabled, NULL));
    json_decref(enabled);
    snprintf(path, sizeof path, "%s/%s.json", dir, PARKING);
    unlink(path);
    snprintf(path, sizeof path, "%s/%s.json", dir, BULKY);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_registry_loads_real_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_payment_methods, setup, teardown),
        cmocka_unit_test_setup_teardown(test_catalogue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fees_by_effective_date, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_inputs, setup, teardown),
        cmocka_unit_test(test_bad_definitions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
