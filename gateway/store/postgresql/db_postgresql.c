/* db_postgresql: the PostgreSQL engine (see db_postgresql.h).
 *
 * A statement holds its rewritten SQL (pg_sql.h), its bound source values as text, and, once
 * stepped, the whole PGresult: step walks its rows. Kept statements (db_cached) live in a
 * small hash table keyed by the SQL literal's address and are prepared under a name the first
 * time they run on the current connection: `generation` counts connections (a reset makes a
 * new one), so after a reset each kept statement prepares itself again. Failures are kept on
 * the connection (SQLSTATE, message, store_result, retryable) for db_result and friends.
 *
 * Round trips: BEGIN, SAVEPOINT and RELEASE (the writer's bracket around every job) answer
 * nothing the caller needs, so they are not sent on their own: they are kept in order on the
 * connection (deferred) and sent in one libpq pipeline with the next statement that is, whose
 * answer comes back in the same round trip. A group of N jobs of k statements costs N*k+2
 * round trips instead of N*(k+2)+3. Should a deferred command fail (the connection lost, or
 * the transaction aborted already), the statement it travelled with fails with its error, and
 * so does every later one but a whole ROLLBACK while the transaction is open (poisoned): a
 * ROLLBACK TO a savepoint could otherwise undo an earlier job that was told it succeeded.
 *
 * What a transaction holds is remembered for it (struct pg_xact): the advisory locks it took
 * (db_lock_xact), so a second call for the same key costs no round trip, and the audit chain's
 * head it appended under the chain lock (db_chain_head_keep). Both are forgotten at BEGIN,
 * COMMIT, any ROLLBACK (ROLLBACK TO a savepoint too: PostgreSQL frees the locks taken after
 * the savepoint, and the rows written after it are gone) and with a new connection. */
#include "gateway/store/postgresql/db_postgresql.h"
#include "gateway/store/postgresql/pg_crypt.h"
#include "gateway/store/postgresql/pg_sql.h"
#include "gateway/store/db_engine.h"

#include "gateway/log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PG_ERRMSG_MAX        512
#define PG_KEPT_BUCKETS      256
#define PG_NAME_MAX          32
#define PG_INT64_TEXT        24
#define PG_CONNECT_TIMEOUT_S "5" /* seconds, unless the conninfo sets connect_timeout */
#define PG_DEFERRED_MAX      8   /* deferred commands held before they are sent on their own */
#define PG_XACT_LOCKS_MAX    8   /* transaction locks remembered as held (more: asked again) */
#define PG_CHAIN_HASH_MAX    72  /* the kept audit chain head's hash (hex), with its NUL */

struct pg_stmt {
    struct db_stmt base;
    struct pg_db *db;
    const char *key; /* the SQL literal (kept statements) */
    bool keep;
    struct pg_sql sql;
    char name[PG_NAME_MAX];
    unsigned long prepared_in; /* the connection generation it was prepared in, 0: never */
    char **src;                /* bound source values, NULL for NULL */
    PGresult *res;
    int row, rows;
    bool ran;
    bool deferrable; /* a kept SAVEPOINT or RELEASE: sent with the next statement */
    char **opened;   /* the current row's opened columns (pd_open), by result column */
    struct pg_stmt *next_kept;
};

struct pg_db {
    struct db base;
    PGconn *conn;
    const struct field_crypt *fc;
    unsigned long generation;
    unsigned long next_name;
    bool lost_txn;   /* the connection dropped inside a transaction: only ROLLBACK or BEGIN */
    bool must_reset; /* the server ended the session (57P0x, 08xxx): connect again */
    int64_t changes;
    enum store_result result;
    bool retryable;
    char sqlstate[6];
    char errmsg[PG_ERRMSG_MAX];
    struct pg_stmt *kept[PG_KEPT_BUCKETS];
    /* deferred commands (string literals or kept statements' text), in order; poisoned when
     * one failed, until the transaction ends (poison_* is its failure) */
    const char *deferred[PG_DEFERRED_MAX];
    int ndeferred;
    bool poisoned;
    char poison_state[6];
    char poison_msg[PG_ERRMSG_MAX];
    /* what the open transaction is known to hold; valid while generation is the connection's
     * and a transaction is open (see the top of the file) */
    struct pg_xact {
        unsigned long generation;
        int64_t locks[PG_XACT_LOCKS_MAX];
        int nlocks;
        bool head_kept;
        int64_t head_id;
        char head_hash[PG_CHAIN_HASH_MAX];
    } xact;
};

