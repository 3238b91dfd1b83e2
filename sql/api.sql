--
-- The SQL API: every function, its defaults, and every error path.  Each
-- error is followed by a check that nothing changed.  The worker is disabled
-- in this instance (test/regress.conf): nothing fires here.
--
SET timezone = 'UTC';
\set SHOW_CONTEXT never
\set VERBOSITY default

-- a job with all defaults
SELECT jobsched.create_job('*/10 * * * * *', 'http://127.0.0.1:9/a') AS a \gset
SELECT name, schedule, timezone, url, method, headers, body, type, max_retries,
	   retry_backoff, timeout, overlap, misfire, follow_redirects, active,
	   owner = current_user AS owned,
	   next_run_at > now() AND next_run_at <= now() + '10 s' AS next_run_ok,
	   extract(second FROM next_run_at)::int % 10 AS on_tenth_second
FROM jobsched.jobs WHERE id = :a;

-- every setting given, type in lower case
SELECT jobsched.create_job('0 0 12 * * MON-FRI', 'https://example.com/hook?x=1',
						   'atmost_once', name => 'noon', timezone => 'Europe/Berlin',
						   method => 'put', headers => '{"X-Token": "abc", "Content-Type": "text/plain"}',
						   body => 'hello', max_retries => 0, retry_backoff => '5 s',
						   timeout => '2 s', overlap => 'SKIP', misfire => 'skip',
						   follow_redirects => true) AS b \gset
SELECT name, schedule, timezone, url, method, headers, body, type, max_retries,
	   retry_backoff, timeout, overlap, misfire, follow_redirects, active,
	   to_char(next_run_at AT TIME ZONE 'Europe/Berlin', 'HH24:MI:SS') AS next_local,
	   extract(isodow FROM next_run_at AT TIME ZONE 'Europe/Berlin') BETWEEN 1 AND 5 AS weekday
FROM jobsched.jobs WHERE id = :b;

-- created paused: no next run
SELECT jobsched.create_job('@hourly', 'http://[::1]:9/c', active => false) AS c \gset
SELECT active, next_run_at FROM jobsched.jobs WHERE id = :c;

SELECT count(*) AS jobs_before_errors FROM jobsched.jobs;

