/* spooler: the print workers (see spooler.h).
 *
 * DESIGN: one thread per printer, each with its own libcups state (libcups keeps the
 * scheduler address, the default connection and the last error per thread) and one job in
 * flight. Several nodes on one database: a worker works its printer's queue only while its
 * node holds the printer (store_printer_hold: a session lock on PostgreSQL, always on SQLite);
 * until then it asks again every SPOOLER_HOLD_RETRY_MS. It asks before every job, since the lock
 * is lost with its database session (a dropped connection): a node that lost it stops, logs
 * printer_lost, and works the queue again only once it holds the lock again; and a new attempt
 * is written only while the lock is held (store_print_move checks it in the same transaction),
 * so a node that lost the lock between the question and the job cannot start it. Every send
 * holds the job's send lock (store_print_send_lock: a session lock on a connection of its own)
 * from before its attempt is written until its outcome is: that is how another node tells a
 * job still being sent, however long the send stalls, from one whose sender is gone. A
 * worker's loop:
 *   1. a job of its printer found in `printing` was left there by an earlier process (a crash
 *      or a stop while it was at the printer) or by a node that lost the printer's lock: with
 *      a printer job id it is re-checked with printer_check_job, never sent again; without one
 *      it is sent again (see resume_job) once this node holds its send lock, that is once its
 *      sender has finished or is gone (until then the worker goes on to pending jobs);
 *   2. otherwise the oldest due `pending` job: build the receipt from the store, render it,
 *      write `printing` (attempts + 1) BEFORE submitting, submit, write the printer's job id
 *      as soon as it is known, then poll printer_check_job every SPOOLER_POLL_MS (bounded by
 *      SPOOLER_TRACK_MAX_MS) until DONE -> printed or FAILED -> print_failed;
 *      RETRY from submit (printer off, busy, unreachable) -> back to `pending` after
 *      1, 2, 5, 10 s, and print_failed after SPOOLER_MAX_ATTEMPTS submits;
 *   3. otherwise sleep until the next pending job is due, a wake-up, or SPOOLER_IDLE_CHECK_MS.
 * A job that completed or failed at the printer is never sent again automatically; a second
 * copy is always a person's decision (POST .../reprint, which adds a new job).
 *
 * Writes go through store_print_move (synchronous: the worker may wait for the disk; the
 * HTTP threads never wait for a worker). An outcome the store could not record is retried
 * until it is, so the store never says `pending` for a receipt that came out.
 *
 * Metrics are atomics written by the workers and read by the scrape thread. */
#include "gateway/spooler.h"

#include "gateway/config.h"
#include "gateway/failpoint.h"
#include "gateway/log.h"
#include "gateway/status_token.h"
#include "gateway/store.h"
#include "gateway/store/referral.h"
#include "gateway/store/till.h"
#include "gateway/till_paper.h"
#include "gateway/metrics.h"
#include "gateway/strbuf.h"
#include "gateway/thread_name.h"

#include "printing/printer.h"
#include "printing/receipt.h"
#include "printing/receipt_escpos.h"
#include "printing/receipt_pdf.h"
#include "printing/receipt_text.h"
#include "services/service.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MS_PER_S           1000
#define NS_PER_MS          1000000L
#define TITLE_MAX          64
#define ERROR_MAX          (PRINTER_MESSAGE_MAX + 160)
#define LABEL_MAX          (2 * STORE_PRINTER_NAME_MAX + 1)
#define DESCRIPTION_OTHERS "Other items"

/* Said on every receipt whose service has no "receipt_next_steps" of its own. (The layout
 * already says "quote your reference" and "scan to see how your request is going".) */
#define NEXT_STEPS_GENERIC                                                                         \
    "We have passed your request to the council team that deals with it. They will contact "       \
    "you if they need anything more."
#define HANDOFF_FOOTER_FORMAT                                                                      \
    "No appointment has been booked for you at the counter. Thank you for visiting %s."
#define FOOTER_FORMAT "Keep this receipt as your proof of payment. Thank you for visiting %s."

static const long retry_schedule_ms[] = {1000, 2000, 5000, 10000};
#define RETRY_SCHEDULE_LEN ((int)(sizeof retry_schedule_ms / sizeof retry_schedule_ms[0]))

struct worker {
    struct spooler *sp;
    const struct printer_config_entry *entry;
    struct printer_config pc;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* on CLOCK_MONOTONIC */
    bool woken;
    int64_t busy_logged; /* the job print_attempt_busy was last logged for */
    /* metrics */
    atomic_uint_fast64_t printed, failed, retried, submits, print_ms_sum;
};

struct spooler {
    const struct config *cfg;
    struct store *store;
    atomic_bool stopping;
    struct worker *workers;
    size_t workers_len;
};

