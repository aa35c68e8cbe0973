/* routes_transactions: quotes, the durable commit of a transaction, reading them back,
 * and the supervisor's view of failed deliveries.
 *
 * POST /api/v1/transactions runs in two halves. On the HTTP thread: shape checks, the
 * Idempotency-Key, a first evaluation against a read connection (so most 422s never reach
 * the writer), and the payment. Then the request is deferred and a store job runs on the
 * writer thread inside the group's database transaction: the idempotency record is looked
 * up again, the service is evaluated again against the writer's own view (so two counters
 * racing for the same vehicle cannot both win), and the transaction, payment, keys, outbox
 * row, print job, idempotency record and audit entry are inserted; what the sale changes
 * besides itself (earlier index entries it ends, stock it takes) is applied in the same
 * write. The reply goes out from the job's done callback — after COMMIT returned, so a 201
 * means "on disk". */
#include "common/uktime.h"
#include "gateway/app.h"
#include "gateway/config.h"
#include "gateway/digest.h"
#include "gateway/failpoint.h"
#include "gateway/log.h"
#include "gateway/payment.h"
#include "gateway/receipt_options.h"
#include "gateway/http/access.h"
#include "gateway/json_text.h"
#include "gateway/http/receipt_copies.h"
#include "gateway/http/routes.h"
#include "gateway/status_token.h"
#include "gateway/strbuf.h"
#include "gateway/store.h"
#include "gateway/store/referral.h"
#include "gateway/store/money.h"
#include "gateway/store/stock.h"
#include "gateway/store/till.h"
#include "gateway/token.h"

#include "services/reference.h"
#include "services/service.h"
#include "services/validators.h"

#include <ctype.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define IDEMPOTENCY_KEY_MAX 128
#define REFERENCE_ATTEMPTS  8
#define STATUS_URL_MAX      512
#define FAILED_LIST_MAX     200           /* failed deliveries shown to a supervisor at once */
#define REPLY_TEXT_MAX      (1024 * 1024) /* a 201 reply's text; its lines are the bulk */
#define APPEND(b, literal)  strbuf_append(b, literal, sizeof literal - 1)

void route_field_error(json_t *errors, const char *field, const char *code, const char *message)
{
    json_array_append_new(
        errors, json_pack("{s:s?, s:s, s:s}", "field", field, "code", code, "message", message));
}

/* The UTC instants at which a Europe/London calendar day starts and ends. */
static void london_day_bounds(struct validators_date d, time_t *from, time_t *until)
{
    struct validators_date next;
    if (!validators_date_add_days(d, 1, &next))
        next = d;
    *from = uktime_from_local(d.year, d.month, d.day, 0, 0);
    *until = uktime_from_local(next.year, next.month, next.day, 0, 0);
}

static void today_london(char out[11])
{
    struct validators_date d = validators_date_today_london(time(NULL));
    validators_date_format(d, out);
}

/* The context a service's rules see: today, and the counter's site, the staff member and
 * their role when a session is known (counter NULL when not). The strings are borrowed. */
static void rules_context(const struct app *app, const char *counter_name, enum staff_role role,
                          const char *staff, const char *today, struct service_context *out)
{
    const struct counter_config *counter =
        counter_name ? config_counter(app->cfg, counter_name) : NULL;
    *out = (struct service_context){
        .today = today,
        .site = counter ? counter->site : NULL,
        .counter = counter_name,
        .role = counter_name ? staff_role_name(role) : NULL,
        .staff = counter_name ? staff : NULL,
    };
}

/* rules_context for the session (NULL: none). */
static void session_rules_context(const struct app *app, const struct staff_session *session,
                                  const char *today, struct service_context *out)
{
    if (session)
        rules_context(app, session->counter, session->staff.role, session->staff.username, today,
                      out);
    else
        rules_context(app, NULL, ROLE_ASSISTANT, NULL, today, out);
}

/* ---- service lookups for the rules: a read connection, or the writer's transaction ---- */

static long lookup_read(void *ctx, const char *key, const char *value, const char *on)
{
    return store_count_live(ctx, key, value, on);
}

static long lookup_tx(void *ctx, const char *key, const char *value, const char *on)
{
    return store_tx_count_live(ctx, key, value, on);
}

static long peak_read(void *ctx, const char *key, const char *value, const char *from,
                      const char *until)
{
    return store_max_live(ctx, key, value, from, until);
}

static long peak_tx(void *ctx, const char *key, const char *value, const char *from,
                    const char *until)
{
    return store_tx_max_live(ctx, key, value, from, until);
}

static int latest_read(void *ctx, const char *key, const char *value, char *until)
{
    return store_latest_until(ctx, key, value, until, SERVICE_DATE_SIZE);
}

static int latest_tx(void *ctx, const char *key, const char *value, char *until)
{
    return store_tx_latest_until(ctx, key, value, until, SERVICE_DATE_SIZE);
}

static int referral_read(void *ctx, const char *lookup_id, json_t **record)
{
    return store_referral_lookup_get(ctx, lookup_id, record);
}

static int referral_tx(void *ctx, const char *lookup_id, json_t **record)
{
    return store_tx_referral_lookup_get(ctx, lookup_id, record);
}

/* ---- the HTTP thread's evaluation, taken by the job when the store still answers the same ----
 *
 * The HTTP thread evaluates a sale's rules on a read connection (a rule error answers before
 * the job is queued); the job must decide on what its own transaction sees. The rules are a
 * function of the fields, the context and the store's answers (service_evaluation_repeatable),
 * so the HTTP thread notes every question and answer, and the job asks the same questions in
 * its transaction: when every answer is the same, the earlier evaluation is the one the rules
 * would give again and the job takes it; else (or when a question was not noted: a referral
 * look-up, too many, too long) it evaluates afresh. */

