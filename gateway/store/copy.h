/* store_copy: `onestop store copy` — a SQLite store copied into an empty PostgreSQL one, the
 * move of a counter's store from one engine to the other.
 *
 * The source is read in one read transaction (a consistent snapshot; the caller also holds
 * onestopd's lock on its folder, so nothing writes it meanwhile). The target is migrated to
 * this binary's schema and must then hold no rows. Every table the source has is copied in
 * foreign-key order (parents first, rows in rowid order so that a row referring to an earlier
 * row of its own table follows it), with the column lists both engines have (their column
 * order differs), values as they are: sealed personal data stays sealed, never opened, so the
 * same key files serve both engines. Identity sequences are then set past the largest id.
 *
 * All of it happens in ONE PostgreSQL transaction that is committed only after the check
 * holds: row counts equal table by table, the audit hash chain intact on the target with the
 * source's head (id and hash), and a "store_copied" audit row appended through the chain.
 * Anything else rolls back, leaving the target as it was (migrated, empty). */
#ifndef ONESTOP_STORE_COPY_H
#define ONESTOP_STORE_COPY_H

#include "gateway/audit_chain.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define STORE_COPY_TABLES_MAX 64
#define STORE_COPY_NAME_MAX   64

struct store_copy_options {
    const char *sqlite_path; /* the source: an onestop.db */
    const char *conninfo;    /* the target: a libpq conninfo (never printed) */
    long batch_rows;         /* rows per INSERT statement (0: a default) */
    FILE *progress;          /* table, rows and rate as the copy goes (NULL: quiet) */
};

struct store_copy_table {
    char name[STORE_COPY_NAME_MAX];
    int64_t source_rows, target_rows;
};

struct store_copy_report {
    int schema_version;
    size_t tables_len;
    struct store_copy_table tables[STORE_COPY_TABLES_MAX];
    int64_t rows;                  /* rows copied, all tables */
    double seconds;                /* wall time of the copy and its checks */
    struct audit_head source_head; /* the source's chain head (id, hash) */
    struct audit_head target_head; /* the target's, before the store_copied row */
    int64_t audit_copied_id;       /* the store_copied row's id on the target */
};

enum store_copy_outcome {
    STORE_COPY_DONE,    /* copied, verified and committed */
    STORE_COPY_REFUSED, /* nothing done: the source or target is not fit (err says why) */
    STORE_COPY_FAILED,  /* the copy or its check failed: rolled back, the target is empty */
};

enum store_copy_outcome store_copy(const struct store_copy_options *opts,
                                   struct store_copy_report *report, char *err, size_t errlen);

#endif
