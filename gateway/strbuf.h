/* strbuf: a growable text buffer with a hard cap, for building responses and payloads.
 * Appends past the cap fail and set `overflow`; the text stays NUL-terminated. */
#ifndef ONESTOP_STRBUF_H
#define ONESTOP_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct strbuf {
    char *data;
    size_t len;
    size_t cap;
    size_t limit;
    bool overflow;
};

void strbuf_init(struct strbuf *b, size_t limit);
bool strbuf_append(struct strbuf *b, const char *data, size_t len);
bool strbuf_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the text to the caller (free it) and resets the buffer. */
char *strbuf_take(struct strbuf *b, size_t *len);
void strbuf_free(struct strbuf *b);

#endif
