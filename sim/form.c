/*
 * A small application/x-www-form-urlencoded parser. Each field is split at its first
 * '=', and name and value are decoded separately so an encoded '&' or '=' survives.
 */
#include "sim/form.h"

#include <stdlib.h>
#include <string.h>

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *form_decode(const char *s, size_t len)
{
    char *out = malloc(len + 1);
    size_t n = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (len - i < 3)
                goto bad;
            int hi = hex_value(s[i + 1]);
            int lo = hex_value(s[i + 2]);
            if (hi < 0 || lo < 0)
                goto bad;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0')
            goto bad;
        out[n++] = c;
    }
    out[n] = '\0';
    return out;
bad:
    free(out);
    return NULL;
}

bool form_parse(const char *body, size_t len, json_t **out, const char **error)
{
    json_t *fields = json_object();
    size_t pos = 0;

    if (!fields) {
        *error = "out of memory";
        return false;
    }
    while (pos < len) {
        const char *piece = body + pos;
        const char *amp = memchr(piece, '&', len - pos);
        size_t piece_len = amp ? (size_t)(amp - piece) : len - pos;
        pos += piece_len + 1;
        if (piece_len == 0)
            continue;
        const char *eq = memchr(piece, '=', piece_len);
        size_t name_len = eq ? (size_t)(eq - piece) : piece_len;
        char *name = form_decode(piece, name_len);
        char *value = eq ? form_decode(eq + 1, piece_len - name_len - 1) : strdup("");
        json_t *v = value ? json_string(value) : NULL;
        bool ok = true;
        if (!name || !value) {
            *error = "malformed form encoding";
            ok = false;
        } else if (!v) {
            *error = "form values must be UTF-8 text";
            ok = false;
        } else if (json_object_get(fields, name)) {
            *error = "a form field appears twice";
            ok = false;
        } else if (json_object_size(fields) >= FORM_MAX_FIELDS) {
            *error = "too many form fields";
            ok = false;
        } else if (json_object_set(fields, name, v) != 0) {
            *error = "form field names must be UTF-8 text";
            ok = false;
        }
        json_decref(v);
        free(name);
        free(value);
        if (!ok) {
            json_decref(fields);
            return false;
        }
    }
    *out = fields;
    return true;
}
