/* pg_crypt: pd_seal, pd_open and pd_blind for the PostgreSQL engine (see pg_crypt.h). */
#include "gateway/store/postgresql/pg_crypt.h"

#include "gateway/field_crypt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool pg_crypt_seal(const struct field_crypt *fc, const char *plain, const char *context, char **out,
                   char *err, size_t errlen)
{
    (void)context; /* TODO(field_crypt context): pass it as AES-GCM additional data */
    *out = NULL;
    if (field_seal(fc, plain, out))
        return true;
    snprintf(err, errlen, "personal data cannot be sealed");
    return false;
}

bool pg_crypt_open(const struct field_crypt *fc, const char *text, const char *context, char **out,
                   char *err, size_t errlen)
{
    (void)context; /* TODO(field_crypt context): pass it as AES-GCM additional data */
    *out = NULL;
    return field_open(fc, text, out, err, errlen);
}

bool pg_crypt_blind(const struct field_crypt *fc, const char *name, const char *value, char **out,
                    char *err, size_t errlen)
{
    *out = NULL;
    if (!name || !value || !fc || !fc->index ||
        strncmp(value, FIELD_BLIND_PREFIX, sizeof FIELD_BLIND_PREFIX - 1) == 0)
        return true;
    char index[FIELD_BLIND_SIZE];
    if (!field_blind(fc, name, value, index)) {
        snprintf(err, errlen, "a blind index cannot be made");
        return false;
    }
    *out = strdup(index);
    if (!*out) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    return true;
}
