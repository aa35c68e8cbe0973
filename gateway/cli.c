/* onestop: the admin command line. Works on the store directly (beside a running onestopd:
 * SQLite's WAL and the busy timeout let both write).
 *
 *   onestop --config PATH user add NAME --role ROLE [--initials XX]   (password on stdin)
 *   onestop --config PATH user password NAME                          (password on stdin)
 *   onestop --config PATH user disable|enable NAME
 *   onestop --config PATH user list
 *   onestop --config PATH backup PATH | restore PATH (gateway/store/sqlite/backup.h) onestop
 * --config PATH audit [--action ACTION] [--limit N] onestop --config PATH audit verify [--head
 * LINE|FILE]  (exit 1 when the chain is broken) onestop --config PATH audit head (the chain's head,
 * signed) onestop --config PATH purge [--dry-run] [--older-than-days N] onestop --config PATH keys
 * status | keys rotate [--batch N]   (gateway/cli_keys.h) onestop --config PATH keys rotate-index
 * [--batch N]
 *   onestop --config PATH store copy --from sqlite:PATH --to postgresql:CONNINFO_FILE
 *                                     (gateway/cli_store.h)
 */
#include "gateway/cli_keys.h"
#include "gateway/cli_records.h"
#include "gateway/cli_store.h"
#include "gateway/config.h"
#include "gateway/failpoint.h"
#include "gateway/field_crypt.h"
#include "gateway/password.h"
#include "gateway/store/sqlite/backup.h"
#include "gateway/store.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: onestop --config PATH [--data-dir DIR] COMMAND\n"
                 "  backup PATH                a verified copy of the live store (PATH: a new\n"
                 "                             file, or a folder for onestop-STAMP.db)\n"
                 "  restore PATH               put a backup in place (onestopd stopped)\n"
                 "  user add NAME --role assistant|supervisor|admin|auditor [--initials XX]\n"
                 "                             the password is read from standard input\n"
                 "  user password NAME         set a new password (read from standard input)\n"
                 "  user disable NAME | user enable NAME\n"
                 "  user list\n"
                 "  audit [--action ACTION] [--limit N]\n"
                 "  audit verify [--head LINE|FILE]   check the audit chain (and a signed head)\n"
                 "  audit head                 print the audit chain's head, signed\n"
                 "  purge [--dry-run] [--older-than-days N]   retention: anonymise old personal "
                 "data\n"
                 "  keys status                how many stored personal values use each data key\n"
                 "  keys rotate [--batch N]    reseal them all (and the documents) under the\n"
                 "                             current data key\n"
                 "  keys rotate-index [--batch N]  recompute the limit keys' blind index under\n"
                 "                             keys.index_key_file\n");
    cli_store_usage(out);
}

static bool read_password(char *buf, size_t len)
{
    if (isatty(STDIN_FILENO))
        fprintf(stderr, "Password (at least %d characters): ", PASSWORD_MIN_LENGTH);
    if (!fgets(buf, (int)len, stdin))
        return false;
    buf[strcspn(buf, "\r\n")] = '\0';
    if (strlen(buf) < PASSWORD_MIN_LENGTH) {
        fprintf(stderr, "onestop: the password must have at least %d characters\n",
                PASSWORD_MIN_LENGTH);
        return false;
    }
    return true;
}

static bool valid_username(const char *name)
{
    size_t n = strlen(name);
    if (n < 2 || n > 63)
        return false;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != '_')
            return false;
    return true;
}

static void default_initials(const char *name, char *out, size_t len)
{
    snprintf(out, len, "%c%c", toupper((unsigned char)name[0]),
             name[1] ? toupper((unsigned char)name[1]) : ' ');
}

static int user_add(struct store *store, const struct config *cfg, int argc, char **argv)
{
    const char *name = NULL, *role_name = NULL, *initials = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--role") == 0 && i + 1 < argc)
            role_name = argv[++i];
        else if (strcmp(argv[i], "--initials") == 0 && i + 1 < argc)
            initials = argv[++i];
        else if (!name)
            name = argv[i];
        else {
            usage(stderr);
            return 2;
        }
    }
    enum staff_role role;
    if (!name || !role_name) {
        usage(stderr);
        return 2;
    }
    if (!valid_username(name)) {
        fprintf(stderr, "onestop: a username is 2 to 63 letters, digits, '.', '-' or '_'\n");
        return 2;
    }
    if (!staff_role_parse(role_name, &role)) {
        fprintf(stderr, "onestop: the role must be assistant, supervisor, admin or auditor\n");
        return 2;
    }
    char initials_buf[8];
    if (!initials) {
        default_initials(name, initials_buf, sizeof initials_buf);
        initials = initials_buf;
    }
    char password[PASSWORD_MAX_LENGTH + 2], hash[PASSWORD_HASH_MAX];
    if (!read_password(password, sizeof password))
        return 1;
    if (!password_hash(password, cfg->auth.pbkdf2_iterations, hash, sizeof hash)) {
        fprintf(stderr, "onestop: could not hash the password\n");
        return 1;
    }
    memset(password, 0, sizeof password);
    enum store_result r = store_staff_add(store, name, role, initials, hash);
    if (r == STORE_CONFLICT) {
        fprintf(stderr, "onestop: there is already a user called %s\n", name);
        return 1;
    }
    if (r != STORE_OK) {
        fprintf(stderr, "onestop: could not save the user (store unavailable)\n");
        return 1;
    }
    printf("added %s (%s)\n", name, staff_role_name(role));
    return 0;
}

