/* routes_receipt_copies: a copy of the receipt by e-mail and/or text message through GOV.UK
 * Notify, and Notify's delivery reports.
 *
 *   POST /api/v1/transactions/{reference}/receipt-copies {"email"?, "phone"?, "language"?}
 *        with Idempotency-Key (staff; the session's site only) -> 202 {"reference","copies"}
 *   POST /api/v1/callbacks/notify  (Notify's callback, "Authorization: Bearer <token>")
 *
 * DESIGN: the request is checked here (a UK mobile number, an e-mail address, a template for
 * the service and language), the e-mailed copy's PDF receipt is rendered here (printing/
 * receipt_pdf.c; it is small and CPU only), and each copy becomes one row of the copy outbox
 * (store/copies.h) holding the Notify request body; the sender thread (notify_sender.c) sends
 * it exactly once. The contact is in that body only, never in a log line, a URL, the audit
 * trail or the idempotency record (whose hash is keyed, and whose answer shows it masked).
 *
 * Callbacks carry the bearer token configured for the service (compared in constant time).
 * Each report is an event ("notify:<id>:<status>") kept in callback_events like the other
 * back-ends' callbacks, so a resent report is answered as before and changes nothing. */
#include "gateway/app.h"
#include "gateway/config.h"
#include "gateway/delivery/connector_notify.h"
#include "gateway/http/receipt_copies.h"
#include "gateway/http/routes.h"
#include "gateway/log.h"
#include "gateway/status_token.h"
#include "gateway/store.h"
#include "gateway/store/copies.h"
#include "gateway/token.h"

#include "printing/receipt_pdf.h"
#include "services/service.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EMAIL_MAX          254 /* RFC 5321's path limit */
#define EMAIL_LOCAL_MAX    64
#define PHONE_INPUT_MAX    32
#define UK_MOBILE_LEN      13 /* "+447" and nine digits */
#define LANGUAGE_MAX       16
#define KEY_MAX            128
#define DEFAULT_LANGUAGE   "en"
#define CALLBACK_EVENT_MAX 200
#define NOTIFY_BACKEND     "notify"
#define CALLBACK_STATUS_OK "|delivered|permanent-failure|temporary-failure|technical-failure|"

static json_t *field_error(const char *field, const char *code, const char *message)
{
    return json_pack("{s:s, s:s, s:s}", "field", field, "code", code, "message", message);
}

/* A plain check of an address's shape: one @, a local part, a dotted domain, no spaces. */
static bool email_valid(const char *e)
{
    size_t n = strlen(e);
    const char *at = strchr(e, '@');
    if (n > EMAIL_MAX || !at || at == e || strchr(at + 1, '@') ||
        (size_t)(at - e) > EMAIL_LOCAL_MAX)
        return false;
    const char *domain = at + 1;
    const char *dot = strrchr(domain, '.');
    if (!dot || dot == domain || !dot[1] || strlen(dot + 1) < 2 || strstr(domain, ".."))
        return false;
    for (const char *p = e; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '<' || *p == '>' || *p == ',' || *p == ';' ||
            *p == '"' || *p == '\\' || (unsigned char)*p == 0x7f)
            return false;
    return domain[0] != '.' && domain[0] != '-';
}

/* A UK mobile number as people write it ("07700 900123", "+44 7700 900123", "0044...") into
 * "+447700900123"; false when it is not one. */
static bool uk_mobile_normalise(const char *in, char out[UK_MOBILE_LEN + 1])
{
    char digits[PHONE_INPUT_MAX + 1];
    size_t n = 0;
    if (strlen(in) > PHONE_INPUT_MAX)
        return false;
    for (const char *p = in; *p; p++) {
        if (isdigit((unsigned char)*p))
            digits[n++] = *p;
        else if (!(*p == ' ' || *p == '-' || *p == '(' || *p == ')' || (*p == '+' && p == in)))
            return false;
    }
    digits[n] = '\0';
    const char *national = NULL;
    if (strncmp(digits, "0044", 4) == 0)
        national = digits + 4;
    else if (strncmp(digits, "44", 2) == 0 && in[0] == '+')
        national = digits + 2;
    else if (digits[0] == '0' && in[0] != '+')
        national = digits + 1;
    else if (strncmp(digits, "44", 2) == 0)
        national = digits + 2;
    if (!national || strlen(national) != 10 || national[0] != '7')
        return false;
    snprintf(out, UK_MOBILE_LEN + 1, "+44%s", national);
    return true;
}