#define LOOKUP_LOG_MAX  8   /* questions noted per sale (a permit asks one or two) */
#define LOOKUP_TEXT_MAX 480 /* bytes of all the noted keys and values together, with NULs */

enum lookup_kind { LOOKUP_COUNT_LIVE, LOOKUP_MAX_LIVE, LOOKUP_LATEST_UNTIL };

struct lookup_entry {
    enum lookup_kind kind;
    unsigned short key, value; /* offsets of the noted key and value in the log's text */
    char from[SERVICE_DATE_SIZE], until[SERVICE_DATE_SIZE]; /* on: from */
    bool from_null, until_null;                             /* asked with NULL there */
    long answer;
    char latest[SERVICE_DATE_SIZE]; /* LOOKUP_LATEST_UNTIL's until */
};

/* Within HTTP_MALLOC_SMALL_MAX (see http.h), the texts sharing one buffer: with a buffer per
 * key and value it was 2.5 KiB, and its malloc ran malloc_consolidate once per sale. */
struct lookup_log {
    struct store *store;
    int len;
    bool incomplete;  /* a question not noted: the evaluation cannot be taken */
    size_t text_used; /* bytes of text taken */
    struct lookup_entry entries[LOOKUP_LOG_MAX];
    char text[LOOKUP_TEXT_MAX];
};

_Static_assert(LOOKUP_TEXT_MAX <= USHRT_MAX, "text offsets fit an unsigned short");
_Static_assert(sizeof(struct lookup_log) <= HTTP_MALLOC_SMALL_MAX, "a small-bin allocation");

static bool copy_text(char *out, size_t size, const char *text)
{
    size_t n = text ? strlen(text) : 0;
    if (!text || n >= size)
        return false;
    memcpy(out, text, n + 1);
    return true;
}

/* Copies text into the log's text buffer at *offset; false when it does not fit. */
static bool note_text(struct lookup_log *log, const char *text, unsigned short *offset)
{
    if (!copy_text(log->text + log->text_used, sizeof log->text - log->text_used, text))
        return false;
    *offset = (unsigned short)log->text_used;
    log->text_used += strlen(text) + 1;
    return true;
}

/* The next entry for this question, or NULL (the log then incomplete). */
static struct lookup_entry *lookup_note(struct lookup_log *log, enum lookup_kind kind,
                                        const char *key, const char *value, const char *from,
                                        const char *until)
{
    struct lookup_entry *e = log->len < LOOKUP_LOG_MAX ? &log->entries[log->len] : NULL;
    if (!e || !note_text(log, key, &e->key) || !note_text(log, value, &e->value) ||
        !copy_text(e->from, sizeof e->from, from ? from : "") ||
        !copy_text(e->until, sizeof e->until, until ? until : "")) {
        log->incomplete = true;
        return NULL;
    }
    e->kind = kind;
    e->from_null = !from;
    e->until_null = !until;
    log->len++;
    return e;
}

static long lookup_noted(void *ctx, const char *key, const char *value, const char *on)
{
    struct lookup_log *log = ctx;
    long n = store_count_live(log->store, key, value, on);
    struct lookup_entry *e = lookup_note(log, LOOKUP_COUNT_LIVE, key, value, on, NULL);
    if (e)
        e->answer = n;
    return n;
}

static long peak_noted(void *ctx, const char *key, const char *value, const char *from,
                       const char *until)
{
    struct lookup_log *log = ctx;
    long n = store_max_live(log->store, key, value, from, until);
    struct lookup_entry *e = lookup_note(log, LOOKUP_MAX_LIVE, key, value, from, until);
    if (e)
        e->answer = n;
    return n;
}

static int latest_noted(void *ctx, const char *key, const char *value, char *until)
{
    struct lookup_log *log = ctx;
    int found = store_latest_until(log->store, key, value, until, SERVICE_DATE_SIZE);
    struct lookup_entry *e = lookup_note(log, LOOKUP_LATEST_UNTIL, key, value, NULL, NULL);
    if (e) {
        e->answer = found;
        if (!copy_text(e->latest, sizeof e->latest, found > 0 ? until : ""))
            log->incomplete = true;
    }
    return found;
}

static int referral_noted(void *ctx, const char *lookup_id, json_t **record)
{
    struct lookup_log *log = ctx;
    log->incomplete = true; /* a record is not compared: the job evaluates afresh */
    return store_referral_lookup_get(log->store, lookup_id, record);
}

/* True when tx answers every noted question as the read connection did. */
static bool lookup_log_holds(const struct lookup_log *log, struct store_tx *tx)
{
    if (log->incomplete)
        return false;
    for (int i = 0; i < log->len; i++) {
        const struct lookup_entry *e = &log->entries[i];
        const char *key = log->text + e->key, *value = log->text + e->value;
        char latest[SERVICE_DATE_SIZE] = "";
        long answer = -1;
        switch (e->kind) {
        case LOOKUP_COUNT_LIVE:
            answer = store_tx_count_live(tx, key, value, e->from_null ? NULL : e->from);
            break;
        case LOOKUP_MAX_LIVE:
            answer = store_tx_max_live(tx, key, value, e->from_null ? NULL : e->from,
                                       e->until_null ? NULL : e->until);
            break;
        case LOOKUP_LATEST_UNTIL:
            answer = store_tx_latest_until(tx, key, value, latest, sizeof latest);
            if (answer > 0 && strcmp(latest, e->latest) != 0)
                return false;
            break;
        }
        if (answer < 0 || answer != e->answer)
            return false;
    }
    return true;
}

/* Frees an evaluation kept for the job and its noted questions; safe on NULLs. */
static void evaluated_free(struct service_evaluation *ev, struct lookup_log *asked)
{
    if (ev)
        service_evaluation_clear(ev);
    free(ev);
    free(asked);
}

