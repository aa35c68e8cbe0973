/* documents_mime: sealed documents as streamed curl mime parts; see documents_mime.h. */
#include "gateway/documents_mime.h"

#include "gateway/document_file.h"
#include "gateway/document_type.h"
#include "gateway/documents.h"
#include "gateway/log.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define DOCUMENTS_MIME_NAME_MAX 64

static size_t part_read(char *buffer, size_t size, size_t nitems, void *arg)
{
    ssize_t n = document_reader_read(arg, buffer, size * nitems);
    if (n < 0) {
        log_msg(LOG_ERROR, "document_unreadable",
                "a sealed document failed its check while being sent (altered on disk?)");
        return CURL_READFUNC_ABORT;
    }
    return (size_t)n;
}

static void part_free(void *arg)
{
    document_reader_close(arg);
}

bool documents_mime_build(void *ctx, curl_mime *mime)
{
    const struct documents_mime *dm = ctx;
    json_t *manifest = json_loadb(dm->manifest, dm->manifest_len, 0, NULL);
    json_t *list = json_object_get(manifest, "documents");
    curl_mimepart *part = curl_mime_addpart(mime);
    bool ok = json_is_array(list) && part && curl_mime_name(part, "manifest") == CURLE_OK &&
              curl_mime_type(part, "application/json") == CURLE_OK &&
              curl_mime_data(part, dm->manifest, dm->manifest_len) == CURLE_OK;
    size_t i;
    json_t *d;
    json_array_foreach(list, i, d)
    {
        if (!ok)
            break;
        const char *id = json_string_value(json_object_get(d, "id"));
        /* the file's format, not the evidence type: the manifest's "type" is the evidence
         * type; the stored format travels as "format" */
        enum document_kind format =
            document_kind_from_name(json_string_value(json_object_get(d, "format")));
        struct document_reader *r =
            id && document_id_valid(id)
                ? document_reader_open(documents_keys(dm->docs), documents_dir(dm->docs), id)
                : NULL;
        if (!r) {
            log_msg(LOG_ERROR, "document_missing", "document %s cannot be opened for sending",
                    id ? id : "?");
            ok = false;
            break;
        }
        char filename[DOCUMENTS_MIME_NAME_MAX];
        snprintf(filename, sizeof filename, "%s.%s", id, document_kind_extension(format));
        part = curl_mime_addpart(mime);
        ok = part && curl_mime_name(part, "file") == CURLE_OK &&
             curl_mime_filename(part, filename) == CURLE_OK &&
             curl_mime_type(part, document_kind_media_type(format)) == CURLE_OK &&
             curl_mime_data_cb(part, (curl_off_t)document_reader_size(r), part_read, NULL,
                               part_free, r) == CURLE_OK;
        if (!ok)
            document_reader_close(r); /* not handed to the part */
    }
    json_decref(manifest);
    return ok;
}
