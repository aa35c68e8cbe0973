/* fuzz_service_definition: service_registry_load on any config/services/<code>.json. When a
 * definition loads, its catalogue entry and an evaluation of empty fields must work too. */
#include "fuzz_util.h"
#include "services/service.h"

#include <jansson.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char dir[FUZZ_PATH_MAX];
    snprintf(dir, sizeof dir, "%s/services", fuzz_dir());
    mkdir(dir, 0700);
    fuzz_write("services/fuzzed.json", data, size);
    json_t *enabled = json_pack("[s]", "fuzzed");
    json_t *problems = json_array();
    struct service_registry *reg = service_registry_load(dir, enabled, problems);
    if (reg) {
        const struct service *s = service_registry_at(reg, 0);
        if (!s)
            abort();
        json_decref(service_catalogue_entry_on(s, "2026-06-01"));
        json_t *fields = json_object();
        struct service_evaluation ev;
        service_evaluate(s, fields, "2026-06-01", NULL, &ev);
        service_evaluation_clear(&ev);
        json_decref(fields);
        service_registry_free(reg);
    } else if (json_array_size(problems) == 0) {
        abort();
    }
    json_decref(problems);
    json_decref(enabled);
    return 0;
}
