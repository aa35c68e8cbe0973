/* log: JSON lines on stderr, one write per line under a mutex so lines never interleave. */
#include "gateway/log.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_MESSAGE_MAX    1024
#define LOG_REQUEST_ID_MAX 40

static _Thread_local char current_request_id[LOG_REQUEST_ID_MAX];
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static enum log_level log_threshold = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level level)
{
    log_threshold = level;
}

void log_set_request_id(const char *request_id)
{
    snprintf(current_request_id, sizeof current_request_id, "%s", request_id ? request_id : "");
}

const char *log_request_id(void)
{
    return current_request_id;
}

static void timestamp_now(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

static void log_emit(json_t *line)
{
    char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(line);
    if (!text)
        return;
    size_t len = strlen(text);
    char *full = realloc(text, len + 2);
    if (!full) {
        free(text);
        return;
    }
    full[len] = '\n';
    /* one write per line: lines from different threads never interleave */
    pthread_mutex_lock(&log_lock);
    for (size_t off = 0; off < len + 1;) {
        ssize_t n = write(STDERR_FILENO, full + off, len + 1 - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    pthread_mutex_unlock(&log_lock);
    free(full);
}

static json_t *log_line(enum log_level level, const char *event, const char *request_id)
{
    char ts[40];
    timestamp_now(ts, sizeof ts);
    json_t *line = json_object();
    json_object_set_new(line, "ts", json_string(ts));
    json_object_set_new(line, "level", json_string(level_names[level]));
    json_object_set_new(line, "event", json_string(event));
    if (request_id && *request_id)
        json_object_set_new(line, "request_id", json_string(request_id));
    return line;
}

void log_msg(enum log_level level, const char *event, const char *fmt, ...)
{
    if (level < log_threshold)
        return;
    char message[LOG_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    json_t *line = log_line(level, event, current_request_id);
    /* json_stringn_nocheck would keep invalid UTF-8; replace it instead of dropping the line */
    json_t *msg = json_string(message);
    json_object_set_new(line, "msg", msg ? msg : json_string("(message was not valid UTF-8)"));
    log_emit(line);
}

void log_request(const char *method, const char *route, int status, double duration_ms,
                 const char *request_id, const char *client, const char *staff, const char *counter)
{
    json_t *line = log_line(status >= 500 ? LOG_WARN : LOG_INFO, "http_request", request_id);
    json_object_set_new(line, "method", json_string(method ? method : "?"));
    json_object_set_new(line, "route", json_string(route ? route : "unmatched"));
    json_object_set_new(line, "status", json_integer(status));
    json_object_set_new(line, "duration_ms", json_real((double)(long)(duration_ms * 1000) / 1000));
    if (client && *client)
        json_object_set_new(line, "client", json_string(client));
    if (staff && *staff)
        json_object_set_new(line, "staff", json_string(staff));
    if (counter && *counter)
        json_object_set_new(line, "counter", json_string(counter));
    log_emit(line);
}
