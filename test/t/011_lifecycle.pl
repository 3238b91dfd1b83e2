# What a DBA does around the extension: CREATE EXTENSION in a server that
# does not preload the library (a plain ERROR, the session goes on), a
# jobsched.database_name that does not exist (one message, a backoff), jobs
# created in a database where nothing fires (refused, naming the one that
# fires), stats read there (no figures passed off as local), and DROP
# EXTENSION while jobs fire (one LOG line, no error loop, CREATE EXTENSION
# again resumes).
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

# --- not preloaded
{
	my $plain = PostgreSQL::Test::Cluster->new('not_preloaded');
	$plain->init;
	$plain->start;
	my ($ret, $out, $err) = $plain->psql('postgres', "CREATE EXTENSION jobsched;\nSELECT 'still here';",
		on_error_stop => 0);
	like($err, qr/ERROR:  jobsched must be loaded at server start/, 'CREATE EXTENSION without preloading: an ERROR');
	like($err, qr/HINT:  Add jobsched to shared_preload_libraries/, '... with a hint');
	unlike($err, qr/FATAL/, '... not a FATAL');
	is($out, 'still here', '... and the session goes on');
	($ret, $out, $err) = $plain->psql('postgres', "CREATE EXTENSION jobsched;");
	like($err, qr/jobsched must be loaded at server start/, '... the same error the second time');
	$plain->stop;
}

# --- jobsched.database_name names a database that does not exist (yet):
# one message, then tries further and further apart, not a FATAL a second
{
	my $nodb = PostgreSQL::Test::Cluster->new('no_database');
	$nodb->init;
	$nodb->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'jobsched'
jobsched.database_name = 'jobs_later'
});
	$nodb->start;
	sleep 12;
	my $log = slurp_file($nodb->logfile);
	my @fatal = $log =~ /(FATAL:  database "jobs_later" does not exist)/g;
	cmp_ok(scalar(@fatal), '<=', 5, 'a missing database: the worker tries less and less often ('
		  . scalar(@fatal) . ' tries in 12 s, not 12)');
	my @said = $log =~ /(the worker could not connect to database "jobs_later")/g;
	is(scalar(@said), 1, '... and says so once');
	$nodb->safe_psql('postgres', 'CREATE DATABASE jobs_later');
	$nodb->safe_psql('jobs_later', 'CREATE EXTENSION jobsched');
	$nodb->poll_query_until('jobs_later', "SELECT worker_state = 'running' FROM jobsched.stats")
	  or die 'the worker never connected';
	pass('once the database exists, the worker connects (within 30 s)');
	$nodb->stop;
}

my $node = new_jobsched_node('lifecycle');

# --- a database where nothing fires
$node->safe_psql('postgres', 'CREATE DATABASE elsewhere');
$node->safe_psql('elsewhere', 'CREATE EXTENSION jobsched');
my ($ret, $out, $err) = $node->psql('elsewhere',
	"SELECT jobsched.create_job('* * * * * *', '$url/ok?t=never')");
like($err, qr/ERROR:  a job in database "elsewhere" would never fire: jobs fire in database "postgres"/,
	'create_job where nothing fires: refused, naming the database where jobs fire');
like($err, qr/HINT:  Create the job in database "postgres"/, '... with a hint');
is($node->safe_psql('elsewhere', 'SELECT count(*) FROM jobsched.jobs'), '0', '... and nothing created');
is($node->safe_psql('elsewhere', "SELECT count(*) FROM jobsched.next_runs('*/5 * * * * *', 3)"), '3',
	'schedules can still be previewed there');
my $job = query_value($node, "SELECT jobsched.create_job('* * * * * *', '$url/ok?t=here')");
$node->poll_query_until('postgres', "SELECT sent_total > 0 FROM jobsched.stats") or die "nothing sent";
is($node->safe_psql('elsewhere', qq{
	SELECT worker_state || ' ' || coalesce(sent_total::text, '-') || ' ' || coalesce(in_flight::text, '-')
	FROM jobsched.stats}),
	'elsewhere: jobs fire in database "postgres" (jobsched.database_name) - -',
	"stats there say where the worker is, not its figures");

# --- DROP EXTENSION while jobs fire, then CREATE EXTENSION again
my $pid = query_value($node, 'SELECT worker_pid FROM jobsched.stats');
wait_for_sink($sink, 'the job firing', sub { grep { $_->{path} =~ /t=here$/ } @{ $_[0] } }, 20);
my $log_before = -s $node->logfile;
$node->safe_psql('postgres', 'DROP EXTENSION jobsched');
sleep 8;
my $log = substr(slurp_file($node->logfile), $log_before);
my @waiting = $log =~ /(waiting for CREATE EXTENSION jobsched)/g;
is(scalar(@waiting), 1, 'DROP EXTENSION: the worker says once that it waits for the extension');
unlike($log, qr/ERROR|jobsched: .* failed \(SQLSTATE/, '... and logs no error');
my $sent = scalar(grep { $_->{path} =~ /t=here$/ } @{ sink_requests($sink) });
sleep 2;
is(scalar(grep { $_->{path} =~ /t=here$/ } @{ sink_requests($sink) }), $sent, '... nothing more is sent');
$node->safe_psql('postgres', 'CREATE EXTENSION jobsched');
is(query_value($node, 'SELECT worker_pid FROM jobsched.stats'), $pid, 'the worker was not restarted');
query_value($node, "SELECT jobsched.create_job('* * * * * *', '$url/ok?t=again')");
wait_for_sink($sink, 'a job of the new extension', sub { grep { $_->{path} =~ /t=again$/ } @{ $_[0] } }, 15);
pass('CREATE EXTENSION again: jobs fire again');

$node->stop;
stop_sink($sink);
done_testing();
