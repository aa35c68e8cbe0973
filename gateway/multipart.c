/* multipart: a streaming multipart/form-data parser; see multipart.h.
 *
 * DESIGN: one state per place in the grammar (preamble, headers, body, after a delimiter,
 * epilogue). A body part ends at the delimiter CRLF "--" boundary. Boundaries may not hold CR
 * or LF (RFC 2046 bchars), so the only place a delimiter can restart inside a partial match
 * is its first byte: on a mismatch the bytes held so far are plain data, and the byte at hand
 * either starts a new match (a CR) or is data too. The preamble is parsed as if it began with
 * a CRLF, so that the first delimiter, which has none before it, is found by the same rule.
 * Data runs between CRs are handed over whole (memchr), so a large part costs few callbacks.
 */
#include "gateway/multipart.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DELIMITER_MAX (4 + MULTIPART_BOUNDARY_MAX) /* CRLF "--" boundary */

enum mp_state {
    MP_PREAMBLE,    /* before the first delimiter: ignored */
    MP_AFTER_DELIM, /* a delimiter was seen: "--" closes, CRLF starts a part */
    MP_AFTER_DASH,  /* one '-' of the closing "--" */
    MP_AFTER_CR,    /* the CR of the CRLF after a delimiter */
    MP_HEADERS,     /* a part's header lines */
    MP_HEADER_LF,   /* a header line's CR was seen */
    MP_BODY,        /* a part's data */
    MP_EPILOGUE,    /* after the closing delimiter: ignored */
    MP_FAILED,
};

struct multipart {
    const struct multipart_callbacks *cb;
    void *ctx;
    char delimiter[DELIMITER_MAX + 1];
    size_t delimiter_len;
    size_t matched; /* bytes of the delimiter matched so far */
    enum mp_state state;
    enum multipart_result result;
    const char *error;
    char line[MULTIPART_HEADER_LINE_MAX + 1];
    size_t line_len;
    int header_lines;
    struct multipart_part part;
};

static bool is_bchar(int c)
{
    return isalnum(c) || strchr("'()+_,-./:=? ", c) != NULL;
}

/* Copies a parameter value (token or quoted string) starting at p into out; returns the
 * character after it. */
static const char *param_value(const char *p, char *out, size_t outlen)
{
    size_t n = 0;
    if (*p == '"') {
        p++;
        while (*p && *p != '"') {
            if (*p == '\\' && p[1])
                p++;
            if (n + 1 < outlen)
                out[n++] = *p;
            p++;
        }
        if (*p == '"')
            p++;
    } else {
        while (*p && *p != ';' && !isspace((unsigned char)*p)) {
            if (n + 1 < outlen)
                out[n++] = *p;
            p++;
        }
    }
    out[n] = '\0';
    return p;
}

/* Finds parameter `name` in a header value's "; a=b; c=\"d\"" list. */
static bool header_param(const char *value, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    const char *p = strchr(value, ';');
    while (p) {
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncasecmp(p, name, nlen) == 0 && p[nlen] == '=') {
            param_value(p + nlen + 1, out, outlen);
            return true;
        }
        /* skip this parameter, minding quoted semicolons */
        char skip[MULTIPART_HEADER_LINE_MAX + 1];
        const char *eq = p;
        while (*eq && *eq != '=' && *eq != ';')
            eq++;
        p = *eq == '=' ? param_value(eq + 1, skip, sizeof skip) : eq;
        p = strchr(p, ';');
    }
    return false;
}

bool multipart_boundary(const char *content_type, char out[MULTIPART_BOUNDARY_MAX + 1])
{
    static const char type[] = "multipart/form-data";
    if (!content_type)
        return false;
    while (*content_type == ' ')
        content_type++;
    if (strncasecmp(content_type, type, sizeof type - 1) != 0)
        return false;
    char c = content_type[sizeof type - 1];
    if (c != ';' && c != ' ' && c != '\0')
        return false;
    char b[MULTIPART_HEADER_LINE_MAX + 1];
    if (strlen(content_type) > MULTIPART_HEADER_LINE_MAX ||
        !header_param(content_type, "boundary", b, sizeof b))
        return false;
    size_t len = strlen(b);
    if (len == 0 || len > MULTIPART_BOUNDARY_MAX || b[len - 1] == ' ')
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_bchar((unsigned char)b[i]))
            return false;
    memcpy(out, b, len + 1);
    return true;
}

struct multipart *multipart_new(const char *content_type, const struct multipart_callbacks *cb,
                                void *ctx)
{
    char boundary[MULTIPART_BOUNDARY_MAX + 1];
    if (!multipart_boundary(content_type, boundary))
        return NULL;
    struct multipart *mp = calloc(1, sizeof *mp);
    if (!mp)
        return NULL;
    mp->cb = cb;
    mp->ctx = ctx;
    mp->delimiter_len = (size_t)snprintf(mp->delimiter, sizeof mp->delimiter, "\r\n--%s", boundary);
    mp->matched = 2; /* the body's start counts as the CRLF before the first delimiter */
    mp->state = MP_PREAMBLE;
    return mp;
}

void multipart_free(struct multipart *mp)
{
    free(mp);
}

const char *multipart_error(const struct multipart *mp)
{
    return mp->error ? mp->error : "";
}

static enum multipart_result fail(struct multipart *mp, const char *why)
{
    mp->state = MP_FAILED;
    mp->result = MULTIPART_MALFORMED;
    mp->error = why;
    return mp->result;
}

