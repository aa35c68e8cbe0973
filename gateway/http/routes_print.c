/* routes_print: POST /api/v1/transactions/{reference}/reprint — a copy of a receipt — and
 * GET /api/v1/receipt-options — the sizes and languages a receipt can be printed in at the
 * asking assistant's counter.
 *
 * The copy prints at the asking assistant's counter (where the resident is now), marked
 * "Copy receipt". The new print job is written by a store job on the writer thread (the
 * request is deferred meanwhile, so no HTTP thread waits on the disk); the reply, 202, goes
 * out once it is committed, and the spooler is woken to print it. Refused with 409 while a
 * receipt of that transaction is still pending or at the printer (pressing Reprint twice
 * must not give two copies), for a voided transaction, and at a counter without a printer.
 *
 * The body is optional: {"receipt": {"size": "large", "language": "ur"}} chooses the copy's
 * size and language (gateway/receipt_options.h); without one the copy is standard English. */
#include "gateway/app.h"
#include "gateway/config.h"
#include "gateway/log.h"
#include "gateway/receipt_options.h"
#include "printing/receipt_escpos.h"
#include "gateway/http/routes.h"
#include "gateway/store.h"

#include "services/reference.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct reprint {
    struct app *app;
    struct http_request *req;
    char reference[STORE_REFERENCE_MAX];
    char printer[STORE_PRINTER_NAME_MAX];
    char staff[64];
    char counter[32];
    struct receipt_options receipt;
    struct print_reprint args;
    struct store_job job;
};

static enum store_result reprint_run(struct store_tx *tx, void *arg)
{
    struct reprint *rp = arg;
    return store_tx_print_reprint(tx, &rp->args);
}

