/* store_delivery: the delivery outbox in the store — its state machine, the
 * forwarder's queries and the outcomes it records, and the supervisors' dead-letter list.
 *
 * DESIGN: a delivery is `pending` (waiting for its next attempt), `delivered` (the back-end
 * has it) or `failed` (a dead letter, waiting for a supervisor). Its state changes only in
 * delivery_move: one rule table (delivery_state_can_move), a compare-and-set UPDATE on the
 * state the caller saw, and one audit row per move, in the caller's database transaction.
 * A retry after a failed attempt is not a move (the delivery stays pending; only its attempt
 * count, last error and next attempt change), so the audit trail holds moves, not attempts.
 *
 * Rules the outcome recorder keeps:
 * - a back-end that already reported the transaction completed has the request, whatever a
 *   later resend is answered: the delivery becomes `delivered`, never failed or retried (a
 *   refused resend used to be retried every second forever because completed -> failed is no
 *   transaction move);
 * - the give-up deadline counts from series_started_at: the delivery's creation, or the
 *   supervisor's hand retry that started a new series of attempts;
 * - an outcome for a delivery that left `pending` meanwhile (a hand move, a completion) is a
 *   conflict and changes nothing. */
#include "gateway/store/store_private.h"

#include "gateway/log.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define LIST_LIMIT_MAX     500
#define LIST_LIMIT_DEFAULT 100
#define BACKEND_NAME_MAX   64
/* an outcome's audit detail: "transaction failed: " and the error (delivery_outcome.error) */
#define OUTCOME_DETAIL_MAX 560

static const char *const state_names[] = {"pending",   "delivered",  "failed",
                                          "cancelled", "cancelling", "cancel_failed"};

const char *delivery_state_name(enum delivery_state state)
{
    return state <= DELIVERY_CANCEL_FAILED ? state_names[state] : "unknown";
}

bool delivery_state_parse(const char *name, enum delivery_state *out)
{
    int i = store_name_index(state_names, DELIVERY_PENDING, DELIVERY_CANCEL_FAILED, name);
    if (i >= 0)
        *out = (enum delivery_state)i;
    return i >= 0;
}

bool delivery_state_can_move(enum delivery_state from, enum delivery_state to)
{
    switch (from) {
    case DELIVERY_PENDING:
        return to == DELIVERY_DELIVERED || to == DELIVERY_FAILED || to == DELIVERY_CANCELLED;
    case DELIVERY_FAILED:
        /* a supervisor's hand retry, or a void */
        return to == DELIVERY_PENDING || to == DELIVERY_CANCELLED;
    case DELIVERY_DELIVERED:
        return to == DELIVERY_CANCELLING; /* a void: the back-end is told */
    case DELIVERY_CANCELLED:
        return to == DELIVERY_CANCELLING; /* an in-flight request landed after the void */
    case DELIVERY_CANCELLING:
        return to == DELIVERY_CANCELLED || to == DELIVERY_CANCEL_FAILED;
    case DELIVERY_CANCEL_FAILED:
        return false;
    }
    return false;
}

/* The audit action of a move. */
static const char *move_action(enum delivery_state from, enum delivery_state to)
{
    if (from == DELIVERY_FAILED && to == DELIVERY_PENDING)
        return "delivery_retried";
    switch (to) {
    case DELIVERY_DELIVERED:
        return "delivery_delivered";
    case DELIVERY_CANCELLED:
        return "delivery_cancelled";
    case DELIVERY_CANCELLING:
        return "delivery_cancelling";
    case DELIVERY_CANCEL_FAILED:
        return "delivery_cancel_failed";
    case DELIVERY_PENDING:
    case DELIVERY_FAILED:
        break;
    }
    return "delivery_failed";
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A statement without parameters or rows (BEGIN, COMMIT, SAVEPOINT ...) from the connection's
 * statement cache: parsed once, not on every call. sql must be a string literal (the cache is
 * keyed by its address). */
static bool bracket(struct db *db, const char *sql)
{
    struct db_stmt *st = db_cached(db, sql);
    if (!st)
        return false;
    enum db_step rc = db_step(st);
    db_release(st);
    return rc != DB_ERROR;
}

/* What an outcome or a hand move needs to know of a delivery and its transaction. */
struct delivery_row {
    int64_t txn_id;
    char reference[STORE_REFERENCE_MAX];
    char backend[BACKEND_NAME_MAX];
    enum delivery_state state;
    enum txn_status txn_status;
};

/* The row st stepped to (DELIVERY_ROW_COLUMNS), read into out; rc is the step's answer;
 * STORE_NOT_FOUND when there was none. */
#define DELIVERY_ROW_COLUMNS "d.transaction_id, t.reference, d.backend, d.state, t.status"
static enum store_result delivery_row_fill(struct db *db, struct db_stmt *st, enum db_step rc,
                                           struct delivery_row *out)
{
    enum store_result r = STORE_NOT_FOUND;
    if (rc == DB_ROW) {
        out->txn_id = db_column_int64(st, 0);
        snprintf(out->reference, sizeof out->reference, "%s", db_column_text(st, 1));
        snprintf(out->backend, sizeof out->backend, "%s", db_column_text(st, 2));
        bool known = delivery_state_parse(db_column_text(st, 3), &out->state) &&
                     txn_status_parse(db_column_text(st, 4), &out->txn_status);
        r = known ? STORE_OK : STORE_INVALID;
    } else if (rc != DB_DONE) {
        r = store_step_result(db, rc);
    }
    return r;
}

static enum store_result delivery_row_read(struct db *db, int64_t delivery_id,
                                           struct delivery_row *out)
{
    struct db_stmt *st = db_cached(db, "SELECT " DELIVERY_ROW_COLUMNS " FROM deliveries d"
                                       " JOIN transactions t ON t.id = d.transaction_id"
                                       " WHERE d.id=?");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_int64(st, 1, delivery_id);
    enum store_result r = delivery_row_fill(db, st, db_step(st), out);
    db_release(st);
    return r;
}

/* The one transition function: moves delivery `id` from `from` (the state the caller saw) to
 * `to`, stamps the time of the move, and audits it. STORE_CONFLICT when the delivery is no
 * longer in `from`; an illegal move is a bug (see store_illegal_move). */
static enum store_result delivery_move(struct db *db, int64_t id, const char *reference,
                                       enum delivery_state from, enum delivery_state to,
                                       const char *actor, const char *counter, const char *detail,
                                       time_t now)
{
    if (!delivery_state_can_move(from, to)) {
        store_illegal_move("delivery", delivery_state_name(from), delivery_state_name(to));
        return STORE_INVALID;
    }
    struct db_stmt *st = db_cached(
        db, "UPDATE deliveries SET state=?1,"
            " delivered_at = CASE WHEN ?1='delivered' THEN ?2 ELSE delivered_at END,"
            " failed_at = CASE WHEN ?1 IN ('failed','cancel_failed') THEN ?2 END,"
            " cancelled_at = CASE WHEN ?1='cancelled' THEN ?2 ELSE cancelled_at END,"
            " series_started_at = CASE WHEN ?1 IN ('pending','cancelling') THEN ?2"
            "   ELSE series_started_at END,"
            /* a cancellation is a new series of attempts, due now */
            " attempts = CASE WHEN ?1='cancelling' THEN 0 ELSE attempts END,"
            " outcome_unknown = CASE WHEN ?1='cancelling' THEN 0 ELSE outcome_unknown END,"
            " next_attempt_at_ms = CASE WHEN ?1='cancelling' THEN CAST(?2 AS BIGINT) * 1000"
            "   ELSE next_attempt_at_ms END"
            " WHERE id=?3 AND state=?4");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, delivery_state_name(to));
    db_bind_int64(st, 2, now);
    db_bind_int64(st, 3, id);
    db_bind_text(st, 4, delivery_state_name(from));
    struct audit_entry e = {.actor = actor,
                            .counter = counter,
                            .action = move_action(from, to),
                            .subject = reference,
                            .detail = detail};
    return store_move_commit(db, st, "delivery move", &e, now);
}

