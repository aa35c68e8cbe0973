/* store/writer: the store's one writer thread and its read pool, over the engine-neutral
 * db.h (the same for every engine).
 *
 * DESIGN: one writer thread owns the only writing connection. HTTP threads queue store_write
 * jobs; the writer takes everything queued (up to group_commit_max), runs them inside one
 * transaction (db_begin: SQLite's BEGIN IMMEDIATE) ... COMMIT, and only after COMMIT returns
 * does it report each job's result. A job that is refused is undone alone: the group runs
 * without savepoints first, and when a job does not succeed it is rolled back and run again
 * with each job under its own SAVEPOINT (run_group_once). So a reply sent after a successful
 * write means the data is on disk, and one fsync serves a whole group. The results of async
 * jobs (store_submit: replies, logging, resuming requests) are reported by a second thread,
 * the finisher, in the order the jobs were queued, so the writer goes on to the next group
 * meanwhile; sync writers are woken by the writer itself. If COMMIT fails (disk
 * full, I/O error) every job of the group gets STORE_UNAVAILABLE and the database is left as
 * it was before the group.
 *
 * The engine is chosen at open (store_options.engine): its connections, its migrations and
 * its schema version are the only things here that differ per engine (engine_* below). */
#include "gateway/store/store_private.h"

#include "gateway/log.h"
#include "gateway/store/conninfo.h"
#include "gateway/store/postgresql/db_postgresql.h"
#include "gateway/store/sqlite/sqlite.h"
#include "gateway/thread_name.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define STORE_PATH_MAX      4096
#define STORE_GROUP_TRIES   3    /* runs of a group whose failure the engine calls retryable */
#define NODE_GUARD_CHECK_MS 1000 /* how often the node guard asks for this node's id lock */
#define MS_PER_S            1000
#define NS_PER_MS           1000000L
#define SEND_LOCK_NAME_MAX  24 /* a print job's id in decimal, the name of its send lock */

struct store {
    enum store_engine engine;
    char path[STORE_PATH_MAX]; /* SQLite: the database file */
    struct db *writer;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t queued;   /* writer waits for work */
    pthread_cond_t finished; /* sync writers wait for their job */
    struct store_write *head, *tail;
    bool stopping;
    long group_max;

    /* the finisher: async writes whose result is known, to be notified in this order */
    pthread_t finisher;
    pthread_cond_t finished_queued;
    struct store_write *done_head, *done_tail;
    bool notifying; /* the finisher is running notifies (they may queue more writes) */
    bool finisher_stopping;

    pthread_mutex_t read_lock;
    pthread_cond_t read_free;
    struct db **readers;
    bool *reader_busy;
    long readers_len;

    struct store_stats stats;

    /* PostgreSQL: the connection that holds this node's session locks (the printers it
     * works); NULL on SQLite. locks_lock serialises its users (the print workers). */
    struct db *locks;
    pthread_mutex_t locks_lock;
    int64_t locks_session; /* the locks connection's session (db_hold_session), 0: none yet */

    /* PostgreSQL: the connection that holds this node's send locks (store_print_send_lock):
     * its own, so that a send lock does not end with the printer locks' session; NULL on
     * SQLite. sends_lock serialises its users (the print workers). */
    struct db *sends;
    pthread_mutex_t sends_lock;

    /* PostgreSQL with a kept node id: the node guard, which keeps this node's id lock on the
     * locks connection (node_id.c). node_session: the session holding it, 0 while none does. */
    pthread_t guard;
    pthread_cond_t guard_wake; /* on CLOCK_MONOTONIC, with lock */
    bool guard_stopping;
    _Atomic int64_t node_session;
};

/* ---- the writer ---- */

/* One statement of the group's bracket (SAVEPOINT, RELEASE, ROLLBACK TO, COMMIT, ROLLBACK)
 * from the connection's statement cache: parsed once, not again for every job. sql must be a
 * string literal (the cache is keyed by its address). */
