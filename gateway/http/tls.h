/* tls: the listener's certificate and key, read once at start for libmicrohttpd (GnuTLS). */
#ifndef ONESTOP_HTTP_TLS_H
#define ONESTOP_HTTP_TLS_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_TLS_PEM_MAX (1024 * 1024) /* a certificate chain or key file larger is refused */

struct http_tls {
    char *cert; /* PEM text, NUL-terminated; NULL when the listener is plain HTTP */
    char *key;
};

/* Reads both PEM files. False with a message naming the file in err (nothing is held then).
 * The result is freed with http_tls_free once the listener has stopped: libmicrohttpd keeps
 * pointers to it. */
bool http_tls_load(const char *cert_file, const char *key_file, struct http_tls *out, char *err,
                   size_t errlen) __attribute__((warn_unused_result));
void http_tls_free(struct http_tls *tls);

#endif
