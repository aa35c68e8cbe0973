/* validators: the shared checks for the identifiers, amounts and dates residents give at the
 * counter (DOMAIN.md). Every checker is pure, thread-safe and allocation-free: it reads a
 * NUL-terminated input, writes the normalised form into a caller buffer, and returns false
 * (leaving the buffer holding "") when the input is not valid or the buffer is too small.
 * Buffer sizes are the *_SIZE constants below (they include the terminating NUL).
 */
#ifndef ONESTOP_SERVICES_VALIDATORS_H
#define ONESTOP_SERVICES_VALIDATORS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define VALIDATORS_WUR __attribute__((warn_unused_result))

/* Longest input any validator looks at; longer input is rejected without being read on. */
#define VALIDATORS_INPUT_MAX 64

#define VALIDATORS_POSTCODE_SIZE   9  /* "AA9A 9AA" */
#define VALIDATORS_VRM_SIZE        8  /* "AB12CDE" (stored form) */
#define VALIDATORS_VRM_PAPER_SIZE  9  /* "AB12 CDE" (DVLA spacing) */
#define VALIDATORS_NHS_SIZE        11 /* "9434765919" */
#define VALIDATORS_NHS_PAPER_SIZE  13 /* "943 476 5919" */
#define VALIDATORS_NINO_SIZE       10 /* "AB123456C" */
#define VALIDATORS_UPRN_SIZE       13 /* up to 12 digits */
#define VALIDATORS_UBRN_SIZE       13 /* exactly 12 digits */
#define VALIDATORS_PHONE_SIZE      12 /* "01614804949" */
#define VALIDATORS_MONEY_SIZE      32 /* "-£92233720368547758.07" fits */
#define VALIDATORS_DATE_SIZE       11 /* "2026-04-01" */
#define VALIDATORS_DATE_WORDS_SIZE 20 /* "30 September 2026" */

#define VALIDATORS_UPRN_DIGITS_MAX 12
#define VALIDATORS_UBRN_DIGITS     12

/* ---- Postcode (BS 7666) ------------------------------------------------------------------ */

/* Checks a postcode against the strict BS 7666 pattern (or GIR 0AA). Case and spacing are
 * forgiven: "sk13xe", "SK1  3XE" and "SK1 3XE" all normalise to "SK1 3XE". */
bool validators_postcode_normalise(const char *in, char *out, size_t outlen) VALIDATORS_WUR;

/* True when a normalised postcode is in Stockport's postal areas: SK or M. (Those areas also
 * cover neighbouring boroughs; a service that needs the exact boundary uses the gazetteer.) */
bool validators_postcode_in_borough(const char *normalised);

/* ---- Vehicle registration mark (DVLA) ----------------------------------------------------- */

enum validators_vrm_kind {
    VALIDATORS_VRM_INVALID = 0,
    VALIDATORS_VRM_CURRENT,  /* AB12 CDE (2001-) */
    VALIDATORS_VRM_PREFIX,   /* A123 BCD (1983-2001) */
    VALIDATORS_VRM_SUFFIX,   /* ABC 123D (1963-1983) */
    VALIDATORS_VRM_DATELESS, /* 1234 AB, AB 1234 (before 1963) */
    VALIDATORS_VRM_NI,       /* ABZ 1234 (Northern Ireland: the area code holds I or Z) */
};

/* Classifies a registration (case and spaces forgiven). */
enum validators_vrm_kind validators_vrm_kind(const char *in);

/* Normalises a registration for storage: upper case, no spaces ("AB12CDE"). */
bool validators_vrm_normalise(const char *in, char *out, size_t outlen) VALIDATORS_WUR;

/* Writes a registration with DVLA spacing for paper ("AB12 CDE", "A123 BCD", "ABC 123D"). */
bool validators_vrm_paper(const char *in, char *out, size_t outlen) VALIDATORS_WUR;

/* ---- NHS number, National Insurance number, UPRN, UBRN, phone ----------------------------- */

/* NHS number: 10 digits (spaces and dashes ignored) whose modulus 11 check digit is right. */
bool validators_nhs_number_normalise(const char *in, char *out, size_t outlen) VALIDATORS_WUR;
/* NHS number in the 3-3-4 form used on paper ("943 476 5919"). */
bool validators_nhs_number_paper(const char *in, char *out, size_t outlen) VALIDATORS_WUR;

