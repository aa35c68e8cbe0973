/* store_digest: see store/digest.h. One read on a pooled connection: the site of the
 * delivery's transaction, then its group by site and creation time. */
#include "gateway/store/digest.h"

#include "gateway/store/store_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void store_digest_free(struct digest_member *list, size_t len)
{
    for (size_t i = 0; list && i < len; i++)
        free(list[i].payload);
    free(list);
}

static void text_column(struct db_stmt *st, int col, char *out, size_t outlen)
{
    const char *v = db_column_text(st, col);
    snprintf(out, outlen, "%s", v ? (const char *)v : "");
}

static enum store_result site_of(struct db *db, int64_t delivery_id, char site[STORE_SITE_MAX])
{
    struct db_stmt *st = db_cached(db, "SELECT t.site FROM deliveries d JOIN transactions t ON"
                                       " t.id = d.transaction_id WHERE d.id=?");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_int64(st, 1, delivery_id);
    enum db_step rc = db_step(st);
    enum store_result r = rc == DB_ROW    ? STORE_OK
                          : rc == DB_DONE ? STORE_NOT_FOUND
                                          : store_step_result(db, rc);
    if (r == STORE_OK)
        text_column(st, 0, site, STORE_SITE_MAX);
    db_release(st);
    return r;
}

static enum store_result members_of(struct db *db, const char *backend, const char *site,
                                    time_t from, time_t until, struct digest_member **out,
                                    size_t *len)
{
    struct db_stmt *st = db_cached(
        db,
        "SELECT d.id, t.reference, d.state, pd_open(d.payload, 'deliveries.payload'), d.created_at,"
        " d.backend_reference, d.last_error FROM deliveries d"
        " JOIN transactions t ON t.id = d.transaction_id"
        " WHERE d.backend=?1 AND t.site IS NOT DISTINCT FROM ?2"
        " AND d.created_at > ?3 AND d.created_at <= ?4"
        " ORDER BY d.id LIMIT ?5");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, backend);
    db_bind_text(st, 2, site);
    db_bind_int64(st, 3, from);
    db_bind_int64(st, 4, until);
    db_bind_int64(st, 5, DIGEST_MEMBERS_MAX + 1);
    struct digest_member *list = calloc(DIGEST_MEMBERS_MAX + 1, sizeof *list);
    size_t n = 0;
    enum store_result r = list ? STORE_OK : STORE_UNAVAILABLE;
    enum db_step rc = DB_DONE;
    while (r == STORE_OK && (rc = db_step(st)) == DB_ROW) {
        struct digest_member *m = &list[n++];
        m->id = db_column_int64(st, 0);
        text_column(st, 1, m->reference, sizeof m->reference);
        if (!delivery_state_parse(db_column_text(st, 2), &m->state))
            r = STORE_INVALID;
        m->payload = strdup(db_column_text(st, 3));
        m->created_at = (time_t)db_column_int64(st, 4);
        text_column(st, 5, m->backend_reference, sizeof m->backend_reference);
        text_column(st, 6, m->last_error, sizeof m->last_error);
        if (!m->payload)
            r = STORE_UNAVAILABLE;
    }
    if (r == STORE_OK && rc != DB_DONE)
        r = store_step_result(db, rc);
    if (r == STORE_OK && n > DIGEST_MEMBERS_MAX)
        r = STORE_INVALID;
    db_release(st);
    if (r != STORE_OK) {
        store_digest_free(list, n);
        return r;
    }
    *out = list;
    *len = n;
    return STORE_OK;
}

enum store_result store_digest_members(struct store *store, const char *backend,
                                       int64_t delivery_id, time_t from, time_t until,
                                       char site[STORE_SITE_MAX], struct digest_member **out,
                                       size_t *len)
{
    *out = NULL;
    *len = 0;
    struct db *db = store_reader_acquire(store);
    enum store_result r = site_of(db, delivery_id, site);
    if (r == STORE_OK)
        r = members_of(db, backend, site, from, until, out, len);
    store_reader_release(store, db);
    return r;
}