static bool bracket(struct db *db, const char *sql, char *err, size_t errlen)
{
    struct db_stmt *st = db_cached(db, sql);
    if (!st) {
        snprintf(err, errlen, "%s", db_errmsg(db));
        return false;
    }
    enum db_step rc = db_step(st);
    if (rc == DB_ERROR)
        snprintf(err, errlen, "%s", db_errmsg(db));
    db_release(st);
    return rc != DB_ERROR;
}

/* Runs one group of writes in one database transaction. With savepoints, each job runs under
 * its own SAVEPOINT, so a job that fails is undone alone and the others still commit. Every
 * step of that bracket is checked: when a SAVEPOINT cannot be opened, released or rolled back
 * to, we can no longer tell which rows belong to which job, so the whole group is rolled back
 * and every job in it gets STORE_UNAVAILABLE — never a commit of a refused job's partial rows.
 *
 * Without savepoints (the first run of every group: almost every job succeeds), the jobs run
 * straight in the transaction: a savepoint costs SQLite a copy of every page the job changes
 * that the group changed before (the tail pages of every table and index a sale appends to),
 * to be able to undo the job alone. The first job that does not succeed stops the run: the
 * whole group is rolled back (nothing of it is stored) and *refused is set, for the caller to
 * run the group again with savepoints — so a refused job's rows are never committed, and the
 * results are the ones a run with savepoints gives.
 *
 * Returns whether the group was rolled back; *retryable when the engine says the same group
 * may go through if run again (SQLite: still busy after busy_timeout; PostgreSQL: a
 * serialization failure or deadlock). */
static bool run_group_once(struct db *db, struct store_write *group, bool savepoints,
                           bool *retryable, bool *refused)
{
    char err[256];
    bool began = db_begin(db, err, sizeof err);
    if (!began) {
        *retryable = db_retryable(db);
        log_msg(LOG_ERROR, "store_unavailable", "cannot begin a write: %s", err);
    }
    bool aborted = !began;
    /* Several nodes on one database: a group takes the audit chain's lock before any other
     * (a limit key's, a row's), so two nodes' groups run one after the other and never wait
     * for each other's locks in opposite orders — a deadlock PostgreSQL breaks by failing a
     * sale with 503. Every group appends audit rows, so groups serialised on this lock anyway,
     * only from their first audit row on. */
    if (began && db_shared(db) && !store_audit_chain_lock(db)) {
        *retryable = db_retryable(db);
        log_msg(LOG_ERROR, "store_unavailable", "cannot take the audit chain's lock: %s",
                db_errmsg(db));
        aborted = true;
    }
    for (struct store_write *w = group; w; w = w->next) {
        if (aborted) {
            w->result = STORE_UNAVAILABLE;
            continue;
        }
        if (!savepoints) {
            w->result = w->run(db, w->arg);
            if (!db_in_transaction(db)) {
                aborted = true;
                log_msg(LOG_ERROR, "store_unavailable", "write group rolled back: %s",
                        db_errmsg(db));
            } else if (w->result != STORE_OK) {
                *refused = true; /* run again with savepoints: this job alone is undone */
                aborted = true;
            }
            continue;
        }
        if (!bracket(db, "SAVEPOINT job", err, sizeof err)) {
            log_msg(LOG_ERROR, "store_unavailable", "cannot open a savepoint: %s", err);
            aborted = true;
            continue;
        }
        w->result = w->run(db, w->arg);
        if (!db_in_transaction(db)) {
            /* the engine rolled the whole transaction back (SQLite on disk full): the group
             * is lost */
            aborted = true;
            log_msg(LOG_ERROR, "store_unavailable", "write group rolled back: %s", db_errmsg(db));
        } else if (w->result == STORE_OK) {
            if (!bracket(db, "RELEASE job", err, sizeof err)) {
                log_msg(LOG_ERROR, "store_unavailable", "cannot release a savepoint: %s", err);
                aborted = true;
            }
        } else if (!bracket(db, "ROLLBACK TO job", err, sizeof err) ||
                   !bracket(db, "RELEASE job", err, sizeof err)) {
            /* the refused job's rows may still be in the transaction: commit nothing */
            log_msg(LOG_ERROR, "store_unavailable",
                    "cannot undo a refused write (%s); the whole group is rolled back", err);
            aborted = true;
        }
    }
    if (!aborted && !bracket(db, "COMMIT", err, sizeof err)) {
        *retryable = db_retryable(db);
        log_msg(LOG_ERROR, "store_unavailable", "commit failed (disk full or unwritable?): %s",
                err);
        aborted = true;
    }
    if (aborted) {
        if (began && db_in_transaction(db) && !bracket(db, "ROLLBACK", err, sizeof err))
            log_msg(LOG_ERROR, "store_unavailable", "rollback failed: %s", err);
        for (struct store_write *w = group; w; w = w->next)
            w->result = STORE_UNAVAILABLE;
    }
    return aborted;
}

