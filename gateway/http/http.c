/* http: libmicrohttpd glue — limits, body collection, routing, auth, replies, logging.
 *
 * DESIGN: MHD runs an epoll thread pool. For each request we allocate one http_request on the
 * first call of the access handler and, from the headers alone, match the route, check the
 * declared length and the bearer token and the role: a request refused there (404, 405, 413,
 * 401, 403) is answered before a byte of its body is read. Then we collect the body up to the
 * configured cap and call the handler. (An undeclared, chunked body over the cap is not kept:
 * it gets its 413 when it ends, or its connection is dropped at twice the cap — MHD cannot
 * queue a reply in the middle of a body.) A streamed route (onestop_streams: uploads) has a
 * limit of its own and is handed each piece of its body as it arrives instead, nothing of it
 * collected; its handler runs when the body ends. A handler may defer: we suspend the connection
 * and whichever thread finishes the work calls http_complete, which resumes it; MHD then calls us
 * again and we queue the prepared reply. The request is logged and counted just before its reply is
 * queued (so a client holding the reply finds it in /metrics), or in the completion callback when
 * no reply was queued; freed there.
 *
 * Beneath that sits the connection and limits layer (its own section below; docs/listener.md):
 * client_limits.c watches every connection from accept to close (header and body deadlines,
 * headroom for fresh clients, a share per real client behind trusted proxies); a body framed
 * two ways is refused; all bodies together hold at most http.bodies_memory_limit, each freed
 * once its reply is prepared. The listener serves HTTPS when the config names a certificate
 * (tls.c), and /metrics may have a listener of its own. */
#include "gateway/http/http.h"

#include "gateway/http/access.h"
#include "gateway/app.h"
#include "gateway/config.h"
#include "gateway/failpoint.h"
#include "gateway/http/client_limits.h"
#include "gateway/http/tls.h"
#include "gateway/log.h"
#include "gateway/metrics.h"
#include "gateway/strbuf.h"
#include "gateway/token.h"

#include <arpa/inet.h>
#include <malloc.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HTTP_HEADERS_MAX      8
#define HTTP_REMOTE_MAX       64
#define HTTP_REQUEST_ID_MAX   24
#define HTTP_TOUCH_INTERVAL_S 30 /* the longest gap between recorded uses of a session */
#define HTTP_DISCARD_FACTOR   2  /* an undeclared body is dropped past this many body limits */
#define HTTP_MMAP_THRESHOLD   (128 * 1024) /* bodies this large get pages of their own */
#define HTTP_BODY_CHUNK_MIN   4096         /* an undeclared body's buffer grows by at least this */
#define HTTP_METRICS_PATH     "/metrics"
#define HTTP_METRICS_THREADS  1   /* the /metrics listener's thread pool */
#define HTTP_BUSY_RETRY_S     "2" /* Retry-After when the bodies' memory is all taken */

static const char security_policy[] =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

struct header {
    char *name;
    char *value;
};

struct http_request {
    struct http_server *server;
    struct MHD_Connection *conn;
    char method[16];
    char *path;
    char request_id[HTTP_REQUEST_ID_MAX];
    char remote[HTTP_REMOTE_MAX];
    struct timespec started;

    const struct http_route *route;
    char *params[HTTP_PARAMS_MAX];

    char *body;
    size_t body_len;
    size_t discarded;                 /* bytes of an over-long chunked body read and dropped */
    size_t body_cap;                  /* bytes allocated for the body */
    size_t body_reserved;             /* of the server's bodies memory, held by this request */
    struct client_conn *limits_conn;  /* the connection's deadlines and share */
    const struct http_stream *stream; /* a streamed route (uploads), or NULL */
    void *stream_ctx;
    size_t streamed; /* bytes of a streamed body so far */
    json_t *json;

    /* the flags kept together (no padding after each): the request stays within
     * HTTP_MALLOC_SMALL_MAX (see http.h) */
    bool method_not_allowed;
    bool body_too_large;
    bool body_no_memory; /* an undeclared body outgrew the bodies memory: 503 at its end */
    bool stream_stopped; /* the route wants no more of the body */
    bool has_session;
    bool replied;
    bool accounted; /* logged and counted (just before the reply is queued) */
    struct staff_session session;

    /* the reply */
    int status;
    int headers_len;
    char *reply;
    size_t reply_len;
    const char *content_type;
    struct header headers[HTTP_HEADERS_MAX];
    char *log_first;            /* a line written with the access line (http_log_with_reply) */
    void (*release)(void *ctx); /* http_release_with_request: called when the request ends */
    void *release_ctx;

    /* deferral */
    pthread_mutex_t lock;
    bool deferred;
    bool suspended;
    bool completed;
};

_Static_assert(sizeof(struct http_request) <= HTTP_MALLOC_SMALL_MAX, "a small-bin allocation");

