/* registry: loading service definitions and the public accessors of service.h.
 *
 * DESIGN: each enabled code names a file <dir>/<code>.json. The registry reads the generic
 * parts (names, route, payment methods, fields, fees) and hands the "rules" object to the
 * service's built-in rules, found by code in the static table below. Loading never stops at
 * the first problem: it reads every file and reports every problem as "FILE: KEY: problem"
 * so that an operator fixes a config in one pass; any problem means no registry.
 * After loading, everything is read-only, so services may be used from many threads.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "services/reference.h"
#include "services/service_private.h"

#define SERVICE_CODE_MAX 64
#define SERVICES_MAX     64
#define SERVICE_PATH_MAX 4096

/* The one place a service's C file is registered: its hooks, by code. A service not listed
 * here works from its definition alone (declared.c). */
extern const struct service_rules residents_parking_permit_rules;
extern const struct service_rules bulky_refuse_rules;
extern const struct service_rules leisure_key_rules;
extern const struct service_rules bowling_permit_rules;
extern const struct service_rules nhs_referral_rules;
extern const struct service_rules partner_referral_rules;
/* clang-format off */
static const struct service_rules *const builtin_rules[] = {
    &residents_parking_permit_rules,
    &bulky_refuse_rules,
    &leisure_key_rules,
    &bowling_permit_rules,
    &nhs_referral_rules,
    &partner_referral_rules,
};
/* clang-format on */

static const struct {
    const char *name;
    unsigned bit;
} payment_methods[] = {
    {"cash", SERVICE_PAY_CASH},     {"card", SERVICE_PAY_CARD}, {"cheque", SERVICE_PAY_CHEQUE},
    {"waived", SERVICE_PAY_WAIVED}, {"none", SERVICE_PAY_NONE},
};
#define PAYMENT_METHOD_COUNT (sizeof payment_methods / sizeof payment_methods[0])

static const char *const connectors[] = {"json-rest", "open311",   "fhir",
                                         "email",     "multipart", NULL};

static const char *const top_keys[] = {"code",           "name",
                                       "description",    "reference_prefix",
                                       "route",          "payment_methods",
                                       "fields",         "fees",
                                       "rules",          "receipt_next_steps",
                                       "pricing",        "limits",
                                       "stock",          "receipt_layout",
                                       "retention_days", NULL};
/* No "route": the sale is complete at the counter and nothing is forwarded. */
static const char *const top_required[] = {
    "code", "name", "description", "reference_prefix", "payment_methods", "fields", "fees", NULL};
static const char *const route_keys[] = {"backend", "connector", "service_code", NULL};
static const char *const route_required[] = {"backend", "connector", NULL};

struct service_registry {
    struct service **services;
    size_t count;
};

