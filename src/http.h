/*-------------------------------------------------------------------------
 *
 * http.h
 *		The worker's HTTP executor: many requests in flight at once through
 *		libcurl's multi interface.
 *
 *-------------------------------------------------------------------------
 */
#ifndef JOBSCHED_HTTP_H
#define JOBSCHED_HTTP_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "lib/ilist.h"
#include "lib/pairingheap.h"
#include "lib/stringinfo.h"
#include "storage/itemptr.h"

/* One HTTP request and, once finished, its outcome. */
typedef struct HttpRequest
{
	/* what to send (owned by the request) */
	int64		execution_id;
	int64		job_id;
	TimestampTz scheduled_for;	/* nominal fire time of the run */
	int32		attempt;		/* 1, then 2, ... for its retries */
	ItemPointerData run_tid;	/* where its row of jobsched.runs was written */
	TimestampTz send_at;		/* not before: the fire time, or a retry time */
	uint64		claim_lsn;		/* not before the claim's commit is flushed to here */
	char	   *url;
	char	   *method;
	char	   *body;			/* NULL: no body */
	char	  **headers;		/* "Name: value" lines */
	char	   *idempotency_key;	/* the run's: "jobsched-<job id>-<Unix us>" */
	char	   *signing_secret; /* whsec_...: sign each attempt (signing.c); NULL: unsigned */
	int			nheaders;
	int			timeout_ms;
	bool		follow_redirects;
	bool		at_most_once;	/* ATMOST_ONCE: never sent twice, even across a failover */

	/* outcome, filled in by the executor */
	TimestampTz started_at;
	TimestampTz finished_at;
	long		http_status;	/* 0: no response */
	bool		succeeded;		/* 2xx */
	bool		timed_out;
	char	   *error;			/* NULL on success */
	StringInfoData response;	/* first max_response_size bytes */

	/* executor's and scheduler's bookkeeping */
	uint32		generation;		/* the scheduler's, when it was claimed */
	pairingheap_node heap_node; /* in the scheduler's queue of claimed runs */
	dlist_node	wait_node;		/* parked on its host, or ready to start */
	void	   *host;			/* the host's slot it holds (hosts.c) */
	void	   *easy;			/* CURL * while in flight */
	struct curl_slist *header_list;
	char		curl_error[256];	/* CURL_ERROR_SIZE */
	char		policy_error[256];	/* why a connection was refused, if it was */
} HttpRequest;

typedef void (*HttpDoneCallback) (HttpRequest *request, void *arg);

extern void http_executor_init(void);
extern void http_reload_settings(void);
extern void http_executor_shutdown(void);
extern HttpRequest *http_request_alloc(void);
extern MemoryContext http_request_context(void);
extern void http_request_free(HttpRequest *request);
extern bool http_start(HttpRequest *request);
extern void http_kick(HttpDoneCallback done, void *arg);
extern int	http_in_flight(void);
extern int	http_wait_fd(void);
extern long http_next_timeout_ms(void);
extern void http_process(HttpDoneCallback done, void *arg);

#endif							/* JOBSCHED_HTTP_H */
