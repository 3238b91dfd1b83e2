/*-------------------------------------------------------------------------
 *
 * http.c
 *		The worker's HTTP executor, on libcurl's multi interface.
 *
 * Requests are driven through curl's socket API: curl tells us which
 * sockets it wants watched (socket callback) and when it next needs a call
 * for its timeouts (timer callback).  The sockets go into one epoll set whose
 * descriptor the worker waits on together with its latch, so a single
 * WaitEventSetWait() sleeps until a job is due, a job changed, or any
 * response arrived -- and one slow target never holds up the others.
 *
 * Finished connections stay in curl's connection cache and are reused by
 * the next request to the same host; easy handles are pooled too, so in
 * steady state a request costs no connect and no allocation in curl.
 *
 * Callbacks from curl must not throw: they only log.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/epoll.h>
#include <curl/curl.h>

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "http.h"
#include "signing.h"

#define UNIX_TO_POSTGRES_USECS \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * USECS_PER_SEC)
#include "jobsched.h"

#define USER_AGENT "jobsched/" JOBSCHED_VERSION
#define MAX_REDIRECTS 10
#define EPOLL_BATCH 256

static CURLM *multi = NULL;
static CURLSH *share = NULL;	/* TLS sessions, for resumption across handles */

/*
 * The CA bundle requests verify against (NULL: libcurl's default).  libcurl
 * parses a bundle once and caches the result -- but only for a bundle file
 * alone, without a CA directory, and Debian's libcurl has /etc/ssl/certs as
 * its default directory: each new TLS connection then parsed the system's
 * 150 certificates again (~25 ms).  So requests name the system bundle and
 * no directory; with jobsched.ssl_ca_file, a bundle of both is written to
 * pg_stat_tmp (under a new name each time, as the cache goes by name).
 */
static char *ca_bundle = NULL;
static char ca_bundle_written[MAXPGPATH] = "";
static char ca_bundle_before[MAXPGPATH] = "";	/* kept while requests may still read it */
static int	ca_bundle_generation = 0;
static int	epoll_fd = -1;
static int	in_flight = 0;
static TimestampTz timer_deadline = -1;	/* -1: curl wants no timer call */
static MemoryContext request_context = NULL;

/* Easy handles kept for reuse. */
static CURL **easy_pool = NULL;
static int	easy_pool_len = 0;
static int	easy_pool_size = 0;

/*
 * What the epoll set holds for each descriptor, by number.  A request on a
 * kept-alive connection would otherwise cost two epoll_ctl calls, ADD when
 * curl waits for the response and DEL when the transfer is done: 4% of the
 * worker's time at 5,000 runs a second.  So a socket of ours that curl stops
 * watching while it waits for input only is left in the set, "parked": the
 * next request on the connection waits for input again and needs no call
 * at all.  A parked socket that turns readable (the server closed the idle
 * connection) is taken out then, without bothering curl, which checks a
 * connection before reusing it.  Only sockets we opened and will see closed
 * (open_socket_callback, close_socket_callback) are parked: a closed socket
 * leaves the set by itself, and its number must not keep the state.  (The
 * others, such as the pipe of curl's resolver, are taken out when curl says
 * so, as before.)
 */
#define SOCK_OURS		0x01	/* opened by open_socket_callback */
#define SOCK_IN_SET		0x02	/* in the epoll set */
#define SOCK_PARKED		0x04	/* in the set, not watched by curl */
#define SOCK_WANT_IN	0x08	/* the events it is in the set for */
#define SOCK_WANT_OUT	0x10

static uint8 *sock_state = NULL;
static int	sock_state_size = 0;

static uint8 *
sock_state_of(curl_socket_t fd)
{
	if (fd >= sock_state_size)
	{
		int			size = Max(1024, sock_state_size);

		while (size <= fd)
			size *= 2;
		if (sock_state == NULL)
			sock_state = MemoryContextAllocZero(TopMemoryContext, size);
		else
		{
			sock_state = repalloc(sock_state, size);
			memset(sock_state + sock_state_size, 0, size - sock_state_size);
		}
		sock_state_size = size;
	}
	return &sock_state[fd];
}

