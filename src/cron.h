/*-------------------------------------------------------------------------
 *
 * cron.h
 *	  Cron expression parser and next-fire-time calculator for jobsched.
 *
 * This module is deliberately free of PostgreSQL dependencies: it uses only
 * the C standard library, allocates no memory, keeps no global state and
 * never aborts, so that it can run inside a backend and also be unit-tested
 * and fuzzed as a standalone program.  Time zones are reached only through a
 * caller-supplied callback (CronUtcOffsetFn).
 *
 * Syntax
 * ------
 * Six fields "second minute hour day-of-month month day-of-week", or the
 * classic five fields "minute hour day-of-month month day-of-week" (second
 * is then 0).  Each field is '*' or a comma-separated list of items; an item
 * is a value, a range "a-b", or either of those or '*' followed by a step
 * "/n".  "a/n" means "a-max/n" (from a up to the field's maximum, every n;
 * for day of week up to Saturday).  A step may not exceed the width of the
 * field's range (59 for seconds, 6 for days of week).
 * Month names JAN-DEC and weekday names SUN-SAT are accepted, in any case.
 * Day of week 0 and 7 both mean Sunday, so "5-7" and "FRI-SUN" are Friday,
 * Saturday and Sunday.  The macros @yearly, @annually, @monthly, @weekly,
 * @daily, @midnight and @hourly fire at second 0.
 *
 * Day rule (as in Vixie cron): if both day-of-month and day-of-week are
 * restricted, a day matches when either of them matches; if only one is
 * restricted, only that one counts.  A day field is unrestricted only when
 * it is exactly '*'; a stepped '*' (every other day) or "1-31" count as
 * restricted.
 *
 * Daylight saving time
 * --------------------
 * Schedules are interpreted in the wall-clock time of the job's time zone.
 * When the clocks jump forward, a scheduled time that falls in the skipped
 * interval fires once, at the instant the clocks jump (the first moment after
 * the gap); several scheduled times in the same gap also fire just once,
 * together, at that instant.  When the clocks fall back, a scheduled time
 * that occurs twice fires once, at its first occurrence, except when the hour
 * field selects every hour ('*', "0-23", or '*' with step 1): such a job
 * runs every hour anyway, so it fires at both occurrences and keeps its
 * rhythm through the repeated hour.  Nothing is ever fired twice at the same
 * instant, and no scheduled time is ever skipped.
 *
 * src/cron.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef JOBSCHED_CRON_H
#define JOBSCHED_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* cron_next() looks at most this many years (of 365.2425 days) ahead */
#define CRON_HORIZON_YEARS 100

/*
 * UTC offsets returned by a CronUtcOffsetFn must lie within +/- this many
 * seconds; cron_next() returns false otherwise.  Real zones stay well within
 * +/- 16 hours.
 */
#define CRON_MAX_UTC_OFFSET 86400

/*
 * Range of "after" accepted by cron_next(): 0001-01-01T00:00:00Z up to
 * 9999-12-31T23:59:59Z.  Outside it cron_next() returns false.
 */
#define CRON_MIN_TIME INT64_C(-62135596800)
#define CRON_MAX_TIME INT64_C(253402300799)

/* A buffer of this size always holds a complete cron_parse() error message */
#define CRON_ERRBUF_SIZE 128

typedef struct CronExpr
{
	uint64_t	seconds;		/* bit n set: second n (0-59) matches */
	uint64_t	minutes;		/* bits 0-59 */
	uint32_t	hours;			/* bits 0-23 */
	uint32_t	days_of_month;	/* bits 1-31 */
	uint16_t	months;			/* bits 1-12 */
	uint8_t		days_of_week;	/* bits 0-6, 0 = Sunday */
	bool		dom_restricted; /* day-of-month field was not exactly '*' */
	bool		dow_restricted; /* day-of-week field was not exactly '*' */
	bool		hour_wildcard;	/* hour field selects all 24 hours ('*',
								 * '0-23', ...); such jobs fire at both
								 * occurrences of a repeated hour */
} CronExpr;

/*
 * Returns the offset from UTC, in seconds east of Greenwich, in effect at the
 * given UTC instant (unix seconds) in some time zone.  The PostgreSQL glue
 * implements it with pg_tzset()/pg_localtime(); the unit tests with libc
 * (setenv("TZ")/tzset()/localtime_r()->tm_gmtoff).
 *
 * cron_next() assumes that a zone changes its offset at most once within
 * any four days, which holds for every zone of the tz database (the one
 * exception dates from 1939).  With a zone that breaks that assumption,
 * results are still strictly increasing and still fire on matching
 * wall-clock times (or at the end of a gap), but some firings may be
 * missed.
 */
typedef long (*CronUtcOffsetFn) (void *zone, int64_t utc);

/*
 * Parse "text".  On success fill *expr and return true.  On error return
 * false and write a message (without an "invalid cron expression" prefix)
 * into errbuf, truncated to errlen bytes; errbuf may be NULL.  Messages about
 * one field start with the field's name ("second", "minute", "hour",
 * "day-of-month", "month", "day-of-week").  Expressions that can never fire,
 * such as "0 0 30 FEB *", are rejected.
 */
extern bool cron_parse(const char *text, CronExpr *expr, char *errbuf,
					   size_t errlen);

/*
 * Next fire time strictly after "after" (unix seconds, UTC), for the schedule
 * interpreted in the wall-clock time of "zone", following the daylight saving
 * time rules described above.  Returns false if there is none within
 * CRON_HORIZON_YEARS, if "after" is outside CRON_MIN_TIME..CRON_MAX_TIME, or
 * if offset_fn returns an offset beyond CRON_MAX_UTC_OFFSET.
 */
extern bool cron_next(const CronExpr *expr, int64_t after,
					  CronUtcOffsetFn offset_fn, void *zone, int64_t *next);

/*
 * Does the wall-clock time "local" (seconds since 1970-01-01 00:00:00 of the
 * same wall clock, i.e. a UTC timestamp plus its UTC offset) match expr?
 */
extern bool cron_matches_local(const CronExpr *expr, int64_t local);

/*
 * Smallest wall-clock time >= "local" and <= "limit" that matches expr,
 * ignoring time zones entirely.  Returns false if there is none.  Local times
 * more than about 12,000 years away from 1970 are not supported (false).
 */
extern bool cron_next_local(const CronExpr *expr, int64_t local, int64_t limit,
							int64_t *next);

#endif							/* JOBSCHED_CRON_H */
