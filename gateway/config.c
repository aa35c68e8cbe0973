/* config: the tables below are the whole of onestop.json — keys, types, defaults, limits.
 *
 * DESIGN: a key_spec describes one key: where its value lands in the struct (offset), its
 * type, default and bounds. Objects nest (K_OBJECT) and arrays of objects (K_ARRAY) land in a
 * malloc'd array. config_parse_object walks a JSON object against a table: unknown keys,
 * wrong types, out-of-range numbers and missing required keys each add one problem. Checks
 * that span keys (a counter naming a printer that does not exist) run afterwards. */
#include "gateway/config.h"
#include "gateway/data_keys.h"

#include "gateway/delivery/backend_request.h"
#include "gateway/delivery/connector_email.h"
#include "gateway/delivery/email_digest.h"
#include "gateway/delivery/notify_jwt.h"
#include "gateway/log.h"
#include "gateway/receipt_options.h"
#include "gateway/store/conninfo.h"
#include "services/service.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CONFIG_SECRET_MAX 4096
#define CONFIG_SECRET_MIN 16
#define CONFIG_PATH_MAX   4096

enum key_type {
    K_STRING,
    K_INT,
    K_BOOL,
    K_PATH,
    K_SECRET,
    K_INT_LIST,
    K_STRING_LIST,
    K_PATH_LIST, /* a list of paths, each resolved like K_PATH */
    K_OBJECT,
    K_ARRAY
};

struct array_spec;

struct key_spec {
    const char *name;
    enum key_type type;
    size_t offset;
    bool required;
    const char *def_str;
    long def_int, min, max;
    const struct key_spec *children; /* K_OBJECT */
    const struct array_spec *array;  /* K_ARRAY */
    const char *allowed;             /* K_STRING: "|a|b|" */
};

struct array_spec {
    const struct key_spec *keys;
    size_t elem_size;
    size_t len_offset;
};

#define KEY(n, t, off) .name = (n), .type = (t), .offset = (off)
#define CFG(field)     offsetof(struct config, field)
#define BE(field)      offsetof(struct backend_config, field)
#define PR(field)      offsetof(struct printer_config_entry, field)
#define CO(field)      offsetof(struct counter_config, field)

static const struct key_spec council_keys[] = {
    {KEY("name", K_STRING, CFG(council_name)), .def_str = "Stockport Council"},
    {KEY("public_base_url", K_STRING, CFG(public_base_url)), .def_str = "http://127.0.0.1:8080"},
    {0}};

static const struct key_spec http_keys[] = {
    {KEY("threads", K_INT, CFG(http.threads)), .def_int = 8, .min = 1, .max = 256},
    {KEY("connection_timeout_s", K_INT, CFG(http.connection_timeout_s)), .def_int = 30, .min = 1,
     .max = 3600},
    {KEY("per_ip_connection_limit", K_INT, CFG(http.per_ip_connection_limit)), .def_int = 128,
     .min = 1, .max = 65535},
    {KEY("connection_limit", K_INT, CFG(http.connection_limit)), .def_int = 1000, .min = 4,
     .max = 65535},
    /* libmicrohttpd zeroes a connection's whole pool before each request on it: 16 KiB takes
     * headers of about 12 KiB (a browser's are a few hundred bytes) and costs a quarter of
     * what 64 KiB did per request (docs/listener.md) */
    {KEY("connection_memory_limit", K_INT, CFG(http.connection_memory_limit)), .def_int = 16384,
     .min = 8192, .max = 16777216},
    {KEY("body_limit", K_INT, CFG(http.body_limit)), .def_int = 1048576, .min = 1024,
     .max = 268435456},
    {KEY("drain_timeout_ms", K_INT, CFG(http.drain_timeout_ms)), .def_int = 10000, .min = 100,
     .max = 600000},
    {KEY("header_deadline_s", K_INT, CFG(http.header_deadline_s)), .def_int = 10, .min = 1,
     .max = 3600},
    {KEY("body_deadline_s", K_INT, CFG(http.body_deadline_s)), .def_int = 60, .min = 1,
     .max = 3600},
    {KEY("connection_headroom", K_INT, CFG(http.connection_headroom)), .def_int = 50, .min = 0,
     .max = 65535},
    {KEY("bodies_memory_limit", K_INT, CFG(http.bodies_memory_limit)), .def_int = 67108864,
     .min = 1048576, .max = 17179869184L},
    {KEY("trusted_proxies", K_STRING_LIST, CFG(http.trusted_proxies))},
    {KEY("tls_cert_file", K_PATH, CFG(http.tls_cert_file))},
    {KEY("tls_key_file", K_PATH, CFG(http.tls_key_file))},
    {KEY("tls_priorities", K_STRING, CFG(http.tls_priorities)), .def_str = HTTP_TLS_PRIORITIES},
    {KEY("hsts_max_age_s", K_INT, CFG(http.hsts_max_age_s)), .def_int = 31536000, .min = 0,
     .max = 63072000},
    {KEY("metrics_listen", K_STRING, CFG(http.metrics_listen))},
    {0}};

static const struct key_spec auth_keys[] = {
    {KEY("session_ttl_s", K_INT, CFG(auth.session_ttl_s)), .def_int = 43200, .min = 60,
     .max = 604800},
    {KEY("idle_timeout_s", K_INT, CFG(auth.idle_timeout_s)), .def_int = 900, .min = 8,
     .max = 86400},
    {KEY("pbkdf2_iterations", K_INT, CFG(auth.pbkdf2_iterations)), .def_int = 600000, .min = 600000,
     .max = 10000000},
    {KEY("max_failures_per_user", K_INT, CFG(auth.max_failures_per_user)), .def_int = 5, .min = 1,
     .max = 1000},
    {KEY("max_failures_per_address", K_INT, CFG(auth.max_failures_per_address)), .def_int = 20,
     .min = 1, .max = 100000},
    {KEY("failure_window_s", K_INT, CFG(auth.failure_window_s)), .def_int = 900, .min = 1,
     .max = 86400},
    {KEY("lockout_s", K_INT, CFG(auth.lockout_s)), .def_int = 30, .min = 1, .max = 86400},
    {KEY("lockout_max_s", K_INT, CFG(auth.lockout_max_s)), .def_int = 900, .min = 1, .max = 86400},
    {0}};

static const struct key_spec store_keys[] = {
    {KEY("busy_timeout_ms", K_INT, CFG(store.busy_timeout_ms)), .def_int = 5000, .min = 0,
     .max = 600000},
    {KEY("group_commit_max", K_INT, CFG(store.group_commit_max)), .def_int = 256, .min = 1,
     .max = 100000},
    {KEY("read_connections", K_INT, CFG(store.read_connections)), .def_int = 8, .min = 1,
     .max = 256},
    {KEY("engine", K_STRING, CFG(store.engine)), .def_str = "sqlite",
     .allowed = "|sqlite|postgresql|"},
    {KEY("conninfo_file", K_PATH, CFG(store.conninfo_file))},
    {0}};

