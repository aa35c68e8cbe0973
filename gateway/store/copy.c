/* store_copy: a SQLite store into an empty PostgreSQL one (copy.h). */
#include "gateway/store/copy.h"

#include "gateway/store/audit.h"
#include "gateway/store/postgresql/db_postgresql.h"
#include "gateway/store/sqlite/sqlite.h"
#include "gateway/store/store_private.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COLUMNS_MAX        64
#define BATCH_ROWS_DEFAULT 500
#define PG_PARAMS_MAX      999 /* the engine takes ?1 to ?999 (pg_sql.c, as SQLite) */
#define SOURCE_BUSY_MS     5000
/* tables only PostgreSQL has: its record of applied migrations */
#define PG_ONLY_TABLE "schema_migrations"

struct table {
    char name[STORE_COPY_NAME_MAX];
    char *columns[COLUMNS_MAX];
    size_t columns_len;
    char *parents[COLUMNS_MAX]; /* tables its foreign keys refer to (itself left out) */
    size_t parents_len;
    bool placed;
};

struct copy {
    const struct store_copy_options *opts;
    struct store_copy_report *report;
    struct db *src, *dst;
    struct table tables[STORE_COPY_TABLES_MAX];
    size_t tables_len;
    size_t order[STORE_COPY_TABLES_MAX];
    char *err;
    size_t errlen;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void tables_free(struct copy *c)
{
    for (size_t i = 0; i < c->tables_len; i++) {
        for (size_t k = 0; k < c->tables[i].columns_len; k++)
            free(c->tables[i].columns[k]);
        for (size_t k = 0; k < c->tables[i].parents_len; k++)
            free(c->tables[i].parents[k]);
    }
}

/* Names are identifiers of onestop's own schema: letters, digits and underscores only, so
 * they can be put in SQL (quoted) without escaping. */
static bool plain_name(const char *s)
{
    if (!s || !*s || strlen(s) >= STORE_COPY_NAME_MAX)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

/* The text values of the first column of sql (one text parameter, or none) into out. */
static bool names(struct db *db, const char *sql, const char *param, char **out, size_t max,
                  size_t *len, char *err, size_t errlen)
{
    *len = 0;
    struct db_stmt *st = db_prepare(db, sql);
    if (!st) {
        snprintf(err, errlen, "cannot read the schema (%s): %s", db_engine(db), db_errmsg(db));
        return false;
    }
    if (param)
        db_bind_text(st, 1, param);
    enum db_step rc;
    bool ok = true;
    while (ok && (rc = db_step(st)) == DB_ROW) {
        const char *name = db_column_text(st, 0);
        if (!plain_name(name) || *len >= max) {
            snprintf(err, errlen, "unexpected name in the %s schema: %s", db_engine(db),
                     name ? name : "(null)");
            ok = false;
        } else if (!(out[(*len)++] = strdup(name))) {
            snprintf(err, errlen, "out of memory");
            ok = false;
        }
    }
    if (ok && rc != DB_DONE) {
        snprintf(err, errlen, "cannot read the schema (%s): %s", db_engine(db), db_errmsg(db));
        ok = false;
    }
    db_finalize(st);
    if (!ok)
        while (*len > 0)
            free(out[--*len]);
    return ok;
}

static bool has(char *const *list, size_t len, const char *name)
{
    for (size_t i = 0; i < len; i++)
        if (strcmp(list[i], name) == 0)
            return true;
    return false;
}

static void free_list(char **list, size_t len)
{
    for (size_t i = 0; i < len; i++)
        free(list[i]);
}

/* The source's tables, their columns and the tables they refer to; each must be in the target
 * with the same columns (in whatever order). */
static enum store_copy_outcome schema_read(struct copy *c)
{
    char *list[STORE_COPY_TABLES_MAX];
    size_t len = 0;
    if (!names(c->src,
               "SELECT name FROM sqlite_master WHERE type = 'table'"
               " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
               NULL, list, STORE_COPY_TABLES_MAX, &len, c->err, c->errlen))
        return STORE_COPY_FAILED;
    enum store_copy_outcome out = STORE_COPY_DONE;
    for (size_t i = 0; i < len && out == STORE_COPY_DONE; i++) {
        struct table *t = &c->tables[c->tables_len++];
        snprintf(t->name, sizeof t->name, "%s", list[i]);
        char *pg_columns[COLUMNS_MAX];
        size_t pg_len = 0;
        if (!names(c->src, "SELECT name FROM pragma_table_info(?) ORDER BY cid", t->name,
                   t->columns, COLUMNS_MAX, &t->columns_len, c->err, c->errlen) ||
            !names(c->src,
                   "SELECT DISTINCT \"table\" FROM pragma_foreign_key_list(?1)"
                   " WHERE \"table\" <> ?1",
                   t->name, t->parents, COLUMNS_MAX, &t->parents_len, c->err, c->errlen) ||
            !names(c->dst,
                   "SELECT column_name FROM information_schema.columns"
                   " WHERE table_schema = current_schema() AND table_name = ?",
                   t->name, pg_columns, COLUMNS_MAX, &pg_len, c->err, c->errlen)) {
            out = STORE_COPY_FAILED;
            break;
        }
        if (pg_len == 0) {
            snprintf(c->err, c->errlen, "the target has no table %s", t->name);
            out = STORE_COPY_REFUSED;
        }
        for (size_t k = 0; out == STORE_COPY_DONE && k < t->columns_len; k++)
            if (!has(pg_columns, pg_len, t->columns[k])) {
                snprintf(c->err, c->errlen, "the target's table %s has no column %s", t->name,
                         t->columns[k]);
                out = STORE_COPY_REFUSED;
            }
        for (size_t k = 0; out == STORE_COPY_DONE && k < pg_len; k++)
            if (!has(t->columns, t->columns_len, pg_columns[k])) {
                snprintf(c->err, c->errlen, "the source's table %s has no column %s", t->name,
                         pg_columns[k]);
                out = STORE_COPY_REFUSED;
            }
        free_list(pg_columns, pg_len);
    }
    free_list(list, len);
    return out;
}

/* Parents before children: foreign keys hold row by row without deferring them. */
static bool schema_order(struct copy *c)
{
    size_t placed = 0;
    while (placed < c->tables_len) {
        bool progress = false;
        for (size_t i = 0; i < c->tables_len; i++) {
            struct table *t = &c->tables[i];
            if (t->placed)
                continue;
            bool ready = true;
            for (size_t k = 0; k < t->parents_len && ready; k++)
                for (size_t j = 0; j < c->tables_len; j++)
                    if (!c->tables[j].placed && strcmp(c->tables[j].name, t->parents[k]) == 0)
                        ready = false;
            if (ready) {
                t->placed = true;
                c->order[placed++] = i;
                progress = true;
            }
        }
        if (!progress) {
            snprintf(c->err, c->errlen, "the source's foreign keys form a cycle");
            return false;
        }
    }
    return true;
}

/* The target holds no row in any of its tables (the migrations' own record aside). */
static enum store_copy_outcome target_empty(struct copy *c)
{
    char *list[STORE_COPY_TABLES_MAX * 2];
    size_t len = 0;
    if (!names(c->dst,
               "SELECT table_name FROM information_schema.tables"
               " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
               " ORDER BY table_name",
               NULL, list, STORE_COPY_TABLES_MAX * 2, &len, c->err, c->errlen))
        return STORE_COPY_FAILED;
    enum store_copy_outcome out = STORE_COPY_DONE;
    for (size_t i = 0; i < len && out == STORE_COPY_DONE; i++) {
        if (strcmp(list[i], PG_ONLY_TABLE) == 0)
            continue;
        char sql[160];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM \"%s\"", list[i]);
        struct db_stmt *st = db_prepare(c->dst, sql);
        if (!st || db_step(st) != DB_ROW) {
            snprintf(c->err, c->errlen, "cannot count the target's %s: %s", list[i],
                     db_errmsg(c->dst));
            out = STORE_COPY_FAILED;
        } else if (db_column_int64(st, 0) > 0) {
            snprintf(c->err, c->errlen,
                     "the target is not empty (its table %s holds %" PRId64
                     " rows); copy into a new, empty database",
                     list[i], db_column_int64(st, 0));
            out = STORE_COPY_REFUSED;
        }
        db_finalize(st);
    }
    free_list(list, len);
    return out;
}

static bool count_rows(struct db *db, const char *table, int64_t *n, char *err, size_t errlen)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM \"%s\"", table);
    struct db_stmt *st = db_prepare(db, sql);
    bool ok = st && db_step(st) == DB_ROW;
    if (ok)
        *n = db_column_int64(st, 0);
    else
        snprintf(err, errlen, "cannot count %s (%s): %s", table, db_engine(db), db_errmsg(db));
    db_finalize(st);
    return ok;
}

