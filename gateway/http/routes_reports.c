/* routes_reports: the supervisors' daily and monthly reports (store/report.h).
 *
 *   GET /api/v1/reports/daily?date=YYYY-MM-DD     (default: today in Europe/London)
 *   GET /api/v1/reports/monthly?month=YYYY-MM     (default: this month)
 *       Accept: application/json (default) -> the figures
 *       Accept: application/pdf -> the summary on A4 (the receipt renderer's layout)
 *       Accept: text/csv -> one row per line item (fee line) of each sale: date and time
 *               (London), reference, service, site, counter, staff, status, method, the line's
 *               number, description and amount, and the sale's amount, refunded and voided in
 *               pence (on its first line only, so each column sums to the JSON); it opens in
 *               a spreadsheet (every text cell quoted, none read as a formula)
 *
 * A supervisor sees their own site's figures. Days and months are Europe/London ones: their
 * UTC bounds come from uktime, and a month with a clock change says where it falls so the
 * store can put each sale on its London day. */
#include "common/uktime.h"
#include "gateway/app.h"
#include "gateway/config.h"
#include "gateway/http/access.h"
#include "gateway/http/routes.h"
#include "gateway/http/routes_till.h"
#include "gateway/store/report.h"
#include "gateway/strbuf.h"
#include "gateway/till_paper.h"

#include "services/validators.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REPORT_CSV_MAX (256u * 1024u * 1024u) /* a month of a busy council fits easily */

/* The instant in [from, until) at which the UK offset changes (0 when it does not). */
static time_t clock_change(time_t from, time_t until, int *before, int *after)
{
    *before = uktime_offset(from);
    *after = uktime_offset(until - 1);
    if (*before == *after)
        return 0;
    time_t lo = from, hi = until - 1; /* offset(lo) == before, offset(hi) == after */
    while (hi - lo > 1) {
        time_t mid = lo + (hi - lo) / 2;
        if (uktime_offset(mid) == *before)
            lo = mid;
        else
            hi = mid;
    }
    return hi;
}

struct period {
    struct report_period p;
    char day_from[UKTIME_DATE_SIZE];
    char day_until[UKTIME_DATE_SIZE];
    char label[UKTIME_DATE_SIZE];
};

/* Fills the period from the query (daily: date=, monthly: month=); false after answering. */
static bool period_parse(struct app *app, struct http_request *req, bool monthly,
                         struct period *out)
{
    char today[UKTIME_DATE_SIZE];
    if (!till_today(req, today))
        return false;
    const char *name = monthly ? "month" : "date";
    const char *given = http_query(req, name);
    char text[UKTIME_DATE_SIZE];
    if (monthly)
        snprintf(text, sizeof text, "%.7s-01", given ? given : today);
    else
        snprintf(text, sizeof text, "%s", given ? given : today);
    struct validators_date d, end;
    bool ok = (!given || strlen(given) == (monthly ? 7u : 10u)) && validators_date_parse(text, &d);
    if (ok && monthly) {
        end = d;
        end.month = d.month == 12 ? 1 : d.month + 1;
        end.year = d.month == 12 ? d.year + 1 : d.year;
    } else if (ok) {
        ok = validators_date_add_days(d, 1, &end);
    }
    if (!ok) {
        json_t *errors = json_array();
        route_field_error(errors, name, "invalid_format",
                          monthly ? "Use a month like 2026-11." : "Use a date like 2026-11-23.");
        http_reply_invalid(req, errors);
        return false;
    }
    validators_date_format(d, out->day_from);
    validators_date_format(end, out->day_until);
    snprintf(out->label, sizeof out->label, "%.*s", monthly ? 7 : 10, out->day_from);
    out->p = (struct report_period){
        .from = uktime_from_local(d.year, d.month, d.day, 0, 0),
        .until = uktime_from_local(end.year, end.month, end.day, 0, 0),
        .day_from = out->day_from,
        .day_until = out->day_until,
        .site = access_read_site(app, http_session(req)),
    };
    out->p.clock_change =
        clock_change(out->p.from, out->p.until, &out->p.offset_before, &out->p.offset_after);
    return true;
}

