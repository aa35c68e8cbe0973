/* Config validation: the real config/onestop.json passes; each broken file names its file,
 * key and problem. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static const char *source_dir(void)
{
    const char *d = getenv("ONESTOP_SOURCE_DIR");
    return d ? d : ".";
}

static void write_file(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/onestop-config-test-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    char keys[300];
    snprintf(keys, sizeof keys, "%s/keys", tmpdir);
    mkdir(keys, 0700);
    write_file("keys/status.key", "0123456789abcdef0123456789abcdef\n");
    write_file("keys/parking.key", "fedcba9876543210fedcba9876543210\n");
    write_file("keys/short.key", "abc\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A minimal valid config with one hole to fill with EXTRA (a top-level member). */
static char *config_text(const char *extra, const char *backend_extra, const char *enabled)
{
    static char text[8192];
    snprintf(text, sizeof text,
             "{\n"
             "  \"keys\": {\"status_token_file\": \"keys/status.key\"},\n"
             "  \"counters\": [{\"id\": \"SD-01\", \"site\": \"Fred Perry House\"}],\n"
             "  \"backends\": [{\"name\": \"parking\", \"connector\": \"json-rest\",\n"
             "                 \"url\": \"http://127.0.0.1:1/parking\",\n"
             "                 \"signing_key_file\": \"keys/parking.key\"%s},\n"
             "                {\"name\": \"bulky\", \"connector\": \"open311\",\n"
             "                 \"url\": \"http://127.0.0.1:1/bulky\",\n"
             "                 \"signing_key_file\": \"keys/parking.key\"}],\n"
             "  \"services\": {\"dir\": \"%s/config/services\", \"enabled\": %s}%s\n"
             "}\n",
             backend_extra, source_dir(), enabled, extra);
    return text;
}

/* Loads text as onestop.json; returns all problems joined by newlines (caller frees), or
 * NULL when the config loaded. */
static char *load(const char *text)
{
    write_file("onestop.json", text);
    char path[512];
    snprintf(path, sizeof path, "%s/onestop.json", tmpdir);
    json_t *problems = json_array();
    struct config *cfg = config_load(path, problems);
    char *joined = NULL;
    if (cfg) {
        assert_int_equal(json_array_size(problems), 0);
        config_free(cfg);
    } else {
        size_t len = 1, i;
        json_t *p;
        json_array_foreach(problems, i, p) len += json_string_length(p) + 1;
        joined = calloc(1, len);
        json_array_foreach(problems, i, p)
        {
            strcat(joined, json_string_value(p));
            strcat(joined, "\n");
        }
        assert_true(json_array_size(problems) > 0);
    }
    json_decref(problems);
    return joined;
}

static void expect_problem(const char *text, const char *needle)
{
    char *problems = load(text);
    if (!problems)
        fail_msg("config loaded, but expected a problem containing \"%s\"", needle);
    if (!strstr(problems, needle))
        fail_msg("expected \"%s\" among the problems:\n%s", needle, problems);
    free(problems);
}

static void test_the_shipped_config_is_valid(void **state)
{
    (void)state;
    char path[512], keys[600];
    snprintf(keys, sizeof keys, "%s/scripts/keys", source_dir());
    assert_int_equal(system(keys), 0); /* the demo key files the config names */
    snprintf(path, sizeof path, "%s/config/onestop.json", source_dir());
    json_t *problems = json_array();
    struct config *cfg = config_load(path, problems);
    if (!cfg)
        fail_msg("config/onestop.json: %s", json_string_value(json_array_get(problems, 0)));
    assert_string_equal(cfg->listen_host, "127.0.0.1");
    assert_int_equal(cfg->listen_port, 8080);
    assert_non_null(config_counter(cfg, "SD-01"));
    assert_non_null(config_backend(cfg, "parking"));
    config_free(cfg);
    json_decref(problems);
}

static void test_minimal_config_gets_defaults(void **state)
{
    (void)state;
    write_file("onestop.json", config_text("", "", "[\"residents-parking-permit\"]"));
    char path[512];
    snprintf(path, sizeof path, "%s/onestop.json", tmpdir);
    json_t *problems = json_array();
    struct config *cfg = config_load(path, problems);
    assert_non_null(cfg);
    assert_int_equal(cfg->http.body_limit, 1048576);
    assert_int_equal(cfg->http.threads, 8);
    assert_int_equal(cfg->auth.pbkdf2_iterations, 600000);
    assert_int_equal(cfg->listen_port, 8080);
    const struct backend_config *b = config_backend(cfg, "parking");
    assert_non_null(b);
    assert_true(b->retry_schedule_len > 3);
    assert_int_equal(b->signing_key.len, 32);
    config_free(cfg);
    json_decref(problems);
}

