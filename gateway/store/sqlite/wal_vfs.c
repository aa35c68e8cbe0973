/* store/sqlite/wal_vfs: the writer connection's VFS — SQLite's own (unix) with the writes to
 * the WAL file gathered into one pwrite per run of frames.
 *
 * DESIGN: SQLite writes each WAL frame as two pwrites (its 24-byte header, then the page), so
 * a commit of 60 pages is 120 system calls, each walking the page cache and the file system
 * on its own. Here the WAL file's writes that follow each other in the file are kept in a
 * buffer and written with one pwrite when something needs them in the file: a sync (every
 * commit: the writer runs with synchronous=FULL), a read, a write elsewhere in the file (a
 * frame rewritten, the header of a restarted WAL), the file's size, a truncate, a file
 * control, close, or a full buffer. Every other file (the database, its shared memory) and
 * every other call goes straight to the default VFS.
 *
 * Why this is safe: SQLite makes a commit visible to other connections (the wal-index header)
 * only after it has synced the WAL, so every frame another connection may read is in the
 * file by then; and a reply is sent only after that sync returned. A crash before the sync
 * loses only frames of a transaction that was never acknowledged (recovery ignores a WAL
 * whose frames stop short of a commit frame). This holds only with a sync at every commit:
 * wal_vfs_open refuses to be used otherwise (db_sqlite_open sets synchronous=FULL on the one
 * connection that uses it, and checks it). */
#include "gateway/store/sqlite/wal_vfs.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define WAL_VFS_NAME "onestop-wal"
/* bytes of frames gathered before a pwrite: under 128 KiB, as SQLite's unix VFS writes at most
 * 128 KiB - 1 bytes per call (it masks a larger count, and a write it cuts short is "disk
 * full"); 30 frames of 4 KiB pages */
#define WAL_WRITE_GATHER_MAX (120 * 1024)

struct wal_file {
    sqlite3_file base;  /* pMethods: wal_methods, or real_methods_copy for a pass-through */
    sqlite3_file *real; /* the default VFS's file, right after this struct */
    bool gather;        /* the WAL: writes are gathered */
    unsigned char *buf;
    sqlite3_int64 buf_off; /* the file offset of buf[0] */
    size_t buf_len;
};

static sqlite3_vfs *base_vfs;
static sqlite3_vfs wal_vfs;
static sqlite3_io_methods wal_methods;

static struct wal_file *wf(sqlite3_file *f)
{
    return (struct wal_file *)f;
}

/* Writes what is gathered; SQLITE_OK or the default VFS's error. */
static int flush(struct wal_file *f)
{
    if (f->buf_len == 0)
        return SQLITE_OK;
    int rc = f->real->pMethods->xWrite(f->real, f->buf, (int)f->buf_len, f->buf_off);
    f->buf_len = 0;
    return rc;
}

static int wal_close(sqlite3_file *file)
{
    struct wal_file *f = wf(file);
    int rc = flush(f);
    int closed = f->real->pMethods ? f->real->pMethods->xClose(f->real) : SQLITE_OK;
    free(f->buf);
    f->buf = NULL;
    return rc != SQLITE_OK ? rc : closed;
}

static int wal_read(sqlite3_file *file, void *out, int amt, sqlite3_int64 off)
{
    struct wal_file *f = wf(file);
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xRead(f->real, out, amt, off);
}

static int wal_write(sqlite3_file *file, const void *data, int amt, sqlite3_int64 off)
{
    struct wal_file *f = wf(file);
    if (!f->gather || amt <= 0 || (size_t)amt > WAL_WRITE_GATHER_MAX)
        goto direct;
    if (f->buf_len && (off != f->buf_off + (sqlite3_int64)f->buf_len ||
                       f->buf_len + (size_t)amt > WAL_WRITE_GATHER_MAX)) {
        int rc = flush(f);
        if (rc != SQLITE_OK)
            return rc;
    }
    if (f->buf_len == 0)
        f->buf_off = off;
    memcpy(f->buf + f->buf_len, data, (size_t)amt);
    f->buf_len += (size_t)amt;
    return SQLITE_OK;
direct:;
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xWrite(f->real, data, amt, off);
}

static int wal_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    struct wal_file *f = wf(file);
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int wal_sync(sqlite3_file *file, int flags)
{
    struct wal_file *f = wf(file);
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int wal_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
    struct wal_file *f = wf(file);
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

static int wal_lock(sqlite3_file *file, int level)
{
    return wf(file)->real->pMethods->xLock(wf(file)->real, level);
}

static int wal_unlock(sqlite3_file *file, int level)
{
    return wf(file)->real->pMethods->xUnlock(wf(file)->real, level);
}

static int wal_check_reserved(sqlite3_file *file, int *out)
{
    return wf(file)->real->pMethods->xCheckReservedLock(wf(file)->real, out);
}

static int wal_file_control(sqlite3_file *file, int op, void *arg)
{
    struct wal_file *f = wf(file);
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileControl(f->real, op, arg);
}

static int wal_sector_size(sqlite3_file *file)
{
    return wf(file)->real->pMethods->xSectorSize(wf(file)->real);
}

static int wal_device_characteristics(sqlite3_file *file)
{
    return wf(file)->real->pMethods->xDeviceCharacteristics(wf(file)->real);
}

static int wal_shm_map(sqlite3_file *file, int page, int size, int extend, void volatile **out)
{
    return wf(file)->real->pMethods->xShmMap(wf(file)->real, page, size, extend, out);
}

static int wal_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
    return wf(file)->real->pMethods->xShmLock(wf(file)->real, offset, n, flags);
}

