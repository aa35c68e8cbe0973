/* pg_crypt: the personal data functions evaluated in the client for the PostgreSQL engine,
 * with the SQLite engine's meaning (store_crypt.c): seal and open under field_crypt's keys,
 * bound to the value's context (GCM associated data: a transaction's reference, or
 * "<table>.<column>"), and the blind index of a limit key's value. */
#ifndef ONESTOP_STORE_PG_CRYPT_H
#define ONESTOP_STORE_PG_CRYPT_H

#include <stdbool.h>
#include <stddef.h>

struct field_crypt;

/* plain sealed into a new string in *out (free()); with only set and no data key, *out is
 * NULL (pd_seal_only). false with a message in err. */
bool pg_crypt_seal(const struct field_crypt *fc, const char *plain, const char *context, bool only,
                   char **out, char *err, size_t errlen) __attribute__((warn_unused_result));
/* text opened into a new string in *out (free()); false with a message naming the key id
 * when its key is not loaded, the value was altered or it belongs to another context. */
bool pg_crypt_open(const struct field_crypt *fc, const char *text, const char *context, char **out,
                   char *err, size_t errlen) __attribute__((warn_unused_result));
/* The blind index of value under name into a new string in *out (free()). pd_blind (old
 * false): NULL in *out when value itself is to be sent (no index key, NULL or already an
 * index). pd_blind_old (old true): NULL when there is no old index key (it matches nothing). */
bool pg_crypt_blind(const struct field_crypt *fc, const char *name, const char *value, bool old,
                    char **out, char *err, size_t errlen) __attribute__((warn_unused_result));

#endif