static void test_unknown_key_is_an_error(void **state)
{
    (void)state;
    expect_problem(config_text(", \"htpp\": {}", "", "[]"), "onestop.json: htpp: unknown key");
    expect_problem(config_text(", \"http\": {\"body_limt\": 5}", "", "[]"),
                   "onestop.json: http.body_limt: unknown key");
    expect_problem(config_text("", ", \"timeout\": 5", "[]"),
                   "onestop.json: backends[0].timeout: unknown key");
}

static void test_wrong_types_and_ranges(void **state)
{
    (void)state;
    expect_problem(config_text(", \"http\": {\"threads\": \"eight\"}", "", "[]"),
                   "http.threads: must be a whole number");
    expect_problem(config_text(", \"http\": {\"threads\": 0}", "", "[]"),
                   "http.threads: must be between 1 and 256");
    expect_problem(config_text(", \"listen\": \"localhost\"", "", "[]"),
                   "listen: must be HOST:PORT");
    char text[8192];
    snprintf(text, sizeof text, "%s", config_text("", "", "[]"));
    char *open311 = strstr(text, "\"open311\"");
    assert_non_null(open311);
    memcpy(open311, "\"soap\"   ", 9);
    expect_problem(text, "backends[1].connector: must be one of |json-rest|open311|");
    expect_problem(config_text("", ", \"retry_schedule_s\": []", "[]"),
                   "backends[0].retry_schedule_s: must be a non-empty list");
    expect_problem(config_text(", \"council\": {\"public_base_url\": \"ftp://x\"}", "", "[]"),
                   "council.public_base_url: must start with http://");
}

static void test_listener_protection_options(void **state)
{
    (void)state;
    write_file("onestop.json", config_text("", "", "[\"residents-parking-permit\"]"));
    char path[512];
    snprintf(path, sizeof path, "%s/onestop.json", tmpdir);
    json_t *problems = json_array();
    struct config *cfg = config_load(path, problems);
    assert_non_null(cfg);
    assert_int_equal(cfg->http.header_deadline_s, 10);
    assert_int_equal(cfg->http.body_deadline_s, 60);
    assert_int_equal(cfg->http.connection_headroom, 50);
    assert_int_equal(cfg->http.bodies_memory_limit, 64 * 1024 * 1024);
    assert_int_equal(cfg->http.hsts_max_age_s, 31536000);
    assert_null(cfg->http.tls_cert_file);
    assert_null(cfg->http.trusted_proxies);
    assert_null(cfg->http.metrics_listen);
    assert_string_equal(cfg->http.tls_priorities, HTTP_TLS_PRIORITIES);
    config_free(cfg);
    json_decref(problems);

    assert_null(load(config_text(", \"http\": {\"trusted_proxies\": [\"10.1.2.3\", \"::1\"],"
                                 " \"metrics_listen\": \"127.0.0.1:9100\"}",
                                 "", "[]")));
    expect_problem(config_text(", \"http\": {\"tls_cert_file\": \"tls.crt\"}", "", "[]"),
                   "http.tls_key_file: HTTPS needs both");
    expect_problem(config_text(", \"http\": {\"trusted_proxies\": [\"proxy.local\"]}", "", "[]"),
                   "http.trusted_proxies[0]: \"proxy.local\" is not an IPv4 or IPv6 address");
    expect_problem(config_text(", \"http\": {\"metrics_listen\": \"9100\"}", "", "[]"),
                   "http.metrics_listen: must be HOST:PORT");
    expect_problem(config_text(", \"http\": {\"connection_limit\": 100, "
                               "\"connection_headroom\": 100}",
                               "", "[]"),
                   "http.connection_headroom: must be less than http.connection_limit");
    expect_problem(config_text(", \"http\": {\"bodies_memory_limit\": 1000}", "", "[]"),
                   "http.bodies_memory_limit: must be between");
}

