/* documents_mime: a delivery's documents as the parts of a curl multipart body, each streamed
 * from its sealed file (document_file.h) and decrypted a chunk at a time as libcurl reads it;
 * never a whole file in memory. A file whose tag does not check (altered on disk) aborts the
 * transfer, so the delivery fails and is retried rather than acknowledged. */
#ifndef ONESTOP_DOCUMENTS_MIME_H
#define ONESTOP_DOCUMENTS_MIME_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

struct documents;

struct documents_mime {
    const struct documents *docs;
    const char *manifest; /* {"documents":[{"id","type",...}],...} */
    size_t manifest_len;
};

/* backend_request_spec.mime_build: adds part "manifest" (application/json) and one part
 * "file" per document of the manifest, in its order. ctx is a struct documents_mime. False
 * when the manifest is unreadable or a file is missing or cannot be opened. */
bool documents_mime_build(void *ctx, curl_mime *mime) __attribute__((warn_unused_result));

#endif
