/*-------------------------------------------------------------------------
 *
 * textutil.c
 *		Message helpers shared by the pure-C parsers (cron.c, netpolicy.c).
 *
 * src/textutil.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "textutil.h"

void
jobsched_format_message(char *buf, size_t buflen, const char *fmt,...)
{
	va_list		ap;

	if (buf == NULL || buflen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, buflen, fmt, ap);
	va_end(ap);
}

void
jobsched_quote_input(char *dst, const char *src, size_t len, size_t max)
{
	size_t		n = len > max ? max : len;
	size_t		i;

	for (i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char) src[i];

		dst[i] = (c >= 0x20 && c < 0x7f) ? (char) c : '?';
	}
	if (n < len)
	{
		memcpy(dst + n, "...", 3);
		n += 3;
	}
	dst[n] = '\0';
}
