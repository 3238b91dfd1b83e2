# Misfire and overlap policies, settings reloaded on SIGHUP, history
# retention, a clean stop with runs claimed ahead of time, and a standby
# that only starts firing once promoted.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/..";
use JobschedTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $sink = start_sink();
my $url = $sink->{url};
my $node = new_jobsched_node('policies', "jobsched.misfire_grace = 3s\n", allows_streaming => 1);

sub set_and_reload
{
	my ($setting) = @_;
	$node->safe_psql('postgres', "ALTER SYSTEM SET $setting");
	$node->reload;
}

# --- misfires: while the scheduler is disabled, runs are missed
my $run_once = query_value($node,
	"SELECT jobsched.create_job('* * * * * *', '$url/misfire-once', misfire => 'run_once')");
my $skip = query_value($node,
	"SELECT jobsched.create_job('* * * * * *', '$url/misfire-skip', misfire => 'skip')");
$node->poll_query_until('postgres',
	"SELECT count(DISTINCT job_id) = 2 FROM jobsched.executions WHERE status = 'succeeded'")
  or die "jobs did not fire";
set_and_reload("jobsched.enabled = off");
$node->poll_query_until('postgres', "SELECT worker_state = 'disabled' FROM jobsched.stats")
  or die "worker did not notice jobsched.enabled = off";
sleep 8;
set_and_reload("jobsched.enabled = on");
$node->poll_query_until('postgres', qq{
	SELECT count(*) = 2 FROM jobsched.jobs
	WHERE id IN ($run_once, $skip) AND next_run_at > now()})
  or die "jobs did not catch up";
sleep 2;
is(query_value($node,
	"SELECT count(*) FROM jobsched.executions WHERE job_id = $run_once AND lateness > '3 s'"),
	'1', 'misfire run_once: the missed window fires once');
is(query_value($node,
	"SELECT count(*) FROM jobsched.executions WHERE job_id = $skip AND lateness > '3 s'"),
	'0', 'misfire skip: missed runs do not fire');
# ~10 s were missed per job; only the grace period (3 s) is caught up
cmp_ok(query_value($node, qq{
	SELECT count(*) FROM jobsched.executions
	WHERE job_id IN ($run_once, $skip) AND lateness > '0.5 s'}),
	'<=', 1 + 2 * 4, 'no flood of missed runs: at most the grace period is caught up');
query_value($node, "SELECT jobsched.delete_job($run_once), jobsched.delete_job($skip)");

# --- a job whose next time cannot be computed any more stops alone
# (its time zone is made unknown behind the validation trigger's back)
my $broken = query_value($node,
	"SELECT jobsched.create_job('* * * * * *', '$url/broken')");
my $healthy = query_value($node,
	"SELECT jobsched.create_job('* * * * * *', '$url/healthy')");
$node->safe_psql('postgres', qq{
	ALTER TABLE jobsched.jobs DISABLE TRIGGER jobs_before_update;
	UPDATE jobsched.jobs SET timezone = 'No/Such_Zone' WHERE id = $broken;
	ALTER TABLE jobsched.jobs ENABLE TRIGGER jobs_before_update;});
$node->poll_query_until('postgres',
	"SELECT next_run_at IS NULL FROM jobsched.jobs WHERE id = $broken")
  or die "the broken job kept a next run";
my $healthy_runs = query_value($node,
	"SELECT count(*) FROM jobsched.executions WHERE job_id = $healthy");
$node->poll_query_until('postgres',
	"SELECT count(*) > $healthy_runs + 1 FROM jobsched.executions WHERE job_id = $healthy")
  or die "the healthy job stopped";
pass('a job whose next run cannot be computed stops; the others keep firing');
query_value($node, "SELECT jobsched.delete_job($broken), jobsched.delete_job($healthy)");

# --- overlap skip: a run does not start while the previous one is in flight
my $overlap = query_value($node,
	"SELECT jobsched.create_job('* * * * * *', '$url/slow/2500', overlap => 'skip', max_retries => 0)");
