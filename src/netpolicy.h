/*-------------------------------------------------------------------------
 *
 * netpolicy.h
 *	  Network policy for jobsched: which IP addresses the background worker
 *	  may connect to.
 *
 * Jobs are created by ordinary users, but the requests are sent by the
 * server.  Without a policy any user could make the database server reach
 * hosts that only it can reach: the cloud metadata service at
 * 169.254.169.254, internal admin interfaces on private networks, and so on
 * (server-side request forgery).  The superuser-only GUC
 * jobsched.network_policy holds the policy text parsed here.
 *
 * Like cron.c, this module is free of PostgreSQL dependencies: it uses only
 * the C library and the POSIX socket headers, allocates no memory, keeps no
 * global state and never aborts, so that it can run inside a backend and
 * also be unit-tested and fuzzed as a standalone program.
 *
 * Syntax
 * ------
 * An ordered, comma-separated list of rules; the first rule that matches an
 * address decides.  Each rule is "allow" or "deny" followed by "all" or by
 * an IPv4 or IPv6 address with an optional "/prefix" (without one the rule
 * covers a single host).  Keywords are case-insensitive and whitespace
 * around rules and between the two words of a rule is ignored.  The address
 * must be written as inet_pton() accepts it, with the host bits beyond the
 * prefix all zero ("10.0.0.1/8" is an error; write "10.0.0.0/8").  An empty
 * policy and empty rules (",,", or a trailing comma) are errors.  An address
 * that matches no rule is denied, so a policy normally ends with "allow all"
 * or "deny all".
 *
 * IPv6 addresses that carry an IPv4 address
 * -----------------------------------------
 * Some IPv6 addresses are only another spelling of an IPv4 destination; if
 * IPv4 rules did not apply to them, "deny 10.0.0.0/8" could be bypassed
 * with a DNS name resolving to ::ffff:10.0.0.1.  These are matched by IPv4
 * rules as the IPv4 address in their last 32 bits:
 *
 *	  ::ffff:0:0/96		IPv4-mapped (RFC 4291): a dual-stack socket connects
 *						to the IPv4 address itself.
 *	  ::/96				IPv4-compatible (deprecated; RFC 4291), except :: and
 *						::1, which are the unspecified and loopback
 *						addresses.  Linux can still route these through
 *						automatic sit tunnels.
 *	  64:ff9b::/96		NAT64 well-known prefix (RFC 6052): a NAT64
 *						gateway forwards to the IPv4 address.
 *
 * Such an address is also matched by IPv6 rules that lie entirely within
 * its /96 (prefix 96 or longer), so that "deny 64:ff9b::/96" blocks NAT64
 * and "deny ::/96" blocks the IPv4-compatible range; broader IPv6 rules
 * ("::/0", "::/64", ...) describe IPv6 networks and never match them, so
 * that "allow ::/0, deny all" does not let ::ffff:10.0.0.1 through.  A rule
 * written in the IPv4-mapped form is an IPv4 rule: "deny ::ffff:10.0.0.0/104"
 * is the same as "deny 10.0.0.0/8" (and "::ffff:0:0/96" means all of IPv4).
 * Otherwise an IPv4 rule never matches an IPv6 address, nor the reverse.
 *
 * Not recognised as carrying an IPv4 address: NAT64 network-specific
 * prefixes (including the local-use 64:ff9b:1::/48 of RFC 8215, whose
 * layout depends on the network), 6to4 (2002::/16), Teredo (2001::/32) and
 * the SIIT "IPv4-translated" form ::ffff:0:0:0/96.  Networks that use them
 * should deny them explicitly.
 *
 * Default policy
 * --------------
 * NETPOLICY_DEFAULT denies the "this network", private (RFC 1918), shared
 * address space (CGNAT), link-local (including the cloud metadata service
 * 169.254.169.254), IETF protocol assignments, benchmarking, multicast and
 * reserved IPv4 ranges, and the IPv6 unspecified, unique local (including
 * AWS's fd00:ec2::254), link-local and multicast ranges; everything else is
 * allowed.  Loopback (127.0.0.0/8 and ::1) is deliberately not denied: a
 * job calling a service on the database host is common and is no more than
 * the host's own users can do.  Sites that want to forbid it put
 * "deny 127.0.0.0/8, deny ::1" at the front; the other ways of reaching
 * the local host, 0.0.0.0 and :: (which Linux connects to the loopback
 * interface) and the IPv4-mapped and -compatible forms of 127.0.0.1, are
 * then covered by the default rules and by the matching described above.
 *
 * Where to check
 * --------------
 * Checking the host of a URL is not enough: a DNS name can resolve to any
 * address, differently each time (DNS rebinding), and redirects lead
 * elsewhere.  The worker must check every address it actually connects to,
 * from libcurl's CURLOPT_OPENSOCKETFUNCTION, which sees the resolved
 * sockaddr of each connection (including proxies and redirect targets).
 * netpolicy_allows_text() on a URL's IP literal host is only an early check
 * that gives a better error when a job is created.
 *
 * src/netpolicy.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef JOBSCHED_NETPOLICY_H
#define JOBSCHED_NETPOLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <netinet/in.h>

/* Most rules a policy may have */
#define NETPOLICY_MAX_RULES 64