/* Finds the service named by the body; replies 422 itself when it is missing or unknown. */
static const struct service *body_service(struct app *app, struct http_request *req, json_t *body)
{
    const char *code = json_string_value(json_object_get(body, "service"));
    const struct service *s = code ? service_registry_find(app->cfg->services, code) : NULL;
    if (!s) {
        json_t *errors = json_array();
        route_field_error(errors, "service", code ? "unknown_service" : "required",
                          code ? "There is no such service at this counter." : "Choose a service.");
        http_reply_invalid(req, errors);
    }
    return s;
}

bool route_check_body_keys(json_t *body, const char *const *allowed, json_t *errors)
{
    const char *key;
    json_t *v;
    bool ok = true;
    json_object_foreach(body, key, v)
    {
        bool known = false;
        for (const char *const *a = allowed; *a; a++)
            known |= strcmp(*a, key) == 0;
        if (!known) {
            route_field_error(errors, key, "unknown_field", "This is not part of the request.");
            ok = false;
        }
    }
    return ok;
}

static json_t *fields_of(json_t *body, json_t *errors)
{
    json_t *fields = json_object_get(body, "fields");
    if (!json_is_object(fields)) {
        route_field_error(errors, "fields", fields ? "invalid" : "required",
                          "The service's fields are missing.");
        return NULL;
    }
    return fields;
}

/* Prefixes each service field error's name with "fields." so the counter app can place it. */
static void append_field_errors(json_t *errors, json_t *service_errors)
{
    size_t i;
    json_t *e;
    json_array_foreach(service_errors, i, e)
    {
        json_t *copy = json_deep_copy(e);
        const char *field = json_string_value(json_object_get(e, "field"));
        if (field) {
            char name[160];
            snprintf(name, sizeof name, "fields.%s", field);
            json_object_set_new(copy, "field", json_string(name));
        }
        json_array_append_new(errors, copy);
    }
}

/* ---- POST /api/v1/quotes ---- */

void route_quote(struct app *app, struct http_request *req)
{
    json_t *body = http_json_body(req);
    if (!body)
        return;
    const struct service *s = body_service(app, req, body);
    if (!s)
        return;
    json_t *errors = json_array();
    static const char *const allowed[] = {"service", "fields", NULL};
    route_check_body_keys(body, allowed, errors);
    json_t *fields = fields_of(body, errors);
    if (json_array_size(errors)) {
        http_reply_invalid(req, errors);
        return;
    }
    char today[11];
    today_london(today);
    struct service_lookup lookup = {app->store, lookup_read, peak_read, latest_read, referral_read};
    struct service_context context;
    session_rules_context(app, http_session(req), today, &context);
    struct service_evaluation ev;
    service_evaluate_in(s, fields, &context, &lookup, &ev);
    if (ev.store_failed) {
        service_evaluation_clear(&ev);
        json_decref(errors);
        http_reply_store_error(req, STORE_UNAVAILABLE);
        return;
    }
    if (json_array_size(ev.errors)) {
        append_field_errors(errors, ev.errors);
        service_evaluation_clear(&ev);
        http_reply_invalid(req, errors);
        return;
    }
    json_decref(errors);
    json_t *reply = json_pack("{s:s, s:I, s:O}", "service", service_code(s), "fee_pence",
                              (json_int_t)ev.fee_pence, "lines", ev.lines);
    service_evaluation_clear(&ev);
    http_reply_json(req, 200, reply);
}

/* ---- POST /api/v1/transactions ---- */

struct create {
    struct app *app;
    struct http_request *req;
    const struct service *service;
    json_t *fields; /* borrowed from the request body */
    char today[11];
    char idempotency_key[IDEMPOTENCY_KEY_MAX + 1];
    char request_hash[65];
    struct payment payment;
    /* who sells, and where: copied from the session, which the job must not read */
    char staff[sizeof((struct staff *)0)->username];
    char counter[sizeof((struct staff_session *)0)->counter];
    enum staff_role role;
    const char *site;
    const char *printer;
    struct receipt_options receipt;
    /* the outcome, set by the job */
    int status;
    json_t *reply;
    char *reply_text; /* the 201 reply as stored for replays: sent as it is (no second dump) */
    char reference[STORE_REFERENCE_MAX];
    struct store_job job;
    /* the first attempt's reference and status URL, made before the job is queued: random
     * and keyed-hash work that needs no store, kept off the writer thread. The URL is
     * allocated to its length (the whole struct then stays under 1 KiB: glibc serves that
     * from its small bins instead of sweeping its fast bins for a large request per sale). */
    bool prepared;
    /* the HTTP thread's evaluation (valid, payment settled) and what it asked of the store,
     * taken by the job when the store still answers the same; NULL when there is none */
    struct service_evaluation *evaluated;
    struct lookup_log *asked;
    /* with it, its texts as the job stores them (owned; NULL: none, the job dumps its own):
     * the fields, the lines, and the back-end payload for the prepared reference */
    char *fields_json, *lines_json, *payload_json;
    char status_url[];
};

bool idempotency_key_valid(const char *key)
{
    size_t n = key ? strlen(key) : 0;
    if (n == 0 || n > IDEMPOTENCY_KEY_MAX)
        return false;
    for (const char *p = key; *p; p++)
        if (*p <= ' ' || *p > '~')
            return false;
    return true;
}

void idempotency_request_hash(json_t *body, char out[65])
{
    unsigned char digest[DIGEST_SHA256_LEN];
    if (!digest_sha256_json(body, JSON_COMPACT | JSON_SORT_KEYS, digest)) {
        /* out of memory on the fast path: the text, as before */
        char *canonical = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
        unsigned int n = 0;
        EVP_Digest(canonical ? canonical : "", canonical ? strlen(canonical) : 0, digest, &n,
                   EVP_sha256(), NULL);
        free(canonical);
    }
    hex_encode(digest, sizeof digest, out);
}

