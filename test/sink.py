#!/usr/bin/env python3
"""HTTP test sink for the jobsched test suite.

jobsched fires cron-scheduled HTTP requests through libcurl; the tests need a
server that receives those requests, remembers exactly what arrived and when,
and answers in ways chosen by the test (success, failure, slowness, dropped
connections, redirects, big bodies).  This is that server.

Usage:
    python3 test/sink.py --port PORT --log FILE [--host 127.0.0.1]
                         [--ready-file FILE]

It listens on a loopback address only (127.0.0.1 by default, ::1 if asked).
With --port 0 it picks a free port; once listening it writes the port number
to --ready-file (atomically) and prints "listening on HOST:PORT".  SIGTERM and
SIGINT stop it cleanly, flushing the log.

Every request is appended to --log as one JSON line, before the response is
chosen:
    {"t": arrival (unix seconds), "method": ..., "path": target incl. query,
     "idempotency_key": Idempotency-Key header or null,
     "headers": {lower-cased name: value}, "body": first 4096 chars of the
     body (utf-8, errors replaced), "body_len": body length in bytes}
Lines are written whole and flushed within about 50 ms.  A request refused
with 413 is logged with body "" and body_len set to the declared length (for
a chunked body, the bytes counted before giving up; -1 for an absurdly long
Content-Length).  Requests too malformed to parse are answered 400 (431 for
an oversized head) and not logged.

The answer depends on the path (prefix match, query string ignored):
    /ok...         200 "ok\\n" (also the answer for any path not listed)
    /fail...       500 "fail\\n"
    /status/NNN    status NNN (100-599; anything else gives 400)
    /slow/MS       200 after MS milliseconds
    /close         connection closed without a response
    /hang          no answer ever; the connection stays open until the
                   client goes away
    /redirect      302 to /redirect (an endless loop)
    /redirect-ok   302 to /ok
    /big/N         200 with an N-byte body (N capped at 100 MiB)
    /_count        (GET/HEAD) {"requests": number logged so far}; not logged

Connections are HTTP/1.1 keep-alive unless the client asks to close.
Header blocks over 64 KiB get 431, bodies over 16 MiB get 413.
"""

import argparse
import asyncio
import ipaddress
import json
import os
import re
import resource
import signal
import sys
import time
from http import HTTPStatus

HEADER_CAP = 64 * 1024          # largest request head (request line + headers)
BODY_CAP = 16 * 1024 * 1024     # largest request body accepted
BIG_CAP = 100 * 1024 * 1024     # largest /big/N response body
LOG_BODY_CHARS = 4096           # body characters kept in the log
# Only this much of a body is kept in memory: 4096 characters of utf-8 take
# at most 4 bytes each, and the rest is only counted, so a 16 MiB upload
# costs no more memory than a small one.
BODY_KEEP = LOG_BODY_CHARS * 4
READ_CHUNK = 64 * 1024
FLUSH_DELAY = 0.05              # log latency; the tests allow ~0.2 s
FLUSH_BYTES = 1024 * 1024       # flush early if this much is waiting
SLOW_POLL = 0.25                # how often /slow checks for a gone client
LINGER = 1.0                    # seconds to drain input before an error close

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
BIG_BLOCK = b"x" * READ_CHUNK

_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEX = re.compile(rb"[0-9A-Fa-f]+")
_DIGITS = re.compile(r"[0-9]+")


def _reason(code):
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Unknown"


REASONS = {code: _reason(code) for code in range(100, 600)}