/* The delivery of transaction txn_id: its id, the transaction's reference and its state.
 * STORE_NOT_FOUND when the transaction has none. */
static enum store_result delivery_of(struct db *db, int64_t txn_id, int64_t *id,
                                     char reference[STORE_REFERENCE_MAX],
                                     enum delivery_state *state)
{
    struct db_stmt *st = db_cached(db, "SELECT d.id, t.reference, d.state FROM deliveries d"
                                       " JOIN transactions t ON t.id = d.transaction_id"
                                       " WHERE d.transaction_id=?");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_int64(st, 1, txn_id);
    enum db_step rc = db_step(st);
    enum store_result r = rc == DB_DONE ? STORE_NOT_FOUND : store_step_result(db, rc);
    if (rc == DB_ROW) {
        *id = db_column_int64(st, 0);
        snprintf(reference, STORE_REFERENCE_MAX, "%s", db_column_text(st, 1));
        if (!delivery_state_parse(db_column_text(st, 2), state))
            r = STORE_INVALID;
    }
    db_release(st);
    return r;
}

enum store_result store_delivery_settle_completed(struct db *db, int64_t txn_id, const char *actor,
                                                  time_t now)
{
    int64_t id = 0;
    char reference[STORE_REFERENCE_MAX] = "";
    enum delivery_state state;
    enum store_result r = delivery_of(db, txn_id, &id, reference, &state);
    if (r != STORE_OK || state != DELIVERY_PENDING)
        return r == STORE_NOT_FOUND ? STORE_OK : r;
    return delivery_move(db, id, reference, DELIVERY_PENDING, DELIVERY_DELIVERED, actor, NULL,
                         "the back-end reported the request completed", now);
}

/* ---- the forwarder's queries ---- */

void store_delivery_free(struct delivery *list, size_t len)
{
    for (size_t i = 0; list && i < len; i++)
        free(list[i].payload);
    free(list);
}

static void read_delivery(struct db_stmt *st, struct delivery *d)
{
    d->id = db_column_int64(st, 0);
    snprintf(d->reference, sizeof d->reference, "%s", db_column_text(st, 1));
    snprintf(d->backend, sizeof d->backend, "%s", db_column_text(st, 2));
    snprintf(d->connector, sizeof d->connector, "%s", db_column_text(st, 3));
    snprintf(d->idempotency_key, sizeof d->idempotency_key, "%s", db_column_text(st, 4));
    d->payload = strdup(db_column_text(st, 5));
    d->attempts = db_column_int64(st, 6);
    d->next_attempt_at_ms = db_column_int64(st, 7);
    d->created_at = (time_t)db_column_int64(st, 8);
    const char *br = db_column_text(st, 9);
    snprintf(d->backend_reference, sizeof d->backend_reference, "%s", br ? (const char *)br : "");
    d->series_started_at =
        db_column_is_null(st, 10) ? d->created_at : (time_t)db_column_int64(st, 10);
    const char *bt = db_column_text(st, 11);
    snprintf(d->backend_token, sizeof d->backend_token, "%s", bt ? (const char *)bt : "");
    d->token_polls = db_column_int64(st, 12);
    d->outcome_unknown = db_column_int64(st, 13) != 0;
    const char *state = db_column_text(st, 14);
    d->cancel = state && strcmp((const char *)state, "cancelling") == 0;
    if (d->cancel) /* the cancellation has its own key: the request's is spent */
        snprintf(d->idempotency_key, sizeof d->idempotency_key, "%.50s-cancel",
                 db_column_text(st, 4));
}