struct http_server {
    struct app *app;
    const struct http_route *routes;
    struct MHD_Daemon *daemon;
    atomic_long in_flight;
    atomic_ulong next_id;
    char id_prefix[9];
    int port;
    /* the connection and limits layer */
    struct client_limits *limits;
    struct http_tls tls;           /* PEM text while serving HTTPS */
    char hsts[64];                 /* Strict-Transport-Security value, or empty */
    atomic_long bodies_bytes;      /* reserved by all requests' bodies together */
    struct http_route *own_routes; /* the routes this listener serves (routes_for) */
    struct http_server *metrics;   /* the separate /metrics listener, or NULL */
};

/* ---- helpers for handlers ---- */

const char *http_method(const struct http_request *req)
{
    return req->method;
}

const char *http_path(const struct http_request *req)
{
    return req->path;
}

const char *http_param(const struct http_request *req, int index)
{
    return index >= 0 && index < HTTP_PARAMS_MAX ? req->params[index] : NULL;
}

const char *http_query(const struct http_request *req, const char *key)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *http_header(const struct http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_remote(const struct http_request *req)
{
    return req->remote;
}

const char *http_request_id(const struct http_request *req)
{
    return req->request_id;
}

const char *http_body(const struct http_request *req, size_t *len)
{
    if (len)
        *len = req->body_len;
    return req->body ? req->body : "";
}

void http_set_stream_ctx(struct http_request *req, void *ctx)
{
    req->stream_ctx = ctx;
}

void *http_stream_ctx(const struct http_request *req)
{
    return req->stream_ctx;
}

const struct staff_session *http_session(const struct http_request *req)
{
    return req->has_session ? &req->session : NULL;
}

void http_set_header(struct http_request *req, const char *name, const char *value)
{
    if (req->headers_len < HTTP_HEADERS_MAX) {
        req->headers[req->headers_len].name = strdup(name);
        req->headers[req->headers_len].value = strdup(value);
        req->headers_len++;
    }
}

void http_reply_owned(struct http_request *req, int status, const char *content_type, char *body,
                      size_t len)
{
    free(req->reply);
    req->status = status;
    req->content_type = content_type;
    req->reply = body;
    req->reply_len = body ? len : 0;
    req->replied = true;
}

void http_reply_text(struct http_request *req, int status, const char *content_type,
                     const char *body, size_t len)
{
    char *copy = malloc(len + 1);
    if (copy) {
        memcpy(copy, body, len);
        copy[len] = '\0';
    }
    http_reply_owned(req, status, content_type, copy, copy ? len : 0);
}

void http_reply_json(struct http_request *req, int status, json_t *body)
{
    if (!body) {
        http_reply_owned(req, status, NULL, NULL, 0);
        return;
    }
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    http_reply_owned(req, status, "application/json", text, text ? strlen(text) : 0);
}

static json_t *error_body(const char *code, const char *message, json_t *fields)
{
    json_t *err = json_pack("{s:s, s:s}", "code", code, "message", message);
    if (fields)
        json_object_set_new(err, "fields", fields);
    return json_pack("{s:o}", "error", err);
}

void http_reply_error(struct http_request *req, int status, const char *code, const char *message)
{
    http_reply_json(req, status, error_body(code, message, NULL));
}

void http_reply_invalid(struct http_request *req, json_t *fields)
{
    size_t n = json_array_size(fields);
    char message[128];
    snprintf(message, sizeof message, "%zu field%s need%s attention", n, n == 1 ? "" : "s",
             n == 1 ? "s" : "");
    http_reply_json(req, 422, error_body("validation_failed", message, fields));
}

void http_reply_store_error(struct http_request *req, enum store_result r)
{
    switch (r) {
    case STORE_NOT_FOUND:
        http_reply_error(req, 404, "not_found", "Not found.");
        break;
    case STORE_CONFLICT:
        http_reply_error(req, 409, "conflict", "That conflicts with what is already stored.");
        break;
    default:
        http_set_header(req, "Retry-After", "5");
        http_reply_error(req, 503, "store_unavailable",
                         "The gateway cannot save right now (storage unavailable). Nothing was "
                         "recorded; please try again in a moment.");
        break;
    }
}

json_t *http_json_body(struct http_request *req)
{
    if (req->json)
        return req->json;
    if (req->body_len == 0) {
        http_reply_error(req, 400, "malformed_json", "The request needs a JSON object body.");
        return NULL;
    }
    json_error_t jerr;
    json_t *v = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!v || !json_is_object(v)) {
        char message[256];
        if (v)
            snprintf(message, sizeof message, "The body must be a JSON object.");
        else
            snprintf(message, sizeof message, "The body is not valid JSON (line %d, column %d).",
                     jerr.line, jerr.column);
        json_decref(v);
        http_reply_error(req, 400, "malformed_json", message);
        return NULL;
    }
    req->json = v;
    return v;
}

void http_defer(struct http_request *req)
{
    req->deferred = true;
}

void http_log_with_reply(struct http_request *req, char *line)
{
    free(req->log_first);
    req->log_first = line;
}

void http_release_with_request(struct http_request *req, void (*release)(void *ctx), void *ctx)
{
    if (req->release) {
        release(ctx);
        return;
    }
    req->release = release;
    req->release_ctx = ctx;
}

