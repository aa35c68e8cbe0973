/* validators: postcode, VRM, NHS number, NINO, UPRN, UBRN, phone, money and date checks.
 *
 * DESIGN: every checker first copies its input into a bounded scratch buffer while dropping
 * the characters people type between groups (spaces, sometimes dashes) and folding case, then
 * checks the compact form. The two patterns DOMAIN.md gives as regular expressions (postcode
 * and NINO) are used verbatim as POSIX extended regexes, compiled once (pthread_once) and
 * shared: glibc's regexec is thread-safe on a compiled pattern. The exclusions POSIX regex
 * cannot say (no look-ahead) are done in code. Dates are counted as days from 1970-01-01 in
 * the proleptic Gregorian calendar, which makes adding days and weekdays plain arithmetic.
 */
#include "services/validators.h"

#include "common/uktime.h"

#include <ctype.h>
#include <limits.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>

#define POSTCODE_PATTERN                                                                           \
    "^([A-PR-UWYZ][0-9][0-9]?|[A-PR-UWYZ][A-HK-Y][0-9][0-9]?|[A-PR-UWYZ][0-9][A-HJKPSTUW]|"        \
    "[A-PR-UWYZ][A-HK-Y][0-9][ABEHMNPRVWXY]) ?[0-9][ABD-HJLNP-UW-Z]{2}$"
#define NINO_PATTERN "^[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][0-9]{6}[A-D]$"

#define POSTCODE_COMPACT_MIN 5 /* "M11AA" */
#define POSTCODE_COMPACT_MAX 7 /* "SW1A1AA" */
#define POSTCODE_INWARD_LEN  3
#define NHS_DIGITS           10
#define NHS_MODULUS          11
#define PHONE_DIGITS_MIN     10
#define PHONE_DIGITS_MAX     11
#define SECONDS_PER_DAY      86400L
#define YEAR_MIN             1
#define YEAR_MAX             9999

static regex_t postcode_re;
static regex_t nino_re;
static bool patterns_ok;
static pthread_once_t patterns_once = PTHREAD_ONCE_INIT;

static void patterns_compile(void)
{
    patterns_ok = regcomp(&postcode_re, POSTCODE_PATTERN, REG_EXTENDED | REG_NOSUB) == 0 &&
                  regcomp(&nino_re, NINO_PATTERN, REG_EXTENDED | REG_NOSUB) == 0;
}

static bool pattern_match(const regex_t *re, const char *s)
{
    pthread_once(&patterns_once, patterns_compile);
    return patterns_ok && regexec(re, s, 0, NULL, 0) == 0;
}

/* Empties out (when there is room) and returns false: the common failure exit. */
static bool fail(char *out, size_t outlen)
{
    if (out && outlen > 0)
        out[0] = '\0';
    return false;
}

static bool put(const char *s, char *out, size_t outlen)
{
    size_t n = strlen(s);
    if (!out || n + 1 > outlen)
        return fail(out, outlen);
    memcpy(out, s, n + 1);
    return true;
}

/* Copies in into buf (size bufsize) upper-cased, dropping every character in skip. False when
 * the input is missing, too long or holds a character that is not printable ASCII. */
static bool compact(const char *in, const char *skip, char *buf, size_t bufsize)
{
    size_t n = 0;
    if (!in)
        return false;
    for (size_t i = 0; in[i]; i++) {
        unsigned char c = (unsigned char)in[i];
        if (i >= VALIDATORS_INPUT_MAX || c < 0x20 || c > 0x7e)
            return false;
        if (strchr(skip, c))
            continue;
        if (n + 1 >= bufsize)
            return false;
        buf[n++] = (char)toupper(c);
    }
    buf[n] = '\0';
    return true;
}

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

/* ---- Postcode ---------------------------------------------------------------------------- */

bool validators_postcode_normalise(const char *in, char *out, size_t outlen)
{
    char c[VALIDATORS_INPUT_MAX + 1];
    char spaced[VALIDATORS_POSTCODE_SIZE];
    if (!compact(in, " \t", c, sizeof c))
        return fail(out, outlen);
    size_t n = strlen(c);
    if (n < POSTCODE_COMPACT_MIN || n > POSTCODE_COMPACT_MAX)
        return fail(out, outlen);
    size_t outward = n - POSTCODE_INWARD_LEN;
    snprintf(spaced, sizeof spaced, "%.*s %s", (int)outward, c, c + outward);
    if (strcmp(spaced, "GIR 0AA") != 0 && !pattern_match(&postcode_re, spaced))
        return fail(out, outlen);
    return put(spaced, out, outlen);
}

