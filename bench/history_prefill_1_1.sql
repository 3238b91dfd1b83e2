-- bench/history.sh PREFILL_SQL for jobsched 1.1: :n finished runs of :jobs jobs scheduled evenly over
-- [:lo, :hi) (Unix seconds), appended to jobsched.history in time order.  The partitions for that range are made
-- first, of the period the worker uses for the run's retention (:retention_min, jobsched.history_period()), on the
-- same boundaries, so that they fit with the ones the worker makes.  (2026-12-01's run used the server's setting,
-- 0 during the pre-fill: one-day partitions, never dropped at 1 h or 24 h -- scenario 3's after figures are void.)
-- A build without jobsched.history (before 1.1's storage) gets the same rows in its executions table.
SELECT to_regclass('jobsched.history') IS NOT NULL AS partitioned \gset
\if :partitioned
SELECT set_config('prefill.lo', :'lo', false), set_config('prefill.hi', :'hi', false),
	   set_config('prefill.retention_min', :'retention_min', false);
DO $$
DECLARE
	-- the retention of the run that follows (history.sh passes it; the server's may still be 0 then)
	period interval := jobsched.history_period(make_interval(mins => current_setting('prefill.retention_min')::int));
	lo timestamptz := date_bin(period, to_timestamp(current_setting('prefill.lo')::float8), timestamptz '2000-01-01 00:00:00+00');
	hi timestamptz := to_timestamp(current_setting('prefill.hi')::float8);
	part text;
	made record;
	empty boolean;
BEGIN
	-- The worker made partitions at start-up for the retention then in force (0 while the pre-fill runs: one day
	-- each, today's covering every row to come).  A cluster that had run with the run's retention all along has
	-- partitions of its period instead: drop the worker's while they are still empty (2026-12-01's second run
	-- wrote both retention runs into one-day partitions, never dropped).
	FOR made IN SELECT p.partition FROM jobsched.history_partitions() p
				WHERE p.to_time > lo AND p.to_time - p.from_time <> period LOOP
		EXECUTE format('SELECT NOT EXISTS (SELECT 1 FROM %s)', made.partition) INTO empty;
		IF empty THEN
			EXECUTE format('DROP TABLE %s', made.partition);
		ELSE
			RAISE WARNING 'pre-fill: partition % is not of the period %, and not empty: kept', made.partition, period;
		END IF;
	END LOOP;
	WHILE lo <= hi LOOP
		IF NOT EXISTS (SELECT 1 FROM jobsched.history_partitions() p WHERE p.from_time < lo + period AND p.to_time > lo) THEN
			part := 'history_' || to_char(lo AT TIME ZONE 'UTC', 'YYYYMMDD_HH24MI');
			EXECUTE format('CREATE TABLE jobsched.%I PARTITION OF jobsched.history FOR VALUES FROM (%L) TO (%L)',
						   part, lo, lo + period);
			EXECUTE format('CREATE INDEX ON jobsched.%I (job_id, scheduled_for)', part);
			EXECUTE format('CREATE INDEX ON jobsched.%I USING brin (id)', part);
		END IF;
		lo := lo + period;
	END LOOP;
END
$$;
INSERT INTO jobsched.history (id, job_id, scheduled_for, attempt, status, started_at, finished_at, http_status,
							  response_body, sends)
SELECT nextval('jobsched.executions_id_seq'), 1 + i % :jobs, s, 1, 'succeeded', s + interval '30 ms',
	   s + interval '35 ms', 200, E'ok\n', 1
FROM (SELECT i, to_timestamp(:lo + floor(i * (:hi - :lo)::numeric / :n)) s FROM generate_series(0, :n - 1) i) g
ORDER BY i;
\else
INSERT INTO jobsched.executions (job_id, scheduled_for, attempt, status, started_at, finished_at, http_status,
								 response_body, sends)
SELECT 1 + i % :jobs, s, 1, 'succeeded', s + interval '30 ms', s + interval '35 ms', 200, E'ok\n', 1
FROM (SELECT i, to_timestamp(:lo + floor(i * (:hi - :lo)::numeric / :n)) s FROM generate_series(0, :n - 1) i) g
ORDER BY i;
\endif