static json_t *print_view(const struct reprint *rp)
{
    char updated[32];
    struct tm tm;
    gmtime_r(&rp->args.now, &tm);
    strftime(updated, sizeof updated, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *print = json_pack("{s:s, s:s, s:i, s:n, s:n, s:s, s:b, s:{s:s, s:s}}", "state",
                              "pending", "printer", rp->printer, "attempts", 0, "job_id",
                              "last_error", "updated_at", updated, "copy", 1, "receipt", "size",
                              rp->receipt.size, "language", rp->receipt.language);
    json_object_set_new(print, "reprint_of",
                        rp->args.reprint_of ? json_integer((json_int_t)rp->args.reprint_of)
                                            : json_null());
    return print;
}

/* On the writer thread after the commit (or its failure): reply and resume. */
static void reprint_done(struct store_job *job, enum store_result result)
{
    struct reprint *rp = job->ctx;
    struct http_request *req = rp->req;
    switch (result) {
    case STORE_OK:
        log_msg(LOG_INFO, "print_reprint", "%s: copy receipt queued on %s by %s at %s",
                rp->reference, rp->printer, rp->staff, rp->counter);
        http_reply_json(
            req, 202, json_pack("{s:s, s:o}", "reference", rp->reference, "print", print_view(rp)));
        app_wake_workers(rp->app);
        break;
    case STORE_NOT_FOUND:
        http_reply_error(req, 404, "not_found", "There is no transaction with that reference.");
        break;
    case STORE_CONFLICT:
        http_reply_error(req, 409, "print_in_progress",
                         "A receipt for this transaction is already waiting for the printer or "
                         "printing. Wait for it to finish before asking for a copy.");
        break;
    case STORE_INVALID:
        http_reply_error(req, 409, "voided",
                         "This transaction was voided, so its receipt cannot be reprinted.");
        break;
    default:
        http_reply_store_error(req, result);
        break;
    }
    free(rp);
    http_complete(req); /* req may be freed by its thread from here on */
}

/* The copy's size and language from the optional body; false once it has replied 400/422. */
static bool reprint_receipt(struct app *app, struct http_request *req,
                            const struct counter_config *counter, struct receipt_options *out)
{
    size_t len = 0;
    (void)http_body(req, &len);
    if (len == 0) {
        receipt_options_default(out);
        return true;
    }
    json_t *body = http_json_body(req);
    if (!body)
        return false;
    json_t *errors = json_array();
    const char *key;
    json_t *value;
    json_object_foreach(body, key, value)
    {
        if (strcmp(key, "receipt") != 0) {
            char field[80];
            snprintf(field, sizeof field, "%.60s", key);
            json_array_append_new(errors,
                                  json_pack("{s:s, s:s, s:s}", "field", field, "code",
                                            "unknown_field", "A reprint takes only \"receipt\"."));
        }
    }
    const struct printer_config_entry *printer = config_printer(app->cfg, counter->printer);
    receipt_options_parse(app->cfg, json_object_get(body, "receipt"),
                          printer ? printer->format : NULL, out, errors);
    if (json_array_size(errors)) {
        http_reply_invalid(req, errors);
        return false;
    }
    json_decref(errors);
    return true;
}

void route_transaction_reprint(struct app *app, struct http_request *req)
{
    char reference[STORE_REFERENCE_MAX];
    if (!transaction_reference_param(req, reference, sizeof reference))
        return;
    const struct staff_session *s = http_session(req);
    /* Say "unknown" (and another site's is unknown) before "no printer" (a read: fine here). */
    if (!transaction_at_own_site(app, req, reference))
        return;
    const struct counter_config *counter = config_counter(app->cfg, s->counter);
    if (!counter || !counter->printer) {
        char message[160];
        snprintf(message, sizeof message,
                 "There is no receipt printer at counter %s. Reprint from a counter that has one.",
                 s->counter);
        http_reply_error(req, 409, "no_printer", message);
        return;
    }
    struct receipt_options receipt;
    if (!reprint_receipt(app, req, counter, &receipt))
        return;
    struct reprint *rp = calloc(1, sizeof *rp);
    if (!rp) {
        http_reply_error(req, 503, "overloaded", "The gateway is out of memory; try again.");
        return;
    }
    rp->app = app;
    rp->req = req;
    snprintf(rp->reference, sizeof rp->reference, "%s", reference);
    snprintf(rp->printer, sizeof rp->printer, "%s", counter->printer);
    snprintf(rp->staff, sizeof rp->staff, "%s", s->staff.username);
    snprintf(rp->counter, sizeof rp->counter, "%s", s->counter);
    rp->receipt = receipt;
    rp->args = (struct print_reprint){.reference = rp->reference,
                                      .printer = rp->printer,
                                      .staff = rp->staff,
                                      .counter = rp->counter,
                                      .receipt_size = rp->receipt.size,
                                      .receipt_language = rp->receipt.language,
                                      .now = time(NULL)};
    rp->job = (struct store_job){.run = reprint_run, .arg = rp, .done = reprint_done, .ctx = rp};
    http_defer(req);
    store_submit(app->store, &rp->job);
}

void route_receipt_options(struct app *app, struct http_request *req)
{
    const struct staff_session *s = http_session(req);
    const struct counter_config *counter = config_counter(app->cfg, s->counter);
    const struct printer_config_entry *printer =
        counter && counter->printer ? config_printer(app->cfg, counter->printer) : NULL;
    bool escpos = printer && printer->format && strcmp(printer->format, "escpos") == 0;
    json_t *languages = json_array();
    const char *code, *name, *english_name;
    bool rtl;
    for (size_t i = 0;
         receipt_texts_at(app->cfg->receipt_texts, i, &code, &name, &english_name, &rtl); i++) {
        json_array_append_new(languages, json_pack("{s:s, s:s, s:s, s:s, s:b}", "code", code,
                                                   "name", name, "english_name", english_name,
                                                   "direction", rtl ? "rtl" : "ltr", "printable",
                                                   !escpos || receipt_escpos_supports(code)));
    }
    json_t *sizes = json_pack("[{s:s, s:s}, {s:s, s:s}]", "code", "standard", "name", "Standard",
                              "code", "large", "name", "Large print");
    json_t *printer_view =
        printer ? json_pack("{s:s, s:s}", "format", printer->format ? printer->format : "pdf",
                            "paper", printer->paper ? printer->paper : "80mm")
                : json_null();
    http_reply_json(req, 200,
                    json_pack("{s:o, s:o, s:o}", "sizes", sizes, "languages", languages, "printer",
                              printer_view));
}
