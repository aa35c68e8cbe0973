/* metrics: a fixed table of (route, method, status) counters and per-route histograms under
 * one mutex. Route labels come from the route table, so the set is small and bounded. */
#include "gateway/metrics.h"

#include "gateway/strbuf.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_SERIES_MAX  512
#define METRICS_ROUTES_MAX  96
#define METRICS_WRITERS_MAX 16
#define METRICS_TEXT_LIMIT  (4 * 1024 * 1024)

static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1,   0.25,   0.5,   1.0,  2.5,   5.0};
#define BUCKETS_LEN (sizeof buckets / sizeof buckets[0])

struct series {
    const char *route;
    char method[8];
    int status;
    unsigned long long count;
};

struct histogram {
    const char *route;
    unsigned long long bucket[BUCKETS_LEN];
    unsigned long long count;
    double sum;
};

struct writer {
    metrics_writer_fn fn;
    void *ctx;
};

struct metrics {
    pthread_mutex_t lock;
    struct series series[METRICS_SERIES_MAX];
    size_t series_len;
    struct histogram hist[METRICS_ROUTES_MAX];
    size_t hist_len;
    struct writer writers[METRICS_WRITERS_MAX];
    size_t writers_len;
};

struct metrics *metrics_new(void)
{
    struct metrics *m = calloc(1, sizeof *m);
    if (m)
        pthread_mutex_init(&m->lock, NULL);
    return m;
}

void metrics_free(struct metrics *m)
{
    if (m) {
        pthread_mutex_destroy(&m->lock);
        free(m);
    }
}

void metrics_add_writer(struct metrics *m, metrics_writer_fn fn, void *ctx)
{
    pthread_mutex_lock(&m->lock);
    if (m->writers_len < METRICS_WRITERS_MAX)
        m->writers[m->writers_len++] = (struct writer){fn, ctx};
    pthread_mutex_unlock(&m->lock);
}

void metrics_observe_request(struct metrics *m, const char *route, const char *method, int status,
                             double seconds)
{
    if (!route)
        route = "unmatched";
    pthread_mutex_lock(&m->lock);
    struct series *s = NULL;
    for (size_t i = 0; i < m->series_len; i++)
        if (m->series[i].status == status && strcmp(m->series[i].route, route) == 0 &&
            strcmp(m->series[i].method, method) == 0) {
            s = &m->series[i];
            break;
        }
    if (!s && m->series_len < METRICS_SERIES_MAX) {
        s = &m->series[m->series_len++];
        s->route = route;
        snprintf(s->method, sizeof s->method, "%s", method);
        s->status = status;
    }
    if (s)
        s->count++;
    struct histogram *h = NULL;
    for (size_t i = 0; i < m->hist_len; i++)
        if (strcmp(m->hist[i].route, route) == 0) {
            h = &m->hist[i];
            break;
        }
    if (!h && m->hist_len < METRICS_ROUTES_MAX) {
        h = &m->hist[m->hist_len++];
        h->route = route;
    }
    if (h) {
        for (size_t b = 0; b < BUCKETS_LEN; b++)
            if (seconds <= buckets[b])
                h->bucket[b]++;
        h->count++;
        h->sum += seconds;
    }
    pthread_mutex_unlock(&m->lock);
}

char *metrics_render(struct metrics *m, size_t *len)
{
    struct strbuf b;
    strbuf_init(&b, METRICS_TEXT_LIMIT);
    strbuf_printf(&b,
                  "# HELP onestop_build_info Build of this onestopd.\n"
                  "# TYPE onestop_build_info gauge\n"
                  "onestop_build_info{version=\"%s\",compiled=\"%s\"} 1\n",
                  ONESTOP_VERSION, __DATE__);
    pthread_mutex_lock(&m->lock);
    strbuf_printf(&b, "# HELP onestop_http_requests_total HTTP requests by route, method and "
                      "status.\n# TYPE onestop_http_requests_total counter\n");
    for (size_t i = 0; i < m->series_len; i++)
        strbuf_printf(
            &b, "onestop_http_requests_total{route=\"%s\",method=\"%s\",status=\"%d\"} %llu\n",
            m->series[i].route, m->series[i].method, m->series[i].status, m->series[i].count);
    strbuf_printf(&b, "# HELP onestop_http_request_duration_seconds Time from the first byte "
                      "of a request to its reply.\n"
                      "# TYPE onestop_http_request_duration_seconds histogram\n");
    for (size_t i = 0; i < m->hist_len; i++) {
        struct histogram *h = &m->hist[i];
        for (size_t k = 0; k < BUCKETS_LEN; k++)
            strbuf_printf(
                &b, "onestop_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                h->route, buckets[k], h->bucket[k]);
        strbuf_printf(
            &b,
            "onestop_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n"
            "onestop_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
            "onestop_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
            h->route, h->count, h->route, h->sum, h->route, h->count);
    }
    struct writer writers[METRICS_WRITERS_MAX];
    size_t writers_len = m->writers_len;
    memcpy(writers, m->writers, sizeof writers);
    pthread_mutex_unlock(&m->lock);
    for (size_t i = 0; i < writers_len; i++)
        writers[i].fn(writers[i].ctx, &b);
    return strbuf_take(&b, len);
}

void metrics_family(struct strbuf *out, const char *name, const char *type, const char *help)
{
    strbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}