long spooler_retry_delay_ms(int attempts)
{
    if (attempts >= SPOOLER_MAX_ATTEMPTS)
        return -1;
    if (attempts < 1)
        return retry_schedule_ms[0];
    return retry_schedule_ms[attempts - 1 < RETRY_SCHEDULE_LEN ? attempts - 1
                                                               : RETRY_SCHEDULE_LEN - 1];
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * MS_PER_S + ts.tv_nsec / NS_PER_MS;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * MS_PER_S + ts.tv_nsec / NS_PER_MS;
}

static bool stopping(const struct worker *w)
{
    return atomic_load(&w->sp->stopping);
}

/* Sleeps up to ms; returns early when the spooler stops, or (wake_ends) when woken. */
static void worker_wait(struct worker *w, long ms, bool wake_ends)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += ms / MS_PER_S;
    deadline.tv_nsec += (ms % MS_PER_S) * NS_PER_MS;
    if (deadline.tv_nsec >= 1000 * NS_PER_MS) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000 * NS_PER_MS;
    }
    pthread_mutex_lock(&w->lock);
    while (!stopping(w) && !(wake_ends && w->woken)) {
        if (pthread_cond_timedwait(&w->cond, &w->lock, &deadline) == ETIMEDOUT)
            break;
    }
    if (wake_ends)
        w->woken = false;
    pthread_mutex_unlock(&w->lock);
}

/* ---- the receipt, from the stored transaction ---- */

struct receipt_build {
    struct print_source src;
    json_t *lines; /* owns the line descriptions */
    struct receipt_line line_buf[RECEIPT_MAX_LINES];
    char status_url[RECEIPT_URL_MAX];
    char footer[RECEIPT_PARAGRAPH_MAX];
    char title[TITLE_MAX];
    json_t *fields; /* a hand-off slip's stored fields (owned) */
    struct receipt_handoff handoff;
    json_t *till;           /* a cash-up slip: the till session's figures (owned) */
    struct till_paper slip; /* a cash-up slip laid out (points into till) */
    struct receipt r;
};

static void receipt_build_clear(struct receipt_build *b)
{
    free(b->src.lines_json);
    json_decref(b->lines);
    json_decref(b->fields);
    json_decref(b->till);
    memset(b, 0, sizeof *b);
}

/* The fee lines; beyond RECEIPT_MAX_LINES the rest are summed into one "Other items" line. */
static size_t fill_lines(struct receipt_build *b)
{
    size_t n = json_array_size(b->lines), out = 0;
    int64_t others = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *line = json_array_get(b->lines, i);
        const char *d = json_string_value(json_object_get(line, "description"));
        int64_t amount = (int64_t)json_integer_value(json_object_get(line, "amount_pence"));
        if (n > RECEIPT_MAX_LINES && out == RECEIPT_MAX_LINES - 1) {
            others += amount;
            continue;
        }
        b->line_buf[out++] = (struct receipt_line){d && *d ? d : "Item", amount};
    }
    if (n > RECEIPT_MAX_LINES)
        b->line_buf[out++] = (struct receipt_line){DESCRIPTION_OTHERS, others};
    return out;
}

/* A service whose definition says "receipt_layout": "referral-slip" prints a hand-off slip
 * from its stored fields (ubrn, state_label, priority, nhs_last3) instead of a receipt. */
static enum store_result handoff_fill(struct worker *w, const struct service *s,
                                      struct receipt_build *b)
{
    const char *layout =
        s ? json_string_value(json_object_get(service_definition(s), "receipt_layout")) : NULL;
    if (!layout || strcmp(layout, "referral-slip") != 0)
        return STORE_OK;
    enum store_result r = store_referral_fields(w->sp->store, b->src.reference, &b->fields);
    if (r != STORE_OK)
        return r;
    b->handoff = (struct receipt_handoff){
        .ubrn = json_string_value(json_object_get(b->fields, "ubrn")),
        .state_label = json_string_value(json_object_get(b->fields, "state_label")),
        .priority = json_string_value(json_object_get(b->fields, "priority")),
        .nhs_last3 = json_string_value(json_object_get(b->fields, "nhs_last3")),
    };
    b->r.handoff = &b->handoff;
    snprintf(b->footer, sizeof b->footer, HANDOFF_FOOTER_FORMAT,
             b->src.site[0] ? b->src.site : w->sp->cfg->council_name);
    snprintf(b->title, sizeof b->title, "NHS referral slip %s%s", b->src.reference,
             b->src.copy ? " (copy)" : "");
    return STORE_OK;
}

static const char *next_steps_of(const struct service *s)
{
    const json_t *def = s ? service_definition(s) : NULL;
    const char *own = json_string_value(json_object_get(def, "receipt_next_steps"));
    return own && *own ? own : NEXT_STEPS_GENERIC;
}

