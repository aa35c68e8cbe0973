/* email_digest: see email_digest.h.
 *
 * DESIGN: everything is derived, nothing is kept: a row's digest day comes from its creation
 * time and the back-end's digest_at, its group from one store read, the leader is the group's
 * lowest id, and the message from the group's payloads in id order. So any node, before or
 * after a restart, makes the same decision and the same bytes. The digest's payload is an
 * ordinary e-mail payload ({"reference","service","subject","fields"}) whose fields are the
 * site, the day, the number of rows and one line per transaction; email_message_build turns
 * it into the message exactly as it does a single delivery's. */
#include "gateway/delivery/email_digest.h"

#include "common/uktime.h"
#include "gateway/config.h"
#include "gateway/delivery/connector_email.h"
#include "gateway/strbuf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECONDS_PER_MINUTE 60
#define SECONDS_PER_HOUR   3600
#define HOURS_PER_DAY      24
#define NOON               12
#define LINE_MAX_BYTES     2048 /* one transaction's line in the digest */
#define CLOCK_TEXT_MAX     6    /* "14:05" */

/* The two digits at text[at], or -1. */
static int two_digits(const char *text, size_t at)
{
    char a = text[at], b = text[at + 1];
    if (a < '0' || a > '9' || b < '0' || b > '9')
        return -1;
    return (a - '0') * 10 + (b - '0');
}

bool email_digest_time_parse(const char *text, long *seconds)
{
    size_t len = text ? strlen(text) : 0;
    if ((len != 5 && len != 8) || text[2] != ':' || (len == 8 && text[5] != ':'))
        return false;
    int h = two_digits(text, 0), m = two_digits(text, 3), s = len == 8 ? two_digits(text, 6) : 0;
    if (h < 0 || h >= HOURS_PER_DAY || m < 0 || m >= SECONDS_PER_MINUTE || s < 0 ||
        s >= SECONDS_PER_MINUTE)
        return false;
    *seconds = (long)h * SECONDS_PER_HOUR + (long)m * SECONDS_PER_MINUTE + s;
    return true;
}

/* The digest time on the UK civil day `days` after the one of t. */
static time_t cut_on_day_of(const struct backend_config *be, time_t t, int days)
{
    struct tm local;
    if (!uktime_local(t, &local))
        return t;
    /* the calendar arithmetic in UTC at noon, where no clock change can move the date */
    struct tm day = {.tm_year = local.tm_year,
                     .tm_mon = local.tm_mon,
                     .tm_mday = local.tm_mday + days,
                     .tm_hour = NOON};
    time_t noon = timegm(&day);
    struct tm norm;
    gmtime_r(&noon, &norm);
    long at = be->digest_at_s;
    return uktime_from_local(norm.tm_year + 1900, norm.tm_mon + 1, norm.tm_mday,
                             (int)(at / SECONDS_PER_HOUR),
                             (int)(at % SECONDS_PER_HOUR / SECONDS_PER_MINUTE)) +
           at % SECONDS_PER_MINUTE;
}

time_t email_digest_cut(const struct backend_config *be, time_t created_at)
{
    time_t cut = cut_on_day_of(be, created_at, 0);
    return created_at <= cut ? cut : cut_on_day_of(be, created_at, 1);
}

void email_digest_plan_clear(struct digest_plan *plan)
{
    free(plan->payload);
    plan->payload = NULL;
}

/* "book_number: BOOK0009; packs: 2; at 14:05" from a row's stored payload. */
static json_t *member_line(const struct digest_member *m)
{
    struct strbuf line;
    strbuf_init(&line, LINE_MAX_BYTES);
    json_t *doc = json_loads(m->payload, 0, NULL);
    const char *name;
    json_t *v;
    bool ok = true;
    json_object_foreach(json_object_get(doc, "fields"), name, v)
    {
        char *dump = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        const char *text = json_is_string(v) ? json_string_value(v) : dump;
        ok = ok && strbuf_printf(&line, "%s: %s; ", name, text ? text : "");
        free(dump);
    }
    struct tm local;
    char clock[CLOCK_TEXT_MAX] = "";
    if (uktime_local(m->created_at, &local))
        snprintf(clock, sizeof clock, "%02d:%02d", local.tm_hour, local.tm_min);
    ok = ok && strbuf_printf(&line, "at %s", clock);
    json_decref(doc);
    size_t len = 0;
    char *text = ok ? strbuf_take(&line, &len) : NULL;
    strbuf_free(&line);
    json_t *out = text ? json_stringn(text, len) : json_string("(too long to list)");
    free(text);
    return out;
}

