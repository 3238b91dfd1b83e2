/*-------------------------------------------------------------------------
 *
 * cron.c
 *	  Cron expression parser and next-fire-time calculator for jobsched.
 *
 * This file turns the text of a cron schedule into a CronExpr (a set of
 * bitmasks) and computes the next instant at which a schedule fires.  It
 * uses only the C standard library: no PostgreSQL headers, no memory
 * allocation, no global mutable state, no exit() and no output, so that it
 * can run inside a backend and also be unit-tested and fuzzed on its own
 * (see test/cron_test.c and test/cron_fuzz.c).  Calendar arithmetic is done
 * here (proleptic Gregorian calendar) rather than with mktime()/localtime(),
 * because those depend on the process-wide TZ setting, which a backend must
 * not touch; time zones are reached only through the caller's
 * CronUtcOffsetFn.
 *
 * Daylight saving time rule (also described in cron.h and the README):
 *
 *	  Schedules are interpreted in the wall-clock time of the job's time
 *	  zone.  When the clocks jump forward, a scheduled time that falls in the
 *	  skipped interval fires once, at the instant the clocks jump (the first
 *	  moment after the gap); several scheduled times in the same gap also
 *	  fire just once, together, at that instant.  When the clocks fall back, a
 *	  scheduled time that occurs twice fires once, at its first occurrence,
 *	  except when the hour field selects every hour ('*', "0-23", or '*' with
 *	  step 1): such a job runs every hour anyway, so it fires at both
 *	  occurrences and keeps its rhythm through the repeated hour.  Nothing is
 *	  ever fired twice at the same instant, and no scheduled time is ever
 *	  skipped.
 *
 * How the next fire time is found: wall-clock ("local") times are plain
 * seconds since 1970-01-01 00:00:00 of the wall clock, and
 * cron_next_local() finds the next matching local time by jumping field by
 * field (month, day, hour, minute, second, carrying into the next larger
 * unit when a field has no further match), so its cost does not depend on
 * how far away the answer is.  cron_next() then maps local times to UTC:
 * it looks at a window of CRON_WINDOW seconds either side of the current
 * search point, finds the offset transition in it (if any) by bisection,
 * and considers the pieces of wall-clock time before, inside and after the
 * gap or repeated interval in turn.  See cron_next() for details.
 *
 * src/cron.c
 *
 *-------------------------------------------------------------------------
 */
#include "cron.h"
#include "textutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define SECS_PER_DAY	INT64_C(86400)

/*
 * Half-width of the window examined around the current search point.  It
 * must be at least the largest possible difference between two UTC offsets
 * (2 * CRON_MAX_UTC_OFFSET); see cron_next() for why.
 */
#define CRON_WINDOW		(2 * (int64_t) CRON_MAX_UTC_OFFSET)

/* 100 years of 365.2425 days */
#define CRON_HORIZON_SECS	((int64_t) CRON_HORIZON_YEARS * INT64_C(31556952))

/*
 * cron_next() normally finishes in one to three rounds.  A bound keeps a
 * misbehaving offset function from making it loop for long.
 */
#define CRON_MAX_ROUNDS 1000

/*
 * Local times accepted by cron_next_local(): about +/- 12,000 years around
 * 1970.  That is far more than cron_next() needs, and small enough that no
 * calendar computation can overflow.
 */
#define CRON_LOCAL_MIN	INT64_C(-400000000000)
#define CRON_LOCAL_MAX	INT64_C(400000000000)

/* Longest piece of user input quoted in an error message */
#define CRON_QUOTE_MAX	32

/* Description of one field of the expression */
typedef struct CronField
{
	const char *name;			/* used in error messages */
	int			min;			/* smallest accepted value */
	int			max;			/* largest accepted value */
	int			star_max;		/* upper end of '*' (differs for day-of-week) */
	const char *const *names;	/* three-letter names, or NULL */
	int			names_base;		/* value of names[0] */
} CronField;

static const char *const month_names[] = {
	"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
	"JUL", "AUG", "SEP", "OCT", "NOV", "DEC", NULL
};

static const char *const dow_names[] = {
	"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", NULL
};

enum
{
	F_SECOND, F_MINUTE, F_HOUR, F_DOM, F_MONTH, F_DOW, F_COUNT
};

/*
 * Day of week accepts 7 as a second spelling of Sunday (so that "5-7" reads
 * naturally), but '*' and "n/step" stop at 6, or Sunday would be counted
 * twice by a step.
 */
