/* store: the durable record of onestop — staff, sessions, audit, transactions, deliveries,
 * print jobs, the till and the rest, behind one interface split by domain (gateway/store/).
 *
 * gateway/store/core.h holds what every domain shares (results, open and close, statistics,
 * jobs); each domain has its own header beside it. The engines live in gateway/store/sqlite/
 * (and gateway/store/postgresql/); callers never see SQL. */
#ifndef ONESTOP_STORE_H
#define ONESTOP_STORE_H

#include "gateway/store/core.h"

#include "gateway/store/audit.h"
#include "gateway/store/callbacks.h"
#include "gateway/store/copies.h"
#include "gateway/store/crypt.h"
#include "gateway/store/deliveries.h"
#include "gateway/store/digest.h"
#include "gateway/store/documents.h"
#include "gateway/store/money.h"
#include "gateway/store/print_jobs.h"
#include "gateway/store/purge.h"
#include "gateway/store/referral.h"
#include "gateway/store/report.h"
#include "gateway/store/signin.h"
#include "gateway/store/staff.h"
#include "gateway/store/stock.h"
#include "gateway/store/till.h"
#include "gateway/store/transactions.h"

#endif
