/*
 * The SMTP sink (see smtp.h).
 *
 * DESIGN: an accept thread polls the listening socket (and the stop flag every POLL_MS) and
 * starts one detached thread per connection, counting them under conn_lock so that
 * smtp_stop can wait for the last one. A connection is a session struct and a loop: read a
 * line, act on the command, reply. Reads poll in POLL_MS steps so a stopping simulator or an
 * idle client ends the loop. Shared state (faults, the received log, the message counter) is
 * touched only under sim_state_lock, and never while waiting on the network.
 */
#include "sim/smtp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "sim/backends.h"
#include "sim/pipeline.h"
#include "sim/registry.h"

#define POLL_MS          200
#define LISTEN_BACKLOG   16
#define READ_BUFFER      4096
#define ADDRESS_MAX      256
#define USER_MAX         256
#define HEADER_VALUE_MAX 512
#define QUEUE_ID_MAX     32
#define HOSTNAME         "onestop-sim"
#define READ_TIMEOUT_MS  POLL_MS /* a blocked TLS read gives up this often to look around */
#define HANDSHAKE_S      10

static int listen_fd = -1;
static pthread_t accept_thread;
static bool accept_running;
static atomic_bool stopping;
static const char *auth_user;
static const char *auth_password;
static SSL_CTX *tls_ctx; /* NULL: no STARTTLS */
static pthread_mutex_t conn_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t conn_cond = PTHREAD_COND_INITIALIZER;
static int conn_count;
static unsigned long message_counter; /* under sim_state_lock */

typedef struct session {
    int fd;
    SSL *tls; /* after STARTTLS */
    char buf[READ_BUFFER];
    size_t start, end;
    bool authed;
    char user[USER_MAX];
    bool have_mail;
    char from[ADDRESS_MAX];
    json_t *rcpt; /* array of addresses */
    char *data;   /* the message being received */
    size_t data_len;
} session;

typedef enum line_result { LINE_OK, LINE_TOO_LONG, LINE_CLOSED } line_result;

/* ---- the "mail" back-end's HTTP side: none ---- */

static void mail_handle(const sim_request *req, sim_reply *reply)
{
    (void)req;
    sim_reply_error(reply, 404, "smtp_only",
                    "the mail back-end takes e-mail on the simulator's SMTP port (--smtp-listen)");
}

static void mail_reset(void)
{
    message_counter = 0;
}

const sim_backend mail_backend = {
    .name = SMTP_BACKEND_NAME,
    .handle = mail_handle,
    .reset = mail_reset,
};

/* ---- I/O ---- */

static bool send_text(session *s, const char *text)
{
    size_t len = strlen(text);
    while (len > 0) {
        ssize_t n;
        if (s->tls) {
            int w = SSL_write(s->tls, text, len > INT32_MAX ? INT32_MAX : (int)len);
            n = w > 0 ? w : -1;
        } else {
            n = send(s->fd, text, len, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR)
                continue;
        }
        if (n <= 0)
            return false;
        text += n;
        len -= (size_t)n;
    }
    return true;
}

static bool reply(session *s, const char *line)
{
    char out[SMTP_LINE_MAX];
    snprintf(out, sizeof out, "%s\r\n", line);
    return send_text(s, out);
}

/* Reads one line (without its CRLF, NUL-terminated, at most max-1 bytes) into line. */
static line_result read_line(session *s, char *line, size_t max, size_t *len)
{
    size_t used = 0;
    bool too_long = false;
    time_t idle_until = time(NULL) + SMTP_IDLE_S;
    for (;;) {
        while (s->start < s->end) {
            char c = s->buf[s->start++];
            if (c == '\n') {
                if (used > 0 && line[used - 1] == '\r')
                    used--;
                line[used] = '\0';
                *len = used;
                return too_long ? LINE_TOO_LONG : LINE_OK;
            }
            if (used + 1 < max)
                line[used++] = c;
            else
                too_long = true;
        }
        if (atomic_load(&stopping) || time(NULL) > idle_until)
            return LINE_CLOSED;
        if (!s->tls || SSL_pending(s->tls) == 0) {
            struct pollfd p = {.fd = s->fd, .events = POLLIN};
            int r = poll(&p, 1, POLL_MS);
            if (r < 0 && errno != EINTR)
                return LINE_CLOSED;
            if (r <= 0)
                continue;
        }
        ssize_t n;
        if (s->tls) {
            int got = SSL_read(s->tls, s->buf, (int)sizeof s->buf);
            if (got <= 0) {
                int e = SSL_get_error(s->tls, got);
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                    continue; /* the read timed out mid-record: look around, then go on */
                return LINE_CLOSED;
            }
            n = got;
        } else {
            n = recv(s->fd, s->buf, sizeof s->buf, 0);
        }
        if (n <= 0)
            return LINE_CLOSED;
        s->start = 0;
        s->end = (size_t)n;
    }
}