static void wal_shm_barrier(sqlite3_file *file)
{
    wf(file)->real->pMethods->xShmBarrier(wf(file)->real);
}

static int wal_shm_unmap(sqlite3_file *file, int delete_flag)
{
    return wf(file)->real->pMethods->xShmUnmap(wf(file)->real, delete_flag);
}

static int wal_fetch(sqlite3_file *file, sqlite3_int64 off, int amt, void **out)
{
    struct wal_file *f = wf(file);
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFetch(f->real, off, amt, out);
}

static int wal_unfetch(sqlite3_file *file, sqlite3_int64 off, void *p)
{
    return wf(file)->real->pMethods->xUnfetch(wf(file)->real, off, p);
}

static int vfs_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                    int *out_flags)
{
    (void)vfs;
    struct wal_file *f = wf(file);
    memset(f, 0, sizeof *f);
    f->real = (sqlite3_file *)(f + 1);
    int rc = base_vfs->xOpen(base_vfs, name, f->real, flags, out_flags);
    if (rc != SQLITE_OK) {
        f->base.pMethods = NULL; /* SQLite calls no xClose on a failed open */
        return rc;
    }
    if (flags & SQLITE_OPEN_WAL) {
        f->buf = malloc(WAL_WRITE_GATHER_MAX);
        if (!f->buf) {
            f->real->pMethods->xClose(f->real);
            f->base.pMethods = NULL;
            return SQLITE_NOMEM;
        }
        f->gather = true;
    }
    f->base.pMethods = &wal_methods;
    return SQLITE_OK;
}

/* The default VFS's methods, for everything but opening. */
static int vfs_delete(sqlite3_vfs *v, const char *name, int sync_dir)
{
    (void)v;
    return base_vfs->xDelete(base_vfs, name, sync_dir);
}

static int vfs_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
    (void)v;
    return base_vfs->xAccess(base_vfs, name, flags, out);
}

static int vfs_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out)
{
    (void)v;
    return base_vfs->xFullPathname(base_vfs, name, n, out);
}

static void *vfs_dl_open(sqlite3_vfs *v, const char *name)
{
    (void)v;
    return base_vfs->xDlOpen(base_vfs, name);
}

static void vfs_dl_error(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    base_vfs->xDlError(base_vfs, n, out);
}

static void (*vfs_dl_sym(sqlite3_vfs *v, void *handle, const char *sym))(void)
{
    (void)v;
    return base_vfs->xDlSym(base_vfs, handle, sym);
}

static void vfs_dl_close(sqlite3_vfs *v, void *handle)
{
    (void)v;
    base_vfs->xDlClose(base_vfs, handle);
}

static int vfs_randomness(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return base_vfs->xRandomness(base_vfs, n, out);
}

static int vfs_sleep(sqlite3_vfs *v, int us)
{
    (void)v;
    return base_vfs->xSleep(base_vfs, us);
}

static int vfs_current_time(sqlite3_vfs *v, double *out)
{
    (void)v;
    return base_vfs->xCurrentTime(base_vfs, out);
}

static int vfs_last_error(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return base_vfs->xGetLastError ? base_vfs->xGetLastError(base_vfs, n, out) : 0;
}

static int vfs_current_time_int64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    (void)v;
    return base_vfs->xCurrentTimeInt64(base_vfs, out);
}

static void wal_vfs_register(void)
{
    base_vfs = sqlite3_vfs_find(NULL);
    if (!base_vfs || base_vfs->iVersion < 2 || !base_vfs->xCurrentTimeInt64)
        return;
    wal_methods = (sqlite3_io_methods){
        .iVersion = 3,
        .xClose = wal_close,
        .xRead = wal_read,
        .xWrite = wal_write,
        .xTruncate = wal_truncate,
        .xSync = wal_sync,
        .xFileSize = wal_file_size,
        .xLock = wal_lock,
        .xUnlock = wal_unlock,
        .xCheckReservedLock = wal_check_reserved,
        .xFileControl = wal_file_control,
        .xSectorSize = wal_sector_size,
        .xDeviceCharacteristics = wal_device_characteristics,
        .xShmMap = wal_shm_map,
        .xShmLock = wal_shm_lock,
        .xShmBarrier = wal_shm_barrier,
        .xShmUnmap = wal_shm_unmap,
        .xFetch = wal_fetch,
        .xUnfetch = wal_unfetch,
    };
    wal_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(struct wal_file) + base_vfs->szOsFile,
        .mxPathname = base_vfs->mxPathname,
        .zName = WAL_VFS_NAME,
        .xOpen = vfs_open,
        .xDelete = vfs_delete,
        .xAccess = vfs_access,
        .xFullPathname = vfs_full_pathname,
        .xDlOpen = vfs_dl_open,
        .xDlError = vfs_dl_error,
        .xDlSym = vfs_dl_sym,
        .xDlClose = vfs_dl_close,
        .xRandomness = vfs_randomness,
        .xSleep = vfs_sleep,
        .xCurrentTime = vfs_current_time,
        .xGetLastError = vfs_last_error,
        .xCurrentTimeInt64 = vfs_current_time_int64,
    };
    if (sqlite3_vfs_register(&wal_vfs, 0) != SQLITE_OK)
        base_vfs = NULL;
}

const char *wal_vfs_name(void)
{
    static pthread_once_t registered = PTHREAD_ONCE_INIT;
    pthread_once(&registered, wal_vfs_register);
    return base_vfs ? WAL_VFS_NAME : NULL;
}