bool validators_postcode_in_borough(const char *normalised)
{
    if (!normalised)
        return false;
    if (strncmp(normalised, "SK", 2) == 0 && isdigit((unsigned char)normalised[2]))
        return true;
    return normalised[0] == 'M' && isdigit((unsigned char)normalised[1]);
}

/* ---- Vehicle registration mark ------------------------------------------------------------ */

/* A registration's shape: alternating runs of letters and digits. */
struct vrm_shape {
    size_t runs;
    size_t start[3];
    size_t len[3];
    bool letters[3];
};

static bool vrm_shape(const char *c, struct vrm_shape *s)
{
    memset(s, 0, sizeof *s);
    for (size_t i = 0; c[i]; i++) {
        bool letter = isupper((unsigned char)c[i]) != 0;
        if (!letter && !isdigit((unsigned char)c[i]))
            return false;
        if (s->runs == 0 || s->letters[s->runs - 1] != letter) {
            if (s->runs == 3)
                return false;
            s->start[s->runs] = i;
            s->letters[s->runs] = letter;
            s->runs++;
        }
        s->len[s->runs - 1]++;
    }
    return s->runs > 0;
}

static bool letters_avoid(const char *c, size_t start, size_t len, const char *banned)
{
    for (size_t i = start; i < start + len; i++)
        if (strchr(banned, c[i]))
            return false;
    return true;
}

/* Year letters of the prefix and suffix series: I, O, Q, U and Z were never used. */
#define VRM_YEAR_LETTER_BANNED "IOQUZ"
/* Serial and area letters: I and Q are never used, Z only in Northern Ireland marks. */
#define VRM_SERIAL_BANNED "IQZ"

static enum validators_vrm_kind vrm_classify(const char *c)
{
    struct vrm_shape s;
    size_t n = strlen(c);
    if (n < 2 || n > VALIDATORS_VRM_SIZE - 1 || !vrm_shape(c, &s))
        return VALIDATORS_VRM_INVALID;
    /* Current: AB12 CDE. No I or Q anywhere, no Z in the memory tag, age not 00, 01, 50. */
    if (s.runs == 3 && s.letters[0] && s.len[0] == 2 && s.len[1] == 2 && s.len[2] == 3) {
        int age = (c[2] - '0') * 10 + (c[3] - '0');
        if (!letters_avoid(c, 0, 2, "IQZ") || !letters_avoid(c, 4, 3, "IQ") || age == 0 ||
            age == 1 || age == 50)
            return VALIDATORS_VRM_INVALID;
        return VALIDATORS_VRM_CURRENT;
    }
    /* Runs of digits never start with 0 in the older series. */
    for (size_t r = 0; r < s.runs; r++)
        if (!s.letters[r] && c[s.start[r]] == '0')
            return VALIDATORS_VRM_INVALID;
    /* Prefix: A123 BCD. */
    if (s.runs == 3 && s.letters[0] && s.len[0] == 1 && s.len[1] <= 3 && s.len[2] == 3) {
        if (!letters_avoid(c, 0, 1, VRM_YEAR_LETTER_BANNED) ||
            !letters_avoid(c, s.start[2], 3, VRM_SERIAL_BANNED))
            return VALIDATORS_VRM_INVALID;
        return VALIDATORS_VRM_PREFIX;
    }
    /* Suffix: ABC 123D. */
    if (s.runs == 3 && s.letters[0] && s.len[0] == 3 && s.len[1] <= 3 && s.len[2] == 1) {
        if (!letters_avoid(c, 0, 3, VRM_SERIAL_BANNED) ||
            !letters_avoid(c, s.start[2], 1, VRM_YEAR_LETTER_BANNED))
            return VALIDATORS_VRM_INVALID;
        return VALIDATORS_VRM_SUFFIX;
    }
    if (s.runs != 2)
        return VALIDATORS_VRM_INVALID;
    size_t lr = s.letters[0] ? 0 : 1, dr = 1 - lr;
    if (s.len[lr] > 3 || s.len[dr] > 4 || !letters_avoid(c, s.start[lr], s.len[lr], "Q"))
        return VALIDATORS_VRM_INVALID;
    /* Northern Ireland: letters then digits, the last two letters an NI code (holds I or Z). */
    if (lr == 0 && s.len[0] >= 2 &&
        (strchr("IZ", c[s.len[0] - 1]) || strchr("IZ", c[s.len[0] - 2])))
        return VALIDATORS_VRM_NI;
    return VALIDATORS_VRM_DATELESS;
}

