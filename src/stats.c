/*-------------------------------------------------------------------------
 *
 * stats.c
 *		Observability: the worker counts outcomes and lateness per second
 *		in shared memory, and jobsched.worker_stats() reads them back.
 *
 * Counting in shared memory keeps jobsched.stats cheap at any rate: it
 * never scans the execution history, which at thousands of executions per
 * second would be millions of rows a minute.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "commands/dbcommands.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "jobsched.h"

PG_FUNCTION_INFO_V1(jobsched_worker_stats);

#define LATENESS_BASE_US 100.0
#define BUCKETS_PER_DOUBLING 4

static int
lateness_bucket(int64 lateness_us)
{
	int			bucket;

	if (lateness_us < LATENESS_BASE_US)
		return 0;
	bucket = 1 + (int) (BUCKETS_PER_DOUBLING *
						log2((double) lateness_us / LATENESS_BASE_US));
	return Min(bucket, JOBSCHED_LATENESS_BUCKETS - 1);
}

/* Upper bound of a bucket, in milliseconds. */
static double
lateness_bucket_upper_ms(int bucket)
{
	return LATENESS_BASE_US *
		pow(2.0, (double) bucket / BUCKETS_PER_DOUBLING) / 1000.0;
}

static int64
unix_second(TimestampTz t)
{
	return t / USECS_PER_SEC +
		(int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
}

void
jobsched_count_outcome(JobschedOutcome outcome, TimestampTz at,
					   int64 lateness_us)
{
	int64		second = unix_second(at);
	JobschedSecond *slot;

	if (jobsched_shared == NULL)
		return;
	slot = &jobsched_shared->seconds[second % JOBSCHED_STATS_SECONDS];

	SpinLockAcquire(&jobsched_shared->mutex);
	if (slot->second != second)
	{
		memset(slot, 0, sizeof(*slot));
		slot->second = second;
	}
	slot->outcomes[outcome]++;
	/* lateness belongs to attempts that were sent, counted once each */
	if (outcome == JOBSCHED_OUTCOME_SUCCEEDED ||
		outcome == JOBSCHED_OUTCOME_FAILED ||
		outcome == JOBSCHED_OUTCOME_TIMED_OUT)
		slot->lateness[lateness_bucket(lateness_us)]++;
	SpinLockRelease(&jobsched_shared->mutex);
}

static const char *
worker_state_name(JobschedWorkerState state)
{
	switch (state)
	{
		case JOBSCHED_WORKER_NOT_RUNNING:
			return "not running";
		case JOBSCHED_WORKER_STARTING:
			return "starting";
		case JOBSCHED_WORKER_RUNNING:
			return "running";
		case JOBSCHED_WORKER_DISABLED:
			return "disabled";
		case JOBSCHED_WORKER_LOCKED_OUT:
			return "waiting: another scheduler runs in this database";
		case JOBSCHED_WORKER_WAITING:
			return "waiting: no extension of this library's version in this database";
	}
	return "unknown";
}

static Datum
percentile_ms(const uint64 *histogram, uint64 total, double fraction,
			  bool *isnull)
{
	uint64		rank = (uint64) ceil(fraction * total);
	uint64		seen = 0;

	*isnull = (total == 0);
	if (total == 0)
		return (Datum) 0;
	for (int b = 0; b < JOBSCHED_LATENESS_BUCKETS; b++)
	{
		seen += histogram[b];
		if (seen >= rank)
			return Float8GetDatum(lateness_bucket_upper_ms(b));
	}
	return Float8GetDatum(lateness_bucket_upper_ms(JOBSCHED_LATENESS_BUCKETS - 1));
}

/*
 * One row: the worker's state and counters, and the outcomes and lateness
 * percentiles (bucket upper bounds, within about 20%) of the last minute.
 */
Datum
jobsched_worker_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[16];
	bool		nulls[16];
	uint64		outcomes[JOBSCHED_NUM_OUTCOMES] = {0};
	uint64		histogram[JOBSCHED_LATENESS_BUCKETS] = {0};
	uint64		timed = 0;
	int64		now_second = unix_second(GetCurrentTimestamp());
	JobschedWorkerState state = JOBSCHED_WORKER_NOT_RUNNING;
	pid_t		pid = 0;
	TimestampTz started_at = 0;
	int			i = 0;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	memset(nulls, 0, sizeof(nulls));

	if (jobsched_shared != NULL)
	{
		SpinLockAcquire(&jobsched_shared->mutex);
		state = jobsched_shared->worker_state;
		pid = jobsched_shared->worker_pid;
		started_at = jobsched_shared->worker_started_at;
		for (int s = 0; s < JOBSCHED_STATS_SECONDS; s++)
		{
			JobschedSecond *slot = &jobsched_shared->seconds[s];

			if (slot->second <= now_second - JOBSCHED_STATS_SECONDS ||
				slot->second > now_second)
				continue;
			for (int o = 0; o < JOBSCHED_NUM_OUTCOMES; o++)
				outcomes[o] += slot->outcomes[o];
			for (int b = 0; b < JOBSCHED_LATENESS_BUCKETS; b++)
			{
				histogram[b] += slot->lateness[b];
				timed += slot->lateness[b];
			}
		}
		SpinLockRelease(&jobsched_shared->mutex);
	}

	values[i] = CStringGetTextDatum(jobsched_shared == NULL ?
									"not loaded: add jobsched to shared_preload_libraries" :
									worker_state_name(state));
	i++;
	values[i] = Int32GetDatum((int32) pid);
	nulls[i++] = (pid == 0);
	values[i] = TimestampTzGetDatum(started_at);
	nulls[i++] = (pid == 0);
	values[i++] = Int64GetDatum(jobsched_shared ?
								(int64) pg_atomic_read_u64(&jobsched_shared->in_flight) : 0);
	values[i++] = Int64GetDatum(jobsched_shared ?
								(int64) pg_atomic_read_u64(&jobsched_shared->queued) : 0);
	values[i++] = Int64GetDatum(jobsched_shared ?
								(int64) pg_atomic_read_u64(&jobsched_shared->sent_total) : 0);
	values[i++] = Int64GetDatum(jobsched_shared ?
								(int64) pg_atomic_read_u64(&jobsched_shared->completed_total) : 0);
	for (int o = 0; o < JOBSCHED_NUM_OUTCOMES; o++)
		values[i++] = Int64GetDatum((int64) outcomes[o]);
	values[i] = percentile_ms(histogram, timed, 0.50, &nulls[i]);
	i++;
	values[i] = percentile_ms(histogram, timed, 0.99, &nulls[i]);
	i++;
	/* since 1.1 */
	values[i] = CStringGetTextDatum(jobsched_shared &&
									pg_atomic_read_u32(&jobsched_shared->sync_confirming) ?
									"synchronous standbys" : "local flush");
	nulls[i++] = (pid == 0);
	values[i++] = Int64GetDatum(jobsched_shared ?
								(int64) pg_atomic_read_u64(&jobsched_shared->awaiting_sync) : 0);
	Assert(i == lengthof(values));

	/*
	 * The counters are the worker's, and it works in one database: in any
	 * other, say where it is instead of passing its figures off as local.
	 */
	if (jobsched_shared != NULL && jobsched_database_name != NULL &&
		strcmp(get_database_name(MyDatabaseId), jobsched_database_name) != 0)
	{
		for (int c = 0; c < (int) lengthof(values); c++)
			nulls[c] = true;
		nulls[0] = false;
		values[0] = CStringGetTextDatum(psprintf("elsewhere: jobs fire in database \"%s\" (jobsched.database_name)",
												 jobsched_database_name));
	}

	/* a 1.0 catalog (before ALTER EXTENSION UPDATE) declares the first 14 */
	if (tupdesc->natts > (int) lengthof(values))
		elog(ERROR, "jobsched.worker_stats() declares %d columns, the library knows %d",
			 tupdesc->natts, (int) lengthof(values));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
