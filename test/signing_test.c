/*-------------------------------------------------------------------------
 *
 * signing_test.c
 *	  Standalone unit tests for the webhook signatures (src/signing.c).
 *
 * The core of src/signing.c needs only libcrypto, so it is tested here as
 * a plain C program (built with -DSIGNING_STANDALONE):
 *
 *	- secrets that must not parse, with their exact messages, and a check
 *	  that no message quotes any part of the secret;
 *	- secrets that must parse, with the key they stand for;
 *	- the message id and timestamp checks, and the header lines;
 *	- the signature test vector of the standardwebhooks library's own test
 *	  suite (so that something is checked even without Node.js);
 *	- given a file written by test/webhook_vectors.js, the known answers of
 *	  an independent implementation (npm standardwebhooks): signatures over
 *	  empty, UTF-8, NUL-holding, binary and long bodies with keys of 16 to
 *	  256 bytes, and candidate secrets, of which every one we accept must be
 *	  accepted by standardwebhooks with the same key bytes.
 *
 * Usage: signing_test [VECTORS_FILE]
 * Prints one line per failure and finally "N passed, N failed"; exits
 * non-zero if anything failed.
 *
 * test/signing_test.c
 *
 *-------------------------------------------------------------------------
 */
#define _POSIX_C_SOURCE 200809L

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signing.h"
#include "check.h"


/* A known-good 32-byte secret (bytes 0x00..0x1f) and its key */
#define SECRET32 "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

/* Value of a hex digit, or -1 */
static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode hex ("-" is empty) into a malloc'd buffer; NULL if malformed */
static unsigned char *
unhex(const char *s, size_t *len)
{
	size_t		n = strcmp(s, "-") == 0 ? 0 : strlen(s);
	unsigned char *out = malloc(n / 2 + 1);

	if (out == NULL || n % 2 != 0)
	{
		free(out);
		return NULL;
	}
	for (size_t i = 0; i < n / 2; i++)
	{
		int			hi = hexval(s[2 * i]);
		int			lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
		{
			free(out);
			return NULL;
		}
		out[i] = (unsigned char) (hi * 16 + lo);
	}
	out[n / 2] = '\0';
	*len = n / 2;
	return out;
}

/*
 * Does why quote a piece of the secret: any 6 characters of it, other than
 * the "whsec_" every message may name?
 */
static bool
quotes_secret(const char *why, const char *secret)
{
	char		masked[SIGNING_WHY_SIZE];
	size_t		n = strlen(secret);
	char	   *p;

	snprintf(masked, sizeof(masked), "%s", why);
	while ((p = strstr(masked, SIGNING_SECRET_PREFIX)) != NULL)
		memset(p, '#', strlen(SIGNING_SECRET_PREFIX));
	for (size_t i = 0; i + 6 <= n; i++)
	{
		char		piece[7];

		memcpy(piece, secret + i, 6);
		piece[6] = '\0';
		if (strstr(masked, piece) != NULL)
			return true;
	}
	return false;
}

static bool
all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}


/* ----------------------------------------------------------------
 *		Secrets
 * ----------------------------------------------------------------
 */

typedef struct ParseErr
{
	const char *text;
	const char *why;
} ParseErr;

