/* till_paper: the cash-up slip (80 mm roll) and the printable report summary (A4) as PDF. */
#ifndef ONESTOP_TILL_PAPER_H
#define ONESTOP_TILL_PAPER_H

#include "printing/receipt.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* A slip or report laid out as a receipt: the receipt and the text it points into. */
struct till_paper {
    struct receipt_line lines[RECEIPT_MAX_LINES];
    char text[RECEIPT_MAX_LINES][RECEIPT_FIELD_MAX];
    size_t n;
    char title[RECEIPT_FIELD_MAX];
    char words[RECEIPT_PARAGRAPH_MAX];
    struct receipt r;
};

/* Lays the cash-up slip of till (as store_till_get gives it) out in p->r, for any renderer
 * (the spooler prints it on the counter's printer). p->r points into p and till: both must
 * outlive it. */
void till_paper_slip_layout(struct till_paper *p, const char *council, const json_t *till);

/* From a till as store_till_get gives it: float, takings, refunds, voids by method, paid
 * in/out, expected, counted, variances, banking, who counted and who signed. On success *out
 * (free() it) holds *len bytes of PDF; false when it cannot be rendered. */
bool till_paper_slip(const char *council, const json_t *till, unsigned char **out, size_t *len)
    __attribute__((warn_unused_result));
/* From a report as store_report gives it (with "period"): takings, refunds, voids, paid
 * in/out, by service and method, net, delivery health. */
bool till_paper_report(const char *council, const json_t *report, unsigned char **out, size_t *len)
    __attribute__((warn_unused_result));

#endif
