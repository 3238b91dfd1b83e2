/*-------------------------------------------------------------------------
 *
 * netpolicy.c
 *	  Network policy for jobsched: parsing jobsched.network_policy and
 *	  deciding whether the worker may connect to an address.
 *
 * The syntax and the matching rules, in particular for IPv6 addresses that
 * carry an IPv4 address, are described in netpolicy.h.  This file uses only
 * the C library and the POSIX socket headers: no PostgreSQL headers, no
 * memory allocation, no global mutable state, no exit() and no output, so
 * that it can run inside a backend (in a GUC check hook and in libcurl's
 * open-socket callback) and also be unit-tested and fuzzed on its own (see
 * test/validate_test.c and test/fuzz_netpolicy.c).
 *
 * src/netpolicy.c
 *
 *-------------------------------------------------------------------------
 */
#include "netpolicy.h"
#include "textutil.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* Longest piece of user input quoted in an error message */
#define NP_QUOTE_MAX	48

/* Room for an address in text form, with or without a prefix */
#define NP_ADDR_TEXT	(INET6_ADDRSTRLEN + 8)

/* Room for a rule in canonical text form: "allow " + address + "/128" */
#define NP_RULE_TEXT	(NP_ADDR_TEXT + 8)

/*
 * An address being checked: its own family and bytes, and for IPv6
 * addresses that carry an IPv4 address (see netpolicy.h), that address.
 */
typedef struct NetAddr
{
	int			family;
	unsigned char addr[16];
	bool		has_v4;
	unsigned char v4[4];
} NetAddr;

static const unsigned char v4mapped_prefix[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};
static const unsigned char v4compat_prefix[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
};
static const unsigned char nat64_prefix[12] = {
	0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0
};


/* ----------------------------------------------------------------
 *		Small helpers
 * ----------------------------------------------------------------
 */

/* Does s[0..len) equal the lower-case ASCII word "word", ignoring case? */
static bool
word_is(const char *s, size_t len, const char *word)
{
	size_t		i;

	if (strlen(word) != len)
		return false;
	for (i = 0; i < len; i++)
	{
		char		c = s[i];

		if (c >= 'A' && c <= 'Z')
			c = (char) (c - 'A' + 'a');
		if (c != word[i])
			return false;
	}
	return true;
}

/* Do the first "prefix" bits of a and b agree? */
static bool
prefix_matches(const unsigned char *a, const unsigned char *b, int prefix)
{
	int			whole = prefix / 8;
	int			rest = prefix % 8;

	if (memcmp(a, b, (size_t) whole) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[whole] ^ b[whole]) & (0xff << (8 - rest)) & 0xff) == 0;
}

/* Are any bits of addr (of nbytes bytes) beyond the first "prefix" set? */
static bool
host_bits_set(const unsigned char *addr, int nbytes, int prefix)
{
	int			i;

	for (i = prefix / 8; i < nbytes; i++)
	{
		unsigned char mask = 0xff;

		if (i == prefix / 8)
			mask = (unsigned char) (0xff >> (prefix % 8));
		if (addr[i] & mask)
			return true;
	}
	return false;
}

/*
 * The IPv4 address carried by an IPv6 address, if any: IPv4-mapped,
 * IPv4-compatible (but not :: and ::1) or NAT64 well-known prefix.
 */
static bool
embedded_v4(const unsigned char *a6, unsigned char *v4)
{
	if (memcmp(a6, v4mapped_prefix, 12) == 0 ||
		memcmp(a6, nat64_prefix, 12) == 0 ||
		(memcmp(a6, v4compat_prefix, 12) == 0 &&
		 !(a6[12] == 0 && a6[13] == 0 && a6[14] == 0 && a6[15] <= 1)))
	{
		memcpy(v4, a6 + 12, 4);
		return true;
	}
	return false;
}

/* Does rule r match address a?  See "IPv6 addresses that carry ..." */
static bool
rule_matches(const NetPolicyRule *r, const NetAddr *a)
{
	if (r->family == 0)
		return true;
	if (a->family == AF_INET)
		return r->family == AF_INET &&
			prefix_matches(r->addr, a->addr, r->prefix);
	/* a is IPv6 */
	if (r->family == AF_INET)
		return a->has_v4 && prefix_matches(r->addr, a->v4, r->prefix);
	if (a->has_v4 && r->prefix < 96)
		return false;
	return prefix_matches(r->addr, a->addr, r->prefix);
}

