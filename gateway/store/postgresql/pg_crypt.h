/* pg_crypt: the personal data functions evaluated in the client for the PostgreSQL engine,
 * with the SQLite engine's meaning (store_crypt.c): seal and open under field_crypt's keys,
 * and the blind index of a limit key's value.
 *
 * Each takes an optional context (additional data bound to the value, e.g. the row it belongs
 * to). field_crypt has no context variant yet: pg_crypt.c is the one place to pass it on. */
#ifndef ONESTOP_STORE_PG_CRYPT_H
#define ONESTOP_STORE_PG_CRYPT_H

#include <stdbool.h>
#include <stddef.h>

struct field_crypt;

/* plain sealed into a new string in *out (free()). false with a message in err. */
bool pg_crypt_seal(const struct field_crypt *fc, const char *plain, const char *context, char **out,
                   char *err, size_t errlen) __attribute__((warn_unused_result));
/* text opened into a new string in *out (free()); false with a message naming the key id
 * when its key is not loaded or the value was altered. */
bool pg_crypt_open(const struct field_crypt *fc, const char *text, const char *context, char **out,
                   char *err, size_t errlen) __attribute__((warn_unused_result));
/* The blind index of value under name into a new string in *out (free()); NULL in *out when
 * value itself is to be sent (no index key, NULL or already an index), as pd_blind does. */
bool pg_crypt_blind(const struct field_crypt *fc, const char *name, const char *value, char **out,
                    char *err, size_t errlen) __attribute__((warn_unused_result));

#endif
