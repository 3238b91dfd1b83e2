# The worker's statements keep their plans whatever the statistics of
# jobsched.runs say.  runs is a queue: what ANALYZE (or autovacuum) saw
# there a moment ago says little about what it holds now.  Its statistics
# once said "almost no run is running" (20,000 sends were waiting for
# tomorrow), and each batch of results scanned all of runs once per result
# (a nested loop with runs outside): 235 ms for 500 results, and in the
# history benchmark the worker stalled for minutes at 70 runs a second.
#
# The test gives runs such statistics on purpose (autovacuum off for it, so
# they stay), fires 200 jobs a second, and counts the rows of runs the
# worker's statements read for each run they complete: a few, not
# thousands (none at all when each result finds its run at the place the
# claim wrote it).  Then the same while another session holds a row lock on
# runs in flight (the results' locked form, SKIP LOCKED), when it moves
# them (an UPDATE: found by key), and for retries.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/..";
use JobschedTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

my $node = new_jobsched_node('plans', "jobsched.max_host_connections = 200\n");
my $sink = start_sink();
my $url = $sink->{url};

# 20,000 sends waiting for tomorrow: runs holds 20,000 rows, none running
query_value($node, "ALTER TABLE jobsched.runs SET (autovacuum_enabled = false)");
query_value($node, "SELECT count(jobsched.send('$url/ok/tomorrow?' || i, run_at => now() + interval '1 day'))
	FROM generate_series(1, 20000) i");
query_value($node, "ANALYZE jobsched.runs");
is(query_value($node, "SELECT count(*) FILTER (WHERE status = 'running') || '/' || count(*) FROM jobsched.runs"),
	'0/20000', 'runs analyzed while 20,000 runs wait and none is running');

# rows of runs read (sequentially or through an index) per run completed
# since the last call
my ($read0, $done0);
sub reads_per_run
{
	my $r = query_value($node, q{
		SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) || ' '
			   || (SELECT completed_total FROM jobsched.stats)
		FROM pg_stat_user_tables WHERE relid = 'jobsched.runs'::regclass});
	my ($read, $done) = split / /, $r;
	my $per = defined $read0 && $done > $done0 ? ($read - $read0) / ($done - $done0) : undef;
	my $n = defined $done0 ? $done - $done0 : 0;
	($read0, $done0) = ($read, $done);
	return ($per, $n);
}

# the reads of the runs completed since the last reads_per_run(), once the
# worker's last transactions are in the statistics: at least $min runs, a
# few rows of runs each
sub check_reads
{
	my ($what, $min, $max) = @_;
	$max //= 25;
	usleep(1_500_000);
	my ($per, $n) = reads_per_run();
	note sprintf('%s: %d runs completed, %.1f rows of runs read per run', $what, $n, $per // -1);
	cmp_ok($n, '>=', $min, "$what: the runs complete ($n)");
	# (held results are looked up again at each try while their lock lasts;
	# before the fix: 44-343)
	cmp_ok($per, '<=', $max, sprintf('%s: a few rows of runs read per run (%.1f), not all of them', $what, $per // -1));
}

# 200 jobs every second
query_value($node, "SELECT count(jobsched.create_job('* * * * * *', '$url/ok/job?' || i, max_retries => 0))
	FROM generate_series(1, 200) i");
sleep 2;
reads_per_run();
sleep 5;
# each result finds its run at the place the claim wrote it: no index lookup
# (by key, one row each: 1.0)
check_reads('200 jobs a second', 800, 0.5);

# the results' locked form: another session holds a row lock on some runs
# in flight (200 jobs whose answer takes 1.5 s: always some in flight), so
# every batch that meets one goes through FOR UPDATE SKIP LOCKED, and the
# held ones are written once the lock goes
query_value($node, "SELECT count(jobsched.create_job('* * * * * *', '$url/slow/1500?j=' || i, max_retries => 0))
	FROM generate_series(1, 200) i");
sleep 2;
reads_per_run();
my $holder = $node->background_psql('postgres', on_error_stop => 1);
$holder->query_safe("BEGIN");
# (through the index: a scan of all runs would count here too)
$holder->query_safe("SET LOCAL enable_seqscan = off");
my $held = $holder->query_safe("SELECT count(*) FROM (SELECT 1 FROM jobsched.runs
	WHERE job_id = ANY (ARRAY(SELECT id FROM jobsched.jobs WHERE url LIKE '%/slow/%')) AND status = 'running'
	FOR UPDATE) x");
note "holding $held runs in flight";
cmp_ok($held, '>=', 50, "another session holds runs in flight ($held)");
sleep 3;
$holder->query_safe("COMMIT");
$holder->quit;
sleep 1;
check_reads('while another session held runs', 800);

# rows of runs in flight moved by another session (an UPDATE writes a new
# version elsewhere): their results are found by key instead, and written
my $moved = query_value($node, "WITH m AS (UPDATE jobsched.runs SET sends = sends
	WHERE status = 'running' AND job_id IN (SELECT id FROM jobsched.jobs WHERE url LIKE '%/slow/%')
	RETURNING id) SELECT count(*) || ' ' || coalesce(string_agg(id::text, ','), '0') FROM m");
my ($nmoved, $moved_ids) = split / /, $moved;
cmp_ok($nmoved, '>=', 50, "rows of $nmoved runs in flight moved by another session");
$node->poll_query_until('postgres', "SELECT count(*) = $nmoved FROM jobsched.history WHERE id IN ($moved_ids)")
  or diag('recorded: ' . query_value($node, "SELECT count(*) FROM jobsched.history WHERE id IN ($moved_ids)"));
is(query_value($node, "SELECT count(*) FROM jobsched.history WHERE id IN ($moved_ids) AND status = 'succeeded'"),
	$nmoved, '... each of their results written');
is(query_value($node, "SELECT count(*) FROM jobsched.runs WHERE id IN ($moved_ids)"), '0', '... none left in runs');

# retries: 200 jobs whose every attempt fails, retried 2 times after 0.2-0.6 s
query_value($node, "UPDATE jobsched.jobs SET active = false");
query_value($node, "SELECT count(jobsched.create_job('* * * * * *', '$url/status/500?j=' || i,
	max_retries => 2, retry_backoff => '400 ms')) FROM generate_series(1, 200) i");
sleep 2;
reads_per_run();
sleep 5;
check_reads('failing jobs and their retries', 800);

# nothing left behind: the waiting sends are still waiting, no run is stuck
query_value($node, "UPDATE jobsched.jobs SET active = false WHERE kind = 'scheduled'");
$node->poll_query_until('postgres', q{
	SELECT NOT EXISTS (SELECT 1 FROM jobsched.runs WHERE status = 'running' OR retry_at < now() + interval '1 hour')})
  or diag('runs left: ' . query_value($node, q{SELECT count(*) FROM jobsched.runs
	WHERE status = 'running' OR retry_at < now() + interval '1 hour'}));
is(query_value($node, "SELECT count(*) FROM jobsched.runs"), '20000', 'only the 20,000 sends for tomorrow are left in runs');
is(query_value($node, q{SELECT count(*) FROM (SELECT job_id, scheduled_for, attempt FROM jobsched.history
	GROUP BY 1, 2, 3 HAVING count(*) > 1) d}), '0', 'each attempt recorded once');

stop_sink($sink);
$node->stop;
done_testing();
