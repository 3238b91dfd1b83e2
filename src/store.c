/*-------------------------------------------------------------------------
 *
 * store.c
 *		The scheduler's database side.  Every function here is one short
 *		transaction running one prepared statement (SPI plans are kept for
 *		the life of the worker), so the worker holds no locks and no
 *		snapshot between calls.
 *
 * The guarantees live in these statements:
 *
 *	- A run is claimed by locking its job with FOR UPDATE SKIP LOCKED,
 *	  advancing next_run_at and inserting the execution (status running) in
 *	  one transaction.  A concurrent scheduler skips the locked rows and then
 *	  sees the advanced time, so no run is fired twice.  The claim commits
 *	  without waiting for its WAL flush; each request carries the commit's
 *	  LSN and is not sent before WAL is flushed that far (scheduler.c), so a
 *	  claim is durable before its request goes out, and one flush covers
 *	  many claims.
 *	- Results are written many at a time, with synchronous_commit off: a
 *	  result lost in a crash leaves its execution "running", which recovery
 *	  treats like any other interrupted request.
 *	- Recovery, before the first claim: ATLEAST_ONCE executions left running
 *	  are queued to be sent again (same row, same Idempotency-Key);
 *	  ATMOST_ONCE ones become lost and raise an alert.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "jobsched.h"
#include "store.h"

/* Session advisory lock held by the one scheduler of a database: "jobsched" in ASCII. */
#define SCHEDULER_LOCK_KEY "7669472627586770276"

#define UNIX_TO_POSTGRES_USECS \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * USECS_PER_SEC)

/*
 * Both claim statements return rows of one shape, which
 * request_from_tuple() turns into HttpRequests: execution_id (NULL for a
 * scheduled run, whose execution is inserted next), job_id, scheduled_for,
 * send_at, fire (false: skipped by the misfire or overlap policy), what
 * to send, and whether the job was just disabled because of its owner.
 */
/*
 * libcurl's spelling of a header: "Name;" for one with an empty value
 * ("Name:" would remove it).  These are evaluated for every run claimed:
 * most jobs have no headers (no set-returning call then) and no signing
 * secret (no lookup at all while nobody has one: the EXISTS is computed
 * once per claim).
 */
#define JOB_REQUEST_FIELDS(j) \
	j ".url, " j ".method, " j ".body, " \
	"CASE WHEN " j ".headers = '{}' THEN '{}'::text[] ELSE" \
	"  ARRAY(SELECT CASE WHEN h.value = '' THEN h.key || ';' ELSE h.key || ': ' || h.value END" \
	"        FROM jsonb_each_text(" j ".headers) h) END, " \
	"(extract(epoch FROM " j ".timeout) * 1000)::int4, " j ".follow_redirects, " \
	j ".type = 'ATMOST_ONCE', " \
	"CASE WHEN (SELECT EXISTS (SELECT FROM jobsched.job_secrets)) THEN" \
	"  (SELECT s.secret FROM jobsched.job_secrets s WHERE s.job_id = " j ".id) END"

/* The columns of that shape, numbered as SPI does. */
enum ClaimColumn
{
	CLAIM_EXECUTION_ID = 1,
	CLAIM_JOB_ID,
	CLAIM_SCHEDULED_FOR,
	CLAIM_SEND_AT,
	CLAIM_FIRE,
	CLAIM_URL,
	CLAIM_METHOD,
	CLAIM_BODY,
	CLAIM_HEADERS,
	CLAIM_TIMEOUT_MS,
	CLAIM_FOLLOW_REDIRECTS,
	CLAIM_AT_MOST_ONCE,
	CLAIM_SIGNING_SECRET,
	CLAIM_OWNER_DISABLED,
	CLAIM_ATTEMPT,
	CLAIM_RUN_TID
};

/*
 * Lock the due jobs, advance them, and say which of them fire.  A run more
 * than misfire_grace late ($3) is a misfire: it fires only under run_once,
 * and the job continues from the grace window, not from the missed time.
 * Due jobs are found through due_bucket (the 10-second step of
 * next_run_at), which a claim changes only when the job moves to another
 * step: the other claims are HOT updates of the job row (see the 1.1 update
 * script).  The rows locked are updated by ctid (stable while the lock is
 * held): a TID lookup each rather than a second descent of the primary key.
 */
static const char *claim_jobs_sql =
"WITH due AS ("
"  SELECT ctid AS tid, id, next_run_at, active, schedule, timezone, EXISTS ("
"          SELECT 1 FROM pg_catalog.pg_roles r"
"          WHERE r.rolname = jobs.owner"
"            AND (r.rolsuper OR pg_catalog.pg_has_role(r.oid,"
"                   (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = 'jobsched_user'),"
"                   'MEMBER'))) AS owner_ok"
"  FROM jobsched.jobs"
"  WHERE due_bucket <= jobsched.due_bucket($1) AND next_run_at <= $1"
"  ORDER BY next_run_at"
"  LIMIT $2"
"  FOR UPDATE SKIP LOCKED"
"), advanced AS ("
"  SELECT due.*, CASE WHEN due.active AND due.owner_ok THEN"
"      jobsched.next_fire_or_null(due.schedule, due.timezone, greatest(due.next_run_at, $3)) END AS next_at"
"  FROM due"
")"
"UPDATE jobsched.jobs j"
"  SET next_run_at = a.next_at,"
"    last_claimed_for = a.next_run_at,"
"    due_bucket = jobsched.due_bucket(a.next_at)"
"  FROM advanced a"
"  WHERE j.ctid = a.tid"
"  RETURNING NULL::int8, j.id, a.next_run_at, a.next_run_at,"
"    a.owner_ok AND (j.misfire = 'run_once' OR a.next_run_at >= $3)"
"    AND (j.overlap = 'allow' OR NOT EXISTS ("
"      SELECT 1 FROM jobsched.runs e WHERE e.job_id = j.id)), "
JOB_REQUEST_FIELDS("j") ", NOT a.owner_ok, 1, NULL::tid";

/*
 * Disable the jobs whose owner may no longer use jobsched, with an alert.
 * (Not in the claim itself: setting "active" there would run the jobs'
 * validation trigger for every claimed row.)
 */
static const char *owner_alerts_sql =
"WITH off AS ("
"  UPDATE jobsched.jobs SET active = false WHERE id = ANY ($1)"
"  RETURNING id, url, owner"
")"
"INSERT INTO jobsched.alerts (job_id, kind, url, message)"
"  SELECT id, 'disabled', url,"
"    format('job %s disabled: its owner \"%s\" no longer exists or is no longer a member of jobsched_user',"
"           id, owner)"
"  FROM off";

