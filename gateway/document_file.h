/* document_file: one uploaded document on disk, sealed (AES-256-GCM, data_keys.h).
 *
 * Layout: "OSDOC1\n\0" (8 bytes), the key id's length (1 byte) and the key id, the 12-byte IV,
 * the ciphertext (as long as the plaintext), the 16-byte tag. The document's id is the
 * associated data, so a file renamed to another document's id does not open. A file is
 * written as <id>.part with mode 0600 as its bytes arrive, then fsync'd and renamed to <id>.doc
 * (and the folder fsync'd) when the upload ends: a crash leaves only .part files, which the
 * sweep removes. Plaintext never reaches the disk.
 */
#ifndef ONESTOP_DOCUMENT_FILE_H
#define ONESTOP_DOCUMENT_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "gateway/data_keys.h"

#define DOCUMENT_ID_LEN     32     /* hex characters of a document id (128 random bits) */
#define DOCUMENT_FILE_EXT   ".doc" /* a sealed file: <id>.doc */
#define DOCUMENT_PATH_MAX   4096
#define DOCUMENT_IO_CHUNK   65536 /* bytes read or written at once */
#define DOCUMENT_FILE_MAGIC "OSDOC1\n"
#define DOCUMENT_RESEAL_EXT ".reseal.part" /* a file being resealed (removed at start) */

struct data_keys;
struct document_writer;
struct document_reader;

/* True when id is DOCUMENT_ID_LEN lower-case hex characters. */
bool document_id_valid(const char *id);
/* A fresh random id into out. */
bool document_id_new(char out[DOCUMENT_ID_LEN + 1]) __attribute__((warn_unused_result));
/* dir/<id>.doc into out. */
void document_file_path(const char *dir, const char *id, char out[DOCUMENT_PATH_MAX]);

/* Creates dir/<id>.part and writes the header, sealing under the current key. NULL with a
 * message in err (no key, the folder cannot be written). */
struct document_writer *document_writer_open(const struct data_keys *keys, const char *dir,
                                             const char *id, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Rotation: a writer into dir/<id>.reseal.part (a stale one replaced), sealing under the
 * current key; end it with document_writer_replace. */
struct document_writer *document_writer_open_reseal(const struct data_keys *keys, const char *dir,
                                                    const char *id, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Encrypts and writes len bytes of plaintext. */
bool document_writer_write(struct document_writer *w, const void *data, size_t len)
    __attribute__((warn_unused_result));
/* The key id the file is sealed under (owned by the writer). */
const char *document_writer_key_id(const struct document_writer *w);
/* Writes the tag, fsyncs, renames to <id>.doc and frees the writer (either way). */
bool document_writer_commit(struct document_writer *w) __attribute__((warn_unused_result));
enum document_replace {
    DOCUMENT_REPLACED,       /* <id>.doc is the new file, the folder fsync'd */
    DOCUMENT_REPLACE_GONE,   /* <id>.doc was deleted meanwhile: left deleted */
    DOCUMENT_REPLACE_FAILED, /* <id>.doc is untouched */
};
/* Ends a reseal writer: writes the tag, fsyncs, swaps the new file with <id>.doc in one step
 * (renameat2 RENAME_EXCHANGE, so a file deleted meanwhile is not brought back), removes the
 * old one and fsyncs the folder; frees the writer. A crash at any point leaves <id>.doc
 * whole, under one key or the other (the file names its key). */
enum document_replace document_writer_replace(struct document_writer *w)
    __attribute__((warn_unused_result));
/* The key id dir/<id>.doc is sealed under (its header); false when it cannot be read,
 * with *missing set when there is no such file. */
bool document_file_key(const char *dir, const char *id, char key_id[DATA_KEY_ID_MAX + 1],
                       bool *missing) __attribute__((warn_unused_result));
/* Removes the .part file and frees the writer (NULL is fine). */
void document_writer_abort(struct document_writer *w);

/* Opens dir/<id>.doc for reading its plaintext. NULL when missing or not a sealed document. */
struct document_reader *document_reader_open(const struct data_keys *keys, const char *dir,
                                             const char *id) __attribute__((warn_unused_result));
/* Up to len bytes of plaintext into buf; 0 at the end; -1 when the file cannot be read or its
 * tag does not match (the data was altered). The tag is checked before the last piece is
 * given, so a caller never receives all of an altered file. */
ssize_t document_reader_read(struct document_reader *r, void *buf, size_t len)
    __attribute__((warn_unused_result));
/* Bytes of plaintext the file holds. */
size_t document_reader_size(const struct document_reader *r);
void document_reader_close(struct document_reader *r);

#endif