static void
test_parse_errors(void)
{
	char		too_long[SIGNING_SECRET_MAX_LENGTH + 2];
	char		key_too_long[SIGNING_SECRET_MAX_LENGTH + 1];
	const ParseErr cases[] = {
		{"", "The secret does not start with \"whsec_\"."},
		{"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		"The secret does not start with \"whsec_\"."},
		{"WHSEC_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		"The secret does not start with \"whsec_\"."},
		{"whsk_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		"The secret does not start with \"whsec_\"."},
		{" whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		"The secret does not start with \"whsec_\"."},
		{"whsec", "The secret does not start with \"whsec_\"."},
		{"whsec_", "The secret has no key after \"whsec_\"."},
		{"whsec_ AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		"The key after \"whsec_\" contains white space (at character 1)."},
		{"whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
		"The key after \"whsec_\" contains a line break (at character 45)."},
		{"whsec_AAECAwQFBgcICQoLDA0O\tDxAREhMUFRYXGBkaGxwdHh8=",
		"The key after \"whsec_\" contains white space (at character 21)."},
		{"whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\r\n",
		"The key after \"whsec_\" contains a line break (at character 45)."},
		{"whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\v",
		"The key after \"whsec_\" contains white space (at character 45)."},
		{"whsec_-_-_AwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		"The key after \"whsec_\" uses the URL-safe base64 alphabet (\"-\" or \"_\" at character 1); use standard base64 (\"+\" and \"/\")."},
		{"whsec_whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		"The key after \"whsec_\" uses the URL-safe base64 alphabet (\"-\" or \"_\" at character 6); use standard base64 (\"+\" and \"/\")."},
		{"whsec_AAECAwQFBgcICQoL*A0ODxAREhMUFRYXGBkaGxwdHh8=",
		"The key after \"whsec_\" contains a character that is not base64 (at character 17)."},
		{"whsec_AAECAwQFBgcICQoL.A0ODxAREhMUFRYXGBkaGxwdHh8=",
		"The key after \"whsec_\" contains a character that is not base64 (at character 17)."},
		{"whsec_AAECAwQFBgcICQoL\xc3\xa9""0ODxAREhMUFRYXGBkaGxwdHh8=",
		"The key after \"whsec_\" contains a character that is not base64 (at character 17)."},
		{"whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\x7f",
		"The key after \"whsec_\" contains a character that is not base64 (at character 45)."},
		{"whsec_AAECAwQF=gcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		"The key after \"whsec_\" has \"=\" padding before its end."},
		{"whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8===",
		"The key after \"whsec_\" has \"=\" padding before its end."},
		{"whsec_====", "The key after \"whsec_\" has \"=\" padding before its end."},
		{"whsec_=", "The key after \"whsec_\" is 1 base64 character long, not a multiple of 4 (is \"=\" padding missing?)."},
		{"whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
		"The key after \"whsec_\" is 43 base64 characters long, not a multiple of 4 (is \"=\" padding missing?)."},
		{"whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8==",
		"The key after \"whsec_\" is 45 base64 characters long, not a multiple of 4 (is \"=\" padding missing?)."},
		{"whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh",
		"The key after \"whsec_\" is 42 base64 characters long, not a multiple of 4 (is \"=\" padding missing?)."},
		/* "h9" would be "h8" with a bit set after the last key bit */
		{"whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=",
		"The key after \"whsec_\" is not canonical base64 (its last character has bits set beyond the end of the key)."},
		{"whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHR==",
		"The key after \"whsec_\" is not canonical base64 (its last character has bits set beyond the end of the key)."},
		{"whsec_AA==", "The key is 1 byte long; at least 16 are needed (24 to 64 are recommended)."},
		{"whsec_AAECAwQFBgcICQoLDA0O", "The key is 15 bytes long; at least 16 are needed (24 to 64 are recommended)."},
		{too_long, "The secret is longer than 350 characters."},
		{key_too_long, "The key is 258 bytes long; at most 256 are accepted."},
	};

	/* 351 characters; and "whsec_" + 344 base64 characters (258 bytes) */
	memset(too_long, 'A', sizeof(too_long) - 1);
	memcpy(too_long, "whsec_", 6);
	too_long[sizeof(too_long) - 1] = '\0';
	memset(key_too_long, 'A', sizeof(key_too_long) - 1);
	memcpy(key_too_long, "whsec_", 6);
	key_too_long[sizeof(key_too_long) - 1] = '\0';
	CHECK(strlen(too_long) == 351 && strlen(key_too_long) == 350,
		  "test set-up: lengths %zu %zu", strlen(too_long), strlen(key_too_long));

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		unsigned char key[SIGNING_KEY_MAX];
		size_t		keylen = 99;
		char		why[SIGNING_WHY_SIZE];
		bool		ok;

		memset(key, 0xa5, sizeof(key));
		why[0] = '\0';
		ok = signing_secret_parse(cases[i].text, key, &keylen, why, sizeof(why));
		CHECK(!ok, "secret case %zu accepted", i);
		CHECK(strcmp(why, cases[i].why) == 0,
			  "secret case %zu: got \"%s\", want \"%s\"", i, why, cases[i].why);
		CHECK(strlen(why) < sizeof(why) - 1, "secret case %zu: message may be cut", i);
		CHECK(keylen == 0 && all_zero(key, sizeof(key)),
			  "secret case %zu: key not wiped on failure", i);
		CHECK(!quotes_secret(why, cases[i].text),
			  "secret case %zu: message quotes the secret: %s", i, why);
		/* no buffer, and a small one: no crash, and a cut message */
		CHECK(!signing_secret_parse(cases[i].text, key, &keylen, NULL, 0),
			  "secret case %zu accepted without a buffer", i);
		CHECK(!signing_secret_parse(cases[i].text, key, &keylen, why, 8) &&
			  strlen(why) == 7, "secret case %zu: small buffer", i);
	}
}

