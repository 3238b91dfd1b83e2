/*-------------------------------------------------------------------------
 *
 * textutil.h
 *		Message helpers shared by the pure-C parsers (cron.c, netpolicy.c).
 *
 * No PostgreSQL headers: these parsers are unit-tested and fuzzed on their
 * own.
 *
 * src/textutil.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef JOBSCHED_TEXTUTIL_H
#define JOBSCHED_TEXTUTIL_H

#include <stdbool.h>
#include <stddef.h>

#if defined(__GNUC__) || defined(__clang__)
#define TEXT_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define TEXT_PRINTF(f, a)
#endif

/* snprintf into buf, which may be NULL (or buflen 0) when no message is wanted */
extern void jobsched_format_message(char *buf, size_t buflen, const char *fmt,...) TEXT_PRINTF(3, 4);

/*
 * Copy user input src[0..len) into dst for quoting in a message: printable
 * ASCII and well-formed UTF-8 characters as they are, control characters
 * and stray bytes as '?' (so a message cannot smuggle line breaks into the
 * log, nor carry invalid UTF-8); input longer than max bytes is cut between
 * two characters and "..." appended.  dst must have room for max + 4 bytes.
 */
extern void jobsched_quote_input(char *dst, const char *src, size_t len, size_t max);

/* Whitespace between words; not isspace(), to stay locale-independent */
static inline bool
jobsched_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
		c == '\f' || c == '\v';
}

#endif							/* JOBSCHED_TEXTUTIL_H */