static void test_secrets_come_from_files(void **state)
{
    (void)state;
    expect_problem("{\"keys\": {\"status_token_file\": \"keys/missing.key\"}, \"counters\": [],"
                   " \"services\": {\"enabled\": []}}",
                   "keys.status_token_file: cannot read");
    expect_problem("{\"keys\": {\"status_token_file\": \"keys/short.key\"}, \"counters\": [],"
                   " \"services\": {\"enabled\": []}}",
                   "a key needs at least 16");
}

static void test_required_keys_and_references(void **state)
{
    (void)state;
    expect_problem("{}", "onestop.json: keys: is required");
    expect_problem("{}", "onestop.json: counters: is required");
    expect_problem(config_text(", \"printers\": [{\"name\": \"p\"}]", "", "[]"),
                   "printers[0]: needs exactly one of uri");
    expect_problem(config_text(", \"printers\": [{\"name\": \"p\", \"uri\": \"lpt1\"}]", "", "[]"),
                   "printers[0]: uri must start with ipp://");
}

static void test_auth_options_must_fit_the_auth_chosen(void **state)
{
    (void)state;
    char *ok = load(config_text("", ", \"auth\": \"hmac\"", "[]"));
    assert_null(ok);
    expect_problem(config_text("", ", \"auth\": \"none\"", "[]"),
                   "onestop.json: backends[0].auth: none sends no credentials");
    expect_problem(config_text("", ", \"auth\": \"bearer\"", "[]"),
                   "onestop.json: backends[0].auth: bearer needs bearer_token_file");
    expect_problem(config_text("", ", \"auth\": \"oauth2-jwt\", \"kid\": \"k\"", "[]"),
                   "onestop.json: backends[0].auth: oauth2-jwt needs token_url");
    expect_problem(config_text("", ", \"kid\": \"k\"", "[]"),
                   "onestop.json: backends[0].kid: goes with auth oauth2-jwt (auth is hmac)");
    expect_problem(config_text("", ", \"api_key_header\": \"X-Api-Key\"", "[]"),
                   "onestop.json: backends[0].api_key_header: goes with auth api-key");
    expect_problem(config_text("",
                               ", \"auth\": \"api-key\", \"api_key_file\": "
                               "\"keys/parking.key\", \"api_key_header\": \"X Key\"",
                               "[]"),
                   "onestop.json: backends[0].api_key_header: is not an HTTP header name");
    expect_problem(config_text("",
                               ", \"auth\": \"oauth2-jwt\", \"token_url\": "
                               "\"https://t/x\", \"client_id\": \"c\", \"kid\": \"k\", "
                               "\"private_key_file\": \"keys/parking.key\"",
                               "[]"),
                   "onestop.json: backends[0].private_key_file: ");
}

static void test_counter_printer_must_exist(void **state)
{
    (void)state;
    char text[8192];
    snprintf(text, sizeof text, "%s", config_text("", "", "[]"));
    char *counters = strstr(text, "\"site\": \"Fred Perry House\"}");
    assert_non_null(counters);
    char patched[8400];
    size_t head = (size_t)(counters - text);
    snprintf(patched, sizeof patched, "%.*s\"site\": \"x\", \"printer\": \"nowhere\"}%s", (int)head,
             text, counters + strlen("\"site\": \"Fred Perry House\"}"));
    expect_problem(patched, "counters[0].printer: names printer \"nowhere\"");
}

static void test_malformed_json_names_the_line(void **state)
{
    (void)state;
    expect_problem("{\n  \"listen\": \"127.0.0.1:1\",\n  oops\n}", "onestop.json: line 3:");
}

static void test_unknown_service_is_named(void **state)
{
    (void)state;
    expect_problem(config_text("", "", "[\"residents-parking-permit\", \"no-such-service\"]"),
                   "no-such-service");
}