enum validators_vrm_kind validators_vrm_kind(const char *in)
{
    char c[VALIDATORS_INPUT_MAX + 1];
    if (!compact(in, " ", c, sizeof c))
        return VALIDATORS_VRM_INVALID;
    return vrm_classify(c);
}

bool validators_vrm_normalise(const char *in, char *out, size_t outlen)
{
    char c[VALIDATORS_INPUT_MAX + 1];
    if (!compact(in, " ", c, sizeof c) || vrm_classify(c) == VALIDATORS_VRM_INVALID)
        return fail(out, outlen);
    return put(c, out, outlen);
}

bool validators_vrm_paper(const char *in, char *out, size_t outlen)
{
    char c[VALIDATORS_INPUT_MAX + 1];
    char paper[VALIDATORS_VRM_PAPER_SIZE];
    struct vrm_shape s;
    if (!compact(in, " ", c, sizeof c))
        return fail(out, outlen);
    enum validators_vrm_kind kind = vrm_classify(c);
    if (kind == VALIDATORS_VRM_INVALID || !vrm_shape(c, &s))
        return fail(out, outlen);
    size_t split;
    switch (kind) {
    case VALIDATORS_VRM_CURRENT:
        split = 4; /* AB12 CDE */
        break;
    case VALIDATORS_VRM_PREFIX:
        split = s.start[2]; /* A123 BCD */
        break;
    default:
        split = s.start[1]; /* ABC 123D, ABC 123, 123 ABC, ABZ 1234 */
        break;
    }
    snprintf(paper, sizeof paper, "%.*s %s", (int)split, c, c + split);
    return put(paper, out, outlen);
}

/* ---- NHS number, NINO, UPRN, UBRN, phone -------------------------------------------------- */

bool validators_nhs_number_normalise(const char *in, char *out, size_t outlen)
{
    char c[VALIDATORS_INPUT_MAX + 1];
    if (!compact(in, " -", c, sizeof c) || strlen(c) != NHS_DIGITS || !all_digits(c))
        return fail(out, outlen);
    int sum = 0;
    for (int i = 0; i < NHS_DIGITS - 1; i++)
        sum += (c[i] - '0') * (NHS_DIGITS - i); /* weights 10 .. 2 */
    int check = NHS_MODULUS - sum % NHS_MODULUS;
    if (check == NHS_MODULUS)
        check = 0;
    if (check == 10 || check != c[NHS_DIGITS - 1] - '0')
        return fail(out, outlen);
    return put(c, out, outlen);
}

bool validators_nhs_number_paper(const char *in, char *out, size_t outlen)
{
    char d[VALIDATORS_NHS_SIZE];
    char paper[VALIDATORS_NHS_PAPER_SIZE];
    if (!validators_nhs_number_normalise(in, d, sizeof d))
        return fail(out, outlen);
    snprintf(paper, sizeof paper, "%.3s %.3s %.4s", d, d + 3, d + 6);
    return put(paper, out, outlen);
}

static const char *const nino_never_issued[] = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"};

bool validators_nino_normalise(const char *in, char *out, size_t outlen)
{
    char c[VALIDATORS_INPUT_MAX + 1];
    if (!compact(in, " ", c, sizeof c) || !pattern_match(&nino_re, c))
        return fail(out, outlen);
    for (size_t i = 0; i < sizeof nino_never_issued / sizeof nino_never_issued[0]; i++)
        if (strncmp(c, nino_never_issued[i], 2) == 0)
            return fail(out, outlen);
    return put(c, out, outlen);
}

/* Copies in without leading and trailing spaces into buf. */
static bool trimmed(const char *in, char *buf, size_t bufsize)
{
    if (!in || strlen(in) > VALIDATORS_INPUT_MAX)
        return false;
    while (*in == ' ')
        in++;
    size_t n = strlen(in);
    while (n > 0 && in[n - 1] == ' ')
        n--;
    if (n + 1 > bufsize)
        return false;
    memcpy(buf, in, n);
    buf[n] = '\0';
    return true;
}

bool validators_uprn_normalise(const char *in, char *out, size_t outlen)
{
    char c[VALIDATORS_INPUT_MAX + 1];
    if (!trimmed(in, c, sizeof c) || !all_digits(c) || strlen(c) > VALIDATORS_UPRN_DIGITS_MAX)
        return fail(out, outlen);
    const char *p = c;
    while (p[0] == '0' && p[1] != '\0')
        p++; /* a UPRN is a number: "000123" and "123" are one address */
    return put(p, out, outlen);
}

