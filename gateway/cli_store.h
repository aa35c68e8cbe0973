/* cli_store: `onestop store ...`, the commands on the store as a whole (never through an open
 * store: they name their source and target themselves). */
#ifndef ONESTOP_CLI_STORE_H
#define ONESTOP_CLI_STORE_H

#include <stdio.h>

/* The usage lines of `onestop store`, for the CLI's usage. */
void cli_store_usage(FILE *out);

/* store copy --from sqlite:PATH --to postgresql:CONNINFO_FILE [--batch N]: copies a SQLite
 * store into an empty PostgreSQL one (gateway/store/copy.h), refusing while onestopd runs on
 * the source's folder. Exit code: 0 copied and verified, 1 refused or failed (the target left
 * empty), 2 usage. */
int cli_store(int argc, char **argv);

#endif
