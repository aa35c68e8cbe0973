/* printer: configuration checks and dispatch to the IPP or raw-socket transport
 * (see printer.h). */
#include "printing/printer.h"

#include "printing/printer_backend.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define SOCKET_SCHEME "socket://"

void printer_message(char *message, size_t message_len, const char *fmt, ...)
{
    if (message == NULL || message_len == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, message_len, fmt, ap);
    va_end(ap);
}

void printer_strerror(int err, char *buf, size_t len)
{
    if (len == 0) {
        return;
    }
    if (err == 0) {
        snprintf(buf, len, "no connection");
        return;
    }
    if (err == ETIMEDOUT) {
        snprintf(buf, len, "no answer within %d s", PRINTER_CONNECT_TIMEOUT_MS / PRINTER_MS_PER_S);
        return;
    }
    char tmp[128];
    const char *s = tmp;
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
    s = strerror_r(err, tmp, sizeof tmp);
#else
    if (strerror_r(err, tmp, sizeof tmp) != 0) {
        snprintf(tmp, sizeof tmp, "error %d", err);
    }
#endif
    snprintf(buf, len, "%s", s);
    if (buf[0] >= 'A' && buf[0] <= 'Z') {
        buf[0] = (char)(buf[0] - 'A' + 'a');
    }
}

static bool has_text(const char *s)
{
    return s != NULL && s[0] != '\0';
}

static bool is_socket(const struct printer_config *cfg)
{
    return has_text(cfg->uri) && strncasecmp(cfg->uri, SOCKET_SCHEME, strlen(SOCKET_SCHEME)) == 0;
}

static bool is_ipp_uri(const char *uri)
{
    return strncasecmp(uri, "ipp://", 6) == 0 || strncasecmp(uri, "ipps://", 7) == 0;
}

bool printer_config_check(const struct printer_config *cfg, char *message, size_t message_len)
{
    if (cfg == NULL || !has_text(cfg->name)) {
        printer_message(message, message_len, "Printer has no name in the configuration");
        return false;
    }
    if (has_text(cfg->uri) == has_text(cfg->queue)) {
        printer_message(message, message_len,
                        "Receipt printer at %s needs exactly one of a printer URI or a queue",
                        cfg->name);
        return false;
    }
    if (has_text(cfg->uri) && !is_socket(cfg) && !is_ipp_uri(cfg->uri)) {
        printer_message(message, message_len,
                        "Receipt printer at %s has an unsupported address %s (use ipp://, "
                        "ipps:// or socket://)",
                        cfg->name, cfg->uri);
        return false;
    }
    if (cfg->format != PRINTER_FORMAT_PDF && cfg->format != PRINTER_FORMAT_ESCPOS) {
        printer_message(message, message_len, "Receipt printer at %s has an unknown format",
                        cfg->name);
        return false;
    }
    if (is_socket(cfg) && cfg->format != PRINTER_FORMAT_ESCPOS) {
        printer_message(message, message_len,
                        "Receipt printer at %s is a raw socket printer and needs ESC/POS",
                        cfg->name);
        return false;
    }
    return true;
}

enum printer_outcome printer_submit(const struct printer_config *cfg, const char *title,
                                    const unsigned char *doc, size_t len, int *job_id,
                                    char *message, size_t message_len)
{
    *job_id = 0;
    printer_message(message, message_len, "%s", "");
    if (!printer_config_check(cfg, message, message_len)) {
        return PRINTER_FAILED;
    }
    if (doc == NULL || len == 0) {
        printer_message(message, message_len, "Nothing to print for %s", cfg->name);
        return PRINTER_FAILED;
    }
    if (is_socket(cfg)) {
        return printer_socket_submit(cfg, doc, len, message, message_len);
    }
    return printer_ipp_submit(cfg, has_text(title) ? title : "Receipt", doc, len, job_id, message,
                              message_len);
}

enum printer_outcome printer_check_job(const struct printer_config *cfg, int job_id, char *message,
                                       size_t message_len)
{
    printer_message(message, message_len, "%s", "");
    if (!printer_config_check(cfg, message, message_len)) {
        return PRINTER_FAILED;
    }
    if (is_socket(cfg)) {
        /* A raw socket job is finished when its bytes are written. */
        printer_message(message, message_len, "Receipt sent to %s", cfg->name);
        return PRINTER_DONE;
    }
    if (job_id <= 0) {
        printer_message(message, message_len, "No print job to follow on %s", cfg->name);
        return PRINTER_FAILED;
    }
    return printer_ipp_check(cfg, job_id, message, message_len);
}

bool printer_cancel_job(const struct printer_config *cfg, int job_id, char *message,
                        size_t message_len)
{
    printer_message(message, message_len, "%s", "");
    if (!printer_config_check(cfg, message, message_len)) {
        return false;
    }
    if (is_socket(cfg) || job_id <= 0) {
        return true; /* nothing left to cancel */
    }
    return printer_ipp_cancel(cfg, job_id, message, message_len);
}

const char *printer_outcome_name(enum printer_outcome o)
{
    switch (o) {
    case PRINTER_DONE:
        return "done";
    case PRINTER_RETRY:
        return "retry";
    case PRINTER_FAILED:
        return "failed";
    case PRINTER_PENDING:
        return "pending";
    }
    return "unknown";
}

bool printer_format_parse(const char *s, enum printer_format *out)
{
    if (s != NULL && strcmp(s, "pdf") == 0) {
        *out = PRINTER_FORMAT_PDF;
        return true;
    }
    if (s != NULL && strcmp(s, "escpos") == 0) {
        *out = PRINTER_FORMAT_ESCPOS;
        return true;
    }
    return false;
}

bool printer_paper_parse(const char *s, enum receipt_paper *out)
{
    if (s != NULL && strcmp(s, "80mm") == 0) {
        *out = RECEIPT_PAPER_ROLL_80MM;
        return true;
    }
    if (s != NULL && strcasecmp(s, "a4") == 0) {
        *out = RECEIPT_PAPER_A4;
        return true;
    }
    return false;
}
