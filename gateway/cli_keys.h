/* cli_keys: `onestop keys status` and `onestop keys rotate` (the data keys that seal
 * personal data, field_crypt.h). */
#ifndef ONESTOP_CLI_KEYS_H
#define ONESTOP_CLI_KEYS_H

struct store;
struct config;
struct field_crypt;

/* Runs `keys ARGS...` (argv after "keys"); the process's exit status. */
int cli_keys(struct store *store, const struct config *cfg, const struct field_crypt *crypt,
             int argc, char **argv);

#endif
