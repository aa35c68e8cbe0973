/* store_report: daily and monthly figures for supervisors — counts and takings by service,
 * site, counter, method and staff; refunds, voids and paid in/out from the tills; cash-up
 * variances; delivery health — and the rows behind them for a spreadsheet.
 *
 * Sales are those created in [from, until) (UTC instants of the Europe/London period); till
 * figures are those of the tills whose day falls in [day_from, day_until). Takings count every
 * sale's payment, a voided one's too: its void is reported beside it (as the till does), so
 * net = takings - refunds - voids. */
#ifndef ONESTOP_STORE_REPORT_H
#define ONESTOP_STORE_REPORT_H

#include "gateway/store/core.h"

#include <jansson.h>
#include <time.h>

struct report_period {
    time_t from, until;   /* sales created in [from, until) */
    const char *day_from; /* tills of days in [day_from, day_until), "YYYY-MM-DD" */
    const char *day_until;
    const char *site;    /* one site's figures; NULL: every site */
    time_t clock_change; /* the instant within the period the UK offset changes, or 0 */
    int offset_before;   /* seconds east of UTC before clock_change (all period if 0) */
    int offset_after;
};

/* The report as JSON (new object in *out): {"sales":{"transactions","takings_pence",
 * "voided"},"by_service","by_site","by_counter","by_method","by_staff" (arrays of
 * {"name","transactions","takings_pence"}),"refunds","voids" ({"count","pence","by_method"}),
 * "paid_in_pence","paid_out_pence","net_pence","variances":[...],"deliveries":{"delivered",
 * "waiting","failed","cancelled","oldest_waiting_at"},"by_day":[{"day","service",
 * "transactions","takings_pence"}]}. */
enum store_result store_report(struct store *store, const struct report_period *p,
                               json_t **out) STORE_MUSTCHECK;

/* One sale of the period, for CSV. Strings are valid only during the callback. */
/* One line item (fee line) of a sale. The sale's own figures (amount paid, refunded,
 * voided) are on its first line only and 0 on the others, so each column sums to the
 * report's totals; line_pence is the fee line's own amount. */
struct report_row {
    const char *reference, *service, *site, *counter, *staff, *status, *method;
    time_t created_at;
    int line;                /* 1, 2, ...: the line's place on the sale */
    const char *description; /* the fee line's description ("" for a sale with no lines) */
    long line_pence;         /* the fee line's amount (a sale with no lines: its fee) */
    long amount_pence;
    long refunded_pence;
    long voided_pence;
};
/* Calls row() for each line item of each sale of the period, oldest sale first, its lines in
 * order; stops at the first false. */
enum store_result store_report_rows(struct store *store, const struct report_period *p,
                                    bool (*row)(void *ctx, const struct report_row *r),
                                    void *ctx) STORE_MUSTCHECK;

#endif
