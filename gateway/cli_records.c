/* cli_records: `onestop audit verify`, `onestop audit head` and `onestop purge`; see
 * cli_records.h. */
#include "gateway/cli_records.h"

#include "gateway/purge.h"
#include "gateway/store/audit.h"
#include "services/service.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PURGE_ACTOR "admin-cli"

/* A head from a file holding head lines (the last wins), or from the text itself. */
static bool head_read(const char *arg, struct audit_head *out)
{
    FILE *f = fopen(arg, "r");
    if (!f)
        return audit_head_parse(arg, out);
    char *line = NULL;
    size_t cap = 0;
    bool found = false;
    while (getline(&line, &cap, f) >= 0) {
        struct audit_head h;
        if (audit_head_parse(line, &h)) {
            *out = h;
            found = true;
        }
    }
    free(line);
    fclose(f);
    return found;
}

int cli_audit_verify(struct store *store, const struct config *cfg, int argc, char **argv)
{
    const char *head_arg = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--head") == 0 && i + 1 < argc)
            head_arg = argv[++i];
        else {
            fprintf(stderr, "usage: onestop audit verify [--head LINE|FILE]\n");
            return 2;
        }
    }
    struct audit_head head;
    if (head_arg && !cfg->audit.head_key.bytes) {
        fprintf(stderr, "onestop: --head needs audit.head_key_file in the config\n");
        return 2;
    }
    if (head_arg && !head_read(head_arg, &head)) {
        fprintf(stderr, "onestop: no \"audit_head id=... hash=... at=... mac=...\" in %s\n",
                head_arg);
        return 2;
    }
    struct audit_verify_result res;
    if (store_audit_verify(store, head_arg ? &head : NULL, cfg->audit.head_key.bytes,
                           cfg->audit.head_key.len, &res) != STORE_OK) {
        fprintf(stderr, "onestop: cannot read the audit trail\n");
        return 1;
    }
    if (res.kind != AUDIT_INTACT) {
        fprintf(stderr, "onestop: audit trail broken: %s\n", res.message);
        return 1;
    }
    printf("%s%s\n", res.message, head_arg ? ", and it holds the signed head" : "");
    return 0;
}

int cli_audit_head(struct store *store, const struct config *cfg)
{
    struct audit_head h = {0};
    if (!cfg->audit.head_key.bytes) {
        fprintf(stderr, "onestop: audit.head_key_file is not set in the config\n");
        return 2;
    }
    if (store_audit_head(store, &h) != STORE_OK) {
        fprintf(stderr, "onestop: cannot read the audit trail\n");
        return 1;
    }
    h.at = time(NULL);
    if (!audit_head_sign(&h, cfg->audit.head_key.bytes, cfg->audit.head_key.len)) {
        fprintf(stderr, "onestop: cannot sign the head\n");
        return 1;
    }
    char line[AUDIT_HEAD_LINE_MAX];
    audit_head_format(&h, line, sizeof line);
    puts(line);
    return 0;
}

int cli_purge(struct store *store, const struct config *cfg, int argc, char **argv)
{
    bool dry_run = false;
    long days = -1;
    for (int i = 0; i < argc; i++) {
        char *end = NULL;
        if (strcmp(argv[i], "--dry-run") == 0) {
            dry_run = true;
        } else if (strcmp(argv[i], "--older-than-days") == 0 && i + 1 < argc) {
            errno = 0;
            days = strtol(argv[++i], &end, 10);
            if (errno || !end || *end || days < 0 || days > SERVICE_RETENTION_DAYS_MAX) {
                fprintf(stderr, "onestop: --older-than-days takes a whole number of days\n");
                return 2;
            }
        } else {
            fprintf(stderr, "usage: onestop purge [--dry-run] [--older-than-days N]\n");
            return 2;
        }
    }
    struct purge_counts c;
    if (purge_run(cfg, store, time(NULL), days, PURGE_ACTOR, dry_run, &c) != STORE_OK) {
        fprintf(stderr, "onestop: the purge could not run (store unavailable); nothing changed\n");
        return 1;
    }
    char counts[PURGE_COUNTS_TEXT_MAX];
    purge_counts_format(&c, counts, sizeof counts);
    printf("%s: %s\n", dry_run ? "would purge" : "purged", counts);
    return 0;
}