static const struct key_spec status_page_keys[] = {
    {KEY("rate_per_minute", K_INT, CFG(status_page.rate_per_minute)), .def_int = 60, .min = 1,
     .max = 100000},
    {0}};

static const struct key_spec access_keys[] = {
    {KEY("reads_per_minute", K_INT, CFG(access.reads_per_minute)), .def_int = 300, .min = 1,
     .max = 100000},
    {KEY("audit_sample_interval_s", K_INT, CFG(access.audit_sample_interval_s)), .def_int = 60,
     .min = 1, .max = 86400},
    /* at least the signature window: a keyless event forgotten sooner could be replayed */
    {KEY("callback_replay_window_s", K_INT, CFG(access.callback_replay_window_s)), .def_int = 86400,
     .min = BACKEND_SIGNATURE_WINDOW_S, .max = 31 * 86400},
    {0}};

static const struct key_spec audit_keys[] = {
    {KEY("head_key_file", K_SECRET, CFG(audit.head_key))},
    {KEY("head_interval_s", K_INT, CFG(audit.head_interval_s)), .def_int = 300, .min = 1,
     .max = 86400},
    {0}};

#define RR(field) offsetof(struct retention_rule, field)
static const struct key_spec retention_rule_keys[] = {
    {KEY("service", K_STRING, RR(service)), .required = true},
    {KEY("days", K_INT, RR(days)), .required = true, .min = 0, .max = 36500},
    {0}};
static const struct array_spec retention_rules_array = {.keys = retention_rule_keys,
                                                        .elem_size = sizeof(struct retention_rule),
                                                        .len_offset = CFG(retention.rules_len)};

static const struct key_spec retention_keys[] = {
    {KEY("default_days", K_INT, CFG(retention.default_days)), .def_int = 730, .min = 0,
     .max = 36500},
    {KEY("purge_interval_s", K_INT, CFG(retention.purge_interval_s)), .def_int = 3600, .min = 0,
     .max = 604800},
    {KEY("services", K_ARRAY, CFG(retention.rules)), .array = &retention_rules_array},
    {0}};

static const struct key_spec till_keys[] = {
    {KEY("cancel_cutoff", K_STRING, CFG(till.cancel_cutoff)), .def_str = "14:00"},
    {KEY("cancel_working_days", K_INT, CFG(till.cancel_working_days)), .def_int = 1, .min = 0,
     .max = 30},
    {0}};

static const struct key_spec keys_keys[] = {
    {KEY("status_token_file", K_SECRET, CFG(status_key)), .required = true},
    {KEY("data_key_file", K_PATH, CFG(data_key_file))},
    {KEY("old_data_key_files", K_PATH_LIST, CFG(old_data_key_files))},
    {KEY("index_key_file", K_PATH, CFG(index_key_file))},
    {KEY("old_index_key_file", K_PATH, CFG(old_index_key_file))},
    {0}};

static const struct key_spec documents_keys[] = {
    {KEY("file_limit", K_INT, CFG(documents.file_limit)), .def_int = 10485760, .min = 1024,
     .max = 1073741824},
    {KEY("submission_limit", K_INT, CFG(documents.submission_limit)), .def_int = 24117248,
     .min = 1024, .max = 4294967296L},
    {KEY("files_max", K_INT, CFG(documents.files_max)), .def_int = 20, .min = 1, .max = 1000},
    {KEY("unattached_ttl_s", K_INT, CFG(documents.unattached_ttl_s)), .def_int = 7200, .min = 1,
     .max = 2592000},
    {KEY("retention_days", K_INT, CFG(documents.retention_days)), .def_int = 0, .min = 0,
     .max = 3650},
    {KEY("sweep_interval_s", K_INT, CFG(documents.sweep_interval_s)), .def_int = 60, .min = 1,
     .max = 86400},
    {KEY("upload_deadline_s", K_INT, CFG(documents.upload_deadline_s)), .def_int = 600, .min = 1,
     .max = 7200},
    {0}};

static const struct key_spec services_keys[] = {
    {KEY("dir", K_PATH, CFG(services_dir)), .def_str = "services"},
    {KEY("enabled", K_STRING_LIST, CFG(services_enabled)), .required = true},
    {0}};

static const struct key_spec receipts_keys[] = {
    {KEY("text_dir", K_PATH, CFG(receipt_text_dir)), .def_str = "receipt-text"},
    {KEY("languages", K_STRING_LIST, CFG(receipt_languages))},
    {0}};

static const struct key_spec backend_keys[] = {
    {KEY("name", K_STRING, BE(name)), .required = true},
    {KEY("connector", K_STRING, BE(connector)), .required = true,
     .allowed = "|json-rest|open311|email|fhir|multipart|"},
    {KEY("url", K_STRING, BE(url)), .required = true},
    {KEY("signing_key_file", K_SECRET, BE(signing_key))}, /* auth hmac: check_backend_auth */
    {KEY("api_key_file", K_SECRET, BE(api_key))},
    {KEY("client_cert_file", K_PATH, BE(client_cert))},
    {KEY("client_key_file", K_PATH, BE(client_key))},
    {KEY("ca_file", K_PATH, BE(ca_file))},
    {KEY("timeout_ms", K_INT, BE(timeout_ms)), .def_int = 10000, .min = 100, .max = 600000},
    {KEY("connect_timeout_ms", K_INT, BE(connect_timeout_ms)), .def_int = 3000, .min = 50,
     .max = 60000},
    {KEY("lookup_timeout_ms", K_INT, BE(lookup_timeout_ms)), .def_int = 3000, .min = 50,
     .max = 60000},
    {KEY("lease_ms", K_INT, BE(lease_ms)), .def_int = 0, .min = 0, .max = 3600000},
    {KEY("concurrency", K_INT, BE(concurrency)), .def_int = 4, .min = 1, .max = 256},
    {KEY("retry_schedule_s", K_INT_LIST, BE(retry_schedule_s)), .min = 0, .max = 86400},
    {KEY("give_up_after_s", K_INT, BE(give_up_after_s)), .def_int = 86400, .min = 1,
     .max = 2592000},
    {KEY("breaker_failures", K_INT, BE(breaker_failures)), .def_int = 5, .min = 1, .max = 10000},
    {KEY("breaker_open_s", K_INT, BE(breaker_open_s)), .def_int = 30, .min = 1, .max = 86400},
    {KEY("poll_interval_s", K_INT, BE(poll_interval_s)), .def_int = 60, .min = 1, .max = 86400},
    {KEY("slot_hold_s", K_INT, BE(slot_hold_s)), .def_int = 900, .min = 1, .max = 86400},
    /* e-mail back-ends (connector "email"); checked together by check_email_backend */
    {KEY("mail_from", K_STRING, BE(mail_from))},
    {KEY("mail_to", K_STRING_LIST, BE(mail_to))},
    {KEY("smtp_username", K_STRING, BE(smtp_username))},
    {KEY("smtp_password_file", K_SECRET, BE(smtp_password))},
    {KEY("smtp_tls", K_STRING, BE(smtp_tls)), .allowed = "|starttls|smtps|none|"},
    {KEY("digest_at", K_STRING, BE(digest_at))},
    {KEY("digest_settle_s", K_INT, BE(digest_settle_s)), .def_int = 60, .min = 1, .max = 3600},
    /* authentication: which kind, and what each kind needs (checked in check_backend_auth) */
    {KEY("auth", K_STRING, BE(auth)), .allowed = "|hmac|api-key|oauth2-jwt|bearer|none|"},
    {KEY("api_key_header", K_STRING, BE(api_key_header))},
    {KEY("bearer_token_file", K_SECRET, BE(bearer_token))},
    {KEY("token_url", K_STRING, BE(token_url))},
    {KEY("client_id", K_STRING, BE(client_id))},
    {KEY("private_key_file", K_PATH, BE(private_key_file))},
    {KEY("kid", K_STRING, BE(kid))},
    {KEY("token_timeout_ms", K_INT, BE(token_timeout_ms)), .def_int = 3000, .min = 100,
     .max = 30000},
    {KEY("token_poll_interval_s", K_INT, BE(token_poll_interval_s)), .def_int = 2, .min = 1,
     .max = 3600},
    {KEY("token_poll_tries", K_INT, BE(token_poll_tries)), .def_int = 5, .min = 1, .max = 10000},
    {KEY("lookup_before_resend", K_BOOL, BE(lookup_before_resend)), .def_int = 0},
    {KEY("lookup_path", K_STRING, BE(lookup_path))},
    {KEY("lookup_query", K_STRING, BE(lookup_query))},
    {0}};