static bool code_valid(const char *code)
{
    size_t n = strlen(code);
    if (n == 0 || n > SERVICE_CODE_MAX || code[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((code[i] >= 'a' && code[i] <= 'z') || (code[i] >= '0' && code[i] <= '9') ||
              code[i] == '-'))
            return false;
    return true;
}

static void service_free(struct service *s)
{
    if (!s)
        return;
    if (s->rules && s->rules->free_state && s->rules_state)
        s->rules->free_state(s->rules_state);
    declared_free(s->declared);
    fields_free(&s->fields);
    fees_free(&s->fees);
    json_decref(s->definition);
    free(s);
}

static void load_route(struct service *s, struct defcheck *dc)
{
    const json_t *route = json_object_get(s->definition, "route");
    if (!route || !defcheck_object(dc, "route", route, route_keys, route_required))
        return;
    s->route = route;
    s->backend = defcheck_string(dc, "route", route, "backend", true);
    s->connector = defcheck_string(dc, "route", route, "connector", true);
    (void)defcheck_string(dc, "route", route, "service_code", false);
    if (!s->connector)
        return;
    bool known = false;
    for (size_t i = 0; connectors[i]; i++)
        known = known || strcmp(connectors[i], s->connector) == 0;
    if (!known)
        defcheck_problem(dc, "route.connector",
                         "unknown connector \"%s\" (json-rest, open311, fhir, email, multipart)",
                         s->connector);
}

static void load_payment_methods(struct service *s, struct defcheck *dc)
{
    char path[DEFCHECK_PATH_MAX];
    const json_t *methods = defcheck_array(dc, "", s->definition, "payment_methods", true, true);
    size_t i;
    const json_t *m;
    json_array_foreach(methods, i, m)
    {
        defcheck_path_index(path, sizeof path, "payment_methods", i);
        unsigned bit = 0;
        for (size_t k = 0; json_is_string(m) && k < PAYMENT_METHOD_COUNT; k++)
            if (strcmp(payment_methods[k].name, json_string_value(m)) == 0)
                bit = payment_methods[k].bit;
        if (!bit)
            defcheck_problem(dc, path, "must be one of cash, card, cheque, waived, none");
        else if (s->payment_methods & bit)
            defcheck_problem(dc, path, "\"%s\" is listed twice", json_string_value(m));
        s->payment_methods |= bit;
    }
}

/* Loads one definition file. Returns the service, or NULL after reporting problems. */
static struct service *service_load(const char *dir, const char *code, json_t *problems,
                                    size_t *problem_count)
{
    char path[SERVICE_PATH_MAX];
    json_error_t jerr;
    struct service *s = calloc(1, sizeof *s);
    struct defcheck dc = {.problems = problems};
    if (!s)
        return NULL;
    snprintf(s->file, sizeof s->file, "%s.json", code);
    dc.file = s->file;
    snprintf(path, sizeof path, "%s/%s.json", dir, code);
    s->definition = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!s->definition) {
        if (jerr.line > 0)
            defcheck_problem(&dc, "(file)", "line %d column %d: %s", jerr.line, jerr.column,
                             jerr.text);
        else
            defcheck_problem(&dc, "(file)", "cannot read %s: %s", path, jerr.text);
        goto out;
    }
    if (!defcheck_object(&dc, "", s->definition, top_keys, top_required) &&
        !json_is_object(s->definition))
        goto out;
    s->code = defcheck_string(&dc, "", s->definition, "code", true);
    if (s->code && strcmp(s->code, code) != 0)
        defcheck_problem(&dc, "code", "is \"%s\" but the file is named for \"%s\"", s->code, code);
    s->name = defcheck_string(&dc, "", s->definition, "name", true);
    s->description = defcheck_string(&dc, "", s->definition, "description", true);
    (void)defcheck_string(&dc, "", s->definition, "receipt_next_steps", false);
    bool has_retention = false;
    (void)defcheck_integer(&dc, "", s->definition, "retention_days", 0, SERVICE_RETENTION_DAYS_MAX,
                           false, &s->retention_days, &has_retention);
    if (!has_retention)
        s->retention_days = -1;
    s->reference_prefix = defcheck_string(&dc, "", s->definition, "reference_prefix", true);
    if (s->reference_prefix && !reference_prefix_valid(s->reference_prefix))
        defcheck_problem(&dc, "reference_prefix",
                         "must be two upper-case letters other than I, L, O, U and Z");
    load_route(s, &dc);
    load_payment_methods(s, &dc);
    /* Problems are counted in dc; the rules still load so that they report theirs too. */
    bool parts_ok = fields_load(&s->fields, json_object_get(s->definition, "fields"), &dc);
    parts_ok = fees_load(&s->fees, json_object_get(s->definition, "fees"), &dc) && parts_ok;
    (void)parts_ok;
    parts_ok = declared_load(s, &dc) && parts_ok;
    for (size_t i = 0; i < sizeof builtin_rules / sizeof builtin_rules[0]; i++)
        if (strcmp(builtin_rules[i]->code, code) == 0)
            s->rules = builtin_rules[i];
    const json_t *rules = json_object_get(s->definition, "rules");
    if (!s->rules || !s->rules->load) {
        if (rules)
            defcheck_problem(&dc, "rules",
                             "this service has no C rules to read it; declare pricing and "
                             "limits instead");
        goto out;
    }
    if (s->connector && s->rules->connector && strcmp(s->connector, s->rules->connector) != 0)
        defcheck_problem(&dc, "route.connector", "this service's payload is made for \"%s\"",
                         s->rules->connector);
    (void)s->rules->load(s, rules, &dc, &s->rules_state);
out:
    *problem_count += dc.count;
    if (dc.count > 0) {
        service_free(s);
        return NULL;
    }
    return s;
}

