/*-------------------------------------------------------------------------
 *
 * hosts.c
 *		Per-host limits on requests in flight (jobsched.max_host_connections).
 *
 * Why: libcurl finds an idle connection to a host by walking all of its
 * connections to that host, so a thousand requests to one host at once cost
 * a million steps; and without a cap one host could take every slot of
 * jobsched.max_in_flight.  A request whose host is at its cap is parked on
 * that host's list and started, in order, when one of the host's requests
 * finishes.  Requests to other hosts never wait behind it.
 *
 * A host is the URL's scheme and authority ("http://127.0.0.1:8080").
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/ilist.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "hosts.h"
#include "jobsched.h"

#define HOST_KEY_LEN 256

/* Before PostgreSQL 14 string keys were the default; the flag came with 14. */
#ifndef HASH_STRINGS
#define HASH_STRINGS 0
#endif

typedef struct Host
{
	char		key[HOST_KEY_LEN];	/* hash key: scheme://authority, cut short */
	int			in_flight;
	dlist_head	parked;			/* HttpRequests waiting for a slot */
} Host;

static HTAB *hosts = NULL;
static int	nparked = 0;

void
hosts_init(void)
{
	HASHCTL		ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = HOST_KEY_LEN;
	ctl.entrysize = sizeof(Host);
	ctl.hcxt = TopMemoryContext;
	hosts = hash_create("jobsched hosts", 64, &ctl,
						HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
}

/* The host a request goes to, created on first use. */
static Host *
host_of(HttpRequest *request)
{
	char		key[HOST_KEY_LEN];
	const char *start = strstr(request->url, "://");
	size_t		len;
	Host	   *host;
	bool		found;

	start = start ? start + 3 : request->url;
	len = strcspn(start, "/?#") + (start - request->url);
	len = Min(len, HOST_KEY_LEN - 1);
	memcpy(key, request->url, len);
	key[len] = '\0';

	host = hash_search(hosts, key, HASH_ENTER, &found);
	if (!found)
	{
		host->in_flight = 0;
		dlist_init(&host->parked);
	}
	return host;
}

/*
 * Take a slot of the request's host.  If the host has none free, the
 * request is parked and false returned: hosts_release() gives it back.
 */
bool
hosts_acquire(HttpRequest *request)
{
	Host	   *host = host_of(request);

	request->host = host;
	if (jobsched_max_host_connections == 0 ||
		host->in_flight < jobsched_max_host_connections)
	{
		host->in_flight++;
		return true;
	}
	dlist_push_tail(&host->parked, &request->wait_node);
	nparked++;
	return false;
}

/*
 * A request of the host finished: free its slot, and return the host's
 * oldest parked request, which now holds that slot, or NULL.
 */
HttpRequest *
hosts_release(HttpRequest *request)
{
	Host	   *host = (Host *) request->host;

	if (host == NULL)
		return NULL;
	request->host = NULL;
	if (!dlist_is_empty(&host->parked) &&
		(jobsched_max_host_connections == 0 ||
		 host->in_flight <= jobsched_max_host_connections))
	{
		HttpRequest *next = dlist_container(HttpRequest, wait_node,
											dlist_pop_head_node(&host->parked));

		nparked--;
		return next;
	}
	host->in_flight--;
	if (host->in_flight == 0 && dlist_is_empty(&host->parked))
		(void) hash_search(hosts, host->key, HASH_REMOVE, NULL);	/* keep the table small */
	return NULL;
}

/* Any parked request (for a stopping worker to put back), or NULL. */
HttpRequest *
hosts_pop_parked(void)
{
	HASH_SEQ_STATUS status;
	Host	   *host;

	if (nparked == 0)
		return NULL;
	hash_seq_init(&status, hosts);
	while ((host = hash_seq_search(&status)) != NULL)
	{
		if (!dlist_is_empty(&host->parked))
		{
			hash_seq_term(&status);
			nparked--;
			return dlist_container(HttpRequest, wait_node,
								   dlist_pop_head_node(&host->parked));
		}
	}
	return NULL;
}

int
hosts_parked(void)
{
	return nparked;
}
