# HTTPS: real TLS from nginx with certificates this test makes (a private
# CA, a server certificate for 127.0.0.1, an expired one, one for another
# host, a self-signed one, a client certificate).  Verification is always
# on: trusted targets succeed over HTTP/2 and HTTP/1.1, the others fail with
# libcurl's words for the TLS problem and an alert; the private CA counts
# only when jobsched.ssl_ca_file names it; many runs to an HTTP/2 target
# share a handful of connections; TLS sessions are resumed; a client
# certificate is presented when configured; the network policy still applies.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/..";
use JobschedTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(sleep);

my $nginx = -x '/usr/sbin/nginx' ? '/usr/sbin/nginx' : undef;
plan skip_all => 'nginx (Debian package nginx-light) is not installed' unless $nginx;

my $dir = PostgreSQL::Test::Utils::tempdir();

sub run_ok
{
	my @cmd = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run(\@cmd, '>', \$out, '2>', \$err)
	  or die "failed: @cmd\n$err";
}

# --- certificates
my $san = 'subjectAltName=IP:127.0.0.1,DNS:localhost';
run_ok('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
	'-subj', '/CN=jobsched test CA', '-keyout', "$dir/ca.key", '-out', "$dir/ca.crt");
PostgreSQL::Test::Utils::append_to_file("$dir/ca.cnf", <<"EOC");
[ ca ]
default_ca = test_ca
[ test_ca ]
dir = $dir
database = $dir/index.txt
new_certs_dir = $dir
serial = $dir/serial
default_md = sha256
policy = any_name
copy_extensions = copy
unique_subject = no
[ any_name ]
commonName = supplied
EOC
PostgreSQL::Test::Utils::append_to_file("$dir/index.txt", '');
PostgreSQL::Test::Utils::append_to_file("$dir/serial", "01\n");

# name, subjectAltName, validity (openssl ca -startdate/-enddate)
sub signed_cert
{
	my ($name, $alt, $start, $end) = @_;
	run_ok('openssl', 'req', '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', "/CN=$name",
		'-addext', $alt, '-keyout', "$dir/$name.key", '-out', "$dir/$name.csr");
	run_ok('openssl', 'ca', '-batch', '-notext', '-config', "$dir/ca.cnf", '-cert', "$dir/ca.crt",
		'-keyfile', "$dir/ca.key", '-in', "$dir/$name.csr", '-out', "$dir/$name.crt",
		$start ? ('-startdate', $start, '-enddate', $end) : ('-days', '2'));
}
signed_cert('good', $san);
signed_cert('expired', $san, '20200101000000Z', '20200201000000Z');
signed_cert('wronghost', 'subjectAltName=DNS:wrong.example');
signed_cert('client', 'subjectAltName=DNS:jobsched-client');
run_ok('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1',
	'-addext', $san, '-keyout', "$dir/selfsigned.key", '-out', "$dir/selfsigned.crt");

# --- nginx: one server per case, each on a port of its own
my %port;
my $servers = '';
for my $case (qw(h2 h2cold h1 expired wronghost selfsigned mtls))
{
	$port{$case} = PostgreSQL::Test::Cluster::get_free_port();
	my $cert = { h2 => 'good', h2cold => 'good', h1 => 'good', mtls => 'good' }->{$case} // $case;
	my $listen = "listen 127.0.0.1:$port{$case} ssl" . ($case eq 'h1' ? '' : ' http2');
	my $client = $case eq 'mtls' ? "ssl_verify_client on; ssl_client_certificate $dir/ca.crt;" : '';
	# the HTTP/1.1 target closes idle connections soon: the next ones resume the session
	$client .= 'keepalive_timeout 1s;' if $case eq 'h1';
	$servers .= qq{
  server {
    $listen;
    ssl_certificate $dir/$cert.crt;
    ssl_certificate_key $dir/$cert.key;
    $client
    location / { return 200 "ok\\n"; }
  }};
}
PostgreSQL::Test::Utils::append_to_file("$dir/nginx.conf", qq{
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 4096; }
http {
  log_format ts '\$msec \$server_port \$server_protocol \$connection \$ssl_session_reused \$status \$request_uri';
  access_log $dir/access.log ts;
  client_body_temp_path $dir;
  keepalive_requests 100000;
$servers
}
});
run_ok($nginx, '-c', "$dir/nginx.conf", '-p', $dir);

