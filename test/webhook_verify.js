#!/usr/bin/env node
/*
 * test/webhook_verify.js
 *	  Checks the signed requests of a test sink log (test/sink.py) with an
 *	  independent implementation of Standard Webhooks: the npm package
 *	  standardwebhooks (pinned in test/node/package.json; install it with
 *	  `npm ci --prefix test/node`), as a receiver would.
 *
 * Usage:
 *   node test/webhook_verify.js --log FILE [--secret whsec_...]...
 *        [--path-prefix P] [--no-unsigned] [--allow-truncated]
 *        [--now] [--max-skew SECONDS] [--no-idempotency-check]
 *
 * Every request of the log (one JSON object a line: t, path,
 * idempotency_key, headers lower-cased, body = its first 4096 characters,
 * body_len in bytes) whose path starts with --path-prefix (default: all)
 * is
 *   unsigned	if it has none of webhook-id, webhook-timestamp and
 *				webhook-signature;
 *   verified	if `new Webhook(secret).verify(body, headers)` accepts it for
 *				one of the secrets (--secret, repeatable; or the environment
 *				variable WEBHOOK_SECRET), and its webhook-id is its
 *				Idempotency-Key (unless --no-idempotency-check);
 *   failed		otherwise, with the reason: a header missing, no secret
 *				verifying it, webhook-id not the Idempotency-Key, a
 *				timestamp further than --max-skew seconds from the
 *				arrival, or a body the log does not hold whole (body_len
 *				bytes, more than the 4096 characters kept; with
 *				--allow-truncated these count as "truncated" instead).
 * --no-unsigned makes unsigned requests failures too.
 *
 * verify() refuses timestamps more than 5 minutes from "now".  Now is
 * taken as each request's arrival time in the log (so that a log can be
 * checked later), or the clock with --now.
 *
 * Prints a JSON summary on stdout:
 *   {"verified": N, "failed": N, "unsigned": N, "truncated": N,
 *    "ignored": N, "max_skew": seconds or null, "standardwebhooks": version,
 *    "failures": [{"line": N, "path": ..., "webhook_id": ..., "reason": ...},
 *                 ...the first 50]}
 * and exits 0 if nothing failed, 1 if something did, 2 on a usage error or
 * when the package or the log cannot be read.  Secrets are never printed.
 */
"use strict";

const fs = require("fs");
const path = require("path");

function usage(message) {
	process.stderr.write("webhook_verify.js: " + message + "\n" +
		"usage: node test/webhook_verify.js --log FILE [--secret whsec_...]... [--path-prefix P]\n" +
		"       [--no-unsigned] [--allow-truncated] [--now] [--max-skew SECONDS] [--no-idempotency-check]\n");
	process.exit(2);
}

const opts = {
	log: null,
	secrets: [],
	prefix: "",
	noUnsigned: false,
	allowTruncated: false,
	now: false,
	maxSkew: null,
	idempotencyCheck: true,
};
for (let i = 2; i < process.argv.length; i++) {
	const a = process.argv[i];
	const value = () => {
		if (i + 1 >= process.argv.length)
			usage(a + " needs a value");
		return process.argv[++i];
	};
	if (a === "--log")
		opts.log = value();
	else if (a === "--secret")
		opts.secrets.push(value());
	else if (a === "--path-prefix")
		opts.prefix = value();
	else if (a === "--no-unsigned")
		opts.noUnsigned = true;
	else if (a === "--allow-truncated")
		opts.allowTruncated = true;
	else if (a === "--now")
		opts.now = true;
	else if (a === "--max-skew") {
		opts.maxSkew = Number(value());
		if (!Number.isFinite(opts.maxSkew) || opts.maxSkew < 0)
			usage("--max-skew needs a number of seconds");
	} else if (a === "--no-idempotency-check")
		opts.idempotencyCheck = false;
	else
		usage("unknown argument " + JSON.stringify(a));
}
if (!opts.log)
	usage("--log is required");
if (opts.secrets.length === 0 && process.env.WEBHOOK_SECRET)
	opts.secrets.push(process.env.WEBHOOK_SECRET);
if (opts.secrets.length === 0)
	usage("no secret: give --secret or set WEBHOOK_SECRET");

