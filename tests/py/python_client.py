#!/usr/bin/env python3
"""A TARP client on the Python standard library, speaking exactly as the Python TARP client does.

PROTOCOL.md section 7 describes what the Python client (built on `requests`) sends and expects.
This module reproduces it with `http.client`, `pickle`, `base64` and `json` only, so the tests
can drive a server as that client would without installing anything:

- one new connection per call, with the headers `requests` sends (`User-Agent:
  python-requests/...`, `Accept-Encoding: gzip, deflate`, `Accept: */*`,
  `Connection: keep-alive`), closed after the response;
- the URL as the Python client builds it (query strings with no escaping, then re-quoted as
  `requests` does), `Content-Length: 0` on an empty POST;
- pickles at the interpreter's default protocol, standard base64 with padding;
- the same error branching: 404 raises "API endpoint not found." without reading the body,
  other non-200s raise `OperationInProgress` (with `Retry-After`), `InvalidServerState` or a
  plain `Exception` carrying the envelope's message; a response whose `Content-Type` is not
  exactly `application/json` is a raw payload `(content type, body bytes)`;
- one method per discovered endpoint (a `/` in a name becomes `_`), its docstring being the
  endpoint's description; async endpoints return a handle with `wait()`, `probe()`,
  `status()` and `waitCycle()`.

Command line (used by the Rust tests):

    python3 python_client.py URL [--server-key CA.pem] (-c CODE | --script FILE)

connects to URL (reading the discovery document), then runs CODE with `c` bound to the client,
plus `OperationInProgress`, `InvalidServerState`, `expect_error`, `pickle`, `json`, `base64`,
`time`. A failed `assert` or an uncaught exception exits non-zero with a traceback.
"""

import argparse
import base64
import http.client
import json
import pickle
import ssl
import sys
import time
import urllib.parse

# What `requests` announces itself as; the server must not care, but we send the same bytes.
USER_AGENT = "python-requests/2.32.3"


class OperationInProgress(Exception):
    """The server answered 503 with type OperationInProgress; `retry_after` in seconds."""

    def __init__(self, message="Operation not completed. Please wait.", retry_after=5):
        self.message = message
        self.retry_after = retry_after
        super().__init__(self.message)


class InvalidServerState(Exception):
    """The server answered 503 with type InvalidServerState."""

    def __init__(self, message="Server is in an invalid state."):
        self.message = message
        super().__init__(self.message)


class Response:
    """The parts of a `requests.Response` the Python client reads."""

    def __init__(self, status_code, headers, content):
        self.status_code = status_code
        self.headers = headers  # http.client.HTTPMessage: case-insensitive get()
        self.content = content

    @property
    def text(self):
        return self.content.decode("utf-8", errors="replace")

    def json(self):
        # requests raises a JSONDecodeError subclass on an empty or invalid body.
        return json.loads(self.text)


_UNRESERVED = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
)


def _unquote_unreserved(uri):
    """Decodes only percent-escapes of unreserved characters, as requests.utils does."""
    parts = uri.split("%")
    out = [parts[0]]
    for part in parts[1:]:
        h = part[0:2]
        if len(h) == 2 and all(ch in "0123456789abcdefABCDEF" for ch in h):
            ch = chr(int(h, 16))
            out.append(ch + part[2:] if ch in _UNRESERVED else "%" + part)
        else:
            out.append("%" + part)
    return "".join(out)


def requote_uri(uri):
    """Re-quotes a URI the way `requests` does before sending it."""
    safe_with_percent = "!#$%&'()*+,/:;=?@[]~"
    safe_without_percent = "!#$&'()*+,/:;=?@[]~"
    try:
        return urllib.parse.quote(_unquote_unreserved(uri), safe=safe_with_percent)
    except ValueError:
        return urllib.parse.quote(uri, safe=safe_without_percent)


def http_request(method, url, body=None, headers=None, verify=None, timeout=60):
    """One request on a fresh connection, closed afterwards, as `requests.get/post` do."""
    parsed = urllib.parse.urlsplit(requote_uri(url))
    host = parsed.hostname
    port = parsed.port
    if parsed.scheme == "https":
        context = ssl.create_default_context(cafile=verify) if verify else ssl.create_default_context()
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    target = parsed.path or "/"
    if parsed.query:
        target += "?" + parsed.query
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        conn.putheader("User-Agent", USER_AGENT)
        conn.putheader("Accept-Encoding", "gzip, deflate")
        conn.putheader("Accept", "*/*")
        conn.putheader("Connection", "keep-alive")
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        elif method not in ("GET", "HEAD"):
            conn.putheader("Content-Length", "0")
        conn.endheaders(body)
        resp = conn.getresponse()
        content = resp.read()
        return Response(resp.status, resp.headers, content)
    finally:
        conn.close()


