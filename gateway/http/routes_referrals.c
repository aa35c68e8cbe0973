/* routes_referrals: the NHS e-Referral look-up at the counter (issue 12, DOMAIN.md "NHS
 * referral hand-off").
 *
 *   POST /api/v1/referrals/lookup {"ubrn":"000000070000","nhs_number":"9912003888"}   (staff)
 *       -> nhs-ers GET {url}/STU3/ReferralRequest/{ubrn}   X-Correlation-ID: <lookup_id, a UUID>
 *       200 {"ubrn","state","state_label","priority","specialty","clinic_type","lookup_id"}
 *       422 the UBRN or NHS number is malformed (the field named), or no referral with that
 *           UBRN belongs to that NHS number: the same answer whether the UBRN is unknown or
 *           the NHS number differs, so nothing about someone else's referral is revealed
 *       502 backend_rejected: the NHS could not take the request (its 400 or 422: a request
 *           problem, not a missing referral); the NHS code is logged and named for IT
 *       503 the NHS service is busy, refuses our access, or is not answering (a message the
 *           assistant can act on; the gateway log has the detail for IT); after an NHS 429 or
 *           503 that said when to come back, with its Retry-After (capped at an hour) and
 *           "Try again in N seconds"
 *
 * A POST, so the NHS number never appears in a URL or an access log; it is never logged.
 * The read runs on the look-up thread (lookup.h) with the back-end's lookup_timeout_ms and
 * its oauth2-jwt access token. The referral's NHS number is compared with the one given
 * (subject.identifier with system NHS_NUMBER_SYSTEM); only the plain-word summary leaves this
 * file. A match is recorded under its lookup_id (store_referral.h) with the counter and staff,
 * the UBRN, state, priority and the NHS number's last 3 digits: all that an nhs-referral
 * hand-off at this counter in the next minutes needs, and nothing more. The record is a store
 * job (the look-up thread never waits on the disk); the answer goes out from the writer thread
 * once it is committed, or 503 if it failed, since a hand-off could not follow. */
#include "gateway/app.h"
#include "gateway/config.h"
#include "gateway/http/routes.h"
#include "gateway/log.h"
#include "gateway/lookup.h"
#include "gateway/store_referral.h"

#include "services/validators.h"

#include <ctype.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REFERRALS_BACKEND  "nhs-ers"
#define REFERRAL_PATH      "/STU3/ReferralRequest/"
#define REFERRAL_PATH_MAX  64
#define NHS_NUMBER_SYSTEM  "http://fhir.nhs.net/Id/nhs-number"
#define STATE_EXTENSION    "Extension-eRS-ReferralState-1"
#define PRIORITY_EXTENSION "Extension-eRS-ReferralPriority-1"
#define LOOKUP_ID_BYTES    16
#define LOOKUP_ID_SIZE     37 /* a UUID and its NUL */
#define WORDS_MAX          96
#define ISSUE_CODE_MAX     64
#define NHS_SHOWN_DIGITS   3    /* the hand-off slip shows the NHS number's last 3 digits */
#define RETRY_AFTER_MAX_S  3600 /* an NHS Retry-After longer than this is passed on as this */
#define MESSAGE_MAX        320
#define RETRY_TEXT_MAX     24

#define NO_MATCH_MESSAGE                                                                           \
    "No referral matches this UBRN and NHS number. Check both against the referral letter."
#define NHS_DOWN_MESSAGE                                                                           \
    "The NHS e-Referral Service is not answering. Try again in a few minutes, or help the "        \
    "resident use Manage your referral on a library PC."
#define NHS_BUSY_MESSAGE "The NHS e-Referral Service is busy. Wait a minute, then try again."
/* With the NHS's Retry-After: "<lead> Try again in N seconds<tail>." */
#define NHS_BUSY_LEAD "The NHS e-Referral Service is busy."
#define NHS_DOWN_LEAD "The NHS e-Referral Service is not answering."
#define NHS_DOWN_TAIL ", or help the resident use Manage your referral on a library PC"
#define NHS_REJECTED_MESSAGE                                                                       \
    "The NHS e-Referral Service could not take this look-up (it answered %s). This is not a "      \
    "missing referral: check the UBRN against the letter and try again; if it happens again, "     \
    "tell IT (the gateway log has the detail)."
