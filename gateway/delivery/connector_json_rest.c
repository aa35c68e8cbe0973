/* connector_json_rest: back-ends that take the payload as a JSON body (parking permits).
 *
 *   POST {url}/permits   Content-Type: application/json   <the stored payload, as stored>
 *   2xx {"id":"PP-000123",...}  -> the back-end reference
 *
 * The delivery path is this connector's: every json-rest back-end we have (parking) takes
 * new requests at /permits. Progress comes back by signed callback, so there is no polling.
 *
 * A void of a delivered request: POST {url}/permits/{backend_reference}/cancel {} (2xx:
 * cancelled; the back-end's reference must be plain letters, digits, '-', '_' or '.').
 *
 * lookup_before_resend: GET {url}/permits?reference={reference} by default (lookup_path and
 * lookup_query in config) -> 200 {"permits":[{"id","reference",...}]}, a bare array, or one
 * object with an id; an empty list: not found. An item that names another reference is
 * skipped. Anything else (a 404, an object that is no permit) is not understood: the forwarder
 * never sends again on an answer it cannot read. */
#include "gateway/delivery/connector.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_REST_DELIVERY_PATH "/permits"
#define JSON_CONTENT_TYPE       "application/json"
#define JSON_REST_LOOKUP_QUERY  "reference={reference}"
/* what a back-end reference may hold to go into a cancellation's path unencoded */
#define JSON_REST_REFERENCE_CHARS                                                                  \
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."

static bool json_rest_build(const struct backend_config *be, const char *payload,
                            struct connector_request *out, char *err, size_t errlen)
{
    (void)be;
    *out = (struct connector_request){.method = "POST", .content_type = JSON_CONTENT_TYPE};
    snprintf(out->path, sizeof out->path, "%s", JSON_REST_DELIVERY_PATH);
    size_t len = payload ? strlen(payload) : 0;
    if (!connector_json_object_valid(payload, len)) {
        snprintf(err, errlen, "the stored request is not a JSON object");
        return false;
    }
    out->body = malloc(len);
    if (!out->body) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    memcpy(out->body, payload, len);
    out->body_len = len;
    return true;
}

/* The "id" of an object (string or number) into reference; "" when it has none. */
static void object_id(const json_t *obj, char *reference, size_t reflen)
{
    reference[0] = '\0';
    const json_t *id = json_object_get(obj, "id");
    if (json_is_string(id))
        snprintf(reference, reflen, "%s", json_string_value(id));
    else if (json_is_integer(id))
        snprintf(reference, reflen, "%lld", (long long)json_integer_value(id));
}

static void json_rest_accepted(const char *body, size_t len, char *reference, size_t reflen)
{
    json_t *doc = json_loadb(body, len, 0, NULL);
    object_id(doc, reference, reflen);
    json_decref(doc);
}

static bool json_rest_build_lookup(const struct backend_config *be, const char *reference,
                                   struct connector_request *out, char *err, size_t errlen)
{
    return connector_build_lookup(be, JSON_REST_DELIVERY_PATH, JSON_REST_LOOKUP_QUERY, reference,
                                  out, err, errlen);
}

static bool json_rest_parse_lookup(const char *body, size_t len, const char *reference, bool *found,
                                   char *backend_reference, size_t reflen)
{
    *found = false;
    backend_reference[0] = '\0';
    json_t *doc = json_loadb(body, len, 0, NULL);
    const json_t *list = json_is_object(doc) && json_is_array(json_object_get(doc, "permits"))
                             ? json_object_get(doc, "permits")
                         : json_is_array(doc) ? doc
                                              : NULL;
    /* a list, or one permit (an object with an id); anything else is not understood */
    bool ok = list != NULL || (json_is_object(doc) && json_object_get(doc, "id"));
    size_t n = list ? json_array_size(list) : 1;
    for (size_t i = 0; ok && i < n && !*found; i++) {
        const json_t *item = list ? json_array_get(list, i) : doc;
        const char *r = json_string_value(json_object_get(item, "reference"));
        if (!json_is_object(item) || (r && strcmp(r, reference) != 0))
            continue;
        *found = true;
        object_id(item, backend_reference, reflen);
    }
    json_decref(doc);
    return ok;
}

/* POST {url}/permits/{backend_reference}/cancel with an empty JSON object: a void. */
static bool json_rest_build_cancel(const struct backend_config *be, const char *backend_reference,
                                   struct connector_request *out, char *err, size_t errlen)
{
    (void)be;
    *out = (struct connector_request){.method = "POST", .content_type = JSON_CONTENT_TYPE};
    size_t n = backend_reference ? strlen(backend_reference) : 0;
    if (n == 0 || strspn(backend_reference, JSON_REST_REFERENCE_CHARS) != n) {
        snprintf(err, errlen,
                 "the back-end gave %s reference for the request, so it cannot be "
                 "told of the void",
                 n ? "an unusable" : "no");
        return false;
    }
    if ((size_t)snprintf(out->path, sizeof out->path, "%s/%s/cancel", JSON_REST_DELIVERY_PATH,
                         backend_reference) >= sizeof out->path) {
        snprintf(err, errlen, "the back-end's reference is too long for a cancellation");
        return false;
    }
    out->body = strdup("{}");
    if (!out->body) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    out->body_len = 2;
    return true;
}

const struct connector connector_json_rest = {
    .name = "json-rest",
    .build_delivery = json_rest_build,
    .parse_accepted = json_rest_accepted,
    .build_lookup = json_rest_build_lookup,
    .parse_lookup = json_rest_parse_lookup,
    .build_cancel = json_rest_build_cancel,
};
