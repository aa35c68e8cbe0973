/* http: libmicrohttpd glue — limits, body collection, routing, auth, replies, logging.
 *
 * DESIGN: MHD runs an epoll thread pool. For each request we allocate one http_request on the
 * first call of the access handler and, from the headers alone, match the route, check the
 * declared length and the bearer token and the role: a request refused there (404, 405, 413,
 * 401, 403) is answered before a byte of its body is read. Then we collect the body up to the
 * configured cap and call the handler. (An undeclared, chunked body over the cap is not kept:
 * it gets its 413 when it ends, or its connection is dropped at twice the cap — MHD cannot
 * queue a reply in the middle of a body.) A handler may defer: we suspend the connection and
 * whichever thread finishes the work calls http_complete, which resumes it; MHD then calls us again
 * and we queue the prepared reply. The request is logged and counted just before its reply is
 * queued (so a client holding the reply finds it in /metrics), or in the completion callback when
 * no reply was queued; freed there. */
#include "gateway/http/http.h"

#include "gateway/http/access.h"
#include "gateway/app.h"
#include "gateway/config.h"
#include "gateway/failpoint.h"
#include "gateway/log.h"
#include "gateway/metrics.h"
#include "gateway/token.h"

#include <arpa/inet.h>
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
    bool method_not_allowed;

    char *body;
    size_t body_len;
    bool body_too_large;
    size_t discarded; /* bytes of an over-long chunked body read and dropped */
    json_t *json;

    bool has_session;
    struct staff_session session;

    /* the reply */
    int status;
    char *reply;
    size_t reply_len;
    const char *content_type;
    struct header headers[HTTP_HEADERS_MAX];
    int headers_len;
    bool replied;
    bool accounted; /* logged and counted (just before the reply is queued) */

    /* deferral */
    pthread_mutex_t lock;
    bool deferred;
    bool suspended;
    bool completed;
};

struct http_server {
    struct app *app;
    const struct http_route *routes;
    struct MHD_Daemon *daemon;
    atomic_long in_flight;
    atomic_ulong next_id;
    char id_prefix[9];
    int port;
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

static void reply_too_large(struct http_request *req)
{
    char message[160];
    snprintf(message, sizeof message, "The request body is larger than the %ld-byte limit.",
             req->server->app->cfg->http.body_limit);
    http_reply_error(req, 413, "body_too_large", message);
}

/* Everything that can be decided from the headers alone, before any of the body is read:
 * the route, the declared length and the caller's authorisation. A request refused here is
 * answered at once and its body is never buffered (MHD closes the connection after the
 * reply when the body was not read). True when the body may be read. */
static bool admit(struct http_request *req)
{
    log_set_request_id(req->request_id);
    if (req->body_too_large) {
        reply_too_large(req);
        return false;
    }
    route_request(req);
    if (!req->route) {
        if (req->method_not_allowed)
            http_reply_error(req, 405, "method_not_allowed",
                             "That method is not allowed on this address.");
        else
            http_reply_error(req, 404, "not_found", "There is nothing at this address.");
        return false;
    }
    return authorise(req);
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
    log_request(req->method, route, status, seconds * 1000.0, req->request_id,
                req->has_session ? req->session.staff.username : NULL,
                req->has_session ? req->session.counter : NULL);
    metrics_observe_request(req->server->app->metrics, route, req->method, status, seconds);
}

static enum MHD_Result queue_reply(struct http_request *req)
{
    account(req, req->status);
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
    snprintf(out, len, "unknown");
    if (!info || !info->client_addr)
        return;
    const struct sockaddr *sa = info->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)len);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)len);
}

