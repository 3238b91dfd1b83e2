/*-------------------------------------------------------------------------
 *
 * validate_test.c
 *	  Standalone unit tests for the network policy (src/netpolicy.c) and
 *	  the URL and header checks (src/validate.c).
 *
 * Both modules are free of PostgreSQL dependencies, so they are tested
 * here as a plain C program: tables of known answers (parse errors with
 * their exact messages, addresses and the rule that decides them, URLs and
 * headers), plus prefix-boundary sweeps that check the first and last
 * address of every prefix length and their neighbours outside it.
 *
 * Prints one line per failure and finally "N passed, N failed"; exits
 * non-zero if anything failed.
 *
 * test/validate_test.c
 *
 *-------------------------------------------------------------------------
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "netpolicy.h"
#include "validate.h"
#include "check.h"


/* NULL-safe string display for failure messages */
static const char *
show(const char *s)
{
	return s ? s : "(null)";
}


/* ----------------------------------------------------------------
 *		Network policy: parsing
 * ----------------------------------------------------------------
 */

/* Policy texts that must parse, with their number of rules */
typedef struct ParseOk
{
	const char *text;
	int			nrules;
} ParseOk;

static const ParseOk parse_ok_cases[] = {
	{"allow all", 1},
	{"deny all", 1},
	{"  ALLOW   ALL  ", 1},
	{"Deny All", 1},
	{"Deny 10.0.0.0/8,allow all", 2},
	{"deny\t10.0.0.0/8 ,\n allow all\n", 2},
	{"deny 0.0.0.0/0, allow all", 2},
	{"deny ::/0, allow all", 2},
	{"deny 1.2.3.4", 1},
	{"deny 1.2.3.4/32", 1},
	{"deny ::1", 1},
	{"deny ::1/128", 1},
	{"deny 2001:DB8::/32", 1},
	{"deny 10.0.0.0/08", 1},
	{"deny 128.0.0.0/1, deny 8000::/1", 2},
	{"deny 255.255.255.255/32", 1},
	{"deny ::ffff:10.0.0.0/104", 1},
	{"deny 64:ff9b::/96, deny ::/96", 2},
	{NETPOLICY_DEFAULT, 15},
	{NULL, 0}
};

/* Policy texts that must not parse, with their exact message */
typedef struct ParseErr
{
	const char *text;
	const char *message;
} ParseErr;

static const ParseErr parse_err_cases[] = {
	{"", "the policy is empty: it needs at least one rule, such as \"allow all\" or \"deny all\""},
	{" \t\n ", "the policy is empty: it needs at least one rule, such as \"allow all\" or \"deny all\""},
	{"deny all,", "rule 2 is empty"},
	{",deny all", "rule 1 is empty"},
	{"deny all, ,allow all", "rule 2 is empty"},
	{",", "rule 1 is empty"},
	{"permit all", "rule 1 \"permit all\": must start with \"allow\" or \"deny\""},
	{"allowall", "rule 1 \"allowall\": must start with \"allow\" or \"deny\""},
	{"deny", "rule 1 \"deny\": missing address or \"all\" after \"deny\""},
	{"allow all, ALLOW", "rule 2 \"ALLOW\": missing address or \"all\" after \"allow\""},
	{"allow 1.1.1.1, allow 2.2.2.2, deny 10.0.0.0/33",
	"rule 3 \"deny 10.0.0.0/33\": prefix 33 out of range 0-32"},
	{"deny ::/129", "rule 1 \"deny ::/129\": prefix 129 out of range 0-128"},
	{"deny 10.0.0.0/99999999999999999999",
	"rule 1 \"deny 10.0.0.0/99999999999999999999\": prefix 99999999999999999999 out of range 0-32"},
	{"deny 10.0.0.0/", "rule 1 \"deny 10.0.0.0/\": missing prefix length after \"/\""},
	{"deny 10.0.0.0/-1", "rule 1 \"deny 10.0.0.0/-1\": invalid prefix length \"-1\""},
	{"deny 10.0.0.0/+8", "rule 1 \"deny 10.0.0.0/+8\": invalid prefix length \"+8\""},
	{"deny 10.0.0.0/8/8", "rule 1 \"deny 10.0.0.0/8/8\": invalid prefix length \"8/8\""},
	{"deny 10.0.0.0/0x8", "rule 1 \"deny 10.0.0.0/0x8\": invalid prefix length \"0x8\""},
	{"deny 10.0.0.1/8",
	"rule 1 \"deny 10.0.0.1/8\": 10.0.0.1/8 has bits set to the right of the prefix; did you mean 10.0.0.0/8?"},
	{"deny 10.255.0.0/9",
	"rule 1 \"deny 10.255.0.0/9\": 10.255.0.0/9 has bits set to the right of the prefix; did you mean 10.128.0.0/9?"},
	{"deny 2001:db8::1/32",
	"rule 1 \"deny 2001:db8::1/32\": 2001:db8::1/32 has bits set to the right of the prefix; did you mean 2001:db8::/32?"},
	{"deny 1.2.3.4/0",
	"rule 1 \"deny 1.2.3.4/0\": 1.2.3.4/0 has bits set to the right of the prefix; did you mean 0.0.0.0/0?"},
	{"deny 10.0.0.256", "rule 1 \"deny 10.0.0.256\": \"10.0.0.256\" is not an IPv4 or IPv6 address"},
	{"deny 010.0.0.0/8", "rule 1 \"deny 010.0.0.0/8\": \"010.0.0.0\" is not an IPv4 or IPv6 address"},
	{"deny 0x0a.0.0.0/8", "rule 1 \"deny 0x0a.0.0.0/8\": \"0x0a.0.0.0\" is not an IPv4 or IPv6 address"},
	{"deny 10/8", "rule 1 \"deny 10/8\": \"10\" is not an IPv4 or IPv6 address"},
	{"deny 10.0.0/24", "rule 1 \"deny 10.0.0/24\": \"10.0.0\" is not an IPv4 or IPv6 address"},
	{"deny 2130706433", "rule 1 \"deny 2130706433\": \"2130706433\" is not an IPv4 or IPv6 address"},
	{"deny fe80::1%eth0", "rule 1 \"deny fe80::1%eth0\": \"fe80::1%eth0\" is not an IPv4 or IPv6 address"},
	{"deny [::1]", "rule 1 \"deny [::1]\": \"[::1]\" is not an IPv4 or IPv6 address"},
	{"deny 1::2::3", "rule 1 \"deny 1::2::3\": \"1::2::3\" is not an IPv4 or IPv6 address"},
	{"deny /8", "rule 1 \"deny /8\": \"\" is not an IPv4 or IPv6 address"},
	{"deny all/8", "rule 1 \"deny all/8\": \"all\" is not an IPv4 or IPv6 address"},
	{"deny localhost", "rule 1 \"deny localhost\": \"localhost\" is not an IPv4 or IPv6 address"},
	{"deny 10.0.0.0 /8", "rule 1 \"deny 10.0.0.0 /8\": unexpected \"/8\" at the end"},
	{"deny all now", "rule 1 \"deny all now\": unexpected \"now\" at the end"},
	{"allow all; deny all", "rule 1 \"allow all; deny all\": unexpected \"deny all\" at the end"},
	{"deny\x01 all", "rule 1 \"deny? all\": must start with \"allow\" or \"deny\""},
	{"deny 1.2.3.4\xc2\xa0", "rule 1 \"deny 1.2.3.4\xc2\xa0\": \"1.2.3.4\xc2\xa0\" is not an IPv4 or IPv6 address"},
	{"deny 1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc:dddd",
	"rule 1 \"deny 1111:2222:3333:4444:5555:6666:7777:8888:999...\": \"1111:2222:3333:4444:5555:6666:7777:8888:9999:aaa...\" is not an IPv4 or IPv6 address"},
	{NULL, NULL}
};

