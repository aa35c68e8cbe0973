/*
 * onestop-sim: stand-ins for the council back-ends onestopd forwards to.
 *
 * Reads the options, loads the keys and data, starts the HTTP server, prints
 * "onestop-sim listening on http://HOST:PORT" once it accepts connections, and waits
 * for SIGTERM or SIGINT, which it takes as a request to stop cleanly (exit 0).
 * The signals are blocked in every thread and collected with sigwait, so no code runs
 * in a signal handler.
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "sim/control.h"
#include "sim/pipeline.h"
#include "sim/registry.h"
#include "sim/server.h"
#include "sim/signature.h"
#include "sim/smtp.h"

#define DEFAULT_LISTEN "127.0.0.1:8090"
#define DEFAULT_DATA   "sim/data"
#define HOST_MAX       64
#define KEY_NAME_MAX   64

static void usage(FILE *out)
{
    fprintf(out,
            "usage: onestop-sim [--listen HOST:PORT] [--data DIR] [--key NAME=FILE]...\n"
            "                   [--open311-api-key FILE] [--callback-url URL]\n"
            "                   [--smtp-listen HOST:PORT [--smtp-user NAME "
            "--smtp-password-file FILE]\n"
            "                    [--smtp-tls-cert FILE --smtp-tls-key FILE]]\n"
            "                   [--nhs-public-key FILE] [--nhs-client-id ID]\n"
            "\n"
            "Serves the council back-ends onestopd forwards to (parking, gazetteer, bulky,\n"
            "nhs-token, nhs-ers)\n"
            "on loopback, with a test control API under /_sim (see docs/backends.md).\n"
            "\n"
            "  --listen HOST:PORT       address to serve on (default " DEFAULT_LISTEN
            "; port 0 picks one)\n"
            "  --data DIR               folder holding gazetteer.json (default " DEFAULT_DATA ")\n"
            "  --key NAME=FILE          signing key of back-end NAME (raw bytes, trailing\n"
            "                           newline removed); requests to NAME must then be signed.\n"
            "                           Repeat for each back-end\n"
            "  --open311-api-key FILE   api_key the bulky Open311 endpoint requires\n"
            "  --callback-url URL       onestopd's base URL, for status callbacks\n"
            "  --smtp-listen HOST:PORT  also serve the \"mail\" back-end, an SMTP sink (port 0\n"
            "                           picks one)\n"
            "  --smtp-user NAME         the SMTP sink requires AUTH as NAME ...\n"
            "  --smtp-password-file FILE  ... with the password in FILE\n"
            "  --smtp-tls-cert FILE     the SMTP sink offers (and requires) STARTTLS with this\n"
            "  --smtp-tls-key FILE      PEM certificate chain and key\n"
            "  --nhs-public-key FILE    PEM RSA public key that checks the NHS token endpoint's\n"
            "                           client assertions (RS512)\n"
            "  --nhs-client-id ID       the client id (iss and sub) it expects (default\n"
            "                           onestop-demo)\n"
            "  --notify-api-key FILE    the GOV.UK Notify API key whose JWTs the notify\n"
            "                           back-end accepts (--notify-callback-token FILE: the\n"
            "                           bearer token of its delivery callbacks;\n"
            "                           --notify-auto-callback STATUS: report every send so)\n"
            "  --help                   this text\n"
            "\n"
            "Prints \"onestop-sim listening on http://HOST:PORT\" when ready; stops on "
            "SIGTERM/SIGINT.\n");
}

/* Handles one --key NAME=FILE. */
static bool load_key(const char *arg)
{
    const char *eq = strchr(arg, '=');
    char name[KEY_NAME_MAX];
    unsigned char *key = NULL;
    size_t key_len = 0;

    if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof name || !eq[1]) {
        fprintf(stderr, "onestop-sim: --key wants NAME=FILE, got %s\n", arg);
        return false;
    }
    snprintf(name, sizeof name, "%.*s", (int)(eq - arg), arg);
    if (!signature_read_key_file(eq + 1, &key, &key_len))
        return false;
    if (!registry_set_key(name, key, key_len)) {
        fprintf(stderr, "onestop-sim: --key names unknown back-end %s\n", name);
        free(key);
        return false;
    }
    return true;
}

/* Reads the Open311 api_key file into a new string (trailing newline removed). */
static char *load_api_key(const char *path)
{
    unsigned char *key = NULL;
    size_t len = 0;
    if (!signature_read_key_file(path, &key, &len))
        return NULL;
    char *s = malloc(len + 1);
    if (s) {
        memcpy(s, key, len);
        s[len] = '\0';
    }
    free(key);
    return s;
}

