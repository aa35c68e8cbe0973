/* fees: a service's fee table with effective-from dates (private to services/).
 *
 * "fees": [{"code","description","amount_pence","effective_from"}, ...]. Fees change each
 * April: the entry in force for a code on a date is the one with the latest effective_from
 * on or before that date.
 */
#ifndef ONESTOP_SERVICES_FEES_H
#define ONESTOP_SERVICES_FEES_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "services/defcheck.h"
#include "services/validators.h"

struct fee_entry {
    const char *code;
    const char *description;
    long amount_pence;
    struct validators_date effective_from;
};

struct fee_table {
    struct fee_entry *entries;
    size_t count;
};

/* Reads and checks the fees array (borrowed; must outlive the table). Free with fees_free()
 * whatever the result. */
bool fees_load(struct fee_table *table, const json_t *fees, struct defcheck *dc)
    __attribute__((warn_unused_result));
void fees_free(struct fee_table *table);
/* True when the table has any entry for code. */
bool fees_has_code(const struct fee_table *table, const char *code);
/* The entry in force for code on date, or NULL. */
const struct fee_entry *fees_on(const struct fee_table *table, const char *code,
                                struct validators_date on);

#endif
