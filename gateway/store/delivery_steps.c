/* store_delivery_steps: what a delivery remembers beyond its state, in the store —
 * an attempt whose outcome is unknown, an Open311 token still to exchange for the back-end's
 * id, and a note for supervisors.
 *
 * DESIGN: these are written inside the same writer job as the attempt's outcome
 * (store_delivery_record and each outcome of store_delivery_record_batch run outcome_run,
 * then store_delivery_step_run; a delivered attempt's own UPDATE writes its columns), so the
 * delivery's state and these columns commit together. They never move a state machine: a token
 * exchange only fills in the back-end's reference of a delivery that is already delivered (the
 * transaction stays `forwarded`), and a look-up that finds nothing only clears
 * outcome_unknown on a delivery that is still pending, so that the next attempt may be sent.
 *
 *   outcome_unknown  set by a RETRY or FAILED attempt the back-end may have acted on (a
 *                    timeout, a dropped connection, most 5xx) and by an attempt aborted in
 *                    flight at shutdown (ABORTED), kept by later attempts that
 *                    surely did not reach it, cleared by DELIVERED and NOT_FOUND. It survives a
 *                    restart, so the forwarder looks up before resending even then.
 *   backend_token    the Open311 token of a DELIVERED answer without an id; token_polls counts
 *                    the exchanges tried.
 *   note             what happened that a supervisor should know and that is not an error:
 *                    found by a look-up instead of resending, no reference given (blackbox),
 *                    the token's id never came. Each note is also written to the audit trail. */
#include "gateway/store/store_private.h"

#include <stdio.h>
#include <string.h>

#define MS_PER_S 1000

/* An audit entry for a delivery's note, by the system. */
static enum store_result note_audit(struct db *db, int64_t delivery_id, const char *action,
                                    const char *detail, time_t at)
{
    struct db_stmt *st = db_cached(db, "SELECT t.reference, d.backend FROM deliveries d JOIN"
                                       " transactions t ON t.id = d.transaction_id WHERE d.id=?");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_int64(st, 1, delivery_id);
    enum db_step rc = db_step(st);
    enum store_result r = STORE_NOT_FOUND;
    if (rc == DB_ROW) {
        char reference[STORE_REFERENCE_MAX], backend[64];
        snprintf(reference, sizeof reference, "%s", db_column_text(st, 0));
        snprintf(backend, sizeof backend, "%s", db_column_text(st, 1));
        db_release(st);
        st = NULL;
        const struct audit_entry e = {
            .actor = backend, .action = action, .subject = reference, .detail = detail};
        r = store_audit_insert(db, &e, at);
    } else if (rc != DB_DONE) {
        r = store_step_result(db, rc);
    }
    db_release(st);
    return r;
}

/* After a recorded attempt: its token, note and whether its outcome is unknown. */
static enum store_result attempt_run(struct db *db, const struct delivery_outcome *o, time_t now,
                                     bool columns_written)
{
    struct db_stmt *st;
    enum store_result r;
    switch (o->kind) {
    case OUTCOME_DELIVERED:
        if (columns_written) /* by the delivered attempt's own UPDATE (store/deliveries.c) */
            return o->supervisor_note[0]
                       ? note_audit(db, o->delivery_id, "delivery_note", o->supervisor_note, now)
                       : STORE_OK;
        st = db_cached(db, "UPDATE deliveries SET outcome_unknown=0,"
                           " backend_token=NULLIF(?1,''), token_polls=0, note=NULLIF(?2,''),"
                           " next_poll_at_ms=CASE WHEN ?3 = 1 THEN NULL ELSE next_poll_at_ms END"
                           " WHERE id=?4");
        if (!st)
            return STORE_UNAVAILABLE;
        db_bind_text(st, 1, o->backend_token);
        db_bind_text(st, 2, o->supervisor_note);
        db_bind_int64(st, 3, o->no_polling);
        db_bind_int64(st, 4, o->delivery_id);
        if ((r = store_step_done(db, st, "delivered step")) != STORE_OK)
            return r;
        return o->supervisor_note[0]
                   ? note_audit(db, o->delivery_id, "delivery_note", o->supervisor_note, now)
                   : STORE_OK;
    case OUTCOME_RETRY:
    case OUTCOME_FAILED:
        /* a dead letter's note (say, the next free days for a lost slot hold) is kept */
        st = db_cached(db, "UPDATE deliveries SET outcome_unknown ="
                           " CASE WHEN CAST(?1 AS BIGINT) <> 0 THEN 1 ELSE outcome_unknown END,"
                           " note=COALESCE(NULLIF(?2,''),note) WHERE id=?3");
        if (!st)
            return STORE_UNAVAILABLE;
        const char *note = o->kind == OUTCOME_FAILED ? o->supervisor_note : "";
        db_bind_int64(st, 1, o->outcome_unknown);
        db_bind_text(st, 2, note);
        db_bind_int64(st, 3, o->delivery_id);
        if ((r = store_step_done(db, st, "unknown outcome")) != STORE_OK)
            return r;
        return note[0] ? note_audit(db, o->delivery_id, "delivery_note", note, now) : STORE_OK;
    case OUTCOME_POLLED:
        return STORE_OK;
    }
    return STORE_INVALID;
}