static const struct key_spec printer_keys[] = {
    {KEY("name", K_STRING, PR(name)), .required = true},
    {KEY("uri", K_STRING, PR(uri))},
    {KEY("queue", K_STRING, PR(queue))},
    {KEY("server", K_STRING, PR(server))},
    {KEY("format", K_STRING, PR(format)), .def_str = "pdf", .allowed = "|pdf|escpos|"},
    {KEY("paper", K_STRING, PR(paper)), .def_str = "80mm", .allowed = "|80mm|a4|"},
    {0}};

static const struct key_spec counter_keys[] = {{KEY("id", K_STRING, CO(id)), .required = true},
                                               {KEY("site", K_STRING, CO(site)), .required = true},
                                               {KEY("printer", K_STRING, CO(printer))},
                                               {0}};

#define NT(field) offsetof(struct notify_template, field)
static const struct key_spec notify_template_keys[] = {
    {KEY("service", K_STRING, NT(service)), .required = true},
    {KEY("language", K_STRING, NT(language)), .def_str = "en"},
    {KEY("email", K_STRING, NT(email))},
    {KEY("sms", K_STRING, NT(sms))},
    {0}};
static const struct array_spec notify_templates_array = {.keys = notify_template_keys,
                                                         .elem_size =
                                                             sizeof(struct notify_template),
                                                         .len_offset = CFG(notify.templates_len)};
static const struct key_spec notify_keys[] = {
    {KEY("url", K_STRING, CFG(notify.url))},
    {KEY("api_key_file", K_SECRET, CFG(notify.api_key))},
    {KEY("callback_token_file", K_SECRET, CFG(notify.callback_token))},
    {KEY("timeout_ms", K_INT, CFG(notify.timeout_ms)), .def_int = 10000, .min = 100, .max = 600000},
    {KEY("give_up_after_s", K_INT, CFG(notify.give_up_after_s)), .def_int = 86400, .min = 1,
     .max = 2592000},
    {KEY("templates", K_ARRAY, CFG(notify.templates)), .array = &notify_templates_array},
    {0}};

static const struct array_spec backends_array = {.keys = backend_keys,
                                                 .elem_size = sizeof(struct backend_config),
                                                 .len_offset = CFG(backends_len)};
static const struct array_spec printers_array = {.keys = printer_keys,
                                                 .elem_size = sizeof(struct printer_config_entry),
                                                 .len_offset = CFG(printers_len)};
static const struct array_spec counters_array = {.keys = counter_keys,
                                                 .elem_size = sizeof(struct counter_config),
                                                 .len_offset = CFG(counters_len)};

static const struct key_spec top_keys[] = {
    {KEY("council", K_OBJECT, 0), .children = council_keys},
    {KEY("listen", K_STRING, CFG(listen)), .def_str = "127.0.0.1:8080"},
    {KEY("data_dir", K_PATH, CFG(data_dir)), .def_str = "var"},
    {KEY("web_dir", K_PATH, CFG(web_dir)), .def_str = "../web"},
    {KEY("http", K_OBJECT, 0), .children = http_keys},
    {KEY("auth", K_OBJECT, 0), .children = auth_keys},
    {KEY("store", K_OBJECT, 0), .children = store_keys},
    {KEY("status_page", K_OBJECT, 0), .children = status_page_keys},
    {KEY("access", K_OBJECT, 0), .children = access_keys},
    {KEY("audit", K_OBJECT, 0), .children = audit_keys},
    {KEY("retention", K_OBJECT, 0), .children = retention_keys},
    {KEY("till", K_OBJECT, 0), .children = till_keys},
    {KEY("keys", K_OBJECT, 0), .children = keys_keys, .required = true},
    {KEY("documents", K_OBJECT, 0), .children = documents_keys},
    {KEY("services", K_OBJECT, 0), .children = services_keys, .required = true},
    {KEY("receipts", K_OBJECT, 0), .children = receipts_keys},
    {KEY("backends", K_ARRAY, CFG(backends)), .array = &backends_array},
    {KEY("printers", K_ARRAY, CFG(printers)), .array = &printers_array},
    {KEY("counters", K_ARRAY, CFG(counters)), .array = &counters_array, .required = true},
    {KEY("notify", K_OBJECT, 0), .children = notify_keys},
    {0}};

/* Default retry schedule: quick at first, then hourly, for a day (give_up_after_s). */
static const long default_retry_schedule[] = {1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600};

struct parse_ctx {
    const char *file; /* base name for messages */
    const char *dir;
    json_t *problems;
};

static void problem(struct parse_ctx *ctx, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(struct parse_ctx *ctx, const char *key, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_array_append_new(ctx->problems, json_sprintf("%s: %s: %s", ctx->file, key, msg));
}

static char *resolve_path(const char *dir, const char *path)
{
    if (path[0] == '/' || !dir || !*dir)
        return strdup(path);
    size_t n = strlen(dir) + strlen(path) + 2;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s/%s", dir, path);
    return out;
}

/* A key file that other users can read is accepted with a warning (docs/access.md):
 * refusing would stop a gateway at its next restart for a mode an operator can fix live. */
static void warn_if_readable_by_others(const char *path, FILE *f)
{
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH)))
        log_msg(LOG_WARN, "key_file_readable",
                "%s can be read by other users (mode %03o); make it readable by onestop only "
                "(chmod 600)",
                path, (unsigned)(st.st_mode & 0777));
}