class client:
    """The Python TARP client, method for method."""

    class asyncResult:
        """A handle on an asynchronous call."""

        def __init__(self, client, ID):
            self.client = client
            self.ID = ID

        def wait(self):
            """Waits for the result, sleeping Retry-After seconds on each 503."""
            return self.client.wait(self.ID)

        def probe(self):
            """The probe's result: status and suggested wait (and error when failed)."""
            return self.client.probe(self.ID)

        def waitCycle(self):
            """Probes once; sleeps the suggested wait and returns None while running."""
            pb = self.probe()
            if pb["status"] == "in_progress":
                time.sleep(pb["suggested_wait"])
                return None
            elif pb["status"] == "completed":
                return self.wait()
            elif pb["status"] == "failed":
                raise Exception(f"Async operation failed with error: {pb.get('error', 'Unknown error')}")

        def status(self):
            return self.probe().get("status", "unknown")

    def __init__(self, server_url, server_key=None):
        self.server_url = server_url.rstrip("/")
        self.server_key = server_key
        self.remoteNames = []
        self.endpoints = {}
        self.loadEndpoints()

    def _get(self, url):
        return http_request("GET", url, verify=self.server_key)

    def _post(self, url, data=None, headers=None):
        return http_request("POST", url, body=data, headers=headers, verify=self.server_key)

    def checkAPIresult(self, response):
        """The Python client's error branching, then `(mimetype, result)`."""
        if response.status_code == 404:
            raise Exception("API endpoint not found.")
        if response.status_code != 200:
            try:
                body = response.json()
            except json.JSONDecodeError:
                raise Exception(f"API Error: {response.status_code} - {response.text}")
            if body.get("type", None) == "OperationInProgress":
                retry_after = int(response.headers.get("Retry-After", 5))
                raise OperationInProgress(body.get("message", "Operation in progress"), retry_after=retry_after)
            elif body.get("type", None) == "InvalidServerState":
                raise InvalidServerState(body.get("message", "Invalid server state"))
            else:
                raise Exception(body.get("message", "Unknown error"))
        if response.headers.get("Content-Type") != "application/json":
            return response.headers.get("Content-Type"), response.content
        body = response.json()
        if body["status"] != "success":
            raise Exception(f"API Error: {body.get('message', 'Unknown error')}")
        return body.get("mimetype"), body.get("result", None)

    @staticmethod
    def _rpc_body(args, kwargs):
        payload = {
            "args": base64.b64encode(pickle.dumps(args)).decode("utf-8"),
            "kwargs": base64.b64encode(pickle.dumps(kwargs)).decode("utf-8"),
        }
        return json.dumps(payload).encode("utf-8")

    def _make_get(self, name):
        def get_method(**kwargs):
            params = "&".join(f"{k}={v}" for k, v in kwargs.items())
            return self.checkAPIresult(self._get(f"{self.server_url}/{name}?{params}"))

        return get_method

    def _make_post(self, name):
        def post_method(payload=None, **kwargs):
            url = f"{self.server_url}/{name}"
            params = "&".join(f"{k}={v}" for k, v in kwargs.items())
            if params:
                url += f"?{params}"
            if payload:
                if isinstance(payload, dict):
                    headers = {"Content-Type": "application/json"}
                    payload = json.dumps(payload).encode("utf-8")
                else:
                    headers = {"Content-Type": "application/octet-stream"}
                    payload = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
                resp = self._post(url, data=payload, headers=headers)
            else:
                resp = self._post(url)
            return self.checkAPIresult(resp)

        return post_method

    def _make_rpc(self, name, is_async):
        def rpc_method(*args, **kwargs):
            headers = {"Content-Type": "application/json"}
            resp = self._post(f"{self.server_url}/{name}", data=self._rpc_body(args, kwargs), headers=headers)
            mime, results = self.checkAPIresult(resp)
            if mime != "application/json":
                raise Exception(f"RPC endpoint {name} returned non-JSON response: {mime}")
            if is_async:
                return self.asyncResult(self, results["ID"])
            return pickle.loads(base64.b64decode(results["payload"]))

        return rpc_method

    def loadEndpoints(self):
        """Reads `GET /` and builds one method per endpoint."""
        _, result = self.checkAPIresult(self._get(f"{self.server_url}/"))
        self.discovery = result
        kinds = [
            ("GET", self._make_get),
            ("POST", self._make_post),
            ("RPC", lambda n: self._make_rpc(n, False)),
            ("ASYNCRPC", lambda n: self._make_rpc(n, True)),
        ]
        for kind, make in kinds:
            for endpoint in result.get(kind, []):
                name = endpoint["name"].replace("/", "_")
                method = make(name)
                method.__doc__ = endpoint.get("description", f"{kind} method for {name}")
                setattr(self, name, method)
                self.remoteNames.append(name)
                self.endpoints[name] = (kind, endpoint)

    def wait(self, ID):
        url = f"{self.server_url}/asyncGet?UUID={ID}"
        while True:
            try:
                mime, result = self.checkAPIresult(self._get(url))
                if mime == "application/json":
                    return pickle.loads(base64.b64decode(result["payload"]))
                raise Exception(f"Unexpected mimetype: {mime}")
            except OperationInProgress as e:
                time.sleep(e.retry_after)

    def probe(self, ID):
        mime, result = self.checkAPIresult(self._get(f"{self.server_url}/asyncProbe?UUID={ID}"))
        if mime == "application/json":
            return result
        raise Exception(f"Unexpected mimetype: {mime}")


def expect_error(exc_type, fn, *args, **kwargs):
    """Calls fn and returns the exception of exc_type it raises; fails if it raises nothing."""
    try:
        value = fn(*args, **kwargs)
    except exc_type as e:
        return e
    raise AssertionError(f"expected {exc_type.__name__}, got the value {value!r}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url")
    parser.add_argument("--server-key", default=None, help="CA or self-signed certificate to trust")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("-c", dest="code", help="Python code to run with `c` bound to the client")
    group.add_argument("--script", help="file of Python code to run likewise")
    args = parser.parse_args(argv)
    code = args.code
    if args.script:
        with open(args.script, encoding="utf-8") as f:
            code = f.read()
    c = client(args.url, server_key=args.server_key)
    env = {
        "c": c,
        "client": client,
        "OperationInProgress": OperationInProgress,
        "InvalidServerState": InvalidServerState,
        "expect_error": expect_error,
        "http_request": http_request,
        "pickle": pickle,
        "json": json,
        "base64": base64,
        "time": time,
        "url": args.url,
        "server_key": args.server_key,
    }
    exec(compile(code, "<scenario>", "exec"), env)
    print("python_client: scenario passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
