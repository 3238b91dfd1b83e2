/*-------------------------------------------------------------------------
 *
 * fuzz_netpolicy.c
 *	  libFuzzer target for the network policy (src/netpolicy.c).
 *
 * Feeds arbitrary text to netpolicy_parse().  An error message must be
 * non-empty printable ASCII, also when truncated into a small buffer, and
 * a failed parse must leave the policy untouched.  A policy that parses
 * must consist of well-formed rules (family, prefix in range, no host
 * bits, no rules left in IPv4-mapped form) and must parse to the same
 * rules again from its canonical text.  It is then asked about addresses
 * near the edges of its own rules, in IPv4, IPv6, IPv4-mapped,
 * IPv4-compatible and NAT64 forms, plus some fixed and input-derived ones;
 * every decision, and the rule number named in the explanation, is checked
 * against a simple bit-by-bit reference implementation of the matching
 * rules documented in netpolicy.h.
 *
 * Build and run with "make -f test/Makefile.fuzz fuzz-ci"; seeds are in
 * test/corpus/netpolicy/.
 *
 * test/fuzz_netpolicy.c
 *
 *-------------------------------------------------------------------------
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netpolicy.h"
#include "fuzz_check.h"

#define FUZZ_MAX_INPUT 4096

static int
bit(const unsigned char *a, int i)
{
	return (a[i / 8] >> (7 - i % 8)) & 1;
}

static bool
same_bits(const unsigned char *a, const unsigned char *b, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		if (bit(a, i) != bit(b, i))
			return false;
	return true;
}

/* The IPv4 address carried by an IPv6 address, as netpolicy.h documents */
static bool
ref_embedded(const unsigned char *a, unsigned char *v4)
{
	static const unsigned char zero[12];
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b};
	bool		yes = false;

	if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0)
		yes = true;
	else if (memcmp(a, zero, 12) == 0)
	{
		uint32_t	low = ((uint32_t) a[12] << 24) | ((uint32_t) a[13] << 16) |
			((uint32_t) a[14] << 8) | a[15];

		yes = low > 1;			/* not :: or ::1 */
	}
	if (yes)
		memcpy(v4, a + 12, 4);
	return yes;
}

static bool
ref_matches(const NetPolicyRule *r, int family, const unsigned char *a)
{
	unsigned char v4[4];
	bool		emb;

	if (r->family == 0)
		return true;
	if (family == AF_INET)
		return r->family == AF_INET && same_bits(r->addr, a, r->prefix);
	emb = ref_embedded(a, v4);
	if (r->family == AF_INET)
		return emb && same_bits(r->addr, v4, r->prefix);
	return (!emb || r->prefix >= 96) && same_bits(r->addr, a, r->prefix);
}

/* First matching rule (1-based), or 0 */
static int
ref_decide(const NetPolicy *p, int family, const unsigned char *a)
{
	int			i;

	for (i = 0; i < p->nrules; i++)
		if (ref_matches(&p->rules[i], family, a))
			return i + 1;
	return 0;
}

static void
probe(const NetPolicy *p, int family, const unsigned char *a)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	char		why[NETPOLICY_ERRBUF_SIZE];
	char		why2[NETPOLICY_ERRBUF_SIZE];
	char		text[INET6_ADDRSTRLEN];
	char		expect[64];
	bool		allowed;
	int			ruleno = ref_decide(p, family, a);

	memset(why, 'X', sizeof(why));
	if (family == AF_INET)
	{
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		memcpy(&sin.sin_addr, a, 4);
		allowed = netpolicy_allows(p, (struct sockaddr *) &sin, sizeof(sin),
								   why, sizeof(why));
	}
	else
	{
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		memcpy(&sin6.sin6_addr, a, 16);
		allowed = netpolicy_allows(p, (struct sockaddr *) &sin6, sizeof(sin6),
								   why, sizeof(why));
	}
	check_message_text(why, sizeof(why), false);
	if (allowed != (ruleno > 0 && p->rules[ruleno - 1].allow))
		abort();
	if (ruleno > 0)
	{
		snprintf(expect, sizeof(expect), " by rule %d \"", ruleno);
		if (strstr(why, expect) == NULL)
			abort();
	}
	else if (strstr(why, "matches no rule") == NULL)
		abort();

	/* the text interface agrees */
	if (inet_ntop(family, a, text, sizeof(text)) == NULL)
		abort();
	if (netpolicy_allows_text(p, text, why2, sizeof(why2)) != allowed ||
		strcmp(why, why2) != 0)
		abort();
}

/* Probe an IPv4 address as such and in its IPv6 disguises */
static void
probe_v4(const NetPolicy *p, const unsigned char *v4)
{
	unsigned char a[16];

	probe(p, AF_INET, v4);
	memset(a, 0, sizeof(a));
	memcpy(a + 12, v4, 4);
	probe(p, AF_INET6, a);		/* IPv4-compatible (or :: / ::1) */
	a[10] = a[11] = 0xff;
	probe(p, AF_INET6, a);		/* IPv4-mapped */
	a[10] = a[11] = 0;
	a[1] = 0x64;
	a[2] = 0xff;
	a[3] = 0x9b;
	probe(p, AF_INET6, a);		/* NAT64 */
	a[5] = 1;
	probe(p, AF_INET6, a);		/* 64:ff9b:1::/48, not unwrapped */
}

