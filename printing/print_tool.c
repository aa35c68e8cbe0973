/* onestop-print-receipt: render a receipt from a JSON file and (optionally) print it.
 *
 * Used by the system tests and by people setting up a counter's printer:
 *
 *   onestop-print-receipt --receipt r.json [--format pdf|escpos] [--paper 80mm|a4]
 *       [--text-dir DIR] [--out FILE] [--printer-uri URI | --queue NAME [--server HOST:PORT]]
 *       [--name NAME] [--title TITLE] [--wait SECONDS] [--check-job ID]
 *
 * It renders the receipt (writing it to --out if given), submits it with
 * printer_submit() and, with --wait, polls printer_check_job() until the job is no
 * longer pending or the wait runs out. With --check-job it only asks about an
 * existing job. It prints one JSON object on stdout:
 *   {"outcome":"done","job_id":3,"message":"...","bytes":12345}
 * Exit status: 0 done (or rendered only), 1 usage or render error, 2 retry,
 * 3 failed, 4 still pending.
 *
 * Receipt JSON: {"council","site","counter_id","assistant_initials","issued_at"
 * (Unix seconds),"service_name","reference","lines":[{"description","amount_pence"}],
 * "total_pence" (default: sum of lines),"payment":"cash|card|cheque|waived|none",
 * "tendered_pence","change_pence","next_steps","status_url","status_text","footer",
 * "copy","size" ("standard" | "large"),"language" (a code with a file in --text-dir, such
 * as config/receipt-text; "en" needs none)}.
 */
#include "printing/printer.h"
#include "printing/receipt.h"
#include "printing/receipt_escpos.h"
#include "printing/receipt_pdf.h"
#include "printing/receipt_text.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXIT_DONE        0
#define EXIT_USAGE       1
#define EXIT_RETRY       2
#define EXIT_FAILED      3
#define EXIT_PENDING     4
#define POLL_INTERVAL_MS 200
#define MAX_WAIT_S       600

struct options {
    const char *receipt;
    const char *out;
    const char *uri;
    const char *queue;
    const char *server;
    const char *name;
    const char *title;
    const char *text_dir;
    enum printer_format format;
    enum receipt_paper paper;
    long wait_s;
    long check_job;
};

static void usage(void)
{
    fprintf(stderr,
            "usage: onestop-print-receipt --receipt FILE.json [--format pdf|escpos]\n"
            "         [--paper 80mm|a4] [--text-dir DIR] [--out FILE] [--printer-uri URI | --queue "
            "NAME\n"
            "         [--server HOST:PORT]] [--name NAME] [--title TITLE] [--wait SECONDS]\n"
            "         [--check-job ID]\n");
}

static bool parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        return false;
    }
    *out = v;
    return true;
}

static bool parse_args(int argc, char **argv, struct options *o)
{
    *o = (struct options){
        .format = PRINTER_FORMAT_PDF, .paper = RECEIPT_PAPER_ROLL_80MM, .name = "test printer"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL) {
            fprintf(stderr, "onestop-print-receipt: %s needs a value\n", a);
            return false;
        }
        i++;
        if (strcmp(a, "--receipt") == 0) {
            o->receipt = v;
        } else if (strcmp(a, "--text-dir") == 0) {
            o->text_dir = v;
        } else if (strcmp(a, "--out") == 0) {
            o->out = v;
        } else if (strcmp(a, "--printer-uri") == 0) {
            o->uri = v;
        } else if (strcmp(a, "--queue") == 0) {
            o->queue = v;
        } else if (strcmp(a, "--server") == 0) {
            o->server = v;
        } else if (strcmp(a, "--name") == 0) {
            o->name = v;
        } else if (strcmp(a, "--title") == 0) {
            o->title = v;
        } else if (strcmp(a, "--format") == 0) {
            if (!printer_format_parse(v, &o->format)) {
                fprintf(stderr, "onestop-print-receipt: --format is pdf or escpos\n");
                return false;
            }
        } else if (strcmp(a, "--paper") == 0) {
            if (!printer_paper_parse(v, &o->paper)) {
                fprintf(stderr, "onestop-print-receipt: --paper is 80mm or a4\n");
                return false;
            }
        } else if (strcmp(a, "--wait") == 0) {
            if (!parse_long(v, 0, MAX_WAIT_S, &o->wait_s)) {
                fprintf(stderr, "onestop-print-receipt: --wait is 0..%d seconds\n", MAX_WAIT_S);
                return false;
            }
        } else if (strcmp(a, "--check-job") == 0) {
            if (!parse_long(v, 1, 0x7fffffff, &o->check_job)) {
                fprintf(stderr, "onestop-print-receipt: --check-job needs a job id\n");
                return false;
            }
        } else {
            fprintf(stderr, "onestop-print-receipt: unknown option %s\n", a);
            return false;
        }
    }
    if (o->receipt == NULL && o->check_job == 0) {
        fprintf(stderr, "onestop-print-receipt: --receipt is required\n");
        return false;
    }
    return true;
}

