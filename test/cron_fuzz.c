/*-------------------------------------------------------------------------
 *
 * cron_fuzz.c
 *	  libFuzzer target for the cron engine (src/cron.c).
 *
 * Feeds arbitrary bytes to cron_parse() and, for expressions that parse,
 * walks a few cron_next() firings in UTC and in made-up zones with DST-like
 * offset jumps, aborting if a result is not strictly increasing or does not
 * fire on a matching wall-clock time (or at the end of a gap containing
 * one).  The sanitizers catch memory errors and undefined behaviour.
 *
 * Build and run with "make -f test/Makefile.cron fuzz"; seeds are in
 * test/corpus/cron/.
 *
 * test/cron_fuzz.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"
#include "fuzz_check.h"

#define FUZZ_MAX_INPUT 512

/*
 * A zone whose offset alternates between base and base + delta every
 * period seconds, starting at phase.  With long periods it behaves like a
 * real DST zone; with short ones it breaks cron_next()'s assumptions, which
 * may then miss firings but must still never return a bad one.
 */
typedef struct FakeZone
{
	int64_t		period;
	int64_t		phase;
	long		base;
	long		delta;
} FakeZone;

static long
fake_offset(void *zone, int64_t utc)
{
	FakeZone   *z = (FakeZone *) zone;
	int64_t		k = (utc - z->phase) / z->period;

	if (utc < z->phase)
		k--;
	return (k & 1) ? z->base + z->delta : z->base;
}

static long
utc_offset(void *zone, int64_t utc)
{
	(void) zone;
	(void) utc;
	return 0;
}

/* Is f a legitimate firing instant of e in the given zone? */
static int
fires_at(const CronExpr *e, CronUtcOffsetFn fn, void *zone, int64_t f)
{
	long		o = fn(zone, f);
	long		o_before = fn(zone, f - 1);
	int64_t		m;

	if (cron_matches_local(e, f + o))
		return 1;
	/* the first instant after a gap fires if the gap held a match */
	return o_before < o &&
		cron_next_local(e, f - 1 + o_before + 1, f + o - 1, &m);
}

static void
walk(const CronExpr *e, CronUtcOffsetFn fn, void *zone, int64_t after)
{
	int			i;

	for (i = 0; i < 4; i++)
	{
		int64_t		next;

		if (!cron_next(e, after, fn, zone, &next))
			return;
		if (next <= after || !fires_at(e, fn, zone, next))
			abort();
		after = next;
	}
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		text[FUZZ_MAX_INPUT + 1];
	char		err[CRON_ERRBUF_SIZE];
	char		small[6];
	CronExpr	e;
	CronExpr	e2;
	uint64_t	h = UINT64_C(1469598103934665603);
	size_t		i;
	int64_t		after;
	int64_t		next;
	int64_t		m;
	FakeZone	zone;

	if (size > FUZZ_MAX_INPUT)
		size = FUZZ_MAX_INPUT;
	memcpy(text, data, size);
	text[size] = '\0';

	memset(err, 'X', sizeof(err));
	if (!cron_parse(text, &e, err, sizeof(err)))
	{
		/* the message: non-empty, no control characters, UTF-8 */
		check_message_text(err, sizeof(err), false);
		/* truncation into a tiny buffer must stay in bounds */
		if (cron_parse(text, &e2, small, sizeof(small)) ||
			strlen(small) >= sizeof(small))
			abort();
		return 0;
	}

	/* derive a starting time and a zone from the input */
	for (i = 0; i < size; i++)
		h = (h ^ data[i]) * UINT64_C(1099511628211);
	after = (int64_t) (h % UINT64_C(8000000000)) - INT64_C(1000000000);

	/* UTC: must agree exactly with the time-zone-free search */
	if (cron_next(&e, after, utc_offset, NULL, &next))
	{
		if (next <= after || !cron_matches_local(&e, next) ||
			!cron_next_local(&e, after + 1, next, &m) || m != next)
			abort();
	}
	else if (cron_next_local(&e, after + 1,
							 after + INT64_C(99) * 31556952, &m))
		abort();
	walk(&e, utc_offset, NULL, after);

	/* a sane DST-like zone: jumps of up to 3 hours every 30+ days */
	zone.period = 30 * 86400 + (int64_t) ((h >> 8) % (200 * 86400));
	zone.phase = after - (int64_t) ((h >> 16) % (uint64_t) zone.period);
	zone.base = (long) ((h >> 24) % 50401) - 43200;
	zone.delta = (long) ((h >> 40) % 21601) - 10800;
	walk(&e, fake_offset, &zone, after);
	walk(&e, fake_offset, &zone, zone.phase + zone.period - 1 -
		 (int64_t) ((h >> 32) % 7200));

	/* an insane one: jumps of up to a day every few minutes to days */
	zone.period = 60 + (int64_t) ((h >> 12) % (3 * 86400));
	zone.delta = (long) ((h >> 44) % 172801) - 86400;
	zone.base = zone.delta < 0 ? 43200 : -43200;
	walk(&e, fake_offset, &zone, after);
	return 0;
}