static json_t *replay_reply(const char *stored)
{
    json_t *v = json_loads(stored, 0, NULL);
    return v ? v
             : json_pack("{s:{s:s, s:s}}", "error", "code", "internal_error", "message",
                         "The stored reply could not be read.");
}

static json_t *conflict_reply(void)
{
    return json_pack("{s:{s:s, s:s}}", "error", "code", "idempotency_conflict", "message",
                     "This Idempotency-Key was already used for a different transaction. Start a "
                     "new transaction (the app makes a new key).");
}

static json_t *invalid_reply(json_t *fields)
{
    size_t n = json_array_size(fields);
    char message[128];
    snprintf(message, sizeof message, "%zu field%s need%s attention", n, n == 1 ? "" : "s",
             n == 1 ? "s" : "");
    return json_pack("{s:{s:s, s:s, s:o}}", "error", "code", "validation_failed", "message",
                     message, "fields", fields);
}

/* The error when the site has too few packs: on the stock's quantity field. */
static json_t *out_of_stock_errors(const struct service *s)
{
    const json_t *stock = service_stock_item(s);
    const char *field = json_string_value(json_object_get(stock, "quantity_field"));
    const char *name = json_string_value(json_object_get(stock, "name"));
    char where[160];
    snprintf(where, sizeof where, "fields.%s", field ? field : "quantity");
    json_t *errors = json_array();
    json_array_append_new(errors, json_pack("{s:s, s:s, s:s+}", "field", where, "code",
                                            "out_of_stock", "message", name ? name : "Stock",
                                            ": none left at this site (or fewer than asked "
                                            "for). Record a delivery when stock arrives."));
    return errors;
}

/* Applies what the evaluation says the sale changes besides itself, in the sale's own database
 * transaction: the earlier index entries it ends, and the stock it draws from the counter's
 * site. STORE_INVALID when the site has too few: the sale is rolled back. */
static enum store_result apply_side_effects(struct create *c, struct store_tx *tx,
                                            const struct service_evaluation *ev, time_t now)
{
    size_t i;
    const json_t *take;
    /* the earlier entries this sale ends (a replaced card), in the same transaction */
    json_array_foreach(ev->ends, i, take)
    {
        enum store_result r =
            store_tx_keys_end(tx, json_string_value(json_object_get(take, "name")),
                              json_string_value(json_object_get(take, "value")),
                              json_string_value(json_object_get(take, "live_until")));
        if (r != STORE_OK)
            return r == STORE_INVALID ? STORE_UNAVAILABLE : r;
    }
    enum store_result taken = transaction_documents_take(tx, c->service, ev->fields, c->reference);
    if (taken != STORE_OK)
        return taken == STORE_INVALID ? STORE_UNAVAILABLE : taken;
    json_array_foreach(ev->stock, i, take)
    {
        enum store_result r =
            store_tx_stock_take(tx, c->site, json_string_value(json_object_get(take, "item")),
                                (long)json_integer_value(json_object_get(take, "quantity")),
                                c->reference, c->staff, now);
        if (r != STORE_OK)
            return r;
    }
    return STORE_OK;
}

/* A sale with a fee is a movement in the counter's open till, in the sale's own database
 * transaction. STORE_INVALID with a 409 reply when the till is not open (nothing is kept). */
static enum store_result till_take(struct create *c, struct store_tx *tx, const struct payment *pay,
                                   time_t now)
{
    struct till_movement m = {.counter = c->counter,
                              .day = c->today,
                              .kind = TILL_SALE,
                              .method = pay->method,
                              .amount_pence = pay->amount_pence,
                              .reference = c->reference,
                              .staff = c->staff,
                              .now = now};
    enum store_result r = till_movement_counts(pay->method, pay->amount_pence)
                              ? store_tx_till_move(tx, &m)
                              : store_tx_till_check(tx, m.counter, m.day);
    if (r != STORE_NOT_FOUND && r != STORE_CONFLICT)
        return r;
    c->status = 409;
    c->reply = json_pack("{s:{s:s, s:s}}", "error", "code",
                         r == STORE_NOT_FOUND ? "till_not_open" : "till_closed", "message",
                         r == STORE_NOT_FOUND
                             ? "The till at this counter is not open today. Open the till (count "
                               "the float in) before taking a payment."
                             : "The till at this counter has been counted or cashed up for today "
                               "and cannot take payments. Use another counter's till.");
    return STORE_INVALID;
}

/* The 201 reply, written straight into one buffer: byte for byte what json_dumps(JSON_COMPACT)
 * gave for the object {reference, service, status, fee_pence, payment_method, amount_pence,
 * change_pence, lines, status_url, print_state (null without a printer), receipt (only with
 * one)}, members in that order, with the lines' own dump (lines_json) spliced in rather than
 * dumped a second time. It is stored for replays and sent as it is. NULL when out of memory
 * or a text is not valid UTF-8 (where json_pack failed before). The caller frees it. */
