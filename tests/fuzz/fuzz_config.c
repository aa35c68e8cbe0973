/* fuzz_config: config_load on any onestop.json. The keys it may name exist beside it (a
 * status token key, a signing key), and "services" beside it is the real service definitions
 * folder, so the cross-key checks run too. It must either load or name problems, never crash. */
#include "fuzz_util.h"
#include "gateway/config.h"

#include <jansson.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        char keys[FUZZ_PATH_MAX];
        snprintf(keys, sizeof keys, "%s/keys", fuzz_dir());
        mkdir(keys, 0700);
        fuzz_write("keys/status.key", "0123456789abcdef0123456789abcdef\n", 33);
        fuzz_write("keys/parking.key", "fedcba9876543210fedcba9876543210\n", 33);
        char services[FUZZ_PATH_MAX];
        snprintf(services, sizeof services, "%s/services", fuzz_dir());
        if (symlink(ONESTOP_SOURCE_DIR "/config/services", services) != 0)
            abort();
        ready = true;
    }
    const char *path = fuzz_write("onestop.json", data, size);
    json_t *problems = json_array();
    struct config *cfg = config_load(path, problems);
    if (cfg)
        config_free(cfg);
    else if (json_array_size(problems) == 0)
        abort(); /* refused without saying why */
    json_decref(problems);
    return 0;
}