/* Once the lock is released the request may be freed at any moment by its MHD thread —
 * unless the connection is suspended: then nothing happens to it until it is resumed. So we
 * decide under the lock and resume after releasing it, touching nothing of req afterwards. */
void http_complete(struct http_request *req)
{
    struct MHD_Connection *conn = req->conn;
    pthread_mutex_lock(&req->lock);
    req->completed = true;
    bool resume = req->suspended;
    req->suspended = false;
    pthread_mutex_unlock(&req->lock);
    if (resume)
        MHD_resume_connection(conn);
}

/* ---- routing ---- */

static bool match_pattern(const char *pattern, const char *path, char **params)
{
    int n = 0;
    const char *p = pattern, *s = path;
    while (*p && *s) {
        if (p[0] == '*' && p[1] == '\0')
            return true; /* a trailing * takes the rest of the path */
        if (p[0] == '{' && p[1] == '}') {
            const char *end = strchr(s, '/');
            size_t len = end ? (size_t)(end - s) : strlen(s);
            if (len == 0 || n >= HTTP_PARAMS_MAX)
                return false;
            params[n++] = strndup(s, len);
            p += 2;
            s += len;
        } else if (*p == *s) {
            p++;
            s++;
        } else {
            return false;
        }
    }
    return (*p == '\0' || strcmp(p, "*") == 0) && *s == '\0';
}

static void free_params(char **params)
{
    for (int i = 0; i < HTTP_PARAMS_MAX; i++) {
        free(params[i]);
        params[i] = NULL;
    }
}

static void route_request(struct http_request *req)
{
    bool path_known = false;
    for (const struct http_route *r = req->server->routes; r->method; r++) {
        char *params[HTTP_PARAMS_MAX] = {0};
        if (!match_pattern(r->pattern, req->path, params)) {
            free_params(params);
            continue;
        }
        size_t plen = strlen(r->pattern);
        bool wildcard = plen > 0 && r->pattern[plen - 1] == '*';
        path_known |= !wildcard; /* a catch-all does not make other methods a 405 */
        if (strcmp(r->method, req->method) == 0 ||
            (strcmp(r->method, "GET") == 0 && strcmp(req->method, "HEAD") == 0)) {
            req->route = r;
            memcpy(req->params, params, sizeof params);
            return;
        }
        free_params(params);
    }
    req->method_not_allowed = path_known;
}

/* ---- access control ---- */

/* The session's role against the route's access (access.c holds the rule); 403 when not. */
static bool authorise_role(struct http_request *req, enum http_access need)
{
    if (access_allows(need, req->session.staff.role))
        return true;
    const char *message = "Your role cannot do this.";
    if (need == HTTP_ADMIN)
        message = "Only an administrator can do this.";
    else if (need == HTTP_SUPERVISOR)
        message = "Only a supervisor can do this.";
    else if (need == HTTP_STAFF)
        message = "Only counter staff can do this (an auditor reads, and changes nothing).";
    http_reply_error(req, 403, "forbidden", message);
    return false;
}