/* Runs a group, again while its failure is one the engine calls retryable (at most
 * STORE_GROUP_TRIES times in all): nothing of a rolled-back group was stored, and every job's
 * outputs count only once its final result is STORE_OK. */
static void run_group(struct store *store, struct store_write *group, long count)
{
    bool retryable = false, refused = false;
    bool aborted = run_group_once(store->writer, group, false, &retryable, &refused);
    /* a refused job: the run without savepoints does not count as a try */
    int tries = refused ? 0 : 1;
    if (refused)
        retryable = true;
    else if (aborted && retryable)
        log_msg(LOG_WARN, "store_retry", "write group of %ld runs again (%s)", count,
                db_engine(store->writer));
    for (; aborted && retryable && tries < STORE_GROUP_TRIES; tries++) {
        retryable = false;
        aborted = run_group_once(store->writer, group, true, &retryable, &refused);
        if (aborted && retryable && tries + 1 < STORE_GROUP_TRIES)
            log_msg(LOG_WARN, "store_retry", "write group of %ld runs again (%s)", count,
                    db_engine(store->writer));
    }
    pthread_mutex_lock(&store->lock);
    store->stats.commits += aborted ? 0 : 1;
    store->stats.failed_commits += aborted ? 1 : 0;
    store->stats.writes += (uint64_t)count;
    if (count > store->stats.max_batch)
        store->stats.max_batch = count;
    pthread_mutex_unlock(&store->lock);
}

/* Reports each write of list (its result set) to whoever waits for it; called with the lock
 * held, returns with it released. Sync waiters are marked done under the lock (each may
 * return and drop its stack frame as soon as we unlock); async writes go to the finisher's
 * queue, to be notified outside the lock (their notify frees them), in the order they were
 * queued. */
static void finish_writes(struct store *store, struct store_write *list)
{
    bool queued = false;
    for (struct store_write *w = list, *next; w; w = next) {
        next = w->next;
        if (w->notify) {
            w->next = NULL;
            if (store->done_tail)
                store->done_tail->next = w;
            else
                store->done_head = w;
            store->done_tail = w;
            queued = true;
        } else {
            w->done = true;
        }
    }
    pthread_cond_broadcast(&store->finished);
    if (queued)
        pthread_cond_signal(&store->finished_queued);
    pthread_mutex_unlock(&store->lock);
}

/* The finisher: notifies finished async writes, a whole queue at a time, in order. Runs until
 * store_close, after the writer has stopped, has nothing more for it. */
static void *finisher_main(void *arg)
{
    struct store *store = arg;
    thread_name_set("store-finisher");
    log_set_request_id("store-writer");
    pthread_mutex_lock(&store->lock);
    for (;;) {
        while (!store->done_head && !store->finisher_stopping)
            pthread_cond_wait(&store->finished_queued, &store->lock);
        if (!store->done_head)
            break;
        struct store_write *list = store->done_head;
        store->done_head = store->done_tail = NULL;
        store->notifying = true;
        pthread_mutex_unlock(&store->lock);
        for (struct store_write *w = list, *next; w; w = next) {
            next = w->next;
            w->done = true;
            w->notify(w, w->notify_ctx);
        }
        pthread_mutex_lock(&store->lock);
        store->notifying = false;
        pthread_cond_signal(&store->queued); /* a stopping writer waits for the last notifies */
    }
    pthread_mutex_unlock(&store->lock);
    return NULL;
}