static void
sock_unwatch(curl_socket_t fd, uint8 *state)
{
	/* the socket may already be closed: ENOENT/EBADF are fine */
	(void) epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, NULL);
	*state &= SOCK_OURS;
}

static int
socket_callback(CURL *easy, curl_socket_t fd, int what, void *userp,
				void *socketp)
{
	struct epoll_event ev;
	uint8	   *state = sock_state_of(fd);
	uint8		want;

	/*
	 * A socket curl made itself (its resolver's) may have been closed and
	 * its number reused without our knowing: its state holds only while
	 * curl's own entry for it (socketp) says we registered it.
	 */
	if (!(*state & SOCK_OURS) && socketp == NULL)
		*state = 0;

	if (what == CURL_POLL_REMOVE)
	{
		if ((*state & SOCK_OURS) &&
			(*state & (SOCK_IN_SET | SOCK_WANT_IN | SOCK_WANT_OUT)) == (SOCK_IN_SET | SOCK_WANT_IN))
			*state |= SOCK_PARKED;
		else if (*state & SOCK_IN_SET)
			sock_unwatch(fd, state);
		return 0;
	}

	want = ((what & CURL_POLL_IN) ? SOCK_WANT_IN : 0) |
		((what & CURL_POLL_OUT) ? SOCK_WANT_OUT : 0);
	if ((*state & SOCK_IN_SET) &&
		(*state & (SOCK_WANT_IN | SOCK_WANT_OUT)) == want)
	{
		*state &= ~SOCK_PARKED;
		return 0;
	}

	memset(&ev, 0, sizeof(ev));
	ev.events = ((want & SOCK_WANT_IN) ? EPOLLIN : 0) |
		((want & SOCK_WANT_OUT) ? EPOLLOUT : 0);
	ev.data.fd = fd;
	if (epoll_ctl(epoll_fd, (*state & SOCK_IN_SET) ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) != 0)
	{
		int			retry_op = (errno == EEXIST) ? EPOLL_CTL_MOD :
		(errno == ENOENT) ? EPOLL_CTL_ADD : -1;

		if (retry_op < 0 || epoll_ctl(epoll_fd, retry_op, fd, &ev) != 0)
		{
			elog(LOG, "jobsched: could not watch socket %d: %m", fd);
			*state &= SOCK_OURS;
			return 0;
		}
	}
	*state = (*state & SOCK_OURS) | SOCK_IN_SET | want;
	if (!(*state & SOCK_OURS) && socketp == NULL)
		curl_multi_assign(multi, fd, (void *) 1);
	return 0;
}

static int
timer_callback(CURLM *m, long timeout_ms, void *userp)
{
	if (timeout_ms < 0)
		timer_deadline = -1;
	else
		timer_deadline = GetCurrentTimestamp() + (TimestampTz) timeout_ms * 1000;
	return 0;
}

/*
 * Every connection curl makes -- to the job's host after DNS resolution, to
 * each redirect target -- is checked against jobsched.network_policy here,
 * just before the socket is opened, so a DNS answer cannot bypass it.
 */
static curl_socket_t
open_socket_callback(void *clientp, curlsocktype purpose,
					 struct curl_sockaddr *address)
{
	HttpRequest *request = (HttpRequest *) clientp;
	char		why[sizeof(request->policy_error)];
	curl_socket_t fd;

	if (jobsched_network_policy != NULL &&
		!netpolicy_allows(jobsched_network_policy, &address->addr,
						  address->addrlen, why, sizeof(why)))
	{
		strlcpy(request->policy_error, why, sizeof(request->policy_error));
		return CURL_SOCKET_BAD;
	}
	/* an address tried before may have been refused: this one is not */
	request->policy_error[0] = '\0';
	fd = socket(address->family, address->socktype, address->protocol);
	if (fd != CURL_SOCKET_BAD)
		*sock_state_of(fd) = SOCK_OURS;
	return fd;
}

