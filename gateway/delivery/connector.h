/* connector: how one kind of back-end takes a delivery and answers (docs/backends.md).
 *
 * A connector turns the payload the service stored (JSON text) into the HTTP request the
 * back-end takes, reads the back-end's reference out of a 2xx answer, and turns an error
 * answer into a short message for supervisors (the back-end's own words, never the request's
 * personal data). A connector whose back-end has no status callbacks also builds and reads
 * status polls. Connectors are pure: no I/O, no state; the forwarder does the sending. */
#ifndef ONESTOP_CONNECTOR_H
#define ONESTOP_CONNECTOR_H

#include <stdbool.h>
#include <stddef.h>

struct backend_config;

#define CONNECTOR_PATH_MAX    256
#define CONNECTOR_MESSAGE_MAX 300 /* characters of a back-end's error message we keep */

struct connector_request {
    const char *method; /* static: "GET" or "POST" */
    char path[CONNECTOR_PATH_MAX];
    const char *content_type; /* static, or NULL */
    char *body;               /* malloc'd, or NULL */
    size_t body_len;
    /* multipart connector: body is the manifest ({"documents":[{"id",...}]}); the forwarder
     * sends it as the first part of a multipart/form-data body and each document, streamed
     * from the sealed store, as a part after it (documents_mime.h) */
    bool documents;
};
/* Frees the body; safe on a zeroed request and twice. */
void connector_request_clear(struct connector_request *req);

/* True when text (len bytes) is exactly what json_loadb (no flags) reads as a JSON object:
 * the check of a stored payload before it is sent, without building the document. */
bool connector_json_object_valid(const char *text, size_t len);

struct connector {
    const char *name; /* the backend_config connector value: "json-rest", "open311", "fhir" */
    /* The delivery request for a stored payload. False with a message (for supervisors) when
     * the payload cannot be sent; such a delivery will never succeed. */
    bool (*build_delivery)(const struct backend_config *be, const char *payload,
                           struct connector_request *out, char *err, size_t errlen);
    /* From a 2xx answer, the back-end's reference for the request ("" when it gave none). */
    void (*parse_accepted)(const char *body, size_t len, char *reference, size_t reflen);
    /* NULL when the back-end reports progress by callback. Otherwise builds the status request
     * for a delivered request's back-end reference (false when it cannot), and reads its 2xx
     * answer: false when the answer is not understood. */
    bool (*build_poll)(const struct backend_config *be, const char *backend_reference,
                       struct connector_request *out, char *err, size_t errlen);
    bool (*parse_poll)(const char *body, size_t len, bool *closed, char *note, size_t notelen);
    /* NULL when the back-end never answers with a token. From a 2xx answer that holds no
     * reference, the token to exchange for one later ("" when there is none either: a
     * "blackbox" back-end), and the request that exchanges it; its 2xx answer is read with
     * parse_accepted ("" while the back-end has no reference yet). */
    void (*parse_token)(const char *body, size_t len, char *token, size_t toklen);
    bool (*build_token_poll)(const struct backend_config *be, const char *token,
                             struct connector_request *out, char *err, size_t errlen);
    /* lookup_before_resend (resend_lookup.h): the request that asks the back-end whether it
     * already holds our reference, and the reading of its 2xx answer: false when the answer is
     * not understood; otherwise *found, and the back-end's reference when it gave one. */
    bool (*build_lookup)(const struct backend_config *be, const char *reference,
                         struct connector_request *out, char *err, size_t errlen);
    bool (*parse_lookup)(const char *body, size_t len, const char *reference, bool *found,
                         char *backend_reference, size_t reflen);
    /* NULL when the back-end takes no cancellations. The request that cancels a delivered
     * request (a void) by the back-end's reference; false with a message when it cannot be
     * built (no reference). Any 2xx answer means cancelled. */
    bool (*build_cancel)(const struct backend_config *be, const char *backend_reference,
                         struct connector_request *out, char *err, size_t errlen);
};

extern const struct connector connector_json_rest;
extern const struct connector connector_open311;
extern const struct connector connector_fhir;      /* read-only: look-ups, no deliveries */
extern const struct connector connector_multipart; /* documents with a JSON manifest */

/* The connector of that name, or NULL. */
const struct connector *connector_find(const char *name);

/* Builds the look-up request GET {path}?{query} for a connector: path is the back-end's
 * lookup_path or def_path, query the back-end's lookup_query or def_query, a template of
 * name=value pairs joined by '&' in which "{reference}" stands for our reference; every name
 * and value is percent-encoded. False with a message when it does not fit. */
bool connector_build_lookup(const struct backend_config *be, const char *def_path,
                            const char *def_query, const char *reference,
                            struct connector_request *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* "HTTP 422: <the back-end's message>" from an error answer: Open311 [{"description"}],
 * JSON {"message"} or {"error":"..."} or {"error":{"message"}}; just "HTTP 422" when the body
 * says nothing we can read. An Open311 error whose code differs from the HTTP status (a string
 * code such as "invalid_slot", or another number) gets " (code <code>)" after its description.
 * Control characters are dropped and the message is cut at
 * CONNECTOR_MESSAGE_MAX characters. */
void connector_describe_error(int http_status, const char *body, size_t len, char *out,
                              size_t outlen);

#endif
