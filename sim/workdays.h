/*
 * Calendar dates for collection slots: today's date in Europe/London and the working
 * days (Monday to Friday) that follow it. Bank holidays are not modelled.
 */
#ifndef ONESTOP_SIM_WORKDAYS_H
#define ONESTOP_SIM_WORKDAYS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define WORKDAYS_DATE_LEN 11 /* "YYYY-MM-DD" and a NUL */

typedef struct sim_date {
    int year;
    int month; /* 1..12 */
    int day;   /* 1..31 */
} sim_date;

/* The Europe/London calendar date at `now` (UK rules: BST from 01:00 UTC on the last
 * Sunday of March to 01:00 UTC on the last Sunday of October). */
sim_date workdays_london_date(time_t now);

/* Fills out[0..n) with the first n working days strictly after `from`, in order. */
void workdays_next(sim_date from, size_t n, sim_date *out);

/* "YYYY-MM-DD". */
void workdays_format(sim_date d, char out[WORKDAYS_DATE_LEN]);

/* Parses exactly "YYYY-MM-DD" of a real calendar date. */
__attribute__((warn_unused_result)) bool workdays_parse(const char *s, sim_date *out);

#endif
