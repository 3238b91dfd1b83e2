/*
 * jobsched 1.0: schema, catalog tables, indexes, views and the SQL API.
 *
 * The C library provides the pieces that need C (the cron engine, URL
 * parsing, waking the background worker); everything that is plain
 * insert/update logic is written here so that it reads as SQL.
 */

\echo Use "CREATE EXTENSION jobsched" to load this file. \quit

/* ------------------------------------------------------------------------
 * C helpers
 * ------------------------------------------------------------------------ */

-- Next fire time of a cron expression strictly after "after", in time zone tz.
CREATE FUNCTION jobsched.next_fire(schedule text, tz text, after timestamptz)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'jobsched_next_fire'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

-- The same, NULL instead of an error: the worker uses it so that one job
-- whose schedule can no longer be computed stops alone (with next_run_at NULL).
CREATE FUNCTION jobsched.next_fire_or_null(schedule text, tz text, after timestamptz)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'jobsched_next_fire_or_null'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

-- Raise a clear error if the URL is not http(s) with a host.
CREATE FUNCTION jobsched.check_url(url text)
RETURNS void
AS 'MODULE_PATHNAME', 'jobsched_check_url'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

-- Raise a clear error if a header may not be sent.
CREATE FUNCTION jobsched.check_header(name text, value text)
RETURNS void
AS 'MODULE_PATHNAME', 'jobsched_check_header'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Ask the scheduler to re-read the jobs once the current transaction commits.
CREATE FUNCTION jobsched.wake_scheduler()
RETURNS void
AS 'MODULE_PATHNAME', 'jobsched_wake_scheduler'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

/* ------------------------------------------------------------------------
 * Catalog
 * ------------------------------------------------------------------------ */

CREATE TABLE jobsched.jobs (
	id					bigserial PRIMARY KEY,
	name				text,
	schedule			text NOT NULL,
	timezone			text NOT NULL DEFAULT 'UTC',
	url					text NOT NULL,
	method				text NOT NULL DEFAULT 'POST'
		CHECK (method IN ('GET', 'POST', 'PUT', 'PATCH', 'DELETE')),
	headers				jsonb NOT NULL DEFAULT '{}',
	body				text,
	type				text NOT NULL DEFAULT 'ATLEAST_ONCE'
		CHECK (type IN ('ATLEAST_ONCE', 'ATMOST_ONCE')),
	max_retries			integer NOT NULL DEFAULT 3
		CHECK (max_retries BETWEEN 0 AND 100),
	retry_backoff		interval NOT NULL DEFAULT '1 second'
		CHECK (retry_backoff > '0' AND retry_backoff <= '1 day'),
	timeout				interval NOT NULL DEFAULT '30 seconds'
		CHECK (timeout > '0' AND timeout <= '1 hour'),
	overlap				text NOT NULL DEFAULT 'allow'
		CHECK (overlap IN ('allow', 'skip')),
	misfire				text NOT NULL DEFAULT 'run_once'
		CHECK (misfire IN ('run_once', 'skip')),
	follow_redirects	boolean NOT NULL DEFAULT false,
	active				boolean NOT NULL DEFAULT true,
	owner				name NOT NULL DEFAULT current_user,
	created_at			timestamptz NOT NULL DEFAULT now(),
	updated_at			timestamptz NOT NULL DEFAULT now(),
	-- next nominal fire time; NULL while paused.  trigger_job() pulls it to now().
	next_run_at			timestamptz
);

COMMENT ON TABLE jobsched.jobs IS 'jobsched: scheduled HTTP jobs';

-- Names are unique per owner.  Partial: unnamed jobs, updated at every
-- fire, need no entry here.
CREATE UNIQUE INDEX jobs_owner_name_idx ON jobsched.jobs (owner, name)
	WHERE name IS NOT NULL;

-- "What is due": the scheduler reads this index from its low end.
CREATE INDEX jobs_next_run_at_idx ON jobsched.jobs (next_run_at)
	WHERE next_run_at IS NOT NULL;