static bool read_secret(const char *path, struct secret *out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return false;
    }
    warn_if_readable_by_others(path, f);
    unsigned char *buf = malloc(CONFIG_SECRET_MAX + 1);
    size_t n = buf ? fread(buf, 1, CONFIG_SECRET_MAX + 1, f) : 0;
    fclose(f);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    if (n > CONFIG_SECRET_MAX) {
        free(buf);
        snprintf(err, errlen, "%s is larger than %d bytes; is it the right file?", path,
                 CONFIG_SECRET_MAX);
        return false;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    if (n < CONFIG_SECRET_MIN) {
        free(buf);
        snprintf(err, errlen, "%s holds %zu bytes; a key needs at least %d", path, n,
                 CONFIG_SECRET_MIN);
        return false;
    }
    out->bytes = buf;
    out->len = n;
    return true;
}

static void parse_object(struct parse_ctx *ctx, const json_t *obj, const struct key_spec *table,
                         void *base, const char *prefix);

static void key_name(char *buf, size_t len, const char *prefix, const char *name)
{
    if (prefix && *prefix)
        snprintf(buf, len, "%s.%s", prefix, name);
    else
        snprintf(buf, len, "%s", name);
}

static void parse_value(struct parse_ctx *ctx, const struct key_spec *k, const json_t *v,
                        void *base, const char *full)
{
    char *field = (char *)base + k->offset;
    char err[600];
    switch (k->type) {
    case K_STRING:
        if (!json_is_string(v) || json_string_length(v) == 0) {
            problem(ctx, full, "must be a non-empty string");
            return;
        }
        if (k->allowed) {
            char needle[128];
            snprintf(needle, sizeof needle, "|%s|", json_string_value(v));
            if (!strstr(k->allowed, needle)) {
                problem(ctx, full, "must be one of %s", k->allowed);
                return;
            }
        }
        *(char **)field = strdup(json_string_value(v));
        return;
    case K_BOOL:
        if (!json_is_boolean(v)) {
            problem(ctx, full, "must be true or false");
            return;
        }
        *(bool *)field = json_is_true(v);
        return;
    case K_PATH:
        if (!json_is_string(v) || json_string_length(v) == 0) {
            problem(ctx, full, "must be a path (a non-empty string)");
            return;
        }
        *(char **)field = resolve_path(ctx->dir, json_string_value(v));
        return;
    case K_SECRET: {
        if (!json_is_string(v) || json_string_length(v) == 0) {
            problem(ctx, full, "must name a file holding the secret (secrets are never inline)");
            return;
        }
        char *path = resolve_path(ctx->dir, json_string_value(v));
        if (!read_secret(path, (struct secret *)field, err, sizeof err))
            problem(ctx, full, "%s", err);
        free(path);
        return;
    }
    case K_INT: {
        if (!json_is_integer(v)) {
            problem(ctx, full, "must be a whole number");
            return;
        }
        json_int_t n = json_integer_value(v);
        if (n < k->min || n > k->max) {
            problem(ctx, full, "must be between %ld and %ld (got %lld)", k->min, k->max,
                    (long long)n);
            return;
        }
        *(long *)field = (long)n;
        return;
    }
    case K_INT_LIST: {
        if (!json_is_array(v) || json_array_size(v) == 0) {
            problem(ctx, full, "must be a non-empty list of whole numbers");
            return;
        }
        size_t n = json_array_size(v);
        long *list = calloc(n, sizeof *list);
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_array_get(v, i);
            if (!json_is_integer(e) || json_integer_value(e) < k->min ||
                json_integer_value(e) > k->max) {
                problem(ctx, full, "item %zu must be a whole number between %ld and %ld", i, k->min,
                        k->max);
                free(list);
                return;
            }
            list[i] = (long)json_integer_value(e);
        }
        *(long **)field = list;
        *(size_t *)(field + sizeof(long *)) = n; /* the _len member follows the pointer */
        return;
    }
    case K_STRING_LIST:
    case K_PATH_LIST: {
        size_t i;
        json_t *e;
        if (!json_is_array(v)) {
            problem(ctx, full, "must be a list of strings");
            return;
        }
        json_array_foreach(v, i, e)
        {
            if (!json_is_string(e) || (k->type == K_PATH_LIST && json_string_length(e) == 0)) {
                problem(ctx, full, "item %zu must be a %s", i,
                        k->type == K_PATH_LIST ? "path (a non-empty string)" : "string");
                return;
            }
        }
        json_t *list = json_deep_copy(v);
        json_array_foreach(k->type == K_PATH_LIST ? list : NULL, i, e)
        {
            char *path = resolve_path(ctx->dir, json_string_value(e));
            json_array_set_new(list, i, json_string(path ? path : ""));
            free(path);
        }
        *(json_t **)field = list;
        return;
    }
    case K_OBJECT:
        if (!json_is_object(v)) {
            problem(ctx, full, "must be an object");
            return;
        }
        parse_object(ctx, v, k->children, base, full);
        return;
    case K_ARRAY: {
        if (!json_is_array(v)) {
            problem(ctx, full, "must be a list of objects");
            return;
        }
        size_t n = json_array_size(v);
        char *elems = calloc(n ? n : 1, k->array->elem_size);
        *(void **)field = elems;
        *(size_t *)((char *)base + k->array->len_offset) = n;
        for (size_t i = 0; i < n; i++) {
            char item[300];
            snprintf(item, sizeof item, "%.255s[%zu]", full, i);
            json_t *e = json_array_get(v, i);
            if (!json_is_object(e)) {
                problem(ctx, item, "must be an object");
                continue;
            }
            parse_object(ctx, e, k->array->keys, elems + i * k->array->elem_size, item);
        }
        return;
    }
    }
}

static void apply_default(struct parse_ctx *ctx, const struct key_spec *k, void *base,
                          const char *full)
{
    char *field = (char *)base + k->offset;
    if (k->required) {
        problem(ctx, full, "is required");
        return;
    }
    switch (k->type) {
    case K_STRING:
        if (k->def_str)
            *(char **)field = strdup(k->def_str);
        break;
    case K_PATH:
        if (k->def_str)
            *(char **)field = resolve_path(ctx->dir, k->def_str);
        break;
    case K_INT:
        *(long *)field = k->def_int;
        break;
    case K_BOOL:
        *(bool *)field = k->def_int != 0;
        break;
    case K_OBJECT:
        parse_object(ctx, NULL, k->children, base, full);
        break;
    default:
        break;
    }
}

static void parse_object(struct parse_ctx *ctx, const json_t *obj, const struct key_spec *table,
                         void *base, const char *prefix)
{
    char full[256];
    if (obj) {
        const char *name;
        json_t *v;
        json_object_foreach((json_t *)obj, name, v)
        {
            const struct key_spec *k = table;
            while (k->name && strcmp(k->name, name) != 0)
                k++;
            key_name(full, sizeof full, prefix, name);
            if (!k->name)
                problem(ctx, full, "unknown key");
        }
    }
    for (const struct key_spec *k = table; k->name; k++) {
        key_name(full, sizeof full, prefix, k->name);
        json_t *v = obj ? json_object_get(obj, k->name) : NULL;
        if (v && !json_is_null(v))
            parse_value(ctx, k, v, base, full);
        else
            apply_default(ctx, k, base, full);
    }
}

