/*-------------------------------------------------------------------------
 *
 * fuzz_url.c
 *	  libFuzzer target for the URL check (src/validate.c) and its use with
 *	  the network policy (src/netpolicy.c).
 *
 * Feeds arbitrary bytes to validate_url().  A URL it accepts must be within
 * the length limit and free of spaces and control characters, and its host
 * must be non-empty and without brackets.  The host then goes through
 * netpolicy_parse_ip() and the default policy, as the SQL API and the
 * worker will use it; both ways of asking the policy must agree, and an
 * accepted IP literal must survive a round trip through inet_ntop().  The
 * sanitizers catch memory errors and undefined behaviour, in our code and
 * in how we call libcurl.
 *
 * Build and run with "make -f test/Makefile.fuzz fuzz-ci"; seeds are in
 * test/corpus/url/.
 *
 * test/fuzz_url.c
 *
 *-------------------------------------------------------------------------
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "netpolicy.h"
#include "fuzz_check.h"
#include "validate.h"

#define FUZZ_MAX_INPUT (JOBSCHED_MAX_URL_LENGTH + 64)

static NetPolicy default_policy;
static bool default_policy_ready = false;

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char text[FUZZ_MAX_INPUT + 1];
	static char host[FUZZ_MAX_INPUT + 1];
	char		small[8];
	char		why[NETPOLICY_ERRBUF_SIZE];
	char		why2[NETPOLICY_ERRBUF_SIZE];
	const char *msg;
	const char *msg2;
	size_t		len;
	size_t		i;
	struct sockaddr_storage ss;

	if (!default_policy_ready)
	{
		char		err[NETPOLICY_ERRBUF_SIZE];

		if (!netpolicy_parse(NETPOLICY_DEFAULT, &default_policy, err, sizeof(err)))
			abort();
		default_policy_ready = true;
	}

	if (size > FUZZ_MAX_INPUT)
		size = FUZZ_MAX_INPUT;
	memcpy(text, data, size);
	text[size] = '\0';
	len = strlen(text);

	memset(host, 'X', sizeof(host));
	msg = validate_url(text, host, sizeof(host));

	/* the verdict must not depend on whether the host is wanted */
	msg2 = validate_url(text, NULL, 0);
	if ((msg == NULL) != (msg2 == NULL) || (msg && strcmp(msg, msg2) != 0))
		abort();

	if (msg != NULL)
	{
		check_message_text(msg, 0, false);
		return 0;
	}

	/* accepted: within limits, no spaces or control characters */
	if (len > JOBSCHED_MAX_URL_LENGTH)
		abort();
	for (i = 0; i < len; i++)
		if ((unsigned char) text[i] <= ' ' || (unsigned char) text[i] == 0x7f)
			abort();

	/* the host: non-empty, terminated, no brackets, no longer than the URL */
	if (memchr(host, '\0', sizeof(host)) == NULL || host[0] == '\0' ||
		strlen(host) > len || strchr(host, '[') || strchr(host, ']'))
		abort();

	/* a small host buffer gives an error or a host that fits, never more */
	memset(small, 'X', sizeof(small));
	msg = validate_url(text, small, sizeof(small));
	if (msg == NULL ? strcmp(small, host) != 0 :
		strcmp(msg, "its host is too long for the buffer") != 0 ||
		strlen(host) < sizeof(small))
		abort();

	/* the host through the policy, as the SQL API and the worker use it */
	if (netpolicy_parse_ip(host, &ss))
	{
		socklen_t	sslen = ss.ss_family == AF_INET ?
			(socklen_t) sizeof(struct sockaddr_in) :
			(socklen_t) sizeof(struct sockaddr_in6);
		bool		a1 = netpolicy_allows(&default_policy,
										  (struct sockaddr *) &ss, sslen,
										  why, sizeof(why));
		bool		a2 = netpolicy_allows_text(&default_policy, host,
											   why2, sizeof(why2));
		unsigned char bin[16];
		char		back[INET6_ADDRSTRLEN];

		if (a1 != a2 || strcmp(why, why2) != 0)
			abort();
		check_message_text(why, sizeof(why), false);

		/* the normalized IPv4 host must be exactly what inet_ntop prints */
		if (ss.ss_family == AF_INET)
		{
			if (inet_pton(AF_INET, host, bin) != 1 ||
				inet_ntop(AF_INET, bin, back, sizeof(back)) == NULL ||
				strcmp(back, host) != 0)
				abort();
		}
	}
	else
	{
		/* a name, not an IP literal: the policy must refuse it as text */
		if (netpolicy_allows_text(&default_policy, host, why, sizeof(why)))
			abort();
		check_message_text(why, sizeof(why), false);
	}
	return 0;
}