sleep 7;
query_value($node, "SELECT jobsched.pause_job($overlap)");
$node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM jobsched.executions WHERE job_id = $overlap AND status = 'running'")
  or die "overlap job did not finish";
my ($runs, $span) = split /\|/, query_value($node, qq{
	SELECT count(*), extract(epoch FROM max(scheduled_for) - min(scheduled_for))::int + 1
	FROM jobsched.executions WHERE job_id = $overlap});
cmp_ok($runs, '>=', 2, 'overlap skip: the job fired');
cmp_ok($runs, '<', $span, "overlap skip: fewer runs ($runs) than seconds ($span)");
is(query_value($node, qq{
	SELECT count(*) FROM jobsched.executions a JOIN jobsched.executions b
	  ON a.job_id = b.job_id AND a.id < b.id
	WHERE a.job_id = $overlap AND b.started_at < a.finished_at}),
	'0', 'overlap skip: no two runs were in flight at once');

# --- per-host cap: requests beyond jobsched.max_host_connections to one
# host wait for a free slot; requests to another host do not wait
set_and_reload("jobsched.max_host_connections = 2");
my $other_host = $url =~ s/127\.0\.0\.1/localhost/r;
query_value($node, qq{
	SELECT count(jobsched.create_job('0 0 0 1 1 *', '$url/slow/3000?capped=' || i, max_retries => 0))
	FROM generate_series(1, 6) i;
	SELECT jobsched.create_job('0 0 0 1 1 *', '$other_host/uncapped', max_retries => 0);
	SELECT count(jobsched.trigger_job(id)) FROM jobsched.jobs WHERE url LIKE '%capped%'});
$node->poll_query_until('postgres', qq{
	SELECT count(*) = 1 FROM jobsched.executions e JOIN jobsched.jobs j ON j.id = e.job_id
	WHERE j.url LIKE '%/uncapped' AND e.status = 'succeeded'})
  or die "the request to the other host did not succeed";
cmp_ok(query_value($node, "SELECT queued FROM jobsched.stats"), '>=', 3,
	'per-host cap: requests over the cap wait (counted as queued)');
$node->poll_query_until('postgres', qq{
	SELECT count(*) = 6 FROM jobsched.executions e JOIN jobsched.jobs j ON j.id = e.job_id
	WHERE j.url LIKE '%capped=%' AND e.status = 'succeeded'}, 't')
  or die "the capped requests did not all succeed";
my @arrivals = sort { $a <=> $b } map { $_->{t} }
  grep { $_->{path} =~ /capped=/ } @{ wait_for_sink($sink, 'the capped requests',
	sub { (grep { $_->{path} =~ /capped=/ } @{ $_[0] }) >= 6 }, 30) };
my @too_close = grep { $arrivals[ $_ + 2 ] - $arrivals[$_] < 2.5 } 0 .. $#arrivals - 2;
is(scalar(@too_close), 0,
	'per-host cap: never more than 2 requests at once to one host (arrivals in pairs 3 s apart)');
set_and_reload("jobsched.max_host_connections = 64");

# --- retention: finished executions older than the setting are purged,
# even behind more retries waiting far ahead than one purge batch reads
# (10,000), which hold the oldest ids
query_value($node, qq{
	INSERT INTO jobsched.executions (job_id, scheduled_for, status, attempt, retry_at)
	SELECT $overlap, now() - '3 days'::interval - i * interval '1 s', 'retrying', 2,
		   now() + '1 day'::interval
	FROM generate_series(1, 10001) i});
query_value($node, qq{
	INSERT INTO jobsched.executions (job_id, scheduled_for, status, started_at, finished_at)
	SELECT $overlap, now() - '3 days'::interval + i * interval '1 s', s, now() - '3 days'::interval,
		   CASE WHEN s <> 'running' THEN now() - '3 days'::interval END
	FROM unnest(ARRAY['succeeded', 'failed', 'running']) WITH ORDINALITY AS u(s, i)});
