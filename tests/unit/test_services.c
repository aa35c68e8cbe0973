/* Tests of the service registry and the two services' rules, against the real
 * config/services files (found through ONESTOP_SOURCE_DIR) and, for loading problems, broken
 * copies of them written to a temporary directory. Store questions go to an in-memory fake
 * of struct service_lookup that counts live index entries the way the gateway's store does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "services/service.h"

#define TODAY   "2026-11-23" /* a Monday */
#define PARKING "residents-parking-permit"
#define BULKY   "bulky-refuse"
#define IN_TC   "100011429001"
#define IN_HM   "100011429302"
#define OUTSIDE "100011429201"

/* ---- The fake store ------------------------------------------------------------------------ */

#define FAKE_MAX 32

struct fake_entry {
    const char *key, *value, *from, *until;
};

struct fake_store {
    struct fake_entry entries[FAKE_MAX];
    size_t count;
    bool broken;
    int calls;
};

static long fake_count(const struct fake_store *s, const char *key, const char *value,
                       const char *on)
{
    long n = 0;
    for (size_t i = 0; i < s->count; i++) {
        const struct fake_entry *e = &s->entries[i];
        /* YYYY-MM-DD strings compare like the dates they are. */
        if (strcmp(e->key, key) == 0 && strcmp(e->value, value) == 0 && strcmp(e->from, on) <= 0 &&
            strcmp(on, e->until) <= 0)
            n++;
    }
    return n;
}

static long fake_count_live(void *ctx, const char *key, const char *value, const char *on)
{
    struct fake_store *s = ctx;
    s->calls++;
    return s->broken ? -1 : fake_count(s, key, value, on);
}

/* The reference algorithm service.h gives: the count at `from` and at every live_from inside
 * the period. */
static long fake_max_live(void *ctx, const char *key, const char *value, const char *from,
                          const char *until)
{
    struct fake_store *s = ctx;
    s->calls++;
    if (s->broken)
        return -1;
    long best = fake_count(s, key, value, from);
    for (size_t i = 0; i < s->count; i++) {
        const struct fake_entry *e = &s->entries[i];
        if (strcmp(e->key, key) != 0 || strcmp(e->value, value) != 0 || strcmp(e->from, from) < 0 ||
            strcmp(e->from, until) > 0)
            continue;
        long n = fake_count(s, key, value, e->from);
        if (n > best)
            best = n;
    }
    return best;
}

static void fake_add(struct fake_store *s, const char *key, const char *value, const char *from,
                     const char *until)
{
    assert_true(s->count < FAKE_MAX);
    s->entries[s->count++] = (struct fake_entry){key, value, from, until};
}

/* ---- Helpers --------------------------------------------------------------------------------- */

static char config_dir[1024];

static const char *services_dir(void)
{
    const char *src = getenv("ONESTOP_SOURCE_DIR");
    snprintf(config_dir, sizeof config_dir, "%s/config/services", src ? src : ".");
    return config_dir;
}

static struct service_registry *load_real(void)
{
    json_t *problems = json_array();
    json_t *enabled = json_pack("[s, s]", PARKING, BULKY);
    struct service_registry *r = service_registry_load(services_dir(), enabled, problems);
    if (!r) {
        char *text = json_dumps(problems, JSON_INDENT(2));
        print_error("problems: %s\n", text);
        free(text);
    }
    assert_non_null(r);
    json_decref(problems);
    json_decref(enabled);
    return r;
}

struct fixture {
    struct service_registry *registry;
    const struct service *parking;
    const struct service *bulky;
    struct fake_store store;
    struct service_lookup lookup;
    struct service_evaluation eval;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->registry = load_real();
    f->parking = service_registry_find(f->registry, PARKING);
    f->bulky = service_registry_find(f->registry, BULKY);
    f->lookup.ctx = &f->store;
    f->lookup.count_live = fake_count_live;
    f->lookup.max_live = fake_max_live;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    service_evaluation_clear(&f->eval);
    service_registry_free(f->registry);
    free(f);
    return 0;
}

/* Evaluates a service with fields given as a jansson pack format. */
static struct service_evaluation *evaluate(struct fixture *f, const struct service *s,
                                           const char *today, json_t *fields)
{
    service_evaluation_clear(&f->eval);
    assert_non_null(fields);
    service_evaluate(s, fields, today, &f->lookup, &f->eval);
    json_decref(fields);
    assert_non_null(f->eval.errors);
    assert_non_null(f->eval.lines);
    assert_non_null(f->eval.keys);
    return &f->eval;
}

