/* backend_request against a real (tiny, in-process) HTTP server: the signed headers as they
 * go over the wire, Retry-After, no redirects, the answer cap, refused connections and
 * timeouts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway/delivery/backend_request.h"
#include "gateway/config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define KEY         "unit-test-key-0123456789abcdef0123"
#define REQUEST_MAX 65536

/* strcasestr is a GNU extension: a portable case-insensitive search. */
static const char *find_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return hay;
    return NULL;
}

/* One connection: read the request (headers + Content-Length body), send `response`. */
struct server {
    int fd;
    int port;
    pthread_t thread;
    char *response;
    size_t response_len;
    int hang_ms; /* wait this long before answering */
    char request[REQUEST_MAX];
    size_t request_len;
};

static void *serve(void *arg)
{
    struct server *s = arg;
    int c = accept(s->fd, NULL, NULL);
    if (c < 0)
        return NULL;
    size_t want = 0;
    for (;;) {
        ssize_t n = read(c, s->request + s->request_len, REQUEST_MAX - 1 - s->request_len);
        if (n <= 0)
            break;
        s->request_len += (size_t)n;
        s->request[s->request_len] = '\0';
        char *end = strstr(s->request, "\r\n\r\n");
        if (!end)
            continue;
        if (!want) {
            const char *cl = find_nocase(s->request, "\r\nContent-Length:");
            want =
                (size_t)(end + 4 - s->request) + (cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0);
        }
        if (s->request_len >= want)
            break;
    }
    if (s->hang_ms)
        usleep((useconds_t)s->hang_ms * 1000);
    size_t off = 0;
    while (off < s->response_len) {
        ssize_t n = write(c, s->response + off, s->response_len - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    close(c);
    return NULL;
}

static void server_start(struct server *s, const char *response)
{
    memset(s, 0, sizeof *s);
    s->response = strdup(response);
    s->response_len = strlen(response);
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->fd, 4), 0);
    socklen_t len = sizeof a;
    getsockname(s->fd, (struct sockaddr *)&a, &len);
    s->port = ntohs(a.sin_port);
}

static void server_run(struct server *s)
{
    assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
}

static void server_stop(struct server *s)
{
    pthread_join(s->thread, NULL);
    close(s->fd);
    free(s->response);
}

static struct backend_config backend(int port, char *url_buf, size_t len)
{
    snprintf(url_buf, len, "http://127.0.0.1:%d/parking", port);
    struct backend_config be = {0};
    be.name = (char *)"parking";
    be.url = url_buf;
    be.signing_key.bytes = (unsigned char *)KEY;
    be.signing_key.len = strlen(KEY);
    be.timeout_ms = 2000;
    be.connect_timeout_ms = 1000;
    return be;
}

/* The value of header `name` in the captured request, into out. */
static bool header(const struct server *s, const char *name, char *out, size_t len)
{
    char needle[64];
    snprintf(needle, sizeof needle, "\r\n%s: ", name);
    const char *p = find_nocase(s->request, needle);
    if (!p)
        return false;
    p += strlen(needle);
    const char *e = strstr(p, "\r\n");
    snprintf(out, len, "%.*s", (int)(e - p), p);
    return true;
}

static void run(struct backend_request *req, struct backend_response *resp)
{
    CURLcode code = curl_easy_perform(backend_request_easy(req));
    backend_request_finish(req, code, resp);
}

