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

/*
 * Length of the well-formed UTF-8 sequence at s (at most "avail" bytes), or
 * 0 if there is none: a lead byte, then its continuation bytes, no
 * overlong forms, no surrogates, nothing above U+10FFFF.
 */
static size_t
utf8_sequence_length(const unsigned char *s, size_t avail)
{
	size_t		n;
	unsigned int cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		n = 2, cp = s[0] & 0x1F;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		n = 3, cp = s[0] & 0x0F;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n > avail)
		return 0;
	for (size_t i = 1; i < n; i++)
	{
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
		(n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
		return 0;
	return n;
}

void
jobsched_quote_input(char *dst, const char *src, size_t len, size_t max)
{
	const unsigned char *s = (const unsigned char *) src;
	size_t		in = 0;
	size_t		out = 0;

	while (in < len)
	{
		size_t		n = utf8_sequence_length(s + in, len - in);

		if (n == 0 || (n == 1 && (s[in] < 0x20 || s[in] == 0x7f)))
			n = 1;				/* a control character or a stray byte */
		if (out + n > max)
			break;				/* cut between characters, never inside one */
		if (n == 1 && (s[in] < 0x20 || s[in] >= 0x7f))
			dst[out] = '?';
		else
			memcpy(dst + out, s + in, n);
		in += n;
		out += n;
	}
	if (in < len)
	{
		memcpy(dst + out, "...", 3);
		out += 3;
	}
	dst[out] = '\0';
}
