/* connector_notify: Notify's requests and answers; see connector_notify.h. */
#include "gateway/delivery/connector_notify.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool notify_build_send(const char *channel, const char *payload, struct connector_request *out)
{
    memset(out, 0, sizeof *out);
    const char *path = strcmp(channel, "email") == 0 ? NOTIFY_EMAIL_PATH
                       : strcmp(channel, "sms") == 0 ? NOTIFY_SMS_PATH
                                                     : NULL;
    if (!path || !payload)
        return false;
    out->method = "POST";
    snprintf(out->path, sizeof out->path, "%s", path);
    out->content_type = "application/json";
    out->body = strdup(payload);
    out->body_len = out->body ? strlen(out->body) : 0;
    return out->body != NULL;
}

bool notify_build_lookup(const char *notify_reference, struct connector_request *out)
{
    memset(out, 0, sizeof *out);
    char *enc = curl_easy_escape(NULL, notify_reference, 0);
    if (!enc)
        return false;
    int n = snprintf(out->path, sizeof out->path, "%s?reference=%s", NOTIFY_LIST_PATH, enc);
    curl_free(enc);
    out->method = "GET";
    return n > 0 && (size_t)n < sizeof out->path;
}

void notify_parse_accepted(const char *body, size_t len, char *id, size_t idlen)
{
    id[0] = '\0';
    json_t *j = body ? json_loadb(body, len, 0, NULL) : NULL;
    const char *v = json_string_value(json_object_get(j, "id"));
    if (v && strlen(v) < idlen)
        snprintf(id, idlen, "%s", v);
    json_decref(j);
}

bool notify_parse_lookup(const char *body, size_t len, const char *notify_reference, bool *found,
                         char *id, size_t idlen)
{
    *found = false;
    id[0] = '\0';
    json_t *j = body ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *list = json_object_get(j, "notifications");
    bool ok = json_is_array(list);
    size_t i;
    json_t *n;
    json_array_foreach(list, i, n)
    {
        const char *ref = json_string_value(json_object_get(n, "reference"));
        const char *nid = json_string_value(json_object_get(n, "id"));
        if (ref && strcmp(ref, notify_reference) == 0) {
            *found = true;
            if (nid && strlen(nid) < idlen)
                snprintf(id, idlen, "%s", nid);
            break;
        }
    }
    json_decref(j);
    return ok;
}

void notify_describe_error(int http_status, const char *body, size_t len, char *out, size_t outlen)
{
    json_t *j = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *errors = json_object_get(j, "errors");
    if (!errors && json_is_array(j))
        errors = j;
    json_t *first = json_array_get(errors, 0);
    const char *kind = json_string_value(json_object_get(first, "error"));
    const char *message = json_string_value(json_object_get(first, "message"));
    if (kind || message) {
        char text[CONNECTOR_MESSAGE_MAX + 1];
        snprintf(text, sizeof text, "%s%s%s", kind ? kind : "", kind && message ? ": " : "",
                 message ? message : "");
        for (char *p = text; *p; p++)
            if ((unsigned char)*p < ' ')
                *p = ' ';
        snprintf(out, outlen, "HTTP %d: %s", http_status, text);
    } else {
        connector_describe_error(http_status, body, len, out, outlen);
    }
    json_decref(j);
}

char *notify_payload_masked(const char *payload, const char *masked)
{
    json_t *j = json_loads(payload, 0, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    if (json_object_get(j, "email_address"))
        json_object_set_new(j, "email_address", json_string(masked));
    if (json_object_get(j, "phone_number"))
        json_object_set_new(j, "phone_number", json_string(masked));
    json_t *p = json_object_get(j, "personalisation");
    json_t *file = json_object_get(p, "link_to_file");
    if (file)
        json_object_set_new(p, "link_to_file", json_string("(attached PDF receipt, not kept)"));
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    return text;
}

bool notify_mask_email(const char *email, char *out, size_t outlen)
{
    const char *at = email ? strrchr(email, '@') : NULL;
    if (!at || at == email)
        return false;
    int n = snprintf(out, outlen, "%c***%s", email[0], at);
    return n > 0 && (size_t)n < outlen;
}

bool notify_mask_phone(const char *phone, char *out, size_t outlen)
{
    size_t len = phone ? strlen(phone) : 0;
    if (len < 6 || len + 1 > outlen)
        return false;
    for (size_t i = 0; i < len; i++)
        out[i] = (i < 3 || i >= len - 2) ? phone[i] : '*';
    out[len] = '\0';
    return true;
}
