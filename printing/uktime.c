/* uktime: Europe/London civil time from the BST rule (see uktime.h). Uses only
 * gmtime_r and integer date arithmetic, so it never reads or changes TZ. */
#include "printing/uktime.h"

#include <stdint.h>
#include <stdio.h>

#define SECONDS_PER_DAY   86400
#define BST_OFFSET        3600
#define BST_CHANGE_SECOND 3600 /* changes happen at 01:00 UTC */
#define MARCH             3
#define OCTOBER           10
#define DAYS_IN_MARCH     31
#define DAYS_IN_OCTOBER   31

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

/* Day number (since the epoch) of the last Sunday of month m (with last_day days). */
static int64_t last_sunday(int64_t year, int month, int last_day)
{
    int64_t days = days_from_civil(year, month, last_day);
    /* 1970-01-01 was a Thursday: weekday 0 = Sunday is (days + 4) mod 7. */
    int64_t weekday = ((days + 4) % 7 + 7) % 7;
    return days - weekday;
}

int uktime_offset(time_t t)
{
    struct tm utc;
    if (gmtime_r(&t, &utc) == NULL) {
        return 0;
    }
    int64_t year = (int64_t)utc.tm_year + 1900;
    int64_t start = last_sunday(year, MARCH, DAYS_IN_MARCH) * SECONDS_PER_DAY + BST_CHANGE_SECOND;
    int64_t end = last_sunday(year, OCTOBER, DAYS_IN_OCTOBER) * SECONDS_PER_DAY + BST_CHANGE_SECOND;
    int64_t now = (int64_t)t;
    return (now >= start && now < end) ? BST_OFFSET : 0;
}

bool uktime_local(time_t t, struct tm *out)
{
    int offset = uktime_offset(t);
    time_t local = t + offset;
    if (gmtime_r(&local, out) == NULL) {
        return false;
    }
    out->tm_isdst = offset != 0;
    return true;
}

bool uktime_format(time_t t, char *buf, size_t len)
{
    static const char *const months[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    if (len > 0) {
        buf[0] = '\0';
    }
    if (!uktime_local(t, &tm) || tm.tm_mon < 0 || tm.tm_mon > 11) {
        return false;
    }
    int n = snprintf(buf, len, "%d %s %d %02d:%02d", tm.tm_mday, months[tm.tm_mon],
                     tm.tm_year + 1900, tm.tm_hour, tm.tm_min);
    if (n < 0 || (size_t)n >= len) {
        if (len > 0) {
            buf[0] = '\0';
        }
        return false;
    }
    return true;
}