class HttpError(Exception):
    """A request the sink refuses; answered with `status`, then closed."""

    def __init__(self, status, message, body_len=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.body_len = body_len


# --------------------------------------------------------------------------
# The request log
# --------------------------------------------------------------------------

class RequestLog:
    """Appends one JSON line per request; the event loop is the only writer.

    Lines are collected in memory and written with os.write in whole-line
    batches, so a reader never sees two requests interleaved, and a flush is
    scheduled FLUSH_DELAY after the first pending line so tests see requests
    quickly without a write per request.
    """

    def __init__(self, path, loop):
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.loop = loop
        self.pending = []
        self.pending_bytes = 0
        self.timer = None
        self.count = 0
        self.write_failed = False

    def record(self, t, method, target, headers, body_prefix, body_len):
        entry = {
            "t": t,
            "method": method,
            "path": target,
            "idempotency_key": headers.get("idempotency-key"),
            "headers": headers,
            "body": body_prefix.decode("utf-8", "replace")[:LOG_BODY_CHARS],
            "body_len": body_len,
        }
        line = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
        self.pending.append(line)
        self.pending_bytes += len(line)
        self.count += 1
        if self.pending_bytes >= FLUSH_BYTES:
            self.flush()
        elif self.timer is None:
            self.timer = self.loop.call_later(FLUSH_DELAY, self.flush)

    def flush(self):
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if not self.pending:
            return
        data = memoryview(b"".join(self.pending))
        self.pending = []
        self.pending_bytes = 0
        try:
            while data:
                data = data[os.write(self.fd, data):]
        except OSError as e:
            # A full disk must not take the server down; say so once.
            if not self.write_failed:
                print("sink: cannot write log: %s" % e, file=sys.stderr)
                self.write_failed = True

    def close(self):
        self.flush()
        os.close(self.fd)


# --------------------------------------------------------------------------
# Reading and parsing requests
# --------------------------------------------------------------------------

async def read_head(reader):
    """Return the raw request head (up to the blank line), or None at EOF."""
    while True:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None     # the client went away between requests
        except asyncio.LimitOverrunError:
            raise HttpError(431, "request head over %d bytes" % HEADER_CAP)
        # RFC 9112 asks servers to ignore empty lines before a request
        # (old clients send a stray CRLF after a body).
        head = head.lstrip(b"\r\n")
        if head:
            return head


def parse_head(head):
    """Split a request head into (method, target, version, headers)."""
    lines = head.rstrip(b"\r\n").split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not parts[1]:
        raise HttpError(400, "bad request line")
    method, target, version = (p.decode("latin-1") for p in parts)
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise HttpError(400, "unsupported version %r" % version)
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        # No whitespace before the colon and no obsolete line folding:
        # both are request-smuggling hazards the RFC lets us reject.
        if not sep or not _TOKEN.fullmatch(name):
            raise HttpError(400, "bad header line")
        key = name.decode("latin-1").lower()
        text = value.strip(b" \t").decode("utf-8", "replace")
        # Repeated headers are joined as RFC 9110 allows for list headers.
        headers[key] = headers[key] + ", " + text if key in headers else text
    return method, target, version, headers


def wants_keep_alive(version, headers):
    tokens = [t.strip().lower() for t in headers.get("connection", "").split(",")]
    if "close" in tokens:
        return False
    return version == "HTTP/1.1" or "keep-alive" in tokens


def parse_content_length(value):
    # Duplicates arrive joined with ", "; they are fine only if identical.
    values = {v.strip() for v in value.split(",")}
    if len(values) != 1:
        raise HttpError(400, "conflicting Content-Length")
    text = values.pop()
    if not _DIGITS.fullmatch(text):
        raise HttpError(400, "bad Content-Length")
    if len(text) > 18:
        # Clearly over the cap; int() would refuse very long digit strings.
        raise HttpError(413, "body over %d bytes" % BODY_CAP, -1)
    return int(text)


async def consume(reader, size, kept):
    """Read `size` body bytes, keeping the first BODY_KEEP of them in `kept`."""
    while size:
        chunk = await reader.read(min(size, READ_CHUNK))
        if not chunk:
            raise asyncio.IncompleteReadError(b"", size)
        if len(kept) < BODY_KEEP:
            kept += chunk[:BODY_KEEP - len(kept)]
        size -= len(chunk)


async def read_line(reader):
    """One CRLF-terminated line of chunked framing, without the CRLF."""
    try:
        line = await reader.readline()
    except ValueError:      # over the stream limit
        raise HttpError(400, "chunked framing line too long")
    if not line.endswith(b"\n"):
        raise asyncio.IncompleteReadError(line, None)
    return line.rstrip(b"\r\n")


async def read_chunked(reader, kept):
    """Read a chunked body into `kept`; return its decoded length."""
    total = 0
    while True:
        size_text = (await read_line(reader)).split(b";", 1)[0].strip()
        if not _HEX.fullmatch(size_text):
            raise HttpError(400, "bad chunk size")
        size = int(size_text, 16)
        if size == 0:
            break
        total += size
        if total > BODY_CAP:
            raise HttpError(413, "body over %d bytes" % BODY_CAP, total)
        await consume(reader, size, kept)
        if await reader.readexactly(2) != b"\r\n":
            raise HttpError(400, "chunk not followed by CRLF")
    trailer_bytes = 0
    while True:             # trailers are read and dropped
        line = await read_line(reader)
        if not line:
            return total
        trailer_bytes += len(line)
        if trailer_bytes > HEADER_CAP:
            raise HttpError(431, "trailers over %d bytes" % HEADER_CAP)


async def read_body(reader, writer, version, headers):
    """Read the body; return (first BODY_KEEP bytes, length, must_close)."""
    te = headers.get("transfer-encoding")
    chunked = False
    length = 0
    if te is not None:
        if te.split(",")[-1].strip().lower() != "chunked":
            raise HttpError(400, "unsupported Transfer-Encoding %r" % te)
        chunked = True
    elif "content-length" in headers:
        length = parse_content_length(headers["content-length"])
        if length > BODY_CAP:
            raise HttpError(413, "body over %d bytes" % BODY_CAP, length)
    # Checked after the size limit: a client waiting for 100 Continue then
    # gets the 413 without having sent its body at all.
    if ((chunked or length)
            and version == "HTTP/1.1"
            and headers.get("expect", "").lower() == "100-continue"):
        writer.write(CONTINUE)
    kept = bytearray()
    if chunked:
        length = await read_chunked(reader, kept)
    elif length <= READ_CHUNK:
        kept = await reader.readexactly(length)
    else:
        await consume(reader, length, kept)
    # With both Transfer-Encoding and Content-Length the framing is suspect;
    # RFC 9112 says to close the connection after responding.
    return bytes(kept[:BODY_KEEP]), length, chunked and "content-length" in headers


def route_path(target):
    """The path used for routing: no query string, origin-form."""
    if target.startswith(("http://", "https://")):
        slash = target.find("/", target.find("//") + 2)
        target = target[slash:] if slash >= 0 else "/"
    return target.split("?", 1)[0]


# --------------------------------------------------------------------------
# Writing responses
# --------------------------------------------------------------------------

def response_head(status, length, keep_alive, extra="", ctype="text/plain"):
    """Status line and headers; `length` None means no Content-Length."""
    lines = "HTTP/1.1 %d %s\r\n" % (status, REASONS[status])
    if length is not None:
        lines += "Content-Type: %s\r\nContent-Length: %d\r\n" % (ctype, length)
    lines += extra
    lines += "Connection: keep-alive\r\n\r\n" if keep_alive else "Connection: close\r\n\r\n"
    return lines.encode("latin-1")


_simple_cache = {}


def simple_response(status, body, keep_alive, head_only, extra="",
                    ctype="text/plain"):
    """A complete small response, cached since most responses are identical."""
    key = (status, body, keep_alive, head_only, extra, ctype)
    data = _simple_cache.get(key)
    if data is None:
        if status == 204 or status == 304:    # these never carry a body
            data = response_head(status, None, keep_alive, extra)
        else:
            data = response_head(status, len(body), keep_alive, extra, ctype)
            if not head_only:
                data += body
        if len(_simple_cache) < 4096:   # /status/NNN could vary; keep it bounded
            _simple_cache[key] = data
    return data


async def send(writer, data):
    writer.write(data)
    # drain() per request is a measurable cost; it is only needed when the
    # client reads slower than we write.
    if writer.transport.get_write_buffer_size() > READ_CHUNK:
        await writer.drain()


async def send_big(writer, size, keep_alive, head_only):
    """200 with a `size`-byte body, written in blocks to keep memory flat."""
    writer.write(response_head(200, size, keep_alive))
    if head_only:
        return
    block = memoryview(BIG_BLOCK)
    while size:
        n = min(size, len(block))
        writer.write(block[:n])
        size -= n
        await writer.drain()


def client_gone(reader):
    return reader.at_eof() or reader.exception() is not None


async def sleep_unless_gone(reader, seconds):
    """Sleep, but stop early if the client disconnects (no stray sleepers)."""
    deadline = time.monotonic() + seconds
    while not client_gone(reader):
        left = deadline - time.monotonic()
        if left <= 0:
            return True
        await asyncio.sleep(min(left, SLOW_POLL))
    return False


async def wait_until_gone(reader):
    """For /hang: discard input until the client closes the connection."""
    try:
        while await reader.read(READ_CHUNK):
            pass
    except (ConnectionError, OSError):
        pass


async def refuse(reader, writer, error):
    """Answer an HttpError, then close without resetting the connection.

    Closing a socket that still has unread input sends a RST, which can
    destroy the error response before the client reads it; so shut down our
    side and drain the input for a moment first, as nginx's lingering close.
    """
    body = ("%d %s: %s\n" % (error.status, REASONS[error.status], error.message)).encode()
    writer.write(response_head(error.status, len(body), False) + body)
    try:
        await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
        deadline = time.monotonic() + LINGER
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not await asyncio.wait_for(reader.read(READ_CHUNK), left):
                break
    except (asyncio.TimeoutError, ConnectionError, OSError):
        pass


def parse_number(text, low, high, clamp=False):
    """The leading path segment of `text` as an int in [low, high].

    Out of range gives None, or `high` when `clamp` is set.
    """
    text = text.split("/", 1)[0]
    if not _DIGITS.fullmatch(text):
        return None
    # int() refuses digit strings over ~4300 characters; anything this long
    # is out of range anyway.
    value = int(text) if len(text) <= 18 else high + 1
    if low <= value <= high:
        return value
    return high if clamp and value > high else None


# --------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------

class Sink:
    def __init__(self, log):
        self.log = log
        self.writers = set()

    async def handle_connection(self, reader, writer):
        self.writers.add(writer)
        try:
            while await self.serve_one(reader, writer):
                pass
        except HttpError as e:
            await refuse(reader, writer, e)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass    # the client went away mid-request; nothing to answer
        except asyncio.CancelledError:
            # Server shutdown.  Ending quietly rather than re-raising: on
            # Python 3.11 start_server's done-callback calls task.exception()
            # on a cancelled task and prints a traceback for each connection.
            pass
        except Exception as e:
            # A bug here must cost one connection, not the server.
            print("sink: error serving connection: %r" % e, file=sys.stderr)
        finally:
            self.writers.discard(writer)
            writer.close()

    async def serve_one(self, reader, writer):
        """Serve one request; return True to keep the connection open."""
        head = await read_head(reader)
        if head is None:
            return False
        t = time.time()
        method, target, version, headers = parse_head(head)
        keep_alive = wants_keep_alive(version, headers)
        try:
            body, body_len, must_close = await read_body(reader, writer, version, headers)
        except HttpError as e:
            if e.status == 413:     # a well-formed request, just too big
                self.log.record(t, method, target, headers, b"", e.body_len)
            raise
        keep_alive = keep_alive and not must_close
        path = route_path(target)
        head_only = method == "HEAD"

        if path == "/_count" and method in ("GET", "HEAD"):
            count = json.dumps({"requests": self.log.count}).encode() + b"\n"
            await send(writer, simple_response(200, count, keep_alive, head_only,
                                               ctype="application/json"))
            return keep_alive

        self.log.record(t, method, target, headers, body, body_len)
        return await self.respond(reader, writer, path, keep_alive, head_only)

    async def respond(self, reader, writer, path, keep_alive, head_only):
        """Send the answer the path asks for; return True to keep alive."""
        if path.startswith("/close"):
            return False

        if path.startswith("/hang"):
            await wait_until_gone(reader)
            return False

        if path.startswith("/slow/"):
            ms = parse_number(path[6:], 0, 24 * 3600 * 1000)
            if ms is None:
                return await self.reply(writer, 400, b"bad /slow/MS\n", keep_alive, head_only)
            if not await sleep_unless_gone(reader, ms / 1000.0):
                return False
            return await self.reply(writer, 200, b"ok\n", keep_alive, head_only)

        if path.startswith("/big/"):
            size = parse_number(path[5:], 0, BIG_CAP, clamp=True)
            if size is None:
                return await self.reply(writer, 400, b"bad /big/N\n", keep_alive, head_only)
            await send_big(writer, size, keep_alive, head_only)
            return keep_alive

        if path.startswith("/status/"):
            status = parse_number(path[8:], 100, 599)
            if status is None or len(path[8:].split("/", 1)[0]) != 3:
                return await self.reply(writer, 400, b"bad /status/NNN\n", keep_alive, head_only)
            if status < 200:
                # A lone 1xx is not a complete response: send it and close,
                # so the client fails fast instead of waiting forever.
                writer.write(b"HTTP/1.1 %d %s\r\n\r\n" % (status, REASONS[status].encode()))
                return False
            body = ("status %d\n" % status).encode()
            return await self.reply(writer, status, body, keep_alive, head_only)

        if path.startswith("/redirect-ok"):
            return await self.reply(writer, 302, b"redirect\n", keep_alive, head_only,
                                    "Location: /ok\r\n")
        if path.startswith("/redirect"):
            return await self.reply(writer, 302, b"redirect\n", keep_alive, head_only,
                                    "Location: /redirect\r\n")
        if path.startswith("/fail"):
            return await self.reply(writer, 500, b"fail\n", keep_alive, head_only)
        return await self.reply(writer, 200, b"ok\n", keep_alive, head_only)

    async def reply(self, writer, status, body, keep_alive, head_only, extra=""):
        await send(writer, simple_response(status, body, keep_alive, head_only, extra))
        if not keep_alive:
            await writer.drain()
        return keep_alive

    def close_connections(self):
        for writer in list(self.writers):
            writer.close()


# --------------------------------------------------------------------------
# Start-up
# --------------------------------------------------------------------------

def loopback_host(text):
    """argparse type: accept only loopback addresses, the sink is for tests."""
    if text == "localhost":
        return "127.0.0.1"      # one address, so --port 0 gives one port
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not an IP address" % text)
    if not address.is_loopback:
        raise argparse.ArgumentTypeError("%s is not a loopback address" % text)
    return str(address)


def port_number(text):
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError("port must be 0-65535")
    return port


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Loopback HTTP sink that logs every request as JSON lines.")
    parser.add_argument("--port", type=port_number, required=True,
                        help="port to listen on; 0 picks a free one")
    parser.add_argument("--log", required=True, help="JSON-lines file to append to")
    parser.add_argument("--host", type=loopback_host, default="127.0.0.1",
                        help="loopback address to bind (127.0.0.1 or ::1)")
    parser.add_argument("--ready-file",
                        help="file to receive the port number once listening")
    return parser.parse_args(argv)


def write_ready_file(path, port):
    # Write then rename, so a test polling for the file never reads it empty.
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)


async def serve(args):
    loop = asyncio.get_running_loop()
    log = RequestLog(args.log, loop)
    sink = Sink(log)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        # A large backlog so hundreds of clients connecting at once are not
        # held up by SYN retries.
        server = await asyncio.start_server(
            sink.handle_connection, args.host, args.port,
            limit=HEADER_CAP, backlog=1024)
        port = server.sockets[0].getsockname()[1]
        if args.ready_file:
            write_ready_file(args.ready_file, port)
        shown = "[%s]" % args.host if ":" in args.host else args.host
        print("listening on %s:%d" % (shown, port), flush=True)
        await stop.wait()
        # No server.wait_closed(): on Python 3.12+ it waits for every
        # connection, and /hang connections never finish on their own.
        server.close()
        sink.close_connections()
    finally:
        log.close()


def raise_open_file_limit():
    # Every connection is a descriptor; a login shell's soft limit of 1024
    # would refuse a scheduler's burst of connections.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv=None):
    args = parse_args(argv)
    raise_open_file_limit()
    try:
        asyncio.run(serve(args))
    except OSError as e:
        print("sink: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
