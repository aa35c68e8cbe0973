/* reference: generating and reading back transaction references.
 *
 * DESIGN: the canonical reference "RP-4K7M-9Q2X" is the symbol string "RP4K7M9Q2X": prefix
 * letters, seven random symbols, check symbol. With n = 9 data symbols v[0..8] and weights
 * w[i] = 3^(n-i) mod 31 the check c satisfies sum(v[i]*w[i]) + c = 0 (mod 31), i.e. the check
 * has weight 3^0 = 1. 31 is prime and 3 is a primitive root modulo 31 (order 30), so:
 *  - one wrong symbol changes the sum by (v'-v)*w with both factors non-zero mod 31: caught;
 *  - swapping unequal neighbours at i, i+1 changes it by (a-b)*(w[i]-w[i+1]) =
 *    (a-b)*w[i+1]*(3-1), again a product of non-zero factors mod a prime: caught, and the
 *    check symbol is the last neighbour with weight 1, so swaps with it are caught too.
 * tests/unit/test_reference.c checks both claims exhaustively over a large random sample.
 * Randomness: RAND_bytes, one byte per symbol, bytes >= 248 (8*31) rejected so that every
 * symbol is equally likely. Each thread draws RANDOM_POOL bytes at a time and uses each byte
 * once (a RAND_bytes call costs far more than the bytes it gives; the daemon never forks, so
 * no two processes share a pool).
 */
#include "services/reference.h"

#include <ctype.h>
#include <string.h>

#include <openssl/rand.h>

#define REFERENCE_SYMBOLS (REFERENCE_PREFIX_LEN + REFERENCE_RANDOM_LEN + 1)
#define REFERENCE_WEIGHT  3
#define RANDOM_BYTE_LIMIT ((256 / REFERENCE_RADIX) * REFERENCE_RADIX) /* 248 */
#define RANDOM_POOL       512 /* bytes drawn from RAND_bytes at once, per thread */

/* A symbol's value, or -1. Accepts only canonical upper-case symbols. */
static int symbol_value(char c)
{
    const char *p = c ? strchr(REFERENCE_ALPHABET, c) : NULL;
    return p ? (int)(p - REFERENCE_ALPHABET) : -1;
}

bool reference_prefix_valid(const char *prefix)
{
    if (!prefix || strlen(prefix) != REFERENCE_PREFIX_LEN)
        return false;
    for (size_t i = 0; i < REFERENCE_PREFIX_LEN; i++)
        if (!isupper((unsigned char)prefix[i]) || symbol_value(prefix[i]) < 0)
            return false;
    return true;
}

int reference_check_value(const int *values, size_t n)
{
    int sum = 0, weight = 1;
    /* Walk from the last data symbol (weight 3^1) back to the first (weight 3^n). */
    for (size_t k = n; k-- > 0;) {
        weight = weight * REFERENCE_WEIGHT % REFERENCE_RADIX;
        sum = (sum + values[k] * weight) % REFERENCE_RADIX;
    }
    return (REFERENCE_RADIX - sum) % REFERENCE_RADIX;
}

/* Writes symbols (REFERENCE_SYMBOLS of them) as "PP-XXXX-XXXX". */
static bool format_canonical(const char *symbols, char *out, size_t outlen)
{
    if (!out || outlen < REFERENCE_SIZE)
        return false;
    memcpy(out, symbols, REFERENCE_PREFIX_LEN);
    out[2] = '-';
    memcpy(out + 3, symbols + REFERENCE_PREFIX_LEN, REFERENCE_GROUP_LEN);
    out[7] = '-';
    memcpy(out + 8, symbols + REFERENCE_PREFIX_LEN + REFERENCE_GROUP_LEN, REFERENCE_GROUP_LEN);
    out[REFERENCE_LEN] = '\0';
    return true;
}

static _Thread_local unsigned char random_pool[RANDOM_POOL];
static _Thread_local size_t random_used = RANDOM_POOL;

/* The next unused random byte of this thread's pool; false when RAND_bytes fails. */
static bool random_byte(unsigned char *out)
{
    if (random_used == RANDOM_POOL) {
        if (RAND_bytes(random_pool, sizeof random_pool) != 1)
            return false;
        random_used = 0;
    }
    *out = random_pool[random_used];
    random_pool[random_used++] = 0; /* used once, then forgotten */
    return true;
}

bool reference_generate(const char *prefix, char *out, size_t outlen)
{
    char symbols[REFERENCE_SYMBOLS];
    int values[REFERENCE_SYMBOLS];
    if (out && outlen > 0)
        out[0] = '\0';
    if (!reference_prefix_valid(prefix) || !out || outlen < REFERENCE_SIZE)
        return false;
    for (size_t i = 0; i < REFERENCE_PREFIX_LEN; i++) {
        symbols[i] = prefix[i];
        values[i] = symbol_value(prefix[i]);
    }
    size_t have = REFERENCE_PREFIX_LEN;
    while (have < REFERENCE_PREFIX_LEN + REFERENCE_RANDOM_LEN) {
        unsigned char b;
        if (!random_byte(&b))
            return false;
        if (b >= RANDOM_BYTE_LIMIT)
            continue;
        values[have] = b % REFERENCE_RADIX;
        symbols[have] = REFERENCE_ALPHABET[values[have]];
        have++;
    }
    int check = reference_check_value(values, have);
    symbols[have] = REFERENCE_ALPHABET[check];
    return format_canonical(symbols, out, outlen);
}

/* Crockford's reading of a typed character: upper case, O as 0, I and L as 1. */
static char read_symbol(char c)
{
    c = (char)toupper((unsigned char)c);
    if (c == 'O')
        return '0';
    if (c == 'I' || c == 'L')
        return '1';
    return c;
}

bool reference_parse(const char *in, char *out, size_t outlen)
{
    char symbols[REFERENCE_SYMBOLS];
    int values[REFERENCE_SYMBOLS];
    size_t n = 0;
    if (out && outlen > 0)
        out[0] = '\0';
    if (!in || strlen(in) > REFERENCE_INPUT_MAX)
        return false;
    for (const char *p = in; *p; p++) {
        if (*p == ' ' || *p == '-')
            continue;
        if (n == REFERENCE_SYMBOLS)
            return false;
        char c = read_symbol(*p);
        int v = symbol_value(c);
        if (v < 0)
            return false;
        if (n < REFERENCE_PREFIX_LEN && !isupper((unsigned char)c))
            return false; /* the prefix is letters */
        symbols[n] = c;
        values[n] = v;
        n++;
    }
    if (n != REFERENCE_SYMBOLS)
        return false;
    if (reference_check_value(values, n - 1) != values[n - 1])
        return false;
    return format_canonical(symbols, out, outlen);
}

bool reference_valid(const char *in)
{
    char canonical[REFERENCE_SIZE];
    return reference_parse(in, canonical, sizeof canonical);
}