static bool parse_listen(const char *listen, char **host, int *port, char *err, size_t errlen)
{
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen) {
        snprintf(err, errlen, "must be HOST:PORT, like 127.0.0.1:8080");
        return false;
    }
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno || *end || p < 0 || p > 65535 || end == colon + 1) {
        snprintf(err, errlen, "port must be a number from 0 to 65535");
        return false;
    }
    free(*host);
    *host = strndup(listen, (size_t)(colon - listen));
    *port = (int)p;
    return true;
}

bool config_set_listen(struct config *cfg, const char *listen, char *err, size_t errlen)
{
    if (!parse_listen(listen, &cfg->listen_host, &cfg->listen_port, err, errlen))
        return false;
    free(cfg->listen);
    cfg->listen = strdup(listen);
    return true;
}

bool config_set_data_dir(struct config *cfg, const char *dir)
{
    free(cfg->data_dir);
    cfg->data_dir = strdup(dir);
    return cfg->data_dir != NULL;
}

static bool starts_with(const char *s, const char *prefix)
{
    return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- e-mail back-ends ---- */

static bool is_email_backend(const struct backend_config *b)
{
    return b->connector && strcmp(b->connector, "email") == 0;
}

static bool is_smtp_url(const char *url)
{
    return starts_with(url, "smtp://") || starts_with(url, "smtps://");
}

/* An email connector goes with an smtp(s):// URL and the mail keys, and only with them. */
static void check_email_backend(struct parse_ctx *ctx, struct backend_config *b, size_t i)
{
    char key[64];
    snprintf(key, sizeof key, "backends[%zu].url", i);
    if (!is_email_backend(b)) {
        if (b->url && is_smtp_url(b->url))
            problem(ctx, key, "an smtp(s):// URL needs connector \"email\"");
        snprintf(key, sizeof key, "backends[%zu]", i);
        if (b->mail_from || b->mail_to || b->smtp_username || b->smtp_password.bytes ||
            b->smtp_tls || b->digest_at)
            problem(ctx, key,
                    "mail_from, mail_to, digest_at and smtp_* keys are for connector \"email\"");
        return;
    }
    if (b->url && !is_smtp_url(b->url))
        problem(ctx, key, "connector \"email\" needs an smtp:// or smtps:// URL, not %.40s",
                b->url);
    if (b->url && !b->smtp_tls) { /* the default follows the scheme */
        b->smtp_tls = strdup(starts_with(b->url, "smtps://") ? "smtps" : "starttls");
    } else if (b->url && b->smtp_tls) {
        bool smtps_url = starts_with(b->url, "smtps://");
        bool smtps_tls = strcmp(b->smtp_tls, "smtps") == 0;
        snprintf(key, sizeof key, "backends[%zu].smtp_tls", i);
        if (smtps_url != smtps_tls)
            problem(ctx, key,
                    "\"%s\" does not fit the URL's scheme (smtps:// goes with "
                    "\"smtps\", smtp:// with \"starttls\" or \"none\")",
                    b->smtp_tls);
    }
    snprintf(key, sizeof key, "backends[%zu].mail_from", i);
    if (!b->mail_from)
        problem(ctx, key, "is required for connector \"email\"");
    else if (!email_address_valid(b->mail_from))
        problem(ctx, key, "is not a plain e-mail address (local@domain, no name or brackets)");
    snprintf(key, sizeof key, "backends[%zu].mail_to", i);
    if (!b->mail_to || json_array_size(b->mail_to) == 0)
        problem(ctx, key, "is required for connector \"email\" (a list of addresses)");
    else if (json_array_size(b->mail_to) > EMAIL_RECIPIENTS_MAX)
        problem(ctx, key, "lists more than %d addresses", EMAIL_RECIPIENTS_MAX);
    size_t n;
    json_t *to;
    json_array_foreach(b->mail_to, n, to)
    {
        if (!email_address_valid(json_string_value(to)))
            problem(ctx, key, "item %zu is not a plain e-mail address (local@domain)", n);
    }
    snprintf(key, sizeof key, "backends[%zu]", i);
    if (!b->smtp_username != !b->smtp_password.bytes)
        problem(ctx, key, "smtp_username and smtp_password_file go together");
    else if (b->smtp_username && !email_header_value_ok(b->smtp_username))
        problem(ctx, key, "smtp_username holds control characters");
    b->digest = b->digest_at != NULL;
    snprintf(key, sizeof key, "backends[%zu].digest_at", i);
    if (b->digest_at && !email_digest_time_parse(b->digest_at, &b->digest_at_s))
        problem(ctx, key, "is not a time of day like \"17:30\" or \"17:30:00\" (Europe/London)");
}

static bool header_name_ok(const char *name)
{
    static const char separators[] = "()<>@,;:\\\"/[]?={} \t";
    if (!*name)
        return false;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || strchr(separators, *p))
            return false;
    return true;
}

/* The authentication options of backends[i] fit together: the kind chosen (or its default,
 * hmac when signing_key_file is given) has what it needs, and nothing belongs to another kind. */