__attribute__((format(printf, 3, 4))) static void set_error(struct pg_db *db, enum store_result r,
                                                            const char *fmt, ...)
{
    db->result = r;
    db->retryable = false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(db->errmsg, sizeof db->errmsg, fmt, ap);
    va_end(ap);
    db->sqlstate[0] = '\0';
    /* libpq's messages run over lines: one line for the log and the caller */
    size_t k = 0;
    for (size_t i = 0; db->errmsg[i]; i++) {
        char c = db->errmsg[i] == '\n' || db->errmsg[i] == '\t' ? ' ' : db->errmsg[i];
        if (c != ' ' || (k && db->errmsg[k - 1] != ' '))
            db->errmsg[k++] = c;
    }
    while (k && db->errmsg[k - 1] == ' ')
        k--;
    db->errmsg[k] = '\0';
}

static void clear_error(struct pg_db *db)
{
    db->result = STORE_OK;
    db->retryable = false;
    db->sqlstate[0] = db->errmsg[0] = '\0';
}

static bool in_transaction(PGconn *conn)
{
    PGTransactionStatusType t = PQtransactionStatus(conn);
    return t == PQTRANS_INTRANS || t == PQTRANS_INERROR;
}

static void xact_forget(struct pg_db *db)
{
    db->xact.nlocks = 0;
    db->xact.head_kept = false;
}

/* Forgets what the transaction holds when sql ends it or rolls back to a savepoint. */
static void xact_note(struct pg_db *db, const char *sql)
{
    sql += strspn(sql, " \t\n");
    static const char *const words[] = {"BEGIN", "COMMIT", "END",    "ROLLBACK",
                                        "ABORT", "START",  "PREPARE"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++) {
        size_t n = strlen(words[i]);
        if (strncasecmp(sql, words[i], n) == 0 && (sql[n] == ' ' || sql[n] == ';' || !sql[n])) {
            xact_forget(db);
            return;
        }
    }
}

/* Whether what is remembered is about the transaction open now on this connection (one whose
 * BEGIN is still deferred has nothing remembered: xact_note forgot it all at that BEGIN). */
static bool xact_valid(struct pg_db *db)
{
    if (db->xact.generation != db->generation ||
        (!in_transaction(db->conn) && db->ndeferred == 0)) {
        xact_forget(db);
        db->xact.generation = db->generation;
        return false;
    }
    return true;
}

/* The connection before a statement: reset when it was lost; false (the error noted) when the
 * server is still unreachable or a transaction was lost with it. */
static bool ready(struct pg_db *db, bool ends_transaction)
{
    if (PQstatus(db->conn) != CONNECTION_OK || db->must_reset) {
        PQreset(db->conn);
        if (PQstatus(db->conn) != CONNECTION_OK) {
            set_error(db, STORE_UNAVAILABLE, "PostgreSQL is unreachable: %s",
                      PQerrorMessage(db->conn));
            return false;
        }
        db->generation++;
        db->must_reset = false;
        log_msg(LOG_INFO, "store_reconnected", "the PostgreSQL connection is back");
    }
    if (db->lost_txn && !ends_transaction) {
        set_error(db, STORE_UNAVAILABLE,
                  "the PostgreSQL connection was lost inside a transaction: roll it back");
        return false;
    }
    db->lost_txn = false;
    return true;
}

/* Notes how a statement ended (res may be NULL); true when it succeeded. */
static bool check(struct pg_db *db, PGresult *res, bool was_in_txn)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) {
        clear_error(db);
        const char *status = PQcmdStatus(res);
        if (strncmp(status, "INSERT", 6) == 0 || strncmp(status, "UPDATE", 6) == 0 ||
            strncmp(status, "DELETE", 6) == 0 || strncmp(status, "MERGE", 5) == 0)
            db->changes = strtoll(PQcmdTuples(res), NULL, 10);
        return true;
    }
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (PQstatus(db->conn) != CONNECTION_OK || !state) {
        db->lost_txn = was_in_txn;
        set_error(db, STORE_UNAVAILABLE, "PostgreSQL is unreachable: %s",
                  res ? PQresultErrorMessage(res) : PQerrorMessage(db->conn));
        snprintf(db->sqlstate, sizeof db->sqlstate, "08006");
        return false;
    }
    enum store_result r = STORE_UNAVAILABLE;
    if (strncmp(state, "23", 2) == 0)
        r = STORE_CONFLICT;
    /* the primary message only: DETAIL can quote a row's values */
    const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    set_error(db, r, "%s", primary ? primary : PQresultErrorMessage(res));
    snprintf(db->sqlstate, sizeof db->sqlstate, "%s", state);
    db->retryable = strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0;
    if (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
        strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0) {
        /* the server ends this session: connect again on the next use */
        db->lost_txn = was_in_txn;
        db->must_reset = true;
    }
    if (strcmp(state, "25P02") == 0) {
        set_error(db, STORE_UNAVAILABLE,
                  "an earlier statement in this transaction failed: roll it back");
        snprintf(db->sqlstate, sizeof db->sqlstate, "%s", state);
    }
    return false;
}

