/* fuzz_reference: reference_parse on anything a person could type or say. A reference it
 * accepts must come back in canonical form, parse again to itself and be valid. */
#include "fuzz_util.h"
#include "services/reference.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = fuzz_cstr(data, size);
    char out[REFERENCE_SIZE], again[REFERENCE_SIZE];
    if (reference_parse(in, out, sizeof out)) {
        if (strlen(out) != REFERENCE_LEN || !reference_valid(out) ||
            !reference_parse(out, again, sizeof again) || strcmp(out, again) != 0)
            abort();
    } else if (out[0] != '\0' || reference_valid(in)) {
        abort();
    }
    char small[4];
    (void)!reference_parse(in, small, sizeof small); /* too small an out: refused, no overflow */
    (void)reference_prefix_valid(in);
    free(in);
    return 0;
}
