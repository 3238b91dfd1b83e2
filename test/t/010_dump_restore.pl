# pg_dump and pg_restore keep every job with all its settings, the history
# and the alerts, and the sequences: after a round trip into a fresh
# database (custom and plain formats) a new job gets a new id, never a used
# one, and the restored database's worker fires the restored jobs.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/..";
use JobschedTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $sink = start_sink();
my $url = $sink->{url};
my $node = new_jobsched_node('dump');

query_value($node, qq{
	CREATE ROLE app LOGIN IN ROLE jobsched_user;
	SET ROLE app;
	SELECT jobsched.create_job('0 30 2 * * MON-FRI', 'https://example.com/hook?x=1', 'ATMOST_ONCE',
							   name => 'nightly', timezone => 'Europe/Berlin', method => 'PUT',
							   headers => '{"X-Token": "abc"}', body => 'hello', max_retries => 0,
							   retry_backoff => '5 s', timeout => '2 s', overlap => 'skip',
							   misfire => 'skip', follow_redirects => true);
	SELECT jobsched.create_job('0 0 0 1 1 *', '$url/ok?t=restored', active => false);
	RESET ROLE;
	SELECT jobsched.create_job('* * * * * *', '$url/fail?t=history', max_retries => 0);});
$node->poll_query_until('postgres', "SELECT count(*) >= 3 FROM jobsched.alerts")
  or die "no history";
query_value($node, "SELECT jobsched.pause_job(id) FROM jobsched.jobs WHERE url LIKE '%t=history'");
query_value($node, qq{
	SELECT jobsched.create_job('* * * * * *', '$url/ok?t=left', max_retries => 0);});
$node->poll_query_until('postgres',
	"SELECT count(*) >= 2 FROM jobsched.executions e JOIN jobsched.jobs j ON j.id = e.job_id WHERE j.url LIKE '%t=left'")
  or die "no history";
query_value($node, "SELECT jobsched.pause_job(id) FROM jobsched.jobs WHERE url LIKE '%t=left'");
sleep 1;

my $jobs_sql = qq{
	SELECT id, name, schedule, timezone, url, method, headers, body, type, max_retries,
		   retry_backoff, timeout, overlap, misfire, follow_redirects, active, owner,
		   created_at, updated_at, last_claimed_for
	FROM jobsched.jobs ORDER BY id};
my $history_sql = qq{
	SELECT (SELECT string_agg(concat_ws(',', id, job_id, scheduled_for, attempt, status, http_status, sends), ';' ORDER BY id)
			FROM jobsched.executions),
		   (SELECT string_agg(concat_ws(',', id, job_id, kind, message), ';' ORDER BY id) FROM jobsched.alerts)};
my $jobs = query_value($node, $jobs_sql);
my $history = query_value($node, $history_sql);
my $max_id = query_value($node, "SELECT max(id) FROM jobsched.jobs");
like($history, qr/failed.*\|.*failed/, 'history and alerts to dump');

my $dir = PostgreSQL::Test::Utils::tempdir();
for my $format ('custom', 'plain')
{
	my $db = "restored_$format";
	my $file = "$dir/dump.$format";
	$node->command_ok([ 'pg_dump', '--format', $format, '-f', $file, '-d', $node->connstr('postgres') ],
		"pg_dump --format $format");
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	if ($format eq 'custom')
	{
		$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr($db), $file ],
			'pg_restore of the custom format');
	}
	else
	{
		$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr($db), '-f', $file ],
			'psql restore of the plain format');
	}
	is($node->safe_psql($db, $jobs_sql), $jobs, "$format: every job, every setting, its owner");
	is($node->safe_psql($db, $history_sql), $history, "$format: the history and the alerts");
	cmp_ok($node->safe_psql($db, "SELECT nextval('jobsched.jobs_id_seq')"),
		'>', $max_id, "$format: a job created after the restore gets a new id");
	my $exec_next = $node->safe_psql($db, "SELECT nextval('jobsched.executions_id_seq')");
	cmp_ok($exec_next, '>', $node->safe_psql('postgres', "SELECT max(id) FROM jobsched.executions"),
		"$format: ... and so does an execution");
}

# the worker of a restored database fires its jobs (restart it there)
$node->append_conf('postgresql.conf', "jobsched.database_name = 'restored_custom'\n");
$node->restart;
$node->safe_psql('restored_custom',
	"SELECT jobsched.trigger_job(id) FROM jobsched.jobs WHERE url LIKE '%t=restored'");
wait_for_sink($sink, 'a run from the restored database',
	sub { grep { $_->{path} =~ /t=restored$/ } @{ $_[0] } }, 20);
pass('the restored database fires its jobs');

$node->stop;
stop_sink($sink);
done_testing();
