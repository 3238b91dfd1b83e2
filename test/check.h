/*
 * test/check.h
 *		The counters and CHECK() macro of the standalone C unit tests
 *		(cron_test.c, validate_test.c).  One test program per binary, so
 *		the counters live here.
 */
#ifndef JOBSCHED_TEST_CHECK_H
#define JOBSCHED_TEST_CHECK_H

#include <stdio.h>

static int	n_passed = 0;
static int	n_failed = 0;

#define CHECK(cond, ...) \
	do { \
		if (cond) \
			n_passed++; \
		else \
		{ \
			n_failed++; \
			printf("FAIL %s:%d: ", __FILE__, __LINE__); \
			printf(__VA_ARGS__); \
			printf("\n"); \
		} \
	} while (0)

/* Print the totals; the exit status of the test program */
static int
check_report(void)
{
	printf("%d passed, %d failed\n", n_passed, n_failed);
	return n_failed == 0 ? 0 : 1;
}

#endif							/* JOBSCHED_TEST_CHECK_H */
