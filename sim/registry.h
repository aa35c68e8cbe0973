/*
 * The simulated back-ends and the per-back-end state the pipeline keeps for them
 * (signing key, fault, received log, replay cache), plus the one state lock.
 *
 * To add a back-end: write sim/<name>.c exporting `const sim_backend <name>_backend`,
 * declare it in sim/backends.h and list it in registry.c's table.
 */
#ifndef ONESTOP_SIM_REGISTRY_H
#define ONESTOP_SIM_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "sim/backend.h"
#include "sim/faults.h"
#include "sim/record.h"
#include "sim/signature.h"

typedef struct sim_slot {
    const sim_backend *backend;
    unsigned char *key; /* signing key, NULL when none was configured */
    size_t key_len;
    fault_config faults;
    sim_record record;
    replay_cache replay;
} sim_slot;

/* Calls every back-end's init and prepares their state. False stops start-up. */
__attribute__((warn_unused_result)) bool registry_init(const sim_options *opts);

/* Frees everything registry_init and registry_set_key made. */
void registry_destroy(void);

/* Gives back-end `name` a signing key (ownership of `key` passes on success). False
 * when there is no such back-end. */
__attribute__((warn_unused_result)) bool registry_set_key(const char *name, unsigned char *key,
                                                          size_t key_len);

/* The back-end named by the first `len` bytes of `name`; NULL when unknown. */
sim_slot *registry_find(const char *name, size_t len);

size_t registry_count(void);
sim_slot *registry_at(size_t i);

/* Forgets all requests, faults and back-end state. Lock held by the caller. */
void registry_reset(void);

/* The one lock around all simulator state. */
void sim_state_lock(void);
void sim_state_unlock(void);

#endif
