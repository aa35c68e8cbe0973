/* pg_driver_check: what its parts share. */
#ifndef ONESTOP_PG_DRIVER_CHECK_H
#define ONESTOP_PG_DRIVER_CHECK_H

#include "gateway/store/db.h"

/* ONESTOP_PG_CONNINFO, or exits with a message: these checks never pass without a server. */
const char *check_conninfo(void);
/* Connects with no keys, or exits with the reason. */
struct db *check_connect(void);
/* The outage check, driven line by line by its pytest (pg_driver_outage.c). */
int check_outage(void);

#endif