/* "INSERT INTO t(c...) VALUES (?,...),... " for rows rows. NULL when out of memory. */
static char *insert_sql(const struct table *t, long rows)
{
    size_t cap = 64 + STORE_COPY_NAME_MAX * (t->columns_len + 1) * 2 +
                 (size_t)rows * (t->columns_len * 2 + 4);
    char *sql = malloc(cap);
    if (!sql)
        return NULL;
    size_t n = (size_t)snprintf(sql, cap, "INSERT INTO \"%s\"(", t->name);
    for (size_t k = 0; k < t->columns_len; k++)
        n += (size_t)snprintf(sql + n, cap - n, "%s\"%s\"", k ? "," : "", t->columns[k]);
    n += (size_t)snprintf(sql + n, cap - n, ") VALUES ");
    for (long r = 0; r < rows; r++) {
        sql[n++] = r ? ',' : ' ';
        sql[n++] = '(';
        for (size_t k = 0; k < t->columns_len; k++) {
            if (k)
                sql[n++] = ',';
            sql[n++] = '?';
        }
        sql[n++] = ')';
    }
    sql[n] = '\0';
    return sql;
}

struct batch {
    char **values; /* rows x columns, NULL for NULL */
    long rows, cap;
    size_t columns;
};

static void batch_clear(struct batch *b)
{
    for (long i = 0; i < b->rows * (long)b->columns; i++) {
        free(b->values[i]);
        b->values[i] = NULL;
    }
    b->rows = 0;
}

