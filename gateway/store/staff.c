/* store_staff: staff, sessions and the audit trail in the store. */
#include "gateway/store/store_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const role_names[] = {NULL, "assistant", "supervisor", "admin", "auditor"};

const char *staff_role_name(enum staff_role role)
{
    return role >= ROLE_ASSISTANT && role <= ROLE_AUDITOR ? role_names[role] : "unknown";
}

bool staff_role_parse(const char *name, enum staff_role *role)
{
    int r = store_name_index(role_names, ROLE_ASSISTANT, ROLE_AUDITOR, name);
    if (r >= 0)
        *role = (enum staff_role)r;
    return r >= 0;
}

static void copy_text(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src ? src : "");
}

/* ---- staff ---- */

struct staff_add {
    const char *username, *initials, *hash;
    enum staff_role role;
};

static enum store_result staff_add_run(struct db *db, void *arg)
{
    struct staff_add *a = arg;
    struct db_stmt *st = db_cached(db, "INSERT INTO staff(username, role, initials,"
                                       " password_hash, created_at) VALUES(?,?,?,?,?)");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, a->username);
    db_bind_text(st, 2, staff_role_name(a->role));
    db_bind_text(st, 3, a->initials ? a->initials : "");
    db_bind_text(st, 4, a->hash);
    db_bind_int64(st, 5, time(NULL));
    enum db_step rc = db_step(st);
    db_release(st);
    if (rc != DB_DONE)
        return store_step_result(db, rc);
    struct audit_entry e = {.actor = "admin-cli",
                            .action = "staff_added",
                            .subject = a->username,
                            .detail = staff_role_name(a->role)};
    return store_audit_insert(db, &e, time(NULL));
}

enum store_result store_staff_add(struct store *store, const char *username, enum staff_role role,
                                  const char *initials, const char *password_hash)
{
    struct staff_add a = {username, initials, password_hash, role};
    return store_write_sync(store, staff_add_run, &a);
}

static void read_staff(struct db_stmt *st, int col, struct staff *out)
{
    out->id = db_column_int64(st, col);
    copy_text(out->username, sizeof out->username, db_column_text(st, col + 1));
    if (!staff_role_parse(db_column_text(st, col + 2), &out->role))
        out->role = ROLE_ASSISTANT;
    copy_text(out->initials, sizeof out->initials, db_column_text(st, col + 3));
    copy_text(out->password_hash, sizeof out->password_hash, db_column_text(st, col + 4));
    out->disabled = db_column_int64(st, col + 5) != 0;
}

#define STAFF_COLUMNS "s.id, s.username, s.role, s.initials, s.password_hash, s.disabled"

enum store_result store_staff_find(struct store *store, const char *username, struct staff *out)
{
    struct db *db = store_reader_acquire(store);
    struct db_stmt *st = db_cached(db, "SELECT " STAFF_COLUMNS " FROM staff s WHERE username=?");
    enum store_result r = STORE_UNAVAILABLE;
    if (st) {
        db_bind_text(st, 1, username);
        enum db_step rc = db_step(st);
        if (rc == DB_ROW) {
            read_staff(st, 0, out);
            r = STORE_OK;
        } else {
            r = rc == DB_DONE ? STORE_NOT_FOUND : store_step_result(db, rc);
        }
        db_release(st);
    }
    store_reader_release(store, db);
    return r;
}

struct staff_update {
    const char *username;
    const char *sql;
    const char *text;
    int number;
    const char *action;
    bool end_sessions; /* a new password or a disabled account signs the person out */
};

/* Ends every open session of username (a password change or a disabled account), audited. */
static enum store_result end_sessions_of(struct db *db, const char *username)
{
    time_t now = time(NULL);
    struct db_stmt *st = db_cached(db, "UPDATE sessions SET ended_at=? WHERE ended_at IS NULL"
                                       " AND staff_id=(SELECT id FROM staff WHERE username=?)");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_int64(st, 1, now);
    db_bind_text(st, 2, username);
    enum db_step rc = db_step(st);
    db_release(st);
    if (rc != DB_DONE)
        return store_step_result(db, rc);
    char detail[32];
    snprintf(detail, sizeof detail, "%lld ended", (long long)db_changes(db));
    struct audit_entry e = {
        .actor = "admin-cli", .action = "sessions_ended", .subject = username, .detail = detail};
    return store_audit_insert(db, &e, now);
}

