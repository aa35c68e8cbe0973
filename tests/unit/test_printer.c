/* Unit tests for printer: config checks, and the transports against real sockets on
 * the loopback — a listener thread for socket:// printers, closed ports for printers
 * that are off. (The IPP paths against ippeveprinter and cupsd are proven by
 * tests/system/test_printing.py.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "printing/printer.h"
#include "printing/receipt_escpos.h"
#include "test_receipt_helpers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LISTEN_WAIT_MS 10000
#define RECEIVED_MAX   (1024 * 1024)

struct listener {
    int fd;
    int port;
    pthread_t thread;
    unsigned char *data;
    size_t len;
    int connections;
};

/* Accepts one connection and reads it to EOF. */
static void *listener_main(void *arg)
{
    struct listener *l = arg;
    struct pollfd pfd = {.fd = l->fd, .events = POLLIN};
    if (poll(&pfd, 1, LISTEN_WAIT_MS) != 1) {
        return NULL;
    }
    int c = accept(l->fd, NULL, NULL);
    if (c < 0) {
        return NULL;
    }
    l->connections++;
    for (;;) {
        struct pollfd cp = {.fd = c, .events = POLLIN};
        if (poll(&cp, 1, LISTEN_WAIT_MS) != 1 || l->len >= RECEIVED_MAX) {
            break;
        }
        ssize_t n = read(c, l->data + l->len, RECEIVED_MAX - l->len);
        if (n <= 0) {
            break;
        }
        l->len += (size_t)n;
    }
    close(c);
    return NULL;
}

/* A socket bound to a free loopback port; listening if listen_too. */
static int bind_free_port(int *port, bool listen_too)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    if (listen_too) {
        assert_int_equal(listen(fd, 4), 0);
    }
    return fd;
}

/* A loopback port with nothing listening on it. */
static int closed_port(void)
{
    int port;
    int fd = bind_free_port(&port, false);
    close(fd);
    return port;
}