/* The job's language, if this printer can print it and it is still configured; else NULL
 * (English). The API refuses what a printer cannot print; this covers a config changed
 * since the job was queued. */
static const struct receipt_labels *labels_of(const struct worker *w, const char *language)
{
    const struct receipt_labels *l = receipt_texts_labels(w->sp->cfg->receipt_texts, language);
    if (l == NULL || (w->pc.format == PRINTER_FORMAT_ESCPOS && !receipt_escpos_supports(language)))
        return NULL;
    return l;
}

/* Reads the job's transaction and fills b->r. STORE_OK; STORE_UNAVAILABLE (try later); any
 * other result means this job can never be printed (why says so). */
/* A till session's cash-up slip, from its figures now (the session is closed: they no
 * longer change). */
static enum store_result slip_build(struct worker *w, const struct print_job *job,
                                    struct receipt_build *b, char *why, size_t why_len)
{
    enum store_result r = store_till_get(w->sp->store, b->src.counter, b->src.day, false, &b->till);
    if (r != STORE_OK) {
        snprintf(why, why_len, "The till of cash-up slip %s could not be read.", job->reference);
        return r;
    }
    till_paper_slip_layout(&b->slip, w->sp->cfg->council_name, b->till);
    b->r = b->slip.r;
    snprintf(b->title, sizeof b->title, "Cash-up %s %s", b->src.counter, b->src.day);
    char check[PRINTER_MESSAGE_MAX];
    if (!receipt_check(&b->r, check, sizeof check)) {
        snprintf(why, why_len, "Cash-up slip %s cannot be laid out: %s", job->reference, check);
        return STORE_INVALID;
    }
    return STORE_OK;
}

static enum store_result receipt_build(struct worker *w, const struct print_job *job,
                                       struct receipt_build *b, char *why, size_t why_len)
{
    const struct config *cfg = w->sp->cfg;
    memset(b, 0, sizeof *b);
    enum store_result r = store_print_source(w->sp->store, job->id, &b->src);
    if (r != STORE_OK) {
        snprintf(why, why_len, "The transaction of this receipt could not be read.");
        return r;
    }
    if (b->src.till_id)
        return slip_build(w, job, b, why, why_len);
    b->lines = json_loads(b->src.lines_json, 0, NULL);
    if (!json_is_array(b->lines)) {
        snprintf(why, why_len, "The stored fee lines of %s could not be read.", job->reference);
        return STORE_INVALID;
    }
    if (!status_token_url(&cfg->status_key, cfg->public_base_url, b->src.reference, b->status_url,
                          sizeof b->status_url)) {
        snprintf(why, why_len, "The status address of %s does not fit on a receipt.",
                 job->reference);
        return STORE_INVALID;
    }
    const struct service *s = service_registry_find(cfg->services, b->src.service);
    const char *site = b->src.site[0] ? b->src.site : cfg->council_name;
    const struct receipt_labels *labels = labels_of(w, b->src.receipt_language);
    const char *language = labels ? labels->language : "en";
    const char *footer = receipt_texts_footer(cfg->receipt_texts, language);
    if (!footer || !receipt_text_fill_site(footer, site, b->footer, sizeof b->footer))
        snprintf(b->footer, sizeof b->footer, FOOTER_FORMAT, site);
    const char *next_steps = receipt_texts_next_steps(cfg->receipt_texts, language, b->src.service);
    const char *own_name = receipt_texts_service_name(cfg->receipt_texts, language, b->src.service);
    snprintf(b->title, sizeof b->title, "Receipt %s%s", b->src.reference,
             b->src.copy ? " (copy)" : "");
    bool cash = strcmp(b->src.method, "cash") == 0;
    b->r = (struct receipt){
        .council = cfg->council_name,
        .site = b->src.site[0] ? b->src.site : NULL,
        .counter_id = b->src.counter,
        .assistant_initials = b->src.staff_initials[0] ? b->src.staff_initials : NULL,
        .issued_at = b->src.created_at,
        .service_name = own_name ? own_name
                        : s      ? service_name(s)
                                 : b->src.service,
        .reference = b->src.reference,
        .lines = b->line_buf,
        .n_lines = fill_lines(b),
        .total_pence = b->src.fee_pence,
        .payment = receipt_payment_of_method(b->src.method),
        .tendered_pence = cash ? b->src.tendered_pence : 0,
        .change_pence = cash ? b->src.change_pence : 0,
        .next_steps = next_steps ? next_steps : next_steps_of(s),
        .status_url = b->status_url,
        .footer = b->footer,
        .copy = b->src.copy,
        .size =
            strcmp(b->src.receipt_size, "large") == 0 ? RECEIPT_SIZE_LARGE : RECEIPT_SIZE_STANDARD,
        .labels = labels,
        .banner = b->src.banner[0] ? b->src.banner : NULL,
    };
    r = handoff_fill(w, s, b);
    if (r != STORE_OK) {
        snprintf(why, why_len, "The hand-off details of %s could not be read.", job->reference);
        return r;
    }
    char check[PRINTER_MESSAGE_MAX];
    if (!receipt_check(&b->r, check, sizeof check)) {
        snprintf(why, why_len, "The receipt for %s cannot be laid out: %s", job->reference, check);
        return STORE_INVALID;
    }
    return STORE_OK;
}