/* Every socket open_socket_callback made is closed here (see sock_state). */
static int
close_socket_callback(void *clientp, curl_socket_t fd)
{
	if (fd < sock_state_size)
		sock_state[fd] = 0;
	return close(fd);
}

#if LIBCURL_VERSION_NUM >= 0x075000
/*
 * Before every request, on a new or a reused connection: a connection kept
 * alive from before a policy change must not carry requests the policy now
 * denies.
 */
static int
prereq_callback(void *clientp, char *conn_primary_ip, char *conn_local_ip,
				int conn_primary_port, int conn_local_port)
{
	HttpRequest *request = (HttpRequest *) clientp;
	char		why[sizeof(request->policy_error)];

	if (jobsched_network_policy != NULL &&
		!netpolicy_allows_text(jobsched_network_policy, conn_primary_ip,
							   why, sizeof(why)))
	{
		strlcpy(request->policy_error, why, sizeof(request->policy_error));
		return CURL_PREREQFUNC_ABORT;
	}
	return CURL_PREREQFUNC_OK;
}
#endif

/* Keep the first max_response_size bytes; read and drop the rest. */
static size_t
write_callback(char *data, size_t size, size_t nmemb, void *userp)
{
	HttpRequest *request = (HttpRequest *) userp;
	size_t		len = size * nmemb;
	int			room = jobsched_max_response_size - request->response.len;

	if (room > 0)
		appendBinaryStringInfo(&request->response, data,
							   (int) Min((size_t) room, len));
	return len;
}

/* Append file "path" to "out"; false (with errno) if it cannot be read. */
static bool
append_file(FILE *out, const char *path)
{
	FILE	   *in = AllocateFile(path, "r");
	char		buf[8192];
	size_t		n;

	if (in == NULL)
		return false;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		fwrite(buf, 1, n, out);
	FreeFile(in);
	fputc('\n', out);
	return true;
}

/* Bundles an earlier worker left behind (one killed has no time to remove its own). */
static void
remove_stale_bundles(void)
{
	char		dir[MAXPGPATH];
	DIR		   *d;
	struct dirent *de;

	snprintf(dir, sizeof(dir), "%s/pg_stat_tmp", DataDir);
	d = AllocateDir(dir);
	while ((de = ReadDirExtended(d, dir, LOG)) != NULL)
	{
		char		path[MAXPGPATH];

		if (strncmp(de->d_name, "jobsched_ca.", 12) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		(void) unlink(path);
	}
	FreeDir(d);
}

/* Choose the CA bundle for the settings now in force (see ca_bundle). */
void
http_reload_settings(void)
{
	const char *system_bundle = curl_version_info(CURLVERSION_NOW)->cainfo;
	char		path[MAXPGPATH];
	FILE	   *out;

	/* requests in flight may still open connections with the last one */
	if (ca_bundle_before[0])
		(void) unlink(ca_bundle_before);
	strlcpy(ca_bundle_before, ca_bundle_written, sizeof(ca_bundle_before));
	ca_bundle_written[0] = '\0';
	ca_bundle = (char *) system_bundle;
	if (ca_bundle_generation == 0)
		remove_stale_bundles();
	if (jobsched_ssl_ca_file == NULL || jobsched_ssl_ca_file[0] == '\0')
		return;

	/* without a system bundle to add it to, the file alone */
	ca_bundle = jobsched_ssl_ca_file;
	if (system_bundle == NULL)
		return;
	snprintf(path, sizeof(path), "%s/pg_stat_tmp/jobsched_ca.%d.%d.pem",
			 DataDir, MyProcPid, ++ca_bundle_generation);
	out = AllocateFile(path, "w");
	if (out == NULL ||
		!append_file(out, system_bundle) || !append_file(out, jobsched_ssl_ca_file))
	{
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("jobsched: could not combine the CA bundle \"%s\" with jobsched.ssl_ca_file \"%s\" in \"%s\": %m",
						system_bundle, jobsched_ssl_ca_file, path),
				 errdetail("Requests verify against jobsched.ssl_ca_file alone.")));
		if (out)
			FreeFile(out);
		(void) unlink(path);
		return;
	}
	if (FreeFile(out) != 0)
	{
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("jobsched: could not write \"%s\": %m", path),
				 errdetail("Requests verify against jobsched.ssl_ca_file alone.")));
		(void) unlink(path);
		return;
	}
	strlcpy(ca_bundle_written, path, sizeof(ca_bundle_written));
	ca_bundle = ca_bundle_written;
}

