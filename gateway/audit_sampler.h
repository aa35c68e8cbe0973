/* audit_sampler: counts events an attacker can repeat at will (a sign-in at an unknown
 * counter, a 429) and lets only a sample of them into the durable audit trail.
 *
 * Every event is counted (metrics, by action). Per (action, address) at most one audit row is
 * written per interval; the next row written for that pair says how many were suppressed in
 * between, so the trail still tells an operator that a flood happened, where from and how big,
 * without one row (and one fsync) per request. */
#ifndef ONESTOP_AUDIT_SAMPLER_H
#define ONESTOP_AUDIT_SAMPLER_H

#include <stdbool.h>
#include <time.h>

struct audit_sampler;
struct strbuf;

/* NULL when out of memory. */
struct audit_sampler *audit_sampler_new(long interval_s);
void audit_sampler_free(struct audit_sampler *sampler);
/* Counts one event. True when it should be written to the audit trail now; *suppressed is then
 * the number of events of this (action, address) not written since the last row. action must
 * be a string literal (it is kept). */
bool audit_sampler_admit(struct audit_sampler *sampler, const char *kind, const char *address,
                         time_t now, long *suppressed) __attribute__((warn_unused_result));
/* metrics_writer_fn: onestop_audit_events_total and onestop_audit_suppressed_total by action. */
void audit_sampler_metrics(void *sampler, struct strbuf *out);

#endif
