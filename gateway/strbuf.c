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
