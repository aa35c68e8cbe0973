/* store_copies: the receipt copy outbox in the store; see store/copies.h.
 *
 * DESIGN: like the deliveries (docs/delivery.md), every state change goes through copy_move:
 * the rule table copy_state_can_move, a compare-and-set UPDATE on the state the caller saw,
 * and one audit row (receipt_copy_sent | receipt_copy_failed) in the same write. The move out
 * of `pending` is also where the contact leaves the store: the payload is replaced by its
 * masked form in the same UPDATE. */
#include "gateway/store/copies.h"
#include "gateway/store/store_private.h"

#include "gateway/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COPY_DETAIL_MAX 160

static const char *const state_names[] = {"pending", "sent", "failed"};

const char *copy_state_name(enum copy_state state)
{
    return state <= COPY_FAILED ? state_names[state] : "unknown";
}

bool copy_state_can_move(enum copy_state from, enum copy_state to)
{
    switch (from) {
    case COPY_PENDING:
        return to == COPY_SENT || to == COPY_FAILED;
    case COPY_SENT:
    case COPY_FAILED:
        return false;
    }
    return false;
}

/* The one transition function: moves copy id from `from` to `to` (compare and set), with the
 * columns the move sets, and audits it. STORE_CONFLICT when the copy left `from` meanwhile. */
static enum store_result copy_move(struct db *db, const struct copy_outcome *o,
                                   enum copy_state from, enum copy_state to)
{
    if (!copy_state_can_move(from, to)) {
        store_illegal_move("receipt_copy", copy_state_name(from), copy_state_name(to));
        return STORE_CONFLICT;
    }
    /* what the audit row names: the sale's reference and the channel */
    struct db_stmt *st = db_cached(db, "SELECT t.reference, c.channel FROM receipt_copies c"
                                       " JOIN transactions t ON t.id = c.transaction_id"
                                       " WHERE c.id = ?");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_int64(st, 1, o->id);
    char reference[STORE_REFERENCE_MAX] = "", detail[COPY_DETAIL_MAX];
    if (db_step(st) == DB_ROW) {
        snprintf(reference, sizeof reference, "%s", db_column_text(st, 0));
        snprintf(detail, sizeof detail, "copy %lld by %s%s%s", (long long)o->id,
                 db_column_text(st, 1), o->notification_id ? ": " : "",
                 o->notification_id ? o->notification_id : "");
    } else {
        snprintf(detail, sizeof detail, "copy %lld", (long long)o->id);
    }
    db_release(st);
    st = db_cached(
        db,
        "UPDATE receipt_copies SET state = ?2, notification_id = coalesce(?3,"
        " notification_id), payload = coalesce(pd_seal(?4, 'receipt_copies.payload'), payload),"
        " last_error = coalesce(?5, last_error), last_status = coalesce(?6, last_status),"
        " note = coalesce(?7, note),"
        " outcome_unknown = CASE WHEN ?2 = 'sent' THEN 0 ELSE outcome_unknown END,"
        " attempts = attempts + ?8, sent_at = CASE WHEN ?2 = 'sent' THEN CAST(?9 AS BIGINT) END,"
        " updated_at = ?9 WHERE id = ?1 AND state = ?10");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_int64(st, 1, o->id);
    db_bind_text(st, 2, copy_state_name(to));
    db_bind_text(st, 3, o->notification_id);
    db_bind_text(st, 4, o->masked_payload);
    db_bind_text(st, 5, o->error);
    if (o->http_status)
        db_bind_int64(st, 6, o->http_status);
    db_bind_text(st, 7, o->note);
    db_bind_int64(st, 8, o->note ? 0 : 1); /* a look-up's find is not an attempt */
    db_bind_int64(st, 9, o->now);
    db_bind_text(st, 10, copy_state_name(from));
    struct audit_entry e = {.actor = "notify",
                            .action = to == COPY_SENT ? "receipt_copy_sent" : "receipt_copy_failed",
                            .subject = reference,
                            .detail = detail};
    return store_move_commit(db, st, "receipt copy move", &e, o->now);
}

/* ---- the request ---- */

struct request_run {
    const struct copy_request *rq;
    int status;
    char *response;
};