static char *created_reply(const struct create *c, bool forwarded,
                           const struct service_evaluation *ev, const struct payment *pay,
                           const char *lines_json, const char *status_url)
{
    struct strbuf b;
    strbuf_init(&b, REPLY_TEXT_MAX);
    bool ok = APPEND(&b, "{\"reference\":") && strbuf_json_string(&b, c->reference) &&
              APPEND(&b, ",\"service\":") && strbuf_json_string(&b, service_code(c->service)) &&
              APPEND(&b, ",\"status\":") &&
              strbuf_json_string(&b, forwarded ? "accepted" : "completed") &&
              APPEND(&b, ",\"fee_pence\":") && strbuf_json_int(&b, ev->fee_pence) &&
              APPEND(&b, ",\"payment_method\":") && strbuf_json_string(&b, pay->method) &&
              APPEND(&b, ",\"amount_pence\":") && strbuf_json_int(&b, pay->amount_pence) &&
              APPEND(&b, ",\"change_pence\":") && strbuf_json_int(&b, pay->change_pence) &&
              APPEND(&b, ",\"lines\":") && strbuf_append(&b, lines_json, strlen(lines_json)) &&
              APPEND(&b, ",\"status_url\":") && strbuf_json_string(&b, status_url);
    if (ok && !c->printer)
        ok = APPEND(&b, ",\"print_state\":null");
    else if (ok)
        ok = APPEND(&b, ",\"print_state\":\"pending\",\"receipt\":{\"size\":") &&
             strbuf_json_string(&b, c->receipt.size) && APPEND(&b, ",\"language\":") &&
             strbuf_json_string(&b, c->receipt.language) && APPEND(&b, "}");
    ok = ok && APPEND(&b, "}");
    if (!ok) {
        strbuf_free(&b);
        return NULL;
    }
    return strbuf_take(&b, NULL);
}

/* Runs on the writer thread inside the group's database transaction. */
/* Frees what the job evaluated itself; leaves a borrowed evaluation to c. */
static void evaluation_release(struct service_evaluation *ev, bool borrowed)
{
    if (!borrowed)
        service_evaluation_clear(ev);
}

static enum store_result create_run(struct store_tx *tx, void *arg)
{
    struct create *c = arg;
    /* the writer may run a job more than once (a refused job in its group, or a group the
     * engine asks to retry: writer.c): what an earlier run left is dropped, not leaked */
    json_decref(c->reply);
    c->reply = NULL;
    free(c->reply_text);
    c->reply_text = NULL;
    c->status = 0;
    char stored_hash[65];
    int stored_status = 0;
    char *stored = NULL;
    enum store_result r = store_tx_idempotency_find(tx, c->staff, c->idempotency_key, stored_hash,
                                                    &stored_status, &stored);
    if (r == STORE_OK) {
        bool same = strcmp(stored_hash, c->request_hash) == 0;
        c->status = same ? 200 : 409;
        c->reply = same ? replay_reply(stored) : conflict_reply();
        free(stored);
        return STORE_OK; /* nothing written */
    }
    if (r != STORE_NOT_FOUND)
        return r;

    /* the HTTP thread's evaluation when the store answers its questions the same (borrowed:
     * read only here, freed with c), else the rules run again in this transaction */
    bool borrowed = c->evaluated && lookup_log_holds(c->asked, tx);
    struct service_evaluation ev;
    if (borrowed) {
        ev = *c->evaluated;
    } else {
        struct service_lookup lookup = {tx, lookup_tx, peak_tx, latest_tx, referral_tx};
        struct service_context context;
        rules_context(c->app, c->counter, c->role, c->staff, c->today, &context);
        service_evaluate_in(c->service, c->fields, &context, &lookup, &ev);
    }
    if (ev.store_failed) {
        evaluation_release(&ev, borrowed);
        return STORE_UNAVAILABLE;
    }
    json_t *errors = json_array();
    append_field_errors(errors, ev.errors);
    struct payment pay = c->payment;
    if (!json_array_size(ev.errors))
        payment_settle(&pay, ev.fee_pence, errors);
    if (json_array_size(errors)) {
        c->status = 422;
        c->reply = invalid_reply(errors);
        evaluation_release(&ev, borrowed);
        return STORE_INVALID;
    }
    json_decref(errors);
    errors = NULL;
    r = transaction_documents_check(c->app, tx, c->service, ev.fields, ev.lines, c->counter,
                                    &errors);
    if (r != STORE_OK) {
        if (r == STORE_INVALID) {
            c->status = 422;
            c->reply = invalid_reply(errors);
        }
        evaluation_release(&ev, borrowed);
        return r;
    }

