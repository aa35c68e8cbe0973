/* printer_backend: the transports behind printer.h (IPP through libcups, raw TCP).
 * Internal to printing/: printer.c checks the config and dispatches by scheme. */
#ifndef ONESTOP_PRINTING_PRINTER_BACKEND_H
#define ONESTOP_PRINTING_PRINTER_BACKEND_H

#include "printing/printer.h"

#include <stdbool.h>
#include <stddef.h>

/* snprintf into message if there is room (message_len may be 0). */
__attribute__((format(printf, 3, 4))) void printer_message(char *message, size_t message_len,
                                                           const char *fmt, ...);

/* errno as text for "... (connection refused)": lower-case first letter, "no answer
 * within N s" for ETIMEDOUT, "no connection" for 0. Thread-safe. */
void printer_strerror(int err, char *buf, size_t len);

#define PRINTER_MS_PER_S 1000

/* IPP: direct (cfg->uri ipp:// or ipps://) or through a CUPS queue (cfg->queue). */
enum printer_outcome printer_ipp_submit(const struct printer_config *cfg, const char *title,
                                        const unsigned char *doc, size_t len, int *job_id,
                                        char *message, size_t message_len);
enum printer_outcome printer_ipp_check(const struct printer_config *cfg, int job_id, char *message,
                                       size_t message_len);
bool printer_ipp_cancel(const struct printer_config *cfg, int job_id, char *message,
                        size_t message_len);

/* Why host:port does not take a TCP connection ("connection refused", "no answer
 * within N s"), found by trying once more for at most PRINTER_PROBE_TIMEOUT_MS.
 * libcups's cupsConnectDest reports every failure as "Host is down". */
#define PRINTER_PROBE_TIMEOUT_MS 1000
void printer_probe(const char *host, int port, char *why, size_t why_len);

/* Raw TCP (cfg->uri socket://host[:port]): DONE once all bytes are written. */
enum printer_outcome printer_socket_submit(const struct printer_config *cfg,
                                           const unsigned char *doc, size_t len, char *message,
                                           size_t message_len);

#endif
