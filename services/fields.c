/* fields: generic field types of service definitions; see fields.h.
 *
 * DESIGN: a field definition is checked once, at load, into a struct field_def (with its
 * pattern compiled), so validating a request only reads trusted structures. Validation runs
 * in two passes: the first normalises every value that is present (or applies the default),
 * the second decides which absent fields were required -- "required_when" depends on other
 * fields' normalised values, so it can only be decided once they are all known. Unknown
 * input fields are errors too, so a misspelt field never silently drops data.
 * Messages name the field by its label and say what would be right, for the assistant.
 */
#include "services/fields.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MESSAGE_MAX                512
#define NAME_MAX_LEN               40
#define SHOWN_INPUT_MAX            40 /* most characters of a resident's input echoed in a message */
#define ERROR_FIELD_MAX            64 /* longest unknown field name echoed back */
#define DAYS_AHEAD_LIMIT           3660L
#define ITEM_QUANTITY_MAX          100L
#define FIELD_UNKNOWN_REPORTED_MAX 20 /* unknown fields named; more are not worth a list */

static const struct {
    const char *name;
    enum field_type type;
    const char *const *constraints; /* allowed constraint keys */
} field_types[] = {
    {"string", FIELD_STRING,
     (const char *const[]){"min_length", "max_length", "pattern", "pattern_hint", NULL}},
    {"uprn", FIELD_UPRN, (const char *const[]){NULL}},
    {"vrm", FIELD_VRM, (const char *const[]){NULL}},
    {"postcode", FIELD_POSTCODE, (const char *const[]){"in_borough", NULL}},
    {"date", FIELD_DATE,
     (const char *const[]){"min_days_ahead", "max_days_ahead", "working_days_only", "closed_dates",
                           NULL}},
    {"boolean", FIELD_BOOLEAN, (const char *const[]){NULL}},
    {"enum", FIELD_ENUM, (const char *const[]){NULL}},
    {"integer", FIELD_INTEGER, (const char *const[]){"min", "max", NULL}},
    {"phone", FIELD_PHONE, (const char *const[]){NULL}},
    {"items", FIELD_ITEMS, (const char *const[]){"max_total_quantity", NULL}},
    {"nhs_number", FIELD_NHS_NUMBER, (const char *const[]){NULL}},
    {"nino", FIELD_NINO, (const char *const[]){NULL}},
    {"ubrn", FIELD_UBRN, (const char *const[]){NULL}},
    {"documents", FIELD_DOCUMENTS, (const char *const[]){"max_documents", NULL}},
};
#define FIELD_TYPE_COUNT (sizeof field_types / sizeof field_types[0])

static const char *const field_keys[] = {
    "name",        "type",   "label",   "required", "help",     "default", "required_when",
    "constraints", "values", "refused", "lookup",   "personal", NULL};
static const char *const field_required_keys[] = {"name", "type", "label", NULL};
static const char *const item_keys[] = {"code", "label", "note", "fee", NULL};
static const char *const enum_value_keys[] = {"code", "label", NULL};
/* Look-ups a field may name: the counter app fetches its choices from GET
 * /api/v1/lookups/<name> (gateway/http/routes_lookups.c), or, for slot_holds, fills the field
 * with the reservation id from POST /api/v1/lookups/slot_holds (routes_holds.c). */
static const char *const field_lookups[] = {"addresses", "slots", "slot_holds", NULL};
static const char *const item_required_keys[] = {"code", "label", NULL};
static const char *const refused_keys[] = {"code", "label", "reason", NULL};
static const char *const required_when_keys[] = {"field", "in", NULL};