/* ---- deferred commands ---- */

static bool ends_transaction(const char *sql);

/* True (the error noted) while a deferred command's failure holds: until the transaction it
 * was in is over (rolled back, or gone with the connection). */
static bool poisoned(struct pg_db *db)
{
    if (db->poisoned && !in_transaction(db->conn))
        db->poisoned = false;
    if (db->poisoned) {
        set_error(db, STORE_UNAVAILABLE,
                  "an earlier command in this transaction failed (%s): roll it back",
                  db->poison_msg);
        snprintf(db->sqlstate, sizeof db->sqlstate, "%s", db->poison_state);
    }
    return db->poisoned;
}

static bool starts_with(const char *sql, const char *word)
{
    sql += strspn(sql, " \t\n");
    size_t n = strlen(word);
    return strncasecmp(sql, word, n) == 0 && (sql[n] == ' ' || sql[n] == '\0');
}

/* Sends the deferred commands and then st (NULL: none) in one pipeline and reads every answer;
 * st->res gets st's result. values are st's n parameters; prepare: st's PREPARE goes first. The
 * first failure is noted (a deferred command's poisons the connection); later commands are
 * skipped by the server. false when anything failed. */
static bool send_pipeline(struct pg_db *db, struct pg_stmt *st, int n, const char *const *values,
                          bool prepare)
{
    PGconn *conn = db->conn;
    bool in_txn = in_transaction(conn);
    int sent = 0, failed_at = -1, prepare_at = -1;
    bool prepared = false; /* st's PREPARE went through, whatever became of the rest */
    bool ok = PQenterPipelineMode(conn) == 1;
    for (int i = 0; ok && i < db->ndeferred; i++, sent++)
        ok = PQsendQueryParams(conn, db->deferred[i], 0, NULL, NULL, NULL, NULL, 0) == 1;
    if (ok && st && prepare) {
        ok = PQsendPrepare(conn, st->name, st->sql.text, n, NULL) == 1;
        prepare_at = ok ? sent : -1;
        sent += ok;
    }
    if (ok && st) {
        ok =
            (st->keep ? PQsendQueryPrepared(conn, st->name, n, values, NULL, NULL, 0)
                      : PQsendQueryParams(conn, st->sql.text, n, NULL, values, NULL, NULL, 0)) == 1;
        sent += ok;
    }
    if (ok)
        ok = PQpipelineSync(conn) == 1;
    if (!ok) {
        /* nothing can be read back in order: the connection is made again at the next use */
        set_error(db, STORE_UNAVAILABLE, "PostgreSQL is unreachable: %s", PQerrorMessage(conn));
        snprintf(db->sqlstate, sizeof db->sqlstate, "08006");
        db->lost_txn = in_txn || (db->ndeferred && starts_with(db->deferred[0], "BEGIN"));
        db->must_reset = true;
        db->ndeferred = 0;
        return false;
    }
    for (int q = 0; q < sent; q++) {
        PGresult *res = PQgetResult(conn);
        if (!res) { /* the connection went: noted as the query's failure */
            if (failed_at < 0) {
                check(db, NULL, in_txn);
                failed_at = q;
            }
            db->must_reset = true;
            break;
        }
        ExecStatusType status = PQresultStatus(res);
        bool is_st = st && q == sent - 1;
        if (q == prepare_at && status == PGRES_COMMAND_OK)
            prepared = true;
        if (failed_at < 0 && status != PGRES_PIPELINE_ABORTED) {
            if (!check(db, res, in_txn))
                failed_at = q;
            else if (q < db->ndeferred && starts_with(db->deferred[q], "BEGIN"))
                in_txn = true;
        }
        if (is_st && failed_at < 0)
            st->res = res;
        else
            PQclear(res);
        while ((res = PQgetResult(conn))) /* the end of this query's answers */
            PQclear(res);
    }
    PGresult *res; /* the sync's answer, then NULL */
    while (!db->must_reset && (res = PQgetResult(conn))) {
        ExecStatusType status = PQresultStatus(res);
        PQclear(res);
        if (status == PGRES_PIPELINE_SYNC)
            break;
    }
    if (PQexitPipelineMode(conn) != 1)
        db->must_reset = true;
    if (failed_at >= 0 && failed_at < db->ndeferred && in_transaction(conn)) {
        db->poisoned = true;
        snprintf(db->poison_state, sizeof db->poison_state, "%s",
                 db->sqlstate[0] ? db->sqlstate : "25P02");
        snprintf(db->poison_msg, sizeof db->poison_msg, "%s", db->errmsg);
    }
    /* a prepared statement outlives a failed statement or transaction: preparing it again
     * would be refused ("already exists") */
    if (prepared && !db->must_reset)
        st->prepared_in = db->generation;
    db->ndeferred = 0;
    return failed_at < 0;
}

