/* conninfo: reads store.conninfo_file (see conninfo.h). */
#include "gateway/store/conninfo.h"

#include "gateway/log.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

bool store_conninfo_read(const char *path, char **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return false;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & S_IROTH))
        log_msg(LOG_WARN, "conninfo_file_readable",
                "%s can be read by every user (mode %03o) and holds the database password; "
                "chmod 640 it",
                path, (unsigned)(st.st_mode & 0777));
    char *line = calloc(1, STORE_CONNINFO_MAX + 1);
    size_t n = line ? fread(line, 1, STORE_CONNINFO_MAX + 1, f) : 0;
    bool read_failed = ferror(f);
    fclose(f);
    if (!line || read_failed || n > STORE_CONNINFO_MAX) {
        snprintf(err, errlen, "%s: %s", path,
                 !line         ? "out of memory"
                 : read_failed ? "cannot be read"
                               : "is longer than a conninfo can be; is it the right file?");
        free(line);
        return false;
    }
    line[strcspn(line, "\r\n")] = '\0';
    char *start = line + strspn(line, " \t");
    size_t len = strlen(start);
    while (len && (start[len - 1] == ' ' || start[len - 1] == '\t'))
        start[--len] = '\0';
    char *perr = NULL;
    PQconninfoOption *opts = len ? PQconninfoParse(start, &perr) : NULL;
    if (!opts) {
        /* libpq's message may quote the text, which holds the password: not repeated */
        snprintf(err, errlen,
                 "%s does not hold a PostgreSQL conninfo on its first line (\"host=... "
                 "dbname=... user=... password=...\" or a postgresql:// URI)",
                 path);
        PQfreemem(perr);
        memset(line, 0, STORE_CONNINFO_MAX);
        free(line);
        return false;
    }
    PQconninfoFree(opts);
    *out = strdup(start);
    memset(line, 0, STORE_CONNINFO_MAX);
    free(line);
    if (!*out) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    return true;
}
