/* fees: reading a fee table and choosing the entry in force on a date; see fees.h. */
#include "services/fees.h"

#include <stdlib.h>
#include <string.h>

static const char *const fee_keys[] = {"code", "description", "amount_pence", "effective_from",
                                       NULL};

bool fees_load(struct fee_table *table, const json_t *fees, struct defcheck *dc)
{
    char path[DEFCHECK_PATH_MAX];
    size_t before = dc->count;
    memset(table, 0, sizeof *table);
    if (!fees)
        return false; /* reported by the registry as a required key */
    if (!json_is_array(fees) || json_array_size(fees) == 0) {
        defcheck_problem(dc, "fees", "must be a non-empty array");
        return false;
    }
    table->entries = calloc(json_array_size(fees), sizeof *table->entries);
    if (!table->entries) {
        defcheck_problem(dc, "fees", "out of memory");
        return false;
    }
    size_t i;
    const json_t *fee;
    json_array_foreach(fees, i, fee)
    {
        struct fee_entry e = {0};
        defcheck_path_index(path, sizeof path, "fees", i);
        if (!defcheck_object(dc, path, fee, fee_keys, fee_keys))
            continue;
        e.code = defcheck_string(dc, path, fee, "code", true);
        e.description = defcheck_string(dc, path, fee, "description", true);
        bool amount_ok = defcheck_pence(dc, path, fee, "amount_pence", &e.amount_pence);
        const char *from = defcheck_date(dc, path, fee, "effective_from", true);
        if (!e.code || !e.description || !amount_ok || !from ||
            !validators_date_parse(from, &e.effective_from))
            continue;
        for (size_t j = 0; j < table->count; j++) {
            if (strcmp(table->entries[j].code, e.code) == 0 &&
                validators_date_compare(table->entries[j].effective_from, e.effective_from) == 0) {
                defcheck_problem(dc, path, "fee \"%s\" already has an entry from %s", e.code, from);
                break;
            }
        }
        table->entries[table->count++] = e;
    }
    return dc->count == before;
}

void fees_free(struct fee_table *table)
{
    free(table->entries);
    memset(table, 0, sizeof *table);
}

bool fees_has_code(const struct fee_table *table, const char *code)
{
    for (size_t i = 0; i < table->count; i++)
        if (strcmp(table->entries[i].code, code) == 0)
            return true;
    return false;
}

const struct fee_entry *fees_on(const struct fee_table *table, const char *code,
                                struct validators_date on)
{
    const struct fee_entry *best = NULL;
    for (size_t i = 0; i < table->count; i++) {
        const struct fee_entry *e = &table->entries[i];
        if (strcmp(e->code, code) != 0 || validators_date_compare(e->effective_from, on) > 0)
            continue;
        if (!best || validators_date_compare(e->effective_from, best->effective_from) > 0)
            best = e;
    }
    return best;
}
