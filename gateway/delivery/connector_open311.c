/* connector_open311: Open311 GeoReport v2 back-ends (bulky waste).
 *
 * The service stores {"service_code","address_id","attributes":{name:value,...}}; we send
 *
 *   POST {url}/requests.json   Content-Type: application/x-www-form-urlencoded
 *   api_key=..&service_code=..&address_id=..&attribute[name]=value..
 *
 * with every name and value percent-encoded (curl_easy_escape), and read
 * 2xx [{"service_request_id":"BW-000042",...}]. Open311 has no callbacks, so progress is
 * polled: GET {url}/requests/{id}.json -> [{"status":"open|closed","status_notes"}].
 *
 * Answers as real servers send them (GeoReport v2 and what cities do with it): any 2xx; a
 * bare array, a bare object, or {"service_requests":[...]}; service_request_id as a string or
 * a number; a "token" instead of the id (exchanged later with GET {url}/tokens/{token}.json,
 * read with the same parser); neither (a "blackbox" service). A token or id that is empty or
 * longer than the caller's buffer counts as absent rather than being cut.
 *
 * lookup_before_resend: GET {url}/requests.json?attribute[reference]={reference} by default
 * (lookup_path / lookup_query in config). Found when an answered request carries our
 * reference (as "reference", or in "attribute"/"attributes"), or when the answer holds exactly
 * one request and says nothing of references (the query did the filtering). */
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

#define OPEN311_LOOKUP_PATH   "/requests.json"
#define OPEN311_LOOKUP_QUERY  "attribute[reference]={reference}"
#define OPEN311_TOKENS_PATH   "/tokens/"
#define OPEN311_JSON_SUFFIX   ".json"
#define OPEN311_CANCEL_SUFFIX "/cancel.json"

/* The list of requests in an answer: a bare array, {"service_requests":[...]}, or NULL. */
static const json_t *request_list(const json_t *doc)
{
    if (json_is_object(doc) && json_is_array(json_object_get(doc, "service_requests")))
        return json_object_get(doc, "service_requests");
    return json_is_array(doc) ? doc : NULL;
}

/* The first object of an Open311 list answer (or the answer itself when it is an object). */
static const json_t *first_object(const json_t *doc)
{
    const json_t *list = request_list(doc);
    if (list)
        doc = json_array_get(list, 0);
    return json_is_object(doc) ? doc : NULL;
}

/* A string or whole-number member as text into out; false (out "") when absent, empty or too
 * long for out. */
static bool member_text(const json_t *obj, const char *name, char *out, size_t outlen)
{
    out[0] = '\0';
    const json_t *v = json_object_get(obj, name);
    int n = -1;
    if (json_is_string(v) && json_string_length(v) > 0)
        n = snprintf(out, outlen, "%s", json_string_value(v));
    else if (json_is_integer(v))
        n = snprintf(out, outlen, "%lld", (long long)json_integer_value(v));
    if (n < 0 || (size_t)n >= outlen) {
        out[0] = '\0';
        return false;
    }
    return true;
}

static void open311_accepted(const char *body, size_t len, char *reference, size_t reflen)
{
    json_t *doc = json_loadb(body, len, 0, NULL);
    (void)member_text(first_object(doc), "service_request_id", reference, reflen);
    json_decref(doc);
}

static void open311_token(const char *body, size_t len, char *token, size_t toklen)
{
    json_t *doc = json_loadb(body, len, 0, NULL);
    (void)member_text(first_object(doc), "token", token, toklen);
    json_decref(doc);
}

/* "{prefix}{escaped value}{suffix}" into out->path. */
static bool path_with(struct connector_request *out, const char *prefix, const char *value,
                      const char *suffix, const char *what, char *err, size_t errlen)
{
    char *v = curl_easy_escape(NULL, value, 0);
    if (!v) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    int n = snprintf(out->path, sizeof out->path, "%s%s%s", prefix, v, suffix);
    curl_free(v);
    if (n < 0 || (size_t)n >= sizeof out->path) {
        snprintf(err, errlen, "%s too long", what);
        return false;
    }
    return true;
}