/*
 * The runs that fire, in the order given, as unfinished attempts (status
 * running).  No two share (job, scheduled time): the claim advanced
 * last_claimed_for past them (see the 1.1 update script).
 */
static const char *insert_executions_sql =
"INSERT INTO jobsched.runs (job_id, scheduled_for, status, started_at, sends)"
"  SELECT u.job_id, u.scheduled_for, 'running', greatest(u.scheduled_for, $3), 1"
"  FROM unnest($1::int8[], $2::timestamptz[]) WITH ORDINALITY AS u(job_id, scheduled_for, n)"
"  ORDER BY u.n"
"  RETURNING id, job_id, ctid";

/*
 * Retries (and triggered runs, sends, and runs put back at a clean stop)
 * that are due.  runs has no index on id: the rows locked here are found
 * again by their ctid (stable while we hold the lock), one TID lookup each,
 * and each job by its key (see RUN_OF_RESULT for why the lookups are
 * written as LATERAL ... OFFSET 0; an EXISTS in the select list may be
 * planned as a hashed subplan that reads every job on each claim).  A retry
 * written while its job was being deleted can outlive the job (delete_job
 * did not see it yet): it is deleted here, when it comes due, rather than
 * wake the worker for ever.
 */
static const char *claim_retries_sql =
"WITH due AS ("
"  SELECT d.tid, j.id IS NOT NULL AS has_job FROM ("
"    SELECT ctid AS tid, job_id FROM jobsched.runs"
"    WHERE status = 'retrying' AND retry_at <= $1"
"    ORDER BY retry_at"
"    LIMIT $2"
"    FOR UPDATE SKIP LOCKED) d"
"  LEFT JOIN LATERAL (SELECT j.id FROM jobsched.jobs j WHERE j.id = d.job_id OFFSET 0) j ON true"
"), orphans AS ("
"  DELETE FROM jobsched.runs e"
"  WHERE e.ctid = ANY (ARRAY(SELECT tid FROM due WHERE NOT has_job))"
"), moved AS ("
"  UPDATE jobsched.runs e"
"  SET status = 'running', started_at = greatest(e.retry_at, $3), sends = e.sends + 1"
"  WHERE e.ctid = ANY (ARRAY(SELECT tid FROM due WHERE has_job))"
"  RETURNING e.id, e.job_id, e.scheduled_for, e.retry_at, e.attempt, e.ctid AS tid"
")"
"SELECT m.id, m.job_id, m.scheduled_for, m.retry_at, true, "
JOB_REQUEST_FIELDS("j") ", false, m.attempt, m.tid"
"  FROM moved m"
"  CROSS JOIN LATERAL (SELECT * FROM jobsched.jobs j WHERE j.id = m.job_id OFFSET 0) j";

static const char *next_due_sql =
"SELECT least((SELECT min(next_run_at) FROM jobsched.jobs"
"              WHERE due_bucket = (SELECT min(due_bucket) FROM jobsched.jobs)),"
"             (SELECT min(retry_at) FROM jobsched.runs WHERE status = 'retrying'))";

/*
 * Each result's run: at the place its row was written (the claim returned
 * its ctid), else by its key in the one index of runs.  The place is right
 * unless the row moved (an UPDATE by another session) or went (delete_job):
 * one TID lookup rather than a descent of the index, which also reads the
 * index entries of every run since the last vacuum of runs.  The key check
 * on the row found makes a place reused by another row harmless.  The LIMIT
 * stops the Append at the first branch that finds the row.
 *
 * runs is a queue: its statistics describe what it held when ANALYZE last
 * looked (say 20,000 sends waiting for tomorrow and nothing running), and a
 * join the planner may order freely was then planned with runs outside and
 * the results rescanned for each of its rows: every run read once per
 * result, the worker down to 70 runs a second (test 017).  A LATERAL
 * subquery with a LIMIT (or OFFSET 0) is not flattened into a join: it is
 * always the inner side, one lookup per result, whatever the statistics
 * say.  (A locking clause may not be a branch of a UNION: each branch is a
 * subquery of its own.)  The rows are then deleted by ctid (a TID scan, no
 * join either) and matched back by id through a hashed subplan ("IS TRUE"
 * keeps it from becoming a join).
 */
#define RUN_OF_RESULT(cols, r, lock) \
"  CROSS JOIN LATERAL (SELECT * FROM (" \
"    SELECT * FROM (SELECT " cols " FROM jobsched.runs e" \
"      WHERE e.ctid = " r ".tid AND e.id = " r ".id AND e.status = 'running' " lock ") by_tid" \
"    UNION ALL" \
"    SELECT * FROM (SELECT " cols " FROM jobsched.runs e" \
"      WHERE e.job_id = " r ".job_id AND e.scheduled_for = " r ".scheduled_for" \
"        AND e.attempt = " r ".attempt AND e.id = " r ".id AND e.status = 'running'" \
"      OFFSET 0 " lock ") by_key) u LIMIT 1) x"

/*
 * Results, retries and alerts in one statement.  Each finished attempt
 * leaves runs and is appended to history; a failed ATLEAST_ONCE attempt
 * with retries left gets a new run (status retrying) due after an
 * exponential backoff with jitter; any other failure is final and raises an
 * alert (the alerts trigger sends the NOTIFY).  A run locked by another
 * session (a delete_job in a long transaction) is not waited for: its id
 * comes back in the last column, to be written later.
 */
