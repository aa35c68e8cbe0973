/* fuzz_service_evaluate: a JSON request body through service evaluation, as POST /quotes and
 * /transactions do: the shipped service definitions, the store look-ups answered by a stub.
 * The first byte picks the service and the date; the rest is the body's "fields". Whatever
 * comes in, the evaluation is either valid (fields, a fee, never a negative line) or a list of
 * problems, never both; a valid one yields a back-end payload. */
#include "fuzz_util.h"
#include "services/service.h"

#include <jansson.h>

#ifndef ONESTOP_SOURCE_DIR
#error "the build names the source folder (for config/services)"
#endif

static long stub_count(void *ctx, const char *key, const char *value, const char *on)
{
    (void)ctx;
    (void)key;
    (void)on;
    return (long)(strlen(value) % 3);
}

static long stub_max(void *ctx, const char *key, const char *value, const char *from,
                     const char *until)
{
    (void)ctx;
    (void)key;
    (void)from;
    (void)until;
    return (long)(strlen(value) % 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct service_registry *reg;
    static const char *const days[] = {"2026-03-31", "2026-04-01", "2024-02-29", "2030-12-31"};
    if (!reg) {
        json_t *problems = json_array();
        reg = service_registry_load(ONESTOP_SOURCE_DIR "/config/services", NULL, problems);
        json_decref(problems);
        if (!reg)
            abort();
    }
    if (size < 1)
        return 0;
    size_t n = service_registry_count(reg);
    const struct service *s = service_registry_at(reg, data[0] % n);
    json_t *fields = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(fields)) {
        json_decref(fields);
        return 0;
    }
    struct service_lookup lookup = {.ctx = NULL, .count_live = stub_count, .max_live = stub_max};
    struct service_evaluation ev;
    service_evaluate(s, fields, days[(data[0] >> 4) % 4], &lookup, &ev);
    bool valid = json_array_size(ev.errors) == 0;
    if (valid != (ev.fields != NULL))
        abort();
    if (valid) {
        size_t i;
        json_t *line;
        json_array_foreach(ev.lines, i, line)
        {
            if (json_integer_value(json_object_get(line, "amount_pence")) < 0)
                abort();
        }
        if (ev.fee_pence < 0)
            abort();
        json_t *payload = service_backend_payload(s, &ev, "RP-4K7M-9Q2X");
        if (!payload)
            abort();
        json_decref(payload);
    }
    service_evaluation_clear(&ev);
    json_decref(fields);
    return 0;
}
