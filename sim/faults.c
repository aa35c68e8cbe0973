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
    {FAULT_UP, "up"},       {FAULT_DOWN, "down"},     {FAULT_SLOW, "slow"}, {FAULT_ERROR, "error"},
    {FAULT_FLAKY, "flaky"}, {FAULT_REJECT, "reject"}, {FAULT_LATE, "late"}, {FAULT_DROP, "drop"},
};

static const struct {
    open311_variant variant;
    const char *name;
} open311_names[] = {
    {OPEN311_ARRAY, "array"},
    {OPEN311_OBJECT, "object"},
    {OPEN311_NUMERIC, "numeric"},
    {OPEN311_TOKEN, "token"},
    {OPEN311_BLACKBOX, "blackbox"},
    {OPEN311_ERROR_NUMERIC, "error_numeric"},
    {OPEN311_ERROR_STRING, "error_string"},
};

#define MODE_CHOICES "mode must be one of up, down, slow, error, flaky, reject, late, drop"
#define OPEN311_CHOICES                                                                            \
    "open311 must be one of array, object, numeric, token, blackbox, error_numeric, "              \
    "error_string"
#define HTTP_OK       200
#define HTTP_CREATED  201
#define HTTP_ACCEPTED 202

const char *faults_open311_name(open311_variant v)
{
    for (size_t i = 0; i < sizeof open311_names / sizeof open311_names[0]; i++)
        if (open311_names[i].variant == v)
            return open311_names[i].name;
    return "unknown";
}

bool faults_take(fault_config *cfg, bool is_read)
{
    if (cfg->mode == FAULT_UP || (cfg->writes_only && is_read))
        return false;
    if (cfg->count > 0 && --cfg->count == 0)
        cfg->mode = FAULT_UP;
    return true;
}

fault_config faults_none(void)
{
    fault_config c = {.mode = FAULT_UP,
                      .rate = FAULTS_DEFAULT_RATE,
                      .delay_ms = 0,
                      .retry_after_s = 0,
                      .open311 = OPEN311_ARRAY,
                      .open311_status = HTTP_CREATED,
                      .token_polls = FAULTS_DEFAULT_TOKEN_POLLS};
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
    case FAULT_LATE:
        return FAULT_ACT_LATE;
    case FAULT_DROP:
        return FAULT_ACT_DROP;
    }
    return FAULT_ACT_NONE;
}

/* An optional whole number in [min, max]; false with *error when present and wrong. */
static bool optional_uint(const json_t *body, const char *name, unsigned min, unsigned max,
                          unsigned *out, const char *error_text, const char **error)
{
    const json_t *v = json_object_get(body, name);
    if (!v || json_is_null(v))
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        *error = error_text;
        return false;
    }
    *out = (unsigned)json_integer_value(v);
    return true;
}

/* count, writes_only, idempotency, open311, open311_status, token_polls. */
static bool faults_parse_more(const json_t *body, fault_config *c, const char **error)
{
    const json_t *writes = json_object_get(body, "writes_only");
    const json_t *idem = json_object_get(body, "idempotency");
    const json_t *variant = json_object_get(body, "open311");
    if (!optional_uint(body, "count", 0, FAULTS_MAX_COUNT, &c->count,
                       "count must be an integer from 0 to 1000000", error) ||
        !optional_uint(body, "token_polls", 0, FAULTS_TOKEN_NEVER, &c->token_polls,
                       "token_polls must be an integer from 0 to 1000000", error) ||
        !optional_uint(body, "open311_status", HTTP_OK, HTTP_ACCEPTED, &c->open311_status,
                       "open311_status must be 200, 201 or 202", error))
        return false;
    if (writes && !json_is_null(writes)) {
        if (!json_is_boolean(writes)) {
            *error = "writes_only must be true or false";
            return false;
        }
        c->writes_only = json_is_true(writes);
    }
    if (idem && !json_is_null(idem)) {
        const char *v = json_string_value(idem);
        if (!v || (strcmp(v, "honour") != 0 && strcmp(v, "ignore") != 0)) {
            *error = "idempotency must be honour or ignore";
            return false;
        }
        c->ignore_idempotency = strcmp(v, "ignore") == 0;
    }
    if (variant && !json_is_null(variant)) {
        const char *v = json_string_value(variant);
        bool known = false;
        for (size_t i = 0; v && i < sizeof open311_names / sizeof open311_names[0]; i++)
            if (strcmp(v, open311_names[i].name) == 0) {
                c->open311 = open311_names[i].variant;
                known = true;
            }
        if (!known) {
            *error = OPEN311_CHOICES;
            return false;
        }
    }
    return true;
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
        *error = MODE_CHOICES;
        return false;
    }
    for (size_t i = 0; i < sizeof mode_names / sizeof mode_names[0]; i++) {
        if (strcmp(json_string_value(mode), mode_names[i].name) == 0) {
            c.mode = mode_names[i].mode;
            known = true;
        }
    }
    if (!known) {
        *error = MODE_CHOICES;
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
    c.delay_ms = c.mode == FAULT_SLOW || c.mode == FAULT_LATE ? FAULTS_DEFAULT_DELAY_MS : 0;
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
    return faults_parse_more(body, &c, error) && (*out = c, true);
}

json_t *faults_describe(const fault_config *cfg)
{
    json_t *o = json_object();
    json_object_set_new(o, "mode", json_string(faults_mode_name(cfg->mode)));
    if (cfg->mode == FAULT_FLAKY)
        json_object_set_new(o, "rate", json_real(cfg->rate));
    if (cfg->mode == FAULT_SLOW || cfg->mode == FAULT_LATE)
        json_object_set_new(o, "delay_ms", json_integer(cfg->delay_ms));
    if (cfg->retry_after_s > 0)
        json_object_set_new(o, "retry_after_s", json_integer(cfg->retry_after_s));
    if (cfg->smtp_code > 0)
        json_object_set_new(o, "smtp_code", json_integer(cfg->smtp_code));
    if (cfg->smtp_at_rcpt)
        json_object_set_new(o, "smtp_stage", json_string("rcpt"));
    if (cfg->count > 0)
        json_object_set_new(o, "count", json_integer(cfg->count));
    if (cfg->writes_only)
        json_object_set_new(o, "writes_only", json_true());
    if (cfg->ignore_idempotency)
        json_object_set_new(o, "idempotency", json_string("ignore"));
    if (cfg->open311 != OPEN311_ARRAY || cfg->open311_status != HTTP_CREATED) {
        json_object_set_new(o, "open311", json_string(faults_open311_name(cfg->open311)));
        json_object_set_new(o, "open311_status", json_integer(cfg->open311_status));
        if (cfg->open311 == OPEN311_TOKEN)
            json_object_set_new(o, "token_polls", json_integer(cfg->token_polls));
    }
    return o;
}