/* Probe the first and last address of a rule's network and its neighbours */
static void
probe_rule(const NetPolicy *p, const NetPolicyRule *r)
{
	int			nbytes = r->family == AF_INET ? 4 : 16;
	unsigned char lo[16];
	unsigned char hi[16];
	int			i;
	int			k;

	for (i = 0; i < nbytes; i++)
	{
		int			bits = r->prefix - 8 * i;
		unsigned char mask = bits >= 8 ? 0xff : bits <= 0 ? 0 :
			(unsigned char) (0xff << (8 - bits));

		lo[i] = r->addr[i] & mask;
		hi[i] = (unsigned char) (r->addr[i] | (unsigned char) ~mask);
	}
	for (k = 0; k < 2; k++)
	{
		if (r->family == AF_INET)
		{
			probe_v4(p, lo);
			probe_v4(p, hi);
		}
		else
		{
			probe(p, AF_INET6, lo);
			probe(p, AF_INET6, hi);
		}
		/* then the neighbours outside: lo - 1 and hi + 1 (wrapping) */
		for (i = nbytes - 1; i >= 0 && lo[i]-- == 0; i--)
			;
		for (i = nbytes - 1; i >= 0 && hi[i]++ == 0xff; i--)
			;
	}
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char text[FUZZ_MAX_INPUT + 1];
	static char canon[NETPOLICY_MAX_RULES * 64 + 1];
	static NetPolicy policy;
	static NetPolicy again;
	static NetPolicy sentinel;
	static const char *const fixed[] = {
		"127.0.0.1", "10.0.0.1", "169.254.169.254", "8.8.8.8", "0.0.0.0",
		"255.255.255.255", "::", "::1", "fe80::1", "fd00:ec2::254",
		"2001:db8::1", "ff02::1", "::ffff:10.0.0.1", "64:ff9b::a9fe:a9fe",
		"::a00:1", "::2", NULL
	};
	char		err[NETPOLICY_ERRBUF_SIZE];
	char		small[7];
	uint64_t	h = UINT64_C(1469598103934665603);
	size_t		i;
	int			r;

	if (size > FUZZ_MAX_INPUT)
		size = FUZZ_MAX_INPUT;
	memcpy(text, data, size);
	text[size] = '\0';

	memset(&policy, 0xa5, sizeof(policy));
	memset(&sentinel, 0xa5, sizeof(sentinel));
	memset(err, 'X', sizeof(err));
	if (!netpolicy_parse(text, &policy, err, sizeof(err)))
	{
		check_message_text(err, sizeof(err), false);
		if (memcmp(&policy, &sentinel, sizeof(policy)) != 0)
			abort();
		/* truncation into a tiny buffer must stay in bounds */
		memset(small, 'X', sizeof(small));
		if (netpolicy_parse(text, &policy, small, sizeof(small)))
			abort();
		check_message_text(small, sizeof(small), false);
		return 0;
	}

	/* well-formed rules */
	if (policy.nrules < 1 || policy.nrules > NETPOLICY_MAX_RULES)
		abort();
	canon[0] = '\0';
	for (r = 0; r < policy.nrules; r++)
	{
		const NetPolicyRule *rule = &policy.rules[r];
		static const unsigned char zero[16];
		static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		int			nbits = rule->family == AF_INET ? 32 : 128;
		int			b;
		char		addr[INET6_ADDRSTRLEN];
		char		one[80];

		if (rule->family == 0)
		{
			if (rule->prefix != 0 || memcmp(rule->addr, zero, 16) != 0)
				abort();
			snprintf(one, sizeof(one), "%s%s all", r ? ", " : "",
					 rule->allow ? "allow" : "deny");
		}
		else
		{
			if (rule->family != AF_INET && rule->family != AF_INET6)
				abort();
			if (rule->prefix < 0 || rule->prefix > nbits)
				abort();
			for (b = rule->prefix; b < nbits; b++)
				if (bit(rule->addr, b))
					abort();
			if (rule->family == AF_INET && memcmp(rule->addr + 4, zero, 12) != 0)
				abort();
			if (rule->family == AF_INET6 && rule->prefix >= 96 &&
				memcmp(rule->addr, mapped, 12) == 0)
				abort();
			if (inet_ntop(rule->family, rule->addr, addr, sizeof(addr)) == NULL)
				abort();
			snprintf(one, sizeof(one), "%s%s %s/%d", r ? ", " : "",
					 rule->allow ? "allow" : "deny", addr, rule->prefix);
		}
		strcat(canon, one);
	}

	/* the canonical text parses to the same rules */
	if (!netpolicy_parse(canon, &again, err, sizeof(err)) ||
		again.nrules != policy.nrules)
		abort();
	for (r = 0; r < policy.nrules; r++)
		if (again.rules[r].allow != policy.rules[r].allow ||
			again.rules[r].family != policy.rules[r].family ||
			again.rules[r].prefix != policy.rules[r].prefix ||
			memcmp(again.rules[r].addr, policy.rules[r].addr, 16) != 0)
			abort();

	/* decisions against the reference */
	for (r = 0; r < policy.nrules; r++)
		if (policy.rules[r].family != 0)
			probe_rule(&policy, &policy.rules[r]);
	for (i = 0; fixed[i]; i++)
	{
		unsigned char a[16];
		int			family = strchr(fixed[i], ':') ? AF_INET6 : AF_INET;

		if (inet_pton(family, fixed[i], a) != 1)
			abort();
		probe(&policy, family, a);
	}
	for (i = 0; i < size; i++)
		h = (h ^ data[i]) * UINT64_C(1099511628211);
	{
		unsigned char a[16];

		for (i = 0; i < 16; i++)
			a[i] = (unsigned char) (h >> ((i % 8) * 8)) ^ (unsigned char) i;
		probe_v4(&policy, a);
		probe(&policy, AF_INET6, a);
	}
	return 0;
}