#define NHS_REFUSED_MESSAGE                                                                        \
    "The NHS e-Referral Service refused the council's access just now. Try again later; if it "    \
    "keeps happening, tell IT (the gateway log says why)."
#define STORE_DOWN_MESSAGE                                                                         \
    "The referral was found but could not be recorded for a hand-off. Try the look-up again in "   \
    "a minute."
#define NHS_UNREADABLE_MESSAGE                                                                     \
    "The NHS e-Referral Service sent an answer the gateway cannot read. Try again; if it keeps "   \
    "happening, tell IT."

struct referral_call {
    struct http_request *req;
    char request_id[64];
    char backend[64];
    char ubrn[VALIDATORS_UBRN_SIZE];
    char nhs_number[VALIDATORS_NHS_SIZE];
    char lookup_id[LOOKUP_ID_SIZE];
    struct store *store;
    char counter[32];
    char staff[64];
    /* a match, while it is being recorded (on the writer thread) */
    struct store_job job;
    char state[WORDS_MAX];
    char priority[WORDS_MAX];
    struct referral_lookup_record rec;
    json_t *answer;     /* the 200 body, sent once the record is committed */
    long retry_after_s; /* the NHS answer's Retry-After, -1 when none (lookup_spec) */
};

static const struct {
    const char *code;
    const char *label;
} referral_states[] = {
    {"NOT_BOOKED", "Not booked yet"},
    {"BOOKED", "Booked"},
    {"AWAITING_TRIAGE", "Waiting for the clinic to review it"},
    {"TRIAGED_PROVIDER_TO_ACTION", "Reviewed; the clinic will contact the patient"},
    {"DEFERRED_TO_PROVIDER", "Passed to the clinic to arrange the appointment"},
    {"CANCELLED_REFERRAL", "Cancelled"},
    {"REJECTED", "Returned to the referrer by the clinic"},
    {"APPT_CANCELLED_BY_PATIENT", "Appointment cancelled by the patient; can be booked again"},
    {"APPT_CANCELLED_BY_PROVIDER", "Appointment cancelled by the clinic; can be booked again"},
    {"DID_NOT_ATTEND", "Appointment missed"},
    {"ASSESSMENT_RESULT", "Assessed; the result has gone to the referrer"},
    {"TRIAGE_RESPONSE", "The clinic has responded to the referrer"},
};

static const char *state_label(const char *code)
{
    for (size_t i = 0; code && i < sizeof referral_states / sizeof referral_states[0]; i++)
        if (strcmp(referral_states[i].code, code) == 0)
            return referral_states[i].label;
    return "Not known here: ask the resident to check Manage your referral";
}

/* "TWO_WEEK_WAIT" -> "Two week wait": a code in plain words when no display text came. */
static void plain_words(const char *code, char out[WORDS_MAX])
{
    size_t n = 0;
    for (const char *p = code; p && *p && n + 1 < WORDS_MAX; p++, n++) {
        unsigned char c = (unsigned char)*p;
        out[n] = c == '_' ? ' ' : (char)(n == 0 ? toupper(c) : tolower(c));
    }
    out[n] = '\0';
}

/* The first coding of a CodeableConcept: its display, else its code in plain words. */
static bool concept_words(const json_t *concept, char out[WORDS_MAX])
{
    const json_t *coding = json_array_get(json_object_get(concept, "coding"), 0);
    const char *c = json_string_value(json_object_get(coding, "code"));
    const char *display = json_string_value(json_object_get(coding, "display"));
    if (display && *display)
        snprintf(out, WORDS_MAX, "%s", display);
    else if (c && *c)
        plain_words(c, out);
    else
        return false;
    return true;
}

