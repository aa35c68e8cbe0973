/* store_sqlite_rows: what the SQLite engine's files share for statements and rows — stepping
 * a write and turning result columns into JSON from a column table. */
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

void store_illegal_move(const char *machine, const char *from, const char *to)
{
    log_msg(LOG_ERROR, "illegal_move", "%s: no move from %s to %s in its rule table", machine, from,
            to);
#ifdef ONESTOP_ABORT_ON_ILLEGAL_MOVE
    abort();
#endif
}

enum store_result store_step_done(sqlite3 *db, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && (rc & 0xff) != SQLITE_CONSTRAINT)
        store_log_error(db, what);
    store_release(st);
    return rc == SQLITE_DONE ? STORE_OK : store_sqlite_result(rc);
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

json_t *store_column_json(sqlite3_stmt *st, int col, enum store_column_kind kind)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return json_null();
    switch (kind) {
    case COL_TEXT:
        return json_string((const char *)sqlite3_column_text(st, col));
    case COL_INT:
        return json_integer(sqlite3_column_int64(st, col));
    case COL_JSON: {
        json_t *v = json_loads((const char *)sqlite3_column_text(st, col), 0, NULL);
        return v ? v : json_null();
    }
    case COL_TIME:
        return iso_time(sqlite3_column_int64(st, col));
    case COL_TIME_MS:
        return iso_time(sqlite3_column_int64(st, col) / 1000);
    case COL_BOOL:
        return json_boolean(sqlite3_column_int64(st, col) != 0);
    }
    return json_null();
}

void store_row_json(sqlite3_stmt *st, int first, const struct store_column *columns, json_t *into)
{
    for (int i = 0; columns[i].name; i++)
        json_object_set_new(into, columns[i].name,
                            store_column_json(st, first + i, columns[i].kind));
}

enum store_result store_rows_json(sqlite3_stmt *st, const struct store_column *columns,
                                  json_t **out)
{
    if (!st)
        return STORE_UNAVAILABLE;
    json_t *list = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *row = json_object();
        store_row_json(st, 0, columns, row);
        json_array_append_new(list, row);
    }
    store_release(st);
    if (rc != SQLITE_DONE) {
        json_decref(list);
        return store_sqlite_result(rc);
    }
    *out = list;
    return STORE_OK;
}
