/* store/state_move: what the store's state machines (deliveries, print jobs, receipt copies,
 * tills, transactions) share — the verdict on a move their rule table does not hold, and the
 * end of every move: its compare-and-set UPDATE stepped, the row found still in the state the
 * caller saw, and the audit row that records the move, all in the caller's write. */
#include "gateway/store/store_private.h"

#include "gateway/log.h"

#include <stdlib.h>

void store_illegal_move(const char *machine, const char *from, const char *to)
{
    log_msg(LOG_ERROR, "illegal_move", "%s: no move from %s to %s in its rule table", machine, from,
            to);
#ifdef ONESTOP_ABORT_ON_ILLEGAL_MOVE
    abort();
#endif
}

enum store_result store_move_commit(struct db *db, struct db_stmt *update, const char *what,
                                    const struct audit_entry *e, time_t now)
{
    enum store_result r = store_step_done(db, update, what);
    if (r != STORE_OK)
        return r;
    if (db_changes(db) != 1)
        return STORE_CONFLICT; /* it left the state the caller saw: another move came first */
    return store_audit_insert(db, e, now);
}
