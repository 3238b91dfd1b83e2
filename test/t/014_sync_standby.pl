# At-most-once across a failover, with synchronous replication (issue 14):
# an ATMOST_ONCE request goes out only once the synchronous standby has
# confirmed its claim; while it confirms nothing those runs wait (visible
# in jobsched.stats and pg_stat_activity) and ATLEAST_ONCE runs go on.
#
# The defect this guards against: the primary's walsender frozen (SIGSTOP)
# for 3 s, the primary killed, the standby promoted -- every ATMOST_ONCE run
# sent during the freeze was sent again by the new primary, which had never
# seen its claim.  test/failover.py does the same under Patroni.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";
use JobschedTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

my $primary = new_jobsched_node('primary', qq{
jobsched.misfire_grace = '60s'
synchronous_commit = on
wal_sender_timeout = 0
}, allows_streaming => 1);
my $sink = start_sink();
my $url = $sink->{url};

# 5 of each type, every second
my (@at_most, @at_least);
for my $n (1 .. 5)
{
	push @at_most, query_value($primary,
		"SELECT jobsched.create_job('* * * * * *', '$url/am?j=$n', type => 'ATMOST_ONCE')");
	push @at_least, query_value($primary,
		"SELECT jobsched.create_job('* * * * * *', '$url/al?j=$n', type => 'ATLEAST_ONCE')");
}
my %at_most = map { $_ => 1 } @at_most;

$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

