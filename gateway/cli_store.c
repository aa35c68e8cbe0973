/* cli_store: `onestop store copy` (cli_store.h). */
#include "gateway/cli_store.h"

#include "gateway/daemon_lock.h"
#include "gateway/store/conninfo.h"
#include "gateway/store/copy.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FROM_PREFIX "sqlite:"
#define TO_PREFIX   "postgresql:"
#define BATCH_MAX   10000

void cli_store_usage(FILE *out)
{
    fprintf(out,
            "  store copy --from sqlite:PATH --to postgresql:CONNINFO_FILE [--batch N]\n"
            "                             copy a SQLite store (PATH: its onestop.db, onestopd\n"
            "                             stopped) into an empty PostgreSQL database; the\n"
            "                             conninfo is read from the file CONNINFO_FILE (it\n"
            "                             holds the password); verified by row counts and\n"
            "                             the audit chain\n");
}

static int usage_error(const char *why)
{
    if (why)
        fprintf(stderr, "onestop: %s\n", why);
    fprintf(stderr, "usage: onestop --config PATH store copy --from sqlite:PATH"
                    " --to postgresql:CONNINFO_FILE [--batch N]\n");
    return 2;
}

/* The folder holding path (onestopd's data folder, where its lock file is). */
static void folder_of(const char *path, char *out, size_t len)
{
    snprintf(out, len, "%s", path);
    char *slash = strrchr(out, '/');
    if (!slash)
        snprintf(out, len, ".");
    else if (slash == out)
        out[1] = '\0';
    else
        *slash = '\0';
}

static void summary(const struct store_copy_report *r)
{
    printf("copied %" PRId64 " rows in %.2f s (%.0f rows/s), schema version %d:\n", r->rows,
           r->seconds, r->seconds > 0 ? (double)r->rows / r->seconds : 0.0, r->schema_version);
    for (size_t i = 0; i < r->tables_len; i++)
        printf("  %-20s %10" PRId64 " rows, %10" PRId64 " on the target\n", r->tables[i].name,
               r->tables[i].source_rows, r->tables[i].target_rows);
    printf("audit chain intact on the target with the source's head: row %" PRId64 " hash %s\n",
           r->source_head.id, r->source_head.hash);
    printf("recorded on the target as audit row %" PRId64 " (store_copied)\n", r->audit_copied_id);
}

static int store_copy_command(int argc, char **argv)
{
    const char *from = NULL, *to = NULL;
    long batch = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--from") == 0 && i + 1 < argc)
            from = argv[++i];
        else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
            to = argv[++i];
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
            char *end = NULL;
            errno = 0;
            batch = strtol(argv[++i], &end, 10);
            if (errno || !end || *end || batch < 1 || batch > BATCH_MAX)
                return usage_error("--batch takes a number of rows from 1 to 10000");
        } else
            return usage_error(NULL);
    }
    if (!from || !to)
        return usage_error("store copy needs --from and --to");
    if (strncmp(from, FROM_PREFIX, strlen(FROM_PREFIX)) != 0 || !from[strlen(FROM_PREFIX)])
        return usage_error("--from takes sqlite:PATH (the SQLite store's onestop.db)");
    if (strncmp(to, TO_PREFIX, strlen(TO_PREFIX)) != 0 || !to[strlen(TO_PREFIX)])
        return usage_error("--to takes postgresql:CONNINFO_FILE (a file holding the conninfo)");
    const char *path = from + strlen(FROM_PREFIX), *conninfo_file = to + strlen(TO_PREFIX);
    if (access(conninfo_file, F_OK) != 0 &&
        (strchr(conninfo_file, '=') || strstr(conninfo_file, "://")))
        return usage_error("--to takes postgresql:CONNINFO_FILE, a file holding the conninfo "
                           "(never the conninfo itself: it holds the password)");
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "onestop: cannot read the source %s: %s\n", path, strerror(errno));
        return 1;
    }
    char err[1024];
    char *conninfo = NULL;
    if (!store_conninfo_read(conninfo_file, &conninfo, err, sizeof err)) {
        fprintf(stderr, "onestop: %s\n", err);
        return 1;
    }
    /* onestopd stopped, and kept from starting, for the whole copy: a copy of a store still
     * taking sales would leave the sales made after it behind when the counter moves */
    char folder[PATH_MAX];
    folder_of(path, folder, sizeof folder);
    pid_t holder = 0;
    int lock = daemon_lock_take(folder, &holder, err, sizeof err);
    if (lock < 0) {
        if (holder)
            fprintf(stderr,
                    "onestop: onestopd (process %ld) is running on %s; stop it first "
                    "(systemctl stop onestopd): the sales it takes after the copy would be "
                    "left behind — nothing was copied\n",
                    (long)holder, folder);
        else
            fprintf(stderr, "onestop: %s — nothing was copied\n", err);
        explicit_bzero(conninfo, strlen(conninfo));
        free(conninfo);
        return 1;
    }
    struct store_copy_options opts = {
        .sqlite_path = path, .conninfo = conninfo, .batch_rows = batch, .progress = stderr};
    struct store_copy_report *report = calloc(1, sizeof *report);
    enum store_copy_outcome out =
        report ? store_copy(&opts, report, err, sizeof err) : STORE_COPY_FAILED;
    if (!report)
        snprintf(err, sizeof err, "out of memory");
    daemon_lock_release(lock);
    explicit_bzero(conninfo, strlen(conninfo));
    free(conninfo);
    int rc = 1;
    switch (out) {
    case STORE_COPY_DONE:
        summary(report);
        rc = 0;
        break;
    case STORE_COPY_REFUSED:
        fprintf(stderr, "onestop: store copy refused: %s — nothing was copied\n", err);
        break;
    case STORE_COPY_FAILED:
        fprintf(stderr,
                "onestop: store copy failed: %s — rolled back, the target holds no rows "
                "(run the copy again once the cause is mended)\n",
                err);
        break;
    }
    free(report);
    return rc;
}

int cli_store(int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "copy") == 0)
        return store_copy_command(argc - 1, argv + 1);
    return usage_error(NULL);
}
