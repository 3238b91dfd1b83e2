/*-------------------------------------------------------------------------
 *
 * validate.h
 *	  Checks on the URLs and headers of jobs, shared by the SQL API and the
 *	  tests.
 *
 * What a user may put into a job's URL and headers is security-relevant:
 * the worker sends them from the database server.  The checks live here,
 * free of PostgreSQL dependencies (only the C library and libcurl's URL
 * parser), so that they can be unit-tested and fuzzed without a server.
 * Nothing here allocates memory except libcurl's URL parser, which frees
 * what it allocates; messages are static strings or are formatted into a
 * buffer the caller supplies.  No global state.
 *
 * src/validate.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef JOBSCHED_VALIDATE_H
#define JOBSCHED_VALIDATE_H

#include <stddef.h>

/* Longest URL accepted; longer ones are almost certainly a mistake */
#define JOBSCHED_MAX_URL_LENGTH 8192

/* Longest header name and header value accepted, in bytes */
#define JOBSCHED_MAX_HEADER_NAME 256
#define JOBSCHED_MAX_HEADER_VALUE 8192

/*
 * A buffer of this size always holds a complete validate_header() message;
 * smaller ones get a truncated, still NUL-terminated one.
 */
#define VALIDATE_ERRBUF_SIZE 128

/*
 * Is url acceptable for a job?  Returns NULL if so, else a static message
 * meant to follow "invalid URL \"...\": ":
 *	  "it is longer than 8192 bytes"
 *	  "it contains a space or control character" (any byte <= 0x20 or 0x7f;
 *		  bytes >= 0x80, as in UTF-8 host names, are left to libcurl)
 *	  "it is not a well-formed URL" (libcurl's parser refuses it)
 *	  "only http and https URLs are allowed"
 *	  "it has no host"
 *	  "its host is too long for the buffer" (host_out too small)
 *	  "out of memory" (libcurl could not allocate its URL handle)
 *
 * If host_out is not NULL and the URL is acceptable, libcurl's normalized
 * host is copied into it (hostlen bytes, NUL included): IPv4 literals in
 * any spelling libcurl accepts ("0x7f.1", "2130706433") become dotted
 * quads, IPv6 literals lose their brackets and zone ("fe80::1"), names are
 * percent-decoded.  That is what netpolicy_parse_ip() expects.  A host is
 * never longer than the URL, so hostlen > strlen(url) always suffices.
 */
extern const char *validate_url(const char *url, char *host_out,
								size_t hostlen);

/*
 * May the header "name: value" be sent with a job's request?  Returns NULL
 * if so, else a message, formatted into buf (buflen bytes; see
 * VALIDATE_ERRBUF_SIZE) when it quotes the name, otherwise static:
 *	  invalid header name "X"	(not an RFC 7230 token: empty, or a byte
 *								 outside !#$%&'*+.^_`|~0-9A-Za-z-)
 *	  header name is longer than 256 bytes
 *	  header "X" must be a string, not null		(value is NULL)
 *	  header "X" value is longer than 8192 bytes
 *	  header "X" must not contain line breaks		(CR or LF)
 *	  header "X" must not contain control characters
 *								(other bytes < 0x20 except tab, and 0x7f)
 *	  header "X" is set by jobsched and cannot be given
 *								(Idempotency-Key, Host, Content-Length,
 *								 Transfer-Encoding, Connection, Expect; in
 *								 any case)
 * The checks run in that order.  The value is never quoted (it may hold a
 * secret).  In the quoted name, bytes other than printable ASCII are shown
 * as '?' and names longer than 48 bytes are cut.  A NUL cannot be part of
 * a C string, so callers must make sure that the value they pass is the
 * whole value (jsonb strings cannot contain NUL).  If buf is NULL or
 * buflen is 0, a static message without the name is returned instead.
 */
extern const char *validate_header(const char *name, const char *value,
								   char *buf, size_t buflen);

#endif							/* JOBSCHED_VALIDATE_H */