static enum multipart_result stop(struct multipart *mp)
{
    mp->state = MP_FAILED;
    mp->result = MULTIPART_STOPPED;
    return mp->result;
}

/* The file name without any folder a browser or scanner put before it. */
static void strip_path(char *name)
{
    char *slash = strrchr(name, '/');
    char *back = strrchr(name, '\\');
    char *last = slash > back ? slash : back;
    if (last)
        memmove(name, last + 1, strlen(last + 1) + 1);
}

static enum multipart_result header_line(struct multipart *mp)
{
    mp->line[mp->line_len] = '\0';
    if (++mp->header_lines > MULTIPART_HEADERS_MAX)
        return fail(mp, "a part has too many header lines");
    char *colon = strchr(mp->line, ':');
    if (!colon)
        return fail(mp, "a part's header line has no colon");
    *colon = '\0';
    const char *value = colon + 1;
    while (*value == ' ' || *value == '\t')
        value++;
    if (strcasecmp(mp->line, "Content-Disposition") == 0) {
        if (strncasecmp(value, "form-data", 9) != 0)
            return fail(mp, "a part's Content-Disposition is not form-data");
        header_param(value, "name", mp->part.name, sizeof mp->part.name);
        mp->part.has_filename =
            header_param(value, "filename", mp->part.filename, sizeof mp->part.filename);
        strip_path(mp->part.filename);
    } else if (strcasecmp(mp->line, "Content-Type") == 0) {
        snprintf(mp->part.content_type, sizeof mp->part.content_type, "%s", value);
    }
    return MULTIPART_OK;
}

static bool emit(struct multipart *mp, const char *data, size_t len)
{
    return len == 0 || mp->cb->part_data(mp->ctx, data, len);
}

/* Body (or preamble) bytes: finds the delimiter, hands the rest over. Returns how many bytes
 * of data were used, or (size_t)-1 when a callback stopped the parse. */
static size_t scan_body(struct multipart *mp, const char *data, size_t len)
{
    bool body = mp->state == MP_BODY;
    size_t i = 0;
    while (i < len) {
        if (mp->matched == 0) {
            const char *cr = memchr(data + i, '\r', len - i);
            size_t run = cr ? (size_t)(cr - (data + i)) : len - i;
            if (body && !emit(mp, data + i, run))
                return (size_t)-1;
            i += run;
            if (!cr)
                break;
        }
        char c = data[i];
        if (c == mp->delimiter[mp->matched]) {
            mp->matched++;
            i++;
            if (mp->matched == mp->delimiter_len) {
                mp->matched = 0;
                if (body && !mp->cb->part_end(mp->ctx))
                    return (size_t)-1;
                mp->state = MP_AFTER_DELIM;
                return i;
            }
            continue;
        }
        /* a mismatch: what was held is data; the byte at hand may begin a new match */
        if (body && !emit(mp, mp->delimiter, mp->matched))
            return (size_t)-1;
        mp->matched = 0;
        if (c == '\r') {
            mp->matched = 1;
            i++;
        }
    }
    return i;
}

enum multipart_result multipart_feed(struct multipart *mp, const char *data, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if (mp->state == MP_FAILED)
            return mp->result;
        if (mp->state == MP_PREAMBLE || mp->state == MP_BODY) {
            size_t used = scan_body(mp, data + i, len - i);
            if (used == (size_t)-1)
                return stop(mp);
            i += used;
            continue;
        }
        char c = data[i++];
        switch (mp->state) {
        case MP_AFTER_DELIM:
            if (c == '-')
                mp->state = MP_AFTER_DASH;
            else if (c == '\r')
                mp->state = MP_AFTER_CR;
            else if (c != ' ' && c != '\t')
                return fail(mp, "a boundary is followed by something other than a line end");
            break;
        case MP_AFTER_DASH:
            if (c != '-')
                return fail(mp, "a boundary is followed by a single dash");
            mp->state = MP_EPILOGUE;
            break;
        case MP_AFTER_CR:
            if (c != '\n')
                return fail(mp, "a boundary line does not end in CRLF");
            memset(&mp->part, 0, sizeof mp->part);
            mp->line_len = 0;
            mp->header_lines = 0;
            mp->state = MP_HEADERS;
            break;
        case MP_HEADERS:
            if (c == '\r') {
                mp->state = MP_HEADER_LF;
            } else {
                if (mp->line_len >= MULTIPART_HEADER_LINE_MAX)
                    return fail(mp, "a part's header line is too long");
                mp->line[mp->line_len++] = c;
            }
            break;
        case MP_HEADER_LF:
            if (c != '\n')
                return fail(mp, "a part's header line does not end in CRLF");
            if (mp->line_len == 0) {
                if (!mp->cb->part_begin(mp->ctx, &mp->part))
                    return stop(mp);
                mp->state = MP_BODY;
                mp->matched = 0;
            } else {
                if (header_line(mp) != MULTIPART_OK)
                    return mp->result;
                mp->line_len = 0;
                mp->state = MP_HEADERS;
            }
            break;
        case MP_EPILOGUE:
            return MULTIPART_OK; /* whatever follows the close is ignored */
        default:
            return fail(mp, "the parser is in no known state");
        }
    }
    return mp->state == MP_FAILED ? mp->result : MULTIPART_OK;
}

enum multipart_result multipart_finish(struct multipart *mp)
{
    if (mp->state == MP_FAILED)
        return mp->result;
    if (mp->state != MP_EPILOGUE)
        return fail(mp, "the body ended before its closing boundary");
    return MULTIPART_OK;
}