static int user_password(struct store *store, const struct config *cfg, const char *name)
{
    char password[PASSWORD_MAX_LENGTH + 2], hash[PASSWORD_HASH_MAX];
    if (!read_password(password, sizeof password))
        return 1;
    if (!password_hash(password, cfg->auth.pbkdf2_iterations, hash, sizeof hash))
        return 1;
    memset(password, 0, sizeof password);
    enum store_result r = store_staff_set_password(store, name, hash);
    if (r == STORE_NOT_FOUND)
        fprintf(stderr, "onestop: no user called %s\n", name);
    return r == STORE_OK ? 0 : 1;
}

static int print_json(json_t *v)
{
    char *text = json_dumps(v, JSON_INDENT(2));
    json_decref(v);
    if (!text)
        return 1;
    puts(text);
    free(text);
    return 0;
}

static int run(struct store *store, const struct config *cfg, int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[0], "user") == 0) {
        if (strcmp(argv[1], "add") == 0)
            return user_add(store, cfg, argc - 2, argv + 2);
        if (strcmp(argv[1], "password") == 0 && argc == 3)
            return user_password(store, cfg, argv[2]);
        if ((strcmp(argv[1], "disable") == 0 || strcmp(argv[1], "enable") == 0) && argc == 3) {
            enum store_result r =
                store_staff_set_disabled(store, argv[2], strcmp(argv[1], "disable") == 0);
            if (r == STORE_NOT_FOUND)
                fprintf(stderr, "onestop: no user called %s\n", argv[2]);
            return r == STORE_OK ? 0 : 1;
        }
        if (strcmp(argv[1], "list") == 0 && argc == 2) {
            json_t *list = NULL;
            if (store_staff_list(store, &list) != STORE_OK)
                return 1;
            return print_json(list);
        }
    }
    if (argc >= 2 && strcmp(argv[0], "audit") == 0 && strcmp(argv[1], "verify") == 0)
        return cli_audit_verify(store, cfg, argc - 2, argv + 2);
    if (argc == 2 && strcmp(argv[0], "audit") == 0 && strcmp(argv[1], "head") == 0)
        return cli_audit_head(store, cfg);
    if (argc >= 1 && strcmp(argv[0], "purge") == 0)
        return cli_purge(store, cfg, argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "audit") == 0) {
        const char *action = NULL;
        int limit = 50;
        for (int i = 1; i + 1 < argc; i += 2) {
            if (strcmp(argv[i], "--action") == 0)
                action = argv[i + 1];
            else if (strcmp(argv[i], "--limit") == 0)
                limit = (int)strtol(argv[i + 1], NULL, 10);
        }
        json_t *list = NULL;
        if (store_audit_list(store, action, limit > 0 ? limit : 50, &list) != STORE_OK)
            return 1;
        return print_json(list);
    }
    usage(stderr);
    return 2;
}

int main(int argc, char **argv)
{
    failpoint_init(); /* tests only: ONESTOP_FAILPOINTS */
    const char *config_path = NULL, *data_dir = NULL;
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config_path = argv[++i];
        else if (strcmp(argv[i], "--data-dir") == 0 && i + 1 < argc)
            data_dir = argv[++i];
        else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else
            break;
    }
    if (!config_path || i >= argc) {
        usage(stderr);
        return 2;
    }
    json_t *problems = json_array();
    struct config *cfg = config_load(config_path, problems);
    if (!cfg) {
        size_t k;
        json_t *p;
        json_array_foreach(problems, k, p) fprintf(stderr, "%s\n", json_string_value(p));
        json_decref(problems);
        return 1;
    }
    json_decref(problems);
    if (data_dir && !config_set_data_dir(cfg, data_dir)) {
        config_free(cfg);
        return 1;
    }
    if ((strcmp(argv[i], "backup") == 0 || strcmp(argv[i], "restore") == 0) && cfg->store.engine &&
        strcmp(cfg->store.engine, "sqlite") != 0) {
        fprintf(stderr,
                "onestop %s copies the SQLite store; this store is on %s: back it up with the "
                "database's own tools (pg_dump, pg_basebackup)\n",
                argv[i], cfg->store.engine);
        config_free(cfg);
        return 2;
    }
    if (strcmp(argv[i], "backup") == 0 || strcmp(argv[i], "restore") == 0) {
        int rc = backup_command(cfg->data_dir, argc - i, argv + i); /* never opens the store */
        config_free(cfg);
        return rc;
    }
    if (strcmp(argv[i], "store") == 0) {
        int rc = cli_store(argc - i - 1, argv + i + 1); /* names its own source and target */
        config_free(cfg);
        return rc;
    }
    char err[512];
    struct field_crypt crypt;
    if (!field_crypt_load(&crypt, cfg, err, sizeof err)) {
        fprintf(stderr, "onestop: %s\n", err);
        config_free(cfg);
        return 1;
    }
    struct store_options so = {.data_dir = cfg->data_dir,
                               .busy_timeout_ms = cfg->store.busy_timeout_ms,
                               .group_commit_max = 1,
                               .read_connections = 1,
                               .crypt = &crypt,
                               .conninfo_file = cfg->store.conninfo_file};
    /* config_load refused an engine it does not know */
    (void)store_engine_parse(cfg->store.engine, &so.engine);
    struct store *store = store_open(&so, err, sizeof err);
    if (!store) {
        fprintf(stderr, "onestop: %s\n", err);
        field_crypt_free(&crypt);
        config_free(cfg);
        return 1;
    }
    int rc = strcmp(argv[i], "keys") == 0 ? cli_keys(store, cfg, &crypt, argc - i - 1, argv + i + 1)
                                          : run(store, cfg, argc - i, argv + i);
    store_close(store);
    field_crypt_free(&crypt);
    config_free(cfg);
    return rc;
}