static bool authorise(struct http_request *req)
{
    enum http_access need = req->route->access;
    if (need == HTTP_PUBLIC)
        return true;
    const char *token = token_from_authorization(http_header(req, "Authorization"));
    if (!token) {
        http_set_header(req, "WWW-Authenticate", "Bearer");
        http_reply_error(req, 401, "unauthorised",
                         "Sign in first: this needs a valid session token.");
        return false;
    }
    char hash[TOKEN_HASH_HEX_LEN + 1];
    token_hash(token, hash);
    enum store_result r =
        store_session_find(req->server->app->store, hash, time(NULL), &req->session);
    if (r == STORE_NOT_FOUND) {
        http_set_header(req, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
        http_reply_error(req, 401, "session_expired",
                         "Your session has ended or expired. Please sign in again.");
        return false;
    }
    if (r != STORE_OK) {
        http_reply_store_error(req, r);
        return false;
    }
    time_t now = time(NULL);
    long idle = req->server->app->cfg->auth.idle_timeout_s;
    if (now - req->session.last_seen_at > idle) {
        http_set_header(req, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
        http_reply_error(req, 401, "session_expired",
                         "You were signed out after a spell without use. Please sign in again.");
        return false;
    }
    /* remember the use, at most once a touch interval per session (it is a write); the
     * interval stays well inside the idle timeout so a session in use never lapses */
    long touch = idle / 4 < HTTP_TOUCH_INTERVAL_S ? idle / 4 : HTTP_TOUCH_INTERVAL_S;
    if (now - req->session.last_seen_at >= touch)
        store_session_touch(req->server->app->store, hash, now);
    req->has_session = true;
    return authorise_role(req, need);
}

/* The streamed route a matched route is, or NULL. */
static const struct http_stream *stream_for(const struct http_route *route)
{
    for (const struct http_stream *st = onestop_streams; route && st->method; st++)
        if (strcmp(st->method, route->method) == 0 && strcmp(st->pattern, route->pattern) == 0)
            return st;
    return NULL;
}

/* The bytes this request's body may hold: its streamed route's limit, or http.body_limit. */
static long body_limit(const struct http_request *req)
{
    if (req->stream)
        return req->stream->body_limit(req->server->app);
    return req->server->app->cfg->http.body_limit;
}

static void reply_too_large(struct http_request *req)
{
    char message[160];
    snprintf(message, sizeof message, "The request body is larger than the %ld-byte limit.",
             body_limit(req));
    http_reply_error(req, 413, "body_too_large", message);
}

/* Everything that can be decided from the headers alone, before any of the body is read:
 * the route, the declared length and the caller's authorisation. A request refused here is
 * answered at once and its body is never buffered (MHD closes the connection after the
 * reply when the body was not read). True when the body may be read. */
static bool admit(struct http_request *req, long long declared)
{
    log_set_request_id(req->request_id);
    route_request(req);
    req->stream = stream_for(req->route);
    if (declared > body_limit(req))
        req->body_too_large = true;
    if (req->body_too_large) {
        reply_too_large(req);
        return false;
    }
    if (!req->route) {
        if (req->method_not_allowed)
            http_reply_error(req, 405, "method_not_allowed",
                             "That method is not allowed on this address.");
        else
            http_reply_error(req, 404, "not_found", "There is nothing at this address.");
        return false;
    }
    if (!authorise(req))
        return false;
    if (req->stream)
        client_limits_body_deadline(req->server->limits, req->limits_conn,
                                    req->stream->body_deadline_s(req->server->app));
    if (req->stream && !req->stream->begin(req->server->app, req)) {
        if (!req->replied)
            http_reply_error(req, 500, "internal_error", "The upload could not be started.");
        return false;
    }
    return true;
}

static void dispatch(struct http_request *req)
{
    log_set_request_id(req->request_id);
    req->route->handler(req->server->app, req);
    if (!req->deferred && !req->replied)
        http_reply_error(req, 500, "internal_error", "The gateway did not produce a reply.");
}

/* ---- MHD callbacks ---- */

static double elapsed_s(const struct http_request *req)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - req->started.tv_sec) +
           (double)(now.tv_nsec - req->started.tv_nsec) / 1e9;
}

/* The request's log line and metrics: written before its reply is queued, so that a client
 * that has its answer also finds the request counted in /metrics. */
static void account(struct http_request *req, int status)
{
    if (req->accounted)
        return;
    req->accounted = true;
    double seconds = elapsed_s(req);
    const char *route = req->route ? req->route->pattern : "unmatched";
    log_request_after(req->log_first, req->method, route, status, seconds * 1000.0, req->request_id,
                      req->remote, req->has_session ? req->session.staff.username : NULL,
                      req->has_session ? req->session.counter : NULL);
    free(req->log_first);
    req->log_first = NULL;
    metrics_observe_request(req->server->app->metrics, route, req->method, status, seconds);
}

static void bodies_release(struct http_request *req);

static enum MHD_Result queue_reply(struct http_request *req)
{
    account(req, req->status);
    bodies_release(req);
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        req->reply_len, req->reply ? req->reply : (void *)"",
        req->reply ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    req->reply = NULL; /* MHD owns it now */
    if (req->content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, req->content_type);
    MHD_add_response_header(resp, "X-Request-Id", req->request_id);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "Content-Security-Policy", security_policy);
    if (req->server->hsts[0])
        MHD_add_response_header(resp, "Strict-Transport-Security", req->server->hsts);
    bool has_cache = false;
    for (int i = 0; i < req->headers_len; i++) {
        MHD_add_response_header(resp, req->headers[i].name, req->headers[i].value);
        if (strcasecmp(req->headers[i].name, "Cache-Control") == 0)
            has_cache = true;
    }
    if (!has_cache)
        MHD_add_response_header(resp, "Cache-Control", "no-store");
    enum MHD_Result ret = MHD_queue_response(req->conn, (unsigned)req->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void remote_text(struct MHD_Connection *conn, char *out, size_t len)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    text_copy(out, len, "unknown");
    if (!info || !info->client_addr)
        return;
    const struct sockaddr *sa = info->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)len);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)len);
}

/* ---- the connection and limits layer: deadlines, shares, smuggling, bodies' memory ---- */

static struct client_conn *connection_limits(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info ? info->socket_context : NULL;
}

/* MHD_OPTION_NOTIFY_CONNECTION: every connection is watched from accept to close. */
static void connection_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                              enum MHD_ConnectionNotificationCode code)
{
    struct http_server *server = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        char address[HTTP_REMOTE_MAX];
        remote_text(conn, address, sizeof address);
        *socket_context =
            info ? client_limits_open(server->limits, info->connect_fd, address) : NULL;
    } else {
        client_limits_close(server->limits, *socket_context);
        *socket_context = NULL;
    }
}

