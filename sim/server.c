/*
 * libmicrohttpd glue. The access handler is called several times per request: first
 * with no body (a per-request context is made), then with body chunks (appended up to
 * SERVER_MAX_BODY, anything past that is read and dropped so the 413 can be sent on a
 * healthy connection), then once more with nothing left, when the request is routed
 * and answered. Everything here is per connection; shared state lives behind the
 * state lock in the modules it calls.
 */
#include "sim/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "sim/backend.h"
#include "sim/control.h"
#include "sim/pipeline.h"
#include "sim/record.h"
#include "sim/registry.h"

#define CONTROL_SEGMENT  "_sim"
#define INITIAL_BODY_CAP 4096
#define QUERY_LOG_MAX    1024
#define PORT_MAX         65535
#define HEADERS_LOG_MAX  64 /* request headers kept in the received log */

static struct MHD_Daemon *daemon_handle;

typedef struct request_ctx {
    char *body;
    size_t len;
    size_t cap;
    bool too_large;
    size_t max_body; /* the back-end's, or SERVER_MAX_BODY */
    struct timespec started;
} request_ctx;

typedef struct query_log {
    char text[QUERY_LOG_MAX];
    size_t len;
} query_log;

bool server_parse_listen(const char *text, char *host, size_t host_len, uint16_t *port)
{
    const char *colon = strrchr(text, ':');
    struct in_addr addr;
    char *end = NULL;

    if (!colon || colon == text || (size_t)(colon - text) >= host_len)
        return false;
    snprintf(host, host_len, "%.*s", (int)(colon - text), text);
    if (strcmp(host, "localhost") == 0)
        snprintf(host, host_len, "127.0.0.1");
    if (inet_pton(AF_INET, host, &addr) != 1)
        return false;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno != 0 || end == colon + 1 || *end != '\0' || p < 0 || p > PORT_MAX)
        return false;
    *port = (uint16_t)p;
    return true;
}

static const char *mhd_query(const sim_request *req, const char *name)
{
    return MHD_lookup_connection_value((struct MHD_Connection *)req->transport,
                                       MHD_GET_ARGUMENT_KIND, name);
}

static const char *mhd_header(const sim_request *req, const char *name)
{
    return MHD_lookup_connection_value((struct MHD_Connection *)req->transport, MHD_HEADER_KIND,
                                       name);
}

/* Adds one request header to the JSON object the received log keeps. */
static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind;
    json_t *headers = cls;
    if (json_object_size(headers) < HEADERS_LOG_MAX && key && value)
        json_object_set_new(headers, key, json_string(value));
    return MHD_YES;
}

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    query_log *q = cls;
    int n = snprintf(q->text + q->len, sizeof q->text - q->len, "%s%s=%s", q->len ? "&" : "", key,
                     value ? value : "");
    if (n < 0 || (size_t)n >= sizeof q->text - q->len)
        return MHD_NO; /* truncated: stop here, keep what fitted */
    q->len += (size_t)n;
    return MHD_YES;
}

static long elapsed_ms(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(now.tv_sec - start->tv_sec) * 1000L + (now.tv_nsec - start->tv_nsec) / 1000000L;
}

/* Sends the reply (taking its body) and logs the request line. */
static enum MHD_Result send_reply(struct MHD_Connection *c, const char *method, const char *url,
                                  request_ctx *ctx, sim_reply *reply)
{
    char when[40];
    struct timespec now;
    char retry[24];
    unsigned status = reply->status ? reply->status : 500;
    size_t len = reply->body ? strlen(reply->body) : 0;
    struct MHD_Response *resp =
        reply->body ? MHD_create_response_from_buffer(len, reply->body, MHD_RESPMEM_MUST_FREE)
                    : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp)
        free(reply->body);
    reply->body = NULL;
    free(reply->reference);
    reply->reference = NULL;

    clock_gettime(CLOCK_REALTIME, &now);
    record_format_time(now, when, sizeof when);
    fprintf(stderr, "%s %s %s %u%s %ldms\n", when, method, url, status,
            reply->drop ? " dropped" : "", elapsed_ms(&ctx->started));
    if (resp && reply->drop) {
        MHD_destroy_response(resp);
        return MHD_NO; /* closes the connection: the client gets no answer */
    }
    if (!resp)
        return MHD_NO;
    if (len > 0)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (reply->retry_after_s > 0) {
        snprintf(retry, sizeof retry, "%u", reply->retry_after_s);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, retry);
    }
    enum MHD_Result r = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return r;
}