# (job id, scheduled microseconds) of each arrival, with its arrival time
sub arrivals
{
	my @out;
	for my $r (@{ sink_requests($sink) })
	{
		next unless ($r->{idempotency_key} // '') =~ /^jobsched-(\d+)-(\d+)$/;
		push @out, { job => $1, at => $2, t => $r->{t}, am => $at_most{$1} ? 1 : 0 };
	}
	return \@out;
}

sub count_between
{
	my ($am, $from, $to) = @_;
	return scalar grep { $_->{am} == $am && $_->{t} >= $from && $_->{t} < $to } @{ arrivals() };
}

sub stats_value
{
	my ($node, $column) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', "SELECT $column FROM jobsched.stats");
	return $rc == 0 ? $out : "error: $err";
}

sub walsender_pid
{
	return query_value($primary,
		"SELECT pid FROM pg_stat_replication WHERE state = 'streaming' LIMIT 1");
}

# --- asynchronous replication: claims are confirmed by the local flush
is(stats_value($primary, 'claims_confirmed_by'), 'local flush',
	'without synchronous_standby_names: claims_confirmed_by is local flush');

# --- a hot standby: no scheduler, but stats and job_status can be read
is($standby->safe_psql('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'jobsched%'"),
	'0', 'no jobsched process runs on the standby');
my ($rc, $out, $err) = $standby->psql('postgres',
	'SELECT worker_state, active_jobs FROM jobsched.stats');
is($rc, 0, 'jobsched.stats can be read on a hot standby') or diag $err;
like($out, qr/^not running\|10$/, '... and says the worker is not running there');
($rc, $out, $err) = $standby->psql('postgres', 'SELECT count(*) FROM jobsched.job_status');
is($rc, 0, 'jobsched.job_status can be read on a hot standby') or diag $err;

# --- synchronous replication
$primary->append_conf('postgresql.conf', "synchronous_standby_names = '*'");
$primary->reload;
$primary->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_replication WHERE sync_state = 'sync'")
  or die 'the standby did not become synchronous';
$primary->poll_query_until('postgres',
	"SELECT claims_confirmed_by = 'synchronous standbys' FROM jobsched.stats")
  or fail('claims_confirmed_by never became synchronous standbys');
pass('with a synchronous standby: claims_confirmed_by is synchronous standbys');

my $t = time();
wait_for_sink($sink, 'runs of both types with a synchronous standby',
	sub { count_between(1, $t, 1e12) >= 10 && count_between(0, $t, 1e12) >= 10 }, 30);
pass('both types fire while the standby confirms');

# --- the standby confirms nothing (walsender frozen): ATMOST_ONCE waits
my $walsender = walsender_pid();
my $freeze = time();
kill 'STOP', $walsender;
sleep 1;
my $awaiting = stats_value($primary, 'awaiting_sync');
my $waiter = query_value($primary,
	"SELECT pid || ' ' || coalesce(wait_event, '') FROM pg_stat_activity WHERE backend_type = 'jobsched sync waiter'");
my $scheduler_activity = query_value($primary,
	"SELECT query FROM pg_stat_activity WHERE backend_type = 'jobsched scheduler'");
# a cancel ends a commit's wait; it must not release these runs
my ($waiter_pid) = split / /, $waiter;
query_value($primary, "SELECT pg_cancel_backend($waiter_pid)") if $waiter_pid;
sleep 2;
my $awaiting_after_cancel = stats_value($primary, 'awaiting_sync');
my $thaw = time();
like($awaiting, qr/^[1-9]\d*$/, "while the standby confirms nothing: awaiting_sync > 0 ($awaiting)");
like($waiter, qr/^\d+ SyncRep$/, "... the sync waiter is in pg_stat_activity, waiting on SyncRep ($waiter)");
like($scheduler_activity, qr/ATMOST_ONCE runs wait for synchronous standbys/,
	"... the scheduler's activity says so ($scheduler_activity)");
like($awaiting_after_cancel, qr/^[1-9]\d*$/, '... and a cancel of the waiter releases nothing');
is(count_between(1, $freeze + 0.4, $thaw), 0, '... no ATMOST_ONCE request goes out');
cmp_ok(count_between(0, $freeze + 0.4, $thaw), '>=', 5 * 2,
	'... ATLEAST_ONCE requests go on');

# thawed: the held runs go out, each once
kill 'CONT', $walsender;
my $held_sent = eval {
	wait_for_sink($sink, 'the held ATMOST_ONCE runs after the standby thawed',
		sub { scalar(grep { $_->{am} && $_->{at} / 1e6 >= $freeze + 1 && $_->{at} / 1e6 < $thaw - 0.5 } @{ arrivals() }) >= 5 }, 20);
};
ok($held_sent, 'after the standby confirms again, the held runs go out')
  or diag query_value($primary, "SELECT awaiting_sync, claims_confirmed_by, queued FROM jobsched.stats"),
  "\n", query_value($primary, "SELECT backend_type, wait_event, query FROM pg_stat_activity WHERE backend_type LIKE 'jobsched%' OR backend_type = 'walsender'"),
  "\n", query_value($primary, "SELECT pg_current_wal_lsn(), flush_lsn, sync_state FROM pg_stat_replication");

# --- synchronous replication switched off: the held runs go out on their local commit
$walsender = walsender_pid();
kill 'STOP', $walsender;
$freeze = time();
sleep 1.5;
$primary->safe_psql('postgres',
	"ALTER SYSTEM SET synchronous_standby_names = ''; SELECT pg_reload_conf()");
my $released = time();
wait_for_sink($sink, 'ATMOST_ONCE runs after synchronous_standby_names was emptied',
	sub { scalar(grep { $_->{am} && $_->{t} >= $released } @{ arrivals() }) >= 5 }, 20);
pass('emptying synchronous_standby_names releases the held runs, as it does commits');
$primary->poll_query_until('postgres',
	"SELECT claims_confirmed_by = 'local flush' FROM jobsched.stats")
  or fail('claims_confirmed_by did not go back to local flush');
kill 'CONT', $walsender;
$primary->safe_psql('postgres',
	"ALTER SYSTEM RESET synchronous_standby_names; SELECT pg_reload_conf()");
$primary->poll_query_until('postgres',
	"SELECT claims_confirmed_by = 'synchronous standbys' FROM jobsched.stats")
  or fail('claims_confirmed_by did not become synchronous standbys again');
$primary->wait_for_catchup($standby);

# --- the defect: walsender frozen for 3 s, primary killed, standby promoted
$walsender = walsender_pid();
kill 'STOP', $walsender;
$freeze = time();
sleep 3;
my $killed = time();
$primary->kill9;
kill 'KILL', $walsender;
# the old primary's processes are gone before the new one fires
usleep(300_000);
$standby->promote;
my $promoted = time();
$standby->poll_query_until('postgres',
	"SELECT worker_state = 'running' FROM jobsched.stats")
  or die 'the promoted standby did not start its scheduler';
wait_for_sink($sink, 'requests from the new primary',
	sub { scalar(grep { $_->{t} > $promoted } @{ $_[0] }) > 0 }, 30);
my ($first) = sort { $a <=> $b } map { $_->{t} } grep { $_->{t} > $promoted } @{ arrivals() };
note sprintf('promotion -> first request from the new primary: %.3f s', $first - $promoted);
cmp_ok($first - $promoted, '<', 3, 'the new primary fires within seconds of its promotion');
sleep 4;
my $end = time();

# every run accounted for
my (%seen, %late);
for my $a (@{ arrivals() })
{
	$seen{"$a->{job} $a->{at}"}++;
}
my @twice = grep { $seen{$_} > 1 && $at_most{ (split / /)[0] } } sort keys %seen;
is(scalar(@twice), 0, 'no ATMOST_ONCE run was sent twice across the failover')
  or diag 'sent twice: ' . join(', ', @twice[0 .. ($#twice < 9 ? $#twice : 9)]);
my @missing;
for my $job (@at_least)
{
	my @times = sort { $a <=> $b } map { (split / /)[1] } grep { /^$job / } keys %seen;
	for (my $s = $times[0]; $s / 1e6 < $end - 3; $s += 1_000_000)
	{
		push @missing, "$job $s" unless $seen{"$job $s"};
	}
}
is(scalar(@missing), 0, 'no ATLEAST_ONCE run was lost across the failover')
  or diag 'never sent: ' . join(', ', @missing[0 .. ($#missing < 9 ? $#missing : 9)]);
my $am_during_freeze = scalar grep { $_->{am} && $_->{t} >= $freeze + 0.4 && $_->{t} < $killed } @{ arrivals() };
is($am_during_freeze, 0, 'no ATMOST_ONCE request went out while the standby confirmed nothing');

$standby->stop;
stop_sink($sink);
done_testing();
