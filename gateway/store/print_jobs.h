/* store/print_jobs: the receipts and slips the spooler prints. */
#ifndef ONESTOP_STORE_PRINT_JOBS_H
#define ONESTOP_STORE_PRINT_JOBS_H

#include "gateway/store/core.h"
#include "gateway/store/transactions.h"

#include <stdint.h>
#include <stddef.h>

/* ---- print jobs: the receipts the spooler prints (gateway/spooler.c) ----
 * A transaction gets a pending print job in its own commit when its counter has a printer;
 * a reprint adds another job (reprint_of = the newest earlier one). State changes go through
 * store_print_move, the one transition function, and each is audited. */
enum print_state { PRINT_PENDING, PRINT_PRINTING, PRINT_PRINTED, PRINT_FAILED };
/* "pending", "printing", "printed", "print_failed". */
const char *print_state_name(enum print_state state);
bool print_state_parse(const char *name, enum print_state *out) STORE_MUSTCHECK;
/* The one rule: pending -> printing | print_failed; printing -> printing (a new attempt or
 * the printer's job id) | printed | pending (retry later) | print_failed; printed and
 * print_failed are final (a reprint is a new job). */
bool print_state_can_move(enum print_state from, enum print_state to);

#define STORE_PRINTER_NAME_MAX 64

struct print_job {
    int64_t id;
    char reference[STORE_REFERENCE_MAX];
    char printer[STORE_PRINTER_NAME_MAX];
    enum print_state state;
    int attempts; /* submits so far */
    int job_id;   /* the printer's job id; 0 when none is recorded */
    int64_t next_attempt_at_ms;
    int64_t reprint_of; /* 0 for the first receipt */
    int64_t till_id;    /* a till session's cash-up slip: the session; 0 for a transaction's */
    int64_t updated_at; /* when it last moved (an attempt began, ...): unix seconds */
};

/* Jobs of one printer in `state`, oldest first, at most `limit` (into out[], caller's array):
 * PRINT_PENDING ones only when due at now_ms; PRINT_PRINTING ones whatever their time (after
 * a restart these are the jobs the previous process was printing). */
enum store_result store_print_jobs(struct store *store, const char *printer, enum print_state state,
                                   int64_t now_ms, struct print_job *out, size_t limit,
                                   size_t *len) STORE_MUSTCHECK;
/* Earliest next_attempt_at_ms of the printer's pending jobs, or INT64_MAX. */
int64_t store_print_next_due(struct store *store, const char *printer);

/* What a receipt is printed from: the stored transaction, its payment and who sold it; or,
 * for a cash-up slip, the till session (till_id, counter, site, day; read the figures with
 * store_till_get). */
struct print_source {
    char reference[STORE_REFERENCE_MAX];
    char service[64];
    char counter[32];
    char site[128];
    char staff_initials[8];
    char method[16]; /* cash | card | cheque | waived | none */
    char status[16]; /* the transaction's status now */
    int64_t fee_pence;
    int64_t tendered_pence; /* cash only, else 0 */
    int64_t change_pence;
    time_t created_at;
    bool copy;             /* the job is a reprint */
    char banner[64];       /* a slip's banner ("VOID", "REFUND £1.50 CASH"); "" for a receipt */
    char *lines_json;      /* malloc'd: [{"description","amount_pence"}] */
    char receipt_size[16]; /* "standard" | "large" */
    char receipt_language[16]; /* "en", "pl", "ur", ... */

    /* a cash-up slip: the till session (its counter, and day below); else 0 */
    int64_t till_id;
    char day[16]; /* a cash-up slip: the session's Europe/London day "YYYY-MM-DD" */
};
/* Fills *out for print job print_job_id; free out->lines_json with free(). */
enum store_result store_print_source(struct store *store, int64_t print_job_id,
                                     struct print_source *out) STORE_MUSTCHECK;