static enum store_result staff_update_run(struct db *db, void *arg)
{
    struct staff_update *u = arg;
    struct db_stmt *st = db_cached(db, u->sql);
    if (!st)
        return STORE_UNAVAILABLE;
    if (u->text)
        db_bind_text(st, 1, u->text);
    else
        db_bind_int64(st, 1, u->number);
    db_bind_text(st, 2, u->username);
    enum db_step rc = db_step(st);
    db_release(st);
    if (rc != DB_DONE)
        return store_step_result(db, rc);
    if (db_changes(db) == 0)
        return STORE_NOT_FOUND;
    struct audit_entry e = {.actor = "admin-cli", .action = u->action, .subject = u->username};
    enum store_result r = store_audit_insert(db, &e, time(NULL));
    return r == STORE_OK && u->end_sessions ? end_sessions_of(db, u->username) : r;
}

enum store_result store_staff_set_password(struct store *store, const char *username,
                                           const char *password_hash)
{
    struct staff_update u = {.username = username,
                             .sql = "UPDATE staff SET password_hash=? WHERE username=?",
                             .text = password_hash,
                             .action = "staff_password_set",
                             .end_sessions = true};
    return store_write_sync(store, staff_update_run, &u);
}

enum store_result store_staff_set_disabled(struct store *store, const char *username, bool disabled)
{
    struct staff_update u = {.username = username,
                             .sql = "UPDATE staff SET disabled=? WHERE username=?",
                             .number = disabled ? 1 : 0,
                             .action = disabled ? "staff_disabled" : "staff_enabled",
                             .end_sessions = disabled};
    return store_write_sync(store, staff_update_run, &u);
}

static const struct store_column staff_columns[] = {{"username", COL_TEXT},
                                                    {"role", COL_TEXT},
                                                    {"initials", COL_TEXT},
                                                    {"disabled", COL_BOOL},
                                                    {0}};

enum store_result store_staff_list(struct store *store, json_t **out)
{
    struct db *db = store_reader_acquire(store);
    struct db_stmt *st = db_cached(db, "SELECT username, role, initials, disabled FROM staff"
                                       " ORDER BY username");
    enum store_result r = store_rows_json(st, staff_columns, out);
    store_reader_release(store, db);
    return r;
}

/* ---- sessions ---- */

struct session_create {
    const char *token_hash;
    const struct staff *staff;
    const char *counter, *remote;
    time_t now, expires_at;
};

static enum store_result session_create_run(struct db *db, void *arg)
{
    struct session_create *c = arg;
    struct db_stmt *st = db_cached(db, "INSERT INTO sessions(token_hash, staff_id, counter,"
                                       " created_at, expires_at, last_seen_at)"
                                       " VALUES(?,?,?,?,?,?4)");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, c->token_hash);
    db_bind_int64(st, 2, c->staff->id);
    db_bind_text(st, 3, c->counter);
    db_bind_int64(st, 4, c->now);
    db_bind_int64(st, 5, c->expires_at);
    enum db_step rc = db_step(st);
    db_release(st);
    if (rc != DB_DONE)
        return store_step_result(db, rc);
    struct audit_entry e = {.actor = c->staff->username,
                            .counter = c->counter,
                            .action = "sign_in",
                            .subject = c->staff->username,
                            .remote = c->remote};
    return store_audit_insert(db, &e, c->now);
}

enum store_result store_session_create(struct store *store, const char *token_hash,
                                       const struct staff *staff, const char *counter, time_t now,
                                       time_t expires_at, const char *remote)
{
    struct session_create c = {token_hash, staff, counter, remote, now, expires_at};
    return store_write_sync(store, session_create_run, &c);
}

