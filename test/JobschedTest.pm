# Helpers shared by the TAP tests in test/t/: a PostgreSQL node with jobsched
# preloaded, and the loopback HTTP sink (test/sink.py) with its request log.
package JobschedTest;

use strict;
use warnings;

use Exporter 'import';
use File::Basename qw(dirname);
use File::Spec;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

our @EXPORT = qw(new_jobsched_node start_sink stop_sink sink_requests
  wait_for_sink query_value);

my $sink_script =
  File::Spec->rel2abs(dirname(__FILE__) . '/sink.py');
my $python = -x '/usr/bin/python3' ? '/usr/bin/python3' : 'python3';

# A started node running jobsched in database "postgres", extension created.
# %init goes to PostgreSQL::Test::Cluster::init (e.g. allows_streaming => 1).
sub new_jobsched_node
{
	my ($name, $extra_conf, %init) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%init);
	$node->append_conf(
		'postgresql.conf', qq{
shared_preload_libraries = 'jobsched'
jobsched.database_name = 'postgres'
jobsched.max_in_flight = 500
log_min_messages = log
} . ($extra_conf // ''));
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION jobsched');
	return $node;
}

# Start the sink on a free loopback port (or on port => N); returns a hash
# with its url.
sub start_sink
{
	my (%opt) = @_;
	my $dir = PostgreSQL::Test::Utils::tempdir();
	my $sink = {
		log => "$dir/sink.log",
		ready => "$dir/port",
		out => "$dir/sink.out",
	};
	$sink->{handle} = IPC::Run::start(
		[ $python, $sink_script, '--port', $opt{port} // '0', '--log', $sink->{log},
			'--ready-file', $sink->{ready} ],
		'>', $sink->{out}, '2>&1');
	my $deadline = time() + 30;
	while (!-s $sink->{ready})
	{
		die "sink did not start: " . slurp_file($sink->{out})
		  if time() > $deadline;
		usleep(50_000);
	}
	chomp(my $port = slurp_file($sink->{ready}));
	$sink->{port} = $port;
	$sink->{url} = "http://127.0.0.1:$port";
	note "sink listening on $sink->{url}";
	return $sink;
}

sub stop_sink
{
	my ($sink) = @_;
	$sink->{handle}->signal('TERM');
	$sink->{handle}->finish;
}

# Every request the sink has logged so far, as hashes (t, method, path,
# idempotency_key, headers, body, body_len).
sub sink_requests
{
	my ($sink) = @_;
	my @requests;
	return [] unless -e $sink->{log};
	open my $fh, '<', $sink->{log} or die "cannot read $sink->{log}: $!";
	while (my $line = <$fh>)
	{
		next unless $line =~ /\S/;
		# the sink writes whole lines only; a line being written is skipped
		my $r = eval { decode_json($line) } or next;
		push @requests, $r;
	}
	close $fh;
	return \@requests;
}

# Wait until $predicate->(requests) is true; dies after $timeout seconds.
sub wait_for_sink
{
	my ($sink, $what, $predicate, $timeout) = @_;
	my $deadline = time() + ($timeout // $PostgreSQL::Test::Utils::timeout_default);
	while (1)
	{
		my $requests = sink_requests($sink);
		return $requests if $predicate->($requests);
		die "timed out waiting for the sink to see $what" if time() > $deadline;
		usleep(100_000);
	}
}

sub query_value
{
	my ($node, $sql) = @_;
	return $node->safe_psql('postgres', $sql);
}

1;