static enum store_result request_insert(struct db *db, struct request_run *rr, int64_t txn_id,
                                        json_t *copies)
{
    const struct copy_request *rq = rr->rq;
    for (size_t i = 0; i < rq->copies_len; i++) {
        const struct copy_new *c = &rq->copies[i];
        struct db_stmt *st = db_cached(
            db, "INSERT INTO receipt_copies(transaction_id, channel, notify_reference, payload,"
                " masked_contact, state, next_attempt_at_ms, staff, created_at, updated_at)"
                " VALUES(?1, ?2, ?3, pd_seal(?4, 'receipt_copies.payload'), ?5, 'pending',"
                " CAST(?6 AS BIGINT) * 1000, ?7, ?6, ?6) RETURNING id");
        if (!st)
            return STORE_UNAVAILABLE;
        db_bind_int64(st, 1, txn_id);
        db_bind_text(st, 2, c->channel);
        db_bind_text(st, 3, c->notify_reference);
        db_bind_text(st, 4, c->payload);
        db_bind_text(st, 5, c->masked);
        db_bind_int64(st, 6, rq->now);
        db_bind_text(st, 7, rq->staff);
        int64_t id = 0;
        enum store_result r = store_step_id(db, st, "receipt copy insert", &id);
        if (r != STORE_OK)
            return r;
        json_array_append_new(copies,
                              json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)id, "channel",
                                        c->channel, "to", c->masked, "state", "pending"));
    }
    return STORE_OK;
}

static enum store_result request_run(struct store_tx *tx, void *arg)
{
    struct request_run *rr = arg;
    const struct copy_request *rq = rr->rq;
    struct db *db = store_tx_db(tx);
    char stored_hash[65];
    int stored_status = 0;
    char *stored = NULL;
    enum store_result r = store_tx_idempotency_find(tx, rq->staff, rq->idempotency_key, stored_hash,
                                                    &stored_status, &stored);
    if (r == STORE_OK) {
        if (strcmp(stored_hash, rq->request_hash) == 0) {
            rr->status = stored_status == 202 ? 200 : stored_status;
            rr->response = stored;
        } else {
            free(stored);
            rr->status = 409;
            rr->response = NULL;
        }
        return STORE_OK;
    }
    if (r != STORE_NOT_FOUND)
        return r;
    struct db_stmt *st = db_cached(db, "SELECT id FROM transactions WHERE reference = ?");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, rq->reference);
    enum db_step rc = db_step(st);
    int64_t txn_id = rc == DB_ROW ? db_column_int64(st, 0) : 0;
    db_release(st);
    if (rc != DB_ROW)
        return rc == DB_DONE ? STORE_NOT_FOUND : STORE_UNAVAILABLE;
    st = db_cached(db, "SELECT COUNT(*) FROM receipt_copies WHERE transaction_id = ?");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_int64(st, 1, txn_id);
    rc = db_step(st);
    long already = rc == DB_ROW ? (long)db_column_int64(st, 0) : -1;
    db_release(st);
    if (already < 0)
        return STORE_UNAVAILABLE;
    if (already + (long)rq->copies_len > COPIES_PER_TRANSACTION_MAX) {
        rr->status = 429; /* nothing written: the caller says why */
        return STORE_OK;
    }
    json_t *copies = json_array();
    json_t *body = json_pack("{s:s, s:o}", "reference", rq->reference, "copies", copies);
    r = request_insert(db, rr, txn_id, copies);
    char *text = r == STORE_OK ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (r != STORE_OK)
        return r;
    if (!text)
        return STORE_UNAVAILABLE;
    st = db_cached(db, "INSERT INTO idempotency(key, request_hash, transaction_id, status,"
                       " response, created_at, staff) VALUES(?,?,?,202,?,?,?)");
    if (!st) {
        free(text);
        return STORE_UNAVAILABLE;
    }
    db_bind_text(st, 1, rq->idempotency_key);
    db_bind_text(st, 2, rq->request_hash);
    db_bind_int64(st, 3, txn_id);
    db_bind_text(st, 4, text);
    db_bind_int64(st, 5, rq->now);
    db_bind_text(st, 6, rq->staff);
    r = store_step_done(db, st, "receipt copy idempotency insert");
    if (r != STORE_OK) {
        free(text);
        return r;
    }
    char detail[COPY_DETAIL_MAX];
    snprintf(detail, sizeof detail, "%zu cop%s requested", rq->copies_len,
             rq->copies_len == 1 ? "y" : "ies");
    struct audit_entry e = {.actor = rq->staff,
                            .counter = rq->counter,
                            .action = "receipt_copy_requested",
                            .subject = rq->reference,
                            .detail = detail};
    r = store_audit_insert(db, &e, rq->now);
    if (r != STORE_OK) {
        free(text);
        return r;
    }
    rr->status = 202;
    rr->response = text;
    return STORE_OK;
}

