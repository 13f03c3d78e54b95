#!/usr/bin/env python3
"""Mixed load against a running `tarp demo` server, for bench/soak/soak.sh.

usage: load.py --url http://127.0.0.1:PORT --pid PID --seconds N [--workers N]

Runs for N seconds, on 127.0.0.1 only:
- workers on kept-alive connections, each picking at random: sync RPC (`my_function` on
  small ints, checked), async RPC (`my_long_function`: start, then `asyncGet` until done,
  checked), GETs (`get_data`, `get_plot`, `set_params`), large bodies (`my_function` on 1-4 MiB
  of bytes, echoed back and checked; `rpcExample` returning 100,000 float64);
- a vandal: bad requests whose refusal is expected (each checked for its exact status),
  clients that vanish mid-request (half a head, half a body, reset) and mid-response;
- a slowloris: 4 connections trickling a head one byte per second, each of which the
  server must cut (the head deadline) and which are then reopened.

Samples the server's resident memory, open file descriptors and threads from /proc/PID at
the start (before any load), every minute, at the middle, at the end of the load and once the
clients are gone, and prints a summary: requests served by kind, refusals by kind (all
expected), unexpected errors (must be none), and the samples. Exit status 1 if anything
unexpected happened or the descriptors at the end differ from those at the start.
"""

import argparse
import base64
import collections
import json
import os
import pickle
import random
import socket
import struct
import sys
import threading
import time
import urllib.parse

LOCK = threading.Lock()
SERVED = collections.Counter()  # successful requests by kind
REFUSED = collections.Counter()  # expected refusals by kind (status included)
CHAOS = collections.Counter()  # vanished and slow clients, by kind
UNEXPECTED = collections.Counter()  # anything else, by kind
EXAMPLES = {}  # one example message per unexpected kind


def count(counter, kind, n=1):
    with LOCK:
        counter[kind] += n


def unexpected(kind, detail):
    with LOCK:
        UNEXPECTED[kind] += 1
        EXAMPLES.setdefault(kind, str(detail)[:300])


# ---------------------------------------------------------------- HTTP over raw sockets


class Closed(Exception):
    pass


