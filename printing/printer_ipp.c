/* printer_ipp: IPP printing through libcups 2.4, straight to a printer or through a
 * CUPS scheduler (see printer.h).
 *
 * Every call opens its own connection (struct ipp_conn) and closes it before it
 * returns, so worker threads never share an http_t; libcups keeps cupsSetServer() and
 * cupsLastError() per thread. Waits are bounded by httpConnect2/cupsConnectDest's
 * timeout and httpSetTimeout() on the connection.
 *
 * What the status codes mean for the spooler: 0x05xx server errors (busy, not
 * accepting jobs, service unavailable, which is also how libcups reports a dropped
 * connection) and client-error-timeout are RETRY; every other error is FAILED, with
 * the printer's status message.
 *
 * What was seen with ippeveprinter and cupsd 2.4.2 (tests/system/test_printing.py):
 *   - ippeveprinter refuses an unknown media keyword (om_receipt_80x200mm) at
 *     Create-Job with client-error-attributes-or-values-not-supported, so media is
 *     sent only if cupsGetDestMediaBy*() finds the size in the printer's media list;
 *     for a printer with a roll (media-size-supported with a range of lengths) libcups
 *     answers with the longest length of the range, so media-col is written with the
 *     receipt's own length;
 *   - a direct ippeveprinter job that printed ends "completed" with
 *     job-state-reasons job-completed-successfully but job-impressions-completed 0;
 *     cupsd counts the impression (1) and says "processing-to-stop-point";
 *   - a print command failing with "ERROR: paper jam" ends the direct job "aborted"
 *     with job-state-message " paper jam"; through cupsd the job ends "canceled"
 *     with job-printer-state-message "Print job canceled at printer.".
 */
#include "printing/printer_backend.h"

#include <cups/cups.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESOURCE_MAX        1024
#define URI_MAX             1024
#define DETAIL_MAX          200
#define ROLL_WIDTH_HMM      8000 /* 80 mm in hundredths of a millimetre */
#define PT_TO_HMM           (2540.0 / 72.0)
#define MEDIA_COL_MAX       256
#define MEDIA_TOLERANCE_HMM 200 /* a fixed size this close is the same size */
#define A4_MEDIA            "iso_a4_210x297mm"
#define FORMAT_PDF          "application/pdf"
#define FORMAT_ESCPOS       "application/vnd.escpos"
#define MEDIABOX_SCAN_BYTES 65536 /* cairo writes the page objects near the start */
#define IPP_CLASS_SERVER    0x0500
#define IPP_CLASS_END       0x0600

struct ipp_conn {
    http_t *http;
    cups_dest_t *dest;
    bool direct;
    char resource[RESOURCE_MAX]; /* where to POST requests */
    char printer_uri[URI_MAX];   /* printer-uri for job operations */
    bool timed_out;              /* a read or write waited PRINTER_IO_TIMEOUT_S */
};