/* ---- helpers ---- */

static double random_draw(void)
{
    uint32_t v = 0;
    if (RAND_bytes((unsigned char *)&v, sizeof v) != 1)
        v = (uint32_t)rand();
    return (double)v / 4294967296.0;
}

static sim_slot *mail_slot(void)
{
    return registry_find(SMTP_BACKEND_NAME, strlen(SMTP_BACKEND_NAME));
}

static void count_attempt(void)
{
    sim_state_lock();
    mail_slot()->record.attempts++;
    sim_state_unlock();
}

/* The reply that refuses this command under the current fault, or NULL to go on. *delay_ms
 * is set for the slow fault. at_rcpt says which command is asking. */
static const char *fault_reply(bool at_rcpt, char *buf, size_t len, unsigned *delay_ms)
{
    sim_state_lock();
    fault_config cfg = mail_slot()->faults;
    sim_state_unlock();
    *delay_ms = 0;
    fault_action a = faults_decide(&cfg, random_draw());
    if (a == FAULT_ACT_DELAY && !at_rcpt)
        *delay_ms = cfg.delay_ms;
    if ((a != FAULT_ACT_ERROR && a != FAULT_ACT_REJECT) || cfg.smtp_at_rcpt != at_rcpt)
        return NULL;
    /* a fault with a count hits that many commands, then the sink is up again */
    sim_state_lock();
    (void)faults_take(&mail_slot()->faults, false);
    sim_state_unlock();
    bool permanent = a == FAULT_ACT_REJECT;
    unsigned code = cfg.smtp_code ? cfg.smtp_code : permanent ? 550 : 451;
    snprintf(buf, len, "%u %s", code,
             code >= 500 ? "5.7.1 message refused by the partner's mail server (simulated)"
                         : "4.3.0 temporary failure, try again later (simulated)");
    return buf;
}

/* The address inside "<...>" after a "FROM:" or "TO:" prefix; false when malformed. */
static bool parse_path(const char *arg, const char *prefix, char *out, size_t outlen)
{
    size_t plen = strlen(prefix);
    if (strncasecmp(arg, prefix, plen) != 0)
        return false;
    arg += plen;
    while (*arg == ' ')
        arg++;
    const char *close = *arg == '<' ? strchr(arg, '>') : NULL;
    if (!close || (size_t)(close - arg - 1) >= outlen)
        return false;
    snprintf(out, outlen, "%.*s", (int)(close - arg - 1), arg + 1);
    return true;
}

/* Base64-decodes text into out (NUL-terminated); the decoded length, or -1. */
static int base64_decode(const char *text, unsigned char *out, size_t outlen)
{
    size_t len = strlen(text);
    if (len == 0 || len % 4 != 0 || len / 4 * 3 + 1 > outlen)
        return -1;
    int n = EVP_DecodeBlock(out, (const unsigned char *)text, (int)len);
    if (n < 0)
        return -1;
    if (text[len - 1] == '=')
        n--;
    if (text[len - 2] == '=')
        n--;
    out[n] = '\0';
    return n;
}

static bool credentials_ok(const char *user, const char *password)
{
    return auth_user && auth_password && strcmp(user, auth_user) == 0 &&
           strcmp(password, auth_password) == 0;
}