#define DELIVERY_COLUMNS                                                                           \
    "d.id, t.reference, d.backend, d.connector, d.idempotency_key,"                                \
    " pd_open(d.payload, 'deliveries.payload'), d.attempts,"                                       \
    " d.next_attempt_at_ms, d.created_at, d.backend_reference, d.series_started_at,"               \
    " d.backend_token, d.token_polls, d.outcome_unknown, d.state"

static bool excluded(int64_t id, const int64_t *exclude, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (exclude[i] == id)
            return true;
    return false;
}

enum store_result store_deliveries_collect(struct db_stmt *st, int limit, const int64_t *exclude,
                                           size_t exclude_len, struct delivery **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    struct delivery *list = calloc((size_t)(limit > 0 ? limit : 1), sizeof *list);
    if (!list)
        return STORE_UNAVAILABLE;
    size_t n = 0;
    enum db_step rc = DB_DONE;
    bool no_memory = false;
    while (n < (size_t)limit && (rc = db_step(st)) == DB_ROW) {
        if (excluded(db_column_int64(st, 0), exclude, exclude_len))
            continue;
        read_delivery(st, &list[n]);
        if (!list[n].payload) {
            no_memory = true;
            break;
        }
        n++;
    }
    if (no_memory || rc == DB_ERROR) {
        /* a failed step is a failed read, never a short list */
        struct db *db = store_stmt_db(st);
        store_log_error(db, "delivery list");
        store_delivery_free(list, n);
        return no_memory ? STORE_UNAVAILABLE : db_result(db);
    }
    *out = list;
    *len = n;
    return STORE_OK;
}

enum store_result store_deliveries_due(struct store *store, const char *backend, int64_t now,
                                       int limit, const int64_t *exclude, size_t exclude_len,
                                       struct delivery **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (limit <= 0)
        return STORE_OK;
    /* The due ids first, then the rows of those not in flight: a payload is opened (AES-GCM)
     * only for a delivery that will be sent, never again for the ones the caller excludes.
     * Each state's due ids come in order from the index (backend, state, next_attempt_at_ms,
     * id), LIMIT of each: with "state IN (...)" SQLite sorted every due row on every call. */
    struct db *db = store_reader_acquire(store);
    int64_t *ids = calloc((size_t)limit, sizeof *ids);
    *out = calloc((size_t)limit, sizeof **out);
    /* one snapshot for both; BEGIN and COMMIT from the statement cache, not parsed each time */
    bool snap = bracket(db, "BEGIN");
    struct db_stmt *st =
        ids && *out
            ? db_cached(db,
                        "SELECT * FROM (SELECT id, next_attempt_at_ms FROM deliveries"
                        " WHERE backend=?1 AND state='pending' AND next_attempt_at_ms <= ?2"
                        " ORDER BY next_attempt_at_ms, id LIMIT ?3) AS p"
                        " UNION ALL SELECT * FROM (SELECT id, next_attempt_at_ms FROM deliveries"
                        " WHERE backend=?1 AND state='cancelling' AND next_attempt_at_ms <= ?2"
                        " ORDER BY next_attempt_at_ms, id LIMIT ?3) AS c"
                        " ORDER BY 2, 1 LIMIT ?3")
            : NULL;
    enum db_step rc = DB_ERROR;
    size_t n = 0;
    if (st) {
        db_bind_text(st, 1, backend);
        db_bind_int64(st, 2, now);
        db_bind_int64(st, 3, (int64_t)limit + (int64_t)exclude_len);
        while (n < (size_t)limit && (rc = db_step(st)) == DB_ROW)
            if (!excluded(db_column_int64(st, 0), exclude, exclude_len))
                ids[n++] = db_column_int64(st, 0);
        rc = rc == DB_ROW ? DB_DONE : rc;
        db_release(st);
    }
    st = rc == DB_DONE ? db_cached(db, "SELECT " DELIVERY_COLUMNS " FROM deliveries d"
                                       " JOIN transactions t ON t.id = d.transaction_id"
                                       " WHERE d.id = ?")
                       : NULL;
    enum store_result r = rc == DB_DONE && (st || n == 0) ? STORE_OK : STORE_UNAVAILABLE;
    for (size_t i = 0; r == STORE_OK && i < n; i++) {
        struct delivery *one = NULL;
        size_t got = 0;
        db_bind_int64(st, 1, ids[i]);
        r = store_deliveries_collect(st, 1, NULL, 0, &one, &got);
        db_release(st);
        if (r == STORE_OK && got == 1)
            (*out)[(*len)++] = one[0];
        free(one); /* its one row's strings now belong to *out */
    }
    db_release(st);
    if (snap && !bracket(db, "COMMIT"))
        log_msg(LOG_WARN, "store_error", "outbox read: %s", db_errmsg(db));
    store_reader_release(store, db);
    free(ids);
    if (r != STORE_OK || !*out) {
        store_delivery_free(*out, *len);
        *out = NULL;
        *len = 0;
        return r == STORE_OK ? STORE_UNAVAILABLE : r;
    }
    return STORE_OK;
}

/* ---- claims across nodes ---- */

#define CLAIM_ID_TEXT_MAX 21 /* an int64 in decimal, with its sign */

/* ids as a PostgreSQL bigint[] literal ("{1,2,3}"), malloc'd (the caller frees); NULL when
 * out of memory. */
static char *id_array(const int64_t *ids, size_t len)
{
    size_t cap = 3 + len * (CLAIM_ID_TEXT_MAX + 1);
    char *text = malloc(cap);
    if (!text)
        return NULL;
    size_t n = 0;
    text[n++] = '{';
    for (size_t i = 0; i < len; i++)
        n += (size_t)snprintf(text + n, cap - n, "%s%" PRId64, i ? "," : "", ids[i]);
    snprintf(text + n, cap - n, "}");
    return text;
}

