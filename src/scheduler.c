/*-------------------------------------------------------------------------
 *
 * scheduler.c
 *		The jobsched background worker: one loop that claims due runs,
 *		sends them at their fire time, and records what came back.
 *
 * The loop never polls on a fixed interval.  It sleeps in one
 * WaitEventSetWait() until the earliest of: the next run is due (minus the
 * claim lookahead), a claimed run's send time, curl's next timeout, a batch
 * of results is due to be written, or the next history purge.  Its latch is
 * set when jobs are created, modified, triggered or resumed (at commit, see
 * api.c), and the executor's epoll descriptor wakes it when a response
 * arrives.
 *
 * Runs are claimed a little ahead of their fire time (jobsched.lookahead)
 * and held in a queue ordered by send time; at the fire time they go on the
 * wire at once, so the time spent claiming does not show up as lateness.
 * The claim is committed before the request is sent, which is what makes
 * ATLEAST_ONCE safe across crashes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/resource.h>

#include "access/xlog.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "hosts.h"
#include "http.h"
#include "jobsched.h"
#include "store.h"
#include "syncwait.h"

/* Claimed runs held in memory at most (each is a small struct). */
#define MAX_QUEUED 50000
/* While a burst goes out, curl is driven after every this many requests. */
#define KICK_EVERY 32
/* Results wait at most this long to be written with others. */
#define FLUSH_DELAY_US (10 * 1000)
/* ... or, while runs are waiting to go out, at most this long. */
#define FLUSH_MAX_DELAY_US (200 * 1000)
/* Re-check the catalog at most this often when it says a run is due but none could be claimed (locked rows). */
#define RECLAIM_BACKOFF_US (10 * 1000)
#define PURGE_INTERVAL_US (10 * USECS_PER_SEC)
#define PURGE_BATCH 10000
/* While runs wait to go out the purge waits, but never longer than this. */
#define PURGE_MAX_DEFER_US (250 * 1000)
/* How long a stopping worker waits for requests in flight. */
#define SHUTDOWN_DRAIN_US (2 * USECS_PER_SEC)
/* While the extension is missing, look again this often. */
#define ATTACH_RETRY_MS 5000
/* Between worker starts that could not connect, wait up to this long. */
#define CONNECT_RETRY_MAX_S 30
/* Sockets kept free for everything else the process opens. */
#define FD_RESERVE 64
/* After a failed statement, wait this long before trying again, doubling up to the maximum. */
#define RETRY_MIN_US (100 * 1000)
#define RETRY_MAX_US (10 * USECS_PER_SEC)
/* While interrupted executions are locked by another session, look again this often. */
#define RECOVER_RETRY_US USECS_PER_SEC

/* When a kind of statement may be tried again after it failed. */
typedef struct Backoff
{
	TimestampTz not_before;
	int64		delay_us;		/* 0: the last try succeeded */
} Backoff;

static volatile sig_atomic_t shutdown_requested = false;

/* Claimed runs waiting for their send time, earliest first. */
static pairingheap *queue;
static int	queued = 0;

/* Runs whose host had no free slot, now given one: to start at once. */
static dlist_head ready = DLIST_STATIC_INIT(ready);

/*
 * Due ATMOST_ONCE runs whose claim the synchronous standbys have not
 * confirmed yet (syncwait.c), in claim (LSN) order, and the newest claim of
 * an ATMOST_ONCE run, to be confirmed while it waits for its send time.
 */
static dlist_head unconfirmed = DLIST_STATIC_INIT(unconfirmed);
static int	nunconfirmed = 0;
static XLogRecPtr newest_at_most_once_claim = InvalidXLogRecPtr;

/* Finished requests waiting to be written. */
static HttpRequest **results;
static int	nresults = 0;
static int	results_size = 0;
static TimestampTz oldest_result_at = 0;

static int	in_flight_limit;

static Backoff claim_backoff;
static Backoff write_backoff;

/*
 * Bumped when the extension goes away (DROP EXTENSION): requests claimed
 * from the tables of before are not sent, and their results not written.
 */
static uint32 generation = 0;

static void
handle_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	shutdown_requested = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

