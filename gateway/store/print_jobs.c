/* store_print: print jobs in the store — the spooler's queue, the receipt's source
 * data, the one transition function of the print-job state machine, reprints and counts.
 *
 * A print job belongs to a transaction (its receipt, or a void or refund slip) or to a till
 * session (its cash-up slip, queued by the sign-off in store/till.c); exactly one of the two
 * (a CHECK in the schema). A till's job is named "TILL-<id>" in the queue and the audit.
 * A print job row is created with its transaction (store/transactions.c) or by a reprint (here).
 * Its life: pending -> printing (written BEFORE the document is sent, so a crash leaves a trace)
 * -> printing with the printer's job id (written as soon as the printer answers) -> printed,
 * or back to pending to retry later, or print_failed. print_move is the only code that
 * changes a job's state; it checks print_state_can_move, compares the caller's `from` with
 * the stored state (so two writers can never both move a job) and writes an audit entry. */
#include "gateway/store/store_private.h"

#include "gateway/log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PRINT_AUDIT_DETAIL_MAX 400
#define PRINT_SPOOLER_ACTOR    "spooler"

static const char *const state_names[] = {"pending", "printing", "printed", "print_failed"};

const char *print_state_name(enum print_state state)
{
    return state <= PRINT_FAILED ? state_names[state] : "unknown";
}

bool print_state_parse(const char *name, enum print_state *out)
{
    int i = store_name_index(state_names, PRINT_PENDING, PRINT_FAILED, name);
    if (i >= 0)
        *out = (enum print_state)i;
    return i >= 0;
}

bool print_state_can_move(enum print_state from, enum print_state to)
{
    switch (from) {
    case PRINT_PENDING:
        return to == PRINT_PRINTING || to == PRINT_FAILED;
    case PRINT_PRINTING:
        return to == PRINT_PRINTING || to == PRINT_PRINTED || to == PRINT_PENDING ||
               to == PRINT_FAILED;
    case PRINT_PRINTED:
    case PRINT_FAILED:
        return false;
    }
    return false;
}

static void copy_text(char *dst, size_t len, struct db_stmt *st, int col)
{
    const char *t = db_column_text(st, col);
    snprintf(dst, len, "%s", t ? (const char *)t : "");
}

static enum store_result audit(struct db *db, const char *actor, const char *counter,
                               const char *action, const char *subject, const char *detail,
                               time_t at)
{
    struct audit_entry e = {.actor = actor ? actor : PRINT_SPOOLER_ACTOR,
                            .counter = counter,
                            .action = action,
                            .subject = subject,
                            .detail = detail};
    return store_audit_insert(db, &e, at);
}

/* ---- the spooler's queue ---- */

/* What a job is for: the transaction's reference or "TILL-<id>" (STORE_REFERENCE_MAX fits). */
#define JOB_SUBJECT "COALESCE(t.reference, 'TILL-' || j.till_id)"
/* The job with what it is for (one of the two is NULL). */
#define JOB_FROM                                                                                   \
    " FROM print_jobs j LEFT JOIN transactions t ON t.id = j.transaction_id"                       \
    " LEFT JOIN tills l ON l.id = j.till_id"

#define JOB_COLUMNS                                                                                \
    "j.id, " JOB_SUBJECT ", j.printer, j.state, j.attempts, j.job_id, j.next_attempt_at_ms,"       \
    " j.reprint_of, j.till_id, j.updated_at"

static void read_job(struct db_stmt *st, struct print_job *j)
{
    memset(j, 0, sizeof *j);
    j->id = db_column_int64(st, 0);
    copy_text(j->reference, sizeof j->reference, st, 1);
    copy_text(j->printer, sizeof j->printer, st, 2);
    if (!print_state_parse(db_column_text(st, 3), &j->state))
        j->state = PRINT_FAILED; /* the CHECK constraint makes this unreachable */
    j->attempts = db_column_int64(st, 4);
    j->job_id = db_column_int64(st, 5); /* NULL reads as 0 */
    j->next_attempt_at_ms = db_column_int64(st, 6);
    j->reprint_of = db_column_int64(st, 7);
    j->till_id = db_column_int64(st, 8); /* NULL reads as 0 */
    j->updated_at = db_column_int64(st, 9);
}

