/*-------------------------------------------------------------------------
 *
 * fuzz_signing.c
 *	  libFuzzer target for the webhook secrets and signatures
 *	  (src/signing.c).
 *
 * The input up to its first NUL is a secret text, the rest a body.
 * signing_secret_parse() must give the same verdict with any message
 * buffer, a complete printable message in a full-size one, and accept only
 * what strict base64 allows: "whsec_", then 4n characters of the standard
 * alphabet with at most two "=" at the end, decoding (by the small
 * reference decoder below, independent of OpenSSL's) to 16-256 bytes that
 * are exactly the key returned, and encoding back to the same text.  A
 * key it accepts must sign the body into "v1," and 44 base64 characters,
 * and the header lines must be exactly the id, the timestamp and that
 * signature.
 *
 * Build and run with "make -f test/Makefile.signing fuzz-ci"; seeds are in
 * test/corpus/signing/.
 *
 * test/fuzz_signing.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signing.h"
#include "fuzz_check.h"

#define FUZZ_MAX_INPUT 4096

static const char alphabet[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Value of a base64 character, or -1 */
static int
b64val(char c)
{
	const char *p = c ? strchr(alphabet, c) : NULL;

	return p ? (int) (p - alphabet) : -1;
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char text[FUZZ_MAX_INPUT + 1];
	unsigned char key[SIGNING_KEY_MAX];
	unsigned char ref[SIGNING_KEY_MAX + 3];
	size_t		keylen = 0;
	size_t		keylen2 = 0;
	char		why[SIGNING_WHY_SIZE];
	char		small[9];
	char		sig[SIGNING_SIGNATURE_SIZE];
	char		line[sizeof(((SigningHeaders *) 0)->signature)];
	SigningHeaders h;
	const char *b64;
	size_t		split;
	size_t		n;
	size_t		pad;
	size_t		nref;
	bool		ok;

	if (size > FUZZ_MAX_INPUT)
		size = FUZZ_MAX_INPUT;
	for (split = 0; split < size && data[split] != '\0'; split++)
		;
	memcpy(text, data, split);
	text[split] = '\0';

	memset(why, 'X', sizeof(why));
	ok = signing_secret_parse(text, key, &keylen, why, sizeof(why));
	if (ok != signing_secret_parse(text, key, &keylen2, NULL, 0))
		abort();
	memset(small, 'X', sizeof(small));
	if (ok != signing_secret_parse(text, key, &keylen2, small, sizeof(small)))
		abort();
	if (!ok)
	{
		check_message_text(why, sizeof(why), false);
		check_message_text(small, sizeof(small), false);
		if (strlen(why) >= sizeof(why) - 1)
			abort();
		return 0;
	}
	ok = signing_secret_parse(text, key, &keylen, why, sizeof(why));
	if (!ok || keylen != keylen2)
		abort();

	/* accepted: the strict syntax ... */
	if (strncmp(text, "whsec_", 6) != 0)
		abort();
	b64 = text + 6;
	n = strlen(b64);
	if (n == 0 || n % 4 != 0 || n > SIGNING_SECRET_MAX_LENGTH - 6)
		abort();
	pad = (b64[n - 1] == '=') + (n >= 2 && b64[n - 1] == '=' && b64[n - 2] == '=');
	for (size_t i = 0; i < n - pad; i++)
		if (b64val(b64[i]) < 0)
			abort();

	/* ... decoding to the key, canonically */
	nref = 0;
	for (size_t i = 0; i < n; i += 4)
	{
		uint32_t	v = 0;

		for (size_t j = 0; j < 4; j++)
			v = v << 6 | (uint32_t) (b64[i + j] == '=' ? 0 : b64val(b64[i + j]));
		ref[nref++] = (unsigned char) (v >> 16);
		ref[nref++] = (unsigned char) (v >> 8);
		ref[nref++] = (unsigned char) v;
	}
	nref -= pad;
	if (nref != keylen || memcmp(ref, key, keylen) != 0)
		abort();
	if (keylen < SIGNING_KEY_MIN || keylen > SIGNING_KEY_MAX)
		abort();
	/* the bits beyond the key are zero */
	if ((pad == 1 && (b64val(b64[n - 2]) & 0x3) != 0) ||
		(pad == 2 && (b64val(b64[n - 3]) & 0xf) != 0))
		abort();

	/* the key signs the body; the header lines say so */
	if (!signing_sign(key, keylen, "jobsched-1-2", 1796131843,
					  data + split, size - split, sig, why, sizeof(why)))
		abort();
	if (strncmp(sig, "v1,", 3) != 0 || strlen(sig) != 3 + 44 ||
		sig[3 + 43] != '=')
		abort();
	for (size_t i = 3; i < 3 + 43; i++)
		if (b64val(sig[i]) < 0)
			abort();
	if (!signing_make_headers(text, "jobsched-1-2", 1796131843,
							  data + split, size - split, &h, why, sizeof(why)))
		abort();
	snprintf(line, sizeof(line), "webhook-signature: %s", sig);
	if (strcmp(h.id, "webhook-id: jobsched-1-2") != 0 ||
		strcmp(h.timestamp, "webhook-timestamp: 1796131843") != 0 ||
		strcmp(h.signature, line) != 0)
		abort();
	return 0;
}
