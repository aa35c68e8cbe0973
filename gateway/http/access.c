/* access: the meaning of each access level, site-scoped reads and their limit.
 *
 * DESIGN: authorisation is decided in two places. http.c's authorise checks the route's access
 * level against the session's role through access_allows, before a byte of the body is read.
 * Handlers that read transactions then narrow what is visible to the session's site
 * (access_read_site, passed down to the store, so another site's transaction is "not found"
 * rather than "forbidden": its existence is not revealed), count the read against a per-staff
 * limit (access_read_admit) and audit a full record's read (access_audit_read). Events anyone
 * can repeat (429s, sign-ins at unknown counters) go through access_audit_sampled so that a
 * flood costs a counter increment, not a durable write each. */
#include "gateway/http/access.h"

#include "gateway/app.h"
#include "gateway/audit_sampler.h"
#include "gateway/config.h"
#include "gateway/log.h"
#include "gateway/rate_limiter.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ACCESS_RETRY_AFTER_MAX 16  /* text of a Retry-After value */
#define ACCESS_DETAIL_MAX      160 /* an audit row's detail */
#define ACCESS_LIMIT_KEY_MAX   80  /* "staff:" + a username */
#define ACCESS_WINDOW_S        60  /* the read limiter's window (rate_limiter.h: a minute) */

bool access_allows(enum http_access need, enum staff_role role)
{
    bool counter_staff = role == ROLE_ASSISTANT || role == ROLE_SUPERVISOR || role == ROLE_ADMIN;
    switch (need) {
    case HTTP_PUBLIC:
        return true;
    case HTTP_READER:
        return counter_staff || role == ROLE_AUDITOR;
    case HTTP_STAFF:
        return counter_staff;
    case HTTP_SUPERVISOR:
        return role == ROLE_SUPERVISOR || role == ROLE_ADMIN;
    case HTTP_OVERSIGHT:
        return role == ROLE_SUPERVISOR || role == ROLE_ADMIN || role == ROLE_AUDITOR;
    case HTTP_ADMIN:
        return role == ROLE_ADMIN;
    }
    return false;
}

const char *access_name(enum http_access need)
{
    switch (need) {
    case HTTP_PUBLIC:
        return "public";
    case HTTP_STAFF:
        return "staff";
    case HTTP_SUPERVISOR:
        return "supervisor";
    case HTTP_ADMIN:
        return "admin";
    case HTTP_READER:
        return "reader";
    case HTTP_OVERSIGHT:
        return "oversight";
    }
    return "unknown";
}

void access_print_routes(const struct http_route *routes, FILE *out)
{
    json_t *list = json_array();
    for (const struct http_route *r = routes; r->method; r++)
        json_array_append_new(list, json_pack("{s:s, s:s, s:s}", "method", r->method, "pattern",
                                              r->pattern, "access", access_name(r->access)));
    char *text = json_dumps(list, JSON_INDENT(2));
    json_decref(list);
    if (text)
        fprintf(out, "%s\n", text);
    free(text);
}

const char *access_read_site(const struct app *app, const struct staff_session *session)
{
    if (session->staff.role == ROLE_AUDITOR)
        return NULL;
    const struct counter_config *counter = config_counter(app->cfg, session->counter);
    return counter && counter->site ? counter->site : "";
}

void access_audit_sampled(struct app *app, const char *kind, const struct audit_entry *entry)
{
    long suppressed = 0;
    if (!audit_sampler_admit(app->audit_sampler, kind, entry->remote, time(NULL), &suppressed))
        return;
    struct audit_entry e = *entry;
    char detail[ACCESS_DETAIL_MAX];
    if (suppressed > 0) {
        snprintf(detail, sizeof detail, "%s; %ld more like it suppressed since the last row",
                 entry->detail ? entry->detail : "", suppressed);
        e.detail = detail;
    }
    if (store_audit(app->store, &e) != STORE_OK)
        log_msg(LOG_WARN, "audit_failed", "could not audit %s", entry->action);
}

bool access_read_admit(struct app *app, struct http_request *req)
{
    const struct staff_session *s = http_session(req);
    char key[ACCESS_LIMIT_KEY_MAX];
    snprintf(key, sizeof key, "staff:%s", s->staff.username);
    time_t now = time(NULL);
    if (rate_limiter_allow(app->read_limiter, key, now))
        return true;
    char retry[ACCESS_RETRY_AFTER_MAX];
    snprintf(retry, sizeof retry, "%ld", (long)(ACCESS_WINDOW_S - now % ACCESS_WINDOW_S));
    http_set_header(req, "Retry-After", retry);
    struct audit_entry e = {.actor = s->staff.username,
                            .counter = s->counter,
                            .action = "read_rate_limited",
                            .subject = s->staff.username,
                            .remote = http_remote(req)};
    access_audit_sampled(app, "read_rate_limited", &e);
    http_reply_error(req, 429, "too_many_reads",
                     "Too many transaction look-ups in a minute. Wait a moment and try again.");
    return false;
}

bool access_audit_read(struct app *app, struct http_request *req, const char *reference)
{
    const struct staff_session *s = http_session(req);
    struct audit_entry e = {.actor = s->staff.username,
                            .counter = s->counter,
                            .action = "transaction_read",
                            .subject = reference,
                            .remote = http_remote(req)};
    enum store_result r = store_audit(app->store, &e);
    if (r != STORE_OK) {
        log_msg(LOG_WARN, "audit_failed", "could not audit a transaction read");
        http_reply_store_error(req, r);
    }
    return r == STORE_OK;
}