/* Routes a complete request. */
static void route(struct MHD_Connection *c, const char *url, const char *method, request_ctx *ctx,
                  sim_reply *reply)
{
    const char *segment = url[0] == '/' ? url + 1 : url;
    const char *slash = strchr(segment, '/');
    size_t seg_len = slash ? (size_t)(slash - segment) : strlen(segment);
    const char *subpath = slash ? slash : "";
    sim_request req = {
        .method = method,
        .subpath = subpath,
        .body = ctx->body ? ctx->body : "",
        .body_len = ctx->len,
        .content_type =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
        .idempotency_key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key"),
        .query = mhd_query,
        .header = mhd_header,
        .transport = c,
    };

    if (seg_len == strlen(CONTROL_SEGMENT) && memcmp(segment, CONTROL_SEGMENT, seg_len) == 0) {
        control_handle(&req, reply);
        return;
    }
    sim_slot *slot = registry_find(segment, seg_len);
    if (!slot) {
        sim_reply_error(reply, 404, "unknown_backend", NULL);
        return;
    }
    query_log q = {.len = 0};
    q.text[0] = '\0';
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_query, &q);
    json_t *headers = json_object();
    if (headers)
        MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, headers);
    pipeline_request in = {
        .req = req,
        .path = url,
        .query_log = q.len ? q.text : NULL,
        .timestamp = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Onestop-Timestamp"),
        .signature = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Onestop-Signature"),
        .headers = headers,
    };
    pipeline_handle(slot, &in, reply);
    json_decref(headers);
}

/* Appends a body chunk, or notes that the body is too large. */
static void append_body(request_ctx *ctx, const char *data, size_t n)
{
    if (ctx->too_large)
        return;
    if (n > ctx->max_body - ctx->len) {
        ctx->too_large = true;
        free(ctx->body);
        ctx->body = NULL;
        ctx->len = ctx->cap = 0;
        return;
    }
    if (ctx->len + n + 1 > ctx->cap) {
        size_t cap = ctx->cap ? ctx->cap : INITIAL_BODY_CAP;
        while (cap < ctx->len + n + 1)
            cap *= 2;
        char *grown = realloc(ctx->body, cap);
        if (!grown) {
            ctx->too_large = true;
            return;
        }
        ctx->body = grown;
        ctx->cap = cap;
    }
    memcpy(ctx->body + ctx->len, data, n);
    ctx->len += n;
    ctx->body[ctx->len] = '\0';
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    request_ctx *ctx = *con_cls;
    if (!ctx) {
        ctx = calloc(1, sizeof *ctx);
        if (!ctx)
            return MHD_NO;
        clock_gettime(CLOCK_MONOTONIC, &ctx->started);
        /* a back-end may take larger bodies than the simulator's default (documents) */
        const char *segment = url[0] == '/' ? url + 1 : url;
        const char *slash = strchr(segment, '/');
        sim_slot *slot =
            registry_find(segment, slash ? (size_t)(slash - segment) : strlen(segment));
        ctx->max_body = slot && slot->backend->max_body ? slot->backend->max_body : SERVER_MAX_BODY;
        *con_cls = ctx;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        append_body(ctx, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    sim_reply reply = {.status = 0};
    if (ctx->too_large)
        sim_reply_error(&reply, 413, "body_too_large",
                        ctx->max_body == SERVER_MAX_BODY ? "request bodies are limited to 1 MiB"
                                                         : "the request body is too large");
    else
        route(c, url, method, ctx, &reply);
    return send_reply(c, method, url, ctx, &reply);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    request_ctx *ctx = *con_cls;
    if (!ctx)
        return;
    free(ctx->body);
    free(ctx);
    *con_cls = NULL;
}

bool server_start(const char *host, uint16_t port, uint16_t *bound_port)
{
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "onestop-sim: bad listen address %s\n", host);
        return false;
    }
    daemon_handle =
        MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                             MHD_USE_POLL | MHD_USE_ERROR_LOG,
                         port, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR,
                         (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned)SERVER_CONNECTION_LIMIT,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)SERVER_TIMEOUT_S, MHD_OPTION_END);
    if (!daemon_handle) {
        fprintf(stderr, "onestop-sim: cannot listen on %s:%u: %s\n", host, (unsigned)port,
                strerror(errno));
        return false;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(daemon_handle, MHD_DAEMON_INFO_BIND_PORT);
    *bound_port = info && info->port ? info->port : port;
    return true;
}

void server_stop(void)
{
    if (!daemon_handle)
        return;
    MHD_stop_daemon(daemon_handle);
    daemon_handle = NULL;
}
