/* log: one JSON object per line on stderr.
 *
 * Every line carries the request id of the request the calling thread is serving (set with
 * log_set_request_id), so an operator can follow one request through the daemon. Callers
 * must never pass personal data (names, addresses, NHS numbers, NINOs, phone numbers). */
#ifndef ONESTOP_LOG_H
#define ONESTOP_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Sets the request id for log lines written by this thread ("" or NULL clears it). */
void log_set_request_id(const char *request_id);
const char *log_request_id(void);

/* Writes {"ts","level","event","request_id","msg"} built from the printf-style message. */
void log_msg(enum log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* From log_hold to log_release, this thread's log_msg lines at info and below are held
 * (formatted, in order) and written together in one write: by log_release, or when they would
 * outgrow one atomic write (PIPE_BUF); a warning or error line writes them first and goes out
 * at once. For a loop that logs a line per item: one write per turn instead of one per line.
 * The thread must call log_release before it sleeps or exits, or its lines wait (or are
 * lost). */
void log_hold(void);
void log_release(void);

/* The line log_msg would write, formatted now (timestamp, this thread's request id) but not
 * written: for log_request_after. NULL when the level is filtered out or out of memory; the
 * caller frees it. */
char *log_msg_deferred(enum log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* One access-log line per HTTP request. No query strings, no bodies. client is the real
 * client's address (behind a trusted proxy, the one X-Forwarded-For names). */
void log_request(const char *method, const char *route, int status, double duration_ms,
                 const char *request_id, const char *client, const char *staff,
                 const char *counter);
/* log_request with a line from log_msg_deferred (NULL: none) written first, in the same write:
 * a request's own event and its access line cost one write, not two. */
void log_request_after(const char *earlier, const char *method, const char *route, int status,
                       double duration_ms, const char *request_id, const char *client,
                       const char *staff, const char *counter);

/* Messages below this level are dropped (default LOG_INFO; ONESTOP_LOG_LEVEL=debug). */
void log_set_level(enum log_level level);

#endif