/* Keeps sql (a string literal or a kept statement's text) to send with the next statement;
 * false (the error noted) when the connection cannot take it. */
static bool defer(struct pg_db *db, const char *sql)
{
    if (poisoned(db) || !ready(db, ends_transaction(sql)))
        return false;
    xact_note(db, sql);
    if (db->ndeferred == PG_DEFERRED_MAX && !send_pipeline(db, NULL, 0, NULL, false))
        return false;
    db->deferred[db->ndeferred++] = sql;
    clear_error(db);
    return true;
}

/* Sends the deferred commands now (before a statement that is run on its own); true when
 * there were none or all succeeded. */
static bool flush(struct pg_db *db)
{
    return db->ndeferred == 0 || send_pipeline(db, NULL, 0, NULL, false);
}

/* ---- statements ---- */

static unsigned kept_bucket(const char *key)
{
    uintptr_t k = (uintptr_t)key;
    return (unsigned)((k >> 4) ^ (k >> 12)) % PG_KEPT_BUCKETS;
}

static void clear_row(struct pg_stmt *st)
{
    if (!st->opened)
        return;
    int n = PQnfields(st->res);
    for (int i = 0; i < n; i++) {
        free(st->opened[i]);
        st->opened[i] = NULL;
    }
}

static void pg_reset(struct db_stmt *base)
{
    struct pg_stmt *st = (struct pg_stmt *)base;
    clear_row(st);
    free(st->opened);
    st->opened = NULL;
    PQclear(st->res);
    st->res = NULL;
    st->ran = false;
    st->row = st->rows = 0;
    for (int i = 0; i < st->sql.nsrc; i++) {
        free(st->src[i]);
        st->src[i] = NULL;
    }
}

static void stmt_free(struct pg_stmt *st)
{
    pg_reset(&st->base);
    free(st->src);
    pg_sql_free(&st->sql);
    free(st);
}

static void pg_finalize(struct db_stmt *base)
{
    struct pg_stmt *st = (struct pg_stmt *)base;
    if (st->keep)
        pg_reset(base); /* kept statements are freed with their connection */
    else
        stmt_free(st);
}

static struct db_stmt *pg_prepare(struct db *base, const char *sql, bool keep)
{
    struct pg_db *db = (struct pg_db *)base;
    if (keep) {
        for (struct pg_stmt *k = db->kept[kept_bucket(sql)]; k; k = k->next_kept)
            if (k->key == sql) {
                pg_reset(&k->base);
                return &k->base;
            }
    }
    struct pg_stmt *st = calloc(1, sizeof *st);
    char err[PG_ERRMSG_MAX];
    if (!st) {
        set_error(db, STORE_UNAVAILABLE, "out of memory");
        return NULL;
    }
    if (!pg_sql_rewrite(sql, &st->sql, err, sizeof err)) {
        set_error(db, STORE_UNAVAILABLE, "%s", err);
        log_msg(LOG_ERROR, "store_error", "prepare: %s", err);
        free(st);
        return NULL;
    }
    st->src = calloc((size_t)st->sql.nsrc + 1, sizeof *st->src);
    if (!st->src) {
        pg_sql_free(&st->sql);
        free(st);
        set_error(db, STORE_UNAVAILABLE, "out of memory");
        return NULL;
    }
    st->base.db = base;
    st->db = db;
    st->keep = keep;
    st->key = sql;
    if (keep) {
        st->deferrable =
            st->sql.nparams == 0 && st->sql.nopens == 0 &&
            (starts_with(st->sql.text, "SAVEPOINT") || starts_with(st->sql.text, "RELEASE"));
        snprintf(st->name, sizeof st->name, "onestop_%lu", ++db->next_name);
        unsigned b = kept_bucket(sql);
        st->next_kept = db->kept[b];
        db->kept[b] = st;
    }
    return &st->base;
}

static bool bind_value(struct pg_stmt *st, int index, char *text, bool is_null)
{
    if (index < 1 || index > st->sql.nsrc || (!text && !is_null)) {
        free(text);
        return false;
    }
    free(st->src[index - 1]);
    st->src[index - 1] = text;
    return true;
}