let Webhook, version;
try {
	const paths = [path.join(__dirname, "node"), __dirname];
	({ Webhook } = require(require.resolve("standardwebhooks", { paths })));
	version = require(require.resolve("standardwebhooks/package.json", { paths })).version;
} catch (e) {
	process.stderr.write("webhook_verify.js: npm package standardwebhooks not found " +
		"(npm ci --prefix test/node): " + e.message + "\n");
	process.exit(2);
}

const hooks = opts.secrets.map((s, i) => {
	try {
		return new Webhook(s);
	} catch (e) {
		/* the message of standardwebhooks does not quote the secret */
		usage(`secret ${i + 1} is refused by standardwebhooks: ${e.message}`);
	}
});

let text;
try {
	text = fs.readFileSync(opts.log, "utf8");
} catch (e) {
	process.stderr.write("webhook_verify.js: cannot read the log: " + e.message + "\n");
	process.exit(2);
}

const summary = {
	verified: 0,
	failed: 0,
	unsigned: 0,
	truncated: 0,
	ignored: 0,
	max_skew: null,
	standardwebhooks: version,
	failures: [],
};
const MAX_FAILURES_LISTED = 50;

function fail(lineno, rec, reason) {
	summary.failed++;
	if (summary.failures.length < MAX_FAILURES_LISTED)
		summary.failures.push({
			line: lineno,
			path: rec && typeof rec.path === "string" ? rec.path : null,
			webhook_id: rec && rec.headers ? rec.headers["webhook-id"] || null : null,
			reason: reason,
		});
}

/* verify() with "now" at t (Unix seconds), or the clock when t is null */
function verifyAt(hook, body, headers, t) {
	const realNow = Date.now;
	if (t !== null)
		Date.now = () => Math.round(t * 1000);
	try {
		hook.verify(body, headers, { jsonParse: false });
	} finally {
		Date.now = realNow;
	}
}

const lines = text.split("\n");
for (let n = 0; n < lines.length; n++) {
	const lineno = n + 1;
	if (lines[n].trim() === "")
		continue;
	let rec;
	try {
		rec = JSON.parse(lines[n]);
	} catch (e) {
		fail(lineno, null, "not a JSON line: " + e.message);
		continue;
	}
	if (typeof rec.path !== "string" || !rec.path.startsWith(opts.prefix)) {
		summary.ignored++;
		continue;
	}
	const headers = rec.headers || {};
	const names = ["webhook-id", "webhook-timestamp", "webhook-signature"];
	const present = names.filter((h) => typeof headers[h] === "string");
	if (present.length === 0) {
		summary.unsigned++;
		if (opts.noUnsigned)
			fail(lineno, rec, "unsigned: no webhook-* header");
		continue;
	}
	if (present.length < names.length) {
		fail(lineno, rec, "missing " + names.filter((h) => !present.includes(h)).join(", "));
		continue;
	}

	const body = typeof rec.body === "string" ? rec.body : "";
	const logged = Buffer.byteLength(body, "utf8");
	if (logged !== rec.body_len) {
		if (opts.allowTruncated)
			summary.truncated++;
		else
			fail(lineno, rec, `body not whole in the log (${logged} of ${rec.body_len} bytes): cannot verify`);
		continue;
	}

	const ts = Number(headers["webhook-timestamp"]);
	const t = typeof rec.t === "number" ? rec.t : null;
	if (Number.isInteger(ts) && t !== null) {
		const skew = Math.abs(ts - t);
		if (summary.max_skew === null || skew > summary.max_skew)
			summary.max_skew = Math.round(skew * 1000) / 1000;
		if (opts.maxSkew !== null && skew > opts.maxSkew) {
			fail(lineno, rec, `webhook-timestamp ${ts} is ${skew.toFixed(3)} s from the arrival (more than ${opts.maxSkew})`);
			continue;
		}
	}

	const errors = [];
	let ok = false;
	for (const hook of hooks) {
		try {
			verifyAt(hook, body, headers, opts.now ? null : t);
			ok = true;
			break;
		} catch (e) {
			errors.push(e.message);
		}
	}
	if (!ok) {
		fail(lineno, rec, "standardwebhooks: " + [...new Set(errors)].join("; "));
		continue;
	}
	if (opts.idempotencyCheck && rec.idempotency_key !== headers["webhook-id"]) {
		fail(lineno, rec, `webhook-id is not the Idempotency-Key (${JSON.stringify(rec.idempotency_key)})`);
		continue;
	}
	summary.verified++;
}

process.stdout.write(JSON.stringify(summary) + "\n");
process.exit(summary.failed > 0 ? 1 : 0);