sub nginx_log
{
	my ($tag) = @_;
	return [] unless -e "$dir/access.log";
	return [ map { my @f = split / /; { port => $f[1], protocol => $f[2], conn => $f[3], reused => $f[4], status => $f[5], uri => $f[6] } }
		  grep { / \/\S*[?&]t=\Q$tag\E\b/ } split /\n/, slurp_file("$dir/access.log") ];
}

my $node = new_jobsched_node('https', qq{
jobsched.ssl_ca_file = '$dir/ca.crt'
jobsched.max_host_connections = 64
});

sub url { my ($case, $tag) = @_; return "https://127.0.0.1:$port{$case}/ok?t=$tag" }

# Trigger $n runs of a job to $case and wait for them to end; returns the
# statuses and errors of its executions.
sub fire
{
	my ($case, $tag, %opt) = @_;
	my $n = $opt{n} // 1;
	query_value($node, qq{
		SELECT count(jobsched.trigger_job(jobsched.create_job('0 0 0 1 1 *', '@{[ url($case, $tag) ]}&i=' || i,
															 max_retries => 0, timeout => '10 s')))
		FROM generate_series(1, $n) i});
	$node->poll_query_until('postgres', qq{
		SELECT count(*) = $n FROM jobsched.executions e JOIN jobsched.jobs j ON j.id = e.job_id
		WHERE j.url LIKE '%t=$tag&%' AND e.status NOT IN ('running', 'retrying')})
	  or die "the runs of $tag did not end";
	return query_value($node, qq{
		SELECT e.status || ' ' || coalesce(e.http_status::text, '-') || ' ' || coalesce(e.error, '')
		FROM jobsched.executions e JOIN jobsched.jobs j ON j.id = e.job_id
		WHERE j.url LIKE '%t=$tag&%' ORDER BY e.id LIMIT 1});
}

# --- trusted targets, HTTP/2 and HTTP/1.1
is(fire('h2', 'h2'), 'succeeded 200 ', 'HTTPS with a certificate of the private CA: succeeded');
is(nginx_log('h2')->[0]{protocol}, 'HTTP/2.0', '... over HTTP/2');
is(fire('h1', 'h1'), 'succeeded 200 ', 'an HTTP/1.1-only HTTPS target: succeeded');
is(nginx_log('h1')->[0]{protocol}, 'HTTP/1.1', '... over HTTP/1.1');

# --- what must fail, with the TLS problem named, and an alert
like(fire('expired', 'expired'), qr/^failed - SSL certificate problem: certificate has expired/,
	'an expired certificate: failed, saying so');
like(fire('wronghost', 'wronghost'),
	qr/^failed - SSL: no alternative certificate subject name matches target host name '127.0.0.1'/,
	'a certificate for another host: failed, saying so');
like(fire('selfsigned', 'selfsigned'), qr/^failed - SSL certificate problem: self[- ]signed certificate/,
	'an untrusted (self-signed) certificate: failed, saying so');
is(query_value($node, qq{
	SELECT count(*) FROM jobsched.alerts a JOIN jobsched.jobs j ON j.id = a.job_id
	WHERE a.kind = 'failed' AND (j.url LIKE '%t=expired&%' OR j.url LIKE '%t=wronghost&%' OR j.url LIKE '%t=selfsigned&%')}),
	'3', '... each with an alert');
is(scalar(@{ nginx_log('expired') }) + scalar(@{ nginx_log('wronghost') }) + scalar(@{ nginx_log('selfsigned') }),
	0, '... and no request reached those servers');

# --- many runs at once to an HTTP/2 target never contacted before: they
# wait for the first connection's handshake and share it, rather than each
# opening one of its own
fire('h2cold', 'h2many', n => 200);
my %h2conns = map { $_->{conn} => 1 } @{ nginx_log('h2many') };
is(scalar(grep { $_->{status} == 200 } @{ nginx_log('h2many') }), 200, '200 runs at once over HTTP/2: all answered');
cmp_ok(scalar(keys %h2conns), '<=', 4, '... over ' . scalar(keys %h2conns) . ' connection(s), not one per run');

