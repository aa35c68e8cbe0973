/* store/sqlite/wal_vfs: the default VFS with the WAL file's writes gathered into one pwrite
 * per run of frames (see wal_vfs.c). Only for a connection that syncs at every commit
 * (synchronous=FULL). */
#ifndef ONESTOP_STORE_SQLITE_WAL_VFS_H
#define ONESTOP_STORE_SQLITE_WAL_VFS_H

#include <sqlite3.h>
#include <stdbool.h>

/* The VFS's name for sqlite3_open_v2, registered (not as the default) on first use; NULL when
 * it cannot be (the default VFS is too old), and the caller then opens with the default. */
const char *wal_vfs_name(void);

#endif