static bool render(const struct worker *w, const struct receipt *r, unsigned char **doc,
                   size_t *len)
{
    if (w->pc.format == PRINTER_FORMAT_ESCPOS)
        return receipt_render_escpos(r, doc, len);
    return receipt_render_pdf(r, w->pc.paper, doc, len);
}

/* ---- state changes ---- */

/* Writes a move, retrying while the store is unavailable (the outcome is known and must not
 * be lost). False if the spooler stopped first or the store refused the move. */
static bool move_persist(struct worker *w, const struct print_move *m)
{
    for (;;) {
        enum store_result r = store_print_move(w->sp->store, m);
        if (r == STORE_OK)
            return true;
        if (r != STORE_UNAVAILABLE) {
            /* One node works a printer's queue, so this is a bug, but for a job two nodes
             * followed: the one that lost the printer's lock finishing it, and the one that took
             * it over re-checking it by its printer job id; the first to record the outcome
             * wins. */
            log_msg(r == STORE_CONFLICT ? LOG_WARN : LOG_ERROR, "print_move_refused",
                    "print job %lld: %s -> %s refused (%d)", (long long)m->print_job_id,
                    print_state_name(m->from), print_state_name(m->to), (int)r);
            worker_wait(w, SPOOLER_STORE_RETRY_MS, false); /* no busy loop over it */
            return false;
        }
        if (stopping(w)) {
            log_msg(LOG_WARN, "print_move_not_saved",
                    "print job %lld: %s -> %s not saved before stopping; it is looked at again"
                    " at the next start",
                    (long long)m->print_job_id, print_state_name(m->from), print_state_name(m->to));
            return false;
        }
        worker_wait(w, SPOOLER_STORE_RETRY_MS, false);
    }
}

/* printing -> printed | print_failed, with metrics and a log line. */
static void finish(struct worker *w, const struct print_job *job, enum print_state to,
                   int printer_job, const char *error, int64_t started_ms)
{
    struct print_move m = {.print_job_id = job->id,
                           .from = PRINT_PRINTING,
                           .to = to,
                           .job_id = printer_job,
                           .error = error,
                           .now_ms = wall_ms()};
    if (!move_persist(w, &m))
        return;
    if (to == PRINT_PRINTED) {
        long ms = started_ms ? (long)(mono_ms() - started_ms) : 0;
        atomic_fetch_add(&w->printed, 1);
        atomic_fetch_add(&w->print_ms_sum, (uint_fast64_t)(ms > 0 ? ms : 0));
        log_msg(LOG_INFO, "print_printed",
                "%s printed on %s (print job %lld, printer job %d, %ld ms)", job->reference,
                w->pc.name, (long long)job->id, printer_job, ms);
    } else {
        atomic_fetch_add(&w->failed, 1);
        log_msg(LOG_WARN, "print_failed", "%s not printed on %s (print job %lld): %s",
                job->reference, w->pc.name, (long long)job->id, error ? error : "");
    }
}

/* The printer did not take the job: pending again after the backoff, or failed. */
static void retry_or_fail(struct worker *w, const struct print_job *job, const char *message)
{
    long delay = spooler_retry_delay_ms(job->attempts);
    if (delay < 0) {
        char why[ERROR_MAX];
        snprintf(why, sizeof why,
                 "%s. Not printed after %d attempts: check the printer, then press Reprint.",
                 message, job->attempts);
        finish(w, job, PRINT_FAILED, 0, why, 0);
        return;
    }
    struct print_move m = {.print_job_id = job->id,
                           .from = PRINT_PRINTING,
                           .to = PRINT_PENDING,
                           .next_attempt_at_ms = wall_ms() + delay,
                           .error = message,
                           .now_ms = wall_ms()};
    if (move_persist(w, &m)) {
        atomic_fetch_add(&w->retried, 1);
        log_msg(LOG_WARN, "print_retry", "%s on %s: %s; attempt %d of %d in %ld ms", job->reference,
                w->pc.name, message, job->attempts + 1, SPOOLER_MAX_ATTEMPTS, delay);
    }
}