static void test_post_is_signed_on_the_wire(void **state)
{
    (void)state;
    struct server s;
    server_start(&s, "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                     "Content-Length: 34\r\nConnection: close\r\n\r\n"
                     "{\"id\":\"PP-000123\",\"status\":\"ok\"}\r\n");
    server_run(&s);
    char url[64], err[200];
    struct backend_config be = backend(s.port, url, sizeof url);
    const char *body = "{\"reference\":\"RP-1\"}";
    struct backend_request_spec spec = {.method = "POST",
                                        .path = "/permits",
                                        .content_type = "application/json",
                                        .body = body,
                                        .body_len = strlen(body),
                                        .idempotency_key = "onestop-RP-1"};
    struct backend_request *req = backend_request_new(&be, &spec, 1767225600, err, sizeof err);
    assert_non_null(req);
    struct backend_response resp;
    run(req, &resp);
    server_stop(&s);
    assert_string_equal(resp.error, "");
    assert_int_equal(resp.http_status, 201);
    assert_int_equal(resp.retry_after_s, -1);
    assert_non_null(strstr(resp.body, "PP-000123"));

    assert_true(strncmp(s.request, "POST /parking/permits HTTP/1.1\r\n", 32) == 0);
    char v[200], sig[BACKEND_SIGNATURE_HEADER_SIZE];
    assert_true(header(&s, "Idempotency-Key", v, sizeof v));
    assert_string_equal(v, "onestop-RP-1");
    assert_true(header(&s, "X-Onestop-Timestamp", v, sizeof v));
    assert_string_equal(v, "1767225600");
    assert_true(backend_signature_compute((const unsigned char *)KEY, strlen(KEY), "1767225600",
                                          "onestop-RP-1", body, strlen(body), sig));
    assert_true(header(&s, "X-Onestop-Signature", v, sizeof v));
    assert_string_equal(v, sig);
    assert_true(header(&s, "Content-Type", v, sizeof v));
    assert_string_equal(v, "application/json");
    assert_false(header(&s, "Expect", v, sizeof v));
    assert_string_equal(strstr(s.request, "\r\n\r\n") + 4, body);
    backend_request_free(req);
}

static void test_get_without_key_and_retry_after(void **state)
{
    (void)state;
    struct server s;
    server_start(&s, "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\n"
                     "Content-Length: 0\r\nConnection: close\r\n\r\n");
    server_run(&s);
    char url[64], err[200];
    struct backend_config be = backend(s.port, url, sizeof url);
    struct backend_request_spec spec = {.method = "GET", .path = "/addresses?postcode=SK1%203XE"};
    struct backend_request *req = backend_request_new(&be, &spec, 1767225600, err, sizeof err);
    assert_non_null(req);
    struct backend_response resp;
    run(req, &resp);
    server_stop(&s);
    assert_int_equal(resp.http_status, 503);
    assert_int_equal(resp.retry_after_s, 7);
    assert_true(strncmp(s.request, "GET /parking/addresses?postcode=SK1%203XE HTTP/1.1", 50) == 0);
    char v[200];
    assert_false(header(&s, "Idempotency-Key", v, sizeof v));
    assert_true(header(&s, "X-Onestop-Signature", v, sizeof v));
    /* signed over an empty key and body (see test_signature.c for the independent vector) */
    assert_true(strncmp(v, "v1=", 3) == 0);
    char sig[BACKEND_SIGNATURE_HEADER_SIZE];
    assert_true(backend_signature_compute((const unsigned char *)KEY, strlen(KEY), "1767225600",
                                          NULL, NULL, 0, sig));
    assert_string_equal(v, sig);
    backend_request_free(req);
}

static void test_redirects_are_not_followed(void **state)
{
    (void)state;
    struct server s;
    server_start(&s, "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/elsewhere\r\n"
                     "Content-Length: 0\r\nConnection: close\r\n\r\n");
    server_run(&s);
    char url[64], err[200];
    struct backend_config be = backend(s.port, url, sizeof url);
    struct backend_request_spec spec = {
        .method = "POST", .path = "/permits", .body = "{}", .body_len = 2, .idempotency_key = "k"};
    struct backend_request *req = backend_request_new(&be, &spec, 1, err, sizeof err);
    struct backend_response resp;
    run(req, &resp);
    server_stop(&s);
    assert_int_equal(resp.http_status, 302);
    backend_request_free(req);
}

static void test_answers_past_the_cap_fail(void **state)
{
    (void)state;
    size_t n = BACKEND_RESPONSE_MAX + 1024;
    char *big = malloc(n + 200);
    int h = snprintf(big, 200,
                     "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", n);
    memset(big + h, 'x', n);
    big[h + (int)n] = '\0';
    struct server s;
    server_start(&s, big);
    free(big);
    server_run(&s);
    char url[64], err[200];
    struct backend_config be = backend(s.port, url, sizeof url);
    struct backend_request_spec spec = {.method = "GET", .path = "/slots?uprn=1"};
    struct backend_request *req = backend_request_new(&be, &spec, 1, err, sizeof err);
    struct backend_response resp;
    run(req, &resp);
    server_stop(&s);
    assert_int_equal(resp.http_status, 0);
    assert_non_null(strstr(resp.error, "answer longer than"));
    backend_request_free(req);
}