static void reset_transaction(session *s)
{
    s->have_mail = false;
    s->from[0] = '\0';
    json_array_clear(s->rcpt);
    free(s->data);
    s->data = NULL;
    s->data_len = 0;
}

/* The value of header `name` in the message's header block, unfolded; "" when absent. */
static void header_value(const char *msg, size_t len, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    out[0] = '\0';
    for (size_t at = 0; at < len;) {
        const char *line = msg + at;
        const char *eol = memchr(line, '\n', len - at);
        size_t llen = eol ? (size_t)(eol - line) : len - at;
        if (llen == 0 || (llen == 1 && line[0] == '\r'))
            return; /* end of headers */
        if (llen > nlen && line[nlen] == ':' && strncasecmp(line, name, nlen) == 0) {
            const char *v = line + nlen + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t vlen = llen - (size_t)(v - line);
            if (vlen > 0 && v[vlen - 1] == '\r')
                vlen--;
            snprintf(out, outlen, "%.*s", (int)vlen, v);
            return;
        }
        at += llen + 1;
    }
}

/* ---- commands ---- */

/* STARTTLS: the handshake on the same socket; everything known before it is forgotten. */
static bool do_starttls(session *s)
{
    if (!tls_ctx)
        return reply(s, "454 4.7.0 TLS not available");
    if (s->tls)
        return reply(s, "503 5.5.1 TLS already active");
    if (!reply(s, "220 2.0.0 Ready to start TLS"))
        return false;
    s->start = s->end = 0; /* no plaintext sent after STARTTLS may leak into the session */
    s->authed = false;
    reset_transaction(s);
    s->tls = SSL_new(tls_ctx);
    if (!s->tls || SSL_set_fd(s->tls, s->fd) != 1)
        return false;
    time_t until = time(NULL) + HANDSHAKE_S;
    for (;;) {
        int r = SSL_accept(s->tls);
        if (r == 1)
            return true;
        int e = SSL_get_error(s->tls, r);
        if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) || time(NULL) > until ||
            atomic_load(&stopping)) {
            fprintf(stderr, "smtp STARTTLS handshake failed\n");
            return false;
        }
    }
}

static bool do_auth(session *s, const char *arg)
{
    char user[USER_MAX] = "", password[USER_MAX] = "", line[SMTP_LINE_MAX];
    unsigned char dec[SMTP_LINE_MAX];
    size_t len = 0;
    if (!auth_user)
        return reply(s, "503 5.5.1 AUTH not available");
    if (s->authed)
        return reply(s, "503 5.5.1 already authenticated");
    if (strncasecmp(arg, "PLAIN", 5) == 0) {
        const char *initial = arg[5] == ' ' ? arg + 6 : NULL;
        if (!initial) {
            if (!reply(s, "334 ") || read_line(s, line, sizeof line, &len) != LINE_OK)
                return false;
            initial = line;
        }
        int n = base64_decode(initial, dec, sizeof dec);
        /* authzid NUL authcid NUL passwd */
        const unsigned char *u = n > 0 ? memchr(dec, '\0', (size_t)n) : NULL;
        const unsigned char *p = u ? memchr(u + 1, '\0', (size_t)(dec + n - u - 1)) : NULL;
        if (p) {
            snprintf(user, sizeof user, "%.*s", (int)(p - u - 1), (const char *)u + 1);
            snprintf(password, sizeof password, "%.*s", (int)(dec + n - p - 1),
                     (const char *)p + 1);
        }
    } else if (strncasecmp(arg, "LOGIN", 5) == 0) {
        if (arg[5] == ' ') {
            if (base64_decode(arg + 6, dec, sizeof dec) >= 0)
                snprintf(user, sizeof user, "%.*s", (int)sizeof user - 1, (const char *)dec);
        } else {
            if (!reply(s, "334 VXNlcm5hbWU6") || read_line(s, line, sizeof line, &len) != LINE_OK)
                return false;
            if (base64_decode(line, dec, sizeof dec) >= 0)
                snprintf(user, sizeof user, "%.*s", (int)sizeof user - 1, (const char *)dec);
        }
        if (!reply(s, "334 UGFzc3dvcmQ6") || read_line(s, line, sizeof line, &len) != LINE_OK)
            return false;
        if (base64_decode(line, dec, sizeof dec) >= 0)
            snprintf(password, sizeof password, "%.*s", (int)sizeof password - 1,
                     (const char *)dec);
    } else {
        return reply(s, "504 5.5.4 mechanism not supported");
    }
    if (!credentials_ok(user, password)) {
        count_attempt();
        fprintf(stderr, "smtp AUTH refused\n");
        return reply(s, "535 5.7.8 Authentication credentials invalid");
    }
    s->authed = true;
    snprintf(s->user, sizeof s->user, "%s", user);
    return reply(s, "235 2.7.0 Authentication successful");
}