static bool has_text(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* Copies src into dst (dst_len bytes) trimmed of surrounding white space. */
static void copy_trimmed(char *dst, size_t dst_len, const char *src)
{
    if (dst_len == 0) {
        return;
    }
    dst[0] = '\0';
    if (src == NULL) {
        return;
    }
    while (isspace((unsigned char)*src)) {
        src++;
    }
    size_t n = strlen(src);
    while (n > 0 && isspace((unsigned char)src[n - 1])) {
        n--;
    }
    if (n >= dst_len) {
        n = dst_len - 1;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* libcups's last error text for this thread, trimmed, lower-cased first letter when it
 * is an errno text ("Connection refused" -> "connection refused"). */
static void last_error(char *buf, size_t len)
{
    const char *s = cupsLastErrorString();
    copy_trimmed(buf, len, has_text(s) ? s : ippErrorString(cupsLastError()));
    if (len > 1 && buf[0] >= 'A' && buf[0] <= 'Z' && buf[1] >= 'a' && buf[1] <= 'z') {
        buf[0] = (char)(buf[0] - 'A' + 'a');
    }
    /* libcups reports a connection closed without a reply as strerror(0). */
    if (strcmp(buf, "success") == 0) {
        snprintf(buf, len, "the connection closed without an answer");
    }
    /* Drop a trailing full stop: the text goes inside parentheses. */
    size_t n = strlen(buf);
    if (n > 0 && buf[n - 1] == '.') {
        buf[n - 1] = '\0';
    }
}

static bool status_retryable(ipp_status_t st)
{
    return (st >= IPP_CLASS_SERVER && st < IPP_CLASS_END) || st == IPP_STATUS_ERROR_TIMEOUT;
}

static bool status_ok(ipp_status_t st)
{
    return st <= IPP_STATUS_OK_CONFLICTING;
}

/* RETRY or FAILED for the thread's last error, with a message for the assistant. */
static enum printer_outcome classify_error(const struct printer_config *cfg,
                                           const struct ipp_conn *c, const char *doing,
                                           char *message, size_t message_len)
{
    ipp_status_t st = cupsLastError();
    char detail[DETAIL_MAX];
    last_error(detail, sizeof detail);
    if (c->timed_out) {
        /* libcups reports a timeout as server-error-internal-error "Success". */
        printer_message(message, message_len,
                        "Receipt printer at %s is not answering (no answer within %d s)", cfg->name,
                        PRINTER_IO_TIMEOUT_S);
        return PRINTER_RETRY;
    }
    if (st == IPP_STATUS_ERROR_BUSY) {
        printer_message(message, message_len, "Receipt printer at %s is busy (%s)", cfg->name,
                        detail);
        return PRINTER_RETRY;
    }
    if (status_retryable(st)) {
        printer_message(message, message_len, "Receipt printer at %s is not ready to %s (%s)",
                        cfg->name, doing, detail);
        return PRINTER_RETRY;
    }
    printer_message(message, message_len, "Receipt printer at %s refused to %s (%s)", cfg->name,
                    doing, detail);
    return PRINTER_FAILED;
}

/* libcups calls this when a read or write has waited PRINTER_IO_TIMEOUT_S; 0 gives up. */
static int on_timeout(http_t *http, void *data)
{
    (void)http;
    struct ipp_conn *c = data;
    c->timed_out = true;
    return 0;
}

static void conn_close(struct ipp_conn *c)
{
    if (c->http != NULL) {
        httpClose(c->http);
        c->http = NULL;
    }
    if (c->dest != NULL) {
        cupsFreeDests(1, c->dest);
        c->dest = NULL;
    }
}

/* Says why a direct printer did not take a connection: libcups only says "Host is
 * down", so try once more and look at errno. */
static void direct_failure_reason(const char *uri, char *why, size_t why_len)
{
    char scheme[32], userpass[256], host[256], resource[RESOURCE_MAX];
    int port = 0;
    if (httpSeparateURI(HTTP_URI_CODING_ALL, uri, scheme, sizeof scheme, userpass, sizeof userpass,
                        host, sizeof host, &port, resource, sizeof resource) < HTTP_URI_STATUS_OK) {
        last_error(why, why_len);
        return;
    }
    printer_probe(host, port, why, why_len);
}

/* Where a scheduler's printer takes job operations: its printer-uri-supported and that
 * URI's path as the resource. */
static bool queue_uri(struct ipp_conn *c)
{
    const char *uri =
        cupsGetOption("printer-uri-supported", c->dest->num_options, c->dest->options);
    if (!has_text(uri)) {
        return false;
    }
    char scheme[32], userpass[256], host[256];
    int port;
    if (httpSeparateURI(HTTP_URI_CODING_ALL, uri, scheme, sizeof scheme, userpass, sizeof userpass,
                        host, sizeof host, &port, c->resource,
                        sizeof c->resource) < HTTP_URI_STATUS_OK) {
        return false;
    }
    snprintf(c->printer_uri, sizeof c->printer_uri, "%s", uri);
    return true;
}

/* Opens a connection for cfg. On failure returns RETRY or FAILED with a message;
 * PRINTER_DONE means open (close it with conn_close). */
static enum printer_outcome conn_open(const struct printer_config *cfg, struct ipp_conn *c,
                                      char *message, size_t message_len)
{
    memset(c, 0, sizeof *c);
    char detail[DETAIL_MAX];
    if (has_text(cfg->uri)) {
        c->direct = true;
        c->dest = cupsGetDestWithURI(NULL, cfg->uri);
        if (c->dest == NULL) {
            printer_message(message, message_len, "Receipt printer at %s has a bad address %s",
                            cfg->name, cfg->uri);
            return PRINTER_FAILED;
        }
        c->http = cupsConnectDest(c->dest, CUPS_DEST_FLAGS_DEVICE, PRINTER_CONNECT_TIMEOUT_MS, NULL,
                                  c->resource, sizeof c->resource, NULL, NULL);
        /* libcups 2.4 may hand back an unconnected http_t (no socket) instead of NULL. */
        if (c->http == NULL || httpGetFd(c->http) < 0) {
            direct_failure_reason(cfg->uri, detail, sizeof detail);
            printer_message(message, message_len, "Receipt printer at %s is not answering (%s)",
                            cfg->name, detail);
            conn_close(c);
            return PRINTER_RETRY;
        }
        snprintf(c->printer_uri, sizeof c->printer_uri, "%s", cfg->uri);
    } else {
        /* The host given to httpConnect2 must be cupsServer() itself, or libcups takes
         * the connection for a device and cupsCopyDestInfo asks the wrong side. */
        cupsSetServer(has_text(cfg->server) ? cfg->server : NULL);
        errno = 0;
        c->http = httpConnect2(cupsServer(), ippPort(), NULL, AF_UNSPEC, cupsEncryption(), 1,
                               PRINTER_CONNECT_TIMEOUT_MS, NULL);
        if (c->http == NULL) {
            /* errno after a failed httpConnect2 is not reliable (often EBADF). */
            if (cupsServer()[0] == '/') {
                printer_strerror(ENOENT, detail, sizeof detail);
            } else {
                printer_probe(cupsServer(), ippPort(), detail, sizeof detail);
            }
            printer_message(message, message_len,
                            "Print server %s:%d for receipt printer at %s is not answering (%s)",
                            cupsServer(), ippPort(), cfg->name, detail);
            return PRINTER_RETRY;
        }
        httpSetTimeout(c->http, PRINTER_IO_TIMEOUT_S, on_timeout, c);
        c->dest = cupsGetNamedDest(c->http, cfg->queue, NULL);
        if (c->dest == NULL) {
            enum printer_outcome o = PRINTER_FAILED;
            if (cupsLastError() == IPP_STATUS_ERROR_NOT_FOUND) {
                printer_message(message, message_len,
                                "Receipt printer at %s: the print server has no queue \"%s\"",
                                cfg->name, cfg->queue);
            } else {
                o = classify_error(cfg, c, "find its print queue", message, message_len);
            }
            conn_close(c);
            return o;
        }
        if (!queue_uri(c)) {
            printer_message(message, message_len,
                            "Receipt printer at %s: queue \"%s\" has no printer URI", cfg->name,
                            cfg->queue);
            conn_close(c);
            return PRINTER_FAILED;
        }
    }
    httpSetTimeout(c->http, PRINTER_IO_TIMEOUT_S, on_timeout, c);
    return PRINTER_DONE;
}

/* Page height of the first page of a PDF made by cairo, in points, from its first
 * "/MediaBox [ x0 y0 x1 y1 ]". 0 if not found. */
static double pdf_page_height(const unsigned char *doc, size_t len)
{
    static const char key[] = "/MediaBox";
    size_t scan = len < MEDIABOX_SCAN_BYTES ? len : MEDIABOX_SCAN_BYTES;
    char *text = malloc(scan + 1);
    if (text == NULL) {
        return 0;
    }
    memcpy(text, doc, scan);
    text[scan] = '\0';
    double height = 0;
    /* memmem-free search: the buffer may hold NULs, so walk it. */
    for (size_t i = 0; i + sizeof key - 1 < scan; i++) {
        if (memcmp(text + i, key, sizeof key - 1) != 0) {
            continue;
        }
        const char *p = text + i + sizeof key - 1;
        while (*p == ' ' || *p == '[') {
            p++;
        }
        double v[4];
        int k;
        for (k = 0; k < 4; k++) {
            char *end;
            v[k] = strtod(p, &end);
            if (end == p) {
                break;
            }
            p = end;
        }
        if (k == 4) {
            height = v[3] - v[1];
        }
        break;
    }
    free(text);
    return height;
}

/* Adds media options the printer supports for this document; none if it supports no
 * matching size (it then prints on what it has loaded). */
static int add_media(const struct printer_config *cfg, struct ipp_conn *c, cups_dinfo_t *info,
                     const unsigned char *doc, size_t len, int num_options, cups_option_t **options)
{
    if (cfg->format != PRINTER_FORMAT_PDF) {
        return num_options;
    }
    cups_size_t size;
    int found;
    if (cfg->paper == RECEIPT_PAPER_A4) {
        found = cupsGetDestMediaByName(c->http, c->dest, info, A4_MEDIA, CUPS_MEDIA_FLAGS_DEFAULT,
                                       &size);
    } else {
        double h = pdf_page_height(doc, len);
        if (h <= 0) {
            return num_options;
        }
        int length = (int)(h * PT_TO_HMM + 0.5);
        found = cupsGetDestMediaBySize(c->http, c->dest, info, ROLL_WIDTH_HMM, length,
                                       CUPS_MEDIA_FLAGS_DEFAULT, &size);
        if (found && abs(size.length - length) > MEDIA_TOLERANCE_HMM) {
            /* A roll (a range of lengths): libcups 2.4 answers with the longest size of
             * the range, and cupsAddDestMediaOptions() only writes sizes from the
             * printer's list, so write media-col with the receipt's own length. */
            char value[MEDIA_COL_MAX];
            snprintf(value, sizeof value,
                     "{media-size={x-dimension=%d y-dimension=%d} media-bottom-margin=%d "
                     "media-left-margin=%d media-right-margin=%d media-top-margin=%d}",
                     size.width, length, size.bottom, size.left, size.right, size.top);
            return cupsAddOption("media-col", value, num_options, options);
        }
    }
    if (!found) {
        return num_options;
    }
    return cupsAddDestMediaOptions(c->http, c->dest, info, CUPS_MEDIA_FLAGS_DEFAULT, &size,
                                   num_options, options);
}

static const char *document_format(const struct printer_config *cfg, const struct ipp_conn *c)
{
    if (cfg->format == PRINTER_FORMAT_PDF) {
        return FORMAT_PDF;
    }
    /* A scheduler passes raw data through untouched; a printer is told it is ESC/POS. */
    return c->direct ? FORMAT_ESCPOS : CUPS_FORMAT_RAW;
}

bool printer_ipp_cancel(const struct printer_config *cfg, int job_id, char *message,
                        size_t message_len)
{
    struct ipp_conn c;
    if (conn_open(cfg, &c, message, message_len) != PRINTER_DONE) {
        return false;
    }
    ipp_status_t st = cupsCancelDestJob(c.http, c.dest, job_id);
    bool ok =
        status_ok(st) || st == IPP_STATUS_ERROR_NOT_POSSIBLE || st == IPP_STATUS_ERROR_NOT_FOUND;
    if (!ok) {
        char detail[DETAIL_MAX];
        last_error(detail, sizeof detail);
        printer_message(message, message_len, "Receipt printer at %s did not cancel job %d (%s)",
                        cfg->name, job_id, detail);
    }
    conn_close(&c);
    return ok;
}

/* Cancels a half-submitted job on a fresh connection (the old one may be mid-request),
 * keeping the message that says why the job failed. */
static void cancel_quietly(const struct printer_config *cfg, int job_id)
{
    char ignored[PRINTER_MESSAGE_MAX];
    (void)printer_ipp_cancel(cfg, job_id, ignored, sizeof ignored);
}

enum printer_outcome printer_ipp_submit(const struct printer_config *cfg, const char *title,
                                        const unsigned char *doc, size_t len, int *job_id,
                                        char *message, size_t message_len)
{
    struct ipp_conn c;
    enum printer_outcome o = conn_open(cfg, &c, message, message_len);
    if (o != PRINTER_DONE) {
        return o;
    }
    cups_option_t *options = NULL;
    int num_options = 0;
    int job = 0;
    cups_dinfo_t *info = cupsCopyDestInfo(c.http, c.dest);
    if (info == NULL) {
        o = classify_error(cfg, &c, "describe itself", message, message_len);
        goto out;
    }
    num_options = add_media(cfg, &c, info, doc, len, num_options, &options);
    if (!status_ok(cupsCreateDestJob(c.http, c.dest, info, &job, title, num_options, options)) ||
        job <= 0) {
        o = classify_error(cfg, &c, "take a new job", message, message_len);
        job = 0;
        goto out;
    }
    if (cupsStartDestDocument(c.http, c.dest, info, job, title, document_format(cfg, &c), 0, NULL,
                              1) != HTTP_STATUS_CONTINUE ||
        cupsWriteRequestData(c.http, (const char *)doc, len) != HTTP_STATUS_CONTINUE) {
        o = classify_error(cfg, &c, "take the receipt", message, message_len);
        goto out;
    }
    if (!status_ok(cupsFinishDestDocument(c.http, c.dest, info))) {
        o = classify_error(cfg, &c, "take the receipt", message, message_len);
        goto out;
    }
    *job_id = job;
    job = 0; /* submitted: nothing to cancel */
    printer_message(message, message_len, "Receipt sent to %s as job %d", cfg->name, *job_id);
    o = PRINTER_PENDING;
out:
    if (info != NULL) {
        cupsFreeDestInfo(info);
    }
    cupsFreeOptions(num_options, options);
    conn_close(&c);
    if (job > 0) {
        cancel_quietly(cfg, job);
    }
    return o;
}

static bool has_keyword(ipp_attribute_t *attr, const char *keyword)
{
    int n = ippGetCount(attr);
    for (int i = 0; i < n; i++) {
        const char *v = ippGetString(attr, i, NULL);
        if (v != NULL && strcmp(v, keyword) == 0) {
            return true;
        }
    }
    return false;
}

/* What the printer said about the job: job-state-message, else
 * job-printer-state-message, else the job-state-reasons. */
static void job_detail(ipp_t *resp, char *buf, size_t len)
{
    static const char *const texts[] = {"job-state-message", "job-printer-state-message"};
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        ipp_attribute_t *a = ippFindAttribute(resp, texts[i], IPP_TAG_TEXT);
        if (a != NULL) {
            copy_trimmed(buf, len, ippGetString(a, 0, NULL));
            if (buf[0] != '\0') {
                return;
            }
        }
    }
    ipp_attribute_t *r = ippFindAttribute(resp, "job-state-reasons", IPP_TAG_KEYWORD);
    if (r != NULL) {
        ippAttributeString(r, buf, len);
    }
}

/* Reasons that mean the printer did not print the document even if the job says
 * "completed". */
static bool reasons_say_failed(ipp_attribute_t *reasons)
{
    static const char *const failed[] = {
        "job-completed-with-errors",     "document-format-error",
        "document-unprintable-error",    "unsupported-document-format",
        "document-format-not-supported", "aborted-by-system",
        "job-aborted-by-system",         "document-access-error",
    };
    for (size_t i = 0; i < sizeof failed / sizeof failed[0]; i++) {
        if (has_keyword(reasons, failed[i])) {
            return true;
        }
    }
    return false;
}

enum printer_outcome printer_ipp_check(const struct printer_config *cfg, int job_id, char *message,
                                       size_t message_len)
{
    static const char *const wanted[] = {"job-state", "job-state-reasons", "job-state-message",
                                         "job-printer-state-message", "job-impressions-completed"};
    struct ipp_conn c;
    enum printer_outcome o = conn_open(cfg, &c, message, message_len);
    if (o != PRINTER_DONE) {
        return o;
    }
    ipp_t *req = ippNewRequest(IPP_OP_GET_JOB_ATTRIBUTES);
    ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_URI, "printer-uri", NULL, c.printer_uri);
    ippAddInteger(req, IPP_TAG_OPERATION, IPP_TAG_INTEGER, "job-id", job_id);
    ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_NAME, "requesting-user-name", NULL, cupsUser());
    ippAddStrings(req, IPP_TAG_OPERATION, IPP_TAG_KEYWORD, "requested-attributes",
                  (int)(sizeof wanted / sizeof wanted[0]), NULL, wanted);
    ipp_t *resp = cupsDoRequest(c.http, req, c.resource); /* frees req */
    ipp_status_t st = cupsLastError();
    char detail[DETAIL_MAX];
    ipp_jstate_t state = 0;
    if (resp == NULL || !status_ok(st)) {
        if (st == IPP_STATUS_ERROR_NOT_FOUND) {
            printer_message(message, message_len,
                            "Receipt printer at %s no longer knows job %d (was it restarted?)",
                            cfg->name, job_id);
            o = PRINTER_FAILED;
        } else {
            o = classify_error(cfg, &c, "report on the job", message, message_len);
        }
        goto out;
    }
    ipp_attribute_t *state_attr = ippFindAttribute(resp, "job-state", IPP_TAG_ENUM);
    ipp_attribute_t *reasons = ippFindAttribute(resp, "job-state-reasons", IPP_TAG_KEYWORD);
    ipp_attribute_t *impressions =
        ippFindAttribute(resp, "job-impressions-completed", IPP_TAG_INTEGER);
    state = state_attr != NULL ? (ipp_jstate_t)ippGetInteger(state_attr, 0) : 0;
    job_detail(resp, detail, sizeof detail);
    switch (state) {
    case IPP_JSTATE_PENDING:
    case IPP_JSTATE_PROCESSING:
        printer_message(message, message_len, "Receipt is printing on %s", cfg->name);
        o = PRINTER_PENDING;
        break;
    case IPP_JSTATE_STOPPED:
        printer_message(message, message_len, "Receipt printer at %s has stopped (%s)", cfg->name,
                        detail);
        o = PRINTER_PENDING;
        break;
    case IPP_JSTATE_HELD:
        /* A held job blocks the printer until it is cancelled (a document it cannot
         * print is held, not refused). */
        printer_message(message, message_len, "Receipt printer at %s held the receipt (%s)",
                        cfg->name, detail);
        o = PRINTER_FAILED;
        break;
    case IPP_JSTATE_CANCELED:
    case IPP_JSTATE_ABORTED:
        printer_message(message, message_len, "Receipt printer at %s could not print: %s",
                        cfg->name, detail);
        o = PRINTER_FAILED;
        break;
    case IPP_JSTATE_COMPLETED:
        if (reasons_say_failed(reasons) ||
            (impressions != NULL && ippGetInteger(impressions, 0) == 0 &&
             !has_keyword(reasons, "job-completed-successfully"))) {
            printer_message(message, message_len,
                            "Receipt printer at %s finished the job without printing it: %s",
                            cfg->name, detail[0] ? detail : "no pages printed");
            o = PRINTER_FAILED;
        } else {
            printer_message(message, message_len, "Receipt printed on %s", cfg->name);
            o = PRINTER_DONE;
        }
        break;
    default:
        printer_message(message, message_len, "Receipt printer at %s gave no state for job %d",
                        cfg->name, job_id);
        o = PRINTER_RETRY;
        break;
    }
out:
    ippDelete(resp);
    conn_close(&c);
    if (state == IPP_JSTATE_HELD) {
        cancel_quietly(cfg, job_id);
    }
    return o;
}