#define WRITE_RESULTS_SQL(lock, busy_runs) \
"WITH r AS (" \
"  SELECT * FROM unnest($1::int8[], $2::int8[], $3::timestamptz[], $4::int4[], $5::tid[]," \
"                       $6::bool[], $7::bool[], $8::int4[], $9::timestamptz[], $10::timestamptz[]," \
"                       $11::text[], $12::text[])" \
"    AS r(id, job_id, scheduled_for, attempt, tid," \
"         ok, timed_out, http_status, started_at, finished_at, body, error)" \
"), found AS (" \
"  SELECT r.id, r.ok, r.timed_out, r.http_status, r.started_at, r.finished_at, r.body, r.error," \
"         r.job_id, r.scheduled_for, r.attempt, x.tid, x.sends FROM r" \
RUN_OF_RESULT("e.ctid AS tid, e.sends", "r", lock) \
"), gone AS (" \
"  DELETE FROM jobsched.runs e WHERE e.ctid = ANY (ARRAY(SELECT tid FROM found))" \
"  RETURNING e.id" \
"), done AS (" \
"  SELECT f.id, f.job_id, f.scheduled_for, f.attempt, f.sends," \
"    CASE WHEN f.ok THEN 'succeeded' WHEN f.timed_out THEN 'timed_out' ELSE 'failed' END AS status," \
"    f.ok, f.http_status, f.started_at, f.finished_at, f.body, f.error" \
"  FROM found f WHERE (f.id IN (SELECT id FROM gone)) IS TRUE" \
"), recorded AS (" \
"  INSERT INTO jobsched.history (id, job_id, scheduled_for, attempt, status, started_at," \
"                                finished_at, http_status, response_body, error, sends)" \
"  SELECT id, job_id, scheduled_for, attempt, status, started_at, finished_at, http_status," \
"         body, error, sends FROM done" \
"), judged AS (" \
"  SELECT d.*, j.url, j.method, j.retry_backoff," \
"         (j.type = 'ATLEAST_ONCE' AND d.attempt <= j.max_retries) AS will_retry" \
"  FROM done d" \
"  CROSS JOIN LATERAL (SELECT * FROM jobsched.jobs j WHERE j.id = d.job_id OFFSET 0) j" \
"  WHERE NOT d.ok" \
"), retried AS (" \
"  INSERT INTO jobsched.runs (job_id, scheduled_for, attempt, status, retry_at)" \
"  SELECT job_id, scheduled_for, attempt + 1, 'retrying'," \
"         finished_at + least(retry_backoff * power(2, least(attempt - 1, 30))" \
"                             * (0.5 + random()), interval '1 day')" \
"  FROM judged WHERE will_retry" \
"  RETURNING retry_at" \
"), alerted AS (" \
"  INSERT INTO jobsched.alerts (job_id, execution_id, kind, url, http_status, message)" \
"  SELECT job_id, id, status, url, http_status," \
"         format('%s %s %s after %s attempt%s: %s', method, url," \
"                CASE status WHEN 'timed_out' THEN 'timed out' ELSE 'failed' END," \
"                attempt, CASE WHEN attempt > 1 THEN 's' ELSE '' END, error)" \
"  FROM judged WHERE NOT will_retry" \
"  RETURNING id" \
")" \
"SELECT (SELECT count(*) FROM retried), (SELECT min(retry_at) FROM retried)," \
"       (SELECT count(*) FROM alerted), " busy_runs

/*
 * The statement in two forms.  Most batches lock nothing: their runs are
 * the worker's alone, and the second form deletes them without a row lock
 * (the lock would be one more WAL record per run, and the busy list one
 * more lookup), waiting at most a few milliseconds for a row another
 * session holds.  If it gives up, the batch is written again with the
 * first, which skips (FOR UPDATE SKIP LOCKED) and returns such rows.
 */
/* the parameters run_key_arrays() fills, first in both statements */
#define RUN_KEY_NARGS 5
#define RUN_KEY_ARGTYPES \
	INT8ARRAYOID, INT8ARRAYOID, TIMESTAMPTZARRAYOID, INT4ARRAYOID, TIDARRAYOID
#define WRITE_RESULTS_NARGS 12

static const char *write_results_sql = WRITE_RESULTS_SQL(
"FOR UPDATE OF e SKIP LOCKED",
"ARRAY(SELECT x.id FROM r" RUN_OF_RESULT("e.id", "r", "")
"      WHERE (x.id NOT IN (SELECT id FROM found)) IS TRUE)");
static const char *write_results_unlocked_sql = WRITE_RESULTS_SQL("", "'{}'::int8[]");


/*
 * $2: the orphans to settle (NULL: every run left running).  Rows locked by
 * another session are skipped and their ids returned, to be settled by a
 * later call; the worker has nothing of its own running yet.  An
 * ATLEAST_ONCE run is queued to be sent again (same row, same
 * Idempotency-Key); an ATMOST_ONCE one moves to history as lost.
 */
static const char *recover_sql =
"WITH orphan AS ("
"  SELECT e.ctid AS tid, e.id, j.type"
"  FROM jobsched.runs e LEFT JOIN jobsched.jobs j ON j.id = e.job_id"
"  WHERE e.status = 'running' AND ($2 IS NULL OR e.id = ANY ($2))"
"  FOR UPDATE OF e SKIP LOCKED"
"), resend AS ("
"  UPDATE jobsched.runs e SET status = 'retrying', retry_at = $1"
"  WHERE e.ctid = ANY (ARRAY(SELECT tid FROM orphan WHERE type = 'ATLEAST_ONCE'))"
"  RETURNING e.id"
"), lost AS ("
"  DELETE FROM jobsched.runs e"
"  WHERE e.ctid = ANY (ARRAY(SELECT tid FROM orphan WHERE type IS DISTINCT FROM 'ATLEAST_ONCE'))"
"  RETURNING e.id, e.job_id, e.scheduled_for, e.attempt, e.started_at, e.sends,"
"    'the scheduler stopped while this request was in flight; an ATMOST_ONCE run is never sent twice' AS error"
"), recorded AS ("
"  INSERT INTO jobsched.history (id, job_id, scheduled_for, attempt, status, started_at,"
"                                finished_at, error, sends)"
"  SELECT id, job_id, scheduled_for, attempt, 'lost', started_at, $1, error, sends FROM lost"
"), alerted AS ("
"  INSERT INTO jobsched.alerts (job_id, execution_id, kind, url, message)"
"  SELECT l.job_id, l.id, 'lost', j.url, format('%s %s lost: %s', j.method, j.url, l.error)"
"  FROM lost l"
"  CROSS JOIN LATERAL (SELECT * FROM jobsched.jobs j WHERE j.id = l.job_id OFFSET 0) j"
"  RETURNING id"
")"
"SELECT (SELECT count(*) FROM resend), (SELECT count(*) FROM lost),"
"       ARRAY(SELECT e.id FROM jobsched.runs e"
"             WHERE e.status = 'running' AND ($2 IS NULL OR e.id = ANY ($2))"
"               AND e.id NOT IN (SELECT id FROM orphan))";

/*
 * A run claimed but never sent (the worker is stopping): send it later, at
 * the time it was to go out (a retry's time, else its scheduled time: what
 * the claim gave as send_at).  Found like a result (RUN_OF_RESULT), and
 * updated by ctid.
 */
