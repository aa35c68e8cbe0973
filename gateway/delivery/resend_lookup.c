/* resend_lookup: look-ups before a resend, and Open311 answers without an id (see the header
 * for the rules). Everything here turns an answer into the outcome the store records. */
#include "gateway/delivery/resend_lookup.h"

#include "gateway/config.h"
#include "gateway/delivery/backend_request.h"
#include "gateway/delivery/connector.h"

#include <stdio.h>
#include <string.h>

#define MS_PER_S             1000
#define HTTP_NOT_IMPLEMENTED 501
#define HTTP_UNAVAILABLE     503
#define LOOKUP_ERROR_PREFIX  "look-up before resend: "

bool resend_outcome_unknown(CURLcode code, int http_status)
{
    switch (code) {
    case CURLE_OK:
        if (http_status == 0)
            return true; /* the transfer ended without a status line */
        return http_status >= 500 && http_status < 600 && http_status != HTTP_NOT_IMPLEMENTED &&
               http_status != HTTP_UNAVAILABLE;
    case CURLE_OPERATION_TIMEDOUT: /* may also be a connect timeout: we cannot tell cheaply */
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR: /* part of the body may have gone */
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_WRITE_ERROR: /* the answer was longer than we keep: it did answer */
    case CURLE_FILESIZE_EXCEEDED:
        return true;
    default:
        return false; /* could not resolve, connect or set up TLS: nothing was sent */
    }
}

bool resend_lookup_first(const struct backend_config *be, const struct connector *c,
                         const struct delivery *d)
{
    return be->lookup_before_resend && d->outcome_unknown && c->build_lookup && c->parse_lookup;
}

static bool answered(const struct backend_response *resp)
{
    return resp->http_status >= 200 && resp->http_status < 300;
}

enum resend_lookup_answer resend_lookup_read(const struct backend_config *be,
                                             const struct connector *c, const struct delivery *d,
                                             const struct backend_response *resp, int64_t now_ms,
                                             struct delivery_outcome *o)
{
    bool found = false;
    char reference[sizeof o->backend_reference];
    if (!answered(resp) ||
        !c->parse_lookup(resp->body, resp->len, d->reference, &found, reference, sizeof reference))
        return RESEND_NO_ANSWER;
    o->http_status = resp->http_status;
    o->now_ms = now_ms;
    if (!found) {
        o->step = DELIVERY_STEP_NOT_FOUND;
        snprintf(o->supervisor_note, sizeof o->supervisor_note,
                 "an earlier attempt's outcome was unknown; the back-end did not have the "
                 "request when asked, so it was sent again");
        return RESEND_NOT_FOUND;
    }
    o->step = DELIVERY_STEP_ATTEMPT;
    o->kind = OUTCOME_DELIVERED;
    o->next_attempt_at_ms = now_ms + (int64_t)be->poll_interval_s * MS_PER_S;
    snprintf(o->backend_reference, sizeof o->backend_reference, "%s", reference);
    o->no_polling = reference[0] == '\0';
    snprintf(o->supervisor_note, sizeof o->supervisor_note,
             "an earlier attempt's outcome was unknown; the back-end already had the request "
             "(found by a look-up), so it was not sent again");
    return RESEND_FOUND;
}

void resend_note_attempt(const struct backend_config *be, const struct connector *c,
                         bool was_lookup, CURLcode code, const struct backend_response *resp,
                         struct delivery_outcome *o)
{
    if (o->kind == OUTCOME_RETRY || o->kind == OUTCOME_FAILED) {
        o->outcome_unknown = was_lookup || resend_outcome_unknown(code, resp->http_status);
        if (was_lookup) {
            char error[sizeof o->error];
            int keep = (int)(sizeof error - sizeof LOOKUP_ERROR_PREFIX);
            snprintf(error, sizeof error, "%s%.*s", LOOKUP_ERROR_PREFIX, keep, o->error);
            memcpy(o->error, error, sizeof o->error);
        }
        return;
    }
    if (o->kind != OUTCOME_DELIVERED || o->backend_reference[0] || o->supervisor_note[0])
        return;
    if (c->parse_token)
        c->parse_token(resp->body, resp->len, o->backend_token, sizeof o->backend_token);
    if (o->backend_token[0]) {
        o->next_attempt_at_ms = o->now_ms + (int64_t)be->token_poll_interval_s * MS_PER_S;
        return;
    }
    o->no_polling = true;
    snprintf(o->supervisor_note, sizeof o->supervisor_note,
             "the back-end accepted the request (HTTP %d) but gave no reference: its progress "
             "cannot be followed from here",
             resp->http_status);
}

void resend_note_aborted(struct delivery_outcome *o, int64_t now_ms)
{
    o->step = DELIVERY_STEP_ABORTED;
    o->outcome_unknown = true;
    o->now_ms = now_ms;
}

bool resend_token_read(const struct backend_config *be, const struct connector *c,
                       const struct delivery *d, const struct backend_response *resp,
                       int64_t now_ms, struct delivery_outcome *o)
{
    o->kind = OUTCOME_POLLED;
    o->step = DELIVERY_STEP_TOKEN;
    o->http_status = resp->http_status;
    o->now_ms = now_ms;
    if (answered(resp))
        c->parse_accepted(resp->body, resp->len, o->backend_reference, sizeof o->backend_reference);
    if (o->backend_reference[0]) {
        o->next_attempt_at_ms = now_ms + (int64_t)be->poll_interval_s * MS_PER_S;
        return true;
    }
    int tries = d->token_polls + 1;
    if (tries < be->token_poll_tries) {
        o->next_attempt_at_ms = now_ms + (int64_t)be->token_poll_interval_s * MS_PER_S;
    } else {
        o->next_attempt_at_ms = 0;
        snprintf(o->supervisor_note, sizeof o->supervisor_note,
                 "the back-end accepted the request with token %.64s but gave no "
                 "service_request_id after %d look-ups; it was not sent again (the back-end "
                 "has it): ask the department for its reference",
                 d->backend_token, tries);
    }
    int st = resp->http_status;
    return st != 0 && st < 500;
}
