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

#include <netdb.h>
#include <sys/socket.h>

#include "access/xact.h"
#include "fmgr.h"
#include "pgtime.h"
#include "storage/latch.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "cron.h"
#include "jobsched.h"
#include "netpolicy.h"
#include "textutil.h"
#include "validate.h"

PG_FUNCTION_INFO_V1(jobsched_next_fire);
PG_FUNCTION_INFO_V1(jobsched_next_fire_or_null);
PG_FUNCTION_INFO_V1(jobsched_check_url);
PG_FUNCTION_INFO_V1(jobsched_check_header);
PG_FUNCTION_INFO_V1(jobsched_wake_scheduler);

/* Longest piece of user input quoted in a message, in bytes. */
#define MESSAGE_QUOTE_MAX 100

/*
 * User input as quoted in an error message: a 1 MB schedule must not make a
 * 1 MB message, a line break must not reach the log, and UTF-8 stays intact
 * (see jobsched_quote_input).
 */
static char *
quoted(const char *s)
{
	size_t		len = strlen(s);
	char	   *dst = palloc(Min(len, MESSAGE_QUOTE_MAX) + 4);

	jobsched_quote_input(dst, s, len, MESSAGE_QUOTE_MAX);
	return dst;
}

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
					 errmsg("invalid cron expression \"%s\": %s", quoted(schedule), err)));
			break;
		case NEXT_FIRE_BAD_ZONE:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid time zone \"%s\"", quoted(zone_name)),
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
							quoted(schedule), timestamptz_to_str(after))));
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
 * The network policy at creation time.  An IP literal is checked as it is;
 * a host name is resolved and every address checked, so that an obviously
 * forbidden target is refused at once.  A name that does not resolve now is
 * accepted: the worker checks every address it connects to anyway, which is
 * what makes the policy hold against DNS answers that change.
 */
static void
check_url_policy(const char *url, const char *host)
{
	struct addrinfo hints;
	struct addrinfo *addrs = NULL;
	char		why[NETPOLICY_ERRBUF_SIZE];
	bool		allowed = true;
	struct sockaddr_storage literal;

	if (jobsched_network_policy == NULL)
		return;

	if (netpolicy_parse_ip(host, &literal))
		allowed = netpolicy_allows(jobsched_network_policy,
								   (struct sockaddr *) &literal,
								   sizeof(literal), why, sizeof(why));
	else
	{
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		if (getaddrinfo(host, NULL, &hints, &addrs) == 0)
		{
			for (struct addrinfo *a = addrs; a && allowed; a = a->ai_next)
				allowed = netpolicy_allows(jobsched_network_policy, a->ai_addr,
										   a->ai_addrlen, why, sizeof(why));
			freeaddrinfo(addrs);
		}
	}

	if (!allowed)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("URL \"%s\" is not allowed: %s", quoted(url), why),
				 errhint("A superuser can change jobsched.network_policy.")));
}

/*
 * Accept only http and https URLs with a host, within the network policy.
 * libcurl's own parser decides the syntax, so what is accepted here is
 * exactly what the worker can send.
 */
Datum
jobsched_check_url(PG_FUNCTION_ARGS)
{
	char	   *url = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char		host[1024];
	const char *problem = validate_url(url, host, sizeof(host));

	if (problem)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid URL \"%s\": %s", quoted(url), problem)));
	check_url_policy(url, host);
	PG_RETURN_VOID();
}

/* One header of a job: a token name, a value without line breaks. */
Datum
jobsched_check_header(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *value = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char		buf[VALIDATE_ERRBUF_SIZE];
	const char *problem = validate_header(name, value, buf, sizeof(buf));

	if (problem)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s", problem)));
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
				/* the flag first: the worker reads it when its latch is set */
				pg_atomic_write_u32(&jobsched_shared->jobs_changed, 1);
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