typedef struct ParseOk
{
	const char *text;
	size_t		keylen;
	unsigned char first;		/* first and last key bytes */
	unsigned char last;
} ParseOk;

static void
test_parse_ok(void)
{
	const ParseOk cases[] = {
		{SECRET32, 32, 0x00, 0x1f},
		{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 24, 0x31, 0xb0},
		{"whsec_AAAAAAAAAAAAAAAAAAAAAA==", 16, 0, 0},
		{"whsec_AAAAAAAAAAAAAAAAAAAAAAA=", 17, 0, 0},
		{"whsec_AAAAAAAAAAAAAAAAAAAAAAAA", 18, 0, 0},
		{"whsec_////////////////////////", 18, 0xff, 0xff},
		{"whsec_+/+/+/+/+/+/+/+/+/+/+/+/", 18, 0xfb, 0xbf},
	};
	unsigned char key[SIGNING_KEY_MAX];
	size_t		keylen;
	char		why[SIGNING_WHY_SIZE];
	char		longest[SIGNING_SECRET_MAX_LENGTH + 1];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		bool		ok;

		why[0] = '\0';
		ok = signing_secret_parse(cases[i].text, key, &keylen, why, sizeof(why));
		CHECK(ok, "good secret %zu refused: %s", i, why);
		if (!ok)
			continue;
		CHECK(keylen == cases[i].keylen, "good secret %zu: %zu bytes", i, keylen);
		CHECK(key[0] == cases[i].first && key[keylen - 1] == cases[i].last,
			  "good secret %zu: key %02x..%02x", i, key[0], key[keylen - 1]);
	}

	/* the key of SECRET32 is 0, 1, ..., 31 */
	CHECK(signing_secret_parse(SECRET32, key, &keylen, why, sizeof(why)),
		  "SECRET32 refused");
	for (size_t i = 0; i < 32; i++)
		CHECK(key[i] == i, "SECRET32 byte %zu is %u", i, key[i]);

	/* the longest secret: 256 bytes of 0x00 ("AAA...AA==") */
	memset(longest, 'A', sizeof(longest) - 1);
	memcpy(longest, "whsec_", 6);
	longest[sizeof(longest) - 3] = '=';
	longest[sizeof(longest) - 2] = '=';
	longest[sizeof(longest) - 1] = '\0';
	CHECK(signing_secret_parse(longest, key, &keylen, why, sizeof(why)) &&
		  keylen == 256, "256-byte key refused: %s", why);
}


/* ----------------------------------------------------------------
 *		Signatures and headers
 * ----------------------------------------------------------------
 */