static bool do_rcpt(session *s, const char *arg)
{
    char addr[ADDRESS_MAX], buf[SMTP_LINE_MAX];
    unsigned delay = 0;
    if (!s->have_mail)
        return reply(s, "503 5.5.1 MAIL first");
    if (!parse_path(arg, "TO:", addr, sizeof addr) || !*addr)
        return reply(s, "501 5.1.3 bad recipient address syntax");
    if (json_array_size(s->rcpt) >= SMTP_RECIPIENTS_MAX)
        return reply(s, "452 4.5.3 too many recipients");
    const char *refused = fault_reply(true, buf, sizeof buf, &delay);
    if (refused)
        return reply(s, refused);
    json_array_append_new(s->rcpt, json_string(addr));
    return reply(s, "250 2.1.5 OK");
}

/* Reads the message up to the lone "."; false when the connection ended. */
static bool read_data(session *s, bool *too_large)
{
    char line[SMTP_LINE_MAX + 2];
    size_t len = 0;
    *too_large = false;
    for (;;) {
        line_result r = read_line(s, line, sizeof line, &len);
        if (r == LINE_CLOSED)
            return false;
        if (r == LINE_OK && len == 1 && line[0] == '.')
            return true;
        const char *text = line[0] == '.' ? line + 1 : line; /* dot-stuffing */
        size_t tlen = line[0] == '.' ? len - 1 : len;
        if (r == LINE_TOO_LONG || s->data_len + tlen + 2 > SMTP_MESSAGE_MAX) {
            *too_large = true;
            continue;
        }
        if (*too_large)
            continue;
        char *grown = realloc(s->data, s->data_len + tlen + 3);
        if (!grown) {
            *too_large = true;
            continue;
        }
        s->data = grown;
        memcpy(s->data + s->data_len, text, tlen);
        memcpy(s->data + s->data_len + tlen, "\r\n", 3);
        s->data_len += tlen + 2;
    }
}

static bool record_message(session *s, char *queue_reply, size_t len)
{
    char message_id[HEADER_VALUE_MAX], reference[HEADER_VALUE_MAX];
    const char *body = s->data ? s->data : "";
    header_value(body, s->data_len, "Message-ID", message_id, sizeof message_id);
    header_value(body, s->data_len, "X-Onestop-Reference", reference, sizeof reference);
    json_t *extra =
        json_pack("{s:s,s:o,s:s?,s:s?,s:b}", "mail_from", s->from, "rcpt_to",
                  json_deep_copy(s->rcpt), "message_id", *message_id ? message_id : NULL,
                  "auth_user", s->authed ? s->user : NULL, "tls", s->tls != NULL);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    sim_state_lock();
    snprintf(queue_reply, len, "250 2.0.0 OK queued as MAIL-%06lu", ++message_counter);
    record_entry e = {
        .method = "SMTP",
        .path = "/" SMTP_BACKEND_NAME,
        .body = body,
        .body_len = s->data_len,
        .received_at = now,
        .reference = *reference ? reference : NULL,
        .status = 250,
        .response = queue_reply,
        .extra = extra,
    };
    bool ok = extra && record_add(&mail_slot()->record, &e);
    sim_state_unlock();
    json_decref(extra);
    return ok;
}