static int
compare_send_at(const pairingheap_node *a, const pairingheap_node *b, void *arg)
{
	const HttpRequest *ra = pairingheap_const_container(HttpRequest, heap_node, a);
	const HttpRequest *rb = pairingheap_const_container(HttpRequest, heap_node, b);

	/* pairingheap keeps the greatest first: invert for earliest first */
	if (ra->send_at < rb->send_at)
		return 1;
	if (ra->send_at > rb->send_at)
		return -1;
	return 0;
}

static void
backoff_failed(Backoff *backoff, TimestampTz now)
{
	backoff->delay_us = backoff->delay_us == 0 ? RETRY_MIN_US :
		Min(backoff->delay_us * 2, RETRY_MAX_US);
	backoff->not_before = now + backoff->delay_us;
}

static void
backoff_succeeded(Backoff *backoff)
{
	backoff->delay_us = 0;
	backoff->not_before = 0;
}

static void
enqueue_claimed(HttpRequest *request, void *arg)
{
	request->generation = generation;
	pairingheap_add(queue, &request->heap_node);
	queued++;
	if (request->at_most_once)
		newest_at_most_once_claim = Max(newest_at_most_once_claim, request->claim_lsn);
}

/*
 * Have the synchronous standbys (if any) confirm the ATMOST_ONCE claims just
 * made, while their runs wait for their send time: flush the claim now (the
 * walsenders send only flushed WAL) and hand its LSN to the waiter.  With a
 * standby that keeps up, the confirmation is back before the fire time.
 */
static void
confirm_new_claims(void)
{
	XLogRecPtr	lsn = newest_at_most_once_claim;

	newest_at_most_once_claim = InvalidXLogRecPtr;
	if (lsn == InvalidXLogRecPtr || !syncwait_required() || syncwait_confirmed() >= lsn)
		return;
	XLogFlush(lsn);
	syncwait_request(lsn);
}

/* Hold a due ATMOST_ONCE run until its claim is confirmed; LSN order. */
static void
hold_unconfirmed(HttpRequest *request)
{
	dlist_iter	iter;

	/* nearly always at the tail: claims come in LSN order */
	dlist_reverse_foreach(iter, &unconfirmed)
	{
		HttpRequest *other = dlist_container(HttpRequest, wait_node, iter.cur);

		if (other->claim_lsn <= request->claim_lsn)
		{
			dlist_insert_after(iter.cur, &request->wait_node);
			nunconfirmed++;
			return;
		}
	}
	dlist_push_head(&unconfirmed, &request->wait_node);
	nunconfirmed++;
}

static HttpRequest *
pop_confirmed(XLogRecPtr confirmed)
{
	HttpRequest *first;

	if (dlist_is_empty(&unconfirmed))
		return NULL;
	first = dlist_head_element(HttpRequest, wait_node, &unconfirmed);
	if (first->claim_lsn > confirmed)
		return NULL;
	dlist_delete(&first->wait_node);
	nunconfirmed--;
	return first;
}

static void
collect_result(HttpRequest *request, void *arg)
{
	HttpRequest *next = hosts_release(request);

	if (next)
		dlist_push_tail(&ready, &next->wait_node);
	if (request->generation != generation)
	{
		http_request_free(request);
		return;
	}
	if (nresults == results_size)
	{
		results_size *= 2;
		results = repalloc(results, results_size * sizeof(HttpRequest *));
	}
	if (nresults == 0)
		oldest_result_at = GetCurrentTimestamp();
	results[nresults++] = request;
}

/*
 * Write the results collected so far.  Those that cannot be written now
 * (the statement failed, or their rows are locked by another session) stay
 * for a later try.
 */
static void
flush_results(TimestampTz *next_due)
{
	TimestampTz next_retry;
	TimestampTz start;
	int			left;

	if (nresults == 0)
		return;
	start = GetCurrentTimestamp();
	left = store_write_results(results, nresults, &next_retry);
	elog(DEBUG1, "jobsched: wrote %d results in %ld us, %d left", nresults - left,
		 (long) (GetCurrentTimestamp() - start), left);
	for (int i = left; i < nresults; i++)
		http_request_free(results[i]);
	nresults = left;
	if (left > 0)
		backoff_failed(&write_backoff, GetCurrentTimestamp());
	else
		backoff_succeeded(&write_backoff);
	if (next_retry < *next_due)
		*next_due = next_retry;
}

