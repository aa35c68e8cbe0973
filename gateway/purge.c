/* purge: one purge_plan per enabled service with personal fields, from the retention rule
 * (see purge.h), handed to store_purge in one write. */
#include "gateway/purge.h"

#include "common/uktime.h"
#include "services/service.h"

#include <stdlib.h>

#define SECONDS_PER_DAY 86400L

enum store_result purge_run(const struct config *cfg, struct store *store, time_t now,
                            long older_than_days, const char *actor, bool dry_run,
                            struct purge_counts *out)
{
    size_t n = cfg->services ? service_registry_count(cfg->services) : 0, len = 0;
    struct purge_plan *plans = calloc(n ? n : 1, sizeof *plans);
    json_t **personal = calloc(n ? n : 1, sizeof *personal);
    char today[UKTIME_DATE_SIZE];
    enum store_result r =
        plans && personal && uktime_date(now, today) ? STORE_OK : STORE_UNAVAILABLE;
    for (size_t i = 0; r == STORE_OK && i < n; i++) {
        const struct service *s = service_registry_at(cfg->services, i);
        json_t *names = service_personal_fields(s);
        if (!names || json_array_size(names) == 0) {
            json_decref(names);
            continue;
        }
        long days =
            older_than_days >= 0 ? older_than_days : config_retention_days(cfg, service_code(s));
        if (days < 0)
            days = service_retention_days(s, cfg->retention.default_days);
        personal[len] = names;
        plans[len] = (struct purge_plan){service_code(s), names, now - days * SECONDS_PER_DAY};
        len++;
    }
    if (r == STORE_OK)
        r = store_purge(store, plans, len, actor, now, today, dry_run, out);
    for (size_t i = 0; i < len; i++)
        json_decref(personal[i]);
    free(personal);
    free(plans);
    return r;
}
