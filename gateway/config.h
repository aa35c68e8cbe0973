/* config: config/onestop.json, read with jansson and checked against one declarative table.
 *
 * Every key, its type, default, limits and meaning live in the tables in config.c — nowhere
 * else. Unknown keys are errors, so a typo never passes silently. Relative paths are relative
 * to the folder of the config file. Secrets are never inline: the config names files and the
 * loader reads them. Problems are collected, not stopped at, and read "FILE: KEY: problem". */
#ifndef ONESTOP_CONFIG_H
#define ONESTOP_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* The listener's TLS by default: TLS 1.2 and 1.3 only, forward-secret key exchange, AEAD
 * ciphers only (GnuTLS priority syntax; http.tls_priorities overrides it). */
#define HTTP_TLS_PRIORITIES                                                                        \
    "SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:"         \
    "+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-RSA:+ECDHE-ECDSA:%SERVER_PRECEDENCE"

struct service_registry;

struct secret {
    unsigned char *bytes;
    size_t len;
};

struct backend_config {
    char *name;
    char *connector; /* json-rest | open311 | fhir | email */
    char *url;       /* base URL; paths are added by the connector; smtp(s):// for email */
    struct secret signing_key; /* auth hmac; also checks the back-end's signed callbacks */
    struct secret api_key;     /* auth api-key, and open311's api_key form field */
    char *client_cert;         /* mTLS, optional */
    char *client_key;
    char *ca_file;
    long timeout_ms;
    long connect_timeout_ms;
    long lookup_timeout_ms; /* interactive look-ups (addresses, slots) */
    long lease_ms; /* several nodes: how long a claimed delivery is this node's; 0: 2x timeout */
    long concurrency;
    long *retry_schedule_s; /* delay before retry n (the last repeats until the deadline) */
    size_t retry_schedule_len;
    long give_up_after_s;  /* then the delivery is failed (dead letter) */
    long breaker_failures; /* consecutive failures that open the circuit */
    long breaker_open_s;   /* how long it stays open before a half-open probe */
    long poll_interval_s;  /* open311 status polling */
    long slot_hold_s;      /* a collection day picked at the counter is held this long */
    /* e-mail back-ends (connector email, SMTP transport; see docs/backends.md) */
    char *mail_from;             /* envelope sender and From: */
    json_t *mail_to;             /* list of recipient addresses (envelope and To:) */
    char *smtp_username;         /* AUTH, optional */
    struct secret smtp_password; /* from smtp_password_file, with smtp_username */
    char *smtp_tls;              /* starttls | smtps | none; default from the URL's scheme */
    /* a daily digest instead of a message per delivery (delivery/email_digest.h): "HH:MM" or
     * "HH:MM:SS" Europe/London; digest true and digest_at_s its seconds after midnight */
    char *digest_at;
    bool digest;
    long digest_at_s;
    long digest_settle_s; /* a day's digest is sent this long after its time, not sooner */
    /* authentication (gateway/delivery/auth.h): one of BACKEND_AUTH_* below */
    char *auth;                 /* hmac | api-key | oauth2-jwt | bearer | none */
    char *api_key_header;       /* api-key: the header that carries api_key_file's value */
    struct secret bearer_token; /* bearer: the static token */
    char *token_url;            /* oauth2-jwt: the OAuth2 token endpoint (also the JWT aud) */
    char *client_id;            /* oauth2-jwt: iss and sub of the client assertion */
    char *private_key_file;     /* oauth2-jwt: PEM RSA private key that signs it (RS512) */
    char *kid;                  /* oauth2-jwt: the key id in the JWT header */
    long token_timeout_ms;      /* oauth2-jwt: a token fetch gives up after this */
    /* open311 answers with a token instead of an id: exchange it every token_poll_interval_s,
     * at most token_poll_tries times (docs/backends.md) */
    long token_poll_interval_s;
    long token_poll_tries;
    /* back-ends that do not honour Idempotency-Key: after an attempt whose outcome is unknown,
     * ask GET {lookup_path}?{lookup_query} before sending again (NULL: the connector's) */
    bool lookup_before_resend;
    char *lookup_path;
    char *lookup_query;
};

#define BACKEND_AUTH_HMAC       "hmac"
#define BACKEND_AUTH_API_KEY    "api-key"
#define BACKEND_AUTH_OAUTH2_JWT "oauth2-jwt"
#define BACKEND_AUTH_BEARER     "bearer"
#define BACKEND_AUTH_NONE       "none"

struct printer_config_entry {
    char *name;
    char *uri;
    char *queue;
    char *server;
    char *format; /* pdf | escpos */
    char *paper;  /* 80mm | a4 */
};

struct retention_rule {
    char *service;
    long days;
};

/* GOV.UK Notify receipt copies (gateway/delivery/connector_notify.h): one template per service
 * (or "*" for any) and language, for each channel. */
struct notify_template {
    char *service;
    char *language;
    char *email; /* template id, or NULL when the service has no e-mail copy */
    char *sms;
};

struct notify_config {
    char *url;                    /* base URL; NULL when receipt copies are not configured */
    struct secret api_key;        /* "{name}-{service id}-{secret}" */
    struct secret callback_token; /* the bearer token Notify's callbacks carry */
    long timeout_ms;
    long give_up_after_s;
    struct notify_template *templates;
    size_t templates_len;
};

struct counter_config {
    char *id;
    char *site;
    char *printer; /* name of a printer, or NULL */
};