struct framing_count {
    int content_length;
    int transfer_encoding;
    bool chunked_only; /* the (last) Transfer-Encoding is exactly "chunked" */
};

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    struct framing_count *n = cls;
    (void)kind;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
        n->content_length++;
    } else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        n->transfer_encoding++;
        n->chunked_only = value && strcasecmp(value, "chunked") == 0;
    }
    return MHD_YES;
}

/* A body framed two ways (Content-Length with Transfer-Encoding, or either twice) may be read
 * one way by a proxy in front of us and another way by us: request smuggling. A transfer
 * coding other than chunked alone has no length we could trust either. NULL when the framing
 * is plain, or what is wrong with it. */
static const char *framing_problem(struct MHD_Connection *conn)
{
    struct framing_count n = {0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_framing, &n);
    if (n.content_length > 1 || n.transfer_encoding > 1 ||
        (n.content_length > 0 && n.transfer_encoding > 0))
        return "The request gives its body's length more than one way.";
    if (n.transfer_encoding > 0 && !n.chunked_only)
        return "The only transfer coding accepted is chunked.";
    return NULL;
}

/* The connection layer's say on a request whose headers are in: its framing, and the real
 * client's share of connections (which also names req->remote). True when it may go on;
 * otherwise the refusal is prepared. */
static bool connection_admit(struct http_request *req)
{
    req->limits_conn = connection_limits(req->conn);
    char client[CLIENT_ADDRESS_MAX];
    bool share_ok = client_limits_headers_done(req->server->limits, req->limits_conn,
                                               http_header(req, "X-Forwarded-For"), client);
    if (client[0])
        text_copy(req->remote, sizeof req->remote, client);
    const char *framing = framing_problem(req->conn);
    if (framing) {
        http_set_header(req, "Connection", "close");
        http_reply_error(req, 400, "ambiguous_framing", framing);
        return false;
    }
    if (!share_ok) {
        http_set_header(req, "Connection", "close");
        http_set_header(req, "Retry-After", HTTP_BUSY_RETRY_S);
        http_reply_error(req, 429, "too_many_connections",
                         "Too many connections from this address at once.");
        return false;
    }
    return true;
}

/* Takes n bytes of the bodies' memory; false when that would pass the configured total. */
static bool bodies_reserve(struct http_request *req, size_t n)
{
    struct http_server *server = req->server;
    long limit = server->app->cfg->http.bodies_memory_limit;
    long held = atomic_load(&server->bodies_bytes);
    do {
        if (held + (long)n > limit)
            return false;
    } while (!atomic_compare_exchange_weak(&server->bodies_bytes, &held, held + (long)n));
    req->body_reserved += n;
    return true;
}

/* The handler is done with the body: its memory goes back at once (a large body was mapped
 * pages of its own, so the process's size shrinks too). */
static void bodies_release(struct http_request *req)
{
    free(req->body);
    req->body = NULL;
    req->body_len = req->body_cap = 0;
    atomic_fetch_sub(&req->server->bodies_bytes, (long)req->body_reserved);
    req->body_reserved = 0;
}

static void reply_busy(struct http_request *req)
{
    http_set_header(req, "Retry-After", HTTP_BUSY_RETRY_S);
    http_reply_error(req, 503, "busy",
                     "The gateway is receiving too much at once. Please try again in a moment.");
}

/* Reserves and allocates a declared body before any of it is read; false with a 503
 * prepared when the bodies' memory is all taken. */
static bool body_admit(struct http_request *req, long declared)
{
    if (declared <= 0)
        return true;
    if (!bodies_reserve(req, (size_t)declared + 1)) {
        reply_busy(req);
        return false;
    }
    req->body = malloc((size_t)declared + 1);
    if (!req->body) {
        bodies_release(req);
        reply_busy(req);
        return false;
    }
    req->body_cap = (size_t)declared + 1;
    return true;
}

/* Makes room for n more bytes of body; false when the bodies' memory will not stretch. */
static bool body_grow(struct http_request *req, size_t n)
{
    size_t need = req->body_len + n + 1;
    if (need <= req->body_cap)
        return true;
    size_t cap = req->body_cap * 2 > need ? req->body_cap * 2 : need;
    if (cap < HTTP_BODY_CHUNK_MIN)
        cap = HTTP_BODY_CHUNK_MIN;
    if (!bodies_reserve(req, cap - req->body_cap))
        return false;
    char *grown = realloc(req->body, cap);
    if (!grown)
        return false;
    req->body = grown;
    req->body_cap = cap;
    return true;
}

#define HTTP_REQUEST_SEQ_DIGITS 6 /* hex digits of a request's number, at least */

/* "<the listener's prefix>-<its next number in hex, at least 6 digits>": what
 * snprintf("%s-%06lx") wrote, without its format parsing (this is once per request). */