static const char *requeue_sql =
"WITH r AS ("
"  SELECT * FROM unnest($1::int8[], $2::int8[], $3::timestamptz[], $4::int4[], $5::tid[])"
"    AS r(id, job_id, scheduled_for, attempt, tid)"
"), mine AS ("
"  SELECT x.tid FROM r"
RUN_OF_RESULT("e.ctid AS tid", "r", "FOR UPDATE OF e SKIP LOCKED")
")"
"UPDATE jobsched.runs e"
"  SET status = 'retrying', retry_at = coalesce(e.retry_at, e.scheduled_for),"
"    sends = greatest(e.sends - 1, 0)"
"  WHERE e.ctid = ANY (ARRAY(SELECT tid FROM mine))";

/*
 * History past the retention goes a partition at a time
 * (jobsched.maintain_history(), which also makes the partitions ahead);
 * what was recorded before 1.1, and alerts, a batch of the oldest rows at a
 * time: reading only the oldest rows by id, it costs the same whatever the
 * tables hold.  $1: the cutoff, $2: the batch, $3: the retention.
 */
static const char *purge_sql =
"WITH old_history AS ("
"  DELETE FROM jobsched.history_unpartitioned h WHERE h.id IN ("
"    SELECT o.id FROM (SELECT id, finished_at FROM jobsched.history_unpartitioned"
"                      ORDER BY id LIMIT $2) o"
"    WHERE o.finished_at < $1)"
"  RETURNING 1"
"), old_alerts AS ("
"  DELETE FROM jobsched.alerts a WHERE a.id IN ("
"    SELECT o.id FROM (SELECT id, created_at FROM jobsched.alerts ORDER BY id LIMIT $2) o"
"    WHERE o.created_at < $1)"
")"
"SELECT (SELECT count(*) FROM old_history), jobsched.maintain_history($3),"
"       jobsched.purge_sends($1, $2)";

static void set_local(const char *name, const char *value);
static void plan_joins_by_index(void);
static void plan_for_these_arguments(void);
static void skip_commit_flush(void);
static int	claim_retries(HttpRequest **requests, TimestampTz horizon,
						  TimestampTz now, int limit);

static SPIPlanPtr claim_jobs_plan;
static SPIPlanPtr claim_retries_plan;
static SPIPlanPtr insert_executions_plan;
static SPIPlanPtr owner_alerts_plan;
static SPIPlanPtr next_due_plan;
static SPIPlanPtr write_results_plan;
static SPIPlanPtr write_results_unlocked_plan;
static SPIPlanPtr recover_plan;
static SPIPlanPtr requeue_plan;
static SPIPlanPtr purge_plan;

static void
begin_transaction(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "jobsched: SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
}

static void
commit_transaction(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * A statement of the worker can fail for reasons that are not its own: a
 * cancel, a deadlock with a concurrent delete_job, a table locked or
 * dropped.  None of them may end the worker -- a restart would turn the
 * ATMOST_ONCE runs in flight into "lost" -- so each public function below
 * catches its error here: the transaction is rolled back, the statement and
 * the SQLSTATE are logged, and the caller tries again later.
 */
static void
report_failure(const char *what, MemoryContext caller_context)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(caller_context);
	edata = CopyErrorData();
	FlushErrorState();
	AbortCurrentTransaction();
	MemoryContextSwitchTo(caller_context);
	pgstat_report_activity(STATE_IDLE, NULL);
	ereport(LOG,
			(errcode(edata->sqlerrcode),
			 errmsg("jobsched: %s failed (SQLSTATE %s): %s",
					what, unpack_sql_state(edata->sqlerrcode), edata->message),
			 edata->detail ? errdetail_internal("%s", edata->detail) : 0,
			 errhint("The worker goes on and tries again shortly.")));
	FreeErrorData(edata);
}

/*
 * Whether the extension is still there: after a DROP EXTENSION the worker
 * says so once and waits for it, instead of failing every statement.
 */
static bool
extension_present(void)
{
	return OidIsValid(get_extension_oid("jobsched", true));
}

static SPIPlanPtr
prepared(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, argtypes);

		if (p == NULL)
			elog(ERROR, "jobsched: could not prepare statement: %s",
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		*plan = p;
	}
	return *plan;
}

static void
execute(SPIPlanPtr plan, Datum *values, const char *nulls, int expected)
{
	int			rc = SPI_execute_plan(plan, values, nulls, false, 0);

	if (rc != expected)
		elog(ERROR, "jobsched: statement failed: %s", SPI_result_code_string(rc));
}

static Datum
column(int row, int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
						 col, isnull);
}

static TimestampTz
timestamp_column(int row, int col, TimestampTz if_null)
{
	bool		isnull;
	Datum		d = column(row, col, &isnull);

	return isnull ? if_null : DatumGetTimestampTz(d);
}

/* A row's place (a tid column) into "tid"; invalid if NULL. */
static void
run_tid_column(int row, int col, ItemPointer tid)
{
	bool		isnull;
	Datum		d = column(row, col, &isnull);

	if (isnull)
		ItemPointerSetInvalid(tid);
	else
		ItemPointerCopy((ItemPointer) DatumGetPointer(d), tid);
}

