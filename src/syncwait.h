/*-------------------------------------------------------------------------
 *
 * syncwait.h
 *		Holding ATMOST_ONCE requests until the synchronous standbys have
 *		confirmed their claims (syncwait.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef JOBSCHED_SYNCWAIT_H
#define JOBSCHED_SYNCWAIT_H

#include "postgres.h"

#include "access/xlogdefs.h"

extern bool syncwait_required(void);
extern XLogRecPtr syncwait_confirmed(void);
extern void syncwait_request(XLogRecPtr lsn);
extern long syncwait_poll_ms(void);
extern void syncwait_leader_exiting(void);
extern PGDLLEXPORT void jobsched_sync_waiter_main(Datum main_arg);

#endif							/* JOBSCHED_SYNCWAIT_H */
