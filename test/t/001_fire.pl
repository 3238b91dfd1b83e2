# The worker fires jobs: history, even-second schedules, modify / pause /
# resume / trigger / delete, retries ending in an alert and a NOTIFY, timeouts,
# and a slow target that does not hold up a fast one.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/..";
use JobschedTest;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use JSON::PP;
use Time::HiRes qw(usleep);

my $sink = start_sink();
my $url = $sink->{url};
my $node = new_jobsched_node('fire');

sub requests_to
{
	my ($path) = @_;
	return [ grep { $_->{path} eq $path } @{ sink_requests($sink) } ];
}

# --- a job every second: history with status, code, duration, lateness
my $every = query_value($node,
	"SELECT jobsched.create_job('* * * * * *', '$url/every', body => '{\"hello\": 1}')");
$node->poll_query_until('postgres',
	"SELECT count(*) >= 3 FROM jobsched.executions WHERE job_id = $every AND status = 'succeeded'")
  or die "job every second did not fire";
my $bad = query_value($node, qq{
	SELECT count(*) FROM jobsched.job_executions($every, 100)
	WHERE status = 'succeeded' AND NOT (http_status = 200 AND duration >= '0'
		AND lateness >= '0' AND attempt = 1 AND sends = 1
		AND scheduled_for = date_trunc('second', scheduled_for))});
is($bad, '0', 'succeeded runs record code 200, a duration and a non-negative lateness');
wait_for_sink($sink, 'three POSTs', sub { (grep { $_->{path} eq '/every' } @{ $_[0] }) >= 3 }, 30);
my $keys = requests_to('/every');
ok(@$keys >= 3, 'the sink received the POSTs');
like($keys->[0]{idempotency_key}, qr/^jobsched-$every-\d+$/, 'each carries an Idempotency-Key');
is($keys->[0]{method}, 'POST', 'method is POST');
is($keys->[0]{body}, '{"hello": 1}', 'the body is sent');
is($keys->[0]{headers}{'content-type'}, 'application/json', 'default content type');
my %distinct = map { $_->{idempotency_key} => 1 } @$keys;
is(scalar(keys %distinct), scalar(@$keys), 'every run has its own key');

# --- what a job says is what is sent: a POST without a body has no
# Content-Type (libcurl's form type would describe a body that is not there),
# a header with an empty value goes out empty, a job's own Content-Type wins
my $bare = query_value($node, qq{
	SELECT jobsched.create_job('0 0 0 1 1 *', '$url/bare', headers => '{"X-Empty": "", "X-Full": "v"}')});
my $typed = query_value($node, qq{
	SELECT jobsched.create_job('0 0 0 1 1 *', '$url/typed', body => 'a=1',
							   headers => '{"Content-Type": "application/x-www-form-urlencoded"}')});
query_value($node, "SELECT jobsched.trigger_job($bare), jobsched.trigger_job($typed)");
wait_for_sink($sink, 'the bare and typed POSTs',
	sub { (grep { $_->{path} eq '/bare' || $_->{path} eq '/typed' } @{ $_[0] }) >= 2 }, 30);
my ($bare_req) = @{ requests_to('/bare') };
ok(!exists $bare_req->{headers}{'content-type'}, 'a POST without a body carries no Content-Type')
  or diag explain $bare_req->{headers};
is($bare_req->{body_len}, 0, '... and no body');
is($bare_req->{headers}{'x-empty'}, '', 'a header with an empty value is sent, empty');
is($bare_req->{headers}{'x-full'}, 'v', '... beside the others');
my ($typed_req) = @{ requests_to('/typed') };
is($typed_req->{headers}{'content-type'}, 'application/x-www-form-urlencoded', "a job's own Content-Type is sent");
is($typed_req->{body}, 'a=1', '... with its body');
query_value($node, "SELECT jobsched.delete_job($bare), jobsched.delete_job($typed)");
$node->poll_query_until('postgres',
	"SELECT count(*) >= 7 FROM jobsched.executions WHERE job_id = $every")
  or die "job every second stopped firing";
