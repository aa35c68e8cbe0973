/* printer_socket: raw TCP printing ("socket://host:port", the JetDirect/port 9100
 * convention) for ESC/POS thermal printers.
 *
 * Connect with a bounded wait (non-blocking connect + poll), write every byte with a
 * bounded wait per write, half-close and close. Such printers report nothing back, so
 * the job counts as done once the bytes are written. Failures to connect are RETRY:
 * the printer may be off, rebooting or out of network for a moment. */
#include "printing/printer_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SOCKET_SCHEME_LEN 9 /* "socket://" */
#define HOST_MAX          256
#define PORT_MAX_DIGITS   6

/* Splits "socket://host:port/..." into host and port text. IPv6 hosts in brackets. */
static bool parse_socket_uri(const char *uri, char *host, size_t host_len, char *port,
                             size_t port_len)
{
    const char *p = uri + SOCKET_SCHEME_LEN;
    const char *host_end;
    const char *after;
    if (*p == '[') {
        host_end = strchr(p, ']');
        if (host_end == NULL) {
            return false;
        }
        p++;
        after = host_end + 1;
    } else {
        host_end = p + strcspn(p, ":/?");
        after = host_end;
    }
    size_t hl = (size_t)(host_end - p);
    if (hl == 0 || hl >= host_len) {
        return false;
    }
    memcpy(host, p, hl);
    host[hl] = '\0';
    if (*after == ':') {
        after++;
        size_t pl = strspn(after, "0123456789");
        if (pl == 0 || pl >= port_len || (after[pl] != '\0' && after[pl] != '/')) {
            return false;
        }
        memcpy(port, after, pl);
        port[pl] = '\0';
        char *end;
        long v = strtol(port, &end, 10);
        if (*end != '\0' || v < 1 || v > 65535) {
            return false;
        }
    } else if (*after == '\0' || *after == '/') {
        snprintf(port, port_len, "%d", PRINTER_DEFAULT_RAW_PORT);
    } else {
        return false;
    }
    return true;
}

/* Connects to one address within timeout_ms. Returns the socket or -1 with errno set
 * (ETIMEDOUT if the wait ran out). */
static int connect_bounded(const struct addrinfo *ai, int timeout_ms)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) {
        return -1;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
        return fd;
    }
    if (errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    int r;
    do {
        r = poll(&pfd, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    if (r <= 0) {
        close(fd);
        errno = r == 0 ? ETIMEDOUT : errno;
        return -1;
    }
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
        close(fd);
        errno = err != 0 ? err : EIO;
        return -1;
    }
    return fd;
}

/* Writes all len bytes, waiting at most timeout_ms for the socket to take each piece. */
static bool write_all(int fd, const unsigned char *p, size_t len, int timeout_ms)
{
    while (len > 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int r = poll(&pfd, 1, timeout_ms);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            errno = r == 0 ? ETIMEDOUT : errno;
            return false;
        }
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) {
                continue;
            }
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

void printer_probe(const char *host, int port, char *why, size_t why_len)
{
    char port_text[PORT_MAX_DIGITS + 2];
    snprintf(port_text, sizeof port_text, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, port_text, &hints, &res);
    if (gai != 0) {
        snprintf(why, why_len, "cannot find host %s: %s", host, gai_strerror(gai));
        return;
    }
    int fd = -1;
    int err = 0;
    for (const struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = connect_bounded(ai, PRINTER_PROBE_TIMEOUT_MS);
        if (fd < 0) {
            err = errno;
        }
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        close(fd);
        snprintf(why, why_len, "connection failed");
        return;
    }
    printer_strerror(err, why, why_len);
}

enum printer_outcome printer_socket_submit(const struct printer_config *cfg,
                                           const unsigned char *doc, size_t len, char *message,
                                           size_t message_len)
{
    char host[HOST_MAX], port[PORT_MAX_DIGITS], why[160];
    if (!parse_socket_uri(cfg->uri, host, sizeof host, port, sizeof port)) {
        printer_message(message, message_len, "Receipt printer at %s has a bad address %s",
                        cfg->name, cfg->uri);
        return PRINTER_FAILED;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        printer_message(message, message_len, "Receipt printer at %s: cannot find host %s (%s)",
                        cfg->name, host, gai_strerror(gai));
        return PRINTER_RETRY;
    }
    int fd = -1;
    int err = 0;
    for (const struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = connect_bounded(ai, PRINTER_CONNECT_TIMEOUT_MS);
        if (fd < 0) {
            err = errno;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        printer_strerror(err, why, sizeof why);
        printer_message(message, message_len, "Receipt printer at %s is not answering (%s)",
                        cfg->name, why);
        return PRINTER_RETRY;
    }
    bool ok = write_all(fd, doc, len, PRINTER_IO_TIMEOUT_S * PRINTER_MS_PER_S);
    err = errno;
    if (ok) {
        (void)shutdown(fd, SHUT_WR);
    }
    close(fd);
    if (!ok) {
        printer_strerror(err, why, sizeof why);
        printer_message(message, message_len,
                        "Receipt printer at %s stopped taking the receipt (%s)", cfg->name, why);
        return PRINTER_RETRY;
    }
    printer_message(message, message_len, "Receipt sent to %s", cfg->name);
    return PRINTER_DONE;
}