static void registry_problem(json_t *problems, size_t *count, const char *key, const char *msg)
{
    (*count)++;
    if (problems)
        json_array_append_new(problems, json_sprintf("onestop.json: %s: %s", key, msg));
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

/* Every <code>.json in dir, sorted: what "enabled_codes == NULL" means. */
static json_t *codes_in_dir(const char *dir, json_t *problems, size_t *count)
{
    DIR *d = opendir(dir);
    json_t *codes = json_array();
    if (!d) {
        registry_problem(problems, count, "services", "cannot open the service directory");
        return codes;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n > 5 && strcmp(e->d_name + n - 5, ".json") == 0 && e->d_name[0] != '.')
            json_array_append_new(codes, json_stringn(e->d_name, n - 5));
    }
    closedir(d);
    size_t k = json_array_size(codes);
    json_t **items = calloc(k ? k : 1, sizeof *items);
    json_t *sorted = json_array();
    if (items && sorted) {
        for (size_t i = 0; i < k; i++)
            items[i] = json_array_get(codes, i);
        qsort(items, k, sizeof *items, compare_strings);
        for (size_t i = 0; i < k; i++)
            json_array_append(sorted, items[i]);
    }
    free(items);
    json_decref(codes);
    return sorted;
}

struct service_registry *service_registry_load(const char *dir, const json_t *enabled_codes,
                                               json_t *problems)
{
    char key[DEFCHECK_PATH_MAX];
    size_t count = 0;
    json_t *codes = enabled_codes ? json_incref((json_t *)enabled_codes)
                                  : codes_in_dir(dir ? dir : ".", problems, &count);
    struct service_registry *r = calloc(1, sizeof *r);
    if (!r || !codes || !dir) {
        registry_problem(problems, &count, "services",
                         r ? "no service directory" : "out of memory");
        goto out;
    }
    if (!json_is_array(codes)) {
        registry_problem(problems, &count, "services", "must be an array of service codes");
        goto out;
    }
    if (json_array_size(codes) > SERVICES_MAX) {
        registry_problem(problems, &count, "services", "names too many services");
        goto out;
    }
    r->services = calloc(json_array_size(codes) + 1, sizeof *r->services);
    if (!r->services) {
        registry_problem(problems, &count, "services", "out of memory");
        goto out;
    }
    size_t i;
    const json_t *c;
    json_array_foreach(codes, i, c)
    {
        snprintf(key, sizeof key, "services[%zu]", i);
        const char *code = json_string_value(c);
        if (!code || !code_valid(code)) {
            registry_problem(problems, &count, key,
                             "must be a service code (lower case letters, digits and -)");
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < i; j++)
            dup = dup || json_equal(json_array_get(codes, j), c);
        if (dup) {
            registry_problem(problems, &count, key, "this service is enabled twice");
            continue;
        }
        struct service *s = service_load(dir, code, problems, &count);
        if (!s)
            continue;
        for (size_t j = 0; j < r->count; j++) {
            if (strcmp(r->services[j]->reference_prefix, s->reference_prefix) == 0) {
                struct defcheck dc = {.file = s->file, .problems = problems};
                defcheck_problem(&dc, "reference_prefix", "\"%s\" is already used by %s",
                                 s->reference_prefix, r->services[j]->file);
                count += dc.count;
            }
        }
        r->services[r->count++] = s;
    }
out:
    json_decref(codes);
    if (count > 0) {
        service_registry_free(r);
        return NULL;
    }
    return r;
}

void service_registry_free(struct service_registry *registry)
{
    if (!registry)
        return;
    for (size_t i = 0; i < registry->count; i++)
        service_free(registry->services[i]);
    free(registry->services);
    free(registry);
}

const struct service *service_registry_find(const struct service_registry *registry,
                                            const char *code)
{
    for (size_t i = 0; registry && code && i < registry->count; i++)
        if (strcmp(registry->services[i]->code, code) == 0)
            return registry->services[i];
    return NULL;
}

size_t service_registry_count(const struct service_registry *registry)
{
    return registry ? registry->count : 0;
}

const struct service *service_registry_at(const struct service_registry *registry, size_t i)
{
    return registry && i < registry->count ? registry->services[i] : NULL;
}

const char *service_code(const struct service *service)
{
    return service->code;
}

const char *service_name(const struct service *service)
{
    return service->name;
}

const char *service_description(const struct service *service)
{
    return service->description;
}

const char *service_reference_prefix(const struct service *service)
{
    return service->reference_prefix;
}

const char *service_backend(const struct service *service)
{
    return service->backend;
}

const char *service_rules_backend(const struct service *service, size_t i)
{
    if (!service->rules || !service->rules->backend_at)
        return NULL;
    return service->rules->backend_at(service->rules_state, i);
}

