#!/usr/bin/env node
/*
 * test/webhook_vectors.js
 *	  Known answers for src/signing.c, computed at test time by an
 *	  independent implementation of Standard Webhooks: the npm package
 *	  standardwebhooks (pinned in test/node/package.json; install it with
 *	  `npm ci --prefix test/node`).  test/signing_test.c reads them.
 *
 * Usage: node test/webhook_vectors.js [--seed N] [--random N] > FILE
 *
 * Prints one vector a line, fields separated by single spaces, strings
 * that may hold spaces or arbitrary bytes in hex:
 *
 *   sign NAME SECRET MSG_ID TIMESTAMP BODY_HEX SIGNATURE
 *	  SIGNATURE is what standardwebhooks' Webhook#sign() gives for the
 *	  secret, id, timestamp and body (a UTF-8 string; BODY_HEX is its
 *	  UTF-8 bytes, "-" when empty).
 *   rawsign NAME SECRET MSG_ID TIMESTAMP BODY_HEX SIGNATURE
 *	  The same for a body that is not UTF-8, which Webhook#sign() cannot
 *	  take (it turns a Buffer into a string, replacing invalid bytes):
 *	  computed with the package's own primitives (fast-sha256's HMAC and
 *	  @stablelib/base64) over the raw bytes, as the specification says.
 *   secret NAME KIND JS_OK KEY_HEX SECRET_HEX
 *	  A candidate secret (SECRET_HEX: its UTF-8 text; "-" when empty).
 *	  JS_OK is 1 if `new Webhook(secret)` accepts it, KEY_HEX then the
 *	  key it decodes ("-" otherwise).  KIND is "canon" for
 *	  "whsec_" + base64(key) as the package encodes it, which jobsched
 *	  must accept exactly when the key has 16 to 256 bytes, and "mut" for
 *	  a mutation of such a secret, which jobsched may refuse but must
 *	  decode to the same key if it accepts it.
 *   # comment
 *
 * Fixed vectors come first; then --random N (default 40) random ones from
 * a PRNG seeded with --seed (default: the clock), which the first line
 * prints so that a failure can be replayed.
 */
"use strict";

const path = require("path");

function load(name) {
	return require(require.resolve(name, {
		paths: [path.join(__dirname, "node"), __dirname],
	}));
}

let Webhook, base64, sha256, version;
try {
	({ Webhook } = load("standardwebhooks"));
	const pkgdir = path.dirname(require.resolve("standardwebhooks/package.json", {
		paths: [path.join(__dirname, "node"), __dirname],
	}));
	version = require(path.join(pkgdir, "package.json")).version;
	/* the package's own dependencies, from where it resolves them */
	base64 = require(require.resolve("@stablelib/base64", { paths: [pkgdir] }));
	sha256 = require(require.resolve("fast-sha256", { paths: [pkgdir] }));
} catch (e) {
	process.stderr.write("webhook_vectors.js: npm package standardwebhooks not found " +
		"(npm ci --prefix test/node): " + e.message + "\n");
	process.exit(2);
}

let seed = Date.now() % 1000000;
let nrandom = 40;
for (let i = 2; i < process.argv.length; i++) {
	if (process.argv[i] === "--seed" && i + 1 < process.argv.length)
		seed = parseInt(process.argv[++i], 10);
	else if (process.argv[i] === "--random" && i + 1 < process.argv.length)
		nrandom = parseInt(process.argv[++i], 10);
	else {
		process.stderr.write("usage: node test/webhook_vectors.js [--seed N] [--random N]\n");
		process.exit(2);
	}
}

/* mulberry32: small, seedable, good enough for test data */
function prng(s) {
	let a = s >>> 0;
	return function () {
		a = (a + 0x6d2b79f5) >>> 0;
		let t = a;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}
const rand = prng(seed);
const randint = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));
const randbytes = (n) => Uint8Array.from({ length: n }, () => randint(0, 255));

const hex = (bytes) => (bytes.length ? Buffer.from(bytes).toString("hex") : "-");
const texthex = (s) => hex(Buffer.from(s, "utf8"));
const secretOf = (key) => "whsec_" + base64.encode(key);
const out = [];

function sign(name, secret, id, ts, body) {
	const sig = new Webhook(secret).sign(id, new Date(ts * 1000), body);
	out.push(["sign", name, secret, id, ts, texthex(body), sig].join(" "));
}

function rawsign(name, secret, id, ts, bytes) {
	const key = base64.decode(secret.substring("whsec_".length));
	const prefix = Buffer.from(`${id}.${ts}.`, "utf8");
	const mac = sha256.hmac(key, Buffer.concat([prefix, Buffer.from(bytes)]));
	out.push(["rawsign", name, secret, id, ts, hex(bytes), "v1," + base64.encode(mac)].join(" "));
}

function candidate(name, kind, secret) {
	let ok = 0;
	let key = "-";
	try {
		const wh = new Webhook(secret);
		ok = 1;
		key = hex(wh.key);
	} catch (e) {
		/* refused */
	}
	out.push(["secret", name, kind, ok, key, texthex(secret)].join(" "));
}

/* A random string of n code points: ASCII mostly, some 2-, 3- and 4-byte UTF-8 */
function randtext(n) {
	let s = "";
	for (let i = 0; i < n; i++) {
		const r = rand();
		if (r < 0.7)
			s += String.fromCharCode(randint(0x20, 0x7e));
		else if (r < 0.8)
			s += String.fromCharCode(randint(0x00, 0x1f));
		else if (r < 0.9)
			s += String.fromCharCode(randint(0x80, 0x7ff));
		else if (r < 0.97)
			s += String.fromCharCode(randint(0x800, 0xd7ff));
		else
			s += String.fromCodePoint(randint(0x10000, 0x10ffff));
	}
	return s;
}

