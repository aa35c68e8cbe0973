/* spooler: prints the receipts the store has queued (the print_jobs table), one worker
 * thread per configured printer, one job in flight per printer.
 *
 * A worker takes its printer's due pending jobs from the store oldest first, builds the
 * receipt from the stored transaction (council, site, counter, assistant's initials, service,
 * reference, fee lines, payment, what happens next, the status QR code and URL), renders it
 * as a PDF (80 mm roll or A4) or ESC/POS as the printer's config says, and follows it with
 * printer_submit / printer_check_job until the printer says printed or failed. Every state
 * change is written through store_print_move (audited); `printing` is written before the
 * document is sent, so after a crash a job with a printer job id is re-checked, never sent
 * twice. Nothing here runs on an HTTP thread; the workers block on the printer and the disk.
 */
#ifndef ONESTOP_SPOOLER_H
#define ONESTOP_SPOOLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct store;
struct spooler;
struct strbuf;

#define SPOOLER_MAX_ATTEMPTS   5      /* submits before a printer that keeps refusing is failed */
#define SPOOLER_POLL_MS        200    /* between printer_check_job calls for a job in flight */
#define SPOOLER_TRACK_MAX_MS   120000 /* a job not finished after this is cancelled and failed */
#define SPOOLER_IDLE_CHECK_MS  1000   /* an idle worker looks at the store at least this often */
#define SPOOLER_STORE_RETRY_MS 1000   /* wait after the store failed before trying again */
#define SPOOLER_HOLD_RETRY_MS  1000   /* another node works the printer: ask again after this */

/* Starts one worker per printer in cfg. cfg and store must outlive the spooler. NULL with a
 * message in err when a printer's config is unusable or a thread cannot start. */
struct spooler *spooler_start(const struct config *cfg, struct store *store, char *err,
                              size_t errlen) __attribute__((warn_unused_result));
/* Look at the queue now (call after committing a transaction or a reprint). Any thread;
 * NULL-safe; cheap. */
void spooler_wake(struct spooler *sp);
/* Stops the workers and frees the spooler. A job being printed is left in `printing` with its
 * printer job id and is re-checked at the next start. Waits for a printer call in progress,
 * which the printing library bounds (PRINTER_CONNECT_TIMEOUT_MS, PRINTER_IO_TIMEOUT_S). Call
 * before store_close, once, at exit: it also releases the PDF renderer's shared caches.
 * NULL-safe. */
void spooler_stop(struct spooler *sp);
/* A metrics_writer_fn (ctx = the spooler): per printer jobs printed, failed and retried,
 * submits, queue depth (pending + printing, from the store) and print time. */
void spooler_metrics(void *ctx, struct strbuf *out);

/* The wait before the next submit after `attempts` submits that the printer did not take
 * (1, 2, 5, 10 s), or -1 when the job should be failed (attempts >= SPOOLER_MAX_ATTEMPTS). */
long spooler_retry_delay_ms(int attempts);

#endif
