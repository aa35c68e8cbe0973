/* till_paper: the cash-up slip and the printable report, laid out by the receipt renderer.
 *
 * DESIGN: printing/ already lays out a titled list of money lines with a total and a
 * paragraph under it, as PDF on an 80 mm roll or A4 (receipt_render_pdf). A cash-up slip and
 * a report summary are exactly that shape, so they are made as a `struct receipt` whose
 * "reference" is the slip's title and whose lines are the figures: no second PDF renderer.
 * Both are built from the JSON the API answers (store_till_get, store_report), so paper and
 * screen cannot disagree. */
#include "gateway/till_paper.h"

#include "printing/receipt_pdf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void line(struct till_paper *p, const char *description, json_int_t pence)
{
    if (p->n >= RECEIPT_MAX_LINES)
        return;
    snprintf(p->text[p->n], sizeof p->text[p->n], "%s", description);
    p->lines[p->n] = (struct receipt_line){p->text[p->n], (int64_t)pence};
    p->n++;
}

static const char *text(const json_t *o, const char *key, const char *otherwise)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : otherwise;
}

static json_int_t num(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static void by_method(struct till_paper *p, const char *what, const json_t *o)
{
    static const char *const methods[] = {"cash", "card", "cheque"};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        char d[64];
        snprintf(d, sizeof d, "%s, %s", what, methods[i]);
        line(p, d, num(o, methods[i]));
    }
}

static void finish(struct receipt *r, struct till_paper *p)
{
    r->lines = p->lines;
    r->n_lines = p->n;
    r->payment = RECEIPT_PAYMENT_NOT_A_SALE; /* no "Payment: No charge" line */
}

void till_paper_slip_layout(struct till_paper *p, const char *council, const json_t *till)
{
    memset(p, 0, sizeof *p);
    line(p, "Float", num(till, "float_pence"));
    by_method(p, "Takings", json_object_get(till, "takings"));
    by_method(p, "Refunds", json_object_get(till, "refunds"));
    by_method(p, "Voids", json_object_get(till, "voids"));
    line(p, "Paid in", num(till, "paid_in_pence"));
    line(p, "Paid out", num(till, "paid_out_pence"));
    line(p, "Expected cash", num(till, "expected_cash_pence"));
    line(p, "Counted cash", num(till, "counted_pence"));
    by_method(p, "Variance", json_object_get(till, "variances"));
    line(p, "Banked", num(till, "banked_pence"));
    snprintf(p->title, sizeof p->title, "CASH-UP %s %s", text(till, "counter", ""),
             text(till, "day", ""));
    const char *note = json_string_value(json_object_get(till, "note"));
    snprintf(p->words, sizeof p->words, "Counted by %s. Signed off by %s. Bag %s.%s%s",
             text(till, "counted_by", "nobody yet"), text(till, "signed_by", "nobody yet"),
             text(till, "bag_number", "-"), note ? " Note: " : "", note ? note : "");
    p->r = (struct receipt){
        .council = council,
        .site = json_string_value(json_object_get(till, "site")),
        .counter_id = json_string_value(json_object_get(till, "counter")),
        .issued_at = time(NULL),
        .service_name = "Cash-up slip",
        .reference = p->title,
        .total_pence = num(till, "counted_pence") - num(till, "expected_cash_pence"),
        .next_steps = p->words,
        .banner = "CASH-UP",
    };
    finish(&p->r, p);
}

bool till_paper_slip(const char *council, const json_t *till, unsigned char **out, size_t *len)
{
    struct till_paper *p = malloc(sizeof *p);
    if (!p)
        return false;
    till_paper_slip_layout(p, council, till);
    bool ok = receipt_render_pdf(&p->r, RECEIPT_PAPER_ROLL_80MM, out, len);
    free(p);
    return ok;
}

bool till_paper_report(const char *council, const json_t *report, unsigned char **out, size_t *len)
{
    struct till_paper *p = calloc(1, sizeof *p);
    if (!p)
        return false;
    const json_t *sales = json_object_get(report, "sales");
    line(p, "Takings", num(sales, "takings_pence"));
    line(p, "Refunds", -num(json_object_get(report, "refunds"), "pence"));
    line(p, "Voids", -num(json_object_get(report, "voids"), "pence"));
    line(p, "Paid in", num(report, "paid_in_pence"));
    line(p, "Paid out", -num(report, "paid_out_pence"));
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(report, "by_service"), i, e)
    {
        char d[RECEIPT_FIELD_MAX];
        snprintf(d, sizeof d, "%s (%lld)", json_string_value(json_object_get(e, "name")),
                 (long long)num(e, "transactions"));
        line(p, d, num(e, "takings_pence"));
    }
    json_array_foreach(json_object_get(report, "by_method"), i, e)
    {
        char d[RECEIPT_FIELD_MAX];
        snprintf(d, sizeof d, "by %s", json_string_value(json_object_get(e, "name")));
        line(p, d, num(e, "takings_pence"));
    }
    const json_t *period = json_object_get(report, "period");
    const json_t *d = json_object_get(report, "deliveries");
    snprintf(p->title, sizeof p->title, "%s report %s", text(period, "kind", ""),
             text(period, "date", text(period, "month", "")));
    snprintf(p->words, sizeof p->words,
             "%lld sales, %lld voided. Deliveries: %lld delivered, %lld waiting, %lld failed. "
             "%zu tills counted.",
             (long long)num(sales, "transactions"), (long long)num(sales, "voided"),
             (long long)num(d, "delivered"), (long long)num(d, "waiting"),
             (long long)num(d, "failed"), json_array_size(json_object_get(report, "variances")));
    p->r = (struct receipt){
        .council = council,
        .site = json_string_value(json_object_get(period, "site")),
        .issued_at = time(NULL),
        .service_name = "Takings report",
        .reference = p->title,
        .total_pence = num(report, "net_pence"),
        .next_steps = p->words,
    };
    finish(&p->r, p);
    bool ok = receipt_render_pdf(&p->r, RECEIPT_PAPER_A4, out, len);
    free(p);
    return ok;
}