/* An Open311 token exchange: the id arrived, or one more try (and perhaps the last). */
static enum store_result token_run(struct db *db, const struct delivery_outcome *o, time_t now)
{
    struct db_stmt *st;
    enum store_result r;
    if (o->backend_reference[0]) {
        st = db_cached(db, "UPDATE deliveries SET backend_reference=?, next_poll_at_ms=?,"
                           " token_polls=token_polls+1, note=NULL WHERE id=? AND"
                           " state='delivered'");
        if (!st)
            return STORE_UNAVAILABLE;
        db_bind_text(st, 1, o->backend_reference);
        db_bind_int64(st, 2, o->next_attempt_at_ms);
        db_bind_int64(st, 3, o->delivery_id);
        if ((r = store_step_done(db, st, "token exchanged")) != STORE_OK)
            return r;
        if (db_changes(db) == 0)
            return STORE_CONFLICT;
        st = db_cached(db, "UPDATE transactions SET backend_reference=? WHERE id=(SELECT"
                           " transaction_id FROM deliveries WHERE id=?)");
        if (!st)
            return STORE_UNAVAILABLE;
        db_bind_text(st, 1, o->backend_reference);
        db_bind_int64(st, 2, o->delivery_id);
        if ((r = store_step_done(db, st, "token reference")) != STORE_OK)
            return r;
        char detail[200];
        snprintf(detail, sizeof detail, "the back-end's reference is %.128s", o->backend_reference);
        return note_audit(db, o->delivery_id, "delivery_reference", detail, now);
    }
    st = db_cached(
        db, "UPDATE deliveries SET token_polls=token_polls+1,"
            " next_poll_at_ms=NULLIF(CAST(?1 AS BIGINT), 0), note=COALESCE(NULLIF(?2,''),note)"
            " WHERE id=?3 AND state='delivered'");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_int64(st, 1, o->next_attempt_at_ms);
    db_bind_text(st, 2, o->supervisor_note);
    db_bind_int64(st, 3, o->delivery_id);
    if ((r = store_step_done(db, st, "token try")) != STORE_OK)
        return r;
    if (db_changes(db) == 0)
        return STORE_CONFLICT;
    return o->next_attempt_at_ms == 0 && o->supervisor_note[0]
               ? note_audit(db, o->delivery_id, "delivery_note", o->supervisor_note, now)
               : STORE_OK;
}

/* A look-up before a resend found nothing: the next attempt may be sent. */
static enum store_result not_found_run(struct db *db, const struct delivery_outcome *o, time_t now)
{
    struct db_stmt *st = db_cached(db, "UPDATE deliveries SET outcome_unknown=0,"
                                       " note=NULLIF(?,'') WHERE id=? AND state='pending'");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_text(st, 1, o->supervisor_note);
    db_bind_int64(st, 2, o->delivery_id);
    enum store_result r = store_step_done(db, st, "look-up not found");
    if (r != STORE_OK)
        return r;
    if (db_changes(db) == 0)
        return STORE_CONFLICT;
    return o->supervisor_note[0]
               ? note_audit(db, o->delivery_id, "delivery_note", o->supervisor_note, now)
               : STORE_OK;
}

/* An attempt aborted in flight at shutdown: the back-end may have it. */
static enum store_result aborted_run(struct db *db, const struct delivery_outcome *o)
{
    struct db_stmt *st = db_cached(db, "UPDATE deliveries SET outcome_unknown=1 WHERE id=? AND"
                                       " state='pending'");
    if (!st)
        return STORE_UNAVAILABLE;
    db_bind_int64(st, 1, o->delivery_id);
    enum store_result r = store_step_done(db, st, "aborted attempt");
    return r == STORE_OK && db_changes(db) == 0 ? STORE_CONFLICT : r;
}

enum store_result store_delivery_step_run(struct store_tx *tx, const struct delivery_outcome *o,
                                          bool columns_written)
{
    struct db *db = store_tx_db(tx);
    time_t now = (time_t)(o->now_ms / MS_PER_S);
    switch (o->step) {
    case DELIVERY_STEP_ATTEMPT:
        return attempt_run(db, o, now, columns_written);
    case DELIVERY_STEP_TOKEN:
        return token_run(db, o, now);
    case DELIVERY_STEP_NOT_FOUND:
        return not_found_run(db, o, now);
    case DELIVERY_STEP_ABORTED:
        return aborted_run(db, o);
    }
    return STORE_INVALID;
}