/* The test vector of the standardwebhooks JavaScript library's test suite */
static void
test_library_vector(void)
{
	SigningHeaders h;
	char		why[SIGNING_WHY_SIZE] = "";
	const char *body = "{\"test\": 2432232314}";

	CHECK(signing_make_headers("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
							   "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
							   body, strlen(body), &h, why, sizeof(why)),
		  "library vector: %s", why);
	CHECK(strcmp(h.id, "webhook-id: msg_p5jXN8AQM9LWM0D4loKWxJek") == 0,
		  "library vector id line: %s", h.id);
	CHECK(strcmp(h.timestamp, "webhook-timestamp: 1614265330") == 0,
		  "library vector timestamp line: %s", h.timestamp);
	CHECK(strcmp(h.signature,
				 "webhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=") == 0,
		  "library vector signature line: %s", h.signature);
}

typedef struct IdErr
{
	const char *id;
	const char *why;
} IdErr;

static void
test_sign_arguments(void)
{
	unsigned char key[SIGNING_KEY_MAX];
	size_t		keylen;
	char		sig[SIGNING_SIGNATURE_SIZE];
	char		sig2[SIGNING_SIGNATURE_SIZE];
	char		why[SIGNING_WHY_SIZE];
	char		id256[SIGNING_MSG_ID_MAX + 1];
	char		id257[SIGNING_MSG_ID_MAX + 2];
	SigningHeaders h;
	const IdErr cases[] = {
		{"", "The message id is empty."},
		{"jobsched.42", "The message id contains \".\" or a character other than visible ASCII (at byte 9)."},
		{"jobsched 42", "The message id contains \".\" or a character other than visible ASCII (at byte 9)."},
		{"jobsched-42\r\nX-Evil: 1", "The message id contains \".\" or a character other than visible ASCII (at byte 12)."},
		{"\tx", "The message id contains \".\" or a character other than visible ASCII (at byte 1)."},
		{"x\x7f", "The message id contains \".\" or a character other than visible ASCII (at byte 2)."},
		{"caf\xc3\xa9", "The message id contains \".\" or a character other than visible ASCII (at byte 4)."},
		{id257, "The message id is longer than 256 bytes."},
	};

	memset(id256, 'i', sizeof(id256) - 1);
	id256[sizeof(id256) - 1] = '\0';
	memset(id257, 'i', sizeof(id257) - 1);
	id257[sizeof(id257) - 1] = '\0';

	CHECK(signing_secret_parse(SECRET32, key, &keylen, why, sizeof(why)),
		  "SECRET32 refused");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		bool		ok;

		why[0] = '\0';
		strcpy(sig, "junk");
		ok = signing_sign(key, keylen, cases[i].id, 1796131843, "x", 1,
						  sig, why, sizeof(why));
		CHECK(!ok, "id case %zu accepted", i);
		CHECK(strcmp(why, cases[i].why) == 0,
			  "id case %zu: got \"%s\", want \"%s\"", i, why, cases[i].why);
		CHECK(sig[0] == '\0', "id case %zu: signature not cleared", i);
		memset(&h, 'x', sizeof(h));
		CHECK(!signing_make_headers(SECRET32, cases[i].id, 1796131843, "x", 1,
									&h, why, sizeof(why)) &&
			  all_zero((const unsigned char *) &h, sizeof(h)),
			  "id case %zu: headers not cleared", i);
	}

	CHECK(!signing_sign(key, keylen, "x", -1, NULL, 0, sig, why, sizeof(why)) &&
		  strcmp(why, "The timestamp is negative.") == 0,
		  "negative timestamp: %s", why);
	CHECK(!signing_make_headers(SECRET32, "x", INT64_MIN, NULL, 0, &h, why, sizeof(why)),
		  "INT64_MIN timestamp accepted");

	/* the longest id and the largest timestamp fit their lines */
	CHECK(signing_make_headers(SECRET32, id256, INT64_MAX, NULL, 0, &h, why, sizeof(why)),
		  "256-byte id refused: %s", why);
	CHECK(strlen(h.id) == strlen("webhook-id: ") + 256 &&
		  strcmp(h.timestamp, "webhook-timestamp: 9223372036854775807") == 0 &&
		  strncmp(h.signature, "webhook-signature: v1,", 22) == 0 &&
		  strlen(h.signature) == 22 + 44,
		  "longest lines: %zu %s %s", strlen(h.id), h.timestamp, h.signature);

	/* NULL body, empty body and "" are the same; the length counts, not NUL */
	CHECK(signing_sign(key, keylen, "x", 1, NULL, 0, sig, why, sizeof(why)) &&
		  signing_sign(key, keylen, "x", 1, "", 0, sig2, why, sizeof(why)) &&
		  strcmp(sig, sig2) == 0, "NULL body differs from empty body");
	CHECK(signing_sign(key, keylen, "x", 1, "ab", 1, sig, why, sizeof(why)) &&
		  signing_sign(key, keylen, "x", 1, "a", 1, sig2, why, sizeof(why)) &&
		  strcmp(sig, sig2) == 0, "body length not honoured");
	CHECK(signing_sign(key, keylen, "x", 1, "a\0b", 3, sig, why, sizeof(why)) &&
		  signing_sign(key, keylen, "x", 1, "a", 1, sig2, why, sizeof(why)) &&
		  strcmp(sig, sig2) != 0, "body stopped at its NUL");
	/* each of id, timestamp, body, key changes the signature */
	CHECK(signing_sign(key, keylen, "x", 1, "a", 1, sig, why, sizeof(why)) &&
		  signing_sign(key, keylen, "y", 1, "a", 1, sig2, why, sizeof(why)) &&
		  strcmp(sig, sig2) != 0, "id not signed");
	CHECK(signing_sign(key, keylen, "x", 2, "a", 1, sig2, why, sizeof(why)) &&
		  strcmp(sig, sig2) != 0, "timestamp not signed");
	CHECK(signing_sign(key, keylen - 1, "x", 1, "a", 1, sig2, why, sizeof(why)) &&
		  strcmp(sig, sig2) != 0, "key not used");
	/* "x.1" + "." + "a" must not collide with "x" + "." + "1.a": ids have no dot */
	CHECK(!signing_sign(key, keylen, "x.1", 1, "a", 1, sig2, why, sizeof(why)),
		  "id with a dot accepted");
}