struct config {
    char *path;
    char *dir;
    char *council_name;
    char *public_base_url;
    char *listen;
    char *listen_host;
    int listen_port;
    char *data_dir;
    char *web_dir;
    struct {
        long threads;
        long connection_timeout_s;
        long per_ip_connection_limit;
        long connection_limit;
        long connection_memory_limit;
        long body_limit;
        long drain_timeout_ms; /* at shutdown, how long requests in flight may take */
        /* holding up under attack (gateway/http/client_limits.c, tls.c, http.c) */
        long header_deadline_s;   /* a request's headers must be in by then, trickled or not */
        long body_deadline_s;     /* and its body this long after its headers */
        long connection_headroom; /* slots kept free for fresh clients */
        long bodies_memory_limit; /* bytes all request bodies in flight may hold together */
        json_t *trusted_proxies;  /* addresses whose X-Forwarded-For is believed, or NULL */
        char *tls_cert_file;      /* PEM; with tls_key_file the listener serves HTTPS */
        char *tls_key_file;
        char *tls_priorities; /* GnuTLS priority string */
        long hsts_max_age_s;  /* Strict-Transport-Security on HTTPS replies; 0 for none */
        char *metrics_listen; /* host:port of a separate /metrics listener, or NULL */
    } http;
    struct {
        long session_ttl_s;
        long idle_timeout_s;
        long pbkdf2_iterations;
        long max_failures_per_user;
        long max_failures_per_address;
        long failure_window_s;
        long lockout_s;
        long lockout_max_s;
    } auth;
    struct {
        long busy_timeout_ms;
        long group_commit_max;
        long read_connections;
        char *engine;        /* "sqlite" (the default) or "postgresql" */
        char *conninfo_file; /* postgresql: a file holding the libpq conninfo (and password) */
    } store;
    struct {
        long rate_per_minute;
    } status_page;
    struct {
        long reads_per_minute;         /* transaction reads per staff member (429 past it) */
        long audit_sample_interval_s;  /* repeatable events: one audit row per address per this */
        long callback_replay_window_s; /* callback event ids are kept this long, then pruned */
    } access;
    struct {
        struct secret head_key; /* signs the chain head (HMAC-SHA256); not in the database */
        long head_interval_s;   /* the signed head is logged this often, and at shutdown */
    } audit;
    struct {
        long default_days;            /* personal data kept this long after a transaction ended,
                                         unless its service has a rule below or retention_days */
        long purge_interval_s;        /* how often the gateway's purge job runs; 0: never */
        struct retention_rule *rules; /* per service, before the definition's retention_days */
        size_t rules_len;
    } retention;
    struct {
        char *cancel_cutoff;      /* "HH:MM" London time on the cut-off day (docs/till.md) */
        long cancel_working_days; /* the cut-off day: this many working days before the booking */
    } till;
    struct secret status_key;
    char *services_dir;
    json_t *services_enabled;
    struct counter_config *counters;
    size_t counters_len;
    struct printer_config_entry *printers;
    size_t printers_len;
    struct backend_config *backends;
    size_t backends_len;
    struct service_registry *services;
    char *receipt_text_dir;              /* receipts.text_dir: <code>.json per language */
    json_t *receipt_languages;           /* receipts.languages: codes besides English, or NULL */
    struct receipt_texts *receipt_texts; /* loaded from them (gateway/receipt_options.h) */
    struct notify_config notify;
    /* uploaded documents (benefit evidence): sealed under keys.data_key_file, kept in
     * <data_dir>/documents; limits default to DOMAIN.md's */
    char *data_key_file; /* keys.data_key_file: the current data key (<id>.key, 64 hex) */
    /* keys.old_data_key_files: older data keys (paths), loaded to open what was sealed under
     * them (rotation), never to seal; NULL when none */
    json_t *old_data_key_files;
    char *index_key_file; /* keys.index_key_file: the blind index key (64 hex) */
    /* keys.old_index_key_file: the index key being replaced (`onestop keys rotate-index`):
     * look-ups match blind indexes under it too until they are recomputed; NULL when none */
    char *old_index_key_file;
    struct {
        long file_limit;        /* bytes of one file (413 file_too_large past it) */
        long submission_limit;  /* bytes of one submission's files together (422) */
        long files_max;         /* files in one upload */
        long unattached_ttl_s;  /* an upload no transaction takes is deleted after this */
        long retention_days;    /* a delivered file is deleted this long after delivery */
        long sweep_interval_s;  /* how often expired uploads and delivered files are looked for */
        long upload_deadline_s; /* an upload's body must be in this long after its headers */
    } documents;
};

/* Reads and checks the config at path. Returns NULL and fills problems (a JSON array of
 * strings, "FILE: KEY: problem") when anything is wrong. Free with config_free. */
struct config *config_load(const char *path, json_t *problems) __attribute__((warn_unused_result));
void config_free(struct config *cfg);

/* Overrides from the command line ("HOST:PORT"); false with a message when malformed. */
bool config_set_listen(struct config *cfg, const char *listen, char *err, size_t errlen)
    __attribute__((warn_unused_result));
bool config_set_data_dir(struct config *cfg, const char *dir);

struct data_keys;
/* Loads the data keys the config names into keys: keys.data_key_file first (the current
 * one), then keys.old_data_key_files (kept to open older data). True with nothing loaded when
 * there is no data key file; false with a message naming the file in err. */
bool config_data_keys_load(const struct config *cfg, struct data_keys *keys, char *err,
                           size_t errlen) __attribute__((warn_unused_result));

const struct backend_config *config_backend(const struct config *cfg, const char *name);
const struct counter_config *config_counter(const struct config *cfg, const char *id);
/* Days the personal data of `service` is kept (retention.services), or -1 when the config
 * has no rule for it. */
long config_retention_days(const struct config *cfg, const char *service);
const struct printer_config_entry *config_printer(const struct config *cfg, const char *name);

#endif