static struct http_request *request_new(struct http_server *server, struct MHD_Connection *conn,
                                        const char *url, const char *method)
{
    struct http_request *req = calloc(1, sizeof *req);
    if (!req)
        return NULL;
    req->server = server;
    req->conn = conn;
    snprintf(req->method, sizeof req->method, "%s", method);
    req->path = strdup(url);
    clock_gettime(CLOCK_MONOTONIC, &req->started);
    snprintf(req->request_id, sizeof req->request_id, "%s-%06lx", server->id_prefix,
             atomic_fetch_add(&server->next_id, 1));
    remote_text(conn, req->remote, sizeof req->remote);
    pthread_mutex_init(&req->lock, NULL);
    atomic_fetch_add(&server->in_flight, 1);
    return req;
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    struct http_server *server = cls;
    struct http_request *req = *con_cls;
    long limit = server->app->cfg->http.body_limit;

    if (!req) {
        req = request_new(server, conn, url, method);
        if (!req)
            return MHD_NO;
        *con_cls = req;
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoll(cl, NULL, 10) > limit)
            req->body_too_large = true;
        /* refuse what the headers already condemn before reading a byte of the body */
        if (!admit(req))
            return queue_reply(req);
        return MHD_YES;
    }
    log_set_request_id(req->request_id);

    if (req->replied && !req->deferred) {
        /* refused early (or over the limit): the body is not read; MHD closes afterwards */
        *upload_data_size = 0;
        return MHD_YES;
    }

    if (*upload_data_size > 0) {
        if (req->body_too_large || req->body_len + *upload_data_size > (size_t)limit) {
            /* Over the cap with no declared length (a chunked body): libmicrohttpd cannot
             * queue a reply in the middle of a body, so we keep nothing more, answer 413 if
             * the body ends soon, and drop the connection once it passes twice the cap. */
            req->body_too_large = true;
            free(req->body);
            req->body = NULL;
            req->discarded += req->body_len + *upload_data_size;
            req->body_len = 0;
            *upload_data_size = 0;
            if (req->discarded > (size_t)limit * HTTP_DISCARD_FACTOR) {
                log_msg(LOG_WARN, "body_too_large",
                        "a chunked body passed %ld bytes; the connection is closed",
                        limit * HTTP_DISCARD_FACTOR);
                return MHD_NO;
            }
            return MHD_YES;
        }
        char *grown = realloc(req->body, req->body_len + *upload_data_size + 1);
        if (!grown)
            return MHD_NO;
        req->body = grown;
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
    (void)conn;
    if (!req)
        return;
    failpoint("http_request_completed"); /* tests: the reply is out, the request not freed */
    /* a request with no reply queued: the client went away first (499), or MHD gave up */
    account(req, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK && req->replied ? req->status : 499);
    log_set_request_id(NULL);

    free_params(req->params);
    free(req->path);
    free(req->body);
    free(req->reply);
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

struct http_server *http_start(struct app *app, const struct http_route *routes, char *err,
                               size_t errlen)
{
    const struct config *cfg = app->cfg;
    struct http_server *server = calloc(1, sizeof *server);
    if (!server) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    server->app = app;
    server->routes = routes;
    unsigned char rnd[4];
    if (RAND_bytes(rnd, sizeof rnd) != 1)
        memset(rnd, 0, sizeof rnd);
    snprintf(server->id_prefix, sizeof server->id_prefix, "%02x%02x%02x%02x", rnd[0], rnd[1],
             rnd[2], rnd[3]);

    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)cfg->listen_port)};
    const char *host = cfg->listen_host;
    if (strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        snprintf(err, errlen, "listen: %s is not an IPv4 address", cfg->listen_host);
        free(server);
        return NULL;
    }
    MHD_set_panic_func(panic_handler, NULL);
    unsigned int flags =
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    server->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, access_handler, server, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)cfg->http.threads,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->http.connection_timeout_s,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)cfg->http.per_ip_connection_limit,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)cfg->http.connection_limit,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg->http.connection_memory_limit,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_NOTIFY_COMPLETED, request_completed,
        server, MHD_OPTION_END);
    if (!server->daemon) {
        snprintf(err, errlen, "cannot listen on %s:%d (in use, or not allowed?)", cfg->listen_host,
                 cfg->listen_port);
        free(server);
        return NULL;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_BIND_PORT);
    server->port = info ? info->port : cfg->listen_port;
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
    MHD_stop_daemon(server->daemon);
    free(server);
}