enum store_result store_print_jobs(struct store *store, const char *printer, enum print_state state,
                                   int64_t now_ms, struct print_job *out, size_t limit, size_t *len)
{
    *len = 0;
    if (limit == 0)
        return STORE_OK;
    struct db *db = store_reader_acquire(store);
    struct db_stmt *st =
        db_cached(db, "SELECT " JOB_COLUMNS JOB_FROM " WHERE j.printer=?1 AND j.state=?2 AND"
                      " (?2 <> 'pending' OR j.next_attempt_at_ms <= ?3) ORDER BY j.id LIMIT ?4");
    enum store_result r = STORE_UNAVAILABLE;
    if (st) {
        db_bind_text(st, 1, printer);
        db_bind_text(st, 2, print_state_name(state));
        db_bind_int64(st, 3, now_ms);
        db_bind_int64(st, 4, (int64_t)limit);
        enum db_step rc = DB_DONE;
        while (*len < limit && (rc = db_step(st)) == DB_ROW)
            read_job(st, &out[(*len)++]);
        r = *len == limit || rc == DB_DONE ? STORE_OK : store_step_result(db, rc);
        db_release(st);
    }
    store_reader_release(store, db);
    return r;
}

int64_t store_print_next_due(struct store *store, const char *printer)
{
    struct db *db = store_reader_acquire(store);
    struct db_stmt *st = db_cached(db, "SELECT MIN(next_attempt_at_ms) FROM print_jobs"
                                       " WHERE printer=? AND state='pending'");
    int64_t next = INT64_MAX;
    if (st) {
        db_bind_text(st, 1, printer);
        if (db_step(st) == DB_ROW && !db_column_is_null(st, 0))
            next = db_column_int64(st, 0);
        db_release(st);
    }
    store_reader_release(store, db);
    return next;
}

/* ---- what a receipt is printed from ---- */

enum store_result store_print_source(struct store *store, int64_t print_job_id,
                                     struct print_source *out)
{
    memset(out, 0, sizeof *out);
    struct db *db = store_reader_acquire(store);
    struct db_stmt *st = db_cached(
        db, "SELECT " JOB_SUBJECT ", t.service, COALESCE(t.counter, l.counter),"
            " COALESCE(t.site, l.site), s.initials, p.method, t.status,"
            " t.fee_pence, p.tendered_pence, p.change_pence, COALESCE(t.created_at, l.closed_at),"
            " j.reprint_of, t.lines, j.receipt_size, j.receipt_language, j.banner, j.till_id, "
            "l.day" JOB_FROM " LEFT JOIN payments p ON p.transaction_id = t.id"
            " LEFT JOIN staff s ON s.username = t.staff"
            " WHERE j.id=? ORDER BY p.id LIMIT 1");
    enum store_result r = STORE_UNAVAILABLE;
    if (st) {
        db_bind_int64(st, 1, print_job_id);
        enum db_step rc = db_step(st);
        if (rc == DB_ROW) {
            copy_text(out->reference, sizeof out->reference, st, 0);
            copy_text(out->service, sizeof out->service, st, 1);
            copy_text(out->counter, sizeof out->counter, st, 2);
            copy_text(out->site, sizeof out->site, st, 3);
            copy_text(out->staff_initials, sizeof out->staff_initials, st, 4);
            copy_text(out->method, sizeof out->method, st, 5);
            copy_text(out->status, sizeof out->status, st, 6);
            out->fee_pence = db_column_int64(st, 7);
            out->tendered_pence = db_column_int64(st, 8);
            out->change_pence = db_column_int64(st, 9);
            out->created_at = (time_t)db_column_int64(st, 10);
            out->copy = !db_column_is_null(st, 11);
            const char *lines = db_column_text(st, 12);
            out->lines_json = strdup(lines ? (const char *)lines : "[]");
            copy_text(out->receipt_size, sizeof out->receipt_size, st, 13);
            copy_text(out->receipt_language, sizeof out->receipt_language, st, 14);
            copy_text(out->banner, sizeof out->banner, st, 15);
            out->till_id = db_column_int64(st, 16);
            copy_text(out->day, sizeof out->day, st, 17);
            r = out->lines_json ? STORE_OK : STORE_UNAVAILABLE;
        } else {
            r = rc == DB_DONE ? STORE_NOT_FOUND : store_step_result(db, rc);
        }
        db_release(st);
    }
    store_reader_release(store, db);
    return r;
}

/* ---- the one transition function ---- */

struct print_move_fenced {
    const struct print_move *move;
    int64_t session; /* store_printer_session when the move was asked for */
};

/* A new attempt on a shared database: whether this node's lock session still holds printer. */
static enum store_result print_fence(struct db *db, const char *printer, int64_t session)
{
    if (!db_shared(db))
        return STORE_OK;
    bool held = false;
    if (session <= 0)
        return STORE_CONFLICT;
    if (!db_session_holds(db, db_lock_key("printer", printer), session, &held))
        return db_result(db);
    if (!held)
        log_msg(LOG_WARN, "print_fence",
                "printer %s: this node no longer holds its queue; the attempt is not started",
                printer);
    return held ? STORE_OK : STORE_CONFLICT;
}

