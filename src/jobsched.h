/*-------------------------------------------------------------------------
 *
 * jobsched.h
 *		Declarations shared by the parts of the jobsched extension: the
 *		settings, the shared-memory state the worker publishes, and the
 *		entry points each file offers the others.
 *
 *-------------------------------------------------------------------------
 */
#ifndef JOBSCHED_H
#define JOBSCHED_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "port/atomics.h"
#include "storage/latch.h"
#include "storage/spin.h"

#include "netpolicy.h"

/* The schema version this library works with (jobsched.control). */
#define JOBSCHED_VERSION "1.1"

/* Settings (GUCs), defined in jobsched.c */
extern bool jobsched_enabled;
extern char *jobsched_database_name;
extern int	jobsched_max_in_flight;
extern int	jobsched_max_host_connections;
extern int	jobsched_batch_size;
extern int	jobsched_misfire_grace;
extern int	jobsched_history_retention;
extern int	jobsched_max_response_size;
extern int	jobsched_lookahead_ms;
extern char *jobsched_network_policy_text;
extern const NetPolicy *jobsched_network_policy;
extern char *jobsched_ssl_ca_file;
extern char *jobsched_ssl_cert_file;
extern char *jobsched_ssl_key_file;

/* What the worker is doing, for jobsched.stats */
typedef enum JobschedWorkerState
{
	JOBSCHED_WORKER_NOT_RUNNING = 0,
	JOBSCHED_WORKER_STARTING,
	JOBSCHED_WORKER_RUNNING,
	JOBSCHED_WORKER_DISABLED,
	JOBSCHED_WORKER_LOCKED_OUT,	/* another scheduler holds the database */
	JOBSCHED_WORKER_WAITING		/* no extension, or another version of it */
} JobschedWorkerState;

/*
 * Outcomes of the last minute, one slot per second, for jobsched.stats.
 * Lateness (send time minus nominal time) goes into a log-scale histogram:
 * bucket 0 holds everything under 100 us, then 4 buckets per doubling.
 */
#define JOBSCHED_STATS_SECONDS 60
#define JOBSCHED_LATENESS_BUCKETS 80

typedef enum JobschedOutcome
{
	JOBSCHED_OUTCOME_SUCCEEDED = 0,
	JOBSCHED_OUTCOME_FAILED,
	JOBSCHED_OUTCOME_TIMED_OUT,
	JOBSCHED_OUTCOME_LOST,
	JOBSCHED_OUTCOME_RETRIED,
	JOBSCHED_NUM_OUTCOMES
} JobschedOutcome;

typedef struct JobschedSecond
{
	int64		second;			/* Unix second this slot counts, or 0 */
	uint32		outcomes[JOBSCHED_NUM_OUTCOMES];
	uint32		lateness[JOBSCHED_LATENESS_BUCKETS];
} JobschedSecond;

typedef struct JobschedShared
{
	slock_t		mutex;			/* protects the fields below */
	pid_t		worker_pid;
	Latch	   *worker_latch;
	JobschedWorkerState worker_state;
	Oid			worker_database;
	TimestampTz worker_started_at;
	pg_atomic_uint64 in_flight; /* requests on the wire now */
	pg_atomic_uint64 sent_total;	/* requests put on the wire since start */
	pg_atomic_uint64 completed_total;	/* results written since start */
	pg_atomic_uint64 queued;	/* claimed, waiting for their send time */
	pg_atomic_uint32 connect_failures;	/* worker starts in a row that did not connect */
	pg_atomic_uint32 jobs_changed;	/* set with the latch by API calls: claim again */

	/* claims of ATMOST_ONCE runs waiting for synchronous standbys (syncwait.c) */
	pid_t		waiter_pid;		/* under mutex */
	Latch	   *waiter_latch;	/* under mutex */
	pg_atomic_uint64 confirm_wanted;	/* the LSN the scheduler waits for */
	pg_atomic_uint64 awaiting_sync; /* ATMOST_ONCE runs due, held for it */
	pg_atomic_uint32 sync_confirming;	/* 1: claims wait for synchronous standbys */
	JobschedSecond seconds[JOBSCHED_STATS_SECONDS];	/* under mutex */
} JobschedShared;

extern JobschedShared *jobsched_shared;

extern void jobsched_set_worker_state(JobschedWorkerState state);

/* stats.c */
extern void jobsched_count_outcome(JobschedOutcome outcome, TimestampTz at,
								   int64 lateness_us);

/* scheduler.c */
extern PGDLLEXPORT void jobsched_worker_main(Datum main_arg);

#endif							/* JOBSCHED_H */
