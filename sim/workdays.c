/*
 * Date arithmetic on noon UTC of each day (timegm/gmtime_r), which never meets a
 * daylight-saving edge, so stepping a day is adding 86400 seconds.
 */
#include "sim/workdays.h"

#include <stdio.h>
#include <string.h>

#define SECONDS_PER_DAY 86400
#define NOON_HOUR       12

static time_t noon_utc(sim_date d)
{
    struct tm tm = {0};
    tm.tm_year = d.year - 1900;
    tm.tm_mon = d.month - 1;
    tm.tm_mday = d.day;
    tm.tm_hour = NOON_HOUR;
    return timegm(&tm);
}

static sim_date date_of(time_t t, int *weekday)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    if (weekday)
        *weekday = tm.tm_wday;
    sim_date d = {tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday};
    return d;
}

/* 01:00 UTC on the last Sunday of `month` in `year`. */
static time_t last_sunday_0100_utc(int year, int month)
{
    struct tm tm = {0};
    tm.tm_year = year - 1900;
    tm.tm_mon = month; /* the first of the next month ... */
    tm.tm_mday = 1;
    tm.tm_hour = 1;
    time_t t = timegm(&tm) - SECONDS_PER_DAY; /* ... minus a day: the last of `month` */
    struct tm last;
    gmtime_r(&t, &last);
    return t - (time_t)last.tm_wday * SECONDS_PER_DAY;
}

sim_date workdays_london_date(time_t now)
{
    struct tm tm;
    gmtime_r(&now, &tm);
    int year = tm.tm_year + 1900;
    time_t bst_start = last_sunday_0100_utc(year, 3);
    time_t bst_end = last_sunday_0100_utc(year, 10);
    time_t local = now;
    if (now >= bst_start && now < bst_end)
        local += 3600;
    return date_of(local, NULL);
}

void workdays_next(sim_date from, size_t n, sim_date *out)
{
    time_t t = noon_utc(from);
    size_t found = 0;
    while (found < n) {
        int wday = 0;
        t += SECONDS_PER_DAY;
        sim_date d = date_of(t, &wday);
        if (wday >= 1 && wday <= 5)
            out[found++] = d;
    }
}

void workdays_format(sim_date d, char out[WORKDAYS_DATE_LEN])
{
    unsigned y = (unsigned)d.year % 10000u, m = (unsigned)d.month % 13u,
             day = (unsigned)d.day % 32u;
    snprintf(out, WORKDAYS_DATE_LEN, "%04u-%02u-%02u", y, m, day);
}

bool workdays_parse(const char *s, sim_date *out)
{
    if (strlen(s) != WORKDAYS_DATE_LEN - 1 || s[4] != '-' || s[7] != '-')
        return false;
    for (size_t i = 0; i < WORKDAYS_DATE_LEN - 1; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return false;
    sim_date d = {(s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0'),
                  (s[5] - '0') * 10 + (s[6] - '0'), (s[8] - '0') * 10 + (s[9] - '0')};
    if (d.month < 1 || d.month > 12 || d.day < 1 || d.day > 31)
        return false;
    sim_date round = date_of(noon_utc(d), NULL);
    if (round.year != d.year || round.month != d.month || round.day != d.day)
        return false;
    *out = d;
    return true;
}