static int64
int64_column(int row, int col)
{
	bool		isnull;
	Datum		d = column(row, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

static char *
text_column(int row, int col)
{
	bool		isnull;
	Datum		d = column(row, col, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/*
 * Whether this database has the extension, at the version of this library,
 * and no other scheduler holds it.  Returns false if the caller should wait
 * and ask again; says why in the log once per reason.
 */
bool
store_attach(void)
{
	static char last_reason[NAMEDATALEN + 64] = "";
	MemoryContext caller = CurrentMemoryContext;
	volatile bool ready = false;
	char		reason[sizeof(last_reason)] = "";

	PG_TRY();
	{
		int			rc;

		begin_transaction("jobsched: looking for the extension");
		rc = SPI_execute("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'jobsched'",
						 true, 1);
		if (rc != SPI_OK_SELECT || SPI_processed == 0)
			snprintf(reason, sizeof(reason), "no extension");
		else
		{
			char	   *version = text_column(0, 1);

			if (strcmp(version, JOBSCHED_VERSION) != 0)
				snprintf(reason, sizeof(reason), "%s", version);
			else
			{
				bool		isnull;

				rc = SPI_execute("SELECT pg_catalog.pg_try_advisory_lock(" SCHEDULER_LOCK_KEY ")", false, 1);
				if (rc == SPI_OK_SELECT && SPI_processed == 1)
					ready = DatumGetBool(column(0, 1, &isnull));
				jobsched_set_worker_state(ready ? JOBSCHED_WORKER_RUNNING :
										  JOBSCHED_WORKER_LOCKED_OUT);
			}
		}
		commit_transaction();
	}
	PG_CATCH();
	{
		report_failure("looking for the extension", caller);
		ready = false;
	}
	PG_END_TRY();

	if (reason[0] && strcmp(reason, last_reason) != 0)
	{
		if (strcmp(reason, "no extension") == 0)
			ereport(LOG,
					(errmsg("jobsched: waiting for CREATE EXTENSION jobsched in database \"%s\"",
							jobsched_database_name)));
		else
			ereport(LOG,
					(errmsg("jobsched: the extension in database \"%s\" is version %s, but the library is version %s; nothing is fired until they match",
							jobsched_database_name, reason, JOBSCHED_VERSION),
					 errhint("Run ALTER EXTENSION jobsched UPDATE, or install the library that goes with version %s.",
							 reason)));
		jobsched_set_worker_state(JOBSCHED_WORKER_WAITING);
	}
	strlcpy(last_reason, reason, sizeof(last_reason));
	return ready;
}

/* Recovery: whether the first pass is still to come, and what it left. */
static bool recovery_first = true;
static Datum recovery_pending = (Datum) 0; /* int8[] of orphans still to settle */

/* The extension (re)appeared: everything running in its tables is an orphan. */
void
store_recover_reset(void)
{
	recovery_first = true;
	if (recovery_pending != (Datum) 0)
		pfree(DatumGetPointer(recovery_pending));
	recovery_pending = (Datum) 0;
}

/*
 * Settle the executions an earlier worker left running: ATLEAST_ONCE ones
 * are queued to be sent again, ATMOST_ONCE ones become lost.  Returns how
 * many are left -- rows another session holds locked, settled by a later
 * call -- or -1 if the statement failed.  The first successful call must
 * come before the first claim: until then, every running row is an orphan.
 */
int
store_recover(void)
{
	MemoryContext caller = CurrentMemoryContext;
	Oid			argtypes[2] = {TIMESTAMPTZOID, INT8ARRAYOID};
	Datum		values[2];
	char		nulls[2] = {' ', recovery_first ? 'n' : ' '};
	volatile int64 resent = 0;
	volatile int64 lost = 0;
	volatile int skipped = 0;
	volatile bool ok = true;
	TimestampTz now = GetCurrentTimestamp();

	if (!recovery_first && recovery_pending == (Datum) 0)
		return 0;
	PG_TRY();
	{
		bool		isnull;
		Datum		left;

		begin_transaction("jobsched: recovering interrupted executions");
		values[0] = TimestampTzGetDatum(now);
		values[1] = recovery_pending;
		execute(prepared(&recover_plan, recover_sql, 2, argtypes), values, nulls,
				SPI_OK_SELECT);
		resent = int64_column(0, 1);
		lost = int64_column(0, 2);
		left = column(0, 3, &isnull);
		skipped = ArrayGetNItems(ARR_NDIM(DatumGetArrayTypeP(left)),
								 ARR_DIMS(DatumGetArrayTypeP(left)));
		if (recovery_pending != (Datum) 0)
			pfree(DatumGetPointer(recovery_pending));
		recovery_pending = (Datum) 0;
		if (skipped > 0)
		{
			MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

			recovery_pending = datumCopy(left, false, -1);
			MemoryContextSwitchTo(old);
		}
		commit_transaction();
	}
	PG_CATCH();
	{
		report_failure("recovering interrupted executions", caller);
		ok = false;
	}
	PG_END_TRY();
	if (!ok)
		return -1;
	recovery_first = false;

	for (int64 i = 0; i < lost; i++)
		jobsched_count_outcome(JOBSCHED_OUTCOME_LOST, now, 0);
	if (resent > 0 || lost > 0)
		ereport(LOG,
				(errmsg("jobsched: recovered interrupted executions: " INT64_FORMAT " to send again (ATLEAST_ONCE), " INT64_FORMAT " lost (ATMOST_ONCE)",
						resent, lost)));
	if (skipped > 0)
		ereport(LOG,
				(errmsg("jobsched: %d interrupted executions are locked by another session; they are settled once it lets go",
						skipped)));
	return skipped;
}

static char *
idempotency_key(int64 job_id, TimestampTz scheduled_for)
{
	return psprintf("jobsched-" INT64_FORMAT "-" INT64_FORMAT,
					job_id, (int64) (scheduled_for + UNIX_TO_POSTGRES_USECS));
}

/* Build a request from row "row" of a claim result (the shape above). */
static HttpRequest *
request_from_tuple(int row)
{
	HttpRequest *request = http_request_alloc();
	MemoryContext old = MemoryContextSwitchTo(http_request_context());
	bool		isnull;
	Datum		d;
	bool		has_content_type = false;
	Datum	   *elems = NULL;
	bool	   *elem_nulls = NULL;
	int			nelems = 0;

	request->execution_id = int64_column(row, CLAIM_EXECUTION_ID);
	request->job_id = int64_column(row, CLAIM_JOB_ID);
	request->scheduled_for = timestamp_column(row, CLAIM_SCHEDULED_FOR, 0);
	{
		Datum		attempt = column(row, CLAIM_ATTEMPT, &isnull);

		request->attempt = isnull ? 1 : DatumGetInt32(attempt);
	}
	request->send_at = timestamp_column(row, CLAIM_SEND_AT, request->scheduled_for);
	run_tid_column(row, CLAIM_RUN_TID, &request->run_tid);
	request->url = text_column(row, CLAIM_URL);
	request->method = text_column(row, CLAIM_METHOD);
	request->body = text_column(row, CLAIM_BODY);
	request->signing_secret = text_column(row, CLAIM_SIGNING_SECRET);

	/* the array and its pieces in the transaction's memory: only the strings are kept */
	d = column(row, CLAIM_HEADERS, &isnull);
	if (!isnull)
	{
		MemoryContextSwitchTo(old);
		deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &elem_nulls, &nelems);
		MemoryContextSwitchTo(http_request_context());
	}
	/* job headers, then our own two or three */
	request->headers = palloc((nelems + 3) * sizeof(char *));
	for (int i = 0; i < nelems; i++)
	{
		if (elem_nulls[i])
			continue;
		request->headers[request->nheaders] = TextDatumGetCString(elems[i]);
		if (pg_strncasecmp(request->headers[request->nheaders], "content-type", 12) == 0 &&
			(request->headers[request->nheaders][12] == ':' ||
			 request->headers[request->nheaders][12] == ';'))
			has_content_type = true;
		request->nheaders++;
	}
	/*
	 * A body is JSON unless the job says otherwise; without one, libcurl's
	 * default for a POST (application/x-www-form-urlencoded) would describe
	 * a body that is not there: "Content-Type:" removes it.
	 */
	if (!has_content_type)
		request->headers[request->nheaders++] =
			pstrdup(request->body != NULL ? "Content-Type: application/json" : "Content-Type:");
	request->idempotency_key = idempotency_key(request->job_id, request->scheduled_for);
	request->headers[request->nheaders++] =
		psprintf("Idempotency-Key: %s", request->idempotency_key);

	/* at least 1 ms: libcurl takes 0 for "no timeout" */
	d = column(row, CLAIM_TIMEOUT_MS, &isnull);
	request->timeout_ms = isnull ? 30000 : Max(DatumGetInt32(d), 1);
	d = column(row, CLAIM_FOLLOW_REDIRECTS, &isnull);
	request->follow_redirects = !isnull && DatumGetBool(d);
	d = column(row, CLAIM_AT_MOST_ONCE, &isnull);
	request->at_most_once = !isnull && DatumGetBool(d);

	MemoryContextSwitchTo(old);
	return request;
}

static Datum
make_array(Datum *values, bool *nulls, int n, Oid elemtype)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			dims[1] = {n};
	int			lbs[1] = {1};

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs,
											  elemtype, typlen, typbyval,
											  typalign));
}

