/* till_paper: the cash-up slip (80 mm roll) and the printable report summary (A4) as PDF. */
#ifndef ONESTOP_TILL_PAPER_H
#define ONESTOP_TILL_PAPER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

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
