/* defcheck: strict reading of a service definition file (private to services/).
 *
 * Every problem is reported as "FILE: KEY: problem", where KEY is the JSON path
 * ("fees[1].amount_pence"), and counted; loading carries on so that one run names every
 * problem. Each helper returns whether the value was usable; on false it has already
 * reported why. The key "_comment" is allowed in every object for notes to readers.
 */
#ifndef ONESTOP_SERVICES_DEFCHECK_H
#define ONESTOP_SERVICES_DEFCHECK_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define DEFCHECK_PATH_MAX 256

struct defcheck {
    const char *file; /* base name, e.g. "bulky-refuse.json" */
    json_t *problems; /* array of strings, or NULL to only count */
    size_t count;     /* problems reported so far */
};

void defcheck_problem(struct defcheck *dc, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes parent.key (or key when parent is "") into buf. */
void defcheck_path(char *buf, size_t size, const char *parent, const char *key);
/* Writes parent[index] into buf. */
void defcheck_path_index(char *buf, size_t size, const char *parent, size_t index);
/* Writes parent.key[index] into buf. */
void defcheck_path_key_index(char *buf, size_t size, const char *parent, const char *key,
                             size_t index);

/* Checks obj is an object whose keys are all in allowed (NULL-terminated) and that every key
 * in required (NULL-terminated, may be NULL) is present. Reports each unknown and each
 * missing key. */
bool defcheck_object(struct defcheck *dc, const char *path, const json_t *obj,
                     const char *const *allowed, const char *const *required);

/* obj[key] as a non-empty string; NULL (reported when required or when present but wrong). */
const char *defcheck_string(struct defcheck *dc, const char *path, const json_t *obj,
                            const char *key, bool required);
/* obj[key] as a boolean; absent gives fallback. */
bool defcheck_bool(struct defcheck *dc, const char *path, const json_t *obj, const char *key,
                   bool fallback, bool *out);
/* obj[key] as a whole number in [min, max]. *present says whether it was there. */
bool defcheck_integer(struct defcheck *dc, const char *path, const json_t *obj, const char *key,
                      long min, long max, bool required, long *out, bool *present);
/* obj[key] as whole pence (>= 0): "must be a whole number of pence". */
bool defcheck_pence(struct defcheck *dc, const char *path, const json_t *obj, const char *key,
                    long *out);
/* obj[key] as a "YYYY-MM-DD" calendar date string. */
const char *defcheck_date(struct defcheck *dc, const char *path, const json_t *obj, const char *key,
                          bool required);
/* obj[key] as an array (non-empty when nonempty); NULL when absent or wrong. */
const json_t *defcheck_array(struct defcheck *dc, const char *path, const json_t *obj,
                             const char *key, bool required, bool nonempty);

#endif