static const char *str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static int64_t pence(json_t *obj, const char *key)
{
    return (int64_t)json_integer_value(json_object_get(obj, key));
}

static bool parse_payment(const char *s, enum receipt_payment *out)
{
    static const struct {
        const char *name;
        enum receipt_payment p;
    } table[] = {{"none", RECEIPT_PAYMENT_NONE},
                 {"cash", RECEIPT_PAYMENT_CASH},
                 {"card", RECEIPT_PAYMENT_CARD},
                 {"cheque", RECEIPT_PAYMENT_CHEQUE},
                 {"waived", RECEIPT_PAYMENT_WAIVED}};
    if (s == NULL) {
        *out = RECEIPT_PAYMENT_NONE;
        return true;
    }
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcmp(s, table[i].name) == 0) {
            *out = table[i].p;
            return true;
        }
    }
    return false;
}

/* Fills r from the JSON object (strings stay owned by root). lines must hold
 * RECEIPT_MAX_LINES entries. */
static bool receipt_from_json(json_t *root, struct receipt *r, struct receipt_line *lines)
{
    if (!json_is_object(root)) {
        fprintf(stderr, "onestop-print-receipt: the receipt must be a JSON object\n");
        return false;
    }
    *r = (struct receipt){
        .council = str(root, "council"),
        .site = str(root, "site"),
        .counter_id = str(root, "counter_id"),
        .assistant_initials = str(root, "assistant_initials"),
        .issued_at = json_is_integer(json_object_get(root, "issued_at"))
                         ? (time_t)json_integer_value(json_object_get(root, "issued_at"))
                         : time(NULL),
        .service_name = str(root, "service_name"),
        .reference = str(root, "reference"),
        .lines = lines,
        .tendered_pence = pence(root, "tendered_pence"),
        .change_pence = pence(root, "change_pence"),
        .next_steps = str(root, "next_steps"),
        .status_url = str(root, "status_url"),
        .status_text = str(root, "status_text"),
        .footer = str(root, "footer"),
        .copy = json_is_true(json_object_get(root, "copy")),
        .size = str(root, "size") != NULL && strcmp(str(root, "size"), "large") == 0
                    ? RECEIPT_SIZE_LARGE
                    : RECEIPT_SIZE_STANDARD,
    };
    if (!parse_payment(str(root, "payment"), &r->payment)) {
        fprintf(stderr, "onestop-print-receipt: unknown payment %s\n", str(root, "payment"));
        return false;
    }
    json_t *arr = json_object_get(root, "lines");
    size_t n = json_array_size(arr);
    if (n > RECEIPT_MAX_LINES) {
        fprintf(stderr, "onestop-print-receipt: at most %d lines\n", RECEIPT_MAX_LINES);
        return false;
    }
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *line = json_array_get(arr, i);
        lines[i].description = str(line, "description");
        lines[i].amount_pence = pence(line, "amount_pence");
        sum += lines[i].amount_pence;
    }
    r->n_lines = n;
    r->total_pence =
        json_is_integer(json_object_get(root, "total_pence")) ? pence(root, "total_pence") : sum;
    char why[200];
    if (!receipt_check(r, why, sizeof why)) {
        fprintf(stderr, "onestop-print-receipt: %s\n", why);
        return false;
    }
    return true;
}