/*
 * Whether runs are due and waiting to go out: for a free slot, or for their
 * host to have one (parked in hosts.c; a slot frees only when the worker
 * reads a response, so writing results now would hold them up too).
 */
static bool
sends_waiting(TimestampTz now)
{
	return !dlist_is_empty(&ready) || hosts_parked() > 0 ||
		(queued > 0 &&
		 pairingheap_container(HttpRequest, heap_node,
							   pairingheap_first(queue))->send_at <= now);
}

static XLogRecPtr
flushed_upto(void)
{
#if PG_VERSION_NUM >= 150000
	return GetFlushRecPtr(NULL);
#else
	return GetFlushRecPtr();
#endif
}

/*
 * Put every queued run whose time has come on the wire, within the limit.
 * A run goes out only once its claim is durable: if the WAL writer has not
 * flushed that far yet, flush now (once, for all the runs being sent).  An
 * ATMOST_ONCE run also waits, where commits wait for synchronous standbys,
 * for them to confirm its claim (held in "unconfirmed"); the others go on.
 */
static void
send_due(void)
{
	TimestampTz now = GetCurrentTimestamp();
	XLogRecPtr	flushed = flushed_upto();
	XLogRecPtr	confirmed = InvalidXLogRecPtr;
	bool		confirmed_known = false;
	int			started = 0;

	for (;;)
	{
		HttpRequest *request;

		if (http_in_flight() >= in_flight_limit)
			break;
		if (!dlist_is_empty(&ready))
			request = dlist_container(HttpRequest, wait_node,
									  dlist_pop_head_node(&ready));
		else
		{
			if (!confirmed_known && (nunconfirmed > 0 || queued > 0))
			{
				confirmed = syncwait_confirmed();
				confirmed_known = true;
			}
			request = pop_confirmed(confirmed);
			if (request == NULL && queued > 0)
			{
				request = pairingheap_container(HttpRequest, heap_node,
												pairingheap_first(queue));
				if (request->send_at > now)
					break;
				(void) pairingheap_remove_first(queue);
				queued--;
				if (request->at_most_once && request->claim_lsn > confirmed)
				{
					hold_unconfirmed(request);
					continue;
				}
			}
			if (request == NULL)
				break;
			if (!hosts_acquire(request))
				continue;		/* parked until its host has a free slot */
		}

		if (request->claim_lsn > flushed)
		{
			XLogFlush(request->claim_lsn);
			flushed = flushed_upto();
		}
		if (!http_start(request))
			collect_result(request, NULL);
		else if (++started % KICK_EVERY == 0)
			http_kick(collect_result, NULL);
	}
	if (started % KICK_EVERY != 0)
		http_kick(collect_result, NULL);
	if (nunconfirmed > 0)
	{
		/* the newest claim held: one wait covers them all */
		XLogFlush(dlist_tail_element(HttpRequest, wait_node, &unconfirmed)->claim_lsn);
		syncwait_request(dlist_tail_element(HttpRequest, wait_node, &unconfirmed)->claim_lsn);
	}
	pg_atomic_write_u64(&jobsched_shared->queued, queued + hosts_parked() + nunconfirmed);
	pg_atomic_write_u64(&jobsched_shared->awaiting_sync, nunconfirmed);
}

/*
 * Each request in flight holds a socket.  A server started from a login
 * shell often has a soft limit of 1024 open files: raise it to the hard
 * limit, and keep max_in_flight below what it allows.
 */
static void
raise_open_file_limit(void)
{
	struct rlimit rl;
	int			limit = jobsched_max_in_flight;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
	{
		if (rl.rlim_cur < rl.rlim_max)
		{
			rl.rlim_cur = rl.rlim_max;
			(void) setrlimit(RLIMIT_NOFILE, &rl);
			(void) getrlimit(RLIMIT_NOFILE, &rl);
		}
		if (rl.rlim_cur != RLIM_INFINITY &&
			(rlim_t) limit + FD_RESERVE > rl.rlim_cur)
		{
			limit = Max(1, (int) rl.rlim_cur - FD_RESERVE);
			ereport(LOG,
					(errmsg("jobsched: max_in_flight lowered from %d to %d by the open-file limit of %lu",
							jobsched_max_in_flight, limit,
							(unsigned long) rl.rlim_cur)));
		}
	}
	in_flight_limit = limit;
}

