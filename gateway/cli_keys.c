/* cli_keys: key rotation from the command line.
 *
 * Rotating a data key: make a new key file (scripts/keys, or `openssl rand -hex 32`), point
 * keys.data_key_file at it, move the old file into keys.old_data_key_files, restart onestopd
 * (new values are sealed under the new key, old ones still open), then run `onestop keys
 * rotate` beside the running gateway: it reseals everything in short writes. When `onestop
 * keys status` shows nothing under the old key, drop it from the config and destroy it.
 *
 * status prints one JSON object: per sealed column, the count of values under each key id
 * ("plain" for values no key seals), and the limit keys blinded or not. */
#include "gateway/cli_keys.h"

#include "gateway/data_keys.h"
#include "gateway/field_crypt.h"
#include "gateway/store/crypt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROTATE_BATCH_DEFAULT 500
#define ROTATE_BATCH_MAX     100000

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

static int keys_rotate(struct store *store, const struct field_crypt *crypt, int argc, char **argv)
{
    long batch = ROTATE_BATCH_DEFAULT;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
            char *end;
            errno = 0;
            batch = strtol(argv[++i], &end, 10);
            if (errno || *end || batch < 1 || batch > ROTATE_BATCH_MAX) {
                fprintf(stderr, "onestop: --batch takes 1..%d\n", ROTATE_BATCH_MAX);
                return 2;
            }
        } else {
            fprintf(stderr, "onestop: keys rotate [--batch N]\n");
            return 2;
        }
    }
    const char *current = data_keys_current(crypt->data);
    if (!current) {
        fprintf(stderr, "onestop: keys.data_key_file is not set: there is no key to rotate to\n");
        return 1;
    }
    long moved = 0;
    if (store_keys_rotate(store, current, batch, &moved) != STORE_OK) {
        fprintf(stderr,
                "onestop: rotation stopped after %ld values (the log names the table; is every "
                "older key in keys.old_data_key_files?)\n",
                moved);
        return 1;
    }
    printf("resealed %ld values under data key %s\n", moved, current);
    return 0;
}

int cli_keys(struct store *store, const struct field_crypt *crypt, int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "status") == 0 && argc == 1)
        return keys_status(store, crypt);
    if (argc >= 1 && strcmp(argv[0], "rotate") == 0)
        return keys_rotate(store, crypt, argc - 1, argv + 1);
    fprintf(stderr, "onestop: keys status | keys rotate [--batch N]\n");
    return 2;
}
