/* log: the lines log.c formats by hand are byte for byte what jansson wrote for the same object
 * (json_dumps with JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6)): escapes,
 * UTF-8 kept, invalid UTF-8 replaced (msg) or left out (other members), reals, long lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway/log.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Runs fn with stderr sent to a temporary file; returns what it wrote (free it). */
static char *captured(void (*fn)(const void *), const void *arg)
{
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fileno(tmp), STDERR_FILENO);
    fn(arg);
    dup2(saved, STDERR_FILENO);
    close(saved);
    long n = (long)lseek(fileno(tmp), 0, SEEK_END);
    char *out = calloc((size_t)n + 1, 1);
    assert_non_null(out);
    assert_int_equal(pread(fileno(tmp), out, (size_t)n, 0), n);
    fclose(tmp);
    return out;
}

/* What jansson wrote: the line's own timestamp, then the members given (NULL ends). */
static char *expected(const char *line, const char *const *members, const double *real)
{
    const char *ts = strstr(line, "\"ts\":\"");
    assert_non_null(ts);
    char stamp[40] = {0};
    memcpy(stamp, ts + 6, 24);
    json_t *o = json_object();
    json_object_set_new(o, "ts", json_string(stamp));
    for (size_t i = 0; members[i]; i += 2) {
        if (strcmp(members[i], "status") == 0)
            json_object_set_new(o, members[i], json_integer(atoi(members[i + 1])));
        else if (strcmp(members[i], "duration_ms") == 0)
            json_object_set_new(o, members[i], json_real(*real));
        else
            json_object_set_new(o, members[i], json_string(members[i + 1]));
    }
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(o);
    size_t len = strlen(text);
    char *full = realloc(text, len + 2);
    full[len] = '\n';
    full[len + 1] = '\0';
    return full;
}

static void emit_msg(const void *arg)
{
    log_msg(LOG_WARN, "test_event", "%s", (const char *)arg);
}

static void check_msg(const char *message, const char *request_id)
{
    log_set_request_id(request_id);
    char *line = captured(emit_msg, message);
    json_t *probe = json_string(message);
    const char *members[10];
    int k = 0;
    members[k++] = "level";
    members[k++] = "warn";
    members[k++] = "event";
    members[k++] = "test_event";
    if (request_id && *request_id) {
        members[k++] = "request_id";
        members[k++] = request_id;
    }
    members[k++] = "msg";
    members[k++] = probe ? message : "(message was not valid UTF-8)";
    members[k] = NULL;
    json_decref(probe);
    char *want = expected(line, members, NULL);
    assert_string_equal(line, want);
    free(line);
    free(want);
    log_set_request_id(NULL);
}

static void test_messages_match_jansson(void **state)
{
    (void)state;
    check_msg("plain", NULL);
    check_msg("quote \" backslash \\ slash / tab\t nl\n cr\r bs\b ff\f", "req-1");
    check_msg("controls \x01\x02\x1f del \x7f", "req-2");
    check_msg("UTF-8: \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe2\x80\xa8", "");
    check_msg("bad \xff byte", NULL);
    check_msg("overlong \xc0\xaf", NULL);
    check_msg("surrogate \xed\xa0\x80", NULL);
    check_msg("past U+10FFFF \xf4\x90\x80\x80", NULL);
    check_msg("cut \xe2\x82", NULL);
    char big[1500];
    memset(big, '"', sizeof big - 1); /* escaped, and cut at the message limit */
    big[sizeof big - 1] = '\0';
    log_set_request_id("r");
    char *line = captured(emit_msg, big);
    log_set_request_id(NULL);
    assert_true(strlen(line) > 2000);
    json_error_t err;
    json_t *parsed = json_loads(line, 0, &err);
    assert_non_null(parsed);
    assert_int_equal(strlen(json_string_value(json_object_get(parsed, "msg"))), 1023);
    json_decref(parsed);
    free(line);
    /* random bytes: valid or not, the same line as jansson's */
    uint64_t x = 7;
    for (int i = 0; i < 2000; i++) {
        char s[24];
        size_t n = 1 + (size_t)(i % 23);
        for (size_t k = 0; k < n; k++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            s[k] = (char)((x >> 33) % 255 + 1);
        }
        s[n] = '\0';
        check_msg(s, i % 2 ? "rid" : NULL);
    }
}

struct request_args {
    const char *route, *staff;
    int status;
    double ms;
};

static void emit_request(const void *arg)
{
    const struct request_args *a = arg;
    log_request("POST", a->route, a->status, a->ms, "rid-9", "127.0.0.1", a->staff, "SD-01");
}

static void test_request_lines_match_jansson(void **state)
{
    (void)state;
    const double durations[] = {0,           0.0004, 1.5,      12.0,      3.14159265, 1234567.891,
                                0.000012345, 0.001,  0.01,     0.1,       999.999,    1000.0,
                                120.5,       7.25,   999.9999, 0.0019999, 54.3210,    100.0};
    for (size_t i = 0; i < sizeof durations / sizeof durations[0]; i++) {
        struct request_args a = {"/api/v1/transactions", i % 2 ? "assistant" : "bad\xff", 201,
                                 durations[i]};
        if (i == 3)
            a.status = 503;
        char *line = captured(emit_request, &a);
        double real = (double)(long)(a.ms * 1000) / 1000;
        char status[8];
        snprintf(status, sizeof status, "%d", a.status);
        const char *members[] = {"level",       a.status >= 500 ? "warn" : "info",
                                 "event",       "http_request",
                                 "request_id",  "rid-9",
                                 "method",      "POST",
                                 "route",       a.route,
                                 "status",      status,
                                 "duration_ms", "",
                                 "client",      "127.0.0.1",
                                 "staff",       a.staff,
                                 "counter",     "SD-01",
                                 NULL};
        char *want = expected(line, members, &real);
        assert_string_equal(line, want);
        free(line);
        free(want);
    }
}

