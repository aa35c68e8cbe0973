/* json_text: json_dumps(v, JSON_COMPACT)'s bytes without its per-fragment callbacks (see the
 * header). The writer walks the value once; anything it does not write itself makes it stop,
 * and then json_dumps writes the whole value instead. */
#include "gateway/json_text.h"

#include "gateway/strbuf.h"

#include <stdbool.h>
#include <string.h>

#define JSON_TEXT_LIMIT ((size_t)64 * 1024 * 1024) /* past this, json_dumps writes it */

/* Appends v; false when it holds something left to json_dumps (or the buffer failed). */
static bool append_value(struct strbuf *b, const json_t *v, int depth)
{
    if (depth > JSON_TEXT_DEPTH_MAX)
        return false;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (!strbuf_append(b, "{", 1))
            return false;
        bool first = true;
        const char *key;
        json_t *member;
        json_object_foreach((json_t *)v, key, member)
        {
            if ((!first && !strbuf_append(b, ",", 1)) || !strbuf_json_string(b, key) ||
                !strbuf_append(b, ":", 1) || !append_value(b, member, depth + 1))
                return false;
            first = false;
        }
        return strbuf_append(b, "}", 1);
    }
    case JSON_ARRAY: {
        if (!strbuf_append(b, "[", 1))
            return false;
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            if ((i > 0 && !strbuf_append(b, ",", 1)) || !append_value(b, item, depth + 1))
                return false;
        }
        return strbuf_append(b, "]", 1);
    }
    case JSON_STRING: {
        const char *s = json_string_value(v);
        /* a NUL inside: jansson writes it as \u0000, strbuf_json_string would stop there */
        if (strlen(s) != json_string_length(v))
            return false;
        return strbuf_json_string(b, s);
    }
    case JSON_INTEGER:
        return strbuf_json_int(b, (long long)json_integer_value(v));
    case JSON_TRUE:
        return strbuf_append(b, "true", 4);
    case JSON_FALSE:
        return strbuf_append(b, "false", 5);
    case JSON_NULL:
        return strbuf_append(b, "null", 4);
    case JSON_REAL: /* jansson's own shortest-digits formatting: its text, not ours */
    default:
        return false;
    }
}

char *json_text_compact(const json_t *v)
{
    if (!json_is_object(v) && !json_is_array(v))
        return NULL;
    struct strbuf b;
    strbuf_init(&b, JSON_TEXT_LIMIT);
    if (append_value(&b, v, 0) && !b.overflow) {
        char *text = strbuf_take(&b, NULL);
        if (text)
            return text;
    }
    strbuf_free(&b);
    return json_dumps(v, JSON_COMPACT);
}
