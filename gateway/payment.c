#include "gateway/payment.h"

#include "services/service.h"
#include "services/validators.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define TENDERED_MAX_PENCE 10000000L /* £100,000: anything above is a typing slip */
#define AUTH_CODE_MIN      4
#define AUTH_CODE_MAX      12
#define REASON_MIN         3
#define REASON_MAX         200

static void add_error(json_t *errors, const char *field, const char *code, const char *message)
{
    json_array_append_new(
        errors, json_pack("{s:s, s:s, s:s}", "field", field, "code", code, "message", message));
}

static bool all_digits(const char *s, size_t *count)
{
    size_t n = 0;
    for (; *s; s++) {
        if (isdigit((unsigned char)*s))
            n++;
        else if (*s != ' ' && *s != '-')
            return false;
    }
    *count = n;
    return true;
}

bool payment_parse(const json_t *payment, const struct service *service, enum staff_role role,
                   struct payment *out, json_t *errors)
{
    memset(out, 0, sizeof *out);
    size_t before = json_array_size(errors);
    if (!json_is_object(payment)) {
        add_error(errors, "payment", "required", "Choose how the resident is paying.");
        return false;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)payment, key, v)
    {
        if (strcmp(key, "method") && strcmp(key, "tendered_pence") && strcmp(key, "auth_code") &&
            strcmp(key, "reason")) {
            char field[80];
            snprintf(field, sizeof field, "payment.%s", key);
            add_error(errors, field, "unknown_field", "This is not part of a payment.");
        }
    }
    const char *method = json_string_value(json_object_get(payment, "method"));
    static const char *const methods[] = {"cash", "card", "cheque", "waived", "none"};
    bool known = false;
    for (size_t i = 0; method && i < 5; i++)
        known |= strcmp(method, methods[i]) == 0;
    if (!known) {
        add_error(errors, "payment.method", method ? "invalid" : "required",
                  "Choose cash, card, cheque, waived or none.");
        return false;
    }
    snprintf(out->method, sizeof out->method, "%s", method);
    if (!service_payment_method_allowed(service, method)) {
        char message[160];
        snprintf(message, sizeof message, "%s is not taken for %s.",
                 strcmp(method, "none") == 0 ? "No payment" : method, service_name(service));
        message[0] = (char)toupper((unsigned char)message[0]);
        add_error(errors, "payment.method", "not_allowed", message);
    }
    json_t *tendered = json_object_get(payment, "tendered_pence");
    if (strcmp(method, "cash") == 0) {
        if (!json_is_integer(tendered) || json_integer_value(tendered) < 0 ||
            json_integer_value(tendered) > TENDERED_MAX_PENCE)
            add_error(errors, "payment.tendered_pence", tendered ? "invalid" : "required",
                      "Enter the cash handed over, in pence.");
        else
            out->tendered_pence = (long)json_integer_value(tendered);
    } else if (tendered) {
        add_error(errors, "payment.tendered_pence", "not_allowed",
                  "Cash tendered only goes with a cash payment.");
    }
    const char *auth = json_string_value(json_object_get(payment, "auth_code"));
    if (strcmp(method, "card") == 0) {
        size_t digits = 0;
        size_t len = auth ? strlen(auth) : 0;
        if (!auth || len == 0) {
            add_error(errors, "payment.auth_code", "required",
                      "Enter the authorisation code from the card terminal slip.");
        } else if (all_digits(auth, &digits) && digits >= 13) {
            add_error(errors, "payment.auth_code", "card_number",
                      "That looks like a card number. Enter only the authorisation code "
                      "from the terminal slip; never record card numbers.");
        } else {
            bool ok = len >= AUTH_CODE_MIN && len <= AUTH_CODE_MAX;
            for (const char *p = auth; ok && *p; p++)
                ok = isalnum((unsigned char)*p);
            if (!ok)
                add_error(errors, "payment.auth_code", "invalid_format",
                          "The authorisation code is 4 to 12 letters or digits.");
            else
                snprintf(out->auth_code, sizeof out->auth_code, "%s", auth);
        }
    } else if (auth) {
        add_error(errors, "payment.auth_code", "not_allowed",
                  "An authorisation code only goes with a card payment.");
    }
    const char *reason = json_string_value(json_object_get(payment, "reason"));
    if (strcmp(method, "waived") == 0) {
        if (!reason || strlen(reason) < REASON_MIN || strlen(reason) > REASON_MAX)
            add_error(errors, "payment.reason", reason ? "invalid" : "required",
                      "Give the reason for waiving the fee (3 to 200 characters).");
        else
            snprintf(out->reason, sizeof out->reason, "%s", reason);
        out->needs_supervisor = role < ROLE_SUPERVISOR;
    }
    return json_array_size(errors) == before;
}

bool payment_settle(struct payment *p, long fee_pence, json_t *errors)
{
    size_t before = json_array_size(errors);
    if (fee_pence == 0) {
        if (strcmp(p->method, "none") != 0 && strcmp(p->method, "waived") != 0)
            add_error(errors, "payment.method", "nothing_to_pay",
                      "There is nothing to pay for this: choose none.");
        p->amount_pence = 0;
        return json_array_size(errors) == before;
    }
    if (strcmp(p->method, "none") == 0) {
        char fee[32], message[96];
        if (!validators_money_format(fee_pence, fee, sizeof fee))
            snprintf(fee, sizeof fee, "%ldp", fee_pence);
        snprintf(message, sizeof message, "There is %s to pay: choose how it is paid.", fee);
        add_error(errors, "payment.method", "payment_required", message);
    }
    if (strcmp(p->method, "cash") == 0) {
        if (p->tendered_pence < fee_pence) {
            char fee[32], message[128];
            if (!validators_money_format(fee_pence, fee, sizeof fee))
                snprintf(fee, sizeof fee, "%ldp", fee_pence);
            snprintf(message, sizeof message, "The cash tendered is less than the fee of %s.", fee);
            add_error(errors, "payment.tendered_pence", "insufficient", message);
        } else {
            p->change_pence = p->tendered_pence - fee_pence;
        }
    }
    p->amount_pence = strcmp(p->method, "waived") == 0 ? 0 : fee_pence;
    return json_array_size(errors) == before;
}
