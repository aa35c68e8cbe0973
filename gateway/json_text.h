/* json_text: a JSON value as compact text, the bytes json_dumps(v, JSON_COMPACT) gives.
 *
 * jansson writes through a callback per fragment and formats every integer with snprintf;
 * on a sale's hot path (the fields, the lines and the back-end payload dumped on the HTTP
 * thread) that is a sixth of the thread's instructions. This writes the same text into one
 * growing buffer: objects in their insertion order (jansson's iteration order), strings
 * escaped as jansson escapes them (strbuf_json_string), integers in decimal. A value this
 * does not write itself (a real, a string holding a NUL, nesting past JSON_TEXT_DEPTH_MAX)
 * is handed to json_dumps whole, so the text is always jansson's. */
#ifndef ONESTOP_JSON_TEXT_H
#define ONESTOP_JSON_TEXT_H

#include <jansson.h>

#define JSON_TEXT_DEPTH_MAX 32 /* deeper values go to json_dumps */

/* v (an object or an array) as json_dumps(v, JSON_COMPACT) writes it; malloc'd, the caller
 * frees it. NULL where json_dumps gives NULL (NULL, a scalar, out of memory). */
char *json_text_compact(const json_t *v);

#endif
