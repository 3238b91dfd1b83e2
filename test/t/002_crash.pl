# Crashes with requests in flight.  After a restart every claimed execution
# reaches a final status: ATLEAST_ONCE runs are sent again with the same
# Idempotency-Key; ATMOST_ONCE runs are never sent twice, they become lost
# and raise an alert.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/..";
use JobschedTest;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

my $sink = start_sink();
my $url = $sink->{url};
my $node = new_jobsched_node('crash', "jobsched.max_in_flight = 1000\njobsched.max_host_connections = 1000\nrestart_after_crash = on\n");

# $n jobs of each type, fired at once, each held by the target for 4 s.
sub fire_slow_runs
{
	my ($n, $tag) = @_;
	query_value($node, qq{
		SELECT count(jobsched.create_job('0 0 0 1 1 *', '$url/slow/4000?$tag-al=' || i,
										 'ATLEAST_ONCE', max_retries => 0))
		FROM generate_series(1, $n) i;
		SELECT count(jobsched.create_job('0 0 0 1 1 *', '$url/slow/4000?$tag-am=' || i,
										 'ATMOST_ONCE', max_retries => 0))
		FROM generate_series(1, $n) i;
		SELECT count(jobsched.trigger_job(id)) FROM jobsched.jobs WHERE url LIKE '%?$tag-%';});
	wait_for_sink($sink, "$n + $n requests in flight",
		sub { (grep { $_->{path} =~ /\?$tag-/ } @{ $_[0] }) >= 2 * $n }, 60);
}

# kill -9 the postmaster, wait for all its children to notice and exit
# (they hold its shared memory), and start it again.
sub crash_and_restart
{
	my @pids = split /\n/, query_value($node, "SELECT pid FROM pg_stat_activity");
	$node->kill9;
	my $deadline = time() + 60;
	while (grep { kill 0, $_ } @pids)
	{
		die "server processes did not exit after the postmaster died" if time() > $deadline;
		usleep(100_000);
	}
	$node->start;
}

sub check_recovery
{
	my ($n, $tag, $what) = @_;
	$node->poll_query_until('postgres', qq{
		SELECT count(*) = 0 FROM jobsched.executions e JOIN jobsched.jobs j ON j.id = e.job_id
		WHERE j.url LIKE '%?$tag-%' AND e.status IN ('running', 'retrying')})
	  or die "executions did not reach a final status after $what";
	is(query_value($node, qq{
		SELECT j.type || ':' || e.status || ':' || e.sends || ':' || count(*)
		FROM jobsched.executions e JOIN jobsched.jobs j ON j.id = e.job_id
		WHERE j.url LIKE '%?$tag-%'
		GROUP BY j.type, e.status, e.sends ORDER BY 1}),
		"ATLEAST_ONCE:succeeded:2:$n\nATMOST_ONCE:lost:1:$n",
		"$what: ATLEAST_ONCE runs sent again and succeeded, ATMOST_ONCE runs lost");
	is(query_value($node, qq{
		SELECT count(*) FROM jobsched.alerts a JOIN jobsched.jobs j ON j.id = a.job_id
		WHERE a.kind = 'lost' AND j.type = 'ATMOST_ONCE' AND j.url LIKE '%?$tag-%'}),
		$n, "$what: one lost alert per ATMOST_ONCE run");

	# wait for the re-sent requests to reach the sink log
	my $requests = wait_for_sink($sink, 'the re-sent requests',
		sub { (grep { $_->{path} =~ /\?$tag-al=/ } @{ $_[0] }) >= 2 * $n }, 30);
	my (%al, %am);
	for my $r (@$requests)
	{
		$al{ $r->{idempotency_key} }++ if $r->{path} =~ /\?$tag-al=/;
		$am{ $r->{idempotency_key} }++ if $r->{path} =~ /\?$tag-am=/;
	}
	is(scalar(keys %al), $n, "$what: every ATLEAST_ONCE run reached the target");
	is(scalar(grep { $_ == 2 } values %al), $n,
		"$what: ... each twice, with the same Idempotency-Key");
	is(scalar(keys %am), $n, "$what: every ATMOST_ONCE run reached the target");
	is(scalar(grep { $_ != 1 } values %am), 0, "$what: ... and none twice");
}

# --- kill -9 of the postmaster
fire_slow_runs(200, 'pm');
is(query_value($node,
	"SELECT count(*) FROM jobsched.executions WHERE status = 'running'"),
	'400', '400 requests in flight');
crash_and_restart();
check_recovery(200, 'pm', 'postmaster kill -9');

# --- kill -9 of the worker alone (the postmaster then resets every process)
fire_slow_runs(100, 'wk');
my $pid = query_value($node, "SELECT worker_pid FROM jobsched.stats");
ok($pid > 0, 'the worker is running');
kill 'KILL', $pid;
check_recovery(100, 'wk', 'worker kill -9');
like(slurp_file($node->logfile),
	qr/jobsched: recovered interrupted executions: 100 to send again \(ATLEAST_ONCE\), 100 lost \(ATMOST_ONCE\)/,
	'the worker logs what it recovered');

$node->stop;
stop_sink($sink);
done_testing();