/* Sends the batch as one INSERT (full batches reuse one prepared statement). */
static bool batch_send(struct copy *c, const struct table *t, struct batch *b,
                       struct db_stmt **full)
{
    struct db_stmt *st = NULL;
    if (b->rows == b->cap) {
        if (!*full) {
            char *sql = insert_sql(t, b->cap);
            *full = sql ? db_prepare(c->dst, sql) : NULL;
            free(sql);
        }
        st = *full;
    } else {
        char *sql = insert_sql(t, b->rows);
        st = sql ? db_prepare(c->dst, sql) : NULL;
        free(sql);
    }
    bool ok = st != NULL;
    for (long i = 0; ok && i < b->rows * (long)b->columns; i++)
        ok = db_bind_text(st, (int)i + 1, b->values[i]);
    ok = ok && db_step(st) == DB_DONE;
    if (!ok)
        snprintf(c->err, c->errlen, "cannot write %s on the target: %s", t->name,
                 db_errmsg(c->dst));
    if (st == *full)
        db_release(st);
    else
        db_finalize(st);
    batch_clear(b);
    return ok;
}

static bool table_copy(struct copy *c, const struct table *t, int64_t *copied)
{
    long per = c->opts->batch_rows > 0 ? c->opts->batch_rows : BATCH_ROWS_DEFAULT;
    if (per * (long)t->columns_len > PG_PARAMS_MAX)
        per = PG_PARAMS_MAX / (long)t->columns_len;
    struct batch b = {.cap = per, .columns = t->columns_len};
    b.values = calloc((size_t)per * t->columns_len, sizeof *b.values);
    char *sql = malloc(32 + STORE_COPY_NAME_MAX * (t->columns_len + 1) * 2);
    if (!b.values || !sql) {
        free(b.values);
        free(sql);
        snprintf(c->err, c->errlen, "out of memory");
        return false;
    }
    size_t n = (size_t)sprintf(sql, "SELECT ");
    for (size_t k = 0; k < t->columns_len; k++)
        n += (size_t)sprintf(sql + n, "%s\"%s\"", k ? "," : "", t->columns[k]);
    sprintf(sql + n, " FROM \"%s\" ORDER BY rowid", t->name);
    struct db_stmt *st = db_prepare(c->src, sql), *full = NULL;
    free(sql);
    bool ok = st != NULL;
    if (!ok)
        snprintf(c->err, c->errlen, "cannot read %s: %s", t->name, db_errmsg(c->src));
    double start = now_s(), shown = start;
    enum db_step rc = DB_DONE;
    *copied = 0;
    while (ok && (rc = db_step(st)) == DB_ROW) {
        for (size_t k = 0; ok && k < t->columns_len; k++) {
            const char *v = db_column_text(st, (int)k);
            char **slot = &b.values[b.rows * (long)t->columns_len + (long)k];
            if (v && !(*slot = strdup(v))) {
                snprintf(c->err, c->errlen, "out of memory");
                ok = false;
            }
        }
        b.rows++;
        if (ok && b.rows == b.cap) {
            ok = batch_send(c, t, &b, &full);
            *copied += ok ? b.cap : 0;
            double now = now_s();
            if (ok && c->opts->progress && now - shown >= 1.0) {
                fprintf(c->opts->progress, "store copy: %s %" PRId64 " rows (%.0f rows/s)\n",
                        t->name, *copied, (double)*copied / (now - start));
                shown = now;
            }
        }
    }
    if (ok && rc != DB_DONE) {
        snprintf(c->err, c->errlen, "cannot read %s: %s", t->name, db_errmsg(c->src));
        ok = false;
    }
    if (ok && b.rows > 0) {
        long last = b.rows;
        ok = batch_send(c, t, &b, &full);
        *copied += ok ? last : 0;
    }
    batch_clear(&b);
    free(b.values);
    db_finalize(full);
    db_finalize(st);
    double secs = now_s() - start;
    if (ok && c->opts->progress && *copied == 0)
        fprintf(c->opts->progress, "store copy: %s 0 rows\n", t->name);
    else if (ok && c->opts->progress)
        fprintf(c->opts->progress, "store copy: %s %" PRId64 " rows in %.2f s (%.0f rows/s)\n",
                t->name, *copied, secs, secs > 0 ? (double)*copied / secs : 0.0);
    return ok;
}