/*
 * The arrays that identify the runs of "requests" to RUN_OF_RESULT, into
 * args[0..4]: execution ids, then job ids, scheduled times, attempts (the
 * key) and the places their rows were written (types: RUN_KEY_ARGTYPES).
 */
static void
run_key_arrays(HttpRequest **requests, int n, Datum *args)
{
	Datum	   *ids = palloc(n * sizeof(Datum));
	Datum	   *job_ids = palloc(n * sizeof(Datum));
	Datum	   *times = palloc(n * sizeof(Datum));
	Datum	   *attempts = palloc(n * sizeof(Datum));
	Datum	   *tids = palloc(n * sizeof(Datum));
	bool	   *no_tid = palloc(n * sizeof(bool));

	for (int i = 0; i < n; i++)
	{
		HttpRequest *r = requests[i];

		ids[i] = Int64GetDatum(r->execution_id);
		job_ids[i] = Int64GetDatum(r->job_id);
		times[i] = TimestampTzGetDatum(r->scheduled_for);
		attempts[i] = Int32GetDatum(r->attempt);
		no_tid[i] = !ItemPointerIsValid(&r->run_tid);
		tids[i] = PointerGetDatum(&r->run_tid);
	}
	args[0] = make_array(ids, NULL, n, INT8OID);
	args[1] = make_array(job_ids, NULL, n, INT8OID);
	args[2] = make_array(times, NULL, n, TIMESTAMPTZOID);
	args[3] = make_array(attempts, NULL, n, INT4OID);
	args[4] = make_array(tids, no_tid, n, TIDOID);
}

/* Rows of a claim result that fire, as requests. */
static int
requests_from_claim(HttpRequest **requests)
{
	int			n = 0;

	for (uint64 row = 0; row < SPI_processed; row++)
	{
		bool		isnull;
		Datum		fire = column(row, CLAIM_FIRE, &isnull);

		if (!isnull && DatumGetBool(fire))
			requests[n++] = request_from_tuple(row);
	}
	return n;
}

/*
 * Alert for the jobs of the claim result (still in SPI_tuptable) that were
 * disabled because of their owner.
 */
static void
alert_disabled_owners(void)
{
	Oid			argtypes[1] = {INT8ARRAYOID};
	Datum		args[1];
	Datum	   *ids = NULL;
	int			n = 0;

	for (uint64 row = 0; row < SPI_processed; row++)
	{
		bool		isnull;
		Datum		disabled = column(row, CLAIM_OWNER_DISABLED, &isnull);

		if (isnull || !DatumGetBool(disabled))
			continue;
		if (ids == NULL)
			ids = palloc(SPI_processed * sizeof(Datum));
		ids[n++] = Int64GetDatum(int64_column(row, CLAIM_JOB_ID));
	}
	if (n == 0)
		return;
	args[0] = make_array(ids, NULL, n, INT8OID);
	execute(prepared(&owner_alerts_plan, owner_alerts_sql, 1, argtypes),
			args, NULL, SPI_OK_INSERT);
	ereport(LOG,
			(errmsg("jobsched: disabled %d jobs whose owner may no longer use jobsched", n)));
}

/*
 * Insert the executions of scheduled runs and note their ids.  Runs that
 * already had an execution are dropped from "requests"; returns how many
 * are left, in order.
 */
static int
insert_executions(HttpRequest **requests, int n, TimestampTz now)
{
	Oid			argtypes[3] = {INT8ARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZOID};
	Datum		args[3];
	Datum	   *job_ids = palloc(n * sizeof(Datum));
	Datum	   *times = palloc(n * sizeof(Datum));
	uint64		row = 0;
	int			kept = 0;

	for (int i = 0; i < n; i++)
	{
		job_ids[i] = Int64GetDatum(requests[i]->job_id);
		times[i] = TimestampTzGetDatum(requests[i]->scheduled_for);
	}
	args[0] = make_array(job_ids, NULL, n, INT8OID);
	args[1] = make_array(times, NULL, n, TIMESTAMPTZOID);
	args[2] = TimestampTzGetDatum(now);
	execute(prepared(&insert_executions_plan, insert_executions_sql, 3, argtypes),
			args, NULL, SPI_OK_INSERT_RETURNING);

	/*
	 * RETURNING follows the ORDER BY of the insert, without the rows not
	 * inserted; a claim has each job once, so the job id pairs them up.
	 */
	for (int i = 0; i < n; i++)
	{
		HttpRequest *request = requests[i];

		if (row < SPI_processed && int64_column(row, 2) == request->job_id)
		{
			run_tid_column(row, 3, &request->run_tid);
			request->execution_id = int64_column(row++, 1);
			requests[kept++] = request;
			continue;
		}
		ereport(WARNING,
				(errmsg("jobsched: run of job " INT64_FORMAT " at %s already has an execution; not sent again",
						request->job_id, timestamptz_to_str(request->scheduled_for))));
		http_request_free(request);
	}
	for (int i = kept; i < n; i++)
		requests[i] = NULL;
	if (row != SPI_processed)
		elog(ERROR, "jobsched: executions returned out of order");
	return kept;
}

/*
 * Claim up to "limit" runs due by "horizon", hand each to "claimed", and
 * report when the next unclaimed run is due.  The claimed runs are committed
 * before this returns.  Retries (and re-sends after a crash) get up to half
 * of a batch first and whatever the scheduled runs leave, so that neither
 * starves the other while the worker is behind.  Returns the runs claimed,
 * or -1 if the claim failed (then nothing was claimed).
 */
