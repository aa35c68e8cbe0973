/* receipt_options: parses and checks a counter's receipt choice (see receipt_options.h). */
#include "gateway/receipt_options.h"

#include "gateway/config.h"
#include "printing/receipt_escpos.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LANGUAGE_LIST_MAX (RECEIPT_LANGUAGES_MAX * (RECEIPT_LANGUAGE_MAX + 2))

void receipt_options_default(struct receipt_options *out)
{
    snprintf(out->size, sizeof out->size, "standard");
    snprintf(out->language, sizeof out->language, "en");
}

bool receipt_options_load(struct config *cfg, char *why, size_t why_len)
{
    const char *codes[RECEIPT_LANGUAGES_MAX + 1] = {0};
    size_t n = 0;
    size_t i;
    json_t *e;
    json_array_foreach(cfg->receipt_languages, i, e)
    {
        if (n >= RECEIPT_LANGUAGES_MAX) {
            snprintf(why, why_len, "at most %d languages", RECEIPT_LANGUAGES_MAX);
            return false;
        }
        codes[n++] = json_string_value(e);
    }
    char problem[512];
    cfg->receipt_texts = receipt_texts_load(cfg->receipt_text_dir ? cfg->receipt_text_dir : ".",
                                            codes, problem, sizeof problem);
    if (cfg->receipt_texts == NULL) {
        snprintf(why, why_len, "%s", problem);
        return false;
    }
    return true;
}

static void add_error(json_t *errors, const char *field, const char *code, const char *message)
{
    json_array_append_new(
        errors, json_pack("{s:s, s:s, s:s}", "field", field, "code", code, "message", message));
}

void receipt_options_parse(const struct config *cfg, const json_t *v, const char *printer_format,
                           struct receipt_options *out, json_t *errors)
{
    receipt_options_default(out);
    if (v == NULL || json_is_null(v)) {
        return;
    }
    if (!json_is_object(v)) {
        add_error(errors, "receipt", "invalid",
                  "receipt must be an object: {\"size\": \"standard\" or \"large\", "
                  "\"language\": a language code}.");
        return;
    }
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)v, key, value)
    {
        if (strcmp(key, "size") != 0 && strcmp(key, "language") != 0) {
            char field[80];
            snprintf(field, sizeof field, "receipt.%.40s", key);
            add_error(errors, field, "unknown_field",
                      "Only size and language can be chosen for a receipt.");
        }
    }
    const json_t *size = json_object_get(v, "size");
    if (size != NULL) {
        const char *s = json_string_value(size);
        if (s == NULL || (strcmp(s, "standard") != 0 && strcmp(s, "large") != 0)) {
            add_error(errors, "receipt.size", "invalid",
                      "The receipt's size is \"standard\" or \"large\" (large print).");
        } else {
            snprintf(out->size, sizeof out->size, "%s", s);
        }
    }
    const json_t *language = json_object_get(v, "language");
    if (language != NULL) {
        const char *l = json_string_value(language);
        char offered[LANGUAGE_LIST_MAX];
        receipt_texts_list(cfg->receipt_texts, offered, sizeof offered);
        if (l == NULL || strlen(l) >= sizeof out->language ||
            receipt_texts_labels(cfg->receipt_texts, l) == NULL) {
            char message[LANGUAGE_LIST_MAX + 96];
            snprintf(message, sizeof message, "Receipts are printed in these languages only: %s.",
                     offered);
            add_error(errors, "receipt.language", "unsupported", message);
            return;
        }
        if (printer_format != NULL && strcmp(printer_format, "escpos") == 0 &&
            !receipt_escpos_supports(l)) {
            add_error(errors, "receipt.language", "printer_cannot_print",
                      "This counter's receipt printer is a thermal printer that prints English "
                      "only. Choose English, or print the receipt at a counter with a page "
                      "printer.");
            return;
        }
        snprintf(out->language, sizeof out->language, "%s", l);
    }
}