/* The extension of the resource whose url ends with `name`, or NULL. */
static const json_t *extension(const json_t *resource, const char *name)
{
    size_t i;
    const json_t *e;
    size_t name_len = strlen(name);
    json_array_foreach(json_object_get(resource, "extension"), i, e)
    {
        const char *url = json_string_value(json_object_get(e, "url"));
        size_t len = url ? strlen(url) : 0;
        if (len >= name_len && strcmp(url + len - name_len, name) == 0)
            return e;
    }
    return NULL;
}

/* The state code: the inner extension "state" of the state extension (a valueCoding, or a
 * valueCodeableConcept's first coding). */
static const char *referral_state(const json_t *referral)
{
    size_t i;
    const json_t *inner;
    json_array_foreach(json_object_get(extension(referral, STATE_EXTENSION), "extension"), i, inner)
    {
        const char *url = json_string_value(json_object_get(inner, "url"));
        if (url && strcmp(url, "state") == 0) {
            const json_t *value = json_object_get(inner, "valueCoding");
            if (!value)
                value = json_array_get(
                    json_object_get(json_object_get(inner, "valueCodeableConcept"), "coding"), 0);
            return json_string_value(json_object_get(value, "code"));
        }
    }
    return NULL;
}

/* A parameter of the contained search criteria (Parameters) as plain words. */
static bool search_criterion(const json_t *referral, const char *name, char out[WORDS_MAX])
{
    size_t i, j;
    const json_t *res, *param;
    json_array_foreach(json_object_get(referral, "contained"), i, res)
    {
        const char *type = json_string_value(json_object_get(res, "resourceType"));
        if (!type || strcmp(type, "Parameters") != 0)
            continue;
        json_array_foreach(json_object_get(res, "parameter"), j, param)
        {
            const char *pname = json_string_value(json_object_get(param, "name"));
            if (pname && strcmp(pname, name) == 0)
                return concept_words(json_object_get(param, "valueCodeableConcept"), out);
        }
    }
    return false;
}

/* True when the referral's subject carries this NHS number (constant-time compare). */
static bool subject_matches(const json_t *referral, const char *nhs_number)
{
    const json_t *id = json_object_get(json_object_get(referral, "subject"), "identifier");
    const json_t *list = json_is_array(id) ? id : NULL;
    size_t n = list ? json_array_size(list) : (id ? 1 : 0);
    bool match = false;
    for (size_t i = 0; i < n; i++) {
        const json_t *one = list ? json_array_get(list, i) : id;
        const char *system = json_string_value(json_object_get(one, "system"));
        const char *value = json_string_value(json_object_get(one, "value"));
        char theirs[VALIDATORS_NHS_SIZE];
        if (!system || strcmp(system, NHS_NUMBER_SYSTEM) != 0 || !value ||
            !validators_nhs_number_normalise(value, theirs, sizeof theirs))
            continue;
        if (strlen(theirs) == strlen(nhs_number) &&
            CRYPTO_memcmp(theirs, nhs_number, strlen(theirs)) == 0)
            match = true;
    }
    return match;
}

static void reply_no_match(struct http_request *req)
{
    http_reply_invalid(req, json_pack("[{s:s,s:s,s:s},{s:s,s:s,s:s}]", "field", "ubrn", "code",
                                      "no_matching_referral", "message", NO_MATCH_MESSAGE, "field",
                                      "nhs_number", "code", "no_matching_referral", "message",
                                      NO_MATCH_MESSAGE));
}

/* Runs on the writer thread: the match's record, in the group's transaction. */
static enum store_result record_run(struct store_tx *tx, void *arg)
{
    struct referral_call *call = arg;
    return store_tx_referral_lookup_put(tx, &call->rec);
}

static void referral_finish(struct referral_call *call);

