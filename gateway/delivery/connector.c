/* connector: the table of connectors and what they share (reading error answers). */
#include "gateway/delivery/connector.h"
#include "gateway/delivery/connector_email.h"

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
                                                  &connector_email, &connector_fhir};
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
    }
    json_decref(doc);
}