/* A CSV text cell: always quoted, quotes doubled, and a leading = + - @ made harmless so a
 * spreadsheet never reads it as a formula. */
static void csv_text(struct strbuf *b, const char *s)
{
    strbuf_append(b, "\"", 1);
    if (s && strchr("=+-@", *s) && *s)
        strbuf_append(b, "'", 1);
    for (; s && *s; s++)
        strbuf_append(b, *s == '"' ? "\"\"" : s, *s == '"' ? 2 : 1);
    strbuf_append(b, "\"", 1);
}

static bool csv_row(void *ctx, const struct report_row *r)
{
    struct strbuf *b = ctx;
    char when[UKTIME_TEXT_MAX] = "", day[UKTIME_DATE_SIZE] = "";
    struct tm tm;
    if (uktime_local(r->created_at, &tm))
        snprintf(when, sizeof when, "%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (!uktime_date(r->created_at, day))
        day[0] = '\0';
    strbuf_printf(b, "%s,%s,", day, when);
    const char *texts[] = {r->reference, r->service, r->site,  r->counter,
                           r->staff,     r->status,  r->method};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        csv_text(b, texts[i]);
        strbuf_append(b, ",", 1);
    }
    strbuf_printf(b, "%d,", r->line);
    csv_text(b, r->description);
    strbuf_printf(b, ",%ld,%ld,%ld,%ld\r\n", r->line_pence, r->amount_pence, r->refunded_pence,
                  r->voided_pence);
    return !b->overflow;
}

static bool wants(struct http_request *req, const char *type)
{
    const char *accept = http_header(req, "Accept");
    return accept && strstr(accept, type);
}

static void report(struct app *app, struct http_request *req, bool monthly)
{
    struct period pd;
    if (!period_parse(app, req, monthly, &pd))
        return;
    enum store_result r;
    if (wants(req, "text/csv")) {
        struct strbuf b;
        strbuf_init(&b, REPORT_CSV_MAX);
        strbuf_printf(&b, "date,time,reference,service,site,counter,staff,status,method,"
                          "line,description,line_pence,amount_pence,refunded_pence,"
                          "voided_pence\r\n");
        r = store_report_rows(app->store, &pd.p, csv_row, &b);
        if (r != STORE_OK || b.overflow) {
            strbuf_free(&b);
            http_reply_store_error(req, r == STORE_OK ? STORE_UNAVAILABLE : r);
            return;
        }
        char disposition[96];
        snprintf(disposition, sizeof disposition, "attachment; filename=\"onestop-%s.csv\"",
                 pd.label);
        http_set_header(req, "Content-Disposition", disposition);
        size_t len = 0;
        char *text = strbuf_take(&b, &len);
        http_reply_owned(req, 200, "text/csv; charset=utf-8", text, len);
        return;
    }
    json_t *out = NULL;
    if ((r = store_report(app->store, &pd.p, &out)) != STORE_OK) {
        http_reply_store_error(req, r);
        return;
    }
    json_object_set_new(out, "period",
                        json_pack("{s:s, s:s, s:s, s:s?}", "kind", monthly ? "monthly" : "daily",
                                  monthly ? "month" : "date", pd.label, "from", pd.day_from, "site",
                                  pd.p.site));
    if (wants(req, "application/pdf")) {
        unsigned char *pdf = NULL;
        size_t len = 0;
        bool ok = till_paper_report(app->cfg->council_name, out, &pdf, &len);
        json_decref(out);
        if (!ok) {
            http_reply_error(req, 500, "pdf_failed", "The report could not be laid out as PDF.");
            return;
        }
        http_reply_owned(req, 200, "application/pdf", (char *)pdf, len);
        return;
    }
    http_reply_json(req, 200, out);
}

void route_report_daily(struct app *app, struct http_request *req)
{
    report(app, req, false);
}

void route_report_monthly(struct app *app, struct http_request *req)
{
    report(app, req, true);
}
