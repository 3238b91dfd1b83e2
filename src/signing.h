/*-------------------------------------------------------------------------
 *
 * signing.h
 *	  Signed webhooks: the secret format and the signature headers of the
 *	  Standard Webhooks specification (issue 16).
 *
 * A job with a signing secret sends every attempt with three more headers:
 *
 *	  webhook-id: <the run's Idempotency-Key value>
 *	  webhook-timestamp: <the attempt's Unix time, in seconds>
 *	  webhook-signature: v1,<base64 of HMAC-SHA256(key, "id.timestamp.body")>
 *
 * so that the receiver can check, with any Standard Webhooks library, that
 * the request comes from someone who knows the secret, that its body is
 * the one signed, and that it is recent.  The secret is written
 * "whsec_<base64 of the key>", as the specification asks.
 *
 * The core of this module (everything declared before the PostgreSQL
 * section below) depends only on the C library and OpenSSL's libcrypto:
 * HMAC and base64 are OpenSSL's, not ours.  It allocates nothing, keeps no
 * state, and writes only into buffers the caller supplies, so that
 * test/signing_test.c can test it without a server (src/signing.c built
 * with -DSIGNING_STANDALONE).  Key material on the stack is wiped with
 * OPENSSL_cleanse() before returning.  Messages never contain the secret
 * or any part of it.
 *
 * src/signing.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef JOBSCHED_SIGNING_H
#define JOBSCHED_SIGNING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What every secret starts with */
#define SIGNING_SECRET_PREFIX "whsec_"

/*
 * Accepted key lengths, in bytes (after base64 decoding).  The
 * specification asks producers to generate keys of 24 to 64 bytes; the
 * reference libraries (npm standardwebhooks) accept any non-empty key.  We
 * accept 16 to 256: below 128 bits a key can be found by brute force from a
 * single signed request, and beyond 64 bytes HMAC-SHA256 hashes the key
 * down to 32 anyway, so 256 is already generous; longer is a mistake (a
 * pasted file, a doubled secret).
 */
#define SIGNING_KEY_MIN 16
#define SIGNING_KEY_MAX 256

/* Longest secret text: the prefix and the base64 of SIGNING_KEY_MAX bytes */
#define SIGNING_SECRET_MAX_LENGTH \
	(sizeof(SIGNING_SECRET_PREFIX) - 1 + 4 * ((SIGNING_KEY_MAX + 2) / 3))

/* Longest message id (webhook-id), in bytes */
#define SIGNING_MSG_ID_MAX 256

/* A "v1,<base64 of 32 bytes>" signature, NUL included */
#define SIGNING_SIGNATURE_SIZE (sizeof("v1,") - 1 + 44 + 1)

/* A buffer of this size always holds a complete message of this module */
#define SIGNING_WHY_SIZE 160

/* The three header lines of a signed attempt, NUL-terminated */
typedef struct SigningHeaders
{
	char		id[sizeof("webhook-id: ") + SIGNING_MSG_ID_MAX];
	char		timestamp[sizeof("webhook-timestamp: ") + 20];
	char		signature[sizeof("webhook-signature: ") + SIGNING_SIGNATURE_SIZE];
} SigningHeaders;