bool validators_ubrn_normalise(const char *in, char *out, size_t outlen)
{
    char c[VALIDATORS_INPUT_MAX + 1];
    if (!compact(in, " -", c, sizeof c) || !all_digits(c) || strlen(c) != VALIDATORS_UBRN_DIGITS)
        return fail(out, outlen);
    return put(c, out, outlen);
}

bool validators_phone_normalise(const char *in, char *out, size_t outlen)
{
    char c[VALIDATORS_INPUT_MAX + 1];
    char national[VALIDATORS_INPUT_MAX + 2];
    if (!compact(in, " -.()", c, sizeof c))
        return fail(out, outlen);
    const char *rest = NULL;
    if (strncmp(c, "+44", 3) == 0)
        rest = c + 3;
    else if (strncmp(c, "0044", 4) == 0)
        rest = c + 4;
    if (rest) {
        if (*rest == '0') /* "+44 (0)161 ..." */
            rest++;
        snprintf(national, sizeof national, "0%s", rest);
    } else {
        snprintf(national, sizeof national, "%s", c);
    }
    size_t n = strlen(national);
    if (!all_digits(national) || national[0] != '0' || !strchr("123578", national[1]))
        return fail(out, outlen);
    /* Numbers are 11 digits, except the few 10-digit ranges still in use (Ofcom). */
    bool ten_digit_range = strncmp(national, "0800", 4) == 0 || strncmp(national, "016977", 6) == 0;
    if (n != PHONE_DIGITS_MAX && !(n == PHONE_DIGITS_MIN && ten_digit_range))
        return fail(out, outlen);
    return put(national, out, outlen);
}

/* ---- Money -------------------------------------------------------------------------------- */

#define POUND_SIGN      "\xc2\xa3"
#define PENCE_PER_POUND 100

bool validators_money_parse(const char *in, long *pence)
{
    char c[VALIDATORS_INPUT_MAX + 1];
    if (!pence || !trimmed(in, c, sizeof c))
        return false;
    const char *p = c;
    if (strncmp(p, POUND_SIGN, strlen(POUND_SIGN)) == 0)
        p += strlen(POUND_SIGN);
    if (!isdigit((unsigned char)*p))
        return false; /* empty, negative, "£", ".50" */
    long pounds = 0;
    for (; isdigit((unsigned char)*p); p++) {
        int digit = *p - '0';
        if (pounds > (LONG_MAX / PENCE_PER_POUND - digit) / 10)
            return false;
        pounds = pounds * 10 + digit;
    }
    long fraction = 0;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)p[0]))
            return false; /* "41." */
        fraction = (p[0] - '0') * 10;
        if (isdigit((unsigned char)p[1])) {
            fraction += p[1] - '0';
            p++;
        }
        p++;
    }
    if (*p != '\0')
        return false; /* a third decimal, a separator or trailing text */
    if (pounds > (LONG_MAX - fraction) / PENCE_PER_POUND)
        return false;
    *pence = pounds * PENCE_PER_POUND + fraction;
    return true;
}

bool validators_money_format(long pence, char *out, size_t outlen)
{
    /* Work in unsigned so that LONG_MIN can be negated. */
    unsigned long magnitude = pence < 0 ? 0UL - (unsigned long)pence : (unsigned long)pence;
    int n = snprintf(out, outlen, "%s" POUND_SIGN "%lu.%02lu", pence < 0 ? "-" : "",
                     magnitude / PENCE_PER_POUND, magnitude % PENCE_PER_POUND);
    if (n < 0 || (size_t)n >= outlen)
        return fail(out, outlen);
    return true;
}

/* ---- Dates -------------------------------------------------------------------------------- */

bool validators_date_is_leap_year(int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int validators_date_days_in_month(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month < 1 || month > 12)
        return 0;
    if (month == 2 && validators_date_is_leap_year(year))
        return 29;
    return days[month - 1];
}

bool validators_date_valid(struct validators_date d)
{
    return d.year >= YEAR_MIN && d.year <= YEAR_MAX && d.month >= 1 && d.month <= 12 &&
           d.day >= 1 && d.day <= validators_date_days_in_month(d.year, d.month);
}

static int digits_value(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

bool validators_date_parse(const char *in, struct validators_date *out)
{
    if (!in || !out || strlen(in) != VALIDATORS_DATE_SIZE - 1 || in[4] != '-' || in[7] != '-')
        return false;
    for (size_t i = 0; i < VALIDATORS_DATE_SIZE - 1; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)in[i]))
            return false;
    struct validators_date d = {digits_value(in, 4), digits_value(in + 5, 2),
                                digits_value(in + 8, 2)};
    if (!validators_date_valid(d))
        return false;
    *out = d;
    return true;
}