static const CronField cron_fields[F_COUNT] = {
	{"second", 0, 59, 59, NULL, 0},
	{"minute", 0, 59, 59, NULL, 0},
	{"hour", 0, 23, 23, NULL, 0},
	{"day-of-month", 1, 31, 31, NULL, 0},
	{"month", 1, 12, 12, month_names, 1},
	{"day-of-week", 0, 7, 6, dow_names, 0},
};

typedef struct CronMacro
{
	const char *name;
	const char *expansion;
} CronMacro;

static const CronMacro cron_macros[] = {
	{"@yearly", "0 0 0 1 1 *"},
	{"@annually", "0 0 0 1 1 *"},
	{"@monthly", "0 0 0 1 * *"},
	{"@weekly", "0 0 0 * * 0"},
	{"@daily", "0 0 0 * * *"},
	{"@midnight", "0 0 0 * * *"},
	{"@hourly", "0 0 * * * *"},
	{NULL, NULL}
};

static const int days_in_month_table[13] = {
	0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
};


/* ----------------------------------------------------------------
 *		Small helpers
 * ----------------------------------------------------------------
 */

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static char
to_upper(char c)
{
	return (c >= 'a' && c <= 'z') ? (char) (c - 'a' + 'A') : c;
}

/* Index of the lowest set bit of a nonzero mask */
static int
lowest_bit(uint64_t x)
{
#if defined(__GNUC__) || defined(__clang__)
	return __builtin_ctzll((unsigned long long) x);
#else
	int			n = 0;

	while ((x & 1) == 0)
	{
		x >>= 1;
		n++;
	}
	return n;
#endif
}

/* Smallest n >= from with bit n set in mask, or -1; mask has no bits > 63 */
static int
next_bit(uint64_t mask, int from)
{
	if (from > 63)
		return -1;
	mask >>= from;
	if (mask == 0)
		return -1;
	return from + lowest_bit(mask);
}

