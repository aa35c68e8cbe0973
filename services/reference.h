/* reference: the short references residents read over the phone, e.g. "RP-4K7M-9Q2X".
 *
 * A reference is a two-letter service prefix, then seven random symbols and one check
 * symbol, shown as two groups of four. Symbols come from Crockford's base 32 without Z:
 * "0123456789ABCDEFGHJKMNPQRSTVWXY" -- 31 symbols, a prime number, so a weighted sum
 * modulo 31 catches every single wrong symbol and every swap of two neighbours.
 */
#ifndef ONESTOP_SERVICES_REFERENCE_H
#define ONESTOP_SERVICES_REFERENCE_H

#include <stdbool.h>
#include <stddef.h>

#define REFERENCE_ALPHABET   "0123456789ABCDEFGHJKMNPQRSTVWXY"
#define REFERENCE_RADIX      31
#define REFERENCE_PREFIX_LEN 2
#define REFERENCE_RANDOM_LEN 7
#define REFERENCE_GROUP_LEN  4
#define REFERENCE_LEN        12 /* "RP-4K7M-9Q2X" */
#define REFERENCE_SIZE       (REFERENCE_LEN + 1)
/* Longest input reference_parse() will look at (spaces and hyphens are ignored). */
#define REFERENCE_INPUT_MAX 64

/* True when prefix is two letters of the alphabet (no I, L, O, U or Z), upper case. */
bool reference_prefix_valid(const char *prefix);

/* Writes a fresh reference with this prefix into out (at least REFERENCE_SIZE bytes).
 * Symbols come from RAND_bytes with rejection sampling, so each is uniform. False when the
 * prefix is not valid, out is too small or the random generator failed. */
bool reference_generate(const char *prefix, char *out, size_t outlen)
    __attribute__((warn_unused_result));

/* Reads a reference the way a person types or says it: case-insensitive, spaces and hyphens
 * ignored, O read as 0, I and L read as 1. Writes the canonical form ("RP-4K7M-9Q2X") into
 * out and returns true when the check symbol is right; otherwise returns false and leaves
 * out holding "". */
bool reference_parse(const char *in, char *out, size_t outlen) __attribute__((warn_unused_result));

/* True when reference_parse() would accept in. */
bool reference_valid(const char *in);

/* The check symbol's value (0-30) for n symbol values (each 0-30): the c for which
 * sum(v[i] * 3^(n-i)) + c == 0 (mod 31). Exposed for the tests' proofs. */
int reference_check_value(const int *values, size_t n);

#endif
