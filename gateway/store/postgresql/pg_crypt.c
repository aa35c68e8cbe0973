/* pg_crypt: pd_seal, pd_seal_only, pd_open, pd_blind and pd_blind_old for the PostgreSQL
 * engine (see pg_crypt.h). */
#include "gateway/store/postgresql/pg_crypt.h"

#include "gateway/data_keys.h"
#include "gateway/field_crypt.h"
#include "gateway/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool pg_crypt_seal(const struct field_crypt *fc, const char *plain, const char *context, bool only,
                   char **out, char *err, size_t errlen)
{
    *out = NULL;
    if (only && (!fc || !data_keys_current(fc->data)))
        return true;
    if (field_seal(fc, plain, context, out))
        return true;
    snprintf(err, errlen, "personal data cannot be sealed");
    return false;
}

bool pg_crypt_open(const struct field_crypt *fc, const char *text, const char *context, char **out,
                   char *err, size_t errlen)
{
    *out = NULL;
    if (field_open(fc, text, context, out, err, errlen))
        return true;
    /* as store_crypt.c: say why with the context (a reference or a column, never a value) */
    log_msg(LOG_ERROR, "personal_data_unreadable", "%s: %s", context ? context : "-", err);
    return false;
}

bool pg_crypt_blind(const struct field_crypt *fc, const char *name, const char *value, bool old,
                    char **out, char *err, size_t errlen)
{
    *out = NULL;
    char index[FIELD_BLIND_SIZE];
    if (old) {
        if (!name || !value || !field_blind_old(fc, name, value, index))
            return true; /* no old key: NULL matches nothing */
    } else {
        if (!name || !value || !fc || !fc->index ||
            strncmp(value, FIELD_BLIND_PREFIX, sizeof FIELD_BLIND_PREFIX - 1) == 0)
            return true;
        if (!field_blind(fc, name, value, index)) {
            snprintf(err, errlen, "a blind index cannot be made");
            return false;
        }
    }
    *out = strdup(index);
    if (!*out) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    return true;
}
