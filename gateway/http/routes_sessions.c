/* routes_sessions: staff sign-in and sign-out.
 *
 * Sign-in checks the per-username and per-address limiter first (429 with Retry-After), then
 * the password (a dummy hash is computed for unknown names so timing does not reveal which
 * usernames exist), then the counter id, and only then creates the session and its audit
 * entry in one durable write. Failures are audited without the password; those anyone can
 * repeat at will (unknown counter, rate limited) are sampled (access_audit_sampled). */
#include "gateway/app.h"
#include "gateway/config.h"
#include "gateway/log.h"
#include "gateway/password.h"
#include "gateway/http/access.h"
#include "gateway/http/routes.h"
#include "gateway/signin_limiter.h"
#include "gateway/store.h"
#include "gateway/token.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define USERNAME_MAX 63
#define COUNTER_MAX  31

static json_t *field_error(const char *field, const char *code, const char *message)
{
    return json_pack("{s:s, s:s, s:s}", "field", field, "code", code, "message", message);
}

static const char *string_field(json_t *body, const char *name, size_t max, json_t *errors,
                                const char *label)
{
    json_t *v = json_object_get(body, name);
    char message[128];
    if (!v || (json_is_string(v) && json_string_length(v) == 0)) {
        snprintf(message, sizeof message, "Enter the %s.", label);
        json_array_append_new(errors, field_error(name, "required", message));
        return NULL;
    }
    if (!json_is_string(v) || json_string_length(v) > max) {
        snprintf(message, sizeof message, "The %s must be text of at most %zu characters.", label,
                 max);
        json_array_append_new(errors, field_error(name, "invalid", message));
        return NULL;
    }
    return json_string_value(v);
}

static void audit_failure(struct app *app, const char *username, const char *counter,
                          const char *why, const char *remote)
{
    struct audit_entry e = {.actor = username,
                            .counter = counter,
                            .action = "sign_in_failed",
                            .subject = username,
                            .detail = why,
                            .remote = remote};
    if (store_audit(app->store, &e) != STORE_OK)
        log_msg(LOG_ERROR, "audit_failed", "could not record a failed sign-in");
}

/* Failures anyone can repeat without limit (an unknown counter, a 429) are counted and sampled
 * into the audit trail, not written each time. The counter id is not recorded: it is not one
 * of ours, so it is only what the caller typed. */
static void audit_sampled_failure(struct app *app, const char *kind, const char *username,
                                  const char *why, const char *remote)
{
    struct audit_entry e = {.actor = username,
                            .action = "sign_in_failed",
                            .subject = username,
                            .detail = why,
                            .remote = remote};
    access_audit_sampled(app, kind, &e);
}

void route_session_create(struct app *app, struct http_request *req)
{
    json_t *body = http_json_body(req);
    if (!body)
        return;
    json_t *errors = json_array();
    const char *username = string_field(body, "username", USERNAME_MAX, errors, "username");
    const char *password = string_field(body, "password", PASSWORD_MAX_LENGTH, errors, "password");
    const char *counter = string_field(body, "counter", COUNTER_MAX, errors, "counter id");
    const char *known[] = {"username", "password", "counter"};
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        bool ok = false;
        for (size_t i = 0; i < 3; i++)
            ok |= strcmp(key, known[i]) == 0;
        if (!ok)
            json_array_append_new(
                errors, field_error(key, "unknown_field", "This field is not part of a sign-in."));
    }
    if (json_array_size(errors) > 0) {
        http_reply_invalid(req, errors);
        return;
    }
    json_decref(errors);

    time_t now = time(NULL);
    const char *remote = http_remote(req);
    if (!config_counter(app->cfg, counter)) {
        audit_sampled_failure(app, "sign_in_unknown_counter", username, "unknown_counter", remote);
        http_reply_invalid(req, json_pack("[o]", field_error("counter", "unknown_counter",
                                                             "There is no counter with this id "
                                                             "(it is on the label on the till).")));
        return;
    }
    long wait = signin_limiter_check(app->signin_limiter, username, remote, now);
    if (wait > 0) {
        char retry[32], message[160];
        snprintf(retry, sizeof retry, "%ld", wait);
        snprintf(message, sizeof message,
                 "Too many failed sign-ins. Wait %ld seconds and try again, or ask a supervisor.",
                 wait);
        http_set_header(req, "Retry-After", retry);
        audit_sampled_failure(app, "sign_in_rate_limited", username, "rate_limited", remote);
        http_reply_error(req, 429, "too_many_attempts", message);
        return;
    }

    struct staff staff;
    enum store_result r = store_staff_find(app->store, username, &staff);
    if (r != STORE_OK && r != STORE_NOT_FOUND) {
        http_reply_store_error(req, r);
        return;
    }
    bool good;
    if (r == STORE_OK) {
        good = password_verify(password, staff.password_hash) && !staff.disabled;
    } else {
        password_burn(app->cfg->auth.pbkdf2_iterations);
        good = false;
    }
    if (!good) {
        signin_limiter_failed(app->signin_limiter, username, remote, now);
        audit_failure(app, username, counter,
                      r == STORE_OK && staff.disabled ? "disabled" : "bad_credentials", remote);
        http_reply_error(req, 401, "bad_credentials", "The username or password is not right.");
        return;
    }
    signin_limiter_succeeded(app->signin_limiter, username, remote);

    char token[TOKEN_TEXT_LEN + 1], hash[TOKEN_HASH_HEX_LEN + 1];
    if (!token_generate(token)) {
        http_reply_error(req, 500, "internal_error", "Could not create a session token.");
        return;
    }
    token_hash(token, hash);
    time_t expires = now + app->cfg->auth.session_ttl_s;
    r = store_session_create(app->store, hash, &staff, counter, now, expires, remote);
    if (r != STORE_OK) {
        http_reply_store_error(req, r);
        return;
    }
    char expires_text[32];
    struct tm tm;
    gmtime_r(&expires, &tm);
    strftime(expires_text, sizeof expires_text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    http_reply_json(req, 201,
                    json_pack("{s:s, s:s, s:I, s:{s:s, s:s, s:s}, s:s}", "token", token,
                              "expires_at", expires_text, "idle_timeout_s",
                              (json_int_t)app->cfg->auth.idle_timeout_s, "staff", "username",
                              staff.username, "role", staff_role_name(staff.role), "initials",
                              staff.initials, "counter", counter));
}

void route_session_current(struct app *app, struct http_request *req)
{
    const struct staff_session *s = http_session(req);
    char expires_text[32];
    struct tm tm;
    gmtime_r(&s->expires_at, &tm);
    strftime(expires_text, sizeof expires_text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    http_reply_json(req, 200,
                    json_pack("{s:s, s:I, s:{s:s, s:s, s:s}, s:s}", "expires_at", expires_text,
                              "idle_timeout_s", (json_int_t)app->cfg->auth.idle_timeout_s, "staff",
                              "username", s->staff.username, "role", staff_role_name(s->staff.role),
                              "initials", s->staff.initials, "counter", s->counter));
}

void route_session_delete(struct app *app, struct http_request *req)
{
    enum store_result r =
        store_session_end(app->store, http_session(req), time(NULL), http_remote(req));
    if (r != STORE_OK) {
        http_reply_store_error(req, r);
        return;
    }
    http_reply_json(req, 204, NULL);
}