/* Follows a job the printer has (printer_job) until it ends, the bound passes or the spooler
 * stops (then it stays `printing` with its job id, for the next start to re-check). */
static void track(struct worker *w, const struct print_job *job, int printer_job,
                  int64_t started_ms)
{
    int64_t deadline = mono_ms() + SPOOLER_TRACK_MAX_MS;
    char message[PRINTER_MESSAGE_MAX];
    for (;;) {
        message[0] = '\0';
        enum printer_outcome o = printer_check_job(&w->pc, printer_job, message, sizeof message);
        if (o == PRINTER_DONE) {
            finish(w, job, PRINT_PRINTED, printer_job, NULL, started_ms);
            return;
        }
        if (o == PRINTER_FAILED) {
            finish(w, job, PRINT_FAILED, printer_job,
                   message[0] ? message
                              : "The printer "
                                "refused the receipt",
                   0);
            return;
        }
        if (stopping(w)) {
            log_msg(LOG_INFO, "print_left_printing",
                    "%s: printer job %d on %s still %s at shutdown; re-checked at the next start",
                    job->reference, printer_job, w->pc.name, printer_outcome_name(o));
            return;
        }
        if (mono_ms() >= deadline) {
            /* Cancel it, so it cannot come out later beside the reprint the assistant makes. */
            char cancel[PRINTER_MESSAGE_MAX];
            bool cancelled = printer_cancel_job(&w->pc, printer_job, cancel, sizeof cancel);
            char why[ERROR_MAX];
            snprintf(why, sizeof why,
                     "The printer had not printed the receipt after %d s%s%s%s. Check the "
                     "printer, then press Reprint.",
                     SPOOLER_TRACK_MAX_MS / MS_PER_S, message[0] ? " (" : "", message,
                     message[0] ? ")" : "");
            if (!cancelled)
                log_msg(LOG_WARN, "print_cancel_failed", "%s: printer job %d on %s: %s",
                        job->reference, printer_job, w->pc.name, cancel);
            finish(w, job, PRINT_FAILED, printer_job, why, 0);
            return;
        }
        worker_wait(w, SPOOLER_POLL_MS, false);
    }
}

/* Sends the rendered document of a job already written as `printing` (attempts counted). */
static void send_job(struct worker *w, const struct print_job *job, const char *title,
                     const unsigned char *doc, size_t len)
{
    int printer_job = 0;
    char message[PRINTER_MESSAGE_MAX] = "";
    if (job->attempts == 1)
        failpoint("print_first_attempt_sending"); /* tests: a first send stalls, `printing` */
    /* the send lock still held by this session (a send may have waited long): else it ended
     * with its session since the attempt began, and another node may have sent the job; the
     * job stays `printing`, and is sent again only by a node that takes its send lock */
    enum store_printer_hold hold = STORE_PRINTER_NOT_HELD;
    enum store_result r = store_print_send_lock(w->sp->store, job->id, &hold);
    if (r != STORE_OK || hold != STORE_PRINTER_KEPT) {
        log_msg(LOG_WARN, "print_attempt_lost",
                "%s: this node no longer holds (or cannot confirm) the send lock of print job "
                "%lld; it is not sent now, and is looked at again",
                job->reference, (long long)job->id);
        return;
    }
    int64_t started = mono_ms();
    atomic_fetch_add(&w->submits, 1);
    enum printer_outcome o =
        printer_submit(&w->pc, title, doc, len, &printer_job, message, sizeof message);
    switch (o) {
    case PRINTER_DONE:
        finish(w, job, PRINT_PRINTED, printer_job, NULL, started);
        return;
    case PRINTER_PENDING: {
        struct print_move m = {.print_job_id = job->id,
                               .from = PRINT_PRINTING,
                               .to = PRINT_PRINTING,
                               .job_id = printer_job,
                               .now_ms = wall_ms()};
        if (!move_persist(w, &m) && stopping(w))
            return;
        track(w, job, printer_job, started);
        return;
    }
    case PRINTER_RETRY:
        retry_or_fail(w, job, message[0] ? message : "The printer did not take the receipt");
        return;
    case PRINTER_FAILED:
        finish(w, job, PRINT_FAILED, 0, message[0] ? message : "The printer refused the receipt",
               0);
        return;
    }
}

/* Builds and renders the job's receipt. True with *doc (free it); false when the store is
 * unavailable (*permanent false: try later) or the receipt can never be made (*permanent
 * true, why says why). */
