/* housekeeper: the gateway's timed chores in one thread — logging the signed head of the
 * audit chain (every audit.head_interval_s when it moved, and at stop) and the retention
 * purge (every retention.purge_interval_s). */
#ifndef ONESTOP_HOUSEKEEPER_H
#define ONESTOP_HOUSEKEEPER_H

#include "gateway/config.h"
#include "gateway/store/audit.h"

#include <stddef.h>

struct housekeeper;

/* Starts the thread; NULL with a message in err when it cannot. cfg and store must outlive
 * it. Stop it before closing the store. */
struct housekeeper *housekeeper_start(const struct config *cfg, struct store *store, char *err,
                                      size_t errlen) __attribute__((warn_unused_result));
/* Stops the thread, logs the signed head one last time and frees. NULL is fine. */
void housekeeper_stop(struct housekeeper *hk);

/* Logs "audit_head id=N hash=H at=T mac=M" (event audit_head) for the chain's head now,
 * signed with audit.head_key_file; false (logged) when there is no key or the store cannot
 * be read: best effort, the failure is logged. The head is in *head when head is not NULL. */
bool housekeeper_log_head(const struct config *cfg, struct store *store, struct audit_head *head);

#endif
