/*
 * jobsched 1.0 -> 1.1
 *
 * One run per scheduled time, enforced by the database:
 *
 *	- jobs.last_claimed_for is the latest scheduled time the worker has
 *	  claimed for a job, and a CHECK keeps next_run_at after it.  Whatever
 *	  recomputes next_run_at (modify_job, resume_job, a direct UPDATE, in a
 *	  transaction of any length) starts from there, so a time already
 *	  claimed -- or sent -- is never due again.  (1.0 started from now(), the
 *	  start of the transaction, and re-sent the runs claimed since.)
 *	- (job_id, scheduled_for, attempt) is unique in jobsched.executions.
 *	- trigger_job() no longer pulls next_run_at back: it queues one run of
 *	  its own, at its own time, as an execution waiting to be sent.
 *	- Direct UPDATEs of next_run_at are checked and wake the worker; a
 *	  timeout under 1 ms is refused.
 *	- pg_dump keeps the jobs, their history and alerts, and the sequences.
 *	- The alerts' NOTIFY carries ids and the kind only.
 *	- create_job refuses a job in a database where nothing fires.
 *	- Job names are at most 200 characters; a GET has no body.
 *
 * A fresh CREATE EXTENSION runs jobsched--1.0.sql and then this script, so
 * a new install and an upgraded one have the same catalog.
 */

\echo Use "ALTER EXTENSION jobsched UPDATE TO '1.1'" to load this file. \quit

/* ------------------------------------------------------------------------
 * The latest claimed time of each job
 * ------------------------------------------------------------------------ */

ALTER TABLE jobsched.jobs ADD COLUMN last_claimed_for timestamptz;

COMMENT ON COLUMN jobsched.jobs.last_claimed_for IS
	'latest scheduled time claimed by the worker (NULL: none yet); next_run_at is always later';

-- Every execution of 1.0 was claimed through next_run_at, triggered runs too.
UPDATE jobsched.jobs j SET last_claimed_for = c.last
FROM (SELECT job_id, max(scheduled_for) AS last
	  FROM jobsched.executions GROUP BY job_id) c
WHERE c.job_id = j.id;

-- A job that 1.0 would have sent again moves on to its next time.
UPDATE jobsched.jobs
SET next_run_at = jobsched.next_fire_or_null(schedule, timezone, last_claimed_for)
WHERE next_run_at <= last_claimed_for;

ALTER TABLE jobsched.jobs ADD CONSTRAINT jobs_next_run_after_last_claimed
	CHECK (next_run_at > last_claimed_for);

/* ------------------------------------------------------------------------
 * One execution per (job, scheduled time, attempt)
 * ------------------------------------------------------------------------ */

/*
 * 1.0 could send a run twice; such a run has two executions with the same
 * attempt number.  Number the executions of each such run in order
 * (attempt, then id), so that every row is kept and the triple is unique.
 */
DO $$
DECLARE
	renumbered bigint;
BEGIN
	WITH twice AS (
		SELECT DISTINCT job_id, scheduled_for
		FROM jobsched.executions
		GROUP BY job_id, scheduled_for, attempt
		HAVING count(*) > 1
	), numbered AS (
		SELECT e.id, row_number() OVER (PARTITION BY e.job_id, e.scheduled_for
										ORDER BY e.attempt, e.id) AS attempt
		FROM jobsched.executions e JOIN twice t USING (job_id, scheduled_for)
	)
	UPDATE jobsched.executions e SET attempt = n.attempt
	FROM numbered n
	WHERE e.id = n.id AND e.attempt <> n.attempt;
	GET DIAGNOSTICS renumbered = ROW_COUNT;
	IF renumbered > 0 THEN
		RAISE WARNING 'jobsched: renumbered the attempts of % executions of runs that version 1.0 sent more than once',
			renumbered;
	END IF;
END
$$;

/*
 * The unique index also serves what executions_job_id_idx did: a job's
 * history, newest first, is now ordered by scheduled time and attempt.
 */
CREATE UNIQUE INDEX executions_run_idx
	ON jobsched.executions (job_id, scheduled_for, attempt);
DROP INDEX jobsched.executions_job_id_idx;

/* ------------------------------------------------------------------------
 * Claims without index churn
 *
 * A claim advances next_run_at and last_claimed_for of every job that
 * fires.  With an index on next_run_at each claim wrote a new version of
 * the whole job row and an entry in every index of jobs (1.0: the table
 * grew ~14 kB a job in three minutes at 5,000 runs a second).  The claims
 * now find due jobs through due_bucket, next_run_at in 10-second steps:
 * next_run_at itself is not indexed, so a claim that stays in its bucket is
 * a HOT update (on the same page, no index entry; fillfactor leaves the
 * room), and the WAL it writes holds only the bytes that changed.
 * ------------------------------------------------------------------------ */