/* Floor division and modulo; C's / and % round toward zero */
static int64_t
floor_div(int64_t a, int64_t b)
{
	int64_t		q = a / b;

	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

static int64_t
floor_mod(int64_t a, int64_t b)
{
	return a - floor_div(a, b) * b;
}


/* ----------------------------------------------------------------
 *		Calendar arithmetic (proleptic Gregorian)
 *
 * These are Howard Hinnant's days_from_civil / civil_from_days algorithms:
 * exact for every date, branch-light, and valid for negative years too.
 * ----------------------------------------------------------------
 */

static bool
is_leap_year(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
days_in_month(int64_t y, int m)
{
	if (m == 2 && is_leap_year(y))
		return 29;
	return days_in_month_table[m];
}

/* Days since 1970-01-01 of the given date */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t		era;
	int64_t		yoe;
	int64_t		doy;
	int64_t		doe;

	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* Date of the given number of days since 1970-01-01 */
static void
civil_from_days(int64_t z, int64_t *year, int *month, int *day)
{
	int64_t		era;
	int64_t		doe;
	int64_t		yoe;
	int64_t		doy;
	int64_t		mp;
	int			m;

	z += 719468;
	era = floor_div(z, 146097);
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	m = (int) (mp < 10 ? mp + 3 : mp - 9);
	*year = yoe + era * 400 + (m <= 2);
	*month = m;
	*day = (int) (doy - (153 * mp + 2) / 5 + 1);
}

/* Day of week (0 = Sunday) of the given date; 1970-01-01 was a Thursday */
static int
day_of_week(int64_t y, int m, int d)
{
	return (int) floor_mod(days_from_civil(y, m, d) + 4, 7);
}


/* ----------------------------------------------------------------
 *		Parsing
 * ----------------------------------------------------------------
 */

/*
 * Parse a number or (where the field has them) a name at s[*pos..end).
 * Returns false if there is neither.  Numbers saturate instead of
 * overflowing, so that a huge value is reported as out of range.
 */
static bool
parse_value(const CronField *field, const char *s, size_t end, size_t *pos,
			int *value)
{
	size_t		p = *pos;

	if (p < end && is_digit(s[p]))
	{
		long		v = 0;

		while (p < end && is_digit(s[p]))
		{
			if (v < 1000000)
				v = v * 10 + (s[p] - '0');
			p++;
		}
		*value = (int) v;
		*pos = p;
		return true;
	}
	if (p < end && is_alpha(s[p]) && field->names != NULL)
	{
		size_t		start = p;
		int			i;

		while (p < end && is_alpha(s[p]))
			p++;
		if (p - start != 3)
			return false;
		for (i = 0; field->names[i] != NULL; i++)
		{
			if (to_upper(s[start]) == field->names[i][0] &&
				to_upper(s[start + 1]) == field->names[i][1] &&
				to_upper(s[start + 2]) == field->names[i][2])
			{
				*value = field->names_base + i;
				*pos = p;
				return true;
			}
		}
	}
	return false;
}

/*
 * Parse one list item s[0..len): "*", "a", "a-b", each optionally followed
 * by "/step", and set its bits in *mask.
 */
static bool
parse_item(const CronField *field, const char *s, size_t len, uint64_t *mask,
		   char *errbuf, size_t errlen)
{
	char		quoted[CRON_QUOTE_MAX + 4];
	size_t		pos = 0;
	size_t		a_start;
	size_t		b_start = 0;
	int			lo;
	int			hi;
	int			step = 1;
	bool		single = false;
	int			v;

	if (s[0] == '*')
	{
		lo = field->min;
		hi = field->star_max;
		pos = 1;
	}
	else
	{
		a_start = pos;
		if (!parse_value(field, s, len, &pos, &lo))
			goto invalid;
		if (lo < field->min || lo > field->max)
		{
			jobsched_quote_input(quoted, s + a_start, pos - a_start, CRON_QUOTE_MAX);
			jobsched_format_message(errbuf, errlen, "%s %s out of range %d-%d",
					  field->name, quoted, field->min, field->max);
			return false;
		}
		if (pos < len && s[pos] == '-')
		{
			pos++;
			b_start = pos;
			if (!parse_value(field, s, len, &pos, &hi))
				goto invalid;
			if (hi < field->min || hi > field->max)
			{
				jobsched_quote_input(quoted, s + b_start, pos - b_start, CRON_QUOTE_MAX);
				jobsched_format_message(errbuf, errlen, "%s %s out of range %d-%d",
						  field->name, quoted, field->min, field->max);
				return false;
			}

			/*
			 * "FRI-SUN" should mean Friday to Sunday, as "5-7" does, so a
			 * range from another day to the name SUN ends at 7.
			 */
			if (field->names == dow_names && hi == 0 && lo > 0 &&
				is_alpha(s[b_start]))
				hi = 7;
			if (hi < lo)
			{
				jobsched_quote_input(quoted, s + a_start, pos - a_start, CRON_QUOTE_MAX);
				jobsched_format_message(errbuf, errlen, "%s: range %s is reversed",
						  field->name, quoted);
				return false;
			}
		}
		else
		{
			hi = lo;
			single = true;
		}
	}

	if (pos < len && s[pos] == '/')
	{
		size_t		step_start;

		pos++;
		step_start = pos;
		if (pos >= len || !is_digit(s[pos]))
			goto invalid;
		parse_value(field, s, len, &pos, &step);
		if (pos != len)
			goto invalid;
		if (step == 0)
		{
			jobsched_format_message(errbuf, errlen, "%s: step 0 must be positive",
					  field->name);
			return false;
		}
		if (step > field->star_max - field->min)
		{
			jobsched_quote_input(quoted, s + step_start, pos - step_start, CRON_QUOTE_MAX);
			jobsched_format_message(errbuf, errlen,
					  "%s: step %s is larger than the field range %d-%d",
					  field->name, quoted, field->min, field->star_max);
			return false;
		}

		/*
		 * "a/step" means from a up to the end of the field, as in most cron
		 * implementations that accept it (Vixie cron rejects it).
		 */
		if (single && hi < field->star_max)
			hi = field->star_max;
	}

	if (pos != len)
		goto invalid;

	for (v = lo; v <= hi; v += step)
		*mask |= UINT64_C(1) << v;
	return true;

invalid:
	jobsched_quote_input(quoted, s, len, CRON_QUOTE_MAX);
	jobsched_format_message(errbuf, errlen, "%s: invalid value \"%s\"", field->name, quoted);
	return false;
}

/* Parse one whitespace-free field s[0..len) into *mask */
static bool
parse_field(const CronField *field, const char *s, size_t len,
			uint64_t *mask, char *errbuf, size_t errlen)
{
	size_t		start = 0;

	*mask = 0;
	for (;;)
	{
		size_t		end = start;

		while (end < len && s[end] != ',')
			end++;
		if (end == start)
		{
			jobsched_format_message(errbuf, errlen, "%s: empty list item", field->name);
			return false;
		}
		if (!parse_item(field, s + start, end - start, mask, errbuf, errlen))
			return false;
		if (end == len)
			break;
		start = end + 1;
	}
	return true;
}

/* Parse the fields of a non-macro expression; text has no leading spaces */
static bool
parse_fields(const char *text, CronExpr *expr, char *errbuf, size_t errlen)
{
	const char *start[6];
	size_t		len[6];
	size_t		nfields = 0;
	const char *p = text;
	uint64_t	masks[F_COUNT];
	int			first;
	int			i;

	while (*p != '\0')
	{
		const char *q = p;

		while (*q != '\0' && !jobsched_is_space(*q))
			q++;
		if (nfields < 6)
		{
			start[nfields] = p;
			len[nfields] = (size_t) (q - p);
		}
		nfields++;
		while (*q != '\0' && jobsched_is_space(*q))
			q++;
		p = q;
	}

	if (nfields == 0)
	{
		jobsched_format_message(errbuf, errlen, "empty expression");
		return false;
	}
	if (nfields != 5 && nfields != 6)
	{
		jobsched_format_message(errbuf, errlen,
				  "wrong number of fields: %lu (expected 5 or 6)",
				  (unsigned long) nfields);
		return false;
	}

	/* with five fields, the seconds field is missing and means 0 */
	first = (nfields == 5) ? F_MINUTE : F_SECOND;
	masks[F_SECOND] = 1;
	for (i = first; i < F_COUNT; i++)
	{
		if (!parse_field(&cron_fields[i], start[i - first], len[i - first],
						 &masks[i], errbuf, errlen))
			return false;
	}

	expr->seconds = masks[F_SECOND];
	expr->minutes = masks[F_MINUTE];
	expr->hours = (uint32_t) masks[F_HOUR];
	expr->days_of_month = (uint32_t) masks[F_DOM];
	expr->months = (uint16_t) masks[F_MONTH];
	/* 7 is another name for Sunday */
	expr->days_of_week = (uint8_t) ((masks[F_DOW] | (masks[F_DOW] >> 7)) & 0x7F);
	expr->dom_restricted = !(len[F_DOM - first] == 1 &&
							 start[F_DOM - first][0] == '*');
	expr->dow_restricted = !(len[F_DOW - first] == 1 &&
							 start[F_DOW - first][0] == '*');
	expr->hour_wildcard = (expr->hours == UINT32_C(0xFFFFFF));

	/*
	 * Reject schedules that can never fire, such as "30 FEB": otherwise the
	 * job would silently never run.  Only the day-of-month/month combination
	 * can be impossible; every other combination of non-empty fields occurs
	 * within a few years (February 29 within eight).  With a restricted
	 * day-of-week as well, the days of week alone make it fire.
	 */
	if (expr->dom_restricted && !expr->dow_restricted)
	{
		int			first_day = lowest_bit(expr->days_of_month);
		bool		possible = false;
		int			m;

		for (m = 1; m <= 12; m++)
		{
			/* February counts with 29 days: leap years come around */
			int			dim = (m == 2) ? 29 : days_in_month_table[m];

			if ((expr->months & (1 << m)) && first_day <= dim)
				possible = true;
		}
		if (!possible)
		{
			jobsched_format_message(errbuf, errlen,
					  "can never fire: no selected month has day %d",
					  first_day);
			return false;
		}
	}
	return true;
}

bool
cron_parse(const char *text, CronExpr *expr, char *errbuf, size_t errlen)
{
	CronExpr	tmp;
	const char *p;

	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	memset(&tmp, 0, sizeof(tmp));
	if (expr != NULL)
		memset(expr, 0, sizeof(*expr));

	if (text == NULL)
	{
		jobsched_format_message(errbuf, errlen, "empty expression");
		return false;
	}
	p = text;
	while (*p != '\0' && jobsched_is_space(*p))
		p++;

	if (*p == '@')
	{
		const char *q = p;
		const char *r;
		size_t		n;
		int			i;
		char		quoted[CRON_QUOTE_MAX + 4];

		while (*q != '\0' && !jobsched_is_space(*q))
			q++;
		n = (size_t) (q - p);
		for (i = 0; cron_macros[i].name != NULL; i++)
		{
			const char *name = cron_macros[i].name;
			size_t		k;

			if (strlen(name) != n)
				continue;
			for (k = 0; k < n; k++)
				if (to_upper(p[k]) != to_upper(name[k]))
					break;
			if (k == n)
				break;
		}
		jobsched_quote_input(quoted, p, n, CRON_QUOTE_MAX);
		if (cron_macros[i].name == NULL)
		{
			jobsched_format_message(errbuf, errlen, "unknown macro \"%s\"", quoted);
			return false;
		}
		r = q;
		while (*r != '\0' && jobsched_is_space(*r))
			r++;
		if (*r != '\0')
		{
			jobsched_format_message(errbuf, errlen, "unexpected text after macro \"%s\"",
					  quoted);
			return false;
		}
		p = cron_macros[i].expansion;
	}

	if (!parse_fields(p, &tmp, errbuf, errlen))
		return false;
	if (expr != NULL)
		*expr = tmp;
	return true;
}


/* ----------------------------------------------------------------
 *		Matching wall-clock times
 * ----------------------------------------------------------------
 */

/*
 * Copy expr keeping only meaningful bits, so that a hand-made CronExpr with
 * stray bits cannot make us index past the end of a month or day.
 */
static void
sanitize(const CronExpr *in, CronExpr *out)
{
	*out = *in;
	out->seconds &= (UINT64_C(1) << 60) - 1;
	out->minutes &= (UINT64_C(1) << 60) - 1;
	out->hours &= UINT32_C(0xFFFFFF);
	out->days_of_month &= UINT32_C(0xFFFFFFFE);
	out->months &= 0x1FFE;
	out->days_of_week &= 0x7F;
}

/* Vixie cron day rule; see cron.h */
static bool
day_matches(const CronExpr *e, int64_t y, int m, int d)
{
	bool		dom = (e->days_of_month >> d) & 1;
	bool		dow = (e->days_of_week >> day_of_week(y, m, d)) & 1;

	if (e->dom_restricted && e->dow_restricted)
		return dom || dow;
	if (e->dom_restricted)
		return dom;
	if (e->dow_restricted)
		return dow;
	return true;
}

/*
 * First day >= d of month m of year y that matches the day rule, or -1.
 * Works with bitmasks, not day by day, since it sits on the hot path.
 */
static int
next_day(const CronExpr *e, int64_t y, int m, int d)
{
	int			dim = days_in_month(y, m);
	int			best = -1;

	if (d > dim)
		return -1;
	if (!e->dom_restricted && !e->dow_restricted)
		return d;
	if (e->dom_restricted)
	{
		int			c = next_bit(e->days_of_month, d);

		if (c >= 0 && c <= dim)
			best = c;
	}
	if (e->dow_restricted && e->days_of_week != 0)
	{
		int			wd = day_of_week(y, m, d);
		int			k = 0;

		while (!((e->days_of_week >> ((wd + k) % 7)) & 1))
			k++;
		if (d + k <= dim && (best < 0 || d + k < best))
			best = d + k;
	}
	return best;
}

bool
cron_matches_local(const CronExpr *expr, int64_t local)
{
	CronExpr	e;
	int64_t		days;
	int64_t		sod;
	int64_t		y;
	int			m;
	int			d;

	if (expr == NULL || local < CRON_LOCAL_MIN || local > CRON_LOCAL_MAX)
		return false;
	sanitize(expr, &e);
	days = floor_div(local, SECS_PER_DAY);
	sod = local - days * SECS_PER_DAY;
	civil_from_days(days, &y, &m, &d);
	return ((e.months >> m) & 1) &&
		day_matches(&e, y, m, d) &&
		((e.hours >> (sod / 3600)) & 1) &&
		((e.minutes >> (sod / 60 % 60)) & 1) &&
		((e.seconds >> (sod % 60)) & 1);
}

bool
cron_next_local(const CronExpr *expr, int64_t local, int64_t limit,
				int64_t *next)
{
	CronExpr	e;
	int64_t		days;
	int64_t		sod;
	int64_t		y;
	int64_t		limit_y;
	int64_t		result;
	int			m;
	int			d;
	int			h;
	int			mi;
	int			s;
	int			limit_m;
	int			limit_d;

	if (expr == NULL || next == NULL)
		return false;
	if (limit > CRON_LOCAL_MAX)
		limit = CRON_LOCAL_MAX;
	if (local < CRON_LOCAL_MIN || local > limit)
		return false;
	sanitize(expr, &e);

	/* Give up at once on a hand-made expression that matches nothing */
	if (e.seconds == 0 || e.minutes == 0 || e.hours == 0 || e.months == 0 ||
		(e.dom_restricted && e.dow_restricted &&
		 e.days_of_month == 0 && e.days_of_week == 0) ||
		(e.dom_restricted && !e.dow_restricted && e.days_of_month == 0) ||
		(e.dow_restricted && !e.dom_restricted && e.days_of_week == 0))
		return false;

	days = floor_div(local, SECS_PER_DAY);
	sod = local - days * SECS_PER_DAY;
	civil_from_days(days, &y, &m, &d);
	h = (int) (sod / 3600);
	mi = (int) (sod / 60 % 60);
	s = (int) (sod % 60);
	civil_from_days(floor_div(limit, SECS_PER_DAY), &limit_y, &limit_m,
					&limit_d);

	/*
	 * Find the first matching value of each field, largest unit first.  When
	 * a field has no further match in the current unit above it, move to the
	 * start of the next such unit and start over; an out-of-range value
	 * (minute 60, day 32, month 13) simply finds no match and carries.  Every
	 * round moves forward, and the year bound ends the loop.
	 */
	for (;;)
	{
		int			nm;
		int			nd;
		int			nh;
		int			nmi;
		int			ns;

		if (y > limit_y)
			return false;

		nm = next_bit(e.months, m);
		if (nm < 0 || nm > 12)
		{
			y++;
			m = 1;
			d = 1;
			h = mi = s = 0;
			continue;
		}
		if (nm != m)
		{
			m = nm;
			d = 1;
			h = mi = s = 0;
		}

		nd = next_day(&e, y, m, d);
		if (nd < 0)
		{
			m++;
			d = 1;
			h = mi = s = 0;
			continue;
		}
		if (nd != d)
		{
			d = nd;
			h = mi = s = 0;
		}

		nh = next_bit(e.hours, h);
		if (nh < 0)
		{
			d++;
			h = mi = s = 0;
			continue;
		}
		if (nh != h)
		{
			h = nh;
			mi = s = 0;
		}

		nmi = next_bit(e.minutes, mi);
		if (nmi < 0)
		{
			h++;
			mi = s = 0;
			continue;
		}
		if (nmi != mi)
		{
			mi = nmi;
			s = 0;
		}

		ns = next_bit(e.seconds, s);
		if (ns < 0)
		{
			mi++;
			s = 0;
			continue;
		}
		s = ns;
		break;
	}

	result = days_from_civil(y, m, d) * SECS_PER_DAY +
		h * 3600 + mi * 60 + s;
	if (result > limit)
		return false;
	*next = result;
	return true;
}


/* ----------------------------------------------------------------
 *		Next fire time in a time zone
 * ----------------------------------------------------------------
 */

/* Call the offset function, rejecting offsets no real zone has */
static bool
get_offset(CronUtcOffsetFn fn, void *zone, int64_t utc, int64_t *offset)
{
	long		o = fn(zone, utc);

	if (o < -CRON_MAX_UTC_OFFSET || o > CRON_MAX_UTC_OFFSET)
		return false;
	*offset = o;
	return true;
}

/*
 * The search keeps a lower bound u (the answer is >= u) and, in each round,
 * looks at the window [u - W, u + W], W = CRON_WINDOW.  We assume that the
 * zone changes its offset at most once within such a window (true of every
 * zone in the tz database since 1940) and that offsets differ by at most W
 * (guaranteed by the CRON_MAX_UTC_OFFSET check).
 *
 * If the offsets at u - W, u and u + W agree, the offset o is constant over
 * the window, and the answer is M - o for the first matching local time
 * M >= u + o.
 *
 * Otherwise bisection finds the transition instant T, with offset oB before
 * and oA from T on.  Wall-clock time then consists of pieces:
 *
 *	 - local times before T + oB occur (first) at L - oB, before T;
 *	 - spring forward (oA > oB): local times in [T + oB, T + oA) do not
 *	   exist; if one of them matches, the job fires at T;
 *	 - fall back (oA < oB): local times in [T + oA, T + oB) occur a second
 *	   time at L - oA; that fires only for hour-wildcard jobs;
 *	 - local times from T + max(oA, oB) on occur at L - oA.
 *
 * These pieces come in increasing order of UTC, so the first piece that
 * holds a match at or after u gives the answer.
 *
 * If the answer found lies beyond u + W, the window did not cover it, and
 * there might be other transitions between u + W and there.  They cannot
 * cause an earlier firing: instants in (u + W, answer - W) have wall-clock
 * times between the ones already searched and M (because offsets differ by
 * at most W), and there are no matches there, not even in a gap.  So we move
 * u to answer - W and look again, this time with the answer inside the
 * window.  Every round either finishes or moves u forward.
 */
bool
cron_next(const CronExpr *expr, int64_t after, CronUtcOffsetFn offset_fn,
		  void *zone, int64_t *next)
{
	const int64_t W = CRON_WINDOW;
	int64_t		u;
	int64_t		llimit;
	int			round;

	if (expr == NULL || offset_fn == NULL || next == NULL)
		return false;
	if (after < CRON_MIN_TIME || after > CRON_MAX_TIME)
		return false;

	u = after + 1;
	llimit = after + CRON_HORIZON_SECS + CRON_MAX_UTC_OFFSET;

	for (round = 0; round < CRON_MAX_ROUNDS; round++)
	{
		int64_t		o_left;
		int64_t		o_here;
		int64_t		o_right;
		int64_t		M;
		int64_t		f = 0;
		int64_t		fo = 0;
		bool		at_gap = false;

		if (!get_offset(offset_fn, zone, u - W, &o_left) ||
			!get_offset(offset_fn, zone, u, &o_here) ||
			!get_offset(offset_fn, zone, u + W, &o_right))
			return false;

		if (o_left == o_here && o_here == o_right)
		{
			/* no transition near u */
			if (!cron_next_local(expr, u + o_here, llimit, &M))
				return false;
			f = M - o_here;
			fo = o_here;
		}
		else
		{
			int64_t		lo;
			int64_t		hi;
			int64_t		oB;
			int64_t		oA;
			int64_t		T;
			bool		found = false;

			/* bisect for the transition; invariant: off(lo) == oB != off(hi) */
			if (o_here != o_right)
			{
				lo = u;
				hi = u + W;
				oB = o_here;
			}
			else
			{
				lo = u - W;
				hi = u;
				oB = o_left;
			}
			while (hi - lo > 1)
			{
				int64_t		mid = lo + (hi - lo) / 2;
				int64_t		om;

				if (!get_offset(offset_fn, zone, mid, &om))
					return false;
				if (om == oB)
					lo = mid;
				else
					hi = mid;
			}
			T = hi;
			if (!get_offset(offset_fn, zone, T, &oA))
				return false;

			/*
			 * Before the transition, and the gap if clocks jump forward.
			 * (With u == T nothing is left before the transition, but the
			 * gap's firing at T still is.)
			 */
			if (u <= T)
			{
				if (!cron_next_local(expr, u + oB, llimit, &M))
					return false;
				if (M < T + oB)
				{
					f = M - oB;
					fo = oB;
					found = true;
				}
				else if (oA > oB && M < T + oA)
				{
					f = T;
					at_gap = true;
					found = true;
				}
			}

			/* second occurrences of a repeated interval */
			if (!found && oA < oB && expr->hour_wildcard)
			{
				int64_t		from = (T > u ? T : u) + oA;

				if (cron_next_local(expr, from, T + oB - 1, &M))
				{
					f = M - oA;
					fo = oA;
					found = true;
				}
			}

			/* after the transition */
			if (!found)
			{
				int64_t		from = T + (oA > oB ? oA : oB);

				if (from < u + oA)
					from = u + oA;
				if (!cron_next_local(expr, from, llimit, &M))
					return false;
				f = M - oA;
				fo = oA;
			}
		}

		if (f > u + W)
		{
			/* beyond the window: look again closer to it */
			u = f - W;
			continue;
		}

		if (!at_gap)
		{
			int64_t		of;

			/*
			 * Make sure the answer really shows the matched wall-clock time.
			 * Only a zone that breaks our assumptions can fail this; then
			 * skip the instant rather than return a wrong one.
			 */
			if (!get_offset(offset_fn, zone, f, &of))
				return false;
			if (of != fo)
			{
				u = f + 1;
				continue;
			}
		}
		*next = f;
		return true;
	}
	return false;
}
