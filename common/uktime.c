/* uktime: Europe/London civil time from tzdata (see uktime.h).
 *
 * DESIGN: the zone becomes a table of offset changes built once under pthread_once. To build
 * it, TZ is set to Europe/London, each day's noon (UTC) of every year in range is converted
 * with localtime_r, and where two noons disagree the exact second of the change is found by
 * bisection (UK changes are never less than a day apart). TZ is then restored. Look-ups are
 * a binary search in the table, so they never read the environment again.
 */
#include "common/uktime.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECONDS_PER_DAY  86400
#define SECONDS_PER_HOUR 3600
#define NOON_SECONDS     (12 * SECONDS_PER_HOUR)
/* Two changes a year at most in Europe/London, plus room for odd historic years. */
#define UKTIME_CHANGES_MAX ((UKTIME_YEAR_LAST - UKTIME_YEAR_FIRST + 1) * 4)
#define TZ_SAVE_MAX        256

struct change {
    int64_t at; /* first UTC second of the new offset */
    int offset;
    bool dst;
};

static struct change changes[UKTIME_CHANGES_MAX];
static size_t change_count;
static int first_offset;
static bool first_dst;
static bool zone_ok;
static pthread_once_t zone_once = PTHREAD_ONCE_INIT;

/* Days since 1970-01-01 of the proleptic Gregorian date y-m-d (m 1..12). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool zone_at(int64_t t, int *offset, bool *dst)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!localtime_r(&tt, &tm))
        return false;
    *offset = (int)tm.tm_gmtoff;
    *dst = tm.tm_isdst > 0;
    return true;
}

static void zone_build(void)
{
    char saved[TZ_SAVE_MAX];
    const char *old = getenv("TZ");
    bool had_tz = old && strlen(old) < sizeof saved;
    if (had_tz)
        snprintf(saved, sizeof saved, "%s", old);
    if (setenv("TZ", UKTIME_ZONE, 1) != 0)
        return;
    tzset();
    int64_t start = days_from_civil(UKTIME_YEAR_FIRST, 1, 1) * SECONDS_PER_DAY + NOON_SECONDS;
    int64_t end = days_from_civil(UKTIME_YEAR_LAST + 1, 1, 1) * SECONDS_PER_DAY;
    int prev_offset;
    bool prev_dst;
    if (zone_at(start, &prev_offset, &prev_dst)) {
        first_offset = prev_offset;
        first_dst = prev_dst;
        for (int64_t noon = start + SECONDS_PER_DAY; noon < end; noon += SECONDS_PER_DAY) {
            int offset;
            bool dst;
            if (!zone_at(noon, &offset, &dst))
                break;
            if (offset == prev_offset && dst == prev_dst)
                continue;
            /* The change lies in (noon - 1 day, noon]: bisect for its first second. */
            int64_t lo = noon - SECONDS_PER_DAY, hi = noon;
            while (hi - lo > 1) {
                int64_t mid = lo + (hi - lo) / 2;
                int o;
                bool d;
                if (!zone_at(mid, &o, &d))
                    break;
                if (o == prev_offset && d == prev_dst)
                    lo = mid;
                else
                    hi = mid;
            }
            if (change_count == UKTIME_CHANGES_MAX)
                break;
            changes[change_count++] = (struct change){.at = hi, .offset = offset, .dst = dst};
            prev_offset = offset;
            prev_dst = dst;
        }
    }
    if (had_tz)
        (void)setenv("TZ", saved, 1);
    else
        (void)unsetenv("TZ");
    tzset();
    zone_ok = change_count > 0;
}

bool uktime_init(void)
{
    (void)pthread_once(&zone_once, zone_build);
    return zone_ok;
}

/* The table entry in force at t, as offset and dst. */
static void zone_lookup(int64_t t, int *offset, bool *dst)
{
    (void)pthread_once(&zone_once, zone_build);
    size_t lo = 0, hi = change_count; /* first change with at > t */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (changes[mid].at <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0) {
        *offset = first_offset;
        *dst = first_dst;
    } else {
        *offset = changes[lo - 1].offset;
        *dst = changes[lo - 1].dst;
    }
}

int uktime_offset(time_t t)
{
    int offset;
    bool dst;
    zone_lookup((int64_t)t, &offset, &dst);
    return offset;
}

bool uktime_local(time_t t, struct tm *out)
{
    int offset;
    bool dst;
    zone_lookup((int64_t)t, &offset, &dst);
    time_t local = t + offset;
    if (gmtime_r(&local, out) == NULL)
        return false;
    out->tm_isdst = dst;
    return true;
}

time_t uktime_from_local(int year, int month, int day, int hour, int minute)
{
    int64_t wall = days_from_civil(year, month, day) * SECONDS_PER_DAY +
                   (int64_t)hour * SECONDS_PER_HOUR + (int64_t)minute * 60;
    /* The offset in force an hour before the wall time read as UTC is the one that applies
     * (UK offsets are 0 or 1 hour, and changes are far apart). */
    return (time_t)(wall - uktime_offset((time_t)(wall - SECONDS_PER_HOUR)));
}

bool uktime_format(time_t t, char *buf, size_t len)
{
    static const char *const months[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    if (len > 0)
        buf[0] = '\0';
    if (!uktime_local(t, &tm) || tm.tm_mon < 0 || tm.tm_mon > 11)
        return false;
    int n = snprintf(buf, len, "%d %s %d %02d:%02d", tm.tm_mday, months[tm.tm_mon],
                     tm.tm_year + 1900, tm.tm_hour, tm.tm_min);
    if (n < 0 || (size_t)n >= len) {
        if (len > 0)
            buf[0] = '\0';
        return false;
    }
    return true;
}

bool uktime_date(time_t t, char out[UKTIME_DATE_SIZE])
{
    struct tm tm;
    out[0] = '\0';
    if (!uktime_local(t, &tm) || tm.tm_year + 1900 < 1 || tm.tm_year + 1900 > 9999)
        return false;
    char text[UKTIME_TEXT_MAX];
    int n =
        snprintf(text, sizeof text, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    if (n != UKTIME_DATE_SIZE - 1)
        return false;
    memcpy(out, text, UKTIME_DATE_SIZE);
    return true;
}
