/*-------------------------------------------------------------------------
 *
 * api.c
 *		SQL-callable helpers behind the jobsched API: cron evaluation in a
 *		time zone, URL validation, and waking the scheduler when jobs change.
 *
 * The API functions themselves (create_job, modify_job, ...) are SQL in
 * sql/jobsched--1.0.sql; they call these for everything SQL cannot do.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "access/xact.h"
#include "fmgr.h"
#include "pgtime.h"
#include "storage/latch.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "cron.h"
#include "jobsched.h"

/* Longest URL accepted; longer ones are almost certainly a mistake. */
#define JOBSCHED_MAX_URL_LENGTH 8192

PG_FUNCTION_INFO_V1(jobsched_next_fire);
PG_FUNCTION_INFO_V1(jobsched_next_fire_or_null);
PG_FUNCTION_INFO_V1(jobsched_check_url);
PG_FUNCTION_INFO_V1(jobsched_wake_scheduler);

/* Seconds between the Unix epoch and the PostgreSQL epoch (2000-01-01). */
#define UNIX_TO_POSTGRES_SECS \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)

static long
pg_zone_offset(void *zone, int64_t utc)
{
	pg_time_t	t = (pg_time_t) utc;
	struct pg_tm *tm = pg_localtime(&t, (pg_tz *) zone);

	return tm ? tm->tm_gmtoff : 0;
}

/* Why a next fire time could not be computed. */
typedef enum NextFireStatus
{
	NEXT_FIRE_OK,
	NEXT_FIRE_BAD_SCHEDULE,
	NEXT_FIRE_BAD_ZONE,
	NEXT_FIRE_INFINITE_AFTER,
	NEXT_FIRE_NEVER
} NextFireStatus;

/*
 * The first fire time strictly after "after".  Cron has one-second
 * resolution, so a fractional "after" is rounded down first: the result is
 * still strictly later.  Never throws: the worker must be able to skip one
 * bad job without failing the whole claim.
 */
static NextFireStatus
compute_next_fire(const char *schedule, const char *zone_name,
				  TimestampTz after, TimestampTz *next, char *err, size_t errlen)
{
	CronExpr	expr;
	pg_tz	   *zone;
	int64		after_secs;
	int64_t		next_secs;

	if (!cron_parse(schedule, &expr, err, errlen))
		return NEXT_FIRE_BAD_SCHEDULE;
	zone = pg_tzset(zone_name);
	if (zone == NULL)
		return NEXT_FIRE_BAD_ZONE;
	if (TIMESTAMP_NOT_FINITE(after))
		return NEXT_FIRE_INFINITE_AFTER;

	after_secs = after / USECS_PER_SEC;
	if (after < 0 && after % USECS_PER_SEC != 0)
		after_secs--;
	after_secs += UNIX_TO_POSTGRES_SECS;

	if (!cron_next(&expr, after_secs, pg_zone_offset, zone, &next_secs))
		return NEXT_FIRE_NEVER;
	*next = (TimestampTz) (next_secs - UNIX_TO_POSTGRES_SECS) * USECS_PER_SEC;
	return NEXT_FIRE_OK;
}

Datum
jobsched_next_fire(PG_FUNCTION_ARGS)
{
	char	   *schedule = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *zone_name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	TimestampTz after = PG_GETARG_TIMESTAMPTZ(2);
	TimestampTz next = 0;
	char		err[CRON_ERRBUF_SIZE];

	switch (compute_next_fire(schedule, zone_name, after, &next, err, sizeof(err)))
	{
		case NEXT_FIRE_OK:
			break;
		case NEXT_FIRE_BAD_SCHEDULE:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid cron expression \"%s\": %s", schedule, err)));
			break;
		case NEXT_FIRE_BAD_ZONE:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid time zone \"%s\"", zone_name),
					 errhint("Use a name from pg_timezone_names, such as \"Europe/Berlin\" or \"UTC\".")));
			break;
		case NEXT_FIRE_INFINITE_AFTER:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cannot compute a fire time after an infinite timestamp")));
			break;
		case NEXT_FIRE_NEVER:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cron expression \"%s\" never fires after %s",
							schedule, timestamptz_to_str(after))));
			break;
	}
	PG_RETURN_TIMESTAMPTZ(next);
}

/* As next_fire, but NULL where next_fire would raise an error. */
Datum
jobsched_next_fire_or_null(PG_FUNCTION_ARGS)
{
	char	   *schedule = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *zone_name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	TimestampTz next;
	char		err[CRON_ERRBUF_SIZE];

	if (compute_next_fire(schedule, zone_name, PG_GETARG_TIMESTAMPTZ(2),
						  &next, err, sizeof(err)) != NEXT_FIRE_OK)
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(next);
}

/*
 * Accept only http and https URLs with a host.  libcurl's own parser decides,
 * so what is accepted here is exactly what the worker can send.
 */
Datum
jobsched_check_url(PG_FUNCTION_ARGS)
{
	char	   *url = text_to_cstring(PG_GETARG_TEXT_PP(0));
	size_t		len = strlen(url);
	CURLU	   *parsed;
	CURLUcode	rc;
	char	   *scheme = NULL;
	char	   *host = NULL;
	const char *problem = NULL;

	if (len > JOBSCHED_MAX_URL_LENGTH)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("URL is too long: %zu bytes, at most %d", len,
						JOBSCHED_MAX_URL_LENGTH)));

	for (const char *p = url; *p; p++)
		if ((unsigned char) *p <= ' ' || *p == 0x7f)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid URL \"%s\": it contains a space or control character",
							url)));

	parsed = curl_url();
	if (parsed == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));

	rc = curl_url_set(parsed, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
	if (rc != CURLUE_OK)
		problem = "it is not a well-formed URL";
	else if (curl_url_get(parsed, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
			 (pg_strcasecmp(scheme, "http") != 0 &&
			  pg_strcasecmp(scheme, "https") != 0))
		problem = "only http and https URLs are allowed";
	else if (curl_url_get(parsed, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
			 host[0] == '\0')
		problem = "it has no host";

	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(parsed);

	if (problem)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid URL \"%s\": %s", url, problem)));

	PG_RETURN_VOID();
}

/*
 * Waking the scheduler.  The worker must see the change, so the latch is set
 * when the transaction commits, not when the function is called.
 */
static bool wake_pending = false;
static bool wake_callback_registered = false;

static void
wake_at_commit(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (wake_pending && jobsched_shared != NULL)
			{
				Latch	   *latch;

				SpinLockAcquire(&jobsched_shared->mutex);
				latch = jobsched_shared->worker_latch;
				SpinLockRelease(&jobsched_shared->mutex);
				if (latch)
					SetLatch(latch);
			}
			wake_pending = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			wake_pending = false;
			break;
		default:
			break;
	}
}

Datum
jobsched_wake_scheduler(PG_FUNCTION_ARGS)
{
	if (!wake_callback_registered)
	{
		RegisterXactCallback(wake_at_commit, NULL);
		wake_callback_registered = true;
	}
	wake_pending = true;
	PG_RETURN_VOID();
}