static enum store_result print_move_run(struct store_tx *tx, void *arg)
{
    const struct print_move_fenced *f = arg;
    const struct print_move *m = f->move;
    struct db *db = store_tx_db(tx);
    struct db_stmt *st =
        db_cached(db, "SELECT j.state, " JOB_SUBJECT ", j.printer, j.attempts, j.job_id" JOB_FROM
                      " WHERE j.id=?");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_int64(st, 1, m->print_job_id);
    enum db_step rc = db_step(st);
    enum print_state from = PRINT_FAILED;
    char reference[STORE_REFERENCE_MAX] = "", printer[STORE_PRINTER_NAME_MAX] = "";
    int attempts = 0;
    bool has_job_id = false;
    bool known = rc == DB_ROW && print_state_parse(db_column_text(st, 0), &from);
    if (known) {
        copy_text(reference, sizeof reference, st, 1);
        copy_text(printer, sizeof printer, st, 2);
        attempts = db_column_int64(st, 3);
        has_job_id = !db_column_is_null(st, 4);
    }
    db_release(st);
    if (!known)
        return rc == DB_ROW || rc == DB_DONE ? STORE_NOT_FOUND : store_step_result(db, rc);
    if (from != m->from || !print_state_can_move(from, m->to))
        return STORE_CONFLICT;
    /* the printer has it (another node's send recorded its job id): re-checked, never resent */
    if (m->new_attempt && from == PRINT_PRINTING && has_job_id)
        return STORE_CONFLICT;
    if (m->new_attempt) {
        enum store_result fenced = print_fence(db, printer, f->session);
        if (fenced != STORE_OK)
            return fenced;
    }

    time_t now = (time_t)(m->now_ms / 1000);
    char detail[PRINT_AUDIT_DETAIL_MAX], action[32];
    int attempt = attempts + (m->new_attempt ? 1 : 0);
    if (m->to == PRINT_PRINTING && !m->new_attempt)
        snprintf(action, sizeof action, "print_submitted"); /* the printer took it */
    else if (m->to == PRINT_PENDING)
        snprintf(action, sizeof action, "print_retry"); /* back in the queue for later */
    else
        snprintf(action, sizeof action, "print_%s",
                 m->to == PRINT_FAILED ? "failed" : print_state_name(m->to));
    int n = snprintf(detail, sizeof detail, "print job %lld on %s, attempt %d",
                     (long long)m->print_job_id, printer, attempt);
    if (m->job_id > 0 && n > 0 && (size_t)n < sizeof detail)
        n += snprintf(detail + n, sizeof detail - (size_t)n, ", printer job %d", m->job_id);
    if (m->error && *m->error && n > 0 && (size_t)n < sizeof detail)
        snprintf(detail + n, sizeof detail - (size_t)n, ": %s", m->error);

    /* last_error: kept while printing (the assistant still sees why the last attempt failed),
     * cleared once printed, replaced on a retry or a failure. */
    st = db_cached(
        db,
        "UPDATE print_jobs SET state=?1,"
        " attempts = attempts + ?2,"
        " job_id = CASE WHEN CAST(?3 AS BIGINT) > 0 THEN ?3 WHEN ?2 = 1 THEN NULL ELSE job_id END,"
        " next_attempt_at_ms = CASE WHEN ?1 = 'pending' THEN ?4 ELSE next_attempt_at_ms END,"
        " last_error = CASE WHEN ?1 = 'printed' THEN NULL"
        "   WHEN ?1 IN ('pending','print_failed') THEN ?5 ELSE last_error END,"
        " attempt_owner = CASE WHEN ?2 = 1 THEN ?9 ELSE attempt_owner END,"
        " updated_at=?6 WHERE id=?7 AND state=?8");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, print_state_name(m->to));
    db_bind_int64(st, 2, m->new_attempt ? 1 : 0);
    db_bind_int64(st, 3, m->job_id);
    db_bind_int64(st, 4, m->next_attempt_at_ms);
    db_bind_text(st, 5, m->error);
    db_bind_int64(st, 6, now);
    db_bind_int64(st, 7, m->print_job_id);
    db_bind_text(st, 8, print_state_name(from));
    db_bind_text(st, 9, store_node_id());
    struct audit_entry e = {.actor = m->actor ? m->actor : PRINT_SPOOLER_ACTOR,
                            .action = action,
                            .subject = reference,
                            .detail = detail};
    return store_move_commit(db, st, "print job move", &e, now);
}

enum store_result store_print_move(struct store *store, const struct print_move *move)
{
    struct print_move_fenced f = {.move = move, .session = store_printer_session(store)};
    return store_run(store, print_move_run, &f);
}

/* ---- a till session's cash-up slip ---- */