/* On the writer thread after the commit: the summary once the record is on disk, else 503. */
static void record_done(struct store_job *job, enum store_result result)
{
    struct referral_call *call = job->ctx;
    char previous_id[64];
    snprintf(previous_id, sizeof previous_id, "%s", log_request_id());
    log_set_request_id(call->request_id);
    if (result == STORE_OK) {
        log_msg(LOG_INFO, "referral_lookup", "lookup_id=%s result=match state=%s", call->lookup_id,
                call->state);
        http_reply_json(call->req, 200, call->answer);
    } else {
        log_msg(LOG_ERROR, "referral_lookup", "lookup_id=%s result=match but not recorded",
                call->lookup_id);
        json_decref(call->answer);
        http_reply_error(call->req, 503, "store_unavailable", STORE_DOWN_MESSAGE);
    }
    call->answer = NULL;
    referral_finish(call);
    log_set_request_id(previous_id);
}

/* A 200 answer: the no-match 422 at once, or (true) the match handed to the store writer,
 * which answers once it is recorded. */
static bool reply_referral(struct referral_call *call, const char *body, size_t len)
{
    struct http_request *req = call->req;
    bool deferred = false;
    json_t *doc = json_loadb(body, len, 0, NULL);
    const char *type = json_string_value(json_object_get(doc, "resourceType"));
    const char *id = json_string_value(json_object_get(doc, "id"));
    char priority[WORDS_MAX] = "", specialty[WORDS_MAX] = "", clinic[WORDS_MAX] = "";
    if (!type || strcmp(type, "ReferralRequest") != 0) {
        log_msg(LOG_WARN, "referral_unreadable",
                "backend=%s answered 200 without a ReferralRequest", call->backend);
        http_reply_error(req, 503, "backend_unavailable", NHS_UNREADABLE_MESSAGE);
        goto out;
    }
    if (!subject_matches(doc, call->nhs_number) || !id || strcmp(id, call->ubrn) != 0) {
        log_msg(LOG_INFO, "referral_lookup", "lookup_id=%s result=no_match", call->lookup_id);
        reply_no_match(req);
        goto out;
    }
    const char *state = referral_state(doc);
    const json_t *prio = extension(doc, PRIORITY_EXTENSION);
    if (!concept_words(json_object_get(prio, "valueCodeableConcept"), priority))
        snprintf(priority, sizeof priority, "Not given");
    if (!search_criterion(doc, "specialty", specialty))
        snprintf(specialty, sizeof specialty, "Not given");
    if (!search_criterion(doc, "clinicType", clinic))
        snprintf(clinic, sizeof clinic, "Not given");
    snprintf(call->state, sizeof call->state, "%s", state ? state : "UNKNOWN");
    snprintf(call->priority, sizeof call->priority, "%s", priority);
    call->rec = (struct referral_lookup_record){
        .lookup_id = call->lookup_id,
        .counter = call->counter,
        .staff = call->staff,
        .made_at = time(NULL),
        .ubrn = call->ubrn,
        .state = call->state,
        .state_label = state_label(state),
        .priority = call->priority,
        .nhs_last3 = call->nhs_number + strlen(call->nhs_number) - NHS_SHOWN_DIGITS,
    };
    call->answer =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "ubrn", call->ubrn, "state", call->state,
                  "state_label", state_label(state), "priority", priority, "specialty", specialty,
                  "clinic_type", clinic, "lookup_id", call->lookup_id);
    if (!call->answer) {
        http_reply_error(req, 500, "internal_error", "The look-up could not be answered.");
        goto out;
    }
    call->job =
        (struct store_job){.run = record_run, .arg = call, .done = record_done, .ctx = call};
    store_submit(call->store, &call->job);
    deferred = true;
out:
    json_decref(doc);
    return deferred;
}

