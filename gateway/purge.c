/* purge: one purge_plan per enabled service with personal fields, from the retention rule
 * (see purge.h), handed to store_purge in one write. */
#include "gateway/purge.h"

#include "gateway/delivery/connector_notify.h"
#include "gateway/documents.h"
#include "gateway/log.h"
#include "gateway/store_copies.h"
#include "gateway/store_crypt.h"

#include "common/uktime.h"
#include "services/service.h"

#include <stdlib.h>

#define SECONDS_PER_DAY    86400L
#define PURGE_COPIES_BATCH 100
/* What a pending copy's contact becomes: the copy can no longer be sent. */
#define PURGE_COPY_CONTACT "(purged before it was sent)"
#define PURGE_COPY_ERROR   "The resident's contact was purged (retention) before it was sent."

/* Fails the pending receipt copies of purged transactions, their contact masked: through the
 * copies' transition function (store_copy_record), audited receipt_copy_failed. */
static enum store_result purge_copies(struct store *store, time_t now)
{
    enum store_result r;
    size_t n;
    do {
        json_t *list = NULL;
        r = store_copies_purged(store, PURGE_COPIES_BATCH, &list);
        n = r == STORE_OK ? json_array_size(list) : 0;
        size_t i;
        json_t *c;
        json_array_foreach(list, i, c)
        {
            if (r != STORE_OK)
                break;
            char *masked = notify_payload_masked(json_string_value(json_object_get(c, "payload")),
                                                 PURGE_COPY_CONTACT);
            struct copy_outcome o = {.id = json_integer_value(json_object_get(c, "id")),
                                     .kind = COPY_OUTCOME_FAILED,
                                     .masked_payload = masked ? masked : "{}",
                                     .error = PURGE_COPY_ERROR,
                                     .note = PURGE_COPY_ERROR, /* no attempt was made */
                                     .now = now};
            r = store_copy_record(store, &o);
            if (r == STORE_CONFLICT) /* the sender settled it meanwhile: masked by the sender */
                r = STORE_OK;
            free(masked);
        }
        json_decref(list);
    } while (r == STORE_OK && n == PURGE_COPIES_BATCH);
    return r;
}

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
        /* uploaded documents are personal data too, whatever the fields */
        if (!names || (json_array_size(names) == 0 && !service_documents_field(s))) {
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
    /* outside the store's write: the files (after the rows say purged, so a crash between
     * the two is finished by the next run) and the copies (through their own machine) */
    if (r == STORE_OK && !dry_run && documents_remove_purged(cfg->data_dir, store, now) < 0)
        r = STORE_UNAVAILABLE;
    if (r == STORE_OK && !dry_run)
        r = purge_copies(store, now);
    /* the WAL kept the pages as they were before the purge: empty it (secure_delete, always
     * on in the writer, has zeroed the freed bytes in the database file) */
    if (r == STORE_OK && !dry_run && (out->transactions > 0 || out->keys > 0) &&
        store_wal_truncate(store) != STORE_OK)
        log_msg(LOG_WARN, "purge_wal", "purged values may stay in the WAL until it is reused");
    for (size_t i = 0; i < len; i++)
        json_decref(personal[i]);
    free(personal);
    free(plans);
    return r;
}