-- create_job errors
SELECT jobsched.create_job('61 * * * * *', 'http://127.0.0.1:9/');
SELECT jobsched.create_job('* * * * * *', 'http://127.0.0.1:9/', 'SOMETIMES');
SELECT jobsched.create_job('* * * * * *', 'http://127.0.0.1:9/', NULL);
SELECT jobsched.create_job(NULL, 'http://127.0.0.1:9/');
SELECT jobsched.create_job('* * * * * *', NULL);
SELECT jobsched.create_job('* * * * * *', 'ftp://127.0.0.1/file');
SELECT jobsched.create_job('* * * * * *', 'http://');
SELECT jobsched.create_job('* * * * * *', 'not a url');
SELECT jobsched.create_job('* * * * * *', 'example.com/x');
SELECT jobsched.create_job('* * * * * *', 'http://127.0.0.1/' || repeat('x', 9000));
SELECT jobsched.create_job('* * * * * *', 'http://127.0.0.1:9/', timezone => 'Nowhere/Town');
SELECT jobsched.create_job('* * * * * *', 'http://127.0.0.1:9/', timezone => NULL);
SELECT jobsched.create_job('* * * * * *', 'http://127.0.0.1:9/', method => 'FETCH');
SELECT jobsched.create_job('* * * * * *', 'http://127.0.0.1:9/', headers => '[1, 2]');
SELECT jobsched.create_job('* * * * * *', 'http://127.0.0.1:9/', headers => NULL);
SELECT jobsched.create_job('* * * * * *', 'http://127.0.0.1:9/', headers => '{"X-A": 1}');
SELECT jobsched.create_job('* * * * * *', 'http://127.0.0.1:9/', headers => '{"X A": "1"}');
SELECT jobsched.create_job('* * * * * *', 'http://127.0.0.1:9/', headers => '{"X-A": "1\r\nEvil: yes"}');
SELECT jobsched.create_job('* * * * * *', 'http://127.0.0.1:9/', headers => '{"Idempotency-Key": "mine"}');
SELECT jobsched.create_job('* * * * * *', 'http://127.0.0.1:9/', max_retries => 101);
SELECT jobsched.create_job('* * * * * *', 'http://127.0.0.1:9/', max_retries => -1);
SELECT jobsched.create_job('* * * * * *', 'http://127.0.0.1:9/', retry_backoff => '0');
SELECT jobsched.create_job('* * * * * *', 'http://127.0.0.1:9/', retry_backoff => '2 days');
SELECT jobsched.create_job('* * * * * *', 'http://127.0.0.1:9/', timeout => '-1 s');
SELECT jobsched.create_job('* * * * * *', 'http://127.0.0.1:9/', timeout => '2 hours');
SELECT jobsched.create_job('* * * * * *', 'http://127.0.0.1:9/', overlap => 'queue');
SELECT jobsched.create_job('* * * * * *', 'http://127.0.0.1:9/', misfire => 'all');
SELECT jobsched.create_job('* * * * * *', 'http://127.0.0.1:9/', name => '');
SELECT jobsched.create_job('* * * * * *', 'http://127.0.0.1:9/', name => 'noon');
SELECT jobsched.create_job('* * * * * *', 'http://127.0.0.1:9/', active => NULL);
-- a URL spells out its host (libcurl would read these as http://path/ and http://127.0.0.1/)
SELECT jobsched.create_job('* * * * * *', 'http:///path');
SELECT jobsched.create_job('* * * * * *', 'http:/127.0.0.1/');
-- a GET has no body: sent as asked, or refused
SELECT jobsched.create_job('* * * * * *', 'http://127.0.0.1:9/', method => 'GET', body => 'x');
-- names: at most 200 characters (the unique index would fail at about 2.7 kB)
SELECT jobsched.create_job('* * * * * *', 'http://127.0.0.1:9/', name => repeat('n', 201));
SELECT jobsched.create_job('* * * * * *', 'http://127.0.0.1:9/', name => repeat('é', 3000));
-- long input is cut in messages, between characters; UTF-8 stays UTF-8,
-- control characters do not reach the message
SELECT jobsched.create_job(repeat('7', 1000000), 'http://127.0.0.1:9/');
SELECT jobsched.create_job(repeat('é', 60) || ' * * * *', 'http://127.0.0.1:9/');
SELECT jobsched.create_job('* * * * * *', 'http://127.0.0.1:9/', timezone => 'Zürich' || chr(10) || 'x');
SELECT jobsched.create_job('* * * * * *', 'http://exämple.com/' || repeat('ü', 200) || ' x');
-- the network policy: private, link-local and metadata addresses are refused
SELECT jobsched.create_job('* * * * * *', 'http://10.1.2.3/x');
SELECT jobsched.create_job('* * * * * *', 'http://169.254.169.254/latest/meta-data');
SELECT jobsched.create_job('* * * * * *', 'http://[fe80::1]/');
SELECT jobsched.create_job('* * * * * *', 'http://[::ffff:192.168.1.1]/');
SELECT jobsched.create_job('* * * * * *', 'http://0xa000001/');
SET jobsched.network_policy = 'deny 127.0.0.0/8, deny ::1, allow all';
SELECT jobsched.create_job('* * * * * *', 'http://127.0.0.1:9/');
-- a host name is resolved and each address checked (which comes first varies)
DO $$
BEGIN
	PERFORM jobsched.create_job('* * * * * *', 'http://localhost:9/');
	RAISE NOTICE 'localhost accepted';
EXCEPTION WHEN insufficient_privilege THEN
	RAISE NOTICE 'localhost refused';
END
$$;
RESET jobsched.network_policy;
SET jobsched.network_policy = 'allow 10.0.0.0/33';
SET jobsched.network_policy = 'permit all';
-- headers jobsched sets itself, and values at their limit
SELECT jobsched.create_job('* * * * * *', 'http://127.0.0.1:9/', headers => '{"Connection": "close"}');
SELECT jobsched.create_job('* * * * * *', 'http://127.0.0.1:9/',
						   headers => jsonb_build_object('X-Long', repeat('v', 8193)));
SELECT jobsched.create_job('* * * * * *', 'http://127.0.0.1:9/',
						   headers => jsonb_build_object(repeat('n', 257), 'v'));
SELECT jobsched.create_job('* * * * * *', 'http://127.0.0.1:9/', headers => '{"X-Tab": "a\u0001b"}');

SELECT count(*) AS jobs_after_errors FROM jobsched.jobs;

-- modify_job: only the given settings change
SELECT schedule, url, next_run_at AS old_next FROM jobsched.jobs WHERE id = :a \gset
SELECT jobsched.modify_job(:a, url => 'http://127.0.0.1:9/a2');
SELECT schedule = :'schedule' AS schedule_kept, url,
	   next_run_at = :'old_next' AS next_kept
FROM jobsched.jobs WHERE id = :a;
-- a new schedule recomputes the next run
SELECT jobsched.modify_job(:a, schedule => '0 0 0 1 1 *');
SELECT schedule, to_char(next_run_at, 'MM-DD HH24:MI:SS') AS next_run,
	   updated_at >= created_at AS updated
FROM jobsched.jobs WHERE id = :a;
-- so does a new time zone
SELECT jobsched.modify_job(:a, timezone => 'America/New_York');
SELECT to_char(next_run_at AT TIME ZONE 'America/New_York', 'MM-DD HH24:MI:SS') AS next_local
FROM jobsched.jobs WHERE id = :a;
SELECT jobsched.modify_job(:b, type => 'ATLEAST_ONCE', method => 'post', headers => '{}',
						   max_retries => 5, retry_backoff => '1 min', timeout => '1 min',
						   overlap => 'allow', misfire => 'run_once', follow_redirects => false);
SELECT type, method, headers, max_retries, retry_backoff, timeout, overlap, misfire,
	   follow_redirects, name, body
FROM jobsched.jobs WHERE id = :b;
-- '' clears a name or a body
SELECT jobsched.modify_job(:b, name => '', body => '');
SELECT name, body FROM jobsched.jobs WHERE id = :b;
SELECT jobsched.modify_job(:b, name => 'noon again');

-- modify_job errors change nothing
SELECT to_jsonb(j) AS before FROM jobsched.jobs j WHERE id = :a \gset
SELECT jobsched.modify_job(:a, schedule => '* * * 32 * *');
SELECT jobsched.modify_job(:a, url => 'gopher://127.0.0.1/');
SELECT jobsched.modify_job(:a, type => 'NEVER');
SELECT jobsched.modify_job(:a, timezone => 'Atlantis');
SELECT jobsched.modify_job(:b, method => 'GET', body => 'x');
SELECT jobsched.modify_job(:a, name => 'noon again');
SELECT jobsched.modify_job(999999, url => 'http://127.0.0.1:9/');
SELECT jobsched.modify_job(NULL, url => 'http://127.0.0.1:9/');
SELECT to_jsonb(j) = :'before'::jsonb AS unchanged FROM jobsched.jobs j WHERE id = :a;

-- direct updates of the table are validated the same way
UPDATE jobsched.jobs SET schedule = 'every minute' WHERE id = :a;
UPDATE jobsched.jobs SET url = 'file:///etc/passwd' WHERE id = :a;
SELECT to_jsonb(j) = :'before'::jsonb AS unchanged FROM jobsched.jobs j WHERE id = :a;

-- pause and resume
SELECT jobsched.pause_job(:a);
SELECT active, next_run_at FROM jobsched.jobs WHERE id = :a;
SELECT jobsched.resume_job(:a);
SELECT active, next_run_at > now() AS next_in_future FROM jobsched.jobs WHERE id = :a;
SELECT jobsched.pause_job(999999);
SELECT jobsched.resume_job(999999);

-- trigger: a run of its own, queued at the moment of the call, for an
-- active or a paused job; the scheduled runs are not touched
SELECT next_run_at AS a_next FROM jobsched.jobs WHERE id = :a \gset
SELECT clock_timestamp() AS before_trigger \gset
SELECT jobsched.trigger_job(:a);
SELECT jobsched.trigger_job(:c);
SELECT job_id = :a AS is_a, attempt, status, sends, retry_at = scheduled_for AS at_its_time,
	   scheduled_for BETWEEN :'before_trigger' AND clock_timestamp() AS now_ish
FROM jobsched.executions WHERE job_id IN (:a, :c) ORDER BY job_id;
SELECT next_run_at = :'a_next' AS a_unchanged FROM jobsched.jobs WHERE id = :a;
SELECT active, next_run_at FROM jobsched.jobs WHERE id = :c;
SELECT jobsched.trigger_job(999999);
-- a triggered run is never on a whole second (where a scheduled run of the
-- job could be); executions can be deleted, not rewritten
SELECT count(*) AS on_whole_seconds FROM jobsched.executions
WHERE job_id IN (:a, :c) AND extract(microseconds FROM scheduled_for)::bigint % 1000000 = 0;
\set VERBOSITY terse
UPDATE jobsched.executions SET status = 'succeeded' WHERE job_id = :a;
DELETE FROM jobsched.executions WHERE job_id IN (:a, :c);

-- a direct UPDATE of next_run_at: the first fire time from there on, never
-- a time already claimed; NULL only while paused
UPDATE jobsched.jobs SET next_run_at = '2031-06-15 12:34:56+00' WHERE id = :a;
SELECT next_run_at FROM jobsched.jobs WHERE id = :a;
UPDATE jobsched.jobs SET last_claimed_for = '2032-03-01 00:00:00+00' WHERE id = :a;
UPDATE jobsched.jobs SET next_run_at = '2031-06-15 12:34:56+00' WHERE id = :a;
SELECT next_run_at, last_claimed_for FROM jobsched.jobs WHERE id = :a;
UPDATE jobsched.jobs SET next_run_at = NULL WHERE id = :a;
UPDATE jobsched.jobs SET next_run_at = now() WHERE id = :c;
UPDATE jobsched.jobs SET next_run_at = '2033-01-01 00:00:00+00', last_claimed_for = '2033-01-01 00:00:00+00' WHERE id = :a;
SELECT next_run_at, last_claimed_for FROM jobsched.jobs WHERE id = :a;
\set VERBOSITY default
-- timeouts: at least a millisecond (libcurl counts in ms, 0 means never)
SELECT jobsched.modify_job(:a, timeout => '1 microsecond');
SELECT jobsched.modify_job(:a, timeout => '0.9 ms');
SELECT jobsched.modify_job(:a, timeout => '1 ms');
SELECT timeout FROM jobsched.jobs WHERE id = :a;
SELECT jobsched.modify_job(:a, timeout => '30 s');

-- history, newest first (rows written here as the worker would)
INSERT INTO jobsched.executions (job_id, scheduled_for, attempt, status, started_at, finished_at, http_status)
SELECT :a, '2024-01-01 00:00:00+00'::timestamptz + i * interval '1 min', 1,
	   CASE WHEN i % 2 = 0 THEN 'succeeded' ELSE 'failed' END,
	   '2024-01-01 00:00:00.004+00'::timestamptz + i * interval '1 min',
	   '2024-01-01 00:00:00.030+00'::timestamptz + i * interval '1 min',
	   CASE WHEN i % 2 = 0 THEN 200 ELSE 500 END
FROM generate_series(1, 7) i;
SELECT scheduled_for, status, http_status, duration, lateness FROM jobsched.job_executions(:a);
SELECT count(*) FROM jobsched.job_executions(:a, 100);
SELECT count(*) FROM jobsched.job_executions(:a, 0);
SELECT count(*) FROM jobsched.job_executions(:b);
SELECT * FROM jobsched.job_executions(:a, -1);
SELECT * FROM jobsched.job_executions(:a, NULL);
SELECT * FROM jobsched.job_executions(999999);

-- the overview
SELECT id = :a AS is_a, name, schedule, type, active, last_run_for, last_status, last_http_status
FROM jobsched.job_status ORDER BY id;

-- alerts have a NOTIFY trigger; the payload is checked by the integration tests
INSERT INTO jobsched.alerts (job_id, kind, url, message) VALUES (:a, 'failed', 'http://127.0.0.1:9/a2', 'test');
SELECT kind, url, message FROM jobsched.alerts WHERE job_id = :a;

-- stats answer even with the worker disabled
SELECT active_jobs, due_now, in_flight FROM jobsched.stats;

-- delete: the job, its history and its alerts
SELECT jobsched.delete_job(:a);
SELECT count(*) FROM jobsched.jobs WHERE id = :a;
SELECT count(*) FROM jobsched.executions WHERE job_id = :a;
SELECT count(*) FROM jobsched.alerts WHERE job_id = :a;
SELECT jobsched.delete_job(:a);
SELECT count(*) AS jobs_left FROM jobsched.jobs;
