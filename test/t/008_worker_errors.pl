# The worker survives what a database does to it.  A statement that fails
# -- a table locked by another session, a cancel -- is logged and tried
# again, without a restart (a restart would turn ATMOST_ONCE runs in flight
# into "lost"); a row held by a long transaction holds up only its own job;
# settings a role or database imposes do not change what the worker does;
# every request ends within its timeout; and a request goes out only with
# the libcurl options the network policy rests on.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/..";
use JobschedTest;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time sleep);

my $sink = start_sink();
my $url = $sink->{url};
my $node = new_jobsched_node('errors', "jobsched.misfire_grace = 10s\n");

# The tests talk as "tester": the settings below are imposed on the role
# the worker connects as (the bootstrap superuser).
$node->safe_psql('postgres', 'CREATE ROLE tester SUPERUSER LOGIN');
my $worker_role = $node->safe_psql('postgres', 'SELECT rolname FROM pg_roles WHERE oid = 10');

sub tq
{
	my ($sql) = @_;
	return $node->safe_psql('postgres', $sql, extra_params => [ '-U', 'tester' ]);
}

sub q_bg
{
	my ($sql) = @_;
	my $out = '';
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-q', '-A', '-t', '-U', 'tester', '-d', $node->connstr('postgres'),
			'-v', 'ON_ERROR_STOP=1', '-c', $sql ],
		'>', \$out, '2>&1');
	return ($h, \$out);
}

sub worker_pid { return tq("SELECT coalesce(worker_pid, 0) FROM jobsched.stats") }

sub wait_for_worker
{
	my ($not_pid) = @_;
	$node->poll_query_until('postgres', qq{
		SELECT worker_pid IS NOT NULL AND worker_pid <> $not_pid AND worker_state = 'running'
		FROM jobsched.stats}, 't')
	  or die "the worker did not come back";
}

my $good = tq("SELECT jobsched.create_job('* * * * * *', '$url/ok?t=good', 'ATMOST_ONCE')");
my $bad = tq("SELECT jobsched.create_job('* * * * * *', '$url/fail?t=bad', max_retries => 0)");
sleep 2;
my $pid = worker_pid();
ok($pid > 0, 'the worker runs');

# Requests of $tag that reached the sink after $since, and their lateness
# (arrival minus scheduled time, from the Idempotency-Key).
sub arrivals_since
{
	my ($tag, $since) = @_;
	return [ map { $_->{t} - ($_->{idempotency_key} =~ /-(\d+)$/)[0] / 1e6 }
		  grep { $_->{path} =~ /t=\Q$tag\E$/ && $_->{t} > $since } @{ sink_requests($sink) } ];
}

sub max_of { my $m = 0; $_ > $m and $m = $_ for @_; return $m }

sub no_lost
{
	my ($what) = @_;
	is(tq("SELECT count(*) FROM jobsched.executions WHERE status = 'lost'"), '0',
		"$what: no run lost");
}

# --- a row held by a long transaction holds up its own job only
{
	my $t0 = time();
	my ($h) = q_bg("BEGIN; SELECT 1 FROM jobsched.jobs WHERE id = $bad FOR UPDATE; SELECT pg_sleep(3.5); COMMIT;");
	sleep 3.5;
	my $late = arrivals_since('good', $t0 + 0.5);
	cmp_ok(scalar(@$late), '>=', 3, 'a job row locked for 3.5 s: the other job keeps firing');
	cmp_ok(max_of(@$late), '<', 0.5, '... on time (max lateness ' . sprintf('%.3f', max_of(@$late)) . ' s)');
	$h->finish;
}

# --- delete_job in a long transaction while its runs are in flight: the
# results for its locked rows wait, nothing else does
{
	my $slow = tq("SELECT jobsched.create_job('* * * * * *', '$url/slow/400?t=slow', 'ATMOST_ONCE')");
	sleep 2.2;
	# x.2: the run sent at x.0 is in flight, its result due at x.4
	my $frac = time() - int(time());
	sleep(($frac < 0.15 ? 0.15 : 1.15) - $frac);
	my $t0 = time();
	my ($h) = q_bg("BEGIN; SELECT jobsched.delete_job($slow); SELECT pg_sleep(3); COMMIT;");
	sleep 3;
	my $late = arrivals_since('good', $t0 + 0.5);
	cmp_ok(scalar(@$late), '>=', 2, 'delete_job holding the rows of runs in flight: the other job keeps firing');
	cmp_ok(max_of(@$late), '<', 0.5, '... on time');
	$h->finish;
	sleep 1;
	is(worker_pid(), $pid, '... and the worker was not restarted');
	like(slurp_file($node->logfile), qr/results wait: their executions are locked by another session/,
		'the worker says results are waiting for a locked row');
	is(tq("SELECT count(*) FROM jobsched.executions WHERE job_id = $slow"), '0',
		'the deleted job left no history');
}

