/* purge: the retention rule of onestop.json and the service definitions, applied to the
 * store. Used by the gateway's housekeeper (every retention.purge_interval_s) and by
 * `onestop purge [--dry-run] [--older-than-days N]`. */
#ifndef ONESTOP_PURGE_H
#define ONESTOP_PURGE_H

#include "gateway/config.h"
#include "gateway/store/purge.h"

/* Anonymises the personal fields of every transaction that ended more than its service's
 * retention days before now (its rule in retention.services, else retention_days in its
 * definition, else retention.default_days; older_than_days >= 0 overrides them all). Services
 * without personal fields or documents are skipped. Afterwards
 * (not in a dry run) the files of the purged transactions' documents are deleted (their rows
 * stay: type, bytes, sha256) and their receipt copies still pending are failed with the
 * contact masked. The counts are in out; see store_purge for dry_run and the
 * audit rows (actor). */
enum store_result purge_run(const struct config *cfg, struct store *store, time_t now,
                            long older_than_days, const char *actor, bool dry_run,
                            struct purge_counts *out) STORE_MUSTCHECK;

#endif
