/* onestopd: the onestop gateway daemon.
 *
 * Start-up order: config (refuse to start on any problem), store (migrations), then the
 * workers, then HTTP. Shutdown on SIGTERM/SIGINT reverses it: stop accepting, let in-flight
 * requests finish (bounded), stop the workers, close the store, exit 0. Signals are taken
 * with sigwait on the main thread, so no handler runs in an arbitrary thread. */
#include "common/uktime.h"
#include "gateway/app.h"
#include "gateway/documents.h"
#include "gateway/audit_sampler.h"
#include "gateway/housekeeper.h"
#include "gateway/config.h"
#include "gateway/daemon_lock.h"
#include "gateway/failpoint.h"
#include "gateway/field_crypt.h"
#include "gateway/delivery/forward.h"
#include "gateway/delivery/notify_sender.h"
#include "gateway/http/access.h"
#include "gateway/http/http.h"
#include "gateway/log.h"
#include "gateway/lookup.h"
#include "gateway/metrics.h"
#include "gateway/rate_limiter.h"
#include "gateway/http/routes.h"
#include "gateway/signin_limiter.h"
#include "gateway/spooler.h"
#include "gateway/store.h"

#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* Files onestopd creates (database, documents, logs) are never readable by other users. */
#define ONESTOPD_UMASK (S_IWGRP | S_IRWXO)

static void usage(FILE *out)
{
    fprintf(out, "usage: onestopd --config PATH [--listen HOST:PORT] [--data-dir DIR]\n"
                 "       onestopd --check-config PATH\n"
                 "       onestopd --routes          (the route table and who may call each, JSON)\n"
                 "       onestopd --version\n");
}

static int check_config(const char *path)
{
    json_t *problems = json_array();
    struct config *cfg = config_load(path, problems);
    size_t i;
    json_t *p;
    json_array_foreach(problems, i, p) fprintf(stderr, "%s\n", json_string_value(p));
    int rc = cfg ? 0 : 1;
    if (cfg) {
        printf("%s: ok (%zu counters, %zu printers, %zu back-ends)\n", path, cfg->counters_len,
               cfg->printers_len, cfg->backends_len);
        config_free(cfg);
    }
    json_decref(problems);
    return rc;
}

static void store_metrics(void *ctx, struct strbuf *out);

#include "gateway/strbuf.h"

static void store_metrics(void *ctx, struct strbuf *out)
{
    struct store_stats st;
    store_stats(ctx, &st);
    strbuf_printf(
        out,
        "# HELP onestop_store_commits_total Group commits written to disk.\n"
        "# TYPE onestop_store_commits_total counter\n"
        "onestop_store_commits_total %llu\n"
        "# HELP onestop_store_writes_total Writes carried by those commits.\n"
        "# TYPE onestop_store_writes_total counter\n"
        "onestop_store_writes_total %llu\n"
        "# HELP onestop_store_failed_commits_total Commits that failed (disk full, I/O).\n"
        "# TYPE onestop_store_failed_commits_total counter\n"
        "onestop_store_failed_commits_total %llu\n"
        "# HELP onestop_store_write_queue_depth Writes waiting for the writer thread.\n"
        "# TYPE onestop_store_write_queue_depth gauge\n"
        "onestop_store_write_queue_depth %ld\n"
        "# HELP onestop_store_writes_in_progress Writes in the group being committed now.\n"
        "# TYPE onestop_store_writes_in_progress gauge\n"
        "onestop_store_writes_in_progress %ld\n",
        (unsigned long long)st.commits, (unsigned long long)st.writes,
        (unsigned long long)st.failed_commits, st.queued, st.writing);
}

/* app.wake_workers: something was committed that a worker should act on now. */
static void wake_workers(struct app *app)
{
    forwarder_wake(app->forwarder);
    spooler_wake(app->spooler);
}

/* A start-up step failed: stops the workers that started (each stop takes NULL), closes the
 * store and frees the config; the exit code. */
static int startup_failed(struct app *app, struct housekeeper *housekeeper, struct config *cfg)
{
    housekeeper_stop(housekeeper);
    lookup_stop(app->lookup);
    spooler_stop(app->spooler);
    forwarder_stop(app->forwarder);
    store_close(app->store);
    config_free(cfg);
    return 1;
}

/* glibc malloc gives freed memory back to the kernel as soon as a heap's free top passes
 * 128 KiB (madvise/brk), and serves blocks from 128 KiB up with mmap/munmap; under load every
 * request then faults the same pages in again. The daemon's working set is a few MB, so keep
 * it: trimming starts at 64 MiB, big blocks come from the heap up to 4 MiB, and the heap grows
 * 1 MiB at a time. (A no-op under sanitizers, whose allocators ignore mallopt.) */