/* Durations below a second are written by hand: every shape of them against jansson. */
static void test_request_durations_match_jansson(void **state)
{
    (void)state;
    uint64_t x = 11;
    for (int i = 0; i < 400; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        long micros = (long)((x >> 33) % (i % 2 ? 1000000 : 2000));
        struct request_args a = {"/api/v1/quotes", "assistant", 200, (double)micros / 1000};
        char *line = captured(emit_request, &a);
        double real = (double)(long)(a.ms * 1000) / 1000;
        const char *members[] = {
            "level",  "info",      "event", "http_request", "request_id", "rid-9",       "method",
            "POST",   "route",     a.route, "status",       "200",        "duration_ms", "",
            "client", "127.0.0.1", "staff", "assistant",    "counter",    "SD-01",       NULL};
        char *want = expected(line, members, &real);
        assert_string_equal(line, want);
        free(line);
        free(want);
    }
}

static void emit_deferred_then_request(const void *arg)
{
    (void)arg;
    log_set_request_id("store-writer");
    char *earlier = log_msg_deferred(LOG_INFO, "transaction_accepted", "%s accepted", "RP-1");
    log_set_request_id(NULL);
    assert_non_null(earlier);
    log_msg(LOG_INFO, "between", "written before the deferred line");
    log_request_after(earlier, "POST", "/api/v1/transactions", 201, 1.5, "rid-9", "127.0.0.1",
                      "assistant", "SD-01");
    free(earlier);
}

/* A deferred line is written where log_request_after is called, just before the access line,
 * and is the line log_msg would have written (its own request id), byte for byte. */
static void test_deferred_line_goes_out_with_the_access_line(void **state)
{
    (void)state;
    char *out = captured(emit_deferred_then_request, NULL);
    char *second = strchr(out, '\n');
    assert_non_null(second);
    char *third = strchr(second + 1, '\n');
    assert_non_null(third);
    assert_non_null(strstr(out, "\"event\":\"between\""));
    assert_true(strstr(out, "\"event\":\"between\"") < second);
    *third = '\0';
    const char *members[] = {"level",      "info",         "event", "transaction_accepted",
                             "request_id", "store-writer", "msg",   "RP-1 accepted",
                             NULL};
    char *want = expected(second + 1, members, NULL);
    want[strlen(want) - 1] = '\0'; /* without its newline */
    assert_string_equal(second + 1, want);
    assert_non_null(strstr(third + 1, "\"event\":\"http_request\""));
    assert_string_equal(third + 1 + strlen(third + 1) - 1, "\n");
    free(want);
    free(out);
}

/* Bytes written to fd so far. */
static long written(int fd)
{
    return (long)lseek(fd, 0, SEEK_END);
}

/* Held lines: nothing is written until log_release or a warning, then all of them in order;
 * lines that would outgrow one atomic write go out whole before it; after log_release a line
 * is written at once again. */
static void test_held_lines_go_out_together(void **state)
{
    (void)state;
    log_set_request_id("");
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    int fd = fileno(tmp);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);

    log_hold();
    log_msg(LOG_INFO, "held", "one");
    log_msg(LOG_DEBUG, "held", "below the level: dropped");
    log_msg(LOG_INFO, "held", "two");
    long while_held = written(fd);
    log_msg(LOG_WARN, "warned", "three");
    long after_warning = written(fd);
    log_hold();
    long before_many = written(fd);
    long first_spill = 0;
    for (int i = 0; i < 100; i++) {
        log_msg(LOG_INFO, "many", "line %d of a hundred held in one turn", i);
        if (!first_spill && written(fd) > before_many)
            first_spill = written(fd);
    }
    log_release();
    long released = written(fd);
    log_msg(LOG_INFO, "after", "four");
    long after_release = written(fd);

    dup2(saved, STDERR_FILENO);
    close(saved);
    char *out = calloc((size_t)after_release + 1, 1);
    assert_non_null(out);
    assert_int_equal(pread(fd, out, (size_t)after_release, 0), after_release);
    fclose(tmp);

    assert_int_equal(while_held, 0);
    assert_true(after_warning > 0);
    assert_int_equal(before_many, after_warning);
    const char *one = strstr(out, "\"msg\":\"one\"");
    const char *two = strstr(out, "\"msg\":\"two\"");
    const char *three = strstr(out, "\"msg\":\"three\"");
    assert_true(one && two && three && one < two && two < three);
    assert_null(strstr(out, "dropped"));
    /* the hundred lines (about 13 KB) went out in whole lines, each write at most PIPE_BUF */
    assert_true(first_spill > before_many && first_spill - before_many <= 4096);
    assert_int_equal(out[first_spill - 1], '\n');
    assert_true(released > first_spill);
    int lines = 0;
    for (const char *p = out + after_warning; p < out + released; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 100);
    assert_non_null(strstr(out + after_warning, "line 0 of"));
    assert_true(strstr(out, "line 98 of") < strstr(out, "line 99 of"));
    assert_true(after_release > released);
    assert_non_null(strstr(out + released, "\"msg\":\"four\""));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages_match_jansson),
        cmocka_unit_test(test_request_lines_match_jansson),
        cmocka_unit_test(test_request_durations_match_jansson),
        cmocka_unit_test(test_deferred_line_goes_out_with_the_access_line),
        cmocka_unit_test(test_held_lines_go_out_together),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
