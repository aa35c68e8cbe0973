/* store_node_id: this node's id, the owner of its delivery leases (see deliveries.h).
 *
 * DESIGN: onestopd keeps its id in data_dir/node-id (16 hex digits, made at random at the
 * first start), so a node restarted after kill -9 is the same node: its forwarder's claim
 * takes back at once the deliveries it held (a claim takes the rows its own node holds), not
 * after their leases (lease_ms) run out. One onestopd at a time holds a data folder
 * (daemon_lock.h), so two live processes share an id only if a data folder was copied; on a
 * shared store the start therefore also takes a session lock on the id, and a node that
 * cannot (another live node has that id, or the killed process's database session has not
 * ended yet after NODE_GUARD_WAIT_MS) runs with a random id instead, as the CLI always does:
 * it then waits out its old leases like any other node, but never shares an id.
 *
 * The lock lives as long as its database session, and a session can end under a live node (a
 * server restart, pg_terminate_backend, a network cut: the store connects again, in a new
 * session). So the store's node guard (writer.c) asks every NODE_GUARD_CHECK_MS whether the
 * session still holds it (store_node_id_hold) and takes it again when it is free; and a
 * delivery claim is made only while the session that holds it does (store_node_fence, in the
 * claim's transaction). A copy of this data folder started while the lock was free may take
 * it first: this node then claims nothing until the copy stops. */
#include "gateway/store/store_private.h"

#include "gateway/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define NODE_ID_SIZE        17 /* 16 hex digits */
#define NODE_ID_FILE        "node-id"
#define NODE_ID_PATH_MAX    4096
#define NODE_GUARD_WAIT_MS  5000 /* for a killed process's session to end */
#define NODE_GUARD_RETRY_MS 100

static char node_id[NODE_ID_SIZE];
static char kept_id[NODE_ID_SIZE]; /* data_dir/node-id, once store_node_id_start accepted it */
static int64_t held_key;           /* kept_id's lock key while it is guarded; 0: not guarded */
static pthread_once_t node_id_once = PTHREAD_ONCE_INIT;

static void random_id(char out[NODE_ID_SIZE])
{
    unsigned char raw[(NODE_ID_SIZE - 1) / 2];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t v = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_sec;
        memcpy(raw, &v, sizeof raw);
    }
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

static void node_id_make(void)
{
    if (kept_id[0])
        memcpy(node_id, kept_id, sizeof node_id);
    else
        random_id(node_id);
    log_msg(LOG_INFO, "node_id", "this node's id (the owner of its delivery leases) is %s%s",
            node_id, kept_id[0] ? " (kept in the data folder)" : "");
}

const char *store_node_id(void)
{
    pthread_once(&node_id_once, node_id_make);
    return node_id;
}

static bool is_node_id(const char *text)
{
    for (size_t i = 0; i + 1 < NODE_ID_SIZE; i++)
        if (!((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f')))
            return false;
    return text[NODE_ID_SIZE - 1] == '\0';
}

/* data_dir/node-id into out, made when there is none (written whole, then renamed). */
static bool node_id_file(const char *data_dir, char out[NODE_ID_SIZE], char *err, size_t errlen)
{
    char path[NODE_ID_PATH_MAX], tmp[NODE_ID_PATH_MAX + 8];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", data_dir, NODE_ID_FILE) >= sizeof path) {
        snprintf(err, errlen, "the data folder's path is too long");
        return false;
    }
    FILE *f = fopen(path, "r");
    if (f) {
        char line[NODE_ID_SIZE + 2] = "";
        bool ok = fgets(line, sizeof line, f) != NULL;
        fclose(f);
        line[strcspn(line, "\n")] = '\0';
        if (!ok || !is_node_id(line)) {
            snprintf(err, errlen,
                     "%s is not a node id (16 hex digits): delete it, and a new one is made", path);
            return false;
        }
        memcpy(out, line, NODE_ID_SIZE);
        return true;
    }
    if (errno != ENOENT) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return false;
    }
    random_id(out);
    snprintf(tmp, sizeof tmp, "%s.new", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    char text[NODE_ID_SIZE + 1];
    snprintf(text, sizeof text, "%s\n", out);
    bool ok = fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text) && fsync(fd) == 0;
    if (fd >= 0 && close(fd) != 0)
        ok = false;
    if (!ok || rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return false;
    }
    return true;
}

bool store_node_id_start(const char *data_dir, struct db *locks, int64_t *session, char *err,
                         size_t errlen)
{
    char id[NODE_ID_SIZE];
    *session = 0;
    if (!node_id_file(data_dir, id, err, errlen))
        return false;
    if (locks) {
        enum db_hold hold = DB_HOLD_NONE;
        for (long waited = 0;; waited += NODE_GUARD_RETRY_MS) {
            if (db_hold_session(locks, db_lock_key("node", id), &hold, session) &&
                hold != DB_HOLD_NONE)
                break;
            *session = 0;
            if (waited >= NODE_GUARD_WAIT_MS) {
                log_msg(LOG_WARN, "node_id_in_use",
                        "another session holds node id %s (a copied data folder, or this node's "
                        "killed process whose database session has not ended): this run takes "
                        "a random id, and waits out its old leases",
                        id);
                return true;
            }
            struct timespec ts = {0, NODE_GUARD_RETRY_MS * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    memcpy(kept_id, id, sizeof kept_id);
    if (locks)
        held_key = db_lock_key("node", id);
    return true;
}

bool store_node_id_guarded(void)
{
    return held_key != 0;
}

bool store_node_id_hold(struct db *locks, enum db_hold *hold, int64_t *session)
{
    return db_hold_session(locks, held_key, hold, session);
}

enum store_result store_node_fence(struct db *db, int64_t session)
{
    if (!held_key || !db_shared(db))
        return STORE_OK;
    if (session <= 0)
        return STORE_CONFLICT;
    bool held = false;
    if (!db_session_holds(db, held_key, session, &held))
        return db_result(db);
    return held ? STORE_OK : STORE_CONFLICT;
}