/* The writer stops once asked to and nothing is left that could queue more: no write queued,
 * none waiting to be notified, no notify running. Called with the lock held. */
static bool writer_may_stop(const struct store *store)
{
    return store->stopping && !store->head && !store->done_head && !store->notifying;
}

static void *writer_main(void *arg)
{
    struct store *store = arg;
    thread_name_set("store-writer");
    log_set_request_id("store-writer");
    pthread_mutex_lock(&store->lock);
    for (;;) {
        while (!store->head && !writer_may_stop(store))
            pthread_cond_wait(&store->queued, &store->lock);
        if (!store->head)
            break;
        struct store_write *group = store->head, *last = group;
        long count = 1;
        while (last->next && count < store->group_max) {
            last = last->next;
            count++;
        }
        store->head = last->next;
        if (!store->head)
            store->tail = NULL;
        store->stats.queued -= count;
        store->stats.writing = count;
        last->next = NULL;
        pthread_mutex_unlock(&store->lock);

        run_group(store, group, count);

        pthread_mutex_lock(&store->lock);
        store->stats.writing = 0;
        finish_writes(store, group);
        pthread_mutex_lock(&store->lock);
    }
    pthread_mutex_unlock(&store->lock);
    return NULL;
}

static void enqueue(struct store *store, struct store_write *w)
{
    w->next = NULL;
    w->done = false;
    pthread_mutex_lock(&store->lock);
    if (store->tail)
        store->tail->next = w;
    else
        store->head = w;
    store->tail = w;
    store->stats.queued++;
    pthread_cond_signal(&store->queued);
    pthread_mutex_unlock(&store->lock);
}

void store_write_async(struct store *store, struct store_write *write)
{
    enqueue(store, write);
}

enum store_result store_write_sync(struct store *store, store_write_fn run, void *arg)
{
    struct store_write w = {.run = run, .arg = arg};
    enqueue(store, &w);
    pthread_mutex_lock(&store->lock);
    while (!w.done)
        pthread_cond_wait(&store->finished, &store->lock);
    pthread_mutex_unlock(&store->lock);
    return w.result;
}

long store_refuse_queued(struct store *store)
{
    pthread_mutex_lock(&store->lock);
    struct store_write *list = store->head;
    store->head = store->tail = NULL;
    store->stats.queued = 0;
    long n = 0;
    for (struct store_write *w = list; w; w = w->next) {
        w->result = STORE_UNAVAILABLE;
        n++;
    }
    finish_writes(store, list);
    return n;
}

/* ---- readers ---- */

struct db *store_reader_acquire(struct store *store)
{
    pthread_mutex_lock(&store->read_lock);
    for (;;) {
        for (long i = 0; i < store->readers_len; i++) {
            if (!store->reader_busy[i]) {
                store->reader_busy[i] = true;
                pthread_mutex_unlock(&store->read_lock);
                return store->readers[i];
            }
        }
        pthread_cond_wait(&store->read_free, &store->read_lock);
    }
}

void store_reader_release(struct store *store, struct db *db)
{
    pthread_mutex_lock(&store->read_lock);
    for (long i = 0; i < store->readers_len; i++)
        if (store->readers[i] == db)
            store->reader_busy[i] = false;
    pthread_cond_signal(&store->read_free);
    pthread_mutex_unlock(&store->read_lock);
}

/* ---- the node guard ---- */

/* Sleeps NODE_GUARD_CHECK_MS; false when the store is closing. */
static bool guard_wait(struct store *store)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += NODE_GUARD_CHECK_MS / MS_PER_S;
    deadline.tv_nsec += (NODE_GUARD_CHECK_MS % MS_PER_S) * NS_PER_MS;
    if (deadline.tv_nsec >= MS_PER_S * NS_PER_MS) {
        deadline.tv_sec++;
        deadline.tv_nsec -= MS_PER_S * NS_PER_MS;
    }
    pthread_mutex_lock(&store->lock);
    while (!store->guard_stopping &&
           pthread_cond_timedwait(&store->guard_wake, &store->lock, &deadline) != ETIMEDOUT) {
    }
    bool go_on = !store->guard_stopping;
    pthread_mutex_unlock(&store->lock);
    return go_on;
}