void
http_executor_init(void)
{
	if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
		ereport(ERROR,
				(errmsg("jobsched: could not initialize libcurl")));

	epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (epoll_fd < 0)
		ereport(ERROR,
				(errmsg("jobsched: could not create epoll set: %m")));

	multi = curl_multi_init();
	if (multi == NULL)
		ereport(ERROR,
				(errmsg("jobsched: could not create a curl multi handle")));
	/*
	 * HTTP/2 where the target offers it: many requests over one connection
	 * (PIPEWAIT below makes a request wait for a connection being set up
	 * rather than open one of its own).
	 */
	curl_multi_setopt(multi, CURLMOPT_PIPELINING, (long) CURLPIPE_MULTIPLEX);
	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, socket_callback);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, timer_callback);
	/* keep an idle connection for every request we may have in flight */
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long) jobsched_max_in_flight);

	http_reload_settings();

	/* a TLS session set up once is resumed by the next connection to the host */
	share = curl_share_init();
	if (share == NULL ||
		curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK)
		ereport(ERROR,
				(errmsg("jobsched: could not create a curl share for TLS sessions")));

	request_context = AllocSetContextCreate(TopMemoryContext,
											"jobsched requests",
											ALLOCSET_DEFAULT_SIZES);
	easy_pool_size = 64;
	easy_pool = MemoryContextAlloc(TopMemoryContext,
								   easy_pool_size * sizeof(CURL *));
}

void
http_executor_shutdown(void)
{
	if (multi)
		curl_multi_cleanup(multi);
	multi = NULL;
	for (int i = 0; i < easy_pool_len; i++)
		curl_easy_cleanup(easy_pool[i]);
	easy_pool_len = 0;
	if (share)
		curl_share_cleanup(share);
	share = NULL;
	if (ca_bundle_written[0])
		(void) unlink(ca_bundle_written);
	if (ca_bundle_before[0])
		(void) unlink(ca_bundle_before);
	ca_bundle_written[0] = ca_bundle_before[0] = '\0';
	if (epoll_fd >= 0)
		close(epoll_fd);
	epoll_fd = -1;
}

HttpRequest *
http_request_alloc(void)
{
	HttpRequest *request = MemoryContextAllocZero(request_context,
												  sizeof(HttpRequest));

	request->response.data = NULL;
	return request;
}

/* Where a request's strings must live: they outlast the claiming transaction. */
MemoryContext
http_request_context(void)
{
	return request_context;
}

void
http_request_free(HttpRequest *request)
{
	if (request->url)
		pfree(request->url);
	if (request->method)
		pfree(request->method);
	if (request->body)
		pfree(request->body);
	if (request->idempotency_key)
		pfree(request->idempotency_key);
	if (request->signing_secret)
	{
		explicit_bzero(request->signing_secret, strlen(request->signing_secret));
		pfree(request->signing_secret);
	}
	for (int i = 0; i < request->nheaders; i++)
		pfree(request->headers[i]);
	if (request->headers)
		pfree(request->headers);
	if (request->error)
		pfree(request->error);
	if (request->response.data)
		pfree(request->response.data);
	pfree(request);
}

static CURL *
easy_handle_get(void)
{
	if (easy_pool_len > 0)
		return easy_pool[--easy_pool_len];
	return curl_easy_init();
}

static void
easy_handle_put(CURL *easy)
{
	curl_easy_reset(easy);
	if (easy_pool_len == easy_pool_size)
	{
		easy_pool_size *= 2;
		easy_pool = repalloc(easy_pool, easy_pool_size * sizeof(CURL *));
	}
	easy_pool[easy_pool_len++] = easy;
}