CREATE TABLE jobsched.executions (
	id					bigserial PRIMARY KEY,
	job_id				bigint NOT NULL,
	scheduled_for		timestamptz NOT NULL,	-- nominal fire time of the run
	attempt				integer NOT NULL DEFAULT 1,
	status				text NOT NULL
		CHECK (status IN ('running', 'succeeded', 'failed', 'retrying',
						  'timed_out', 'lost')),
	retry_at			timestamptz,			-- status retrying: when it is sent
	started_at			timestamptz,
	finished_at			timestamptz,
	http_status			integer,
	duration			interval GENERATED ALWAYS AS (finished_at - started_at) STORED,
	lateness			interval GENERATED ALWAYS AS (started_at - scheduled_for) STORED,
	response_body		text,
	error				text,
	sends				integer NOT NULL DEFAULT 0	-- times put on the wire (>1 after a crash re-send)
);

COMMENT ON TABLE jobsched.executions IS 'jobsched: one row per attempt of a scheduled run';

CREATE INDEX executions_job_id_idx ON jobsched.executions (job_id, id);
-- Unfinished attempts: crash recovery and the overlap check read these.
CREATE INDEX executions_unfinished_idx ON jobsched.executions (job_id)
	WHERE status IN ('running', 'retrying');
-- Retries waiting for their time.
CREATE INDEX executions_retry_at_idx ON jobsched.executions (retry_at)
	WHERE status = 'retrying';

CREATE TABLE jobsched.alerts (
	id					bigserial PRIMARY KEY,
	job_id				bigint NOT NULL,
	execution_id		bigint,
	created_at			timestamptz NOT NULL DEFAULT now(),
	kind				text NOT NULL
		CHECK (kind IN ('failed', 'timed_out', 'lost', 'disabled')),
	url					text,
	message				text NOT NULL,
	http_status			integer
);

COMMENT ON TABLE jobsched.alerts IS 'jobsched: final failures of executions';

CREATE INDEX alerts_job_id_idx ON jobsched.alerts (job_id, id);

-- Every alert is also a notification, sent when its transaction commits.
-- NOTIFY payloads are limited to 8000 bytes: long texts are cut.
CREATE FUNCTION jobsched.alerts_notify()
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
										'url', left(a.url, 2000),
										'http_status', a.http_status,
										'error', left(a.message, 4000),
										'time', a.created_at)::text)
	FROM new_alerts a;
	RETURN NULL;
END
$$;

CREATE TRIGGER alerts_notify
	AFTER INSERT ON jobsched.alerts
	REFERENCING NEW TABLE AS new_alerts
	FOR EACH STATEMENT EXECUTE FUNCTION jobsched.alerts_notify();

/* ------------------------------------------------------------------------
 * Keeping jobs valid and next_run_at correct on every change, whether it
 * comes through the API or a direct UPDATE of jobsched.jobs.
 * ------------------------------------------------------------------------ */

CREATE FUNCTION jobsched.invalid(message text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = message;
END
$$;

CREATE FUNCTION jobsched.jobs_before_write()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	hdr record;
	given_type text := NEW.type;
BEGIN
	IF NEW.schedule IS NULL THEN
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
	IF NEW.timeout IS NULL OR NEW.timeout <= '0' OR NEW.timeout > '1 hour' THEN
		PERFORM jobsched.invalid(format('timeout %s out of range: must be positive and at most 1 hour',
										coalesce(NEW.timeout::text, 'NULL')));
	END IF;
	IF NEW.name = '' THEN
		PERFORM jobsched.invalid('job name must not be empty (use NULL for no name)');
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

	IF TG_OP = 'INSERT'
		OR NEW.schedule IS DISTINCT FROM OLD.schedule
		OR NEW.timezone IS DISTINCT FROM OLD.timezone
		OR NEW.active IS DISTINCT FROM OLD.active THEN
		-- next_fire() validates the expression and the zone; it runs even for
		-- a paused job so that a bad schedule is rejected at once.
		NEW.next_run_at := jobsched.next_fire(NEW.schedule, NEW.timezone, now());
		IF NOT NEW.active THEN
			NEW.next_run_at := NULL;
		END IF;
	END IF;

	IF TG_OP = 'UPDATE' THEN
		NEW.updated_at := now();
	END IF;
	PERFORM jobsched.wake_scheduler();
	RETURN NEW;
END
$$;

-- Column list: the scheduler's own updates of next_run_at do not fire it.
CREATE TRIGGER jobs_before_write
	BEFORE INSERT OR UPDATE OF name, schedule, timezone, url, method, headers, body, type,
		max_retries, retry_backoff, timeout, overlap, misfire, follow_redirects, active, owner
	ON jobsched.jobs
	FOR EACH ROW EXECUTE FUNCTION jobsched.jobs_before_write();

-- History has no foreign key (it would cost a lookup per execution at
-- thousands per second); deleting a job deletes its history here instead.
CREATE FUNCTION jobsched.jobs_after_delete()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	DELETE FROM jobsched.executions e USING old_jobs o WHERE e.job_id = o.id;
	DELETE FROM jobsched.alerts a USING old_jobs o WHERE a.job_id = o.id;
	RETURN NULL;
END
$$;

CREATE TRIGGER jobs_after_delete
	AFTER DELETE ON jobsched.jobs
	REFERENCING OLD TABLE AS old_jobs
	FOR EACH STATEMENT EXECUTE FUNCTION jobsched.jobs_after_delete();

/* ------------------------------------------------------------------------
 * SQL API
 * ------------------------------------------------------------------------ */

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
	active boolean DEFAULT true)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	new_id bigint;
