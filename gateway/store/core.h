/* store/core: what every part of the store interface shares — results, opening and closing,
 * statistics, and the jobs that write several records in one transaction (gateway/store.h
 * gathers the whole interface).
 *
 * The domain code (gateway/store/) is written once over db.h; an engine (SQLite in
 * gateway/store/sqlite/) implements that small SQL interface. Callers never see SQL. Every write
 * goes through ONE writer thread that groups the writes queued while it was busy into one database
 * transaction (group commit) and reports each write's result only after COMMIT returned, i.e. after
 * the data is on disk (synchronous=FULL). Reads use a small pool of read connections (WAL lets them
 * run beside the writer).
 *
 * Every function returns a store_result. STORE_UNAVAILABLE means the disk is full or the
 * database cannot be written; nothing of that call was stored, and the HTTP layer answers 503. */
#ifndef ONESTOP_STORE_CORE_H
#define ONESTOP_STORE_CORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define STORE_MUSTCHECK __attribute__((warn_unused_result))

enum store_result {
    STORE_OK = 0,
    STORE_NOT_FOUND,
    STORE_CONFLICT,    /* unique key taken, or a state change that is not allowed */
    STORE_INVALID,     /* the caller's data was refused (job-specific) */
    STORE_UNAVAILABLE, /* disk full, read-only, I/O error: nothing was written */
};

/* A transaction's reference ("OS-...") with its terminating NUL fits in this. */
#define STORE_REFERENCE_MAX 24

struct store;
struct field_crypt;

/* Where the store keeps its data: SQLite (one file in data_dir, one node) or PostgreSQL
 * (conninfo, several nodes). */
enum store_engine { STORE_ENGINE_SQLITE = 0, STORE_ENGINE_POSTGRESQL };

struct store_options {
    const char *data_dir;
    long busy_timeout_ms;
    long group_commit_max;
    long read_connections;
    /* the keys personal data is sealed with (field_crypt.h); NULL stores it in plain text.
     * It must outlive the store. */
    const struct field_crypt *crypt;
    enum store_engine engine;  /* 0: SQLite */
    const char *conninfo_file; /* PostgreSQL: the file holding the libpq conninfo (conninfo.h) */
    /* onestopd: the node id (the owner of its delivery leases) is kept in data_dir/node-id, so
     * a restarted node takes its own leases back at once; false (the CLI): a random one */
    bool stable_node_id;
};

/* The engine a config names ("sqlite", NULL or "" too, or "postgresql"); false for another. */
bool store_engine_parse(const char *name, enum store_engine *out);

/* The SQLite engine's database file inside data_dir (`onestop backup` and `restore` use it). */
#define STORE_FILE_NAME "onestop.db"

/* Opens (creating if needed) data_dir/onestop.db, applies migrations, starts the writer.
 * NULL with a message in err when the file cannot be opened or its schema is newer than this
 * binary knows. */
struct store *store_open(const struct store_options *opts, char *err,
                         size_t errlen) STORE_MUSTCHECK;
/* Shutdown on a slow or locked disk: every write still queued (not yet begun by the writer)
 * is finished at once with STORE_UNAVAILABLE — nothing of it was written — so the requests
 * waiting on it can be answered. A write the writer has begun is not touched. Returns how
 * many were refused. */
long store_refuse_queued(struct store *store);
/* Finishes queued writes, stops the writer, closes every connection. */
void store_close(struct store *store);

/* A tiny real write (and rollback-free commit): proves the disk takes writes now. */
enum store_result store_check_writable(struct store *store) STORE_MUSTCHECK;
int store_schema_version(struct store *store);
/* "sqlite" or "postgresql". */
const char *store_engine_name(struct store *store);
/* Whether several nodes may share this store (PostgreSQL): what they must agree on (a
 * printer's queue, sign-in failures) is then kept in the database, not in one process. */
bool store_is_shared(struct store *store);

struct store_stats {
    uint64_t commits;
    uint64_t writes;
    uint64_t failed_commits;
    long max_batch;
    long queued;  /* writes waiting for the writer now */
    long writing; /* writes in the group the writer is committing now */
};
void store_stats(struct store *store, struct store_stats *out);

/* ---- writes that span several records, run on the writer inside one database transaction ----
 * A store_tx is valid only inside the run function of a store_job. The job's done callback
 * runs on the store's finisher thread once the group is committed (result STORE_OK) or
 * failed, in the order the jobs were submitted; it must be quick (resume a connection, free
 * memory). */
struct store_tx;
struct store_job {
    enum store_result (*run)(struct store_tx *tx, void *arg);
    void *arg;
    void (*done)(struct store_job *job, enum store_result result);
    void *ctx;
    void *engine; /* private to the engine */
};
void store_submit(struct store *store, struct store_job *job);
/* Runs a job and waits for its commit. */
enum store_result store_run(struct store *store,
                            enum store_result (*run)(struct store_tx *, void *),
                            void *arg) STORE_MUSTCHECK;

#endif
