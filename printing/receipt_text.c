/* receipt_text: loads the receipt's words per language (see receipt_text.h).
 *
 * Each language's JSON document is kept whole (json_t) and its labels point into it, so
 * nothing is copied; every label is checked present, a string and within RECEIPT_LABEL_MAX
 * bytes, and every paragraph within RECEIPT_PARAGRAPH_MAX, so a renderer's limits always
 * hold whatever a translator writes. */
#include "printing/receipt_text.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SITE_PLACEHOLDER "{site}"
#define PATH_MAX_BYTES   4096

struct language {
    char code[RECEIPT_LANGUAGE_MAX];
    json_t *doc; /* owns every string below */
    const char *name;
    const char *english_name;
    struct receipt_labels labels;
    const char *footer;
    const char *generic;
    const json_t *next_steps;
    const json_t *service_names;
};

struct receipt_texts {
    size_t n;
    struct language langs[RECEIPT_LANGUAGES_MAX];
};

/* Where each label lands, by its key in the file. */
static const struct {
    const char *key;
    size_t offset;
} LABEL_KEYS[] = {
#define LABEL(k)                                                                                   \
    {                                                                                              \
#k, offsetof(struct receipt_labels, k)                                                     \
    }
    LABEL(copy_receipt),   LABEL(date),          LABEL(counter),     LABEL(served_by),
    LABEL(your_reference), LABEL(quote_it),      LABEL(total),       LABEL(paid_by),
    LABEL(payment),        LABEL(tendered),      LABEL(change),      LABEL(what_next),
    LABEL(scan),           LABEL(method_none),   LABEL(method_cash), LABEL(method_card),
    LABEL(method_cheque),  LABEL(method_waived),
#undef LABEL
};

/* Writes why (snprintf accepts NULL with a zero length) and gives false. The callers'
 * why and why_len are in scope. */
#define FAIL(...) (snprintf(why, why_len, __VA_ARGS__), false)

static bool code_valid(const char *code)
{
    size_t n = strlen(code);
    if (n < 2 || n >= RECEIPT_LANGUAGE_MAX) {
        return false;
    }
    for (const char *p = code; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || *p == '-')) {
            return false;
        }
    }
    return true;
}

/* A string at key of obj, at most max bytes; NULL (and why) otherwise. */
static const char *text_at(const json_t *obj, const char *key, size_t max, const char *path,
                           const char *where, char *why, size_t why_len)
{
    const char *s = json_string_value(json_object_get(obj, key));
    if (s == NULL || s[0] == '\0') {
        (void)FAIL("%s: %s%s is missing or not a string", path, where, key);
        return NULL;
    }
    if (strlen(s) > max) {
        (void)FAIL("%s: %s%s is longer than %zu bytes", path, where, key, max);
        return NULL;
    }
    return s;
}

static bool language_load(struct language *l, const char *dir, const char *code, char *why,
                          size_t why_len)
{
    char path[PATH_MAX_BYTES];
    snprintf(path, sizeof path, "%s/%s.json", dir, code);
    json_error_t err;
    l->doc = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (l->doc == NULL) {
        return err.line > 0 ? FAIL("%s: line %d: %s", path, err.line, err.text)
                            : FAIL("%s: %s", path, err.text);
    }
    const char *declared = json_string_value(json_object_get(l->doc, "language"));
    if (declared == NULL || strcmp(declared, code) != 0) {
        return FAIL("%s: \"language\" must be \"%s\"", path, code);
    }
    const char *dir_s = json_string_value(json_object_get(l->doc, "direction"));
    if (dir_s == NULL || (strcmp(dir_s, "ltr") != 0 && strcmp(dir_s, "rtl") != 0)) {
        return FAIL("%s: \"direction\" must be \"ltr\" or \"rtl\"", path);
    }
    snprintf(l->code, sizeof l->code, "%s", code);
    l->labels.language = l->code;
    l->labels.rtl = strcmp(dir_s, "rtl") == 0;
    const json_t *labels = json_object_get(l->doc, "labels");
    for (size_t i = 0; i < sizeof LABEL_KEYS / sizeof LABEL_KEYS[0]; i++) {
        const char *s =
            text_at(labels, LABEL_KEYS[i].key, RECEIPT_LABEL_MAX, path, "labels.", why, why_len);
        if (s == NULL) {
            return false;
        }
        memcpy((char *)&l->labels + LABEL_KEYS[i].offset, &s, sizeof s);
    }
    /* Optional: without it the PDF's QR code is described in English. */
    if (json_object_get(labels, "qr_alt") != NULL) {
        l->labels.qr_alt =
            text_at(labels, "qr_alt", RECEIPT_LABEL_MAX, path, "labels.", why, why_len);
        if (l->labels.qr_alt == NULL) {
            return false;
        }
    }
    l->name = text_at(l->doc, "name", RECEIPT_LABEL_MAX, path, "", why, why_len);
    l->english_name = text_at(l->doc, "english_name", RECEIPT_LABEL_MAX, path, "", why, why_len);
    if (l->name == NULL || l->english_name == NULL) {
        return false;
    }
    l->footer = text_at(l->doc, "footer", RECEIPT_PARAGRAPH_MAX / 2, path, "", why, why_len);
    l->generic =
        text_at(l->doc, "next_steps_generic", RECEIPT_PARAGRAPH_MAX, path, "", why, why_len);
    if (l->footer == NULL || l->generic == NULL) {
        return false;
    }
    l->next_steps = json_object_get(l->doc, "next_steps");
    if (l->next_steps != NULL && !json_is_object(l->next_steps)) {
        return FAIL("%s: next_steps must be an object keyed by service code", path);
    }
    l->service_names = json_object_get(l->doc, "service_names");
    if (l->service_names != NULL && !json_is_object(l->service_names)) {
        return FAIL("%s: service_names must be an object keyed by service code", path);
    }
    const char *service;
    const json_t *v;
    json_object_foreach((json_t *)l->next_steps, service, v)
    {
        if (text_at(l->next_steps, service, RECEIPT_PARAGRAPH_MAX, path, "next_steps.", why,
                    why_len) == NULL) {
            return false;
        }
    }
    json_object_foreach((json_t *)l->service_names, service, v)
    {
        if (text_at(l->service_names, service, RECEIPT_FIELD_MAX, path, "service_names.", why,
                    why_len) == NULL) {
            return false;
        }
    }
    return true;
}

