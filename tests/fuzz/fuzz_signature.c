/* fuzz_signature: backend_signature_verify on a callback's three signing headers and body.
 * Input: idempotency key NUL timestamp NUL signature NUL body. When the first byte is odd the
 * signature is replaced by the right one, so the checks after the HMAC (window, replay cache)
 * are reached too. A signature accepted must be the right one. */
#include "fuzz_util.h"
#include "gateway/config.h"
#include "gateway/delivery/backend_request.h"

#include <time.h>

#define FUZZ_NOW 1767225600 /* a fixed "now", so that runs repeat */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned char key[32] = "fuzzing-key-fuzzing-key-fuzzing";
    struct backend_config be = {0};
    be.name = "fuzz";
    be.signing_key.bytes = key;
    be.signing_key.len = sizeof key;
    const char *parts[4];
    size_t lens[4];
    char *copy = fuzz_split(data, size, parts, lens, 4);
    char right[BACKEND_SIGNATURE_HEADER_SIZE];
    if (!backend_signature_compute(key, sizeof key, parts[1], parts[0], parts[3], lens[3], right))
        abort();
    const char *signature = size > 0 && (data[0] & 1) ? right : parts[2];
    char why[256];
    if (backend_signature_verify(&be, parts[0], parts[1], signature, parts[3], lens[3], FUZZ_NOW,
                                 why, sizeof why) &&
        strcmp(signature, right) != 0)
        abort();
    free(copy);
    return 0;
}
