# Hostile targets and the network policy at send time.  Targets that answer
# slowly, send a huge body, close the connection, redirect forever or never
# answer each end with a clear error, while a healthy job keeps its schedule
# and the worker's memory stays bounded.  A policy change blocks jobs created
# before it, at connect time, after DNS resolution.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/..";
use JobschedTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $sink = start_sink();
my $url = $sink->{url};
my $port = $sink->{port};
my $node = new_jobsched_node('hostile');

sub worker_rss_kb
{
	my $pid = query_value($node, "SELECT worker_pid FROM jobsched.stats");
	my ($rss) = slurp_file("/proc/$pid/status") =~ /VmRSS:\s+(\d+) kB/;
	return $rss;
}

my $healthy = query_value($node,
	"SELECT jobsched.create_job('* * * * * *', '$url/healthy', max_retries => 0)");
my %hostile = (
	slow => query_value($node,
		"SELECT jobsched.create_job('*/2 * * * * *', '$url/slow/20000', max_retries => 0, timeout => '3 s')"),
	big => query_value($node,
		"SELECT jobsched.create_job('*/2 * * * * *', '$url/big/104857600', max_retries => 0, timeout => '60 s')"),
	close => query_value($node,
		"SELECT jobsched.create_job('* * * * * *', '$url/close', max_retries => 0)"),
	redirect => query_value($node,
		"SELECT jobsched.create_job('* * * * * *', '$url/redirect', max_retries => 0, follow_redirects => true)"),
	hang => query_value($node,
		"SELECT jobsched.create_job('*/2 * * * * *', '$url/hang', max_retries => 0, timeout => '2 s')"),
);
my $rss_start = worker_rss_kb();
sleep 12;
my $rss_end = worker_rss_kb();
query_value($node, "UPDATE jobsched.jobs SET active = false");
$node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM jobsched.executions WHERE status IN ('running', 'retrying')")
  or die "hostile executions did not finish";

my ($runs, $ok, $on_time) = split /\|/, query_value($node, qq{
	SELECT count(*), count(*) FILTER (WHERE status = 'succeeded'),
		   count(*) FILTER (WHERE lateness < '1 s')
	FROM jobsched.executions WHERE job_id = $healthy});
cmp_ok($runs, '>=', 10, "the healthy job kept firing ($runs runs)");
is($ok, $runs, '... every run succeeded');
is($on_time, $runs, '... none held up by the hostile targets');

sub outcome
{
	my ($job) = @_;
	return query_value($node, qq{
		SELECT string_agg(DISTINCT status || ': ' || coalesce(error, '-'), ' | ')
		FROM jobsched.executions WHERE job_id = $job});
}
like(outcome($hostile{slow}), qr/^timed_out: .*(timed out|Timeout)/i,
	'a slow target ends timed_out with the reason');
like(outcome($hostile{hang}), qr/^timed_out: .*(timed out|Timeout)/i,
	'a target that never answers ends timed_out');
like(outcome($hostile{close}), qr/^failed: .*(Empty reply|closed|reset|recv)/i,
	'a target that closes the connection fails with the reason');
like(outcome($hostile{redirect}), qr/^failed: .*redirect/i,
	'a redirect loop fails after the redirect limit');
is(query_value($node, qq{
	SELECT string_agg(DISTINCT status || ':' || http_status || ':' || octet_length(response_body), ',')
	FROM jobsched.executions WHERE job_id = $hostile{big}}),
	'succeeded:200:4096', 'a 100 MB body is read to the end and only 4 kB kept');
cmp_ok($rss_end - $rss_start, '<', 64 * 1024,
	"the worker's memory stayed bounded (RSS $rss_start kB -> $rss_end kB)");
is(query_value($node, "SELECT worker_state FROM jobsched.stats"), 'running',
	'the worker is still running');

# --- the network policy, changed after the jobs were created, holds at send time
query_value($node, "UPDATE jobsched.jobs SET active = true WHERE id = $healthy");
my $by_name = query_value($node,
	"SELECT jobsched.create_job('* * * * * *', 'http://localhost:$port/by-name', max_retries => 0)");
$node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM jobsched.executions WHERE job_id = $by_name AND status = 'succeeded'")
  or die "the job by host name did not fire";
$node->safe_psql('postgres',
	"ALTER SYSTEM SET jobsched.network_policy = 'deny 127.0.0.0/8, deny ::1, allow all'");
$node->reload;
my $blocked_from = query_value($node, "SELECT now() + interval '1 s'");
$node->poll_query_until('postgres', qq{
	SELECT count(DISTINCT job_id) = 2 FROM jobsched.executions
	WHERE job_id IN ($healthy, $by_name) AND status = 'failed'
	AND error LIKE 'blocked by jobsched.network_policy: %'})
  or die "the policy did not block the jobs at send time";
like(query_value($node,
	"SELECT error FROM jobsched.executions WHERE job_id = $healthy AND status = 'failed' LIMIT 1"),
	qr/^blocked by jobsched.network_policy: 127\.0\.0\.1 is denied by rule 1 "deny 127\.0\.0\.0\/8"$/,
	'an IP literal is blocked at connect time, with the rule that denied it');
like(query_value($node,
	"SELECT error FROM jobsched.executions WHERE job_id = $by_name AND status = 'failed' LIMIT 1"),
	qr/^blocked by jobsched.network_policy: (127\.0\.0\.1|::1) is denied/,
	'a host name is blocked after DNS resolution');
my $sent = scalar grep { $_->{path} =~ m{^/(healthy|by-name)} && $_->{t} > 0 } @{ sink_requests($sink) };
sleep 2;
is(scalar(grep { $_->{path} =~ m{^/(healthy|by-name)} } @{ sink_requests($sink) }), $sent,
	'nothing reaches a denied address');
is(query_value($node,
	"SELECT count(*) > 0 FROM jobsched.alerts WHERE job_id = $healthy AND message LIKE '%blocked by jobsched.network_policy%'"),
	't', 'a blocked run raises an alert');

# --- only a superuser may change the policy
$node->safe_psql('postgres', "CREATE ROLE dave LOGIN; GRANT jobsched_user TO dave");
my ($stdout, $stderr);
$node->psql('postgres', "SET ROLE dave; SET jobsched.network_policy = 'allow all'",
	stdout => \$stdout, stderr => \$stderr);
like($stderr, qr/permission denied to set parameter "jobsched.network_policy"/,
	'a non-superuser cannot change the network policy');

$node->stop;
stop_sink($sink);
done_testing();