static void
run_parse_cases(void)
{
	const ParseOk *ok;
	const ParseErr *bad;
	NetPolicy	policy;
	NetPolicy	before;
	char		err[NETPOLICY_ERRBUF_SIZE];
	char		text[2048];
	char		tiny[8];
	int			i;

	for (ok = parse_ok_cases; ok->text; ok++)
	{
		bool		parsed = netpolicy_parse(ok->text, &policy, err, sizeof(err));

		CHECK(parsed && policy.nrules == ok->nrules,
			  "parse \"%s\": got %s (%s), %d rules, expected %d",
			  ok->text, parsed ? "ok" : "error", parsed ? "" : err,
			  parsed ? policy.nrules : -1, ok->nrules);
	}

	for (bad = parse_err_cases; bad->text; bad++)
	{
		bool		parsed;

		memset(err, 0, sizeof(err));
		parsed = netpolicy_parse(bad->text, &policy, err, sizeof(err));
		CHECK(!parsed && strcmp(err, bad->message) == 0,
			  "parse \"%s\": got %s \"%s\", expected error \"%s\"",
			  bad->text, parsed ? "ok" : "error", err, bad->message);
	}

	/* NULL text is an empty policy */
	CHECK(!netpolicy_parse(NULL, &policy, err, sizeof(err)) &&
		  strncmp(err, "the policy is empty", 19) == 0,
		  "parse NULL: \"%s\"", err);

	/* the details of parsed rules */
	CHECK(netpolicy_parse("Deny 10.0.0.0/8, ALLOW all", &policy, err, sizeof(err)) &&
		  !policy.rules[0].allow && policy.rules[0].family == AF_INET &&
		  policy.rules[0].prefix == 8 && policy.rules[0].addr[0] == 10 &&
		  policy.rules[1].allow && policy.rules[1].family == 0,
		  "rule details of \"Deny 10.0.0.0/8, ALLOW all\"");
	CHECK(netpolicy_parse("allow 1.2.3.4", &policy, err, sizeof(err)) &&
		  policy.rules[0].prefix == 32 && policy.rules[0].addr[3] == 4,
		  "a rule without prefix is a single IPv4 host");
	CHECK(netpolicy_parse("allow 2001:db8::7", &policy, err, sizeof(err)) &&
		  policy.rules[0].family == AF_INET6 && policy.rules[0].prefix == 128 &&
		  policy.rules[0].addr[15] == 7,
		  "a rule without prefix is a single IPv6 host");
	/* mapped-form rules become IPv4 rules */
	CHECK(netpolicy_parse("deny ::ffff:10.0.0.0/104", &policy, err, sizeof(err)) &&
		  policy.rules[0].family == AF_INET && policy.rules[0].prefix == 8 &&
		  policy.rules[0].addr[0] == 10 && policy.rules[0].addr[4] == 0,
		  "::ffff:10.0.0.0/104 is the IPv4 rule 10.0.0.0/8");
	CHECK(netpolicy_parse("deny ::ffff:0:0/96", &policy, err, sizeof(err)) &&
		  policy.rules[0].family == AF_INET && policy.rules[0].prefix == 0,
		  "::ffff:0:0/96 is all of IPv4");
	CHECK(netpolicy_parse("deny ::fffe:0:0/95", &policy, err, sizeof(err)) &&
		  policy.rules[0].family == AF_INET6 && policy.rules[0].prefix == 95,
		  "::fffe:0:0/95 (covering the mapped range) stays an IPv6 rule");
	CHECK(netpolicy_parse("deny 64:ff9b::/96", &policy, err, sizeof(err)) &&
		  policy.rules[0].family == AF_INET6 && policy.rules[0].prefix == 96,
		  "64:ff9b::/96 stays an IPv6 rule");

	/* exactly NETPOLICY_MAX_RULES rules parse; one more does not */
	text[0] = '\0';
	for (i = 0; i < NETPOLICY_MAX_RULES; i++)
	{
		char		rule[32];

		snprintf(rule, sizeof(rule), "%sdeny 10.0.%d.0/24", i ? ", " : "", i);
		strcat(text, rule);
	}
	CHECK(netpolicy_parse(text, &policy, err, sizeof(err)) &&
		  policy.nrules == NETPOLICY_MAX_RULES,
		  "%d rules: %s", NETPOLICY_MAX_RULES, err);
	strcat(text, ", allow all");
	CHECK(!netpolicy_parse(text, &policy, err, sizeof(err)) &&
		  strcmp(err, "too many rules: at most 64 are allowed") == 0,
		  "%d rules: \"%s\"", NETPOLICY_MAX_RULES + 1, err);

	/* a failed parse leaves the policy as it was */
	netpolicy_parse("deny 10.0.0.0/8, allow all", &policy, err, sizeof(err));
	memcpy(&before, &policy, sizeof(policy));
	CHECK(!netpolicy_parse("allow all, deny 10.0.0.0/33", &policy, err, sizeof(err)) &&
		  memcmp(&before, &policy, sizeof(policy)) == 0,
		  "failed parse changed the policy");

	/* truncated messages stay in bounds and terminated; NULL err is fine */
	memset(tiny, 'X', sizeof(tiny));
	CHECK(!netpolicy_parse("deny 10.0.0.0/33", &policy, tiny, sizeof(tiny)) &&
		  strcmp(tiny, "rule 1 ") == 0,
		  "truncated message \"%.8s\"", tiny);
	CHECK(!netpolicy_parse("deny 10.0.0.0/33", &policy, NULL, 0),
		  "parse with NULL err");
	CHECK(!netpolicy_parse("deny 10.0.0.0/33", &policy, tiny, 0) && tiny[0] == 'r',
		  "errlen 0 must not write");
}


/* ----------------------------------------------------------------
 *		Network policy: matching
 * ----------------------------------------------------------------
 */

/*
 * An address and the expected decision under a policy.  "why" is the exact
 * explanation expected, or NULL to check only the decision.
 */
typedef struct AllowCase
{
	const char *policy;			/* NULL: the previous entry's policy */
	const char *addr;
	bool		allowed;
	const char *why;
} AllowCase;

#define DEFAULT_POLICY NETPOLICY_DEFAULT

