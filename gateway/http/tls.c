/* tls: reads the listener's certificate and key into memory for MHD_OPTION_HTTPS_MEM_CERT/KEY.
 *
 * DESIGN: libmicrohttpd takes PEM text, not file names, and hands it to GnuTLS when the daemon
 * starts; the text must stay alive while the daemon runs. The protocol versions and ciphers are
 * the priority string in config (HTTP_TLS_PRIORITIES by default). The key's text is wiped
 * before it is freed. */
#include "gateway/http/tls.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool read_pem(const char *path, char **out, char *err, size_t errlen)
{
    bool ok = false;
    char *text = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        goto out;
    }
    text = malloc(HTTP_TLS_PEM_MAX + 1);
    if (!text) {
        snprintf(err, errlen, "out of memory reading %s", path);
        goto out;
    }
    size_t n = fread(text, 1, HTTP_TLS_PEM_MAX + 1, f);
    if (ferror(f) || n == 0 || n > HTTP_TLS_PEM_MAX) {
        snprintf(err, errlen, "%s is empty, unreadable or larger than %d bytes", path,
                 HTTP_TLS_PEM_MAX);
        goto out;
    }
    text[n] = '\0';
    if (!strstr(text, "-----BEGIN ")) {
        snprintf(err, errlen, "%s is not a PEM file", path);
        goto out;
    }
    *out = text;
    text = NULL;
    ok = true;
out:
    if (text) {
        OPENSSL_cleanse(text, HTTP_TLS_PEM_MAX + 1);
        free(text);
    }
    if (f)
        fclose(f);
    return ok;
}

bool http_tls_load(const char *cert_file, const char *key_file, struct http_tls *out, char *err,
                   size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!read_pem(cert_file, &out->cert, err, errlen))
        return false;
    if (!read_pem(key_file, &out->key, err, errlen)) {
        http_tls_free(out);
        return false;
    }
    return true;
}

void http_tls_free(struct http_tls *tls)
{
    if (tls->key) {
        OPENSSL_cleanse(tls->key, strlen(tls->key));
        free(tls->key);
    }
    free(tls->cert);
    tls->cert = tls->key = NULL;
}