static void check_backend_auth(struct parse_ctx *ctx, struct backend_config *b, size_t i)
{
    char key[64];
    snprintf(key, sizeof key, "backends[%zu].auth", i);
    if (is_email_backend(b)) {
        /* a relay authenticates with smtp_username and smtp_password_file, not these */
        if (b->auth && strcmp(b->auth, BACKEND_AUTH_NONE) != 0)
            problem(ctx, key,
                    "does not apply to connector \"email\" (the relay takes smtp_username and "
                    "smtp_password_file)");
        if (b->signing_key.bytes) {
            snprintf(key, sizeof key, "backends[%zu].signing_key_file", i);
            problem(ctx, key, "is not used by connector \"email\" (e-mail is not signed)");
        }
        if (!b->auth)
            b->auth = strdup(BACKEND_AUTH_NONE);
        return;
    }
    if (!b->auth) {
        if (!b->signing_key.bytes) {
            problem(ctx, key,
                    "is required when signing_key_file is not given (hmac, api-key, "
                    "oauth2-jwt, bearer or none)");
            return;
        }
        b->auth = strdup(BACKEND_AUTH_HMAC);
        if (!b->auth)
            return;
    }
    const char *auth = b->auth;
    bool hmac = strcmp(auth, BACKEND_AUTH_HMAC) == 0;
    bool api_key = strcmp(auth, BACKEND_AUTH_API_KEY) == 0;
    bool oauth = strcmp(auth, BACKEND_AUTH_OAUTH2_JWT) == 0;
    bool bearer = strcmp(auth, BACKEND_AUTH_BEARER) == 0;
    bool none = strcmp(auth, BACKEND_AUTH_NONE) == 0;
    bool open311 = b->connector && strcmp(b->connector, "open311") == 0;
    if (hmac && !b->signing_key.bytes)
        problem(ctx, key, "hmac needs signing_key_file");
    if (none && b->signing_key.bytes)
        problem(ctx, key,
                "none sends no credentials, so signing_key_file would not be used; remove it or "
                "use auth hmac");
    if (api_key && !b->api_key.bytes)
        problem(ctx, key, "api-key needs api_key_file");
    if (api_key && !b->api_key_header && !open311)
        problem(ctx, key,
                "api-key needs api_key_header (the header that carries the key); only open311 "
                "sends it as the api_key form field");
    if (b->api_key_header && !api_key) {
        snprintf(key, sizeof key, "backends[%zu].api_key_header", i);
        problem(ctx, key, "goes with auth api-key (auth is %s)", auth);
    } else if (b->api_key_header && !header_name_ok(b->api_key_header)) {
        snprintf(key, sizeof key, "backends[%zu].api_key_header", i);
        problem(ctx, key, "is not an HTTP header name");
    }
    snprintf(key, sizeof key, "backends[%zu].auth", i);
    if (bearer && !b->bearer_token.bytes)
        problem(ctx, key, "bearer needs bearer_token_file");
    if (b->bearer_token.bytes && !bearer) {
        snprintf(key, sizeof key, "backends[%zu].bearer_token_file", i);
        problem(ctx, key, "goes with auth bearer (auth is %s)", auth);
    }
    const struct {
        const char *name;
        const char *value;
    } oauth_keys[] = {{"token_url", b->token_url},
                      {"client_id", b->client_id},
                      {"private_key_file", b->private_key_file},
                      {"kid", b->kid}};
    for (size_t k = 0; k < sizeof oauth_keys / sizeof oauth_keys[0]; k++) {
        if (oauth && !oauth_keys[k].value) {
            snprintf(key, sizeof key, "backends[%zu].auth", i);
            problem(ctx, key, "oauth2-jwt needs %s", oauth_keys[k].name);
        } else if (!oauth && oauth_keys[k].value) {
            snprintf(key, sizeof key, "backends[%zu].%s", i, oauth_keys[k].name);
            problem(ctx, key, "goes with auth oauth2-jwt (auth is %s)", auth);
        }
    }
    if (oauth && b->token_url && !starts_with(b->token_url, "http://") &&
        !starts_with(b->token_url, "https://")) {
        snprintf(key, sizeof key, "backends[%zu].token_url", i);
        problem(ctx, key, "must start with http:// or https://");
    }
    if (oauth && b->private_key_file) {
        snprintf(key, sizeof key, "backends[%zu].private_key_file", i);
        FILE *f = fopen(b->private_key_file, "r");
        EVP_PKEY *pkey = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
        if (!f)
            problem(ctx, key, "cannot read %s: %s", b->private_key_file, strerror(errno));
        else if (!pkey || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA)
            problem(ctx, key, "%s is not a PEM RSA private key (RS512 needs one)",
                    b->private_key_file);
        EVP_PKEY_free(pkey);
        if (f)
            fclose(f);
    }
    if (b->connector && strcmp(b->connector, "fhir") == 0 && !oauth && !bearer && !none) {
        snprintf(key, sizeof key, "backends[%zu].auth", i);
        problem(ctx, key, "a fhir back-end takes oauth2-jwt, bearer or none (not %s)", auth);
    }
}

/* The listener's keys that go together: both TLS files or neither, proxies that are
 * addresses, a metrics listener that is host:port. */
static void check_http(struct parse_ctx *ctx, struct config *cfg)
{
    char err[256];
    if (!cfg->http.tls_cert_file != !cfg->http.tls_key_file)
        problem(ctx, cfg->http.tls_cert_file ? "http.tls_key_file" : "http.tls_cert_file",
                "HTTPS needs both http.tls_cert_file and http.tls_key_file");
    size_t i;
    json_t *e;
    json_array_foreach(cfg->http.trusted_proxies, i, e)
    {
        unsigned char bin[sizeof(struct in6_addr)];
        const char *a = json_string_value(e);
        if (inet_pton(AF_INET, a, bin) != 1 && inet_pton(AF_INET6, a, bin) != 1) {
            char key[64];
            snprintf(key, sizeof key, "http.trusted_proxies[%zu]", i);
            problem(ctx, key, "\"%s\" is not an IPv4 or IPv6 address", a);
        }
    }
    if (cfg->http.metrics_listen) {
        char *host = NULL;
        int port = 0;
        if (!parse_listen(cfg->http.metrics_listen, &host, &port, err, sizeof err))
            problem(ctx, "http.metrics_listen", "%s", err);
        free(host);
    }
    if (cfg->http.connection_headroom >= cfg->http.connection_limit)
        problem(ctx, "http.connection_headroom", "must be less than http.connection_limit");
}

bool config_data_keys_load(const struct config *cfg, struct data_keys *keys, char *err,
                           size_t errlen)
{
    if (!cfg->data_key_file)
        return true;
    /* the first key loaded is the current one */
    if (!data_keys_load(keys, cfg->data_key_file, err, errlen))
        return false;
    size_t i;
    const json_t *path;
    json_array_foreach(cfg->old_data_key_files, i, path)
    {
        if (!data_keys_load(keys, json_string_value(path), err, errlen))
            return false;
    }
    return true;
}

/* Checks that span keys: names unique, references resolve, URLs look like URLs. */
/* The data key must load (64 hex digits, a usable id), and an upload can never be larger
 * than the submission it belongs to. */
/* The PostgreSQL engine needs its conninfo file, readable and holding a conninfo now, not at
 * the first connection. */
static void check_store(struct parse_ctx *ctx, const struct config *cfg)
{
    if (!cfg->store.engine || strcmp(cfg->store.engine, "postgresql") != 0)
        return;
    if (!cfg->store.conninfo_file) {
        problem(ctx, "store.conninfo_file",
                "is required when store.engine is \"postgresql\" (a file holding the libpq "
                "conninfo, e.g. \"host=db1 dbname=onestop user=onestop password=...\")");
        return;
    }
    char *conninfo = NULL;
    char err[600];
    if (!store_conninfo_read(cfg->store.conninfo_file, &conninfo, err, sizeof err))
        problem(ctx, "store.conninfo_file", "%s", err);
    if (conninfo) {
        memset(conninfo, 0, strlen(conninfo));
        free(conninfo);
    }
}