my $last5 = query_value($node,
	"SELECT string_agg(status, ',') FROM jobsched.job_executions($every)");
like($last5, qr/^(succeeded|running)(,(succeeded|running)){4}$/, 'job_executions returns the last 5');

# --- */2 seconds fires on even seconds only
my $even = query_value($node,
	"SELECT jobsched.create_job('*/2 * * * * *', '$url/even')");
$node->poll_query_until('postgres',
	"SELECT count(*) >= 3 FROM jobsched.executions WHERE job_id = $even AND status = 'succeeded'")
  or die "even job did not fire";
is(query_value($node,
	"SELECT count(*) FROM jobsched.executions WHERE job_id = $even AND extract(second FROM scheduled_for)::int % 2 <> 0"),
	'0', '*/2 runs are scheduled on even seconds');
my @gaps = split /\n/, query_value($node, qq{
	SELECT DISTINCT gap FROM (
		SELECT extract(epoch FROM scheduled_for - lag(scheduled_for) OVER (ORDER BY scheduled_for))::int AS gap
		FROM jobsched.executions WHERE job_id = $even) g
	WHERE gap IS NOT NULL});
is_deeply(\@gaps, ['2'], '... two seconds apart, none missing');

# --- modify takes effect without restart; no old URL after the first new one
query_value($node, "SELECT jobsched.modify_job($every, url => '$url/every-new')");
wait_for_sink($sink, 'the modified URL', sub { grep { $_->{path} eq '/every-new' } @{ $_[0] } }, 30);
sleep 2;
my $all = sink_requests($sink);
my ($first_new) = grep { $all->[$_]{path} eq '/every-new' } 0 .. $#$all;
is(scalar(grep { $_->{path} eq '/every' } @$all[ $first_new .. $#$all ]), 0,
	'after the first request to the new URL, none goes to the old one');

# --- pause stops firing, resume starts again
query_value($node, "SELECT jobsched.pause_job($every)");
sleep 2;    # a run claimed before the pause may still be sent
my $paused_count = scalar @{ requests_to('/every-new') };
sleep 3;
is(scalar @{ requests_to('/every-new') }, $paused_count, 'a paused job does not fire');
query_value($node, "SELECT jobsched.resume_job($every)");
wait_for_sink($sink, 'the resumed job', sub { (grep { $_->{path} eq '/every-new' } @{ $_[0] }) > $paused_count }, 30);
pass('a resumed job fires again');

# --- trigger fires once now, and keeps the schedule
my $yearly = query_value($node,
	"SELECT jobsched.create_job('0 0 0 1 1 *', '$url/yearly')");
my $next_before = query_value($node, "SELECT next_run_at FROM jobsched.jobs WHERE id = $yearly");
query_value($node, "SELECT jobsched.trigger_job($yearly)");
$node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM jobsched.executions WHERE job_id = $yearly AND status = 'succeeded'")
  or die "triggered job did not fire";
wait_for_sink($sink, 'the triggered job', sub { grep { $_->{path} eq '/yearly' } @{ $_[0] } }, 30);
sleep 1;
is(scalar @{ requests_to('/yearly') }, 1, 'a triggered job fires once');
is(query_value($node, "SELECT next_run_at FROM jobsched.jobs WHERE id = $yearly"),
	$next_before, 'its next scheduled run is unchanged');
query_value($node, "SELECT jobsched.pause_job($yearly)");
query_value($node, "SELECT jobsched.trigger_job($yearly)");
$node->poll_query_until('postgres',
	"SELECT count(*) = 2 FROM jobsched.executions WHERE job_id = $yearly AND status = 'succeeded'")
  or die "triggered paused job did not fire";
is(query_value($node, "SELECT coalesce(next_run_at::text, 'none') FROM jobsched.jobs WHERE id = $yearly"),
	'none', 'a paused job fires when triggered and stays paused');

# --- delete stops it and removes its history
query_value($node, "SELECT jobsched.delete_job($every)");
sleep 2;
my $deleted_count = scalar @{ requests_to('/every-new') };
sleep 2;
is(scalar @{ requests_to('/every-new') }, $deleted_count, 'a deleted job does not fire');
is(query_value($node, "SELECT count(*) FROM jobsched.executions WHERE job_id = $every"), '0',
	'its history is gone');
query_value($node, "SELECT jobsched.delete_job($even)");

# --- a failing target: retries, then one alert and a NOTIFY to a listener
# psql prints notifications that arrive while it runs a script
my $listen_script = PostgreSQL::Test::Utils::tempdir() . '/listen.sql';
PostgreSQL::Test::Utils::append_to_file($listen_script,
	"LISTEN jobsched_alerts;\nSELECT pg_sleep(8);\nSELECT 'done';\n");
my $listen_out = '';
my $listener = IPC::Run::start(
	[ 'psql', '-X', '-q', '-A', '-t', '-d', $node->connstr('postgres'), '-f', $listen_script ],
	'>', \$listen_out, '2>&1');
sleep 1;    # let the LISTEN take effect
my $failing = query_value($node,
	"SELECT jobsched.create_job('0 0 0 1 1 *', '$url/fail', max_retries => 2, retry_backoff => '200 ms')");
query_value($node, "SELECT jobsched.trigger_job($failing)");
$node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM jobsched.alerts WHERE job_id = $failing")
  or die "no alert for the failing job";
is(query_value($node, qq{
	SELECT string_agg(attempt || ':' || status || ':' || coalesce(http_status::text, '-'), ',' ORDER BY attempt)
	FROM jobsched.executions WHERE job_id = $failing}),
	'1:failed:500,2:failed:500,3:failed:500', 'three attempts, each its own row');
wait_for_sink($sink, 'three failing requests', sub { (grep { $_->{path} eq '/fail' } @{ $_[0] }) >= 3 }, 30);
is(scalar @{ requests_to('/fail') }, 3, 'the target saw three requests');
my %fail_keys = map { $_->{idempotency_key} => 1 } @{ requests_to('/fail') };
is(scalar(keys %fail_keys), 1, 'retries of a run share its Idempotency-Key');
is(query_value($node,
	"SELECT kind || ':' || http_status || ':' || (message LIKE '%failed after 3 attempts: HTTP status 500') FROM jobsched.alerts WHERE job_id = $failing"),
	'failed:500:true', 'the alert row names the failure');
$listener->finish;
my ($payload) = $listen_out =~ /Asynchronous notification "jobsched_alerts" with payload "(.*)" received/;
ok(defined $payload, 'the listener received a notification') or diag $listen_out;
my $alert = decode_json($payload // '{}');
# NOTIFY has no access control: the payload carries ids and the kind only,
# and the listener reads the rest from the alerts row, where row-level
# security applies
is(join(',', sort keys %$alert), 'alert_id,execution_id,job_id,kind,time',
	'NOTIFY payload: ids, kind and time, nothing row-level security would hide');
unlike($payload, qr{/fail|HTTP status}, 'NOTIFY payload: neither the URL nor the error');
is($alert->{job_id}, $failing, 'NOTIFY payload: job id');
is($alert->{kind}, 'failed', 'NOTIFY payload: kind');
is($alert->{execution_id},
	query_value($node, "SELECT id FROM jobsched.executions WHERE job_id = $failing AND attempt = 3"),
	'NOTIFY payload: the last execution');
ok(defined $alert->{time}, 'NOTIFY payload: time');
is(query_value($node, "SELECT url || ' ' || http_status FROM jobsched.alerts WHERE id = $alert->{alert_id}"),
	"$url/fail 500", 'the details are in the alert row the payload names');

# --- an ATMOST_ONCE failure is never retried
my $once = query_value($node,
	"SELECT jobsched.create_job('0 0 0 1 1 *', '$url/fail-once', 'ATMOST_ONCE', max_retries => 5)");
query_value($node, "SELECT jobsched.trigger_job($once)");
$node->poll_query_until('postgres', "SELECT count(*) = 1 FROM jobsched.alerts WHERE job_id = $once")
  or die "no alert for the ATMOST_ONCE job";
sleep 1;
is(query_value($node, "SELECT count(*) FROM jobsched.executions WHERE job_id = $once"), '1',
	'ATMOST_ONCE: one attempt only');

# --- a target that never answers times out
my $hang = query_value($node,
	"SELECT jobsched.create_job('0 0 0 1 1 *', '$url/hang', max_retries => 0, timeout => '1 s')");
query_value($node, "SELECT jobsched.trigger_job($hang)");
$node->poll_query_until('postgres', "SELECT count(*) = 1 FROM jobsched.alerts WHERE job_id = $hang")
  or die "no alert for the hanging job";
is(query_value($node, "SELECT status || ':' || (error IS NOT NULL) FROM jobsched.executions WHERE job_id = $hang"),
	'timed_out:true', 'a hanging target ends timed_out with an error');
is(query_value($node, "SELECT kind FROM jobsched.alerts WHERE job_id = $hang"), 'timed_out',
	'... and raises a timed_out alert');

# --- redirects are not followed unless the job says so
my $redirect = query_value($node,
	"SELECT jobsched.create_job('0 0 0 1 1 *', '$url/redirect-ok', max_retries => 0)");
my $follow = query_value($node,
	"SELECT jobsched.create_job('0 0 0 1 1 *', '$url/redirect-ok', max_retries => 0, follow_redirects => true)");
query_value($node, "SELECT jobsched.trigger_job($redirect), jobsched.trigger_job($follow)");
$node->poll_query_until('postgres',
	"SELECT count(*) = 2 FROM jobsched.executions WHERE job_id IN ($redirect, $follow) AND status <> 'running'")
  or die "redirect jobs did not finish";
is(query_value($node, "SELECT status || ':' || http_status FROM jobsched.executions WHERE job_id = $redirect"),
	'failed:302', 'a redirect is not followed by default');
is(query_value($node, "SELECT status || ':' || http_status FROM jobsched.executions WHERE job_id = $follow"),
	'succeeded:200', '... and is followed when the job asks');

# --- a slow target does not delay a fast one
my $slow = query_value($node,
	"SELECT jobsched.create_job('* * * * * *', '$url/slow/4000', max_retries => 0)");
my $fast = query_value($node,
	"SELECT jobsched.create_job('* * * * * *', '$url/fast', max_retries => 0)");
$node->poll_query_until('postgres',
	"SELECT count(*) >= 3 FROM jobsched.executions WHERE job_id = $slow AND status = 'running'")
  or die "slow requests did not pile up";
sleep 3;
query_value($node, "SELECT jobsched.pause_job($slow), jobsched.pause_job($fast)");
my $fast_runs = query_value($node, qq{
	SELECT count(*) FROM jobsched.executions f
	WHERE f.job_id = $fast AND f.status = 'succeeded' AND f.lateness < '1 s'
	AND EXISTS (SELECT 1 FROM jobsched.executions s WHERE s.job_id = $slow
				AND s.started_at < f.started_at AND s.finished_at IS DISTINCT FROM NULL
				AND s.finished_at > f.finished_at)});
cmp_ok($fast_runs, '>=', 3, 'the fast job ran on time while slow requests were in flight');

# --- observability
my $stats = query_value($node,
	"SELECT worker_state || ':' || (succeeded_last_minute > 0) || ':' || (failed_last_minute > 0) || ':' || (lateness_p99_ms IS NOT NULL) FROM jobsched.stats");
is($stats, 'running:true:true:true', 'jobsched.stats reports the worker and the last minute');
is(query_value($node,
	"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'jobsched scheduler'"),
	'1', 'the worker is visible in pg_stat_activity');

$node->stop;
stop_sink($sink);
done_testing();
