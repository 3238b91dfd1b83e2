# Kept-alive connections between runs.  A socket curl stops watching while
# it waits for input stays in the worker's epoll set ("parked", http.c:
# sock_state), so that the next request on the connection costs no
# epoll_ctl call.  What that must not break:
#  - a parked connection the server closes turns readable for good: the
#    worker takes it out of the set at once rather than wake up for it
#    again and again (a busy loop at 100% CPU);
#  - a socket closed by curl (the server hung up without an answer) gives
#    its number to the next socket: the new one is watched, so its answer
#    is read and the run does not wait for its timeout;
#  - connections by name (curl's resolver) and by address work alike.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";
use JobschedTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use POSIX ();
use Test::More;
use Time::HiRes qw(usleep time);

my $node = new_jobsched_node('idle');
my $sink = start_sink();
my $port = $sink->{port};

# 30 jobs by address, 10 by name, 10 whose server closes without answering
query_value($node, "SELECT count(jobsched.create_job('* * * * * *', 'http://127.0.0.1:$port/ok/' || i,
	max_retries => 0, timeout => '5 s')) FROM generate_series(1, 30) i");
query_value($node, "SELECT count(jobsched.create_job('* * * * * *', 'http://localhost:$port/ok/name' || i,
	max_retries => 0, timeout => '5 s')) FROM generate_series(1, 10) i");
query_value($node, "SELECT count(jobsched.create_job('* * * * * *', 'http://127.0.0.1:$port/close/' || i,
	max_retries => 0, timeout => '5 s')) FROM generate_series(1, 10) i");

sub wait_until
{
	my ($what, $sql, $timeout) = @_;
	my $deadline = time() + $timeout;
	while (query_value($node, $sql) ne 't')
	{
		die "timed out waiting for $what" if time() > $deadline;
		usleep(100_000);
	}
}

# every job has run three times: the connections are kept alive and reused
wait_until('three runs of every job',
	"SELECT count(*) = 50 FROM (SELECT job_id FROM jobsched.executions
	   WHERE status NOT IN ('running', 'retrying') GROUP BY job_id HAVING count(*) >= 3) j", 60);

my $pid = query_value($node, "SELECT worker_pid FROM jobsched.stats");
my $ticks = POSIX::sysconf(POSIX::_SC_CLK_TCK());
sub worker_cpu
{
	my @f = split ' ', (slurp_file("/proc/$pid/stat") =~ /\)\s+(.*)/)[0];
	return ($f[11] + $f[12]) / $ticks;	# utime, stime
}

# pause everything; the last runs finish and their connections go idle
query_value($node, "SELECT count(jobsched.pause_job(id)) FROM jobsched.jobs");
wait_until('the last runs to finish',
	"SELECT NOT EXISTS (SELECT 1 FROM jobsched.executions WHERE status IN ('running', 'retrying'))", 30);
usleep(500_000);

# the server goes away: every idle connection is closed under the worker
stop_sink($sink);
usleep(300_000);
my $cpu0 = worker_cpu();
usleep(3_000_000);
my $spent = worker_cpu() - $cpu0;
cmp_ok($spent, '<', 0.5,
	"idle connections closed by the server: the worker does not spin on them (${spent}s of CPU in 3 s)");

# the server comes back on the same port; the runs go on over new connections
my $sink2 = start_sink(port => $port);
is($sink2->{port}, $port, "the sink is back on port $port");

my $resumed = query_value($node, "SELECT clock_timestamp()");
query_value($node, "SELECT count(jobsched.resume_job(id)) FROM jobsched.jobs");
wait_until('three runs of every job since the restart',
	"SELECT count(*) = 50 FROM (SELECT job_id FROM jobsched.executions
	   WHERE status NOT IN ('running', 'retrying') AND scheduled_for > '$resumed' GROUP BY job_id
	   HAVING count(*) >= 3) j", 60);
query_value($node, "SELECT count(jobsched.pause_job(id)) FROM jobsched.jobs");
wait_until('the last runs to finish',
	"SELECT NOT EXISTS (SELECT 1 FROM jobsched.executions WHERE status IN ('running', 'retrying'))", 30);

# outcomes over the whole test: answered runs succeeded, unanswered ones
# failed at once; none waited for its timeout
is( query_value($node, "SELECT string_agg(DISTINCT status, ',' ORDER BY status) FROM jobsched.executions e
	JOIN jobsched.jobs j ON j.id = e.job_id WHERE j.url LIKE '%/ok/%'"),
	'succeeded', 'every run of the answered jobs succeeded, by address and by name, before and after the restart');
is( query_value($node, "SELECT string_agg(DISTINCT status, ',' ORDER BY status) FROM jobsched.executions e
	JOIN jobsched.jobs j ON j.id = e.job_id WHERE j.url LIKE '%/close/%'"),
	'failed', 'the runs the server hung up on failed (none timed out)');
cmp_ok(
	query_value($node, "SELECT max(extract(epoch FROM finished_at - started_at)) FROM jobsched.executions"),
	'<', 2, 'no run took anywhere near its 5 s timeout');
is(query_value($node, "SELECT count(*) FROM jobsched.executions e JOIN jobsched.jobs j ON j.id = e.job_id
	WHERE j.url LIKE '%/ok/%' AND e.scheduled_for > '$resumed'") >= 120 ? 'yes' : 'no',
	'yes', 'the runs go on after the restart');
my $log = slurp_file($node->logfile);
unlike($log, qr/could not watch socket/, 'no socket the worker could not watch');

stop_sink($sink2);
$node->stop;
done_testing();
