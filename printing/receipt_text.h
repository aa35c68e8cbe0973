/* receipt_text: the receipt's words in the languages a council offers at its counters.
 *
 * English is built in (receipt_labels_english(), and each service's own
 * "receipt_next_steps"). Every other language is one JSON file, <dir>/<code>.json:
 *
 *   {"language": "pl", "name": "Polski", "english_name": "Polish", "direction": "ltr" | "rtl",
 *    "labels": {"copy_receipt": ..., "date": ..., ... every key of struct receipt_labels;
 *               "qr_alt" (the PDF's text for the QR code, with "{reference}") is optional},
 *    "footer": "... {site} ...",            the small print; {site} becomes the site's name
 *    "service_names": {"<service code>": "...", ...},   optional; else the service's own
 *    "next_steps_generic": "...",           for a service without its own text
 *    "next_steps": {"<service code>": "...", ...}}
 *
 * The files are read once at start-up (onestopd --check-config reads them too) and never
 * change afterwards, so the loaded set is shared by every thread without a lock.
 */
#ifndef ONESTOP_PRINTING_RECEIPT_TEXT_H
#define ONESTOP_PRINTING_RECEIPT_TEXT_H

#include "printing/receipt.h"

#include <stdbool.h>
#include <stddef.h>

#define RECEIPT_LANGUAGES_MAX 16 /* languages a config may list, English included */
#define RECEIPT_LANGUAGE_MAX  16 /* bytes in a language code */

struct receipt_texts;

/* Loads English plus every code in languages (a NULL-terminated array of codes; "en" may
 * be among them) from dir. NULL on failure, with the file, the key and the problem in why.
 * Free the result with receipt_texts_free(). */
struct receipt_texts *receipt_texts_load(const char *dir, const char *const *languages, char *why,
                                         size_t why_len) __attribute__((warn_unused_result));
void receipt_texts_free(struct receipt_texts *t);

/* The labels of language code, or NULL if it is not loaded. "en" is always loaded. The
 * result lives as long as t. */
const struct receipt_labels *receipt_texts_labels(const struct receipt_texts *t, const char *code);

/* The "what happens next" text of service in language code: the service's own, else the
 * language's generic text; NULL for English or an unknown language (use the service's
 * English text then). */
const char *receipt_texts_next_steps(const struct receipt_texts *t, const char *code,
                                     const char *service);

/* The service's name in language code, or NULL (English, unknown, or not translated). */
const char *receipt_texts_service_name(const struct receipt_texts *t, const char *code,
                                       const char *service);

/* The footer of language code with "{site}" in it, or NULL for English / unknown. */
const char *receipt_texts_footer(const struct receipt_texts *t, const char *code);

/* The i-th language offered (0 is English), for the counter's choice: its code, its own
 * name ("Polski"), its English name ("Polish") and direction. False past the last. */
bool receipt_texts_at(const struct receipt_texts *t, size_t i, const char **code, const char **name,
                      const char **english_name, bool *rtl);

/* Writes "en, pl, ur" (the loaded codes) into buf, for error messages. */
void receipt_texts_list(const struct receipt_texts *t, char *buf, size_t len);

/* Replaces the first placeholder ("{reference}") in pattern by value, into out. False if
 * out is too small. */
#define RECEIPT_REFERENCE_PLACEHOLDER "{reference}"
bool receipt_text_fill(const char *pattern, const char *placeholder, const char *value, char *out,
                       size_t len) __attribute__((warn_unused_result));

/* Replaces the first "{site}" in pattern by site, into out. False if out is too small. */
bool receipt_text_fill_site(const char *pattern, const char *site, char *out, size_t len)
    __attribute__((warn_unused_result));

#endif