/* Asks every NODE_GUARD_CHECK_MS whether the locks connection's session still holds this
 * node's id lock, and takes it again when it is free (a session that ended took the lock with
 * it); claims are fenced on node_session meanwhile (store_node_fence). */
static void *guard_main(void *arg)
{
    struct store *store = arg;
    thread_name_set("node-guard");
    bool held = true, said_in_use = false;
    while (guard_wait(store)) {
        enum db_hold h = DB_HOLD_NONE;
        int64_t session = 0;
        pthread_mutex_lock(&store->locks_lock);
        bool ok = store_node_id_hold(store->locks, &h, &session);
        if (!ok)
            store_log_error(store->locks, "node id lock");
        pthread_mutex_unlock(&store->locks_lock);
        atomic_store(&store->node_session, ok && h != DB_HOLD_NONE ? session : 0);
        if (held && (!ok || h != DB_HOLD_KEPT)) {
            log_msg(LOG_WARN, "node_id_lost",
                    "this node's lock on its id %s ended with its database session (%s); it "
                    "claims no deliveries until it holds it again",
                    store_node_id(), ok ? "a new session" : "the connection that held it failed");
            held = false;
        }
        if (!held && ok && h != DB_HOLD_NONE) {
            log_msg(LOG_INFO, "node_id_held", "this node holds the lock on its id %s again",
                    store_node_id());
            held = true;
            said_in_use = false;
        } else if (!held && ok && !said_in_use) {
            log_msg(LOG_ERROR, "node_id_in_use",
                    "another process holds node id %s (a copy of this node's data folder?): "
                    "this node claims no deliveries while it does; stop one of them",
                    store_node_id());
            said_in_use = true;
        }
    }
    return NULL;
}

int64_t store_node_session(struct store *store)
{
    return atomic_load(&store->node_session);
}

/* ---- open / close ---- */

/* ---- the engine's part: connections, migrations, schema version ---- */

static struct db *engine_connect(struct store *store, const struct store_options *opts, bool writer,
                                 char *err, size_t errlen)
{
    switch (store->engine) {
    case STORE_ENGINE_SQLITE:
        return db_sqlite_open(store->path, opts->busy_timeout_ms, writer, opts->crypt, err, errlen);
    case STORE_ENGINE_POSTGRESQL: {
        (void)writer; /* every PostgreSQL connection writes or reads alike */
        char *conninfo = NULL;
        if (!store_conninfo_read(opts->conninfo_file, &conninfo, err, errlen))
            return NULL;
        struct db *db = db_postgresql_connect(conninfo, opts->crypt, err, errlen);
        explicit_bzero(conninfo, strlen(conninfo));
        free(conninfo);
        return db;
    }
    }
    snprintf(err, errlen, "unknown store engine");
    return NULL;
}

bool store_engine_parse(const char *name, enum store_engine *out)
{
    if (!name || !*name || strcmp(name, "sqlite") == 0)
        *out = STORE_ENGINE_SQLITE;
    else if (strcmp(name, "postgresql") == 0)
        *out = STORE_ENGINE_POSTGRESQL;
    else
        return false;
    return true;
}

#define STORE_DIR_MODE 0750 /* the data folder: onestop and its group (backups) */

/* The data folder holds residents' personal data on either engine (SQLite's database,
 * uploaded documents): created 0750, and warned about when anyone else may enter it. */
