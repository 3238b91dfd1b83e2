# Ad-hoc requests (issue 16): jobsched.send() as a transactional outbox,
# retry_execution(), cancel(), and Standard Webhooks signatures verified
# with an independent implementation (npm standardwebhooks, test/node).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";
use JobschedTest;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

my $node = new_jobsched_node('send', "jobsched.max_host_connections = 200\n");
my $sink = start_sink();
my $url = $sink->{url};

sub arrivals
{
	my ($path) = @_;
	return [ grep { $_->{path} eq $path } @{ sink_requests($sink) } ];
}

sub psql_err
{
	my ($sql) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', $sql);
	return ($rc, $err);
}

# --- goes out if and only if the transaction commits
my $t0 = time();
my $id = query_value($node,
	"SELECT jobsched.send('$url/ok/one', body => '{\"n\": 1}')");
my $got = wait_for_sink($sink, 'the committed send', sub { @{ arrivals('/ok/one') } >= 1 }, 10);
my ($one) = @{ arrivals('/ok/one') };
cmp_ok($one->{t} - $t0, '<', 1, sprintf('a committed send arrives at once (%.3f s)', $one->{t} - $t0));
is($one->{method}, 'POST', '... as a POST');
is($one->{body}, '{"n": 1}', '... with its body');
like($one->{idempotency_key}, qr/^jobsched-$id-\d+$/, '... and an Idempotency-Key of the id send returned');
$node->poll_query_until('postgres',
	"SELECT status = 'succeeded' FROM jobsched.job_executions($id, 1)")
  or fail('the send was not recorded');
pass('its attempt is found from the id send returned');

query_value($node, "BEGIN; SELECT jobsched.send('$url/ok/rolled-back'); ROLLBACK;");
# a later send goes out: the rolled-back one had its chance
query_value($node, "SELECT jobsched.send('$url/ok/after-rollback')");
wait_for_sink($sink, 'the send after the rollback', sub { @{ arrivals('/ok/after-rollback') } == 1 }, 10);
sleep 1;
is(scalar @{ arrivals('/ok/rolled-back') }, 0, 'a send in a rolled-back transaction never goes out');

# --- run_at
my $at = query_value($node, "SELECT extract(epoch FROM now() + interval '2 seconds')");
query_value($node, "SELECT jobsched.send('$url/ok/later', run_at => to_timestamp($at))");
wait_for_sink($sink, 'the send at run_at', sub { @{ arrivals('/ok/later') } == 1 }, 10);
cmp_ok(arrivals('/ok/later')->[0]{t}, '>=', $at - 0.001, 'a send with run_at goes out at run_at, not before');

# --- durable once committed: killed before it went out, sent after the restart
query_value($node, "SELECT jobsched.send('$url/ok/durable', run_at => now() + interval '1 second')");
my @pids = split /\n/, query_value($node, "SELECT pid FROM pg_stat_activity");
$node->kill9;
# its children hold the shared memory until they notice
my $deadline = time() + 60;
while (grep { kill 0, $_ } @pids)
{
	die 'server processes did not exit after the postmaster died' if time() > $deadline;
	usleep(100_000);
}
$node->start;
wait_for_sink($sink, 'the send committed before a kill -9', sub { @{ arrivals('/ok/durable') } == 1 }, 20);
pass('a committed send survives kill -9 of the postmaster');

# --- bulk
$t0 = time();
query_value($node, "SELECT count(jobsched.send('$url/ok/bulk?i=' || i)) FROM generate_series(1, 2000) i");
my $queued = time() - $t0;
my $bulk = wait_for_sink($sink, '2,000 sends',
	sub { scalar(grep { $_->{path} =~ m{^/ok/bulk} } @{ $_[0] }) >= 2000 }, 60);
my $delivered = time() - $t0;
my %keys;
$keys{ $_->{idempotency_key} }++ for grep { $_->{path} =~ m{^/ok/bulk} } @$bulk;
is(scalar(keys %keys), 2000, sprintf('2,000 sends in one statement (%.2f s) all arrive (%.2f s)', $queued, $delivered));
is(scalar(grep { $_ != 1 } values %keys), 0, '... each once');

# --- retries, alerts, and retry_execution()
my $fail = query_value($node, "SELECT jobsched.send('$url/fail', max_retries => 1)");
$node->poll_query_until('postgres',
	"SELECT count(*) = 2 FROM jobsched.job_executions($fail) WHERE status = 'failed'")
  or fail('the failing send did not fail twice');
is(query_value($node, "SELECT count(*) FROM jobsched.alerts WHERE job_id = $fail AND kind = 'failed'"),
	'1', 'a send that fails its retries raises one alert');