CREATE FUNCTION jobsched.due_bucket(t timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN floor(extract(epoch FROM t) / 10)::bigint;

COMMENT ON FUNCTION jobsched.due_bucket(timestamptz) IS
	'jobsched: the 10-second step of a time (jobs.due_bucket)';

ALTER TABLE jobsched.jobs ADD COLUMN due_bucket bigint;
-- 'send': a request of jobsched.send(), with no schedule (see "Ad-hoc requests")
ALTER TABLE jobsched.jobs ADD COLUMN kind text NOT NULL DEFAULT 'scheduled'
	CHECK (kind IN ('scheduled', 'send'));
ALTER TABLE jobsched.jobs ALTER COLUMN schedule DROP NOT NULL;
ALTER TABLE jobsched.jobs ADD CONSTRAINT jobs_schedule_given
	CHECK (kind = 'send' OR schedule IS NOT NULL);
COMMENT ON COLUMN jobsched.jobs.due_bucket IS
	'the worker''s index into next_run_at: jobsched.due_bucket(next_run_at)';
UPDATE jobsched.jobs SET due_bucket = jobsched.due_bucket(next_run_at);
DROP INDEX jobsched.jobs_next_run_at_idx;
CREATE INDEX jobs_due_bucket_idx ON jobsched.jobs (due_bucket)
	WHERE due_bucket IS NOT NULL;
ALTER TABLE jobsched.jobs SET (fillfactor = 50);

/* ------------------------------------------------------------------------
 * Validation and next_run_at
 * ------------------------------------------------------------------------ */

CREATE OR REPLACE FUNCTION jobsched.jobs_before_write()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	hdr record;
	given_type text := NEW.type;
	-- runs up to here may already be claimed, or sent
	not_before timestamptz;
BEGIN
	IF NEW.schedule IS NULL AND NEW.kind <> 'send' THEN
		PERFORM jobsched.invalid('schedule must not be NULL');
	END IF;
	IF NEW.url IS NULL THEN
		PERFORM jobsched.invalid('url must not be NULL');
	END IF;
	IF NEW.timezone IS NULL THEN
		PERFORM jobsched.invalid('timezone must not be NULL');
	END IF;

	NEW.type := upper(NEW.type);
	IF NEW.type IS NULL OR NEW.type NOT IN ('ATLEAST_ONCE', 'ATMOST_ONCE') THEN
		PERFORM jobsched.invalid(format('invalid job type %s: expected ATLEAST_ONCE or ATMOST_ONCE',
										coalesce('"' || given_type || '"', 'NULL')));
	END IF;
	NEW.method := upper(NEW.method);
	IF NEW.method IS NULL OR NEW.method NOT IN ('GET', 'POST', 'PUT', 'PATCH', 'DELETE') THEN
		PERFORM jobsched.invalid(format('invalid HTTP method %s: expected GET, POST, PUT, PATCH or DELETE',
										coalesce('"' || NEW.method || '"', 'NULL')));
	END IF;
	NEW.overlap := lower(NEW.overlap);
	IF NEW.overlap IS NULL OR NEW.overlap NOT IN ('allow', 'skip') THEN
		PERFORM jobsched.invalid(format('invalid overlap policy %s: expected allow or skip',
										coalesce('"' || NEW.overlap || '"', 'NULL')));
	END IF;
	NEW.misfire := lower(NEW.misfire);
	IF NEW.misfire IS NULL OR NEW.misfire NOT IN ('run_once', 'skip') THEN
		PERFORM jobsched.invalid(format('invalid misfire policy %s: expected run_once or skip',
										coalesce('"' || NEW.misfire || '"', 'NULL')));
	END IF;
	IF NEW.max_retries IS NULL OR NEW.max_retries NOT BETWEEN 0 AND 100 THEN
		PERFORM jobsched.invalid(format('max_retries %s out of range 0-100',
										coalesce(NEW.max_retries::text, 'NULL')));
	END IF;
	IF NEW.retry_backoff IS NULL OR NEW.retry_backoff <= '0' OR NEW.retry_backoff > '1 day' THEN
		PERFORM jobsched.invalid(format('retry_backoff %s out of range: must be positive and at most 1 day',
										coalesce(NEW.retry_backoff::text, 'NULL')));
	END IF;
	-- libcurl counts in milliseconds, and takes 0 for "no timeout at all"
	IF NEW.timeout IS NULL OR NEW.timeout < '1 millisecond' OR NEW.timeout > '1 hour' THEN
		PERFORM jobsched.invalid(format('timeout %s out of range: must be at least 1 millisecond and at most 1 hour',
										coalesce(NEW.timeout::text, 'NULL')));
	END IF;
	IF NEW.name = '' THEN
		PERFORM jobsched.invalid('job name must not be empty (use NULL for no name)');
	END IF;
	-- the unique index on (owner, name) takes no more than about 2.7 kB
	IF length(NEW.name) > 200 THEN
		PERFORM jobsched.invalid(format('job name "%s..." is %s characters long: at most 200',
										left(NEW.name, 40), length(NEW.name)));
	END IF;
	-- a GET would go out without it: send what was asked, or say no
	IF NEW.method = 'GET' AND NEW.body IS NOT NULL THEN
		PERFORM jobsched.invalid('a GET request has no body: remove the body (body => '''') or use POST, PUT, PATCH or DELETE');
	END IF;
	-- a clear message here; the unique constraint still guards against races
	IF NEW.name IS NOT NULL AND EXISTS (
		SELECT 1 FROM jobsched.jobs o
		WHERE o.owner = NEW.owner AND o.name = NEW.name AND o.id <> NEW.id) THEN
		RAISE EXCEPTION 'a job named "%" already exists for role "%"', NEW.name, NEW.owner
			USING ERRCODE = 'duplicate_object';
	END IF;

	PERFORM jobsched.check_url(NEW.url);

	IF NEW.headers IS NULL OR jsonb_typeof(NEW.headers) <> 'object' THEN
		PERFORM jobsched.invalid(format('headers must be a JSON object of strings, not %s',
										coalesce(jsonb_typeof(NEW.headers), 'NULL')));
	END IF;
	FOR hdr IN SELECT key, value FROM jsonb_each(NEW.headers) LOOP
		IF jsonb_typeof(hdr.value) <> 'string' THEN
			PERFORM jobsched.invalid(format('header %s must be a string, not %s',
											'"' || hdr.key || '"', jsonb_typeof(hdr.value)));
		END IF;
		PERFORM jobsched.check_header(hdr.key, hdr.value #>> '{}');
	END LOOP;

	/*
	 * The next run comes after the present moment (the clock, not the start
	 * of a transaction that may have been open for minutes) and after every
	 * time already claimed: the worker may have claimed, or sent, runs since
	 * the transaction began.  The job's row is locked from here to commit,
	 * so it claims nothing more of this job meanwhile.  (An INSERT has no
	 * last_claimed_for unless it is a restore: users may not set it.)
	 */
	not_before := greatest(clock_timestamp(), NEW.last_claimed_for);
	IF NEW.kind = 'send' THEN
		-- a send has no schedule: its attempts are runs of their own
		IF NEW.active OR NEW.schedule IS NOT NULL THEN
			PERFORM jobsched.invalid(format('job %s is a request of jobsched.send(): it has no schedule and cannot be resumed (send it again with jobsched.retry_execution())',
											NEW.id));
		END IF;
		NEW.next_run_at := NULL;
	ELSIF TG_OP = 'INSERT'
		OR NEW.schedule IS DISTINCT FROM OLD.schedule
		OR NEW.timezone IS DISTINCT FROM OLD.timezone
		OR (NEW.active AND NOT OLD.active) THEN
		-- next_fire() validates the expression and the zone; it runs even for
		-- a paused job so that a bad schedule is rejected at once.
		NEW.next_run_at := jobsched.next_fire(NEW.schedule, NEW.timezone, not_before);
		IF NOT NEW.active THEN
			NEW.next_run_at := NULL;
		END IF;
	ELSIF NOT NEW.active THEN
		IF OLD.active THEN
			NEW.next_run_at := NULL;
		ELSIF NEW.next_run_at IS NOT NULL THEN
			PERFORM jobsched.invalid(format('job %s is paused: its next_run_at must stay NULL (resume it with jobsched.resume_job)',
											NEW.id));
		END IF;
	ELSIF NEW.next_run_at IS DISTINCT FROM OLD.next_run_at THEN
		-- a direct UPDATE of next_run_at: the first fire time from there on
		IF NEW.next_run_at IS NULL THEN
			PERFORM jobsched.invalid(format('next_run_at of active job %s must not be NULL (pause it with jobsched.pause_job)',
											NEW.id));
		END IF;
		NEW.next_run_at := jobsched.next_fire(NEW.schedule, NEW.timezone,
			greatest(NEW.next_run_at - interval '1 microsecond', NEW.last_claimed_for));
	END IF;

	IF TG_OP = 'UPDATE' THEN
		NEW.updated_at := now();
	END IF;
	NEW.due_bucket := jobsched.due_bucket(NEW.next_run_at);
	PERFORM jobsched.wake_scheduler();
	RETURN NEW;
END
$$;

/*
 * Two triggers, one function.  The update trigger also watches next_run_at
 * (a direct UPDATE must be checked and must wake the worker), but not the
 * worker's own claims: those always advance last_claimed_for, and the WHEN
 * clause skips them without calling the function.
 */
DROP TRIGGER jobs_before_write ON jobsched.jobs;

CREATE TRIGGER jobs_before_insert
	BEFORE INSERT ON jobsched.jobs
	FOR EACH ROW EXECUTE FUNCTION jobsched.jobs_before_write();

CREATE TRIGGER jobs_before_update
	BEFORE UPDATE OF name, schedule, timezone, url, method, headers, body, type,
		max_retries, retry_backoff, timeout, overlap, misfire, follow_redirects,
		active, owner, next_run_at
	ON jobsched.jobs
	FOR EACH ROW
	WHEN (OLD.last_claimed_for IS NOT DISTINCT FROM NEW.last_claimed_for)
	EXECUTE FUNCTION jobsched.jobs_before_write();

/* ------------------------------------------------------------------------
 * trigger_job: a run of its own
 * ------------------------------------------------------------------------ */

/*
 * One run as soon as possible, whether the job is active or paused.  It is
 * an execution of its own, scheduled for the moment of the call and waiting
 * to be sent (status retrying, like a retry or a run put back at shutdown):
 * the job's scheduled runs are not touched, so none is skipped or sent twice.
 */
CREATE OR REPLACE FUNCTION jobsched.trigger_job(job_id bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	queued_for timestamptz := clock_timestamp();
BEGIN
	-- scheduled runs fall on whole seconds: a triggered run never shares
	-- one's (job, scheduled time), nor its Idempotency-Key
	IF extract(microseconds FROM queued_for)::bigint % 1000000 = 0 THEN
		queued_for := queued_for + interval '1 microsecond';
	END IF;
	-- the job's row is share-locked: a concurrent delete_job waits for this
	-- run to commit and deletes it with the rest, instead of leaving it behind
	INSERT INTO jobsched.runs (job_id, scheduled_for, status, retry_at)
	SELECT j.id, queued_for, 'retrying', queued_for
	FROM jobsched.jobs j
	WHERE j.id = trigger_job.job_id
	FOR KEY SHARE OF j;
	IF NOT FOUND THEN
		PERFORM jobsched.job_not_found(job_id);
	END IF;
	PERFORM jobsched.wake_scheduler();
END
$$;

/* ------------------------------------------------------------------------
 * Privileges
 *
 * Users write the columns that are theirs to set; last_claimed_for, owner,
 * id and the timestamps are the extension's.  trigger_job() runs with the
 * caller's rights, so a member of jobsched_user may queue a run of a job
 * it owns (row-level security) and nothing else: a waiting first attempt.
 * ------------------------------------------------------------------------ */

REVOKE INSERT, UPDATE ON jobsched.jobs FROM jobsched_user;
GRANT INSERT (name, schedule, timezone, url, method, headers, body, type, max_retries,
			  retry_backoff, timeout, overlap, misfire, follow_redirects, active)
	ON jobsched.jobs TO jobsched_user;
GRANT UPDATE (name, schedule, timezone, url, method, headers, body, type, max_retries,
			  retry_backoff, timeout, overlap, misfire, follow_redirects, active,
			  next_run_at)
	ON jobsched.jobs TO jobsched_user;


/* ------------------------------------------------------------------------
 * pg_dump: the tables and sequences hold the user's data, not the
 * extension's, so they are dumped (and restored after CREATE EXTENSION)
 * ------------------------------------------------------------------------ */

SELECT pg_catalog.pg_extension_config_dump('jobsched.jobs', '');
SELECT pg_catalog.pg_extension_config_dump('jobsched.jobs_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('jobsched.executions_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('jobsched.alerts', '');
SELECT pg_catalog.pg_extension_config_dump('jobsched.alerts_id_seq', '');

/* ------------------------------------------------------------------------
 * Alerts: NOTIFY has no access control -- any role that can connect may
 * LISTEN -- so the payload carries nothing row-level security would hide:
 * the ids, the kind and the time.  A listener reads the alert row (its
 * URL, status and message), which the policies let it see only for its
 * own jobs.
 * ------------------------------------------------------------------------ */

CREATE OR REPLACE FUNCTION jobsched.alerts_notify()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM pg_notify('jobsched_alerts',
					  json_build_object('alert_id', a.id,
										'kind', a.kind,
										'job_id', a.job_id,
										'execution_id', a.execution_id,
										'time', a.created_at)::text)
	FROM new_alerts a;
	RETURN NULL;
END
$$;

/* ------------------------------------------------------------------------
 * create_job: only where jobs fire.  The extension may be created in other
 * databases too (to validate and preview schedules), but a job there would
 * never fire.  (A restore into another database is not refused: it is how
 * a database is moved.)
 * ------------------------------------------------------------------------ */

-- 1.1 adds signing_secret: a new signature, so the old one goes
DROP FUNCTION jobsched.create_job(text, text, text, text, text, text, jsonb, text, integer,
								  interval, interval, text, text, boolean, boolean);

CREATE FUNCTION jobsched.create_job(
	schedule text,
	url text,
	type text DEFAULT 'ATLEAST_ONCE',
	name text DEFAULT NULL,
	timezone text DEFAULT 'UTC',
	method text DEFAULT 'POST',
	headers jsonb DEFAULT '{}',
	body text DEFAULT NULL,
	max_retries integer DEFAULT 3,
	retry_backoff interval DEFAULT '1 second',
	timeout interval DEFAULT '30 seconds',
	overlap text DEFAULT 'allow',
	misfire text DEFAULT 'run_once',
	follow_redirects boolean DEFAULT false,
	active boolean DEFAULT true,
	signing_secret text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	new_id bigint;
	fires_in text := current_setting('jobsched.database_name');
BEGIN
	IF current_database() <> fires_in THEN
		RAISE EXCEPTION 'a job in database "%" would never fire: jobs fire in database "%"',
			current_database(), fires_in
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = format('Create the job in database "%s", or set jobsched.database_name to ''%s'' and restart the server.',
								fires_in, current_database());
	END IF;
	IF type IS NULL THEN
		PERFORM jobsched.invalid('job type must not be NULL: expected ATLEAST_ONCE or ATMOST_ONCE');
	END IF;
	IF active IS NULL OR follow_redirects IS NULL THEN
		PERFORM jobsched.invalid(format('%s must not be NULL',
										CASE WHEN active IS NULL THEN 'active' ELSE 'follow_redirects' END));
	END IF;
	INSERT INTO jobsched.jobs AS j
		(name, schedule, timezone, url, method, headers, body, type, max_retries,
		 retry_backoff, timeout, overlap, misfire, follow_redirects, active)
	VALUES
		(create_job.name, create_job.schedule, create_job.timezone, create_job.url,
		 create_job.method, create_job.headers, create_job.body, create_job.type,
		 create_job.max_retries, create_job.retry_backoff, create_job.timeout,
		 create_job.overlap, create_job.misfire, create_job.follow_redirects,
		 create_job.active)
	RETURNING j.id INTO new_id;
	IF signing_secret IS NOT NULL THEN
		PERFORM jobsched.set_signing_secret(new_id, signing_secret);
	END IF;
	RETURN new_id;
END
$$;

/* ------------------------------------------------------------------------
 * Failover: how claims are confirmed (README.md, "Replication and failover")
 *
 * claims_confirmed_by: 'synchronous standbys' while commits of the worker
 * wait for them (synchronous_commit above local and synchronous_standby_names
 * in effect): an ATMOST_ONCE request then goes out only once they have
 * confirmed its claim; 'local flush' otherwise.  awaiting_sync: ATMOST_ONCE
 * runs due and held for that confirmation.
 * ------------------------------------------------------------------------ */

DROP VIEW jobsched.stats;
DROP FUNCTION jobsched.worker_stats();

CREATE FUNCTION jobsched.worker_stats(
	OUT worker_state text,
	OUT worker_pid integer,
	OUT worker_started_at timestamptz,
	OUT in_flight bigint,
	OUT queued bigint,
	OUT sent_total bigint,
	OUT completed_total bigint,
	OUT succeeded_last_minute bigint,
	OUT failed_last_minute bigint,
	OUT timed_out_last_minute bigint,
	OUT lost_last_minute bigint,
	OUT retried_last_minute bigint,
	OUT lateness_p50_ms double precision,
	OUT lateness_p99_ms double precision,
	OUT claims_confirmed_by text,
	OUT awaiting_sync bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'jobsched_worker_stats'
LANGUAGE C VOLATILE;

CREATE VIEW jobsched.stats AS
SELECT (SELECT count(*) FROM jobsched.jobs WHERE active) AS active_jobs,
	   (SELECT count(*) FROM jobsched.jobs
		WHERE due_bucket <= jobsched.due_bucket(now()) AND next_run_at <= now()) AS due_now,
	   w.in_flight,
	   w.queued,
	   w.succeeded_last_minute,
	   w.failed_last_minute,
	   w.timed_out_last_minute,
	   w.lost_last_minute,
	   w.retried_last_minute,
	   w.lateness_p50_ms,
	   w.lateness_p99_ms,
	   (SELECT now() - min(next_run_at) FROM jobsched.jobs
		WHERE due_bucket <= jobsched.due_bucket(now()) AND next_run_at <= now()) AS oldest_overdue,
	   w.worker_state,
	   w.worker_pid,
	   w.worker_started_at,
	   w.sent_total,
	   w.completed_total,
	   w.claims_confirmed_by,
	   w.awaiting_sync
FROM jobsched.worker_stats() w;

REVOKE ALL ON FUNCTION jobsched.worker_stats() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION jobsched.worker_stats() TO jobsched_user;
-- as in 1.0: the counts apply the caller's policies (PostgreSQL 15 and later)
DO $$
BEGIN
	IF current_setting('server_version_num')::int >= 150000 THEN
		ALTER VIEW jobsched.stats SET (security_invoker = true);
		GRANT SELECT ON jobsched.stats TO jobsched_user;
	END IF;
END
$$;

/* ------------------------------------------------------------------------
 * History at scale: unfinished runs apart from an append-only history
 * partitioned by time
 *
 * 1.0 kept every attempt in one table: inserted at the claim, rewritten
 * with its result, deleted row by row after history_retention -- three
 * writes and six index entries per run, and at thousands of runs a second
 * a table mostly made of dead rows.  Now:
 *
 *	- jobsched.runs holds the attempts not finished yet (running, or
 *	  retrying: waiting to be sent at retry_at).  A claim inserts one row; the
 *	  result deletes it.  It stays small: what is in flight and waiting.
 *	- jobsched.history receives each finished attempt once, appended, into a
 *	  range partition of its finished_at.  The worker makes the partitions
 *	  ahead (jobsched.maintain_history()) and drops whole partitions past
 *	  jobsched.history_retention: nothing is deleted row by row.
 *	- jobsched.history_unpartitioned keeps what no partition holds: the
 *	  history of before the update (none after a fresh install), and
 *	  attempts written through the view for times no partition covers; the
 *	  worker deletes it by age, as 1.0 did.
 *	- jobsched.executions is a view over the three, with 1.0's columns; the
 *	  ids come from the same sequence.
 *
 * No two attempts share (job_id, scheduled_for, attempt): a scheduled run is
 * claimed once (last_claimed_for), a retry is written once with the result
 * that asks for it, and a triggered run is never on a whole second.  No
 * unique index enforces it any more: across partitions it cannot (the key
 * would have to hold finished_at), and in runs it would cost every claim a
 * speculative insertion.
 *
 * Partitions are made by the worker, not by this script: they are not
 * members of the extension, so pg_dump dumps them, with their rows, like
 * any table of the user's.
 * ------------------------------------------------------------------------ */

DROP VIEW jobsched.job_status;
DROP FUNCTION jobsched.job_executions(bigint, integer);
ALTER TABLE jobsched.executions RENAME TO executions_1_0;

CREATE TABLE jobsched.runs (
	id					bigint NOT NULL DEFAULT nextval('jobsched.executions_id_seq'),
	job_id				bigint NOT NULL,
	scheduled_for		timestamptz NOT NULL,	-- nominal fire time of the run
	attempt				integer NOT NULL DEFAULT 1,
	status				text NOT NULL CHECK (status IN ('running', 'retrying')),
	retry_at			timestamptz,			-- status retrying: when it is sent
	started_at			timestamptz,			-- running: when it is (or was) sent
	sends				integer NOT NULL DEFAULT 0
);
COMMENT ON TABLE jobsched.runs IS 'jobsched: attempts not finished yet (see jobsched.executions)';
ALTER SEQUENCE jobsched.executions_id_seq OWNED BY jobsched.runs.id;

-- The one index of every run: its key.  The worker writes a result by
-- it (and deletes the row by its ctid); the overlap check and
-- job_executions() read a job's runs by it.  No index on id: it would be
-- one more entry per run, for lookups by id that only a few rare
-- statements make (recovery at start, a clean stop), on a small table.
-- The attempt is not in it: a run's (job, time) has one or two attempts
-- in runs at most (a failed one and its retry, inserted as it leaves), and
-- without it each entry is 24 bytes rather than 32 -- in the WAL, per run.
CREATE INDEX runs_job_idx ON jobsched.runs (job_id, scheduled_for);
-- retries waiting for their time (scheduled runs, inserted running, have no entry)
CREATE INDEX runs_retry_at_idx ON jobsched.runs (retry_at) WHERE status = 'retrying';

CREATE TABLE jobsched.history (
	id					bigint NOT NULL,
	job_id				bigint NOT NULL,
	scheduled_for		timestamptz NOT NULL,
	attempt				integer NOT NULL,
	status				text NOT NULL
		CHECK (status IN ('succeeded', 'failed', 'timed_out', 'lost', 'cancelled')),
	started_at			timestamptz,
	finished_at			timestamptz NOT NULL,
	http_status			integer,
	response_body		text,
	error				text,
	sends				integer NOT NULL DEFAULT 0
) PARTITION BY RANGE (finished_at);
COMMENT ON TABLE jobsched.history IS 'jobsched: finished attempts, partitioned by finished_at (see jobsched.executions)';
-- Each partition gets its indexes when it is made (maintain_history()):
-- indexes declared here would be made again when a restore attaches the
-- dumped partitions, and clash with the dumped ones.

CREATE TABLE jobsched.history_unpartitioned (LIKE jobsched.history INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
COMMENT ON TABLE jobsched.history_unpartitioned IS
	'jobsched: finished attempts no partition of jobsched.history holds (recorded before 1.1, or for times no partition covers), deleted after jobsched.history_retention';
ALTER TABLE jobsched.history_unpartitioned ADD PRIMARY KEY (id);
CREATE INDEX history_unpartitioned_run_idx ON jobsched.history_unpartitioned (job_id, scheduled_for, attempt);

INSERT INTO jobsched.runs (id, job_id, scheduled_for, attempt, status, retry_at, started_at, sends)
	SELECT id, job_id, scheduled_for, attempt, status, retry_at, started_at, sends
	FROM jobsched.executions_1_0 WHERE status IN ('running', 'retrying');
INSERT INTO jobsched.history_unpartitioned
	(id, job_id, scheduled_for, attempt, status, started_at, finished_at, http_status,
	 response_body, error, sends)
	SELECT id, job_id, scheduled_for, attempt, status, started_at,
		   coalesce(finished_at, started_at, scheduled_for), http_status, response_body, error, sends
	FROM jobsched.executions_1_0 WHERE status NOT IN ('running', 'retrying');
ALTER SEQUENCE jobsched.executions_id_seq OWNED BY NONE;
DROP TABLE jobsched.executions_1_0;
ALTER SEQUENCE jobsched.executions_id_seq OWNED BY jobsched.runs.id;

CREATE VIEW jobsched.executions AS
SELECT id, job_id, scheduled_for, attempt, status, retry_at, started_at,
	   NULL::timestamptz AS finished_at, NULL::integer AS http_status,
	   NULL::interval AS duration, started_at - scheduled_for AS lateness,
	   NULL::text AS response_body, NULL::text AS error, sends
FROM jobsched.runs
UNION ALL
SELECT id, job_id, scheduled_for, attempt, status, NULL, started_at, finished_at, http_status,
	   finished_at - started_at, started_at - scheduled_for, response_body, error, sends
FROM jobsched.history
UNION ALL
SELECT id, job_id, scheduled_for, attempt, status, NULL, started_at, finished_at, http_status,
	   finished_at - started_at, started_at - scheduled_for, response_body, error, sends
FROM jobsched.history_unpartitioned;
COMMENT ON VIEW jobsched.executions IS 'jobsched: one row per attempt of a run (jobsched.runs, jobsched.history)';

/*
 * Writing to the view, as to 1.0's table (a superuser's script, a restore
 * of 1.0 data): an unfinished attempt goes to runs, a finished one to
 * history, or to history_unpartitioned if no partition covers its time.
 */
CREATE FUNCTION jobsched.executions_insert()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NEW.status IN ('running', 'retrying') THEN
		INSERT INTO jobsched.runs (id, job_id, scheduled_for, attempt, status, retry_at, started_at, sends)
		VALUES (coalesce(NEW.id, nextval('jobsched.executions_id_seq')), NEW.job_id, NEW.scheduled_for,
				coalesce(NEW.attempt, 1), NEW.status, NEW.retry_at, NEW.started_at, coalesce(NEW.sends, 0))
		RETURNING id INTO NEW.id;
	ELSE
		IF NEW.finished_at IS NULL THEN
			PERFORM jobsched.invalid(format('a %s execution needs its finished_at', NEW.status));
		END IF;
		NEW.id := coalesce(NEW.id, nextval('jobsched.executions_id_seq'));
		EXECUTE format('INSERT INTO jobsched.%I (id, job_id, scheduled_for, attempt, status, started_at,
						 finished_at, http_status, response_body, error, sends)
						VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)',
					   CASE WHEN EXISTS (SELECT 1 FROM jobsched.history_partitions() p
										 WHERE NEW.finished_at >= p.from_time AND NEW.finished_at < p.to_time)
							THEN 'history' ELSE 'history_unpartitioned' END)
			USING NEW.id, NEW.job_id, NEW.scheduled_for, coalesce(NEW.attempt, 1), NEW.status,
				  NEW.started_at, NEW.finished_at, NEW.http_status, NEW.response_body, NEW.error,
				  coalesce(NEW.sends, 0);
	END IF;
	NEW.duration := NEW.finished_at - NEW.started_at;
	NEW.lateness := NEW.started_at - NEW.scheduled_for;
	RETURN NEW;
END
$$;

CREATE TRIGGER executions_insert
	INSTEAD OF INSERT ON jobsched.executions
	FOR EACH ROW EXECUTE FUNCTION jobsched.executions_insert();

-- and deleting from it, by id
CREATE FUNCTION jobsched.executions_delete()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF OLD.status IN ('running', 'retrying') THEN
		DELETE FROM jobsched.runs WHERE id = OLD.id;
	ELSE
		DELETE FROM jobsched.history WHERE id = OLD.id AND finished_at = OLD.finished_at;
		DELETE FROM jobsched.history_unpartitioned WHERE id = OLD.id;
	END IF;
	RETURN OLD;
END
$$;

CREATE TRIGGER executions_delete
	INSTEAD OF DELETE ON jobsched.executions
	FOR EACH ROW EXECUTE FUNCTION jobsched.executions_delete();

-- an attempt is written once; its result is not rewritten
CREATE FUNCTION jobsched.executions_update()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RAISE EXCEPTION 'executions cannot be updated'
		USING ERRCODE = 'feature_not_supported',
			  DETAIL = 'Each attempt is recorded once, by the worker, when it finishes.',
			  HINT = 'Delete the execution and insert it again, or queue a run with jobsched.trigger_job().';
END
$$;

CREATE TRIGGER executions_update
	INSTEAD OF UPDATE ON jobsched.executions
	FOR EACH ROW EXECUTE FUNCTION jobsched.executions_update();

-- a deleted job's runs, history and alerts go with it (no foreign keys:
-- they would cost a lookup per run)
CREATE OR REPLACE FUNCTION jobsched.jobs_after_delete()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	DELETE FROM jobsched.runs e USING old_jobs o WHERE e.job_id = o.id;
	-- a send goes when its history is past the retention (purge_sends()):
	-- what is left of it goes with its partition, unseen (no job, no owner)
	DELETE FROM jobsched.history e USING old_jobs o WHERE e.job_id = o.id AND o.kind = 'scheduled';
	DELETE FROM jobsched.history_unpartitioned e USING old_jobs o WHERE e.job_id = o.id;
	DELETE FROM jobsched.alerts a USING old_jobs o WHERE a.job_id = o.id;
	DELETE FROM jobsched.job_secrets s USING old_jobs o WHERE s.job_id = o.id;
	RETURN NULL;
END
$$;

/*
 * The partitions: of the present and the next two periods, made ahead; the
 * ones wholly older than the retention dropped.  The period follows the
 * retention (a day for a week, an hour for a day, ten minutes for an hour,
 * a minute below half an hour), so that history is kept at least the
 * retention and at most about a period longer.  Called by the worker at
 * start and every 10 seconds; returns the partitions dropped.
 */
CREATE FUNCTION jobsched.history_period(retention interval) RETURNS interval
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
	WHEN retention IS NULL OR retention <= '0' OR retention >= '3 days' THEN interval '1 day'
	WHEN retention >= '3 hours' THEN interval '1 hour'
	WHEN retention >= '30 minutes' THEN interval '10 minutes'
	ELSE interval '1 minute' END;

CREATE FUNCTION jobsched.maintain_history(retention interval, at timestamptz DEFAULT now())
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	period interval := jobsched.history_period(retention);
	lo timestamptz := date_bin(period, at, timestamptz '2000-01-01 00:00:00+00');
	hi timestamptz;
	part record;
	part_name text;
	dropped integer := 0;
BEGIN
	FOR i IN 0..2 LOOP
		hi := lo + period;
		IF NOT EXISTS (
			SELECT 1 FROM jobsched.history_partitions() p
			WHERE p.from_time < hi AND p.to_time > lo) THEN
			part_name := 'history_' || to_char(lo AT TIME ZONE 'UTC', 'YYYYMMDD_HH24MI');
			EXECUTE format('CREATE TABLE jobsched.%I PARTITION OF jobsched.history FOR VALUES FROM (%L) TO (%L)',
						   part_name, lo, hi);
			-- a job's history, newest first: job_executions(), job_status (without
			-- the attempt, as runs_job_idx: 24 bytes an entry rather than 32)
			EXECUTE format('CREATE INDEX ON jobsched.%I (job_id, scheduled_for)', part_name);
			-- ids grow with time: a block-range index finds one for a few bytes a page
			EXECUTE format('CREATE INDEX ON jobsched.%I USING brin (id)', part_name);
		END IF;
		lo := hi;
	END LOOP;
	IF retention > '0' THEN
		FOR part IN
			SELECT p.partition FROM jobsched.history_partitions() p
			WHERE p.to_time <= at - retention
		LOOP
			EXECUTE format('DROP TABLE %s', part.partition);
			dropped := dropped + 1;
		END LOOP;
	END IF;
	RETURN dropped;
END
$$;

-- the partitions of jobsched.history and the times each holds
CREATE FUNCTION jobsched.history_partitions(
	OUT partition regclass, OUT from_time timestamptz, OUT to_time timestamptz)
RETURNS SETOF record
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT c.oid::regclass, b[1]::timestamptz, b[2]::timestamptz
	FROM pg_inherits i
	JOIN pg_class c ON c.oid = i.inhrelid,
	LATERAL regexp_match(pg_get_expr(c.relpartbound, c.oid),
						 '^FOR VALUES FROM \(''([^'']*)''\) TO \(''([^'']*)''\)$') b
	WHERE i.inhparent = 'jobsched.history'::regclass
	ORDER BY 2;
$$;

COMMENT ON FUNCTION jobsched.maintain_history(interval, timestamptz) IS
	'jobsched: make the history partitions ahead and drop those past the retention (the worker calls it)';

CREATE FUNCTION jobsched.job_executions(job_id bigint, n integer DEFAULT 5)
RETURNS SETOF jobsched.executions
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF n IS NULL OR n < 0 THEN
		PERFORM jobsched.invalid(format('n must be zero or positive, not %s', coalesce(n::text, 'NULL')));
	END IF;
	IF NOT EXISTS (SELECT 1 FROM jobsched.jobs j WHERE j.id = job_executions.job_id) THEN
		PERFORM jobsched.job_not_found(job_id);
	END IF;
	RETURN QUERY
		SELECT * FROM jobsched.executions e
		WHERE e.job_id = job_executions.job_id
		ORDER BY e.scheduled_for DESC, e.attempt DESC
		LIMIT n;
END
$$;

CREATE VIEW jobsched.job_status AS
SELECT j.id, j.name, j.schedule, j.timezone, j.url, j.type, j.active,
	   j.next_run_at, l.scheduled_for AS last_run_for, l.status AS last_status,
	   l.http_status AS last_http_status, l.finished_at AS last_finished_at,
	   j.owner
FROM jobsched.jobs j
LEFT JOIN LATERAL (
	SELECT e.scheduled_for, e.status, e.http_status, e.finished_at
	FROM jobsched.executions e
	WHERE e.job_id = j.id
	ORDER BY e.scheduled_for DESC, e.attempt DESC
	LIMIT 1) l ON true
WHERE j.kind = 'scheduled'
ORDER BY j.id;

-- Each role sees the runs and history of its own jobs; members of
-- jobsched_user read them through the views, and may queue a run of a job
-- of theirs (trigger_job: a first attempt waiting to be sent) and nothing else.
ALTER TABLE jobsched.runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE jobsched.history ENABLE ROW LEVEL SECURITY;
ALTER TABLE jobsched.history_unpartitioned ENABLE ROW LEVEL SECURITY;
CREATE POLICY runs_owner ON jobsched.runs
	USING (job_id IN (SELECT id FROM jobsched.jobs));
CREATE POLICY runs_queue_only ON jobsched.runs
	AS RESTRICTIVE FOR INSERT
	WITH CHECK (status = 'retrying' AND sends = 0);
CREATE POLICY history_owner ON jobsched.history
	USING (job_id IN (SELECT id FROM jobsched.jobs));
CREATE POLICY history_unpartitioned_owner ON jobsched.history_unpartitioned
	USING (job_id IN (SELECT id FROM jobsched.jobs));

REVOKE ALL ON jobsched.runs, jobsched.history, jobsched.history_unpartitioned,
	jobsched.executions FROM PUBLIC;
GRANT SELECT ON jobsched.runs, jobsched.history, jobsched.history_unpartitioned,
	jobsched.executions TO jobsched_user;
GRANT INSERT (job_id, scheduled_for, attempt, status, retry_at) ON jobsched.runs TO jobsched_user;
GRANT USAGE ON SEQUENCE jobsched.executions_id_seq TO jobsched_user;
REVOKE ALL ON FUNCTION jobsched.executions_insert(), jobsched.executions_delete(),
	jobsched.executions_update(),
	jobsched.maintain_history(interval, timestamptz),
	jobsched.history_partitions(), jobsched.history_period(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION jobsched.job_executions(bigint, integer) TO jobsched_user;
REVOKE ALL ON FUNCTION jobsched.job_executions(bigint, integer) FROM PUBLIC;
GRANT SELECT ON jobsched.job_status TO jobsched_user;

DO $$
BEGIN
	IF current_setting('server_version_num')::int >= 150000 THEN
		ALTER VIEW jobsched.executions SET (security_invoker = true);
		ALTER VIEW jobsched.job_status SET (security_invoker = true);
	ELSE
		REVOKE SELECT ON jobsched.job_status, jobsched.executions FROM jobsched_user;
	END IF;
END
$$;

SELECT pg_catalog.pg_extension_config_dump('jobsched.runs', '');
SELECT pg_catalog.pg_extension_config_dump('jobsched.history_unpartitioned', '');

/* ------------------------------------------------------------------------
 * Ad-hoc requests, retry on demand, cancel, signed webhooks
 *
 * jobsched.send() queues one request from the caller's transaction: it goes
 * out if and only if that transaction commits, and once committed it is a
 * run like any other (durable, retried, recorded, alerted).  It is a job of
 * kind 'send' -- no schedule, never active -- with one run waiting to be
 * sent (status retrying) at run_at, or at once: the worker is woken at
 * commit.  Its attempts are job_executions(<the id send returned>).  A send
 * is deleted, with its history, once that history is past the retention.
 *
 * Signing secrets (Standard Webhooks, src/signing.c) are kept in
 * jobsched.job_secrets, which members of jobsched_user may write for their
 * own jobs but never read; no view, log line, alert or NOTIFY holds them.
 * ------------------------------------------------------------------------ */

CREATE TABLE jobsched.job_secrets (
	job_id				bigint PRIMARY KEY,
	owner				name NOT NULL DEFAULT current_user,
	secret				text NOT NULL
);
COMMENT ON TABLE jobsched.job_secrets IS
	'jobsched: the signing secrets of jobs (written by their owners, read by the worker only)';
ALTER TABLE jobsched.job_secrets ENABLE ROW LEVEL SECURITY;
CREATE POLICY job_secrets_owner ON jobsched.job_secrets
	USING (owner = current_user AND job_id IN (SELECT id FROM jobsched.jobs))
	WITH CHECK (owner = current_user AND job_id IN (SELECT id FROM jobsched.jobs));

CREATE FUNCTION jobsched.check_signing_secret(secret text) RETURNS void
AS 'MODULE_PATHNAME', 'jobsched_check_signing_secret'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

-- NULL: unchanged; '': removed
CREATE FUNCTION jobsched.set_signing_secret(job_id bigint, secret text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF secret IS NULL THEN
		RETURN;
	END IF;
	IF secret = '' THEN
		DELETE FROM jobsched.job_secrets s WHERE s.job_id = set_signing_secret.job_id;
		RETURN;
	END IF;
	PERFORM jobsched.check_signing_secret(secret);
	-- (not ON CONFLICT: reading EXCLUDED would need the right to read secrets)
	DELETE FROM jobsched.job_secrets s WHERE s.job_id = set_signing_secret.job_id;
	INSERT INTO jobsched.job_secrets (job_id, secret)
		VALUES (set_signing_secret.job_id, set_signing_secret.secret);
END
$$;

DROP FUNCTION jobsched.modify_job(bigint, text, text, text, text, text, text, jsonb, text,
								  integer, interval, interval, text, text, boolean, boolean);

CREATE FUNCTION jobsched.modify_job(
	job_id bigint,
	schedule text DEFAULT NULL,
	url text DEFAULT NULL,
	type text DEFAULT NULL,
	name text DEFAULT NULL,
	timezone text DEFAULT NULL,
	method text DEFAULT NULL,
	headers jsonb DEFAULT NULL,
	body text DEFAULT NULL,
	max_retries integer DEFAULT NULL,
	retry_backoff interval DEFAULT NULL,
	timeout interval DEFAULT NULL,
	overlap text DEFAULT NULL,
	misfire text DEFAULT NULL,
	follow_redirects boolean DEFAULT NULL,
	active boolean DEFAULT NULL,
	signing_secret text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE jobsched.jobs j SET
		schedule = coalesce(modify_job.schedule, j.schedule),
		url = coalesce(modify_job.url, j.url),
		type = coalesce(modify_job.type, j.type),
		name = CASE WHEN modify_job.name IS NULL THEN j.name
					ELSE nullif(modify_job.name, '') END,
		timezone = coalesce(modify_job.timezone, j.timezone),
		method = coalesce(modify_job.method, j.method),
		headers = coalesce(modify_job.headers, j.headers),
		body = CASE WHEN modify_job.body IS NULL THEN j.body
					ELSE nullif(modify_job.body, '') END,
		max_retries = coalesce(modify_job.max_retries, j.max_retries),
		retry_backoff = coalesce(modify_job.retry_backoff, j.retry_backoff),
		timeout = coalesce(modify_job.timeout, j.timeout),
		overlap = coalesce(modify_job.overlap, j.overlap),
		misfire = coalesce(modify_job.misfire, j.misfire),
		follow_redirects = coalesce(modify_job.follow_redirects, j.follow_redirects),
		active = coalesce(modify_job.active, j.active)
	WHERE j.id = modify_job.job_id;
	IF NOT FOUND THEN
		PERFORM jobsched.job_not_found(job_id);
	END IF;
	PERFORM jobsched.set_signing_secret(job_id, signing_secret);
END
$$;

CREATE FUNCTION jobsched.send(
	url text,
	body text DEFAULT NULL,
	method text DEFAULT 'POST',
	headers jsonb DEFAULT '{}',
	run_at timestamptz DEFAULT NULL,
	type text DEFAULT 'ATLEAST_ONCE',
	max_retries integer DEFAULT 3,
	retry_backoff interval DEFAULT '1 second',
	timeout interval DEFAULT '30 seconds',
	follow_redirects boolean DEFAULT false,
	signing_secret text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	new_id bigint;
	fires_in text := current_setting('jobsched.database_name');
	at timestamptz := coalesce(run_at, clock_timestamp());
BEGIN
	IF current_database() <> fires_in THEN
		RAISE EXCEPTION 'a request sent from database "%" would never go out: jobs fire in database "%"',
			current_database(), fires_in
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = format('Send it from database "%s".', fires_in);
	END IF;
	IF type IS NULL THEN
		PERFORM jobsched.invalid('type must not be NULL: expected ATLEAST_ONCE or ATMOST_ONCE');
	END IF;
	IF follow_redirects IS NULL THEN
		PERFORM jobsched.invalid('follow_redirects must not be NULL');
	END IF;
	INSERT INTO jobsched.jobs AS j
		(kind, url, method, headers, body, type, max_retries, retry_backoff, timeout,
		 follow_redirects, active)
	VALUES
		('send', send.url, send.method, send.headers, send.body, send.type, send.max_retries,
		 send.retry_backoff, send.timeout, send.follow_redirects, false)
	RETURNING j.id INTO new_id;
	IF signing_secret IS NOT NULL THEN
		PERFORM jobsched.set_signing_secret(new_id, signing_secret);
	END IF;
	INSERT INTO jobsched.runs (job_id, scheduled_for, status, retry_at)
		VALUES (new_id, at, 'retrying', at);
	PERFORM jobsched.wake_scheduler();
	RETURN new_id;
END
$$;

COMMENT ON FUNCTION jobsched.send(text, text, text, jsonb, timestamptz, text, integer, interval,
								  interval, boolean, text) IS
	'jobsched: one durable request, sent if and only if the calling transaction commits';

/*
 * A failed, timed-out or lost run, sent again now: a new attempt of the
 * same run (same Idempotency-Key), if it is the run's latest.  Returns the
 * new attempt's execution id.
 */
CREATE FUNCTION jobsched.retry_execution(execution_id bigint)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	e record;
	new_id bigint;
BEGIN
	IF execution_id IS NULL THEN
		RAISE EXCEPTION 'execution_id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT x.id, x.job_id, x.scheduled_for, x.attempt, x.status INTO e
	FROM jobsched.executions x WHERE x.id = retry_execution.execution_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'execution % does not exist', execution_id
			USING ERRCODE = 'no_data_found',
				  HINT = 'Its job may have been deleted, or its history dropped after jobsched.history_retention.';
	END IF;
	-- one retry_execution() of a run at a time
	PERFORM pg_advisory_xact_lock(hashtextextended(format('jobsched retry %s %s', e.job_id, e.scheduled_for), 0));
	IF e.status NOT IN ('failed', 'timed_out', 'lost') THEN
		RAISE EXCEPTION 'execution % is %: only a failed, timed-out or lost one can be sent again',
			execution_id, e.status
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	IF EXISTS (SELECT 1 FROM jobsched.executions x
			   WHERE x.job_id = e.job_id AND x.scheduled_for = e.scheduled_for
				 AND x.attempt > e.attempt) THEN
		RAISE EXCEPTION 'execution % is not the latest attempt of its run', execution_id
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Retry the latest one (jobsched.job_executions() lists them).';
	END IF;
	INSERT INTO jobsched.runs (job_id, scheduled_for, attempt, status, retry_at)
	SELECT j.id, e.scheduled_for, e.attempt + 1, 'retrying', clock_timestamp()
	FROM jobsched.jobs j
	WHERE j.id = e.job_id
	FOR KEY SHARE OF j
	RETURNING id INTO new_id;
	IF new_id IS NULL THEN
		PERFORM jobsched.job_not_found(e.job_id);
	END IF;
	PERFORM jobsched.wake_scheduler();
	RETURN new_id;
END
$$;

/*
 * A send, or an attempt, that has not gone out yet (status retrying, not
 * claimed) is cancelled: recorded in history as cancelled, never sent.
 * Returns the attempts cancelled.
 */
CREATE FUNCTION jobsched.cancel(send_id bigint DEFAULT NULL, execution_id bigint DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	n integer;
BEGIN
	IF (send_id IS NULL) = (execution_id IS NULL) THEN
		PERFORM jobsched.invalid('give either send_id (the id jobsched.send() returned) or execution_id');
	END IF;
	IF send_id IS NOT NULL AND NOT EXISTS (
		SELECT 1 FROM jobsched.jobs j WHERE j.id = cancel.send_id AND j.kind = 'send') THEN
		IF EXISTS (SELECT 1 FROM jobsched.jobs j WHERE j.id = cancel.send_id) THEN
			RAISE EXCEPTION 'job % is not a send', send_id
				USING ERRCODE = 'wrong_object_type',
					  HINT = 'Pause a scheduled job with jobsched.pause_job(), or cancel one of its waiting attempts with execution_id.';
		END IF;
		RAISE EXCEPTION 'send % does not exist', send_id USING ERRCODE = 'no_data_found';
	END IF;
	IF execution_id IS NOT NULL AND NOT EXISTS (
		SELECT 1 FROM jobsched.executions x WHERE x.id = cancel.execution_id) THEN
		RAISE EXCEPTION 'execution % does not exist', execution_id USING ERRCODE = 'no_data_found';
	END IF;
	WITH gone AS (
		DELETE FROM jobsched.runs r
		WHERE r.status = 'retrying'
		  AND (r.job_id = cancel.send_id OR r.id = cancel.execution_id)
		RETURNING r.*
	), recorded AS (
		INSERT INTO jobsched.history (id, job_id, scheduled_for, attempt, status, finished_at,
									  error, sends)
		SELECT id, job_id, scheduled_for, attempt, 'cancelled', clock_timestamp(),
			   format('cancelled by %s before it was sent', current_user), sends
		FROM gone
		RETURNING 1
	)
	SELECT count(*) INTO n FROM recorded;
	IF n = 0 THEN
		RAISE EXCEPTION '% has nothing waiting to be sent',
			CASE WHEN send_id IS NOT NULL THEN format('send %s', send_id)
				 ELSE format('execution %s', execution_id) END
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'An attempt already claimed by the worker (status running) is being sent, or has been.';
	END IF;
	RETURN n;
END
$$;

-- the worker deletes sends whose history is past the retention ($1), a batch at a time
CREATE FUNCTION jobsched.purge_sends(cutoff timestamptz, batch integer)
RETURNS integer
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
	WITH gone AS (
		DELETE FROM jobsched.jobs j
		WHERE j.id IN (
			SELECT s.id FROM jobsched.jobs s
			WHERE s.kind = 'send' AND s.created_at < cutoff
			  AND NOT EXISTS (SELECT 1 FROM jobsched.runs r WHERE r.job_id = s.id)
			ORDER BY s.id LIMIT batch)
		RETURNING 1)
	SELECT count(*)::integer FROM gone;
$$;
CREATE INDEX jobs_send_created_idx ON jobsched.jobs (created_at) WHERE kind = 'send';

-- users write secrets of their own jobs, never read them; they may cancel
-- their own waiting attempts, recorded as cancelled
REVOKE ALL ON jobsched.job_secrets FROM PUBLIC;
GRANT SELECT (job_id, owner), INSERT (job_id, secret), UPDATE (secret), DELETE
	ON jobsched.job_secrets TO jobsched_user;
GRANT INSERT (kind) ON jobsched.jobs TO jobsched_user;
GRANT DELETE ON jobsched.runs TO jobsched_user;
GRANT INSERT ON jobsched.history TO jobsched_user;
CREATE POLICY history_cancel_only ON jobsched.history
	AS RESTRICTIVE FOR INSERT
	WITH CHECK (status = 'cancelled');
REVOKE ALL ON FUNCTION
	jobsched.create_job(text, text, text, text, text, text, jsonb, text, integer,
						interval, interval, text, text, boolean, boolean, text),
	jobsched.modify_job(bigint, text, text, text, text, text, text, jsonb, text,
						integer, interval, interval, text, text, boolean, boolean, text),
	jobsched.send(text, text, text, jsonb, timestamptz, text, integer, interval, interval, boolean, text),
	jobsched.retry_execution(bigint),
	jobsched.cancel(bigint, bigint),
	jobsched.check_signing_secret(text),
	jobsched.set_signing_secret(bigint, text),
	jobsched.purge_sends(timestamptz, integer)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	jobsched.create_job(text, text, text, text, text, text, jsonb, text, integer,
						interval, interval, text, text, boolean, boolean, text),
	jobsched.modify_job(bigint, text, text, text, text, text, text, jsonb, text,
						integer, interval, interval, text, text, boolean, boolean, text),
	jobsched.send(text, text, text, jsonb, timestamptz, text, integer, interval, interval, boolean, text),
	jobsched.retry_execution(bigint),
	jobsched.cancel(bigint, bigint),
	jobsched.check_signing_secret(text),
	jobsched.set_signing_secret(bigint, text)
TO jobsched_user;

SELECT pg_catalog.pg_extension_config_dump('jobsched.job_secrets', '');
