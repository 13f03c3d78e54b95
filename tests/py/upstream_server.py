#!/usr/bin/env python3
"""A TARP server on the Python standard library, behaving as the Python TARP server does.

PROTOCOL.md describes the Python server, including its *upstream quirks*. This module
reimplements it on `http.server` (standard library only; numpy is used when importable) so our
Rust client is tested against a server whose pickles come from CPython itself:

- HTTP/1.0, one thread per connection, the connection closed after each response;
- `Content-Type: application/json` envelopes; raw payloads sent as they are;
- results pickled with `pickle.dumps` at the interpreter's default protocol (numpy arrays
  included: `rpcExample` returns `numpy.linspace(lower, upper, value)`);
- the documented quirks: a string result comes back with `mimetype` null and its UTF-8 bytes
  base64-encoded; `0`/`False`/`None` results become null; an RPC or POST handler's
  `OperationInProgress`/`InvalidServerState` comes back with type `generic` (a GET handler's
  keep their types); an unknown `UUID` gets a 404 head with no body; a POST to an unknown
  endpoint gets a 404 with no `Content-Type`; an async function that raised makes probe and get
  drop the connection with no answer; finished results are kept until fetched; a pickle that
  does not load drops the connection.

Command line:

    python3 upstream_server.py [--port 0] [--bind 127.0.0.1] [--certfile C --keyfile K]
                               [--delay SECONDS] [--suggested-wait SECONDS]

prints `PORT <n>` once listening, then serves the example endpoints below until killed or until
its standard input is closed (so a test that dies takes the server with it).
"""

import argparse
import base64
import concurrent.futures
import json
import os
import pickle
import ssl
import struct
import sys
import threading
import time
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, HTTPServer
from socketserver import ThreadingMixIn
from urllib.parse import parse_qs, urlparse

try:
    import numpy
except ImportError:  # numpy is optional; endpoints that need it then answer 500
    numpy = None


class OperationInProgress(Exception):
    """Raised by a handler: "operation in progress, retry after N seconds"."""

    def __init__(self, message="Operation not completed. Please wait.", retry_after=5):
        self.message = message
        self.retry_after = retry_after
        super().__init__(self.message)


class InvalidServerState(Exception):
    """Raised by a handler: "the server is in an invalid state"."""

    def __init__(self, message="Server is in an invalid state."):
        self.message = message
        super().__init__(self.message)


class rawPayload:
    """Bytes returned without an envelope, with their MIME type."""

    def __init__(self, payload, mimetype="application/octet-stream"):
        self.payload = payload
        self.mimetype = mimetype