static void
publish_worker(void)
{
	SpinLockAcquire(&jobsched_shared->mutex);
	jobsched_shared->worker_pid = MyProcPid;
	jobsched_shared->worker_latch = MyLatch;
	jobsched_shared->worker_state = JOBSCHED_WORKER_STARTING;
	jobsched_shared->worker_started_at = GetCurrentTimestamp();
	SpinLockRelease(&jobsched_shared->mutex);
}

static void
unpublish_worker(int code, Datum arg)
{
	SpinLockAcquire(&jobsched_shared->mutex);
	jobsched_shared->worker_pid = 0;
	jobsched_shared->worker_latch = NULL;
	jobsched_shared->worker_state = JOBSCHED_WORKER_NOT_RUNNING;
	SpinLockRelease(&jobsched_shared->mutex);
	pg_atomic_write_u64(&jobsched_shared->in_flight, 0);
	pg_atomic_write_u64(&jobsched_shared->queued, 0);
	pg_atomic_write_u64(&jobsched_shared->awaiting_sync, 0);
	pg_atomic_write_u32(&jobsched_shared->sync_confirming, 0);
	syncwait_leader_exiting();
}

static void
process_interrupts(void)
{
	/*
	 * A cancel (pg_cancel_backend) that arrives between statements cancels
	 * nothing, as in an idle backend; one that arrives during a statement
	 * fails that statement, which store.c catches.  Left pending here, it
	 * would raise an error outside any statement and end the worker.
	 */
	QueryCancelPending = false;
	CHECK_FOR_INTERRUPTS();
	if (ConfigReloadPending)
	{
		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
		raise_open_file_limit();
		http_reload_settings();
		/* jobsched.enabled, lookahead, misfire_grace: look at the catalog again */
		pg_atomic_write_u32(&jobsched_shared->jobs_changed, 1);
		SetLatch(MyLatch);
	}
}

/*
 * Settings a database or a role may impose (ALTER DATABASE ... SET) would
 * change what the worker's statements do: a statement_timeout cancelling
 * claims, a read-only or serializable default failing them,
 * session_replication_role = replica silencing the alert triggers, a
 * search_path with a user's functions in it.  The worker sets its own.
 * lock_timeout is the exception: its statements skip locked rows, and a
 * table lock held by someone else (VACUUM FULL, LOCK TABLE) makes them fail
 * after a second and be tried again, rather than stop the worker.
 */
static void
set_worker_settings(void)
{
	static const char *const settings[][2] = {
		/* the worker is a superuser: never let a user's function shadow ours */
		{"search_path", "pg_catalog, pg_temp"},
		{"statement_timeout", "0"},
		{"lock_timeout", "1s"},
		{"idle_in_transaction_session_timeout", "0"},
#if PG_VERSION_NUM >= 170000
		{"transaction_timeout", "0"},
#endif
		{"default_transaction_read_only", "off"},
		{"default_transaction_isolation", "read committed"},
		{"default_transaction_deferrable", "off"},
		{"session_replication_role", "origin"},
	};

	for (int i = 0; i < (int) lengthof(settings); i++)
		SetConfigOption(settings[i][0], settings[i][1], PGC_SUSET, PGC_S_OVERRIDE);
}

/* Rows of history purged (not counting whole partitions), or -1. */
static int
purge_history(TimestampTz now)
{
	TimestampTz cutoff = jobsched_history_retention > 0 ?
		now - (TimestampTz) jobsched_history_retention * 60 * USECS_PER_SEC : DT_NOBEGIN;

	return store_purge(cutoff, PURGE_BATCH, jobsched_history_retention);
}

static WaitEventSet *
make_wait_set(void)
{
	WaitEventSet *set;

#if PG_VERSION_NUM >= 170000
	set = CreateWaitEventSet(NULL, 3);
#else
	set = CreateWaitEventSet(TopMemoryContext, 3);
#endif
	AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	AddWaitEventToSet(set, WL_SOCKET_READABLE, http_wait_fd(), NULL, NULL);
	return set;
}

/* Milliseconds from now until "t", rounded up so we never wake early. */
static long
ms_until(TimestampTz t, TimestampTz now)
{
	if (t <= now)
		return 0;
	if (t - now > (TimestampTz) INT_MAX * 1000)
		return INT_MAX;
	return (long) ((t - now + 999) / 1000);
}

