/* routes_documents: POST /api/v1/documents, the upload of scanned documents (streamed).
 *
 * The body is never collected: http.c hands each piece to route_documents_data as it arrives,
 * and documents.c parses, types, hashes and seals it into files on the way through. The
 * handler runs when the body has ended and answers 201 with the documents, or the first
 * refusal (413 file_too_large, 422 unsupported_type, naming the file). */
#include "gateway/http/routes.h"

#include "gateway/app.h"
#include "gateway/config.h"
#include "gateway/documents.h"
#include "gateway/store/documents.h"
#include "services/service.h"

#include <ctype.h>
#include <stdio.h>

#include <time.h>

#define DOCUMENT_FIELD_PATH_MAX 160
#define DOCUMENT_TYPE_MAX       40
#define DOCUMENT_LINE_MAX       (2 * DOCUMENT_TYPE_MAX + 20)
#define DOCUMENT_HASH_SHOWN     8 /* hex characters of a hash on the receipt */

long route_documents_body_limit(const struct app *app)
{
    return documents_body_limit(app->cfg);
}

long route_documents_body_deadline_s(const struct app *app)
{
    return app->cfg->documents.upload_deadline_s;
}

bool route_documents_begin(struct app *app, struct http_request *req)
{
    struct document_upload *up =
        document_upload_begin(app->documents, app->cfg, http_header(req, "Content-Type"));
    if (!up) {
        http_set_header(req, "Retry-After", "5");
        http_reply_error(req, 503, "busy", "The gateway cannot take an upload right now.");
        return false;
    }
    http_set_stream_ctx(req, up);
    return true;
}

bool route_documents_data(struct http_request *req, const char *data, size_t len)
{
    return document_upload_feed(http_stream_ctx(req), data, len);
}

void route_documents_release(struct http_request *req)
{
    document_upload_free(http_stream_ctx(req));
    http_set_stream_ctx(req, NULL);
}

void route_documents_create(struct app *app, struct http_request *req)
{
    const struct staff_session *session = http_session(req);
    json_t *out = NULL;
    struct document_refusal why;
    if (!document_upload_finish(http_stream_ctx(req), app->store, session->staff.username,
                                session->counter, time(NULL), &out, &why)) {
        json_t *err = json_pack("{s:s, s:s}", "code", why.code, "message", why.message);
        if (why.file[0])
            json_object_set_new(err, "file", json_string(why.file));
        if (why.status == 503)
            http_set_header(req, "Retry-After", "5");
        http_reply_json(req, why.status, json_pack("{s:o}", "error", err));
        return;
    }
    http_reply_json(req, 201, out);
}

/* One receipt line a document: its type, pages and the first characters of its hash, so the
 * resident can prove what they gave (no name: file names may hold personal data). */
static void receipt_lines(const json_t *list, json_t *lines)
{
    size_t i;
    const json_t *d;
    json_array_foreach(list, i, d)
    {
        char type[DOCUMENT_TYPE_MAX];
        snprintf(type, sizeof type, "%s", json_string_value(json_object_get(d, "type")));
        for (char *p = type; *p; p++)
            *p = *p == '_' ? ' ' : *p;
        type[0] = (char)toupper((unsigned char)type[0]);
        const json_t *pages = json_object_get(d, "pages");
        char pages_text[DOCUMENT_TYPE_MAX] = "";
        if (json_is_integer(pages))
            snprintf(pages_text, sizeof pages_text, ", %lld page%s",
                     (long long)json_integer_value(pages),
                     json_integer_value(pages) == 1 ? "" : "s");
        char line[DOCUMENT_LINE_MAX];
        snprintf(line, sizeof line, "%s%s, hash %.*s", type, pages_text, DOCUMENT_HASH_SHOWN,
                 json_string_value(json_object_get(d, "sha256")));
        json_array_append_new(lines,
                              json_pack("{s:s, s:i}", "description", line, "amount_pence", 0));
    }
}

enum store_result transaction_documents_check(struct app *app, struct store_tx *tx,
                                              const struct service *service, json_t *fields,
                                              json_t *lines, const char *counter, json_t **errors)
{
    const char *name = service_documents_field(service);
    json_t *list = name ? json_object_get(fields, name) : NULL;
    if (!list)
        return STORE_OK;
    char path[DOCUMENT_FIELD_PATH_MAX];
    snprintf(path, sizeof path, "fields.%s", name);
    *errors = json_array();
    enum store_result r = store_tx_documents_check(
        tx, list, counter, app->cfg->documents.submission_limit, time(NULL), path, *errors);
    if (r != STORE_INVALID) {
        json_decref(*errors);
        *errors = NULL;
    }
    if (r == STORE_OK)
        receipt_lines(list, lines);
    return r;
}

enum store_result transaction_documents_take(struct store_tx *tx, const struct service *service,
                                             const json_t *fields, const char *reference)
{
    const char *name = service_documents_field(service);
    const json_t *list = name ? json_object_get(fields, name) : NULL;
    return list ? store_tx_documents_take(tx, list, reference) : STORE_OK;
}
