/* Shared by the service unit tests (test_services.c and test_service_<code>.c): an in-memory
 * fake of struct service_lookup that counts live index entries the way the gateway's store
 * does, loading the real config/services files (through ONESTOP_SOURCE_DIR), and assertions
 * on evaluations. Each test program uses some of these, hence TEST_HELPER. */
#ifndef ONESTOP_TEST_SERVICES_HELPERS_H
#define ONESTOP_TEST_SERVICES_HELPERS_H

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

#define TEST_HELPER static __attribute__((unused))

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

TEST_HELPER long fake_count(const struct fake_store *s, const char *key, const char *value,
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

TEST_HELPER long fake_count_live(void *ctx, const char *key, const char *value, const char *on)
{
    struct fake_store *s = ctx;
    s->calls++;
    return s->broken ? -1 : fake_count(s, key, value, on);
}

/* The reference algorithm service.h gives: the count at `from` and at every live_from inside
 * the period. */
TEST_HELPER long fake_max_live(void *ctx, const char *key, const char *value, const char *from,
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

/* The latest live_until of (key, value), as the store answers a renewal's question. */
TEST_HELPER int fake_latest_until(void *ctx, const char *key, const char *value, char *until)
{
    struct fake_store *s = ctx;
    s->calls++;
    if (s->broken)
        return -1;
    const char *best = NULL;
    for (size_t i = 0; i < s->count; i++) {
        const struct fake_entry *e = &s->entries[i];
        if (strcmp(e->key, key) == 0 && strcmp(e->value, value) == 0 &&
            (!best || strcmp(e->until, best) > 0))
            best = e->until;
    }
    snprintf(until, 11, "%s", best ? best : "");
    return best ? 1 : 0;
}

TEST_HELPER void fake_add(struct fake_store *s, const char *key, const char *value,
                          const char *from, const char *until)
{
    assert_true(s->count < FAKE_MAX);
    s->entries[s->count++] = (struct fake_entry){key, value, from, until};
}

/* ---- Helpers --------------------------------------------------------------------------------- */

TEST_HELPER char config_dir[1024];

TEST_HELPER const char *services_dir(void)
{
    const char *src = getenv("ONESTOP_SOURCE_DIR");
    snprintf(config_dir, sizeof config_dir, "%s/config/services", src ? src : ".");
    return config_dir;
}

TEST_HELPER struct service_registry *load_real(void)
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

TEST_HELPER int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->registry = load_real();
    f->parking = service_registry_find(f->registry, PARKING);
    f->bulky = service_registry_find(f->registry, BULKY);
    f->lookup.ctx = &f->store;
    f->lookup.count_live = fake_count_live;
    f->lookup.max_live = fake_max_live;
    f->lookup.latest_until = fake_latest_until;
    *state = f;
    return 0;
}

/* A fixture with only the service code enabled (its services are found by code). */
TEST_HELPER int setup_one(void **state, const char *code)
{
    struct fixture *f = calloc(1, sizeof *f);
    json_t *problems = json_array();
    json_t *enabled = json_pack("[s]", code);
    f->registry = service_registry_load(services_dir(), enabled, problems);
    if (!f->registry) {
        char *text = json_dumps(problems, JSON_INDENT(2));
        print_error("problems: %s\n", text);
        free(text);
    }
    assert_non_null(f->registry);
    json_decref(problems);
    json_decref(enabled);
    f->lookup.ctx = &f->store;
    f->lookup.count_live = fake_count_live;
    f->lookup.max_live = fake_max_live;
    f->lookup.latest_until = fake_latest_until;
    *state = f;
    return 0;
}

TEST_HELPER int teardown(void **state)
{
    struct fixture *f = *state;
    service_evaluation_clear(&f->eval);
    service_registry_free(f->registry);
    free(f);
    return 0;
}

/* Evaluates a service with fields given as a jansson pack format. */
TEST_HELPER struct service_evaluation *evaluate(struct fixture *f, const struct service *s,
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

TEST_HELPER void dump_errors(const struct service_evaluation *e)
{
    char *text = json_dumps(e->errors, JSON_INDENT(2));
    print_error("errors: %s\n", text);
    free(text);
}

TEST_HELPER void assert_valid(const struct service_evaluation *e)
{
    if (json_array_size(e->errors) != 0) {
        dump_errors(e);
        fail();
    }
    assert_non_null(e->fields);
}

/* The message of the error with this field and code; fails the test when there is none. */
TEST_HELPER const char *find_error(const struct service_evaluation *e, const char *field,
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
TEST_HELPER void assert_invalid(const struct service_evaluation *e, size_t errors)
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

TEST_HELPER const char *field_str(const struct service_evaluation *e, const char *name)
{
    return json_string_value(json_object_get(e->fields, name));
}

TEST_HELPER void assert_key(const struct service_evaluation *e, const char *name, const char *value,
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

TEST_HELPER bool has_key(const struct service_evaluation *e, const char *name)
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

TEST_HELPER long line_amount(const struct service_evaluation *e, size_t i)
{
    return (long)json_integer_value(json_object_get(json_array_get(e->lines, i), "amount_pence"));
}

TEST_HELPER const char *line_text(const struct service_evaluation *e, size_t i)
{
    return json_string_value(json_object_get(json_array_get(e->lines, i), "description"));
}

TEST_HELPER json_t *resident(const char *uprn, const char *vrm, const char *start)
{
    return json_pack("{s:s, s:s, s:s, s:s}", "uprn", uprn, "permit_type", "resident", "vrm", vrm,
                     "start_date", start);
}

/* Writes a definition to dir/<name>.json. */
TEST_HELPER void write_definition(const char *dir, const char *name, const json_t *def)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.json", dir, name);
    assert_int_equal(json_dump_file(def, path, JSON_INDENT(2)), 0);
}

TEST_HELPER json_t *real_definition(const char *code)
{
    char path[1200];
    json_error_t err;
    snprintf(path, sizeof path, "%s/%s.json", services_dir(), code);
    json_t *def = json_load_file(path, 0, &err);
    assert_non_null(def);
    return def;
}

TEST_HELPER json_t *bulky(json_t *items, const char *slot)
{
    return json_pack("{s:s, s:o, s:s, s:s, s:s}", "uprn", OUTSIDE, "items", items, "slot", slot,
                     "location", "Front garden, by the gate", "phone", "0161 480 4949");
}

#endif
