/* lookup: the look-up thread (see lookup.h).
 *
 * DESIGN: callers push a job onto `incoming` under the mutex and wake the multi handle; the
 * thread moves incoming jobs onto its multi handle as signed GETs, and when a transfer ends
 * calls the job's done callback and frees it. `count` (waiting + running) bounds the work:
 * past LOOKUP_QUEUE_MAX a look-up is refused at once, so a flood of counter requests cannot
 * grow memory. Stopping is set under the same mutex, so no job is queued after the thread has
 * drained the queue for the last time. */
#include "gateway/lookup.h"

#include "gateway/delivery/auth.h"
#include "gateway/delivery/backend_request.h"
#include "gateway/delivery/oauth_token.h"
#include "gateway/config.h"
#include "gateway/log.h"
#include "gateway/thread_name.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOOP_POLL_MS        1000
#define STOPPING_ERROR      "the gateway is shutting down"
#define CORRELATION_ID_MAX  128
#define HTTP_UNAUTHORIZED   401
#define IDEMPOTENCY_KEY_MAX 64
#define JSON_CONTENT_TYPE   "application/json"

struct lookup_job {
    struct lookup_job *next;
    const struct backend_config *be;
    char *path;
    char correlation_id[CORRELATION_ID_MAX];   /* "" for none */
    char *body;                                /* a POST's JSON body (malloc'd), or NULL */
    char idempotency_key[IDEMPOTENCY_KEY_MAX]; /* a POST's key, "" for none */
    lookup_done_fn done;
    void *ctx;
    struct backend_request *req;
    char *access_token;  /* oauth2-jwt: the token this attempt carries (malloc'd) */
    bool renewed;        /* a 401 already made us fetch a new token */
    long *retry_after_s; /* the caller's, set before done (lookup_spec); NULL for none */
};

struct lookup {
    CURLM *multi;
    pthread_t thread;
    pthread_mutex_t lock; /* guards incoming, count, stopping; held around curl_multi_wakeup */
    struct lookup_job *incoming;
    struct lookup_job *running; /* look-up thread only */
    size_t count;
    bool stopping;
};

static void job_end(struct lookup *lk, struct lookup_job *job, int status, const char *body,
                    size_t len, const char *error)
{
    job->done(job->ctx, status, body, len, error);
    backend_request_free(job->req);
    free(job->path);
    free(job->body);
    free(job->access_token);
    free(job);
    pthread_mutex_lock(&lk->lock);
    lk->count--;
    pthread_mutex_unlock(&lk->lock);
}

/* For an oauth2-jwt back-end, the access token the job's request carries (may block: see
 * lookup.h). True when the job may be sent. */
static bool take_access_token(struct lookup_job *job, char *err, size_t errlen)
{
    char token[OAUTH_TOKEN_MAX];
    if (auth_kind_of(job->be) != AUTH_OAUTH2_JWT)
        return true;
    free(job->access_token);
    job->access_token = NULL;
    if (!oauth_token_get(job->be, token, err, errlen))
        return false;
    job->access_token = strdup(token);
    if (!job->access_token)
        snprintf(err, errlen, "out of memory");
    return job->access_token != NULL;
}

static void start_jobs(struct lookup *lk, struct lookup_job *list)
{
    while (list) {
        struct lookup_job *job = list;
        list = job->next;
        char err[BACKEND_ERROR_MAX];
        long timeout = job->be->lookup_timeout_ms > 0 ? job->be->lookup_timeout_ms : 0;
        if (!take_access_token(job, err, sizeof err)) {
            log_msg(LOG_WARN, "lookup_token_failed", "backend=%s: %s", job->be->name, err);
            job_end(lk, job, 0, NULL, 0, err);
            continue;
        }
        struct backend_request_spec spec = {
            .method = job->body ? "POST" : "GET",
            .path = job->path,
            .content_type = job->body ? JSON_CONTENT_TYPE : NULL,
            .body = job->body,
            .body_len = job->body ? strlen(job->body) : 0,
            .idempotency_key = job->idempotency_key[0] ? job->idempotency_key : NULL,
            .timeout_ms = timeout,
            .access_token = job->access_token,
            .correlation_id = job->correlation_id[0] ? job->correlation_id : NULL};
        job->req = backend_request_new(job->be, &spec, time(NULL), err, sizeof err);
        if (!job->req) {
            log_msg(LOG_ERROR, "lookup_failed", "backend=%s: %s", job->be->name, err);
            job_end(lk, job, 0, NULL, 0, err);
            continue;
        }
        backend_request_set_ctx(job->req, job);
        if (curl_multi_add_handle(lk->multi, backend_request_easy(job->req)) != CURLM_OK) {
            job_end(lk, job, 0, NULL, 0, "could not start the request");
            continue;
        }
        job->next = lk->running;
        lk->running = job;
    }
}

static void unlink_running(struct lookup *lk, struct lookup_job *job)
{
    for (struct lookup_job **p = &lk->running; *p; p = &(*p)->next)
        if (*p == job) {
            *p = job->next;
            return;
        }
}

/* A 401 from an oauth2-jwt back-end: the token was revoked or expired early. Forget it and
 * send the look-up once more (with a token fetched anew). True when the job was resent or
 * ended here. */
static bool resend_with_new_token(struct lookup *lk, struct lookup_job *job, int status)
{
    if (status != HTTP_UNAUTHORIZED || job->renewed || auth_kind_of(job->be) != AUTH_OAUTH2_JWT)
        return false;
    log_msg(LOG_INFO, "lookup_token_refused",
            "backend=%s answered 401; renewing the access token and trying once more",
            job->be->name);
    oauth_token_invalidate(job->be, job->access_token);
    job->renewed = true;
    backend_request_free(job->req);
    job->req = NULL;
    job->next = NULL;
    start_jobs(lk, job);
    return true;
}