my ($first_id, $last_id) = split /\|/, query_value($node,
	"SELECT min(id), max(id) FROM jobsched.job_executions($fail)");
my ($rc, $err) = psql_err("SELECT jobsched.retry_execution($first_id)");
like($err, qr/is not the latest attempt of its run/, 'retry_execution refuses an attempt that is not the latest');
my $before = scalar @{ arrivals('/fail') };
my $new = query_value($node, "SELECT jobsched.retry_execution($last_id)");
wait_for_sink($sink, 'the retried execution', sub { @{ arrivals('/fail') } > $before }, 10);
my @fails = @{ arrivals('/fail') };
is($fails[-1]{idempotency_key}, $fails[0]{idempotency_key}, 'retry_execution sends the same run again (same Idempotency-Key)');
$node->poll_query_until('postgres',
	"SELECT attempt = 3 AND status = 'failed' FROM jobsched.executions WHERE id = $new")
  or fail('the new attempt was not recorded');
pass('... as a new attempt of it');
($rc, $err) = psql_err("SELECT jobsched.retry_execution((SELECT min(id) FROM jobsched.job_executions($id)))");
like($err, qr/is succeeded: only a failed, timed-out or lost one can be sent again/,
	'retry_execution refuses a succeeded run');
($rc, $err) = psql_err("SELECT jobsched.retry_execution(987654321)");
like($err, qr/execution 987654321 does not exist/, '... and one that does not exist');

# --- cancel
my $later = query_value($node, "SELECT jobsched.send('$url/ok/cancelled', run_at => now() + interval '1 hour')");
is(query_value($node, "SELECT jobsched.cancel($later)"), '1', 'cancel() of a send not gone out yet');
is(query_value($node, "SELECT status FROM jobsched.job_executions($later)"), 'cancelled',
	'... recorded as cancelled');
($rc, $err) = psql_err("SELECT jobsched.cancel($later)");
like($err, qr/has nothing waiting to be sent/, '... and it cannot be cancelled twice');
($rc, $err) = psql_err("SELECT jobsched.cancel()");
like($err, qr/give either send_id/, 'cancel() needs one of send_id and execution_id');
my $retry_wait = query_value($node, "SELECT jobsched.send('$url/fail/slow-retry', max_retries => 1, retry_backoff => '1 hour')");
$node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM jobsched.executions WHERE job_id = $retry_wait AND status = 'retrying'")
  or fail('no retry was queued');
my $waiting = query_value($node, "SELECT id FROM jobsched.executions WHERE job_id = $retry_wait AND status = 'retrying'");
is(query_value($node, "SELECT jobsched.cancel(execution_id => $waiting)"), '1', 'cancel() of a retry waiting for its time');

# --- row-level security: sends are their owner's
$node->safe_psql('postgres', q{
	CREATE ROLE alice LOGIN; CREATE ROLE bob LOGIN;
	GRANT jobsched_user TO alice, bob;});
my $bob_send = $node->safe_psql('postgres', "SET ROLE bob; SELECT jobsched.send('$url/ok/bob', run_at => now() + interval '1 hour')");
is($node->safe_psql('postgres', "SET ROLE alice; SELECT count(*) FROM jobsched.executions WHERE job_id = $bob_send"),
	'0', "a role does not see another's sends");
($rc, $err) = psql_err("SET ROLE alice; SELECT jobsched.cancel($bob_send)");
like($err, qr/send $bob_send does not exist/, "... nor cancel them");
is($node->safe_psql('postgres', "SET ROLE bob; SELECT jobsched.cancel($bob_send)"), '1', 'its owner can');

# --- signed webhooks (Standard Webhooks), verified by npm standardwebhooks
my $secret = 'whsec_' . encode_base64_nonl('jobsched test key, 32 bytes long');
my $secret2 = 'whsec_' . encode_base64_nonl('another key for the scheduled j');
my $signed = $node->safe_psql('postgres', "SET ROLE bob; SELECT jobsched.send('$url/ok/signed', body => '{\"hello\": \"wörld\"}', signing_secret => '$secret')");
my $job = $node->safe_psql('postgres', "SET ROLE bob; SELECT jobsched.create_job('* * * * * *', '$url/ok/signed-job', signing_secret => '$secret2')");
wait_for_sink($sink, 'signed requests',
	sub { @{ arrivals('/ok/signed') } == 1 && @{ arrivals('/ok/signed-job') } >= 2 }, 20);