/* Cuts a trailing incomplete UTF-8 sequence left by truncation. */
static void utf8_clip(char *s)
{
    size_t n = strlen(s), start = n;
    while (start > 0 && ((unsigned char)s[start - 1] & 0xC0) == 0x80)
        start--;
    if (start == 0)
        return;
    unsigned char lead = (unsigned char)s[start - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (n - (start - 1) < need)
        s[start - 1] = '\0';
}

/* Copies at most SHOWN_INPUT_MAX bytes of a resident's input, cut on a character boundary. */
static const char *shown(const char *in, char buf[SHOWN_INPUT_MAX + 1])
{
    snprintf(buf, SHOWN_INPUT_MAX + 1, "%s", in);
    utf8_clip(buf);
    return buf;
}

/* An error that cannot be recorded would let an invalid transaction through: out of memory
 * here aborts rather than risk that. */
void fields_error(json_t *errors, const char *field, const char *code, const char *fmt, ...)
{
    char message[MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    utf8_clip(message);
    json_t *m = json_string(message);
    if (!m)
        m = json_string("This value is not valid");
    json_t *e = json_pack("{s:o, s:s, s:o}", "field", field ? json_string(field) : json_null(),
                          "code", code, "message", m);
    if (!e || json_array_append_new(errors, e) != 0)
        abort();
}

static bool identifier_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > NAME_MAX_LEN || !islower((unsigned char)s[0]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '_')
            return false;
    return true;
}

/* ---- Loading ------------------------------------------------------------------------------ */

/* "band_a" -> "Band a": the label of an enum value given as a bare string. */
static json_t *enum_label_from_code(const char *code)
{
    char label[NAME_MAX_LEN * 2 + 1];
    snprintf(label, sizeof label, "%s", code);
    for (char *c = label; *c; c++)
        if (*c == '_')
            *c = ' ';
    label[0] = (char)toupper((unsigned char)label[0]);
    return json_string(label);
}

/* Checks an enum's values: unique non-empty strings, or {"code","label"} objects. The field
 * keeps the codes (f->values, strings) and the catalogue's {"code","label"} list
 * (f->catalogue_values); both are owned by the field. */
static void load_enum_values(struct field_def *f, const char *path, struct defcheck *dc)
{
    char p[DEFCHECK_PATH_MAX];
    const json_t *given = defcheck_array(dc, path, f->def, "values", true, true);
    if (!given)
        return;
    f->owned_values = json_array();
    f->catalogue_values = json_array();
    if (!f->owned_values || !f->catalogue_values) {
        defcheck_problem(dc, path, "out of memory");
        return;
    }
    f->values = f->owned_values;
    size_t i;
    const json_t *v;
    json_array_foreach(given, i, v)
    {
        defcheck_path_key_index(p, sizeof p, path, "values", i);
        const char *code = json_string_value(v);
        json_t *label = NULL;
        if (json_is_object(v)) {
            if (!defcheck_object(dc, p, v, enum_value_keys, enum_value_keys))
                continue;
            code = defcheck_string(dc, p, v, "code", true);
            const char *text = defcheck_string(dc, p, v, "label", true);
            if (!code || !text)
                continue;
            label = json_string(text);
        } else if (!code || code[0] == '\0') {
            defcheck_problem(dc, p, "must be a non-empty string or {\"code\", \"label\"}");
            continue;
        } else {
            label = enum_label_from_code(code);
        }
        bool twice = false;
        size_t j;
        const json_t *w;
        json_array_foreach(f->owned_values, j, w)
        {
            twice = twice || strcasecmp(json_string_value(w), code) == 0;
        }
        if (twice)
            defcheck_problem(dc, p, "\"%s\" is listed twice", code);
        json_array_append_new(f->owned_values, json_string(code));
        json_array_append_new(f->catalogue_values,
                              json_pack("{s:s, s:o}", "code", code, "label", label));
    }
}

/* Checks a list of {code,label,...} entries with unique identifier codes. */
static void load_item_list(const json_t *list, const char *path, const char *const *keys,
                           const char *const *required, const char *extra, bool extra_required,
                           struct defcheck *dc)
{
    char p[DEFCHECK_PATH_MAX];
    size_t i;
    const json_t *item;
    json_array_foreach(list, i, item)
    {
        defcheck_path_index(p, sizeof p, path, i);
        if (!defcheck_object(dc, p, item, keys, required))
            continue;
        const char *code = defcheck_string(dc, p, item, "code", true);
        (void)defcheck_string(dc, p, item, "label", true);
        (void)defcheck_string(dc, p, item, extra, extra_required);
        if (code && !identifier_valid(code))
            defcheck_problem(dc, p, "code \"%s\" must be lower case letters, digits and _", code);
    }
}

static void load_items(struct field_def *f, const char *path, struct defcheck *dc)
{
    char p[DEFCHECK_PATH_MAX];
    f->values = defcheck_array(dc, path, f->def, "values", true, true);
    defcheck_path(p, sizeof p, path, "values");
    if (f->values)
        load_item_list(f->values, p, item_keys, item_required_keys, "note", false, dc);
    f->refused = defcheck_array(dc, path, f->def, "refused", false, false);
    defcheck_path(p, sizeof p, path, "refused");
    if (f->refused)
        load_item_list(f->refused, p, refused_keys, refused_keys, "reason", true, dc);
    /* Codes are unique across both lists. */
    const json_t *lists[2] = {f->values, f->refused};
    for (int a = 0; a < 2; a++) {
        size_t i;
        const json_t *item;
        json_array_foreach(lists[a], i, item)
        {
            const char *code = json_string_value(json_object_get(item, "code"));
            bool seen = false;
            for (int b = 0; b <= a && !seen; b++) {
                size_t j;
                const json_t *other;
                json_array_foreach(lists[b], j, other)
                {
                    if (b == a && j >= i)
                        break;
                    const char *oc = json_string_value(json_object_get(other, "code"));
                    if (code && oc && strcmp(code, oc) == 0) {
                        seen = true;
                        break;
                    }
                }
            }
            if (seen) {
                char ip[DEFCHECK_PATH_MAX];
                defcheck_path_key_index(ip, sizeof ip, path, a ? "refused" : "values", i);
                defcheck_path(p, sizeof p, ip, "code");
                defcheck_problem(dc, p, "\"%s\" is listed twice", code);
            }
        }
    }
}

static void load_constraints(struct field_def *f, const char *path, const char *const *allowed,
                             struct defcheck *dc)
{
    char p[DEFCHECK_PATH_MAX];
    char cp[DEFCHECK_PATH_MAX];
    const json_t *c = json_object_get(f->def, "constraints");
    defcheck_path(cp, sizeof cp, path, "constraints");
    if (!c) {
        if (f->type == FIELD_ITEMS)
            defcheck_problem(dc, cp, "is required (max_total_quantity)");
        return;
    }
    if (!defcheck_object(dc, cp, c, allowed, NULL))
        return;
    switch (f->type) {
    case FIELD_STRING: {
        (void)defcheck_integer(dc, cp, c, "min_length", 0, FIELD_TEXT_MAX, false, &f->min,
                               &f->has_min);
        (void)defcheck_integer(dc, cp, c, "max_length", 1, FIELD_TEXT_MAX, false, &f->max,
                               &f->has_max);
        const char *pattern = defcheck_string(dc, cp, c, "pattern", false);
        f->pattern_hint = defcheck_string(dc, cp, c, "pattern_hint", false);
        if (pattern) {
            defcheck_path(p, sizeof p, cp, "pattern");
            if (regcomp(&f->pattern, pattern, REG_EXTENDED | REG_NOSUB) != 0)
                defcheck_problem(dc, p, "is not a valid POSIX extended regular expression");
            else
                f->has_pattern = true;
        }
        break;
    }
    case FIELD_INTEGER:
        (void)defcheck_integer(dc, cp, c, "min", -FIELD_INTEGER_LIMIT, FIELD_INTEGER_LIMIT, false,
                               &f->min, &f->has_min);
        (void)defcheck_integer(dc, cp, c, "max", -FIELD_INTEGER_LIMIT, FIELD_INTEGER_LIMIT, false,
                               &f->max, &f->has_max);
        break;
    case FIELD_DATE: {
        (void)defcheck_integer(dc, cp, c, "min_days_ahead", -DAYS_AHEAD_LIMIT, DAYS_AHEAD_LIMIT,
                               false, &f->min, &f->has_min);
        (void)defcheck_integer(dc, cp, c, "max_days_ahead", -DAYS_AHEAD_LIMIT, DAYS_AHEAD_LIMIT,
                               false, &f->max, &f->has_max);
        (void)defcheck_bool(dc, cp, c, "working_days_only", false, &f->working_days_only);
        f->closed_dates = defcheck_array(dc, cp, c, "closed_dates", false, false);
        size_t i;
        const json_t *d;
        struct validators_date date;
        json_array_foreach(f->closed_dates, i, d)
        {
            defcheck_path_key_index(p, sizeof p, cp, "closed_dates", i);
            if (!json_is_string(d) || !validators_date_parse(json_string_value(d), &date))
                defcheck_problem(dc, p, "must be a date written YYYY-MM-DD");
        }
        break;
    }
    case FIELD_POSTCODE:
        (void)defcheck_bool(dc, cp, c, "in_borough", false, &f->in_borough);
        break;
    case FIELD_ITEMS:
        (void)defcheck_integer(dc, cp, c, "max_total_quantity", 1, ITEM_QUANTITY_MAX, true,
                               &f->max_total, NULL);
        break;
    case FIELD_DOCUMENTS:
        (void)defcheck_integer(dc, cp, c, "max_documents", 1, FIELD_DOCUMENTS_MAX, false,
                               &f->max_total, NULL);
        break;
    default:
        break;
    }
    if (f->has_min && f->has_max && f->min > f->max)
        defcheck_problem(dc, cp, "the minimum is more than the maximum");
}

/* Whether value is a valid value of f (for defaults and required_when lists). */
static bool value_fits(const struct field_def *f, const json_t *value)
{
    switch (f->type) {
    case FIELD_BOOLEAN:
        return json_is_boolean(value);
    case FIELD_INTEGER:
        return json_is_integer(value) && (!f->has_min || json_integer_value(value) >= f->min) &&
               (!f->has_max || json_integer_value(value) <= f->max);
    case FIELD_STRING:
        return json_is_string(value);
    case FIELD_ENUM: {
        size_t i;
        const json_t *v;
        json_array_foreach(f->values, i, v)
        {
            if (json_is_string(value) && json_equal(v, value))
                return true;
        }
        return false;
    }
    default:
        return false;
    }
}

static void load_field(struct field_def *f, const json_t *def, const char *path,
                       struct defcheck *dc)
{
    char p[DEFCHECK_PATH_MAX];
    f->def = def;
    if (!defcheck_object(dc, path, def, field_keys, field_required_keys))
        return;
    f->name = defcheck_string(dc, path, def, "name", true);
    f->label = defcheck_string(dc, path, def, "label", true);
    if (f->name && !identifier_valid(f->name)) {
        defcheck_path(p, sizeof p, path, "name");
        defcheck_problem(dc, p, "must be lower case letters, digits and _ (at most %d)",
                         NAME_MAX_LEN);
    }
    (void)defcheck_bool(dc, path, def, "required", false, &f->required);
    (void)defcheck_bool(dc, path, def, "personal", false, &f->personal);
    (void)defcheck_string(dc, path, def, "help", false);
    f->lookup = defcheck_string(dc, path, def, "lookup", false);
    bool lookup_known = !f->lookup;
    for (size_t i = 0; f->lookup && field_lookups[i]; i++)
        lookup_known = lookup_known || strcmp(field_lookups[i], f->lookup) == 0;
    if (!lookup_known) {
        defcheck_path(p, sizeof p, path, "lookup");
        defcheck_problem(dc, p, "unknown look-up \"%s\" (addresses, slots, slot_holds)", f->lookup);
    }
    const char *type = defcheck_string(dc, path, def, "type", true);
    size_t t = FIELD_TYPE_COUNT;
    for (size_t i = 0; type && i < FIELD_TYPE_COUNT; i++)
        if (strcmp(field_types[i].name, type) == 0)
            t = i;
    defcheck_path(p, sizeof p, path, "type");
    if (!type)
        return;
    if (t == FIELD_TYPE_COUNT) {
        defcheck_problem(dc, p,
                         "unknown type \"%s\" (string, uprn, vrm, postcode, date, boolean, enum, "
                         "integer, phone, items, nhs_number, nino, ubrn, documents)",
                         type);
        return;
    }
    f->type = field_types[t].type;
    load_constraints(f, path, field_types[t].constraints, dc);
    if (f->type == FIELD_ENUM || f->type == FIELD_DOCUMENTS)
        load_enum_values(f, path, dc);
    else if (f->type == FIELD_ITEMS)
        load_items(f, path, dc);
    if (f->type != FIELD_ENUM && f->type != FIELD_ITEMS && f->type != FIELD_DOCUMENTS &&
        json_object_get(def, "values")) {
        defcheck_path(p, sizeof p, path, "values");
        defcheck_problem(dc, p, "only enum, items and documents fields have values");
    }
    if (f->type != FIELD_ITEMS && json_object_get(def, "refused")) {
        defcheck_path(p, sizeof p, path, "refused");
        defcheck_problem(dc, p, "only items fields have refused items");
    }
    f->default_value = json_object_get(def, "default");
    if (f->default_value) {
        defcheck_path(p, sizeof p, path, "default");
        if (f->type != FIELD_BOOLEAN && f->type != FIELD_INTEGER && f->type != FIELD_STRING &&
            f->type != FIELD_ENUM)
            defcheck_problem(dc, p, "only string, boolean, enum and integer fields have defaults");
        else if (!value_fits(f, f->default_value))
            defcheck_problem(dc, p, "is not a valid value of this field");
        if (f->required)
            defcheck_problem(dc, p, "a required field cannot have a default");
    }
}

/* required_when names another field, so it is checked once every field is loaded. */
static void load_required_when(struct field_set *set, struct field_def *f, const char *path,
                               struct defcheck *dc)
{
    char p[DEFCHECK_PATH_MAX];
    const json_t *rw = json_object_get(f->def, "required_when");
    if (!rw)
        return;
    defcheck_path(p, sizeof p, path, "required_when");
    if (!defcheck_object(dc, p, rw, required_when_keys, required_when_keys))
        return;
    const char *other = defcheck_string(dc, p, rw, "field", true);
    const json_t *in = defcheck_array(dc, p, rw, "in", true, true);
    if (f->required)
        defcheck_problem(dc, p, "a required field cannot also be required_when");
    if (!other || !in)
        return;
    const struct field_def *o = fields_find(set, other);
    if (!o || o == f) {
        defcheck_problem(dc, p, "names no other field \"%s\"", other);
        return;
    }
    if (o->type != FIELD_ENUM && o->type != FIELD_BOOLEAN) {
        defcheck_problem(dc, p, "must name an enum or boolean field");
        return;
    }
    size_t i;
    const json_t *v;
    json_array_foreach(in, i, v)
    {
        if (!value_fits(o, v)) {
            char vp[DEFCHECK_PATH_MAX];
            defcheck_path_key_index(vp, sizeof vp, p, "in", i);
            defcheck_problem(dc, vp, "is not a value of field \"%s\"", other);
        }
    }
    f->required_when_field = other;
    f->required_when_in = in;
}

bool fields_load(struct field_set *set, const json_t *fields, struct defcheck *dc)
{
    char path[DEFCHECK_PATH_MAX];
    size_t before = dc->count;
    memset(set, 0, sizeof *set);
    if (!fields)
        return false; /* reported by the registry as a required key */
    if (!json_is_array(fields) || json_array_size(fields) == 0) {
        defcheck_problem(dc, "fields", "must be a non-empty array");
        return false;
    }
    set->defs = calloc(json_array_size(fields), sizeof *set->defs);
    if (!set->defs) {
        defcheck_problem(dc, "fields", "out of memory");
        return false;
    }
    size_t i;
    const json_t *def;
    json_array_foreach(fields, i, def)
    {
        struct field_def *f = &set->defs[set->count++];
        defcheck_path_index(path, sizeof path, "fields", i);
        load_field(f, def, path, dc);
        for (size_t j = 0; f->name && j + 1 < set->count; j++) {
            if (set->defs[j].name && strcmp(set->defs[j].name, f->name) == 0) {
                defcheck_problem(dc, path, "a field called \"%s\" is already defined", f->name);
                f->name = NULL;
            }
        }
    }
    for (i = 0; i < set->count; i++) {
        defcheck_path_index(path, sizeof path, "fields", i);
        if (set->defs[i].name)
            load_required_when(set, &set->defs[i], path, dc);
    }
    return dc->count == before;
}

void fields_free(struct field_set *set)
{
    for (size_t i = 0; i < set->count; i++) {
        if (set->defs[i].has_pattern)
            regfree(&set->defs[i].pattern);
        json_decref(set->defs[i].owned_values);
        json_decref(set->defs[i].catalogue_values);
    }
    free(set->defs);
    memset(set, 0, sizeof *set);
}

const struct field_def *fields_find(const struct field_set *set, const char *name)
{
    for (size_t i = 0; name && i < set->count; i++)
        if (set->defs[i].name && strcmp(set->defs[i].name, name) == 0)
            return &set->defs[i];
    return NULL;
}

const struct field_def *fields_require(const struct field_set *set, const char *name,
                                       enum field_type type, struct defcheck *dc)
{
    const struct field_def *f = fields_find(set, name);
    if (f && f->type == type)
        return f;
    const char *type_name = "?";
    for (size_t i = 0; i < FIELD_TYPE_COUNT; i++)
        if (field_types[i].type == type)
            type_name = field_types[i].name;
    defcheck_problem(dc, "fields", "this service's rules need a field \"%s\" of type %s", name,
                     type_name);
    return NULL;
}

const char *fields_item_label(const struct field_def *def, const char *code)
{
    const json_t *lists[2] = {def->values, def->refused};
    for (int a = 0; a < 2; a++) {
        size_t i;
        const json_t *item;
        json_array_foreach(lists[a], i, item)
        {
            if (strcmp(json_string_value(json_object_get(item, "code")), code) == 0)
                return json_string_value(json_object_get(item, "label"));
        }
    }
    return NULL;
}

/* ---- Validation --------------------------------------------------------------------------- */

/* A string value without surrounding white space; *len is its length in bytes. */
static const char *trim(const char *s, size_t *len)
{
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    *len = n;
    return s;
}

/* True when a value counts as not given: absent, null, blank text or an empty list. */
static bool value_missing(const json_t *v)
{
    size_t len;
    if (!v || json_is_null(v))
        return true;
    if (json_is_string(v)) {
        (void)trim(json_string_value(v), &len);
        return len == 0;
    }
    return json_is_array(v) && json_array_size(v) == 0;
}

static const char *type_example(enum field_type type)
{
    switch (type) {
    case FIELD_UPRN:
        return "must be the address's UPRN, 1 to 12 digits (choose the address from the postcode "
               "search)";
    case FIELD_VRM:
        return "is not a valid UK vehicle registration (for example AB12 CDE)";
    case FIELD_POSTCODE:
        return "is not a valid UK postcode (for example SK1 3XE)";
    case FIELD_DATE:
        return "must be a real date written YYYY-MM-DD";
    case FIELD_BOOLEAN:
        return "must be yes or no (true or false)";
    case FIELD_INTEGER:
        return "must be a whole number";
    case FIELD_PHONE:
        return "is not a valid UK phone number (for example 0161 480 4949)";
    case FIELD_NHS_NUMBER:
        return "is not a valid NHS number (10 digits, the last a check digit)";
    case FIELD_NINO:
        return "is not a valid National Insurance number (for example AB 12 34 56 C)";
    case FIELD_UBRN:
        return "must be the 12-digit booking reference (UBRN)";
    default:
        return "is not in the expected format";
    }
}

static void format_error(const struct field_def *f, json_t *errors)
{
    fields_error(errors, f->name, "invalid_format", "%s %s", f->label, type_example(f->type));
}

typedef bool (*normaliser)(const char *, char *, size_t);

/* Identifier types share one shape: a string normalised by a validator. */
static json_t *validate_identifier(const struct field_def *f, const json_t *v, normaliser fn,
                                   json_t *errors)
{
    char in[VALIDATORS_INPUT_MAX + 2];
    char out[VALIDATORS_INPUT_MAX + 2];
    if (f->type == FIELD_UPRN && json_is_integer(v) && json_integer_value(v) >= 0)
        snprintf(in, sizeof in, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_string(v) && json_string_length(v) <= VALIDATORS_INPUT_MAX &&
             strlen(json_string_value(v)) == json_string_length(v))
        snprintf(in, sizeof in, "%s", json_string_value(v));
    else
        in[0] = '\0';
    if (!in[0] || !fn(in, out, sizeof out)) {
        format_error(f, errors);
        return NULL;
    }
    if (f->type == FIELD_POSTCODE && f->in_borough && !validators_postcode_in_borough(out)) {
        fields_error(errors, f->name, "not_in_borough",
                     "%s must be in Stockport's postal areas (an SK or M postcode)", f->label);
        return NULL;
    }
    return json_string(out);
}

/* Counts UTF-8 code points (jansson guarantees valid UTF-8). */
static size_t utf8_length(const char *s, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            count++;
    return count;
}

static json_t *validate_string(const struct field_def *f, const json_t *v, json_t *errors)
{
    size_t len;
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
        fields_error(errors, f->name, "invalid_format", "%s must be text", f->label);
        return NULL;
    }
    const char *s = trim(json_string_value(v), &len);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) {
            fields_error(errors, f->name, "invalid_format",
                         "%s must be one line of text without control characters", f->label);
            return NULL;
        }
    }
    size_t chars = utf8_length(s, len);
    long max = f->has_max ? f->max : FIELD_TEXT_MAX;
    if (chars > (size_t)max) {
        fields_error(errors, f->name, "too_long", "%s must be at most %ld characters (it has %zu)",
                     f->label, max, chars);
        return NULL;
    }
    if (f->has_min && chars < (size_t)f->min) {
        fields_error(errors, f->name, "too_short", "%s must be at least %ld characters", f->label,
                     f->min);
        return NULL;
    }
    json_t *out = json_stringn(s, len);
    if (out && f->has_pattern && regexec(&f->pattern, json_string_value(out), 0, NULL, 0) != 0) {
        if (f->pattern_hint)
            fields_error(errors, f->name, "invalid_format", "%s %s", f->label, f->pattern_hint);
        else
            format_error(f, errors);
        json_decref(out);
        return NULL;
    }
    return out;
}