static bool prepare(struct worker *w, const struct print_job *job, char *title, size_t title_len,
                    unsigned char **doc, size_t *len, bool *permanent, char *why, size_t why_len)
{
    struct receipt_build *b = calloc(1, sizeof *b);
    *doc = NULL;
    *len = 0;
    *permanent = false;
    if (!b)
        return false;
    enum store_result r = receipt_build(w, job, b, why, why_len);
    bool ok = false;
    if (r == STORE_OK) {
        ok = render(w, &b->r, doc, len);
        if (!ok) {
            snprintf(why, why_len, "The receipt for %s could not be drawn for %s.", job->reference,
                     w->pc.name);
            *permanent = true;
        }
        snprintf(title, title_len, "%s", b->title);
    } else {
        *permanent = r != STORE_UNAVAILABLE;
    }
    receipt_build_clear(b);
    free(b);
    return ok;
}

/* A job to (re)send: `from` is the state it is in (pending, or printing with no job id). */
static void submit_job(struct worker *w, struct print_job *job, enum print_state from)
{
    char title[TITLE_MAX] = "", why[ERROR_MAX] = "";
    unsigned char *doc = NULL;
    size_t len = 0;
    bool permanent = false;
    if (!prepare(w, job, title, sizeof title, &doc, &len, &permanent, why, sizeof why)) {
        if (!permanent) {
            worker_wait(w, SPOOLER_STORE_RETRY_MS, false);
            return;
        }
        struct print_move m = {.print_job_id = job->id,
                               .from = from,
                               .to = PRINT_FAILED,
                               .error = why,
                               .now_ms = wall_ms()};
        if (move_persist(w, &m)) {
            atomic_fetch_add(&w->failed, 1);
            log_msg(LOG_ERROR, "print_failed", "print job %lld: %s", (long long)job->id, why);
        }
        return;
    }
    /* `printing` is on disk before a byte goes to the printer. */
    struct print_move m = {.print_job_id = job->id,
                           .from = from,
                           .to = PRINT_PRINTING,
                           .new_attempt = true,
                           .now_ms = wall_ms()};
    enum store_result r = store_print_move(w->sp->store, &m);
    if (r != STORE_OK) {
        /* STORE_CONFLICT: this node no longer holds the printer, or another node moved the job;
         * the next turn of the loop asks for the printer again */
        log_msg(LOG_WARN, "print_not_started", "%s: could not record the attempt (%d); later",
                job->reference, (int)r);
        free(doc);
        worker_wait(w, SPOOLER_STORE_RETRY_MS, false);
        return;
    }
    job->attempts++;
    job->state = PRINT_PRINTING;
    send_job(w, job, title, doc, len);
    free(doc);
}

/* A job left in `printing` by an earlier process. */
static void resume_job(struct worker *w, struct print_job *job)
{
    if (job->job_id > 0) {
        /* The printer had it: ask how it went, never send it again. */
        log_msg(LOG_INFO, "print_recheck", "%s: re-checking printer job %d on %s after a restart",
                job->reference, job->job_id, w->pc.name);
        track(w, job, job->job_id, 0);
        return;
    }
    /* No job id was recorded: the process stopped between writing `printing` and hearing
     * back from the printer. The submit may never have reached the printer (or reached it
     * incomplete, which the printer aborts), and a receipt the resident never gets is worse
     * than the small chance of a duplicate from a crash in the moment after the printer
     * accepted the job, so it is sent again (as a new attempt, still bounded). */
    if (job->attempts >= SPOOLER_MAX_ATTEMPTS) {
        finish(w, job, PRINT_FAILED, 0,
               "The receipt was not printed after several attempts and restarts: check the "
               "printer, then press Reprint.",
               0);
        return;
    }
    log_msg(LOG_INFO, "print_resubmit",
            "%s: sending print job %lld to %s again: its last send was not finished (a restart, or "
            "its node is gone)",
            job->reference, (long long)job->id, w->pc.name);
    submit_job(w, job, PRINT_PRINTING);
}

/* Takes the job's send lock before this node sends it (store_print_send_lock). false when
 * another node's session holds it (that node is sending the job now, however long it takes:
 * logged once per job as print_attempt_busy) or the store cannot tell: the job is left alone.
 * Release it with store_print_send_unlock once the outcome is recorded. */