static bool pg_bind_text(struct db_stmt *base, int index, const char *text)
{
    struct pg_stmt *st = (struct pg_stmt *)base;
    return bind_value(st, index, text ? strdup(text) : NULL, !text);
}

static bool pg_bind_int64(struct db_stmt *base, int index, int64_t value)
{
    char text[PG_INT64_TEXT];
    snprintf(text, sizeof text, "%" PRId64, value);
    return pg_bind_text(base, index, text);
}

static bool pg_bind_null(struct db_stmt *base, int index)
{
    return bind_value((struct pg_stmt *)base, index, NULL, true);
}

/* The parameters to send, derived from the bound values (sealed, blind-indexed); owned[i]
 * is what values[i] needs freed. false with the error noted. */
static bool make_params(struct pg_stmt *st, const char **values, char **owned)
{
    for (int i = 0; i < st->sql.nparams; i++) {
        const struct pg_param *p = &st->sql.params[i];
        const char *v = st->src[p->src - 1];
        char err[PG_ERRMSG_MAX];
        bool ok = true;
        const char *ctx = p->context.src ? st->src[p->context.src - 1] : p->context.text;
        const char *name = p->name.src ? st->src[p->name.src - 1] : p->name.text;
        values[i] = v;
        switch (p->kind) {
        case PG_PARAM_PLAIN:
            break;
        case PG_PARAM_SEAL:
        case PG_PARAM_SEAL_ONLY:
            if (v) {
                ok = pg_crypt_seal(st->db->fc, v, ctx, p->kind == PG_PARAM_SEAL_ONLY, &owned[i],
                                   err, sizeof err);
                values[i] = owned[i]; /* NULL: pd_seal_only without a data key */
            }
            break;
        case PG_PARAM_BLIND:
        case PG_PARAM_BLIND_OLD:
            ok = pg_crypt_blind(st->db->fc, name, v, p->kind == PG_PARAM_BLIND_OLD, &owned[i], err,
                                sizeof err);
            if (p->kind == PG_PARAM_BLIND_OLD)
                values[i] = owned[i]; /* NULL: no old index key, matches nothing */
            break;
        }
        if (!ok) {
            set_error(st->db, STORE_UNAVAILABLE, "%s", err);
            return false;
        }
        if (owned[i])
            values[i] = owned[i];
    }
    return true;
}

/* A statement the server refused as written (SQLSTATE class 42: syntax, types, names) or
 * whose value did not fit the type it inferred (class 22: a parameter typed integer): a bug in
 * the store's SQL, so the log names it (the SQL only: values are parameters). */
static void sql_refused(const struct pg_stmt *st)
{
    log_msg(LOG_ERROR, "store_sql_refused", "%s (SQLSTATE %s) in: %s", st->db->errmsg,
            st->db->sqlstate, st->sql.text);
}

static bool run(struct pg_stmt *st)
{
    struct pg_db *db = st->db;
    int n = st->sql.nparams;
    const char **values = calloc((size_t)n + 1, sizeof *values);
    char **owned = calloc((size_t)n + 1, sizeof *owned);
    bool ok = false;
    if (!values || !owned) {
        set_error(db, STORE_UNAVAILABLE, "out of memory");
        goto out;
    }
    /* a whole ROLLBACK runs on its own, whatever became of what was deferred: in a pipeline
     * the server would skip it after a deferred command's failure */
    bool ends = ends_transaction(st->sql.text);
    xact_note(db, st->sql.text);
    if (ends)
        (void)flush(db);
    if ((!ends && poisoned(db)) || !make_params(st, values, owned) || !ready(db, false))
        goto out;
    bool was_in_txn = in_transaction(db->conn);
    if (db->ndeferred) {
        /* the deferred commands, the statement (prepared first if need be), one round trip */
        ok = send_pipeline(db, st, n, values, st->keep && st->prepared_in != db->generation);
        if (!ok && (strncmp(db->sqlstate, "42", 2) == 0 || strncmp(db->sqlstate, "22", 2) == 0))
            sql_refused(st);
        goto got;
    }
    if (st->keep && st->prepared_in != db->generation) {
        PGresult *prep = PQprepare(db->conn, st->name, st->sql.text, n, NULL);
        bool prepared = check(db, prep, was_in_txn);
        PQclear(prep);
        if (!prepared) {
            if (strncmp(db->sqlstate, "42", 2) == 0)
                sql_refused(st);
            goto out;
        }
        st->prepared_in = db->generation;
    }
    st->res = st->keep ? PQexecPrepared(db->conn, st->name, n, values, NULL, NULL, 0)
                       : PQexecParams(db->conn, st->sql.text, n, NULL, values, NULL, NULL, 0);
    ok = check(db, st->res, was_in_txn);
    if (!ok && (strncmp(db->sqlstate, "42", 2) == 0 || strncmp(db->sqlstate, "22", 2) == 0))
        sql_refused(st);
got:
    if (ok) {
        st->rows = PQntuples(st->res);
        st->opened = calloc((size_t)PQnfields(st->res) + 1, sizeof *st->opened);
        if (!st->opened) {
            set_error(db, STORE_UNAVAILABLE, "out of memory");
            ok = false;
        }
    }
out:
    for (int i = 0; owned && i < n; i++)
        free(owned[i]);
    free(owned);
    free(values);
    return ok;
}

