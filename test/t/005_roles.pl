# Roles: each member of jobsched_user sees and changes only its own jobs,
# executions and alerts; superusers see all; a role without the grant cannot
# use jobsched; a job whose owner is dropped or loses the grant is disabled
# with an alert; a user's function cannot hijack what the worker runs.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/..";
use JobschedTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $sink = start_sink();
my $url = $sink->{url};
my $node = new_jobsched_node('roles');

$node->safe_psql('postgres', q{
	CREATE ROLE alice LOGIN;
	CREATE ROLE bob LOGIN;
	CREATE ROLE carol LOGIN;
	GRANT jobsched_user TO alice, bob;
	GRANT CREATE ON SCHEMA public TO alice;
});

# run SQL as a role; returns (ok, stdout, stderr)
sub as_role
{
	my ($role, $sql) = @_;
	my ($stdout, $stderr);
	my $rc = $node->psql('postgres', "SET ROLE $role;\n$sql",
		stdout => \$stdout, stderr => \$stderr, on_error_stop => 1);
	return ($rc == 0, $stdout, $stderr);
}

sub as_role_ok
{
	my ($role, $sql) = @_;
	my ($ok, $out, $err) = as_role($role, $sql);
	die "as $role: $sql: $err" unless $ok;
	return $out;
}

# alice plants a function the worker must never call (see below), before
# the worker prepares any statement
as_role_ok('alice', q{
	CREATE FUNCTION public.format(text, text, text, text, integer, text, text)
	RETURNS text LANGUAGE plpgsql AS $$
	BEGIN
		EXECUTE 'ALTER ROLE alice SUPERUSER';
		RETURN 'hijacked';
	END $$;
});
$node->restart;

my $alice_job = as_role_ok('alice',
	"SELECT jobsched.create_job('* * * * * *', '$url/alice', max_retries => 0)");
my $bob_job = as_role_ok('bob',
	"SELECT jobsched.create_job('0 0 0 1 1 *', '$url/bob', name => 'mine')");
is(as_role_ok('alice', "SELECT owner FROM jobsched.jobs WHERE id = $alice_job"),
	'alice', 'a job belongs to the role that created it');
is(as_role_ok('alice', "SELECT jobsched.create_job('0 0 0 1 1 *', '$url/x', name => 'mine') IS NOT NULL"),
	't', 'names are unique per owner, not across owners');

$node->poll_query_until('postgres',
	"SELECT count(*) >= 2 FROM jobsched.executions WHERE job_id = $alice_job AND status = 'succeeded'")
  or die "alice's job did not fire";

# --- what bob sees of alice
is(as_role_ok('bob', "SELECT count(*) FROM jobsched.jobs WHERE id = $alice_job"), '0',
	"bob does not see alice's job");
is(as_role_ok('bob', "SELECT count(*) FROM jobsched.job_status WHERE id = $alice_job"), '0',
	"... nor in job_status");
is(as_role_ok('bob', "SELECT count(*) FROM jobsched.executions WHERE job_id = $alice_job"), '0',
	"... nor its executions");
is(as_role_ok('bob', "SELECT count(*) FROM jobsched.executions"), '0',
	"... nor anyone else's executions");
for my $call ("modify_job($alice_job, url => '$url/bob-owns-it')",
	"pause_job($alice_job)", "resume_job($alice_job)", "trigger_job($alice_job)",
	"delete_job($alice_job)", "job_executions($alice_job)")
{
	my ($ok, $out, $err) = as_role('bob', "SELECT * FROM jobsched.$call");
	ok(!$ok && $err =~ /job $alice_job does not exist/, "bob cannot $call") or diag $err;
}
is(as_role_ok('bob', "UPDATE jobsched.jobs SET url = '$url/bob-owns-it' WHERE id = $alice_job RETURNING id"),
	'', 'a direct UPDATE of alice\'s job changes nothing');
my ($ok, $out, $err) = as_role('bob',
	"INSERT INTO jobsched.jobs (schedule, url, owner) VALUES ('* * * * * *', '$url/fake', 'alice')");