static bool open311_build_token_poll(const struct backend_config *be, const char *token,
                                     struct connector_request *out, char *err, size_t errlen)
{
    (void)be;
    *out = (struct connector_request){.method = "GET"};
    if (!token || !*token) {
        snprintf(err, errlen, "the back-end gave no token to exchange");
        return false;
    }
    return path_with(out, OPEN311_TOKENS_PATH, token, OPEN311_JSON_SUFFIX, "token", err, errlen);
}

static bool open311_build_lookup(const struct backend_config *be, const char *reference,
                                 struct connector_request *out, char *err, size_t errlen)
{
    return connector_build_lookup(be, OPEN311_LOOKUP_PATH, OPEN311_LOOKUP_QUERY, reference, out,
                                  err, errlen);
}

/* 1 when the request carries our reference, 0 when it carries another, -1 when it says
 * nothing of references. */
static int carries_reference(const json_t *req, const char *reference)
{
    const json_t *where[] = {req, json_object_get(req, "attribute"),
                             json_object_get(req, "attributes")};
    int said = -1;
    for (size_t i = 0; i < sizeof where / sizeof where[0]; i++) {
        const char *r = json_string_value(json_object_get(where[i], "reference"));
        if (!r)
            continue;
        if (strcmp(r, reference) == 0)
            return 1;
        said = 0;
    }
    return said;
}

static bool open311_parse_lookup(const char *body, size_t len, const char *reference, bool *found,
                                 char *backend_reference, size_t reflen)
{
    *found = false;
    backend_reference[0] = '\0';
    json_t *doc = json_loadb(body, len, 0, NULL);
    const json_t *list = request_list(doc);
    bool ok = list != NULL || json_is_object(doc);
    size_t n = list ? json_array_size(list) : 1;
    for (size_t i = 0; ok && i < n && !*found; i++) {
        const json_t *req = list ? json_array_get(list, i) : doc;
        if (!json_is_object(req))
            continue;
        int carries = carries_reference(req, reference);
        if (carries == 1 || (carries == -1 && n == 1)) {
            *found = true;
            (void)member_text(req, "service_request_id", backend_reference, reflen);
        }
    }
    json_decref(doc);
    return ok;
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
    return path_with(out, "/requests/", backend_reference, OPEN311_JSON_SUFFIX,
                     "service_request_id", err, errlen);
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

/* A void or a cancelled booking: POST requests/{id}/cancel.json (form: api_key). GeoReport v2
 * has no cancellation; this is the waste system's (Whitespace-like "cancel a worksheet") as
 * the simulator takes it. */
static bool open311_build_cancel(const struct backend_config *be, const char *backend_reference,
                                 struct connector_request *out, char *err, size_t errlen)
{
    *out = (struct connector_request){.method = "POST", .content_type = OPEN311_FORM_TYPE};
    if (!backend_reference || !*backend_reference) {
        snprintf(err, errlen,
                 "the back-end gave no id for the request, so it cannot be told of "
                 "the cancellation");
        return false;
    }
    if (!path_with(out, "/requests/", backend_reference, OPEN311_CANCEL_SUFFIX, "the back-end's id",
                   err, errlen))
        return false;
    struct strbuf form;
    strbuf_init(&form, OPEN311_FORM_MAX);
    if (be->api_key.bytes && be->api_key.len > 0 &&
        !form_add(&form, "api_key", (const char *)be->api_key.bytes, be->api_key.len)) {
        strbuf_free(&form);
        snprintf(err, errlen, "the API key is too long");
        return false;
    }
    out->body = strbuf_take(&form, &out->body_len);
    if (!out->body)
        snprintf(err, errlen, "out of memory");
    return out->body != NULL;
}

const struct connector connector_open311 = {
    .name = "open311",
    .build_delivery = open311_build,
    .parse_accepted = open311_accepted,
    .build_poll = open311_build_poll,
    .parse_poll = open311_parse_poll,
    .parse_token = open311_token,
    .build_token_poll = open311_build_token_poll,
    .build_lookup = open311_build_lookup,
    .parse_lookup = open311_parse_lookup,
    .build_cancel = open311_build_cancel,
};
