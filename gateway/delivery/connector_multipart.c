/* connector_multipart: back-ends that take documents as multipart/form-data (the revenues and
 * benefits document management system).
 *
 *   POST {url}/submissions   Content-Type: multipart/form-data; boundary=...
 *     part "manifest" (application/json): {"reference","service","fields":{...},
 *        "documents":[{"id","type","sha256","bytes","pages"}]}
 *     one part "file" per document, in the manifest's order, filename "<id>.<ext>", streamed
 *        from the sealed store (gateway/documents_mime.c)
 *   2xx {"id":"DMS-000123",...}  -> the back-end reference
 *
 * The manifest is what is signed (hmac auth signs the request's body, here the manifest): it
 * carries every file's SHA-256, so the signature covers the files too, and the back-end
 * proves each file by its hash. The stored payload's fields hold the documents (the service's
 * documents field, checked and given their hashes when the transaction was recorded); they
 * are moved out of the fields into the manifest's "documents". Progress comes back by signed
 * callback, so there is no polling. */
#include "gateway/delivery/connector.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MULTIPART_DELIVERY_PATH "/submissions"
#define MULTIPART_DOCUMENTS_KEY "documents"

/* The documents list of the payload's fields: the one array of objects with "sha256". */
static const char *documents_field(json_t *fields)
{
    const char *name;
    json_t *v;
    json_object_foreach(fields, name, v)
    {
        json_t *first = json_array_get(v, 0);
        if (json_is_array(v) && json_is_string(json_object_get(first, "sha256")))
            return name;
    }
    return NULL;
}

static bool multipart_build(const struct backend_config *be, const char *payload,
                            struct connector_request *out, char *err, size_t errlen)
{
    (void)be;
    *out = (struct connector_request){.method = "POST", .documents = true};
    snprintf(out->path, sizeof out->path, "%s", MULTIPART_DELIVERY_PATH);
    json_t *doc = payload ? json_loads(payload, 0, NULL) : NULL;
    json_t *fields = json_object_get(doc, "fields");
    const char *name = documents_field(fields);
    if (!json_is_object(doc) || !name) {
        json_decref(doc);
        snprintf(err, errlen, "the stored request names no documents");
        return false;
    }
    json_object_set(doc, MULTIPART_DOCUMENTS_KEY, json_object_get(fields, name));
    json_object_del(fields, name);
    out->body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!out->body) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    out->body_len = strlen(out->body);
    return true;
}

static void multipart_accepted(const char *body, size_t len, char *reference, size_t reflen)
{
    connector_json_rest.parse_accepted(body, len, reference, reflen);
}

const struct connector connector_multipart = {
    .name = "multipart",
    .build_delivery = multipart_build,
    .parse_accepted = multipart_accepted,
};
