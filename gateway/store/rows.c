/* store/rows: what the store's domain files share for statements and rows — stepping a
 * write, mapping a step's failure, and turning result columns into JSON from a column
 * table. */
#include "gateway/store/db_engine.h"
#include "gateway/store/store_private.h"

#include "gateway/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int store_name_index(const char *const *names, int first, int last, const char *name)
{
    for (int i = first; name && i <= last; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

enum store_result store_step_result(struct db *db, enum db_step rc)
{
    return rc == DB_ERROR ? db_result(db) : STORE_OK;
}

struct db *store_stmt_db(struct db_stmt *st)
{
    return st->db;
}

void store_log_error(struct db *db, const char *what)
{
    log_msg(LOG_ERROR, "store_error", "%s: %s (%s)", what, db_errmsg(db), db_engine(db));
}

enum store_result store_step_id(struct db *db, struct db_stmt *st, const char *what, int64_t *id)
{
    enum db_step rc = db_step(st);
    if (rc == DB_ROW)
        *id = db_column_int64(st, 0);
    else if (rc == DB_DONE || db_result(db) != STORE_CONFLICT)
        store_log_error(db, what);
    db_release(st);
    return rc == DB_ROW ? STORE_OK : rc == DB_DONE ? STORE_UNAVAILABLE : db_result(db);
}

enum store_result store_step_done(struct db *db, struct db_stmt *st, const char *what)
{
    enum db_step rc = db_step(st);
    if (rc != DB_DONE && db_result(db) != STORE_CONFLICT)
        store_log_error(db, what);
    db_release(st);
    return rc == DB_DONE ? STORE_OK : store_step_result(db, rc);
}

static json_t *iso_time(int64_t seconds)
{
    char buf[32];
    time_t t = (time_t)seconds;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(buf);
}

json_t *store_column_json(struct db_stmt *st, int col, enum store_column_kind kind)
{
    if (db_column_is_null(st, col))
        return json_null();
    switch (kind) {
    case COL_TEXT:
        return json_string(db_column_text(st, col));
    case COL_INT:
        return json_integer(db_column_int64(st, col));
    case COL_JSON: {
        json_t *v = json_loads(db_column_text(st, col), 0, NULL);
        return v ? v : json_null();
    }
    case COL_TIME:
        return iso_time(db_column_int64(st, col));
    case COL_TIME_MS:
        return iso_time(db_column_int64(st, col) / 1000);
    case COL_BOOL:
        return json_boolean(db_column_int64(st, col) != 0);
    case COL_DAY: {
        json_t *t = iso_time(db_column_int64(st, col) * 86400);
        json_t *day = t ? json_stringn(json_string_value(t), 10) : NULL;
        json_decref(t);
        return day ? day : json_null();
    }
    }
    return json_null();
}

void store_row_json(struct db_stmt *st, int first, const struct store_column *columns, json_t *into)
{
    for (int i = 0; columns[i].name; i++)
        json_object_set_new(into, columns[i].name,
                            store_column_json(st, first + i, columns[i].kind));
}

enum store_result store_rows_json(struct db_stmt *st, const struct store_column *columns,
                                  json_t **out)
{
    if (!st)
        return STORE_UNAVAILABLE;
    struct db *db = st->db;
    json_t *list = json_array();
    enum db_step rc;
    while ((rc = db_step(st)) == DB_ROW) {
        json_t *row = json_object();
        store_row_json(st, 0, columns, row);
        json_array_append_new(list, row);
    }
    db_release(st);
    if (rc != DB_DONE) {
        json_decref(list);
        return store_step_result(db, rc);
    }
    *out = list;
    return STORE_OK;
}
