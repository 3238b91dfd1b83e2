/*-------------------------------------------------------------------------
 *
 * signing.c
 *	  Signed webhooks (Standard Webhooks): parsing "whsec_" secrets and
 *	  computing the webhook-id, webhook-timestamp and webhook-signature
 *	  headers of an attempt.
 *
 * The signature is HMAC-SHA256 over "<id>.<timestamp>.<body>", base64
 * encoded and prefixed with the version "v1,", as in
 * https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
 * HMAC and base64 come from OpenSSL's libcrypto (already in the process
 * through libcurl): no cryptography or base64 decoding of our own.  What is
 * ours is only the strictness of the secret syntax, checked before
 * OpenSSL's decoder (EVP_DecodeBlock) sees it, because that decoder
 * tolerates white space and does not report padding.
 *
 * The file has two parts.  The core needs only the C library and
 * libcrypto, so that test/signing_test.c can build it alone with
 * -DSIGNING_STANDALONE and compare it with an independent implementation
 * (npm standardwebhooks, test/webhook_vectors.js).  The PostgreSQL part at
 * the end wraps it for the worker (palloc'd header lines) and for SQL
 * (jobsched.check_signing_secret).
 *
 * Messages never quote the secret: it would end up in logs and in the
 * executions' error column.  They name what is wrong and where.
 *
 * src/signing.c
 *
 *-------------------------------------------------------------------------
 */
#ifndef SIGNING_STANDALONE
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#endif

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
#include <openssl/core_names.h>
#include <openssl/params.h>
#else
#include <openssl/hmac.h>
#endif

#include "signing.h"

/* Length of an HMAC-SHA256 */
#define SIGNING_MAC_LENGTH 32

/* Length of the longest base64 key accepted (padding included) */
#define SIGNING_B64_MAX (4 * ((SIGNING_KEY_MAX + 2) / 3))


/* ----------------------------------------------------------------
 *		Small helpers
 * ----------------------------------------------------------------
 */

#if defined(__GNUC__) || defined(__clang__)
#define SIGNING_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SIGNING_PRINTF(f, a)
#endif

static bool fail(char *why, size_t whylen, const char *fmt,...)
			SIGNING_PRINTF(3, 4);

/* Format a message into why (if there is one); always returns false. */
static bool
fail(char *why, size_t whylen, const char *fmt,...)
{
	va_list		ap;

	if (why == NULL || whylen == 0)
		return false;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return false;
}

/* strlen(s), or limit + 1 if s is longer than limit (strnlen is not C99) */
static size_t
length_upto(const char *s, size_t limit)
{
	size_t		n = 0;

	while (n <= limit && s[n] != '\0')
		n++;
	return n;
}

/* Is c in the standard base64 alphabet of RFC 4648 (padding excluded)? */
static bool
is_base64_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		(c >= '0' && c <= '9') || c == '+' || c == '/';
}


/* ----------------------------------------------------------------
 *		Secrets
 * ----------------------------------------------------------------
 */

