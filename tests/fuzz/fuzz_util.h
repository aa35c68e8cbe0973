/* fuzz_util: small helpers the libFuzzer harnesses share (a header only: each harness is one
 * program). The fuzzer's bytes are never NUL-terminated; parsers that take C strings get a
 * copy. A harness that needs files works in one private temporary folder, made once. */
#ifndef ONESTOP_FUZZ_UTIL_H
#define ONESTOP_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define FUZZ_PATH_MAX 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A NUL-terminated copy of data (free it). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Splits a copy of data at NUL bytes into up to n strings (missing ones are ""); the lengths
 * are those of the C strings, except the last one, which keeps every remaining byte. Returns
 * the copy that the strings point into (free it). */
static inline char *fuzz_split(const uint8_t *data, size_t size, const char **parts, size_t *lens,
                               size_t n)
{
    char *copy = fuzz_cstr(data, size);
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        parts[i] = copy + (at <= size ? at : size);
        if (i + 1 == n) {
            lens[i] = at <= size ? size - at : 0;
            break;
        }
        lens[i] = strlen(parts[i]);
        at += lens[i] + 1;
    }
    return copy;
}

/* The harness's private folder (made on first use; left for the operating system's
 * temporary-file cleaning). */
static inline const char *fuzz_dir(void)
{
    static char dir[FUZZ_PATH_MAX];
    if (!dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/onestop-fuzz-XXXXXX", tmp ? tmp : "/tmp");
        if (!mkdtemp(dir))
            abort();
    }
    return dir;
}

/* Writes data to name inside fuzz_dir(); returns the full path (static buffer). */
static inline const char *fuzz_write(const char *name, const void *data, size_t size)
{
    static char path[FUZZ_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
    return path;
}

#endif
