#!/usr/bin/env python3
"""The soak's load, watch and report, for bench/soak.sh.

    legit    the traffic of real sites and their owner: token URLs, the feed
             (cache hits and, once per FEED_CACHE_TTL and key, a miss), the
             home page, and the status and admin pages signed in, paced,
             over a few kept-alive connections that now and then close and
             reconnect;
    hostile  at the same time, clients that hold connections: request heads
             that stop half way (stalled or trickled a byte a second),
             connections that never send, form POSTs whose body stops
             (stalled or trickled a byte a second), and clients that ask for
             thousands of pipelined answers and never read them, each
             replaced as soon as the agent drops it;
    watch    the agent's RSS, open file descriptors and open connections,
             once a second;
    settle   waits until the agent is back to its idle descriptor count;
    report   the table.

Everything talks to 127.0.0.1 only, and every loop stops at its deadline.
The standard library only."""

import asyncio
import base64
import collections
import fcntl
import json
import os
import random
import re
import socket
import struct
import sys
import termios
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tools import http_get  # noqa: E402

HOST = "127.0.0.1"
# A request waits at most this long for its answer.
REQUEST_TIMEOUT = 10.0
CONNECT_TIMEOUT = 5.0
# The sweeper closes overdue connections once a second (limits.rs), so a
# connection is dropped between its timeout and its timeout plus a tick;
# this much more counts as on time.
ON_TIME_SLACK = 2.5


def wait_until(epoch):
    """Sleeps until the wall-clock start the three load processes share."""
    delay = epoch - time.time()
    if delay > 0:
        time.sleep(delay)


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p))]


# --- HTTP/1.1 over asyncio streams ---------------------------------------------