static long
min_timeout(long a, long b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return Min(a, b);
}

/*
 * The extension is gone (DROP EXTENSION): what was claimed from its tables
 * is not sent, and nothing more is written there.  Requests in flight
 * finish; their results are dropped as they come (see "generation").
 */
static void
detach(void)
{
	HttpRequest *request;
	int			dropped = nresults;

	generation++;
	while (queued > 0)
	{
		http_request_free(pairingheap_container(HttpRequest, heap_node,
												pairingheap_remove_first(queue)));
		queued--;
		dropped++;
	}
	while (!dlist_is_empty(&ready))
	{
		http_request_free(dlist_container(HttpRequest, wait_node,
										  dlist_pop_head_node(&ready)));
		dropped++;
	}
	while ((request = hosts_pop_parked()) != NULL)
	{
		http_request_free(request);
		dropped++;
	}
	while ((request = pop_confirmed(PG_UINT64_MAX)) != NULL)
	{
		http_request_free(request);
		dropped++;
	}
	for (int i = 0; i < nresults; i++)
		http_request_free(results[i]);
	nresults = 0;
	pg_atomic_write_u64(&jobsched_shared->queued, 0);
	pg_atomic_write_u64(&jobsched_shared->awaiting_sync, 0);
	if (dropped > 0)
		elog(DEBUG1, "jobsched: dropped %d runs claimed before the extension was dropped", dropped);
}

/* Stop cleanly: let requests in flight finish briefly, record what we can. */
static void
shut_down(void)
{
	TimestampTz deadline = GetCurrentTimestamp() + SHUTDOWN_DRAIN_US;
	TimestampTz ignored = DT_NOEND;
	HttpRequest **unsent;
	int			nunsent = 0;

	pgstat_report_activity(STATE_RUNNING, "jobsched: stopping");

	/* runs claimed but never sent go back to the catalog, to be sent later */
	unsent = palloc((queued + hosts_parked() + nunconfirmed + 1) * sizeof(HttpRequest *));
	while (queued > 0)
	{
		unsent[nunsent++] = pairingheap_container(HttpRequest, heap_node,
												  pairingheap_remove_first(queue));
		queued--;
	}
	while (!dlist_is_empty(&ready))
		unsent[nunsent++] = dlist_container(HttpRequest, wait_node,
											dlist_pop_head_node(&ready));
	{
		HttpRequest *parked;

		while ((parked = hosts_pop_parked()) != NULL)
			unsent[nunsent++] = parked;
		while ((parked = pop_confirmed(PG_UINT64_MAX)) != NULL)
			unsent[nunsent++] = parked;
	}
	store_requeue_unsent(unsent, nunsent);

	while (http_in_flight() > 0 && GetCurrentTimestamp() < deadline)
	{
		(void) WaitLatchOrSocket(NULL, WL_SOCKET_READABLE | WL_TIMEOUT |
								 WL_EXIT_ON_PM_DEATH, http_wait_fd(),
								 min_timeout(http_next_timeout_ms(), 50),
								 PG_WAIT_EXTENSION);
		http_process(collect_result, NULL);
	}
	flush_results(&ignored);
	/* anything still in flight is left running: recovery takes it */
	http_executor_shutdown();
}

/*
 * A jobsched.database_name that does not exist makes the connection FATAL,
 * and the postmaster starts the worker again a second later: without this,
 * a FATAL a second, forever.  Count the starts that did not get connected
 * and wait longer before each new try, 1 s doubling to 30 s; say once why.
 */
static void
wait_after_failed_connects(void)
{
	uint32		failures = pg_atomic_fetch_add_u32(&jobsched_shared->connect_failures, 1);
	long		delay_s;
	TimestampTz deadline;

	if (failures == 0)
		return;
	delay_s = failures > 5 ? CONNECT_RETRY_MAX_S : Min(CONNECT_RETRY_MAX_S, 1L << (failures - 1));
	if (failures == 1)
		ereport(LOG,
				(errmsg("jobsched: the worker could not connect to database \"%s\" (jobsched.database_name); trying again, every %d seconds at most",
						jobsched_database_name, CONNECT_RETRY_MAX_S),
				 errhint("Create the database, or set jobsched.database_name to an existing one and restart the server.")));
	deadline = GetCurrentTimestamp() + delay_s * USECS_PER_SEC;
	for (TimestampTz now = GetCurrentTimestamp(); now < deadline; now = GetCurrentTimestamp())
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 ms_until(deadline, now), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		if (shutdown_requested)
			proc_exit(0);
	}
}