static bool data_dir_prepare(const char *data_dir, char *err, size_t errlen)
{
    struct stat st;
    if (mkdir(data_dir, STORE_DIR_MODE) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create data folder %s: %s", data_dir, strerror(errno));
        return false;
    }
    if (stat(data_dir, &st) == 0 && (st.st_mode & S_IRWXO))
        log_msg(LOG_WARN, "data_folder_open",
                "data folder %s can be entered by every user (mode %03o); chmod 750 it", data_dir,
                (unsigned)(st.st_mode & 0777));
    return true;
}

/* Before the first connection: the data folder, and SQLite's file, made private. */
static bool engine_prepare(struct store *store, const struct store_options *opts, char *err,
                           size_t errlen)
{
    if (!data_dir_prepare(opts->data_dir, err, errlen))
        return false;
    if (store->engine != STORE_ENGINE_SQLITE)
        return true;
    snprintf(store->path, sizeof store->path, "%s/%s", opts->data_dir, STORE_FILE_NAME);
    return db_sqlite_prepare_files(store->path, err, errlen);
}

static bool engine_migrate(struct store *store, char *err, size_t errlen)
{
    switch (store->engine) {
    case STORE_ENGINE_SQLITE:
        return db_sqlite_migrate(store->writer, err, errlen);
    case STORE_ENGINE_POSTGRESQL:
        return db_postgresql_migrate(store->writer, err, errlen);
    }
    snprintf(err, errlen, "unknown store engine");
    return false;
}

/* After the migrations: the keys checked against what the store holds, and what an older
 * binary left to mend. Only a SQLite store can hold values an older onestopd wrote in plain
 * text (the PostgreSQL engine came after sealing), and the open-time sealing's SQL passes
 * columns to pd_* (SQLite's SQL functions). */
static bool engine_start(struct store *store, const struct store_options *opts, char *err,
                         size_t errlen)
{
    if (store->engine != STORE_ENGINE_SQLITE)
        return store_crypt_check(store->writer, opts->crypt, err, errlen);
    return store_crypt_start(store->writer, opts->crypt, err, errlen);
}

/* ---- open / close ---- */

struct store *store_open(const struct store_options *opts, char *err, size_t errlen)
{
    struct store *store = calloc(1, sizeof *store);
    if (!store) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    store->engine = opts->engine;
    pthread_mutex_init(&store->locks_lock, NULL);
    pthread_mutex_init(&store->sends_lock, NULL);
    if (!engine_prepare(store, opts, err, errlen)) {
        free(store);
        return NULL;
    }
    store->group_max = opts->group_commit_max > 0 ? opts->group_commit_max : 256;
    store->writer = engine_connect(store, opts, true, err, errlen);
    if (!store->writer) {
        free(store);
        return NULL;
    }
    if (!engine_migrate(store, err, errlen) ||
        !store_audit_chain_start(store->writer, err, errlen) ||
        !engine_start(store, opts, err, errlen)) {
        db_close(store->writer);
        free(store);
        return NULL;
    }
    store->readers_len = opts->read_connections > 0 ? opts->read_connections : 4;
    store->readers = calloc((size_t)store->readers_len, sizeof *store->readers);
    store->reader_busy = calloc((size_t)store->readers_len, sizeof *store->reader_busy);
    for (long i = 0; i < store->readers_len; i++) {
        store->readers[i] = engine_connect(store, opts, false, err, errlen);
        if (!store->readers[i]) {
            store->readers_len = i;
            store->thread = 0;
            store_close(store);
            return NULL;
        }
    }
    if (db_shared(store->writer) &&
        (!(store->locks = engine_connect(store, opts, false, err, errlen)) ||
         !(store->sends = engine_connect(store, opts, false, err, errlen)))) {
        store->thread = 0;
        store_close(store);
        return NULL;
    }
    int64_t node_session = 0;
    if (opts->stable_node_id &&
        !store_node_id_start(opts->data_dir, store->locks, &node_session, err, errlen)) {
        store->thread = 0;
        store_close(store);
        return NULL;
    }
    atomic_store(&store->node_session, node_session);
    (void)store_node_id(); /* made and logged at the start: the owner of this node's leases */
    pthread_mutex_init(&store->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&store->guard_wake, &attr);
    pthread_condattr_destroy(&attr);
    pthread_cond_init(&store->queued, NULL);
    pthread_cond_init(&store->finished, NULL);
    pthread_cond_init(&store->finished_queued, NULL);
    pthread_mutex_init(&store->read_lock, NULL);
    pthread_cond_init(&store->read_free, NULL);
    if (pthread_create(&store->finisher, NULL, finisher_main, store) != 0) {
        snprintf(err, errlen, "cannot start the store finisher thread");
        store->finisher = 0;
        store->thread = 0;
        store_close(store);
        return NULL;
    }
    if (pthread_create(&store->thread, NULL, writer_main, store) != 0) {
        snprintf(err, errlen, "cannot start the store writer thread");
        store->thread = 0;
        store_close(store);
        return NULL;
    }
    if (opts->stable_node_id && store_node_id_guarded() &&
        pthread_create(&store->guard, NULL, guard_main, store) != 0) {
        snprintf(err, errlen, "cannot start the store's node guard thread");
        store->guard = 0;
        store_close(store);
        return NULL;
    }
    return store;
}