out.push(`# standardwebhooks ${version}, seed ${seed}, random ${nrandom}`);

/* ---- signatures, fixed ---- */
const key32 = Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff);
const s32 = secretOf(key32);
const runId = "jobsched-42-1796131843000000";

sign("library-test", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	"msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, '{"test": 2432232314}');
sign("empty-body", s32, runId, 1796131843, "");
sign("json-body", s32, runId, 1796131843, '{"job":42,"run":"2026-12-01T10:31:00Z"}');
sign("utf8-body", s32, runId, 1796131843, "héllo wörld ☃ 日本語 𝄞 😀");
sign("nul-body", s32, runId, 1796131843, "a\u0000b\u0000");
sign("only-nul", s32, runId, 1796131843, "\u0000");
sign("newlines", s32, runId, 1796131843, "line 1\r\nline 2\n\n");
sign("dots-in-body", s32, runId, 1796131843, "...1796131843.jobsched-42.");
sign("timestamp-0", s32, runId, 0, "x");
sign("timestamp-1", s32, runId, 1, "x");
sign("timestamp-far", s32, runId, 8640000000000, "x");
sign("spec-id", s32, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", 1674087231,
	'{"type":"contact.created","timestamp":"2022-11-03T20:26:10.344522Z","data":{"id":"1f81eb52-5198-4599-803e-771906343485"}}');
sign("symbols-id", s32, "a~!$%&'*+-_^`|#@:;,<>?/[]{}()=\"\\z", 1796131843, "x");
sign("one-char-id", s32, "x", 1796131843, "x");
sign("long-id", s32, "i".repeat(256), 1796131843, "x");
sign("long-body", s32, runId, 1796131843, randtext(256 * 1024));
sign("long-ascii-body", s32, runId, 1796131843, "0123456789abcdef".repeat(65536));
for (const n of [16, 17, 18, 24, 31, 32, 33, 63, 64, 65, 100, 128, 255, 256]) {
	const key = Uint8Array.from({ length: n }, (_, i) => (i * 101 + n) & 0xff);
	sign(`key-${n}-bytes`, secretOf(key), runId, 1796131843, '{"n":' + n + "}");
	sign(`key-${n}-bytes-empty`, secretOf(key), runId, 1796131843, "");
}

/* ---- bodies that are not UTF-8 ---- */
rawsign("raw-invalid-utf8", s32, runId, 1796131843, Uint8Array.from([0xff, 0xfe, 0x00, 0x80, 0xc3]));
rawsign("raw-all-bytes", s32, runId, 1796131843, Uint8Array.from({ length: 256 }, (_, i) => i));
rawsign("raw-random-64k", s32, runId, 1796131843, randbytes(65536));

/* ---- signatures, random ---- */
for (let i = 0; i < nrandom; i++) {
	const key = randbytes(randint(16, 256));
	const id = "jobsched-" + randint(1, 1e6) + "-" + randint(0, 2e15);
	const ts = randint(0, 4102444800);
	const body = rand() < 0.1 ? "" : randtext(randint(0, 5000));
	sign(`random-${i}`, secretOf(key), id, ts, body);
}

/* ---- candidate secrets ---- */
for (const n of [1, 2, 3, 8, 15, 16, 17, 18, 24, 32, 64, 65, 255, 256, 257, 258, 300])
	candidate(`canon-${n}`, "canon", secretOf(randbytes(n)));
for (let i = 0; i < nrandom; i++)
	candidate(`canon-random-${i}`, "canon", secretOf(randbytes(randint(1, 300))));

/* a key whose base64 has "+", "/", and one "=" of padding */
const tricky = Uint8Array.from([0xfb, 0xff, 0xbf, ...key32.slice(3)]);
const b64 = base64.encode(tricky);
const mutations = {
	"no-prefix": b64,
	"upper-prefix": "WHSEC_" + b64,
	"other-prefix": "whsk_" + b64,
	"prefix-only": "whsec_",
	"empty": "",
	"double-prefix": "whsec_whsec_" + b64,
	"leading-space": "whsec_ " + b64,
	"trailing-space": "whsec_" + b64 + " ",
	"trailing-newline": "whsec_" + b64 + "\n",
	"inner-newline": "whsec_" + b64.slice(0, 20) + "\n" + b64.slice(20),
	"url-safe": "whsec_" + b64.replace(/\+/g, "-").replace(/\//g, "_"),
	"unpadded": "whsec_" + b64.replace(/=+$/, ""),
	"extra-padding": "whsec_" + b64 + "=",
	"padding-inside": "whsec_" + b64.slice(0, 8) + "=" + b64.slice(9),
	"junk-star": "whsec_" + b64.slice(0, 10) + "*" + b64.slice(11),
	"junk-dot": "whsec_" + b64.slice(0, 10) + "." + b64.slice(11),
	"non-ascii": "whsec_" + b64.slice(0, 10) + "é" + b64.slice(12),
	"truncated-by-1": "whsec_" + b64.slice(0, -2) + "=",
	"only-padding": "whsec_====",
	/* last data character with bits set beyond the key */
	"non-canonical": "whsec_" + b64.slice(0, -2) +
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".indexOf(b64[b64.length - 2]) | 1] + "=",
	"canonical-tricky": "whsec_" + b64,
};
for (const [name, secret] of Object.entries(mutations))
	candidate(name, "mut", secret);
for (const n of [1, 2, 3, 4, 5, 6])
	candidate(`unpadded-${n}`, "mut", "whsec_" + base64.encode(randbytes(16 + n)).replace(/=+$/, ""));

process.stdout.write(out.join("\n") + "\n");
