/* fuzz_forwarded_for: the real client behind trusted proxies, from any X-Forwarded-For. The
 * answer must always be an address: the socket's, or one the header names. */
#include "fuzz_util.h"
#include "gateway/http/client_limits.h"

#include <arpa/inet.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct client_limits *cl;
    static const char *const proxies[] = {"10.0.0.1", "10.0.0.2", "::1"};
    if (!cl) {
        struct client_limits_config cfg = {.header_deadline_s = 10,
                                           .body_deadline_s = 10,
                                           .connection_limit = 10,
                                           .headroom = 1,
                                           .per_client_limit = 5,
                                           .trusted_proxies = proxies,
                                           .trusted_proxies_len = 3};
        cl = client_limits_new(&cfg);
        if (!cl)
            abort();
    }
    char *xff = fuzz_cstr(data, size);
    char client[CLIENT_ADDRESS_MAX];
    client_limits_real_client(cl, size % 2 ? "10.0.0.1" : "::1", xff, client);
    unsigned char bin[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, client, bin) != 1 && inet_pton(AF_INET6, client, bin) != 1)
        abort();
    free(xff);
    return 0;
}