static void test_config_check(void **state)
{
    (void)state;
    char msg[PRINTER_MESSAGE_MAX];
    static const struct {
        struct printer_config cfg;
        bool ok;
        const char *says;
    } cases[] = {
        {{"SD-01", "ipp://localhost:8631/ipp/print", NULL, NULL, PRINTER_FORMAT_PDF, 0}, true, ""},
        {{"SD-01", "ipps://printer.example/ipp/print", NULL, NULL, PRINTER_FORMAT_PDF, 0},
         true,
         ""},
        {{"SD-01", "socket://10.0.0.5:9100", NULL, NULL, PRINTER_FORMAT_ESCPOS, 0}, true, ""},
        {{"SD-01", NULL, "Receipt", NULL, PRINTER_FORMAT_PDF, 0}, true, ""},
        {{"SD-01", NULL, "Receipt", "127.0.0.1:8632", PRINTER_FORMAT_ESCPOS, 0}, true, ""},
        {{NULL, "ipp://x/ipp/print", NULL, NULL, PRINTER_FORMAT_PDF, 0}, false, "no name"},
        {{"SD-01", NULL, NULL, NULL, PRINTER_FORMAT_PDF, 0}, false, "exactly one"},
        {{"SD-01", "ipp://x/", "Receipt", NULL, PRINTER_FORMAT_PDF, 0}, false, "exactly one"},
        {{"SD-01", "http://x/", NULL, NULL, PRINTER_FORMAT_PDF, 0}, false, "unsupported address"},
        {{"SD-01", "socket://x:9100", NULL, NULL, PRINTER_FORMAT_PDF, 0}, false, "ESC/POS"},
        {{"SD-01", "ipp://x/", NULL, NULL, (enum printer_format)7, 0}, false, "unknown format"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        msg[0] = '\0';
        bool ok = printer_config_check(&cases[i].cfg, msg, sizeof msg);
        if (ok != cases[i].ok || strstr(msg, cases[i].says) == NULL) {
            fail_msg("case %zu: ok=%d message '%s'", i, ok, msg);
        }
    }
}

static void test_parse_names(void **state)
{
    (void)state;
    enum printer_format f;
    enum receipt_paper p;
    assert_true(printer_format_parse("pdf", &f) && f == PRINTER_FORMAT_PDF);
    assert_true(printer_format_parse("escpos", &f) && f == PRINTER_FORMAT_ESCPOS);
    assert_false(printer_format_parse("PDF ", &f));
    assert_false(printer_format_parse(NULL, &f));
    assert_true(printer_paper_parse("80mm", &p) && p == RECEIPT_PAPER_ROLL_80MM);
    assert_true(printer_paper_parse("A4", &p) && p == RECEIPT_PAPER_A4);
    assert_false(printer_paper_parse("letter", &p));
    assert_string_equal(printer_outcome_name(PRINTER_DONE), "done");
    assert_string_equal(printer_outcome_name(PRINTER_RETRY), "retry");
    assert_string_equal(printer_outcome_name(PRINTER_FAILED), "failed");
    assert_string_equal(printer_outcome_name(PRINTER_PENDING), "pending");
}

static void test_socket_delivers_every_byte(void **state)
{
    (void)state;
    struct listener l = {0};
    l.data = malloc(RECEIVED_MAX);
    assert_non_null(l.data);
    l.fd = bind_free_port(&l.port, true);
    assert_int_equal(pthread_create(&l.thread, NULL, listener_main, &l), 0);

    struct receipt r = th_sample();
    unsigned char *doc = NULL;
    size_t len = 0;
    assert_true(receipt_render_escpos(&r, &doc, &len));
    char uri[64];
    snprintf(uri, sizeof uri, "socket://127.0.0.1:%d", l.port);
    struct printer_config cfg = {
        "SD-01", uri, NULL, NULL, PRINTER_FORMAT_ESCPOS, RECEIPT_PAPER_ROLL_80MM};
    char msg[PRINTER_MESSAGE_MAX];
    int job = -1;
    assert_int_equal(printer_submit(&cfg, "Receipt", doc, len, &job, msg, sizeof msg),
                     PRINTER_DONE);
    assert_int_equal(job, 0);
    assert_int_equal(pthread_join(l.thread, NULL), 0);
    close(l.fd);
    assert_int_equal(l.connections, 1);
    assert_int_equal(l.len, len);
    assert_memory_equal(l.data, doc, len);
    /* Following a raw job: it was done when the bytes were written. */
    assert_int_equal(printer_check_job(&cfg, job, msg, sizeof msg), PRINTER_DONE);
    free(doc);
    free(l.data);
}

static void test_printer_off_is_retry_with_message(void **state)
{
    (void)state;
    char uri[96], msg[PRINTER_MESSAGE_MAX];
    const unsigned char doc[] = "\x1b@hello\n";
    int job = -1;

    snprintf(uri, sizeof uri, "socket://127.0.0.1:%d", closed_port());
    struct printer_config raw = {"SD-01", uri, NULL, NULL, PRINTER_FORMAT_ESCPOS, 0};
    assert_int_equal(printer_submit(&raw, "t", doc, sizeof doc - 1, &job, msg, sizeof msg),
                     PRINTER_RETRY);
    assert_string_equal(msg, "Receipt printer at SD-01 is not answering (connection refused)");

    snprintf(uri, sizeof uri, "ipp://127.0.0.1:%d/ipp/print", closed_port());
    struct printer_config ipp = {"SD-02", uri, NULL, NULL, PRINTER_FORMAT_PDF, 0};
    assert_int_equal(printer_submit(&ipp, "t", doc, sizeof doc - 1, &job, msg, sizeof msg),
                     PRINTER_RETRY);
    assert_string_equal(msg, "Receipt printer at SD-02 is not answering (connection refused)");
    assert_int_equal(printer_check_job(&ipp, 5, msg, sizeof msg), PRINTER_RETRY);
    assert_non_null(strstr(msg, "is not answering"));

    char server[32];
    snprintf(server, sizeof server, "127.0.0.1:%d", closed_port());
    struct printer_config q = {"SD-03", NULL, "Receipt", server, PRINTER_FORMAT_PDF, 0};
    assert_int_equal(printer_submit(&q, "t", doc, sizeof doc - 1, &job, msg, sizeof msg),
                     PRINTER_RETRY);
    assert_non_null(strstr(msg, "Print server 127.0.0.1"));
    assert_non_null(strstr(msg, "SD-03 is not answering (connection refused)"));
    assert_int_equal(job, 0);
}

static void test_bad_input_is_failed(void **state)
{
    (void)state;
    char msg[PRINTER_MESSAGE_MAX];
    int job = -1;
    const unsigned char doc[] = "x";
    struct printer_config bad_uri = {"SD-01", "socket://", NULL, NULL, PRINTER_FORMAT_ESCPOS, 0};
    assert_int_equal(printer_submit(&bad_uri, "t", doc, 1, &job, msg, sizeof msg), PRINTER_FAILED);
    assert_non_null(strstr(msg, "bad address"));
    struct printer_config bad_port = {"SD-01", "socket://127.0.0.1:99999", NULL,
                                      NULL,    PRINTER_FORMAT_ESCPOS,      0};
    assert_int_equal(printer_submit(&bad_port, "t", doc, 1, &job, msg, sizeof msg), PRINTER_FAILED);
    struct printer_config ok = {"SD-01", "socket://127.0.0.1:9", NULL,
                                NULL,    PRINTER_FORMAT_ESCPOS,  0};
    assert_int_equal(printer_submit(&ok, "t", NULL, 0, &job, msg, sizeof msg), PRINTER_FAILED);
    assert_non_null(strstr(msg, "Nothing to print"));
    struct printer_config ipp = {
        "SD-01", "ipp://127.0.0.1:9/ipp/print", NULL, NULL, PRINTER_FORMAT_PDF, 0};
    assert_int_equal(printer_check_job(&ipp, 0, msg, sizeof msg), PRINTER_FAILED);
    /* A zero-length message buffer is allowed. */
    assert_int_equal(printer_submit(&bad_uri, "t", doc, 1, &job, NULL, 0), PRINTER_FAILED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_check),
        cmocka_unit_test(test_parse_names),
        cmocka_unit_test(test_socket_delivers_every_byte),
        cmocka_unit_test(test_printer_off_is_retry_with_message),
        cmocka_unit_test(test_bad_input_is_failed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