static json_t *validate_integer(const struct field_def *f, const json_t *v, json_t *errors)
{
    long n;
    if (json_is_integer(v)) {
        json_int_t j = json_integer_value(v);
        if (j > FIELD_INTEGER_LIMIT || j < -FIELD_INTEGER_LIMIT) {
            format_error(f, errors);
            return NULL;
        }
        n = (long)j;
    } else if (json_is_string(v)) {
        size_t len;
        char buf[VALIDATORS_INPUT_MAX + 1];
        const char *s = trim(json_string_value(v), &len);
        char *end;
        if (len == 0 || len >= sizeof buf) {
            format_error(f, errors);
            return NULL;
        }
        memcpy(buf, s, len);
        buf[len] = '\0';
        errno = 0;
        n = strtol(buf, &end, 10);
        if (errno != 0 || *end != '\0' || !(isdigit((unsigned char)buf[0]) || buf[0] == '-') ||
            n > FIELD_INTEGER_LIMIT || n < -FIELD_INTEGER_LIMIT) {
            format_error(f, errors);
            return NULL;
        }
    } else {
        format_error(f, errors);
        return NULL;
    }
    if ((f->has_min && n < f->min) || (f->has_max && n > f->max)) {
        if (f->has_min && f->has_max)
            fields_error(errors, f->name, "out_of_range", "%s must be from %ld to %ld", f->label,
                         f->min, f->max);
        else if (f->has_min)
            fields_error(errors, f->name, "out_of_range", "%s must be at least %ld", f->label,
                         f->min);
        else
            fields_error(errors, f->name, "out_of_range", "%s must be at most %ld", f->label,
                         f->max);
        return NULL;
    }
    return json_integer(n);
}