struct receipt_texts *receipt_texts_load(const char *dir, const char *const *languages, char *why,
                                         size_t why_len)
{
    struct receipt_texts *t = calloc(1, sizeof *t);
    if (t == NULL) {
        (void)FAIL("out of memory");
        return NULL;
    }
    for (size_t i = 0; languages != NULL && languages[i] != NULL; i++) {
        const char *code = languages[i];
        if (strcmp(code, "en") == 0) {
            continue;
        }
        if (!code_valid(code)) {
            (void)FAIL("\"%s\" is not a language code (like \"pl\" or \"ur\")", code);
            goto fail;
        }
        if (receipt_texts_labels(t, code) != NULL) {
            (void)FAIL("language \"%s\" is listed twice", code);
            goto fail;
        }
        if (t->n + 1 >= RECEIPT_LANGUAGES_MAX) {
            (void)FAIL("more than %d languages", RECEIPT_LANGUAGES_MAX - 1);
            goto fail;
        }
        if (!language_load(&t->langs[t->n], dir, code, why, why_len)) {
            json_decref(t->langs[t->n].doc);
            t->langs[t->n].doc = NULL;
            goto fail;
        }
        t->n++;
    }
    return t;
fail:
    receipt_texts_free(t);
    return NULL;
}

void receipt_texts_free(struct receipt_texts *t)
{
    if (t == NULL) {
        return;
    }
    for (size_t i = 0; i < t->n; i++) {
        json_decref(t->langs[i].doc);
    }
    free(t);
}

static const struct language *find(const struct receipt_texts *t, const char *code)
{
    for (size_t i = 0; t != NULL && code != NULL && i < t->n; i++) {
        if (strcmp(t->langs[i].code, code) == 0) {
            return &t->langs[i];
        }
    }
    return NULL;
}

const struct receipt_labels *receipt_texts_labels(const struct receipt_texts *t, const char *code)
{
    if (code != NULL && strcmp(code, "en") == 0) {
        return receipt_labels_english();
    }
    const struct language *l = find(t, code);
    return l != NULL ? &l->labels : NULL;
}

const char *receipt_texts_next_steps(const struct receipt_texts *t, const char *code,
                                     const char *service)
{
    const struct language *l = find(t, code);
    if (l == NULL) {
        return NULL;
    }
    const char *own = json_string_value(json_object_get(l->next_steps, service ? service : ""));
    return own != NULL ? own : l->generic;
}

const char *receipt_texts_service_name(const struct receipt_texts *t, const char *code,
                                       const char *service)
{
    const struct language *l = find(t, code);
    return l != NULL ? json_string_value(json_object_get(l->service_names, service ? service : ""))
                     : NULL;
}

const char *receipt_texts_footer(const struct receipt_texts *t, const char *code)
{
    const struct language *l = find(t, code);
    return l != NULL ? l->footer : NULL;
}

void receipt_texts_list(const struct receipt_texts *t, char *buf, size_t len)
{
    int n = snprintf(buf, len, "en");
    for (size_t i = 0; t != NULL && i < t->n && n > 0 && (size_t)n < len; i++) {
        n += snprintf(buf + n, len - (size_t)n, ", %s", t->langs[i].code);
    }
}

bool receipt_text_fill(const char *pattern, const char *placeholder, const char *value, char *out,
                       size_t len)
{
    const char *at = strstr(pattern, placeholder);
    int n = at == NULL ? snprintf(out, len, "%s", pattern)
                       : snprintf(out, len, "%.*s%s%s", (int)(at - pattern), pattern, value,
                                  at + strlen(placeholder));
    return n >= 0 && (size_t)n < len;
}

bool receipt_text_fill_site(const char *pattern, const char *site, char *out, size_t len)
{
    return receipt_text_fill(pattern, SITE_PLACEHOLDER, site, out, len);
}

bool receipt_texts_at(const struct receipt_texts *t, size_t i, const char **code, const char **name,
                      const char **english_name, bool *rtl)
{
    if (i == 0) {
        *code = "en";
        *name = "English";
        *english_name = "English";
        *rtl = false;
        return true;
    }
    if (t == NULL || i > t->n) {
        return false;
    }
    const struct language *l = &t->langs[i - 1];
    *code = l->code;
    *name = l->name;
    *english_name = l->english_name;
    *rtl = l->labels.rtl;
    return true;
}
