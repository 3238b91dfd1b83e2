/*-------------------------------------------------------------------------
 *
 * jobsched.c
 *		Module entry point: settings, shared memory and the registration of
 *		the scheduler background worker.
 *
 * jobsched must be listed in shared_preload_libraries for the worker to
 * run.  Loaded any other way (CREATE EXTENSION in a server that does not
 * preload it), the SQL API still works -- jobs can be created, validated and
 * previewed -- but nothing fires, and waking the scheduler is a no-op.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "jobsched.h"

PG_MODULE_MAGIC;

bool		jobsched_enabled = true;
char	   *jobsched_database_name = NULL;
int			jobsched_max_in_flight = 2000;
int			jobsched_max_host_connections = 64;
int			jobsched_batch_size = 1000;
int			jobsched_misfire_grace = 5;
int			jobsched_history_retention = 7 * 24 * 60;
int			jobsched_max_response_size = 4096;
int			jobsched_lookahead_ms = 200;
char	   *jobsched_network_policy_text = NULL;
const NetPolicy *jobsched_network_policy = NULL;
char	   *jobsched_ssl_ca_file = NULL;
char	   *jobsched_ssl_cert_file = NULL;
char	   *jobsched_ssl_key_file = NULL;

JobschedShared *jobsched_shared = NULL;

static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif

void		_PG_init(void);

static void
jobsched_shmem_request(void)
{
#if PG_VERSION_NUM >= 150000
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
#endif
	RequestAddinShmemSpace(MAXALIGN(sizeof(JobschedShared)));
}

static void
jobsched_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	jobsched_shared = ShmemInitStruct("jobsched", sizeof(JobschedShared), &found);
	if (!found)
	{
		memset(jobsched_shared, 0, sizeof(JobschedShared));
		SpinLockInit(&jobsched_shared->mutex);
		pg_atomic_init_u64(&jobsched_shared->in_flight, 0);
		pg_atomic_init_u64(&jobsched_shared->sent_total, 0);
		pg_atomic_init_u64(&jobsched_shared->completed_total, 0);
		pg_atomic_init_u64(&jobsched_shared->queued, 0);
		pg_atomic_init_u32(&jobsched_shared->connect_failures, 0);
		pg_atomic_init_u32(&jobsched_shared->jobs_changed, 0);
		pg_atomic_init_u64(&jobsched_shared->confirm_wanted, 0);
		pg_atomic_init_u64(&jobsched_shared->awaiting_sync, 0);
		pg_atomic_init_u32(&jobsched_shared->sync_confirming, 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

void
jobsched_set_worker_state(JobschedWorkerState state)
{
	if (jobsched_shared == NULL)
		return;
	SpinLockAcquire(&jobsched_shared->mutex);
	jobsched_shared->worker_state = state;
	SpinLockRelease(&jobsched_shared->mutex);
}

/* Parse jobsched.network_policy once, when it is set, not at every use. */
static bool
check_network_policy(char **newval, void **extra, GucSource source)
{
	NetPolicy	parsed;
	char		err[NETPOLICY_ERRBUF_SIZE];
	NetPolicy  *copy;

	if (!netpolicy_parse(*newval, &parsed, err, sizeof(err)))
	{
		GUC_check_errdetail("%s", err);
		return false;
	}
#if PG_VERSION_NUM >= 160000
	copy = guc_malloc(LOG, sizeof(NetPolicy));
#else
	copy = malloc(sizeof(NetPolicy));
#endif
	if (copy == NULL)
		return false;
	memcpy(copy, &parsed, sizeof(NetPolicy));
	*extra = copy;
	return true;
}

static void
assign_network_policy(const char *newval, void *extra)
{
	jobsched_network_policy = (const NetPolicy *) extra;
}

