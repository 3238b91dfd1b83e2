# prometheus/jobsched-queries.yaml through Debian's prometheus-postgres-exporter:
# the exporter, started here on a loopback port against the test node, exports
# jobsched.stats with Prometheus names and types (counters end in _total),
# values consistent with the view; NULL figures (no traffic yet, a database
# where nothing fires) neither fail the scrape nor come out as NaN; the
# worker's state is a label of jobsched_worker_up.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/..";
use File::Spec;
use HTTP::Tiny;
use IO::Socket::INET;
use JobschedTest;
use POSIX qw(WNOHANG);
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep time);

my $exporter_bin = $ENV{PROMETHEUS_POSTGRES_EXPORTER} // '/usr/bin/prometheus-postgres-exporter';
plan skip_all => "$exporter_bin is not installed (Debian: apt-get install prometheus-postgres-exporter; .ci/run installs it)"
  unless -x $exporter_bin;
my $queries = File::Spec->rel2abs("$FindBin::Bin/../../prometheus/jobsched-queries.yaml");
die "$queries is missing" unless -f $queries;

# Only our queries: the flags this version has (0.11: both, and collectors
# that would still scrape pg_stat_database and the bgwriter).
my $help = `$exporter_bin --help 2>&1`;
my @exporter_flags = ("--extend.query-path=$queries");
for my $flag ('--disable-default-metrics', '--disable-settings-metrics')
{
	push @exporter_flags, $flag if $help =~ /\Q$flag\E\b/;
}
for my $collector ('database', 'bgwriter')
{
	push @exporter_flags, "--no-collector.$collector" if $help =~ /--collector\.$collector\b/;
}
note "exporter flags: @exporter_flags";

my @exporters;
my $sink;