bool fields_date_closed(const struct field_def *f, const char *date)
{
    size_t i;
    const json_t *d;
    json_array_foreach(f->closed_dates, i, d)
    {
        if (strcmp(json_string_value(d), date) == 0)
            return true;
    }
    return false;
}

static json_t *validate_date(const struct field_def *f, const json_t *v,
                             struct validators_date today, json_t *errors)
{
    struct validators_date d, lo, hi;
    char text[VALIDATORS_DATE_SIZE];
    char lo_words[VALIDATORS_DATE_WORDS_SIZE], hi_words[VALIDATORS_DATE_WORDS_SIZE];
    if (!json_is_string(v) || !validators_date_parse(json_string_value(v), &d)) {
        format_error(f, errors);
        return NULL;
    }
    long ahead = validators_date_days_between(today, d);
    bool lo_ok = f->has_min && validators_date_add_days(today, f->min, &lo) &&
                 validators_date_words(lo, lo_words, sizeof lo_words);
    bool hi_ok = f->has_max && validators_date_add_days(today, f->max, &hi) &&
                 validators_date_words(hi, hi_words, sizeof hi_words);
    if ((f->has_min && ahead < f->min) || (f->has_max && ahead > f->max)) {
        if (lo_ok && hi_ok)
            fields_error(errors, f->name, "out_of_range", "%s must be from %s to %s", f->label,
                         lo_words, hi_words);
        else if (lo_ok)
            fields_error(errors, f->name, "out_of_range", "%s must be on or after %s", f->label,
                         lo_words);
        else if (hi_ok)
            fields_error(errors, f->name, "out_of_range", "%s must be on or before %s", f->label,
                         hi_words);
        else
            fields_error(errors, f->name, "out_of_range", "%s is out of range", f->label);
        return NULL;
    }
    validators_date_format(d, text);
    if ((f->working_days_only && validators_date_weekday(d) > 5) || fields_date_closed(f, text)) {
        fields_error(errors, f->name, "not_working_day",
                     "%s must be a working day (Monday to Friday, not a bank holiday)", f->label);
        return NULL;
    }
    return json_string(text);
}