static const struct notify_template *template_find(const struct notify_config *nc,
                                                   const char *service, const char *language)
{
    const struct notify_template *any = NULL;
    for (size_t i = 0; i < nc->templates_len; i++) {
        const struct notify_template *t = &nc->templates[i];
        if (strcmp(t->language, language) != 0)
            continue;
        if (strcmp(t->service, service) == 0)
            return t;
        if (strcmp(t->service, "*") == 0)
            any = t;
    }
    return any;
}

static bool key_valid(const char *key)
{
    size_t n = key ? strlen(key) : 0;
    if (n == 0 || n > KEY_MAX)
        return false;
    for (const char *p = key; *p; p++)
        if (*p <= ' ' || *p > '~')
            return false;
    return true;
}

/* A keyed hash of the request, so the idempotency record does not hold a hash of a contact
 * that anyone could confirm by guessing. */
static void request_hash(const struct app *app, json_t *body, char out[65])
{
    char *canonical = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    const struct secret *k = &app->cfg->status_key;
    HMAC(EVP_sha256(), k->bytes, (int)k->len, (const unsigned char *)(canonical ? canonical : ""),
         canonical ? strlen(canonical) : 0, mac, &n);
    if (canonical) {
        OPENSSL_cleanse(canonical, strlen(canonical));
        free(canonical);
    }
    hex_encode(mac, 32, out);
}

/* ---- the PDF receipt attached to the e-mail ---- */

static time_t iso_time(const char *s)
{
    struct tm tm = {0};
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                     &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        return time(NULL);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return timegm(&tm);
}

/* The receipt as a PDF, base64 (a new string), or NULL. */
static char *receipt_pdf_base64(const struct app *app, json_t *t, const char *service_label,
                                const char *status_url)
{
    struct receipt_line lines[RECEIPT_MAX_LINES];
    json_t *jl = json_object_get(t, "lines");
    size_t n = 0, i;
    json_t *line;
    int64_t others = 0;
    json_array_foreach(jl, i, line)
    {
        const char *d = json_string_value(json_object_get(line, "description"));
        int64_t amount = (int64_t)json_integer_value(json_object_get(line, "amount_pence"));
        if (n == RECEIPT_MAX_LINES - 1 && json_array_size(jl) > RECEIPT_MAX_LINES) {
            others += amount;
            continue;
        }
        lines[n++] = (struct receipt_line){d && *d ? d : "Item", amount};
    }
    if (json_array_size(jl) > RECEIPT_MAX_LINES)
        lines[n++] = (struct receipt_line){"Other items", others};
    json_t *p = json_object_get(t, "payment");
    const char *method = json_string_value(json_object_get(p, "method"));
    bool cash = method && strcmp(method, "cash") == 0;
    const char *site = json_string_value(json_object_get(t, "site"));
    struct receipt r = {
        .council = app->cfg->council_name,
        .site = site && *site ? site : NULL,
        .counter_id = json_string_value(json_object_get(t, "counter")),
        .issued_at = iso_time(json_string_value(json_object_get(t, "created_at"))),
        .service_name = service_label,
        .reference = json_string_value(json_object_get(t, "reference")),
        .lines = lines,
        .n_lines = n,
        .total_pence = (int64_t)json_integer_value(json_object_get(t, "fee_pence")),
        .payment = receipt_payment_of_method(method),
        .tendered_pence = cash ? json_integer_value(json_object_get(p, "tendered_pence")) : 0,
        .change_pence = cash ? json_integer_value(json_object_get(p, "change_pence")) : 0,
        .next_steps = "Keep this reference. The link or QR code shows where your request has "
                      "got to.",
        .status_url = status_url,
        .copy = true,
    };
    unsigned char *pdf = NULL;
    size_t len = 0;
    if (!receipt_render_pdf(&r, RECEIPT_PAPER_A4, &pdf, &len))
        return NULL;
    char *b64 = malloc(4 * ((len + 2) / 3) + 1);
    if (b64)
        EVP_EncodeBlock((unsigned char *)b64, pdf, (int)len);
    free(pdf);
    return b64;
}

