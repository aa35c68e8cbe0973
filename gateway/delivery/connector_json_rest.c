/* connector_json_rest: back-ends that take the payload as a JSON body (parking permits).
 *
 *   POST {url}/permits   Content-Type: application/json   <the stored payload, as stored>
 *   2xx {"id":"PP-000123",...}  -> the back-end reference
 *
 * The delivery path is this connector's: every json-rest back-end we have (parking) takes
 * new requests at /permits. Progress comes back by signed callback, so there is no polling. */
#include "gateway/delivery/connector.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_REST_DELIVERY_PATH "/permits"
#define JSON_CONTENT_TYPE       "application/json"

static bool json_rest_build(const struct backend_config *be, const char *payload,
                            struct connector_request *out, char *err, size_t errlen)
{
    (void)be;
    *out = (struct connector_request){.method = "POST", .content_type = JSON_CONTENT_TYPE};
    snprintf(out->path, sizeof out->path, "%s", JSON_REST_DELIVERY_PATH);
    size_t len = payload ? strlen(payload) : 0;
    json_t *check = len ? json_loadb(payload, len, 0, NULL) : NULL;
    bool object = json_is_object(check);
    json_decref(check);
    if (!object) {
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

static void json_rest_accepted(const char *body, size_t len, char *reference, size_t reflen)
{
    reference[0] = '\0';
    json_t *doc = json_loadb(body, len, 0, NULL);
    const json_t *id = json_object_get(doc, "id");
    if (json_is_string(id))
        snprintf(reference, reflen, "%s", json_string_value(id));
    else if (json_is_integer(id))
        snprintf(reference, reflen, "%lld", (long long)json_integer_value(id));
    json_decref(doc);
}

const struct connector connector_json_rest = {
    .name = "json-rest",
    .build_delivery = json_rest_build,
    .parse_accepted = json_rest_accepted,
};
