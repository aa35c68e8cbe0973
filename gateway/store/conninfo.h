/* conninfo: the PostgreSQL engine's connection string, read from the file store.conninfo_file
 * names (it holds the password, so it is never in the config itself). */
#ifndef ONESTOP_STORE_CONNINFO_H
#define ONESTOP_STORE_CONNINFO_H

#include <stdbool.h>
#include <stddef.h>

/* The longest conninfo file read */
#define STORE_CONNINFO_MAX 4096

/* Reads path: its first line, trimmed, is a libpq conninfo ("host=... dbname=... user=...
 * password=..." or a postgresql:// URI), checked by libpq's own parser. Into *out (free(),
 * after wiping it) or false with a message in err that names the file and never repeats its
 * text. Warns in the log when other users can read the file. */
bool store_conninfo_read(const char *path, char **out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
