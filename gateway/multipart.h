/* multipart: a streaming multipart/form-data parser (RFC 7578, RFC 2046).
 *
 * Bytes go in as they arrive, in pieces of any size; each part's headers and data come out
 * through callbacks, the data in runs as long as the input allows. Nothing of a part's body
 * is kept: the parser holds only the boundary, the part of a delimiter it may be in the middle
 * of, and one header line (at most MULTIPART_HEADER_LINE_MAX bytes). So memory stays the same
 * whether a part is 1 KiB or 1 GiB, and a body that never ends its headers cannot grow it.
 */
#ifndef ONESTOP_MULTIPART_H
#define ONESTOP_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>

#define MULTIPART_BOUNDARY_MAX    70 /* RFC 2046 */
#define MULTIPART_HEADER_LINE_MAX 1024
#define MULTIPART_HEADERS_MAX     16 /* header lines in one part */
#define MULTIPART_NAME_MAX        256

/* What a part declares about itself; strings are NUL-terminated and empty when absent. */
struct multipart_part {
    char name[MULTIPART_NAME_MAX];         /* Content-Disposition name */
    char filename[MULTIPART_NAME_MAX];     /* Content-Disposition filename, path removed */
    char content_type[MULTIPART_NAME_MAX]; /* as declared: never trusted for typing */
    bool has_filename;
};

/* Each callback returns false to stop the parse (multipart_feed then returns MULTIPART_STOPPED). */
struct multipart_callbacks {
    bool (*part_begin)(void *ctx, const struct multipart_part *part);
    bool (*part_data)(void *ctx, const char *data, size_t len);
    bool (*part_end)(void *ctx);
};

enum multipart_result {
    MULTIPART_OK = 0,    /* more may come (feed), or the body is complete (finish) */
    MULTIPART_MALFORMED, /* not multipart/form-data as the standard says; see multipart_error */
    MULTIPART_STOPPED,   /* a callback said stop */
};

struct multipart;

/* A parser for a body with this Content-Type header value; NULL when it is not
 * multipart/form-data with a usable boundary (or out of memory). Free with multipart_free. */
struct multipart *multipart_new(const char *content_type, const struct multipart_callbacks *cb,
                                void *ctx) __attribute__((warn_unused_result));
void multipart_free(struct multipart *mp);

/* Parses the next len bytes. Once it has returned anything but MULTIPART_OK it keeps returning
 * that. */
enum multipart_result multipart_feed(struct multipart *mp, const char *data, size_t len)
    __attribute__((warn_unused_result));
/* The body has ended: MULTIPART_MALFORMED unless the closing delimiter was seen. */
enum multipart_result multipart_finish(struct multipart *mp) __attribute__((warn_unused_result));
/* What was wrong, in words, once a call returned MULTIPART_MALFORMED. */
const char *multipart_error(const struct multipart *mp);

/* The boundary parameter of a multipart/form-data Content-Type into out; false when the type
 * is something else or the boundary is missing, empty, too long or has characters RFC 2046
 * does not allow. */
bool multipart_boundary(const char *content_type, char out[MULTIPART_BOUNDARY_MAX + 1])
    __attribute__((warn_unused_result));

#endif
