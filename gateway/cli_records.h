/* cli_records: the `onestop` commands on the record itself — checking the audit chain and
 * the retention purge. Each returns the process's exit code (0 done / intact, 1 failed or
 * broken, 2 usage) and prints for the operator. */
#ifndef ONESTOP_CLI_RECORDS_H
#define ONESTOP_CLI_RECORDS_H

#include "gateway/config.h"
#include "gateway/store.h"

/* audit verify [--head LINE|FILE]: walks the chain, names the first row wrong; with --head
 * (a logged "audit_head ..." line, or a file such as the gateway's log holding one: the last
 * one counts) also checks the chain against that signed head. */
int cli_audit_verify(struct store *store, const struct config *cfg, int argc, char **argv);
/* audit head: prints the chain's head now, signed ("audit_head id=... mac=..."). */
int cli_audit_head(struct store *store, const struct config *cfg);
/* purge [--dry-run] [--older-than-days N]: the retention purge now; prints the counts. */
int cli_purge(struct store *store, const struct config *cfg, int argc, char **argv);

#endif