/* Every identity column's sequence set past the largest value copied into it. */
static bool sequences_set(struct copy *c)
{
    struct db_stmt *st =
        db_prepare(c->dst, "SELECT table_name || '.' || column_name FROM information_schema.columns"
                           " WHERE table_schema = current_schema() AND is_identity = 'YES'"
                           " ORDER BY table_name");
    bool ok = st != NULL;
    enum db_step rc = DB_DONE;
    char list[STORE_COPY_TABLES_MAX][STORE_COPY_NAME_MAX * 2];
    size_t len = 0;
    while (ok && (rc = db_step(st)) == DB_ROW && len < STORE_COPY_TABLES_MAX)
        snprintf(list[len++], sizeof list[0], "%s", db_column_text(st, 0));
    if (ok && rc != DB_DONE && rc != DB_ROW)
        ok = false;
    db_finalize(st);
    for (size_t i = 0; ok && i < len; i++) {
        char *dot = strchr(list[i], '.');
        if (!dot)
            continue;
        *dot = '\0';
        const char *table = list[i], *column = dot + 1;
        if (!plain_name(table) || !plain_name(column))
            continue;
        char sql[512];
        snprintf(sql, sizeof sql,
                 "SELECT setval(pg_get_serial_sequence('\"%s\"', '%s'),"
                 " coalesce(max(\"%s\"), 0) + 1, false) FROM \"%s\"",
                 table, column, column, table);
        st = db_prepare(c->dst, sql);
        ok = st && db_step(st) == DB_ROW;
        db_finalize(st);
    }
    if (!ok)
        snprintf(c->err, c->errlen, "cannot set the target's id sequences: %s", db_errmsg(c->dst));
    return ok;
}