BEGIN
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
	RETURN new_id;
END
$$;

CREATE FUNCTION jobsched.job_not_found(job_id bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF job_id IS NULL THEN
		RAISE EXCEPTION 'job_id must not be NULL'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	RAISE EXCEPTION 'job % does not exist', job_id
		USING ERRCODE = 'no_data_found';
END
$$;

/*
 * Only the arguments given change; NULL (the default) leaves a setting as it
 * is.  To remove a name or a body, pass '' (the empty string).
 */
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
	active boolean DEFAULT NULL)
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
END
$$;

CREATE FUNCTION jobsched.delete_job(job_id bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	DELETE FROM jobsched.jobs j WHERE j.id = delete_job.job_id;
	IF NOT FOUND THEN
		PERFORM jobsched.job_not_found(job_id);
	END IF;
END
$$;

CREATE FUNCTION jobsched.pause_job(job_id bigint)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT jobsched.modify_job(job_id, active => false);
$$;

CREATE FUNCTION jobsched.resume_job(job_id bigint)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT jobsched.modify_job(job_id, active => true);
$$;

/*
 * One run as soon as possible, whether the job is active or paused.  The run
 * takes the place of nothing: the job's next scheduled run still happens.
 */
CREATE FUNCTION jobsched.trigger_job(job_id bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE jobsched.jobs j
		SET next_run_at = least(j.next_run_at, now())
	WHERE j.id = trigger_job.job_id;
	IF NOT FOUND THEN
		PERFORM jobsched.job_not_found(job_id);
	END IF;
	PERFORM jobsched.wake_scheduler();
END
$$;

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
		ORDER BY e.id DESC
		LIMIT n;
END
$$;

CREATE FUNCTION jobsched.next_runs(
	schedule text,
	n integer DEFAULT 5,
	"from" timestamptz DEFAULT now(),
	tz text DEFAULT 'UTC')
RETURNS SETOF timestamptz
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t timestamptz := "from";
BEGIN
	IF schedule IS NULL OR tz IS NULL OR "from" IS NULL THEN
		PERFORM jobsched.invalid(format('%s must not be NULL',
										CASE WHEN schedule IS NULL THEN 'schedule'
											 WHEN tz IS NULL THEN 'tz' ELSE 'from' END));
	END IF;
	IF n IS NULL OR n NOT BETWEEN 0 AND 10000 THEN
		PERFORM jobsched.invalid(format('n %s out of range 0-10000', coalesce(n::text, 'NULL')));
	END IF;
	FOR i IN 1..n LOOP
		t := jobsched.next_fire(schedule, tz, t);
		RETURN NEXT t;
	END LOOP;
	-- validate even when n = 0
	IF n = 0 THEN
		PERFORM jobsched.next_fire(schedule, tz, t);
	END IF;
END
$$;

/* Each job with its next run and its last result, for psql. */
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
	ORDER BY e.id DESC
	LIMIT 1) l ON true
ORDER BY j.id;

/* ------------------------------------------------------------------------
 * Observability
 * ------------------------------------------------------------------------ */

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
	OUT lateness_p99_ms double precision)
