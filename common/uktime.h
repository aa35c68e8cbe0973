/* uktime: UTC instants shown as UK civil time (Europe/London), from the system's time zone
 * database (tzdata), without a hand-written summer time rule.
 *
 * localtime_r() reads the process-wide TZ, which a multi-threaded daemon must not change
 * while it runs. So the zone is read once: the first call (or uktime_init(), which onestopd
 * makes before it starts any thread) sets TZ=Europe/London for a moment, walks the years
 * UKTIME_YEAR_FIRST..UKTIME_YEAR_LAST with localtime_r to find every change of offset, then
 * puts TZ back as it was. After that every function is a pure look-up in that table and is
 * safe from any thread. A change to UK clock rules is a tzdata update and a restart.
 *
 * Instants before the table's first year use the offset in force at its start, those after
 * its last year the offset in force at its end (GMT).
 */
#ifndef ONESTOP_COMMON_UKTIME_H
#define ONESTOP_COMMON_UKTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define UKTIME_ZONE       "Europe/London"
#define UKTIME_YEAR_FIRST 1970
#define UKTIME_YEAR_LAST  2200
/* Enough for "31 Dec 2026 23:59" and any four-digit year. */
#define UKTIME_TEXT_MAX 32
/* "YYYY-MM-DD" and its NUL. */
#define UKTIME_DATE_SIZE 11

/* Reads the zone (once; later calls do nothing). Returns false when the system's tzdata has
 * no Europe/London (no change of offset was found): times are then shown as UTC, and
 * onestopd refuses to start. Call it before starting threads. */
bool uktime_init(void) __attribute__((warn_unused_result));

/* Seconds to add to UTC to get UK civil time at instant t (0 or 3600 today). */
int uktime_offset(time_t t);

/* UK civil time at t, broken down (tm_isdst is 1 during summer time). False if t cannot be
 * represented (gmtime_r fails). */
bool uktime_local(time_t t, struct tm *out) __attribute__((warn_unused_result));

/* The UTC instant of a UK civil date and time (for an hour skipped or repeated by a clock
 * change, the offset in force one hour earlier is used). */
time_t uktime_from_local(int year, int month, int day, int hour, int minute);

/* Writes "12 Jan 2026 14:05" (UK civil time) into buf. False if buf is too small or t
 * cannot be represented; buf then holds an empty string when len > 0. */
bool uktime_format(time_t t, char *buf, size_t len) __attribute__((warn_unused_result));

/* Writes the UK calendar date at t as "YYYY-MM-DD". False if t cannot be represented. */
bool uktime_date(time_t t, char out[UKTIME_DATE_SIZE]) __attribute__((warn_unused_result));

#endif