static bool send_lock(struct worker *w, const struct print_job *job)
{
    enum store_printer_hold hold = STORE_PRINTER_NOT_HELD;
    enum store_result r = store_print_send_lock(w->sp->store, job->id, &hold);
    if (r == STORE_OK && hold != STORE_PRINTER_NOT_HELD)
        return true;
    if (r == STORE_OK && w->busy_logged != job->id) {
        log_msg(LOG_INFO, "print_attempt_busy",
                "%s: another node is still sending print job %lld to %s; it is left to that "
                "node until it finishes or is gone",
                job->reference, (long long)job->id, w->pc.name);
        w->busy_logged = job->id;
    }
    return false;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    thread_name_set("spooler");
    char rid[STORE_PRINTER_NAME_MAX + 16];
    snprintf(rid, sizeof rid, "printer-%s", w->pc.name);
    log_set_request_id(rid);
    bool held = false; /* this node works the printer's queue (store_printer_hold) */
    while (!stopping(w)) {
        /* Asked before every job: the lock goes with its database session, and a session
         * that ended (the connection dropped and was made again) took the lock with it. */
        enum store_printer_hold hold = STORE_PRINTER_NOT_HELD;
        enum store_result hr = store_printer_hold(w->sp->store, w->pc.name, &hold);
        if (held && hold != STORE_PRINTER_KEPT) {
            log_msg(LOG_WARN, "printer_lost",
                    "this node no longer holds the queue of printer %s (%s); it stops printing "
                    "to it until it holds it again",
                    w->pc.name,
                    hr == STORE_OK ? "its database session ended, and another node may have "
                                     "taken the lock"
                                   : "the connection that held its lock failed");
            held = false;
        }
        if (hr != STORE_OK || hold == STORE_PRINTER_NOT_HELD) {
            /* another node prints to it, or the store cannot say; try again later */
            worker_wait(w, SPOOLER_HOLD_RETRY_MS, false);
            continue;
        }
        if (!held)
            log_msg(LOG_INFO, "printer_held", "this node works the queue of printer %s",
                    w->pc.name);
        held = true;
        struct print_job job;
        size_t n = 0;
        enum store_result r =
            store_print_jobs(w->sp->store, w->pc.name, PRINT_PRINTING, 0, &job, 1, &n);
        if (r == STORE_OK && n == 1 && job.job_id > 0) {
            resume_job(w, &job); /* re-checked by its printer job id, never sent again */
            continue;
        }
        if (r == STORE_OK && n == 1 && send_lock(w, &job)) {
            resume_job(w, &job);
            store_print_send_unlock(w->sp->store, job.id);
            continue;
        }
        if (r == STORE_OK)
            r = store_print_jobs(w->sp->store, w->pc.name, PRINT_PENDING, wall_ms(), &job, 1, &n);
        if (r != STORE_OK) {
            log_msg(LOG_WARN, "print_queue_unreadable", "cannot read the print queue (%d)", (int)r);
            worker_wait(w, SPOOLER_STORE_RETRY_MS, false);
            continue;
        }
        if (n == 1) {
            if (send_lock(w, &job)) {
                submit_job(w, &job, PRINT_PENDING);
                store_print_send_unlock(w->sp->store, job.id);
            } else {
                worker_wait(w, SPOOLER_STORE_RETRY_MS, false);
            }
            continue;
        }
        int64_t next = store_print_next_due(w->sp->store, w->pc.name);
        long wait = SPOOLER_IDLE_CHECK_MS;
        if (next != INT64_MAX) {
            int64_t until = next - wall_ms();
            wait = until < 1 ? 1 : until < wait ? (long)until : wait;
        }
        worker_wait(w, wait, true);
    }
    return NULL;
}

/* ---- start, wake, stop ---- */

static void spooler_free(struct spooler *sp)
{
    for (size_t i = 0; i < sp->workers_len; i++) {
        pthread_mutex_destroy(&sp->workers[i].lock);
        pthread_cond_destroy(&sp->workers[i].cond);
    }
    free(sp->workers);
    free(sp);
}

static bool worker_config(struct worker *w, const struct printer_config_entry *e, char *err,
                          size_t errlen)
{
    w->entry = e;
    w->pc = (struct printer_config){
        .name = e->name, .uri = e->uri, .queue = e->queue, .server = e->server};
    if (!printer_format_parse(e->format ? e->format : "pdf", &w->pc.format) ||
        !printer_paper_parse(e->paper ? e->paper : "80mm", &w->pc.paper)) {
        snprintf(err, errlen, "printer %s: unknown format or paper", e->name);
        return false;
    }
    char why[PRINTER_MESSAGE_MAX];
    if (strlen(e->name) >= STORE_PRINTER_NAME_MAX ||
        !printer_config_check(&w->pc, why, sizeof why)) {
        snprintf(err, errlen, "printer %s: %s", e->name,
                 strlen(e->name) >= STORE_PRINTER_NAME_MAX ? "name too long" : why);
        return false;
    }
    return true;
}

