# 1,000 jobs every second for about ten seconds: every scheduled run is
# present exactly once in the history, succeeded, and reached the target
# exactly once.  (How late they were is for bench/, not for a test.)
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/..";
use JobschedTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $jobs = 1000;
my $sink = start_sink();
my $url = $sink->{url};
my $node = new_jobsched_node('load', "jobsched.max_in_flight = 500\n");

query_value($node, qq{
	SELECT count(jobsched.create_job('* * * * * *', '$url/load/' || i, max_retries => 0))
	FROM generate_series(1, $jobs) i});
sleep 11;
query_value($node, "UPDATE jobsched.jobs SET active = false");
$node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM jobsched.executions WHERE status IN ('running', 'retrying')")
  or die "executions did not finish";

is(query_value($node, qq{
	SELECT count(*) FROM (SELECT job_id, scheduled_for FROM jobsched.executions
						  GROUP BY 1, 2 HAVING count(*) > 1) d}),
	'0', 'no run was fired twice');
is(query_value($node, qq{
	SELECT count(*) FROM (
		SELECT job_id, count(*) AS runs,
			   extract(epoch FROM max(scheduled_for) - min(scheduled_for))::int + 1 AS seconds
		FROM jobsched.executions GROUP BY job_id) s
	WHERE runs <> seconds}),
	'0', 'no job skipped a second');
# the last second may be cut by the pause, and the first by the creation
# (each job fires from the clock at its own INSERT, so 1,000 created across
# a second boundary start a second apart); every second between is whole
my $middle = qq{
	SELECT scheduled_for, count(*) AS jobs FROM jobsched.executions
	WHERE scheduled_for < (SELECT max(scheduled_for) FROM jobsched.executions)
	  AND scheduled_for > (SELECT min(scheduled_for) FROM jobsched.executions)
	GROUP BY 1};
my $whole = query_value($node, "SELECT count(*) FROM ($middle) s WHERE jobs = $jobs");
cmp_ok($whole, '>=', 7, "at least 7 seconds with all $jobs jobs fired");
is(query_value($node, "SELECT count(*) FROM ($middle) s WHERE jobs <> $jobs"),
	'0', 'no second between the first and the pause is missing a job');
is(query_value($node, "SELECT string_agg(DISTINCT status, ',') FROM jobsched.executions"),
	'succeeded', 'all succeeded');

my $total = query_value($node, "SELECT count(*) FROM jobsched.executions");
my $requests = wait_for_sink($sink, 'every request',
	sub { (grep { $_->{path} =~ m{^/load/} } @{ $_[0] }) >= $total }, 30);
my %keys;
$keys{ $_->{idempotency_key} }++ for grep { $_->{path} =~ m{^/load/} } @$requests;
is(scalar(keys %keys), $total, "the target received all $total runs");
is(scalar(grep { $_ != 1 } values %keys), 0, '... each exactly once');
note "executions: $total";

# Nothing is in flight or queued now, so the memory the worker holds for
# requests must be back to (almost) nothing: a few bytes kept per request
# would show here as hundreds of kilobytes.
$node->poll_query_until('postgres', "SELECT in_flight = 0 AND queued = 0 FROM jobsched.stats")
  or die "requests still in flight or queued";
my $log_offset = -s $node->logfile;
query_value($node, "SELECT pg_log_backend_memory_contexts(worker_pid) FROM jobsched.stats");
my $used;
my $deadline = time() + 30;
until (defined $used or time() > $deadline)
{
	($used) = substr(slurp_file($node->logfile), $log_offset) =~ /jobsched requests: .*? (\d+) used/;
	sleep 1 unless defined $used;
}
ok(defined $used, "the worker logged its memory contexts");
cmp_ok($used // 1e9, '<', 64 * 1024,
	"after $total requests, the worker's request memory is released (" . ($used // '?') . " bytes used)");

$node->stop;
stop_sink($sink);
done_testing();