enum store_result store_copies_request(struct store *store, const struct copy_request *rq,
                                       int *status, char **response)
{
    struct request_run rr = {.rq = rq};
    enum store_result r = store_run(store, request_run, &rr);
    if (r != STORE_OK) {
        free(rr.response);
        return r;
    }
    *status = rr.status;
    *response = rr.response;
    return STORE_OK;
}

/* ---- the sender's side ---- */

void store_copies_free(struct receipt_copy *list, size_t len)
{
    for (size_t i = 0; list && i < len; i++)
        free(list[i].payload);
    free(list);
}

enum store_result store_copies_due(struct store *store, int64_t now_ms, int limit,
                                   struct receipt_copy **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (limit < 1 || limit > COPIES_DUE_MAX)
        limit = COPIES_DUE_MAX;
    struct receipt_copy *list = calloc((size_t)limit, sizeof *list);
    if (!list)
        return STORE_UNAVAILABLE;
    struct db *db = store_reader_acquire(store);
    struct db_stmt *st = db_cached(
        db, "SELECT c.id, c.channel, c.notify_reference, t.reference,"
            " pd_open(c.payload, 'receipt_copies.payload'), c.attempts, c.outcome_unknown,"
            " c.created_at FROM receipt_copies c"
            " JOIN transactions t ON t.id = c.transaction_id"
            " WHERE c.state = 'pending' AND c.next_attempt_at_ms <= ? ORDER BY c.id LIMIT ?");
    enum store_result r = st ? STORE_OK : STORE_UNAVAILABLE;
    size_t n = 0;
    if (st) {
        db_bind_int64(st, 1, now_ms);
        db_bind_int64(st, 2, limit);
        enum db_step rc;
        while ((rc = db_step(st)) == DB_ROW) {
            struct receipt_copy *c = &list[n++];
            c->id = db_column_int64(st, 0);
            snprintf(c->channel, sizeof c->channel, "%s", db_column_text(st, 1));
            snprintf(c->notify_reference, sizeof c->notify_reference, "%s", db_column_text(st, 2));
            snprintf(c->reference, sizeof c->reference, "%s", db_column_text(st, 3));
            c->payload = strdup(db_column_text(st, 4));
            c->attempts = (long)db_column_int64(st, 5);
            c->outcome_unknown = db_column_int64(st, 6) != 0;
            c->created_at = (time_t)db_column_int64(st, 7);
            if (!c->payload)
                rc = DB_ERROR;
            if (!c->payload)
                break;
        }
        if (rc != DB_DONE)
            r = STORE_UNAVAILABLE; /* a failed step is an error, never a short list */
        db_release(st);
    }
    store_reader_release(store, db);
    if (r != STORE_OK) {
        store_copies_free(list, n);
        return r;
    }
    *out = list;
    *len = n;
    return STORE_OK;
}

static enum store_result record_run(struct db *db, void *arg)
{
    const struct copy_outcome *o = arg;
    switch (o->kind) {
    case COPY_OUTCOME_SENT:
        return copy_move(db, o, COPY_PENDING, COPY_SENT);
    case COPY_OUTCOME_FAILED:
        return copy_move(db, o, COPY_PENDING, COPY_FAILED);
    case COPY_OUTCOME_SENDING: {
        struct db_stmt *st = db_cached(db, "UPDATE receipt_copies SET outcome_unknown = 1"
                                           " WHERE id = ? AND state = 'pending'");
        if (!st)
            return STORE_UNAVAILABLE;
        db_bind_int64(st, 1, o->id);
        enum store_result r = store_step_done(db, st, "receipt copy sending");
        if (r == STORE_OK && db_changes(db) != 1)
            r = STORE_CONFLICT;
        return r;
    }
    case COPY_OUTCOME_RETRY:
    case COPY_OUTCOME_NOT_FOUND: {
        bool retry = o->kind == COPY_OUTCOME_RETRY;
        struct db_stmt *st = db_cached(
            db, "UPDATE receipt_copies SET attempts = attempts + ?2, next_attempt_at_ms = ?3,"
                " last_error = coalesce(?4, last_error), last_status = ?5,"
                " outcome_unknown = ?6, note = ?7, updated_at = ?8"
                " WHERE id = ?1 AND state = 'pending'");
        if (!st)
            return STORE_UNAVAILABLE;
        db_bind_int64(st, 1, o->id);
        db_bind_int64(st, 2, retry ? 1 : 0);
        db_bind_int64(st, 3, o->next_attempt_at_ms);
        db_bind_text(st, 4, o->error);
        if (o->http_status)
            db_bind_int64(st, 5, o->http_status);
        db_bind_int64(st, 6, o->outcome_unknown ? 1 : 0);
        db_bind_text(st, 7,
                     retry ? NULL : "Not found at Notify after an unknown outcome: sent again.");
        db_bind_int64(st, 8, o->now);
        enum store_result r = store_step_done(db, st, "receipt copy attempt");
        if (r == STORE_OK && db_changes(db) != 1)
            r = STORE_CONFLICT;
        return r;
    }
    }
    return STORE_INVALID;
}