/*
 * Buffers of this size always hold a complete netpolicy_parse() error
 * message or netpolicy_allows() explanation; smaller ones get a truncated,
 * still NUL-terminated message.
 */
#define NETPOLICY_ERRBUF_SIZE 256

typedef struct NetPolicyRule
{
	bool		allow;			/* allow or deny */
	int			family;			/* 0 = all, AF_INET or AF_INET6 */
	unsigned char addr[16];		/* network address, network byte order; 4
								 * bytes used for AF_INET; host bits zero */
	int			prefix;			/* 0-32 for AF_INET, 0-128 for AF_INET6 */
} NetPolicyRule;

typedef struct NetPolicy
{
	int			nrules;
	NetPolicyRule rules[NETPOLICY_MAX_RULES];
} NetPolicy;

/* The value of jobsched.network_policy unless the administrator sets one */
#define NETPOLICY_DEFAULT \
	"deny 0.0.0.0/8, deny 10.0.0.0/8, deny 100.64.0.0/10, " \
	"deny 169.254.0.0/16, deny 172.16.0.0/12, deny 192.168.0.0/16, " \
	"deny 192.0.0.0/24, deny 198.18.0.0/15, deny 224.0.0.0/4, " \
	"deny 240.0.0.0/4, deny ::/128, deny fc00::/7, deny fe80::/10, " \
	"deny ff00::/8, allow all"

/*
 * Parse policy text.  On success fill *policy and return true.  On error
 * return false, leave *policy untouched (so a GUC check hook can keep the
 * old value) and write a message into err (truncated to errlen bytes; err
 * may be NULL) naming the rule, for example
 *	  rule 3 "deny 10.0.0.0/33": prefix 33 out of range 0-32
 * Quoted user input is cut to 48 bytes and anything but printable ASCII in
 * it is shown as '?', so messages are printable ASCII.
 */
extern bool netpolicy_parse(const char *text, NetPolicy *policy,
							char *err, size_t errlen);

/*
 * May the worker connect to addr?  Only AF_INET and AF_INET6 addresses of at
 * least sizeof(struct sockaddr_in) / sizeof(struct sockaddr_in6) bytes can
 * be allowed; anything else is denied.  Unless why is NULL, an explanation
 * is written into it either way, such as
 *	  10.1.2.3 is denied by rule 2 "deny 10.0.0.0/8"
 *	  ::ffff:10.1.2.3 (IPv4 10.1.2.3) is denied by rule 2 "deny 10.0.0.0/8"
 *	  2001:db8::1 is denied because it matches no rule
 * Rules are shown in canonical form, which may differ in spelling from the
 * policy text ("DENY  10.0.0.1/32" is shown as "deny 10.0.0.1").
 */
extern bool netpolicy_allows(const NetPolicy *policy,
							 const struct sockaddr *addr, socklen_t len,
							 char *why, size_t whylen);

/*
 * The same for an IP address in text form, as accepted by
 * netpolicy_parse_ip().  Text that is not an IP address (such as a DNS name)
 * is denied, with an explanation; callers that need to tell the two apart
 * call netpolicy_parse_ip() first.
 */
extern bool netpolicy_allows_text(const NetPolicy *policy,
								  const char *ip_literal,
								  char *why, size_t whylen);

/*
 * Is text an IP address?  Accepts only the canonical forms of inet_pton():
 * a dotted quad of four decimal numbers without leading zeros, or an IPv6
 * address without brackets or zone.  On success fill *out (sin_family /
 * sin6_family and the address; port zero) and return true.
 *
 * Unusual IPv4 spellings in URLs ("0x7f.1", "2130706433", "017700000001")
 * are rejected here, which is safe only because libcurl normalizes them to
 * dotted quads: pass the host as returned by validate_url(), never text cut
 * out of the URL by other means.
 */
extern bool netpolicy_parse_ip(const char *text, struct sockaddr_storage *out);

#endif							/* JOBSCHED_NETPOLICY_H */
