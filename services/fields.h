/* fields: the generic field types of service definitions (private to services/).
 *
 * A definition's "fields" array describes what the counter collects; this module checks the
 * array when a service loads, validates a request's fields against it (every problem at
 * once) and writes each field's catalogue entry. Types: string, uprn, vrm, postcode, date,
 * boolean, enum, integer, phone, items, nhs_number, nino, ubrn, documents.
 */
#ifndef ONESTOP_SERVICES_FIELDS_H
#define ONESTOP_SERVICES_FIELDS_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "services/defcheck.h"
#include "services/validators.h"

enum field_type {
    FIELD_STRING,
    FIELD_UPRN,
    FIELD_VRM,
    FIELD_POSTCODE,
    FIELD_DATE,
    FIELD_BOOLEAN,
    FIELD_ENUM,
    FIELD_INTEGER,
    FIELD_PHONE,
    FIELD_ITEMS,
    FIELD_NHS_NUMBER,
    FIELD_NINO,
    FIELD_UBRN,
    FIELD_DOCUMENTS, /* uploaded documents: [{"id","type"}], type one of values */
};

/* Longest text a string field may ever hold, whatever its definition says. */
#define FIELD_TEXT_MAX 2000
/* Most entries an items field reads before calling the list malformed. */
#define FIELD_ITEMS_ENTRIES_MAX 50
/* Most documents a documents field may list. */
#define FIELD_DOCUMENTS_MAX 50
/* Hex characters of a document id (POST /api/v1/documents). */
#define FIELD_DOCUMENT_ID_LEN 32
/* Largest integer a field may hold. */
#define FIELD_INTEGER_LIMIT 1000000000L

struct field_def {
    const json_t *def; /* the definition object (borrowed from the service's file) */
    const char *name;
    const char *label;
    enum field_type type;
    bool required;
    bool personal; /* "personal": true — a resident's personal data (purged, encrypted) */
    const json_t *default_value;     /* or NULL */
    const char *required_when_field; /* or NULL */
    const json_t *required_when_in;  /* array of values */
    bool has_min, has_max;           /* integer value; string length; date days ahead */
    long min, max;
    bool has_pattern;
    regex_t pattern;
    const char *pattern_hint;
    bool working_days_only;
    const json_t *closed_dates; /* array of "YYYY-MM-DD", or NULL */
    bool in_borough;
    const json_t *values;     /* enum: code strings; items: [{code,label,note,fee}] */
    json_t *owned_values;     /* enum: the codes (owned; values points here) */
    json_t *catalogue_values; /* enum: [{"code","label"}] for the catalogue (owned) */
    const char *lookup;       /* the look-up that offers this field's choices, or NULL */
    const json_t *refused;    /* items: [{code,label,reason}] or NULL */
    long max_total;           /* items: most items in one request; documents: most documents */
};

struct field_set {
    struct field_def *defs;
    size_t count;
};

/* Reads and checks a definition's fields array (reporting to dc). The set borrows from
 * fields, which must outlive it. Free with fields_free() whatever the result. */
bool fields_load(struct field_set *set, const json_t *fields, struct defcheck *dc)
    __attribute__((warn_unused_result));
void fields_free(struct field_set *set);
const struct field_def *fields_find(const struct field_set *set, const char *name);

/* Validates input (the request's fields object) as of today. Valid values, normalised, and
 * defaults for absent fields are set in normalised; each problem is appended to errors as
 * {"field","code","message"}. */
void fields_validate(const struct field_set *set, const json_t *input, struct validators_date today,
                     json_t *normalised, json_t *errors);

/* True when date ("YYYY-MM-DD") is one of the date field's closed_dates (bank holidays). */
bool fields_date_closed(const struct field_def *f, const char *date);

/* Array of catalogue entries for the fields (new reference). */
json_t *fields_catalogue(const struct field_set *set);

/* Appends {"field","code","message"} to errors; field NULL gives JSON null. */
void fields_error(json_t *errors, const char *field, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The field a service's rules rely on: reports (at path "fields") when there is no field of
 * that name and type, and returns NULL. */
const struct field_def *fields_require(const struct field_set *set, const char *name,
                                       enum field_type type, struct defcheck *dc);

/* The label of an items field's entry with this code, or NULL. */
const char *fields_item_label(const struct field_def *def, const char *code);

#endif