static void request_id_make(struct http_server *server, char out[HTTP_REQUEST_ID_MAX])
{
    unsigned long seq = atomic_fetch_add(&server->next_id, 1);
    char digits[2 * sizeof seq];
    int n = 0;
    do {
        digits[n++] = "0123456789abcdef"[seq & 0xf];
        seq >>= 4;
    } while (seq && n < (int)sizeof digits);
    while (n < HTTP_REQUEST_SEQ_DIGITS)
        digits[n++] = '0';
    size_t len = strlen(server->id_prefix);
    char id[sizeof server->id_prefix + 1 + sizeof digits + 1];
    memcpy(id, server->id_prefix, len);
    id[len++] = '-';
    while (n > 0)
        id[len++] = digits[--n];
    id[len] = '\0';
    text_copy(out, HTTP_REQUEST_ID_MAX, id);
}

static struct http_request *request_new(struct http_server *server, struct MHD_Connection *conn,
                                        const char *url, const char *method)
{
    /* malloc, then zeroed by assignment: glibc's calloc takes no chunk from the thread's
     * cache (and GCC turns a malloc followed by a memset of zeros into calloc) */
    struct http_request *req = malloc(sizeof *req);
    if (!req)
        return NULL;
    *req = (struct http_request){.server = server, .conn = conn};
    text_copy(req->method, sizeof req->method, method);
    req->path = strdup(url);
    clock_gettime(CLOCK_MONOTONIC, &req->started);
    request_id_make(server, req->request_id);
    remote_text(conn, req->remote, sizeof req->remote);
    pthread_mutex_init(&req->lock, NULL);
    atomic_fetch_add(&server->in_flight, 1);
    return req;
}

/* True (and logged) when a body over its limit has run on past HTTP_DISCARD_FACTOR times it:
 * the connection is then closed rather than read for ever. */
static bool discard_exceeded(size_t read, long limit, const char *kind)
{
    if (read <= (size_t)limit * HTTP_DISCARD_FACTOR)
        return false;
    log_msg(LOG_WARN, "body_too_large", "a %s body passed %ld bytes; the connection is closed",
            kind, limit * HTTP_DISCARD_FACTOR);
    return true;
}

/* A piece of a streamed body: to the route while it wants it and the body is within the
 * route's limit; dropped after that (a reply cannot be queued in the middle of a body), and
 * the connection closed once the body passes the limit by HTTP_DISCARD_FACTOR. False to
 * close the connection. */
static bool stream_feed(struct http_request *req, const char *data, size_t len, long limit)
{
    req->streamed += len;
    if (req->streamed > (size_t)limit)
        req->body_too_large = true;
    if (!req->body_too_large && !req->stream_stopped && !req->stream->data(req, data, len))
        req->stream_stopped = true;
    return !discard_exceeded(req->streamed, limit, "streamed");
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    struct http_server *server = cls;
    struct http_request *req = *con_cls;

    if (!req) {
        req = request_new(server, conn, url, method);
        if (!req)
            return MHD_NO;
        *con_cls = req;
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        long long declared = cl ? strtoll(cl, NULL, 10) : 0;
        /* refuse what the headers already condemn before reading a byte of the body; a
         * streamed route's body is never collected, so it takes none of the bodies' memory */
        if (!connection_admit(req) || !admit(req, declared) ||
            (!req->stream && !body_admit(req, (long)declared)))
            return queue_reply(req);
        return MHD_YES;
    }
    log_set_request_id(req->request_id);

    if (req->replied && !req->deferred) {
        /* refused early (or over the limit): the body is not read; MHD closes afterwards */
        *upload_data_size = 0;
        return MHD_YES;
    }

    long limit = body_limit(req);

    if (req->stream && *upload_data_size > 0) {
        if (!stream_feed(req, upload_data, *upload_data_size, limit))
            return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }

    if (*upload_data_size > 0) {
        if (!req->body_too_large && req->body_len + *upload_data_size <= (size_t)limit &&
            !body_grow(req, *upload_data_size))
            req->body_no_memory = true;
        if (req->body_too_large || req->body_no_memory ||
            req->body_len + *upload_data_size > (size_t)limit) {
            /* Over the cap with no declared length (a chunked body): libmicrohttpd cannot
             * queue a reply in the middle of a body, so we keep nothing more, answer 413 if
             * the body ends soon, and drop the connection once it passes twice the cap. */
            if (!req->body_no_memory)
                req->body_too_large = true;
            req->discarded += req->body_len + *upload_data_size;
            bodies_release(req);
            *upload_data_size = 0;
            return discard_exceeded(req->discarded, limit, "chunked") ? MHD_NO : MHD_YES;
        }
        memcpy(req->body + req->body_len, upload_data, *upload_data_size);
        req->body_len += *upload_data_size;
        req->body[req->body_len] = '\0';
        *upload_data_size = 0;
        return MHD_YES;
    }

    if (req->deferred) {
        /* resumed: the work is done and the reply prepared */
        return queue_reply(req);
    }

    client_limits_body_done(req->server->limits, req->limits_conn);
    if (req->body_no_memory) {
        reply_busy(req);
        return queue_reply(req);
    }
    if (req->body_too_large) {
        reply_too_large(req);
        return queue_reply(req);
    }
    dispatch(req);
    if (req->deferred) {
        pthread_mutex_lock(&req->lock);
        bool done = req->completed;
        if (!done) {
            req->suspended = true;
            MHD_suspend_connection(conn);
        }
        pthread_mutex_unlock(&req->lock);
        return done ? queue_reply(req) : MHD_YES;
    }
    return queue_reply(req);
}

