/*
 * Fault configurations: parsing the control request, describing them back, and the
 * per-request decision. Pure functions: the caller keeps the configuration under the
 * state lock and supplies the random draw, which keeps this file testable.
 */
#include "sim/faults.h"

#include <string.h>

static const struct {
    fault_mode mode;
    const char *name;
} mode_names[] = {
    {FAULT_UP, "up"},       {FAULT_DOWN, "down"},   {FAULT_SLOW, "slow"},
    {FAULT_ERROR, "error"}, {FAULT_FLAKY, "flaky"}, {FAULT_REJECT, "reject"},
};

fault_config faults_none(void)
{
    fault_config c = {
        .mode = FAULT_UP, .rate = FAULTS_DEFAULT_RATE, .delay_ms = 0, .retry_after_s = 0};
    return c;
}

const char *faults_mode_name(fault_mode mode)
{
    for (size_t i = 0; i < sizeof mode_names / sizeof mode_names[0]; i++)
        if (mode_names[i].mode == mode)
            return mode_names[i].name;
    return "unknown";
}

fault_action faults_decide(const fault_config *cfg, double draw)
{
    switch (cfg->mode) {
    case FAULT_UP:
        return FAULT_ACT_NONE;
    case FAULT_DOWN:
        return FAULT_ACT_UNAVAILABLE;
    case FAULT_SLOW:
        return FAULT_ACT_DELAY;
    case FAULT_ERROR:
        return FAULT_ACT_ERROR;
    case FAULT_FLAKY:
        return draw < cfg->rate ? FAULT_ACT_ERROR : FAULT_ACT_NONE;
    case FAULT_REJECT:
        return FAULT_ACT_REJECT;
    }
    return FAULT_ACT_NONE;
}

bool faults_parse(const json_t *body, fault_config *out, const char **error)
{
    fault_config c = faults_none();
    const json_t *mode = json_object_get(body, "mode");
    const json_t *rate = json_object_get(body, "rate");
    const json_t *delay = json_object_get(body, "delay_ms");
    const json_t *retry = json_object_get(body, "retry_after_s");
    const json_t *smtp_code = json_object_get(body, "smtp_code");
    const json_t *smtp_stage = json_object_get(body, "smtp_stage");
    bool known = false;

    if (!json_is_string(mode)) {
        *error = "mode must be one of up, down, slow, error, flaky, reject";
        return false;
    }
    for (size_t i = 0; i < sizeof mode_names / sizeof mode_names[0]; i++) {
        if (strcmp(json_string_value(mode), mode_names[i].name) == 0) {
            c.mode = mode_names[i].mode;
            known = true;
        }
    }
    if (!known) {
        *error = "mode must be one of up, down, slow, error, flaky, reject";
        return false;
    }
    if (rate && !json_is_null(rate)) {
        if (!json_is_number(rate) || json_number_value(rate) < 0.0 ||
            json_number_value(rate) > 1.0) {
            *error = "rate must be a number from 0 to 1";
            return false;
        }
        c.rate = json_number_value(rate);
    }
    c.delay_ms = c.mode == FAULT_SLOW ? FAULTS_DEFAULT_DELAY_MS : 0;
    if (delay && !json_is_null(delay)) {
        if (!json_is_integer(delay) || json_integer_value(delay) < 0 ||
            json_integer_value(delay) > FAULTS_MAX_DELAY_MS) {
            *error = "delay_ms must be an integer from 0 to 120000";
            return false;
        }
        c.delay_ms = (unsigned)json_integer_value(delay);
    }
    if (retry && !json_is_null(retry)) {
        if (!json_is_integer(retry) || json_integer_value(retry) < 0 ||
            json_integer_value(retry) > FAULTS_MAX_RETRY_AFTER) {
            *error = "retry_after_s must be an integer from 0 to 86400";
            return false;
        }
        c.retry_after_s = (unsigned)json_integer_value(retry);
    }
    if (smtp_code && !json_is_null(smtp_code)) {
        if (!json_is_integer(smtp_code) || json_integer_value(smtp_code) < FAULTS_SMTP_CODE_MIN ||
            json_integer_value(smtp_code) > FAULTS_SMTP_CODE_MAX) {
            *error = "smtp_code must be an integer from 400 to 599";
            return false;
        }
        c.smtp_code = (unsigned)json_integer_value(smtp_code);
    }
    if (smtp_stage && !json_is_null(smtp_stage)) {
        const char *stage = json_string_value(smtp_stage);
        if (!stage || (strcmp(stage, "rcpt") != 0 && strcmp(stage, "data") != 0)) {
            *error = "smtp_stage must be \"rcpt\" or \"data\"";
            return false;
        }
        c.smtp_at_rcpt = strcmp(stage, "rcpt") == 0;
    }
    *out = c;
    return true;
}

json_t *faults_describe(const fault_config *cfg)
{
    json_t *o = json_object();
    json_object_set_new(o, "mode", json_string(faults_mode_name(cfg->mode)));
    if (cfg->mode == FAULT_FLAKY)
        json_object_set_new(o, "rate", json_real(cfg->rate));
    if (cfg->mode == FAULT_SLOW)
        json_object_set_new(o, "delay_ms", json_integer(cfg->delay_ms));
    if (cfg->retry_after_s > 0)
        json_object_set_new(o, "retry_after_s", json_integer(cfg->retry_after_s));
    if (cfg->smtp_code > 0)
        json_object_set_new(o, "smtp_code", json_integer(cfg->smtp_code));
    if (cfg->smtp_at_rcpt)
        json_object_set_new(o, "smtp_stage", json_string("rcpt"));
    return o;
}