struct print_move {
    int64_t print_job_id;
    enum print_state from; /* the state the caller holds: STORE_CONFLICT if it changed */
    enum print_state to;
    bool new_attempt;           /* to printing: attempts + 1 and the old job id cleared */
    int job_id;                 /* > 0: the printer's job id to record */
    int64_t next_attempt_at_ms; /* to pending: when to try again */
    const char *error;          /* to pending or print_failed: why (shown to the assistant) */
    const char *actor;          /* audit actor; NULL: "spooler" */
    int64_t now_ms;
};
/* Moves a print job through print_state_can_move and audits it (print_printing: an attempt
 * begins; print_submitted: the printer's job id; print_printed; print_retry; print_failed),
 * waiting for the commit. STORE_CONFLICT for a move the rule refuses or a stale `from`, and
 * for a new attempt of a job that has a printer job id (it is re-checked, never sent again),
 * and for a new attempt while this node does not hold the printer (several nodes on one database:
 * the attempt is written only if the session store_printer_hold took the lock on still holds
 * it, checked inside the same transaction, so a node that lost the lock cannot start a job the
 * new holder may also start); STORE_NOT_FOUND for an unknown job. Blocks on the disk: call it from
 * a worker thread, never an HTTP one. */
enum store_result store_print_move(struct store *store,
                                   const struct print_move *move) STORE_MUSTCHECK;

struct print_reprint {
    const char *reference;
    const char *printer; /* where to print: the asking assistant's counter's printer */
    const char *staff;
    const char *counter;
    const char *receipt_size;     /* "standard" | "large"; NULL: standard */
    const char *receipt_language; /* NULL: en */
    time_t now;
    int64_t print_job_id; /* out: the new job */
    int64_t reprint_of;   /* out: the job it copies (0 if the transaction had none) */
};
/* Inside a job: adds a pending reprint of a transaction, audited ("print_reprint"). NOT_FOUND
 * for an unknown reference; CONFLICT while one of its print jobs is pending or printing;
 * INVALID for a voided transaction. */
enum store_result store_tx_print_reprint(struct store_tx *tx,
                                         struct print_reprint *r) STORE_MUSTCHECK;

/* Whether this node may work printer's queue now: call it before each job, and work the queue
 * only while it answers KEPT or TAKEN. Several nodes on one database (PostgreSQL) take a
 * session lock per printer on a connection the store keeps, so one node at a time prints to
 * it. The lock lives as long as that connection's session: when the connection drops and is
 * made again (a server restart, pg_terminate_backend, the network) the lock is gone and
 * another node may have taken it; this call then answers NOT_HELD, or TAKEN when the lock was
 * free and this node took it again (never KEPT across a lost session). The caller must stop
 * printing at NOT_HELD, and at TAKEN after KEPT treat the queue as new: the lock was lost in
 * between. STORE_UNAVAILABLE (with NOT_HELD) when the store cannot tell now. SQLite: always
 * KEPT. */
enum store_printer_hold {
    STORE_PRINTER_NOT_HELD,
    STORE_PRINTER_KEPT,
    STORE_PRINTER_TAKEN,
};
enum store_result store_printer_hold(struct store *store, const char *printer,
                                     enum store_printer_hold *hold) STORE_MUSTCHECK;

/* Several nodes: a job being sent is marked by its send lock, a session lock on the job that
 * the sending node takes BEFORE it writes the attempt (`printing`) and keeps until the outcome
 * is recorded (store_print_send_unlock), on a connection of its own (not the printer locks'
 * one: a node that loses the printer's lock keeps its sends'). So a job in `printing` with no
 * printer job id whose send lock another session holds is being sent by a live node, however
 * long that takes; once the lock is free its sender finished (and recorded it) or is gone, and
 * the node that takes the lock may send it again. *hold: KEPT (this node's send session holds
 * it already), TAKEN (it was free and this node holds it now) or NOT_HELD (another session
 * holds it). STORE_UNAVAILABLE (with NOT_HELD) when the store cannot tell now. SQLite: always
 * KEPT (one node). A sender asks again just before the document goes to the printer and sends
 * it only at KEPT: at TAKEN its session ended in between, and another node may have sent it. */
enum store_result store_print_send_lock(struct store *store, int64_t print_job_id,
                                        enum store_printer_hold *hold) STORE_MUSTCHECK;
/* Releases the job's send lock, once its outcome is recorded (or the attempt not begun). */
void store_print_send_unlock(struct store *store, int64_t print_job_id);

/* For /metrics: a printer's jobs by state. */
struct print_counts {
    long pending;
    long printing;
    long printed;
    long failed;
};
enum store_result store_print_counts(struct store *store, const char *printer,
                                     struct print_counts *out) STORE_MUSTCHECK;

#endif