void validators_date_format(struct validators_date d, char out[VALIDATORS_DATE_SIZE])
{
    if (!validators_date_valid(d)) {
        out[0] = '\0';
        return;
    }
    int n = snprintf(out, VALIDATORS_DATE_SIZE, "%04d-%02d-%02d", d.year, d.month, d.day);
    if (n != VALIDATORS_DATE_SIZE - 1)
        out[0] = '\0'; /* cannot happen for a valid date */
}

bool validators_date_words(struct validators_date d, char *out, size_t outlen)
{
    static const char *const months[12] = {"January",   "February", "March",    "April",
                                           "May",       "June",     "July",     "August",
                                           "September", "October",  "November", "December"};
    if (!validators_date_valid(d))
        return fail(out, outlen);
    int n = snprintf(out, outlen, "%d %s %d", d.day, months[d.month - 1], d.year);
    if (n < 0 || (size_t)n >= outlen)
        return fail(out, outlen);
    return true;
}

int validators_date_compare(struct validators_date a, struct validators_date b)
{
    if (a.year != b.year)
        return a.year < b.year ? -1 : 1;
    if (a.month != b.month)
        return a.month < b.month ? -1 : 1;
    if (a.day != b.day)
        return a.day < b.day ? -1 : 1;
    return 0;
}

/* Days from 1970-01-01 in the proleptic Gregorian calendar, counting years from March so that
 * the leap day falls at the end of the counting year: a 400-year era has 146097 days. */
long validators_date_to_days(struct validators_date d)
{
    long y = d.month <= 2 ? d.year - 1 : d.year;
    long era = (y >= 0 ? y : y - 399) / 400;
    long year_of_era = y - era * 400;                                /* 0..399 */
    long month_from_march = d.month > 2 ? d.month - 3 : d.month + 9; /* 0..11 */
    long day_of_year = (153 * month_from_march + 2) / 5 + d.day - 1; /* 0..365 */
    long day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468; /* 719468: days from 0000-03-01 to 1970-01-01 */
}

struct validators_date validators_date_from_days(long days)
{
    long z = days + 719468;
    long era = (z >= 0 ? z : z - 146096) / 146097;
    long day_of_era = z - era * 146097;
    long year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    long day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    long mp = (5 * day_of_year + 2) / 153;
    struct validators_date d;
    d.day = (int)(day_of_year - (153 * mp + 2) / 5 + 1);
    d.month = (int)(mp < 10 ? mp + 3 : mp - 9);
    d.year = (int)(year_of_era + era * 400 + (d.month <= 2 ? 1 : 0));
    return d;
}

long validators_date_days_between(struct validators_date a, struct validators_date b)
{
    return validators_date_to_days(b) - validators_date_to_days(a);
}

#define DAYS_RANGE_GUARD (10000L * 366L) /* more than any span between years 1 and 9999 */

bool validators_date_add_days(struct validators_date d, long days, struct validators_date *out)
{
    if (!validators_date_valid(d) || days > DAYS_RANGE_GUARD || days < -DAYS_RANGE_GUARD)
        return false;
    struct validators_date r = validators_date_from_days(validators_date_to_days(d) + days);
    if (!validators_date_valid(r))
        return false;
    *out = r;
    return true;
}

bool validators_date_add_years(struct validators_date d, int years, struct validators_date *out)
{
    if (!validators_date_valid(d) || years > YEAR_MAX || years < -YEAR_MAX)
        return false;
    struct validators_date r = {d.year + years, d.month, d.day};
    if (r.year < YEAR_MIN || r.year > YEAR_MAX)
        return false;
    if (r.month == 2 && r.day == 29 && !validators_date_is_leap_year(r.year)) {
        r.month = 3;
        r.day = 1;
    }
    *out = r;
    return true;
}

int validators_date_weekday(struct validators_date d)
{
    long days = validators_date_to_days(d); /* 1970-01-01 was a Thursday (4) */
    long wd = (days + 3) % 7;
    if (wd < 0)
        wd += 7;
    return (int)wd + 1;
}

static long floor_div(long a, long b)
{
    long q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

struct validators_date validators_date_today_london(time_t now)
{
    struct tm tm;
    if (!uktime_local(now, &tm))
        return validators_date_from_days(floor_div((long)now, SECONDS_PER_DAY));
    return (struct validators_date){tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday};
}