    const struct service *s = c->service;
    const struct config *cfg = c->app->cfg;
    const char *route = ev.backend ? ev.backend : service_backend(s);
    const struct backend_config *backend = route ? config_backend(cfg, route) : NULL;
    /* the texts made with the HTTP thread's evaluation when the job took it (c's), else dumped
     * here (the job's, freed below) */
    bool texts_made = borrowed && c->fields_json && c->lines_json;
    char *fields_json = texts_made ? c->fields_json : json_dumps(ev.fields, JSON_COMPACT);
    char *lines_json = texts_made ? c->lines_json : json_dumps(ev.lines, JSON_COMPACT);
    r = STORE_CONFLICT;
    for (int attempt = 0; attempt < REFERENCE_ATTEMPTS && r == STORE_CONFLICT; attempt++) {
        char status_url[STATUS_URL_MAX], delivery_key[64];
        if (attempt == 0 && c->prepared) {
            snprintf(status_url, sizeof status_url, "%s", c->status_url);
        } else {
            if (!reference_generate(service_reference_prefix(s), c->reference,
                                    sizeof c->reference)) {
                r = STORE_UNAVAILABLE;
                break;
            }
            if (!status_token_url(&cfg->status_key, cfg->public_base_url, c->reference, status_url,
                                  sizeof status_url)) {
                r = STORE_INVALID;
                break;
            }
        }
        snprintf(delivery_key, sizeof delivery_key, "onestop-%s", c->reference);
        bool payload_made = attempt == 0 && c->prepared && borrowed && c->payload_json && backend;
        char *payload_json = payload_made ? c->payload_json : NULL;
        if (!payload_made) {
            json_t *payload = backend ? service_backend_payload(s, &ev, c->reference) : NULL;
            payload_json = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
            json_decref(payload);
        }
        char *reply_json =
            lines_json ? created_reply(c, backend != NULL, &ev, &pay, lines_json, status_url)
                       : NULL;
        struct txn_record rec = {
            .reference = c->reference,
            .service = service_code(s),
            .counter = c->counter,
            .site = c->site,
            .staff = c->staff,
            .fields_json = fields_json,
            .fee_pence = ev.fee_pence,
            .lines_json = lines_json,
            .keys = ev.keys,
            .live_until = ev.live_until,
            .method = pay.method,
            .amount_pence = pay.amount_pence,
            .tendered_pence = pay.tendered_pence,
            .change_pence = pay.change_pence,
            .auth_code = pay.auth_code[0] ? pay.auth_code : NULL,
            .reason = pay.reason[0] ? pay.reason : NULL,
            .authorised_by = strcmp(pay.method, "waived") == 0 ? c->staff : NULL,
            .backend = backend ? backend->name : NULL,
            .connector = backend ? backend->connector : NULL,
            .payload_json = payload_json,
            .delivery_key = delivery_key,
            .printer = c->printer,
            .receipt_size = c->receipt.size,
            .receipt_language = c->receipt.language,
            .idempotency_key = c->idempotency_key,
            .request_hash = c->request_hash,
            .response_status = 201,
            .response_json = reply_json,
            .now = time(NULL),
        };
        r = (fields_json && lines_json && reply_json && (payload_json || !backend))
                ? store_tx_transaction_insert(tx, &rec)
                : STORE_UNAVAILABLE;
        if (r == STORE_OK)
            r = apply_side_effects(c, tx, &ev, rec.now);
        if (r == STORE_OK && ev.fee_pence > 0)
            r = till_take(c, tx, &pay, rec.now);
        if (!payload_made)
            free(payload_json);
        if (r == STORE_OK) {
            c->status = 201;
            c->reply_text = reply_json;
        } else {
            free(reply_json);
        }
    }
    if (r == STORE_INVALID && !c->reply) {
        c->status = 422;
        c->reply = invalid_reply(out_of_stock_errors(c->service));
    }
    if (!texts_made) {
        free(fields_json);
        free(lines_json);
    }
    evaluation_release(&ev, borrowed);
    return r;
}

/* Runs on the store's finisher thread after COMMIT (or its failure): reply and resume. */
/* Frees a sale's job state and what it holds (the request's reply taken or not). */
static void create_free(void *ctx)
{
    struct create *c = ctx;
    free(c->reply_text);
    evaluated_free(c->evaluated, c->asked);
    free(c->fields_json);
    free(c->lines_json);
    free(c->payload_json);
    free(c);
}

static void create_done(struct store_job *job, enum store_result result)
{
    struct create *c = job->ctx;
    struct http_request *req = c->req;
    if (result == STORE_OK || (result == STORE_INVALID && c->reply)) {
        if (c->status == 201 && c->reply_text) {
            /* the bytes stored for replays, which json_dumps(c->reply, JSON_COMPACT) gave */
            http_reply_owned(req, 201, "application/json", c->reply_text, strlen(c->reply_text));
            c->reply_text = NULL;
            json_decref(c->reply);
        } else {
            http_reply_json(req, c->status, c->reply);
        }
        c->reply = NULL;
        if (c->status == 201) {
            /* written with the request's access line: one write for both */
            http_log_with_reply(req, log_msg_deferred(LOG_INFO, "transaction_accepted",
                                                      "%s %s accepted at %s", c->reference,
                                                      service_code(c->service), c->counter));
            app_wake_workers(c->app);
        }
    } else {
        json_decref(c->reply);
        c->reply = NULL;
        http_reply_store_error(req, result == STORE_INVALID ? STORE_UNAVAILABLE : result);
    }
    /* what the HTTP thread allocated for the sale is freed there, when the request ends */
    http_release_with_request(req, create_free, c);
    http_complete(req); /* req may be freed by its thread from here on */
}

/* Answers from the idempotency record when this staff member already used this key: 200 with the
 * stored body for the same request, 409 for another; a store failure answers 503. False (nothing
 * answered) when the key is new. */
static bool replay_if_stored(struct app *app, struct http_request *req, const char *key,
                             const char hash[65])
{
    char stored_hash[65];
    int stored_status;
    char *stored = NULL;
    enum store_result r = store_idempotency_find(app->store, http_session(req)->staff.username, key,
                                                 stored_hash, &stored_status, &stored);
    if (r == STORE_NOT_FOUND)
        return false;
    if (r != STORE_OK) {
        http_reply_store_error(req, r);
        return true;
    }
    bool same = strcmp(stored_hash, hash) == 0;
    http_reply_json(req, same ? 200 : 409, same ? replay_reply(stored) : conflict_reply());
    free(stored);
    return true;
}

