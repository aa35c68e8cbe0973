/* store_purge: retention of residents' personal data in the store. A transaction that ended
 * (completed, or voided) longer ago than its service keeps personal data has the fields its
 * service marks personal anonymised — in the transaction, in its outbox payload and in the
 * stored idempotent reply — while its financial record (reference, service, amounts, method,
 * dates, staff, counter) stays. Its limit keys (a permit's VRM, held so that a second permit
 * for the same car is refused) stay while they are live — the rule still needs them — and are
 * deleted by the first purge after they expire. */
#ifndef ONESTOP_STORE_PURGE_H
#define ONESTOP_STORE_PURGE_H

#include "gateway/store/core.h"

#include <jansson.h>

/* What a purged value is replaced with. */
#define PURGE_MARKER "[purged]"

/* One service's rule: its transactions that ended at or before cutoff lose the fields named
 * in personal (an array of strings, borrowed). */
struct purge_plan {
    const char *service;
    const json_t *personal;
    time_t cutoff;
};

struct purge_counts {
    long transactions; /* transactions anonymised (or, in a dry run, that would be) */
    long fields;       /* personal values removed from them */
    long payloads;     /* outbox payloads anonymised */
    long replies;      /* stored idempotent replies anonymised */
    long keys;         /* limit keys past their time deleted */
    long keys_live;    /* limit keys of purged transactions kept while live */
    long documents;    /* document files of purged transactions (deleted after the write) */
    long copies;       /* receipt copies still pending (failed, their contact cleared after) */
};

#define PURGE_COUNTS_TEXT_MAX 256
/* "N transactions, N personal values, ..." for logs, audit rows and the command line. */
void purge_counts_format(const struct purge_counts *c, char *out, size_t len);

/* Runs every plan in writes of at most PURGE_BATCH_MAX transactions (until none is left);
 * the counts include the document files and pending receipt copies of the transactions
 * purged, which the caller then deletes and fails (purge_run: store_documents_purged,
 * store_copies_purged);
 * in each write, each service with something purged gets one audit row
 * ("personal_data_purged", actor, the counts). today is the UK date ("YYYY-MM-DD"): limit
 * keys of purged transactions live until before it are deleted, live ones are kept.
 * dry_run reads only: nothing changes, nothing is audited, out says what would be done. */
enum store_result store_purge(struct store *store, const struct purge_plan *plans, size_t len,
                              const char *actor, time_t now, const char *today, bool dry_run,
                              struct purge_counts *out) STORE_MUSTCHECK;

#endif
