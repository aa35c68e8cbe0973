/* connector: the table of connectors and what they share (reading error answers). */
#include "gateway/delivery/connector.h"
#include "gateway/delivery/connector_email.h"

#include "gateway/config.h"
#include "gateway/strbuf.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void connector_request_clear(struct connector_request *req)
{
    free(req->body);
    req->body = NULL;
    req->body_len = 0;
}

const struct connector *connector_find(const char *name)
{
    static const struct connector *const all[] = {&connector_json_rest, &connector_open311,
                                                  &connector_email, &connector_fhir,
                                                  &connector_multipart};
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(all[i]->name, name) == 0)
            return all[i];
    return NULL;
}

/* ---- checking a stored payload is a JSON object, without building it ----
 * The rules are jansson's (json_loadb with no flags), so a payload passes here exactly when
 * json_loadb would return an object for it: strict RFC 8259 grammar, UTF-8 checked everywhere
 * (no overlong forms, surrogates or code points past U+10FFFF), no \u0000, surrogate escapes
 * only in pairs, integers that fit a long long, reals that do not overflow, values nested at
 * most JSON_NEST_MAX deep, nothing but whitespace after the object. */

#define JSON_NEST_MAX   2048 /* jansson's JSON_PARSER_MAX_DEPTH */
#define JSON_NUMBER_MAX 64   /* longer numbers are checked from a heap copy */

struct json_scan {
    const char *p, *end;
    int depth;
};

static void scan_ws(struct json_scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

/* One UTF-8 sequence of two or more bytes at s->p (its first byte >= 0x80). */
static bool scan_utf8(struct json_scan *s)
{
    const unsigned char *u = (const unsigned char *)s->p;
    size_t left = (size_t)(s->end - s->p);
    size_t n;
    uint32_t v;
    if (u[0] >= 0xC2 && u[0] <= 0xDF) {
        n = 2;
        v = u[0] & 0x1F;
    } else if (u[0] >= 0xE0 && u[0] <= 0xEF) {
        n = 3;
        v = u[0] & 0x0F;
    } else if (u[0] >= 0xF0 && u[0] <= 0xF4) {
        n = 4;
        v = u[0] & 0x07;
    } else {
        return false;
    }
    if (left < n)
        return false;
    for (size_t i = 1; i < n; i++) {
        if ((u[i] & 0xC0) != 0x80)
            return false;
        v = (v << 6) | (u[i] & 0x3F);
    }
    if ((n == 3 && v < 0x800) || (n == 4 && v < 0x10000) || v > 0x10FFFF ||
        (v >= 0xD800 && v <= 0xDFFF))
        return false;
    s->p += n;
    return true;
}

/* Four hex digits after "\u" into *v. */
static bool scan_hex4(struct json_scan *s, uint32_t *v)
{
    if (s->end - s->p < 4)
        return false;
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s->p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return false;
        *v = (*v << 4) | (uint32_t)d;
    }
    s->p += 4;
    return true;
}