void store_close(struct store *store)
{
    if (!store)
        return;
    if (store->guard) {
        pthread_mutex_lock(&store->lock);
        store->guard_stopping = true;
        pthread_cond_signal(&store->guard_wake);
        pthread_mutex_unlock(&store->lock);
        pthread_join(store->guard, NULL);
    }
    if (store->thread) {
        pthread_mutex_lock(&store->lock);
        store->stopping = true;
        pthread_cond_signal(&store->queued);
        pthread_mutex_unlock(&store->lock);
        pthread_join(store->thread, NULL);
    }
    if (store->finisher) {
        pthread_mutex_lock(&store->lock);
        store->finisher_stopping = true;
        pthread_cond_signal(&store->finished_queued);
        pthread_mutex_unlock(&store->lock);
        pthread_join(store->finisher, NULL);
    }
    for (long i = 0; i < store->readers_len; i++)
        db_close(store->readers[i]);
    free(store->readers);
    free(store->reader_busy);
    db_close(store->sends);  /* its session locks end with it */
    db_close(store->locks);  /* its session locks end with it */
    db_close(store->writer); /* SQLite: checkpoints the WAL into the database file */
    free(store);
}

enum store_result store_printer_hold(struct store *store, const char *printer,
                                     enum store_printer_hold *hold)
{
    *hold = STORE_PRINTER_KEPT;
    if (!store->locks)
        return STORE_OK;
    pthread_mutex_lock(&store->locks_lock);
    enum db_hold h = DB_HOLD_NONE;
    int64_t session = 0;
    bool ok = db_hold_session(store->locks, db_lock_key("printer", printer), &h, &session);
    enum store_result r = ok ? STORE_OK : db_result(store->locks);
    if (ok)
        store->locks_session = session;
    else
        store_log_error(store->locks, "printer lock");
    pthread_mutex_unlock(&store->locks_lock);
    *hold = !ok                  ? STORE_PRINTER_NOT_HELD
            : h == DB_HOLD_KEPT  ? STORE_PRINTER_KEPT
            : h == DB_HOLD_TAKEN ? STORE_PRINTER_TAKEN
                                 : STORE_PRINTER_NOT_HELD;
    return ok || r != STORE_OK ? r : STORE_UNAVAILABLE;
}

enum store_result store_print_send_lock(struct store *store, int64_t print_job_id,
                                        enum store_printer_hold *hold)
{
    *hold = STORE_PRINTER_KEPT;
    if (!store->sends)
        return STORE_OK;
    char name[SEND_LOCK_NAME_MAX];
    snprintf(name, sizeof name, "%lld", (long long)print_job_id);
    pthread_mutex_lock(&store->sends_lock);
    enum db_hold h = DB_HOLD_NONE;
    int64_t session = 0;
    bool ok = db_hold_session(store->sends, db_lock_key("print-send", name), &h, &session);
    enum store_result r = ok ? STORE_OK : db_result(store->sends);
    if (!ok)
        store_log_error(store->sends, "print send lock");
    pthread_mutex_unlock(&store->sends_lock);
    *hold = !ok                  ? STORE_PRINTER_NOT_HELD
            : h == DB_HOLD_KEPT  ? STORE_PRINTER_KEPT
            : h == DB_HOLD_TAKEN ? STORE_PRINTER_TAKEN
                                 : STORE_PRINTER_NOT_HELD;
    return ok || r != STORE_OK ? r : STORE_UNAVAILABLE;
}

