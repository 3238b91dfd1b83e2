/*-------------------------------------------------------------------------
 *
 * validate.c
 *	  Checks on the URLs and headers of jobs.
 *
 * These are the checks behind the SQL API (jobsched.check_url and the
 * header checks of the jobs trigger), kept free of PostgreSQL dependencies
 * so that test/validate_test.c can unit-test them and test/fuzz_url.c and
 * test/fuzz_headers.c can fuzz them.  The messages are those the SQL API
 * has always given, where it gave one.
 *
 * URLs are parsed with libcurl's own parser (curl_url()), not with one of
 * our own: what matters is how libcurl will interpret the URL when the
 * worker sends the request, and any difference between two parsers is
 * where request-forgery bypasses come from.
 *
 * src/validate.c
 *
 *-------------------------------------------------------------------------
 */
#include "textutil.h"
#include "validate.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

/* Longest piece of a header name quoted in a message */
#define VALIDATE_QUOTE_MAX	48

/* Headers that jobsched sets itself, or that would break the framing */
static const char *const reserved_headers[] = {
	"idempotency-key",			/* set per execution for exactly-once */
	"host",						/* must agree with the URL */
	"content-length",			/* computed from the body */
	"transfer-encoding",		/* request smuggling */
	"connection",				/* the worker manages connections */
	"expect",					/* 100-continue handling is libcurl's */
	"webhook-id",				/* Standard Webhooks: set on signed jobs */
	"webhook-timestamp",
	"webhook-signature",
	NULL
};


/* ----------------------------------------------------------------
 *		Small helpers
 * ----------------------------------------------------------------
 */

#if defined(__GNUC__) || defined(__clang__)
#define VALIDATE_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define VALIDATE_PRINTF(f, a)
#endif

static const char *format_message(char *buf, size_t buflen,
								  const char *fallback, const char *fmt,...)
			VALIDATE_PRINTF(4, 5);

/*
 * Format a message into buf and return buf; without a buffer, return the
 * static fallback instead, so that the caller always gets a message.
 */
static const char *
format_message(char *buf, size_t buflen, const char *fallback,
			   const char *fmt,...)
{
	va_list		ap;

	if (buf == NULL || buflen == 0)
		return fallback;
	va_start(ap, fmt);
	vsnprintf(buf, buflen, fmt, ap);
	va_end(ap);
	return buf;
}

/* A header name quoted in a message (see jobsched_quote_input). */
static void
quote_text(char *dst, const char *src)
{
	jobsched_quote_input(dst, src, strlen(src), VALIDATE_QUOTE_MAX);
}

/* ASCII-only, locale-independent case-insensitive equality */
static bool
equal_ignoring_case(const char *a, const char *b)
{
	for (;; a++, b++)
	{
		char		ca = *a;
		char		cb = *b;

		if (ca >= 'A' && ca <= 'Z')
			ca = (char) (ca - 'A' + 'a');
		if (cb >= 'A' && cb <= 'Z')
			cb = (char) (cb - 'A' + 'a');
		if (ca != cb)
			return false;
		if (ca == '\0')
			return true;
	}
}

/* Is c a "tchar" of RFC 7230, section 3.2.6? */
static bool
is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
		(c >= 'a' && c <= 'z'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}


/* ----------------------------------------------------------------
 *		URLs
 * ----------------------------------------------------------------
 */

/*
 * libcurl reads "http:/host/" as http://host/ and "http:///path" as a URL
 * whose host is "path".  A job's http(s) URL spells out "//" and a host, so
 * that what the user wrote is what is requested.
 */
static bool
spells_out_host(const char *url)
{
	const char *colon = strchr(url, ':');
	size_t		scheme_len = colon ? (size_t) (colon - url) : 0;

	if (colon == NULL ||
		!((scheme_len == 4 && strncasecmp(url, "http", 4) == 0) ||
		  (scheme_len == 5 && strncasecmp(url, "https", 5) == 0)))
		return true;			/* not http(s): the scheme check speaks */
	return colon[1] == '/' && colon[2] == '/' && colon[3] != '\0' &&
		strchr("/?#\\", colon[3]) == NULL;
}