/* Canonical text of a rule, as shown in explanations */
static void
format_rule(char *dst, size_t dstlen, const NetPolicyRule *r)
{
	char		addr[INET6_ADDRSTRLEN];
	const char *verb = r->allow ? "allow" : "deny";

	if (r->family == 0 ||
		inet_ntop(r->family, r->addr, addr, sizeof(addr)) == NULL)
	{
		snprintf(dst, dstlen, "%s all", verb);
		return;
	}
	if (r->prefix == (r->family == AF_INET ? 32 : 128))
		snprintf(dst, dstlen, "%s %s", verb, addr);
	else
		snprintf(dst, dstlen, "%s %s/%d", verb, addr, r->prefix);
}


/* ----------------------------------------------------------------
 *		Parsing
 * ----------------------------------------------------------------
 */

/*
 * Parse the target of a rule (after "allow"/"deny"): "all" or an address
 * with an optional prefix.  s[0..len) has no whitespace.  On error, write
 * the part of the message after the quoted rule into err.
 */
static bool
parse_target(const char *s, size_t len, NetPolicyRule *rule,
			 char *err, size_t errlen)
{
	char		addrtext[NP_ADDR_TEXT];
	char		quoted[NP_QUOTE_MAX + 4];
	const char *slash = memchr(s, '/', len);
	size_t		addrlen = slash ? (size_t) (slash - s) : len;
	int			maxprefix;
	int			nbytes;

	if (word_is(s, len, "all"))
	{
		rule->family = 0;
		rule->prefix = 0;
		memset(rule->addr, 0, sizeof(rule->addr));
		return true;
	}

	memset(rule->addr, 0, sizeof(rule->addr));
	if (addrlen < sizeof(addrtext))
	{
		memcpy(addrtext, s, addrlen);
		addrtext[addrlen] = '\0';
	}
	else
		addrtext[0] = '\0';
	if (addrlen > 0 && addrlen < sizeof(addrtext) &&
		inet_pton(AF_INET, addrtext, rule->addr) == 1)
	{
		rule->family = AF_INET;
		maxprefix = 32;
		nbytes = 4;
	}
	else if (addrlen > 0 && addrlen < sizeof(addrtext) &&
			 inet_pton(AF_INET6, addrtext, rule->addr) == 1)
	{
		rule->family = AF_INET6;
		maxprefix = 128;
		nbytes = 16;
	}
	else
	{
		jobsched_quote_input(quoted, s, addrlen, NP_QUOTE_MAX);
		jobsched_format_message(err, errlen, "\"%s\" is not an IPv4 or IPv6 address",
					quoted);
		return false;
	}

	rule->prefix = maxprefix;
	if (slash)
	{
		const char *p = slash + 1;
		size_t		plen = len - addrlen - 1;
		size_t		i;
		int			value = 0;

		if (plen == 0)
		{
			jobsched_format_message(err, errlen, "missing prefix length after \"/\"");
			return false;
		}
		for (i = 0; i < plen; i++)
		{
			if (p[i] < '0' || p[i] > '9')
			{
				jobsched_quote_input(quoted, p, plen, NP_QUOTE_MAX);
				jobsched_format_message(err, errlen, "invalid prefix length \"%s\"",
							quoted);
				return false;
			}
			/* saturate: anything beyond 999 is out of range anyway */
			if (value <= 999)
				value = value * 10 + (p[i] - '0');
		}
		if (value > maxprefix)
		{
			jobsched_quote_input(quoted, p, plen, NP_QUOTE_MAX);
			jobsched_format_message(err, errlen, "prefix %s out of range 0-%d",
						quoted, maxprefix);
			return false;
		}
		rule->prefix = value;
	}

	/*
	 * "10.0.0.1/8" is probably a typo for a host or for 10.0.0.0/8; refuse to
	 * guess, like PostgreSQL's cidr type.
	 */
	if (host_bits_set(rule->addr, nbytes, rule->prefix))
	{
		char		net[INET6_ADDRSTRLEN];
		unsigned char masked[16];
		int			i;

		memcpy(masked, rule->addr, sizeof(masked));
		for (i = 0; i < nbytes; i++)
		{
			int			bits = rule->prefix - 8 * i;

			if (bits <= 0)
				masked[i] = 0;
			else if (bits < 8)
				masked[i] &= (unsigned char) (0xff << (8 - bits));
		}
		jobsched_quote_input(quoted, s, len, NP_QUOTE_MAX);
		if (inet_ntop(rule->family, masked, net, sizeof(net)) == NULL)
			strcpy(net, "?");
		jobsched_format_message(err, errlen,
					"%s has bits set to the right of the prefix; did you mean %s/%d?",
					quoted, net, rule->prefix);
		return false;
	}

	/*
	 * A rule in IPv4-mapped form is an IPv4 rule: mapped addresses are IPv4
	 * addresses (netpolicy.h).  Rules broader than the mapped /96 stay IPv6
	 * rules and so never match IPv4 destinations.
	 */
	if (rule->family == AF_INET6 && rule->prefix >= 96 &&
		memcmp(rule->addr, v4mapped_prefix, 12) == 0)
	{
		memmove(rule->addr, rule->addr + 12, 4);
		memset(rule->addr + 4, 0, 12);
		rule->family = AF_INET;
		rule->prefix -= 96;
	}
	return true;
}