/* The due rows no node holds, leased to this node by one UPDATE, its own transaction, on a
 * connection of the read pool: a claim is not queued behind the writer's groups and takes no
 * audit chain lock (it appends no audit row). The rows are locked FOR UPDATE SKIP LOCKED
 * (another node's claim, or an outcome not yet committed, keeps its rows) and leased; the
 * lease commits before the rows are read. Rows this node holds already are taken again unless
 * the caller has them in flight (exclude): an outcome the store could not record left its
 * lease behind. *ids gets the leased ids as a bigint[] literal (the caller frees it). */
static enum store_result claim_rows(struct db *db, const char *backend, int64_t now,
                                    int64_t lease_until, int limit, const int64_t *exclude,
                                    size_t exclude_len, char **ids, size_t *claimed)
{
    *ids = NULL;
    *claimed = 0;
    char *excluded_ids = id_array(exclude, exclude_len);
    struct db_stmt *st =
        excluded_ids
            ? db_cached(db, "UPDATE deliveries SET lease_owner=?4, lease_until_ms=?5 WHERE id IN"
                            " (SELECT id FROM deliveries WHERE backend=?1"
                            " AND state IN ('pending','cancelling') AND next_attempt_at_ms <= ?2"
                            " AND (lease_until_ms IS NULL OR lease_until_ms < ?2"
                            " OR lease_owner = ?4) AND NOT (id = ANY(?6::bigint[]))"
                            " ORDER BY next_attempt_at_ms, id LIMIT ?3 FOR UPDATE SKIP LOCKED)"
                            " RETURNING id")
            : NULL;
    int64_t *got = calloc((size_t)limit, sizeof *got);
    enum store_result r = st && got ? STORE_OK : STORE_UNAVAILABLE;
    if (r == STORE_OK) {
        db_bind_text(st, 1, backend);
        db_bind_int64(st, 2, now);
        db_bind_int64(st, 3, limit);
        db_bind_text(st, 4, store_node_id());
        db_bind_int64(st, 5, lease_until);
        db_bind_text(st, 6, excluded_ids);
        enum db_step rc;
        while ((rc = db_step(st)) == DB_ROW)
            if (*claimed < (size_t)limit)
                got[(*claimed)++] = db_column_int64(st, 0);
        if (rc != DB_DONE)
            r = store_step_result(db, rc);
    }
    db_release(st);
    if (r == STORE_OK && *claimed && !(*ids = id_array(got, *claimed)))
        r = STORE_UNAVAILABLE;
    free(got);
    free(excluded_ids);
    return r;
}

enum store_result store_deliveries_claim(struct store *store, const char *backend, int64_t now,
                                         int64_t lease_ms, int limit, const int64_t *exclude,
                                         size_t exclude_len, struct delivery **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    struct db *db = store_reader_acquire(store);
    if (!db_shared(db)) {
        store_reader_release(store, db);
        return store_deliveries_due(store, backend, now, limit, exclude, exclude_len, out, len);
    }
    char *ids = NULL;
    size_t claimed = 0;
    /* nothing is claimed while this node does not hold its id's lock (store_node_fence):
     * another process may be running with the same id */
    enum store_result r = limit <= 0 ? STORE_OK : store_node_fence(db, store_node_session(store));
    if (r == STORE_CONFLICT) {
        store_reader_release(store, db);
        return STORE_OK;
    }
    if (r == STORE_OK && limit > 0)
        r = claim_rows(db, backend, now, now + lease_ms, limit, exclude, exclude_len, &ids,
                       &claimed);
    if (r == STORE_OK && claimed) {
        /* the claimed rows, in the order they fell due */
        struct db_stmt *st = db_cached(db, "SELECT " DELIVERY_COLUMNS " FROM deliveries d"
                                           " JOIN transactions t ON t.id = d.transaction_id"
                                           " WHERE d.id = ANY(?1::bigint[])"
                                           " ORDER BY d.next_attempt_at_ms, d.id");
        if (st) {
            db_bind_text(st, 1, ids);
            r = store_deliveries_collect(st, (int)claimed, NULL, 0, out, len);
            db_release(st);
        } else {
            r = STORE_UNAVAILABLE;
        }
    }
    store_reader_release(store, db);
    free(ids);
    return r;
}

/* Before an outcome is recorded: the lease is cleared if this node holds it (or none does);
 * STORE_CONFLICT when another node claimed the delivery after this node's lease ran out (it
 * sends it again, with the same Idempotency-Key). On PostgreSQL the UPDATE also locks the row
 * until the write commits, so no claim slips in between. */
/* row (NULL: not wanted): the delivery's row as the release left it, read by the same
 * statement (UPDATE ... RETURNING, one round trip); *row_read tells whether it was. */
static enum store_result lease_release(struct db *db, int64_t delivery_id, struct delivery_row *row,
                                       bool *row_read)
{
    *row_read = false;
    if (!db_shared(db))
        return STORE_OK;
    struct db_stmt *st =
        row ? db_cached(db, "UPDATE deliveries d SET lease_owner=NULL, lease_until_ms=NULL"
                            " FROM transactions t WHERE d.id=?1 AND t.id = d.transaction_id"
                            " AND (d.lease_owner IS NULL OR d.lease_owner=?2)"
                            " RETURNING " DELIVERY_ROW_COLUMNS)
            : db_cached(db, "UPDATE deliveries SET lease_owner=NULL, lease_until_ms=NULL"
                            " WHERE id=?1 AND (lease_owner IS NULL OR lease_owner=?2)");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_int64(st, 1, delivery_id);
    db_bind_text(st, 2, store_node_id());
    enum store_result r;
    if (row) {
        /* no row: released nothing (held by another node, or gone) */
        r = delivery_row_fill(db, st, db_step(st), row);
        *row_read = r == STORE_OK;
        if (r == STORE_NOT_FOUND)
            r = STORE_CONFLICT;
        db_release(st);
    } else {
        r = store_step_done(db, st, "delivery lease release");
        if (r == STORE_OK && db_changes(db) == 0)
            r = STORE_CONFLICT;
    }
    if (r == STORE_CONFLICT) {
        log_msg(LOG_INFO, "delivery_lease_lost",
                "delivery %lld is held by another node now: this node's outcome is not recorded",
                (long long)delivery_id);
    }
    return r;
}