const char *
validate_url(const char *url, char *host_out, size_t hostlen)
{
	size_t		len;
	size_t		i;
	CURLU	   *parsed;
	char	   *scheme = NULL;
	char	   *host = NULL;
	const char *problem = NULL;

	if (url == NULL)
		return "it is not a well-formed URL";

	/* bounded scan: an enormous URL is rejected without reading it all */
	for (len = 0; len <= JOBSCHED_MAX_URL_LENGTH && url[len] != '\0'; len++)
		;
	if (len > JOBSCHED_MAX_URL_LENGTH)
		return "it is longer than 8192 bytes";

	/*
	 * libcurl would percent-encode spaces or reject control characters
	 * depending on its version and flags; a job's URL should not depend on
	 * that, nor carry line breaks into a request line.
	 */
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) url[i];

		if (c <= ' ' || c == 0x7f)
			return "it contains a space or control character";
	}

	if (!spells_out_host(url))
		return "it has no host";

	parsed = curl_url();
	if (parsed == NULL)
		return "out of memory";

	/*
	 * CURLU_NON_SUPPORT_SCHEME lets libcurl parse URLs of any scheme, so that
	 * "ftp://host/" gets the more helpful message below.
	 */
	if (curl_url_set(parsed, CURLUPART_URL, url,
					 CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK)
		problem = "it is not a well-formed URL";
	else if (curl_url_get(parsed, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
			 scheme == NULL ||
			 (!equal_ignoring_case(scheme, "http") &&
			  !equal_ignoring_case(scheme, "https")))
		problem = "only http and https URLs are allowed";
	else if (curl_url_get(parsed, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
			 host == NULL || host[0] == '\0')
		problem = "it has no host";
	else if (host_out != NULL)
	{
		const char *h = host;
		size_t		hlen = strlen(host);

		/* "[::1]" -> "::1"; the zone, if any, is not part of CURLUPART_HOST */
		if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']')
		{
			h++;
			hlen -= 2;
		}
		if (hlen >= hostlen)
			problem = "its host is too long for the buffer";
		else
		{
			memcpy(host_out, h, hlen);
			host_out[hlen] = '\0';
		}
	}

	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(parsed);
	return problem;
}


/* ----------------------------------------------------------------
 *		Headers
 * ----------------------------------------------------------------
 */

const char *
validate_header(const char *name, const char *value, char *buf, size_t buflen)
{
	char		quoted[VALIDATE_QUOTE_MAX + 4];
	size_t		len;
	int			i;

	if (name == NULL)
		name = "";

	/*
	 * The name goes into the request verbatim: anything but a token could
	 * end the header early or start another one.  Test the characters first
	 * (bounded by the length limit), so that a long name with a bad byte is
	 * reported as invalid rather than as long.
	 */
	for (len = 0; name[len] != '\0' && len <= JOBSCHED_MAX_HEADER_NAME; len++)
	{
		if (!is_tchar((unsigned char) name[len]))
			break;
	}
	if (len == 0 || (name[len] != '\0' && len <= JOBSCHED_MAX_HEADER_NAME))
	{
		quote_text(quoted, name);
		return format_message(buf, buflen, "invalid header name",
							  "invalid header name \"%s\"", quoted);
	}
	if (len > JOBSCHED_MAX_HEADER_NAME)
		return "header name is longer than 256 bytes";

	quote_text(quoted, name);
	if (value == NULL)
		return format_message(buf, buflen, "header must be a string, not null",
							  "header \"%s\" must be a string, not null",
							  quoted);

	for (len = 0; value[len] != '\0' && len <= JOBSCHED_MAX_HEADER_VALUE; len++)
		;
	if (len > JOBSCHED_MAX_HEADER_VALUE)
		return format_message(buf, buflen,
							  "header value is longer than 8192 bytes",
							  "header \"%s\" value is longer than 8192 bytes",
							  quoted);

	/* line breaks first: they are the dangerous ones (header injection) */
	if (strpbrk(value, "\r\n") != NULL)
		return format_message(buf, buflen,
							  "header must not contain line breaks",
							  "header \"%s\" must not contain line breaks",
							  quoted);
	for (i = 0; value[i] != '\0'; i++)
	{
		unsigned char c = (unsigned char) value[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return format_message(buf, buflen,
								  "header must not contain control characters",
								  "header \"%s\" must not contain control characters",
								  quoted);
	}

	for (i = 0; reserved_headers[i] != NULL; i++)
	{
		if (equal_ignoring_case(name, reserved_headers[i]))
			return format_message(buf, buflen,
								  "header is set by jobsched and cannot be given",
								  "header \"%s\" is set by jobsched and cannot be given",
								  quoted);
	}
	return NULL;
}