static bool write_file(const char *path, const unsigned char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        fprintf(stderr, "onestop-print-receipt: cannot write %s: %s\n", path, strerror(errno));
        return false;
    }
    bool ok = fwrite(data, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    if (!ok) {
        fprintf(stderr, "onestop-print-receipt: cannot write %s\n", path);
    }
    return ok;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int report(enum printer_outcome o, int job_id, const char *message, size_t bytes)
{
    json_t *j = json_pack("{s:s, s:i, s:s, s:I}", "outcome", printer_outcome_name(o), "job_id",
                          job_id, "message", message, "bytes", (json_int_t)bytes);
    char *text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
    if (text != NULL) {
        printf("%s\n", text);
    }
    free(text);
    json_decref(j);
    switch (o) {
    case PRINTER_DONE:
        return EXIT_DONE;
    case PRINTER_RETRY:
        return EXIT_RETRY;
    case PRINTER_FAILED:
        return EXIT_FAILED;
    case PRINTER_PENDING:
        return EXIT_PENDING;
    }
    return EXIT_FAILED;
}

/* Polls the job until it is no longer pending or wait_s has passed. */
static enum printer_outcome follow(const struct printer_config *cfg, int job_id, long wait_s,
                                   char *message, size_t message_len)
{
    double deadline = now_s() + (double)wait_s;
    enum printer_outcome o;
    for (;;) {
        o = printer_check_job(cfg, job_id, message, message_len);
        if (o != PRINTER_PENDING || now_s() >= deadline) {
            return o;
        }
        sleep_ms(POLL_INTERVAL_MS);
    }
}

int main(int argc, char **argv)
{
    struct options opt;
    if (!parse_args(argc, argv, &opt)) {
        usage();
        return EXIT_USAGE;
    }
    struct printer_config cfg = {.name = opt.name,
                                 .uri = opt.uri,
                                 .queue = opt.queue,
                                 .server = opt.server,
                                 .format = opt.format,
                                 .paper = opt.paper};
    char message[PRINTER_MESSAGE_MAX] = "";
    bool have_printer = opt.uri != NULL || opt.queue != NULL;
    if (opt.check_job > 0) {
        if (!have_printer) {
            fprintf(stderr, "onestop-print-receipt: --check-job needs a printer\n");
            return EXIT_USAGE;
        }
        enum printer_outcome o =
            follow(&cfg, (int)opt.check_job, opt.wait_s, message, sizeof message);
        return report(o, (int)opt.check_job, message, 0);
    }

    json_error_t jerr;
    json_t *root = json_load_file(opt.receipt, 0, &jerr);
    if (root == NULL) {
        fprintf(stderr, "onestop-print-receipt: %s: %s (line %d)\n", opt.receipt, jerr.text,
                jerr.line);
        return EXIT_USAGE;
    }
    struct receipt r;
    struct receipt_line lines[RECEIPT_MAX_LINES];
    unsigned char *doc = NULL;
    size_t len = 0;
    int rc = EXIT_USAGE;
    struct receipt_texts *texts = NULL;
    if (!receipt_from_json(root, &r, lines)) {
        goto out;
    }
    const char *language = str(root, "language");
    if (language != NULL && strcmp(language, "en") != 0) {
        const char *codes[] = {language, NULL};
        char why[512];
        texts = receipt_texts_load(opt.text_dir ? opt.text_dir : ".", codes, why, sizeof why);
        if (texts == NULL) {
            fprintf(stderr, "onestop-print-receipt: %s (give --text-dir)\n", why);
            goto out;
        }
        r.labels = receipt_texts_labels(texts, language);
    }
    bool rendered = opt.format == PRINTER_FORMAT_PDF ? receipt_render_pdf(&r, opt.paper, &doc, &len)
                                                     : receipt_render_escpos(&r, &doc, &len);
    if (!rendered) {
        fprintf(stderr, "onestop-print-receipt: could not render the receipt\n");
        goto out;
    }
    if (opt.out != NULL && !write_file(opt.out, doc, len)) {
        goto out;
    }
    if (!have_printer) {
        rc = report(PRINTER_DONE, 0, "rendered", len);
        goto out;
    }
    int job_id = 0;
    char title[RECEIPT_FIELD_MAX + 16];
    snprintf(title, sizeof title, "Receipt %s", r.reference);
    enum printer_outcome o = printer_submit(&cfg, opt.title != NULL ? opt.title : title, doc, len,
                                            &job_id, message, sizeof message);
    if (o == PRINTER_PENDING && opt.wait_s > 0) {
        o = follow(&cfg, job_id, opt.wait_s, message, sizeof message);
    }
    rc = report(o, job_id, message, len);
out:
    free(doc);
    receipt_texts_free(texts);
    json_decref(root);
    receipt_pdf_shutdown();
    return rc;
}
