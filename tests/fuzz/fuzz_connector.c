/* fuzz_connector: every connector's reading of a back-end's answers (json-rest, Open311 in
 * every shape real servers send, FHIR), and connector_describe_error. The first byte picks
 * the connector, the rest is the body. What they write must be a NUL-terminated string that
 * fits. */
#include "fuzz_util.h"
#include "gateway/delivery/connector.h"

#define FUZZ_OUT 64 /* a small out buffer, to catch writes past it */

static void check(const char *s, size_t size)
{
    if (memchr(s, '\0', size) == NULL)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"json-rest", "open311", "fhir"};
    if (size < 1)
        return 0;
    const struct connector *c = connector_find(names[data[0] % 3]);
    if (!c)
        abort();
    const char *body = (const char *)data + 1; /* not NUL-terminated, as curl hands it over */
    size_t len = size - 1;
    char out[FUZZ_OUT], note[FUZZ_OUT];
    if (c->parse_accepted) {
        c->parse_accepted(body, len, out, sizeof out);
        check(out, sizeof out);
    }
    if (c->parse_poll) {
        bool closed = false;
        note[0] = '\0';
        if (c->parse_poll(body, len, &closed, note, sizeof note))
            check(note, sizeof note);
    }
    if (c->parse_token) {
        c->parse_token(body, len, out, sizeof out);
        check(out, sizeof out);
    }
    if (c->parse_lookup) {
        bool found = false;
        out[0] = '\0';
        if (c->parse_lookup(body, len, "RP-4K7M-9Q2X", &found, out, sizeof out))
            check(out, sizeof out);
    }
    connector_describe_error(400 + data[0] % 200, body, len, out, sizeof out);
    check(out, sizeof out);
    return 0;
}