/*
 * Parse one rule, s[0..len), which has no surrounding whitespace and is
 * not empty.
 */
static bool
parse_rule(const char *s, size_t len, int ruleno, NetPolicyRule *rule,
		   char *err, size_t errlen)
{
	char		quoted[NP_QUOTE_MAX + 4];
	char		detail[NETPOLICY_ERRBUF_SIZE];
	size_t		verb_end = 0;
	size_t		target_start;
	size_t		target_end;

	while (verb_end < len && !jobsched_is_space(s[verb_end]))
		verb_end++;
	target_start = verb_end;
	while (target_start < len && jobsched_is_space(s[target_start]))
		target_start++;
	target_end = target_start;
	while (target_end < len && !jobsched_is_space(s[target_end]))
		target_end++;

	if (word_is(s, verb_end, "allow"))
		rule->allow = true;
	else if (word_is(s, verb_end, "deny"))
		rule->allow = false;
	else
	{
		jobsched_quote_input(quoted, s, len, NP_QUOTE_MAX);
		jobsched_format_message(err, errlen,
					"rule %d \"%s\": must start with \"allow\" or \"deny\"",
					ruleno, quoted);
		return false;
	}

	if (target_start == len)
	{
		jobsched_quote_input(quoted, s, len, NP_QUOTE_MAX);
		jobsched_format_message(err, errlen,
					"rule %d \"%s\": missing address or \"all\" after \"%s\"",
					ruleno, quoted, rule->allow ? "allow" : "deny");
		return false;
	}
	if (target_end != len)
	{
		char		extra[NP_QUOTE_MAX + 4];
		size_t		extra_start = target_end;

		while (jobsched_is_space(s[extra_start]))
			extra_start++;
		jobsched_quote_input(quoted, s, len, NP_QUOTE_MAX);
		jobsched_quote_input(extra, s + extra_start, len - extra_start, NP_QUOTE_MAX);
		jobsched_format_message(err, errlen, "rule %d \"%s\": unexpected \"%s\" at the end",
					ruleno, quoted, extra);
		return false;
	}

	if (!parse_target(s + target_start, target_end - target_start, rule,
					  detail, sizeof(detail)))
	{
		jobsched_quote_input(quoted, s, len, NP_QUOTE_MAX);
		jobsched_format_message(err, errlen, "rule %d \"%s\": %s", ruleno, quoted, detail);
		return false;
	}
	return true;
}

bool
netpolicy_parse(const char *text, NetPolicy *policy, char *err, size_t errlen)
{
	NetPolicy	result;
	const char *p = text ? text : "";
	int			ruleno = 0;

	/* parse into a local copy: on error, *policy must stay as it was */
	memset(&result, 0, sizeof(result));

	for (;;)
	{
		const char *start = p;
		const char *end = strchr(p, ',');
		size_t		len;

		if (end == NULL)
			end = p + strlen(p);
		ruleno++;

		while (start < end && jobsched_is_space(*start))
			start++;
		len = (size_t) (end - start);
		while (len > 0 && jobsched_is_space(start[len - 1]))
			len--;

		if (len == 0)
		{
			if (ruleno == 1 && *end == '\0')
				jobsched_format_message(err, errlen,
							"the policy is empty: it needs at least one rule, such as \"allow all\" or \"deny all\"");
			else
				jobsched_format_message(err, errlen, "rule %d is empty", ruleno);
			return false;
		}
		if (result.nrules >= NETPOLICY_MAX_RULES)
		{
			jobsched_format_message(err, errlen, "too many rules: at most %d are allowed",
						NETPOLICY_MAX_RULES);
			return false;
		}
		if (!parse_rule(start, len, ruleno, &result.rules[result.nrules],
						err, errlen))
			return false;
		result.nrules++;

		if (*end == '\0')
			break;
		p = end + 1;
	}

	memcpy(policy, &result, sizeof(result));
	return true;
}


/* ----------------------------------------------------------------
 *		Matching
 * ----------------------------------------------------------------
 */