def _b64_bytes(value):
    """Base64-encodes bytes found at any depth of maps and lists, as the Python server does."""
    if isinstance(value, dict):
        return {k: _b64_bytes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_b64_bytes(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("utf-8")
    return value


def success(result, mimetype):
    return json.dumps(_b64_bytes({"status": "success", "mimetype": mimetype, "result": result})).encode("utf-8")


def error(message, kind="generic"):
    return json.dumps({"status": "error", "type": kind, "message": message}).encode("utf-8")


def flatten(qs):
    return {k: v[0] if len(v) == 1 else v for k, v in qs.items()}


class Registry:
    """The endpoints of one server, by kind."""

    def __init__(self, threads=True):
        self.gets, self.posts, self.rpcs, self.asyncs = {}, {}, {}, {}
        self.jobs = {}
        self.lock = threading.Lock()
        pool = concurrent.futures.ThreadPoolExecutor if threads else concurrent.futures.ProcessPoolExecutor
        self.executor = pool(max_workers=10)

    @staticmethod
    def _describe(func, description):
        return description or func.__doc__ or "No description provided"

    def add_get(self, name, func, mimetype=None, description=None, query_params=None):
        self.gets[name] = dict(func=func, mimetype=mimetype, description=self._describe(func, description),
                               query_params=query_params)

    def add_post(self, name, func, mimetype=None, description=None, query_params=None,
                 payload_mimetype=None, payload_schema=None):
        self.posts[name] = dict(func=func, mimetype=mimetype, description=self._describe(func, description),
                                query_params=query_params, payload_mimetype=payload_mimetype,
                                payload_schema=payload_schema)

    def add_rpc(self, name, func, mimetype=None, description=None):
        self.rpcs[name] = dict(func=func, mimetype=mimetype, description=self._describe(func, description))

    def add_async(self, name, func, mimetype=None, description=None, suggested_wait=5):
        self.asyncs[name] = dict(func=func, mimetype=mimetype, description=self._describe(func, description),
                                 wait=suggested_wait)

    def discovery(self):
        return {
            "GET": [{"name": n, "description": d["description"], "query_params": d["query_params"] or []}
                    for n, d in self.gets.items()],
            "POST": [{"name": n, "description": d["description"], "query_params": d["query_params"] or [],
                      "payload_mimetype": d["payload_mimetype"] or None,
                      "payload_schema": d["payload_schema"] or None}
                     for n, d in self.posts.items()],
            "RPC": [{"name": n, "description": d["description"]} for n, d in self.rpcs.items()],
            "ASYNCRPC": [{"name": n, "description": d["description"]} for n, d in self.asyncs.items()],
        }


class Handler(BaseHTTPRequestHandler):
    """One request per connection (HTTP/1.0), dispatched by method and path."""

    registry = None  # set by serve()
    protocol_version = "HTTP/1.0"

    def log_message(self, format, *args):  # keep test output quiet
        pass

    def reply(self, status, body, content_type="application/json", extra=()):
        self.send_response(status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def head_only(self, status):
        """The quirk of error paths that crash after the head: status and type, no body."""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()

    def read_body(self):
        length = int(self.headers.get("Content-Length", 0))
        data = self.rfile.read(length) if length else None
        ctype = self.headers.get("Content-Type", None)
        if data is None:
            return None
        if ctype == "application/json":  # exact comparison: upstream quirk
            try:
                return json.loads(data.decode("utf-8"))
            except json.JSONDecodeError:
                return data
        if ctype == "application/x-www-form-urlencoded":
            return flatten(parse_qs(data.decode("utf-8")))
        if ctype == "text/plain":
            return data.decode("utf-8")
        return data

    def send_result(self, result, mimetype=None):
        if isinstance(result, rawPayload):
            self.reply(200, bytes(result.payload), mimetype or result.mimetype)
            return
        if isinstance(result, (dict, list)):
            mimetype = mimetype or "application/json"
        elif isinstance(result, str):
            result = result.encode("utf-8")  # quirk: mimetype stays null, text goes base64
        elif isinstance(result, bytes):
            mimetype = mimetype or "application/octet-stream"
        elif not result:
            result = None
        else:
            self.head_only(500)  # quirk: "Unrecognized payload type" crashes after the head
            return
        self.reply(200, success(result, mimetype))

    def handler_error(self, e, typed):
        """Maps a handler's exception; `typed` is False where upstream loses the type."""
        if isinstance(e, OperationInProgress):
            kind = "OperationInProgress" if typed else "generic"
            self.reply(503, error(str(e), kind), extra=[("Retry-After", str(e.retry_after))])
        elif isinstance(e, InvalidServerState):
            self.reply(503, error(str(e), "InvalidServerState" if typed else "generic"))
        else:
            self.reply(500, error(str(e)))

    def job_lookup(self):
        qs = parse_qs(urlparse(self.path).query)
        ident = qs.get("UUID", [None])[0]
        if not ident:
            self.reply(400, error("UUID parameter is required"))
            return None
        with self.registry.lock:
            job = self.registry.jobs.get(ident)
        if job is None:
            self.head_only(404)
            return None
        return ident, job

    def async_get(self):
        found = self.job_lookup()
        if found is None:
            return
        ident, job = found
        if job["future"].done():
            result = job["future"].result()  # raises for a failed job: the connection drops
            self.reply(200, success({"payload": pickle.dumps(result)}, "application/json"))
            with self.registry.lock:
                self.registry.jobs.pop(ident, None)
        else:
            self.reply(503, error("Operation still underway", "OperationInProgress"),
                       extra=[("Retry-After", str(job["wait"]))])

    def async_probe(self):
        found = self.job_lookup()
        if found is None:
            return
        _, job = found
        if job["future"].done():
            job["future"].result()  # raises for a failed job: the connection drops
            status = "completed"
        else:
            status = "in_progress"
        self.reply(200, success({"status": status, "suggested_wait": job["wait"]}, "application/json"))

    def do_GET(self):
        parsed = urlparse(self.path)
        if parsed.path == "/":
            self.reply(200, success(self.registry.discovery(), "application/json"))
            return
        if parsed.path == "/asyncGet":
            self.async_get()
            return
        if parsed.path == "/asyncProbe":
            self.async_probe()
            return
        entry = self.registry.gets.get(parsed.path.lstrip("/"))
        if entry is None:
            self.reply(404, error("Endpoint not found"))
            return
        body = self.read_body()
        try:
            result = entry["func"](flatten(parse_qs(parsed.query)), body)
        except Exception as e:
            self.handler_error(e, typed=True)
            return
        self.send_result(result, entry["mimetype"])

    def do_POST(self):
        parsed = urlparse(self.path)
        name = parsed.path.lstrip("/")
        if name in self.registry.rpcs or name in self.registry.asyncs:
            self.rpc(name, parsed)
            return
        entry = self.registry.posts.get(name)
        if entry is None:
            self.reply(404, error("Endpoint not found"), content_type=None)
            return
        body = self.read_body()
        try:
            result = entry["func"](flatten(parse_qs(parsed.query)), body)
        except Exception as e:
            self.handler_error(e, typed=False)
            return
        self.send_result(result, entry["mimetype"])

    def rpc(self, name, parsed):
        body = self.read_body()
        if parsed.query:
            self.reply(400, error("RPC endpoints should not have query parameters"))
            return
        if not isinstance(body, dict) or "args" not in body or "kwargs" not in body:
            self.reply(400, error('RPC body data should be a JSON object with "args" and "kwargs" keys'))
            return
        # A pickle that does not load raises here and drops the connection, as upstream does.
        args = pickle.loads(base64.b64decode(body["args"]))
        kwargs = pickle.loads(base64.b64decode(body["kwargs"]))
        if not isinstance(args, tuple):
            self.reply(400, error("RPC args should be a tuple"))
            return
        if not isinstance(kwargs, dict):
            self.reply(400, error("RPC kwargs should be a dict"))
            return
        if name in self.registry.asyncs:
            entry = self.registry.asyncs[name]
            future = self.registry.executor.submit(entry["func"], *args, **kwargs)
            ident = str(uuid.uuid4())
            with self.registry.lock:
                self.registry.jobs[ident] = {"future": future, "wait": entry["wait"]}
            self.send_result({"ID": ident, "suggested_wait": entry["wait"]}, entry["mimetype"])
            return
        entry = self.registry.rpcs[name]
        try:
            result = {"payload": pickle.dumps(entry["func"](*args, **kwargs))}
        except Exception as e:
            self.handler_error(e, typed=False)
            return
        self.send_result(result, entry["mimetype"])


class ThreadedServer(ThreadingMixIn, HTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # The dropped connection is the documented behaviour; keep its traceback out of the
        # test output.
        pass


# ---------------------------------------------------------------------------------------------
# The example service the tests drive.

DELAY = 0.0  # seconds rpcExample and my_long_function sleep (upstream: 10)
STATE = {"lower": 0.0, "upper": 10.0}


def my_function(x, y):
    """Adds two numbers."""
    return x + y


def rpcExample(value, lower=0, upper=10):
    """An example RPC function that returns a value."""
    time.sleep(DELAY)
    if numpy is None:
        raise RuntimeError("numpy is not installed")
    return numpy.linspace(lower, upper, value)


def my_long_function(x, y):
    """Adds two numbers, slowly."""
    time.sleep(DELAY)
    return x + y


def failing_job():
    """Raises after a short while (probe and get then drop the connection)."""
    time.sleep(DELAY)
    raise ValueError("the job failed")


def echo_args(*args, **kwargs):
    """Returns its positional and keyword arguments."""
    return [list(args), kwargs]


def raises(message="boom"):
    """Raises a ValueError with the message."""
    raise ValueError(message)


def busy(retry_after=2):
    """Raises OperationInProgress (comes back typed generic from an RPC: upstream quirk)."""
    raise OperationInProgress("busy, come back later", retry_after=retry_after)


def invalid():
    """Raises InvalidServerState (comes back typed generic from an RPC: upstream quirk)."""
    raise InvalidServerState("not ready")


def python_types():
    """Returns values of many Python types, pickled by CPython."""
    value = {
        "none": None, "true": True, "int": -7, "big": 2 ** 100, "float": 1.5, "str": "héllo",
        "bytes": b"\x00\xff", "list": [1, "a"], "tuple": (1, 2), "set": {3}, "frozenset": frozenset({4}),
    }
    if numpy is not None:
        value["i32"] = numpy.arange(6, dtype="<i4").reshape(2, 3)
        value["f64scalar"] = numpy.float64(2.5)
    return value


def set_params(params, body):
    """Sets the lower and upper bounds of the sine wave."""
    if "lower" in params:
        STATE["lower"] = float(params["lower"])
    if "upper" in params:
        STATE["upper"] = float(params["upper"])
    return dict(STATE)


def get_data(params, body):
    """The sine wave's points as JSON."""
    import math
    lower, upper = STATE["lower"], STATE["upper"]
    xs = [lower + (upper - lower) * i / 99 for i in range(100)]
    return {"x": xs, "y": [math.sin(x) for x in xs]}


def tiny_png():
    """A valid 1x1 PNG, made with zlib (no imaging library needed)."""
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) \
        + chunk(b"IEND", b"")


def get_plot(params, body):
    """A PNG image, as a raw payload."""
    return rawPayload(tiny_png(), mimetype="image/png")


def echo(params, body):
    """Returns the query parameters and the decoded body."""
    return {"params": params, "body": body}


def text(params, body):
    """Returns a string (mimetype null and base64 text: upstream quirk)."""
    return "hello"


def blob(params, body):
    """Returns bytes."""
    return b"\x01\x02\x03"


def nothing(params, body):
    """Returns None."""
    return None


def busy_get(params, body):
    """Raises OperationInProgress from a GET handler (typed correctly)."""
    raise OperationInProgress("busy, come back later", retry_after=2)


def invalid_get(params, body):
    """Raises InvalidServerState from a GET handler (typed correctly)."""
    raise InvalidServerState("not ready")


def example_registry(suggested_wait=1, threads=True):
    reg = Registry(threads=threads)
    reg.add_rpc("my_function", my_function)
    reg.add_rpc("rpcExample", rpcExample)
    reg.add_rpc("echo_args", echo_args)
    reg.add_rpc("raises", raises)
    reg.add_rpc("busy", busy)
    reg.add_rpc("invalid", invalid)
    reg.add_rpc("python_types", python_types)
    reg.add_async("asyncRPCExample", rpcExample, suggested_wait=suggested_wait)
    reg.add_async("my_long_function", my_long_function, suggested_wait=suggested_wait)
    reg.add_async("failing_job", failing_job, suggested_wait=suggested_wait)
    reg.add_get("set_params", set_params, query_params=["lower", "upper"])
    reg.add_get("get_data", get_data)
    reg.add_get("get_plot", get_plot)
    reg.add_get("echo", echo, query_params=["a", "b"])
    reg.add_get("text", text)
    reg.add_get("blob", blob)
    reg.add_get("nothing", nothing)
    reg.add_get("busy_get", busy_get)
    reg.add_get("invalid_get", invalid_get)
    reg.add_post("pecho", echo, payload_mimetype="application/json", payload_schema={"type": "object"})
    reg.add_post("busy_post", busy_get)
    return reg


def serve(registry, port=0, bind="", certfile=None, keyfile=None):
    """Binds, prints `PORT <n>`, and serves forever (like runServer(port=, bindTo=))."""
    handler = type("ExampleHandler", (Handler,), {"registry": registry})
    httpd = ThreadedServer((bind, port), handler)
    if certfile:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certfile, keyfile)
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    print(f"PORT {httpd.server_address[1]}", flush=True)
    httpd.serve_forever()


def _exit_when_stdin_closes():
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        os._exit(0)


def main(argv=None):
    global DELAY
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--certfile")
    parser.add_argument("--keyfile")
    parser.add_argument("--delay", type=float, default=0.5)
    parser.add_argument("--suggested-wait", type=int, default=1)
    args = parser.parse_args(argv)
    DELAY = args.delay
    if not sys.stdin.isatty():
        threading.Thread(target=_exit_when_stdin_closes, daemon=True).start()
    serve(example_registry(args.suggested_wait), args.port, args.bind, args.certfile, args.keyfile)


if __name__ == "__main__":
    main()
