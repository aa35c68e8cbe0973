/*
 * application/x-www-form-urlencoded bodies (Open311 POSTs): "a=1&b=x+y&attribute%5Bslot%5D=..."
 */
#ifndef ONESTOP_SIM_FORM_H
#define ONESTOP_SIM_FORM_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define FORM_MAX_FIELDS 64

/* Parses a form body into a new JSON object of decoded name -> value strings
 * ('+' is a space, %XX a byte). Empty pieces ("a=1&&b=2") are skipped; a name without
 * '=' has the value "". False, with *error set for the reply, on a bad %-escape, a
 * repeated name, a decoded NUL, text that is not UTF-8, or more than FORM_MAX_FIELDS
 * fields. On success the caller owns *out (json_decref). */
__attribute__((warn_unused_result)) bool form_parse(const char *body, size_t len, json_t **out,
                                                    const char **error);

/* Decodes one %-encoded piece into a new malloc'd NUL-terminated string; NULL on a
 * bad escape, a decoded NUL, or no memory. */
char *form_decode(const char *s, size_t len);

#endif