const char *service_connector(const struct service *service)
{
    return service->connector;
}

const char *service_documents_field(const struct service *service)
{
    for (size_t i = 0; i < service->fields.count; i++)
        if (service->fields.defs[i].type == FIELD_DOCUMENTS)
            return service->fields.defs[i].name;
    return NULL;
}

bool service_date_closed(const struct service *service, const char *field, const char *date)
{
    const struct field_def *f = fields_find(&service->fields, field);
    return f && f->type == FIELD_DATE && fields_date_closed(f, date);
}

const json_t *service_stock_item(const struct service *service)
{
    return declared_stock_item(service);
}

const json_t *service_definition(const struct service *service)
{
    return service->definition;
}

long service_retention_days(const struct service *service, long fallback)
{
    return service->retention_days >= 0 ? service->retention_days : fallback;
}

json_t *service_personal_fields(const struct service *service)
{
    json_t *names = json_array();
    for (size_t i = 0; names && i < service->fields.count; i++)
        if (service->fields.defs[i].personal && service->fields.defs[i].name)
            json_array_append_new(names, json_string(service->fields.defs[i].name));
    return names;
}

bool service_declares_lookup(const struct service *service, const char *lookup)
{
    for (size_t i = 0; lookup && i < service->fields.count; i++)
        if (service->fields.defs[i].lookup && strcmp(service->fields.defs[i].lookup, lookup) == 0)
            return true;
    return false;
}

bool service_payment_method_allowed(const struct service *service, const char *method)
{
    for (size_t k = 0; method && k < PAYMENT_METHOD_COUNT; k++)
        if (strcmp(payment_methods[k].name, method) == 0)
            return (service->payment_methods & payment_methods[k].bit) != 0;
    return false;
}

/* Sentences about fee changes already scheduled after on. */
static void describe_future_fees(const struct service *s, struct validators_date on,
                                 json_t *sentences)
{
    char money[VALIDATORS_MONEY_SIZE];
    char words[VALIDATORS_DATE_WORDS_SIZE];
    for (size_t i = 0; i < s->fees.count; i++) {
        const struct fee_entry *e = &s->fees.entries[i];
        if (validators_date_compare(e->effective_from, on) <= 0)
            continue;
        json_array_append_new(
            sentences, json_sprintf("From %s: %s %s.", service_date_words(e->effective_from, words),
                                    e->description, service_money(e->amount_pence, money)));
    }
}

json_t *service_catalogue_entry_on(const struct service *service, const char *today)
{
    struct validators_date on;
    if (!today || !validators_date_parse(today, &on))
        return NULL;
    json_t *methods = json_array();
    for (size_t k = 0; k < PAYMENT_METHOD_COUNT; k++)
        if (service->payment_methods & payment_methods[k].bit)
            json_array_append_new(methods, json_string(payment_methods[k].name));
    json_t *sentences = json_array();
    if (sentences) {
        declared_describe_fees(service, on, sentences);
        if (service->rules && service->rules->describe_fees)
            service->rules->describe_fees(service, service->rules_state, on, sentences);
        describe_future_fees(service, on, sentences);
    }
    const json_t *stock = declared_stock_item(service);
    json_t *entry =
        json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:s?, s:O?}", "code", service->code, "name",
                  service->name, "description", service->description, "reference_prefix",
                  service->reference_prefix, "fields", fields_catalogue(&service->fields),
                  "payment_methods", methods, "fee_rules", sentences, "receipt_next_steps",
                  json_string_value(json_object_get(service->definition, "receipt_next_steps")),
                  "stock", stock);
    if (entry && service->rules && service->rules->catalogue)
        json_object_update_new(entry, service->rules->catalogue(service->rules_state));
    return entry;
}

json_t *service_catalogue_entry(const struct service *service)
{
    char today[VALIDATORS_DATE_SIZE];
    validators_date_format(validators_date_today_london(time(NULL)), today);
    return service_catalogue_entry_on(service, today);
}

json_t *service_backend_payload(const struct service *service,
                                const struct service_evaluation *evaluation, const char *reference)
{
    if (!service || !evaluation || !evaluation->fields || json_array_size(evaluation->errors) > 0 ||
        !reference)
        return NULL;
    if (service->rules && service->rules->payload)
        return service->rules->payload(service, service->rules_state, evaluation, reference);
    return declared_payload(service, evaluation, reference);
}
