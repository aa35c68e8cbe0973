/* receipt_options: the receipt a resident asks for at the counter — its size and language.
 *
 * A sale (POST /api/v1/transactions) and a reprint (POST .../reprint) may carry
 *   "receipt": {"size": "standard" | "large", "language": "en" | one of receipts.languages}
 * Both keys are optional (standard, English). The choice is stored with the print job, so
 * a retried or resumed job prints the same receipt, and a reprint may choose again.
 *
 * The languages offered are English plus config "receipts.languages", whose words are read
 * at start-up from "receipts.text_dir" (printing/receipt_text.h).
 */
#ifndef ONESTOP_GATEWAY_RECEIPT_OPTIONS_H
#define ONESTOP_GATEWAY_RECEIPT_OPTIONS_H

#include <jansson.h>
#include <stdbool.h>

#include "printing/receipt_text.h"

struct config;

#define RECEIPT_SIZE_NAME_MAX 16

struct receipt_options {
    char size[RECEIPT_SIZE_NAME_MAX];    /* "standard" | "large" */
    char language[RECEIPT_LANGUAGE_MAX]; /* "en", "pl", "ur", ... */
};

/* Loads the receipt texts named by the config into cfg->receipt_texts. False, with the
 * file, the key and the problem in why, when a listed language's file is missing or wrong. */
bool receipt_options_load(struct config *cfg, char *why, size_t why_len)
    __attribute__((warn_unused_result));

/* Reads the optional "receipt" object v (NULL: the defaults) into *out. Each problem is
 * appended to errors as {"field":"receipt.size"|"receipt.language"|"receipt","code",
 * "message"}. printer_format is the counter's printer's format ("pdf", "escpos") or NULL
 * when it has none: an ESC/POS printer is refused a language it cannot print. */
void receipt_options_parse(const struct config *cfg, const json_t *v, const char *printer_format,
                           struct receipt_options *out, json_t *errors);

/* The defaults: standard size, English. */
void receipt_options_default(struct receipt_options *out);

#endif
