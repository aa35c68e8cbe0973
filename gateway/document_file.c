/* document_file: sealed document files; see document_file.h. */
#define _GNU_SOURCE /* renameat2 */
#include "gateway/document_file.h"

#include "gateway/data_keys.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC_LEN 8 /* DOCUMENT_FILE_MAGIC and its NUL */

struct document_writer {
    int fd;
    char part[DOCUMENT_PATH_MAX];
    char final[DOCUMENT_PATH_MAX];
    char dir[DOCUMENT_PATH_MAX];
    char key_id[DATA_KEY_ID_MAX + 1];
    struct data_seal *seal;
    unsigned char buf[DOCUMENT_IO_CHUNK];
};

struct document_reader {
    int fd;
    struct data_open *open;
    off_t left; /* ciphertext bytes still to read */
    size_t size;
    unsigned char tag[DATA_TAG_BYTES];
    unsigned char buf[DOCUMENT_IO_CHUNK];
};

bool document_id_valid(const char *id)
{
    if (!id || strlen(id) != DOCUMENT_ID_LEN)
        return false;
    for (const char *p = id; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

bool document_id_new(char out[DOCUMENT_ID_LEN + 1])
{
    unsigned char rnd[DOCUMENT_ID_LEN / 2];
    if (RAND_bytes(rnd, sizeof rnd) != 1)
        return false;
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(out + 2 * i, 3, "%02x", rnd[i]);
    return true;
}

void document_file_path(const char *dir, const char *id, char out[DOCUMENT_PATH_MAX])
{
    snprintf(out, DOCUMENT_PATH_MAX, "%s/%s" DOCUMENT_FILE_EXT, dir, id);
}

/* All len bytes written (writing) or read, across short transfers and signals. */
static bool transfer_all(int fd, void *data, size_t len, bool writing)
{
    char *p = data;
    while (len > 0) {
        ssize_t n = writing ? write(fd, p, len) : read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static bool write_all(int fd, const void *data, size_t len)
{
    return transfer_all(fd, (void *)data, len, true);
}

static bool read_all(int fd, void *data, size_t len)
{
    return transfer_all(fd, data, len, false);
}

/* A writer into dir/<id><suffix>, made anew (O_EXCL unless replacing a stale one). */
static struct document_writer *writer_open(const struct data_keys *keys, const char *dir,
                                           const char *id, const char *suffix, bool replace,
                                           char *err, size_t errlen)
{
    const char *key_id = data_keys_current(keys);
    if (!key_id || !document_id_valid(id)) {
        snprintf(err, errlen, "no data key is loaded (keys.data_key_file)");
        return NULL;
    }
    struct document_writer *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(w->dir, sizeof w->dir, "%s", dir);
    snprintf(w->part, sizeof w->part, "%s/%s%s", dir, id, suffix);
    if (replace)
        (void)unlink(w->part); /* a rotation a crash interrupted */
    document_file_path(dir, id, w->final);
    snprintf(w->key_id, sizeof w->key_id, "%s", key_id);
    unsigned char iv[DATA_IV_BYTES];
    w->seal = data_seal_begin(keys, iv, id, DOCUMENT_ID_LEN);
    w->fd = open(w->part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    unsigned char idlen = (unsigned char)strlen(key_id);
    if (!w->seal || w->fd < 0 || !write_all(w->fd, DOCUMENT_FILE_MAGIC, MAGIC_LEN) ||
        !write_all(w->fd, &idlen, 1) || !write_all(w->fd, key_id, idlen) ||
        !write_all(w->fd, iv, sizeof iv)) {
        snprintf(err, errlen, "cannot write the documents folder %s (%s)", dir,
                 w->seal ? strerror(errno) : "encryption failed");
        document_writer_abort(w);
        return NULL;
    }
    return w;
}

struct document_writer *document_writer_open(const struct data_keys *keys, const char *dir,
                                             const char *id, char *err, size_t errlen)
{
    return writer_open(keys, dir, id, ".part", false, err, errlen);
}

struct document_writer *document_writer_open_reseal(const struct data_keys *keys, const char *dir,
                                                    const char *id, char *err, size_t errlen)
{
    return writer_open(keys, dir, id, DOCUMENT_RESEAL_EXT, true, err, errlen);
}

bool document_writer_write(struct document_writer *w, const void *data, size_t len)
{
    const unsigned char *p = data;
    while (len > 0) {
        size_t step = len < sizeof w->buf ? len : sizeof w->buf;
        if (!data_seal_update(w->seal, p, step, w->buf) || !write_all(w->fd, w->buf, step))
            return false;
        p += step;
        len -= step;
    }
    return true;
}

const char *document_writer_key_id(const struct document_writer *w)
{
    return w->key_id;
}

static void fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

bool document_writer_commit(struct document_writer *w)
{
    unsigned char tag[DATA_TAG_BYTES];
    bool ok =
        data_seal_final(w->seal, tag) && write_all(w->fd, tag, sizeof tag) && fsync(w->fd) == 0;
    ok = close(w->fd) == 0 && ok;
    w->fd = -1;
    ok = ok && rename(w->part, w->final) == 0;
    if (ok)
        fsync_dir(w->dir);
    else
        unlink(w->part);
    data_seal_free(w->seal);
    free(w);
    return ok;
}

enum document_replace document_writer_replace(struct document_writer *w)
{
    unsigned char tag[DATA_TAG_BYTES];
    bool ok =
        data_seal_final(w->seal, tag) && write_all(w->fd, tag, sizeof tag) && fsync(w->fd) == 0;
    ok = close(w->fd) == 0 && ok;
    w->fd = -1;
    enum document_replace out = ok ? DOCUMENT_REPLACED : DOCUMENT_REPLACE_FAILED;
    if (ok && renameat2(AT_FDCWD, w->part, AT_FDCWD, w->final, RENAME_EXCHANGE) == 0) {
        /* the two swapped in one step: the part name now holds the old file */
    } else if (ok && errno == ENOENT) {
        out = DOCUMENT_REPLACE_GONE; /* deleted meanwhile: never bring it back */
    } else if (ok && errno == EINVAL && access(w->final, F_OK) == 0) {
        /* a file system without RENAME_EXCHANGE: a plain rename over it */
        if (rename(w->part, w->final) != 0)
            out = DOCUMENT_REPLACE_FAILED;
    } else if (ok) {
        out = errno == ENOENT ? DOCUMENT_REPLACE_GONE : DOCUMENT_REPLACE_FAILED;
    }
    (void)unlink(w->part);
    if (out == DOCUMENT_REPLACED)
        fsync_dir(w->dir);
    data_seal_free(w->seal);
    free(w);
    return out;
}

bool document_file_key(const char *dir, const char *id, char key_id[DATA_KEY_ID_MAX + 1],
                       bool *missing)
{
    char path[DOCUMENT_PATH_MAX];
    document_file_path(dir, id, path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    *missing = fd < 0 && errno == ENOENT;
    char magic[MAGIC_LEN];
    unsigned char idlen = 0;
    bool ok = fd >= 0 && read_all(fd, magic, sizeof magic) &&
              memcmp(magic, DOCUMENT_FILE_MAGIC, MAGIC_LEN) == 0 && read_all(fd, &idlen, 1) &&
              idlen <= DATA_KEY_ID_MAX && read_all(fd, key_id, idlen);
    if (fd >= 0)
        close(fd);
    key_id[ok ? idlen : 0] = '\0';
    return ok;
}

void document_writer_abort(struct document_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0) {
        close(w->fd);
        unlink(w->part);
    }
    data_seal_free(w->seal);
    free(w);
}

struct document_reader *document_reader_open(const struct data_keys *keys, const char *dir,
                                             const char *id)
{
    char path[DOCUMENT_PATH_MAX];
    document_file_path(dir, id, path);
    struct document_reader *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    char magic[MAGIC_LEN];
    unsigned char idlen = 0;
    char key_id[DATA_KEY_ID_MAX + 1] = {0};
    unsigned char iv[DATA_IV_BYTES];
    struct stat st;
    bool ok = r->fd >= 0 && fstat(r->fd, &st) == 0 && read_all(r->fd, magic, sizeof magic) &&
              memcmp(magic, DOCUMENT_FILE_MAGIC, MAGIC_LEN) == 0 && read_all(r->fd, &idlen, 1) &&
              idlen <= DATA_KEY_ID_MAX && read_all(r->fd, key_id, idlen) &&
              read_all(r->fd, iv, sizeof iv);
    off_t header = (off_t)(MAGIC_LEN + 1 + idlen + DATA_IV_BYTES);
    ok = ok && st.st_size >= header + DATA_TAG_BYTES &&
         pread(r->fd, r->tag, DATA_TAG_BYTES, st.st_size - DATA_TAG_BYTES) == DATA_TAG_BYTES;
    if (ok) {
        r->left = st.st_size - header - DATA_TAG_BYTES;
        r->size = (size_t)r->left;
        r->open = data_open_begin(keys, key_id, iv, id, strlen(id));
    }
    if (!ok || !r->open) {
        document_reader_close(r);
        return NULL;
    }
    return r;
}

ssize_t document_reader_read(struct document_reader *r, void *buf, size_t len)
{
    if (r->left == 0) {
        if (!r->open)
            return 0;
        bool genuine = data_open_final(r->open, r->tag); /* an empty file */
        data_open_free(r->open);
        r->open = NULL;
        return genuine ? 0 : -1;
    }
    size_t step = len < sizeof r->buf ? len : sizeof r->buf;
    if ((off_t)step > r->left)
        step = (size_t)r->left;
    if (!read_all(r->fd, r->buf, step) || !data_open_update(r->open, r->buf, step, buf))
        return -1;
    r->left -= (off_t)step;
    if (r->left == 0) {
        /* the last piece is given only once the tag checks: a reader that knows the size and
         * never asks again (libcurl) still never passes on an altered file whole */
        bool genuine = data_open_final(r->open, r->tag);
        data_open_free(r->open);
        r->open = NULL;
        if (!genuine)
            return -1;
    }
    return (ssize_t)step;
}

size_t document_reader_size(const struct document_reader *r)
{
    return r->size;
}

void document_reader_close(struct document_reader *r)
{
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    data_open_free(r->open);
    free(r);
}