static void request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    struct http_server *server = cls;
    struct http_request *req = *con_cls;
    if (!req)
        return;
    failpoint("http_request_completed"); /* tests: the reply is out, the request not freed */
    /* a request with no reply queued: the client went away first (499), or MHD gave up */
    account(req, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK && req->replied ? req->status : 499);
    log_set_request_id(NULL);

    /* the connection's handle, unless it has been closed already */
    client_limits_request_done(server->limits, connection_limits(conn));
    bodies_release(req);
    if (req->stream && req->stream->release)
        req->stream->release(req);
    free_params(req->params);
    free(req->path);
    free(req->reply);
    free(req->log_first);
    if (req->release)
        req->release(req->release_ctx);
    json_decref(req->json);
    for (int i = 0; i < req->headers_len; i++) {
        free(req->headers[i].name);
        free(req->headers[i].value);
    }
    pthread_mutex_destroy(&req->lock);
    free(req);
    *con_cls = NULL;
    atomic_fetch_sub(&server->in_flight, 1);
}

static void panic_handler(void *cls, const char *file, unsigned int line, const char *reason)
{
    (void)cls;
    log_msg(LOG_ERROR, "http_panic", "libmicrohttpd failed at %s:%u: %s", file ? file : "?", line,
            reason ? reason : "?");
    abort();
}

/* The routes one listener serves: with a separate metrics listener, the main one serves every
 * route but /metrics and the metrics one only /metrics. malloc'd, ends with a zeroed entry. */
static struct http_route *routes_for(const struct http_route *routes, bool split, bool metrics)
{
    size_t n = 0;
    while (routes[n].method)
        n++;
    struct http_route *out = calloc(n + 1, sizeof *out);
    if (!out)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool is_metrics = strcmp(routes[i].pattern, HTTP_METRICS_PATH) == 0;
        if (!split || is_metrics == metrics)
            out[k++] = routes[i];
    }
    return out;
}

static bool limits_start(struct http_server *server, char *err, size_t errlen)
{
    const struct config *cfg = server->app->cfg;
    size_t n = json_array_size(cfg->http.trusted_proxies);
    const char **proxies = n ? calloc(n, sizeof *proxies) : NULL;
    if (n && !proxies) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    for (size_t i = 0; i < n; i++)
        proxies[i] = json_string_value(json_array_get(cfg->http.trusted_proxies, i));
    struct client_limits_config lc = {
        .header_deadline_s = cfg->http.header_deadline_s,
        .body_deadline_s = cfg->http.body_deadline_s,
        .connection_limit = cfg->http.connection_limit,
        .headroom = cfg->http.connection_headroom,
        .per_client_limit = cfg->http.per_ip_connection_limit,
        .trusted_proxies = proxies,
        .trusted_proxies_len = n,
    };
    server->limits = client_limits_new(&lc);
    free(proxies);
    if (!server->limits)
        snprintf(err, errlen, "cannot start the connection sweeper (out of memory or threads)");
    return server->limits != NULL;
}

/* The connection and limits layer's gauges, at scrape time. */
static void limits_metrics(void *ctx, struct strbuf *out)
{
    struct http_server *server = ctx;
    long phases[CLIENT_PHASES];
    client_limits_phase_counts(server->limits, phases);
    strbuf_printf(out,
                  "# HELP onestop_http_connections_open Connections open on the main listener, "
                  "by phase.\n"
                  "# TYPE onestop_http_connections_open gauge\n"
                  "onestop_http_connections_open{phase=\"headers\"} %ld\n"
                  "onestop_http_connections_open{phase=\"body\"} %ld\n"
                  "onestop_http_connections_open{phase=\"handling\"} %ld\n"
                  "# HELP onestop_http_connections_cut_total Connections closed for a missed "
                  "deadline, for headroom or past an address's share.\n"
                  "# TYPE onestop_http_connections_cut_total counter\n"
                  "onestop_http_connections_cut_total %lu\n"
                  "# HELP onestop_http_bodies_bytes Bytes held for request bodies in flight.\n"
                  "# TYPE onestop_http_bodies_bytes gauge\n"
                  "onestop_http_bodies_bytes %ld\n",
                  phases[CLIENT_PHASE_HEADERS], phases[CLIENT_PHASE_BODY],
                  phases[CLIENT_PHASE_HANDLING], client_limits_closed_count(server->limits),
                  atomic_load(&server->bodies_bytes));
}

static void server_free(struct http_server *server)
{
    if (!server)
        return;
    client_limits_free(server->limits);
    http_tls_free(&server->tls);
    free(server->own_routes);
    free(server);
}

/* Starts one listener on host:port. metrics: the separate loopback /metrics listener (plain
 * HTTP, few threads); otherwise the main one, HTTPS when the config names a certificate. */