sub free_port
{
	my $sock = IO::Socket::INET->new(
		LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp', Listen => 1, ReuseAddr => 1)
	  or die "no free loopback port: $!";
	my $port = $sock->sockport;
	close $sock;
	return $port;
}

# An exporter for database $dbname of $node, as $user (default: the OS user,
# the node's superuser), on a free loopback port; returns once /metrics
# answers.
sub start_exporter
{
	my ($node, $dbname, $user) = @_;
	$user //= getpwuid($<);
	my $dsn = sprintf('host=%s port=%d user=%s dbname=%s sslmode=disable',
		$node->host, $node->port, $user, $dbname);
	my $log = "$PostgreSQL::Test::Utils::log_path/012_exporter_${dbname}_$user.log";
	for my $try (1 .. 5)
	{
		my $port = free_port();
		my $pid = fork() // die "fork: $!";
		if ($pid == 0)
		{
			open STDIN, '<', '/dev/null';
			open STDOUT, '>>', $log or POSIX::_exit(126);
			open STDERR, '>&', \*STDOUT;
			$ENV{DATA_SOURCE_NAME} = $dsn;
			{ exec $exporter_bin, @exporter_flags, "--web.listen-address=127.0.0.1:$port" };
			POSIX::_exit(127);
		}
		my $exporter = { pid => $pid, url => "http://127.0.0.1:$port/metrics", log => $log, db => $dbname, user => $user };
		push @exporters, $exporter;
		my $deadline = time() + 30;
		while (time() < $deadline)
		{
			if (waitpid($pid, WNOHANG) == $pid)    # exited: the port was taken?
			{
				$exporter->{pid} = undef;
				$exporter->{exited} = 1;
				last;
			}
			return $exporter if HTTP::Tiny->new(timeout => 5)->get($exporter->{url})->{success};
			sleep 0.2;
		}
		stop_exporter($exporter);
		note "exporter on port $port did not answer (try $try)";
	}
	die "prometheus-postgres-exporter did not start, see $log:\n" . slurp_file($log);
}

sub stop_exporter
{
	my ($exporter) = @_;
	return unless $exporter->{pid};
	kill 'TERM', $exporter->{pid};
	my $deadline = time() + 10;
	while (waitpid($exporter->{pid}, WNOHANG) == 0)
	{
		if (time() > $deadline)
		{
			kill 'KILL', $exporter->{pid};
			waitpid($exporter->{pid}, 0);
			last;
		}
		sleep 0.1;
	}
	$exporter->{pid} = undef;
	$exporter->{exited} = 1;
}

# also when a test dies half-way: no exporter (nor sink) is left running
END
{
	local $?;    # waitpid would set the test's exit status
	stop_exporter($_) for @exporters;
	eval { $sink->{handle}->kill_kill(grace => 2) } if $sink && !$sink->{stopped};
}

# One scrape: { type => {name => type}, samples => {name => [{labels, value}]} }
sub scrape
{
	my ($exporter) = @_;
	my $r = HTTP::Tiny->new(timeout => 30)->get($exporter->{url});
	die "scrape of $exporter->{url} failed: $r->{status} $r->{reason}" unless $r->{success};
	my (%type, %samples);
	for my $line (split /\n/, $r->{content})
	{
		if ($line =~ /^# TYPE (\S+) (\S+)$/)
		{
			$type{$1} = $2;
			next;
		}
		next if $line =~ /^#/ || $line !~ /\S/;
		$line =~ /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/ or die "unparsable line: $line";
		my ($name, $labels, $value) = ($1, $2 // '', $3);
		my %labels;
		while ($labels =~ /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)
		{
			my ($k, $v) = ($1, $2);
			$v =~ s/\\(.)/$1 eq 'n' ? "\n" : $1/ge;
			$labels{$k} = $v;
		}
		push @{ $samples{$name} }, { labels => \%labels, value => $value };
	}
	return { type => \%type, samples => \%samples, text => $r->{content} };
}

# The value of the one sample of $name whose labels include %want.
sub sample
{
	my ($scrape, $name, %want) = @_;
	my @match = grep {
		my $l = $_->{labels};
		!grep { !defined $l->{$_} || $l->{$_} ne $want{$_} } keys %want
	} @{ $scrape->{samples}{$name} // [] };
	die "$name" . (%want ? ' {' . join(',', map { "$_=$want{$_}" } sort keys %want) . '}' : '')
	  . ': ' . scalar(@match) . " samples, not 1\n$scrape->{text}"
	  unless @match == 1;
	return $match[0]{value};
}

sub jobsched_names
{
	my ($scrape) = @_;
	return join ' ', sort grep { /^jobsched_/ } keys %{ $scrape->{samples} };
}

# Whether the scrape went through without an error on our queries.
sub scrape_clean
{
	my ($scrape, $what) = @_;
	is(sample($scrape, 'pg_up'), '1', "$what: the exporter is connected (pg_up 1)");
	is(sample($scrape, 'pg_exporter_last_scrape_error'), '0', "$what: the last scrape had no error");
	is(sample($scrape, 'pg_exporter_user_queries_load_error', filename => $queries), '0',
		"$what: the query file loaded");
	my @nan = map { my $n = $_; map { "$n $_->{value}" } grep { $_->{value} !~ /^-?\d+(\.\d+)?(e[-+]?\d+)?$/ } @{ $scrape->{samples}{$n} } }
	  grep { /^jobsched_/ } sort keys %{ $scrape->{samples} };
	is("@nan", '', "$what: every jobsched value is a number (no NaN)");
}

sub stats
{
	my ($node, $db) = @_;
	my @cols = qw(active_jobs due_now in_flight queued sent_total completed_total
	  succeeded_last_minute failed_last_minute timed_out_last_minute lost_last_minute retried_last_minute
	  lateness_p50_ms lateness_p99_ms);
	my $row = $node->safe_psql($db // 'postgres',
		'SELECT ' . join(', ', map { "coalesce(${_}::text, 'null')" } @cols)
		  . ", coalesce(extract(epoch from oldest_overdue)::text, 'null')"
		  . ", coalesce(extract(epoch from worker_started_at)::text, 'null'), worker_state"
		  . ' FROM jobsched.stats');
	my @v = split /\|/, $row, -1;
	my %s;
	@s{ @cols, 'oldest_overdue', 'worker_started_at', 'worker_state' } = @v;
	return \%s;
}

my %types = (
	jobsched_active_jobs => 'gauge',
	jobsched_due_now => 'gauge',
	jobsched_in_flight => 'gauge',
	jobsched_queued => 'gauge',
	jobsched_oldest_overdue_seconds => 'gauge',
	jobsched_sent_total => 'counter',
	jobsched_completed_total => 'counter',
	jobsched_executions_last_minute => 'gauge',
	jobsched_lateness_seconds => 'gauge',
	jobsched_worker_up => 'gauge',
	jobsched_worker_start_time_seconds => 'gauge');
my @outcomes = qw(failed lost retried succeeded timed_out);

$sink = start_sink();
my $url = $sink->{url};
my $node = new_jobsched_node('prometheus');
$node->safe_psql('postgres', 'CREATE DATABASE elsewhere');
$node->safe_psql('elsewhere', 'CREATE EXTENSION jobsched');
$node->poll_query_until('postgres', "SELECT worker_state = 'running' FROM jobsched.stats")
  or die 'the worker is not running';

my $exporter = start_exporter($node, 'postgres');

# --- no traffic yet: lateness is NULL in the view and absent from the scrape
{
	my $before = stats($node);
	is($before->{lateness_p99_ms}, 'null', 'no traffic yet: the view has no lateness');
	my $s = scrape($exporter);
	scrape_clean($s, 'no traffic');
	is(jobsched_names($s), join(' ', sort grep { $_ ne 'jobsched_lateness_seconds' } keys %types),
		'no traffic: every metric but the lateness quantiles');
	for my $name (sort keys %{ $s->{samples} })
	{
		next unless $name =~ /^jobsched_/;
		is($s->{type}{$name}, $types{$name}, "# TYPE $name $types{$name}");
	}
	is(sample($s, 'jobsched_sent_total'), '0', 'jobsched_sent_total 0');
	is(sample($s, 'jobsched_active_jobs'), '0', 'jobsched_active_jobs 0');
	is(sample($s, 'jobsched_oldest_overdue_seconds'), '0', 'nothing overdue: jobsched_oldest_overdue_seconds 0');
	is(sample($s, 'jobsched_worker_up', state => 'running'), '1', 'jobsched_worker_up{state="running"} 1');
	cmp_ok(abs(sample($s, 'jobsched_worker_start_time_seconds') - $before->{worker_started_at}), '<', 0.001,
		'jobsched_worker_start_time_seconds is worker_started_at');
	is(join(' ', sort map { $_->{labels}{outcome} } @{ $s->{samples}{jobsched_executions_last_minute} }),
		"@outcomes", 'jobsched_executions_last_minute: one series per outcome');
}

# --- traffic: successes, failures with a retry, timeouts; one paused job
my $ok = query_value($node, "SELECT jobsched.create_job('* * * * * *', '$url/ok?t=prom')");
query_value($node, "SELECT jobsched.create_job('* * * * * *', '$url/fail?t=prom', max_retries => 1, retry_backoff => '100 ms')");
query_value($node, "SELECT jobsched.create_job('* * * * * *', '$url/hang?t=prom', max_retries => 0, timeout => '200 ms')");
query_value($node, "SELECT jobsched.create_job('* * * * * *', '$url/ok?t=paused', active => false)");
$node->poll_query_until('postgres', q{
	SELECT succeeded_last_minute > 0 AND failed_last_minute > 0 AND timed_out_last_minute > 0
		AND retried_last_minute > 0 AND lateness_p99_ms IS NOT NULL AND sent_total >= 10
	FROM jobsched.stats}) or die 'no traffic in jobsched.stats';
{
	my $before = stats($node);
	my $s = scrape($exporter);
	my $after = stats($node);
	scrape_clean($s, 'traffic');
	is(jobsched_names($s), join(' ', sort keys %types), 'traffic: every metric, the lateness quantiles too');
	for my $name (sort keys %{ $s->{type} })
	{
		next unless $name =~ /^jobsched_/;
		is($s->{type}{$name} eq 'counter', $name =~ /_total$/ ? 1 : '',
			"$name: " . ($name =~ /_total$/ ? 'ends in _total and is a counter' : 'a gauge'));
	}
	for my $counter ('sent_total', 'completed_total')
	{
		my $v = sample($s, "jobsched_$counter");
		cmp_ok($v, '>', 0, "jobsched_$counter > 0 after runs");
		ok($before->{$counter} <= $v && $v <= $after->{$counter},
			"jobsched_$counter $v is $counter of jobsched.stats ($before->{$counter} before the scrape, $after->{$counter} after)");
	}
	is(sample($s, 'jobsched_active_jobs'), query_value($node, 'SELECT count(*) FROM jobsched.jobs WHERE active'),
		'jobsched_active_jobs is the number of active jobs');
	is(sample($s, 'jobsched_active_jobs'), '3', '... 3 (the paused one not counted)');
	for my $outcome ('succeeded', 'failed', 'timed_out', 'retried')
	{
		cmp_ok(sample($s, 'jobsched_executions_last_minute', outcome => $outcome), '>', 0,
			"jobsched_executions_last_minute{outcome=\"$outcome\"} > 0");
	}
	is(sample($s, 'jobsched_executions_last_minute', outcome => 'lost'), '0', '... {outcome="lost"} 0');
	my $p50 = sample($s, 'jobsched_lateness_seconds', quantile => '0.5');
	my $p99 = sample($s, 'jobsched_lateness_seconds', quantile => '0.99');
	ok(0 <= $p50 && $p50 <= $p99 && $p99 < 10,
		"jobsched_lateness_seconds: 0 <= quantile 0.5 ($p50) <= quantile 0.99 ($p99) < 10 s");
	for my $gauge ('due_now', 'in_flight', 'queued', 'oldest_overdue_seconds')
	{
		like(sample($s, "jobsched_$gauge"), qr/^\d+(\.\d+)?(e[-+]?\d+)?$/, "jobsched_$gauge is a number >= 0");
	}
}

# --- jobsched.enabled = off: the worker is up but fires nothing, the figures
# stand still (due jobs pile up), and the scrape shows exactly the view's
$node->safe_psql('postgres', 'ALTER SYSTEM SET jobsched.enabled = off');
$node->reload;
$node->poll_query_until('postgres', q{
	SELECT worker_state = 'disabled' AND in_flight = 0 AND queued = 0 AND due_now = 3
	FROM jobsched.stats}) or die 'the worker did not stop firing';
{
	my $before = stats($node);
	my $s = scrape($exporter);
	my $after = stats($node);
	scrape_clean($s, 'disabled');
	is(sample($s, 'jobsched_worker_up', state => 'disabled'), '0', 'jobsched.enabled off: jobsched_worker_up{state="disabled"} 0');
	is(scalar @{ $s->{samples}{jobsched_worker_up} }, 1, '... and no other worker_up series');
	is($before->{sent_total}, $after->{sent_total}, 'nothing is sent while disabled');
	is(sample($s, 'jobsched_sent_total'), $after->{sent_total}, 'jobsched_sent_total is sent_total');
	is(sample($s, 'jobsched_completed_total'), $after->{completed_total}, 'jobsched_completed_total is completed_total');
	is(sample($s, 'jobsched_due_now'), '3', 'jobsched_due_now 3: the active jobs are due');
	is(sample($s, 'jobsched_in_flight') . ' ' . sample($s, 'jobsched_queued'), '0 0', 'in_flight and queued 0');
	my $overdue = sample($s, 'jobsched_oldest_overdue_seconds');
	ok($overdue > 0 && $before->{oldest_overdue} <= $overdue && $overdue <= $after->{oldest_overdue},
		"jobsched_oldest_overdue_seconds $overdue is oldest_overdue in seconds ($before->{oldest_overdue} .. $after->{oldest_overdue})");
	for my $outcome (@outcomes)
	{
		my $v = sample($s, 'jobsched_executions_last_minute', outcome => $outcome);
		my ($hi, $lo) = ($before->{"${outcome}_last_minute"}, $after->{"${outcome}_last_minute"});
		ok($lo <= $v && $v <= $hi, "jobsched_executions_last_minute{outcome=\"$outcome\"} $v is ${outcome}_last_minute ($hi .. $lo)");
	}
	for my $q (['0.5', 'lateness_p50_ms'], ['0.99', 'lateness_p99_ms'])
	{
		my ($quantile, $col) = @$q;
		my @expected = map { $_ eq 'null' ? () : $_ / 1000 } $before->{$col}, $after->{$col};
		my $v = sample($s, 'jobsched_lateness_seconds', quantile => $quantile);
		ok((grep { abs($v - $_) < 1e-9 } @expected),
			"jobsched_lateness_seconds{quantile=\"$quantile\"} $v is $col / 1000 (@expected)");
	}
}

# --- the exporter as a role of its own, as the README sets it up: a member
# of jobsched_user with BYPASSRLS sees every job (row-level security would
# show it only its own: none)
{
	$node->safe_psql('postgres', q{
		CREATE ROLE metrics LOGIN BYPASSRLS;
		GRANT jobsched_user TO metrics;
		CREATE ROLE metrics_rls LOGIN;
		GRANT jobsched_user TO metrics_rls;});
	my $metrics = start_exporter($node, 'postgres', 'metrics');
	my $s = scrape($metrics);
	scrape_clean($s, 'as role metrics');
	is(jobsched_names($s), join(' ', sort keys %types), 'as role metrics: every metric');
	is(sample($s, 'jobsched_active_jobs') . ' ' . sample($s, 'jobsched_due_now'), '3 3',
		'as role metrics (BYPASSRLS): jobsched_active_jobs and jobsched_due_now count every job');
	is(sample($s, 'jobsched_sent_total'), stats($node)->{sent_total}, '... jobsched_sent_total as the superuser sees it');
	stop_exporter($metrics);
	is($node->safe_psql('postgres', 'SET ROLE metrics_rls; SELECT active_jobs FROM jobsched.stats'), '0',
		'without BYPASSRLS a member of jobsched_user counts only its own jobs');
}

# --- a database where nothing fires: the view has no figures, so only
# jobsched_worker_up, 0, with the state that says where the worker is
{
	my $elsewhere = start_exporter($node, 'elsewhere');
	is(stats($node, 'elsewhere')->{sent_total}, 'null', 'the view in another database has no figures');
	my $s = scrape($elsewhere);
	scrape_clean($s, 'another database');
	is(jobsched_names($s), 'jobsched_worker_up', 'another database: only jobsched_worker_up');
	like(join(' ', map { $_->{labels}{state} } @{ $s->{samples}{jobsched_worker_up} }),
		qr/^elsewhere: jobs fire in database "postgres"/, '... its state says where jobs fire');
	is(sample($s, 'jobsched_worker_up'), '0', '... and it is 0');
	stop_exporter($elsewhere);
}

stop_exporter($exporter);
ok($_->{exited}, "the exporter for database $_->{db} as $_->{user} stopped") for @exporters;
for my $exp (@exporters)
{
	# (0.11 logs a column it cannot parse at level info, with err=)
	my @bad = grep { /level=(error|warn)|\berr=/ } split /\n/, slurp_file($exp->{log});
	is("@bad", '', "the exporter for database $exp->{db} as $exp->{user} logged no error or warning");
}

$node->stop;
stop_sink($sink);
$sink->{stopped} = 1;
done_testing();
