/* daemon_lock: see daemon_lock.h. flock(2) rather than fcntl(2) locks: an flock belongs to the
 * open file description, so no other open()/close() of the file in this process (SQLite's own
 * locking works with fcntl on other files) can drop it by accident. */
#include "gateway/daemon_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define DAEMON_LOCK_DIR_MODE  0750
#define DAEMON_LOCK_FILE_MODE 0600
#define DAEMON_LOCK_PATH_MAX  4096
#define DAEMON_LOCK_PID_MAX   32 /* a decimal pid and a newline */

static pid_t read_holder(int fd)
{
    char buf[DAEMON_LOCK_PID_MAX];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *end = NULL;
    long pid = strtol(buf, &end, 10);
    return (end != buf && pid > 0) ? (pid_t)pid : 0;
}

int daemon_lock_take(const char *data_dir, pid_t *holder, char *err, size_t errlen)
{
    *holder = 0;
    if (mkdir(data_dir, DAEMON_LOCK_DIR_MODE) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create data folder %s: %s", data_dir, strerror(errno));
        return -1;
    }
    char path[DAEMON_LOCK_PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", data_dir, DAEMON_LOCK_FILE_NAME) >= (int)sizeof path) {
        snprintf(err, errlen, "data folder path too long");
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, DAEMON_LOCK_FILE_MODE);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        *holder = e == EWOULDBLOCK ? read_holder(fd) : 0;
        if (e == EWOULDBLOCK && *holder)
            snprintf(err, errlen, "%s is in use by process %ld (onestopd or a restore)", data_dir,
                     (long)*holder);
        else if (e == EWOULDBLOCK)
            snprintf(err, errlen, "%s is in use by another process (onestopd or a restore)",
                     data_dir);
        else
            snprintf(err, errlen, "cannot lock %s: %s", path, strerror(e));
        close(fd);
        return -1;
    }
    char pid[DAEMON_LOCK_PID_MAX];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        /* the lock holds without the pid; only the message naming the holder is poorer */
    }
    return fd;
}

void daemon_lock_release(int fd)
{
    if (fd >= 0)
        close(fd); /* closing the only descriptor of the description drops the flock */
}
