# One run per scheduled time: the changes that made 1.0 send runs twice.
#
# Runs are claimed up to jobsched.lookahead (200 ms) before their time and
# sent at it.  1.0 recomputed next_run_at from now() -- the start of the
# transaction -- when a job changed, so a modify_job in a long transaction,
# or one committed inside the lookahead, made the runs claimed since due a
# second time; trigger_job pulled next_run_at back and re-ran the times
# after it.  Each case below sent Idempotency-Keys twice on 1.0.
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
my $node = new_jobsched_node('one_run');

# Sleep until $frac of the way into a wall-clock second (inside the claim
# lookahead of the next fire time when $frac is past 0.8).
sub sleep_to_fraction
{
	my ($frac) = @_;
	my $now = time();
	my $target = int($now) + $frac;
	$target += 1 if $target <= $now + 0.05;
	sleep($target - time());
}

# Idempotency-Keys of $tag seen more than once at the sink.
sub keys_sent_twice
{
	my ($tag) = @_;
	my %n;
	$n{ $_->{idempotency_key} }++
	  for grep { $_->{path} =~ /[?&]t=\Q$tag\E$/ } @{ sink_requests($sink) };
	return [ sort grep { $n{$_} > 1 } keys %n ];
}

sub rows_twice
{
	my ($job) = @_;
	return query_value($node, qq{
		SELECT count(*) FROM (SELECT scheduled_for, attempt FROM jobsched.executions
							  WHERE job_id = $job GROUP BY 1, 2 HAVING count(*) > 1) d});
}

sub new_job
{
	my ($tag, $type, %opt) = @_;
	my $schedule = $opt{schedule} // '* * * * * *';
	return query_value($node,
		"SELECT jobsched.create_job('$schedule', '$url/ok?t=$tag', '$type')");
}