static const AllowCase allow_cases[] = {
	/* the default policy: loopback and public addresses are allowed */
	{DEFAULT_POLICY, "127.0.0.1", true, "127.0.0.1 is allowed by rule 15 \"allow all\""},
	{NULL, "127.255.255.254", true, NULL},
	{NULL, "::1", true, "::1 is allowed by rule 15 \"allow all\""},
	{NULL, "8.8.8.8", true, NULL},
	{NULL, "1.1.1.1", true, NULL},
	{NULL, "1.0.0.0", true, NULL},
	{NULL, "2001:4860:4860::8888", true, NULL},
	{NULL, "2001:db8::1", true, NULL},
	/* private, shared, link-local, metadata and reserved ranges are not */
	{NULL, "10.1.2.3", false, "10.1.2.3 is denied by rule 2 \"deny 10.0.0.0/8\""},
	{NULL, "10.255.255.255", false, NULL},
	{NULL, "11.0.0.0", true, NULL},
	{NULL, "9.255.255.255", true, NULL},
	{NULL, "169.254.169.254", false,
	"169.254.169.254 is denied by rule 4 \"deny 169.254.0.0/16\""},
	{NULL, "169.254.0.0", false, NULL},
	{NULL, "169.255.0.0", true, NULL},
	{NULL, "172.16.0.1", false, "172.16.0.1 is denied by rule 5 \"deny 172.16.0.0/12\""},
	{NULL, "172.31.255.255", false, NULL},
	{NULL, "172.32.0.0", true, NULL},
	{NULL, "172.15.255.255", true, NULL},
	{NULL, "192.168.1.1", false, NULL},
	{NULL, "192.169.0.1", true, NULL},
	{NULL, "100.64.0.1", false, "100.64.0.1 is denied by rule 3 \"deny 100.64.0.0/10\""},
	{NULL, "100.127.255.255", false, NULL},
	{NULL, "100.128.0.0", true, NULL},
	{NULL, "100.63.255.255", true, NULL},
	{NULL, "0.0.0.0", false, "0.0.0.0 is denied by rule 1 \"deny 0.0.0.0/8\""},
	{NULL, "0.255.255.255", false, NULL},
	{NULL, "192.0.0.170", false, NULL},
	{NULL, "192.0.1.1", true, NULL},
	{NULL, "198.18.0.1", false, NULL},
	{NULL, "198.19.255.255", false, NULL},
	{NULL, "198.20.0.0", true, NULL},
	{NULL, "198.17.255.255", true, NULL},
	{NULL, "224.0.0.1", false, NULL},
	{NULL, "239.255.255.255", false, NULL},
	{NULL, "223.255.255.255", true, NULL},
	{NULL, "240.0.0.1", false, NULL},
	{NULL, "255.255.255.255", false, "255.255.255.255 is denied by rule 10 \"deny 240.0.0.0/4\""},
	{NULL, "::", false, ":: is denied by rule 11 \"deny ::\""},
	{NULL, "fc00::1", false, "fc00::1 is denied by rule 12 \"deny fc00::/7\""},
	{NULL, "fd00:ec2::254", false, NULL},
	{NULL, "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false, NULL},
	{NULL, "fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true, NULL},
	{NULL, "fe80::1", false, "fe80::1 is denied by rule 13 \"deny fe80::/10\""},
	{NULL, "febf:ffff::1", false, NULL},
	{NULL, "fec0::1", true, NULL},
	{NULL, "ff02::1", false, "ff02::1 is denied by rule 14 \"deny ff00::/8\""},
	/* IPv6 addresses carrying an IPv4 address are matched as that address */
	{NULL, "::ffff:10.0.0.1", false,
	"::ffff:10.0.0.1 (IPv4 10.0.0.1) is denied by rule 2 \"deny 10.0.0.0/8\""},
	{NULL, "::ffff:a00:1", false, NULL},
	{NULL, "0:0:0:0:0:ffff:0a00:0001", false, NULL},
	{NULL, "::FFFF:169.254.169.254", false, NULL},
	{NULL, "::ffff:192.168.0.1", false, NULL},
	{NULL, "::ffff:0.0.0.0", false, NULL},
	{NULL, "::ffff:127.0.0.1", true,
	"::ffff:127.0.0.1 (IPv4 127.0.0.1) is allowed by rule 15 \"allow all\""},
	{NULL, "::ffff:8.8.8.8", true, NULL},
	{NULL, "::10.0.0.1", false,
	"::10.0.0.1 (IPv4 10.0.0.1) is denied by rule 2 \"deny 10.0.0.0/8\""},
	{NULL, "::169.254.169.254", false, NULL},
	{NULL, "::2", false, "::2 (IPv4 0.0.0.2) is denied by rule 1 \"deny 0.0.0.0/8\""},
	{NULL, "::8.8.8.8", true, NULL},
	{NULL, "64:ff9b::10.0.0.1", false,
	"64:ff9b::a00:1 (IPv4 10.0.0.1) is denied by rule 2 \"deny 10.0.0.0/8\""},
	{NULL, "64:ff9b::a9fe:a9fe", false, NULL},
	{NULL, "64:ff9b::8.8.8.8", true, NULL},
	/* documented limitation: NAT64 local-use prefixes are not unwrapped */
	{NULL, "64:ff9b:1::10.0.0.1", true, NULL},
	/* not mapped: only ::ffff:0:0/96 is */
	{NULL, "::ffff:0:10.0.0.1", true, NULL},
	{NULL, "1::ffff:10.0.0.1", true, NULL},

	/* loopback denied by adding rules at the front */
	{"deny 127.0.0.0/8, deny ::1, " DEFAULT_POLICY, "127.0.0.1", false,
	"127.0.0.1 is denied by rule 1 \"deny 127.0.0.0/8\""},
	{NULL, "::1", false, "::1 is denied by rule 2 \"deny ::1\""},
	{NULL, "::ffff:127.0.0.1", false, NULL},
	{NULL, "::127.0.0.1", false, NULL},
	{NULL, "8.8.8.8", true, "8.8.8.8 is allowed by rule 17 \"allow all\""},

	/* first match wins */
	{"allow 10.1.0.0/16, deny 10.0.0.0/8, allow all", "10.1.2.3", true,
	"10.1.2.3 is allowed by rule 1 \"allow 10.1.0.0/16\""},
	{NULL, "10.2.0.1", false, "10.2.0.1 is denied by rule 2 \"deny 10.0.0.0/8\""},
	{NULL, "11.0.0.1", true, "11.0.0.1 is allowed by rule 3 \"allow all\""},
	{"deny 10.0.0.0/8, allow 10.1.0.0/16, allow all", "10.1.2.3", false,
	"10.1.2.3 is denied by rule 1 \"deny 10.0.0.0/8\""},
	{"deny all, allow all", "8.8.8.8", false, "8.8.8.8 is denied by rule 1 \"deny all\""},
	{"allow all, deny all", "10.0.0.1", true, NULL},

	/* no rule matches: denied */
	{"deny 10.0.0.0/8", "8.8.8.8", false, "8.8.8.8 is denied because it matches no rule"},
	{NULL, "2001:db8::1", false, "2001:db8::1 is denied because it matches no rule"},
	{"allow 2001:db8::/32", "::ffff:8.8.8.8", false,
	"::ffff:8.8.8.8 (IPv4 8.8.8.8) is denied because it matches no rule"},

	/* IPv4 rules never match genuine IPv6 addresses, nor the reverse */
	{"deny 0.0.0.0/0, allow all", "1.2.3.4", false, NULL},
	{NULL, "2001:db8::1", true, NULL},
	{NULL, "::1", true, NULL},
	{NULL, "::ffff:1.2.3.4", false, NULL},
	{"deny ::/0, allow all", "1.2.3.4", true, NULL},
	{NULL, "2001:db8::1", false, "2001:db8::1 is denied by rule 1 \"deny ::/0\""},
	{NULL, "::ffff:8.8.8.8", true, NULL},
	{NULL, "::1", false, NULL},

	/* broad IPv6 rules do not let addresses carrying IPv4 through */
	{"allow ::/0, deny all", "::ffff:10.0.0.1", false,
	"::ffff:10.0.0.1 (IPv4 10.0.0.1) is denied by rule 2 \"deny all\""},
	{NULL, "64:ff9b::10.0.0.1", false, NULL},
	{NULL, "::10.0.0.1", false, NULL},
	{NULL, "2001:db8::1", true, NULL},
	{NULL, "10.0.0.1", false, NULL},
	{"allow ::/64, deny all", "::ffff:10.0.0.1", false, NULL},
	{NULL, "::1", true, NULL},
	/* ... but IPv4 rules let them through as IPv4 */
	{"allow 10.0.0.0/8, deny all", "::ffff:10.0.0.5", true,
	"::ffff:10.0.0.5 (IPv4 10.0.0.5) is allowed by rule 1 \"allow 10.0.0.0/8\""},
	{NULL, "::ffff:11.0.0.1", false, NULL},
	{NULL, "64:ff9b::10.9.9.9", true, NULL},

	/* IPv6 rules within an embedding /96 do match */
	{"deny 64:ff9b::/96, allow all", "64:ff9b::808:808", false,
	"64:ff9b::808:808 (IPv4 8.8.8.8) is denied by rule 1 \"deny 64:ff9b::/96\""},
	{NULL, "8.8.8.8", true, NULL},
	{NULL, "::ffff:8.8.8.8", true, NULL},
	{"allow 64:ff9b::/96, deny all", "64:ff9b::10.0.0.1", true, NULL},
	{"deny ::/96, allow all", "::a00:1", false, NULL},
	{NULL, "::", false, NULL},
	{NULL, "::1", false, NULL},
	{NULL, "::ffff:1.2.3.4", true, NULL},
	{NULL, "1.2.3.4", true, NULL},
	{"deny 64:ff9b::a00:0/104, allow all", "64:ff9b::10.1.1.1", false, NULL},
	{NULL, "64:ff9b::11.1.1.1", true, NULL},
	{NULL, "10.1.1.1", true, NULL},

	/* mapped-form rules are IPv4 rules */
	{"deny ::ffff:10.0.0.0/104, allow all", "10.0.0.1", false,
	"10.0.0.1 is denied by rule 1 \"deny 10.0.0.0/8\""},
	{NULL, "::ffff:10.0.0.1", false, NULL},
	{NULL, "11.0.0.1", true, NULL},
	{"deny ::ffff:0:0/96, allow all", "1.2.3.4", false,
	"1.2.3.4 is denied by rule 1 \"deny 0.0.0.0/0\""},
	{NULL, "2001:db8::1", true, NULL},
	{"deny ::ffff:1.2.3.4, allow all", "1.2.3.4", false,
	"1.2.3.4 is denied by rule 1 \"deny 1.2.3.4\""},

	/* prefix boundaries */
	{"allow 0.0.0.0/0, deny all", "255.255.255.255", true, NULL},
	{NULL, "0.0.0.0", true, NULL},
	{NULL, "::1", false, NULL},
	{"deny 192.0.2.1/32, allow all", "192.0.2.1", false,
	"192.0.2.1 is denied by rule 1 \"deny 192.0.2.1\""},
	{NULL, "192.0.2.0", true, NULL},
	{NULL, "192.0.2.2", true, NULL},
	{"deny 192.0.2.0/31, allow all", "192.0.2.0", false, NULL},
	{NULL, "192.0.2.1", false, NULL},
	{NULL, "192.0.2.2", true, NULL},
	{"deny 10.128.0.0/9, allow all", "10.128.0.0", false, NULL},
	{NULL, "10.255.255.255", false, NULL},
	{NULL, "10.127.255.255", true, NULL},
	{"deny 128.0.0.0/1, allow all", "127.255.255.255", true, NULL},
	{NULL, "128.0.0.0", false, "128.0.0.0 is denied by rule 1 \"deny 128.0.0.0/1\""},
	{"deny 2001:db8::1/128, allow all", "2001:db8::1", false,
	"2001:db8::1 is denied by rule 1 \"deny 2001:db8::1\""},
	{NULL, "2001:db8::", true, NULL},
	{NULL, "2001:db8::2", true, NULL},
	{"deny 2001:db8::/127, allow all", "2001:db8::1", false, NULL},
	{NULL, "2001:db8::2", true, NULL},
	{"deny 2001:db8:8000::/33, allow all", "2001:db8:8000::", false, NULL},
	{NULL, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", false, NULL},
	{NULL, "2001:db8:7fff:ffff:ffff:ffff:ffff:ffff", true, NULL},
	{"allow ::/0, deny all", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true, NULL},
	{"deny 8000::/1, allow all", "7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true, NULL},
	{NULL, "8000::", false, "8000:: is denied by rule 1 \"deny 8000::/1\""},

	/* not IP literals */
	{DEFAULT_POLICY, "example.com", false, "\"example.com\" is not an IP address"},
	{NULL, "0x7f.1", false, NULL},
	{NULL, "2130706433", false, NULL},
	{NULL, "[::1]", false, NULL},
	{NULL, "", false, "\"\" is not an IP address"},
	{NULL, "evil\r\n.com", false, "\"evil??.com\" is not an IP address"},
	{NULL, NULL, false, NULL}
};

/* Build a sockaddr for text (which must be an IP literal) */
static socklen_t
make_sockaddr(const char *text, struct sockaddr_storage *ss)
{
	if (!netpolicy_parse_ip(text, ss))
		return 0;
	return ss->ss_family == AF_INET ? (socklen_t) sizeof(struct sockaddr_in) :
		(socklen_t) sizeof(struct sockaddr_in6);
}

static void
run_allow_cases(void)
{
	const AllowCase *c;
	NetPolicy	policy;
	const char *policy_text = NULL;
	char		err[NETPOLICY_ERRBUF_SIZE];
	char		why[NETPOLICY_ERRBUF_SIZE];
	char		why2[NETPOLICY_ERRBUF_SIZE];

	for (c = allow_cases; c->addr; c++)
	{
		struct sockaddr_storage ss;
		socklen_t	len;
		bool		allowed;

		if (c->policy)
		{
			policy_text = c->policy;
			if (!netpolicy_parse(policy_text, &policy, err, sizeof(err)))
			{
				CHECK(false, "policy \"%s\" does not parse: %s", policy_text, err);
				continue;
			}
		}

		why[0] = '\0';
		allowed = netpolicy_allows_text(&policy, c->addr, why, sizeof(why));
		CHECK(allowed == c->allowed && (c->why == NULL || strcmp(why, c->why) == 0),
			  "policy \"%s\", address %s: got %s \"%s\", expected %s \"%s\"",
			  policy_text, c->addr, allowed ? "allowed" : "denied", why,
			  c->allowed ? "allowed" : "denied", show(c->why));

		/* the sockaddr interface must agree, with or without a port */
		len = make_sockaddr(c->addr, &ss);
		if (len > 0)
		{
			if (ss.ss_family == AF_INET)
				((struct sockaddr_in *) &ss)->sin_port = htons(443);
			else
				((struct sockaddr_in6 *) &ss)->sin6_port = htons(443);
			allowed = netpolicy_allows(&policy, (struct sockaddr *) &ss, len,
									   why2, sizeof(why2));
			if (allowed != c->allowed || strcmp(why, why2) != 0)
				CHECK(false, "sockaddr for %s: %s \"%s\"", c->addr,
					  allowed ? "allowed" : "denied", why2);
		}
	}
}

/*
 * For every prefix length, a rule "deny N/p" must deny the first and last
 * address of the network and allow the addresses just outside it.
 */
static void
sweep_prefixes(int family)
{
	int			nbytes = family == AF_INET ? 4 : 16;
	int			maxprefix = 8 * nbytes;
	unsigned char base[16];
	int			p;
	int			sweep_failed = 0;

	inet_pton(family, family == AF_INET ? "203.0.113.77" :
			  "2001:db8:5555:aaaa:1234:5678:9abc:def0", base);

	for (p = 0; p <= maxprefix; p++)
	{
		unsigned char first[16];
		unsigned char last[16];
		unsigned char below[16];
		unsigned char above[16];
		char		net[INET6_ADDRSTRLEN];
		char		text[128];
		char		err[NETPOLICY_ERRBUF_SIZE];
		NetPolicy	policy;
		int			i;
		bool		has_below = false;
		bool		has_above = false;
		struct
		{
			unsigned char *addr;
			bool		expect_allowed;
			bool		use;
		}			probes[4];

		for (i = 0; i < nbytes; i++)
		{
			int			bits = p - 8 * i;
			unsigned char mask = bits >= 8 ? 0xff : bits <= 0 ? 0 :
				(unsigned char) (0xff << (8 - bits));

			first[i] = base[i] & mask;
			last[i] = (unsigned char) (base[i] | (unsigned char) ~mask);
		}
		/* below = first - 1, above = last + 1, when they exist */
		memcpy(below, first, (size_t) nbytes);
		for (i = nbytes - 1; i >= 0; i--)
		{
			if (below[i]-- != 0)
			{
				has_below = true;
				break;
			}
		}
		memcpy(above, last, (size_t) nbytes);
		for (i = nbytes - 1; i >= 0; i--)
		{
			if (above[i]++ != 0xff)
			{
				has_above = true;
				break;
			}
		}

		inet_ntop(family, first, net, sizeof(net));
		snprintf(text, sizeof(text), "deny %s/%d, allow all", net, p);
		if (!netpolicy_parse(text, &policy, err, sizeof(err)))
		{
			CHECK(false, "sweep: \"%s\" does not parse: %s", text, err);
			continue;
		}

		probes[0].addr = first;
		probes[0].expect_allowed = false;
		probes[0].use = true;
		probes[1].addr = last;
		probes[1].expect_allowed = false;
		probes[1].use = true;
		probes[2].addr = below;
		probes[2].expect_allowed = true;
		probes[2].use = has_below;
		probes[3].addr = above;
		probes[3].expect_allowed = true;
		probes[3].use = has_above;

		for (i = 0; i < 4; i++)
		{
			struct sockaddr_in sin;
			struct sockaddr_in6 sin6;
			bool		allowed;
			char		why[NETPOLICY_ERRBUF_SIZE];

			if (!probes[i].use)
				continue;
			/* keep embedded-IPv4 ranges out of the IPv6 sweep's way */
			if (family == AF_INET6 && probes[i].addr[0] == 0)
				continue;
			if (family == AF_INET)
			{
				memset(&sin, 0, sizeof(sin));
				sin.sin_family = AF_INET;
				memcpy(&sin.sin_addr, probes[i].addr, 4);
				allowed = netpolicy_allows(&policy, (struct sockaddr *) &sin,
										   sizeof(sin), why, sizeof(why));
			}
			else
			{
				memset(&sin6, 0, sizeof(sin6));
				sin6.sin6_family = AF_INET6;
				memcpy(&sin6.sin6_addr, probes[i].addr, 16);
				allowed = netpolicy_allows(&policy, (struct sockaddr *) &sin6,
										   sizeof(sin6), why, sizeof(why));
			}
			if (allowed != probes[i].expect_allowed)
			{
				sweep_failed++;
				CHECK(false, "sweep \"%s\", probe %d: %s", text, i, why);
			}
			else
				n_passed++;
		}
	}
	CHECK(sweep_failed == 0, "IPv%d prefix sweep had %d failures",
		  family == AF_INET ? 4 : 6, sweep_failed);
}

static void
run_sockaddr_cases(void)
{
	NetPolicy	policy;
	char		err[NETPOLICY_ERRBUF_SIZE];
	char		why[NETPOLICY_ERRBUF_SIZE];
	char		tiny[10];
	struct sockaddr_un sun;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	struct sockaddr_storage ss;
	unsigned char unaligned[sizeof(struct sockaddr_in6) + 1];

	netpolicy_parse("allow all", &policy, err, sizeof(err));

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	CHECK(!netpolicy_allows(&policy, (struct sockaddr *) &sun, sizeof(sun),
							why, sizeof(why)) &&
		  strcmp(why, "address family 1 is neither IPv4 nor IPv6") == 0,
		  "AF_UNIX: %s", why);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	CHECK(!netpolicy_allows(&policy, (struct sockaddr *) &sin, sizeof(sin) - 1,
							why, sizeof(why)) &&
		  strncmp(why, "IPv4 address is too short", 25) == 0,
		  "short AF_INET: %s", why);
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	CHECK(!netpolicy_allows(&policy, (struct sockaddr *) &sin6, sizeof(struct sockaddr_in),
							why, sizeof(why)) &&
		  strncmp(why, "IPv6 address is too short", 25) == 0,
		  "short AF_INET6: %s", why);
	CHECK(!netpolicy_allows(&policy, NULL, 0, why, sizeof(why)) &&
		  strcmp(why, "no address given") == 0, "NULL address: %s", why);
	CHECK(!netpolicy_allows(&policy, (struct sockaddr *) &sin, 1, why, sizeof(why)),
		  "1-byte address");
	CHECK(!netpolicy_allows(NULL, (struct sockaddr *) &sin, sizeof(sin), why, sizeof(why)) &&
		  strcmp(why, "0.0.0.0 is denied because there is no policy") == 0,
		  "NULL policy: %s", why);

	/* a scope id does not matter; fe80::1%2 is still fe80::1 */
	netpolicy_parse(NETPOLICY_DEFAULT, &policy, err, sizeof(err));
	make_sockaddr("fe80::1", &ss);
	((struct sockaddr_in6 *) &ss)->sin6_scope_id = 2;
	CHECK(!netpolicy_allows(&policy, (struct sockaddr *) &ss, sizeof(struct sockaddr_in6),
							NULL, 0), "fe80::1%%2 must be denied");

	/* addresses need not be aligned */
	make_sockaddr("10.0.0.1", &ss);
	memcpy(unaligned + 1, &ss, sizeof(struct sockaddr_in));
	CHECK(!netpolicy_allows(&policy, (struct sockaddr *) (unaligned + 1),
							sizeof(struct sockaddr_in), why, sizeof(why)),
		  "unaligned 10.0.0.1: %s", why);
	make_sockaddr("::ffff:169.254.169.254", &ss);
	memcpy(unaligned + 1, &ss, sizeof(struct sockaddr_in6));
	CHECK(!netpolicy_allows(&policy, (struct sockaddr *) (unaligned + 1),
							sizeof(struct sockaddr_in6), why, sizeof(why)),
		  "unaligned ::ffff:169.254.169.254: %s", why);

	/* a longer length than needed (sockaddr_storage) is fine */
	make_sockaddr("8.8.8.8", &ss);
	CHECK(netpolicy_allows(&policy, (struct sockaddr *) &ss, sizeof(ss), NULL, 0),
		  "8.8.8.8 with sizeof(sockaddr_storage)");

	/* explanations are truncated safely */
	memset(tiny, 'X', sizeof(tiny));
	make_sockaddr("10.0.0.1", &ss);
	CHECK(!netpolicy_allows(&policy, (struct sockaddr *) &ss, sizeof(struct sockaddr_in),
							tiny, sizeof(tiny)) && strcmp(tiny, "10.0.0.1 ") == 0,
		  "truncated why \"%.10s\"", tiny);
}

/* Text that netpolicy_parse_ip() must accept (family) or reject (0) */
typedef struct IpCase
{
	const char *text;
	int			family;
} IpCase;

static const IpCase ip_cases[] = {
	{"1.2.3.4", AF_INET},
	{"0.0.0.0", AF_INET},
	{"255.255.255.255", AF_INET},
	{"::1", AF_INET6},
	{"::", AF_INET6},
	{"::ffff:10.0.0.1", AF_INET6},
	{"2001:DB8::1", AF_INET6},
	{"1:2:3:4:5:6:7:8", AF_INET6},
	/* non-canonical IPv4 forms: libcurl normalizes these, we do not */
	{"0x7f.1", 0},
	{"0x7f000001", 0},
	{"2130706433", 0},
	{"017700000001", 0},
	{"127.1", 0},
	{"127.0.1", 0},
	{"01.2.3.4", 0},
	{"1.2.3.04", 0},
	{"256.0.0.1", 0},
	{"1.2.3.4.", 0},
	{"1.2.3.4.5", 0},
	{" 1.2.3.4", 0},
	{"1.2.3.4 ", 0},
	{"-1.2.3.4", 0},
	{"[::1]", 0},
	{"fe80::1%eth0", 0},
	{"fe80::1%25eth0", 0},
	{"1::2::3", 0},
	{"1:2:3:4:5:6:7:8:9", 0},
	{"::ffff:01.2.3.4", 0},
	{"example.com", 0},
	{"localhost", 0},
	{"", 0},
	{NULL, 0}
};

static void
run_ip_cases(void)
{
	const IpCase *c;
	struct sockaddr_storage ss;

	for (c = ip_cases; c->text; c++)
	{
		bool		ok = netpolicy_parse_ip(c->text, &ss);

		CHECK(ok == (c->family != 0) && (!ok || ss.ss_family == c->family),
			  "parse_ip \"%s\": got %s family %d", c->text,
			  ok ? "ok" : "rejected", ok ? ss.ss_family : 0);
	}
	CHECK(!netpolicy_parse_ip(NULL, &ss), "parse_ip NULL");
	CHECK(netpolicy_parse_ip("10.0.0.1", &ss) &&
		  ((struct sockaddr_in *) &ss)->sin_port == 0 &&
		  ((struct sockaddr_in *) &ss)->sin_addr.s_addr == htonl(0x0a000001),
		  "parse_ip 10.0.0.1 contents");
}


/* ----------------------------------------------------------------
 *		URLs
 * ----------------------------------------------------------------
 */

#define URL_OK NULL
#define E_LONG "it is longer than 8192 bytes"
#define E_SPACE "it contains a space or control character"
#define E_FORM "it is not a well-formed URL"
#define E_SCHEME "only http and https URLs are allowed"
#define E_NOHOST "it has no host"

typedef struct UrlCase
{
	const char *url;
	const char *message;		/* NULL: accepted */
	const char *host;			/* expected host when accepted, or NULL */
} UrlCase;

static const UrlCase url_cases[] = {
	{"http://example.com/", URL_OK, "example.com"},
	{"https://example.com/path?q=1&r=%20#frag", URL_OK, "example.com"},
	{"http://example.com", URL_OK, "example.com"},
	{"HTTP://EXAMPLE.COM/", URL_OK, "EXAMPLE.COM"},
	{"HtTpS://x.y/", URL_OK, "x.y"},
	{"http://example.com:8080/", URL_OK, "example.com"},
	{"http://user:pass@example.com/", URL_OK, "example.com"},
	{"http://user@example.com/", URL_OK, "example.com"},
	{"http://example.com@10.0.0.1/", URL_OK, "10.0.0.1"},
	{"http://10.0.0.1#@example.com/", URL_OK, "10.0.0.1"},
	{"http://10.0.0.1?@example.com/", URL_OK, "10.0.0.1"},
	{"http://1.2.3.4/", URL_OK, "1.2.3.4"},
	{"http://[::1]:8080/", URL_OK, "::1"},
	{"http://[2001:db8::1]/", URL_OK, "2001:db8::1"},
	{"http://[::ffff:10.0.0.1]/", URL_OK, "::ffff:10.0.0.1"},
	{"http://[64:ff9b::10.0.0.1]/", URL_OK, "64:ff9b::a00:1"},
	{"http://[fe80::1%25eth0]/", URL_OK, "fe80::1"},
	/* unusual IPv4 spellings come back as dotted quads */
	{"http://0x7f.1/", URL_OK, "127.0.0.1"},
	{"http://2130706433/", URL_OK, "127.0.0.1"},
	{"http://017700000001/", URL_OK, "127.0.0.1"},
	{"http://127.1/", URL_OK, "127.0.0.1"},
	{"http://0xa9fea9fe/latest/meta-data/", URL_OK, "169.254.169.254"},
	{"http://0/", URL_OK, "0.0.0.0"},
	{"http://%31%32%37.0.0.1/", URL_OK, "127.0.0.1"},
	/* non-ASCII is left to libcurl */
	{"http://ex\xc3\xa4mple.com/", URL_OK, "ex\xc3\xa4mple.com"},
	{"http://example.com/\xc3\xbc", URL_OK, "example.com"},
	{"http://xn--exmple-cua.com/", URL_OK, "xn--exmple-cua.com"},

	/* schemes */
	{"ftp://example.com/", E_SCHEME, NULL},
	{"FTP://example.com/", E_SCHEME, NULL},
	{"file:///etc/passwd", E_SCHEME, NULL},
	{"gopher://example.com:70/_GET", E_SCHEME, NULL},
	{"dict://example.com:11211/stat", E_SCHEME, NULL},
	{"ldap://example.com/", E_SCHEME, NULL},
	{"ws://example.com/", E_SCHEME, NULL},
	{"httpx://example.com/", E_SCHEME, NULL},
	{"javascript:alert(1)", E_FORM, NULL},
	{"data:text/plain,hi", E_FORM, NULL},

	/* malformed or without a host */
	{"", E_FORM, NULL},
	{"http://", E_NOHOST, NULL},
	/* libcurl would take these for http://path/ and http://127.0.0.1/ */
	{"http:///path", E_NOHOST, NULL},
	{"http:/127.0.0.1/", E_NOHOST, NULL},
	{"HTTPS:///x", E_NOHOST, NULL},
	{"https:////example.com/", E_NOHOST, NULL},
	{"http://?x=1", E_NOHOST, NULL},
	{"http://#frag", E_NOHOST, NULL},
	{"http:\\\\example.com\\", E_NOHOST, NULL},
	{"http:/\\example.com/", E_NOHOST, NULL},
	{"http://@/", E_FORM, NULL},
	{"https://:80/", E_FORM, NULL},
	{"example.com", E_FORM, NULL},
	{"//example.com/", E_FORM, NULL},
	{"http:example.com", E_NOHOST, NULL},
	{"http://example.com:99999/", E_FORM, NULL},
	{"http://example.com:80:80/", E_FORM, NULL},
	{"http://[v1.x]/", E_FORM, NULL},
	{"http://[::1/", E_FORM, NULL},
	{"http://%00/", E_FORM, NULL},
	{"http://exa%2fmple/", E_FORM, NULL},
	{"http://user:pass@evil.com@10.0.0.1/", E_FORM, NULL},

	/* spaces and control characters */
	{"http://a b/", E_SPACE, NULL},
	{" http://example.com/", E_SPACE, NULL},
	{"http://example.com/ ", E_SPACE, NULL},
	{"http://example.com/\r\nHost: evil", E_SPACE, NULL},
	{"http://example.com/\n", E_SPACE, NULL},
	{"http://exa\tmple.com/", E_SPACE, NULL},
	{"http://example.com/\x01", E_SPACE, NULL},
	{"http://example.com/\x1b[0m", E_SPACE, NULL},
	{"http://example.com/\x7f", E_SPACE, NULL},
	{NULL, NULL, NULL}
};

static void
run_url_cases(void)
{
	const UrlCase *c;
	char		host[JOBSCHED_MAX_URL_LENGTH + 1];
	static char big[JOBSCHED_MAX_URL_LENGTH + 100];
	const char *msg;
	size_t		prefix_len;

	for (c = url_cases; c->url; c++)
	{
		strcpy(host, "unchanged");
		msg = validate_url(c->url, host, sizeof(host));
		if (c->message == NULL)
			CHECK(msg == NULL && (c->host == NULL || strcmp(host, c->host) == 0),
				  "url \"%s\": got \"%s\", host \"%s\", expected host \"%s\"",
				  c->url, show(msg), host, show(c->host));
		else
			CHECK(msg != NULL && strcmp(msg, c->message) == 0,
				  "url \"%s\": got \"%s\", expected \"%s\"",
				  c->url, show(msg), c->message);
		/* without a host buffer, the same verdict */
		if ((validate_url(c->url, NULL, 0) == NULL) != (c->message == NULL))
			CHECK(false, "url \"%s\": different verdict without host buffer", c->url);
	}

	CHECK(validate_url(NULL, NULL, 0) != NULL &&
		  strcmp(validate_url(NULL, NULL, 0), E_FORM) == 0, "NULL url");

	/* the length limit: 8192 bytes are fine, 8193 are not */
	strcpy(big, "http://example.com/");
	prefix_len = strlen(big);
	memset(big + prefix_len, 'a', JOBSCHED_MAX_URL_LENGTH - prefix_len);
	big[JOBSCHED_MAX_URL_LENGTH] = '\0';
	msg = validate_url(big, host, sizeof(host));
	CHECK(msg == NULL && strcmp(host, "example.com") == 0,
		  "8192-byte URL: %s", show(msg));
	big[JOBSCHED_MAX_URL_LENGTH] = 'a';
	big[JOBSCHED_MAX_URL_LENGTH + 1] = '\0';
	msg = validate_url(big, host, sizeof(host));
	CHECK(msg && strcmp(msg, E_LONG) == 0, "8193-byte URL: %s", show(msg));
	/* length is checked before characters */
	big[10] = ' ';
	msg = validate_url(big, host, sizeof(host));
	CHECK(msg && strcmp(msg, E_LONG) == 0, "8193-byte URL with space: %s", show(msg));
	big[10] = 'a';
	/* a huge host name */
	strcpy(big, "http://");
	memset(big + 7, 'h', 8000);
	strcpy(big + 8007, ".com/");
	msg = validate_url(big, host, sizeof(host));
	CHECK(msg == NULL && strlen(host) == 8004, "8000-byte host: %s", show(msg));

	/* a host buffer that is too small is an error, never a truncation */
	msg = validate_url("http://example.com/", host, 11);
	CHECK(msg && strcmp(msg, "its host is too long for the buffer") == 0,
		  "host buffer 11: %s", show(msg));
	msg = validate_url("http://example.com/", host, 12);
	CHECK(msg == NULL && strcmp(host, "example.com") == 0,
		  "host buffer 12: %s", show(msg));
	msg = validate_url("http://[::1]/", host, 4);
	CHECK(msg == NULL && strcmp(host, "::1") == 0,
		  "host buffer 4 for [::1]: %s", show(msg));
}

/*
 * URLs through validate_url(), netpolicy_parse_ip() and the default policy,
 * as the SQL API and the worker will use them.
 */
typedef struct UrlPolicyCase
{
	const char *url;
	int			verdict;		/* 1 allowed, 0 denied, -1 not an IP literal */
} UrlPolicyCase;

static const UrlPolicyCase url_policy_cases[] = {
	{"http://0x7f.1/", 1},
	{"http://2130706433/", 1},
	{"http://017700000001/", 1},
	{"http://0xa9fea9fe/", 0},
	{"http://169.254.169.254/latest/meta-data/", 0},
	{"http://0251.0376.0251.0376/", 0},
	{"http://[::ffff:169.254.169.254]/", 0},
	{"http://[::ffff:a9fe:a9fe]/", 0},
	{"http://[64:ff9b::169.254.169.254]/", 0},
	{"http://[fd00:ec2::254]/", 0},
	{"http://[fe80::1%25eth0]/", 0},
	{"http://10.0.0.1/", 0},
	{"http://example.com@10.0.0.1/", 0},
	{"http://10.1/", 0},
	{"http://0/", 0},
	{"http://[::]/", 0},
	{"http://[::1]/", 1},
	{"http://8.8.8.8/", 1},
	{"http://[2001:4860:4860::8888]/", 1},
	{"http://example.com/", -1},
	{"http://localhost/", -1},
	{"http://127.0.0.1./", -1},
	{NULL, 0}
};

static void
run_url_policy_cases(void)
{
	const UrlPolicyCase *c;
	NetPolicy	policy;
	char		err[NETPOLICY_ERRBUF_SIZE];

	netpolicy_parse(NETPOLICY_DEFAULT, &policy, err, sizeof(err));
	for (c = url_policy_cases; c->url; c++)
	{
		char		host[256];
		char		why[NETPOLICY_ERRBUF_SIZE] = "";
		struct sockaddr_storage ss;
		const char *msg = validate_url(c->url, host, sizeof(host));
		int			verdict;

		if (msg)
		{
			CHECK(false, "url \"%s\" rejected: %s", c->url, msg);
			continue;
		}
		if (!netpolicy_parse_ip(host, &ss))
			verdict = -1;
		else
			verdict = netpolicy_allows_text(&policy, host, why, sizeof(why)) ? 1 : 0;
		CHECK(verdict == c->verdict, "url \"%s\" (host \"%s\"): got %d, expected %d (%s)",
			  c->url, host, verdict, c->verdict, why);
	}
}


/* ----------------------------------------------------------------
 *		Headers
 * ----------------------------------------------------------------
 */

typedef struct HeaderCase
{
	const char *name;
	const char *value;
	const char *message;		/* NULL: accepted */
} HeaderCase;

static const HeaderCase header_cases[] = {
	{"X-Token", "abc", NULL},
	{"Authorization", "Bearer eyJhbGciOi.x.y", NULL},
	{"Content-Type", "application/json; charset=utf-8", NULL},
	{"x", "", NULL},
	{"!#$%&'*+-.^_`|~09AZaz", "v", NULL},
	{"X-Tab", "a\tb", NULL},
	{"X-Utf8", "gr\xc3\xbc\xc3\x9f dich", NULL},
	{"Accept", " leading and trailing spaces ", NULL},
	{"X-Host", "h", NULL},
	{"Host2", "h", NULL},
	{"Hos", "h", NULL},
	{"Content-Type2", "h", NULL},
	{"Keep-Alive", "timeout=5", NULL},

	/* names */
	{"", "v", "invalid header name \"\""},
	{"X Token", "v", "invalid header name \"X Token\""},
	{"X:Token", "v", "invalid header name \"X:Token\""},
	{"X-Token:", "v", "invalid header name \"X-Token:\""},
	{"X\r\nInjected: 1", "v", "invalid header name \"X??Injected: 1\""},
	{"X\n", "v", "invalid header name \"X?\""},
	{"\xc3\x9cml\xc3\xa4ut", "v", "invalid header name \"\xc3\x9cml\xc3\xa4ut\""},
	{"(x)", "v", "invalid header name \"(x)\""},
	{"x@y", "v", "invalid header name \"x@y\""},
	{"a/b", "v", "invalid header name \"a/b\""},
	{"[x]", "v", "invalid header name \"[x]\""},
	{"{x}", "v", "invalid header name \"{x}\""},
	{"x=y", "v", "invalid header name \"x=y\""},
	{"x;y", "v", "invalid header name \"x;y\""},
	{"x,y", "v", "invalid header name \"x,y\""},
	{"x?y", "v", "invalid header name \"x?y\""},
	{"x\"y", "v", "invalid header name \"x\"y\""},
	{"x\\y", "v", "invalid header name \"x\\y\""},
	{"x<y>", "v", "invalid header name \"x<y>\""},
	{"\x7f", "v", "invalid header name \"?\""},
	{"X\tY", "v", "invalid header name \"X?Y\""},
	{"Host ", "v", "invalid header name \"Host \""},
	{" Host", "v", "invalid header name \" Host\""},

	/* values */
	{"X-Evil", "a\r\nX-Injected: 1", "header \"X-Evil\" must not contain line breaks"},
	{"X-Evil", "a\n", "header \"X-Evil\" must not contain line breaks"},
	{"X-Evil", "\r", "header \"X-Evil\" must not contain line breaks"},
	{"X-Evil", "a\rb", "header \"X-Evil\" must not contain line breaks"},
	{"X-Ctl", "\x01", "header \"X-Ctl\" must not contain control characters"},
	{"X-Ctl", "a\x1b[31mred", "header \"X-Ctl\" must not contain control characters"},
	{"X-Ctl", "a\x7f", "header \"X-Ctl\" must not contain control characters"},
	{"X-Ctl", "\x0b\x0c", "header \"X-Ctl\" must not contain control characters"},
	{"X-Null", NULL, "header \"X-Null\" must be a string, not null"},

	/* reserved names, in any case, quoted as given */
	{"Host", "evil.com", "header \"Host\" is set by jobsched and cannot be given"},
	{"host", "evil.com", "header \"host\" is set by jobsched and cannot be given"},
	{"HOST", "evil.com", "header \"HOST\" is set by jobsched and cannot be given"},
	{"Idempotency-Key", "k", "header \"Idempotency-Key\" is set by jobsched and cannot be given"},
	{"idempotency-KEY", "k", "header \"idempotency-KEY\" is set by jobsched and cannot be given"},
	{"Content-Length", "0", "header \"Content-Length\" is set by jobsched and cannot be given"},
	{"Transfer-Encoding", "chunked", "header \"Transfer-Encoding\" is set by jobsched and cannot be given"},
	{"Connection", "close", "header \"Connection\" is set by jobsched and cannot be given"},
	{"CONNECTION", "keep-alive", "header \"CONNECTION\" is set by jobsched and cannot be given"},
	{"Expect", "100-continue", "header \"Expect\" is set by jobsched and cannot be given"},
	{"Host", "", "header \"Host\" is set by jobsched and cannot be given"},
	/* checks run in the SQL trigger's order: value before reserved name */
	{"Host", "a\r\nb", "header \"Host\" must not contain line breaks"},
	{NULL, NULL, NULL}
};

static void
run_header_cases(void)
{
	const HeaderCase *c;
	char		buf[VALIDATE_ERRBUF_SIZE];
	static char name[1024];
	static char value[JOBSCHED_MAX_HEADER_VALUE + 100];
	const char *msg;
	char		tiny[8];

	for (c = header_cases; c->name; c++)
	{
		memset(buf, 0, sizeof(buf));
		msg = validate_header(c->name, c->value, buf, sizeof(buf));
		if (c->message == NULL)
			CHECK(msg == NULL, "header \"%s\": got \"%s\", expected acceptance",
				  c->name, show(msg));
		else
			CHECK(msg != NULL && strcmp(msg, c->message) == 0,
				  "header \"%s\": got \"%s\", expected \"%s\"",
				  c->name, show(msg), c->message);
	}

	CHECK((msg = validate_header(NULL, "v", buf, sizeof(buf))) != NULL &&
		  strcmp(msg, "invalid header name \"\"") == 0, "NULL name: %s", show(msg));

	/* name length: 256 is fine, 257 is not */
	memset(name, 'n', 256);
	name[256] = '\0';
	msg = validate_header(name, "v", buf, sizeof(buf));
	CHECK(msg == NULL, "256-byte name: %s", show(msg));
	name[256] = 'n';
	name[257] = '\0';
	msg = validate_header(name, "v", buf, sizeof(buf));
	CHECK(msg && strcmp(msg, "header name is longer than 256 bytes") == 0,
		  "257-byte name: %s", show(msg));
	/* a bad byte early in a long name is reported, and the name is cut */
	name[10] = ' ';
	msg = validate_header(name, "v", buf, sizeof(buf));
	CHECK(msg && strcmp(msg, "invalid header name \"nnnnnnnnnn "
						"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn...\"") == 0,
		  "long bad name: %s", show(msg));
	name[10] = 'n';
	memset(name, 'n', 600);
	name[599] = ' ';
	name[600] = '\0';
	msg = validate_header(name, "v", buf, sizeof(buf));
	CHECK(msg && strcmp(msg, "header name is longer than 256 bytes") == 0,
		  "600-byte name with a late space: %s", show(msg));

	/* value length: 8192 is fine, 8193 is not */
	memset(value, 'v', JOBSCHED_MAX_HEADER_VALUE);
	value[JOBSCHED_MAX_HEADER_VALUE] = '\0';
	msg = validate_header("X-Big", value, buf, sizeof(buf));
	CHECK(msg == NULL, "8192-byte value: %s", show(msg));
	value[JOBSCHED_MAX_HEADER_VALUE] = 'v';
	value[JOBSCHED_MAX_HEADER_VALUE + 1] = '\0';
	msg = validate_header("X-Big", value, buf, sizeof(buf));
	CHECK(msg && strcmp(msg, "header \"X-Big\" value is longer than 8192 bytes") == 0,
		  "8193-byte value: %s", show(msg));
	/* a line break at the end of a maximal value */
	value[JOBSCHED_MAX_HEADER_VALUE - 1] = '\n';
	value[JOBSCHED_MAX_HEADER_VALUE] = '\0';
	msg = validate_header("X-Big", value, buf, sizeof(buf));
	CHECK(msg && strcmp(msg, "header \"X-Big\" must not contain line breaks") == 0,
		  "line break at byte 8192: %s", show(msg));

	/* without a buffer: a static message without the name */
	msg = validate_header("Host", "h", NULL, 0);
	CHECK(msg && strcmp(msg, "header is set by jobsched and cannot be given") == 0,
		  "no buffer, Host: %s", show(msg));
	msg = validate_header("a b", "h", NULL, 0);
	CHECK(msg && strcmp(msg, "invalid header name") == 0, "no buffer, bad name: %s",
		  show(msg));
	msg = validate_header("X", "a\nb", NULL, 0);
	CHECK(msg && strcmp(msg, "header must not contain line breaks") == 0,
		  "no buffer, line break: %s", show(msg));
	CHECK(validate_header("X", "ok", NULL, 0) == NULL, "no buffer, fine header");

	/* a small buffer truncates */
	memset(tiny, 'X', sizeof(tiny));
	msg = validate_header("Host", "h", tiny, sizeof(tiny));
	CHECK(msg == tiny && strcmp(tiny, "header ") == 0, "tiny buffer: \"%.8s\"", tiny);
}

int
main(void)
{
	run_parse_cases();
	run_allow_cases();
	sweep_prefixes(AF_INET);
	sweep_prefixes(AF_INET6);
	run_sockaddr_cases();
	run_ip_cases();
	run_url_cases();
	run_url_policy_cases();
	run_header_cases();
	return check_report();
}