static void dump_errors(const struct service_evaluation *e)
{
    char *text = json_dumps(e->errors, JSON_INDENT(2));
    print_error("errors: %s\n", text);
    free(text);
}

static void assert_valid(const struct service_evaluation *e)
{
    if (json_array_size(e->errors) != 0) {
        dump_errors(e);
        fail();
    }
    assert_non_null(e->fields);
}

/* The message of the error with this field and code; fails the test when there is none. */
static const char *find_error(const struct service_evaluation *e, const char *field,
                              const char *code)
{
    size_t i;
    json_t *err;
    json_array_foreach(e->errors, i, err)
    {
        const json_t *fv = json_object_get(err, "field");
        bool field_matches = field ? json_is_string(fv) && strcmp(json_string_value(fv), field) == 0
                                   : json_is_null(fv);
        if (field_matches && strcmp(json_string_value(json_object_get(err, "code")), code) == 0)
            return json_string_value(json_object_get(err, "message"));
    }
    print_error("no error %s/%s\n", field ? field : "null", code);
    dump_errors(e);
    fail();
    return NULL;
}

/* An invalid evaluation carries nothing but its errors. */
static void assert_invalid(const struct service_evaluation *e, size_t errors)
{
    if (json_array_size(e->errors) != errors) {
        print_error("expected %zu errors\n", errors);
        dump_errors(e);
        fail();
    }
    assert_null(e->fields);
    assert_int_equal(e->fee_pence, 0);
    assert_int_equal(json_array_size(e->lines), 0);
    assert_int_equal(json_array_size(e->keys), 0);
    assert_string_equal(e->live_until, "");
}

static const char *field_str(const struct service_evaluation *e, const char *name)
{
    return json_string_value(json_object_get(e->fields, name));
}

static void assert_key(const struct service_evaluation *e, const char *name, const char *value,
                       const char *from, const char *until)
{
    size_t i;
    json_t *k;
    json_array_foreach(e->keys, i, k)
    {
        if (strcmp(json_string_value(json_object_get(k, "name")), name) != 0)
            continue;
        assert_string_equal(json_string_value(json_object_get(k, "value")), value);
        assert_string_equal(json_string_value(json_object_get(k, "live_from")), from);
        assert_string_equal(json_string_value(json_object_get(k, "live_until")), until);
        return;
    }
    print_error("no key %s\n", name);
    fail();
}

static bool has_key(const struct service_evaluation *e, const char *name)
{
    size_t i;
    json_t *k;
    json_array_foreach(e->keys, i, k)
    {
        if (strcmp(json_string_value(json_object_get(k, "name")), name) == 0)
            return true;
    }
    return false;
}

static long line_amount(const struct service_evaluation *e, size_t i)
{
    return (long)json_integer_value(json_object_get(json_array_get(e->lines, i), "amount_pence"));
}

static const char *line_text(const struct service_evaluation *e, size_t i)
{
    return json_string_value(json_object_get(json_array_get(e->lines, i), "description"));
}

static json_t *resident(const char *uprn, const char *vrm, const char *start)
{
    return json_pack("{s:s, s:s, s:s, s:s}", "uprn", uprn, "permit_type", "resident", "vrm", vrm,
                     "start_date", start);
}

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

/* Writes a definition to dir/<name>.json. */
static void write_definition(const char *dir, const char *name, const json_t *def)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.json", dir, name);
    assert_int_equal(json_dump_file(def, path, JSON_INDENT(2)), 0);
}

static json_t *real_definition(const char *code)
{
    char path[1200];
    json_error_t err;
    snprintf(path, sizeof path, "%s/%s.json", services_dir(), code);
    json_t *def = json_load_file(path, 0, &err);
    assert_non_null(def);
    return def;
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

static json_t *bulky(json_t *items, const char *slot)
{
    return json_pack("{s:s, s:o, s:s, s:s, s:s}", "uprn", OUTSIDE, "items", items, "slot", slot,
                     "location", "Front garden, by the gate", "phone", "0161 480 4949");
}

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
         "vrm, postcode, date, boolean, enum, integer, phone, items, nhs_number, nino, ubrn)"},
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
        cmocka_unit_test_setup_teardown(test_parking_resident_permit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parking_zone_and_required, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parking_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parking_start_date, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parking_leisure_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parking_scratch_cards, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parking_blue_badge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parking_household_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parking_vehicle_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parking_without_max_live, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parking_store_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fees_by_effective_date, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bulky_booking, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bulky_bands_and_concession, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bulky_items, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bulky_slot_location_phone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_inputs, setup, teardown),
        cmocka_unit_test(test_bad_definitions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
