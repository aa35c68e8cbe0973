/* store: the durable record of onestop — staff, sessions, audit, transactions, deliveries.
 *
 * This header is the store interface. The SQLite engine (store_sqlite.c) implements it; a
 * PostgreSQL engine for several gateway nodes would implement the same functions. Callers
 * never see SQL. Every write goes through ONE writer thread that groups the writes queued
 * while it was busy into one database transaction (group commit) and reports each write's
 * result only after COMMIT returned, i.e. after the data is on disk (synchronous=FULL).
 * Reads use a small pool of read connections (WAL lets them run beside the writer).
 *
 * Every function returns a store_result. STORE_UNAVAILABLE means the disk is full or the
 * database cannot be written; nothing of that call was stored, and the HTTP layer answers 503. */
#ifndef ONESTOP_STORE_H
#define ONESTOP_STORE_H

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

struct store;

struct store_options {
    const char *data_dir;
    long busy_timeout_ms;
    long group_commit_max;
    long read_connections;
};

/* Opens (creating if needed) data_dir/onestop.db, applies migrations, starts the writer.
 * NULL with a message in err when the file cannot be opened or its schema is newer than this
 * binary knows. */
struct store *store_open(const struct store_options *opts, char *err, size_t errlen) STORE_MUSTCHECK;
/* Finishes queued writes, stops the writer, closes every connection. */
void store_close(struct store *store);

/* A tiny real write (and rollback-free commit): proves the disk takes writes now. */
enum store_result store_check_writable(struct store *store) STORE_MUSTCHECK;
int store_schema_version(struct store *store);
const char *store_engine_name(void);

struct store_stats {
    uint64_t commits;
    uint64_t writes;
    uint64_t failed_commits;
    long max_batch;
};
void store_stats(struct store *store, struct store_stats *out);

/* ---- staff ---- */
enum staff_role { ROLE_ASSISTANT = 1, ROLE_SUPERVISOR = 2, ROLE_ADMIN = 3 };
const char *staff_role_name(enum staff_role role);
bool staff_role_parse(const char *name, enum staff_role *role) STORE_MUSTCHECK;

struct staff {
    int64_t id;
    char username[64];
    char initials[8];
    enum staff_role role;
    char password_hash[256];
    bool disabled;
};

enum store_result store_staff_add(struct store *store, const char *username, enum staff_role role,
                                  const char *initials, const char *password_hash) STORE_MUSTCHECK;
enum store_result store_staff_find(struct store *store, const char *username,
                                   struct staff *out) STORE_MUSTCHECK;
enum store_result store_staff_set_password(struct store *store, const char *username,
                                           const char *password_hash) STORE_MUSTCHECK;
enum store_result store_staff_set_disabled(struct store *store, const char *username,
                                           bool disabled) STORE_MUSTCHECK;
/* JSON array of {"username","role","initials","disabled"}; caller decrefs. */
enum store_result store_staff_list(struct store *store, json_t **out) STORE_MUSTCHECK;

/* ---- sessions (tokens are stored only as their SHA-256) ---- */
struct staff_session {
    char token_hash[65];
    struct staff staff;
    char counter[32];
    time_t created_at;
    time_t expires_at;
};

/* Creates the session and its audit entry in one write. */
enum store_result store_session_create(struct store *store, const char *token_hash,
                                       const struct staff *staff, const char *counter,
                                       time_t now, time_t expires_at,
                                       const char *remote) STORE_MUSTCHECK;
/* STORE_NOT_FOUND when unknown, ended or expired at `now`, or the staff member is disabled. */
enum store_result store_session_find(struct store *store, const char *token_hash, time_t now,
                                     struct staff_session *out) STORE_MUSTCHECK;
enum store_result store_session_end(struct store *store, const struct staff_session *session,
                                    time_t now, const char *remote) STORE_MUSTCHECK;

/* ---- audit ---- */
struct audit_entry {
    const char *actor;   /* staff username, "system", or a back-end name */
    const char *counter;
    const char *action;  /* sign_in, sign_in_failed, sign_out, ... */
    const char *subject; /* a reference or username; never personal data of residents */
    const char *detail;
    const char *remote;
};
enum store_result store_audit(struct store *store, const struct audit_entry *entry) STORE_MUSTCHECK;
/* The newest `limit` entries, newest first, optionally only one action. */
enum store_result store_audit_list(struct store *store, const char *action, int limit,
                                   json_t **out) STORE_MUSTCHECK;

#endif
