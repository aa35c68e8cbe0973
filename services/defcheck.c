/* defcheck: strict reading of service definition files; see defcheck.h. */
#include "services/defcheck.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "services/validators.h"

#define PROBLEM_MAX 512

void defcheck_problem(struct defcheck *dc, const char *path, const char *fmt, ...)
{
    char message[PROBLEM_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    dc->count++;
    if (dc->problems)
        json_array_append_new(
            dc->problems,
            json_sprintf("%s: %s: %s", dc->file, path && *path ? path : "(top level)", message));
}

/* Paths are for messages: one cut short by the buffer is still useful, so truncation is
 * tolerated (the return values are read only to say so to the compiler). */
void defcheck_path(char *buf, size_t size, const char *parent, const char *key)
{
    int n;
    if (parent && *parent)
        n = snprintf(buf, size, "%s.%s", parent, key);
    else
        n = snprintf(buf, size, "%s", key);
    (void)n;
}

void defcheck_path_index(char *buf, size_t size, const char *parent, size_t index)
{
    int n = snprintf(buf, size, "%s[%zu]", parent ? parent : "", index);
    (void)n;
}

void defcheck_path_key_index(char *buf, size_t size, const char *parent, const char *key,
                             size_t index)
{
    int n;
    if (parent && *parent)
        n = snprintf(buf, size, "%s.%s[%zu]", parent, key, index);
    else
        n = snprintf(buf, size, "%s[%zu]", key, index);
    (void)n;
}

static bool listed(const char *const *list, const char *key)
{
    for (size_t i = 0; list && list[i]; i++)
        if (strcmp(list[i], key) == 0)
            return true;
    return false;
}

bool defcheck_object(struct defcheck *dc, const char *path, const json_t *obj,
                     const char *const *allowed, const char *const *required)
{
    char p[DEFCHECK_PATH_MAX];
    if (!json_is_object(obj)) {
        defcheck_problem(dc, path, "must be an object");
        return false;
    }
    bool ok = true;
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)obj, key, value)
    {
        if (strcmp(key, "_comment") == 0 || listed(allowed, key))
            continue;
        defcheck_path(p, sizeof p, path, key);
        defcheck_problem(dc, p, "unknown key");
        ok = false;
    }
    for (size_t i = 0; required && required[i]; i++) {
        if (json_object_get(obj, required[i]))
            continue;
        defcheck_path(p, sizeof p, path, required[i]);
        defcheck_problem(dc, p, "is required");
        ok = false;
    }
    return ok;
}

const char *defcheck_string(struct defcheck *dc, const char *path, const json_t *obj,
                            const char *key, bool required)
{
    char p[DEFCHECK_PATH_MAX];
    const json_t *v = json_object_get(obj, key);
    defcheck_path(p, sizeof p, path, key);
    if (!v) {
        if (required)
            defcheck_problem(dc, p, "is required");
        return NULL;
    }
    if (!json_is_string(v) || json_string_length(v) == 0) {
        defcheck_problem(dc, p, "must be a non-empty string");
        return NULL;
    }
    return json_string_value(v);
}

bool defcheck_bool(struct defcheck *dc, const char *path, const json_t *obj, const char *key,
                   bool fallback, bool *out)
{
    char p[DEFCHECK_PATH_MAX];
    const json_t *v = json_object_get(obj, key);
    *out = fallback;
    if (!v)
        return true;
    if (!json_is_boolean(v)) {
        defcheck_path(p, sizeof p, path, key);
        defcheck_problem(dc, p, "must be true or false");
        return false;
    }
    *out = json_is_true(v);
    return true;
}

bool defcheck_integer(struct defcheck *dc, const char *path, const json_t *obj, const char *key,
                      long min, long max, bool required, long *out, bool *present)
{
    char p[DEFCHECK_PATH_MAX];
    const json_t *v = json_object_get(obj, key);
    defcheck_path(p, sizeof p, path, key);
    if (present)
        *present = v != NULL;
    if (!v) {
        if (required)
            defcheck_problem(dc, p, "is required");
        return !required;
    }
    if (!json_is_integer(v)) {
        defcheck_problem(dc, p, "must be a whole number");
        return false;
    }
    json_int_t n = json_integer_value(v);
    if (n < min || n > max) {
        defcheck_problem(dc, p, "must be from %ld to %ld", min, max);
        return false;
    }
    *out = (long)n;
    return true;
}

/* The most a single fee may be: £100,000. A bigger figure is a typing mistake. */
#define FEE_PENCE_MAX 10000000L

bool defcheck_pence(struct defcheck *dc, const char *path, const json_t *obj, const char *key,
                    long *out)
{
    char p[DEFCHECK_PATH_MAX];
    const json_t *v = json_object_get(obj, key);
    defcheck_path(p, sizeof p, path, key);
    if (!v) {
        defcheck_problem(dc, p, "is required");
        return false;
    }
    if (!json_is_integer(v)) {
        defcheck_problem(dc, p, "must be a whole number of pence");
        return false;
    }
    json_int_t n = json_integer_value(v);
    if (n < 0 || n > FEE_PENCE_MAX) {
        defcheck_problem(dc, p, "must be from 0 to %ld pence", FEE_PENCE_MAX);
        return false;
    }
    *out = (long)n;
    return true;
}

const char *defcheck_date(struct defcheck *dc, const char *path, const json_t *obj, const char *key,
                          bool required)
{
    char p[DEFCHECK_PATH_MAX];
    struct validators_date d;
    const char *s = defcheck_string(dc, path, obj, key, required);
    if (!s)
        return NULL;
    if (!validators_date_parse(s, &d)) {
        defcheck_path(p, sizeof p, path, key);
        defcheck_problem(dc, p, "must be a date written YYYY-MM-DD");
        return NULL;
    }
    return s;
}

const json_t *defcheck_array(struct defcheck *dc, const char *path, const json_t *obj,
                             const char *key, bool required, bool nonempty)
{
    char p[DEFCHECK_PATH_MAX];
    const json_t *v = json_object_get(obj, key);
    defcheck_path(p, sizeof p, path, key);
    if (!v) {
        if (required)
            defcheck_problem(dc, p, "is required");
        return NULL;
    }
    if (!json_is_array(v) || (nonempty && json_array_size(v) == 0)) {
        defcheck_problem(dc, p, nonempty ? "must be a non-empty array" : "must be an array");
        return NULL;
    }
    return v;
}