static bool chain_walk(struct db *db, const char *which, struct audit_head *head, int64_t *rows,
                       char *err, size_t errlen)
{
    struct audit_verify_result res;
    if (store_audit_walk(db, NULL, NULL, 0, &res) != STORE_OK) {
        snprintf(err, errlen, "cannot read the %s's audit trail: %s", which, db_errmsg(db));
        return false;
    }
    if (res.kind != AUDIT_INTACT) {
        snprintf(err, errlen, "the %s's audit trail is broken: %s", which, res.message);
        return false;
    }
    *head = res.head;
    *rows = res.rows;
    return true;
}

/* Copies and checks inside the target's open transaction. */
static enum store_copy_outcome copy_all(struct copy *c)
{
    struct store_copy_report *r = c->report;
    int64_t src_audit_rows = 0, dst_audit_rows = 0;
    if (!chain_walk(c->src, "source", &r->source_head, &src_audit_rows, c->err, c->errlen))
        return STORE_COPY_REFUSED;
    for (size_t i = 0; i < c->tables_len; i++) {
        const struct table *t = &c->tables[c->order[i]];
        struct store_copy_table *rt = &r->tables[r->tables_len++];
        snprintf(rt->name, sizeof rt->name, "%s", t->name);
        int64_t copied = 0;
        if (!count_rows(c->src, t->name, &rt->source_rows, c->err, c->errlen) ||
            !table_copy(c, t, &copied))
            return STORE_COPY_FAILED;
        r->rows += copied;
    }
    if (!sequences_set(c))
        return STORE_COPY_FAILED;
    /* the check: counts, then the chain as the target now holds it */
    bool counts_equal = true;
    for (size_t i = 0; i < r->tables_len; i++) {
        struct store_copy_table *rt = &r->tables[i];
        if (!count_rows(c->dst, rt->name, &rt->target_rows, c->err, c->errlen))
            return STORE_COPY_FAILED;
        if (rt->target_rows != rt->source_rows) {
            if (counts_equal)
                snprintf(c->err, c->errlen,
                         "%s: %" PRId64 " rows in the source but %" PRId64 " in the target",
                         rt->name, rt->source_rows, rt->target_rows);
            counts_equal = false;
        }
    }
    if (!counts_equal)
        return STORE_COPY_FAILED;
    if (!chain_walk(c->dst, "target", &r->target_head, &dst_audit_rows, c->err, c->errlen))
        return STORE_COPY_FAILED;
    if (dst_audit_rows != src_audit_rows || r->target_head.id != r->source_head.id ||
        strcmp(r->target_head.hash, r->source_head.hash) != 0) {
        snprintf(c->err, c->errlen,
                 "the target's audit chain ends at row %" PRId64
                 " hash %s, the source's at row %" PRId64 " hash %s",
                 r->target_head.id, r->target_head.hash, r->source_head.id, r->source_head.hash);
        return STORE_COPY_FAILED;
    }
    /* recorded on the target, through the chain, in the same transaction */
    char detail[1024];
    size_t n = (size_t)snprintf(detail, sizeof detail, "schema %d; source head %" PRId64 " %s;",
                                r->schema_version, r->source_head.id, r->source_head.hash);
    for (size_t i = 0; i < r->tables_len && n < sizeof detail; i++)
        n += (size_t)snprintf(detail + n, sizeof detail - n, " %s=%" PRId64, r->tables[i].name,
                              r->tables[i].source_rows);
    struct audit_entry e = {.actor = "system",
                            .action = "store_copied",
                            .subject = "sqlite->postgresql",
                            .detail = detail};
    if (store_audit_insert(c->dst, &e, time(NULL)) != STORE_OK) {
        snprintf(c->err, c->errlen, "cannot append the store_copied audit row: %s",
                 db_errmsg(c->dst));
        return STORE_COPY_FAILED;
    }
    struct audit_head after;
    int64_t after_rows = 0;
    if (!chain_walk(c->dst, "target", &after, &after_rows, c->err, c->errlen))
        return STORE_COPY_FAILED;
    r->audit_copied_id = after.id;
    return STORE_COPY_DONE;
}