static void
jobsched_define_settings(void)
{
	DefineCustomBoolVariable("jobsched.enabled",
							 "Whether the scheduler fires jobs.",
							 "When off, the worker keeps running but sends nothing; jobs due meanwhile follow their misfire policy when it is turned on again.",
							 &jobsched_enabled,
							 true,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("jobsched.database_name",
							   "Database in which the scheduler worker runs.",
							   "CREATE EXTENSION jobsched in this database to schedule jobs.",
							   &jobsched_database_name,
							   "postgres",
							   PGC_POSTMASTER, 0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("jobsched.max_in_flight",
							"Largest number of HTTP requests on the wire at once.",
							"Each request in flight holds a socket; the worker raises its open-file limit to the hard limit and stays below it.",
							&jobsched_max_in_flight,
							2000, 1, 100000,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("jobsched.max_host_connections",
							"Largest number of requests in flight to one host.",
							"Requests beyond it wait, in order, for one of that host's requests to finish; requests to other hosts do not wait. 0 means no limit.",
							&jobsched_max_host_connections,
							64, 0, 100000,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("jobsched.batch_size",
							"Largest number of due runs claimed in one transaction.",
							NULL,
							&jobsched_batch_size,
							1000, 1, 100000,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("jobsched.misfire_grace",
							"How late a run may start before it counts as missed.",
							"Missed runs follow the job's misfire policy: run_once fires the oldest missed run once, skip fires none; either way the job then continues from now.",
							&jobsched_misfire_grace,
							5, 1, 86400,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("jobsched.history_retention",
							"How long finished executions are kept.",
							"The worker deletes older finished executions in the background. 0 keeps them forever.",
							&jobsched_history_retention,
							7 * 24 * 60, 0, INT_MAX / 60,
							PGC_SIGHUP, GUC_UNIT_MIN,
							NULL, NULL, NULL);

	DefineCustomIntVariable("jobsched.max_response_size",
							"Largest part of a response body kept in the history.",
							"The rest of the body is read and discarded.",
							&jobsched_max_response_size,
							4096, 0, 1024 * 1024,
							PGC_SIGHUP, GUC_UNIT_BYTE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("jobsched.lookahead",
							"How long before their fire time runs are claimed.",
							"Claimed runs wait in the worker and go on the wire exactly at their fire time, so claiming costs no lateness. A change to a job takes effect from its first run not yet claimed.",
							&jobsched_lookahead_ms,
							200, 0, 10000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomStringVariable("jobsched.network_policy",
							   "Which addresses jobs may send requests to.",
							   "An ordered list of rules, first match wins: \"allow CIDR\", \"deny CIDR\", \"allow all\", \"deny all\". Checked when a job is created or modified (for IP literals and resolved host names) and again by the worker for every address it connects to, after DNS resolution and on every redirect.",
							   &jobsched_network_policy_text,
							   NETPOLICY_DEFAULT,
							   PGC_SUSET, 0,
							   check_network_policy, assign_network_policy, NULL);

	/*
	 * TLS: verification is always on, against the system's trust store;
	 * these add a private CA and a client certificate.  In postgresql.conf
	 * only (PGC_SIGHUP): files the server can read are a superuser's call.
	 */
	DefineCustomStringVariable("jobsched.ssl_ca_file",
							   "A file of CA certificates trusted besides the system's.",
							   "PEM; for targets whose certificates a private CA issued. The system's trust store stays in use.",
							   &jobsched_ssl_ca_file,
							   "",
							   PGC_SIGHUP, 0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("jobsched.ssl_cert_file",
							   "Client certificate presented to HTTPS targets that ask for one (mutual TLS).",
							   "PEM; goes with jobsched.ssl_key_file.",
							   &jobsched_ssl_cert_file,
							   "",
							   PGC_SIGHUP, 0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("jobsched.ssl_key_file",
							   "Private key of jobsched.ssl_cert_file.",
							   "PEM, unencrypted; readable by the server only.",
							   &jobsched_ssl_key_file,
							   "",
							   PGC_SIGHUP, 0,
							   NULL, NULL, NULL);

#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("jobsched");
#else
	EmitWarningsOnPlaceholders("jobsched");
#endif
}

static void
jobsched_register_worker(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	/* A standby has nothing to fire: start on promotion. */
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 1;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "jobsched");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "jobsched_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "jobsched scheduler");
	snprintf(worker.bgw_type, BGW_MAXLEN, "jobsched scheduler");
	worker.bgw_main_arg = (Datum) 0;
	worker.bgw_notify_pid = 0;
	RegisterBackgroundWorker(&worker);
}

void
_PG_init(void)
{
	/*
	 * jobsched.database_name can only be defined while the server starts,
	 * and the worker and its shared memory need that too: loaded any later
	 * (CREATE EXTENSION in a server without it preloaded), refuse with an
	 * ERROR -- before anything is defined, so that the session goes on and
	 * a later load can try again.
	 */
	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("jobsched must be loaded at server start"),
				 errdetail("The library was loaded later, by a command of this session."),
				 errhint("Add jobsched to shared_preload_libraries in postgresql.conf (with jobsched.database_name set to the database that fires jobs) and restart the server.")));

	jobsched_define_settings();

#if PG_VERSION_NUM >= 150000
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = jobsched_shmem_request;
#else
	jobsched_shmem_request();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = jobsched_shmem_startup;

	jobsched_register_worker();
}
