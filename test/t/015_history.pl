# History at scale (issue 15): unfinished runs apart from an append-only
# history partitioned by time, and claims that do not rewrite the job row
# with new index entries.
#
#  - a run leaves jobsched.runs when it finishes and is appended once to a
#    partition of jobsched.history; the worker keeps partitions ahead;
#  - the claims are HOT updates (no new index entries), and the jobs table
#    does not grow while its jobs fire;
#  - the retention drops whole partitions (and deletes what no partition
#    holds by age); pg_dump keeps the partitions (010), the update moves 1.0's
#    history (009).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";
use JobschedTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

my $node = new_jobsched_node('history', "jobsched.history_retention = 1\n");
my $sink = start_sink();
my $url = $sink->{url};

# the worker makes the partitions of now and the next two periods (1 minute
# for a retention of 1 minute) before it claims anything
$node->poll_query_until('postgres',
	"SELECT count(*) >= 3 FROM jobsched.history_partitions() WHERE to_time > now()")
  or die 'the worker made no history partitions';
pass('the worker makes history partitions ahead');
is(query_value($node, "SELECT count(*) FROM jobsched.history_partitions()
	WHERE to_time - from_time <> interval '1 minute'"), '0',
	'... a minute each for a retention of a minute');

# 200 jobs every second, created paused and resumed at once
query_value($node, "SELECT count(jobsched.create_job('* * * * * *', '$url/ok?j=' || i, active => false))
	FROM generate_series(1, 200) i");
my $jobs_size = query_value($node, "SELECT pg_relation_size('jobsched.jobs')");
query_value($node, "UPDATE jobsched.jobs SET active = true");
# the claims' updates only (resuming moved every job to a due step: not HOT)
query_value($node, "SELECT pg_stat_reset_single_table_counters('jobsched.jobs'::regclass)");
$node->poll_query_until('postgres',
	"SELECT count(*) >= 1400 FROM jobsched.history")
  or die 'runs did not reach the history';
sleep 1;

my $hot = query_value($node, "SELECT n_tup_hot_upd || ' ' || n_tup_upd FROM pg_stat_user_tables
	WHERE relid = 'jobsched.jobs'::regclass");
my ($hot_upd, $upd) = split / /, $hot;
note "jobs: $hot_upd HOT updates of $upd";
cmp_ok($upd, '>=', 1000, "the claims updated the jobs ($upd updates)");
cmp_ok($hot_upd / $upd, '>=', 0.75, 'at least 3 claims in 4 are HOT updates (no index entry)');
cmp_ok(query_value($node, "SELECT pg_relation_size('jobsched.jobs')"), '<=', 3 * $jobs_size + 8192 * 4,
	'the jobs table does not grow with its claims');

# every finished run is in history, once, and none is left in runs but those in flight
my $counts = query_value($node, q{
	SELECT (SELECT count(*) FROM jobsched.runs WHERE status = 'running' AND started_at < now() - interval '5 seconds'),
		   (SELECT count(*) FROM (SELECT job_id, scheduled_for, attempt FROM jobsched.history
								  GROUP BY 1, 2, 3 HAVING count(*) > 1) d),
		   (SELECT count(*) FROM jobsched.history h WHERE NOT EXISTS (
				SELECT 1 FROM jobsched.history_partitions() p
				WHERE h.finished_at >= p.from_time AND h.finished_at < p.to_time))});
is($counts, '0|0|0', 'runs holds only what is in flight; each finished attempt is in history once, in the partition of its time');
is(query_value($node, q{SELECT count(*) FROM jobsched.executions e
	WHERE e.status = 'succeeded' AND NOT EXISTS (SELECT 1 FROM jobsched.history h WHERE h.id = e.id)}),
	'0', 'jobsched.executions shows the history');
my $via_view = query_value($node, q{SELECT count(*) FROM jobsched.job_executions(
	(SELECT min(id) FROM jobsched.jobs), 100)});
cmp_ok($via_view, '>=', 5, "job_executions() reads the history ($via_view rows)");

# the worker's ids and the arrivals agree
my $arrived = scalar @{ sink_requests($sink) };
cmp_ok($arrived, '>=', query_value($node, "SELECT count(*) FROM jobsched.history WHERE status = 'succeeded'"),
	'every succeeded attempt arrived');

# the retention drops whole partitions: one made for ten minutes ago, with a
# row in it, goes at the worker's next pass (every 10 s)
query_value($node, "UPDATE jobsched.jobs SET active = false");
query_value($node, "SELECT jobsched.maintain_history(interval '1 hour', now() - interval '10 minutes')");
my $old = query_value($node, "SELECT partition FROM jobsched.history_partitions()
	WHERE from_time <= now() - interval '10 minutes' AND to_time > now() - interval '10 minutes'");
like($old, qr/^jobsched\.history_\d{8}_\d{4}$/, "a partition for ten minutes ago ($old)");
query_value($node, "INSERT INTO jobsched.executions (job_id, scheduled_for, status, started_at, finished_at)
	SELECT min(id), now() - interval '10 minutes', 'succeeded', now() - interval '10 minutes',
		   now() - interval '10 minutes' FROM jobsched.jobs");
is(query_value($node, "SELECT count(*) FROM $old"), '1', '... holds the old row written through the view');
$node->poll_query_until('postgres',
	"SELECT NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = to_regclass('$old'))", 't')
  or fail('the old partition was not dropped');
pass('the worker drops a partition past the retention, whole');
is(query_value($node, "SELECT count(*) FROM jobsched.executions WHERE finished_at < now() - interval '5 minutes'"),
	'0', '... and its rows are gone');
like(slurp_file($node->logfile), qr/jobsched: scheduler started/, 'the worker ran');
unlike(slurp_file($node->logfile), qr/no partition of relation/, 'no result ever missed its partition');

$node->stop;
stop_sink($sink);
done_testing();