/* ----------------------------------------------------------------
 *		Known answers of npm standardwebhooks
 * ----------------------------------------------------------------
 */

static int	n_sign_vectors = 0;
static int	n_secret_vectors = 0;

static void
check_sign_vector(const char *name, char *secret, char *id, char *ts,
				  char *bodyhex, char *want)
{
	size_t		bodylen = 0;
	unsigned char *body = unhex(bodyhex, &bodylen);
	char	   *end;
	long long	t = strtoll(ts, &end, 10);
	SigningHeaders h;
	char		why[SIGNING_WHY_SIZE] = "";
	char		expect[sizeof(h.signature)];

	n_sign_vectors++;
	CHECK(body != NULL && *end == '\0', "vector %s: malformed line", name);
	if (body == NULL)
		return;
	/* an empty body is also passed as NULL, as the worker may */
	if (!signing_make_headers(secret, id, t, bodylen ? body : NULL, bodylen,
							  &h, why, sizeof(why)))
		CHECK(false, "vector %s: refused: %s", name, why);
	else
	{
		snprintf(expect, sizeof(expect), "webhook-signature: %s", want);
		CHECK(strcmp(h.signature, expect) == 0,
			  "vector %s (%zu-byte body): got \"%s\", want \"%s\"",
			  name, bodylen, h.signature, expect);
		CHECK(strncmp(h.id, "webhook-id: ", 12) == 0 &&
			  strcmp(h.id + 12, id) == 0, "vector %s: id line %s", name, h.id);
		CHECK(strncmp(h.timestamp, "webhook-timestamp: ", 19) == 0 &&
			  strcmp(h.timestamp + 19, ts) == 0,
			  "vector %s: timestamp line %s", name, h.timestamp);
	}
	free(body);
}

