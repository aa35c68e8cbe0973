/* audit_sampler: a fixed table of (action, address) windows, hashed; a collision shares a
 * window, which can only write fewer rows, never more. A few fixed action counters. */
#include "gateway/audit_sampler.h"

#include "gateway/strbuf.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SAMPLER_SLOTS   4096
#define SAMPLER_ACTIONS 16 /* distinct actions counted; more share the "other" counter */

struct sample_window {
    uint64_t key_hash;
    time_t written_at; /* when the last row for this key was written; 0: never */
    long suppressed;
};

struct action_count {
    const char *action; /* NULL: free */
    unsigned long long events;
    unsigned long long suppressed;
};

struct audit_sampler {
    long interval_s;
    pthread_mutex_t lock;
    struct sample_window slots[SAMPLER_SLOTS];
    struct action_count actions[SAMPLER_ACTIONS];
    struct action_count other;
};

static uint64_t hash_pair(const char *a, const char *b)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a over "a\nb" */
    for (const char *p = a; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h = (h ^ '\n') * 1099511628211ULL;
    for (const char *p = b; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return h;
}

struct audit_sampler *audit_sampler_new(long interval_s)
{
    struct audit_sampler *s = calloc(1, sizeof *s);
    if (s) {
        s->interval_s = interval_s;
        s->other.action = "other";
        pthread_mutex_init(&s->lock, NULL);
    }
    return s;
}

void audit_sampler_free(struct audit_sampler *sampler)
{
    if (sampler) {
        pthread_mutex_destroy(&sampler->lock);
        free(sampler);
    }
}

static struct action_count *action_slot(struct audit_sampler *s, const char *action)
{
    for (size_t i = 0; i < SAMPLER_ACTIONS; i++) {
        if (!s->actions[i].action) {
            s->actions[i].action = action;
            return &s->actions[i];
        }
        if (strcmp(s->actions[i].action, action) == 0)
            return &s->actions[i];
    }
    return &s->other;
}

bool audit_sampler_admit(struct audit_sampler *s, const char *action, const char *address,
                         time_t now, long *suppressed)
{
    uint64_t h = hash_pair(action, address ? address : "");
    pthread_mutex_lock(&s->lock);
    struct action_count *count = action_slot(s, action);
    count->events++;
    struct sample_window *w = &s->slots[h % SAMPLER_SLOTS];
    if (w->key_hash != h) {
        /* a new key takes the slot over: what the old one suppressed is still in the metric */
        w->key_hash = h;
        w->written_at = 0;
        w->suppressed = 0;
    }
    bool write = w->written_at == 0 || now - w->written_at >= s->interval_s;
    if (write) {
        *suppressed = w->suppressed;
        w->suppressed = 0;
        w->written_at = now;
    } else {
        w->suppressed++;
        count->suppressed++;
    }
    pthread_mutex_unlock(&s->lock);
    return write;
}

void audit_sampler_metrics(void *sampler, struct strbuf *out)
{
    struct audit_sampler *s = sampler;
    pthread_mutex_lock(&s->lock);
    strbuf_printf(out, "# HELP onestop_audit_events_total Repeatable events seen (sign-ins at "
                       "unknown counters, 429s), written to the audit trail or not.\n"
                       "# TYPE onestop_audit_events_total counter\n");
    for (size_t i = 0; i < SAMPLER_ACTIONS && s->actions[i].action; i++)
        strbuf_printf(out, "onestop_audit_events_total{action=\"%s\"} %llu\n", s->actions[i].action,
                      s->actions[i].events);
    strbuf_printf(out, "onestop_audit_events_total{action=\"other\"} %llu\n", s->other.events);
    strbuf_printf(out, "# HELP onestop_audit_suppressed_total Repeatable events counted but not "
                       "written to the audit trail (one row per address a minute at most).\n"
                       "# TYPE onestop_audit_suppressed_total counter\n");
    for (size_t i = 0; i < SAMPLER_ACTIONS && s->actions[i].action; i++)
        strbuf_printf(out, "onestop_audit_suppressed_total{action=\"%s\"} %llu\n",
                      s->actions[i].action, s->actions[i].suppressed);
    strbuf_printf(out, "onestop_audit_suppressed_total{action=\"other\"} %llu\n",
                  s->other.suppressed);
    pthread_mutex_unlock(&s->lock);
}