enum store_result store_polls_due(struct store *store, const char *backend, int64_t now, int limit,
                                  struct delivery **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (limit <= 0)
        return STORE_OK;
    struct db *db = store_reader_acquire(store);
    struct db_stmt *st = db_cached(
        db, "SELECT " DELIVERY_COLUMNS " FROM deliveries d JOIN transactions t ON"
            " t.id = d.transaction_id WHERE d.backend=? AND d.state='delivered' AND"
            " t.status='forwarded' AND d.next_poll_at_ms IS NOT NULL AND d.next_poll_at_ms <= ?"
            " ORDER BY d.next_poll_at_ms LIMIT ?");
    enum store_result r = STORE_UNAVAILABLE;
    if (st) {
        db_bind_text(st, 1, backend);
        db_bind_int64(st, 2, now);
        db_bind_int64(st, 3, limit);
        r = store_deliveries_collect(st, limit, NULL, 0, out, len);
        db_release(st);
    }
    store_reader_release(store, db);
    return r;
}

int64_t store_deliveries_next_due(struct store *store)
{
    struct db *db = store_reader_acquire(store);
    struct db_stmt *st = db_cached(db, "SELECT MIN(next_attempt_at_ms) FROM deliveries"
                                       " WHERE state IN ('pending','cancelling')");
    int64_t next = INT64_MAX;
    if (st) {
        if (db_step(st) == DB_ROW && !db_column_is_null(st, 0))
            next = db_column_int64(st, 0);
        db_release(st);
    }
    store_reader_release(store, db);
    return next;
}

/* ---- outcomes ---- */

/* Counts the attempt and keeps its answer; the state is left to delivery_move. */
static enum store_result note_attempt(struct db *db, const struct delivery_outcome *o)
{
    struct db_stmt *st = db_cached(db, "UPDATE deliveries SET attempts=attempts+1,"
                                       " last_status=?, last_error=?, next_attempt_at_ms=?"
                                       " WHERE id=?");
    if (!st)
        return STORE_UNAVAILABLE;
    if (o->http_status)
        db_bind_int64(st, 1, o->http_status);
    db_bind_text(st, 2, o->kind == OUTCOME_DELIVERED || !o->error[0] ? NULL : o->error);
    db_bind_int64(st, 3, o->next_attempt_at_ms);
    db_bind_int64(st, 4, o->delivery_id);
    return store_step_done(db, st, "delivery attempt");
}

/* The detail of a delivery outcome's audit row. The transaction's move that the outcome
 * causes (accepted -> forwarded on a delivered attempt, -> failed on a dead letter) is
 * recorded in that same row, not in one of its own: "transaction forwarded" or
 * "transaction failed", then the back-end's reference or the error after ": ". When the
 * transaction did not move (a callback completed it first, a supervisor voided it) the detail
 * is `what` alone (NULL: none), as for any other delivery move. Returns the detail. */
static const char *outcome_detail(char detail[OUTCOME_DETAIL_MAX], enum txn_status to, bool moved,
                                  const char *what)
{
    if (!moved)
        return what;
    snprintf(detail, OUTCOME_DETAIL_MAX, "transaction %s%s%s", txn_status_name(to),
             what && what[0] ? ": " : "", what ? what : "");
    return detail;
}

/* *step_written: the columns store_delivery_step_run writes after a delivered attempt are
 * written here already (in the same UPDATE of the row). */
static enum store_result record_delivered(struct db *db, const struct delivery_outcome *o,
                                          const struct delivery_row *row, time_t now,
                                          bool *step_written)
{
    /* note_attempt's columns, the back-end's reference and the delivered step's columns
     * (store/delivery_steps.c) in one UPDATE of the row */
    struct db_stmt *st =
        db_cached(db, "UPDATE deliveries SET attempts=attempts+1,"
                      " last_status=?1, last_error=NULL, next_attempt_at_ms=?2,"
                      " backend_reference=?3,"
                      " next_poll_at_ms=CASE WHEN ?6 = 1 THEN NULL"
                      "   WHEN connector='open311' THEN CAST(?2 AS BIGINT) END,"
                      " outcome_unknown=0, backend_token=NULLIF(?4,''), token_polls=0,"
                      " note=NULLIF(?5,'') WHERE id=?7");
    if (!st)
        return STORE_UNAVAILABLE;
    if (o->http_status)
        db_bind_int64(st, 1, o->http_status);
    db_bind_int64(st, 2, o->next_attempt_at_ms);
    db_bind_text(st, 3, o->backend_reference);
    db_bind_text(st, 4, o->backend_token);
    db_bind_text(st, 5, o->supervisor_note);
    db_bind_int64(st, 6, o->no_polling);
    db_bind_int64(st, 7, o->delivery_id);
    enum store_result r = store_step_done(db, st, "delivered");
    *step_written = r == STORE_OK;
    if (r != STORE_OK)
        return r;
    st = db_cached(db, "UPDATE transactions SET backend_reference=? WHERE id=?");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, o->backend_reference);
    db_bind_int64(st, 2, row->txn_id);
    if ((r = store_step_done(db, st, "backend reference")) != STORE_OK)
        return r;
    bool forwarded;
    r = store_txn_move_recorded(db, row->txn_id, row->txn_status, TXN_FORWARDED, now, &forwarded);
    /* a callback may have completed it already, or a supervisor voided it */
    if (r != STORE_OK && r != STORE_CONFLICT)
        return r;
    char detail[OUTCOME_DETAIL_MAX];
    return delivery_move(db, o->delivery_id, row->reference, DELIVERY_PENDING, DELIVERY_DELIVERED,
                         row->backend, NULL,
                         outcome_detail(detail, TXN_FORWARDED, forwarded,
                                        o->backend_reference[0] ? o->backend_reference : NULL),
                         now);
}