static void
set_error(HttpRequest *request, const char *fmt,...) pg_attribute_printf(2, 3);

static void
set_error(HttpRequest *request, const char *fmt,...)
{
	MemoryContext old = MemoryContextSwitchTo(request_context);
	StringInfoData buf;

	initStringInfo(&buf);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	request->error = buf.data;
	MemoryContextSwitchTo(old);
}

/* Whether libcurl took a required option; if not, the request fails with why. */
static bool
option_taken(HttpRequest *request, const char *option, CURLcode rc)
{
	if (rc == CURLE_OK)
		return true;
	set_error(request, "not sent: libcurl refused %s: %s", option,
			  curl_easy_strerror(rc));
	return false;
}

#define REQUIRE_OPTION(easy, request, option, value) \
	option_taken((request), #option, curl_easy_setopt((easy), (option), (value)))

/*
 * Put a request on the wire.  Returns false if it could not even start; it
 * is then already finished, with its error set.
 */
/*
 * Standard Webhooks: webhook-id (the run's Idempotency-Key), the attempt's
 * Unix time, and the HMAC of both and the body, computed now, for this
 * attempt (signing.c).  False, with the request failed, if the secret
 * cannot be used (it was checked when it was set; a restore may bypass
 * that).
 */
static bool
add_signature(HttpRequest *request)
{
	char	   *lines[3];
	char		why[SIGNING_WHY_SIZE];
	int64		unix_seconds = (int64) ((request->started_at + UNIX_TO_POSTGRES_USECS) / USECS_PER_SEC);
	bool		ok;

	ok = jobsched_signing_headers(request->signing_secret, request->idempotency_key,
								  unix_seconds, request->body,
								  request->body ? strlen(request->body) : 0,
								  lines, why, sizeof(why));
	if (!ok)
	{
		set_error(request, "not sent: invalid signing secret: %s", why);
		return false;
	}
	for (int i = 0; i < 3; i++)
	{
		request->header_list = curl_slist_append(request->header_list, lines[i]);
		pfree(lines[i]);
	}
	return true;
}

bool
http_start(HttpRequest *request)
{
	CURL	   *easy = easy_handle_get();
	MemoryContext old = MemoryContextSwitchTo(request_context);
	CURLMcode	mrc;

	initStringInfo(&request->response);
	MemoryContextSwitchTo(old);
	request->started_at = GetCurrentTimestamp();
	request->curl_error[0] = '\0';
	request->policy_error[0] = '\0';

	if (easy == NULL)
	{
		set_error(request, "could not create a curl handle");
		request->finished_at = request->started_at;
		return false;
	}

	for (int i = 0; i < request->nheaders; i++)
		request->header_list = curl_slist_append(request->header_list,
												 request->headers[i]);
	/* curl would wait up to a second for "100 Continue" on large bodies */
	request->header_list = curl_slist_append(request->header_list, "Expect:");
	if (request->signing_secret && !add_signature(request))
	{
		request->finished_at = request->started_at;
		return false;
	}

	/*
	 * The options the network policy and the protocol limits rest on: if
	 * libcurl refuses one, the request fails rather than go out without it.
	 */
	if (!(REQUIRE_OPTION(easy, request, CURLOPT_URL, request->url) &&
		  REQUIRE_OPTION(easy, request, CURLOPT_OPENSOCKETFUNCTION, open_socket_callback) &&
		  REQUIRE_OPTION(easy, request, CURLOPT_OPENSOCKETDATA, request) &&
		  REQUIRE_OPTION(easy, request, CURLOPT_CLOSESOCKETFUNCTION, close_socket_callback) &&
#if LIBCURL_VERSION_NUM >= 0x075000
		  REQUIRE_OPTION(easy, request, CURLOPT_PREREQFUNCTION, prereq_callback) &&
		  REQUIRE_OPTION(easy, request, CURLOPT_PREREQDATA, request) &&
#endif
	/* a proxy from the environment would hide the real target from the policy */
		  REQUIRE_OPTION(easy, request, CURLOPT_PROXY, "") &&
#if LIBCURL_VERSION_NUM >= 0x075500
		  REQUIRE_OPTION(easy, request, CURLOPT_PROTOCOLS_STR, "http,https") &&
		  REQUIRE_OPTION(easy, request, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") &&
#else
		  REQUIRE_OPTION(easy, request, CURLOPT_PROTOCOLS,
						 (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS)) &&
		  REQUIRE_OPTION(easy, request, CURLOPT_REDIR_PROTOCOLS,
						 (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS)) &&
#endif
		  REQUIRE_OPTION(easy, request, CURLOPT_TIMEOUT_MS, (long) request->timeout_ms) &&
	/* TLS: the peer's certificate and name are always verified */
		  REQUIRE_OPTION(easy, request, CURLOPT_SSL_VERIFYPEER, 1L) &&
		  REQUIRE_OPTION(easy, request, CURLOPT_SSL_VERIFYHOST, 2L) &&
		  (ca_bundle == NULL ||
		   (REQUIRE_OPTION(easy, request, CURLOPT_CAINFO, ca_bundle) &&
			REQUIRE_OPTION(easy, request, CURLOPT_CAPATH, (char *) NULL))) &&
		  (jobsched_ssl_cert_file == NULL || jobsched_ssl_cert_file[0] == '\0' ||
		   (REQUIRE_OPTION(easy, request, CURLOPT_SSLCERT, jobsched_ssl_cert_file) &&
			REQUIRE_OPTION(easy, request, CURLOPT_SSLKEY, jobsched_ssl_key_file))) &&
		  REQUIRE_OPTION(easy, request, CURLOPT_FOLLOWLOCATION,
						 request->follow_redirects ? 1L : 0L) &&
		  REQUIRE_OPTION(easy, request, CURLOPT_MAXREDIRS, (long) MAX_REDIRECTS)))
	{
		request->finished_at = GetCurrentTimestamp();
		curl_slist_free_all(request->header_list);
		request->header_list = NULL;
		easy_handle_put(easy);
		return false;
	}
	curl_easy_setopt(easy, CURLOPT_PRIVATE, request);
	curl_easy_setopt(easy, CURLOPT_SHARE, share);
	curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_2TLS);

	/*
	 * Over TLS, ALPN says during the handshake whether the host speaks
	 * HTTP/2: wait for that rather than open a connection per run.  Not
	 * over plain HTTP, where nothing is known before the first response
	 * (a slow target would hold every other request to it).
	 */
	if (pg_strncasecmp(request->url, "https:", 6) == 0)
		curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, request->curl_error);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_callback);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, request);
	curl_easy_setopt(easy, CURLOPT_USERAGENT, USER_AGENT);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, request->header_list);

	if (strcmp(request->method, "GET") == 0)
		curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
	else
	{
		const char *body = request->body ? request->body : "";

		if (strcmp(request->method, "POST") != 0)
			curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request->method);
		curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long) strlen(body));
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
	}

	mrc = curl_multi_add_handle(multi, easy);
	if (mrc != CURLM_OK)
	{
		set_error(request, "could not start the request: %s",
				  curl_multi_strerror(mrc));
		request->finished_at = GetCurrentTimestamp();
		curl_slist_free_all(request->header_list);
		request->header_list = NULL;
		easy_handle_put(easy);
		return false;
	}
	request->easy = easy;
	in_flight++;
	pg_atomic_write_u64(&jobsched_shared->in_flight, in_flight);
	pg_atomic_fetch_add_u64(&jobsched_shared->sent_total, 1);
	return true;
}