void
jobsched_worker_main(Datum main_arg)
{
	WaitEventSet *wait_set;
	TimestampTz next_due = 0;	/* 0: ask the catalog */
	TimestampTz next_purge = 0;
	TimestampTz reclaim_not_before = 0;
	TimestampTz recover_at = 0;
	TimestampTz attach_at = 0;
	TimestampTz flush_at;
	bool		attached = false;
	int			orphans_left = -1;	/* -1: the first recovery is still to come */
	bool		busy;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, handle_sigterm);
	BackgroundWorkerUnblockSignals();

	publish_worker();
	on_shmem_exit(unpublish_worker, (Datum) 0);

	wait_after_failed_connects();
	BackgroundWorkerInitializeConnection(jobsched_database_name, NULL, 0);
	pg_atomic_write_u32(&jobsched_shared->connect_failures, 0);
	pgstat_report_appname("jobsched scheduler");
	set_worker_settings();

	raise_open_file_limit();
	http_executor_init();
	queue = pairingheap_allocate(compare_send_at, NULL);
	hosts_init();
	results_size = 1024;
	results = MemoryContextAlloc(TopMemoryContext,
								 results_size * sizeof(HttpRequest *));
	wait_set = make_wait_set();

	while (!shutdown_requested)
	{
		WaitEvent	events[3];
		TimestampTz now;
		long		timeout = -1;
		int			nevents;

		now = GetCurrentTimestamp();

		/*
		 * Wait for CREATE EXTENSION (at the right version), and for any
		 * other scheduler of this database to go away; look again when the
		 * extension has been dropped.
		 */
		if (!attached && now >= attach_at)
		{
			attached = store_attach();
			attach_at = now + (TimestampTz) ATTACH_RETRY_MS * 1000;
			if (attached)
			{
				ereport(LOG,
						(errmsg("jobsched: scheduler started in database \"%s\" (max_in_flight %d)",
								jobsched_database_name, in_flight_limit)));
				store_recover_reset();
				orphans_left = -1;
				next_due = 0;
				/* recovery and results write to history: its partitions first */
				(void) purge_history(now);
				next_purge = now + PURGE_INTERVAL_US;
			}
			else
				pgstat_report_activity(STATE_IDLE, "jobsched: waiting for CREATE EXTENSION jobsched");
		}

		/*
		 * Nothing is claimed before the last worker's executions are
		 * settled; those locked by another session are settled later.
		 */
		if (attached && orphans_left != 0 && now >= recover_at)
		{
			int			left = store_recover();

			if (left >= 0)
			{
				orphans_left = left;
				recover_at = now + RECOVER_RETRY_US;
			}
			else
			{
				/* claims wait for the first recovery: share their backoff */
				backoff_failed(&claim_backoff, now);
				recover_at = claim_backoff.not_before;
			}
		}

		/* claim what will be due within the lookahead */
		if (attached && orphans_left >= 0 &&
			jobsched_enabled && queued < MAX_QUEUED && now >= reclaim_not_before &&
			(next_due == 0 ||
			 next_due <= now + (TimestampTz) jobsched_lookahead_ms * 1000))
		{
			int			limit = Min(jobsched_batch_size, MAX_QUEUED - queued);
			int			claimed;

			claimed = store_claim(now,
								  now + (TimestampTz) jobsched_lookahead_ms * 1000,
								  limit, enqueue_claimed, NULL, &next_due);
			elog(DEBUG1, "jobsched: claimed %d runs in %ld us (%d in flight, %d queued)",
				 claimed, (long) (GetCurrentTimestamp() - now), http_in_flight(), queued);
			now = GetCurrentTimestamp();
			if (claimed == STORE_DETACHED)
			{
				attached = false;
				detach();
			}
			else if (claimed < 0)
			{
				backoff_failed(&claim_backoff, now);
				reclaim_not_before = claim_backoff.not_before;
			}
			else
			{
				backoff_succeeded(&claim_backoff);
				confirm_new_claims();
				/* rows we could not lock: do not spin on them */
				if (claimed < limit && next_due <= now)
					reclaim_not_before = now + RECLAIM_BACKOFF_US;
			}
		}
		if (attached)
		{
			jobsched_set_worker_state(jobsched_enabled ? JOBSCHED_WORKER_RUNNING :
									  JOBSCHED_WORKER_DISABLED);
			pg_atomic_write_u32(&jobsched_shared->sync_confirming, syncwait_required());
		}

		send_due();
		http_process(collect_result, NULL);
		send_due();

		/*
		 * A full batch of results is written at once; a partial one, and the
		 * purge, wait while runs are due to go out, so that the runs of a
		 * busy second are not held up by them.
		 */
		now = GetCurrentTimestamp();
		busy = sends_waiting(now);
		flush_at = Max(oldest_result_at + (busy ? FLUSH_MAX_DELAY_US : FLUSH_DELAY_US),
					   write_backoff.not_before);
		if (attached && nresults > 0 && now >= write_backoff.not_before &&
			(nresults >= jobsched_batch_size || now >= flush_at))
		{
			flush_results(&next_due);
			now = GetCurrentTimestamp();
			busy = sends_waiting(now);
		}

		/*
		 * History partitions: made ahead, dropped past the retention (0:
		 * kept); alerts and what was recorded before 1.1, by age.
		 */
		if (attached && now >= next_purge &&
			(!busy || now >= next_purge + PURGE_MAX_DEFER_US))
		{
			int			purged = purge_history(now);

			/*
			 * A batch mostly purged means more is waiting: come back soon.
			 * (Not "all of it": a few old rows finished only recently stay.)
			 * A failed purge waits for the next interval.
			 */
			next_purge = now + (purged >= PURGE_BATCH / 2 ? 100 * 1000 : PURGE_INTERVAL_US);
		}

		/* sleep until the earliest thing we have to do */
		now = GetCurrentTimestamp();
		timeout = http_next_timeout_ms();
		if (!attached)
			timeout = min_timeout(timeout, ms_until(attach_at, now));
		else if (jobsched_enabled && queued < MAX_QUEUED && orphans_left >= 0)
		{
			TimestampTz claim_at = next_due - (TimestampTz) jobsched_lookahead_ms * 1000;

			timeout = min_timeout(timeout,
								  ms_until(Max(claim_at, reclaim_not_before), now));
		}
		if (queued > 0 && http_in_flight() < in_flight_limit)
			timeout = min_timeout(timeout,
								  ms_until(pairingheap_container(HttpRequest, heap_node,
																 pairingheap_first(queue))->send_at, now));
		if (!dlist_is_empty(&ready) && http_in_flight() < in_flight_limit)
			timeout = 0;
		if (nunconfirmed > 0)
			timeout = min_timeout(timeout, syncwait_poll_ms());
		if (nresults > 0)
			timeout = min_timeout(timeout, ms_until(flush_at, now));
		if (attached && orphans_left != 0)
			timeout = min_timeout(timeout, ms_until(recover_at, now));
		if (attached)
			timeout = min_timeout(timeout,
								  ms_until(next_purge + (busy ? PURGE_MAX_DEFER_US : 0), now));

		if (attached && nunconfirmed > 0)
		{
			char		activity[128];

			snprintf(activity, sizeof(activity),
					 "jobsched: %d ATMOST_ONCE runs wait for synchronous standbys to confirm their claims",
					 nunconfirmed);
			pgstat_report_activity(STATE_IDLE, activity);
		}
		else if (attached)
			pgstat_report_activity(STATE_IDLE, NULL);
		nevents = WaitEventSetWait(wait_set, timeout, events, lengthof(events),
								   PG_WAIT_EXTENSION);
		for (int i = 0; i < nevents; i++)
		{
			if (events[i].events & WL_LATCH_SET)
			{
				ResetLatch(MyLatch);

				/*
				 * jobs changed: ask the catalog again (not while claims
				 * fail), and look for the extension at once if it was
				 * missing.  (The sync waiter sets the latch too: then the
				 * held runs are looked at, in send_due.)
				 */
				if (pg_atomic_exchange_u32(&jobsched_shared->jobs_changed, 0) != 0)
				{
					next_due = 0;
					reclaim_not_before = claim_backoff.not_before;
					attach_at = 0;
				}
			}
		}
		process_interrupts();
	}

	shut_down();
	proc_exit(1);
}