static enum store_result record_failed(struct db *db, const struct delivery_outcome *o,
                                       const struct delivery_row *row, time_t now)
{
    enum store_result r = note_attempt(db, o);
    if (r != STORE_OK)
        return r;
    bool failed;
    r = store_txn_move_recorded(db, row->txn_id, row->txn_status, TXN_FAILED, now, &failed);
    /* the delivery is a dead letter whatever the transaction's state (voided, say) */
    if (r != STORE_OK && r != STORE_CONFLICT)
        return r;
    char detail[OUTCOME_DETAIL_MAX];
    return delivery_move(db, o->delivery_id, row->reference, DELIVERY_PENDING, DELIVERY_FAILED,
                         row->backend, NULL, outcome_detail(detail, TXN_FAILED, failed, o->error),
                         now);
}

static enum store_result record_polled(struct db *db, const struct delivery_outcome *o,
                                       const struct delivery_row *row, time_t now)
{
    struct db_stmt *st = db_cached(db, "UPDATE deliveries SET next_poll_at_ms=? WHERE id=?");
    if (!st)
        return STORE_UNAVAILABLE;
    if (!o->completed)
        db_bind_int64(st, 1, o->next_attempt_at_ms);
    db_bind_int64(st, 2, o->delivery_id);
    enum store_result r = store_step_done(db, st, "poll");
    if (r != STORE_OK || !o->completed)
        return r;
    r = store_txn_move(db, row->txn_id, row->reference, TXN_COMPLETED, row->backend, NULL, o->note,
                       now);
    if (r != STORE_OK)
        return r;
    st = db_cached(db, "UPDATE transactions SET status_note=? WHERE id=?");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, o->note[0] ? o->note : NULL);
    db_bind_int64(st, 2, row->txn_id);
    return store_step_done(db, st, "poll note");
}

/* The outcome of a cancellation (the delivery is `cancelling`): acknowledged, it is
 * cancelled; refused or out of retries, cancel_failed (for a supervisor); else a retry. */
static enum store_result record_cancel_outcome(struct db *db, const struct delivery_outcome *o,
                                               const struct delivery_row *row, time_t now)
{
    enum store_result r = note_attempt(db, o);
    if (r != STORE_OK || o->kind == OUTCOME_RETRY)
        return r;
    if (o->kind == OUTCOME_DELIVERED)
        return delivery_move(db, o->delivery_id, row->reference, DELIVERY_CANCELLING,
                             DELIVERY_CANCELLED, row->backend, NULL,
                             "the back-end accepted the cancellation", now);
    if (o->kind == OUTCOME_FAILED)
        return delivery_move(db, o->delivery_id, row->reference, DELIVERY_CANCELLING,
                             DELIVERY_CANCEL_FAILED, row->backend, NULL, o->error, now);
    return STORE_CONFLICT;
}

/* The request was in flight when the sale was voided and reached the back-end after all: its
 * reference is kept and a cancellation is queued, so the back-end is still told. */
static enum store_result record_landed_after_void(struct db *db, const struct delivery_outcome *o,
                                                  const struct delivery_row *row, time_t now)
{
    enum store_result r = note_attempt(db, o);
    if (r != STORE_OK)
        return r;
    struct db_stmt *st = db_cached(db, "UPDATE deliveries SET backend_reference=? WHERE id=?");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, o->backend_reference);
    db_bind_int64(st, 2, o->delivery_id);
    if ((r = store_step_done(db, st, "late delivery")) != STORE_OK)
        return r;
    return delivery_move(db, o->delivery_id, row->reference, DELIVERY_CANCELLED,
                         DELIVERY_CANCELLING, row->backend, NULL,
                         "the request reached the back-end after the void: cancelling it", now);
}

enum store_result store_delivery_void(struct db *db, int64_t txn_id, const char *actor,
                                      const char *counter, time_t now, enum delivery_state *was)
{
    int64_t id = 0;
    char reference[STORE_REFERENCE_MAX] = "";
    enum store_result r = delivery_of(db, txn_id, &id, reference, was);
    if (r != STORE_OK)
        return r;
    switch (*was) {
    case DELIVERY_PENDING:
    case DELIVERY_FAILED:
        return delivery_move(db, id, reference, *was, DELIVERY_CANCELLED, actor, counter,
                             "voided before it reached the back-end", now);
    case DELIVERY_DELIVERED:
        return delivery_move(db, id, reference, DELIVERY_DELIVERED, DELIVERY_CANCELLING, actor,
                             counter, "voided: the back-end is sent a cancellation", now);
    case DELIVERY_CANCELLED:
    case DELIVERY_CANCELLING:
    case DELIVERY_CANCEL_FAILED:
        return STORE_CONFLICT;
    }
    return STORE_INVALID;
}

