/* connector: the table of connectors and what they share (reading error answers). */
#include "gateway/delivery/connector.h"
#include "gateway/delivery/connector_email.h"

#include "gateway/config.h"
#include "gateway/strbuf.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void connector_request_clear(struct connector_request *req)
{
    free(req->body);
    req->body = NULL;
    req->body_len = 0;
}

const struct connector *connector_find(const char *name)
{
    static const struct connector *const all[] = {&connector_json_rest, &connector_open311,
                                                  &connector_email, &connector_fhir,
                                                  &connector_multipart};
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(all[i]->name, name) == 0)
            return all[i];
    return NULL;
}

/* The message in an error body, or NULL. Borrowed from doc. */
static const char *error_text(const json_t *doc)
{
    if (json_is_array(doc)) /* Open311: [{"code":400,"description":"..."}] */
        doc = json_array_get(doc, 0);
    if (!json_is_object(doc))
        return NULL;
    const char *keys[] = {"description", "message"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *s = json_string_value(json_object_get(doc, keys[i]));
        if (s && *s)
            return s;
    }
    const json_t *err = json_object_get(doc, "error");
    if (json_is_string(err) && *json_string_value(err))
        return json_string_value(err);
    if (json_is_object(err)) {
        const char *s = json_string_value(json_object_get(err, "message"));
        if (s && *s)
            return s;
        s = json_string_value(json_object_get(err, "code"));
        if (s && *s)
            return s;
    }
    return NULL;
}

#define LOOKUP_PLACEHOLDER "{reference}"
#define LOOKUP_QUERY_MAX   1024 /* bytes of a look-up query after encoding */
#define ERROR_CODE_MAX     64   /* characters of an Open311 error code we show */

/* Appends s[0..len) percent-encoded, with {reference} replaced by the encoded reference. */
static bool append_encoded(struct strbuf *q, const char *s, size_t len, const char *reference)
{
    const size_t ph = strlen(LOOKUP_PLACEHOLDER);
    while (len > 0) {
        const char *at = NULL;
        for (size_t i = 0; i + ph <= len; i++)
            if (memcmp(s + i, LOOKUP_PLACEHOLDER, ph) == 0) {
                at = s + i;
                break;
            }
        size_t plain = at ? (size_t)(at - s) : len;
        if (plain > 0) {
            char *e = curl_easy_escape(NULL, s, (int)plain);
            bool ok = e && strbuf_append(q, e, strlen(e));
            curl_free(e);
            if (!ok)
                return false;
        }
        if (!at)
            return true;
        char *r = curl_easy_escape(NULL, reference, 0);
        bool ok = r && strbuf_append(q, r, strlen(r));
        curl_free(r);
        if (!ok)
            return false;
        s = at + ph;
        len -= plain + ph;
    }
    return true;
}

bool connector_build_lookup(const struct backend_config *be, const char *def_path,
                            const char *def_query, const char *reference,
                            struct connector_request *out, char *err, size_t errlen)
{
    *out = (struct connector_request){.method = "GET"};
    const char *path = be->lookup_path && *be->lookup_path ? be->lookup_path : def_path;
    const char *query = be->lookup_query && *be->lookup_query ? be->lookup_query : def_query;
    bool ok = false;
    struct strbuf q;
    strbuf_init(&q, LOOKUP_QUERY_MAX);
    if (!reference || !*reference) {
        snprintf(err, errlen, "no reference to look up");
        goto out;
    }
    for (const char *p = query; *p;) {
        const char *amp = strchr(p, '&');
        size_t pair = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', pair);
        size_t name = eq ? (size_t)(eq - p) : pair;
        if (name > 0) {
            if ((q.len > 0 && !strbuf_append(&q, "&", 1)) ||
                !append_encoded(&q, p, name, reference) ||
                (eq && (!strbuf_append(&q, "=", 1) ||
                        !append_encoded(&q, eq + 1, pair - name - 1, reference))))
                goto too_long;
        }
        p += pair + (amp ? 1 : 0);
    }
    int n = snprintf(out->path, sizeof out->path, "%s%s%s", path, q.len ? "?" : "",
                     q.len ? q.data : "");
    if (n < 0 || (size_t)n >= sizeof out->path)
        goto too_long;
    ok = true;
    goto out;
too_long:
    snprintf(err, errlen, "the look-up path is longer than %d bytes", CONNECTOR_PATH_MAX - 1);
out:
    strbuf_free(&q);
    return ok;
}

/* The code of an Open311 error [{"code","description"}] when it says more than the HTTP status
 * does (a string, or another number), into buf; NULL otherwise. */
static const char *error_code(const json_t *doc, int http_status, char *buf, size_t len)
{
    if (!json_is_array(doc))
        return NULL;
    const json_t *code = json_object_get(json_array_get(doc, 0), "code");
    if (json_is_string(code) && *json_string_value(code)) {
        snprintf(buf, len, "%.*s", ERROR_CODE_MAX, json_string_value(code));
        return buf;
    }
    if (json_is_integer(code) && json_integer_value(code) != http_status) {
        snprintf(buf, len, "%lld", (long long)json_integer_value(code));
        return buf;
    }
    return NULL;
}

/* The end of out[from..at) without an incomplete UTF-8 sequence at its end. */
static size_t utf8_whole(const char *out, size_t from, size_t at)
{
    size_t j = at;
    while (j > from && ((unsigned char)out[j - 1] & 0xC0) == 0x80)
        j--;
    if (j == from)
        return at;
    unsigned char lead = (unsigned char)out[j - 1];
    size_t want = lead < 0x80 ? 1 : (lead & 0xE0) == 0xC0 ? 2 : (lead & 0xF0) == 0xE0 ? 3 : 4;
    return at - (j - 1) < want ? j - 1 : at;
}

void connector_describe_error(int http_status, const char *body, size_t len, char *out,
                              size_t outlen)
{
    int n = snprintf(out, outlen, "HTTP %d", http_status);
    if (n < 0 || (size_t)n >= outlen || !body || len == 0)
        return;
    json_t *doc = json_loadb(body, len, 0, NULL);
    const char *text = error_text(doc);
    if (text) {
        size_t at = (size_t)n;
        const char *sep = ": ";
        for (const char *s = sep; *s && at + 1 < outlen; s++)
            out[at++] = *s;
        size_t kept = 0;
        const unsigned char *s = (const unsigned char *)text;
        for (; *s && at + 1 < outlen && kept < CONNECTOR_MESSAGE_MAX; s++, kept++)
            out[at++] = *s < 0x20 || *s == 0x7f ? ' ' : (char)*s;
        if (*s) /* cut short: do not leave half a UTF-8 sequence */
            at = utf8_whole(out, (size_t)n, at);
        out[at] = '\0';
        char code_buf[ERROR_CODE_MAX + 1];
        const char *code = error_code(doc, http_status, code_buf, sizeof code_buf);
        if (code) {
            size_t room = outlen - at;
            int m = snprintf(out + at, room, " (code %s)", code);
            if (m < 0 || (size_t)m >= room)
                out[at] = '\0'; /* no room: the description alone */
            else
                for (char *c = out + at; *c; c++)
                    *c = (unsigned char)*c < 0x20 || *c == 0x7f ? ' ' : *c;
        }
    }
    json_decref(doc);
}