int
store_claim(TimestampTz now, TimestampTz horizon, int limit,
			StoreClaimedCallback claimed, void *arg, TimestampTz *next_due)
{
	Oid			argtypes[3] = {TIMESTAMPTZOID, INT4OID, TIMESTAMPTZOID};
	Datum		values[3];
	MemoryContext caller = CurrentMemoryContext;
	HttpRequest **requests = palloc0(limit * sizeof(HttpRequest *));
	volatile int nrequests = 0; /* requests claimed so far, all kinds */
	volatile int nretries = 0;
	volatile int locked = 0;	/* scheduled runs claimed, fired or not */
	volatile bool ok = true;
	volatile bool present = true;

	PG_TRY();
	{
		int			nfire;

		begin_transaction("jobsched: claiming due runs");
		present = extension_present();
		if (present)
		{
			plan_joins_by_index();
			skip_commit_flush();

			nretries = claim_retries(requests, horizon, now, Max(limit / 2, 1));
			nrequests = nretries;

			values[0] = TimestampTzGetDatum(horizon);
			values[1] = Int32GetDatum(limit - nretries);
			values[2] = TimestampTzGetDatum(now - (TimestampTz) jobsched_misfire_grace * USECS_PER_SEC);
			execute(prepared(&claim_jobs_plan, claim_jobs_sql, 3, argtypes),
					values, NULL, SPI_OK_UPDATE_RETURNING);
			locked = (int) SPI_processed;
			nfire = requests_from_claim(requests + nrequests);
			alert_disabled_owners();
			if (nfire > 0)
				nfire = insert_executions(requests + nrequests, nfire, now);
			nrequests += nfire;

			if (nretries + locked < limit)
			{
				int			more = claim_retries(requests + nrequests, horizon, now,
												 limit - nretries - locked);

				nrequests += more;
				nretries += more;
			}

			execute(prepared(&next_due_plan, next_due_sql, 0, NULL), NULL, NULL, SPI_OK_SELECT);
			*next_due = timestamp_column(0, 1, DT_NOEND);
		}
		commit_transaction();
	}
	PG_CATCH();
	{
		report_failure("claiming due runs", caller);
		ok = false;
	}
	PG_END_TRY();

	if (!ok)
	{
		/* nothing was claimed: drop what was built (the array is zeroed) */
		for (int i = 0; i < limit && requests[i] != NULL; i++)
			http_request_free(requests[i]);
		pfree(requests);
		return -1;
	}
	if (!present)
	{
		pfree(requests);
		return STORE_DETACHED;
	}
	for (int i = 0; i < nrequests; i++)
	{
		requests[i]->claim_lsn = XactLastCommitEnd;
		claimed(requests[i], arg);
	}
	pfree(requests);
	return locked + nretries;
}

/* Claim up to "limit" retries due by "horizon" into "requests"; how many. */
static int
claim_retries(HttpRequest **requests, TimestampTz horizon, TimestampTz now,
			  int limit)
{
	Oid			argtypes[3] = {TIMESTAMPTZOID, INT4OID, TIMESTAMPTZOID};
	Datum		values[3];

	values[0] = TimestampTzGetDatum(horizon);
	values[1] = Int32GetDatum(limit);
	values[2] = TimestampTzGetDatum(now);
	execute(prepared(&claim_retries_plan, claim_retries_sql, 3, argtypes),
			values, NULL, SPI_OK_SELECT);
	return requests_from_claim(requests);
}