void route_transaction_create(struct app *app, struct http_request *req)
{
    const char *key = http_header(req, "Idempotency-Key");
    if (!idempotency_key_valid(key)) {
        http_reply_error(req, 400, key ? "invalid_idempotency_key" : "missing_idempotency_key",
                         "Send an Idempotency-Key header (1 to 128 printable characters, the "
                         "same on every retry of this transaction).");
        return;
    }
    json_t *body = http_json_body(req);
    if (!body)
        return;
    const struct service *s = body_service(app, req, body);
    if (!s)
        return;
    const struct staff_session *session = http_session(req);
    json_t *errors = json_array();
    static const char *const allowed[] = {"service", "fields", "payment", "receipt", NULL};
    route_check_body_keys(body, allowed, errors);
    json_t *fields = fields_of(body, errors);
    struct payment pay;
    payment_parse(json_object_get(body, "payment"), s, session->staff.role, &pay, errors);
    const struct counter_config *counter = config_counter(app->cfg, session->counter);
    const struct printer_config_entry *printer =
        counter && counter->printer ? config_printer(app->cfg, counter->printer) : NULL;
    struct receipt_options receipt;
    receipt_options_parse(app->cfg, json_object_get(body, "receipt"),
                          printer ? printer->format : NULL, &receipt, errors);

    char hash[65];
    idempotency_request_hash(body, hash);
    /* A replay answers before any other check, exactly as the first time. */
    if (replay_if_stored(app, req, key, hash)) {
        json_decref(errors);
        return;
    }
    failpoint("transaction_key_checked"); /* tests: let another request commit here */

    char today[11];
    today_london(today);
    /* kept for the job when the rules may be taken as they are (see lookup_log_holds): no
     * documents (the job adds their lines to the evaluation's) and no clock in the rules */
    struct service_evaluation *evaluated = NULL;
    struct lookup_log *asked = NULL;
    if (fields) {
        bool keep = service_evaluation_repeatable(s) && !service_documents_field(s);
        /* not zeroed: each entry is written as it is noted (len counts them) */
        asked = keep ? malloc(sizeof *asked) : NULL;
        struct service_lookup lookup = {app->store, lookup_read, peak_read, latest_read,
                                        referral_read};
        if (asked) {
            asked->store = app->store;
            asked->len = 0;
            asked->incomplete = false;
            asked->text_used = 0;
            lookup = (struct service_lookup){asked, lookup_noted, peak_noted, latest_noted,
                                             referral_noted};
        }
        struct service_context context;
        session_rules_context(app, session, today, &context);
        struct service_evaluation ev;
        service_evaluate_in(s, fields, &context, &lookup, &ev);
        if (ev.store_failed) {
            service_evaluation_clear(&ev);
            free(asked);
            json_decref(errors);
            http_reply_store_error(req, STORE_UNAVAILABLE);
            return;
        }
        append_field_errors(errors, ev.errors);
        if (!json_array_size(ev.errors) && !json_array_size(errors))
            payment_settle(&pay, ev.fee_pence, errors);
        if (asked && !asked->incomplete && !json_array_size(ev.errors) &&
            (evaluated = malloc(sizeof *evaluated)) != NULL) {
            *evaluated = ev;
        } else {
            service_evaluation_clear(&ev);
            free(asked);
            asked = NULL;
        }
    }
    if (json_array_size(errors)) {
        evaluated_free(evaluated, asked);
        /* The first request with this key may have committed since we looked it up, and then
         * its own permit is what the rules just found: a resend gets the stored reply, never
         * a rule error about itself. (A commit the rules saw is visible to this read too.) */
        if (replay_if_stored(app, req, key, hash)) {
            json_decref(errors);
            return;
        }
        http_reply_invalid(req, errors);
        return;
    }
    json_decref(errors);
    if (pay.needs_supervisor) {
        evaluated_free(evaluated, asked);
        http_reply_error(req, 403, "supervisor_required",
                         "Only a supervisor can waive a fee. Ask a supervisor to sign in.");
        return;
    }

    failpoint("transaction_evaluated"); /* tests: let another sale commit before this job */
    char reference[STORE_REFERENCE_MAX], status_url[STATUS_URL_MAX];
    bool prepared = reference_generate(service_reference_prefix(s), reference, sizeof reference) &&
                    status_token_url(&app->cfg->status_key, app->cfg->public_base_url, reference,
                                     status_url, sizeof status_url);
    size_t url_size = prepared ? strlen(status_url) + 1 : 1;
    /* malloc, zeroed by assignment, not calloc: see request_new in http.c (glibc's calloc
     * takes no chunk from the thread's cache; freed on this thread, the next sale's malloc
     * does). The status URL after it is written below. */
    struct create *c = malloc(sizeof *c + url_size);
    if (c) {
        *c = (struct create){0};
        c->status_url[0] = '\0';
    }
    if (!c) {
        evaluated_free(evaluated, asked);
        http_reply_error(req, 503, "overloaded", "The gateway is out of memory; try again.");
        return;
    }
    c->app = app;
    c->req = req;
    c->service = s;
    c->fields = fields;
    memcpy(c->today, today, sizeof c->today);
    memcpy(c->idempotency_key, key, strlen(key) + 1); /* valid: at most IDEMPOTENCY_KEY_MAX */
    memcpy(c->request_hash, hash, sizeof c->request_hash);
    c->payment = pay;
    _Static_assert(sizeof c->staff == sizeof session->staff.username, "the session's size");
    _Static_assert(sizeof c->counter == sizeof session->counter, "the session's size");
    memcpy(c->staff, session->staff.username, sizeof c->staff);
    memcpy(c->counter, session->counter, sizeof c->counter);
    c->role = session->staff.role;
    c->site = counter ? counter->site : NULL;
    c->printer = counter ? counter->printer : NULL;
    c->receipt = receipt;
    c->prepared = prepared;
    c->evaluated = evaluated;
    c->asked = evaluated ? asked : NULL;
    if (prepared) {
        memcpy(c->reference, reference, sizeof c->reference);
        memcpy(c->status_url, status_url, url_size);
    }
    if (evaluated) {
        /* what the job stores when it takes this evaluation, made here off the writer */
        c->fields_json = json_text_compact(evaluated->fields);
        c->lines_json = json_text_compact(evaluated->lines);
        const char *route = evaluated->backend ? evaluated->backend : service_backend(s);
        if (prepared && route && config_backend(app->cfg, route)) {
            json_t *payload = service_backend_payload(s, evaluated, c->reference);
            c->payload_json = payload ? json_text_compact(payload) : NULL;
            json_decref(payload);
        }
    }
    c->job = (struct store_job){.run = create_run, .arg = c, .done = create_done, .ctx = c};
    http_defer(req);
    store_submit(app->store, &c->job);
}