static void finish(CURL *easy, CURLcode result, HttpDoneCallback done, void *arg);

/*
 * Hand every finished transfer to "done".  Needed after every call into
 * curl that can finish one: a message left in curl's queue wakes nobody.
 */
static void
drain_finished(HttpDoneCallback done, void *arg)
{
	CURLMsg    *msg;
	int			pending;

	while ((msg = curl_multi_info_read(multi, &pending)) != NULL)
	{
		if (msg->msg == CURLMSG_DONE)
			finish(msg->easy_handle, msg->data.result, done, arg);
	}
}

/*
 * Let curl start the requests added so far.  Called every few additions
 * while a burst is put on the wire, so the first request of a thousand does
 * not wait for the last one to be added.
 */
void
http_kick(HttpDoneCallback done, void *arg)
{
	int			running;

	timer_deadline = -1;
	curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
	drain_finished(done, arg);
}

int
http_in_flight(void)
{
	return in_flight;
}

int
http_wait_fd(void)
{
	return epoll_fd;
}

/* Milliseconds until curl needs a timer call; -1 for none. */
long
http_next_timeout_ms(void)
{
	TimestampTz now;

	if (timer_deadline < 0)
		return -1;
	now = GetCurrentTimestamp();
	if (timer_deadline <= now)
		return 0;
	return (long) ((timer_deadline - now + 999) / 1000);
}

