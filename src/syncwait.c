/*-------------------------------------------------------------------------
 *
 * syncwait.c
 *		Waiting for the synchronous standbys to confirm claims, without
 *		holding up the scheduler.
 *
 * A claim is committed locally before its request goes out.  With
 * synchronous replication configured that is not enough for an ATMOST_ONCE
 * run: a failover to a standby that never received the claim would fire the
 * run again.  So such a request goes out only once the synchronous standbys
 * have confirmed the claim's commit record, the way a user's commit waits
 * for them (same synchronous_commit level, same synchronous_standby_names).
 *
 * The scheduler cannot wait in SyncRepWaitForLSN() itself: ATLEAST_ONCE
 * runs, responses and results must go on while no standby answers.  It
 * hands the newest LSN it needs confirmed to a helper process, the "sync
 * waiter" (a dynamic background worker it starts), which waits in
 * SyncRepWaitForLSN() -- in the walsenders' queue, woken by them, shown in
 * pg_stat_activity as wait event SyncRep -- and sets the scheduler's latch
 * when that LSN is confirmed.  One wait covers every claim up to that LSN:
 * one per claim batch, not one per run.  The scheduler itself reads how far
 * the standbys have confirmed (WalSndCtl) to decide which held runs may go.
 *
 * Like a user's commit, the wait ends without a confirmation when
 * synchronous replication is switched off (synchronous_standby_names made
 * empty, as Patroni does when no synchronous standby is left): then the
 * runs go out on their local commit.  Unlike a user's commit, a cancel of
 * the waiter does not release them: it waits again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "replication/syncrep.h"
#include "replication/walsender.h"
#include "replication/walsender_private.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "tcop/tcopprot.h"
#include "utils/timestamp.h"

#include "jobsched.h"
#include "syncwait.h"

/* After the waiter could not be started, try again no sooner than this. */
#define WAITER_RETRY_US USECS_PER_SEC

/* The scheduler's handle on its waiter (in the scheduler only). */
static BackgroundWorkerHandle *waiter = NULL;
static TimestampTz waiter_retry_at = 0;
static bool waiter_refusal_logged = false;

/*
 * Whether synchronous_standby_names is in effect, as SyncRepWaitForLSN()
 * decides it (caller holds SyncRepLock).  minor releases of 2025 on keep
 * it in two bits: before the checkpointer has read the setting, the setting
 * itself says.
 */
static bool
standbys_defined(void)
{
#ifdef SYNC_STANDBY_DEFINED
	bits8		status = WalSndCtl->sync_standbys_status;

	if (!(status & SYNC_STANDBY_INIT))
		return SyncRepStandbyNames != NULL && SyncRepStandbyNames[0] != '\0';
	return (status & SYNC_STANDBY_DEFINED) != 0;
#else
	return WalSndCtl->sync_standbys_defined;
#endif
}

/* The walsenders' queue a commit at our synchronous_commit level waits in. */
static int
wait_mode(void)
{
	switch (synchronous_commit)
	{
		case SYNCHRONOUS_COMMIT_REMOTE_WRITE:
			return SYNC_REP_WAIT_WRITE;
		case SYNCHRONOUS_COMMIT_REMOTE_APPLY:
			return SYNC_REP_WAIT_APPLY;
		default:
			return SYNC_REP_WAIT_FLUSH;
	}
}

/*
 * How far the synchronous standbys have confirmed WAL, at the level our
 * commits wait for; everything, when commits wait for none.
 */
XLogRecPtr
syncwait_confirmed(void)
{
	XLogRecPtr	confirmed;

	if (!SyncRepRequested() || WalSndCtl == NULL)
		return PG_UINT64_MAX;
	LWLockAcquire(SyncRepLock, LW_SHARED);
	confirmed = standbys_defined() ?
		WalSndCtl->lsn[wait_mode()] : PG_UINT64_MAX;
	LWLockRelease(SyncRepLock);
	return confirmed;
}

/*
 * Whether a commit of this session now waits for synchronous standbys:
 * synchronous_commit above local and synchronous_standby_names in effect
 * (the checkpointer publishes the latter in WalSndCtl).
 */
bool
syncwait_required(void)
{
	return syncwait_confirmed() != PG_UINT64_MAX;
}

static bool
waiter_running(void)
{
	pid_t		pid;

	return waiter != NULL &&
		GetBackgroundWorkerPid(waiter, &pid) != BGWH_STOPPED;
}

static void
start_waiter(void)
{
	BackgroundWorker worker;
	TimestampTz now = GetCurrentTimestamp();

	if (now < waiter_retry_at)
		return;
	if (waiter != NULL)
	{
		pfree(waiter);
		waiter = NULL;
	}
	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "jobsched");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "jobsched_sync_waiter_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "jobsched sync waiter");
	snprintf(worker.bgw_type, BGW_MAXLEN, "jobsched sync waiter");
	worker.bgw_main_arg = Int32GetDatum(MyProcPid);
	worker.bgw_notify_pid = MyProcPid;
	if (RegisterDynamicBackgroundWorker(&worker, &waiter))
	{
		waiter_refusal_logged = false;
		return;
	}
	waiter = NULL;
	waiter_retry_at = now + WAITER_RETRY_US;
	if (!waiter_refusal_logged)
		ereport(LOG,
				(errmsg("jobsched: could not start the sync waiter; ATMOST_ONCE runs wait for synchronous standbys by polling"),
				 errdetail("No background worker slot is free."),
				 errhint("Raise max_worker_processes: jobsched uses two.")));
	waiter_refusal_logged = true;
}