set_and_reload("jobsched.history_retention = '2d'");
$node->poll_query_until('postgres',
	"SELECT count(*) = 10002 FROM jobsched.executions WHERE scheduled_for < now() - '2 days'::interval")
  or die "old executions were not purged";
is(query_value($node, qq{
	SELECT status || ':' || count(*) FROM jobsched.executions
	WHERE scheduled_for < now() - '2 days'::interval GROUP BY status ORDER BY status}),
	"retrying:10001\nrunning:1", 'retention purges old finished executions, never unfinished ones');
query_value($node, "DELETE FROM jobsched.executions WHERE status = 'retrying' AND job_id = $overlap");
cmp_ok(query_value($node, "SELECT count(*) FROM jobsched.executions WHERE job_id = $overlap"),
	'>=', 3, 'recent executions are kept');

# --- a clean stop puts runs claimed ahead back, so ATMOST_ONCE loses none
set_and_reload("jobsched.lookahead = '8s'");
my $ahead = query_value($node,
	"SELECT jobsched.create_job('* * * * * *', '$url/ahead', 'ATMOST_ONCE')");
$node->poll_query_until('postgres',
	"SELECT queued >= 4 FROM jobsched.stats")
  or die "runs were not claimed ahead";
# the reset takes effect at the restart: the running worker keeps its 8 s
$node->safe_psql('postgres', "ALTER SYSTEM RESET jobsched.lookahead");
$node->stop('fast');
$node->start;
$node->poll_query_until('postgres', qq{
	SELECT count(*) = 0 FROM jobsched.executions
	WHERE job_id = $ahead AND status IN ('running', 'retrying')})
  or die "requeued runs were not sent";
query_value($node, "SELECT jobsched.pause_job($ahead)");
sleep 1;
is(query_value($node,
	"SELECT count(*) FROM jobsched.executions WHERE job_id = $ahead AND status = 'lost'"),
	'0', 'runs claimed but not sent before a clean stop are not lost');
my $sent = query_value($node,
	"SELECT count(*) FROM jobsched.executions WHERE job_id = $ahead AND status = 'succeeded'");
my $requests = wait_for_sink($sink, 'the requeued runs',
	sub { (grep { $_->{path} eq '/ahead' } @{ $_[0] }) >= $sent }, 30);
my %keys;
$keys{ $_->{idempotency_key} }++ for grep { $_->{path} eq '/ahead' } @$requests;
is(scalar(keys %keys), $sent, "... all $sent were sent");
is(scalar(grep { $_ != 1 } values %keys), 0, '... each once');

# --- a standby does not fire; after promotion it does
query_value($node, "SELECT jobsched.delete_job(id) FROM jobsched.jobs");
my $standby_job = query_value($node,
	"SELECT jobsched.create_job('* * * * * *', '$url/standby', active => false)");
$node->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($node, 'b', has_streaming => 1);
$standby->start;
$node->wait_for_catchup($standby);
query_value($node, "SELECT jobsched.resume_job($standby_job)");
$node->wait_for_catchup($standby);
sleep 2;
is($standby->safe_psql('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'jobsched scheduler'"),
	'0', 'no scheduler runs on a standby');
$node->stop;
my $before = scalar grep { $_->{path} eq '/standby' } @{ sink_requests($sink) };
$standby->promote;
$standby->poll_query_until('postgres',
	"SELECT count(*) >= 2 FROM jobsched.executions WHERE job_id = $standby_job AND status = 'succeeded'")
  or die "the promoted standby did not fire";
pass('after promotion the scheduler fires');
wait_for_sink($sink, 'requests from the promoted node',
	sub { (grep { $_->{path} eq '/standby' } @{ $_[0] }) > $before }, 30);
pass('... and the target receives the requests');

$standby->stop;
stop_sink($sink);
done_testing();