/* Keep the response text storable: a valid prefix in the database encoding. */
static void
clip_response(HttpRequest *request)
{
	int			valid;

	if (request->response.len == 0)
		return;
	valid = pg_encoding_verifymbstr(GetDatabaseEncoding(),
									request->response.data,
									request->response.len);
	request->response.len = valid;
	request->response.data[valid] = '\0';
}

static void
finish(CURL *easy, CURLcode result, HttpDoneCallback done, void *arg)
{
	HttpRequest *request = NULL;
	long		status = 0;

	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &request);
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	curl_multi_remove_handle(multi, easy);
	in_flight--;
	pg_atomic_write_u64(&jobsched_shared->in_flight, in_flight);

	request->finished_at = GetCurrentTimestamp();
	request->http_status = (result == CURLE_OK) ? status : 0;
	request->timed_out = (result == CURLE_OPERATION_TIMEDOUT);
	request->succeeded = (result == CURLE_OK && status >= 200 && status < 300);
	if (result != CURLE_OK && request->policy_error[0])
		set_error(request, "blocked by jobsched.network_policy: %s",
				  request->policy_error);
	else if (result != CURLE_OK)
		set_error(request, "%s",
				  request->curl_error[0] ? request->curl_error :
				  curl_easy_strerror(result));
	else if (!request->succeeded)
		set_error(request, "HTTP status %ld", status);
	clip_response(request);

	curl_slist_free_all(request->header_list);
	request->header_list = NULL;
	request->easy = NULL;
	easy_handle_put(easy);

	done(request, arg);
}

/*
 * Let curl act on every socket that is ready and on its expired timeouts,
 * then hand each finished request to "done".  Never waits.
 */
void
http_process(HttpDoneCallback done, void *arg)
{
	struct epoll_event events[EPOLL_BATCH];
	int			running;
	int			n;

	do
	{
		n = epoll_wait(epoll_fd, events, EPOLL_BATCH, 0);
		for (int i = 0; i < n; i++)
		{
			int			flags = 0;
			uint8	   *state = sock_state_of(events[i].data.fd);

			/* an idle connection closed by its server (see sock_state) */
			if (*state & SOCK_PARKED)
			{
				sock_unwatch(events[i].data.fd, state);
				continue;
			}

			if (events[i].events & (EPOLLIN | EPOLLHUP))
				flags |= CURL_CSELECT_IN;
			if (events[i].events & EPOLLOUT)
				flags |= CURL_CSELECT_OUT;
			if (events[i].events & EPOLLERR)
				flags |= CURL_CSELECT_ERR;
			curl_multi_socket_action(multi, events[i].data.fd, flags, &running);
		}
	} while (n == EPOLL_BATCH);

	if (timer_deadline >= 0 && timer_deadline <= GetCurrentTimestamp())
	{
		timer_deadline = -1;
		curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}

	drain_finished(done, arg);
}