/* known: the delivery's row read already (by the lease's release), NULL: read it here. */
static enum store_result outcome_run(struct store_tx *tx, const struct delivery_outcome *o,
                                     const struct delivery_row *known, bool *step_written)
{
    struct db *db = store_tx_db(tx);
    struct delivery_row row;
    enum store_result r = STORE_OK;
    if (known)
        row = *known;
    else
        r = delivery_row_read(db, o->delivery_id, &row);
    if (r != STORE_OK)
        return r;
    time_t now = (time_t)(o->now_ms / 1000);
    if (o->kind == OUTCOME_POLLED)
        return row.state == DELIVERY_DELIVERED ? record_polled(db, o, &row, now) : STORE_CONFLICT;
    if (row.state == DELIVERY_CANCELLING)
        return record_cancel_outcome(db, o, &row, now);
    if (row.state == DELIVERY_CANCELLED && o->kind == OUTCOME_DELIVERED)
        return record_landed_after_void(db, o, &row, now);
    if (row.state != DELIVERY_PENDING)
        return STORE_CONFLICT; /* moved meanwhile (a hand move, a completion) */
    if (row.txn_status == TXN_COMPLETED) {
        /* The back-end reported the request done, so it has it, whatever it answered to this
         * resend: delivered, never a retry loop or a dead letter. */
        r = note_attempt(db, o);
        if (r != STORE_OK)
            return r;
        return delivery_move(db, o->delivery_id, row.reference, DELIVERY_PENDING,
                             DELIVERY_DELIVERED, row.backend, NULL,
                             "the back-end had already reported the request completed", now);
    }
    switch (o->kind) {
    case OUTCOME_DELIVERED:
        return record_delivered(db, o, &row, now, step_written);
    case OUTCOME_RETRY:
        return note_attempt(db, o);
    case OUTCOME_FAILED:
        return record_failed(db, o, &row, now);
    case OUTCOME_POLLED:
        break;
    }
    return STORE_INVALID;
}

static void outcome_done(struct store_job *job, enum store_result result)
{
    struct delivery_outcome *o = job->arg;
    if (result != STORE_OK && result != STORE_CONFLICT)
        log_msg(LOG_ERROR, "delivery_outcome_not_saved",
                "the outcome of delivery %lld was not saved (%d); it will be retried",
                (long long)o->delivery_id, (int)result);
    if (o->done)
        o->done(o, result);
}

/* outcome_run, then what store/delivery_steps.c adds (tokens, notes, unknown outcomes); a
 * token exchange, a look-up that found nothing or an aborted attempt moves no state. */
static enum store_result outcome_step_run(struct store_tx *tx, void *arg)
{
    const struct delivery_outcome *o = arg;
    /* a look-up that found nothing is followed by the resend: the lease stays */
    bool keeps_lease = o->kind == OUTCOME_POLLED || o->step == DELIVERY_STEP_NOT_FOUND;
    bool attempt = o->step == DELIVERY_STEP_ATTEMPT, row_read = false;
    struct delivery_row row;
    enum store_result r = keeps_lease ? STORE_OK
                                      : lease_release(store_tx_db(tx), o->delivery_id,
                                                      attempt ? &row : NULL, &row_read);
    if (r != STORE_OK)
        return r;
    bool step_written = false;
    r = attempt ? outcome_run(tx, o, row_read ? &row : NULL, &step_written) : STORE_OK;
    return r == STORE_OK ? store_delivery_step_run(tx, o, step_written) : r;
}

void store_delivery_record(struct store *store, struct delivery_outcome *outcome)
{
    outcome->job =
        (struct store_job){.run = outcome_step_run, .arg = outcome, .done = outcome_done};
    store_submit(store, &outcome->job);
}

/* Each outcome of the batch under its own savepoint: one that is refused is rolled back
 * alone. A savepoint that cannot be opened, released or rolled back to fails the whole job
 * (the writer rolls it back), as the writer does with a group. */
static enum store_result batch_run_each(struct store_tx *tx, struct delivery_outcome_batch *b)
{
    struct db *db = store_tx_db(tx);
    for (struct delivery_outcome *o = b->first; o; o = o->batch_next) {
        if (!bracket(db, "SAVEPOINT outcome")) {
            store_log_error(db, "outcome savepoint");
            return STORE_UNAVAILABLE;
        }
        o->batch_result = outcome_step_run(tx, o);
        if (!db_in_transaction(db))
            return STORE_UNAVAILABLE; /* the engine rolled the whole write back */
        bool kept = o->batch_result == STORE_OK
                        ? bracket(db, "RELEASE outcome")
                        : bracket(db, "ROLLBACK TO outcome") && bracket(db, "RELEASE outcome");
        if (!kept) {
            store_log_error(db, "outcome savepoint");
            return STORE_UNAVAILABLE;
        }
    }
    return STORE_OK;
}

/* The whole batch under one savepoint first: a savepoint makes SQLite copy every page changed
 * under it that was changed before in the transaction, once per savepoint, so one for the
 * batch instead of one per outcome. When every outcome is kept, that is all; when one is
 * refused, the batch is rolled back to that savepoint (nothing of it is kept) and runs again
 * with each outcome under its own (batch_run_each), so the refused one is undone alone. */
static enum store_result batch_run(struct store_tx *tx, void *arg)
{
    struct delivery_outcome_batch *b = arg;
    struct db *db = store_tx_db(tx);
    if (!bracket(db, "SAVEPOINT batch")) {
        store_log_error(db, "outcome batch savepoint");
        return STORE_UNAVAILABLE;
    }
    bool all_kept = true;
    for (struct delivery_outcome *o = b->first; o && all_kept; o = o->batch_next) {
        o->batch_result = outcome_step_run(tx, o);
        if (!db_in_transaction(db))
            return STORE_UNAVAILABLE; /* the engine rolled the whole write back */
        all_kept = o->batch_result == STORE_OK;
    }
    bool bracketed = all_kept ? bracket(db, "RELEASE batch")
                              : bracket(db, "ROLLBACK TO batch") && bracket(db, "RELEASE batch");
    if (!bracketed) {
        store_log_error(db, "outcome batch savepoint");
        return STORE_UNAVAILABLE;
    }
    return all_kept ? STORE_OK : batch_run_each(tx, b);
}