struct spooler *spooler_start(const struct config *cfg, struct store *store, char *err,
                              size_t errlen)
{
    struct spooler *sp = calloc(1, sizeof *sp);
    if (!sp) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    sp->cfg = cfg;
    sp->store = store;
    atomic_init(&sp->stopping, false);
    sp->workers = calloc(cfg->printers_len ? cfg->printers_len : 1, sizeof *sp->workers);
    if (!sp->workers) {
        free(sp);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    sp->workers_len = cfg->printers_len;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    for (size_t i = 0; i < sp->workers_len; i++) {
        struct worker *w = &sp->workers[i];
        w->sp = sp;
        w->woken = true;
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->cond, &attr);
    }
    pthread_condattr_destroy(&attr);
    for (size_t i = 0; i < sp->workers_len; i++) {
        if (!worker_config(&sp->workers[i], &cfg->printers[i], err, errlen)) {
            spooler_free(sp);
            return NULL;
        }
    }
    for (size_t i = 0; i < sp->workers_len; i++) {
        struct worker *w = &sp->workers[i];
        int rc = pthread_create(&w->thread, NULL, worker_main, w);
        if (rc != 0) {
            snprintf(err, errlen, "cannot start the print worker for %s: %s", w->pc.name,
                     strerror(rc));
            spooler_stop(sp);
            return NULL;
        }
        w->started = true;
    }
    return sp;
}

void spooler_wake(struct spooler *sp)
{
    if (!sp)
        return;
    for (size_t i = 0; i < sp->workers_len; i++) {
        struct worker *w = &sp->workers[i];
        pthread_mutex_lock(&w->lock);
        w->woken = true;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
    }
}

void spooler_stop(struct spooler *sp)
{
    if (!sp)
        return;
    atomic_store(&sp->stopping, true);
    for (size_t i = 0; i < sp->workers_len; i++) {
        struct worker *w = &sp->workers[i];
        pthread_mutex_lock(&w->lock);
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
    }
    for (size_t i = 0; i < sp->workers_len; i++)
        if (sp->workers[i].started)
            pthread_join(sp->workers[i].thread, NULL);
    spooler_free(sp);
    receipt_pdf_shutdown();
}

/* ---- metrics ---- */

/* A Prometheus label value: backslash, quote and newline escaped. */
static void label_value(const char *in, char out[LABEL_MAX])
{
    size_t o = 0;
    for (const char *p = in; *p && o + 2 < LABEL_MAX; p++) {
        if (*p == '\\' || *p == '"' || *p == '\n') {
            out[o++] = '\\';
            out[o++] = *p == '\n' ? 'n' : *p;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

void spooler_metrics(void *ctx, struct strbuf *out)
{
    struct spooler *sp = ctx;
    if (!sp || sp->workers_len == 0)
        return;
    static const struct {
        const char *name;
        const char *help;
        size_t offset;
    } counters[] = {
        {"onestop_print_jobs_printed_total", "Receipts the printer reported printed.",
         offsetof(struct worker, printed)},
        {"onestop_print_jobs_failed_total",
         "Receipts given up (printer refused, jam, retries "
         "used up).",
         offsetof(struct worker, failed)},
        {"onestop_print_retries_total", "Submits the printer did not take, tried again later.",
         offsetof(struct worker, retried)},
        {"onestop_print_submits_total", "Documents sent to the printer.",
         offsetof(struct worker, submits)},
    };
    char label[LABEL_MAX];
    for (size_t c = 0; c < sizeof counters / sizeof counters[0]; c++) {
        metrics_family(out, counters[c].name, "counter", counters[c].help);
        for (size_t i = 0; i < sp->workers_len; i++) {
            const atomic_uint_fast64_t *v =
                (const atomic_uint_fast64_t *)((const char *)&sp->workers[i] + counters[c].offset);
            label_value(sp->workers[i].pc.name, label);
            strbuf_printf(out, "%s{printer=\"%s\"} %llu\n", counters[c].name, label,
                          (unsigned long long)atomic_load(v));
        }
    }
    metrics_family(out, "onestop_print_seconds", "summary",
                   "Time from submit to the printer saying printed.");
    for (size_t i = 0; i < sp->workers_len; i++) {
        label_value(sp->workers[i].pc.name, label);
        strbuf_printf(out, "onestop_print_seconds_sum{printer=\"%s\"} %.3f\n", label,
                      (double)atomic_load(&sp->workers[i].print_ms_sum) / MS_PER_S);
        strbuf_printf(out, "onestop_print_seconds_count{printer=\"%s\"} %llu\n", label,
                      (unsigned long long)atomic_load(&sp->workers[i].printed));
    }
    metrics_family(out, "onestop_print_queue_depth", "gauge",
                   "Print jobs waiting or at the printer (pending + printing).");
    for (size_t i = 0; i < sp->workers_len; i++) {
        struct print_counts counts;
        if (store_print_counts(sp->store, sp->workers[i].pc.name, &counts) != STORE_OK)
            continue;
        label_value(sp->workers[i].pc.name, label);
        strbuf_printf(out, "onestop_print_queue_depth{printer=\"%s\"} %ld\n", label,
                      counts.pending + counts.printing);
    }
}
