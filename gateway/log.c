/* log: JSON lines on stderr, one write per line, and lines never interleave.
 * Lines are formatted straight into a buffer (no jansson objects on the hot path).
 *
 * A single write of at most PIPE_BUF bytes is never split or interleaved with another (a pipe
 * guarantees it; a file's writes to one open description are serialised), so such lines go
 * out side by side under a shared lock; a longer line, which a pipe may take in pieces, holds
 * the lock alone. Threads logging at once no longer queue on a mutex for every line. */
/* PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP: a long line is not starved by short ones */
#define _GNU_SOURCE
#include "gateway/log.h"

#include "gateway/strbuf.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_MESSAGE_MAX    1024
#define LOG_REQUEST_ID_MAX 40

static _Thread_local char current_request_id[LOG_REQUEST_ID_MAX];
/* log_hold: this thread's held lines (whole lines, at most PIPE_BUF bytes: one write under
 * the shared lock), and whether it holds them at all */
static _Thread_local char held[PIPE_BUF];
static _Thread_local size_t held_len;
static _Thread_local bool holding;
static pthread_rwlock_t log_lock = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
static enum log_level log_threshold = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level level)
{
    log_threshold = level;
}

void log_set_request_id(const char *request_id)
{
    size_t n = request_id ? strnlen(request_id, sizeof current_request_id - 1) : 0;
    memcpy(current_request_id, request_id ? request_id : "", n);
    current_request_id[n] = '\0';
}

const char *log_request_id(void)
{
    return current_request_id;
}

#define LOG_SECOND_MAX 32 /* "2026-11-23T10:15:42" and room to spare */

/* This thread's last formatted second: a busy thread logs many lines a second. */
static _Thread_local time_t second_cached = -1;
static _Thread_local char second_text[LOG_SECOND_MAX];
static _Thread_local size_t second_len;

/* "2026-11-23T10:15:42.123Z" (UTC, milliseconds) into buf (len >= LOG_SECOND_MAX + 6). */
static void timestamp_now(char *buf, size_t len)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != second_cached) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        second_len = strftime(second_text, sizeof second_text, "%Y-%m-%dT%H:%M:%S", &tm);
        second_cached = ts.tv_sec;
    }
    long ms = ts.tv_nsec / 1000000;
    if (len < second_len + 6) {
        buf[0] = '\0';
        return;
    }
    memcpy(buf, second_text, second_len);
    char *p = buf + second_len;
    *p++ = '.';
    *p++ = (char)('0' + ms / 100);
    *p++ = (char)('0' + ms / 10 % 10);
    *p++ = (char)('0' + ms % 10);
    *p++ = 'Z';
    *p = '\0';
}

/* ---- the line, written straight into a buffer ----
 * Byte for byte what jansson's json_dumps(JSON_COMPACT | JSON_PRESERVE_ORDER |
 * JSON_REAL_PRECISION(6)) wrote for the object we used to build (one per line, a dozen
 * allocations each): members in order, a string that is not valid UTF-8 left out (json_string
 * refused it), '"', '\\' and control characters escaped as jansson does, UTF-8 kept. */

#define LINE_STACK 2048

struct line {
    char *buf;
    size_t len, cap;
    bool failed;
    char stack[LINE_STACK];
};

static void line_init(struct line *l)
{
    l->buf = l->stack;
    l->len = 0;
    l->cap = sizeof l->stack;
    l->failed = false;
}

static bool line_reserve(struct line *l, size_t more)
{
    if (l->failed)
        return false;
    if (l->len + more <= l->cap)
        return true;
    size_t cap = l->cap * 2;
    while (cap < l->len + more)
        cap *= 2;
    char *next = l->buf == l->stack ? malloc(cap) : realloc(l->buf, cap);
    if (!next) {
        l->failed = true;
        return false;
    }
    if (l->buf == l->stack)
        memcpy(next, l->stack, l->len);
    l->buf = next;
    l->cap = cap;
    return true;
}