# the owner column is not bob's to set; row-level security would refuse it too
ok(!$ok && $err =~ /permission denied for table jobs|row-level security/,
	'bob cannot create a job in alice\'s name') or diag $err;
($ok, $out, $err) = as_role('bob', "DELETE FROM jobsched.executions");
ok(!$ok && $err =~ /permission denied/, 'history cannot be deleted directly') or diag $err;
($ok, $out, $err) = as_role('bob', "UPDATE jobsched.executions SET status = 'succeeded'");
ok(!$ok && $err =~ /permission denied/, '... nor rewritten') or diag $err;
is($node->safe_psql('postgres', "SELECT url FROM jobsched.jobs WHERE id = $alice_job"),
	"$url/alice", "alice's job is unchanged");

# --- a role without the grant
($ok, $out, $err) = as_role('carol', "SELECT jobsched.create_job('* * * * * *', '$url/carol')");
ok(!$ok && $err =~ /permission denied/, 'a role without jobsched_user cannot create jobs') or diag $err;
($ok, $out, $err) = as_role('carol', "SELECT count(*) FROM jobsched.jobs");
ok(!$ok && $err =~ /permission denied/, '... nor read them') or diag $err;

# --- superusers see all
is($node->safe_psql('postgres', "SELECT count(DISTINCT owner) FROM jobsched.jobs"), '2',
	'a superuser sees every role\'s jobs');

# --- a user's function must not run with the worker's rights (planted at
# the start, before the worker prepared its statements): the alert text is
# built with format(text, ...), which an exact-type function in public would
# win over pg_catalog's variadic one, were public searched.
my $failing = as_role_ok('alice',
	"SELECT jobsched.create_job('0 0 0 1 1 *', '$url/fail', max_retries => 0)");
as_role_ok('alice', "SELECT jobsched.trigger_job($failing)");
$node->poll_query_until('postgres', "SELECT count(*) = 1 FROM jobsched.alerts WHERE job_id = $failing")
  or die "no alert for alice's failing job";
is($node->safe_psql('postgres', "SELECT rolsuper FROM pg_roles WHERE rolname = 'alice'"), 'f',
	'a function planted in public is not run by the worker');
like($node->safe_psql('postgres', "SELECT message FROM jobsched.alerts WHERE job_id = $failing"),
	qr/failed after 1 attempt/, '... which used the real format()');
is(as_role_ok('alice', "SELECT count(*) FROM jobsched.alerts WHERE job_id = $failing"), '1',
	'alice sees her alert');
is(as_role_ok('bob', "SELECT count(*) FROM jobsched.alerts"), '0', 'bob does not');

# --- losing the grant, or the role, disables the job with an alert
$node->safe_psql('postgres', "REVOKE jobsched_user FROM alice");
$node->poll_query_until('postgres', "SELECT NOT active FROM jobsched.jobs WHERE id = $alice_job")
  or die "alice's job was not disabled";
is($node->safe_psql('postgres',
	"SELECT kind || ': ' || message FROM jobsched.alerts WHERE job_id = $alice_job"),
	"disabled: job $alice_job disabled: its owner \"alice\" no longer exists or is no longer a member of jobsched_user",
	'a job whose owner lost jobsched_user stops, with an alert');
sleep 2;
my $runs = $node->safe_psql('postgres', "SELECT count(*) FROM jobsched.executions WHERE job_id = $alice_job");
sleep 2;
is($node->safe_psql('postgres', "SELECT count(*) FROM jobsched.executions WHERE job_id = $alice_job"),
	$runs, '... and fires no more');

my $bob_every = as_role_ok('bob', "SELECT jobsched.create_job('* * * * * *', '$url/bob-every')");
$node->poll_query_until('postgres',
	"SELECT count(*) >= 1 FROM jobsched.executions WHERE job_id = $bob_every")
  or die "bob's job did not fire";
$node->safe_psql('postgres', "DROP ROLE bob");
$node->poll_query_until('postgres', qq{
	SELECT count(*) = 1 FROM jobsched.alerts WHERE job_id = $bob_every AND kind = 'disabled'})
  or die "no alert for the dropped owner's job";
pass('a job whose owner was dropped stops, with an alert');

$node->stop;
stop_sink($sink);
done_testing();