# --- many runs to an HTTP/1.1 target: connections kept, TLS sessions resumed
fire('h1', 'h1many', n => 200);
my %h1conns = map { $_->{conn} => 1 } @{ nginx_log('h1many') };
cmp_ok(scalar(keys %h1conns), '<=', 64, 'HTTP/1.1: at most max_host_connections connections (' . scalar(keys %h1conns) . ')');
sleep 2.5;    # the target has closed them
fire('h1', 'h1again', n => 5);
my %again = map { $_->{conn} => $_->{reused} } @{ nginx_log('h1again') };
is(join(',', sort values %again), join(',', map { 'r' } keys %again),
	'new connections to a host resume its TLS session (no full handshake)');

# --- a handshake that never completes holds only its own run: a target
# that accepts the connection and never answers the ClientHello (a socket
# that listens and is never read), beside a healthy HTTP/2 target
{
	my $stall_port = PostgreSQL::Test::Cluster::get_free_port();
	my $stall = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $stall_port,
		Listen => 16, ReuseAddr => 1) or die "cannot listen: $!";
	my $stalled = query_value($node, qq{
		SELECT jobsched.create_job('0 0 0 1 1 *', 'https://127.0.0.1:$stall_port/?t=stall', max_retries => 0,
								   timeout => '3 s')});
	my $beside = query_value($node, qq{
		SELECT jobsched.create_job('0 0 0 1 1 *', '@{[ url('h2', 'beside') ]}&i=1', max_retries => 0)});
	my $t0 = Time::HiRes::time();
	query_value($node, "SELECT jobsched.trigger_job($stalled), jobsched.trigger_job($beside)");
	$node->poll_query_until('postgres',
		"SELECT status = 'succeeded' FROM jobsched.executions WHERE job_id = $beside")
	  or die 'the run beside the stalled handshake did not succeed';
	my $took = Time::HiRes::time() - $t0;
	cmp_ok($took, '<', 1.5, sprintf('a stalled TLS handshake does not hold up another host (%.2f s)', $took));
	$node->poll_query_until('postgres',
		"SELECT status = 'timed_out' FROM jobsched.executions WHERE job_id = $stalled")
	  or die 'the stalled handshake did not time out';
	pass('... and the stalled one times out on its own');
	close $stall;
}

# --- a client certificate, when the target asks for one
is(fire('mtls', 'mtls-none'), 'failed 400 HTTP status 400', 'a target that wants a client certificate: 400 without one');
$node->append_conf('postgresql.conf', "jobsched.ssl_cert_file = '$dir/client.crt'\njobsched.ssl_key_file = '$dir/client.key'\n");
$node->reload;
sleep 1;
is(fire('mtls', 'mtls'), 'succeeded 200 ', '... and succeeds with jobsched.ssl_cert_file and ssl_key_file');

# --- the private CA is trusted only when configured
$node->append_conf('postgresql.conf', "jobsched.ssl_ca_file = ''\n");
$node->reload;
sleep 1;
like(fire('h2', 'h2-noca'), qr/^failed - SSL certificate problem: unable to get local issuer certificate/,
	'without jobsched.ssl_ca_file the private CA is not trusted (the system store alone)');
$node->append_conf('postgresql.conf', "jobsched.ssl_ca_file = '$dir/ca.crt'\n");

# --- the network policy applies to HTTPS targets as to any (the job is
# created first: the policy is checked at creation too)
my $denied = query_value($node,
	"SELECT jobsched.create_job('0 0 0 1 1 *', '@{[ url('h2', 'h2-denied') ]}&i=1', max_retries => 0)");
$node->append_conf('postgresql.conf', "jobsched.network_policy = 'deny 127.0.0.0/8, deny ::1, allow all'\n");
$node->reload;
sleep 1;
query_value($node, "SELECT jobsched.trigger_job($denied)");
$node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM jobsched.executions WHERE job_id = $denied AND status = 'failed'")
  or die 'the denied run did not fail';
like(query_value($node, "SELECT error FROM jobsched.executions WHERE job_id = $denied"),
	qr/^blocked by jobsched.network_policy: /, 'the network policy blocks a denied address over HTTPS');
is(scalar(@{ nginx_log('h2-denied') }), 0, '... and nothing reached it');

$node->stop;
kill 'TERM', slurp_file("$dir/nginx.pid") =~ s/\s+//gr;
done_testing();