class Conn:
    """One kept-alive HTTP/1.1 connection with its read buffer."""

    def __init__(self, host, port, timeout=60):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def reset(self):
        """Closes with a TCP reset (SO_LINGER 0), as a killed client does."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise Closed("connection closed")
        self.buf += chunk

    def response(self, head=False):
        """Reads one final response: (status, headers dict (lowercase), body)."""
        while True:
            while b"\r\n\r\n" not in self.buf:
                self._fill()
            end = self.buf.index(b"\r\n\r\n")
            lines = self.buf[:end].decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ")[1])
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = 0 if head or status < 200 else int(headers.get("content-length", "0"))
            while len(self.buf) < end + 4 + length:
                self._fill()
            body = self.buf[end + 4 : end + 4 + length]
            self.buf = self.buf[end + 4 + length :]
            if status >= 200:
                return status, headers, body

    def closed_by_peer(self):
        """Whether the peer has closed (EOF or reset) with nothing more to read."""
        try:
            while True:
                chunk = self.sock.recv(1 << 16)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False


def request(method, target, body=b"", content_type=None, extra=""):
    head = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}"
    if content_type:
        head += f"Content-Type: {content_type}\r\n"
    if body or method == "POST":
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def rpc_body(args, kwargs=None):
    payload = {
        "args": base64.b64encode(pickle.dumps(tuple(args))).decode(),
        "kwargs": base64.b64encode(pickle.dumps(kwargs or {})).decode(),
    }
    return json.dumps(payload).encode()


def rpc_result(body):
    env = json.loads(body)
    return pickle.loads(base64.b64decode(env["result"]["payload"]))


# ---------------------------------------------------------------- workers


class Worker:
    def __init__(self, host, port, rng):
        self.host, self.port, self.rng = host, port, rng
        self.conn = None

    def connection(self):
        if self.conn is None:
            self.conn = Conn(self.host, self.port)
        return self.conn

    def exchange(self, data, head=False):
        """Sends and reads one response on the kept-alive connection (one reconnect if the
        server closed it while idle, which its idle deadline allows)."""
        for attempt in (0, 1):
            conn = self.connection()
            try:
                conn.send(data)
                return conn.response(head)
            except (Closed, ConnectionResetError, BrokenPipeError) as e:
                conn.close()
                self.conn = None
                if attempt == 1:
                    raise e

    def sync_rpc(self):
        x, y = self.rng.randrange(1000), self.rng.randrange(1000)
        status, _, body = self.exchange(request("POST", "/my_function", rpc_body([x, y]), "application/json"))
        if status == 200 and rpc_result(body) == x + y:
            count(SERVED, "sync RPC")
        else:
            unexpected("sync RPC", (status, body[:200]))

    def async_rpc(self):
        x, y = self.rng.randrange(1000), self.rng.randrange(1000)
        status, _, body = self.exchange(request("POST", "/my_long_function", rpc_body([x, y]), "application/json"))
        if status != 200:
            return unexpected("async RPC start", (status, body[:200]))
        job = json.loads(body)["result"]["ID"]
        deadline = time.time() + 60
        while time.time() < deadline:
            status, headers, body = self.exchange(request("GET", f"/asyncGet?UUID={job}"))
            if status == 200:
                if rpc_result(body) == x + y:
                    count(SERVED, "async RPC (start + get)")
                else:
                    unexpected("async RPC result", body[:200])
                return
            if status != 503:
                return unexpected("async RPC get", (status, body[:200]))
            time.sleep(min(float(headers.get("retry-after", "1")), 0.2))
        unexpected("async RPC", "not done within 60 s")

    def gets(self):
        target = self.rng.choice(["/get_data", "/get_plot", "/set_params?lower=0&upper=6.28", "/"])
        status, _, body = self.exchange(request("GET", target))
        if status == 200 and body:
            count(SERVED, "GET " + target.split("?")[0])
        else:
            unexpected("GET " + target, (status, body[:200]))

    def large(self):
        if self.rng.random() < 0.5:
            n = self.rng.randrange(1 << 20, 4 << 20)
            blob = os.urandom(64) * (n // 64)
            status, _, body = self.exchange(request("POST", "/my_function", rpc_body([blob, b"!"]), "application/json"))
            if status == 200 and rpc_result(body) == blob + b"!":
                count(SERVED, "large RPC (1-4 MiB each way)")
            else:
                unexpected("large RPC", (status, body[:200]))
        else:
            status, _, body = self.exchange(request("POST", "/rpcExample", rpc_body([100_000]), "application/json"))
            if status == 200 and len(rpc_result(body)) == 100_000:
                count(SERVED, "rpcExample (100,000 float64)")
            else:
                unexpected("rpcExample", (status, body[:200]))

    def run(self, stop):
        kinds = [self.sync_rpc] * 6 + [self.gets] * 4 + [self.async_rpc] * 2 + [self.large]
        while not stop.is_set():
            try:
                self.rng.choice(kinds)()
            except Exception as e:  # noqa: BLE001 - every failure is counted and reported
                unexpected(type(e).__name__, e)
                if self.conn:
                    self.conn.close()
                self.conn = None
                time.sleep(0.1)
        if self.conn:
            self.conn.close()


# ---------------------------------------------------------------- vandal


EVIL_PICKLE = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00idq\x01\x85R\x85."

# (kind, raw request, expected status, whether the server must close the connection)
BAD = [
    ("TE identity", b"POST /my_function HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n", 501, True),
    ("CL and TE", b"POST /my_function HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, True),
    ("CL list", b"POST /my_function HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\nhello", 400, True),
    ("bare LF", b"GET / HTTP/1.1\nHost: x\n\n", 400, True),
    ("chunk overflow", b"POST /my_function HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n", 400, True),
    ("body over the limit", b"POST /my_function HTTP/1.1\r\nContent-Length: 2147483648\r\n\r\n", 413, True),
    ("HTTP/2.0", b"GET / HTTP/2.0\r\n\r\n", 505, True),
    ("absolute-form", b"GET http://127.0.0.1/ HTTP/1.1\r\n\r\n", 400, True),
    ("path %ff", b"GET /%ff HTTP/1.1\r\nHost: x\r\n\r\n", 400, False),
    ("unknown endpoint", b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 404, False),
    ("wrong method", b"GET /my_function HTTP/1.1\r\nHost: x\r\n\r\n", 405, False),
    ("1001 query parameters", request("GET", "/set_params?" + "&".join(["a=1"] * 1001)), 400, False),
    (
        "os.system pickle",
        request(
            "POST",
            "/my_function",
            json.dumps({"args": base64.b64encode(EVIL_PICKLE).decode(), "kwargs": base64.b64encode(pickle.dumps({})).decode()}).encode(),
            "application/json",
        ),
        400,
        False,
    ),
    ("RPC missing argument", request("POST", "/my_function", rpc_body([1]), "application/json"), 400, False),
]

FOLLOW_UP = b"GET /get_data HTTP/1.1\r\nHost: x\r\n\r\n"


def vandal(host, port, rng, stop):
    while not stop.is_set():
        try:
            choice = rng.random()
            if choice < 0.6:
                kind, data, want, closes = rng.choice(BAD)
                conn = Conn(host, port, timeout=20)
                conn.send(data + FOLLOW_UP)
                status, headers, _ = conn.response()
                if status != want:
                    unexpected("refusal " + kind, f"status {status}, expected {want}")
                elif closes:
                    if headers.get("connection") == "close" and conn.closed_by_peer():
                        count(REFUSED, f"{kind} ({want}, closed)")
                    else:
                        unexpected("refusal " + kind, "connection not closed")
                else:
                    follow, _, _ = conn.response()
                    if follow == 200:
                        count(REFUSED, f"{kind} ({want}, kept open)")
                    else:
                        unexpected("refusal " + kind, f"follow-up {follow}")
                conn.close()
            elif choice < 0.7:
                conn = Conn(host, port)
                conn.send(b"POST /my_function HTTP/1.1\r\nHost: x\r\nContent-Le")
                time.sleep(rng.random() * 0.05)
                conn.reset()
                count(CHAOS, "vanished mid-head")
            elif choice < 0.8:
                conn = Conn(host, port)
                conn.send(b"POST /my_function HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n" + b"{" * 50_000)
                time.sleep(rng.random() * 0.05)
                conn.reset()
                count(CHAOS, "vanished mid-body")
            elif choice < 0.9:
                conn = Conn(host, port)
                conn.send(request("GET", "/get_plot") + request("POST", "/rpcExample", rpc_body([200_000]), "application/json"))
                conn.sock.recv(100)
                conn.reset()
                count(CHAOS, "vanished mid-response")
            else:
                conn = Conn(host, port)
                conn.send(request("GET", "/get_data") * 20)
                conn.close()
                count(CHAOS, "vanished mid-pipeline")
        except Exception as e:  # noqa: BLE001
            unexpected("vandal " + type(e).__name__, e)
        time.sleep(0.02)


# ---------------------------------------------------------------- slowloris


def slowloris(host, port, stop, n=4, limit=30.0):
    """n connections trickling a head one byte per second; each must be cut by the server."""

    def one():
        while not stop.is_set():
            try:
                conn = Conn(host, port, timeout=1)
                t0 = time.time()
                data = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000
                cut = False
                for b in data:
                    if stop.is_set():
                        break
                    try:
                        conn.send(bytes([b]))
                    except OSError:
                        cut = True
                        break
                    if conn.closed_by_peer():
                        cut = True
                        break
                    if time.time() - t0 > limit:
                        break
                took = time.time() - t0
                conn.close()
                if stop.is_set() and not cut:
                    return
                if cut:
                    count(CHAOS, "slowloris cut by the head deadline")
                    with LOCK:
                        SLOW_CUTS.append(took)
                else:
                    unexpected("slowloris", f"still open after {took:.0f} s")
            except Exception as e:  # noqa: BLE001
                unexpected("slowloris " + type(e).__name__, e)
                time.sleep(1)

    threads = [threading.Thread(target=one, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    return threads


SLOW_CUTS = []

# ---------------------------------------------------------------- /proc sampling


def sample(pid):
    rss = threads = None
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return {"rss_kib": rss, "fds": fds, "threads": threads}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--workers", type=int, default=6)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", help="also write the summary as JSON to this file")
    a = ap.parse_args()
    u = urllib.parse.urlsplit(a.url)
    host, port = u.hostname, u.port
    assert host == "127.0.0.1", "the soak runs on 127.0.0.1 only"

    samples = [("start", 0.0, sample(a.pid))]
    stop = threading.Event()
    t0 = time.time()
    threads = []
    for i in range(a.workers):
        w = Worker(host, port, random.Random(a.seed * 1000 + i))
        threads.append(threading.Thread(target=w.run, args=(stop,), daemon=True))
    threads.append(threading.Thread(target=vandal, args=(host, port, random.Random(a.seed), stop), daemon=True))
    for t in threads:
        t.start()
    threads += slowloris(host, port, stop)

    middle_done = False
    next_minute = 60.0
    while True:
        elapsed = time.time() - t0
        if elapsed >= a.seconds:
            break
        if not middle_done and elapsed >= a.seconds / 2:
            samples.append(("middle", elapsed, sample(a.pid)))
            middle_done = True
        if elapsed >= next_minute:
            samples.append((f"minute {int(next_minute // 60)}", elapsed, sample(a.pid)))
            next_minute += 60
        time.sleep(0.5)
    samples.append(("end of load", time.time() - t0, sample(a.pid)))
    stop.set()
    for t in threads:
        t.join(timeout=40)
    # The clients are gone: the server's descriptors settle back (closing takes the lingering
    # close of refused connections and the slowloris cuts at most a few seconds).
    settle_deadline = time.time() + 30
    while time.time() < settle_deadline and sample(a.pid)["fds"] != samples[0][2]["fds"]:
        time.sleep(0.5)
    samples.append(("clients gone", time.time() - t0, sample(a.pid)))

    total = sum(SERVED.values())
    lines = []
    lines.append(f"duration: {a.seconds:.0f} s of load, {a.workers} workers + vandal + 4 slowloris connections")
    lines.append(f"requests served: {total} ({total / a.seconds:.0f}/s)")
    for k, v in sorted(SERVED.items()):
        lines.append(f"  {k:40} {v:>9}")
    lines.append(f"expected refusals: {sum(REFUSED.values())}")
    for k, v in sorted(REFUSED.items()):
        lines.append(f"  {k:40} {v:>9}")
    lines.append(f"vanishing and slow clients: {sum(CHAOS.values())}")
    for k, v in sorted(CHAOS.items()):
        lines.append(f"  {k:40} {v:>9}")
    if SLOW_CUTS:
        lines.append(f"  slowloris cut after {min(SLOW_CUTS):.1f} to {max(SLOW_CUTS):.1f} s (head deadline 10 s)")
    lines.append(f"unexpected errors: {sum(UNEXPECTED.values())}")
    for k, v in sorted(UNEXPECTED.items()):
        lines.append(f"  {k:40} {v:>9}   e.g. {EXAMPLES[k]}")
    lines.append("server samples (resident memory, open file descriptors, threads):")
    for label, at, s in samples:
        lines.append(f"  {label:14} t={at:7.1f} s  RSS {s['rss_kib'] / 1024:8.1f} MiB  fds {s['fds']:4}  threads {s['threads']:4}")
    start_fds, end_fds = samples[0][2]["fds"], samples[-1][2]["fds"]
    verdict_ok = not UNEXPECTED and start_fds == end_fds
    lines.append(f"fds at start {start_fds}, once the clients are gone {end_fds}: {'equal' if start_fds == end_fds else 'DIFFERENT'}")
    lines.append("verdict: " + ("OK" if verdict_ok else "FAILED"))
    print("\n".join(lines))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(
                {
                    "served": SERVED,
                    "refused": REFUSED,
                    "chaos": CHAOS,
                    "unexpected": UNEXPECTED,
                    "samples": samples,
                    "slowloris_cut_s": SLOW_CUTS,
                },
                f,
                indent=1,
            )
    sys.exit(0 if verdict_ok else 1)


if __name__ == "__main__":
    main()