/* Decide for a, explaining in why; "shown" is a's text for the message */
static bool
decide(const NetPolicy *policy, const NetAddr *a, const char *shown,
	   char *why, size_t whylen)
{
	int			i;

	for (i = 0; i < policy->nrules; i++)
	{
		const NetPolicyRule *r = &policy->rules[i];

		if (rule_matches(r, a))
		{
			char		ruletext[NP_RULE_TEXT];

			format_rule(ruletext, sizeof(ruletext), r);
			jobsched_format_message(why, whylen, "%s is %s by rule %d \"%s\"", shown,
						r->allow ? "allowed" : "denied", i + 1, ruletext);
			return r->allow;
		}
	}
	jobsched_format_message(why, whylen, "%s is denied because it matches no rule", shown);
	return false;
}

bool
netpolicy_allows(const NetPolicy *policy, const struct sockaddr *addr,
				 socklen_t len, char *why, size_t whylen)
{
	NetAddr		a;
	sa_family_t family;
	char		text[INET6_ADDRSTRLEN];
	char		shown[2 * INET6_ADDRSTRLEN + 16];

	if (addr == NULL ||
		len < (socklen_t) (offsetof(struct sockaddr, sa_family) + sizeof(family)))
	{
		jobsched_format_message(why, whylen, "no address given");
		return false;
	}

	/* copy everything out: addr need not be suitably aligned */
	memcpy(&family, (const char *) addr + offsetof(struct sockaddr, sa_family),
		   sizeof(family));
	memset(&a, 0, sizeof(a));
	if (family == AF_INET && len >= (socklen_t) sizeof(struct sockaddr_in))
	{
		struct sockaddr_in sin;

		memcpy(&sin, addr, sizeof(sin));
		a.family = AF_INET;
		memcpy(a.addr, &sin.sin_addr, 4);
	}
	else if (family == AF_INET6 && len >= (socklen_t) sizeof(struct sockaddr_in6))
	{
		struct sockaddr_in6 sin6;

		memcpy(&sin6, addr, sizeof(sin6));
		a.family = AF_INET6;
		memcpy(a.addr, &sin6.sin6_addr, 16);
		a.has_v4 = embedded_v4(a.addr, a.v4);
	}
	else
	{
		if (family == AF_INET || family == AF_INET6)
			jobsched_format_message(why, whylen, "%s address is too short (%u bytes)",
						family == AF_INET ? "IPv4" : "IPv6", (unsigned) len);
		else
			jobsched_format_message(why, whylen,
						"address family %d is neither IPv4 nor IPv6",
						(int) family);
		return false;
	}

	if (inet_ntop(a.family, a.addr, text, sizeof(text)) == NULL)
		strcpy(text, "?");
	if (a.has_v4)
	{
		char		v4text[INET_ADDRSTRLEN];

		if (inet_ntop(AF_INET, a.v4, v4text, sizeof(v4text)) == NULL)
			strcpy(v4text, "?");
		snprintf(shown, sizeof(shown), "%s (IPv4 %s)", text, v4text);
	}
	else
		snprintf(shown, sizeof(shown), "%s", text);

	if (policy == NULL)
	{
		jobsched_format_message(why, whylen, "%s is denied because there is no policy",
					shown);
		return false;
	}
	return decide(policy, &a, shown, why, whylen);
}

bool
netpolicy_parse_ip(const char *text, struct sockaddr_storage *out)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;

	if (text == NULL)
		return false;

	memset(&sin, 0, sizeof(sin));
	memset(&sin6, 0, sizeof(sin6));
	if (inet_pton(AF_INET, text, &sin.sin_addr) == 1)
	{
		sin.sin_family = AF_INET;
		memset(out, 0, sizeof(*out));
		memcpy(out, &sin, sizeof(sin));
		return true;
	}
	if (inet_pton(AF_INET6, text, &sin6.sin6_addr) == 1)
	{
		sin6.sin6_family = AF_INET6;
		memset(out, 0, sizeof(*out));
		memcpy(out, &sin6, sizeof(sin6));
		return true;
	}
	return false;
}

bool
netpolicy_allows_text(const NetPolicy *policy, const char *ip_literal,
					  char *why, size_t whylen)
{
	struct sockaddr_storage ss;
	socklen_t	len;

	if (!netpolicy_parse_ip(ip_literal, &ss))
	{
		char		quoted[NP_QUOTE_MAX + 4];

		jobsched_quote_input(quoted, ip_literal ? ip_literal : "",
				   ip_literal ? strlen(ip_literal) : 0, NP_QUOTE_MAX);
		jobsched_format_message(why, whylen, "\"%s\" is not an IP address", quoted);
		return false;
	}
	len = ss.ss_family == AF_INET ? (socklen_t) sizeof(struct sockaddr_in) :
		(socklen_t) sizeof(struct sockaddr_in6);
	return netpolicy_allows(policy, (const struct sockaddr *) &ss, len,
							why, whylen);
}
