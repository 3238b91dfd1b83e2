/*-------------------------------------------------------------------------
 *
 * fuzz_headers.c
 *	  libFuzzer target for the header check (src/validate.c).
 *
 * Splits the input at the first NUL or ':' into a header name and a value
 * (the value is then a C string, so it ends at the next NUL, as any value
 * handed over from SQL would) and calls validate_header().  A header it
 * accepts must have a token name of 1-256 bytes that is not reserved, and
 * a value of at most 8192 bytes without CR, LF or other control characters
 * but tab, so that "name: value\r\n" is exactly one header line.  Messages
 * must be non-empty printable ASCII, also when truncated into a small
 * buffer.
 *
 * Build and run with "make -f test/Makefile.fuzz fuzz-ci"; seeds are in
 * test/corpus/headers/.
 *
 * test/fuzz_headers.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "validate.h"
#include "fuzz_check.h"

#define FUZZ_MAX_INPUT (JOBSCHED_MAX_HEADER_VALUE + 512)

/* ASCII case-insensitive equality, independent of validate.c's */
static bool
same_ignoring_case(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
	{
		int			ca = (*a >= 'A' && *a <= 'Z') ? *a + 32 : *a;
		int			cb = (*b >= 'A' && *b <= 'Z') ? *b + 32 : *b;

		if (ca != cb)
			return false;
	}
	return *a == *b;
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char name[FUZZ_MAX_INPUT + 1];
	static char value[FUZZ_MAX_INPUT + 1];
	static const char *const reserved[] = {
		"Idempotency-Key", "Host", "Content-Length", "Transfer-Encoding",
		"Connection", "Expect", "webhook-id", "webhook-timestamp", "webhook-signature", NULL
	};
	char		buf[VALIDATE_ERRBUF_SIZE];
	char		small[9];
	const char *msg;
	const char *msg2;
	size_t		split;
	size_t		namelen;
	size_t		valuelen;
	size_t		i;

	if (size > FUZZ_MAX_INPUT)
		size = FUZZ_MAX_INPUT;
	for (split = 0; split < size; split++)
		if (data[split] == '\0' || data[split] == ':')
			break;
	memcpy(name, data, split);
	name[split] = '\0';
	if (split < size)
	{
		memcpy(value, data + split + 1, size - split - 1);
		value[size - split - 1] = '\0';
	}
	else
		value[0] = '\0';
	namelen = strlen(name);
	valuelen = strlen(value);

	memset(buf, 'X', sizeof(buf));
	msg = validate_header(name, value, buf, sizeof(buf));

	/* same verdict without a buffer and with a tiny one */
	msg2 = validate_header(name, value, NULL, 0);
	if ((msg == NULL) != (msg2 == NULL))
		abort();
	memset(small, 'X', sizeof(small));
	msg2 = validate_header(name, value, small, sizeof(small));
	if ((msg == NULL) != (msg2 == NULL))
		abort();

	if (msg != NULL)
	{
		check_message_text(msg, msg == buf ? sizeof(buf) : 0, false);
		check_message_text(msg2, msg2 == small ? sizeof(small) : 0, false);
		/* a formatted message must be complete in a full-size buffer */
		if (msg == buf && strlen(buf) >= sizeof(buf) - 1)
			abort();
		return 0;
	}

	/* accepted: a token name of 1-256 bytes ... */
	if (namelen == 0 || namelen > JOBSCHED_MAX_HEADER_NAME)
		abort();
	for (i = 0; i < namelen; i++)
	{
		unsigned char c = (unsigned char) name[i];

		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
			  (c >= 'a' && c <= 'z') || strchr("!#$%&'*+-.^_`|~", c)))
			abort();
	}
	/* ... that is not reserved ... */
	for (i = 0; reserved[i]; i++)
		if (same_ignoring_case(name, reserved[i]))
			abort();
	/* ... and a value without CR, LF or other control characters */
	if (valuelen > JOBSCHED_MAX_HEADER_VALUE)
		abort();
	for (i = 0; i < valuelen; i++)
	{
		unsigned char c = (unsigned char) value[i];

		if (c == '\r' || c == '\n' || c == '\0' ||
			(c < 0x20 && c != '\t') || c == 0x7f)
			abort();
	}
	return 0;
}
