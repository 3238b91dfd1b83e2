/*-------------------------------------------------------------------------
 *
 * hosts.h
 *		Per-host limits on requests in flight.
 *
 *-------------------------------------------------------------------------
 */
#ifndef JOBSCHED_HOSTS_H
#define JOBSCHED_HOSTS_H

#include "http.h"

extern void hosts_init(void);
extern bool hosts_acquire(HttpRequest *request);
extern HttpRequest *hosts_release(HttpRequest *request);
extern HttpRequest *hosts_pop_parked(void);
extern int	hosts_parked(void);

#endif							/* JOBSCHED_HOSTS_H */