int main(int argc, char **argv)
{
    enum {
        OPT_LISTEN = 1,
        OPT_DATA,
        OPT_KEY,
        OPT_API_KEY,
        OPT_CALLBACK,
        OPT_HELP,
        OPT_SMTP_LISTEN,
        OPT_SMTP_USER,
        OPT_SMTP_PASSWORD,
        OPT_SMTP_TLS_CERT,
        OPT_SMTP_TLS_KEY,
        OPT_NHS_PUBLIC_KEY,
        OPT_NHS_CLIENT_ID,
        OPT_NOTIFY_API_KEY,
        OPT_NOTIFY_CALLBACK_TOKEN,
        OPT_NOTIFY_AUTO_CALLBACK
    };
    static const struct option options[] = {
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"data", required_argument, NULL, OPT_DATA},
        {"key", required_argument, NULL, OPT_KEY},
        {"open311-api-key", required_argument, NULL, OPT_API_KEY},
        {"callback-url", required_argument, NULL, OPT_CALLBACK},
        {"nhs-public-key", required_argument, NULL, OPT_NHS_PUBLIC_KEY},
        {"nhs-client-id", required_argument, NULL, OPT_NHS_CLIENT_ID},
        {"notify-api-key", required_argument, NULL, OPT_NOTIFY_API_KEY},
        {"notify-callback-token", required_argument, NULL, OPT_NOTIFY_CALLBACK_TOKEN},
        {"notify-auto-callback", required_argument, NULL, OPT_NOTIFY_AUTO_CALLBACK},
        {"help", no_argument, NULL, OPT_HELP},
        {"smtp-listen", required_argument, NULL, OPT_SMTP_LISTEN},
        {"smtp-user", required_argument, NULL, OPT_SMTP_USER},
        {"smtp-password-file", required_argument, NULL, OPT_SMTP_PASSWORD},
        {"smtp-tls-cert", required_argument, NULL, OPT_SMTP_TLS_CERT},
        {"smtp-tls-key", required_argument, NULL, OPT_SMTP_TLS_KEY},
        {NULL, 0, NULL, 0},
    };
    const char *listen = DEFAULT_LISTEN;
    sim_options opts = {.data_dir = DEFAULT_DATA, .open311_api_key = NULL};
    const char *api_key_file = NULL;
    const char *callback_url = NULL;
    const char *key_args[argc > 0 ? argc : 1];
    int key_count = 0;
    char host[HOST_MAX];
    uint16_t port = 0;
    uint16_t bound = 0;
    char *api_key = NULL;
    const char *smtp_listen = NULL;
    const char *smtp_user = NULL;
    const char *smtp_password_file = NULL;
    const char *smtp_tls_cert = NULL;
    const char *smtp_tls_key = NULL;
    char *smtp_password = NULL;
    char smtp_host[HOST_MAX];
    uint16_t smtp_port = 0;
    int status = 1;
    int opt;
    sigset_t stop_signals;
    int sig = 0;

    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case OPT_LISTEN:
            listen = optarg;
            break;
        case OPT_DATA:
            opts.data_dir = optarg;
            break;
        case OPT_KEY:
            key_args[key_count++] = optarg;
            break;
        case OPT_API_KEY:
            api_key_file = optarg;
            break;
        case OPT_CALLBACK:
            callback_url = optarg;
            break;
        case OPT_SMTP_LISTEN:
            smtp_listen = optarg;
            break;
        case OPT_SMTP_USER:
            smtp_user = optarg;
            break;
        case OPT_SMTP_PASSWORD:
            smtp_password_file = optarg;
            break;
        case OPT_SMTP_TLS_CERT:
            smtp_tls_cert = optarg;
            break;
        case OPT_SMTP_TLS_KEY:
            smtp_tls_key = optarg;
            break;
        case OPT_NHS_PUBLIC_KEY:
            opts.nhs_public_key = optarg;
            break;
        case OPT_NHS_CLIENT_ID:
            opts.nhs_client_id = optarg;
            break;
        case OPT_NOTIFY_API_KEY:
            opts.notify_api_key = optarg;
            break;
        case OPT_NOTIFY_CALLBACK_TOKEN:
            opts.notify_callback_token = optarg;
            break;
        case OPT_NOTIFY_AUTO_CALLBACK:
            opts.notify_auto_callback = optarg;
            break;
        case OPT_HELP:
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "onestop-sim: unexpected argument %s\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (!server_parse_listen(listen, host, sizeof host, &port)) {
        fprintf(stderr, "onestop-sim: --listen wants IPV4:PORT, got %s\n", listen);
        return 2;
    }
    if (smtp_listen && !server_parse_listen(smtp_listen, smtp_host, sizeof smtp_host, &smtp_port)) {
        fprintf(stderr, "onestop-sim: --smtp-listen wants IPV4:PORT, got %s\n", smtp_listen);
        return 2;
    }
    if (!smtp_tls_cert != !smtp_tls_key) {
        fprintf(stderr, "onestop-sim: --smtp-tls-cert and --smtp-tls-key go together\n");
        return 2;
    }
    if (!smtp_user != !smtp_password_file) {
        fprintf(stderr, "onestop-sim: --smtp-user and --smtp-password-file go together\n");
        return 2;
    }
    if (smtp_password_file) {
        smtp_password = load_api_key(smtp_password_file);
        if (!smtp_password)
            return 1;
    }
    if (api_key_file) {
        api_key = load_api_key(api_key_file);
        if (!api_key)
            return 1;
        opts.open311_api_key = api_key;
    }

    /* Before any thread exists: every thread inherits the blocked signals. */
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "onestop-sim: curl_global_init failed\n");
        free(api_key);
        return 1;
    }
    if (!registry_init(&opts))
        goto out;
    for (int i = 0; i < key_count; i++)
        if (!load_key(key_args[i]))
            goto out;
    control_set_callback_url(callback_url);
    if (smtp_listen) {
        uint16_t smtp_bound = 0;
        if (!smtp_start(smtp_host, smtp_port, smtp_user, smtp_password, smtp_tls_cert, smtp_tls_key,
                        &smtp_bound))
            goto out;
        printf("onestop-sim smtp on %s:%u\n", smtp_host, (unsigned)smtp_bound);
    }
    if (!server_start(host, port, &bound))
        goto out;
    printf("onestop-sim listening on http://%s:%u\n", host, (unsigned)bound);
    fflush(stdout);

    if (sigwait(&stop_signals, &sig) != 0)
        fprintf(stderr, "onestop-sim: sigwait failed\n");
    fprintf(stderr, "onestop-sim: signal %d, stopping\n", sig);
    pipeline_shutdown();
    server_stop();
    status = 0;
out:
    smtp_stop();
    registry_destroy();
    curl_global_cleanup();
    free(api_key);
    free(smtp_password);
    return status;
}
