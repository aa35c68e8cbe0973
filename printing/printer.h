/* printer: submit a rendered receipt to a printer and follow the job to its end.
 *
 * Three ways to reach a printer (struct printer_config):
 *   - uri "ipp://host:port/path" (or ipps://): straight to an IPP Everywhere printer
 *     (cupsGetDestWithURI + cupsConnectDest(CUPS_DEST_FLAGS_DEVICE));
 *   - uri "socket://host:port": raw TCP (port 9100 style), for ESC/POS thermal printers;
 *     the job is complete once every byte is written;
 *   - queue "Receipt" (+ server "host:port", else the default scheduler): through a
 *     CUPS scheduler (cupsSetServer for this thread, cupsGetNamedDest, httpConnect2).
 * Jobs are created with cupsCreateDestJob / cupsStartDestDocument /
 * cupsWriteRequestData / cupsFinishDestDocument and cancelled if a step fails.
 *
 * Threads: the calls block (every wait is bounded by PRINTER_CONNECT_TIMEOUT_MS and
 * PRINTER_IO_TIMEOUT_S) and are meant for the spooler's printer worker threads, one
 * job in flight per printer. libcups keeps the scheduler address and last error per
 * thread, and each call opens and closes its own connection, so threads never share
 * an http_t.
 *
 * Messages are for a counter assistant: "Receipt printer at SD-01 is not answering
 * (connection refused)", or the printer's own job-state-message ("paper jam").
 */
#ifndef ONESTOP_PRINTING_PRINTER_H
#define ONESTOP_PRINTING_PRINTER_H

#include "printing/receipt.h"

#include <stdbool.h>
#include <stddef.h>

#define PRINTER_CONNECT_TIMEOUT_MS 5000 /* TCP connect / IPP connection set-up */
#define PRINTER_IO_TIMEOUT_S       30   /* any single read or write on a connection */
#define PRINTER_MESSAGE_MAX        256  /* a message buffer this big is never truncated badly */
#define PRINTER_DEFAULT_RAW_PORT   9100

enum printer_format {
    PRINTER_FORMAT_PDF,    /* application/pdf (IPP Everywhere, CUPS) */
    PRINTER_FORMAT_ESCPOS, /* ESC/POS bytes (raw socket, or IPP as application/vnd.escpos) */
};

struct printer_config {
    const char *name;   /* shown to people: "SD-01" */
    const char *uri;    /* ipp://, ipps:// or socket://; NULL to print through a queue */
    const char *queue;  /* CUPS queue name when uri is NULL */
    const char *server; /* scheduler "host:port" for queue; NULL or "": the default one */
    enum printer_format format;
    enum receipt_paper paper;
};

enum printer_outcome {
    PRINTER_DONE,    /* printed (or, for socket://, every byte delivered) */
    PRINTER_RETRY,   /* busy, unreachable, server-error-busy: try again later */
    PRINTER_FAILED,  /* refused / aborted / canceled: do not retry automatically */
    PRINTER_PENDING, /* still pending or processing: ask again later */
};

/* Sends doc (len bytes of cfg->format) as one job titled title. On PRINTER_DONE or
 * PRINTER_PENDING *job_id is the printer's job id (0 for socket://, which is DONE
 * as soon as the bytes are written) and the job should be followed with
 * printer_check_job(); on RETRY or FAILED no job is left behind (a created job is
 * cancelled) and message says why. message (message_len bytes, may be 0) always gets
 * a NUL-terminated text. For PDF on an 80 mm roll the media size is sent only when the
 * printer says it supports that size (it is read from the PDF's page box); otherwise
 * the printer uses the roll it has loaded. */
enum printer_outcome printer_submit(const struct printer_config *cfg, const char *title,
                                    const unsigned char *doc, size_t len, int *job_id,
                                    char *message, size_t message_len)
    __attribute__((warn_unused_result));

/* Asks the printer (Get-Job-Attributes) how job job_id is going. PENDING while it is
 * pending or processing (message says why it is stopped, if it is); DONE when
 * completed; FAILED when aborted, canceled, held (it is then cancelled, as a held job
 * blocks the printer), completed with an error reason, or completed with zero
 * impressions and no "completed successfully" reason (a scheduler can say completed
 * for a document the printer refused), or if the printer no longer knows the job;
 * RETRY if the printer cannot be reached. */
enum printer_outcome printer_check_job(const struct printer_config *cfg, int job_id, char *message,
                                       size_t message_len) __attribute__((warn_unused_result));

/* Cancels job job_id (best effort, e.g. when a receipt is voided). True if the printer
 * accepted the cancel or the job had already finished. */
bool printer_cancel_job(const struct printer_config *cfg, int job_id, char *message,
                        size_t message_len) __attribute__((warn_unused_result));

/* "done", "retry", "failed", "pending". */
const char *printer_outcome_name(enum printer_outcome o);

/* Parses "pdf" / "escpos" and "80mm" / "a4". False for anything else. */
bool printer_format_parse(const char *s, enum printer_format *out)
    __attribute__((warn_unused_result));
bool printer_paper_parse(const char *s, enum receipt_paper *out)
    __attribute__((warn_unused_result));

/* Checks a config is usable (a name; exactly one of uri and queue; a known scheme).
 * False with the reason in message. */
bool printer_config_check(const struct printer_config *cfg, char *message, size_t message_len)
    __attribute__((warn_unused_result));

#endif
