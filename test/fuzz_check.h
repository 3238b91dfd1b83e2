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
 * abort() unless s is a NUL-terminated printable-ASCII message within room
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
		if ((unsigned char) *p < 0x20 || (unsigned char) *p >= 0x7f)
			abort();
}

#endif							/* JOBSCHED_TEST_FUZZ_CHECK_H */