# --- a table locked for 3 s: statements fail after lock_timeout, are
# logged with their SQLSTATE, and tried again
{
	my ($h) = q_bg("BEGIN; LOCK TABLE jobsched.executions IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(3); COMMIT;");
	sleep 3.5;
	$h->finish;
	my $t0 = time();
	sleep 2.5;
	cmp_ok(scalar(@{ arrivals_since('good', $t0) }), '>=', 2,
		'executions locked for 3 s: the worker fires again once they are free');
	is(worker_pid(), $pid, '... without a restart');
	like(slurp_file($node->logfile), qr/jobsched: .* failed \(SQLSTATE 55P03\): canceling statement due to lock timeout/,
		'... and it logged the failed statement with its SQLSTATE');
	no_lost('a locked table');
}

# --- cancels at random moments
{
	for my $i (1 .. 40)
	{
		tq("SELECT pg_cancel_backend($pid)");
		usleep(50_000 + int(rand(50_000)));
	}
	my $t0 = time();
	sleep 2.5;
	cmp_ok(scalar(@{ arrivals_since('good', $t0) }), '>=', 2, '40 cancels: the worker keeps firing');
	is(worker_pid(), $pid, '... without a restart');
	no_lost('40 cancels');
}

# --- settings imposed on the worker's role: the worker sets its own
tq("CREATE SCHEMA evil; CREATE TABLE evil.calls (t timestamptz DEFAULT now());
   GRANT ALL ON SCHEMA evil TO PUBLIC;
   CREATE FUNCTION evil.jsonb_each_text(jsonb, OUT key text, OUT value text) RETURNS SETOF record
	 LANGUAGE plpgsql AS \$\$ BEGIN INSERT INTO evil.calls DEFAULT VALUES; END \$\$;
   CREATE FUNCTION evil.random() RETURNS double precision
	 LANGUAGE plpgsql AS \$\$ BEGIN INSERT INTO evil.calls DEFAULT VALUES; RETURN 0; END \$\$;");
my $retrying = tq("SELECT jobsched.create_job('* * * * * *', '$url/fail?t=retry', max_retries => 1,
													retry_backoff => '100 ms', headers => '{\"X-A\": \"1\"}')");
my @imposed = (
	[ 'statement_timeout', '1ms' ],
	[ 'lock_timeout', '1ms' ],
	[ 'idle_in_transaction_session_timeout', '1ms' ],
	[ 'default_transaction_read_only', 'on' ],
	[ 'default_transaction_isolation', 'serializable' ],
	[ 'session_replication_role', 'replica' ],
	[ 'search_path', 'evil, pg_catalog, public' ],
);
for my $s (@imposed)
{
	my ($name, $value) = @$s;
	my $what = "$name = $value";
	tq("ALTER ROLE \"$worker_role\" IN DATABASE postgres SET $name = '$value'");
	my $old = worker_pid();
	tq("SELECT pg_terminate_backend($old)");
	wait_for_worker($old);
	my $t0 = tq("SELECT clock_timestamp()");

	# a listener, to see the alerts' NOTIFY
	# (psql prints a notification after the statement during which it came)
	my $listen_out = '';
	my $listener = IPC::Run::start(
		[ 'psql', '-X', '-q', '-A', '-t', '-U', 'tester', '-d', $node->connstr('postgres'),
			'-c', 'LISTEN jobsched_alerts', '-c', 'SELECT pg_sleep(3.5)', '-c', 'SELECT 1' ],
		'>', \$listen_out, '2>&1');
	$listener->finish;

	is(tq(qq{SELECT count(*) >= 2 FROM jobsched.executions
			WHERE job_id = $good AND status = 'succeeded' AND finished_at > '$t0'}),
		't', "$what: runs fire and their results are written");
	is(tq(qq{SELECT count(*) >= 1 FROM jobsched.executions
			WHERE job_id = $retrying AND attempt = 2 AND finished_at > '$t0'}),
		't', "$what: failures are retried");
	is(tq(qq{SELECT count(*) >= 2 FROM jobsched.alerts WHERE job_id = $bad AND created_at > '$t0'}),
		't', "$what: final failures raise alerts");
	like($listen_out, qr/Asynchronous notification "jobsched_alerts"/, "$what: ... and a NOTIFY");
	tq("ALTER ROLE \"$worker_role\" IN DATABASE postgres RESET $name");
}
is(tq("SELECT count(*) FROM evil.calls"), '0', "the worker never called a function of the role's search_path");
no_lost('settings imposed');
tq("SELECT jobsched.delete_job($retrying)");

# --- every request ends within its timeout (plus a second), whatever the
# target does: the smallest timeout against a target that never answers
{
	my $hang = tq("SELECT jobsched.create_job('0 0 0 1 1 *', '$url/hang?t=hang', timeout => '1 ms', max_retries => 0)");
	tq("SELECT jobsched.trigger_job($hang)");
	$node->poll_query_until('postgres', qq{
		SELECT count(*) = 1 FROM jobsched.executions WHERE job_id = $hang AND status <> 'running' AND status <> 'retrying'}, 't')
	  or die "the hanging request did not end";
	is(tq("SELECT status || ':' || (duration < interval '1 s')::text FROM jobsched.executions WHERE job_id = $hang"),
		'timed_out:true', "timeout => '1 ms' against a target that never answers: timed out at once");
}
$node->stop;

# --- a security-relevant libcurl option refused: the request is not sent.
# A preloaded shim makes libcurl refuse the option named in the environment.
my $shim_dir = PostgreSQL::Test::Utils::tempdir();
PostgreSQL::Test::Utils::append_to_file("$shim_dir/shim.c", <<'EOC');
#define _GNU_SOURCE
#define CURL_DISABLE_TYPECHECK
#include <dlfcn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#undef curl_easy_setopt

/* libcurl's curl_easy_setopt, except for the option named in JOBSCHED_TEST_REFUSE */
CURLcode
curl_easy_setopt(CURL *easy, CURLoption option, ...)
{
	static CURLcode (*real) (CURL *, CURLoption, ...);
	static const struct { const char *name; CURLoption option; } known[] = {
		{"PREREQFUNCTION", CURLOPT_PREREQFUNCTION},
		{"OPENSOCKETFUNCTION", CURLOPT_OPENSOCKETFUNCTION},
		{"PROTOCOLS_STR", CURLOPT_PROTOCOLS_STR},
		{"REDIR_PROTOCOLS_STR", CURLOPT_REDIR_PROTOCOLS_STR},
		{"PROXY", CURLOPT_PROXY},
	};
	const char *refuse = getenv("JOBSCHED_TEST_REFUSE");
	va_list ap;
	void *arg;

	va_start(ap, option);
	arg = va_arg(ap, void *);	/* every option we pass is one word */
	va_end(ap);
	for (size_t i = 0; refuse && i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(refuse, known[i].name) == 0 && option == known[i].option)
			return CURLE_UNKNOWN_OPTION;
	if (real == NULL)
		real = (CURLcode (*) (CURL *, CURLoption, ...)) dlsym(RTLD_NEXT, "curl_easy_setopt");
	return real(easy, option, arg);
}
EOC
system_or_bail('cc', '-shared', '-fPIC', '-o', "$shim_dir/shim.so", "$shim_dir/shim.c", '-ldl');
for my $option (qw(PREREQFUNCTION OPENSOCKETFUNCTION PROTOCOLS_STR REDIR_PROTOCOLS_STR PROXY))
{
	{
		local $ENV{LD_PRELOAD} = "$shim_dir/shim.so";
		local $ENV{JOBSCHED_TEST_REFUSE} = $option;
		$node->start;
	}
	my $job = tq("SELECT jobsched.create_job('0 0 0 1 1 *', '$url/ok?t=refused-$option', max_retries => 0)");
	tq("SELECT jobsched.trigger_job($job)");
	$node->poll_query_until('postgres', qq{
		SELECT count(*) = 1 FROM jobsched.executions WHERE job_id = $job AND status = 'failed'}, 't')
	  or die "the request with CURLOPT_$option refused did not fail";
	like(tq("SELECT error FROM jobsched.executions WHERE job_id = $job"),
		qr/^not sent: libcurl refused CURLOPT_$option: /, "CURLOPT_$option refused: the request fails, saying why");
	sleep 0.5;
	is(scalar(grep { $_->{path} =~ /t=refused-$option$/ } @{ sink_requests($sink) }), 0,
		"... and is never sent");
	$node->stop;
}

stop_sink($sink);
done_testing();