static json_t *validate_enum(const struct field_def *f, const json_t *v, json_t *errors)
{
    size_t len;
    const char *s = json_is_string(v) ? trim(json_string_value(v), &len) : NULL;
    size_t i;
    const json_t *value;
    json_array_foreach(f->values, i, value)
    {
        if (s && json_string_length(value) == len &&
            strncasecmp(json_string_value(value), s, len) == 0)
            return json_string(json_string_value(value));
    }
    char choices[MESSAGE_MAX] = "";
    size_t used = 0;
    json_array_foreach(f->values, i, value)
    {
        int n = snprintf(choices + used, sizeof choices - used, "%s%s", i ? ", " : "",
                         json_string_value(value));
        if (n < 0 || (size_t)n >= sizeof choices - used)
            break;
        used += (size_t)n;
    }
    fields_error(errors, f->name, "invalid_value", "%s must be one of: %s", f->label, choices);
    return NULL;
}

static const json_t *item_find(const json_t *list, const char *code)
{
    size_t i;
    const json_t *item;
    json_array_foreach(list, i, item)
    {
        if (strcasecmp(json_string_value(json_object_get(item, "code")), code) == 0)
            return item;
    }
    return NULL;
}

static json_t *validate_items(const struct field_def *f, const json_t *v, json_t *errors)
{
    if (!json_is_array(v) || json_array_size(v) > FIELD_ITEMS_ENTRIES_MAX) {
        fields_error(errors, f->name, "invalid_format",
                     "%s must be a list of items, each {\"code\", \"quantity\"}", f->label);
        return NULL;
    }
    char buf[SHOWN_INPUT_MAX + 1];
    json_t *out = json_array();
    bool ok = true;
    long total = 0;
    size_t i;
    const json_t *entry;
    json_array_foreach(v, i, entry)
    {
        const json_t *code = json_object_get(entry, "code");
        const json_t *qty = json_object_get(entry, "quantity");
        size_t keys = json_is_object(entry) ? json_object_size(entry) : 0;
        if (!json_is_string(code) || keys != (qty ? 2u : 1u) ||
            (qty && (!json_is_integer(qty) || json_integer_value(qty) < 1 ||
                     json_integer_value(qty) > ITEM_QUANTITY_MAX))) {
            fields_error(errors, f->name, "invalid_format",
                         "%s entry %zu must be {\"code\", \"quantity\"} with a quantity from 1 "
                         "to %ld",
                         f->label, i + 1, ITEM_QUANTITY_MAX);
            ok = false;
            continue;
        }
        const char *c = json_string_value(code);
        long quantity = qty ? (long)json_integer_value(qty) : 1;
        const json_t *refused = item_find(f->refused, c);
        const json_t *item = item_find(f->values, c);
        if (refused) {
            fields_error(errors, f->name, "refused_item", "We cannot collect %s: %s",
                         json_string_value(json_object_get(refused, "label")),
                         json_string_value(json_object_get(refused, "reason")));
            ok = false;
            continue;
        }
        if (!item) {
            fields_error(errors, f->name, "invalid_value",
                         "\"%s\" is not on the list of items we collect", shown(c, buf));
            ok = false;
            continue;
        }
        total += quantity;
        const char *canonical = json_string_value(json_object_get(item, "code"));
        /* The same item twice is one line with the quantities added. */
        json_t *line = NULL;
        size_t j;
        json_t *existing;
        json_array_foreach(out, j, existing)
        {
            if (strcmp(json_string_value(json_object_get(existing, "code")), canonical) == 0)
                line = existing;
        }
        if (line)
            json_object_set_new(
                line, "quantity",
                json_integer(json_integer_value(json_object_get(line, "quantity")) + quantity));
        else
            json_array_append_new(
                out, json_pack("{s:s, s:I}", "code", canonical, "quantity", (json_int_t)quantity));
    }
    if (ok && total > f->max_total) {
        fields_error(errors, f->name, "too_many_items",
                     "A booking can have at most %ld items (this one has %ld); book another "
                     "collection for the rest",
                     f->max_total, total);
        ok = false;
    }
    if (!ok) {
        json_decref(out);
        return NULL;
    }
    return out;
}

