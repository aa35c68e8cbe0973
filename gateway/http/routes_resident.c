/* routes_resident: the status page a resident reaches from the QR code on their receipt.
 *
 * GET /r/{reference}?t={token}: HTML, or JSON for Accept: application/json. It shows the
 * service, where the request has got to and the dates — no name, address, phone, vehicle or
 * any other field of the transaction. A wrong or missing token is a plain 404 (the same as an
 * unknown reference, so references cannot be probed), and each address is rate-limited. */
#include "common/uktime.h"
#include "gateway/app.h"
#include "gateway/config.h"
#include "gateway/rate_limiter.h"
#include "gateway/http/routes.h"
#include "gateway/status_token.h"
#include "gateway/store.h"
#include "gateway/strbuf.h"

#include "services/reference.h"
#include "services/service.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define PAGE_LIMIT 16384

static const char *status_words(enum txn_status s)
{
    switch (s) {
    case TXN_ACCEPTED:
        return "Received at the counter. We are passing it to the team that deals with it.";
    case TXN_FORWARDED:
        return "With the team that deals with it.";
    case TXN_COMPLETED:
        return "Done.";
    case TXN_FAILED:
        return "Delayed: we could not pass it on yet. Our staff have been told and will sort it "
               "out; you do not need to do anything.";
    case TXN_VOIDED:
        return "Cancelled at the counter.";
    }
    return "";
}

static void date_words(time_t t, char *out, size_t len)
{
    struct tm tm;
    if (len > 0)
        out[0] = '\0';
    if (uktime_local(t, &tm) && strftime(out, len, "%-d %B %Y, %H:%M", &tm) == 0 && len > 0)
        out[0] = '\0';
}

static void html_escape(struct strbuf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            strbuf_append(b, "&lt;", 4);
            break;
        case '>':
            strbuf_append(b, "&gt;", 4);
            break;
        case '&':
            strbuf_append(b, "&amp;", 5);
            break;
        case '"':
            strbuf_append(b, "&quot;", 6);
            break;
        default:
            strbuf_append(b, s, 1);
        }
    }
}

static bool wants_json(struct http_request *req)
{
    const char *accept = http_header(req, "Accept");
    return accept && strstr(accept, "application/json") && !strstr(accept, "text/html");
}

static void not_found(struct http_request *req, bool json)
{
    if (json) {
        http_reply_error(req, 404, "not_found", "No request matches this link.");
        return;
    }
    static const char page[] =
        "<!doctype html><html lang=\"en-GB\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<title>Not found</title></head><body><main><h1>We could not find that request</h1>"
        "<p>Check the link or scan the code on your receipt again. You can also phone us "
        "with the reference printed on the receipt.</p></main></body></html>";
    http_reply_text(req, 404, "text/html; charset=utf-8", page, sizeof page - 1);
}

void route_resident_status(struct app *app, struct http_request *req)
{
    bool json = wants_json(req);
    if (!rate_limiter_allow(app->status_limiter, http_remote(req), time(NULL))) {
        http_set_header(req, "Retry-After", "60");
        http_reply_error(req, 429, "too_many_requests",
                         "Too many look-ups from here; please wait a minute.");
        return;
    }
    char reference[STORE_REFERENCE_MAX];
    const char *token = http_query(req, "t");
    if (!reference_parse(http_param(req, 0), reference, sizeof reference) ||
        !status_token_check(&app->cfg->status_key, reference, token)) {
        not_found(req, json);
        return;
    }
    struct txn_public t;
    enum store_result r = store_transaction_public(app->store, reference, &t);
    if (r == STORE_NOT_FOUND) {
        not_found(req, json);
        return;
    }
    if (r != STORE_OK) {
        http_reply_store_error(req, r);
        return;
    }
    const struct service *svc = service_registry_find(app->cfg->services, t.service);
    const char *service = svc ? service_name(svc) : t.service;
    char created[64], updated[64];
    date_words(t.created_at, created, sizeof created);
    date_words(t.updated_at, updated, sizeof updated);
    http_set_header(req, "Cache-Control", "no-store");
    if (json) {
        char c_iso[32], u_iso[32];
        struct tm tm;
        gmtime_r(&t.created_at, &tm);
        strftime(c_iso, sizeof c_iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
        gmtime_r(&t.updated_at, &tm);
        strftime(u_iso, sizeof u_iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
        http_reply_json(req, 200,
                        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "reference", reference,
                                  "service", service, "status", txn_status_name(t.status),
                                  "status_text", status_words(t.status), "created_at", c_iso,
                                  "updated_at", u_iso));
        return;
    }
    struct strbuf b;
    strbuf_init(&b, PAGE_LIMIT);
    strbuf_printf(&b,
                  "<!doctype html><html lang=\"en-GB\"><head><meta charset=\"utf-8\">"
                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                  "<title>%s: ",
                  reference);
    html_escape(&b, service);
    strbuf_printf(&b, "</title></head><body><main><p>");
    html_escape(&b, app->cfg->council_name);
    strbuf_printf(&b, "</p><h1>");
    html_escape(&b, service);
    strbuf_printf(&b,
                  "</h1><p>Reference <strong>%s</strong></p>"
                  "<dl><dt>Status</dt><dd id=\"status\" data-status=\"%s\">",
                  reference, txn_status_name(t.status));
    html_escape(&b, status_words(t.status));
    strbuf_printf(&b,
                  "</dd><dt>Received</dt><dd>%s</dd><dt>Last update</dt><dd>%s</dd></dl>"
                  "<p>Quote the reference if you phone us.</p></main></body></html>",
                  created, updated);
    size_t len;
    char *page = strbuf_take(&b, &len);
    http_reply_owned(req, 200, "text/html; charset=utf-8", page, len);
}