/*
 * Parse a secret "whsec_<base64>".  On success, stores the key into key
 * (which must hold SIGNING_KEY_MAX bytes) and its length into *keylen, and
 * returns true.  Otherwise returns false, leaves key wiped, and writes into
 * why (whylen bytes, see SIGNING_WHY_SIZE; may be NULL) a sentence saying
 * what is wrong, meant for an errdetail:
 *	  The secret is longer than 350 characters.
 *	  The secret does not start with "whsec_".
 *	  The secret has no key after "whsec_".
 *	  The key after "whsec_" contains a line break (at character N).
 *	  The key after "whsec_" contains white space (at character N).
 *	  The key after "whsec_" uses the URL-safe base64 alphabet ("-" or
 *		  "_" at character N); use standard base64 ("+" and "/").
 *	  The key after "whsec_" contains a character that is not base64 (at
 *		  character N).
 *	  The key after "whsec_" has "=" padding before its end.
 *	  The key after "whsec_" is N base64 characters long, not a multiple
 *		  of 4 (is "=" padding missing?).
 *	  The key after "whsec_" is not canonical base64 (its last character
 *		  has bits set beyond the end of the key).
 *	  The key is N bytes long; at least 16 are needed (24 to 64 are
 *		  recommended).
 *	  The key is N bytes long; at most 256 are accepted.
 * The checks run in that order; character positions count from 1 after
 * the prefix.  Base64 is strict (RFC 4648 standard alphabet, padded,
 * canonical, nothing else): every secret accepted here is accepted by the
 * npm standardwebhooks package too, with the same key bytes (its decoder
 * is laxer: it takes unpadded and non-canonical base64, and a secret
 * without the prefix).
 */
extern bool signing_secret_parse(const char *text, unsigned char *key,
								 size_t *keylen, char *why, size_t whylen);

/*
 * The signature "v1,<base64>" of one attempt: HMAC-SHA256 with key over
 * "<msg_id>.<timestamp>.<body>" (body: bodylen bytes, any bytes, NUL
 * included; body may be NULL when bodylen is 0).  Writes it into sig
 * (SIGNING_SIGNATURE_SIZE bytes) and returns true; returns false with a
 * message in why if msg_id or timestamp is not acceptable:
 *	  The message id is empty.
 *	  The message id is longer than 256 bytes.
 *	  The message id contains "." or a character other than visible
 *		  ASCII (at byte N).
 *	  The timestamp is negative.
 *	  OpenSSL could not compute the HMAC.
 * The id goes into a header and into the signed text, where the
 * specification forbids "." (it would make "id.timestamp" ambiguous).
 */
extern bool signing_sign(const unsigned char *key, size_t keylen,
						 const char *msg_id, int64_t timestamp,
						 const void *body, size_t bodylen,
						 char *sig, char *why, size_t whylen);

/*
 * The three header lines of one attempt, from the secret text: parses it
 * (signing_secret_parse), signs (signing_sign) and fills *out with
 * "webhook-id: <msg_id>", "webhook-timestamp: <timestamp>" and
 * "webhook-signature: v1,<base64>".  Returns false with a message in why
 * (one of those above) if something is not acceptable; *out is then
 * cleared.
 */
extern bool signing_make_headers(const char *secret, const char *msg_id,
								 int64_t timestamp, const void *body,
								 size_t bodylen, SigningHeaders *out,
								 char *why, size_t whylen);

/*
 * PostgreSQL section: defined in src/signing.c unless it is built with
 * -DSIGNING_STANDALONE.
 *
 * jobsched_signing_headers() is signing_make_headers() for the worker: it
 * stores into lines[0..2] the three header lines, each palloc'd in
 * CurrentMemoryContext (switch to http_request_context() first so that
 * http_request_free() can pfree them), and returns true; or returns false
 * with a message in why, allocating nothing.  It does no catalog access and
 * raises no error of its own (palloc may still fail for lack of memory).
 *
 * The SQL-callable validator is
 *	  Datum jobsched_check_signing_secret(PG_FUNCTION_ARGS)
 *	  -- jobsched.check_signing_secret(secret text) RETURNS void, STRICT
 * which raises ERRCODE_INVALID_PARAMETER_VALUE, "invalid signing secret",
 * with the signing_secret_parse() message as detail, for a secret that
 * does not parse.
 */
extern bool jobsched_signing_headers(const char *secret, const char *msg_id,
									 int64_t timestamp, const char *body,
									 size_t bodylen, char **lines,
									 char *why, size_t whylen);

#endif							/* JOBSCHED_SIGNING_H */