/* National Insurance number: upper case without spaces ("AB123456C"); checks the HMRC
 * pattern and the prefixes never issued (BG, GB, KN, NK, NT, TN, ZZ). */
bool validators_nino_normalise(const char *in, char *out, size_t outlen) VALIDATORS_WUR;

/* UPRN: 1 to 12 digits (leading zeros allowed on input, dropped in the normalised form, since
 * a UPRN is a number); surrounding spaces ignored. */
bool validators_uprn_normalise(const char *in, char *out, size_t outlen) VALIDATORS_WUR;

/* UBRN (NHS e-Referral booking reference): exactly 12 digits; spaces and dashes ignored. */
bool validators_ubrn_normalise(const char *in, char *out, size_t outlen) VALIDATORS_WUR;

/* UK telephone number: spaces, dashes, dots and brackets ignored; +44, 0044 and "+44 (0)"
 * become 0. Valid: 11 digits starting 01, 02, 03, 05, 07 or 08, or one of the 10-digit
 * ranges (0800 xxx xxx, 016977 xxxx). Output: digits only ("01614804949"). */
bool validators_phone_normalise(const char *in, char *out, size_t outlen) VALIDATORS_WUR;

/* ---- Money (integer pence) ---------------------------------------------------------------- */

/* Parses "41.50", "£41.50", "41", "41.5" (surrounding spaces ignored) into pence. Rejects
 * negatives, more than two decimals, thousands separators, empty input and overflow. */
bool validators_money_parse(const char *in, long *pence) VALIDATORS_WUR;

/* Formats pence as "£41.50" (UTF-8 pound sign; "-£2.00" for negatives). False when the
 * buffer is too small (VALIDATORS_MONEY_SIZE is always enough). */
bool validators_money_format(long pence, char *out, size_t outlen) VALIDATORS_WUR;

/* ---- Dates (proleptic Gregorian calendar, years 1 to 9999) -------------------------------- */

struct validators_date {
    int year;
    int month; /* 1-12 */
    int day;   /* 1-31 */
};

bool validators_date_is_leap_year(int year);
int validators_date_days_in_month(int year, int month);

/* Parses exactly "YYYY-MM-DD" and checks it is a real calendar date. */
bool validators_date_parse(const char *in, struct validators_date *out) VALIDATORS_WUR;
/* Writes "YYYY-MM-DD" into out (VALIDATORS_DATE_SIZE bytes). */
void validators_date_format(struct validators_date d, char out[VALIDATORS_DATE_SIZE]);
/* Writes the date in words for people: "1 April 2026". False when out is too small
 * (VALIDATORS_DATE_WORDS_SIZE is always enough) or d is not a real date. */
bool validators_date_words(struct validators_date d, char *out, size_t outlen) VALIDATORS_WUR;
/* True when d is a real calendar date in range. */
bool validators_date_valid(struct validators_date d);

/* Negative, zero or positive as a is before, the same day as, or after b. */
int validators_date_compare(struct validators_date a, struct validators_date b);
/* Days from a to b (positive when b is later). */
long validators_date_days_between(struct validators_date a, struct validators_date b);
/* Adds (or, when negative, subtracts) days. False when the result leaves years 1-9999. */
bool validators_date_add_days(struct validators_date d, long days,
                              struct validators_date *out) VALIDATORS_WUR;
/* Adds whole years; 29 February in a year that is not a leap year becomes 1 March, so
 * "add one year, then subtract one day" is always the day before the anniversary. */
bool validators_date_add_years(struct validators_date d, int years,
                               struct validators_date *out) VALIDATORS_WUR;
/* ISO weekday: 1 = Monday ... 7 = Sunday. */
int validators_date_weekday(struct validators_date d);

/* The calendar date in Europe/London at the instant now, from tzdata through
 * common/uktime.h (thread-safe; never changes TZ after the zone is first read). */
struct validators_date validators_date_today_london(time_t now);
/* Days since 1970-01-01 (negative before) and back. */
long validators_date_to_days(struct validators_date d);
struct validators_date validators_date_from_days(long days);

#endif
