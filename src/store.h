/*-------------------------------------------------------------------------
 *
 * store.h
 *		The worker's database side: claiming due runs, writing results,
 *		crash recovery and history retention.
 *
 *-------------------------------------------------------------------------
 */
#ifndef JOBSCHED_STORE_H
#define JOBSCHED_STORE_H

#include "http.h"

typedef void (*StoreClaimedCallback) (HttpRequest *request, void *arg);

/* store_claim(): the extension was dropped; nothing was claimed */
#define STORE_DETACHED (-2)

extern bool store_attach(void);
extern int	store_recover(void);
extern void store_recover_reset(void);
extern int	store_claim(TimestampTz now, TimestampTz horizon, int limit,
						StoreClaimedCallback claimed, void *arg,
						TimestampTz *next_due);
extern int	store_write_results(HttpRequest **results, int n,
								TimestampTz *next_retry);
extern void store_requeue_unsent(HttpRequest **requests, int n);
extern int	store_purge(TimestampTz cutoff, int limit, int retention_minutes);

#endif							/* JOBSCHED_STORE_H */