/* A string, s->p at its opening quote. */
static bool scan_string(struct json_scan *s)
{
    s->p++;
    while (s->p < s->end) {
        unsigned char c = (unsigned char)*s->p;
        if (c == '"') {
            s->p++;
            return true;
        }
        if (c < 0x20)
            return false;
        if (c >= 0x80) {
            if (!scan_utf8(s))
                return false;
            continue;
        }
        s->p++;
        if (c != '\\')
            continue;
        if (s->p >= s->end)
            return false;
        c = (unsigned char)*s->p++;
        if (c != 'u') {
            if (!strchr("\"\\/bfnrt", c) || c == '\0')
                return false;
            continue;
        }
        uint32_t v;
        if (!scan_hex4(s, &v) || v == 0 || (v >= 0xDC00 && v <= 0xDFFF))
            return false;
        if (v >= 0xD800 && v <= 0xDBFF) { /* a high surrogate: its low one must follow */
            uint32_t lo;
            if (s->end - s->p < 2 || s->p[0] != '\\' || s->p[1] != 'u')
                return false;
            s->p += 2;
            if (!scan_hex4(s, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                return false;
        }
    }
    return false;
}

static bool scan_digits(struct json_scan *s)
{
    const char *start = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        s->p++;
    return s->p > start;
}

/* A number: its grammar, then whether its value fits as jansson keeps it. */
static bool scan_number(struct json_scan *s)
{
    const char *start = s->p;
    bool real = false;
    if (*s->p == '-')
        s->p++;
    if (s->p < s->end && *s->p == '0') {
        s->p++;
        if (s->p < s->end && *s->p >= '0' && *s->p <= '9')
            return false;
    } else if (!scan_digits(s)) {
        return false;
    }
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        real = true;
        if (!scan_digits(s))
            return false;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        real = true;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (!scan_digits(s))
            return false;
    }
    size_t len = (size_t)(s->p - start);
    char small[JSON_NUMBER_MAX];
    char *text = len < sizeof small ? small : malloc(len + 1);
    if (!text)
        return false;
    memcpy(text, start, len);
    text[len] = '\0';
    errno = 0;
    bool fits;
    if (real) {
        double d = strtod(text, NULL);
        fits = !((d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE);
    } else {
        (void)strtoll(text, NULL, 10);
        fits = errno != ERANGE;
    }
    if (text != small)
        free(text);
    return fits;
}

static bool scan_value(struct json_scan *s);

/* An array or an object, s->p at its opening bracket. */
static bool scan_container(struct json_scan *s, bool object)
{
    char close = object ? '}' : ']';
    s->depth++;
    s->p++;
    scan_ws(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        s->depth--;
        return true;
    }
    for (;;) {
        if (object) {
            if (s->p >= s->end || *s->p != '"' || !scan_string(s))
                return false;
            scan_ws(s);
            if (s->p >= s->end || *s->p != ':')
                return false;
            s->p++;
            scan_ws(s);
        }
        if (!scan_value(s))
            return false;
        scan_ws(s);
        if (s->p >= s->end)
            return false;
        if (*s->p == close) {
            s->p++;
            s->depth--;
            return true;
        }
        if (*s->p != ',')
            return false;
        s->p++;
        scan_ws(s);
    }
}

static bool scan_literal(struct json_scan *s, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return false;
    s->p += n;
    return true;
}

/* A value, s->p at its first character (whitespace before it skipped). */
static bool scan_value(struct json_scan *s)
{
    /* jansson counts every value, scalars too, into its depth */
    if (s->p >= s->end || s->depth + 1 > JSON_NEST_MAX)
        return false;
    switch (*s->p) {
    case '{':
        return scan_container(s, true);
    case '[':
        return scan_container(s, false);
    case '"':
        return scan_string(s);
    case 't':
        return scan_literal(s, "true");
    case 'f':
        return scan_literal(s, "false");
    case 'n':
        return scan_literal(s, "null");
    default:
        return (*s->p == '-' || (*s->p >= '0' && *s->p <= '9')) && scan_number(s);
    }
}

bool connector_json_object_valid(const char *text, size_t len)
{
    if (!text || memchr(text, '\0', len))
        return false; /* jansson stops at a NUL: never an object with its rest */
    struct json_scan s = {text, text + len, 0};
    scan_ws(&s);
    if (s.p >= s.end || *s.p != '{' || !scan_container(&s, true))
        return false;
    scan_ws(&s);
    return s.p == s.end;
}

/* The message in an error body, or NULL. Borrowed from doc. */
static const char *error_text(const json_t *doc)
{
    if (json_is_array(doc)) /* Open311: [{"code":400,"description":"..."}] */
        doc = json_array_get(doc, 0);
    if (!json_is_object(doc))
        return NULL;
    const char *keys[] = {"description", "message"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *s = json_string_value(json_object_get(doc, keys[i]));
        if (s && *s)
            return s;
    }
    const json_t *err = json_object_get(doc, "error");
    if (json_is_string(err) && *json_string_value(err))
        return json_string_value(err);
    if (json_is_object(err)) {
        const char *s = json_string_value(json_object_get(err, "message"));
        if (s && *s)
            return s;
        s = json_string_value(json_object_get(err, "code"));
        if (s && *s)
            return s;
    }
    return NULL;
}

#define LOOKUP_PLACEHOLDER "{reference}"
#define LOOKUP_QUERY_MAX   1024 /* bytes of a look-up query after encoding */
#define ERROR_CODE_MAX     64   /* characters of an Open311 error code we show */

/* Appends s[0..len) percent-encoded, with {reference} replaced by the encoded reference. */
static bool append_encoded(struct strbuf *q, const char *s, size_t len, const char *reference)
{
    const size_t ph = strlen(LOOKUP_PLACEHOLDER);
    while (len > 0) {
        const char *at = NULL;
        for (size_t i = 0; i + ph <= len; i++)
            if (memcmp(s + i, LOOKUP_PLACEHOLDER, ph) == 0) {
                at = s + i;
                break;
            }
        size_t plain = at ? (size_t)(at - s) : len;
        if (plain > 0) {
            char *e = curl_easy_escape(NULL, s, (int)plain);
            bool ok = e && strbuf_append(q, e, strlen(e));
            curl_free(e);
            if (!ok)
                return false;
        }
        if (!at)
            return true;
        char *r = curl_easy_escape(NULL, reference, 0);
        bool ok = r && strbuf_append(q, r, strlen(r));
        curl_free(r);
        if (!ok)
            return false;
        s = at + ph;
        len -= plain + ph;
    }
    return true;
}

bool connector_build_lookup(const struct backend_config *be, const char *def_path,
                            const char *def_query, const char *reference,
                            struct connector_request *out, char *err, size_t errlen)
{
    *out = (struct connector_request){.method = "GET"};
    const char *path = be->lookup_path && *be->lookup_path ? be->lookup_path : def_path;
    const char *query = be->lookup_query && *be->lookup_query ? be->lookup_query : def_query;
    bool ok = false;
    struct strbuf q;
    strbuf_init(&q, LOOKUP_QUERY_MAX);
    if (!reference || !*reference) {
        snprintf(err, errlen, "no reference to look up");
        goto out;
    }
    for (const char *p = query; *p;) {
        const char *amp = strchr(p, '&');
        size_t pair = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', pair);
        size_t name = eq ? (size_t)(eq - p) : pair;
        if (name > 0) {
            if ((q.len > 0 && !strbuf_append(&q, "&", 1)) ||
                !append_encoded(&q, p, name, reference) ||
                (eq && (!strbuf_append(&q, "=", 1) ||
                        !append_encoded(&q, eq + 1, pair - name - 1, reference))))
                goto too_long;
        }
        p += pair + (amp ? 1 : 0);
    }
    int n = snprintf(out->path, sizeof out->path, "%s%s%s", path, q.len ? "?" : "",
                     q.len ? q.data : "");
    if (n < 0 || (size_t)n >= sizeof out->path)
        goto too_long;
    ok = true;
    goto out;
too_long:
    snprintf(err, errlen, "the look-up path is longer than %d bytes", CONNECTOR_PATH_MAX - 1);
out:
    strbuf_free(&q);
    return ok;
}

/* The code of an Open311 error [{"code","description"}] when it says more than the HTTP status
 * does (a string, or another number), into buf; NULL otherwise. */
static const char *error_code(const json_t *doc, int http_status, char *buf, size_t len)
{
    if (!json_is_array(doc))
        return NULL;
    const json_t *code = json_object_get(json_array_get(doc, 0), "code");
    if (json_is_string(code) && *json_string_value(code)) {
        snprintf(buf, len, "%.*s", ERROR_CODE_MAX, json_string_value(code));
        return buf;
    }
    if (json_is_integer(code) && json_integer_value(code) != http_status) {
        snprintf(buf, len, "%lld", (long long)json_integer_value(code));
        return buf;
    }
    return NULL;
}

/* The end of out[from..at) without an incomplete UTF-8 sequence at its end. */
static size_t utf8_whole(const char *out, size_t from, size_t at)
{
    size_t j = at;
    while (j > from && ((unsigned char)out[j - 1] & 0xC0) == 0x80)
        j--;
    if (j == from)
        return at;
    unsigned char lead = (unsigned char)out[j - 1];
    size_t want = lead < 0x80 ? 1 : (lead & 0xE0) == 0xC0 ? 2 : (lead & 0xF0) == 0xE0 ? 3 : 4;
    return at - (j - 1) < want ? j - 1 : at;
}

void connector_describe_error(int http_status, const char *body, size_t len, char *out,
                              size_t outlen)
{
    int n = snprintf(out, outlen, "HTTP %d", http_status);
    if (n < 0 || (size_t)n >= outlen || !body || len == 0)
        return;
    json_t *doc = json_loadb(body, len, 0, NULL);
    const char *text = error_text(doc);
    if (text) {
        size_t at = (size_t)n;
        const char *sep = ": ";
        for (const char *s = sep; *s && at + 1 < outlen; s++)
            out[at++] = *s;
        size_t kept = 0;
        const unsigned char *s = (const unsigned char *)text;
        for (; *s && at + 1 < outlen && kept < CONNECTOR_MESSAGE_MAX; s++, kept++)
            out[at++] = *s < 0x20 || *s == 0x7f ? ' ' : (char)*s;
        if (*s) /* cut short: do not leave half a UTF-8 sequence */
            at = utf8_whole(out, (size_t)n, at);
        out[at] = '\0';
        char code_buf[ERROR_CODE_MAX + 1];
        const char *code = error_code(doc, http_status, code_buf, sizeof code_buf);
        if (code) {
            size_t room = outlen - at;
            int m = snprintf(out + at, room, " (code %s)", code);
            if (m < 0 || (size_t)m >= room)
                out[at] = '\0'; /* no room: the description alone */
            else
                for (char *c = out + at; *c; c++)
                    *c = (unsigned char)*c < 0x20 || *c == 0x7f ? ' ' : *c;
        }
    }
    json_decref(doc);
}
