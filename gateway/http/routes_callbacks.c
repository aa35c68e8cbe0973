/* routes_callbacks: status updates that back-ends push to us.
 *
 * POST /api/v1/callbacks/{backend} must be signed with that back-end's key (docs/backends.md);
 * a stale timestamp or a bad signature is refused. The body names our reference and the new
 * status; "completed" moves accepted|forwarded -> completed through the store's one transition
 * rule.
 *
 * Every callback is an event with an id: its Idempotency-Key, or, when it has none, its
 * signature. The answer given to each event is kept in the store (callback_events), so that
 * after a restart as before: a resend of an event (same key, same body, signed afresh or not)
 * gets the stored answer and changes nothing; the same key with another body is a conflict
 * (409); and a request with no key whose signature was already used is a replay (401).
 * Events are remembered for access.callback_replay_window_s (at least the signature window,
 * so a keyless replay is refused either by its stored event or by its stale timestamp); each
 * new event's write deletes those older than that. */
#include "gateway/app.h"
#include "gateway/delivery/backend_request.h"
#include "gateway/config.h"
#include "gateway/log.h"
#include "gateway/http/routes.h"
#include "gateway/store.h"
#include "gateway/token.h"

#include "services/reference.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CALLBACK_EVENT_ID_MAX 160 /* "sig:" + a v1= signature, or a key of up to 128 */
#define CALLBACK_KEY_MAX      128

/* The answer to one event, kept in the store. */
struct callback_answer {
    int status;
    json_t *body; /* NULL for 204 */
};

static bool event_key_valid(const char *key)
{
    size_t n = key ? strlen(key) : 0;
    if (n == 0 || n > CALLBACK_KEY_MAX)
        return false;
    for (const char *p = key; *p; p++)
        if (*p <= ' ' || *p > '~')
            return false;
    return true;
}

static void body_hash(const char *body, size_t len, char out[65])
{
    unsigned char digest[32];
    unsigned int n = 0;
    EVP_Digest(body, len, digest, &n, EVP_sha256(), NULL);
    hex_encode(digest, sizeof digest, out);
}

static json_t *error_json(const char *code, const char *message)
{
    return json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
}

/* Acts on a verified, new event. False when the store failed (nothing to remember then). */
static bool callback_apply(struct app *app, const struct backend_config *backend, json_t *json,
                           struct callback_answer *out)
{
    const char *status = json_string_value(json_object_get(json, "status"));
    char reference[STORE_REFERENCE_MAX];
    if (!reference_parse(json_string_value(json_object_get(json, "reference")), reference,
                         sizeof reference)) {
        *out = (struct callback_answer){
            404, error_json("not_found", "No transaction has that reference.")};
        return true;
    }
    if (!status || strcmp(status, "completed") != 0) {
        out->status = 422;
        out->body =
            json_pack("{s:{s:s, s:s, s:[{s:s, s:s, s:s}]}}", "error", "code", "validation_failed",
                      "message", "1 field needs attention", "fields", "field", "status", "code",
                      "unsupported", "message", "Only status \"completed\" is taken.");
        return true;
    }
    const char *note = json_string_value(json_object_get(json, "note"));
    const char *backend_ref = json_string_value(json_object_get(json, "backend_reference"));
    enum store_result r =
        store_transaction_complete(app->store, reference, backend->name, backend_ref, note);
    if (r == STORE_CONFLICT) {
        *out = (struct callback_answer){
            409, error_json("state_conflict",
                            "That transaction cannot be completed from its present state.")};
        return true;
    }
    if (r == STORE_NOT_FOUND) {
        *out = (struct callback_answer){
            404, error_json("not_found", "No transaction has that reference.")};
        return true;
    }
    if (r != STORE_OK)
        return false;
    log_msg(LOG_INFO, "transaction_completed", "%s completed by %s", reference, backend->name);
    *out = (struct callback_answer){204, NULL};
    return true;
}

/* Answers from the stored record of an event seen before. */
static void reply_seen(struct http_request *req, bool keyed, const char *hash,
                       const char *stored_hash, int status, const char *stored)
{
    if (!keyed) {
        http_reply_error(req, 401, "bad_signature", "signature already used (replay)");
        return;
    }
    if (strcmp(hash, stored_hash) != 0) {
        http_reply_error(req, 409, "idempotency_conflict",
                         "This Idempotency-Key was already used for a different callback.");
        return;
    }
    json_t *body = stored[0] ? json_loads(stored, 0, NULL) : NULL;
    http_reply_json(req, status, body);
}

void route_callback(struct app *app, struct http_request *req)
{
    const struct backend_config *backend = config_backend(app->cfg, http_param(req, 0));
    if (!backend) {
        http_reply_error(req, 404, "unknown_backend", "No back-end of that name.");
        return;
    }
    size_t len;
    const char *body = http_body(req, &len);
    const char *key = http_header(req, "Idempotency-Key");
    const char *signature = http_header(req, "X-Onestop-Signature");
    char why[160];
    if (!backend_signature_check(backend, key, http_header(req, "X-Onestop-Timestamp"), signature,
                                 body, len, time(NULL), why, sizeof why)) {
        log_msg(LOG_WARN, "callback_refused", "callback from %s refused: %s", backend->name, why);
        http_reply_error(req, 401, "bad_signature", why);
        return;
    }
    bool keyed = key && *key;
    if (keyed && !event_key_valid(key)) {
        http_reply_error(req, 400, "invalid_idempotency_key",
                         "The Idempotency-Key must be 1 to 128 printable characters.");
        return;
    }
    char event_id[CALLBACK_EVENT_ID_MAX], hash[65], stored_hash[65];
    snprintf(event_id, sizeof event_id, keyed ? "key:%s" : "sig:%s", keyed ? key : signature);
    body_hash(body, len, hash);
    int stored_status = 0;
    char *stored = NULL;
    enum store_result r = store_callback_find(app->store, backend->name, event_id, stored_hash,
                                              &stored_status, &stored);
    if (r == STORE_OK) {
        if (!keyed)
            log_msg(LOG_WARN, "callback_refused", "callback from %s refused: replay",
                    backend->name);
        reply_seen(req, keyed, hash, stored_hash, stored_status, stored);
        free(stored);
        return;
    }
    if (r != STORE_NOT_FOUND) {
        http_reply_store_error(req, r);
        return;
    }
    json_t *json = http_json_body(req);
    if (!json)
        return;
    struct callback_answer answer;
    if (!callback_apply(app, backend, json, &answer)) {
        http_reply_store_error(req, STORE_UNAVAILABLE);
        return;
    }
    char *text = answer.body ? json_dumps(answer.body, JSON_COMPACT) : NULL;
    r = store_callback_record(app->store, backend->name, event_id, hash, answer.status,
                              text ? text : "", app->cfg->access.callback_replay_window_s);
    free(text);
    if (r == STORE_CONFLICT) {
        /* the same event arrived twice at once and the other was recorded first */
        json_decref(answer.body);
        r = store_callback_find(app->store, backend->name, event_id, stored_hash, &stored_status,
                                &stored);
        if (r == STORE_OK)
            reply_seen(req, keyed, hash, stored_hash, stored_status, stored);
        else
            http_reply_store_error(req, r);
        free(stored);
        return;
    }
    if (r != STORE_OK)
        log_msg(LOG_WARN, "callback_unrecorded",
                "callback from %s was acted on but its event id could not be stored",
                backend->name);
    http_reply_json(req, answer.status, answer.body);
}