enum store_copy_outcome store_copy(const struct store_copy_options *opts,
                                   struct store_copy_report *report, char *err, size_t errlen)
{
    memset(report, 0, sizeof *report);
    double start = now_s();
    struct copy c = {.opts = opts, .report = report, .err = err, .errlen = errlen};
    char e[512];
    /* the source: read only, keys never needed (nothing is opened) */
    c.src = db_sqlite_open(opts->sqlite_path, SOURCE_BUSY_MS, false, NULL, e, sizeof e);
    if (!c.src) {
        snprintf(err, errlen, "cannot open the source %s: %s", opts->sqlite_path, e);
        return STORE_COPY_REFUSED;
    }
    enum store_copy_outcome out = STORE_COPY_REFUSED;
    /* one read transaction: everything below sees the source as it stood at one instant */
    if (!db_exec(c.src, "BEGIN", e, sizeof e)) {
        snprintf(err, errlen, "cannot read the source: %s", e);
        goto done;
    }
    int have = db_sqlite_schema_version(c.src), know = db_sqlite_schema_latest();
    report->schema_version = have;
    if (have < 0) {
        snprintf(err, errlen, "cannot read the source's schema version (is %s an onestop store?)",
                 opts->sqlite_path);
        goto done;
    }
    if (have == 0) {
        snprintf(err, errlen, "%s is not an onestop store (it has no schema version)",
                 opts->sqlite_path);
        goto done;
    }
    if (have < know) {
        snprintf(err, errlen,
                 "the source's schema is version %d, older than this onestop's %d: start onestopd "
                 "once on it (with this version), which migrates it, stop it, then copy",
                 have, know);
        goto done;
    }
    if (have > know) {
        snprintf(err, errlen,
                 "the source's schema is version %d, newer than this onestop's %d: copy it with "
                 "the onestop that wrote it",
                 have, know);
        goto done;
    }
    /* the target: migrated to this binary's schema, and empty */
    c.dst = db_postgresql_connect(opts->conninfo, NULL, e, sizeof e);
    if (!c.dst) {
        snprintf(err, errlen, "cannot connect to the target: %s", e);
        goto done;
    }
    if (!db_postgresql_migrate(c.dst, e, sizeof e)) {
        snprintf(err, errlen, "cannot migrate the target: %s", e);
        goto done;
    }
    int target_version = db_postgresql_schema_version(c.dst);
    if (target_version != have) {
        snprintf(err, errlen, "the target's schema is version %d after migrating, the source's %d",
                 target_version, have);
        goto done;
    }
    if (!db_exec(c.dst, "BEGIN", e, sizeof e)) {
        snprintf(err, errlen, "cannot begin on the target: %s", e);
        out = STORE_COPY_FAILED;
        goto done;
    }
    /* a copy running beside another copy into the same database would both see it empty */
    if (!db_exec(c.dst, "LOCK TABLE audit IN EXCLUSIVE MODE", e, sizeof e)) {
        snprintf(err, errlen, "cannot lock the target: %s", e);
        out = STORE_COPY_FAILED;
    } else if ((out = target_empty(&c)) == STORE_COPY_DONE &&
               (out = schema_read(&c)) == STORE_COPY_DONE) {
        out = schema_order(&c) ? copy_all(&c) : STORE_COPY_FAILED;
    }
    if (out == STORE_COPY_DONE && !db_exec(c.dst, "COMMIT", e, sizeof e)) {
        snprintf(err, errlen, "the target did not commit the copy: %s", e);
        out = STORE_COPY_FAILED;
    }
    if (out != STORE_COPY_DONE)
        (void)db_exec(c.dst, "ROLLBACK", e, sizeof e);
done:
    report->seconds = now_s() - start;
    tables_free(&c);
    if (c.src)
        (void)db_exec(c.src, "ROLLBACK", e, sizeof e);
    db_close(c.dst);
    db_close(c.src);
    return out;
}