static bool column_ok(struct pg_stmt *st, int col)
{
    return st->res && st->row >= 0 && st->row < st->rows && col >= 0 &&
           col < PQnfields(st->res) - st->sql.hidden;
}

static bool pg_column_is_null(struct db_stmt *base, int col)
{
    struct pg_stmt *st = (struct pg_stmt *)base;
    return !column_ok(st, col) || PQgetisnull(st->res, st->row, col);
}

/* Opens the current row's pd_open columns; false (the error noted) when a key is missing or
 * a value was altered: the step fails, as pd_open fails the statement in SQLite. */
static bool open_row(struct pg_stmt *st)
{
    for (int i = 0; i < st->sql.nopens; i++) {
        const struct pg_open *o = &st->sql.opens[i];
        if (o->col >= PQnfields(st->res) || PQgetisnull(st->res, st->row, o->col))
            continue;
        const char *ctx = o->context.src    ? st->src[o->context.src - 1]
                          : o->context.text ? o->context.text
                          : o->context_col >= 0 && !PQgetisnull(st->res, st->row, o->context_col)
                              ? PQgetvalue(st->res, st->row, o->context_col)
                              : NULL;
        char err[PG_ERRMSG_MAX];
        free(st->opened[o->col]);
        st->opened[o->col] = NULL;
        if (!pg_crypt_open(st->db->fc, PQgetvalue(st->res, st->row, o->col), ctx,
                           &st->opened[o->col], err, sizeof err)) {
            set_error(st->db, STORE_UNAVAILABLE, "%s", err);
            return false;
        }
    }
    return true;
}

static enum db_step pg_step(struct db_stmt *base)
{
    struct pg_stmt *st = (struct pg_stmt *)base;
    if (st->deferrable) {
        if (st->ran)
            return DB_DONE;
        st->ran = true;
        if (!defer(st->db, st->sql.text))
            goto fail;
        return DB_DONE;
    }
    if (!st->ran) {
        st->ran = true;
        st->row = -1;
        if (!run(st))
            goto fail;
    }
    if (!st->res)
        return DB_ERROR;
    clear_row(st);
    if (st->row < st->rows)
        st->row++;
    if (st->row >= st->rows)
        return DB_DONE;
    if (open_row(st))
        return DB_ROW;
fail:
    /* a constraint is the caller's answer (a till already open: 409), not an error, as with
     * SQLite, whose step logs nothing */
    if (strncmp(st->db->sqlstate, "23", 2) != 0)
        log_msg(LOG_ERROR, "store_error", "%s (SQLSTATE %s)", st->db->errmsg,
                st->db->sqlstate[0] ? st->db->sqlstate : "none");
    return DB_ERROR;
}

static const char *pg_column_text(struct db_stmt *base, int col)
{
    struct pg_stmt *st = (struct pg_stmt *)base;
    if (pg_column_is_null(base, col))
        return NULL;
    return st->opened[col] ? st->opened[col] : PQgetvalue(st->res, st->row, col);
}

static int64_t pg_column_int64(struct db_stmt *base, int col)
{
    const char *v = pg_column_text(base, col);
    if (!v)
        return 0;
    if (strcmp(v, "t") == 0) /* a boolean expression */
        return 1;
    return strtoll(v, NULL, 10);
}

/* ---- the connection ---- */

static int64_t pg_changes(struct db *base)
{
    return ((struct pg_db *)base)->changes;
}

/* BEGIN, or a whole ROLLBACK (not ROLLBACK TO SAVEPOINT): what may run after a transaction
 * was lost with its connection. */
static bool ends_transaction(const char *sql)
{
    sql += strspn(sql, " \t\n");
    if (strncasecmp(sql, "BEGIN", 5) == 0)
        return true;
    if (strncasecmp(sql, "ROLLBACK", 8) != 0)
        return false;
    sql += 8;
    return sql[strspn(sql, " \t\n;")] == '\0';
}

