/* forward_metrics: the forwarder's Prometheus families (delivery counters per back-end, the
 * breaker and in-flight gauges, the outbox's depth from the store). Read by the scrape thread:
 * the counters are atomics the forwarder thread writes. */
#include "gateway/delivery/forward_private.h"

#include "gateway/config.h"
#include "gateway/metrics.h"
#include "gateway/strbuf.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>

void forwarder_metrics(void *ctx, struct strbuf *out)
{
    struct forwarder *fw = ctx;
    if (!fw)
        return;
    static const struct {
        const char *name;
        const char *help;
        size_t offset;
    } counters[] = {
        {"onestop_deliveries_attempted_total", "Delivery requests sent to a back-end.",
         offsetof(struct fwd_backend, attempted)},
        {"onestop_deliveries_succeeded_total", "Deliveries a back-end accepted (2xx).",
         offsetof(struct fwd_backend, succeeded)},
        {"onestop_deliveries_failed_total", "Deliveries given up (dead letters).",
         offsetof(struct fwd_backend, failed)},
        {"onestop_deliveries_retried_total", "Failed attempts scheduled to be tried again.",
         offsetof(struct fwd_backend, retried)},
        {"onestop_status_polls_total", "Status polls sent to Open311 back-ends.",
         offsetof(struct fwd_backend, polls)},
    };
    for (size_t c = 0; c < sizeof counters / sizeof counters[0]; c++) {
        metrics_family(out, counters[c].name, "counter", counters[c].help);
        for (size_t i = 0; i < fw->backends_len; i++) {
            atomic_ulong *v = (atomic_ulong *)((char *)&fw->backends[i] + counters[c].offset);
            strbuf_printf(out, "%s{backend=\"%s\"} %lu\n", counters[c].name,
                          fw->backends[i].cfg->name, atomic_load(v));
        }
    }
    metrics_family(out, "onestop_backend_breaker_state", "gauge",
                   "Circuit breaker: 0 closed, 1 open, 2 half-open.");
    for (size_t i = 0; i < fw->backends_len; i++)
        strbuf_printf(out, "onestop_backend_breaker_state{backend=\"%s\"} %d\n",
                      fw->backends[i].cfg->name, atomic_load(&fw->backends[i].breaker_gauge));
    metrics_family(out, "onestop_deliveries_in_flight", "gauge",
                   "Requests to the back-end in flight.");
    for (size_t i = 0; i < fw->backends_len; i++)
        strbuf_printf(out, "onestop_deliveries_in_flight{backend=\"%s\"} %d\n",
                      fw->backends[i].cfg->name, atomic_load(&fw->backends[i].in_flight_gauge));

    struct delivery_counts *counts = calloc(fw->backends_len + 1, sizeof *counts);
    bool *have = calloc(fw->backends_len + 1, sizeof *have);
    for (size_t i = 0; counts && have && i < fw->backends_len; i++)
        have[i] =
            store_delivery_counts(fw->store, fw->backends[i].cfg->name, &counts[i]) == STORE_OK;
    static const struct {
        const char *name;
        const char *help;
        size_t offset;
    } depths[] = {
        {"onestop_outbox_pending", "Deliveries waiting to reach their back-end.",
         offsetof(struct delivery_counts, pending)},
        {"onestop_outbox_failed", "Deliveries given up, waiting for a supervisor.",
         offsetof(struct delivery_counts, failed)},
        {"onestop_outbox_oldest_pending_seconds", "Age of the oldest waiting delivery.",
         offsetof(struct delivery_counts, oldest_pending_s)},
    };
    for (size_t d = 0; d < sizeof depths / sizeof depths[0]; d++) {
        metrics_family(out, depths[d].name, "gauge", depths[d].help);
        for (size_t i = 0; counts && have && i < fw->backends_len; i++)
            if (have[i])
                strbuf_printf(out, "%s{backend=\"%s\"} %ld\n", depths[d].name,
                              fw->backends[i].cfg->name,
                              *(const long *)((const char *)&counts[i] + depths[d].offset));
    }
    free(counts);
    free(have);
}