bool
signing_secret_parse(const char *text, unsigned char *key, size_t *keylen,
					 char *why, size_t whylen)
{
	const size_t prefixlen = sizeof(SIGNING_SECRET_PREFIX) - 1;
	const char *b64;
	size_t		textlen;
	size_t		n;
	size_t		pad;
	size_t		nbytes;
	unsigned char decoded[SIGNING_B64_MAX / 4 * 3];
	unsigned char reencoded[SIGNING_B64_MAX + 1];
	int			got;
	bool		canonical;

	*keylen = 0;
	OPENSSL_cleanse(key, SIGNING_KEY_MAX);

	/* bounded, so that a huge text costs no more than a long one */
	textlen = length_upto(text, SIGNING_SECRET_MAX_LENGTH);
	if (textlen > SIGNING_SECRET_MAX_LENGTH)
		return fail(why, whylen, "The secret is longer than %zu characters.",
					(size_t) SIGNING_SECRET_MAX_LENGTH);
	if (strncmp(text, SIGNING_SECRET_PREFIX, prefixlen) != 0)
		return fail(why, whylen,
					"The secret does not start with \"" SIGNING_SECRET_PREFIX "\".");
	b64 = text + prefixlen;
	n = textlen - prefixlen;
	if (n == 0)
		return fail(why, whylen,
					"The secret has no key after \"" SIGNING_SECRET_PREFIX "\".");

	/* the alphabet; "=" only as trailing padding, checked below */
	for (size_t i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char) b64[i];

		if (is_base64_char(c) || c == '=')
			continue;
		if (c == '\n' || c == '\r')
			return fail(why, whylen,
						"The key after \"" SIGNING_SECRET_PREFIX "\" contains a line break (at character %zu).",
						i + 1);
		if (c == ' ' || c == '\t' || c == '\f' || c == '\v')
			return fail(why, whylen,
						"The key after \"" SIGNING_SECRET_PREFIX "\" contains white space (at character %zu).",
						i + 1);
		if (c == '-' || c == '_')
			return fail(why, whylen,
						"The key after \"" SIGNING_SECRET_PREFIX "\" uses the URL-safe base64 alphabet (\"-\" or \"_\" at character %zu); use standard base64 (\"+\" and \"/\").",
						i + 1);
		return fail(why, whylen,
					"The key after \"" SIGNING_SECRET_PREFIX "\" contains a character that is not base64 (at character %zu).",
					i + 1);
	}

	/* padding: at most two "=", and nothing after them */
	pad = 0;
	while (pad < n && b64[n - 1 - pad] == '=')
		pad++;
	if (pad > 2 || memchr(b64, '=', n - pad) != NULL)
		return fail(why, whylen,
					"The key after \"" SIGNING_SECRET_PREFIX "\" has \"=\" padding before its end.");
	if (n % 4 != 0)
		return fail(why, whylen,
					"The key after \"" SIGNING_SECRET_PREFIX "\" is %zu base64 character%s long, not a multiple of 4 (is \"=\" padding missing?).",
					n, n == 1 ? "" : "s");

	/* n <= SIGNING_B64_MAX, by the length check above */
	nbytes = n / 4 * 3 - pad;

	/*
	 * OpenSSL decodes; its result counts the padding as zero bytes.  Then
	 * the key must encode back to exactly the text given: that refuses the
	 * non-canonical spellings (bits set after the last key bit), which some
	 * decoders would take and others would refuse.
	 */
	got = EVP_DecodeBlock(decoded, (const unsigned char *) b64, (int) n);
	if (got < 0 || (size_t) got != n / 4 * 3)
	{
		OPENSSL_cleanse(decoded, sizeof(decoded));
		return fail(why, whylen,
					"The key after \"" SIGNING_SECRET_PREFIX "\" contains a character that is not base64.");
	}
	(void) EVP_EncodeBlock(reencoded, decoded, (int) nbytes);
	canonical = CRYPTO_memcmp(reencoded, b64, n) == 0;
	OPENSSL_cleanse(reencoded, sizeof(reencoded));
	if (!canonical)
	{
		OPENSSL_cleanse(decoded, sizeof(decoded));
		return fail(why, whylen,
					"The key after \"" SIGNING_SECRET_PREFIX "\" is not canonical base64 (its last character has bits set beyond the end of the key).");
	}

	if (nbytes < SIGNING_KEY_MIN || nbytes > SIGNING_KEY_MAX)
	{
		OPENSSL_cleanse(decoded, sizeof(decoded));
		if (nbytes < SIGNING_KEY_MIN)
			return fail(why, whylen,
						"The key is %zu byte%s long; at least %d are needed (24 to 64 are recommended).",
						nbytes, nbytes == 1 ? "" : "s", SIGNING_KEY_MIN);
		return fail(why, whylen,
					"The key is %zu bytes long; at most %d are accepted.",
					nbytes, SIGNING_KEY_MAX);
	}

	memcpy(key, decoded, nbytes);
	*keylen = nbytes;
	OPENSSL_cleanse(decoded, sizeof(decoded));
	return true;
}


/* ----------------------------------------------------------------
 *		Signatures
 * ----------------------------------------------------------------
 */

/* HMAC-SHA256 with key over the nparts parts; false if OpenSSL failed. */
static bool
hmac_sha256(const unsigned char *key, size_t keylen,
			const unsigned char *const *parts, const size_t *lengths,
			int nparts, unsigned char *mac)
{
	bool		ok = false;

#if OPENSSL_VERSION_NUMBER >= 0x30000000L
	EVP_MAC    *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
	OSSL_PARAM	params[2];
	size_t		maclen = 0;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
												 (char *) "SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (ctx != NULL && EVP_MAC_init(ctx, key, keylen, params) == 1)
	{
		ok = true;
		for (int i = 0; i < nparts && ok; i++)
			ok = lengths[i] == 0 ||
				EVP_MAC_update(ctx, parts[i], lengths[i]) == 1;
		ok = ok && EVP_MAC_final(ctx, mac, &maclen, SIGNING_MAC_LENGTH) == 1 &&
			maclen == SIGNING_MAC_LENGTH;
	}
	EVP_MAC_CTX_free(ctx);		/* clears the key schedule */
	EVP_MAC_free(hmac);
#else
	HMAC_CTX   *ctx = HMAC_CTX_new();
	unsigned int maclen = 0;

	if (ctx != NULL && HMAC_Init_ex(ctx, key, (int) keylen, EVP_sha256(), NULL) == 1)
	{
		ok = true;
		for (int i = 0; i < nparts && ok; i++)
			ok = lengths[i] == 0 ||
				HMAC_Update(ctx, parts[i], lengths[i]) == 1;
		ok = ok && HMAC_Final(ctx, mac, &maclen) == 1 &&
			maclen == SIGNING_MAC_LENGTH;
	}
	HMAC_CTX_free(ctx);			/* clears the key schedule */
#endif
	return ok;
}