# Each case: a per-second job, the change, two seconds more, then no key
# twice at the sink and no run with two executions.
sub check_once
{
	my ($tag, $job, $what, $min_runs) = @_;
	sleep 2.5;
	query_value($node, "SELECT jobsched.pause_job($job)");
	sleep 0.5;
	is_deeply(keys_sent_twice($tag), [], "$what: no run reached the target twice");
	is(rows_twice($job), '0', "$what: no run has two executions");
	cmp_ok(query_value($node, "SELECT count(*) FROM jobsched.executions WHERE job_id = $job"),
		'>=', $min_runs // 3, "$what: the job kept firing");
}

# --- the defect as reported: modify_job in a transaction open for 2 s
{
	my $job = new_job('longtx', 'ATMOST_ONCE');
	sleep 1.5;
	query_value($node, qq{
		BEGIN;
		SELECT pg_sleep(2);
		SELECT jobsched.modify_job($job, timezone => 'Etc/UTC');
		COMMIT;});
	check_once('longtx', $job, 'modify_job after 2 s in a transaction');
}

# --- autocommit calls inside the claim lookahead (x.93 s), three times each
my %inside_lookahead = (
	modify => sub { "SELECT jobsched.modify_job($_[0], timezone => 'Etc/UTC')" },
	modify_schedule => sub {
		"SELECT jobsched.modify_job($_[0], schedule => '" . ($_[1] % 2 ? '*/1' : '*') . " * * * * *')"
	},
	pause_resume => sub { "SELECT jobsched.pause_job($_[0]); SELECT jobsched.resume_job($_[0])" },
	active_off_on => sub {
		"SELECT jobsched.modify_job($_[0], active => false); SELECT jobsched.modify_job($_[0], active => true)"
	},
	trigger => sub { "SELECT jobsched.trigger_job($_[0])" },
	direct_update => sub { "UPDATE jobsched.jobs SET timezone = 'Etc/UTC', active = true WHERE id = $_[0]" },
);
for my $case (sort keys %inside_lookahead)
{
	my $job = new_job($case, 'ATMOST_ONCE');
	sleep 1.2;
	for my $i (1 .. 3)
	{
		sleep_to_fraction(0.93);
		query_value($node, $inside_lookahead{$case}->($job, $i));
	}
	check_once($case, $job, "$case committed inside the lookahead");
}

# --- the same in a transaction that stays open across several fire times
{
	my $job = new_job('pause_longtx', 'ATLEAST_ONCE');
	sleep 1.5;
	query_value($node, qq{
		BEGIN;
		SELECT jobsched.pause_job($job);
		SELECT pg_sleep(1.5);
		SELECT jobsched.resume_job($job);
		SELECT pg_sleep(1);
		COMMIT;});
	check_once('pause_longtx', $job, 'pause and resume in one long transaction (ATLEAST_ONCE)');
}

# --- trigger_job: one run of its own, at its own time, none scheduled twice
{
	my $job = new_job('trig', 'ATMOST_ONCE', schedule => '0 0 0 1 1 *');
	my $before = time();
	query_value($node, qq{
		BEGIN;
		SELECT pg_sleep(1);
		SELECT jobsched.trigger_job($job);
		COMMIT;});
	my $after = time();
	my $requests = wait_for_sink($sink, 'the triggered run',
		sub { grep { $_->{path} =~ /t=trig$/ } @{ $_[0] } }, 30);
	sleep 1;
	my @runs = grep { $_->{path} =~ /t=trig$/ } @{ sink_requests($sink) };
	is(scalar(@runs), 1, 'trigger_job of a yearly job: one request');
	my ($usec) = $runs[0]{idempotency_key} =~ /^jobsched-$job-(\d+)$/;
	ok($usec / 1e6 >= $before + 1 && $usec / 1e6 <= $after,
		'... scheduled for the moment of the call, not the start of its transaction');
	is(query_value($node, "SELECT count(*) FROM jobsched.executions WHERE job_id = $job"),
		'1', '... one execution');
	is(query_value($node,
		"SELECT next_run_at = jobsched.next_fire('0 0 0 1 1 *', 'UTC', now()) FROM jobsched.jobs WHERE id = $job"),
		't', '... and the next scheduled run is still the next scheduled time');

	# a trigger rolled back sends nothing
	query_value($node, "BEGIN; SELECT jobsched.trigger_job($job); ROLLBACK;");
	sleep 1.5;
	is(scalar(grep { $_->{path} =~ /t=trig$/ } @{ sink_requests($sink) }), 1,
		'a rolled-back trigger_job sends nothing');

	# a paused job can be triggered, and stays paused
	query_value($node, "SELECT jobsched.pause_job($job); SELECT jobsched.trigger_job($job)");
	wait_for_sink($sink, 'the triggered run of a paused job',
		sub { (grep { $_->{path} =~ /t=trig$/ } @{ $_[0] }) == 2 }, 30);
	is(query_value($node, "SELECT active::text || coalesce(next_run_at::text, '-') FROM jobsched.jobs WHERE id = $job"),
		'false-', 'a paused job triggered: one run, still paused');
}

# --- a direct UPDATE of next_run_at wakes the worker and keeps to the schedule
{
	my $job = new_job('direct', 'ATMOST_ONCE', schedule => '*/2 * * * * *');
	sleep 3;
	# back to a time already claimed: moved on to the next one not claimed
	query_value($node, qq{
		UPDATE jobsched.jobs SET next_run_at = last_claimed_for - interval '4 s' WHERE id = $job});
	ok(query_value($node, "SELECT next_run_at > last_claimed_for FROM jobsched.jobs WHERE id = $job") eq 't',
		'next_run_at set back before the last claimed time: the next time not claimed');
	# a */2 job: two runs at least in the 5.5 s it is watched
	check_once('direct', $job, 'next_run_at set back by a direct UPDATE', 2);

	# a job moved an hour ahead, then to the next second: it fires then,
	# because the UPDATE woke the worker (nothing else is due for an hour)
	my $moved = new_job('wake', 'ATLEAST_ONCE');
	query_value($node, "UPDATE jobsched.jobs SET next_run_at = now() + interval '1 hour' WHERE id = $moved");
	sleep 2;
	my $before = scalar(grep { $_->{path} =~ /t=wake$/ } @{ sink_requests($sink) });
	query_value($node, "UPDATE jobsched.jobs SET next_run_at = now() + interval '1 s' WHERE id = $moved");
	my $t0 = time();
	wait_for_sink($sink, 'the job moved to the next second',
		sub { (grep { $_->{path} =~ /t=wake$/ } @{ $_[0] }) > $before }, 10);
	cmp_ok(time() - $t0, '<', 2.5, 'a direct UPDATE of next_run_at wakes the worker');
	query_value($node, "SELECT jobsched.delete_job($moved)");
}

# --- trigger_job and delete_job at the same time: the delete waits for the
# trigger's transaction and takes its run too; none is left behind
{
	my $job = new_job('trigdel', 'ATMOST_ONCE', schedule => '0 0 0 1 1 *');
	my $out = '';
	my $trigger = IPC::Run::start(
		[ 'psql', '-X', '-q', '-A', '-t', '-d', $node->connstr('postgres'), '-v', 'ON_ERROR_STOP=1',
			'-c', "BEGIN; SELECT jobsched.trigger_job($job); SELECT pg_sleep(2); COMMIT;" ],
		'>', \$out, '2>&1');
	sleep 0.5;
	my $t0 = time();
	query_value($node, "SELECT jobsched.delete_job($job)");
	cmp_ok(time() - $t0, '>', 1, 'delete_job waits for a trigger_job of the same job to commit');
	$trigger->finish;
	sleep 1;
	is(query_value($node, "SELECT count(*) FROM jobsched.executions WHERE job_id = $job"), '0',
		'... and no run of the deleted job is left behind');

	# a retry written while its job was being deleted: removed when it comes due
	query_value($node, qq{
		INSERT INTO jobsched.executions (job_id, scheduled_for, attempt, status, retry_at)
		VALUES (987654321, now(), 2, 'retrying', now());
		SELECT jobsched.wake_scheduler();});
	$node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM jobsched.executions WHERE job_id = 987654321")
	  or die 'the orphaned retry stayed';
	pass('a retry whose job is gone is deleted when it comes due');
}

# --- the database enforces it: next_run_at never at or before a claimed time
{
	my $job = new_job('uniq', 'ATMOST_ONCE', schedule => '0 0 0 1 1 *');
	my ($ret, $out, $err);
	($ret, $out, $err) = $node->psql('postgres', qq{
		UPDATE jobsched.jobs SET last_claimed_for = '2040-01-01' WHERE id = $job;});
	like($err, qr/jobs_next_run_after_last_claimed/,
		'next_run_at can never be at or before the last claimed time');
}

# --- after all of the above: no run and attempt recorded twice (1.1 keeps
# unfinished runs and history apart, with no unique index across them: the
# claims, the results and trigger_job keep it so)
is(query_value($node, q{
	SELECT count(*) FROM (
		SELECT job_id, scheduled_for, attempt FROM jobsched.executions
		GROUP BY 1, 2, 3 HAVING count(*) > 1) d}),
	'0', 'no run and attempt has two executions');
# a triggered run never shares a scheduled run's (whole-second) time
is(query_value($node, q{
	SELECT count(*) FROM jobsched.executions e JOIN jobsched.jobs j ON j.id = e.job_id
	WHERE extract(microseconds FROM e.scheduled_for)::bigint % 1000000 = 0
	  AND e.scheduled_for <> jobsched.next_fire(j.schedule, j.timezone, e.scheduled_for - interval '1 microsecond')}),
	'0', 'every execution at a whole second is a scheduled fire time of its job');

$node->stop;
stop_sink($sink);
done_testing();
