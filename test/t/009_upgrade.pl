# Upgrading from 1.0 (released): ALTER EXTENSION jobsched UPDATE keeps every
# job and its history, repairs what 1.0 could leave behind (a run with two
# executions), and jobs fire afterwards without a restart.  Until then the
# worker -- a library of the new version -- says once that the versions
# differ and fires nothing.  An upgraded database has the same catalog as a
# fresh install.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/..";
use JobschedTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep);

my $sink = start_sink();
my $url = $sink->{url};

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'jobsched'
jobsched.database_name = 'postgres'
log_min_messages = log
});
$node->start;
$node->safe_psql('postgres', "CREATE EXTENSION jobsched VERSION '1.0'");

# jobs and history as 1.0 had them; one run that 1.0 sent twice
my $job = query_value($node, qq{
	SELECT jobsched.create_job('* * * * * *', '$url/ok?t=upgraded', 'ATMOST_ONCE', name => 'kept',
							   headers => '{"X-A": "b"}', max_retries => 0)});
my $paused = query_value($node,
	"SELECT jobsched.create_job('0 0 12 * * *', '$url/ok?t=paused', active => false)");
query_value($node, qq{
	INSERT INTO jobsched.executions (job_id, scheduled_for, attempt, status, started_at, finished_at, http_status)
	SELECT $job, '2026-01-01 00:00:00+00'::timestamptz + i * interval '1 s', 1, 'succeeded',
		   '2026-01-01 00:00:00+00'::timestamptz + i * interval '1 s',
		   '2026-01-01 00:00:00.01+00'::timestamptz + i * interval '1 s', 200
	FROM generate_series(1, 100) i;
	INSERT INTO jobsched.executions (job_id, scheduled_for, attempt, status, finished_at)
	VALUES ($job, '2026-01-01 00:00:50+00', 1, 'succeeded', '2026-01-01 00:00:50.02+00'),
		   ($job, '2026-01-01 00:00:60+00', 1, 'failed', '2026-01-01 00:01:00.02+00');
	INSERT INTO jobsched.alerts (job_id, kind, url, message) VALUES ($job, 'failed', '$url/ok', 'old');});

sleep 6;
like(slurp_file($node->logfile),
	qr/the extension in database "postgres" is version 1.0, but the library is version 1.1; nothing is fired until they match/,
	'a 1.0 schema: the worker says the versions differ');
is(query_value($node, "SELECT count(*) FROM jobsched.executions WHERE scheduled_for > '2026-06-01'"),
	'0', '... and fires nothing');
is(query_value($node, "SELECT worker_state FROM jobsched.stats"),
	"waiting: no extension of this library's version in this database", '... which stats show');

my ($ret, $out, $err) = $node->psql('postgres', 'ALTER EXTENSION jobsched UPDATE');
is($ret, 0, 'ALTER EXTENSION jobsched UPDATE succeeds') or diag $err;
like($err, qr/renumbered the attempts of 2 executions of runs that version 1.0 sent more than once/,
	'... and says it renumbered the runs 1.0 sent twice');
is(query_value($node, "SELECT extversion FROM pg_extension WHERE extname = 'jobsched'"), '1.1', 'now 1.1');

is(query_value($node, qq{
	SELECT coalesce(name, '-') || ' ' || schedule || ' ' || type || ' ' || headers::text || ' ' || active
	FROM jobsched.jobs ORDER BY id}),
	"kept * * * * * * ATMOST_ONCE {\"X-A\": \"b\"} true\n- 0 0 12 * * * ATLEAST_ONCE {} false",
	'jobs kept with their settings');
is(query_value($node, qq{
	SELECT count(*), count(DISTINCT (scheduled_for, attempt)), max(attempt)
	FROM jobsched.executions WHERE job_id = $job}),
	'102|102|2', 'history kept, every row, each (run, attempt) once');
is(query_value($node, "SELECT last_claimed_for FROM jobsched.jobs WHERE id = $job"),
	'2026-01-01 00:01:40+00', 'the latest run 1.0 claimed is remembered');
is(query_value($node, "SELECT count(*) FROM jobsched.alerts"), '1', 'alerts kept');

# fires without a restart: the worker looks again within 5 s
my $requests = wait_for_sink($sink, 'runs after the upgrade',
	sub { (grep { $_->{path} =~ /t=upgraded$/ } @{ $_[0] }) >= 2 }, 20);
pass('the upgraded jobs fire, without a restart');
is(query_value($node, "SELECT worker_state FROM jobsched.stats"), 'running', 'the worker runs');
query_value($node, "SELECT jobsched.pause_job($job)");

# the catalog of an upgraded database is that of a fresh install
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION jobsched');
my $dump = sub {
	my ($db) = @_;
	my $schema = PostgreSQL::Test::Utils::tempdir() . "/$db.sql";
	# the worker's history partitions are named for the time they were made
	$node->command_ok([ 'pg_dump', '--schema-only', '--exclude-table=jobsched.history_2*',
			'-d', $node->connstr($db), '-f', $schema ],
		"pg_dump --schema-only of $db");
	my $text = slurp_file($schema);
	# comments, and the random key pg_dump puts around the script
	$text =~ s/^(--|\\restrict |\\unrestrict ).*\n//mg;
	return $text;
};
my $upgraded = $dump->('postgres');
my $fresh = $dump->('fresh');
ok($upgraded eq $fresh, 'an upgraded catalog equals a fresh 1.1 install (pg_dump --schema-only)')
  or diag(join "\n", grep { my $l = $_; index($fresh, $l) < 0 } split /\n/, $upgraded);

$node->stop;
stop_sink($sink);
done_testing();