/*
 * Ask for "lsn" to be confirmed and for the scheduler's latch to be set
 * when it is.  Starts the waiter if it is not running (it may have been
 * terminated: waiting runs are never released by that).
 */
void
syncwait_request(XLogRecPtr lsn)
{
	Latch	   *latch;
	bool		raised = false;

	if (pg_atomic_read_u64(&jobsched_shared->confirm_wanted) < lsn)
	{
		pg_atomic_write_u64(&jobsched_shared->confirm_wanted, lsn);
		raised = true;
	}
	if (!waiter_running())
	{
		start_waiter();
		return;
	}
	/* a waiter busy with an older LSN looks at the new one when done */
	if (!raised)
		return;
	SpinLockAcquire(&jobsched_shared->mutex);
	latch = jobsched_shared->waiter_latch;
	SpinLockRelease(&jobsched_shared->mutex);
	if (latch)
		SetLatch(latch);
}

/*
 * How long the scheduler may sleep while runs wait for a confirmation: for
 * ever (-1) while the waiter will wake it; without a waiter, it looks
 * again every 10 ms, or when the waiter may be started again.
 */
long
syncwait_poll_ms(void)
{
	return waiter_running() ? -1 : 10;
}

/* The waiter goes when its scheduler does (see the waiter's loop). */
void
syncwait_leader_exiting(void)
{
	Latch	   *latch;

	SpinLockAcquire(&jobsched_shared->mutex);
	latch = jobsched_shared->waiter_latch;
	SpinLockRelease(&jobsched_shared->mutex);
	if (latch)
		SetLatch(latch);
	pg_atomic_write_u64(&jobsched_shared->confirm_wanted, 0);
}

static void
unpublish_waiter(int code, Datum arg)
{
	SpinLockAcquire(&jobsched_shared->mutex);
	if (jobsched_shared->waiter_pid == MyProcPid)
	{
		jobsched_shared->waiter_pid = 0;
		jobsched_shared->waiter_latch = NULL;
	}
	SpinLockRelease(&jobsched_shared->mutex);
}

static void
wake_leader(void)
{
	Latch	   *latch;

	SpinLockAcquire(&jobsched_shared->mutex);
	latch = jobsched_shared->worker_latch;
	SpinLockRelease(&jobsched_shared->mutex);
	if (latch)
		SetLatch(latch);
}

static bool
leader_alive(pid_t leader)
{
	pid_t		pid;

	SpinLockAcquire(&jobsched_shared->mutex);
	pid = jobsched_shared->worker_pid;
	SpinLockRelease(&jobsched_shared->mutex);
	return pid == leader;
}

/*
 * The waiter.  Connected to the scheduler's database as the same role, so
 * that its synchronous_commit is the one the scheduler's commits use.
 */
void
jobsched_sync_waiter_main(Datum main_arg)
{
	pid_t		leader = DatumGetInt32(main_arg);
	XLogRecPtr	waited_for = InvalidXLogRecPtr;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(jobsched_database_name, NULL, 0);
	pgstat_report_appname("jobsched sync waiter");

	SpinLockAcquire(&jobsched_shared->mutex);
	jobsched_shared->waiter_pid = MyProcPid;
	jobsched_shared->waiter_latch = MyLatch;
	SpinLockRelease(&jobsched_shared->mutex);
	on_shmem_exit(unpublish_waiter, (Datum) 0);

	for (;;)
	{
		XLogRecPtr	wanted;

		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (!leader_alive(leader))
			break;

		wanted = pg_atomic_read_u64(&jobsched_shared->confirm_wanted);
		if (wanted != InvalidXLogRecPtr && syncwait_confirmed() < wanted)
		{
			char		activity[128];

			snprintf(activity, sizeof(activity),
					 "jobsched: waiting for synchronous standbys to confirm claims up to %X/%X",
					 LSN_FORMAT_ARGS(wanted));
			pgstat_report_activity(STATE_RUNNING, activity);

			/*
			 * As a commit does.  A cancel ends the wait early (with a
			 * WARNING); the loop then waits again, since nothing is
			 * confirmed.
			 */
			HOLD_INTERRUPTS();
			SyncRepWaitForLSN(wanted, true);
			RESUME_INTERRUPTS();
			waited_for = wanted;
			wake_leader();
			continue;
		}
		if (wanted != InvalidXLogRecPtr && wanted != waited_for)
		{
			/* confirmed (or no longer required) before we had to wait */
			waited_for = wanted;
			wake_leader();
		}
		pgstat_report_activity(STATE_IDLE, NULL);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, -1,
						 PG_WAIT_EXTENSION);
	}
	proc_exit(0);
}
