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
 */
#ifndef ONESTOP_SIM_FAULTS_H
#define ONESTOP_SIM_FAULTS_H

#include <stdbool.h>

#include <jansson.h>

#define FAULTS_DEFAULT_RATE     0.5
#define FAULTS_DEFAULT_DELAY_MS 2000
#define FAULTS_MAX_DELAY_MS     120000
#define FAULTS_MAX_RETRY_AFTER  86400
#define FAULTS_REJECT_MESSAGE   "vehicle already has a permit at another address"
#define FAULTS_SMTP_CODE_MIN    400
#define FAULTS_SMTP_CODE_MAX    599

typedef enum fault_mode {
    FAULT_UP,
    FAULT_DOWN,
    FAULT_SLOW,
    FAULT_ERROR,
    FAULT_FLAKY,
    FAULT_REJECT
} fault_mode;

typedef struct fault_config {
    fault_mode mode;
    double rate;            /* flaky: probability of a 500, 0..1 */
    unsigned delay_ms;      /* slow: wait before acting */
    unsigned retry_after_s; /* down: Retry-After seconds, 0 = no header */
    unsigned smtp_code;     /* SMTP sink: reply code for error/flaky/reject, 0 = default */
    bool smtp_at_rcpt;      /* SMTP sink: refuse RCPT TO instead of DATA */
} fault_config;

typedef enum fault_action {
    FAULT_ACT_NONE,        /* go on and act */
    FAULT_ACT_DELAY,       /* wait delay_ms, then act */
    FAULT_ACT_UNAVAILABLE, /* 503 */
    FAULT_ACT_ERROR,       /* 500 */
    FAULT_ACT_REJECT       /* 422 */
} fault_action;

/* The healthy configuration (mode up). */
fault_config faults_none(void);

/* What to do with one request; `draw` is uniform in [0,1) and decides flaky. */
fault_action faults_decide(const fault_config *cfg, double draw);

/* Reads {"mode","rate","delay_ms","retry_after_s","smtp_code","smtp_stage"} (the "backend" member
 * is the caller's). False with *error set to a message for the test author when invalid. */
__attribute__((warn_unused_result)) bool faults_parse(const json_t *body, fault_config *out,
                                                      const char **error);

/* The JSON description {"mode",...} of a configuration (new reference). */
json_t *faults_describe(const fault_config *cfg);

const char *faults_mode_name(fault_mode mode);

#endif
