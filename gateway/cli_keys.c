/* cli_keys: key rotation from the command line.
 *
 * Rotating a data key: make a new key file (scripts/keys, or `openssl rand -hex 32`), point
 * keys.data_key_file at it, move the old file into keys.old_data_key_files, restart onestopd
 * (new values are sealed under the new key, old ones still open), then run `onestop keys
 * rotate` beside the running gateway: it reseals every stored value in short writes, then
 * every kept document file (document_rekey.h), printing its progress. When `onestop keys
 * status` shows nothing under the old key, drop it from the config and destroy it. Each run
 * writes an audit row (data_key_rotated, or data_key_rotation_failed with how far it got).
 *
 * status prints one JSON object: per sealed column, the count of values under each key id
 * ("plain" for values no key seals), the limit keys blinded or not, and the kept document
 * files under each key id ("documents"). */
#include "gateway/cli_keys.h"

#include "gateway/config.h"
#include "gateway/data_keys.h"
#include "gateway/document_file.h"
#include "gateway/document_rekey.h"
#include "gateway/documents.h"
#include "gateway/field_crypt.h"
#include "gateway/store_crypt.h"
#include "gateway/store_rekey.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROTATE_BATCH_DEFAULT 500
#define ROTATE_BATCH_MAX     100000
#define KEYS_ACTOR           "admin-cli"

static int keys_status(struct store *store, const struct field_crypt *crypt)
{
    json_t *counts = NULL;
    if (store_keys_status(store, &counts) != STORE_OK) {
        fprintf(stderr, "onestop: cannot read the store\n");
        return 1;
    }
    const char *current = data_keys_current(crypt->data);
    json_t *out = json_pack("{s:s?,s:o}", "current_key", current, "values", counts);
    char *text = out ? json_dumps(out, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(out);
    if (!text)
        return 1;
    printf("%s\n", text);
    free(text);
    return 0;
}

/* One audit row per key operation: what it did and how far it got. */
static void keys_audit(struct store *store, const char *action, const char *key, const char *detail)
{
    struct audit_entry e = {
        .actor = KEYS_ACTOR, .action = action, .subject = key, .detail = detail};
    if (store_audit(store, &e) != STORE_OK)
        fprintf(stderr, "onestop: the audit row for %s could not be written\n", action);
}

/* [--batch N] into *batch; false after saying what is wrong (exit 2). */
static bool parse_batch(const char *command, int argc, char **argv, long *batch)
{
    *batch = ROTATE_BATCH_DEFAULT;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
            char *end;
            errno = 0;
            *batch = strtol(argv[++i], &end, 10);
            if (errno || *end || *batch < 1 || *batch > ROTATE_BATCH_MAX) {
                fprintf(stderr, "onestop: --batch takes 1..%d\n", ROTATE_BATCH_MAX);
                return false;
            }
        } else {
            fprintf(stderr, "onestop: keys %s [--batch N]\n", command);
            return false;
        }
    }
    return true;
}

static void index_progress(long done, long total, void *ctx)
{
    (void)ctx;
    printf("limit keys: %ld of %ld recomputed\n", done, total);
    fflush(stdout);
}

static int keys_rotate_index(struct store *store, const struct field_crypt *crypt, int argc,
                             char **argv)
{
    long batch;
    if (!parse_batch("rotate-index", argc, argv, &batch))
        return 2;
    const char *current = data_keys_current(crypt->index);
    if (!current) {
        fprintf(stderr, "onestop: keys.index_key_file is not set: there is no index key to "
                        "recompute the limit keys under\n");
        return 1;
    }
    if (!crypt->data) {
        fprintf(stderr, "onestop: keys.data_key_file is not set: the limit keys' values are not "
                        "kept, so they cannot be recomputed\n");
        return 1;
    }
    long done = 0, unsealed = 0;
    char detail[160];
    if (store_index_rotate(store, batch, index_progress, NULL, &done, &unsealed) != STORE_OK) {
        fprintf(stderr, "onestop: recomputing stopped after %ld limit keys (the log says why)\n",
                done);
        snprintf(detail, sizeof detail, "stopped after %ld limit keys", done);
        keys_audit(store, "index_key_rotation_failed", current, detail);
        return 1;
    }
    printf("recomputed %ld limit keys under index key %s\n", done, current);
    if (unsealed)
        printf("%ld limit keys were written before their value was kept: they match only under "
               "the old index key, so keep keys.old_index_key_file until they expire\n",
               unsealed);
    snprintf(detail, sizeof detail, "%ld limit keys recomputed, %ld left under the old key", done,
             unsealed);
    keys_audit(store, "index_key_rotated", current, detail);
    return 0;
}

static int keys_rotate(struct store *store, const struct config *cfg,
                       const struct field_crypt *crypt, int argc, char **argv)
{
    long batch;
    if (!parse_batch("rotate", argc, argv, &batch))
        return 2;
    const char *current = data_keys_current(crypt->data);
    if (!current) {
        fprintf(stderr, "onestop: keys.data_key_file is not set: there is no key to rotate to\n");
        return 1;
    }
    long moved = 0;
    char detail[160];
    if (store_keys_rotate(store, current, batch, &moved) != STORE_OK) {
        fprintf(stderr,
                "onestop: rotation stopped after %ld values (the log names the table; is every "
                "older key in keys.old_data_key_files?)\n",
                moved);
        snprintf(detail, sizeof detail, "stopped after %ld values", moved);
        keys_audit(store, "data_key_rotation_failed", current, detail);
        return 1;
    }
    printf("resealed %ld values under data key %s\n", moved, current);
    fflush(stdout);
    char dir[DOCUMENT_PATH_MAX];
    documents_folder(cfg->data_dir, dir);
    struct document_rekey_counts docs;
    bool stored = document_rekey_all(store, crypt->data, dir, (int)batch, stdout, &docs);
    printf("resealed %ld documents under data key %s", docs.resealed, current);
    if (docs.gone)
        printf(" (%ld deleted meanwhile)", docs.gone);
    printf("\n");
    snprintf(detail, sizeof detail, "%ld values, %ld documents resealed, %ld documents failed",
             moved, docs.resealed, docs.failed);
    keys_audit(store, stored && !docs.failed ? "data_key_rotated" : "data_key_rotation_failed",
               current, detail);
    if (!stored) {
        fprintf(stderr, "onestop: the store failed while documents were resealed; run it again\n");
        return 1;
    }
    if (docs.failed) {
        fprintf(stderr, "onestop: %ld documents could not be resealed (named above)\n",
                docs.failed);
        return 1;
    }
    return 0;
}

int cli_keys(struct store *store, const struct config *cfg, const struct field_crypt *crypt,
             int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "status") == 0 && argc == 1)
        return keys_status(store, crypt);
    if (argc >= 1 && strcmp(argv[0], "rotate") == 0)
        return keys_rotate(store, cfg, crypt, argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "rotate-index") == 0)
        return keys_rotate_index(store, crypt, argc - 1, argv + 1);
    fprintf(stderr,
            "onestop: keys status | keys rotate [--batch N] | keys rotate-index [--batch N]\n");
    return 2;
}
