/* metrics: counters and histograms in Prometheus text format for GET /metrics.
 *
 * Requests are counted by route template (never the raw path: no references or tokens in
 * label values), method and status; latency goes into one histogram per route. Other modules
 * add gauges through metrics_gauge_fn callbacks read at scrape time. */
#ifndef ONESTOP_METRICS_H
#define ONESTOP_METRICS_H

#include <stddef.h>

struct metrics;
struct strbuf;

typedef void (*metrics_writer_fn)(void *ctx, struct strbuf *out);

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);
void metrics_observe_request(struct metrics *m, const char *route, const char *method, int status,
                             double seconds);
/* Adds a callback that appends more metric families at scrape time. */
void metrics_add_writer(struct metrics *m, metrics_writer_fn fn, void *ctx);
/* Writes a family's "# HELP" and "# TYPE" lines (type: counter, gauge, histogram). */
void metrics_family(struct strbuf *out, const char *name, const char *type, const char *help);
/* Renders all metrics; caller frees the returned string. */
char *metrics_render(struct metrics *m, size_t *len);

#endif
