/* store/sqlite/crypt_functions: the SQLite half of store_crypt — the pd_* SQL functions over
 * the process's keys (field_crypt.h), registered on every connection, so sealing sits in the
 * SQL that writes a column and opening in the SQL that reads it (store/crypt.c lists them). */
#include "gateway/store/sqlite/sqlite.h"

#include "gateway/data_keys.h"
#include "gateway/field_crypt.h"
#include "gateway/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERR_MAX 160

static void fn_seal(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *x = (const char *)sqlite3_value_text(argv[0]);
    const char *context = (const char *)sqlite3_value_text(argv[1]);
    char *out = NULL;
    if (!x)
        sqlite3_result_null(ctx);
    else if (field_seal(sqlite3_user_data(ctx), x, context, &out))
        sqlite3_result_text(ctx, out, -1, free);
    else
        sqlite3_result_error(ctx, "personal data cannot be sealed", -1);
}

static void fn_seal_only(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const struct field_crypt *fc = sqlite3_user_data(ctx);
    if (!fc || !data_keys_current(fc->data))
        sqlite3_result_null(ctx);
    else
        fn_seal(ctx, argc, argv);
}

static void fn_open(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *x = (const char *)sqlite3_value_text(argv[0]);
    const char *context = (const char *)sqlite3_value_text(argv[1]);
    char *out = NULL;
    char err[ERR_MAX];
    if (!x)
        sqlite3_result_null(ctx);
    else if (field_open(sqlite3_user_data(ctx), x, context, &out, err, sizeof err))
        sqlite3_result_text(ctx, out, -1, free);
    else {
        /* the read fails (the caller answers "unavailable"): say why here, with the context
         * (a reference or a column's name, never a value) */
        log_msg(LOG_ERROR, "personal_data_unreadable", "%s: %s", context ? context : "-", err);
        sqlite3_result_error(ctx, err, -1);
    }
}

static void fn_reseal(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const struct field_crypt *fc = sqlite3_user_data(ctx);
    const char *x = (const char *)sqlite3_value_text(argv[0]);
    const char *context = (const char *)sqlite3_value_text(argv[1]);
    char id[DATA_KEY_ID_MAX + 1];
    const char *current = fc ? data_keys_current(fc->data) : NULL;
    if (!x || !current ||
        (field_sealed_version(x) == 2 && field_sealed_key(x, id, sizeof id) &&
         strcmp(id, current) == 0)) {
        sqlite3_result_value(ctx, argv[0]);
        return;
    }
    char *plain = NULL, *out = NULL;
    char err[ERR_MAX];
    if (!field_open(fc, x, context, &plain, err, sizeof err)) {
        sqlite3_result_error(ctx, err, -1);
        return;
    }
    if (field_seal(fc, plain, context, &out))
        sqlite3_result_text(ctx, out, -1, free);
    else
        sqlite3_result_error(ctx, "personal data cannot be sealed", -1);
    free(plain);
}

static void fn_key(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *x = (const char *)sqlite3_value_text(argv[0]);
    char id[DATA_KEY_ID_MAX + 1];
    if (!x)
        sqlite3_result_null(ctx);
    else if (field_sealed_key(x, id, sizeof id))
        sqlite3_result_text(ctx, id, -1, SQLITE_TRANSIENT);
    else
        sqlite3_result_text(ctx, "plain", -1, SQLITE_STATIC);
}

static void fn_blind(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const struct field_crypt *fc = sqlite3_user_data(ctx);
    const char *name = (const char *)sqlite3_value_text(argv[0]);
    const char *value = (const char *)sqlite3_value_text(argv[1]);
    char out[FIELD_BLIND_SIZE];
    if (!name || !value || !fc || !fc->index ||
        strncmp(value, FIELD_BLIND_PREFIX, sizeof FIELD_BLIND_PREFIX - 1) == 0)
        sqlite3_result_value(ctx, argv[1]);
    else if (field_blind(fc, name, value, out))
        sqlite3_result_text(ctx, out, -1, SQLITE_TRANSIENT);
    else
        sqlite3_result_error(ctx, "a blind index cannot be made", -1);
}

static void fn_blind_old(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const struct field_crypt *fc = sqlite3_user_data(ctx);
    const char *name = (const char *)sqlite3_value_text(argv[0]);
    const char *value = (const char *)sqlite3_value_text(argv[1]);
    char out[FIELD_BLIND_SIZE];
    if (name && value && field_blind_old(fc, name, value, out))
        sqlite3_result_text(ctx, out, -1, SQLITE_TRANSIENT);
    else
        sqlite3_result_null(ctx); /* no old key: matches nothing */
}

bool store_crypt_attach(sqlite3 *db, const struct field_crypt *fc, char *err, size_t errlen)
{
    void *ud = (void *)fc;
    const int det = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY;
    const int once = SQLITE_UTF8 | SQLITE_DIRECTONLY; /* a fresh IV each call */
    if (sqlite3_create_function(db, "pd_seal", 2, once, ud, fn_seal, NULL, NULL) != SQLITE_OK ||
        sqlite3_create_function(db, "pd_open", 2, det, ud, fn_open, NULL, NULL) != SQLITE_OK ||
        sqlite3_create_function(db, "pd_reseal", 2, once, ud, fn_reseal, NULL, NULL) != SQLITE_OK ||
        sqlite3_create_function(db, "pd_key", 1, det, ud, fn_key, NULL, NULL) != SQLITE_OK ||
        sqlite3_create_function(db, "pd_seal_only", 2, once, ud, fn_seal_only, NULL, NULL) !=
            SQLITE_OK ||
        sqlite3_create_function(db, "pd_blind_old", 2, det, ud, fn_blind_old, NULL, NULL) !=
            SQLITE_OK ||
        sqlite3_create_function(db, "pd_blind", 2, det, ud, fn_blind, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot register the personal data functions: %s",
                 sqlite3_errmsg(db));
        return false;
    }
    return true;
}
