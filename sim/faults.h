/*
 * Fault injection for one back-end: what the tests ask for with POST /_sim/faults,
 * and the decision, per request, of what that fault does to it.
 *
 *   up      act normally
 *   down    503 (Retry-After when retry_after_s was given), do not act
 *   slow    wait delay_ms, then act normally
 *   error   500, do not act
 *   flaky   with probability `rate` 500 without acting, otherwise act normally
 *   reject  422 {"error":"rejected",...}: a permanent refusal, do not act
 *
 * The SMTP sink (sim/smtp.c) reads the same modes as SMTP replies: down 421 at the greeting,
 * error and flaky 451, reject 550, slow waits before the final reply to DATA. "smtp_code"
 * (400-599) replaces the reply code of error, flaky and reject, and "smtp_stage" ("rcpt" or
 * "data", default "data") says which command is refused.
 *   late    act normally, then answer only after delay_ms (past a client's timeout)
 *   drop    act normally, then close the connection without an answer
 *
 * With any mode:
 *   count          the fault hits only the next N requests it applies to, then the mode
 *                  goes back to up (the other settings stay); 0 = every request
 *   writes_only    the fault leaves reads (GET, HEAD) alone
 *   idempotency    "honour" (default) or "ignore": a back-end that ignores Idempotency-Key
 *                  acts on every POST, creating a duplicate for each resend
 *   open311        how bulky answers a new request (sim/bulky.c): "array" (default),
 *                  "object", "numeric", "token", "blackbox", "error_numeric", "error_string"
 *   open311_status the 2xx status of those answers: 200, 201 (default) or 202
 *   token_polls    "token": tokens/{token}.json gives the id after this many exchanges
 *                  (default 2; FAULTS_TOKEN_NEVER or more: never)
 */
#ifndef ONESTOP_SIM_FAULTS_H
#define ONESTOP_SIM_FAULTS_H

#include <stdbool.h>

#include <jansson.h>

#define FAULTS_DEFAULT_RATE        0.5
#define FAULTS_DEFAULT_DELAY_MS    2000
#define FAULTS_MAX_DELAY_MS        120000
#define FAULTS_MAX_RETRY_AFTER     86400
#define FAULTS_REJECT_MESSAGE      "vehicle already has a permit at another address"
#define FAULTS_SMTP_CODE_MIN       400
#define FAULTS_SMTP_CODE_MAX       599
#define FAULTS_MAX_COUNT           1000000
#define FAULTS_DEFAULT_TOKEN_POLLS 2
#define FAULTS_TOKEN_NEVER         1000000

typedef enum fault_mode {
    FAULT_UP,
    FAULT_DOWN,
    FAULT_SLOW,
    FAULT_ERROR,
    FAULT_FLAKY,
    FAULT_REJECT,
    FAULT_LATE,
    FAULT_DROP
} fault_mode;

typedef enum open311_variant {
    OPEN311_ARRAY,         /* [{"service_request_id":"BW-000001","service_notice"}] */
    OPEN311_OBJECT,        /* {"service_request_id":"BW-000001",...} */
    OPEN311_NUMERIC,       /* [{"service_request_id":1}] (the id is a number) */
    OPEN311_TOKEN,         /* [{"token":"TK-000001"}]; the id comes from tokens/{token}.json */
    OPEN311_BLACKBOX,      /* [{"service_notice"}]: no id at all */
    OPEN311_ERROR_NUMERIC, /* 400 [{"code":400,"description"}], nothing booked */
    OPEN311_ERROR_STRING   /* 400 [{"code":"invalid_request","description"}], nothing booked */
} open311_variant;

typedef struct fault_config {
    fault_mode mode;
    double rate;            /* flaky: probability of a 500, 0..1 */
    unsigned delay_ms;      /* slow: wait before acting */
    unsigned retry_after_s; /* down: Retry-After seconds, 0 = no header */
    unsigned smtp_code;     /* SMTP sink: reply code for error/flaky/reject, 0 = default */
    bool smtp_at_rcpt;      /* SMTP sink: refuse RCPT TO instead of DATA */
    unsigned count;         /* requests the fault still hits; 0 = all */
    bool writes_only;       /* the fault leaves reads alone */
    bool ignore_idempotency;
    open311_variant open311;
    unsigned open311_status;
    unsigned token_polls;
} fault_config;

typedef enum fault_action {
    FAULT_ACT_NONE,        /* go on and act */
    FAULT_ACT_DELAY,       /* wait delay_ms, then act */
    FAULT_ACT_UNAVAILABLE, /* 503 */
    FAULT_ACT_ERROR,       /* 500 */
    FAULT_ACT_REJECT,      /* 422 */
    FAULT_ACT_LATE,        /* act, then wait delay_ms before answering */
    FAULT_ACT_DROP         /* act, then close the connection without an answer */
} fault_action;

/* The healthy configuration (mode up). */
fault_config faults_none(void);

/* What to do with one request; `draw` is uniform in [0,1) and decides flaky. */
fault_action faults_decide(const fault_config *cfg, double draw);

/* Whether the fault applies to a request (is_read: GET or HEAD). When it does and has a
 * count, counts it down, and at zero turns the mode back to up. */
bool faults_take(fault_config *cfg, bool is_read);

const char *faults_open311_name(open311_variant v);

/* Reads {"mode","rate","delay_ms","retry_after_s","smtp_code","smtp_stage",...} (the "backend"
 * member is the caller's). False with *error set to a message for the test author when invalid. */
__attribute__((warn_unused_result)) bool faults_parse(const json_t *body, fault_config *out,
                                                      const char **error);

/* The JSON description {"mode",...} of a configuration (new reference). */
json_t *faults_describe(const fault_config *cfg);

const char *faults_mode_name(fault_mode mode);

#endif