/* The digest's payload for the group (its first row's service and subject). */
static char *digest_payload(const struct digest_member *list, size_t len, const char *site,
                            const char *day)
{
    json_t *first = json_loads(list[0].payload, 0, NULL);
    const char *service = json_string_value(json_object_get(first, "service"));
    const char *what = json_string_value(json_object_get(first, "subject"));
    char reference[EMAIL_REFERENCE_MAX], subject[EMAIL_SUBJECT_MAX];
    snprintf(reference, sizeof reference, "digest-%s", day);
    snprintf(subject, sizeof subject, "%.80s at %.80s, %s: %zu", what ? what : "Daily digest", site,
             day, len);
    json_t *fields =
        json_pack("{s:s, s:s, s:I}", "site", site, "day", day, "count", (json_int_t)len);
    for (size_t i = 0; i < len; i++)
        json_object_set_new(fields, list[i].reference, member_line(&list[i]));
    json_t *doc = json_pack("{s:s, s:s?, s:s, s:o}", "reference", reference, "service", service,
                            "subject", subject, "fields", fields);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    json_decref(first);
    return text;
}

enum digest_step email_digest_plan(struct store *store, const struct backend_config *be,
                                   int64_t delivery_id, time_t created_at, time_t now,
                                   struct digest_plan *out)
{
    memset(out, 0, sizeof *out);
    time_t cut = email_digest_cut(be, created_at);
    if (now < cut + be->digest_settle_s)
        return DIGEST_WAIT;
    char day[UKTIME_DATE_SIZE], site[STORE_SITE_MAX];
    if (!uktime_date(cut, day)) {
        snprintf(out->error, sizeof out->error, "the digest's day cannot be worked out");
        return DIGEST_TROUBLE;
    }
    struct digest_member *list = NULL;
    size_t len = 0;
    enum store_result r = store_digest_members(store, be->name, delivery_id,
                                               cut_on_day_of(be, cut, -1), cut, site, &list, &len);
    if (r != STORE_OK || len == 0) {
        snprintf(out->error, sizeof out->error,
                 r == STORE_INVALID ? "the day's digest gathers more than %d deliveries"
                                    : "the store could not be read (%d)",
                 r == STORE_INVALID ? DIGEST_MEMBERS_MAX : (int)r);
        store_digest_free(list, len);
        return DIGEST_TROUBLE;
    }
    out->date = cut;
    snprintf(out->key, sizeof out->key, "digest-%s-%s-%s", be->name, day, site);
    snprintf(out->note, sizeof out->note, "Part of the daily digest for %.120s of %s (%zu in all).",
             site, day, len);
    enum digest_step step = DIGEST_WAIT;
    const struct digest_member *leader = &list[0];
    if (leader->id == delivery_id) {
        out->payload = digest_payload(list, len, site, day);
        step = out->payload ? DIGEST_SEND : DIGEST_TROUBLE;
        if (!out->payload)
            snprintf(out->error, sizeof out->error, "out of memory");
    } else if (leader->state == DELIVERY_DELIVERED) {
        snprintf(out->backend_reference, sizeof out->backend_reference, "%s",
                 leader->backend_reference);
        step = DIGEST_DELIVERED;
    } else if (leader->state == DELIVERY_FAILED) {
        snprintf(out->error, sizeof out->error,
                 "the daily digest (sent with %s) was refused: %.180s", leader->reference,
                 leader->last_error);
        step = DIGEST_REFUSED;
    }
    store_digest_free(list, len);
    return step;
}