static struct http_server *listener_start(struct app *app, const struct http_route *routes,
                                          const char *listen_host, int listen_port, bool metrics,
                                          char *err, size_t errlen)
{
    const struct config *cfg = app->cfg;
    struct http_server *server = calloc(1, sizeof *server);
    if (!server) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    server->app = app;
    server->own_routes = routes_for(routes, cfg->http.metrics_listen != NULL, metrics);
    server->routes = server->own_routes;
    unsigned char rnd[4];
    if (RAND_bytes(rnd, sizeof rnd) != 1)
        memset(rnd, 0, sizeof rnd);
    snprintf(server->id_prefix, sizeof server->id_prefix, "%02x%02x%02x%02x", rnd[0], rnd[1],
             rnd[2], rnd[3]);
    if (!server->own_routes || !limits_start(server, err, errlen)) {
        if (!server->own_routes)
            snprintf(err, errlen, "out of memory");
        server_free(server);
        return NULL;
    }

    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)listen_port)};
    const char *host = listen_host;
    if (strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        snprintf(err, errlen, "listen: %s is not an IPv4 address", listen_host);
        server_free(server);
        return NULL;
    }
    bool https = !metrics && cfg->http.tls_cert_file && cfg->http.tls_key_file;
    if (https) {
        if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
            snprintf(err, errlen, "this libmicrohttpd was built without TLS");
            server_free(server);
            return NULL;
        }
        if (!http_tls_load(cfg->http.tls_cert_file, cfg->http.tls_key_file, &server->tls, err,
                           errlen)) {
            server_free(server);
            return NULL;
        }
        if (cfg->http.hsts_max_age_s > 0)
            snprintf(server->hsts, sizeof server->hsts, "max-age=%ld", cfg->http.hsts_max_age_s);
    }
    /* bodies of HTTP_MMAP_THRESHOLD and more get pages of their own, handed back on free
     * (glibc otherwise raises the threshold after such frees and keeps the memory) */
    mallopt(M_MMAP_THRESHOLD, HTTP_MMAP_THRESHOLD);
    MHD_set_panic_func(panic_handler, NULL);
    unsigned int flags =
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (https)
        flags |= MHD_USE_TLS;
    /* with trusted proxies one address carries many clients: shares are ours to count */
    unsigned int per_ip = json_array_size(cfg->http.trusted_proxies)
                              ? 0
                              : (unsigned int)cfg->http.per_ip_connection_limit;
    unsigned int threads = metrics ? HTTP_METRICS_THREADS : (unsigned int)cfg->http.threads;
    struct MHD_OptionItem tls_options[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, server->tls.cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, server->tls.key},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, cfg->http.tls_priorities},
        {MHD_OPTION_END, 0, NULL},
    };
    server->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, access_handler, server, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->http.connection_timeout_s,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)cfg->http.connection_limit, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)cfg->http.connection_memory_limit, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
        MHD_OPTION_NOTIFY_COMPLETED, request_completed, server, MHD_OPTION_NOTIFY_CONNECTION,
        connection_notify, server, MHD_OPTION_ARRAY, https ? tls_options : &tls_options[3],
        MHD_OPTION_END);
    if (!server->daemon) {
        snprintf(err, errlen, "cannot listen on %s:%d (in use, not allowed, or a bad %s?)",
                 listen_host, listen_port,
                 https ? "certificate, key or http.tls_priorities" : "address");
        server_free(server);
        return NULL;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_BIND_PORT);
    server->port = info ? info->port : listen_port;
    if (!metrics)
        metrics_add_writer(app->metrics, limits_metrics, server);
    return server;
}

struct http_server *http_start(struct app *app, const struct http_route *routes, char *err,
                               size_t errlen)
{
    const struct config *cfg = app->cfg;
    struct http_server *server =
        listener_start(app, routes, cfg->listen_host, cfg->listen_port, false, err, errlen);
    if (!server || !cfg->http.metrics_listen)
        return server;
    char *host = strndup(cfg->http.metrics_listen, (size_t)(strrchr(cfg->http.metrics_listen, ':') -
                                                            cfg->http.metrics_listen));
    int port = (int)strtol(strrchr(cfg->http.metrics_listen, ':') + 1, NULL, 10);
    server->metrics = host ? listener_start(app, routes, host, port, true, err, errlen) : NULL;
    free(host);
    if (!server->metrics) {
        http_stop(server);
        return NULL;
    }
    return server;
}

int http_bound_port(struct http_server *server)
{
    return server->port;
}

void http_quiesce(struct http_server *server)
{
    MHD_socket fd = MHD_quiesce_daemon(server->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
}

bool http_drain(struct http_server *server, long timeout_ms)
{
    for (long waited = 0; waited < timeout_ms; waited += 10) {
        if (atomic_load(&server->in_flight) == 0)
            return true;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return atomic_load(&server->in_flight) == 0;
}

void http_stop(struct http_server *server)
{
    if (!server)
        return;
    http_stop(server->metrics);
    MHD_stop_daemon(server->daemon);
    server_free(server);
}