/* ---- reading ---- */

bool transaction_reference_param(struct http_request *req, char *out, size_t len)
{
    if (!reference_parse(http_param(req, 0), out, len)) {
        http_reply_error(req, 404, "not_found",
                         "There is no transaction with that reference (check the letters: "
                         "the last one is a check character).");
        return false;
    }
    return true;
}

bool transaction_read(struct app *app, struct http_request *req, const char *reference,
                      json_t **out)
{
    enum store_result r =
        store_transaction_get(app->store, reference, access_read_site(app, http_session(req)), out);
    if (r != STORE_OK)
        http_reply_store_error(req, r);
    return r == STORE_OK;
}

void route_transaction_get(struct app *app, struct http_request *req)
{
    char reference[STORE_REFERENCE_MAX];
    if (!transaction_reference_param(req, reference, sizeof reference))
        return;
    if (!access_read_admit(app, req))
        return;
    json_t *t = NULL;
    if (!transaction_read(app, req, reference, &t))
        return;
    if (!access_audit_read(app, req, reference)) {
        json_decref(t);
        return;
    }
    char url[STATUS_URL_MAX];
    if (status_token_url(&app->cfg->status_key, app->cfg->public_base_url, reference, url,
                         sizeof url))
        json_object_set_new(t, "status_url", json_string(url));
    receipt_copies_attach(app, reference, t, true);
    long refundable = 0; /* what a refund may still give back (store/money.h) */
    if (store_money_available(app->store, reference, &refundable) == STORE_OK)
        json_object_set_new(t, "refundable_pence", json_integer(refundable));
    http_reply_json(req, 200, t);
}

static bool query_int(struct http_request *req, const char *name, int *out, json_t *errors)
{
    const char *v = http_query(req, name);
    if (!v)
        return true;
    char *end;
    long n = strtol(v, &end, 10);
    if (*v == '\0' || *end || n < 0 || n > 1000000) {
        route_field_error(errors, name, "invalid", "Must be a whole number.");
        return false;
    }
    *out = (int)n;
    return true;
}

void route_transaction_list(struct app *app, struct http_request *req)
{
    if (!access_read_admit(app, req))
        return;
    const char *date = http_query(req, "date");
    struct txn_filter f = {.site = access_read_site(app, http_session(req)),
                           .service = http_query(req, "service"),
                           .status = http_query(req, "status"),
                           .counter = http_query(req, "counter"),
                           .limit = 100};
    json_t *errors = json_array();
    struct validators_date d;
    if (date && !validators_date_parse(date, &d))
        route_field_error(errors, "date", "invalid_format", "Use a date like 2026-11-23.");
    else if (date) {
        london_day_bounds(d, &f.from, &f.until);
        f.has_period = true;
    }
    enum txn_status st;
    if (f.status && !txn_status_parse(f.status, &st))
        route_field_error(errors, "status", "invalid",
                          "Use accepted, forwarded, completed, failed or voided.");
    query_int(req, "limit", &f.limit, errors);
    query_int(req, "offset", &f.offset, errors);
    if (json_array_size(errors)) {
        http_reply_invalid(req, errors);
        return;
    }
    json_decref(errors);
    json_t *out = NULL;
    enum store_result r = store_transaction_list(app->store, &f, &out);
    if (r != STORE_OK) {
        http_reply_store_error(req, r);
        return;
    }
    http_reply_json(req, 200, out);
}

bool transaction_at_own_site(struct app *app, struct http_request *req, const char *reference)
{
    const char *own = access_read_site(app, http_session(req));
    char site[STORE_SITE_MAX];
    enum store_result r = store_transaction_site(app->store, reference, site);
    if (r == STORE_OK && own && strcmp(site, own) != 0)
        r = STORE_NOT_FOUND; /* another site's: not revealed */
    if (r != STORE_OK)
        http_reply_store_error(req, r);
    return r == STORE_OK;
}

/* ---- supervisors ---- */

void route_deliveries_failed(struct app *app, struct http_request *req)
{
    if (!access_read_admit(app, req))
        return;
    const struct staff_session *s = http_session(req);
    json_t *out = NULL;
    enum store_result r =
        store_deliveries_failed(app->store, access_read_site(app, s), FAILED_LIST_MAX, &out);
    if (r != STORE_OK) {
        http_reply_store_error(req, r);
        return;
    }
    struct audit_entry e = {
        .actor = s->staff.username, .counter = s->counter, .action = "failed_deliveries_viewed"};
    if (store_audit(app->store, &e) != STORE_OK)
        log_msg(LOG_WARN, "audit_failed", "could not audit a view of failed deliveries");
    http_reply_json(req, 200, out);
}

void route_transaction_retry(struct app *app, struct http_request *req)
{
    char reference[STORE_REFERENCE_MAX];
    if (!transaction_reference_param(req, reference, sizeof reference))
        return;
    const struct staff_session *s = http_session(req);
    if (!transaction_at_own_site(app, req, reference))
        return;
    enum store_result r =
        store_delivery_retry_now(app->store, reference, s->staff.username, s->counter);
    if (r == STORE_CONFLICT) {
        http_reply_error(req, 409, "not_failed",
                         "Only a failed delivery can be retried by hand; this one is not failed.");
        return;
    }
    if (r != STORE_OK) {
        http_reply_store_error(req, r);
        return;
    }
    app_wake_workers(app);
    http_reply_json(req, 202,
                    json_pack("{s:s, s:s}", "reference", reference, "status", "accepted"));
}