/* The OperationOutcome's first issue code ("" when there is none), for the log. */
static void issue_code(const char *body, size_t len, char out[ISSUE_CODE_MAX])
{
    json_t *doc = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    const json_t *issue = json_array_get(json_object_get(doc, "issue"), 0);
    const json_t *coding =
        json_array_get(json_object_get(json_object_get(issue, "details"), "coding"), 0);
    const char *code = json_string_value(json_object_get(coding, "code"));
    snprintf(out, ISSUE_CODE_MAX, "%s", code ? code : "");
    for (char *p = out; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
            *p = '?';
    json_decref(doc);
}

/* 503 with code: when the NHS said when to come back (Retry-After), that time goes on as our
 * Retry-After and into the message ("<lead> Try again in N seconds<tail>."); else plain. */
static void reply_unavailable(struct referral_call *call, const char *code, const char *plain,
                              const char *lead, const char *tail)
{
    long after = call->retry_after_s;
    if (after < 0) {
        http_reply_error(call->req, 503, code, plain);
        return;
    }
    after = after < 1 ? 1 : after > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : after;
    char text[RETRY_TEXT_MAX], message[MESSAGE_MAX];
    snprintf(text, sizeof text, "%ld", after);
    snprintf(message, sizeof message, "%s Try again in %ld seconds%s.", lead, after, tail);
    http_set_header(call->req, "Retry-After", text);
    http_reply_error(call->req, 503, code, message);
}

/* On the look-up thread: turn the e-RS answer into ours, then complete the request. */
static void referral_done(void *ctx, int status, const char *body, size_t len, const char *error)
{
    struct referral_call *call = ctx;
    struct http_request *req = call->req;
    char previous_id[64]; /* this may run on an HTTP thread when the look-up never started */
    char code[ISSUE_CODE_MAX];
    snprintf(previous_id, sizeof previous_id, "%s", log_request_id());
    log_set_request_id(call->request_id);
    issue_code(body, len, code);

    bool deferred = false;
    if (status >= 200 && status < 300) {
        deferred = reply_referral(call, body, len);
    } else if (status == 404) {
        log_msg(LOG_INFO, "referral_lookup", "lookup_id=%s result=unknown_ubrn code=%s",
                call->lookup_id, code);
        reply_no_match(req);
    } else if (status == 429) {
        log_msg(LOG_WARN, "referral_lookup", "lookup_id=%s result=rate_limited retry_after=%ld",
                call->lookup_id, call->retry_after_s);
        reply_unavailable(call, "backend_busy", NHS_BUSY_MESSAGE, NHS_BUSY_LEAD, "");
    } else if (status == 401 || status == 403) {
        log_msg(LOG_WARN, "referral_lookup", "lookup_id=%s result=refused status=%d code=%s",
                call->lookup_id, status, code);
        http_reply_error(req, 503, "backend_refused", NHS_REFUSED_MESSAGE);
    } else if (status == 400 || status == 422) {
        log_msg(LOG_WARN, "referral_lookup", "lookup_id=%s result=rejected status=%d code=%s",
                call->lookup_id, status, code);
        char what[ISSUE_CODE_MAX + 16], message[MESSAGE_MAX];
        snprintf(what, sizeof what, "%d%s%s", status, code[0] ? " " : "", code);
        snprintf(message, sizeof message, NHS_REJECTED_MESSAGE, what);
        http_reply_error(req, 502, "backend_rejected", message);
    } else {
        if (status)
            log_msg(LOG_WARN, "referral_lookup",
                    "lookup_id=%s result=unavailable status=%d code=%s retry_after=%ld",
                    call->lookup_id, status, code, call->retry_after_s);
        else
            log_msg(LOG_WARN, "referral_lookup", "lookup_id=%s result=unavailable error=%s",
                    call->lookup_id, error ? error : "no answer");
        reply_unavailable(call, "backend_unavailable", NHS_DOWN_MESSAGE, NHS_DOWN_LEAD,
                          NHS_DOWN_TAIL);
    }
    if (!deferred)
        referral_finish(call);
    log_set_request_id(previous_id);
}

/* Forgets the NHS number, frees the call and completes its request (answered already). */
static void referral_finish(struct referral_call *call)
{
    struct http_request *req = call->req;
    OPENSSL_cleanse(call->nhs_number, sizeof call->nhs_number);
    free(call);
    http_complete(req);
}

/* A random UUID (version 4): the look-up's id, sent to the NHS as X-Correlation-ID so that
 * both sides' logs can be matched. */
static bool new_lookup_id(char out[LOOKUP_ID_SIZE])
{
    unsigned char b[LOOKUP_ID_BYTES];
    if (RAND_bytes(b, sizeof b) != 1)
        return false;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, LOOKUP_ID_SIZE,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
    return true;
}

void route_referral_lookup(struct app *app, struct http_request *req)
{
    json_t *body = http_json_body(req);
    if (!body)
        return;
    const char *ubrn = json_string_value(json_object_get(body, "ubrn"));
    const char *nhs = json_string_value(json_object_get(body, "nhs_number"));
    char ubrn_norm[VALIDATORS_UBRN_SIZE], nhs_norm[VALIDATORS_NHS_SIZE];
    json_t *fields = json_array();
    if (!ubrn || !*ubrn)
        json_array_append_new(fields, json_pack("{s:s,s:s,s:s}", "field", "ubrn", "code",
                                                "required", "message",
                                                "Enter the booking reference (UBRN) from the "
                                                "referral letter."));
    else if (!validators_ubrn_normalise(ubrn, ubrn_norm, sizeof ubrn_norm))
        json_array_append_new(fields,
                              json_pack("{s:s,s:s,s:s}", "field", "ubrn", "code", "invalid_ubrn",
                                        "message", "A booking reference (UBRN) is 12 digits."));
    if (!nhs || !*nhs)
        json_array_append_new(fields,
                              json_pack("{s:s,s:s,s:s}", "field", "nhs_number", "code", "required",
                                        "message", "Enter the resident's NHS number."));
    else if (!validators_nhs_number_normalise(nhs, nhs_norm, sizeof nhs_norm))
        json_array_append_new(fields, json_pack("{s:s,s:s,s:s}", "field", "nhs_number", "code",
                                                "invalid_nhs_number", "message",
                                                "That is not a valid NHS number: it is 10 digits "
                                                "and the last one is a check digit. Check it "
                                                "again."));
    if (json_array_size(fields) > 0) {
        http_reply_invalid(req, fields);
        return;
    }
    json_decref(fields);
    const struct backend_config *be = config_backend(app->cfg, REFERRALS_BACKEND);
    if (!be) {
        log_msg(LOG_ERROR, "lookup_unconfigured", "no %s back-end is configured",
                REFERRALS_BACKEND);
        http_reply_error(req, 503, "backend_unavailable", NHS_DOWN_MESSAGE);
        return;
    }
    struct referral_call *call = calloc(1, sizeof *call);
    char path[REFERRAL_PATH_MAX];
    if (!call || !new_lookup_id(call->lookup_id)) {
        free(call);
        http_reply_error(req, 500, "internal_error", "The look-up could not be started.");
        return;
    }
    call->req = req;
    call->store = app->store;
    const struct staff_session *session = http_session(req);
    snprintf(call->counter, sizeof call->counter, "%s", session ? session->counter : "");
    snprintf(call->staff, sizeof call->staff, "%s", session ? session->staff.username : "");
    snprintf(call->request_id, sizeof call->request_id, "%s", http_request_id(req));
    snprintf(call->backend, sizeof call->backend, "%s", be->name);
    snprintf(call->ubrn, sizeof call->ubrn, "%s", ubrn_norm);
    snprintf(call->nhs_number, sizeof call->nhs_number, "%s", nhs_norm);
    snprintf(path, sizeof path, "%s%s", REFERRAL_PATH, ubrn_norm);
    log_msg(LOG_INFO, "referral_lookup", "lookup_id=%s started", call->lookup_id);
    struct lookup_spec spec = {.path_and_query = path,
                               .correlation_id = call->lookup_id,
                               .retry_after_s = &call->retry_after_s};
    http_defer(req);
    lookup_request(app->lookup, be, &spec, referral_done, call);
}