enum store_result store_print_queue_till(struct db *db, int64_t till_id, const char *printer,
                                         const char *actor, const char *counter, time_t now)
{
    struct db_stmt *st = db_cached(db, "INSERT INTO print_jobs(till_id, printer, state,"
                                       " next_attempt_at_ms, created_at, updated_at)"
                                       " VALUES(?1,?2,'pending',CAST(?3 AS BIGINT) * 1000,?3,?3)"
                                       " RETURNING id");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_int64(st, 1, till_id);
    db_bind_text(st, 2, printer);
    db_bind_int64(st, 3, now);
    int64_t print_job_id = 0;
    enum store_result r = store_step_id(db, st, "cash-up slip print job", &print_job_id);
    if (r != STORE_OK)
        return r;
    char subject[STORE_REFERENCE_MAX], detail[PRINT_AUDIT_DETAIL_MAX];
    snprintf(subject, sizeof subject, "TILL-%lld", (long long)till_id);
    snprintf(detail, sizeof detail, "print job %lld on %s, cash-up slip", (long long)print_job_id,
             printer);
    return audit(db, actor, counter, "print_queued", subject, detail, now);
}

/* ---- reprints ---- */

enum store_result store_tx_print_reprint(struct store_tx *tx, struct print_reprint *r)
{
    struct db *db = store_tx_db(tx);
    struct db_stmt *st =
        db_cached(db, "SELECT t.id, t.status,"
                      " (SELECT MAX(id) FROM print_jobs WHERE transaction_id = t.id),"
                      " (SELECT COUNT(*) FROM print_jobs WHERE transaction_id = t.id"
                      "   AND state IN ('pending','printing'))"
                      " FROM transactions t WHERE t.reference=?");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, r->reference);
    enum db_step rc = db_step(st);
    int64_t txn_id = 0, busy = 0;
    bool voided = false;
    if (rc == DB_ROW) {
        txn_id = db_column_int64(st, 0);
        voided = strcmp(db_column_text(st, 1), "voided") == 0;
        r->reprint_of = db_column_int64(st, 2); /* NULL reads as 0 */
        busy = db_column_int64(st, 3);
    }
    db_release(st);
    if (!txn_id)
        return rc == DB_DONE ? STORE_NOT_FOUND : store_step_result(db, rc);
    if (voided)
        return STORE_INVALID;
    if (busy > 0)
        return STORE_CONFLICT;

    st = db_cached(db, "INSERT INTO print_jobs(transaction_id, printer, state,"
                       " next_attempt_at_ms, reprint_of, created_at, updated_at,"
                       " receipt_size, receipt_language) VALUES(?,?,'pending',?,?,?,?,?,?)"
                       " RETURNING id");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_int64(st, 1, txn_id);
    db_bind_text(st, 2, r->printer);
    db_bind_int64(st, 3, (int64_t)r->now * 1000);
    if (r->reprint_of)
        db_bind_int64(st, 4, r->reprint_of);
    db_bind_int64(st, 5, r->now);
    db_bind_int64(st, 6, r->now);
    db_bind_text(st, 7, r->receipt_size ? r->receipt_size : "standard");
    db_bind_text(st, 8, r->receipt_language ? r->receipt_language : "en");
    enum store_result res = store_step_id(db, st, "reprint insert", &r->print_job_id);
    if (res != STORE_OK)
        return res;
    char detail[PRINT_AUDIT_DETAIL_MAX];
    snprintf(detail, sizeof detail, "print job %lld on %s, copy of job %lld",
             (long long)r->print_job_id, r->printer, (long long)r->reprint_of);
    return audit(db, r->staff, r->counter, "print_reprint", r->reference, detail, r->now);
}

/* ---- metrics ---- */

enum store_result store_print_counts(struct store *store, const char *printer,
                                     struct print_counts *out)
{
    memset(out, 0, sizeof *out);
    struct db *db = store_reader_acquire(store);
    struct db_stmt *st = db_cached(db, "SELECT state, COUNT(*) FROM print_jobs WHERE printer=?"
                                       " GROUP BY state");
    enum store_result r = STORE_UNAVAILABLE;
    if (st) {
        db_bind_text(st, 1, printer);
        enum db_step rc;
        while ((rc = db_step(st)) == DB_ROW) {
            enum print_state s;
            long n = (long)db_column_int64(st, 1);
            if (!print_state_parse(db_column_text(st, 0), &s))
                continue;
            switch (s) {
            case PRINT_PENDING:
                out->pending = n;
                break;
            case PRINT_PRINTING:
                out->printing = n;
                break;
            case PRINT_PRINTED:
                out->printed = n;
                break;
            case PRINT_FAILED:
                out->failed = n;
                break;
            }
        }
        r = rc == DB_DONE ? STORE_OK : store_step_result(db, rc);
        db_release(st);
    }
    store_reader_release(store, db);
    return r;
}
