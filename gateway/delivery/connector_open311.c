/* connector_open311: Open311 GeoReport v2 back-ends (bulky waste).
 *
 * The service stores {"service_code","address_id","attributes":{name:value,...}}; we send
 *
 *   POST {url}/requests.json   Content-Type: application/x-www-form-urlencoded
 *   api_key=..&service_code=..&address_id=..&attribute[name]=value..
 *
 * with every name and value percent-encoded (curl_easy_escape), and read
 * 2xx [{"service_request_id":"BW-000042",...}]. Open311 has no callbacks, so progress is
 * polled: GET {url}/requests/{id}.json -> [{"status":"open|closed","status_notes"}]. */
#include "gateway/config.h"
#include "gateway/delivery/connector.h"
#include "gateway/strbuf.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPEN311_DELIVERY_PATH      "/requests.json"
#define OPEN311_FORM_TYPE          "application/x-www-form-urlencoded"
#define OPEN311_FORM_MAX           (512 * 1024)
#define OPEN311_ATTRIBUTE_NAME_MAX 128
#define OPEN311_VALUE_MAX          64

/* Appends "&name=value" (no '&' first), both percent-encoded. */
static bool form_add(struct strbuf *form, const char *name, const char *value, size_t value_len)
{
    char *n = curl_easy_escape(NULL, name, 0);
    char *v = curl_easy_escape(NULL, value, (int)value_len);
    bool ok = n && v && (form->len == 0 || strbuf_append(form, "&", 1)) &&
              strbuf_append(form, n, strlen(n)) && strbuf_append(form, "=", 1) &&
              strbuf_append(form, v, strlen(v));
    curl_free(n);
    curl_free(v);
    return ok;
}

/* The text of a scalar attribute value, into buf; NULL for objects and arrays. */
static const char *scalar_text(const json_t *v, char *buf, size_t len)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        return json_string_value(v);
    case JSON_INTEGER:
        snprintf(buf, len, "%lld", (long long)json_integer_value(v));
        return buf;
    case JSON_REAL:
        snprintf(buf, len, "%g", json_real_value(v));
        return buf;
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    case JSON_NULL:
        return "";
    default:
        return NULL;
    }
}

static bool open311_build(const struct backend_config *be, const char *payload,
                          struct connector_request *out, char *err, size_t errlen)
{
    *out = (struct connector_request){.method = "POST", .content_type = OPEN311_FORM_TYPE};
    snprintf(out->path, sizeof out->path, "%s", OPEN311_DELIVERY_PATH);
    bool ok = false;
    struct strbuf form;
    strbuf_init(&form, OPEN311_FORM_MAX);
    json_t *doc = payload ? json_loads(payload, 0, NULL) : NULL;
    const char *service_code = json_string_value(json_object_get(doc, "service_code"));
    const char *address_id = json_string_value(json_object_get(doc, "address_id"));
    const json_t *attributes = json_object_get(doc, "attributes");
    if (!service_code || !address_id || (attributes && !json_is_object(attributes))) {
        snprintf(err, errlen, "the stored request lacks service_code, address_id or attributes");
        goto out;
    }
    if (be->api_key.bytes && be->api_key.len > 0 &&
        !form_add(&form, "api_key", (const char *)be->api_key.bytes, be->api_key.len))
        goto too_big;
    if (!form_add(&form, "service_code", service_code, strlen(service_code)) ||
        !form_add(&form, "address_id", address_id, strlen(address_id)))
        goto too_big;
    const char *name;
    const json_t *value;
    json_object_foreach((json_t *)attributes, name, value)
    {
        char key[OPEN311_ATTRIBUTE_NAME_MAX], buf[OPEN311_VALUE_MAX];
        const char *text = scalar_text(value, buf, sizeof buf);
        int n = snprintf(key, sizeof key, "attribute[%s]", name);
        if (!text || n < 0 || (size_t)n >= sizeof key) {
            snprintf(err, errlen, "attribute %.40s cannot be sent to Open311", name);
            goto out;
        }
        if (!form_add(&form, key, text, strlen(text)))
            goto too_big;
    }
    out->body = strbuf_take(&form, &out->body_len);
    if (!out->body) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    ok = true;
    goto out;
too_big:
    snprintf(err, errlen, "the Open311 form is larger than %d bytes", OPEN311_FORM_MAX);
out:
    strbuf_free(&form);
    json_decref(doc);
    return ok;
}

/* The first object of an Open311 list answer (or the answer itself when it is an object). */
static const json_t *first_object(const json_t *doc)
{
    if (json_is_array(doc))
        doc = json_array_get(doc, 0);
    return json_is_object(doc) ? doc : NULL;
}

static void open311_accepted(const char *body, size_t len, char *reference, size_t reflen)
{
    reference[0] = '\0';
    json_t *doc = json_loadb(body, len, 0, NULL);
    const json_t *id = json_object_get(first_object(doc), "service_request_id");
    if (json_is_string(id))
        snprintf(reference, reflen, "%s", json_string_value(id));
    else if (json_is_integer(id))
        snprintf(reference, reflen, "%lld", (long long)json_integer_value(id));
    json_decref(doc);
}

static bool open311_build_poll(const struct backend_config *be, const char *backend_reference,
                               struct connector_request *out, char *err, size_t errlen)
{
    (void)be;
    *out = (struct connector_request){.method = "GET"};
    if (!backend_reference || !*backend_reference) {
        snprintf(err, errlen, "the back-end gave no service_request_id to ask about");
        return false;
    }
    char *id = curl_easy_escape(NULL, backend_reference, 0);
    if (!id) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    int n = snprintf(out->path, sizeof out->path, "/requests/%s.json", id);
    curl_free(id);
    if (n < 0 || (size_t)n >= sizeof out->path) {
        snprintf(err, errlen, "service_request_id too long");
        return false;
    }
    return true;
}

static bool open311_parse_poll(const char *body, size_t len, bool *closed, char *note,
                               size_t notelen)
{
    json_t *doc = json_loadb(body, len, 0, NULL);
    const json_t *req = first_object(doc);
    const char *status = json_string_value(json_object_get(req, "status"));
    const char *notes = json_string_value(json_object_get(req, "status_notes"));
    bool ok = status != NULL;
    if (ok) {
        *closed = strcmp(status, "closed") == 0;
        snprintf(note, notelen, "%s", notes ? notes : "");
    }
    json_decref(doc);
    return ok;
}

const struct connector connector_open311 = {
    .name = "open311",
    .build_delivery = open311_build,
    .parse_accepted = open311_accepted,
    .build_poll = open311_build_poll,
    .parse_poll = open311_parse_poll,
};