static void finish_jobs(struct lookup *lk)
{
    CURLMsg *msg;
    int queued = 0;
    while ((msg = curl_multi_info_read(lk->multi, &queued))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode code = msg->data.result;
        struct backend_request *req = backend_request_of(easy);
        curl_multi_remove_handle(lk->multi, easy);
        struct lookup_job *job = req ? backend_request_ctx(req) : NULL;
        if (!job)
            continue;
        unlink_running(lk, job);
        struct backend_response resp;
        backend_request_finish(req, code, &resp);
        if (resend_with_new_token(lk, job, resp.http_status))
            continue;
        log_msg(LOG_DEBUG, "lookup", "backend=%s status=%d duration_ms=%.0f%s%s", job->be->name,
                resp.http_status, resp.seconds * 1000.0, resp.error[0] ? " error=" : "",
                resp.error);
        if (resp.http_status == 0)
            log_msg(LOG_WARN, "lookup_no_answer", "backend=%s: %s", job->be->name, resp.error);
        if (job->retry_after_s)
            *job->retry_after_s = resp.http_status ? resp.retry_after_s : -1;
        job_end(lk, job, resp.http_status, resp.body, resp.len,
                resp.http_status ? NULL : resp.error);
    }
}

static void *lookup_main(void *arg)
{
    struct lookup *lk = arg;
    thread_name_set("lookup");
    log_set_request_id("lookup");
    for (;;) {
        pthread_mutex_lock(&lk->lock);
        bool stopping = lk->stopping;
        struct lookup_job *incoming = lk->incoming;
        lk->incoming = NULL;
        pthread_mutex_unlock(&lk->lock);
        if (stopping) {
            while (incoming) {
                struct lookup_job *job = incoming;
                incoming = job->next;
                job_end(lk, job, 0, NULL, 0, STOPPING_ERROR);
            }
            break;
        }
        start_jobs(lk, incoming);
        int still = 0;
        curl_multi_perform(lk->multi, &still);
        finish_jobs(lk);
        curl_multi_poll(lk->multi, NULL, 0, LOOP_POLL_MS, NULL);
        curl_multi_perform(lk->multi, &still);
        finish_jobs(lk);
    }
    while (lk->running) {
        struct lookup_job *job = lk->running;
        lk->running = job->next;
        curl_multi_remove_handle(lk->multi, backend_request_easy(job->req));
        job_end(lk, job, 0, NULL, 0, STOPPING_ERROR);
    }
    return NULL;
}

struct lookup *lookup_start(char *err, size_t errlen)
{
    backend_request_global_init();
    struct lookup *lk = calloc(1, sizeof *lk);
    if (!lk) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&lk->lock, NULL);
    lk->multi = curl_multi_init();
    if (!lk->multi) {
        snprintf(err, errlen, "curl_multi_init failed");
        goto fail;
    }
    int rc = pthread_create(&lk->thread, NULL, lookup_main, lk);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the look-up thread: %s", strerror(rc));
        goto fail;
    }
    return lk;
fail:
    if (lk->multi)
        curl_multi_cleanup(lk->multi);
    pthread_mutex_destroy(&lk->lock);
    free(lk);
    return NULL;
}

void lookup_get(struct lookup *lk, const struct backend_config *be, const char *path_and_query,
                lookup_done_fn done, void *ctx)
{
    struct lookup_spec spec = {.path_and_query = path_and_query};
    lookup_request(lk, be, &spec, done, ctx);
}

void lookup_request(struct lookup *lk, const struct backend_config *be,
                    const struct lookup_spec *spec, lookup_done_fn done, void *ctx)
{
    const char *path_and_query = spec->path_and_query;
    if (spec->retry_after_s)
        *spec->retry_after_s = -1;
    if (!lk || !be) {
        done(ctx, 0, NULL, 0, "look-ups are not available");
        return;
    }
    struct lookup_job *job = calloc(1, sizeof *job);
    char *path = strdup(path_and_query);
    char *body = spec->json_body ? strdup(spec->json_body) : NULL;
    if (!job || !path || (spec->json_body && !body)) {
        free(job);
        free(path);
        free(body);
        done(ctx, 0, NULL, 0, "out of memory");
        return;
    }
    *job = (struct lookup_job){.be = be,
                               .path = path,
                               .body = body,
                               .done = done,
                               .ctx = ctx,
                               .retry_after_s = spec->retry_after_s};
    if (spec->idempotency_key)
        snprintf(job->idempotency_key, sizeof job->idempotency_key, "%s", spec->idempotency_key);
    if (spec->correlation_id)
        snprintf(job->correlation_id, sizeof job->correlation_id, "%s", spec->correlation_id);
    pthread_mutex_lock(&lk->lock);
    const char *refused = lk->stopping                    ? STOPPING_ERROR
                          : lk->count >= LOOKUP_QUEUE_MAX ? "too many look-ups in progress"
                                                          : NULL;
    if (!refused) {
        job->next = lk->incoming;
        lk->incoming = job;
        lk->count++;
        curl_multi_wakeup(lk->multi);
    }
    pthread_mutex_unlock(&lk->lock);
    if (refused) {
        free(job->path);
        free(job->body);
        free(job);
        done(ctx, 0, NULL, 0, refused);
    }
}

void lookup_stop(struct lookup *lk)
{
    if (!lk)
        return;
    pthread_mutex_lock(&lk->lock);
    lk->stopping = true;
    curl_multi_wakeup(lk->multi);
    pthread_mutex_unlock(&lk->lock);
    pthread_join(lk->thread, NULL);
    curl_multi_cleanup(lk->multi);
    pthread_mutex_destroy(&lk->lock);
    free(lk);
}
