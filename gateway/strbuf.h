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
/* jansson's UTF-8 check: no overlong forms, no surrogates, nothing past U+10FFFF. */
bool strbuf_utf8_valid(const char *text);
/* Appends s as a JSON string, escaped byte for byte as jansson's json_dumps escapes it (no
 * JSON_ENSURE_ASCII, no JSON_ESCAPE_SLASH). False (the text then unfinished) when s is NULL
 * or not valid UTF-8 (json_string would refuse it), or past the cap. */
bool strbuf_json_string(struct strbuf *b, const char *s);
#define STRBUF_DECIMAL_MAX 24 /* digits of any long long, with its sign */
/* value in decimal at the end of buf (not NUL-terminated): returns its first character and
 * sets len. For hot paths where snprintf's format parsing shows. */
const char *strbuf_decimal(long long value, char buf[STRBUF_DECIMAL_MAX], size_t *len);
/* Appends value in decimal, as jansson writes a JSON integer. */
bool strbuf_json_int(struct strbuf *b, long long value);
/* Copies text into out (size bytes), cut short to fit and always NUL-terminated: what
 * snprintf(out, size, "%s", text) writes, without its format parsing (per-request paths). */
void text_copy(char *out, size_t size, const char *text);
/* Hands the text to the caller (free it) and resets the buffer. */
char *strbuf_take(struct strbuf *b, size_t *len);
void strbuf_free(struct strbuf *b);

#endif