bool
signing_sign(const unsigned char *key, size_t keylen, const char *msg_id,
			 int64_t timestamp, const void *body, size_t bodylen,
			 char *sig, char *why, size_t whylen)
{
	size_t		idlen;
	char		ts[24];
	unsigned char mac[SIGNING_MAC_LENGTH];
	const unsigned char *parts[5];
	size_t		lengths[5];
	bool		ok;

	sig[0] = '\0';
	idlen = length_upto(msg_id, SIGNING_MSG_ID_MAX);
	if (idlen == 0)
		return fail(why, whylen, "The message id is empty.");
	if (idlen > SIGNING_MSG_ID_MAX)
		return fail(why, whylen, "The message id is longer than %d bytes.",
					SIGNING_MSG_ID_MAX);
	for (size_t i = 0; i < idlen; i++)
	{
		unsigned char c = (unsigned char) msg_id[i];

		if (c <= 0x20 || c >= 0x7f || c == '.')
			return fail(why, whylen,
						"The message id contains \".\" or a character other than visible ASCII (at byte %zu).",
						i + 1);
	}
	if (timestamp < 0)
		return fail(why, whylen, "The timestamp is negative.");
	snprintf(ts, sizeof(ts), "%" PRId64, timestamp);

	parts[0] = (const unsigned char *) msg_id;
	lengths[0] = idlen;
	parts[1] = (const unsigned char *) ".";
	lengths[1] = 1;
	parts[2] = (const unsigned char *) ts;
	lengths[2] = strlen(ts);
	parts[3] = (const unsigned char *) ".";
	lengths[3] = 1;
	parts[4] = body ? (const unsigned char *) body : (const unsigned char *) "";
	lengths[4] = body ? bodylen : 0;

	ok = hmac_sha256(key, keylen, parts, lengths, 5, mac);
	if (ok)
	{
		memcpy(sig, "v1,", 3);
		/* 32 bytes make 44 base64 characters and a NUL */
		(void) EVP_EncodeBlock((unsigned char *) sig + 3, mac, SIGNING_MAC_LENGTH);
	}
	OPENSSL_cleanse(mac, sizeof(mac));
	if (!ok)
		return fail(why, whylen, "OpenSSL could not compute the HMAC.");
	return true;
}

bool
signing_make_headers(const char *secret, const char *msg_id,
					 int64_t timestamp, const void *body, size_t bodylen,
					 SigningHeaders *out, char *why, size_t whylen)
{
	unsigned char key[SIGNING_KEY_MAX];
	size_t		keylen;
	char		sig[SIGNING_SIGNATURE_SIZE];
	bool		ok;

	memset(out, 0, sizeof(*out));
	ok = signing_secret_parse(secret, key, &keylen, why, whylen) &&
		signing_sign(key, keylen, msg_id, timestamp, body, bodylen,
					 sig, why, whylen);
	OPENSSL_cleanse(key, sizeof(key));
	if (!ok)
		return false;
	/* both fit: signing_sign() checked the id's length */
	snprintf(out->id, sizeof(out->id), "webhook-id: %s", msg_id);
	snprintf(out->timestamp, sizeof(out->timestamp),
			 "webhook-timestamp: %" PRId64, timestamp);
	snprintf(out->signature, sizeof(out->signature),
			 "webhook-signature: %s", sig);
	return true;
}


/* ----------------------------------------------------------------
 *		PostgreSQL: the worker's header lines and the SQL validator
 * ----------------------------------------------------------------
 */
#ifndef SIGNING_STANDALONE

PG_FUNCTION_INFO_V1(jobsched_check_signing_secret);

bool
jobsched_signing_headers(const char *secret, const char *msg_id,
						 int64_t timestamp, const char *body, size_t bodylen,
						 char **lines, char *why, size_t whylen)
{
	SigningHeaders headers;

	if (!signing_make_headers(secret, msg_id, timestamp, body, bodylen,
							  &headers, why, whylen))
		return false;
	lines[0] = pstrdup(headers.id);
	lines[1] = pstrdup(headers.timestamp);
	lines[2] = pstrdup(headers.signature);
	return true;
}

/*
 * jobsched.check_signing_secret(secret text) RETURNS void: refuses a secret
 * the worker could not use, saying why without quoting it.
 */
Datum
jobsched_check_signing_secret(PG_FUNCTION_ARGS)
{
	char	   *secret = text_to_cstring(PG_GETARG_TEXT_PP(0));
	unsigned char key[SIGNING_KEY_MAX];
	size_t		keylen;
	char		why[SIGNING_WHY_SIZE];
	bool		ok;

	/* (a text value cannot contain NUL: the C string is all of it) */
	ok = signing_secret_parse(secret, key, &keylen, why, sizeof(why));
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(secret, strlen(secret));
	pfree(secret);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid signing secret"),
				 errdetail("%s", why),
				 errhint("A signing secret is \"" SIGNING_SECRET_PREFIX "\" followed by the standard base64, padded and on one line, of a key of %d to %d bytes (24 to 64 are recommended), for example \"" SIGNING_SECRET_PREFIX "\" || encode(gen_random_bytes(32), 'base64') with pgcrypto.",
						 SIGNING_KEY_MIN, SIGNING_KEY_MAX)));
	PG_RETURN_VOID();
}

#endif							/* !SIGNING_STANDALONE */
