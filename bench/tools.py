#!/usr/bin/env python3
"""Helpers for bench/run.sh: free ports, timed start-up, /proc and
/metrics readings, wrk output parsing and the final table.

Everything talks to 127.0.0.1 only."""

import json
import os
import re
import socket
import subprocess
import sys
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path, origin=None, timeout=1.0):
    """(status, body) of one GET on 127.0.0.1:port, or (None, b"") if refused."""
    request = f"GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n"
    if origin:
        request += f"Origin: {origin}\r\n"
    if path.startswith("/metrics") and os.environ.get("METRICS_TOKEN"):
        request += f"Authorization: Bearer {os.environ['METRICS_TOKEN']}\r\n"
    request += "\r\n"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(request.encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None, b""
    head, _, body = data.partition(b"\r\n\r\n")
    match = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    if not match:
        return None, b""
    if b"transfer-encoding: chunked" in head.lower():
        body = dechunk(body)
    return int(match.group(1)), body


def dechunk(body):
    out = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return out


def cmd_free_port(_args):
    print(free_port())


def cmd_start(args):
    """start PIDFILE LOG PORT PATH ORIGIN -- CMD...: spawns CMD (which keeps
    running after this helper exits), polls PATH every 0.5 ms and prints the
    milliseconds from spawn to the first 200."""
    pidfile, log, port, path, origin = args[:5]
    assert args[5] == "--"
    command = args[6:]
    port = int(port)
    with open(log, "ab") as out:
        started = time.perf_counter()
        child = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    with open(pidfile, "w") as f:
        f.write(str(child.pid))
    deadline = started + 30
    while time.perf_counter() < deadline:
        if child.poll() is not None:
            sys.exit(f"{command[0]} exited with {child.returncode} before answering; see {log}")
        status, _ = http_get(port, path, origin, timeout=0.5)
        if status == 200:
            print(f"{(time.perf_counter() - started) * 1000:.1f}")
            return
        time.sleep(0.0005)
    sys.exit(f"no 200 from {path} within 30 s; see {log}")


def cmd_status(args):
    """status PORT PATH ORIGIN: the status of one GET, or 0 if none came."""
    status, _ = http_get(int(args[0]), args[1], args[2], timeout=2)
    print(status or 0)


def cmd_served(args):
    """served PORT PATH: the 200 answers the agent's /metrics counts for the
    route family of PATH (token, feed, ...)."""
    port, path = int(args[0]), args[1]
    route = "feed" if path.startswith("/feed") else "token"
    status, body = http_get(port, "/metrics", timeout=30)
    if status != 200:
        sys.exit(f"/metrics answered {status}")
    pattern = re.compile(
        r'^token_agent_http_requests_total\{route="' + route + r'",status="(200|304)"\}\s+(\d+)'
    )
    print(sum(int(m.group(2)) for m in map(pattern.match, body.decode().splitlines()) if m))


def cmd_get(args):
    """get PORT PATH ORIGIN: prints the body of a 200, else fails."""
    port, path, origin = int(args[0]), args[1], args[2]
    status, body = http_get(port, path, origin, timeout=5)
    if status != 200:
        sys.exit(f"GET {path} answered {status}")
    sys.stdout.buffer.write(body)


def cmd_headers(args):
    """headers PORT PATH ORIGIN: the response's headers as `name: value`
    lines, without those the server makes per response (date, length)."""
    port, path, origin = int(args[0]), args[1], args[2]
    request = f"GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\nOrigin: {origin}\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head = data.partition(b"\r\n\r\n")[0].decode()
    for line in head.split("\r\n")[1:]:
        name = line.split(":", 1)[0].strip().lower()
        if name not in ("date", "content-length", "connection", "transfer-encoding"):
            print(line)


def cpu_seconds(pid):
    """User + system CPU seconds of a process and its children (nginx's
    workers), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    pids = [int(pid)]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == int(pid):
                    pids.append(int(entry))
            except OSError:
                pass
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / tick


def cmd_cpu(args):
    """cpu PID: CPU seconds used so far by PID and its children."""
    print(f"{cpu_seconds(args[0]):.3f}")


def cmd_allocations(args):
    """allocations FILE: the count bench/alloc_count.c keeps in FILE."""
    with open(args[0], "rb") as f:
        print(int.from_bytes(f.read(8), "little"))


def cmd_rss(args):
    """rss PID: resident set size in kB."""
    with open(f"/proc/{args[0]}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                print(line.split()[1])
                return
    sys.exit("no VmRSS")


def cmd_rss_parts(args):
    """rss-parts PID: where the resident pages are, as JSON in kB: the binary's
    own file (code, read-only data, relocated data), shared libraries (libc,
    libm, ld.so; shared with every other process using them), and anonymous
    memory (heap, malloc arenas, thread stacks)."""
    pid = args[0]
    exe = os.readlink(f"/proc/{pid}/exe")
    parts = {"binary": 0, "libraries": 0, "anonymous": 0}
    name = ""
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            fields = line.split()
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                name = fields[5] if len(fields) > 5 else ""
            elif fields and fields[0] == "Rss:":
                if name == exe:
                    parts["binary"] += int(fields[1])
                elif name.startswith("/"):
                    parts["libraries"] += int(fields[1])
                else:
                    parts["anonymous"] += int(fields[1])
    print(json.dumps(parts))


def cmd_upstream_calls(args):
    """upstream-calls PORT ENDPOINT: sum of token_agent_upstream_calls_total
    for that endpoint label, all outcomes."""
    port, endpoint = int(args[0]), args[1]
    status, body = http_get(port, "/metrics", timeout=5)
    if status != 200:
        sys.exit(f"/metrics answered {status}")
    total = 0
    pattern = re.compile(
        r'^token_agent_upstream_calls_total\{endpoint="' + re.escape(endpoint) + r'"[^}]*\}\s+(\d+)'
    )
    for line in body.decode().splitlines():
        m = pattern.match(line)
        if m:
            total += int(m.group(1))
    print(total)


def cmd_fake_base(args):
    """fake-base DEMO_LOG: the fake Graph API's base URL, as the banner of
    the last demo started into that log names it."""
    with open(args[0]) as f:
        found = re.findall(r"The fake Graph API is at (http://127\.0\.0\.1:\d+)", f.read())
    if not found:
        sys.exit(f"no fake Graph API address in {args[0]}")
    print(found[-1])


def cmd_cdn_host(args):
    """cdn-host FEED_JSON_FILE: host:port of the demo's fake CDN, read from
    a media_url of its feed, for MEDIA_CDN_HOSTS."""
    from urllib.parse import urlsplit

    with open(args[0]) as f:
        feed = json.load(f)
    for media in feed.get("data", []):
        url = media.get("media_url") or media.get("thumbnail_url")
        if url:
            print(urlsplit(url).netloc)
            return
    sys.exit("no media URL in the feed")


def status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    sys.exit(f"no {field}")


def cmd_mirror_wait(args):
    """mirror-wait PORT PATH ORIGIN PID [SECONDS]: asks PATH (a feed.json URL)
    once, which starts the mirror, then polls it every 20 ms (for at most
    SECONDS, 120) until every item
    carries its `mirror` object (and every album child its copy). Prints,
    as JSON, the milliseconds that took, the items, the first item's copy,
    and the server's peak resident memory (VmHWM, kB) over the whole process
    life, which the mirroring dominates when it starts from idle."""
    port, path, origin, pid = int(args[0]), args[1], args[2], args[3]
    limit = float(args[4]) if len(args) > 4 else 120
    started = time.perf_counter()
    deadline = started + limit
    while time.perf_counter() < deadline:
        status, body = http_get(port, path, origin, timeout=5)
        if status == 200:
            items = json.loads(body).get("data", [])

            def done(item):
                mirror = item.get("mirror")
                if not mirror:
                    return False
                children = item.get("children", {}).get("data", [])
                return len(mirror.get("children", [])) >= len(children)

            if items and all(done(i) for i in items):
                ms = (time.perf_counter() - started) * 1000
                print(json.dumps({"ms": round(ms, 1), "items": len(items),
                                  "src": items[0]["mirror"]["src"],
                                  "hwm_kb": status_kb(pid, "VmHWM")}))
                return
        time.sleep(0.02)
    sys.exit(f"the mirror did not finish within {limit:g} s ({path})")


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def to_ms(text):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    return float(m.group(1)) * UNITS[m.group(2)]


def parse_wrk(text):
    result = {"non2xx": 0, "socket_errors": 0}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("Requests/sec:"):
            result["rps"] = float(line.split()[1])
        elif re.match(r"^50(\.0+)?%", line):
            result["p50"] = to_ms(line.split()[1])
        elif re.match(r"^99(\.0+)?%", line):
            result["p99"] = to_ms(line.split()[1])
        elif line.startswith("Non-2xx or 3xx responses:"):
            result["non2xx"] = int(line.split(":")[1])
        elif line.startswith("Socket errors:"):
            result["socket_errors"] = sum(int(n) for n in re.findall(r"\d+", line))
        elif "requests in" in line:
            result["requests"] = int(line.split()[0])
    return result


def cmd_parse_wrk(args):
    """parse-wrk LABEL ROUND FILE [EXTRA_JSON]: one JSON line for the results file."""
    label, round_, path = args[0], int(args[1]), args[2]
    with open(path) as f:
        parsed = parse_wrk(f.read())
    if "rps" not in parsed:
        sys.exit(f"could not parse wrk output in {path}")
    parsed.update({"label": label, "round": round_})
    if len(args) > 3:
        parsed.update(json.loads(args[3]))
    print(json.dumps(parsed))


def median(values):
    values = sorted(values)
    n = len(values)
    if n == 0:
        return float("nan")
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def fmt_ms(ms):
    return f"{ms * 1000:.0f} us" if ms < 1 else f"{ms:.2f} ms"


def verdict(ok):
    return "PASS" if ok else "MISS"


NGINX = "nginx /token.json (file)"
CEILING = "hyper ceiling /token.json"
TOKEN_JSON, TOKEN_JS, FEED = "/token.json", "/token.js", "/feed.json (cache hit)"
NGINX_FEED = "nginx /feed.json (file)"


def cmd_report(args):
    """report RESULTS_JSONL FACTS_JSON [ALLOCATIONS_JSONL]: prints the tables
    and the targets."""
    runs = [json.loads(l) for l in open(args[0]) if l.strip()]
    facts = json.load(open(args[1]))
    allocations = {}
    if len(args) > 2:
        for line in open(args[2]):
            if line.strip():
                a = json.loads(line)
                allocations[a["label"]] = a["allocations"] / max(a.get("requests", 0), 1)
    order = []
    for r in runs:
        if r["label"] not in order:
            order.append(r["label"])
    summary = {}
    for label in order:
        mine = [r for r in runs if r["label"] == label]
        summary[label] = {
            "rps": median([r["rps"] for r in mine]),
            "p50": median([r["p50"] for r in mine]),
            "p99": median([r["p99"] for r in mine]),
            "cpu_us": median(
                [r["cpu_s"] * 1e6 / r["requests"] for r in mine if r.get("requests") and "cpu_s" in r]
            ),
            "non2xx": sum(r["non2xx"] for r in mine),
            "socket_errors": sum(r["socket_errors"] for r in mine),
            "runs": len(mine),
            "upstream": sum(r.get("upstream_calls", 0) for r in mine),
        }
    nginx = summary.get(NGINX, {}).get("rps")
    ceiling = summary.get(CEILING, {}).get("rps")
    print()
    print(
        f"machine: {facts['cores']} cores ({facts['cpu']}); wrk {facts['threads']} threads, "
        f"{facts['connections']} connections, {facts['duration']} s per run after a "
        f"{facts['warmup']} s warm-up, {facts['rounds']} alternating round(s); medians shown; "
        f"agent and ceiling on {facts['workers']} worker thread(s) unless named"
    )
    print()
    header = (
        f"{'target':<27} {'req/s':>9} {'p50':>9} {'p99':>9} {'CPU/req':>9} {'allocs/req':>10} "
        f"{'non-2xx':>7} {'vs nginx':>8} {'vs ceiling':>10}"
    )
    print(header)
    print("-" * len(header))
    for label in order:
        s = summary[label]
        ratio = f"{s['rps'] / nginx:.2f}x" if nginx else "-"
        to_ceiling = f"{s['rps'] / ceiling:.2f}x" if ceiling else "-"
        cpu = f"{s['cpu_us']:.2f} us" if s["cpu_us"] == s["cpu_us"] else "-"
        allocs = f"{allocations[label]:.2f}" if label in allocations else "-"
        non2xx = s["non2xx"] + s["socket_errors"]
        print(
            f"{label:<27} {s['rps']:>9,.0f} {fmt_ms(s['p50']):>9} {fmt_ms(s['p99']):>9} "
            f"{cpu:>9} {allocs:>10} {non2xx:>7} {ratio:>8} {to_ceiling:>10}"
        )
    print()
    print("per run (req/s, p99):")
    for label in order:
        mine = [r for r in runs if r["label"] == label]
        cells = ", ".join(f"r{r['round']}: {r['rps']:,.0f} {fmt_ms(r['p99'])}" for r in mine)
        print(f"  {label:<27} {cells}")
    print()
    if facts.get("mode") == "workers":
        print(f"load average at the end: {facts.get('loadavg', '?')}")
        return

    def kb(v):
        return f"{v / 1024:.1f} MB"

    ttl = facts["feed_ttl"]
    feed = summary.get(FEED, {})
    feed_seconds = facts["duration"] * feed.get("runs", 0)
    allowed_calls = feed.get("runs", 0) * (facts["duration"] // ttl + 1)
    print(f"{'measure':<52} {'value':>12}   target")
    print("-" * 80)
    rows = [
        ("RSS idle, demo (agent + in-process fake)", kb(facts["rss_demo_idle"]), "<= 7 MB",
         facts["rss_demo_idle"] <= 7 * 1024),
        ("RSS after load, demo", kb(facts["rss_demo_loaded"]), "<= 40 MB",
         facts["rss_demo_loaded"] <= 40 * 1024),
    ]
    if "rss_serve_idle" in facts:
        rows += [
            ("RSS idle, `serve` alone (SQLite, one account)", kb(facts["rss_serve_idle"]), "<= 7 MB",
             facts["rss_serve_idle"] <= 7 * 1024),
            ("RSS after load, `serve` alone", kb(facts["rss_serve_loaded"]), "<= 40 MB",
             facts["rss_serve_loaded"] <= 40 * 1024),
        ]
    rows.append(
        ("start -> first 200, demo (fake + seed + SQLite)", f"{facts['start_demo_ms']:.1f} ms",
         "<= 20 ms", facts["start_demo_ms"] <= 20)
    )
    if "start_serve_fresh_ms" in facts:
        rows += [
            ("start -> first 200, `serve`, new SQLite file", f"{facts['start_serve_fresh_ms']:.1f} ms",
             "<= 20 ms", facts["start_serve_fresh_ms"] <= 20),
            ("start -> first 200, `serve`, existing SQLite", f"{facts['start_serve_warm_ms']:.1f} ms",
             "<= 20 ms", facts["start_serve_warm_ms"] <= 20),
        ]
    rows.append(
        (f"me/media calls during {feed_seconds} s of feed load (TTL {ttl} s, 1 key)",
         str(feed.get("upstream", "-")), f"<= {allowed_calls}",
         feed.get("upstream", 0) <= allowed_calls)
    )
    token = summary.get(TOKEN_JSON)
    if nginx and token:
        rows.append(("/token.json vs nginx (req/s ratio)", f"{token['rps'] / nginx:.2f}x",
                     ">= 1.0x", token["rps"] >= nginx))
        rows.append(("/token.json p99 vs nginx p99", f"{fmt_ms(token['p99'])}",
                     f"<= {fmt_ms(summary[NGINX]['p99'])}", token["p99"] <= summary[NGINX]["p99"]))
    if ceiling and token:
        rows.append(("/token.json vs the hyper ceiling (req/s ratio)",
                     f"{token['rps'] / ceiling:.2f}x", "(shown)", True))
    js = summary.get(TOKEN_JS)
    if token and js:
        ratio = js["rps"] / token["rps"]
        rows.append(("/token.js vs /token.json", f"{ratio:.2f}x", ">= 0.95x", ratio >= 0.95))
    if token and feed:
        ratio = feed["rps"] / token["rps"]
        rows.append(("feed cache hit vs /token.json", f"{ratio:.2f}x", ">= 0.8x", ratio >= 0.8))
    nginx_feed = summary.get(NGINX_FEED)
    if feed and nginx_feed:
        rows.append(("feed cache hit vs nginx serving the same bytes",
                     f"{feed['rps'] / nginx_feed['rps']:.2f}x", "(shown)", True))
    if nginx and nginx_feed:
        rows.append(("nginx: the feed's bytes vs /token.json's",
                     f"{nginx_feed['rps'] / nginx:.2f}x", "(shown)", True))
    if TOKEN_JSON in allocations:
        rows.append(("allocations per /token.json request (agent)",
                     f"{allocations[TOKEN_JSON]:.2f}",
                     f"<= {allocations.get(CEILING, float('nan')):.2f}",
                     allocations[TOKEN_JSON] <= allocations.get(CEILING, 0) + 0.05))
    total_non2xx = sum(s["non2xx"] + s["socket_errors"] for s in summary.values())
    rows.append(("non-2xx + socket errors, all runs", str(total_non2xx), "0", total_non2xx == 0))
    for name, value, target, ok in rows:
        print(f"{name:<52} {value:>12}   {target:<9} {verdict(ok)}")
    print()
    print("allocations per request: a 3 s run of each under bench/alloc_count.c, whole process "
          "(connections set up once per run, 64 of them)")
    for label in ("demo", "`serve` alone"):
        key = "rss_demo_idle_parts" if label == "demo" else "rss_serve_idle_parts"
        if key in facts:
            p = facts[key]
            print(f"RSS idle, {label}: the binary's pages {kb(p['binary'])}, shared libraries "
                  f"{kb(p['libraries'])}, heap and stacks {kb(p['anonymous'])}")
    print()
    print(f"load average at the end: {facts.get('loadavg', '?')}")


def cmd_profile(args):
    """profile DUMP REQUESTS [TOP]: where a callgrind dump's instructions
    went, per request: by crate (the file the code is from, inlined code
    included), then the TOP (25) functions by their own instructions."""
    dump, requests = args[0], max(int(args[1]), 1)
    top = int(args[2]) if len(args) > 2 else 25
    text = subprocess.run(
        ["callgrind_annotate", "--inclusive=no", "--threshold=100", "--auto=no", dump],
        capture_output=True, text=True, check=True,
    ).stdout
    line = re.compile(r"^\s*([\d,]+) \(\s*([\d.]+)%\)\s+(.*?):(.*?)(?: \[.*\])?$")
    total, by_crate, by_function = 0, {}, {}
    for row in text.splitlines():
        m = line.match(row)
        if not m or "PROGRAM TOTALS" in row:
            continue
        cost, share, source, function = int(m.group(1).replace(",", "")), float(m.group(2)), m.group(3), m.group(4)
        # A thread's entry frames carry the cost of calls begun before the
        # counters were zeroed, not their own: skip them.
        if share >= 99:
            continue
        crate = re.search(r"/index\.crates\.io-[^/]+/([A-Za-z0-9_-]+?)-\d+\.\d+", source)
        if crate:
            crate = crate.group(1)
        elif source.startswith("/rustc/"):
            crate = "std"
        elif source.startswith("./") or source.startswith("???"):
            crate = "libc and kernel entry"
        else:
            crate = "token-agent"
        total += cost
        by_crate[crate] = by_crate.get(crate, 0) + cost
        by_function[function] = by_function.get(function, 0) + cost
    print(f"{total / requests:,.0f} instructions per request; by crate:")
    for crate, cost in sorted(by_crate.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {cost / requests:10,.0f}  {100 * cost / total:5.1f}%  {crate}")
    print(f"top {top} functions (own instructions, inlined code included):")
    for function, cost in sorted(by_function.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {cost / requests:10,.0f}  {100 * cost / total:5.1f}%  {function[:150]}")


COMMANDS = {
    "profile": cmd_profile,
    "free-port": cmd_free_port,
    "start": cmd_start,
    "get": cmd_get,
    "status": cmd_status,
    "served": cmd_served,
    "headers": cmd_headers,
    "cpu": cmd_cpu,
    "allocations": cmd_allocations,
    "rss": cmd_rss,
    "rss-parts": cmd_rss_parts,
    "upstream-calls": cmd_upstream_calls,
    "fake-base": cmd_fake_base,
    "cdn-host": cmd_cdn_host,
    "mirror-wait": cmd_mirror_wait,
    "parse-wrk": cmd_parse_wrk,
    "report": cmd_report,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(COMMANDS)} ...")
    COMMANDS[sys.argv[1]](sys.argv[2:])
