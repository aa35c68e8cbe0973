/*
 * The back-end table and its state. The table is fixed at compile time; the state
 * beside each entry is created by registry_init and guarded by sim_state_lock.
 */
#include "sim/registry.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "sim/backends.h"

static sim_slot slots[] = {
    {.backend = &parking_backend}, {.backend = &leisure_backend}, {.backend = &gazetteer_backend},
    {.backend = &bulky_backend},   {.backend = &mail_backend},    {.backend = &nhs_token_backend},
    {.backend = &nhs_ers_backend}, {.backend = &notify_backend},  {.backend = &documents_backend},
};

#define SLOT_COUNT (sizeof slots / sizeof slots[0])

static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;

void sim_state_lock(void)
{
    pthread_mutex_lock(&state_lock);
}

void sim_state_unlock(void)
{
    pthread_mutex_unlock(&state_lock);
}

bool registry_init(const sim_options *opts)
{
    for (size_t i = 0; i < SLOT_COUNT; i++) {
        sim_slot *s = &slots[i];
        s->faults = faults_none();
        record_init(&s->record);
        replay_cache_init(&s->replay);
        if (s->backend->init && !s->backend->init(opts))
            return false;
    }
    return true;
}

void registry_destroy(void)
{
    for (size_t i = 0; i < SLOT_COUNT; i++) {
        sim_slot *s = &slots[i];
        if (s->backend->destroy)
            s->backend->destroy();
        record_free(&s->record);
        replay_cache_free(&s->replay);
        free(s->key);
        s->key = NULL;
        s->key_len = 0;
    }
}

bool registry_set_key(const char *name, unsigned char *key, size_t key_len)
{
    sim_slot *s = registry_find(name, strlen(name));
    if (!s)
        return false;
    free(s->key);
    s->key = key;
    s->key_len = key_len;
    return true;
}

sim_slot *registry_find(const char *name, size_t len)
{
    for (size_t i = 0; i < SLOT_COUNT; i++) {
        const char *n = slots[i].backend->name;
        if (strlen(n) == len && memcmp(n, name, len) == 0)
            return &slots[i];
    }
    return NULL;
}

size_t registry_count(void)
{
    return SLOT_COUNT;
}

sim_slot *registry_at(size_t i)
{
    return i < SLOT_COUNT ? &slots[i] : NULL;
}

void registry_reset(void)
{
    for (size_t i = 0; i < SLOT_COUNT; i++) {
        sim_slot *s = &slots[i];
        s->faults = faults_none();
        record_clear(&s->record);
        replay_cache_clear(&s->replay);
        if (s->backend->reset)
            s->backend->reset();
    }
}