static bool do_data(session *s)
{
    char buf[SMTP_LINE_MAX];
    unsigned delay = 0;
    bool too_large = false;
    if (!s->have_mail || json_array_size(s->rcpt) == 0)
        return reply(s, "503 5.5.1 RCPT first");
    if (!reply(s, "354 End data with <CR><LF>.<CR><LF>") || !read_data(s, &too_large))
        return false;
    bool ok;
    if (too_large) {
        ok = reply(s, "552 5.3.4 message too big");
    } else {
        const char *refused = fault_reply(false, buf, sizeof buf, &delay);
        if (delay && !pipeline_sleep_ms(delay))
            refused = "421 4.3.2 shutting down";
        if (refused)
            ok = reply(s, refused);
        else if (!record_message(s, buf, sizeof buf))
            ok = reply(s, "451 4.3.0 could not record the message");
        else
            ok = reply(s, buf);
    }
    reset_transaction(s);
    return ok;
}

/* One command; false ends the session. */
static bool command(session *s, char *line)
{
    char *arg = strchr(line, ' ');
    if (arg)
        *arg++ = '\0';
    else
        arg = line + strlen(line);
    if (strcasecmp(line, "EHLO") == 0) {
        char ehlo[SMTP_LINE_MAX];
        reset_transaction(s);
        snprintf(ehlo, sizeof ehlo, "250-" HOSTNAME "\r\n%s%s250-SIZE %u\r\n250 8BITMIME",
                 tls_ctx && !s->tls ? "250-STARTTLS\r\n" : "",
                 auth_user && (s->tls || !tls_ctx) ? "250-AUTH PLAIN LOGIN\r\n" : "",
                 SMTP_MESSAGE_MAX);
        return reply(s, ehlo);
    }
    if (strcasecmp(line, "HELO") == 0) {
        reset_transaction(s);
        return reply(s, "250 " HOSTNAME);
    }
    if (strcasecmp(line, "STARTTLS") == 0)
        return do_starttls(s);
    /* with a certificate, TLS comes before anything that carries secrets or mail */
    if (tls_ctx && !s->tls && (strcasecmp(line, "AUTH") == 0 || strcasecmp(line, "MAIL") == 0))
        return reply(s, "530 5.7.0 Must issue a STARTTLS command first");
    if (strcasecmp(line, "AUTH") == 0)
        return do_auth(s, arg);
    if (strcasecmp(line, "MAIL") == 0) {
        if (auth_user && !s->authed)
            return reply(s, "530 5.7.0 Authentication required");
        if (s->have_mail)
            return reply(s, "503 5.5.1 nested MAIL");
        if (!parse_path(arg, "FROM:", s->from, sizeof s->from))
            return reply(s, "501 5.1.7 bad sender address syntax");
        count_attempt();
        s->have_mail = true;
        return reply(s, "250 2.1.0 OK");
    }
    if (strcasecmp(line, "RCPT") == 0)
        return do_rcpt(s, arg);
    if (strcasecmp(line, "DATA") == 0)
        return do_data(s);
    if (strcasecmp(line, "RSET") == 0) {
        reset_transaction(s);
        return reply(s, "250 2.0.0 OK");
    }
    if (strcasecmp(line, "NOOP") == 0)
        return reply(s, "250 2.0.0 OK");
    if (strcasecmp(line, "QUIT") == 0) {
        (void)reply(s, "221 2.0.0 bye");
        return false;
    }
    return reply(s, "502 5.5.2 command not recognised");
}

static void *connection_main(void *arg)
{
    session *s = arg;
    char line[SMTP_LINE_MAX + 2];
    size_t len = 0;
    sim_state_lock();
    bool down = mail_slot()->faults.mode == FAULT_DOWN;
    sim_state_unlock();
    if (down) {
        count_attempt();
        (void)reply(s, "421 4.3.2 service not available (simulated)");
        goto out;
    }
    if (!reply(s, "220 " HOSTNAME " ESMTP ready"))
        goto out;
    for (;;) {
        line_result r = read_line(s, line, sizeof line, &len);
        if (r == LINE_CLOSED)
            break;
        if (r == LINE_TOO_LONG) {
            if (!reply(s, "500 5.5.6 line too long"))
                break;
            continue;
        }
        if (!command(s, line))
            break;
    }
out:
    if (s->tls) {
        (void)SSL_shutdown(s->tls);
        SSL_free(s->tls);
    }
    close(s->fd);
    reset_transaction(s);
    json_decref(s->rcpt);
    free(s);
    pthread_mutex_lock(&conn_lock);
    conn_count--;
    pthread_cond_broadcast(&conn_cond);
    pthread_mutex_unlock(&conn_lock);
    return NULL;
}

