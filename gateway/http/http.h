/* http: the HTTP server (libmicrohttpd, epoll thread pool) and what handlers use.
 *
 * A handler runs on an MHD thread once the whole body is in. It must answer with one of the
 * http_reply_* calls — or call http_defer, hand the request to another thread (the store
 * writer, the look-up client) and have that thread reply and call http_complete. The
 * connection is suspended meanwhile, so no HTTP thread waits on the disk or the network.
 *
 * Errors always have the shape {"error":{"code","message","fields"?}} (DESIGN.md). */
#ifndef ONESTOP_HTTP_H
#define ONESTOP_HTTP_H

#include "gateway/store.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct app;
struct http_request;
struct http_server;

typedef void (*http_handler)(struct app *app, struct http_request *req);

/* Who may call a route (gateway/http/access.c holds the rule, access_allows). Roles are not a
 * ladder: an auditor reads every site but does not serve at a counter. */
enum http_access {
    HTTP_PUBLIC = 0, /* no token needed */
    HTTP_STAFF,      /* counter staff: assistant, supervisor or admin (not an auditor) */
    HTTP_SUPERVISOR, /* supervisor or admin */
    HTTP_ADMIN,
    HTTP_READER,    /* any signed-in role, the auditor included: reads and one's own session */
    HTTP_OVERSIGHT, /* supervisor, admin or auditor: reads meant for supervisors */
};

struct http_route {
    const char *method;
    const char *pattern; /* "/api/v1/transactions/{}" — {} captures one path segment */
    http_handler handler;
    enum http_access access;
};

#define HTTP_PARAMS_MAX 4

/* A route whose body is streamed to it as it arrives rather than collected (uploads). The
 * route table holds the route as usual; its handler runs once the whole body has been fed.
 * body_limit: the bytes this route's body may hold (instead of http.body_limit).
 * body_deadline_s: how long this route's body may take to arrive (instead of
 * http.body_deadline_s).
 * begin: after authorisation, before the first byte; false refuses (a reply prepared).
 * data: the next piece; false when the route wants no more (the rest is read and dropped; the
 * handler still runs at the end to answer).
 * release: when the request ends, however it ends (NULL is fine). */
struct http_stream {
    const char *method;
    const char *pattern;
    long (*body_limit)(const struct app *app);
    long (*body_deadline_s)(const struct app *app);
    bool (*begin)(struct app *app, struct http_request *req);
    bool (*data)(struct http_request *req, const char *data, size_t len);
    void (*release)(struct http_request *req);
};
/* The streamed routes (routes.c), ending with a zeroed entry. */
extern const struct http_stream onestop_streams[];

/* A streamed route's own state, kept with the request (set in begin, freed in release). */
void http_set_stream_ctx(struct http_request *req, void *ctx);
void *http_stream_ctx(const struct http_request *req);

/* Starts serving; NULL with a message in err. routes must outlive the server. */
struct http_server *http_start(struct app *app, const struct http_route *routes, char *err,
                               size_t errlen);
/* Stops accepting new connections (in-flight ones go on). */
void http_quiesce(struct http_server *server);
/* Waits up to timeout_ms for in-flight requests to finish; true if they all did. */
bool http_drain(struct http_server *server, long timeout_ms);
void http_stop(struct http_server *server);
int http_bound_port(struct http_server *server);

/* ---- for handlers ---- */
const char *http_method(const struct http_request *req);
const char *http_path(const struct http_request *req);
const char *http_param(const struct http_request *req, int index);
/* A query string argument (decoded), or NULL. */
const char *http_query(const struct http_request *req, const char *key);
const char *http_header(const struct http_request *req, const char *name);
const char *http_remote(const struct http_request *req);
const char *http_request_id(const struct http_request *req);
const char *http_body(const struct http_request *req, size_t *len);
/* The session of the signed-in staff member (routes with access above HTTP_PUBLIC). */
const struct staff_session *http_session(const struct http_request *req);
/* The body parsed as a JSON object. On failure it replies 400 and returns NULL; the handler
 * then just returns. The request owns the object. */
json_t *http_json_body(struct http_request *req);

void http_set_header(struct http_request *req, const char *name, const char *value);
/* body is stolen (may be NULL for 204). */
void http_reply_json(struct http_request *req, int status, json_t *body);
void http_reply_error(struct http_request *req, int status, const char *code, const char *message);
/* 422 with every field problem: fields is an array of {"field","code","message"}; stolen. */
void http_reply_invalid(struct http_request *req, json_t *fields);
/* body is copied. */
void http_reply_text(struct http_request *req, int status, const char *content_type,
                     const char *body, size_t len);
/* body is stolen (malloc'd). */
void http_reply_owned(struct http_request *req, int status, const char *content_type, char *body,
                      size_t len);
/* Maps a store failure to its reply (503 store_unavailable, 404, 409). */
void http_reply_store_error(struct http_request *req, enum store_result r);

/* The largest allocation made per request that glibc's malloc serves from its small bins.
 * A malloc of more than this (a chunk of 1 KiB or more) that its thread cache cannot serve
 * first merges all of the arena's fast-bin chunks (malloc_consolidate): under load, once per
 * request, and it showed in the HTTP threads' profile. What is allocated for every request
 * stays within it (static asserts where the size is known). */
#define HTTP_MALLOC_SMALL_MAX 1000

void http_defer(struct http_request *req);
void http_complete(struct http_request *req);
/* A line from log_msg_deferred (NULL: none), written together with the request's access line
 * just before its reply is queued: one write for both. Takes ownership. For a deferred
 * request's thread, before http_complete. */
void http_log_with_reply(struct http_request *req, char *line);
/* Hands ctx to the request, which calls release(ctx) on its own MHD thread once it is done
 * (its reply sent, or the client gone). For a deferred request's thread, before
 * http_complete: what the request's thread allocated goes back to that thread's malloc caches
 * (freed by the completing thread it would take glibc's slow path on both threads, every
 * request). One per request; a second replaces nothing and is released at once. */
void http_release_with_request(struct http_request *req, void (*release)(void *ctx), void *ctx);

#endif
