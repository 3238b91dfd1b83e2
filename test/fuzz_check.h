/*
 * test/fuzz_check.h
 *		What every libFuzzer target checks of a message it got back.
 */
#ifndef JOBSCHED_TEST_FUZZ_CHECK_H
#define JOBSCHED_TEST_FUZZ_CHECK_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/*
 * abort() unless s is a NUL-terminated message of printable ASCII and UTF-8
 * characters (no control characters) within room
 * bytes (0: a static string, terminated by definition), non-empty unless
 * may_be_empty
 */
static void
check_message_text(const char *s, size_t room, bool may_be_empty)
{
	const char *nul = room ? memchr(s, '\0', room) : s + strlen(s);
	const char *p;

	if (nul == NULL || (nul == s && !may_be_empty))
		abort();
	for (p = s; p < nul; p++)
	{
		const unsigned char *u = (const unsigned char *) p;
		size_t		n = 0;

		if (*u < 0x20 || *u == 0x7f)
			abort();
		if (*u < 0x80)
			continue;
		/* well-formed UTF-8 only (the quoted input keeps its characters) */
		n = (*u >= 0xC2 && *u <= 0xDF) ? 2 : (*u >= 0xE0 && *u <= 0xEF) ? 3 :
			(*u >= 0xF0 && *u <= 0xF4) ? 4 : 0;
		if (n == 0 || (size_t) (nul - p) < n)
			abort();
		for (size_t i = 1; i < n; i++)
			if ((u[i] & 0xC0) != 0x80)
				abort();
		p += n - 1;
	}
}

#endif							/* JOBSCHED_TEST_FUZZ_CHECK_H */