my ($s) = @{ arrivals('/ok/signed') };
is($s->{headers}{'webhook-id'}, $s->{idempotency_key}, 'a signed request carries webhook-id = its Idempotency-Key');
like($s->{headers}{'webhook-timestamp'}, qr/^\d{10}$/, '... webhook-timestamp');
like($s->{headers}{'webhook-signature'}, qr/^v1,[A-Za-z0-9+\/]{43}=$/, '... webhook-signature v1,<base64>');
$node->safe_psql('postgres', "SET ROLE bob; SELECT jobsched.modify_job($job, signing_secret => '')");
my $n_signed = scalar @{ arrivals('/ok/signed-job') };
sleep 2.2;
my @job_reqs = @{ arrivals('/ok/signed-job') };
ok(!defined $job_reqs[-1]{headers}{'webhook-signature'}, "signing_secret => '' stops signing");
$node->safe_psql('postgres', "SELECT jobsched.pause_job($job)");

SKIP:
{
	my $verify = "$FindBin::RealBin/../webhook_verify.js";
	skip 'npm standardwebhooks is not installed (npm ci --prefix test/node)', 2
	  unless -d "$FindBin::RealBin/../node/node_modules/standardwebhooks" && `which node` =~ /\S/;
	my ($out, $errout);
	my $ok = IPC::Run::run([ 'node', $verify, '--log', $sink->{log}, '--secret', $secret,
			'--secret', $secret2, '--path-prefix', '/ok/signed' ],
		'>', \$out, '2>', \$errout);
	note $out;
	my $r = eval { decode_json($out) } // {};
	ok($ok && ($r->{failed} // 1) == 0, 'every signed request verifies with npm standardwebhooks') or diag "$out $errout";
	cmp_ok($r->{verified} // 0, '>=', 3, "... ($r->{verified} verified)");
}

# the secret is nobody's to read, and nowhere to be seen
($rc, $err) = psql_err("SET ROLE bob; SELECT secret FROM jobsched.job_secrets");
like($err, qr/permission denied/, 'a role cannot read signing secrets, not even its own');
($rc, $err) = psql_err("SELECT jobsched.send('$url/ok/x', signing_secret => 'whsec_notbase64!')");
like($err, qr/invalid signing secret/, 'a malformed secret is refused');
unlike($err, qr/notbase64/, '... without being echoed');
my $everything = query_value($node, q{SELECT concat_ws(' ',
	(SELECT string_agg(row_to_json(s)::text, ' ') FROM jobsched.job_status s),
	(SELECT string_agg(row_to_json(e)::text, ' ') FROM jobsched.executions e),
	(SELECT string_agg(row_to_json(a)::text, ' ') FROM jobsched.alerts a),
	(SELECT string_agg(row_to_json(j)::text, ' ') FROM jobsched.jobs j))});
my $key = substr($secret, 6, 20);
unlike($everything, qr/\Q$key\E/, 'no view, table a user reads, or alert holds the secret');
# (the test cluster logs every statement, log_statement = all: those lines
# hold what the test itself wrote)
my @leaks = grep { /\Q$key\E/ && !/ statement: / } split /\n/, slurp_file($node->logfile);
is(scalar(@leaks), 0, '... nor the server log, but for the statements the test wrote')
  or diag join "\n", @leaks[0 .. ($#leaks < 4 ? $#leaks : 4)];
# a scheduled job is not a send
my $sched = query_value($node, "SELECT min(id) FROM jobsched.jobs WHERE kind = 'scheduled'");
($rc, $err) = psql_err("SELECT jobsched.cancel($sched)");
like($err, qr/job $sched is not a send/, 'cancel() of a scheduled job says what it is');

# a send whose history is past the retention goes (the worker calls this
# every 10 s with the retention's cutoff); one still waiting stays
my $still_waiting = query_value($node, "SELECT jobsched.send('$url/ok/tomorrow', run_at => now() + interval '1 day')");
query_value($node, "UPDATE jobsched.jobs SET created_at = now() - interval '30 days' WHERE kind = 'send'");
my $sends_before = query_value($node, "SELECT count(*) FROM jobsched.jobs WHERE kind = 'send'");
my $purged = query_value($node, "SELECT jobsched.purge_sends(now() - interval '7 days', 100000)");
is(query_value($node, "SELECT count(*) FROM jobsched.jobs j WHERE kind = 'send'
	AND NOT EXISTS (SELECT 1 FROM jobsched.runs r WHERE r.job_id = j.id)"), '0',
	"sends past the retention are deleted ($purged of $sends_before)");
is(query_value($node, "SELECT status FROM jobsched.job_executions($still_waiting)"), 'retrying',
	'... not one with an attempt still waiting');

$node->stop;
stop_sink($sink);
done_testing();

sub encode_base64_nonl
{
	require MIME::Base64;
	return MIME::Base64::encode_base64($_[0], '');
}
