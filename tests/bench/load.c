/* bench-load: N concurrent clients posting transactions to onestopd, with libcurl multi.
 *
 *   bench-load --url http://127.0.0.1:PORT [--url http://127.0.0.1:PORT2 ...] --token TOKEN
 *              --body-file F [--clients 64] [--requests 5000] [--key-prefix bench]
 *
 * Every request gets its own Idempotency-Key (<prefix>-<n>), so each is a new transaction.
 * With several --url (up to URLS_MAX: the nodes of a cluster), client i posts to URL i mod n,
 * so the clients are split evenly across the nodes and the latencies are counted together.
 * Prints one line of JSON: requests, seconds, per_second, p50/p90/p99/max latency in ms and
 * the count of each HTTP status. Exit 1 if any request did not get 201. */
#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEY_MAX  96
#define URLS_MAX 8
#define URL_MAX  512

struct client {
    CURL *easy;
    const char *url; /* the node this client posts to */
    struct curl_slist *headers;
    double started;
    long index;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    (void)ptr;
    (void)userdata;
    return size * nmemb;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf)
        buf[n] = '\0';
    fclose(f);
    return buf;
}

static void start(CURLM *multi, struct client *c, long index, const char *token, const char *prefix,
                  const char *body)
{
    char header[KEY_MAX + 64];
    curl_slist_free_all(c->headers);
    c->headers = NULL;
    snprintf(header, sizeof header, "Idempotency-Key: %s-%ld", prefix, index);
    c->headers = curl_slist_append(c->headers, header);
    snprintf(header, sizeof header, "Authorization: Bearer %.60s", token);
    c->headers = curl_slist_append(c->headers, header);
    c->headers = curl_slist_append(c->headers, "Content-Type: application/json");
    curl_easy_setopt(c->easy, CURLOPT_URL, c->url);
    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c->easy, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
    c->started = now_s();
    c->index = index;
    curl_multi_add_handle(multi, c->easy);
}

int main(int argc, char **argv)
{
    const char *base[URLS_MAX], *token = NULL, *body_file = NULL, *prefix = "bench";
    int nbase = 0;
    bool too_many = false;
    long clients = 64, requests = 5000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--url")) {
            if (nbase < URLS_MAX)
                base[nbase++] = argv[i + 1];
            else
                too_many = true;
        } else if (!strcmp(argv[i], "--token"))
            token = argv[i + 1];
        else if (!strcmp(argv[i], "--body-file"))
            body_file = argv[i + 1];
        else if (!strcmp(argv[i], "--clients"))
            clients = strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--requests"))
            requests = strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--key-prefix"))
            prefix = argv[i + 1];
    }
    char *body = body_file ? read_file(body_file) : NULL;
    if (!nbase || too_many || !token || !body || clients < 1 || requests < 1) {
        fprintf(stderr, "usage: bench-load --url URL [--url URL2 ...] --token TOKEN --body-file F"
                        " [--clients N] [--requests N] [--key-prefix P]\n");
        free(body);
        return 2;
    }
    char url[URLS_MAX][URL_MAX];
    for (int u = 0; u < nbase; u++)
        snprintf(url[u], sizeof url[u], "%s/api/v1/transactions", base[u]);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, clients);
    struct client *pool = calloc((size_t)clients, sizeof *pool);
    double *latency = calloc((size_t)requests, sizeof *latency);
    long statuses[600] = {0}, failures = 0, next = 0, done = 0;
    double t0 = now_s();
    for (long i = 0; i < clients && next < requests; i++) {
        pool[i].easy = curl_easy_init();
        pool[i].url = url[i % nbase];
        start(multi, &pool[i], next++, token, prefix, body);
    }
    while (done < requests) {
        int running = 0, queued = 0;
        curl_multi_perform(multi, &running);
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(multi, &queued))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            struct client *c = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            long code = 0;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
            latency[done++] = (now_s() - c->started) * 1000.0;
            if (msg->data.result != CURLE_OK || code < 0 || code >= 600)
                failures++;
            else
                statuses[code]++;
            curl_multi_remove_handle(multi, c->easy);
            if (next < requests)
                start(multi, c, next++, token, prefix, body);
        }
        if (done < requests)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    double seconds = now_s() - t0;
    qsort(latency, (size_t)requests, sizeof *latency, compare_double);
#define PCT(p) latency[(long)((double)(requests - 1) * (p))]
    printf("{\"requests\":%ld,\"clients\":%ld,\"seconds\":%.3f,\"per_second\":%.1f,"
           "\"p50_ms\":%.2f,\"p90_ms\":%.2f,\"p99_ms\":%.2f,\"max_ms\":%.2f,\"errors\":%ld,"
           "\"statuses\":{",
           requests, clients, seconds, (double)requests / seconds, PCT(0.50), PCT(0.90), PCT(0.99),
           latency[requests - 1], failures);
    bool first = true;
    for (int s = 0; s < 600; s++)
        if (statuses[s]) {
            printf("%s\"%d\":%ld", first ? "" : ",", s, statuses[s]);
            first = false;
        }
    printf("}}\n");
    int rc = statuses[201] == requests ? 0 : 1;
    for (long i = 0; i < clients; i++) {
        curl_slist_free_all(pool[i].headers);
        if (pool[i].easy)
            curl_easy_cleanup(pool[i].easy);
    }
    curl_multi_cleanup(multi);
    curl_global_cleanup();
    free(pool);
    free(latency);
    free(body);
    return rc;
}