static bool document_id_ok(const char *id)
{
    if (!id || strlen(id) != FIELD_DOCUMENT_ID_LEN)
        return false;
    for (const char *p = id; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

/* [{"id","type"}]: ids as POST /api/v1/documents gave them, each once; a type from values.
 * Whether each id may be used (its counter, its age, not used before) is the gateway's to
 * check when the transaction is written. */
static json_t *validate_documents(const struct field_def *f, const json_t *v, json_t *errors)
{
    long max = f->max_total > 0 ? f->max_total : FIELD_DOCUMENTS_MAX;
    if (!json_is_array(v) || json_array_size(v) == 0) {
        fields_error(errors, f->name, "invalid_format",
                     "%s must be a list of uploaded documents, each {\"id\", \"type\"}", f->label);
        return NULL;
    }
    if ((long)json_array_size(v) > max) {
        fields_error(errors, f->name, "too_many_items", "%s can list at most %ld documents",
                     f->label, max);
        return NULL;
    }
    json_t *out = json_array();
    bool ok = true;
    size_t i;
    const json_t *entry;
    json_array_foreach(v, i, entry)
    {
        const char *id = json_string_value(json_object_get(entry, "id"));
        const json_t *type = json_object_get(entry, "type");
        if (!json_is_object(entry) || json_object_size(entry) != 2 || !document_id_ok(id) ||
            !json_is_string(type)) {
            fields_error(errors, f->name, "invalid_format",
                         "%s entry %zu must be {\"id\", \"type\"} with the id the upload gave",
                         f->label, i + 1);
            ok = false;
            continue;
        }
        json_t *errs = json_array();
        json_t *code = validate_enum(f, type, errs);
        if (!code) {
            fields_error(errors, f->name, "invalid_value", "%s entry %zu: %s", f->label, i + 1,
                         json_string_value(json_object_get(json_array_get(errs, 0), "message")));
            json_decref(errs);
            ok = false;
            continue;
        }
        json_decref(errs);
        bool twice = false;
        size_t j;
        json_t *seen;
        json_array_foreach(out, j, seen)
        {
            twice = twice || strcmp(json_string_value(json_object_get(seen, "id")), id) == 0;
        }
        if (twice) {
            json_decref(code);
            fields_error(errors, f->name, "invalid_value", "%s lists the same document twice",
                         f->label);
            ok = false;
            continue;
        }
        json_array_append_new(out, json_pack("{s:s, s:o}", "id", id, "type", code));
    }
    if (!ok) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* The normalised value of a present value, or NULL after reporting why it is not valid. */
static json_t *validate_value(const struct field_def *f, const json_t *v,
                              struct validators_date today, json_t *errors)
{
    switch (f->type) {
    case FIELD_STRING:
        return validate_string(f, v, errors);
    case FIELD_UPRN:
        return validate_identifier(f, v, validators_uprn_normalise, errors);
    case FIELD_VRM:
        return validate_identifier(f, v, validators_vrm_normalise, errors);
    case FIELD_POSTCODE:
        return validate_identifier(f, v, validators_postcode_normalise, errors);
    case FIELD_PHONE:
        return validate_identifier(f, v, validators_phone_normalise, errors);
    case FIELD_NHS_NUMBER:
        return validate_identifier(f, v, validators_nhs_number_normalise, errors);
    case FIELD_NINO:
        return validate_identifier(f, v, validators_nino_normalise, errors);
    case FIELD_UBRN:
        return validate_identifier(f, v, validators_ubrn_normalise, errors);
    case FIELD_DATE:
        return validate_date(f, v, today, errors);
    case FIELD_BOOLEAN:
        if (json_is_boolean(v))
            return json_boolean(json_is_true(v));
        format_error(f, errors);
        return NULL;
    case FIELD_ENUM:
        return validate_enum(f, v, errors);
    case FIELD_INTEGER:
        return validate_integer(f, v, errors);
    case FIELD_ITEMS:
        return validate_items(f, v, errors);
    case FIELD_DOCUMENTS:
        return validate_documents(f, v, errors);
    }
    return NULL;
}

/* Whether an absent field is required, given the other fields' values; *because names the
 * value that made it so (or is NULL). */
static bool is_required(const struct field_set *set, const struct field_def *f,
                        const json_t *normalised, const char **because)
{
    *because = NULL;
    if (f->required)
        return true;
    if (!f->required_when_field)
        return false;
    const json_t *other = json_object_get(normalised, f->required_when_field);
    size_t i;
    const json_t *v;
    json_array_foreach(f->required_when_in, i, v)
    {
        if (other && json_equal(other, v)) {
            *because = json_is_string(v) ? json_string_value(v) : json_is_true(v) ? "yes" : "no";
            return true;
        }
    }
    return false;
}

void fields_validate(const struct field_set *set, const json_t *input, struct validators_date today,
                     json_t *normalised, json_t *errors)
{
    if (!json_is_object(input)) {
        fields_error(errors, NULL, "invalid_fields", "The fields must be a JSON object");
        return;
    }
    char buf[SHOWN_INPUT_MAX + 1];
    const char *key;
    json_t *value;
    size_t unknown = 0;
    json_object_foreach((json_t *)input, key, value)
    {
        if (fields_find(set, key) || ++unknown > FIELD_UNKNOWN_REPORTED_MAX)
            continue;
        fields_error(errors, strlen(key) <= ERROR_FIELD_MAX ? key : NULL, "unknown_field",
                     "This service has no field called \"%s\"", shown(key, buf));
    }
    bool *missing = calloc(set->count ? set->count : 1, sizeof *missing);
    if (!missing) {
        fields_error(errors, NULL, "internal", "Out of memory");
        return;
    }
    for (size_t i = 0; i < set->count; i++) {
        const struct field_def *f = &set->defs[i];
        const json_t *v = json_object_get(input, f->name);
        if (value_missing(v)) {
            missing[i] = true;
            if (f->default_value)
                json_object_set_new(normalised, f->name, json_deep_copy(f->default_value));
            continue;
        }
        json_t *n = validate_value(f, v, today, errors);
        if (n)
            json_object_set_new(normalised, f->name, n);
    }
    for (size_t i = 0; i < set->count; i++) {
        const struct field_def *f = &set->defs[i];
        const char *because;
        if (!missing[i] || f->default_value || !is_required(set, f, normalised, &because))
            continue;
        if (because) {
            const struct field_def *o = fields_find(set, f->required_when_field);
            fields_error(errors, f->name, "required", "%s is required when %s is %s", f->label,
                         o->label, because);
        } else {
            fields_error(errors, f->name, "required", "%s is required", f->label);
        }
    }
    free(missing);
}

/* ---- Catalogue ---------------------------------------------------------------------------- */

static void drop_comments(json_t *v)
{
    if (json_is_object(v)) {
        json_object_del(v, "_comment");
        const char *key;
        json_t *child;
        json_object_foreach(v, key, child)
        {
            drop_comments(child);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child)
        {
            drop_comments(child);
        }
    }
}

json_t *fields_catalogue(const struct field_set *set)
{
    json_t *out = json_array();
    for (size_t i = 0; out && i < set->count; i++) {
        const struct field_def *f = &set->defs[i];
        json_t *entry = json_deep_copy(f->def);
        if (!entry)
            continue;
        drop_comments(entry);
        json_object_set_new(entry, "required", json_boolean(f->required));
        if (f->catalogue_values)
            json_object_set(entry, "values", f->catalogue_values);
        if (!json_object_get(entry, "constraints"))
            json_object_set_new(entry, "constraints", json_object());
        json_array_append_new(out, entry);
    }
    return out;
}