/* ---- POST /api/v1/transactions/{reference}/receipt-copies ---- */

struct copy_build {
    struct copy_new copies[2];
    size_t n;
    char *payloads[2];
    char refs[2][COPY_REFERENCE_MAX];
    char masked[2][COPY_MASKED_MAX];
};

static void copy_build_clear(struct copy_build *b)
{
    for (size_t i = 0; i < 2; i++) {
        if (b->payloads[i]) {
            OPENSSL_cleanse(b->payloads[i], strlen(b->payloads[i]));
            free(b->payloads[i]);
        }
    }
}

static bool copy_add(struct copy_build *b, const char *channel, const char *contact_key,
                     const char *contact, const char *template_id, const char *reference,
                     json_t *personalisation, const char *masked)
{
    size_t i = b->n;
    unsigned char rnd[4];
    if (RAND_bytes(rnd, sizeof rnd) != 1)
        return false;
    snprintf(b->refs[i], sizeof b->refs[i], "%s-%s-%02x%02x%02x%02x", reference, channel, rnd[0],
             rnd[1], rnd[2], rnd[3]);
    snprintf(b->masked[i], sizeof b->masked[i], "%s", masked);
    json_t *body =
        json_pack("{s:s, s:s, s:s, s:O}", contact_key, contact, "template_id", template_id,
                  "reference", b->refs[i], "personalisation", personalisation);
    b->payloads[i] = body ? json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(body);
    if (!b->payloads[i])
        return false;
    b->copies[i] = (struct copy_new){channel, b->refs[i], b->payloads[i], b->masked[i]};
    b->n++;
    return true;
}

/* Checks the body into *email / *phone (normalised) and *language; false having answered. */
static bool copies_check(struct app *app, struct http_request *req, json_t *body,
                         const char *service, const char **email, char phone[UK_MOBILE_LEN + 1],
                         const char **language, const struct notify_template **tpl)
{
    json_t *errors = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v)
    {
        if (strcmp(k, "email") && strcmp(k, "phone") && strcmp(k, "language"))
            json_array_append_new(
                errors, field_error(k, "unknown", "Only email, phone and language are taken."));
    }
    json_t *je = json_object_get(body, "email"), *jp = json_object_get(body, "phone");
    json_t *jl = json_object_get(body, "language");
    *email = json_string_value(je);
    const char *ph = json_string_value(jp);
    *language = jl ? json_string_value(jl) : DEFAULT_LANGUAGE;
    phone[0] = '\0';
    if ((je && !json_is_null(je) && !*email) || (*email && !email_valid(*email)))
        json_array_append_new(errors, field_error("email", "invalid",
                                                  "Enter an e-mail address like "
                                                  "name@example.org."));
    if ((jp && !json_is_null(jp) && !ph) || (ph && !uk_mobile_normalise(ph, phone)))
        json_array_append_new(
            errors, field_error("phone", "invalid", "Enter a UK mobile number like 07700 900123."));
    if (!*email && !ph && !json_array_size(errors))
        json_array_append_new(errors, field_error("email", "required",
                                                  "Give an e-mail address, a mobile number or "
                                                  "both."));
    *tpl = NULL;
    if (!*language || strlen(*language) > LANGUAGE_MAX)
        json_array_append_new(
            errors, field_error("language", "invalid", "Give a language code such as en."));
    else if (!(*tpl = template_find(&app->cfg->notify, service, *language)))
        json_array_append_new(errors, field_error("language", "unsupported",
                                                  "Receipt copies are not set up for this "
                                                  "service in that language."));
    else if (*email && !(*tpl)->email)
        json_array_append_new(
            errors, field_error("email", "unsupported", "This service sends no copies by e-mail."));
    else if (ph && !(*tpl)->sms)
        json_array_append_new(errors, field_error("phone", "unsupported",
                                                  "This service sends no copies by text "
                                                  "message."));
    if (json_array_size(errors)) {
        http_reply_invalid(req, errors);
        return false;
    }
    json_decref(errors);
    return true;
}