static bool pg_exec(struct db *base, const char *sql, char *err, size_t errlen)
{
    struct pg_db *db = (struct pg_db *)base;
    bool ends = ends_transaction(sql);
    /* what was deferred goes first; a whole ROLLBACK or a BEGIN runs whatever became of it */
    bool ok = (flush(db) || ends) && (ends || !poisoned(db)) && ready(db, ends);
    xact_note(db, sql);
    if (ok) {
        bool was_in_txn = in_transaction(db->conn);
        PGresult *res = PQexec(db->conn, sql);
        ok = check(db, res, was_in_txn);
        PQclear(res);
    }
    if (!ok)
        snprintf(err, errlen, "%s", db->errmsg);
    return ok;
}

static enum store_result pg_result(struct db *base)
{
    return ((struct pg_db *)base)->result;
}

static const char *pg_errmsg(struct db *base)
{
    return ((struct pg_db *)base)->errmsg;
}

static bool pg_retryable(struct db *base)
{
    return ((struct pg_db *)base)->retryable;
}

/* BEGIN is deferred: it goes to the server with the transaction's first statement. */
static bool pg_begin(struct db *base, char *err, size_t errlen)
{
    struct pg_db *db = (struct pg_db *)base;
    bool ok = defer(db, "BEGIN");
    if (!ok)
        snprintf(err, errlen, "%s", db->errmsg);
    return ok;
}

static void pg_close(struct db *base)
{
    struct pg_db *db = (struct pg_db *)base;
    for (int b = 0; b < PG_KEPT_BUCKETS; b++)
        for (struct pg_stmt *st = db->kept[b], *next; st; st = next) {
            next = st->next_kept;
            stmt_free(st);
        }
    PQfinish(db->conn);
    free(db);
}

/* A transaction is open while PostgreSQL says so, an aborted one too (it stays open until
 * ROLLBACK or ROLLBACK TO a savepoint); a lost connection has none. */
static bool pg_in_transaction(struct db *db)
{
    (void)flush((struct pg_db *)db); /* a failure shows in the status */
    PGTransactionStatusType t = PQtransactionStatus(((struct pg_db *)db)->conn);
    return t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
}

/* The cross-node locks (db.h): PostgreSQL's advisory locks, on 64-bit keys. One lock call:
 * sql (a literal: cached per connection) takes the key as ?1 and answers one row. */
static bool lock_call(struct db *db, const char *sql, int64_t key)
{
    struct db_stmt *st = db_cached(db, sql);
    if (!st)
        return false;
    db_bind_int64(st, 1, key);
    bool ok = db_step(st) == DB_ROW;
    db_release(st);
    return ok;
}

/* Asks the server only for a key this transaction has not taken already. */
static bool pg_lock_xact(struct db *base, int64_t key)
{
    struct pg_db *db = (struct pg_db *)base;
    /* a BEGIN still deferred has made the list empty (xact_note): the call goes with it */
    if (xact_valid(db))
        for (int i = 0; i < db->xact.nlocks; i++)
            if (db->xact.locks[i] == key)
                return true;
    if (!lock_call(base, "SELECT pg_advisory_xact_lock(?1::bigint)", key))
        return false;
    if (xact_valid(db) && db->xact.nlocks < PG_XACT_LOCKS_MAX)
        db->xact.locks[db->xact.nlocks++] = key;
    return true;
}

/* Keeps the head only while the transaction holds a lock (the chain's: audit.c takes it before
 * the row it keeps) and the hash fits. */
static void pg_chain_head_keep(struct db *base, int64_t id, const char *hash)
{
    struct pg_db *db = (struct pg_db *)base;
    db->xact.head_kept = false;
    if (!xact_valid(db) || db->xact.nlocks == 0 || !hash || strlen(hash) >= PG_CHAIN_HASH_MAX)
        return;
    db->xact.head_id = id;
    memcpy(db->xact.head_hash, hash, strlen(hash) + 1);
    db->xact.head_kept = true;
}

static bool pg_chain_head_kept(struct db *base, int64_t *id, char *hash, size_t hash_size)
{
    struct pg_db *db = (struct pg_db *)base;
    if (!xact_valid(db) || !db->xact.head_kept || strlen(db->xact.head_hash) >= hash_size)
        return false;
    *id = db->xact.head_id;
    memcpy(hash, db->xact.head_hash, strlen(db->xact.head_hash) + 1);
    return true;
}

/* A session advisory lock on a bigint key shows in pg_locks as classid (the key's high 32 bits),
 * objid (its low 32 bits) and objsubid 1. */