RETURNS record
AS 'MODULE_PATHNAME', 'jobsched_worker_stats'
LANGUAGE C VOLATILE;

CREATE VIEW jobsched.stats AS
SELECT (SELECT count(*) FROM jobsched.jobs WHERE active) AS active_jobs,
	   (SELECT count(*) FROM jobsched.jobs WHERE next_run_at <= now()) AS due_now,
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
		WHERE next_run_at <= now()) AS oldest_overdue,
	   w.worker_state,
	   w.worker_pid,
	   w.worker_started_at,
	   w.sent_total,
	   w.completed_total
FROM jobsched.worker_stats() w;

/* ------------------------------------------------------------------------
 * Roles and privileges
 *
 * Members of jobsched_user may use the API.  Row-level security lets each
 * role see and change only its own jobs, and the executions and alerts of
 * those jobs; superusers see everything.  The API functions run with the
 * caller's rights, so the policies apply to them too.  Requests are sent by
 * the worker, which checks at every claim that a job's owner still exists and
 * is still a member of jobsched_user (or a superuser); otherwise the job is
 * disabled with an alert.
 * ------------------------------------------------------------------------ */

DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'jobsched_user') THEN
		CREATE ROLE jobsched_user NOLOGIN;
	END IF;
END
$$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA jobsched FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA jobsched FROM PUBLIC;

GRANT USAGE ON SCHEMA jobsched TO jobsched_user;
GRANT SELECT, INSERT, UPDATE, DELETE ON jobsched.jobs TO jobsched_user;
GRANT USAGE ON SEQUENCE jobsched.jobs_id_seq TO jobsched_user;
GRANT SELECT ON jobsched.executions, jobsched.alerts, jobsched.job_status,
	jobsched.stats TO jobsched_user;
GRANT EXECUTE ON FUNCTION
	jobsched.create_job(text, text, text, text, text, text, jsonb, text, integer,
						interval, interval, text, text, boolean, boolean),
	jobsched.modify_job(bigint, text, text, text, text, text, text, jsonb, text,
						integer, interval, interval, text, text, boolean, boolean),
	jobsched.delete_job(bigint),
	jobsched.pause_job(bigint),
	jobsched.resume_job(bigint),
	jobsched.trigger_job(bigint),
	jobsched.job_executions(bigint, integer),
	jobsched.next_runs(text, integer, timestamptz, text),
	jobsched.next_fire(text, text, timestamptz),
	jobsched.check_url(text),
	jobsched.check_header(text, text),
	jobsched.wake_scheduler(),
	jobsched.invalid(text),
	jobsched.job_not_found(bigint),
	jobsched.worker_stats()
TO jobsched_user;

ALTER TABLE jobsched.jobs ENABLE ROW LEVEL SECURITY;
CREATE POLICY jobs_owner ON jobsched.jobs
	USING (owner = current_user)
	WITH CHECK (owner = current_user);

ALTER TABLE jobsched.executions ENABLE ROW LEVEL SECURITY;
CREATE POLICY executions_owner ON jobsched.executions
	USING (job_id IN (SELECT id FROM jobsched.jobs));

ALTER TABLE jobsched.alerts ENABLE ROW LEVEL SECURITY;
CREATE POLICY alerts_owner ON jobsched.alerts
	USING (job_id IN (SELECT id FROM jobsched.jobs));

-- Views must apply the policies as the caller (PostgreSQL 15 and later);
-- before 15 they are left to superusers.
DO $$
BEGIN
	IF current_setting('server_version_num')::int >= 150000 THEN
		ALTER VIEW jobsched.job_status SET (security_invoker = true);
		ALTER VIEW jobsched.stats SET (security_invoker = true);
	ELSE
		REVOKE SELECT ON jobsched.job_status, jobsched.stats FROM jobsched_user;
	END IF;
END
$$;
