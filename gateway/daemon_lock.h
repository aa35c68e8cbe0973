/* daemon_lock: one onestopd per data folder, and no restore beneath a running one.
 *
 * onestopd holds an exclusive flock(2) on DATA_DIR/onestopd.lock for as long as it runs, with
 * its process id written in the file for people to read. `onestop restore` takes the same
 * lock before it replaces the database, so it refuses while onestopd runs on that folder, and
 * onestopd refuses to start while a restore is under way. The kernel drops the lock when the
 * holder exits however it exits (kill -9 included), so a stale file never blocks anyone.
 * The admin commands that write beside a running onestopd (user add, ...) do not take it. */
#ifndef ONESTOP_DAEMON_LOCK_H
#define ONESTOP_DAEMON_LOCK_H

#include <stddef.h>
#include <sys/types.h>

#define DAEMON_LOCK_FILE_NAME "onestopd.lock"

/* Takes the lock on data_dir (creating the folder 0750 and the file 0600 when missing) and
 * writes the caller's pid into it. Returns the open descriptor, to keep open while the lock is
 * needed (daemon_lock_release, or process exit, drops it). Returns -1 with a message in err
 * when another process holds it (*holder set to its pid when the file names one, else 0) or
 * the file cannot be opened (*holder 0). */
int daemon_lock_take(const char *data_dir, pid_t *holder, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Drops the lock taken by daemon_lock_take; the file stays (an empty lock file is harmless). */
void daemon_lock_release(int fd);

#endif