void store_print_send_unlock(struct store *store, int64_t print_job_id)
{
    if (!store->sends)
        return;
    char name[SEND_LOCK_NAME_MAX];
    snprintf(name, sizeof name, "%lld", (long long)print_job_id);
    pthread_mutex_lock(&store->sends_lock);
    /* a session that ended took the lock with it: nothing to release then */
    (void)db_unlock_session(store->sends, db_lock_key("print-send", name));
    pthread_mutex_unlock(&store->sends_lock);
}

bool store_is_shared(struct store *store)
{
    return store->locks != NULL;
}

int64_t store_printer_session(struct store *store)
{
    if (!store->locks)
        return 0;
    pthread_mutex_lock(&store->locks_lock);
    int64_t session = store->locks_session;
    pthread_mutex_unlock(&store->locks_lock);
    return session;
}

void store_stats(struct store *store, struct store_stats *out)
{
    pthread_mutex_lock(&store->lock);
    *out = store->stats;
    pthread_mutex_unlock(&store->lock);
}

/* ---- the engine-neutral job layer (store.h) over the SQLite writes ---- */

struct store_tx {
    struct db *db;
};

struct db *store_tx_db(struct store_tx *tx)
{
    return tx->db;
}

static enum store_result job_run(struct db *db, void *arg)
{
    struct store_job *job = arg;
    struct store_tx tx = {db};
    return job->run(&tx, job->arg);
}

static void job_notify(struct store_write *write, void *ctx)
{
    struct store_job *job = ctx;
    enum store_result result = write->result;
    free(write);
    if (job->done)
        job->done(job, result);
}

void store_submit(struct store *store, struct store_job *job)
{
    struct store_write *w = calloc(1, sizeof *w);
    if (!w) {
        if (job->done)
            job->done(job, STORE_UNAVAILABLE);
        return;
    }
    w->run = job_run;
    w->arg = job;
    w->notify = job_notify;
    w->notify_ctx = job;
    store_write_async(store, w);
}

struct sync_job {
    enum store_result (*run)(struct store_tx *, void *);
    void *arg;
};

static enum store_result sync_job_run(struct db *db, void *arg)
{
    struct sync_job *j = arg;
    struct store_tx tx = {db};
    return j->run(&tx, j->arg);
}

enum store_result store_run(struct store *store,
                            enum store_result (*run)(struct store_tx *, void *), void *arg)
{
    struct sync_job j = {run, arg};
    return store_write_sync(store, sync_job_run, &j);
}

static enum store_result write_probe(struct db *db, void *arg)
{
    (void)arg;
    struct db_stmt *st = db_cached(db, "INSERT INTO meta(key, value) VALUES('last_probe', ?)"
                                       " ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    if (!st)
        return STORE_UNAVAILABLE;
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)time(NULL));
    db_bind_text(st, 1, now);
    enum db_step rc = db_step(st);
    db_release(st);
    return store_step_result(db, rc);
}

enum store_result store_check_writable(struct store *store)
{
    return store_write_sync(store, write_probe, NULL);
}

int store_schema_version(struct store *store)
{
    struct db *db = store_reader_acquire(store);
    int v = -1;
    switch (store->engine) {
    case STORE_ENGINE_SQLITE:
        v = db_sqlite_schema_version(db);
        break;
    case STORE_ENGINE_POSTGRESQL:
        v = db_postgresql_schema_version(db);
        break;
    }
    store_reader_release(store, db);
    return v;
}

const char *store_engine_name(struct store *store)
{
    return db_engine(store->writer);
}