static void tune_malloc(void)
{
    mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
    mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
    mallopt(M_TOP_PAD, 1024 * 1024);
}

int main(int argc, char **argv)
{
    const char *config_path = NULL, *listen = NULL, *data_dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--check-config") == 0 && i + 1 < argc)
            return check_config(argv[i + 1]);
        if (strcmp(argv[i], "--routes") == 0) {
            access_print_routes(onestop_routes, stdout);
            return 0;
        }
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config_path = argv[++i];
        else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
            listen = argv[++i];
        else if (strcmp(argv[i], "--data-dir") == 0 && i + 1 < argc)
            data_dir = argv[++i];
        else if (strcmp(argv[i], "--version") == 0) {
            printf("onestopd %s\n", ONESTOP_VERSION);
            return 0;
        } else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!config_path) {
        usage(stderr);
        return 2;
    }
    tune_malloc();
    const char *level = getenv("ONESTOP_LOG_LEVEL");
    if (level && strcmp(level, "debug") == 0)
        log_set_level(LOG_DEBUG);
    failpoint_init();
    umask(ONESTOPD_UMASK);
    /* Read Europe/London from tzdata now, while this is the only thread (common/uktime.h). */
    if (!uktime_init()) {
        log_msg(LOG_ERROR, "tzdata_missing",
                "the system time zone database has no Europe/London; install tzdata");
        return 1;
    }

    /* Block the signals before any thread starts, so only sigwait below sees them. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN); /* a file size limit must give EFBIG (-> 503), not kill us */

    json_t *problems = json_array();
    struct config *cfg = config_load(config_path, problems);
    if (!cfg) {
        size_t i;
        json_t *p;
        json_array_foreach(problems, i, p)
            log_msg(LOG_ERROR, "config_invalid", "%s", json_string_value(p));
        json_decref(problems);
        return 1;
    }
    json_decref(problems);
    char err[512];
    if (listen && !config_set_listen(cfg, listen, err, sizeof err)) {
        log_msg(LOG_ERROR, "config_invalid", "--listen: %s", err);
        config_free(cfg);
        return 2;
    }
    if (data_dir && !config_set_data_dir(cfg, data_dir)) {
        config_free(cfg);
        return 1;
    }

    /* One onestopd per data folder, and none while `onestop restore` replaces the store. */
    pid_t lock_holder;
    int data_lock = daemon_lock_take(cfg->data_dir, &lock_holder, err, sizeof err);
    if (data_lock < 0) {
        log_msg(LOG_ERROR, "data_dir_locked", "%s", err);
        config_free(cfg);
        return 1;
    }

    struct app app = {.cfg = cfg, .started_at = time(NULL)};
    /* the keys personal data is sealed with: they live as long as the store */
    static struct field_crypt crypt;
    if (!field_crypt_load(&crypt, cfg, err, sizeof err)) {
        log_msg(LOG_ERROR, "keys_load_failed", "%s", err);
        config_free(cfg);
        return 1;
    }
    struct store_options so = {.data_dir = cfg->data_dir,
                               .busy_timeout_ms = cfg->store.busy_timeout_ms,
                               .group_commit_max = cfg->store.group_commit_max,
                               .read_connections = cfg->store.read_connections,
                               .crypt = &crypt,
                               .conninfo_file = cfg->store.conninfo_file,
                               .stable_node_id = true};
    /* config_load refused an engine it does not know */
    (void)store_engine_parse(cfg->store.engine, &so.engine);
    app.store = store_open(&so, err, sizeof err);
    if (!app.store) {
        log_msg(LOG_ERROR, "store_open_failed", "%s", err);
        config_free(cfg);
        return 1;
    }
    app.documents = documents_open(cfg, err, sizeof err);
    if (!app.documents || !documents_janitor_start(app.documents, app.store)) {
        if (app.documents)
            snprintf(err, sizeof err, "cannot start the documents janitor thread");
        log_msg(LOG_ERROR, "documents_open_failed", "%s", err);
        store_close(app.store);
        config_free(cfg);
        return 1;
    }
    app.metrics = metrics_new();
    metrics_add_writer(app.metrics, store_metrics, app.store);
    metrics_add_writer(app.metrics, stock_metrics, &app);
    struct signin_limits limits = {cfg->auth.max_failures_per_user,
                                   cfg->auth.max_failures_per_address, cfg->auth.failure_window_s,
                                   cfg->auth.lockout_s, cfg->auth.lockout_max_s};
    app.signin_limiter = signin_limiter_new(&limits, store_is_shared(app.store) ? app.store : NULL);
    app.status_limiter = rate_limiter_new(cfg->status_page.rate_per_minute);
    app.read_limiter = rate_limiter_new(cfg->access.reads_per_minute);
    app.audit_sampler = audit_sampler_new(cfg->access.audit_sample_interval_s);
    if (!app.signin_limiter || !app.status_limiter || !app.read_limiter || !app.audit_sampler) {
        log_msg(LOG_ERROR, "out_of_memory", "cannot allocate the limiters");
        return 1;
    }
    metrics_add_writer(app.metrics, audit_sampler_metrics, app.audit_sampler);
    app.forwarder = forwarder_start(cfg, app.store, err, sizeof err);
    if (!app.forwarder) {
        log_msg(LOG_ERROR, "forwarder_start_failed", "%s", err);
        store_close(app.store);
        config_free(cfg);
        return 1;
    }
    forwarder_set_documents(app.forwarder, app.documents);
    metrics_add_writer(app.metrics, forwarder_metrics, app.forwarder);
    /* Print jobs left `printing` by an earlier process are re-checked by their worker. */
    app.spooler = spooler_start(cfg, app.store, err, sizeof err);
    if (!app.spooler) {
        log_msg(LOG_ERROR, "spooler_start_failed", "%s", err);
        return startup_failed(&app, NULL, cfg);
    }
    metrics_add_writer(app.metrics, spooler_metrics, app.spooler);
    app.wake_workers = wake_workers;
    app.lookup = lookup_start(err, sizeof err);
    if (!app.lookup) {
        log_msg(LOG_ERROR, "lookup_start_failed", "%s", err);
        return startup_failed(&app, NULL, cfg);
    }

    struct housekeeper *housekeeper = housekeeper_start(cfg, app.store, err, sizeof err);
    if (!housekeeper) {
        log_msg(LOG_ERROR, "housekeeper_start_failed", "%s", err);
        return startup_failed(&app, NULL, cfg);
    }

    /* receipt copies through GOV.UK Notify; none when notify is not configured */
    struct notify_sender *copies = notify_sender_start(cfg, app.store);

    struct http_server *server = http_start(&app, onestop_routes, err, sizeof err);
    if (!server) {
        notify_sender_stop(copies);
        log_msg(LOG_ERROR, "http_start_failed", "%s", err);
        return startup_failed(&app, housekeeper, cfg);
    }
    log_msg(LOG_INFO, "started", "onestopd %s listening on http://%s:%d, data in %s (schema v%d)",
            ONESTOP_VERSION, cfg->listen_host, http_bound_port(server), cfg->data_dir,
            store_schema_version(app.store));

    int sig = 0;
    sigwait(&signals, &sig);
    log_msg(LOG_INFO, "stopping", "signal %d: no new connections; finishing requests in flight",
            sig);
    http_quiesce(server);
    long drain_ms = cfg->http.drain_timeout_ms;
    bool drained = http_drain(server, drain_ms);
    lookup_stop(app.lookup); /* answers look-ups still waiting (503) before HTTP goes */
    while (!drained) {
        /* A slow or locked disk: sales still queued for the writer are refused (a 503 that
         * says nothing was recorded); one the writer has begun is waited for, so its counter
         * gets the stored reply or the failure. HTTP stops only when no request is left. */
        long refused = store_refuse_queued(app.store);
        log_msg(LOG_WARN, "drain_timeout",
                "requests still in flight after %ld ms: %ld queued write(s) refused, nothing of "
                "them recorded; waiting for the write in progress",
                drain_ms, refused);
        drained = http_drain(server, drain_ms);
    }
    http_stop(server);
    forwarder_stop(app.forwarder); /* in-flight deliveries get a bounded grace */
    notify_sender_stop(copies);    /* a copy in flight is looked up before any resend */
    spooler_stop(app.spooler);     /* a receipt at the printer stays `printing`, re-checked later */
    housekeeper_stop(housekeeper); /* after the last audited move: logs the final signed head */
    documents_close(app.documents); /* its janitor uses the store */
    store_close(app.store);
    field_crypt_free(&crypt);
    signin_limiter_free(app.signin_limiter);
    rate_limiter_free(app.status_limiter);
    rate_limiter_free(app.read_limiter);
    audit_sampler_free(app.audit_sampler);
    metrics_free(app.metrics);
    config_free(cfg);
    daemon_lock_release(data_lock);
    log_msg(LOG_INFO, "stopped", "onestopd stopped cleanly");
    return 0;
}
