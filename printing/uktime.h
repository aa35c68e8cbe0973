/* uktime: UTC instants shown as UK civil time (Europe/London), without touching TZ.
 *
 * Receipts show the date and time in Europe/London. localtime_r() depends on the
 * process-wide TZ variable, which a multi-threaded daemon must not change, so the UK
 * offset is computed here from the rule in force since 1996: British Summer Time
 * (UTC+1) runs from 01:00 UTC on the last Sunday of March to 01:00 UTC on the last
 * Sunday of October; otherwise GMT (UTC+0). Every function is pure and thread-safe.
 */
#ifndef ONESTOP_PRINTING_UKTIME_H
#define ONESTOP_PRINTING_UKTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* Enough for "31 Dec 2026 23:59" and any four-digit year. */
#define UKTIME_TEXT_MAX 32

/* Seconds to add to UTC to get UK civil time at instant t: 0 or 3600. */
int uktime_offset(time_t t);

/* UK civil time at t, broken down (tm_isdst is 1 during BST). False if t cannot be
 * represented (gmtime_r fails). */
bool uktime_local(time_t t, struct tm *out) __attribute__((warn_unused_result));

/* Writes "12 Jan 2026 14:05" (UK civil time) into buf. False if buf is too small or t
 * cannot be represented; buf then holds an empty string when len > 0. */
bool uktime_format(time_t t, char *buf, size_t len) __attribute__((warn_unused_result));

#endif