/* A setting for the current transaction only. */
static void
set_local(const char *name, const char *value)
{
	(void) set_config_option(name, value, PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
}

/*
 * A claim touches a batch of jobs found by index.  Joined back to the whole
 * table by hash, it would scan every job, at a cost that grows with the
 * jobs registered rather than with the jobs due: keep the joins to index
 * lookups.
 */
static void
plan_joins_by_index(void)
{
	set_local("enable_hashjoin", "off");
	set_local("enable_mergejoin", "off");
}

/*
 * Statements whose cost depends on the arrays they are given: a generic
 * plan, which cannot see the arrays, looked up 1,000 results by the
 * unfinished-executions index instead of the primary key (15x slower from
 * the sixth batch on).  Plan them for their arguments each time; planning
 * costs far less than one such mistake.
 */
static void
plan_for_these_arguments(void)
{
	set_local("plan_cache_mode", "force_custom_plan");
}

/*
 * Commit without waiting for the WAL flush: results are not worth one each,
 * and claims wait for theirs only before their requests are sent (see the
 * file header).
 */
static void
skip_commit_flush(void)
{
	set_local("synchronous_commit", "off");
}

/*
 * The batch's statement without row locks, in a subtransaction: false if a
 * row held by another session made it give up (nothing written then).
 */
static bool
write_unlocked(Datum *args, Oid *argtypes)
{
	MemoryContext context = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool written = false;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(context);
	PG_TRY();
	{
		set_local("lock_timeout", "5ms");
		/* each result's run found at its place, else by key (RUN_OF_RESULT) */
		plan_joins_by_index();
		execute(prepared(&write_results_unlocked_plan, write_results_unlocked_sql,
						 WRITE_RESULTS_NARGS, argtypes),
				args, NULL, SPI_OK_SELECT);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(context);
		CurrentResourceOwner = owner;
		written = true;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(context);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(context);
		CurrentResourceOwner = owner;
		/* anything but a row held by another session fails the batch */
		if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
			ReThrowError(edata);
	}
	PG_END_TRY();
	return written;
}

/*
 * Write the outcomes of "results".  Returns how many could not be written
 * now: those are moved to the front of the array, to be written later (the
 * whole batch if the statement failed; else the rows another session holds
 * locked).  The others are done with.
 */
int
store_write_results(HttpRequest **results, int n, TimestampTz *next_retry)
{
	/* the run (run_key_arrays), then its outcome */
	Oid			argtypes[WRITE_RESULTS_NARGS] = {RUN_KEY_ARGTYPES,
		BOOLARRAYOID, BOOLARRAYOID, INT4ARRAYOID, TIMESTAMPTZARRAYOID,
	TIMESTAMPTZARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		args[WRITE_RESULTS_NARGS];
	Datum	   *cols[WRITE_RESULTS_NARGS];
	bool	   *col_nulls[WRITE_RESULTS_NARGS];
	Oid			elemtypes[WRITE_RESULTS_NARGS] = {[RUN_KEY_NARGS] = BOOLOID,
		BOOLOID, INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID, TEXTOID};
	MemoryContext caller = CurrentMemoryContext;
	volatile int64 retried = 0;
	volatile int nbusy = 0;
	volatile bool ok = true;
	volatile bool present = true;
	int64	   *volatile busy = NULL;
	TimestampTz now = GetCurrentTimestamp();

	*next_retry = DT_NOEND;
	PG_TRY();
	{
		bool		isnull;
		Datum		left;

		begin_transaction("jobsched: writing results");
		plan_for_these_arguments();
		skip_commit_flush();
		/* dropped with the extension: nothing to write them to */
		present = extension_present();
		if (!present)
			goto done;

		run_key_arrays(results, n, args);
		for (int c = RUN_KEY_NARGS; c < WRITE_RESULTS_NARGS; c++)
		{
			cols[c] = palloc(n * sizeof(Datum));
			col_nulls[c] = palloc0(n * sizeof(bool));
		}
		for (int i = 0; i < n; i++)
		{
			HttpRequest *r = results[i];

			cols[5][i] = BoolGetDatum(r->succeeded);
			cols[6][i] = BoolGetDatum(r->timed_out);
			cols[7][i] = Int32GetDatum((int32) r->http_status);
			col_nulls[7][i] = (r->http_status == 0);
			cols[8][i] = TimestampTzGetDatum(r->started_at);
			cols[9][i] = TimestampTzGetDatum(r->finished_at);
			col_nulls[10][i] = (r->response.len == 0);
			if (r->response.len > 0)
				cols[10][i] = PointerGetDatum(cstring_to_text_with_len(r->response.data,
																	   r->response.len));
			col_nulls[11][i] = (r->error == NULL);
			if (r->error)
				cols[11][i] = CStringGetTextDatum(r->error);
		}
		for (int c = RUN_KEY_NARGS; c < WRITE_RESULTS_NARGS; c++)
			args[c] = make_array(cols[c], col_nulls[c], n, elemtypes[c]);

		if (!write_unlocked(args, argtypes))
			execute(prepared(&write_results_plan, write_results_sql, WRITE_RESULTS_NARGS, argtypes),
					args, NULL, SPI_OK_SELECT);
		retried = int64_column(0, 1);
		*next_retry = timestamp_column(0, 2, DT_NOEND);
		left = column(0, 4, &isnull);
		if (!isnull)
		{
			Datum	   *elems;
			int			nelems;
			MemoryContext old = MemoryContextSwitchTo(caller);

			deconstruct_array(DatumGetArrayTypeP(left), INT8OID, 8, FLOAT8PASSBYVAL,
							  TYPALIGN_DOUBLE, &elems, NULL, &nelems);
			if (nelems > 0)
			{
				busy = palloc(nelems * sizeof(int64));
				for (int i = 0; i < nelems; i++)
					busy[i] = DatumGetInt64(elems[i]);
			}
			nbusy = nelems;
			MemoryContextSwitchTo(old);
		}
done:
		commit_transaction();
	}
	PG_CATCH();
	{
		report_failure("writing results", caller);
		ok = false;
	}
	PG_END_TRY();
	if (!ok)
		return n;
	if (!present)
		return 0;

	/* the rows held by others first, the rest counted as done */
	{
		int			kept = 0;

		for (int i = 0; i < n; i++)
		{
			HttpRequest *r = results[i];
			bool		held = false;

			for (int b = 0; b < nbusy && !held; b++)
				held = (busy[b] == r->execution_id);
			if (held)
			{
				results[i] = results[kept];
				results[kept++] = r;
				continue;
			}
			jobsched_count_outcome(r->succeeded ? JOBSCHED_OUTCOME_SUCCEEDED :
								   r->timed_out ? JOBSCHED_OUTCOME_TIMED_OUT :
								   JOBSCHED_OUTCOME_FAILED,
								   r->finished_at, r->started_at - r->send_at);
		}
		for (int64 i = 0; i < retried; i++)
			jobsched_count_outcome(JOBSCHED_OUTCOME_RETRIED, now, 0);
		pg_atomic_fetch_add_u64(&jobsched_shared->completed_total, n - kept);
		if (busy)
			pfree(busy);
		if (kept > 0)
			ereport(LOG,
					(errmsg("jobsched: %d results wait: their executions are locked by another session", kept)));
		return kept;
	}
}

void
store_requeue_unsent(HttpRequest **requests, int n)
{
	Oid			argtypes[RUN_KEY_NARGS] = {RUN_KEY_ARGTYPES};
	Datum		args[RUN_KEY_NARGS];
	MemoryContext caller = CurrentMemoryContext;

	if (n == 0)
		return;
	PG_TRY();
	{
		begin_transaction("jobsched: requeueing unsent runs");
		plan_for_these_arguments();
		run_key_arrays(requests, n, args);
		execute(prepared(&requeue_plan, requeue_sql, RUN_KEY_NARGS, argtypes), args, NULL,
				SPI_OK_UPDATE);
		commit_transaction();
	}
	PG_CATCH();
	{
		/* left running: the next worker's recovery settles them */
		report_failure("putting back unsent runs", caller);
	}
	PG_END_TRY();
}

/* Delete up to "limit" finished executions older than "cutoff"; -1 on error. */
int
store_purge(TimestampTz cutoff, int limit, int retention_minutes)
{
	Oid			argtypes[3] = {TIMESTAMPTZOID, INT4OID, INTERVALOID};
	Datum		args[3];
	Interval	retention = {0};
	bool		isnull;
	MemoryContext caller = CurrentMemoryContext;
	volatile int64 purged = -1;

	PG_TRY();
	{
		begin_transaction("jobsched: making history partitions, dropping old ones");
		skip_commit_flush();
		purged = 0;
		if (extension_present())
		{
			/* a partition the worker is writing to waits, not the readers of history */
			set_local("lock_timeout", "100ms");
			retention.time = (int64) retention_minutes * 60 * USECS_PER_SEC;
			args[0] = TimestampTzGetDatum(cutoff);
			args[1] = Int32GetDatum(limit);
			args[2] = IntervalPGetDatum(&retention);
			execute(prepared(&purge_plan, purge_sql, 3, argtypes), args, NULL,
					SPI_OK_SELECT);
			/* rows of history_unpartitioned, and sends past the retention */
			purged = int64_column(0, 1) + DatumGetInt32(column(0, 3, &isnull));
		}
		commit_transaction();
	}
	PG_CATCH();
	{
		report_failure("purging old executions", caller);
		purged = -1;
	}
	PG_END_TRY();
	return (int) purged;
}