enum store_result store_session_find(struct store *store, const char *token_hash, time_t now,
                                     struct staff_session *out)
{
    struct db *db = store_reader_acquire(store);
    struct db_stmt *st = db_cached(
        db, "SELECT " STAFF_COLUMNS ", x.counter, x.created_at, x.expires_at, x.last_seen_at"
            " FROM sessions x JOIN staff s ON s.id = x.staff_id"
            " WHERE x.token_hash=? AND x.ended_at IS NULL AND x.expires_at > ? AND s.disabled=0");
    enum store_result r = STORE_UNAVAILABLE;
    if (st) {
        db_bind_text(st, 1, token_hash);
        db_bind_int64(st, 2, now);
        enum db_step rc = db_step(st);
        if (rc == DB_ROW) {
            snprintf(out->token_hash, sizeof out->token_hash, "%s", token_hash);
            read_staff(st, 0, &out->staff);
            copy_text(out->counter, sizeof out->counter, db_column_text(st, 6));
            out->created_at = (time_t)db_column_int64(st, 7);
            out->expires_at = (time_t)db_column_int64(st, 8);
            out->last_seen_at = (time_t)db_column_int64(st, 9);
            r = STORE_OK;
        } else {
            r = rc == DB_DONE ? STORE_NOT_FOUND : store_step_result(db, rc);
        }
        db_release(st);
    }
    store_reader_release(store, db);
    return r;
}

struct session_end {
    const struct staff_session *session;
    time_t now;
    const char *remote;
};

static enum store_result session_end_run(struct db *db, void *arg)
{
    struct session_end *e = arg;
    struct db_stmt *st = db_cached(db, "UPDATE sessions SET ended_at=? WHERE token_hash=?"
                                       " AND ended_at IS NULL");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_int64(st, 1, e->now);
    db_bind_text(st, 2, e->session->token_hash);
    enum db_step rc = db_step(st);
    db_release(st);
    if (rc != DB_DONE)
        return store_step_result(db, rc);
    struct audit_entry a = {.actor = e->session->staff.username,
                            .counter = e->session->counter,
                            .action = "sign_out",
                            .subject = e->session->staff.username,
                            .remote = e->remote};
    return store_audit_insert(db, &a, e->now);
}

enum store_result store_session_end(struct store *store, const struct staff_session *session,
                                    time_t now, const char *remote)
{
    struct session_end e = {session, now, remote};
    return store_write_sync(store, session_end_run, &e);
}

struct session_touch {
    char token_hash[65];
    time_t now;
    struct store_job job;
};

static enum store_result session_touch_run(struct store_tx *tx, void *arg)
{
    struct session_touch *t = arg;
    struct db *db = store_tx_db(tx);
    struct db_stmt *st =
        db_cached(db, "UPDATE sessions SET last_seen_at=? WHERE token_hash=? AND ended_at IS NULL");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_int64(st, 1, t->now);
    db_bind_text(st, 2, t->token_hash);
    enum db_step rc = db_step(st);
    db_release(st);
    return store_step_result(db, rc);
}

static void session_touch_done(struct store_job *job, enum store_result result)
{
    (void)result; /* best effort: the next request touches it again */
    free(job->arg);
}

void store_session_touch(struct store *store, const char *token_hash, time_t now)
{
    struct session_touch *t = calloc(1, sizeof *t);
    if (!t)
        return;
    snprintf(t->token_hash, sizeof t->token_hash, "%s", token_hash);
    t->now = now;
    t->job = (struct store_job){.run = session_touch_run, .arg = t, .done = session_touch_done};
    store_submit(store, &t->job);
}

/* ---- audit ---- */

static enum store_result audit_run(struct db *db, void *arg)
{
    return store_audit_insert(db, arg, time(NULL));
}

enum store_result store_audit(struct store *store, const struct audit_entry *entry)
{
    return store_write_sync(store, audit_run, (void *)entry);
}

static const struct store_column audit_columns[] = {
    {"at", COL_INT},       {"actor", COL_TEXT},  {"counter", COL_TEXT}, {"action", COL_TEXT},
    {"subject", COL_TEXT}, {"detail", COL_TEXT}, {"remote", COL_TEXT},  {0}};

enum store_result store_audit_list(struct store *store, const char *action, int limit, json_t **out)
{
    struct db *db = store_reader_acquire(store);
    struct db_stmt *st =
        db_cached(db, "SELECT at, actor, counter, action, subject, detail, remote FROM audit"
                      " WHERE (CAST(?1 AS TEXT) IS NULL OR action=?1) ORDER BY id DESC LIMIT ?2");
    if (st) {
        db_bind_text(st, 1, action);
        db_bind_int64(st, 2, limit);
    }
    enum store_result r = store_rows_json(st, audit_columns, out);
    store_reader_release(store, db);
    return r;
}