void route_receipt_copies_create(struct app *app, struct http_request *req)
{
    char reference[STORE_REFERENCE_MAX];
    if (!transaction_reference_param(req, reference, sizeof reference))
        return;
    if (!app->cfg->notify.url) {
        http_reply_error(req, 503, "copies_not_configured",
                         "Receipt copies by e-mail and text are not set up at this council.");
        return;
    }
    const char *key = http_header(req, "Idempotency-Key");
    if (!key_valid(key)) {
        http_reply_error(req, 400, key ? "invalid_idempotency_key" : "missing_idempotency_key",
                         "Send an Idempotency-Key header (1 to 128 printable characters, the "
                         "same for a resend of this request).");
        return;
    }
    json_t *body = http_json_body(req);
    if (!body)
        return;
    json_t *t = NULL;
    if (!transaction_read(app, req, reference, &t))
        return;
    const char *service = json_string_value(json_object_get(t, "service"));
    const struct service *svc = service_registry_find(app->cfg->services, service);
    const char *label = svc ? service_name(svc) : service;
    const char *email = NULL, *language = NULL;
    char phone[UK_MOBILE_LEN + 1];
    const struct notify_template *tpl = NULL;
    char url[RECEIPT_URL_MAX], amount[RECEIPT_MONEY_MAX], hash[65];
    struct copy_build b = {0};
    json_t *personal = NULL;
    if (!copies_check(app, req, body, service, &email, phone, &language, &tpl))
        goto out;
    if (!status_token_url(&app->cfg->status_key, app->cfg->public_base_url, reference, url,
                          sizeof url) ||
        !receipt_format_money((int64_t)json_integer_value(json_object_get(t, "fee_pence")), amount,
                              sizeof amount)) {
        http_reply_error(req, 500, "internal", "The status address could not be made.");
        goto out;
    }
    request_hash(app, body, hash);
    personal = json_pack("{s:s, s:s, s:s, s:s}", "reference", reference, "service", label, "amount",
                         amount, "status_url", url);
    char masked[COPY_MASKED_MAX];
    bool ok = true;
    if (email) {
        char *pdf = receipt_pdf_base64(app, t, label, url);
        json_t *with_file = json_deep_copy(personal);
        if (pdf)
            json_object_set_new(with_file, "link_to_file",
                                json_pack("{s:s, s:b}", "file", pdf, "is_csv", 0));
        free(pdf);
        ok =
            pdf && notify_mask_email(email, masked, sizeof masked) &&
            copy_add(&b, "email", "email_address", email, tpl->email, reference, with_file, masked);
        json_decref(with_file);
    }
    if (ok && phone[0])
        ok = notify_mask_phone(phone, masked, sizeof masked) &&
             copy_add(&b, "sms", "phone_number", phone, tpl->sms, reference, personal, masked);
    if (!ok) {
        http_reply_error(req, 500, "internal", "The copy could not be prepared.");
        goto out;
    }
    const struct staff_session *s = http_session(req);
    struct copy_request rq = {.reference = reference,
                              .staff = s->staff.username,
                              .counter = s->counter,
                              .idempotency_key = key,
                              .request_hash = hash,
                              .copies = b.copies,
                              .copies_len = b.n,
                              .now = time(NULL)};
    int status = 0;
    char *response = NULL;
    enum store_result r = store_copies_request(app->store, &rq, &status, &response);
    if (r != STORE_OK) {
        http_reply_store_error(req, r);
    } else if (status == 429) {
        char message[160];
        snprintf(message, sizeof message,
                 "This transaction has had %d copies sent already; no more can be sent.",
                 COPIES_PER_TRANSACTION_MAX);
        http_reply_error(req, 429, "too_many_copies", message);
    } else if (status == 409) {
        http_reply_error(req, 409, "idempotency_conflict",
                         "This Idempotency-Key was already used for a different request. Start a "
                         "new request with a new key.");
    } else {
        log_msg(LOG_INFO, "receipt_copy_requested", "%zu receipt cop%s of %s requested by %s", b.n,
                b.n == 1 ? "y" : "ies", reference, s->staff.username);
        http_reply_json(req, status, json_loads(response ? response : "{}", 0, NULL));
    }
    free(response);
out:
    copy_build_clear(&b);
    json_decref(personal);
    json_decref(t);
    json_object_clear(body); /* the contact leaves memory now (the request owns body) */
}

/* ---- the copies on a transaction ---- */

