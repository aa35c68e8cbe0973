/* slot_offer: see slot_offer.h.
 *
 * DESIGN: the refusal is recognised by its Open311 error code alone ("reservation_*"), never
 * by its words. The free days come from the same GET {url}/slots?uprn= the counter's slots
 * look-up uses, sent with a backend_request run to completion with curl_easy_perform; its
 * answer {"slots":[{"date","available"}]} gives the first SLOT_OFFER_DAYS available dates.
 * The note names dates and the back-end's code only: no personal data. */
#include "gateway/delivery/slot_offer.h"

#include "gateway/config.h"
#include "gateway/delivery/backend_request.h"
#include "gateway/log.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define RESERVATION_CODE_PREFIX "reservation_"
#define SLOTS_PATH_MAX          128
#define OFFER_CODE_MAX          40
#define OFFER_DATE_LEN          11 /* "YYYY-MM-DD" */
#define OFFER_DAYS_TEXT_MAX     (SLOT_OFFER_DAYS * (OFFER_DATE_LEN + 2) + 1)

/* The "reservation_*" code of an Open311 error answer into code, or false. */
static bool reservation_code(const char *body, size_t len, char code[OFFER_CODE_MAX])
{
    json_t *doc = body ? json_loadb(body, len, 0, NULL) : NULL;
    const json_t *first = json_is_array(doc) ? json_array_get(doc, 0) : doc;
    const char *c = json_string_value(json_object_get(first, "code"));
    bool ok = c && strncmp(c, RESERVATION_CODE_PREFIX, strlen(RESERVATION_CODE_PREFIX)) == 0;
    if (ok)
        snprintf(code, OFFER_CODE_MAX, "%s", c);
    json_decref(doc);
    return ok;
}

/* The first free days for uprn as "2026-12-04, 2026-12-07" into days; false with why in err. */
static bool fetch_free_days(const struct backend_config *be, const char *uprn,
                            char days[OFFER_DAYS_TEXT_MAX], char *err, size_t errlen)
{
    char path[SLOTS_PATH_MAX];
    char *escaped = curl_easy_escape(NULL, uprn, 0);
    int n = escaped ? snprintf(path, sizeof path, "/slots?uprn=%s", escaped) : -1;
    curl_free(escaped);
    if (n < 0 || (size_t)n >= sizeof path) {
        snprintf(err, errlen, "the address cannot be asked about");
        return false;
    }
    struct backend_request_spec spec = {
        .method = "GET", .path = path, .timeout_ms = be->lookup_timeout_ms};
    struct backend_request *req = backend_request_new(be, &spec, time(NULL), err, errlen);
    if (!req)
        return false;
    CURLcode code = curl_easy_perform(backend_request_easy(req));
    struct backend_response resp;
    backend_request_finish(req, code, &resp);
    bool ok = false;
    if (resp.http_status >= 200 && resp.http_status < 300) {
        json_t *doc = json_loadb(resp.body, resp.len, 0, NULL);
        const json_t *slots = json_object_get(doc, "slots");
        size_t i, found = 0, used = 0;
        const json_t *s;
        days[0] = '\0';
        json_array_foreach(slots, i, s)
        {
            const char *date = json_string_value(json_object_get(s, "date"));
            if (found == SLOT_OFFER_DAYS || !date || strlen(date) != OFFER_DATE_LEN - 1 ||
                !json_is_true(json_object_get(s, "available")))
                continue;
            used += (size_t)snprintf(days + used, OFFER_DAYS_TEXT_MAX - used, "%s%s",
                                     found ? ", " : "", date);
            found++;
        }
        ok = json_is_array(slots);
        if (!ok)
            snprintf(err, errlen, "its answer held no list of days");
        else if (!found)
            snprintf(days, OFFER_DAYS_TEXT_MAX, "none in the weeks offered");
        json_decref(doc);
    } else if (resp.http_status) {
        snprintf(err, errlen, "it answered HTTP %d", resp.http_status);
    } else {
        snprintf(err, errlen, "%s", resp.error);
    }
    backend_request_free(req);
    return ok;
}

bool slot_offer_note(const struct backend_config *be, const char *payload, const char *body,
                     size_t len, char *note, size_t notelen)
{
    char code[OFFER_CODE_MAX];
    if (!reservation_code(body, len, code))
        return false;
    json_t *doc = payload ? json_loads(payload, 0, NULL) : NULL;
    const char *uprn = json_string_value(json_object_get(doc, "address_id"));
    const char *slot =
        json_string_value(json_object_get(json_object_get(doc, "attributes"), "slot"));
    char days[OFFER_DAYS_TEXT_MAX], err[BACKEND_ERROR_MAX] = "no address in the booking";
    if (uprn && fetch_free_days(be, uprn, days, err, sizeof err))
        snprintf(note, notelen,
                 "The day held for this collection (%s) was not kept (%s). Next free days: %s. "
                 "Agree one with the resident and book it again.",
                 slot ? slot : "?", code, days);
    else
        snprintf(note, notelen,
                 "The day held for this collection (%s) was not kept (%s). The next free days "
                 "could not be fetched (%s): find them on the sale screen.",
                 slot ? slot : "?", code, err);
    log_msg(LOG_INFO, "slot_offer", "backend=%s code=%s", be->name, code);
    json_decref(doc);
    return true;
}