static void
check_secret_vector(const char *name, const char *kind, const char *js_ok,
					const char *keyhex, const char *secrethex)
{
	size_t		textlen = 0;
	size_t		jskeylen = 0;
	unsigned char *text = unhex(secrethex, &textlen);
	unsigned char *jskey = strcmp(js_ok, "1") == 0 ? unhex(keyhex, &jskeylen) : NULL;
	unsigned char key[SIGNING_KEY_MAX];
	size_t		keylen = 0;
	char		why[SIGNING_WHY_SIZE] = "";
	bool		ok;

	n_secret_vectors++;
	CHECK(text != NULL && (jskey != NULL || strcmp(js_ok, "0") == 0),
		  "secret vector %s: malformed line", name);
	if (text == NULL)
		return;
	ok = strlen((char *) text) == textlen &&
		signing_secret_parse((char *) text, key, &keylen, why, sizeof(why));
	if (ok)
		CHECK(jskey != NULL && jskeylen == keylen &&
			  memcmp(jskey, key, keylen) == 0,
			  "secret vector %s: accepted, but standardwebhooks %s", name,
			  jskey ? "decodes another key" : "refuses it");
	if (strcmp(kind, "canon") == 0)
	{
		bool		want = jskey != NULL && jskeylen >= SIGNING_KEY_MIN &&
			jskeylen <= SIGNING_KEY_MAX;

		CHECK(ok == want, "secret vector %s (%zu bytes): %s (%s)", name,
			  jskeylen, ok ? "accepted" : "refused", why);
	}
	if (!ok)
		CHECK(!quotes_secret(why, (char *) text),
			  "secret vector %s: message quotes the secret: %s", name, why);
	free(text);
	free(jskey);
}

static void
test_vectors(const char *path)
{
	FILE	   *f = fopen(path, "r");
	char	   *line = NULL;
	size_t		cap = 0;
	ssize_t		len;

	CHECK(f != NULL, "cannot open %s", path);
	if (f == NULL)
		return;
	while ((len = getline(&line, &cap, f)) >= 0)
	{
		char	   *field[8] = {NULL};
		int			n = 0;
		char	   *save = NULL;

		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (line[0] == '#')
		{
			printf("vectors: %s\n", line + 1);
			continue;
		}
		if (line[0] == '\0')
			continue;
		for (char *tok = strtok_r(line, " ", &save); tok && n < 8;
			 tok = strtok_r(NULL, " ", &save))
			field[n++] = tok;
		if (n == 0)
			continue;
		if ((strcmp(field[0], "sign") == 0 || strcmp(field[0], "rawsign") == 0) &&
			n == 7)
			check_sign_vector(field[1], field[2], field[3], field[4], field[5],
							  field[6]);
		else if (strcmp(field[0], "secret") == 0 && n == 6)
			check_secret_vector(field[1], field[2], field[3], field[4], field[5]);
		else
			CHECK(false, "malformed vector line starting \"%.40s\"", line);
	}
	free(line);
	fclose(f);
	CHECK(n_sign_vectors >= 40 && n_secret_vectors >= 30,
		  "too few vectors: %d signatures, %d secrets", n_sign_vectors,
		  n_secret_vectors);
	printf("vectors: %d signatures and %d secrets checked\n", n_sign_vectors,
		   n_secret_vectors);
}


int
main(int argc, char **argv)
{
	test_parse_errors();
	test_parse_ok();
	test_library_vector();
	test_sign_arguments();
	if (argc > 1)
		test_vectors(argv[1]);
	else
		printf("no vectors file given: known answers of standardwebhooks not checked\n");
	return check_report();
}