enum store_result store_copy_record(struct store *store, const struct copy_outcome *o)
{
    return store_write_sync(store, record_run, (void *)o);
}

struct report {
    const char *notify_reference, *notification_id, *status;
    time_t now;
};

static enum store_result report_run(struct db *db, void *arg)
{
    const struct report *rp = arg;
    struct db_stmt *st = db_cached(
        db, "UPDATE receipt_copies SET notify_status = ?3, status_at = ?4, updated_at = ?4,"
            " notification_id = coalesce(notification_id, ?2)"
            " WHERE id = (SELECT id FROM receipt_copies WHERE notify_reference = ?1"
            "   OR (CAST(?1 AS TEXT) IS NULL AND notification_id = ?2) LIMIT 1)");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, rp->notify_reference);
    db_bind_text(st, 2, rp->notification_id);
    db_bind_text(st, 3, rp->status);
    db_bind_int64(st, 4, rp->now);
    enum store_result r = store_step_done(db, st, "receipt copy report");
    if (r != STORE_OK)
        return r;
    if (db_changes(db) != 1)
        return STORE_NOT_FOUND;
    char detail[COPY_DETAIL_MAX];
    snprintf(detail, sizeof detail, "Notify reports %s", rp->status);
    struct audit_entry e = {.actor = "notify",
                            .action = "receipt_copy_reported",
                            .subject = rp->notify_reference,
                            .detail = detail};
    return store_audit_insert(db, &e, rp->now);
}

enum store_result store_copy_report(struct store *store, const char *notify_reference,
                                    const char *notification_id, const char *status, time_t now)
{
    struct report rp = {notify_reference, notification_id, status, now};
    return store_write_sync(store, report_run, &rp);
}

static const struct store_column copy_columns[] = {{"id", COL_INT},
                                                   {"channel", COL_TEXT},
                                                   {"to", COL_TEXT},
                                                   {"state", COL_TEXT},
                                                   {"notify_status", COL_TEXT},
                                                   {"notification_id", COL_TEXT},
                                                   {"attempts", COL_INT},
                                                   {"last_error", COL_TEXT},
                                                   {"note", COL_TEXT},
                                                   {"requested_at", COL_TIME},
                                                   {"sent_at", COL_TIME},
                                                   {"status_at", COL_TIME},
                                                   {"outcome_unknown", COL_BOOL},
                                                   {0}};

enum store_result store_copies_json(struct store *store, const char *reference, json_t **out)
{
    struct db *db = store_reader_acquire(store);
    struct db_stmt *st = db_cached(
        db, "SELECT c.id, c.channel, c.masked_contact, c.state, c.notify_status,"
            " c.notification_id, c.attempts, c.last_error, c.note, c.created_at, c.sent_at,"
            " c.status_at, c.outcome_unknown FROM receipt_copies c"
            " JOIN transactions t ON t.id = c.transaction_id WHERE t.reference = ? ORDER BY c.id");
    if (st)
        db_bind_text(st, 1, reference);
    enum store_result r = store_rows_json(st, copy_columns, out);
    store_reader_release(store, db);
    return r;
}

static const struct store_column purged_columns[] = {{"id", COL_INT}, {"payload", COL_TEXT}, {0}};

enum store_result store_copies_purged(struct store *store, int limit, json_t **out)
{
    struct db *db = store_reader_acquire(store);
    struct db_stmt *st =
        db_cached(db, "SELECT c.id, c.payload FROM receipt_copies c JOIN transactions t"
                      " ON t.id = c.transaction_id WHERE c.state = 'pending'"
                      " AND t.purged_at IS NOT NULL ORDER BY c.id LIMIT ?");
    if (st)
        db_bind_int64(st, 1, limit);
    enum store_result r = store_rows_json(st, purged_columns, out);
    store_reader_release(store, db);
    return r;
}