static void line_put(struct line *l, const char *s, size_t n)
{
    if (!line_reserve(l, n))
        return;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void put_string(struct line *l, const char *s)
{
    line_put(l, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        line_put(l, run, (size_t)(s - run));
        run = s + 1;
        char esc[8];
        switch (c) {
        case '"':
            line_put(l, "\\\"", 2);
            break;
        case '\\':
            line_put(l, "\\\\", 2);
            break;
        case '\b':
            line_put(l, "\\b", 2);
            break;
        case '\f':
            line_put(l, "\\f", 2);
            break;
        case '\n':
            line_put(l, "\\n", 2);
            break;
        case '\r':
            line_put(l, "\\r", 2);
            break;
        case '\t':
            line_put(l, "\\t", 2);
            break;
        default:
            snprintf(esc, sizeof esc, "\\u%04X", (unsigned)c);
            line_put(l, esc, 6);
        }
    }
    line_put(l, run, (size_t)(s - run));
    line_put(l, "\"", 1);
}

/* ,"key": — the first member opens the object instead */
static void put_key(struct line *l, const char *key)
{
    line_put(l, l->len ? "," : "{", 1);
    put_string(l, key);
    line_put(l, ":", 1);
}

/* A member whose value json_string would have refused (NULL, not UTF-8) is left out. */
static void member_string(struct line *l, const char *key, const char *value)
{
    if (!value || !strbuf_utf8_valid(value))
        return;
    put_key(l, key);
    put_string(l, value);
}

static void member_int(struct line *l, const char *key, long long value)
{
    char buf[STRBUF_DECIMAL_MAX];
    size_t len;
    const char *num = strbuf_decimal(value, buf, &len);
    put_key(l, key);
    line_put(l, num, len);
}

/* jansson's real with JSON_REAL_PRECISION(6): "%.6g", a ".0" when it would read as an
 * integer, and the exponent without its '+' or leading zeros. */
static void member_real(struct line *l, const char *key, double value)
{
    if (!isfinite(value))
        return; /* json_real refuses these */
    char num[64];
    int r = snprintf(num, sizeof num - 3, "%.6g", value);
    if (r < 0 || (size_t)r >= sizeof num - 3)
        return;
    size_t len = (size_t)r;
    if (!strchr(num, '.') && !strchr(num, 'e')) {
        memcpy(num + len, ".0", 3);
        len += 2;
    }
    char *start = strchr(num, 'e');
    if (start) {
        start++;
        char *end = start + 1;
        if (*start == '-')
            start++;
        while (*end == '0')
            end++;
        if (end != start) {
            memmove(start, end, len - (size_t)(end - num) + 1);
            len -= (size_t)(end - start);
        }
    }
    put_key(l, key);
    line_put(l, num, len);
}

/* A duration of micros microseconds in milliseconds, as member_real writes micros / 1000.0:
 * below a second that has at most six significant digits, which "%.6g" prints exactly, so it
 * is written by hand (no snprintf per request); longer ones go through member_real. */
static void member_millis(struct line *l, const char *key, long micros)
{
    if (micros < 0 || micros >= 1000 * 1000) {
        member_real(l, key, (double)micros / 1000);
        return;
    }
    char buf[STRBUF_DECIMAL_MAX];
    size_t len;
    const char *whole = strbuf_decimal(micros / 1000, buf, &len);
    put_key(l, key);
    line_put(l, whole, len);
    char frac[5] = {'.', (char)('0' + micros / 100 % 10), (char)('0' + micros / 10 % 10),
                    (char)('0' + micros % 10), '\0'};
    size_t n = 4;
    while (n > 2 && frac[n - 1] == '0')
        n--; /* %g drops trailing zeros; ".0" stays, as jansson adds it to a whole number */
    line_put(l, frac, n);
}

static void line_start(struct line *l, enum log_level level, const char *event,
                       const char *request_id)
{
    char ts[40];
    timestamp_now(ts, sizeof ts);
    line_init(l);
    member_string(l, "ts", ts);
    member_string(l, "level", level_names[level]);
    member_string(l, "event", event);
    if (request_id && *request_id)
        member_string(l, "request_id", request_id);
}

static void line_close(struct line *l)
{
    line_put(l, l->len ? "}\n" : "{}\n", l->len ? 2 : 3);
}

static void line_free(struct line *l)
{
    if (l->buf != l->stack)
        free(l->buf);
}

/* Writes whole lines in one write: at most PIPE_BUF bytes under the shared lock (such writes
 * are never split), more under the exclusive lock. Lines from different threads never
 * interleave. */
static void lines_write(const char *text, size_t len)
{
    if (len <= PIPE_BUF)
        pthread_rwlock_rdlock(&log_lock);
    else
        pthread_rwlock_wrlock(&log_lock);
    for (size_t off = 0; off < len;) {
        ssize_t n = write(STDERR_FILENO, text + off, len - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    pthread_rwlock_unlock(&log_lock);
}

/* Closes the object and writes it with its newline. */
static void line_emit(struct line *l)
{
    line_close(l);
    if (!l->failed)
        lines_write(l->buf, l->len);
    line_free(l);
}

/* A log_msg line, closed (not written). */
__attribute__((format(printf, 4, 0))) static void
msg_line(struct line *l, enum log_level level, const char *event, const char *fmt, va_list ap)
{
    char message[LOG_MESSAGE_MAX];
    vsnprintf(message, sizeof message, fmt, ap);
    line_start(l, level, event, current_request_id);
    /* replace a message that is not valid UTF-8 instead of dropping the line */
    member_string(l, "msg", strbuf_utf8_valid(message) ? message : "(message was not valid UTF-8)");
    line_close(l);
}

void log_hold(void)
{
    holding = true;
}

static void held_flush(void)
{
    if (held_len)
        lines_write(held, held_len);
    held_len = 0;
}

void log_release(void)
{
    holding = false;
    held_flush();
}

void log_msg(enum log_level level, const char *event, const char *fmt, ...)
{
    if (level < log_threshold)
        return;
    struct line l;
    va_list ap;
    va_start(ap, fmt);
    msg_line(&l, level, event, fmt, ap);
    va_end(ap);
    if (l.failed) {
        line_free(&l);
        return;
    }
    if (holding && level <= LOG_INFO && l.len <= sizeof held) {
        if (held_len + l.len > sizeof held)
            held_flush(); /* still holding: the next lines are held again */
        memcpy(held + held_len, l.buf, l.len);
        held_len += l.len;
    } else {
        held_flush(); /* what this thread held comes first; a warning does not end the hold */
        lines_write(l.buf, l.len);
    }
    line_free(&l);
}

char *log_msg_deferred(enum log_level level, const char *event, const char *fmt, ...)
{
    if (level < log_threshold)
        return NULL;
    struct line l;
    va_list ap;
    va_start(ap, fmt);
    msg_line(&l, level, event, fmt, ap);
    va_end(ap);
    char *text = l.failed ? NULL : malloc(l.len + 1);
    if (text) {
        memcpy(text, l.buf, l.len);
        text[l.len] = '\0';
    }
    line_free(&l);
    return text;
}

void log_request(const char *method, const char *route, int status, double duration_ms,
                 const char *request_id, const char *client, const char *staff, const char *counter)
{
    log_request_after(NULL, method, route, status, duration_ms, request_id, client, staff, counter);
}

void log_request_after(const char *earlier, const char *method, const char *route, int status,
                       double duration_ms, const char *request_id, const char *client,
                       const char *staff, const char *counter)
{
    struct line l;
    line_start(&l, status >= 500 ? LOG_WARN : LOG_INFO, "http_request", request_id);
    member_string(&l, "method", method ? method : "?");
    member_string(&l, "route", route ? route : "unmatched");
    member_int(&l, "status", status);
    member_millis(&l, "duration_ms", (long)(duration_ms * 1000));
    if (client && *client)
        member_string(&l, "client", client);
    if (staff && *staff)
        member_string(&l, "staff", staff);
    if (counter && *counter)
        member_string(&l, "counter", counter);
    if (!earlier || !*earlier) {
        line_emit(&l);
        return;
    }
    line_close(&l);
    struct line both; /* the earlier line, then this one: one write */
    line_init(&both);
    line_put(&both, earlier, strlen(earlier));
    if (!l.failed)
        line_put(&both, l.buf, l.len);
    if (!both.failed)
        lines_write(both.buf, both.len);
    line_free(&both);
    line_free(&l);
}