static void check_documents(struct parse_ctx *ctx, struct config *cfg)
{
    char err[256];
    struct data_keys *keys = data_keys_new();
    if (keys && !config_data_keys_load(cfg, keys, err, sizeof err))
        problem(ctx, "keys", "%s", err);
    data_keys_free(keys);
    keys = cfg->index_key_file ? data_keys_new() : NULL;
    if (keys && !data_keys_load(keys, cfg->index_key_file, err, sizeof err))
        problem(ctx, "keys.index_key_file", "%s", err);
    data_keys_free(keys);
    keys = cfg->old_index_key_file ? data_keys_new() : NULL;
    if (keys && !data_keys_load(keys, cfg->old_index_key_file, err, sizeof err))
        problem(ctx, "keys.old_index_key_file", "%s", err);
    data_keys_free(keys);
    if (cfg->old_index_key_file && !cfg->index_key_file)
        problem(ctx, "keys.old_index_key_file", "needs keys.index_key_file (the new index key)");
    if (json_array_size(cfg->old_data_key_files) && !cfg->data_key_file)
        problem(ctx, "keys.old_data_key_files", "needs keys.data_key_file (the current key)");
    if (cfg->documents.file_limit > cfg->documents.submission_limit)
        problem(ctx, "documents.file_limit", "is more than documents.submission_limit");
}

static void check_cross_references(struct parse_ctx *ctx, struct config *cfg)
{
    char err[256];
    check_documents(ctx, cfg);
    if (cfg->listen &&
        !parse_listen(cfg->listen, &cfg->listen_host, &cfg->listen_port, err, sizeof err))
        problem(ctx, "listen", "%s", err);
    check_http(ctx, cfg);
    if (cfg->public_base_url && !starts_with(cfg->public_base_url, "http://") &&
        !starts_with(cfg->public_base_url, "https://"))
        problem(ctx, "council.public_base_url", "must start with http:// or https://");
    for (size_t i = 0; i < cfg->backends_len; i++) {
        struct backend_config *b = &cfg->backends[i];
        char key[64];
        snprintf(key, sizeof key, "backends[%zu].url", i);
        if (b->url && !is_email_backend(b) && !starts_with(b->url, "http://") &&
            !starts_with(b->url, "https://"))
            problem(ctx, key, "must start with http:// or https://");
        check_email_backend(ctx, b, i);
        for (size_t j = 0; j < i; j++)
            if (b->name && cfg->backends[j].name && strcmp(b->name, cfg->backends[j].name) == 0) {
                snprintf(key, sizeof key, "backends[%zu].name", i);
                problem(ctx, key, "\"%s\" is used twice", b->name);
            }
        check_backend_auth(ctx, b, i);
        if ((b->client_cert == NULL) != (b->client_key == NULL)) {
            snprintf(key, sizeof key, "backends[%zu]", i);
            problem(ctx, key, "client_cert_file and client_key_file go together");
        }
        if (b->lookup_path && b->lookup_path[0] != '/') {
            snprintf(key, sizeof key, "backends[%zu].lookup_path", i);
            problem(ctx, key, "must start with /");
        }
        if (b->lookup_query && !strstr(b->lookup_query, "{reference}")) {
            snprintf(key, sizeof key, "backends[%zu].lookup_query", i);
            problem(ctx, key, "must contain {reference}, which stands for our reference");
        }
        if (b->lookup_before_resend && b->connector && strcmp(b->connector, "json-rest") != 0 &&
            strcmp(b->connector, "open311") != 0) {
            snprintf(key, sizeof key, "backends[%zu].lookup_before_resend", i);
            problem(ctx, key,
                    "a %s back-end cannot be asked for a request it may have (only json-rest and "
                    "open311 can)",
                    b->connector);
        }
        if (!b->retry_schedule_s) {
            size_t n = sizeof default_retry_schedule / sizeof default_retry_schedule[0];
            b->retry_schedule_s = malloc(sizeof default_retry_schedule);
            memcpy(b->retry_schedule_s, default_retry_schedule, sizeof default_retry_schedule);
            b->retry_schedule_len = n;
        }
    }
    for (size_t i = 0; i < cfg->printers_len; i++) {
        struct printer_config_entry *p = &cfg->printers[i];
        char key[64];
        snprintf(key, sizeof key, "printers[%zu]", i);
        if (!p->uri == !p->queue)
            problem(ctx, key, "needs exactly one of uri (ipp:// or socket://) or queue");
        if (p->uri && !starts_with(p->uri, "ipp://") && !starts_with(p->uri, "ipps://") &&
            !starts_with(p->uri, "socket://"))
            problem(ctx, key, "uri must start with ipp://, ipps:// or socket://");
        if (p->server && !p->queue)
            problem(ctx, key, "server goes with queue");
    }
    for (size_t i = 0; i < cfg->counters_len; i++) {
        struct counter_config *c = &cfg->counters[i];
        char key[64];
        snprintf(key, sizeof key, "counters[%zu].printer", i);
        if (c->printer && !config_printer(cfg, c->printer))
            problem(ctx, key, "names printer \"%s\", which is not in printers", c->printer);
        for (size_t j = 0; j < i; j++)
            if (c->id && cfg->counters[j].id && strcmp(c->id, cfg->counters[j].id) == 0) {
                snprintf(key, sizeof key, "counters[%zu].id", i);
                problem(ctx, key, "\"%s\" is used twice", c->id);
            }
    }
}