void receipt_copies_attach(struct app *app, const char *reference, json_t *t, bool with_contact)
{
    json_t *copies = NULL;
    if (store_copies_json(app->store, reference, &copies) != STORE_OK) {
        json_object_set_new(t, "receipt_copies", json_null());
        return;
    }
    if (!with_contact) {
        size_t i;
        json_t *c;
        json_array_foreach(copies, i, c) json_object_del(c, "to");
    }
    json_object_set_new(t, "receipt_copies", copies);
}

/* ---- POST /api/v1/callbacks/notify ---- */

static bool bearer_ok(const struct app *app, struct http_request *req)
{
    const struct secret *want = &app->cfg->notify.callback_token;
    const char *h = http_header(req, "Authorization");
    static const char prefix[] = "Bearer ";
    if (!want->len || !h || strncmp(h, prefix, sizeof prefix - 1) != 0)
        return false;
    const char *got = h + sizeof prefix - 1;
    return strlen(got) == want->len && CRYPTO_memcmp(got, want->bytes, want->len) == 0;
}

void route_notify_callback(struct app *app, struct http_request *req)
{
    if (!bearer_ok(app, req)) { /* also when copies are not configured: no token is ours */
        log_msg(LOG_WARN, "callback_refused", "callback from notify refused: bad bearer token");
        http_reply_error(req, 401, "bad_token", "The callback's bearer token is not ours.");
        return;
    }
    json_t *body = http_json_body(req);
    if (!body)
        return;
    const char *id = json_string_value(json_object_get(body, "id"));
    const char *ref = json_string_value(json_object_get(body, "reference"));
    const char *status = json_string_value(json_object_get(body, "status"));
    char needle[64];
    snprintf(needle, sizeof needle, "|%.40s|", status ? status : "");
    json_t *errors = json_array();
    if (!id || !*id || strlen(id) >= COPY_ID_MAX)
        json_array_append_new(errors, field_error("id", "required", "Notify's id is required."));
    if (!status || !strstr(CALLBACK_STATUS_OK, needle))
        json_array_append_new(errors, field_error("status", "unsupported",
                                                  "Use delivered, permanent-failure, "
                                                  "temporary-failure or technical-failure."));
    if (ref && strlen(ref) >= COPY_REFERENCE_MAX)
        json_array_append_new(errors, field_error("reference", "invalid", "Too long."));
    if (json_array_size(errors)) {
        http_reply_invalid(req, errors);
        return;
    }
    json_decref(errors);
    char event_id[CALLBACK_EVENT_MAX], hash[65], stored_hash[65];
    snprintf(event_id, sizeof event_id, "notify:%s:%s", id, status);
    /* the body holds the contact ("to"): only the event's own fields are hashed */
    char basis[CALLBACK_EVENT_MAX + COPY_REFERENCE_MAX];
    snprintf(basis, sizeof basis, "%s|%s", event_id, ref ? ref : "");
    unsigned char digest[32];
    unsigned int dn = 0;
    EVP_Digest(basis, strlen(basis), digest, &dn, EVP_sha256(), NULL);
    hex_encode(digest, sizeof digest, hash);
    int stored_status = 0;
    char *stored = NULL;
    enum store_result r = store_callback_find(app->store, NOTIFY_BACKEND, event_id, stored_hash,
                                              &stored_status, &stored);
    if (r == STORE_OK) {
        /* a resend of the same report: the same answer, nothing changes */
        free(stored);
        http_reply_json(req, stored_status, NULL);
        return;
    }
    if (r != STORE_NOT_FOUND) {
        http_reply_store_error(req, r);
        return;
    }
    r = store_copy_report(app->store, ref, id, status, time(NULL));
    if (r == STORE_NOT_FOUND) {
        http_reply_error(req, 404, "not_found", "No receipt copy has that reference or id.");
        return;
    }
    if (r != STORE_OK) {
        http_reply_store_error(req, r);
        return;
    }
    log_msg(LOG_INFO, "receipt_copy_reported", "Notify reports %s for notification %s", status, id);
    if (store_callback_record(app->store, NOTIFY_BACKEND, event_id, hash, 204, "",
                              app->cfg->access.callback_replay_window_s) != STORE_OK)
        log_msg(LOG_WARN, "callback_unrecorded",
                "callback from notify was acted on but its event id could not be stored");
    http_reply_json(req, 204, NULL);
}