static void test_refused_connection_and_timeout(void **state)
{
    (void)state;
    /* a port nobody listens on */
    struct server s;
    server_start(&s, "");
    int port = s.port;
    close(s.fd);
    free(s.response);
    char url[64], err[200];
    struct backend_config be = backend(port, url, sizeof url);
    struct backend_request_spec spec = {.method = "GET", .path = "/x"};
    struct backend_request *req = backend_request_new(&be, &spec, 1, err, sizeof err);
    struct backend_response resp;
    run(req, &resp);
    assert_int_equal(resp.http_status, 0);
    assert_non_null(strstr(resp.error, "could not connect"));
    backend_request_free(req);

    /* a server that answers too late */
    server_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    s.hang_ms = 1000;
    server_run(&s);
    be = backend(s.port, url, sizeof url);
    spec.timeout_ms = 200;
    req = backend_request_new(&be, &spec, 1, err, sizeof err);
    run(req, &resp);
    assert_int_equal(resp.http_status, 0);
    assert_string_equal(resp.error, "no answer within 200 ms");
    assert_true(resp.seconds < 0.9);
    server_stop(&s);
    backend_request_free(req);
}

/* A kept handle serves the thread's next request, and nothing of the last one goes with it:
 * a GET after a signed POST carries no body, no Content-Type and no Idempotency-Key. */
static void test_a_kept_handle_starts_clean(void **state)
{
    (void)state;
    backend_request_keep_handles(2);
    struct server s;
    server_start(&s, "HTTP/1.1 201 Created\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
    server_run(&s);
    char url[64], err[200];
    struct backend_config be = backend(s.port, url, sizeof url);
    const char *body = "{\"reference\":\"RP-2\"}";
    struct backend_request_spec post = {.method = "POST",
                                        .path = "/permits",
                                        .content_type = "application/json",
                                        .body = body,
                                        .body_len = strlen(body),
                                        .idempotency_key = "onestop-RP-2"};
    struct backend_request *req = backend_request_new(&be, &post, 1767225600, err, sizeof err);
    assert_non_null(req);
    CURL *first = backend_request_easy(req);
    struct backend_response resp;
    run(req, &resp);
    server_stop(&s);
    assert_int_equal(resp.http_status, 201);
    backend_request_free(req);

    server_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n[]");
    server_run(&s);
    be = backend(s.port, url, sizeof url);
    struct backend_request_spec get = {.method = "GET", .path = "/addresses"};
    req = backend_request_new(&be, &get, 1767225601, err, sizeof err);
    assert_non_null(req);
    assert_ptr_equal(backend_request_easy(req), first);
    run(req, &resp);
    server_stop(&s);
    assert_int_equal(resp.http_status, 200);
    assert_string_equal(resp.error, "");
    assert_true(strncmp(s.request, "GET /parking/addresses HTTP/1.1\r\n", 33) == 0);
    char v[200];
    assert_false(header(&s, "Idempotency-Key", v, sizeof v));
    assert_false(header(&s, "Content-Type", v, sizeof v));
    assert_false(header(&s, "Content-Length", v, sizeof v));
    assert_true(header(&s, "X-Onestop-Timestamp", v, sizeof v));
    assert_string_equal(v, "1767225601");
    assert_string_equal(strstr(s.request, "\r\n\r\n") + 4, "");
    backend_request_free(req);
    backend_request_drop_handles();
}

static void test_bad_specs_are_refused(void **state)
{
    (void)state;
    char url[64], err[200];
    struct backend_config be = backend(9, url, sizeof url);
    struct backend_request_spec put = {.method = "PUT", .path = "/x"};
    assert_null(backend_request_new(&be, &put, 1, err, sizeof err));
    struct backend_request_spec rel = {.method = "GET", .path = "x"};
    assert_null(backend_request_new(&be, &rel, 1, err, sizeof err));
    struct backend_request_spec crlf = {
        .method = "POST", .path = "/x", .idempotency_key = "a\r\nX-Evil: 1"};
    assert_null(backend_request_new(&be, &crlf, 1, err, sizeof err));
    assert_non_null(strstr(err, "control"));
}

int main(void)
{
    backend_request_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_post_is_signed_on_the_wire),
        cmocka_unit_test(test_get_without_key_and_retry_after),
        cmocka_unit_test(test_redirects_are_not_followed),
        cmocka_unit_test(test_answers_past_the_cap_fail),
        cmocka_unit_test(test_refused_connection_and_timeout),
        cmocka_unit_test(test_bad_specs_are_refused),
        cmocka_unit_test(test_a_kept_handle_starts_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
