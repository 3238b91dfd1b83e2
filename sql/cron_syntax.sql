--
-- The cron engine through SQL: next_fire() and next_runs() on every syntax,
-- time zones, and the error for each kind of bad expression.
--
SET timezone = 'UTC';
\set SHOW_CONTEXT never

-- 6 fields (seconds first) and classic 5 fields
SELECT * FROM jobsched.next_runs('*/15 * * * * *', 5, '2024-01-01 00:00:00+00');
SELECT * FROM jobsched.next_runs('*/20 * * * *', 4, '2024-01-01 00:00:00+00');
SELECT * FROM jobsched.next_runs('31 10-15 1 * * MON-FRI', 8, '2024-01-05 00:00:00+00');
-- lists, ranges with steps, names in ranges, 0 and 7 are Sunday
SELECT * FROM jobsched.next_runs('0 0 1,5,9 * * *', 4, '2024-01-01 00:00:00+00');
SELECT * FROM jobsched.next_runs('10-40/15 0 0 * * *', 4, '2024-01-01 00:00:00+00');
SELECT * FROM jobsched.next_runs('0 0 12 * jan-mar sun', 3, '2024-01-01 00:00:00+00');
SELECT to_char(t, 'Dy') FROM jobsched.next_runs('0 0 0 * * 5-7', 4, '2024-01-01 00:00:00+00') t;
SELECT to_char(t, 'Dy') FROM jobsched.next_runs('0 0 * * 0', 1, '2024-01-01 00:00:00+00') t;
SELECT to_char(t, 'Dy') FROM jobsched.next_runs('0 0 * * 7', 1, '2024-01-01 00:00:00+00') t;
-- Vixie rule: both day fields restricted means either matches
SELECT * FROM jobsched.next_runs('0 0 0 13 * FRI', 4, '2024-09-01 00:00:00+00');
-- macros
SELECT m, jobsched.next_fire(m, 'UTC', '2024-05-15 10:20:30+00')
FROM unnest(ARRAY['@yearly', '@annually', '@monthly', '@weekly', '@daily',
				  '@midnight', '@hourly']) m;
-- leap days and month ends
SELECT * FROM jobsched.next_runs('0 0 29 2 *', 3, '2024-03-01 00:00:00+00');
SELECT * FROM jobsched.next_runs('0 0 0 31 * *', 4, '2024-01-31 00:00:00+00');
-- time zones, DST: Berlin springs forward at 02:00 on 2024-03-31
SELECT t, t AT TIME ZONE 'Europe/Berlin' AS berlin
FROM jobsched.next_runs('0 30 2 * * *', 3, '2024-03-29 12:00:00+00', 'Europe/Berlin') t;
-- and falls back at 03:00 on 2024-10-27: 02:30 happens twice, fires once
SELECT t, t AT TIME ZONE 'Europe/Berlin' AS berlin
FROM jobsched.next_runs('0 30 2 * * *', 3, '2024-10-25 12:00:00+00', 'Europe/Berlin') t;
-- every-hour jobs keep their rhythm through the repeated hour
SELECT t, t AT TIME ZONE 'America/New_York' AS new_york
FROM jobsched.next_runs('0 30 * * * *', 4, '2024-11-03 04:00:00+00', 'America/New_York') t;
-- "from" is exclusive, fractions included
SELECT jobsched.next_fire('* * * * * *', 'UTC', '2024-01-01 00:00:00+00');
SELECT jobsched.next_fire('* * * * * *', 'UTC', '2024-01-01 00:00:00.5+00');
SELECT count(*) FROM jobsched.next_runs('* * * * * *', 0);

-- errors: each names what is wrong
SELECT jobsched.next_fire('61 * * * * *', 'UTC', now());
SELECT jobsched.next_fire('* 60 * * * *', 'UTC', now());
SELECT jobsched.next_fire('* * 24 * * *', 'UTC', now());
SELECT jobsched.next_fire('* * * 0 * *', 'UTC', now());
SELECT jobsched.next_fire('* * * * 13 *', 'UTC', now());
SELECT jobsched.next_fire('* * * * * 8', 'UTC', now());
SELECT jobsched.next_fire('* * * *', 'UTC', now());
SELECT jobsched.next_fire('* * * * * * *', 'UTC', now());
SELECT jobsched.next_fire('', 'UTC', now());
SELECT jobsched.next_fire('*/0 * * * * *', 'UTC', now());
SELECT jobsched.next_fire('20-10 * * * * *', 'UTC', now());
SELECT jobsched.next_fire('abc * * * * *', 'UTC', now());
SELECT jobsched.next_fire('1,,2 * * * * *', 'UTC', now());
SELECT jobsched.next_fire('0 0 0 * MON *', 'UTC', now());
SELECT jobsched.next_fire('@often', 'UTC', now());
SELECT jobsched.next_fire('0 0 0 30 FEB *', 'UTC', now());
SELECT jobsched.next_fire('0 0 0 31 APR,JUN,SEP,NOV *', 'UTC', now());
SELECT jobsched.next_fire('* * * * * *', 'Mars/Olympus_Mons', now());
SELECT jobsched.next_fire('* * * * * *', 'UTC', 'infinity');
SELECT * FROM jobsched.next_runs('* * * * * *', -1);
SELECT * FROM jobsched.next_runs('* * * * * *', 10001);
SELECT * FROM jobsched.next_runs(NULL, 1);
SELECT * FROM jobsched.next_runs('* * * * * *', 1, now(), NULL);