static void load_services(struct config *cfg, json_t *problems, struct parse_ctx *ctx)
{
    if (!cfg->services_dir || !cfg->services_enabled)
        return;
    struct stat st;
    if (stat(cfg->services_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        problem(ctx, "services.dir", "%s is not a folder", cfg->services_dir);
        return;
    }
    cfg->services = service_registry_load(cfg->services_dir, cfg->services_enabled, problems);
    if (!cfg->services)
        return;
    for (size_t i = 0; i < service_registry_count(cfg->services); i++) {
        const struct service *s = service_registry_at(cfg->services, i);
        const char *backend = service_backend(s);
        const struct backend_config *be = backend ? config_backend(cfg, backend) : NULL;
        if (backend && !be)
            problem(ctx, "services.enabled",
                    "service \"%s\" forwards to back-end \"%s\", which is not in backends",
                    service_code(s), backend);
        else if (be && be->connector && strcmp(be->connector, "fhir") == 0)
            problem(ctx, "services.enabled",
                    "service \"%s\" forwards to back-end \"%s\", whose fhir connector only "
                    "reads (look-ups)",
                    service_code(s), backend);
        const char *chosen;
        for (size_t j = 0; (chosen = service_rules_backend(s, j)) != NULL; j++) {
            const struct backend_config *cb = config_backend(cfg, chosen);
            if (!cb)
                problem(ctx, "services.enabled",
                        "service \"%s\" may send to back-end \"%s\", which is not in backends",
                        service_code(s), chosen);
            else if (!cb->connector || strcmp(cb->connector, "email") != 0)
                problem(ctx, "services.enabled",
                        "service \"%s\" sends e-mail to back-end \"%s\", whose connector is "
                        "not email",
                        service_code(s), chosen);
        }
    }
    for (size_t i = 0; i < cfg->retention.rules_len; i++) {
        const char *code = cfg->retention.rules[i].service;
        char key[64];
        snprintf(key, sizeof key, "retention.services[%zu].service", i);
        if (code && !service_registry_find(cfg->services, code))
            problem(ctx, key, "\"%s\" is not an enabled service", code);
    }
}

/* Receipt copies: a Notify section needs its url, its API key in Notify's own format and a
 * callback token; each template names a channel. */
static void check_notify(struct parse_ctx *ctx, const struct config *cfg)
{
    const struct notify_config *n = &cfg->notify;
    if (!n->url && !n->api_key.len && !n->callback_token.len && !n->templates_len)
        return;
    if (!n->url)
        problem(ctx, "notify.url", "is required with the other notify keys");
    if (!n->api_key.len)
        problem(ctx, "notify.api_key_file", "is required");
    else if (!notify_key_valid(n->api_key.bytes, n->api_key.len))
        problem(ctx, "notify.api_key_file",
                "is not a Notify API key (\"{name}-{service id}-{secret}\", two UUIDs at the end)");
    if (!n->callback_token.len)
        problem(ctx, "notify.callback_token_file", "is required");
    for (size_t i = 0; i < n->templates_len; i++)
        if (!n->templates[i].email && !n->templates[i].sms)
            problem(ctx, "notify.templates", "entry %zu names neither an email nor an sms template",
                    i);
}

struct config *config_load(const char *path, json_t *problems)
{
    struct config *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return NULL;
    cfg->path = strdup(path);
    const char *slash = strrchr(path, '/');
    cfg->dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
    struct parse_ctx ctx = {slash ? slash + 1 : path, cfg->dir, problems};
    size_t before = json_array_size(problems);

    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        char where[64];
        snprintf(where, sizeof where, "line %d", jerr.line);
        problem(&ctx, where, "%s", jerr.text);
        config_free(cfg);
        return NULL;
    }
    if (!json_is_object(root)) {
        problem(&ctx, "(top)", "must be a JSON object");
        json_decref(root);
        config_free(cfg);
        return NULL;
    }
    parse_object(&ctx, root, top_keys, cfg, "");
    json_decref(root);
    check_cross_references(&ctx, cfg);
    check_notify(&ctx, cfg);
    check_store(&ctx, cfg);
    if (json_array_size(problems) == before) {
        load_services(cfg, problems, &ctx);
        char why[600];
        if (!receipt_options_load(cfg, why, sizeof why))
            problem(&ctx, "receipts.languages", "%s", why);
    }
    if (json_array_size(problems) != before) {
        config_free(cfg);
        return NULL;
    }
    return cfg;
}

static void secret_free(struct secret *s)
{
    if (s->bytes) {
        memset(s->bytes, 0, s->len);
        free(s->bytes);
    }
}

void config_free(struct config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->backends_len; i++) {
        struct backend_config *b = &cfg->backends[i];
        free(b->name);
        free(b->connector);
        free(b->url);
        secret_free(&b->signing_key);
        secret_free(&b->api_key);
        free(b->client_cert);
        free(b->client_key);
        free(b->ca_file);
        free(b->retry_schedule_s);
        free(b->mail_from);
        json_decref(b->mail_to);
        free(b->smtp_username);
        secret_free(&b->smtp_password);
        free(b->smtp_tls);
        free(b->digest_at);
        free(b->auth);
        free(b->api_key_header);
        secret_free(&b->bearer_token);
        free(b->token_url);
        free(b->client_id);
        free(b->private_key_file);
        free(b->kid);
        free(b->lookup_path);
        free(b->lookup_query);
    }
    free(cfg->backends);
    for (size_t i = 0; i < cfg->printers_len; i++) {
        free(cfg->printers[i].name);
        free(cfg->printers[i].uri);
        free(cfg->printers[i].queue);
        free(cfg->printers[i].server);
        free(cfg->printers[i].format);
        free(cfg->printers[i].paper);
    }
    free(cfg->printers);
    for (size_t i = 0; i < cfg->counters_len; i++) {
        free(cfg->counters[i].id);
        free(cfg->counters[i].site);
        free(cfg->counters[i].printer);
    }
    free(cfg->counters);
    free(cfg->notify.url);
    secret_free(&cfg->notify.api_key);
    secret_free(&cfg->notify.callback_token);
    for (size_t i = 0; i < cfg->notify.templates_len; i++) {
        free(cfg->notify.templates[i].service);
        free(cfg->notify.templates[i].language);
        free(cfg->notify.templates[i].email);
        free(cfg->notify.templates[i].sms);
    }
    free(cfg->notify.templates);
    if (cfg->services)
        service_registry_free(cfg->services);
    json_decref(cfg->services_enabled);
    json_decref(cfg->old_data_key_files);
    receipt_texts_free(cfg->receipt_texts);
    json_decref(cfg->receipt_languages);
    free(cfg->receipt_text_dir);
    secret_free(&cfg->status_key);
    secret_free(&cfg->audit.head_key);
    for (size_t i = 0; i < cfg->retention.rules_len; i++)
        free(cfg->retention.rules[i].service);
    free(cfg->retention.rules);
    free(cfg->services_dir);
    free(cfg->council_name);
    free(cfg->public_base_url);
    free(cfg->listen);
    free(cfg->listen_host);
    json_decref(cfg->http.trusted_proxies);
    free(cfg->http.tls_cert_file);
    free(cfg->http.tls_key_file);
    free(cfg->http.tls_priorities);
    free(cfg->http.metrics_listen);
    free(cfg->till.cancel_cutoff);
    free(cfg->data_dir);
    free(cfg->data_key_file);
    free(cfg->index_key_file);
    free(cfg->old_index_key_file);
    free(cfg->store.engine);
    free(cfg->store.conninfo_file);
    free(cfg->web_dir);
    free(cfg->path);
    free(cfg->dir);
    free(cfg);
}

const struct backend_config *config_backend(const struct config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->backends_len; i++)
        if (cfg->backends[i].name && strcmp(cfg->backends[i].name, name) == 0)
            return &cfg->backends[i];
    return NULL;
}

const struct counter_config *config_counter(const struct config *cfg, const char *id)
{
    for (size_t i = 0; i < cfg->counters_len; i++)
        if (cfg->counters[i].id && strcmp(cfg->counters[i].id, id) == 0)
            return &cfg->counters[i];
    return NULL;
}

long config_retention_days(const struct config *cfg, const char *service)
{
    for (size_t i = 0; i < cfg->retention.rules_len; i++)
        if (cfg->retention.rules[i].service &&
            strcmp(cfg->retention.rules[i].service, service) == 0)
            return cfg->retention.rules[i].days;
    return -1;
}

const struct printer_config_entry *config_printer(const struct config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->printers_len; i++)
        if (cfg->printers[i].name && strcmp(cfg->printers[i].name, name) == 0)
            return &cfg->printers[i];
    return NULL;
}

_Static_assert(offsetof(struct backend_config, retry_schedule_len) ==
                   offsetof(struct backend_config, retry_schedule_s) + sizeof(long *),
               "K_INT_LIST stores the length right after the list pointer");