/* ---- accepting ---- */

static void start_connection(int fd)
{
    pthread_mutex_lock(&conn_lock);
    bool full = conn_count >= SMTP_CONNECTIONS_MAX;
    if (!full)
        conn_count++;
    pthread_mutex_unlock(&conn_lock);
    if (full) {
        static const char busy[] = "421 4.7.0 too many connections\r\n";
        (void)!send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL);
        close(fd);
        return;
    }
    session *s = calloc(1, sizeof *s);
    pthread_t t;
    pthread_attr_t attr;
    bool started = false;
    struct timeval rcv = {.tv_sec = 0, .tv_usec = READ_TIMEOUT_MS * 1000};
    if (s && (s->rcpt = json_array()) && pthread_attr_init(&attr) == 0) {
        s->fd = fd;
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rcv, sizeof rcv);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        started = pthread_create(&t, &attr, connection_main, s) == 0;
        pthread_attr_destroy(&attr);
    }
    if (started)
        return;
    if (s)
        json_decref(s->rcpt);
    free(s);
    close(fd);
    pthread_mutex_lock(&conn_lock);
    conn_count--;
    pthread_cond_broadcast(&conn_cond);
    pthread_mutex_unlock(&conn_lock);
}

static void *accept_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&stopping)) {
        struct pollfd p = {.fd = listen_fd, .events = POLLIN};
        if (poll(&p, 1, POLL_MS) <= 0)
            continue;
        int fd = accept(listen_fd, NULL, NULL);
        if (fd >= 0)
            start_connection(fd);
    }
    return NULL;
}

/* The server side of STARTTLS, from a certificate (chain) and key in PEM files. */
static SSL_CTX *tls_context(const char *cert_file, const char *key_file)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        unsigned long e = ERR_get_error();
        fprintf(stderr, "onestop-sim: cannot use %s and %s for STARTTLS: %s\n", cert_file, key_file,
                e ? ERR_reason_error_string(e) : "unknown error");
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

bool smtp_start(const char *host, uint16_t port, const char *user, const char *password,
                const char *cert_file, const char *key_file, uint16_t *bound_port)
{
    if (cert_file && !(tls_ctx = tls_context(cert_file, key_file)))
        return false;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    int one = 1;
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "onestop-sim: bad SMTP listen address %s\n", host);
        return false;
    }
    auth_user = user;
    auth_password = password;
    atomic_store(&stopping, false);
    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    socklen_t alen = sizeof addr;
    if (listen_fd < 0 || setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(listen_fd, LISTEN_BACKLOG) != 0 ||
        getsockname(listen_fd, (struct sockaddr *)&addr, &alen) != 0) {
        fprintf(stderr, "onestop-sim: cannot listen for SMTP on %s:%u: %s\n", host, (unsigned)port,
                strerror(errno));
        if (listen_fd >= 0)
            close(listen_fd);
        listen_fd = -1;
        return false;
    }
    if (pthread_create(&accept_thread, NULL, accept_main, NULL) != 0) {
        fprintf(stderr, "onestop-sim: cannot start the SMTP thread\n");
        close(listen_fd);
        listen_fd = -1;
        return false;
    }
    accept_running = true;
    *bound_port = ntohs(addr.sin_port);
    return true;
}

void smtp_stop(void)
{
    if (!accept_running)
        return;
    atomic_store(&stopping, true);
    pthread_join(accept_thread, NULL);
    accept_running = false;
    close(listen_fd);
    listen_fd = -1;
    pthread_mutex_lock(&conn_lock);
    while (conn_count > 0)
        pthread_cond_wait(&conn_cond, &conn_lock);
    pthread_mutex_unlock(&conn_lock);
    SSL_CTX_free(tls_ctx);
    tls_ctx = NULL;
}