#define PG_SESSION_LOCK_OF(pid)                                                                    \
    "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"              \
    " AND pid = " pid " AND classid::bigint = (?1::bigint >> 32) & 4294967295"                     \
    " AND objid::bigint = ?1::bigint & 4294967295"

static bool pg_hold_session(struct db *db, int64_t key, enum db_hold *hold, int64_t *session)
{
    /* CASE tries the lock only when this session does not hold it already (taking it twice
     * would count it twice) */
    struct db_stmt *st =
        db_cached(db, "SELECT CASE WHEN EXISTS (" PG_SESSION_LOCK_OF(
                          "pg_backend_pid()") ") THEN 1"
                                              " WHEN pg_try_advisory_lock(?1::bigint) THEN 2 ELSE "
                                              "0 END, pg_backend_pid()");
    *hold = DB_HOLD_NONE;
    *session = 0;
    if (!st)
        return false;
    db_bind_int64(st, 1, key);
    bool ok = db_step(st) == DB_ROW;
    if (ok) {
        int64_t answer = db_column_int64(st, 0);
        *hold = answer == 1 ? DB_HOLD_KEPT : answer == 2 ? DB_HOLD_TAKEN : DB_HOLD_NONE;
        *session = db_column_int64(st, 1);
    }
    db_release(st);
    return ok;
}

static bool pg_session_holds(struct db *db, int64_t key, int64_t session, bool *held)
{
    struct db_stmt *st = db_cached(
        db, "SELECT CASE WHEN EXISTS (" PG_SESSION_LOCK_OF("?2::integer") ") THEN 1 ELSE 0 END");
    *held = false;
    if (!st)
        return false;
    db_bind_int64(st, 1, key);
    db_bind_int64(st, 2, session);
    bool ok = db_step(st) == DB_ROW;
    if (ok)
        *held = db_column_int64(st, 0) == 1;
    db_release(st);
    return ok;
}

static bool pg_unlock_session(struct db *db, int64_t key)
{
    return lock_call(db, "SELECT pg_advisory_unlock(?1::bigint)", key);
}

static const struct db_ops pg_ops = {
    .name = "postgresql",
    .prepare = pg_prepare,
    .reset = pg_reset,
    .finalize = pg_finalize,
    .bind_text = pg_bind_text,
    .bind_int64 = pg_bind_int64,
    .bind_null = pg_bind_null,
    .step = pg_step,
    .column_is_null = pg_column_is_null,
    .column_int64 = pg_column_int64,
    .column_text = pg_column_text,
    .changes = pg_changes,
    .exec = pg_exec,
    .result = pg_result,
    .errmsg = pg_errmsg,
    .retryable = pg_retryable,
    .begin = pg_begin,
    .close = pg_close,
    .in_transaction = pg_in_transaction,
    .shared = true,
    .lock_xact = pg_lock_xact,
    .hold_session = pg_hold_session,
    .session_holds = pg_session_holds,
    .unlock_session = pg_unlock_session,
    .chain_head_keep = pg_chain_head_keep,
    .chain_head_kept = pg_chain_head_kept,
};

static void notice(void *arg, const char *message)
{
    (void)arg;
    log_msg(LOG_DEBUG, "store_notice", "%s", message);
}

struct db *db_postgresql_connect(const char *conninfo, const struct field_crypt *fc, char *err,
                                 size_t errlen)
{
    struct pg_db *db = calloc(1, sizeof *db);
    if (!db) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    db->base.ops = &pg_ops;
    db->fc = fc;
    db->generation = 1;
    /* defaults the conninfo may override (it comes after them): a server that vanishes from
     * the network is noticed in seconds, not at the kernel's two hours, and a reset never
     * waits for ever */
    static const char *const keys[] = {"connect_timeout",
                                       "keepalives_idle",
                                       "keepalives_interval",
                                       "keepalives_count",
                                       "fallback_application_name",
                                       "dbname",
                                       NULL};
    const char *values[] = {PG_CONNECT_TIMEOUT_S, "10", "5", "3", "onestopd", conninfo, NULL};
    db->conn = PQconnectdbParams(keys, values, 1);
    if (!db->conn || PQstatus(db->conn) != CONNECTION_OK) {
        snprintf(err, errlen, "cannot connect to PostgreSQL: %s",
                 db->conn ? PQerrorMessage(db->conn) : "out of memory");
        size_t n = strlen(err);
        while (n && err[n - 1] == '\n')
            err[--n] = '\0';
        PQfinish(db->conn);
        free(db);
        return NULL;
    }
    PQsetNoticeProcessor(db->conn, notice, NULL);
    return &db->base;
}
