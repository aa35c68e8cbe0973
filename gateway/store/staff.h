/* store/staff: staff members, their roles and their sessions. */
#ifndef ONESTOP_STORE_STAFF_H
#define ONESTOP_STORE_STAFF_H

#include "gateway/store/core.h"

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <jansson.h>

/* ---- staff ---- */
/* Roles are not a ladder: an auditor reads transactions at every site but may not sell,
 * void or reprint (gateway/http/http.c, access_allows, reads the rule). */
enum staff_role { ROLE_ASSISTANT = 1, ROLE_SUPERVISOR = 2, ROLE_ADMIN = 3, ROLE_AUDITOR = 4 };
const char *staff_role_name(enum staff_role role);
bool staff_role_parse(const char *name, enum staff_role *role) STORE_MUSTCHECK;

struct staff {
    int64_t id;
    char username[64];
    char initials[8];
    enum staff_role role;
    char password_hash[256];
    bool disabled;
};

enum store_result store_staff_add(struct store *store, const char *username, enum staff_role role,
                                  const char *initials, const char *password_hash) STORE_MUSTCHECK;
enum store_result store_staff_find(struct store *store, const char *username,
                                   struct staff *out) STORE_MUSTCHECK;
/* Both end every open session of that staff member in the same write (audited). */
enum store_result store_staff_set_password(struct store *store, const char *username,
                                           const char *password_hash) STORE_MUSTCHECK;
enum store_result store_staff_set_disabled(struct store *store, const char *username,
                                           bool disabled) STORE_MUSTCHECK;
/* JSON array of {"username","role","initials","disabled"}; caller decrefs. */
enum store_result store_staff_list(struct store *store, json_t **out) STORE_MUSTCHECK;

/* ---- sessions (tokens are stored only as their SHA-256) ---- */
struct staff_session {
    char token_hash[65];
    struct staff staff;
    char counter[32];
    time_t created_at;
    time_t expires_at;
    time_t last_seen_at;
};

/* Creates the session and its audit entry in one write. */
enum store_result store_session_create(struct store *store, const char *token_hash,
                                       const struct staff *staff, const char *counter, time_t now,
                                       time_t expires_at, const char *remote) STORE_MUSTCHECK;
/* STORE_NOT_FOUND when unknown, ended or expired at `now`, or the staff member is disabled. */
enum store_result store_session_find(struct store *store, const char *token_hash, time_t now,
                                     struct staff_session *out) STORE_MUSTCHECK;
enum store_result store_session_end(struct store *store, const struct staff_session *session,
                                    time_t now, const char *remote) STORE_MUSTCHECK;
/* Records that the session was used at `now` (queued; no wait, best effort). */
void store_session_touch(struct store *store, const char *token_hash, time_t now);

#endif