/* lookup_before_resend and the Open311 token options: defaults, types and checks. */
static void test_lookup_and_token_options(void **state)
{
    (void)state;
    write_file("onestop.json",
               config_text("",
                           ", \"lookup_before_resend\": true, \"lookup_path\": \"/v2/permits\","
                           " \"lookup_query\": \"job={reference}\"",
                           "[]"));
    char path[512];
    snprintf(path, sizeof path, "%s/onestop.json", tmpdir);
    json_t *problems = json_array();
    struct config *cfg = config_load(path, problems);
    assert_non_null(cfg);
    const struct backend_config *p = config_backend(cfg, "parking");
    const struct backend_config *b = config_backend(cfg, "bulky");
    assert_true(p->lookup_before_resend);
    assert_string_equal(p->lookup_path, "/v2/permits");
    assert_string_equal(p->lookup_query, "job={reference}");
    assert_false(b->lookup_before_resend); /* off unless asked for */
    assert_null(b->lookup_path);
    assert_null(b->lookup_query);
    assert_int_equal(b->token_poll_interval_s, 2);
    assert_int_equal(b->token_poll_tries, 5);
    config_free(cfg);
    json_decref(problems);

    expect_problem(config_text("", ", \"lookup_before_resend\": 1", "[]"),
                   "backends[0].lookup_before_resend: must be true or false");
    expect_problem(config_text("", ", \"lookup_path\": \"permits\"", "[]"),
                   "backends[0].lookup_path: must start with /");
    expect_problem(config_text("", ", \"lookup_query\": \"reference=x\"", "[]"),
                   "backends[0].lookup_query: must contain {reference}");
    expect_problem(config_text("", ", \"token_poll_tries\": 0", "[]"),
                   "backends[0].token_poll_tries: must be between 1 and 10000");
    expect_problem(config_text("", ", \"token_poll_interval_s\": \"2\"", "[]"),
                   "backends[0].token_poll_interval_s: must be a whole number");
}

/* store.engine chooses SQLite (the default) or PostgreSQL; PostgreSQL's conninfo is read from
 * a file (it holds the password) that must be there and hold a conninfo when the config loads. */
static void test_store_engine_options(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/onestop.json", tmpdir);
    write_file("onestop.json", config_text("", "", "[]"));
    json_t *problems = json_array();
    struct config *cfg = config_load(path, problems);
    assert_non_null(cfg);
    assert_string_equal(cfg->store.engine, "sqlite");
    assert_null(cfg->store.conninfo_file);
    config_free(cfg);

    write_file("pg.conninfo", "host=db1 dbname=onestop user=onestop password=s3cret\n");
    write_file("onestop.json", config_text(", \"store\": {\"engine\": \"postgresql\","
                                           " \"conninfo_file\": \"pg.conninfo\","
                                           " \"busy_timeout_ms\": 1000}",
                                           "", "[]"));
    cfg = config_load(path, problems);
    assert_non_null(cfg);
    assert_int_equal(json_array_size(problems), 0);
    assert_string_equal(cfg->store.engine, "postgresql");
    assert_non_null(strstr(cfg->store.conninfo_file, "/pg.conninfo"));
    assert_int_equal(cfg->store.busy_timeout_ms, 1000);
    config_free(cfg);
    json_decref(problems);

    expect_problem(config_text(", \"store\": {\"engine\": \"mysql\"}", "", "[]"),
                   "store.engine: must be one of |sqlite|postgresql|");
    expect_problem(config_text(", \"store\": {\"engine\": \"postgresql\"}", "", "[]"),
                   "store.conninfo_file: is required when store.engine is \"postgresql\"");
    expect_problem(config_text(", \"store\": {\"engine\": \"postgresql\","
                               " \"conninfo_file\": \"missing.conninfo\"}",
                               "", "[]"),
                   "store.conninfo_file: cannot read");
    write_file("bad.conninfo", "password=s3cret but no equals here\n");
    char *found = load(config_text(", \"store\": {\"engine\": \"postgresql\","
                                   " \"conninfo_file\": \"bad.conninfo\"}",
                                   "", "[]"));
    assert_non_null(found);
    assert_non_null(strstr(found, "store.conninfo_file: "));
    assert_non_null(strstr(found, "does not hold a PostgreSQL conninfo"));
    assert_null(strstr(found, "s3cret")); /* the password is never repeated */
    free(found);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_shipped_config_is_valid),
        cmocka_unit_test(test_minimal_config_gets_defaults),
        cmocka_unit_test(test_unknown_key_is_an_error),
        cmocka_unit_test(test_wrong_types_and_ranges),
        cmocka_unit_test(test_listener_protection_options),
        cmocka_unit_test(test_secrets_come_from_files),
        cmocka_unit_test(test_required_keys_and_references),
        cmocka_unit_test(test_auth_options_must_fit_the_auth_chosen),
        cmocka_unit_test(test_counter_printer_must_exist),
        cmocka_unit_test(test_malformed_json_names_the_line),
        cmocka_unit_test(test_unknown_service_is_named),
        cmocka_unit_test(test_lookup_and_token_options),
        cmocka_unit_test(test_store_engine_options),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