async def read_response(reader):
    """(status, headers, body, keep_alive) of one response."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    match = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    if not match:
        raise ValueError(f"not an HTTP answer: {lines[0][:60]!r}")
    status = int(match.group(1))
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    keep_alive = headers.get("connection", "").lower() != "close"
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":
                    pass
                break
            parts.append((await reader.readexactly(size + 2))[:-2])
        body = b"".join(parts)
    elif status in (204, 304):
        body = b""
    else:
        body = await reader.read()
        keep_alive = False
    return status, headers, body, keep_alive


def close_quietly(writer):
    if writer is not None:
        try:
            writer.close()
        except Exception:
            pass


# --- legitimate traffic ----------------------------------------------------------


def legit_mix(port, password, feed_limits):
    """(weight, kind, path, extra headers, what a good body starts with)."""
    sites = [f"http://localhost:{port}", f"http://127.0.0.1:{port}"]
    basic = base64.b64encode(f"owner:{password}".encode()).decode()
    mix = []
    for site in sites:
        mix += [
            (18, "/token.json", "/token.json", {"Origin": site}, b"{"),
            (7, "/token.js", "/token.js", {"Referer": f"{site}/shop/index.html"}, b"const "),
            (3, "/accounts/brand/token.json", "/accounts/brand/token.json", {"Origin": site}, b"{"),
        ]
    # One cache key per limit (and account): each is a miss once per TTL.
    for limit in feed_limits:
        path = "/feed.json" if limit == 25 else f"/feed.json?limit={limit}"
        mix.append((24 // len(feed_limits) or 1, "/feed.json", path, {"Origin": sites[0]}, b"{"))
    mix += [
        (2, "/feed.json", "/feed.json?account=brand&limit=6", {"Referer": f"{sites[1]}/"}, b"{"),
        (3, "/hashtags/bakery/top.json", "/hashtags/bakery/top.json", {"Origin": sites[0]}, b"{"),
        (5, "/ and /status", "/", {}, b"<"),
        # With ADMIN_PASSWORD set, /status is the owner's (strangers get 401).
        (5, "/ and /status", "/status", {"Authorization": f"Basic {basic}"}, b"<"),
        (5, "/admin (Basic auth)", "/admin", {"Authorization": f"Basic {basic}"}, b"<"),
    ]
    return mix


def request_bytes(port, path, headers, close):
    text = f"GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\nUser-Agent: token-agent-soak\r\n"
    for name, value in headers.items():
        text += f"{name}: {value}\r\n"
    if close:
        text += "Connection: close\r\n"
    return (text + "\r\n").encode()


class Tally:
    """Answers by kind: statuses, transport errors, latencies."""

    def __init__(self):
        self.statuses = collections.defaultdict(collections.Counter)
        self.errors = collections.defaultdict(collections.Counter)
        self.latencies = collections.defaultdict(list)
        self.refused = collections.Counter()
        self.bad_bodies = collections.Counter()
        self.samples = {}

    def answer(self, kind, path, status, body, expect, seconds):
        self.statuses[kind][status] += 1
        self.latencies[kind].append(seconds)
        if status == 503 and b"too_many_connections" in body:
            self.refused[kind] += 1
        elif not 200 <= status < 300:
            self.samples.setdefault(f"{status} {path}", body[:200].decode("utf-8", "replace"))
        elif expect and not body.startswith(expect):
            self.bad_bodies[kind] += 1
            self.samples.setdefault(f"bad body {path}", body[:200].decode("utf-8", "replace"))

    def error(self, kind, path, error):
        name = type(error).__name__
        self.errors[kind][name] += 1
        self.samples.setdefault(f"{name} {path}", str(error)[:200])

    def summary(self):
        kinds = {}
        for kind in sorted(set(self.statuses) | set(self.errors)):
            lat = sorted(self.latencies[kind])
            statuses = self.statuses[kind]
            kinds[kind] = {
                "requests": sum(statuses.values()),
                "statuses": {str(s): n for s, n in sorted(statuses.items())},
                "non2xx": sum(n for s, n in statuses.items() if not 200 <= s < 300) - self.refused[kind],
                "refused": self.refused[kind],
                "errors": dict(self.errors[kind]),
                "bad_bodies": self.bad_bodies[kind],
                "p50_ms": percentile(lat, 0.50) * 1000,
                "p99_ms": percentile(lat, 0.99) * 1000,
                "max_ms": (lat[-1] if lat else float("nan")) * 1000,
            }
        return {"kinds": kinds, "samples": dict(list(self.samples.items())[:12])}


class Pacer:
    """Hands out send times `1/rate` apart to every worker (rate 0: no pacing)."""

    def __init__(self, rate):
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next = time.monotonic()

    async def wait(self):
        if not self.interval:
            return
        now = time.monotonic()
        # After a stall, catch up by at most 0.2 s of requests, not in a burst.
        self.next = max(self.next, now - 0.2)
        at = self.next
        self.next += self.interval
        if at > now:
            await asyncio.sleep(at - now)


async def legit_worker(index, port, mix, weights, pacer, tally, deadline, opts):
    rng = random.Random(1000 + index)
    reader = writer = None
    last_used = 0.0
    # A kept-alive connection left quiet for half the idle timeout is
    # closed here first, so the agent never drops a legitimate one.
    max_quiet = opts["idle_timeout"] / 2
    while time.monotonic() < deadline:
        await pacer.wait()
        if time.monotonic() >= deadline:
            break
        _, kind, path, headers, expect = rng.choices(mix, weights)[0]
        close = rng.random() < opts["close_share"]
        if writer is not None and time.monotonic() - last_used > max_quiet:
            close_quietly(writer)
            reader = writer = None
        started = time.perf_counter()
        try:
            if writer is None:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(HOST, port, limit=1 << 22), CONNECT_TIMEOUT
                )
            writer.write(request_bytes(port, path, headers, close))
            await writer.drain()
            status, _, body, keep_alive = await asyncio.wait_for(
                read_response(reader), REQUEST_TIMEOUT
            )
        except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                asyncio.TimeoutError, ValueError) as error:
            tally.error(kind, path, error)
            close_quietly(writer)
            reader = writer = None
            continue
        tally.answer(kind, path, status, body, expect, time.perf_counter() - started)
        last_used = time.monotonic()
        if close or not keep_alive:
            close_quietly(writer)
            reader = writer = None
    close_quietly(writer)


async def legit(opts):
    port = opts["port"]
    mix = legit_mix(port, os.environ["ADMIN_PASSWORD"], opts["feed_limits"])
    weights = [m[0] for m in mix]
    tally = Tally()
    if opts["check"]:
        # Every URL of the mix once, one after the other: fills the caches
        # and proves the mix is answered 2xx before the clock starts.
        for _, kind, path, headers, expect in mix:
            await legit_worker_once(port, kind, path, headers, expect, tally)
        # Then the database-backed pages all at once, a few times, so that
        # the SQLite pool has grown to its working size before the idle
        # descriptors are counted (it keeps a connection 10 minutes).
        pages = [m for m in mix if m[2] in ("/status", "/admin")]
        for _ in range(3):
            await asyncio.gather(*(
                legit_worker_once(port, kind, path, headers, expect, tally)
                for _, kind, path, headers, expect in pages * 16
            ))
    else:
        wait_until(opts["start"])
    started = time.monotonic()
    deadline = started + opts["seconds"]
    pacer = Pacer(opts["rate"])
    await asyncio.gather(*(
        legit_worker(i, port, mix, weights, pacer, tally, deadline, opts)
        for i in range(opts["connections"])
    ))
    result = tally.summary()
    result["seconds"] = time.monotonic() - started
    return result


async def legit_worker_once(port, kind, path, headers, expect, tally):
    writer = None
    started = time.perf_counter()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), CONNECT_TIMEOUT)
        writer.write(request_bytes(port, path, headers, True))
        await writer.drain()
        status, _, body, _ = await asyncio.wait_for(read_response(reader), REQUEST_TIMEOUT)
        tally.answer(kind, path, status, body, expect, time.perf_counter() - started)
    except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as error:
        tally.error(kind, path, error)
    finally:
        close_quietly(writer)


# --- hostile traffic -----------------------------------------------------------------

# A request head that never ends: the last header line stays open.
HALF_HEAD = b"GET /token.json HTTP/1.1\r\nHost: localhost\r\nUser-Agent: slow\r\nX-Never-Ends: "
WHOLE_REQUEST = b"GET /token.json HTTP/1.1\r\nHost: localhost\r\n\r\n"
# A whole head of a public form that reads its body (the demo has Meta app
# secrets, so the callback waits for it); the 16,000 bytes never all come.
BODY_HEAD = (b"POST /callbacks/deauthorize HTTP/1.1\r\nHost: localhost\r\nUser-Agent: slow\r\n"
             b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 16000\r\n\r\n")
# A non-reader's receive buffer (set before connecting): its window fills
# after a few answers, and the agent's writes stall.
NON_READER_RCVBUF = 4096

# Each style: the timeout that must close it, and the /metrics reason.
STYLES = {
    "stalled head": ("header_timeout", "header_timeout"),
    "trickled head": ("header_timeout", "header_timeout"),
    "never sends": ("idle_timeout", "idle_timeout"),
    "idle after a request": ("idle_timeout", "idle_timeout"),
    "stalled body": ("body_timeout", "body_timeout"),
    "trickled body": ("body_timeout", "body_timeout"),
    "non-reader": ("send_timeout", "send_timeout"),
}


class HostileTally:
    def __init__(self):
        self.by_style = collections.defaultdict(collections.Counter)
        self.waits = collections.defaultdict(list)
        # Seconds from a non-reader's connecting to its writes stalling.
        self.stalls = []

    def summary(self):
        styles = {}
        for style, counts in sorted(self.by_style.items()):
            waits = sorted(self.waits[style])
            styles[style] = dict(counts)
            styles[style]["wait_p50_s"] = percentile(waits, 0.5)
            styles[style]["wait_max_s"] = waits[-1] if waits else float("nan")
        return styles


async def wait_for_close(reader, limit):
    """Seconds until the agent closes (EOF or reset), the first status line
    it sent if any, or None for the seconds when it did not close in time."""
    started = time.monotonic()
    status = None
    buffered = b""
    try:
        while True:
            left = limit - (time.monotonic() - started)
            if left <= 0:
                return None, status
            chunk = await asyncio.wait_for(reader.read(4096), left)
            if not chunk:
                break
            if status is None:
                buffered += chunk
                match = re.match(rb"HTTP/1\.[01] (\d{3})", buffered)
                if match:
                    status = int(match.group(1))
                    if b"too_many_connections" in buffered:
                        status = "503 too_many_connections"
    except asyncio.TimeoutError:
        return None, status
    except OSError:
        pass
    return time.monotonic() - started, status


async def trickle(writer, stop):
    """One byte a second (of a header value, or of a body, that never ends)."""
    try:
        while not stop.is_set():
            await asyncio.sleep(1.0)
            writer.write(b"a")
            await writer.drain()
    except (OSError, RuntimeError):
        pass


async def hostile_slot(index, style, port, tally, deadline, opts):
    rng = random.Random(5000 + index)
    counts = tally.by_style[style]
    timeout = opts[STYLES[style][0]]
    # Spread the first connections over one timeout, so that they are
    # opened (and dropped) continuously rather than in waves.
    await asyncio.sleep(min(rng.uniform(0, timeout), max(0.0, deadline - time.monotonic())))
    while time.monotonic() < deadline - 0.5:
        writer = None
        stop = asyncio.Event()
        trickler = None
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), CONNECT_TIMEOUT)
            counts["opened"] += 1
            if style == "idle after a request":
                writer.write(WHOLE_REQUEST)
                await writer.drain()
                await asyncio.wait_for(read_response(reader), REQUEST_TIMEOUT)
            elif style in ("stalled body", "trickled body"):
                writer.write(BODY_HEAD)
                await writer.drain()
                if style == "trickled body":
                    trickler = asyncio.ensure_future(trickle(writer, stop))
            elif style != "never sends":
                writer.write(HALF_HEAD)
                await writer.drain()
                if style == "trickled head":
                    trickler = asyncio.ensure_future(trickle(writer, stop))
            limit = min(timeout + 10.0, deadline - time.monotonic())
            waited, status = await wait_for_close(reader, limit)
            if status is not None:
                counts[f"answered {status}"] += 1
            if waited is None:
                if time.monotonic() >= deadline - 0.01:
                    counts["still open at the end"] += 1
                else:
                    counts["not closed within timeout + 10 s"] += 1
            elif waited <= timeout + ON_TIME_SLACK:
                counts["closed on time"] += 1
                tally.waits[style].append(waited)
            else:
                counts["closed late"] += 1
                tally.waits[style].append(waited)
        except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as error:
            counts[f"error {type(error).__name__}"] += 1
            await asyncio.sleep(0.5)
        finally:
            stop.set()
            if trickler is not None:
                trickler.cancel()
            close_quietly(writer)


def tcp_state(sock):
    """The socket's TCP state (Linux tcp_states.h: 1 established, 7 closed,
    as after a reset, 8 close-wait, after the peer's FIN), or None once the
    socket itself is closed."""
    try:
        return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
    except OSError:
        return None


def unread_bytes(sock):
    """Bytes the kernel holds for us, received and not read."""
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]


async def non_reader(port, counts, tally, deadline, opts):
    """One connection that asks for many pipelined answers and never reads:
    the agent's writes stall once its send buffer and our small receive
    window are full. Its requests are handed to the transport in one go
    and never awaited (the agent stops reading them when its writes stall),
    and the close is read from the socket's TCP state, polled, so nothing
    here can block past its limit."""
    style = "non-reader"
    timeout = opts["send_timeout"]
    request = (f"GET /token.json HTTP/1.1\r\nHost: localhost:{port}\r\n"
               f"Origin: http://localhost:{port}\r\nUser-Agent: slow\r\n\r\n").encode()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    writer = None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, NON_READER_RCVBUF)
        sock.setblocking(False)
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (HOST, port)), CONNECT_TIMEOUT)
        _, writer = await asyncio.open_connection(sock=sock)
        # Nothing is ever read: the answers stay in the kernel's buffers.
        writer.transport.pause_reading()
        counts["opened"] += 1
        writer.write(request * opts["non_reader_requests"])
        started = last_growth = time.monotonic()
        queued = 0
        while True:
            await asyncio.sleep(0.1)
            now = time.monotonic()
            state = tcp_state(sock)
            if state != 1 or writer.transport.is_closing():
                seen = {7: "reset", 8: "FIN"}.get(state, "write error")
                counts[f"seen as {seen}"] += 1
                if not queued:
                    counts["closed before any answer"] += 1
                    return
                waited = now - last_growth
                counts["closed on time" if waited <= timeout + ON_TIME_SLACK else "closed late"] += 1
                tally.waits[style].append(waited)
                tally.stalls.append(last_growth - started)
                return
            try:
                unread = unread_bytes(sock)
            except OSError:
                continue  # closed since: the next look says how
            if unread != queued:
                queued, last_growth = unread, now
            if now >= deadline:
                counts["still open at the end"] += 1
                return
            if queued and now - last_growth > timeout + 10.0:
                counts["not closed within timeout + 10 s"] += 1
                return
            if now - started > timeout + 30.0:
                counts["writes never stalled"] += 1
                return
    finally:
        # Whatever is still unsent is dropped, not flushed.
        if writer is not None:
            writer.transport.abort()
        sock.close()


async def non_reader_slot(index, port, tally, deadline, opts):
    rng = random.Random(9000 + index)
    counts = tally.by_style["non-reader"]
    await asyncio.sleep(min(rng.uniform(0, opts["send_timeout"]), max(0.0, deadline - time.monotonic())))
    while time.monotonic() < deadline - 0.5:
        try:
            await non_reader(port, counts, tally, deadline, opts)
        except (OSError, asyncio.TimeoutError) as error:
            counts[f"error {type(error).__name__}"] += 1
            await asyncio.sleep(0.5)


async def hostile(opts):
    wait_until(opts["start"])
    deadline = time.monotonic() + opts["seconds"]
    tally = HostileTally()
    slots = []
    for i in range(opts["half_open"]):
        slots.append(("stalled head", "trickled head")[i % 2])
    for i in range(opts["idle"]):
        # A quarter first ask for something, then keep the connection quiet.
        slots.append("idle after a request" if i % 4 == 3 else "never sends")
    for i in range(opts["bodies"]):
        slots.append(("stalled body", "trickled body")[i % 2])
    await asyncio.gather(
        *(hostile_slot(i, style, opts["port"], tally, deadline, opts) for i, style in enumerate(slots)),
        *(non_reader_slot(i, opts["port"], tally, deadline, opts) for i in range(opts["non_readers"])),
    )
    return {"styles": tally.summary(), "non_reader_stall_p50_s": percentile(sorted(tally.stalls), 0.5)}


# --- the agent from outside: /proc and /metrics ---------------------------------------


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def tcp_sockets():
    """inode -> (local port, remote port, state) of every TCP socket here."""
    table = {}
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
            table[inode] = (int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16), state)
    return table


def fd_kinds(pid, port):
    """The agent's descriptors by what they are: connections of its clients
    (to PORT), its upstream connections (to the in-process fake, both ends),
    listeners, other sockets, pipes, event and epoll descriptors, the demo's
    SQLite files (a few per pooled connection), other files."""
    tcp = tcp_sockets()
    kinds = collections.Counter()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", target)
        if m:
            entry = tcp.get(m.group(1))
            if entry is None:
                kinds["other sockets"] += 1
            elif entry[2] == "0A":
                kinds["listeners"] += 1
            elif entry[0] == port:
                kinds["clients"] += 1
            else:
                kinds["upstream"] += 1
        elif target.startswith("pipe:"):
            kinds["pipes"] += 1
        elif target.startswith("anon_inode:"):
            kinds["event/epoll"] += 1
        elif "/token-agent-demo-" in target:
            kinds["database"] += 1
        else:
            kinds["files"] += 1
    return dict(sorted(kinds.items()))


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metrics(port):
    """The connection counters, the open-connection gauge and the upstream
    me/media calls from /metrics."""
    status, body = http_get(port, "/metrics", timeout=5)
    if status != 200:
        raise RuntimeError(f"/metrics answered {status}")
    found = {"closed": {}, "open": None, "media_calls": 0}
    for line in body.decode().splitlines():
        m = re.match(r'^token_agent_connections_closed_total\{reason="([^"]+)"\}\s+(\d+)', line)
        if m:
            found["closed"][m.group(1)] = int(m.group(2))
        m = re.match(r"^token_agent_connections_open\s+(\d+)", line)
        if m:
            found["open"] = int(m.group(1))
        m = re.match(r'^token_agent_upstream_calls_total\{endpoint="me/media"[^}]*\}\s+(\d+)', line)
        if m:
            found["media_calls"] += int(m.group(1))
    return found


def cmd_watch(args):
    """watch PID PORT START SECONDS OUT_JSONL: one line a second."""
    pid, port, start, seconds, out = int(args[0]), int(args[1]), float(args[2]), float(args[3]), args[4]
    wait_until(start)
    with open(out, "w") as f:
        for i in range(int(seconds) + 1):
            wait_until(start + i)
            try:
                sample = {"t": i, "rss_kb": rss_kb(pid), "fds": fd_count(pid), "cpu_s": cpu_seconds(pid)}
            except OSError:
                sys.exit(f"the agent (pid {pid}) is gone at {i} s")
            try:
                sample["open"] = metrics(port)["open"]
            except (OSError, RuntimeError):
                sample["open"] = None
            f.write(json.dumps(sample) + "\n")
            f.flush()


def cmd_snapshot(args):
    """snapshot PID PORT: fds, RSS, CPU and /metrics now, as JSON."""
    pid, port = int(args[0]), int(args[1])
    print(json.dumps({"fds": fd_count(pid), "rss_kb": rss_kb(pid), "cpu_s": cpu_seconds(pid),
                      "metrics": metrics(port)}))


def cmd_settle(args):
    """settle PID PORT IDLE_FDS MAX_SECONDS: waits (bounded) until no client
    connection is left but the probe's own and the descriptors are back to
    IDLE_FDS; prints the reading and the seconds it took, as JSON. Upstream
    connections pooled during the soak may take the fake's idle timeout
    (75 s) to go."""
    pid, port, idle_fds, max_seconds = int(args[0]), int(args[1]), int(args[2]), float(args[3])
    started = time.monotonic()
    while True:
        fds, kinds = fd_count(pid), fd_kinds(pid, port)
        found = metrics(port)
        waited = time.monotonic() - started
        settled = found["open"] is not None and found["open"] <= 1 and fds <= idle_fds
        if settled or waited >= max_seconds:
            print(json.dumps({"fds": fds, "fd_kinds": kinds, "open": found["open"],
                              "waited_s": round(waited, 1), "rss_kb": rss_kb(pid),
                              "cpu_s": cpu_seconds(pid), "metrics": found}))
            return
        time.sleep(0.5)


def cmd_quiet_fds(args):
    """quiet-fds PID PORT: the descriptors, as JSON, once only the probe's
    connection is open (at most 20 s), read while no probe is in flight."""
    pid, port = int(args[0]), int(args[1])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if (metrics(port)["open"] or 0) <= 1:
            break
        time.sleep(0.5)
    time.sleep(1.0)
    print(json.dumps({"fds": fd_count(pid), "fd_kinds": fd_kinds(pid, port)}))


def options(args):
    opts = {}
    for arg in args:
        name, _, value = arg.partition("=")
        opts[name.lstrip("-").replace("-", "_")] = value
    ints = ["port", "connections", "half_open", "idle", "bodies", "non_readers", "non_reader_requests"]
    floats = ["seconds", "rate", "start", "close_share", "header_timeout", "idle_timeout",
              "body_timeout", "send_timeout"]
    for name in ints:
        if name in opts:
            opts[name] = int(opts[name])
    for name in floats:
        if name in opts:
            opts[name] = float(opts[name])
    if "feed_limits" in opts:
        opts["feed_limits"] = [int(n) for n in opts["feed_limits"].split(",")]
    opts["check"] = opts.get("check") == "1"
    return opts


def cmd_legit(args):
    """legit OUT_JSON --port= --seconds= --rate= --connections= --close-share=
    --idle-timeout= --feed-limits= [--start=EPOCH] [--check=1], with
    ADMIN_PASSWORD in the environment"""
    opts = options(args[1:])
    opts.setdefault("start", time.time())
    result = asyncio.run(legit(opts))
    with open(args[0], "w") as f:
        json.dump(result, f)
    if opts["check"]:
        bad = {k: v for k, v in result["kinds"].items()
               if v["non2xx"] or v["refused"] or v["errors"] or v["bad_bodies"]}
        if bad:
            sys.exit(f"the warm-up got failures: {json.dumps(bad)}\n{json.dumps(result['samples'], indent=1)}")


def cmd_hostile(args):
    """hostile OUT_JSON --port= --seconds= --start= --half-open= --idle=
    --bodies= --non-readers= --non-reader-requests= --header-timeout=
    --idle-timeout= --body-timeout= --send-timeout="""
    opts = options(args[1:])
    result = asyncio.run(hostile(opts))
    with open(args[0], "w") as f:
        json.dump(result, f)


# --- the report --------------------------------------------------------------------------


def verdict(ok):
    return "PASS" if ok else "MISS"


def median(values):
    values = sorted(values)
    n = len(values)
    if not n:
        return float("nan")
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def mb(kb):
    return f"{kb / 1024:.1f} MB"


def kinds_text(reading):
    return ", ".join(f"{n} {kind}" for kind, n in reading.get("fd_kinds", {}).items())


def cmd_report(args):
    """report FACTS LEGIT HOSTILE WATCH: prints the soak's tables."""
    facts = json.load(open(args[0]))
    legit_result = json.load(open(args[1]))
    hostile_result = json.load(open(args[2]))
    samples = [json.loads(line) for line in open(args[3]) if line.strip()]
    before, after = facts["before"], facts["after"]
    seconds = facts["seconds"]

    print()
    print(f"soak: {seconds:.0f} s against one `token-agent demo` ({facts['cores']} cores); "
          f"HTTP_HEADER_TIMEOUT_SECONDS={facts['header_timeout']:g}, "
          f"HTTP_IDLE_TIMEOUT_SECONDS={facts['idle_timeout']:g}, "
          f"HTTP_BODY_TIMEOUT_SECONDS={facts['body_timeout']:g}, "
          f"HTTP_SEND_TIMEOUT_SECONDS={facts['send_timeout']:g}, "
          f"HTTP_MAX_CONNECTIONS={facts['max_connections']}, FEED_CACHE_TTL={facts['feed_ttl']}")
    print(f"legitimate: {facts['connections']} connections paced to {facts['rate']:g} req/s "
          f"(0: unpaced), {facts['close_share'] * 100:g}% with Connection: close; "
          f"hostile: {facts['half_open']} half-open heads (stalled or trickled), "
          f"{facts['idle']} idle connections, {facts['bodies']} unfinished form bodies (stalled or "
          f"trickled) and {facts['non_readers']} non-readers ({facts['non_reader_requests']:,} "
          f"pipelined requests each) at a time")
    print()

    kinds = legit_result["kinds"]
    header = f"{'legitimate requests':<28} {'done':>9} {'non-2xx':>8} {'503 full':>9} {'errors':>7} {'p50':>9} {'p99':>9} {'max':>9}"
    print(header)
    print("-" * len(header))
    totals = collections.Counter()
    for kind, k in kinds.items():
        errors = sum(k["errors"].values()) + k["bad_bodies"]
        totals.update(requests=k["requests"], non2xx=k["non2xx"], refused=k["refused"], errors=errors)
        print(f"{kind:<28} {k['requests']:>9,} {k['non2xx']:>8} {k['refused']:>9} {errors:>7} "
              f"{k['p50_ms']:>6.2f} ms {k['p99_ms']:>6.1f} ms {k['max_ms']:>6.0f} ms")
    print(f"{'all':<28} {totals['requests']:>9,} {totals['non2xx']:>8} {totals['refused']:>9} {totals['errors']:>7}")
    if legit_result.get("samples"):
        print("first answers that were not 2xx, or errors:")
        for what, body in legit_result["samples"].items():
            print(f"  {what}: {body[:120]!r}")
    print()

    styles = hostile_result["styles"]
    header = f"{'hostile connections':<22} {'opened':>7} {'on time':>8} {'late':>5} {'never':>6} {'wait p50':>9} {'wait max':>9}  other"
    print(header)
    print("-" * len(header))
    reasons = ("header_timeout", "idle_timeout", "body_timeout", "send_timeout")
    seen_closed = dict.fromkeys(reasons, 0)
    not_on_time = 0
    never_stalled = 0
    for style, s in styles.items():
        never = s.get("not closed within timeout + 10 s", 0)
        late = s.get("closed late", 0)
        not_on_time += never + late
        never_stalled += s.get("writes never stalled", 0) + s.get("closed before any answer", 0)
        closed = s.get("closed on time", 0) + late
        seen_closed[STYLES[style][1]] += closed
        skip = {"opened", "closed on time", "closed late", "not closed within timeout + 10 s",
                "wait_p50_s", "wait_max_s"}
        other = ", ".join(f"{k} {v}" for k, v in s.items() if k not in skip) or "-"
        print(f"{style:<22} {s.get('opened', 0):>7} {s.get('closed on time', 0):>8} {late:>5} {never:>6} "
              f"{s['wait_p50_s']:>7.1f} s {s['wait_max_s']:>7.1f} s  {other}")
    print("(wait: from the first byte of a half-open head, from a form's whole head, from connecting, "
          "or from a non-reader's writes stalling (its receive queue stops growing), to the agent closing; "
          f"on time: within the timeout + {ON_TIME_SLACK:g} s)")
    stall = hostile_result.get("non_reader_stall_p50_s")
    if stall is not None and stall == stall:
        print(f"(a non-reader's writes stalled {stall:.1f} s after it connected, median)")
    print()

    # Memory: the second and the last minute, or tenths of a short run.
    if seconds >= 180:
        windows, unit = ((60, 120), (seconds - 60, seconds + 1)), "minute"
    else:
        windows, unit = ((seconds * 0.1, seconds * 0.2), (seconds * 0.9, seconds + 1)), "tenth"
    rss = [[s["rss_kb"] for s in samples if lo <= s["t"] < hi] for lo, hi in windows]
    rss_second, rss_last = median(rss[0]), median(rss[1])
    growth = (rss_last - rss_second) / rss_second if rss_second else float("nan")
    peak_rss = max((s["rss_kb"] for s in samples), default=0)
    peak_fds = max((s["fds"] for s in samples), default=0)
    peak_open = max((s["open"] or 0 for s in samples), default=0)

    closed = {r: after["metrics"]["closed"].get(r, 0) - before["metrics"]["closed"].get(r, 0)
              for r in reasons + ("too_many_connections",)}
    cpu = after["cpu_s"] - before["cpu_s"]
    media_calls = after["metrics"]["media_calls"] - before["metrics"]["media_calls"]

    print(f"{'measure':<58} {'value':>12}   target")
    print("-" * 88)
    short = "" if unit == "minute" else " (short run)"
    rows = [
        ("non-2xx answers, legitimate requests (503 full apart)", str(totals["non2xx"]), "0",
         totals["non2xx"] == 0),
        ("503 too_many_connections, legitimate requests", str(totals["refused"]), "0",
         totals["refused"] == 0),
        ("transport errors and bad bodies, legitimate requests", str(totals["errors"]), "0",
         totals["errors"] == 0),
        (f"legitimate requests done ({totals['requests'] / seconds:,.0f}/s)", f"{totals['requests']:,}",
         "", None),
        (f"RSS, median of the 2nd {unit}{short}", mb(rss_second), "", None),
        (f"RSS, median of the last {unit}", mb(rss_last), "within 10%", abs(growth) <= 0.10),
        ("RSS change, 2nd to last", f"{growth * 100:+.1f}%", "", None),
        ("RSS peak during the soak", mb(peak_rss), "", None),
        ("open fds, fresh start", str(facts["fds_fresh"]), "", None),
        ("open fds, idle before the soak (after the warm-up)", str(facts["idle_fds"]["fds"]), "", None),
        ("open fds, peak during the soak", str(peak_fds), "", None),
        (f"open fds after, hostile gone (settled in {after['waited_s']:g} s)", str(after["fds"]),
         f"<= {facts['idle_fds']['fds']}", after["fds"] <= facts["idle_fds"]["fds"]),
        ("connections open after (the /metrics probe's own)", str(after["open"]), "<= 1",
         after["open"] is not None and after["open"] <= 1),
        ("connections open, peak during the soak", str(peak_open), "", None),
        *((f"closed: {r} (/metrics)", str(closed[r]), f">= {seen_closed[r]}", closed[r] >= seen_closed[r])
          for r in reasons),
        ("closed: too_many_connections (/metrics)", str(closed["too_many_connections"]), "", None),
        ("hostile connections closed late or never", str(not_on_time), "0", not_on_time == 0),
        ("non-readers that never stalled the agent's writes", str(never_stalled), "0", never_stalled == 0),
        (f"me/media upstream calls (feed misses, TTL {facts['feed_ttl']} s)", str(media_calls), "", None),
        ("agent CPU during the soak", f"{cpu:.0f} s ({cpu / seconds * 100:.0f}%)", "", None),
        ("agent log lines at WARN or ERROR", str(facts["log_warnings"]), "", None),
    ]
    for name, value, target, ok in rows:
        mark = "" if ok is None else verdict(ok)
        print(f"{name:<58} {value:>12}   {target:<11} {mark}".rstrip())
    print()
    if unit == "tenth":
        print("RSS: a run under 180 s compares the 2nd and the last tenth of the run, not minutes.")
    print(f"open fds idle: {kinds_text(facts['idle_fds'])}")
    print(f"open fds after: {kinds_text(after)}")
    print("closed (/metrics) targets: at least the hostile connections that saw the agent close them.")
    print(f"load average at the end: {facts.get('loadavg', '?')}")


COMMANDS = {
    "legit": cmd_legit,
    "hostile": cmd_hostile,
    "watch": cmd_watch,
    "snapshot": cmd_snapshot,
    "settle": cmd_settle,
    "quiet-fds": cmd_quiet_fds,
    "report": cmd_report,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(COMMANDS)} ...")
    COMMANDS[sys.argv[1]](sys.argv[2:])