static void batch_done(struct store_job *job, enum store_result result)
{
    struct delivery_outcome_batch *b = job->arg;
    for (struct delivery_outcome *o = b->first, *next; o; o = next) {
        next = o->batch_next; /* o's done may free o */
        o->job.arg = o;
        outcome_done(&o->job, result == STORE_OK ? o->batch_result : result);
    }
    if (b->done)
        b->done(b);
}

void store_delivery_record_batch(struct store *store, struct delivery_outcome_batch *batch)
{
    batch->job = (struct store_job){.run = batch_run, .arg = batch, .done = batch_done};
    store_submit(store, &batch->job);
}

/* ---- supervisors ---- */

static const struct store_column failed_columns[] = {{"reference", COL_TEXT},
                                                     {"service", COL_TEXT},
                                                     {"counter", COL_TEXT},
                                                     {"backend", COL_TEXT},
                                                     {"attempts", COL_INT},
                                                     {"last_status", COL_INT},
                                                     {"last_error", COL_TEXT},
                                                     {"failed_at", COL_TIME},
                                                     {"created_at", COL_TIME},
                                                     {"note", COL_TEXT},
                                                     {0}};

enum store_result store_deliveries_failed(struct store *store, const char *site, int limit,
                                          json_t **out)
{
    struct db *db = store_reader_acquire(store);
    struct db_stmt *st = db_cached(
        db,
        "SELECT t.reference, t.service, t.counter, d.backend, d.attempts, d.last_status,"
        " d.last_error, d.failed_at, t.created_at, d.note FROM deliveries d JOIN transactions t ON"
        " t.id = d.transaction_id WHERE d.state='failed'"
        " AND (CAST(?2 AS TEXT) IS NULL OR t.site = ?2)"
        " ORDER BY d.failed_at DESC LIMIT ?1");
    enum store_result r = STORE_UNAVAILABLE;
    if (st) {
        db_bind_int64(st, 1, limit > 0 && limit <= LIST_LIMIT_MAX ? limit : LIST_LIMIT_DEFAULT);
        db_bind_text(st, 2, site);
        json_t *list = NULL;
        r = store_rows_json(st, failed_columns, &list);
        if (r == STORE_OK)
            *out = json_pack("{s:o}", "deliveries", list);
    }
    store_reader_release(store, db);
    return r;
}

struct retry_args {
    const char *reference, *staff, *counter;
};

static enum store_result retry_run(struct store_tx *tx, void *arg)
{
    struct retry_args *a = arg;
    struct db *db = store_tx_db(tx);
    struct db_stmt *st = db_cached(db, "SELECT d.id FROM transactions t JOIN deliveries d ON"
                                       " d.transaction_id = t.id WHERE t.reference=?");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, a->reference);
    enum db_step rc = db_step(st);
    int64_t delivery_id = rc == DB_ROW ? db_column_int64(st, 0) : 0;
    db_release(st);
    if (!delivery_id)
        return rc == DB_DONE ? STORE_NOT_FOUND : store_step_result(db, rc);
    struct delivery_row row;
    enum store_result r = delivery_row_read(db, delivery_id, &row);
    if (r != STORE_OK)
        return r;
    if (row.state != DELIVERY_FAILED)
        return STORE_CONFLICT;
    time_t now = time(NULL);
    /* a new series of attempts: its deadline counts from now (series_started_at) */
    r = delivery_move(db, delivery_id, a->reference, DELIVERY_FAILED, DELIVERY_PENDING, a->staff,
                      a->counter, "retried by hand", now);
    if (r != STORE_OK)
        return r;
    st = db_cached(db, "UPDATE deliveries SET next_attempt_at_ms=?, attempts=0 WHERE id=?");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_int64(st, 1, wall_ms());
    db_bind_int64(st, 2, delivery_id);
    if ((r = store_step_done(db, st, "retry")) != STORE_OK)
        return r;
    return store_txn_move(db, row.txn_id, a->reference, TXN_ACCEPTED, a->staff, a->counter,
                          "retried by hand", now);
}

enum store_result store_delivery_retry_now(struct store *store, const char *reference,
                                           const char *staff, const char *counter)
{
    struct retry_args a = {reference, staff, counter};
    return store_run(store, retry_run, &a);
}

enum store_result store_delivery_counts(struct store *store, const char *backend,
                                        struct delivery_counts *out)
{
    memset(out, 0, sizeof *out);
    struct db *db = store_reader_acquire(store);
    struct db_stmt *st =
        db_cached(db, "SELECT state, COUNT(*), MIN(created_at) FROM deliveries WHERE backend=?"
                      " GROUP BY state");
    enum store_result r = STORE_UNAVAILABLE;
    if (st) {
        db_bind_text(st, 1, backend);
        enum db_step rc;
        while ((rc = db_step(st)) == DB_ROW) {
            enum delivery_state state;
            if (!delivery_state_parse(db_column_text(st, 0), &state))
                continue;
            long n = (long)db_column_int64(st, 1);
            if (state == DELIVERY_PENDING) {
                out->pending = n;
                out->oldest_pending_s = (long)(time(NULL) - db_column_int64(st, 2));
            } else if (state == DELIVERY_FAILED) {
                out->failed = n;
            } else {
                out->delivered = n;
            }
        }
        r = rc == DB_DONE ? STORE_OK : store_step_result(db, rc);
        db_release(st);
    }
    store_reader_release(store, db);
    return r;
}
