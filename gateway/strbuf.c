#include "gateway/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void strbuf_init(struct strbuf *b, size_t limit)
{
    memset(b, 0, sizeof *b);
    b->limit = limit;
}

static bool grow(struct strbuf *b, size_t need)
{
    if (b->len + need + 1 > b->limit) {
        b->overflow = true;
        return false;
    }
    if (b->len + need + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + need + 1)
        cap *= 2;
    if (cap > b->limit)
        cap = b->limit;
    char *data = realloc(b->data, cap);
    if (!data) {
        b->overflow = true;
        return false;
    }
    b->data = data;
    b->cap = cap;
    return true;
}

bool strbuf_append(struct strbuf *b, const char *data, size_t len)
{
    if (!grow(b, len))
        return false;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return true;
}

bool strbuf_printf(struct strbuf *b, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !grow(b, (size_t)n)) {
        va_end(ap2);
        return false;
    }
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    b->len += (size_t)n;
    return true;
}

char *strbuf_take(struct strbuf *b, size_t *len)
{
    if (!b->data && !grow(b, 0))
        return NULL;
    char *out = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return out;
}

void strbuf_free(struct strbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* jansson's UTF-8 check: no overlong forms, no surrogates, nothing past U+10FFFF. */
bool strbuf_utf8_valid(const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    while (*s) {
        unsigned c = *s;
        size_t n;
        unsigned v;
        if (c < 0x80) {
            s++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 2;
            v = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 3;
            v = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 4;
            v = c & 0x07;
        } else {
            return false;
        }
        for (size_t i = 1; i < n; i++) {
            if ((s[i] & 0xC0) != 0x80)
                return false;
            v = (v << 6) | (s[i] & 0x3F);
        }
        if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) || (n == 3 && v < 0x800) ||
            (n == 4 && v < 0x10000))
            return false;
        s += n;
    }
    return true;
}

bool strbuf_json_string(struct strbuf *b, const char *s)
{
    if (!s || !strbuf_utf8_valid(s))
        return false;
    bool ok = strbuf_append(b, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        ok = ok && strbuf_append(b, run, (size_t)(s - run));
        run = s + 1;
        char esc[8];
        const char *e = esc;
        switch (c) {
        case '"':
            e = "\\\"";
            break;
        case '\\':
            e = "\\\\";
            break;
        case '\b':
            e = "\\b";
            break;
        case '\f':
            e = "\\f";
            break;
        case '\n':
            e = "\\n";
            break;
        case '\r':
            e = "\\r";
            break;
        case '\t':
            e = "\\t";
            break;
        default:
            snprintf(esc, sizeof esc, "\\u%04X", (unsigned)c);
        }
        ok = ok && strbuf_append(b, e, strlen(e));
    }
    return ok && strbuf_append(b, run, (size_t)(s - run)) && strbuf_append(b, "\"", 1);
}

void text_copy(char *out, size_t size, const char *text)
{
    if (size == 0)
        return;
    size_t n = strnlen(text, size - 1);
    memcpy(out, text, n);
    out[n] = '\0';
}

const char *strbuf_decimal(long long value, char buf[STRBUF_DECIMAL_MAX], size_t *len)
{
    char *end = buf + STRBUF_DECIMAL_MAX, *p = end;
    unsigned long long v = value < 0 ? 0ULL - (unsigned long long)value : (unsigned long long)value;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    if (value < 0)
        *--p = '-';
    *len = (size_t)(end - p);
    return p;
}

bool strbuf_json_int(struct strbuf *b, long long value)
{
    char buf[STRBUF_DECIMAL_MAX];
    size_t len;
    const char *p = strbuf_decimal(value, buf, &len);
    return strbuf_append(b, p, len);
}
