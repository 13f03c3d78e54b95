//! Shared by the service and protocol tests: a harness that drives a `Service` through the
//! HTTP connection machine (raw request bytes in, raw response bytes out, time injected), and
//! the Python client's exact request bytes, made by CPython itself.
#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tarp_core::http::{Limits, Next, Response, ServerConn};
use tarp_core::service::{Dispatch, Job, Service};

/// A service, a fake clock, and the async jobs the service handed out but that have not run.
pub struct Harness {
    pub svc: Arc<Service>,
    pub now: Instant,
    pub pending: Vec<Job>,
}

/// A response as it came off the wire.
#[derive(Debug, Clone)]
pub struct Raw {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub bytes: Vec<u8>,
}

impl Raw {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("body is UTF-8")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("body is JSON")
    }

    /// Asserts status, the complete header set (names case-insensitive, order free) and the
    /// exact body.
    #[track_caller]
    pub fn assert_exact(&self, status: u16, headers: &[(&str, &str)], body: &str) {
        assert_eq!(
            self.status,
            status,
            "status of {}",
            String::from_utf8_lossy(&self.bytes)
        );
        let mut got: Vec<(String, String)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
            .collect();
        let mut want: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
            .chain([("content-length".to_owned(), body.len().to_string())])
            .collect();
        got.sort();
        want.sort();
        assert_eq!(
            got,
            want,
            "headers of {}",
            String::from_utf8_lossy(&self.bytes)
        );
        assert_eq!(self.text(), body);
    }

    /// Asserts a JSON envelope: status, `Content-Type: application/json` (plus `extra`
    /// headers), and the exact body.
    #[track_caller]
    pub fn assert_envelope(&self, status: u16, extra: &[(&str, &str)], body: &str) {
        let mut headers = vec![("Content-Type", "application/json")];
        headers.extend_from_slice(extra);
        self.assert_exact(status, &headers, body);
    }
}

/// Splits raw response bytes into status, headers and body (Content-Length framed).
pub fn parse_response(bytes: &[u8]) -> Raw {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head");
    let head = std::str::from_utf8(&bytes[..end]).expect("ASCII head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status code");
    assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').expect("a header line");
            (n.to_owned(), v.trim().to_owned())
        })
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse().unwrap())
        .expect("Content-Length on every response");
    let body = bytes[end + 4..].to_vec();
    assert_eq!(body.len(), len, "body length matches Content-Length");
    Raw {
        status,
        headers,
        body,
        bytes: bytes.to_vec(),
    }
}

impl Harness {
    pub fn new(svc: Service) -> Harness {
        Harness {
            svc: Arc::new(svc),
            now: Instant::now(),
            pending: Vec::new(),
        }
    }

    pub fn advance(&mut self, d: Duration) {
        self.now += d;
    }

    /// Sends raw request bytes through a fresh connection machine and the service, and
    /// returns every response written, in order (several when requests are pipelined).
    pub fn exchange_all(&mut self, request: &[u8]) -> Vec<Raw> {
        let out = self.exchange_raw(request);
        split_responses(&out)
    }

    /// Sends raw request bytes through a fresh connection machine and the service, and
    /// returns the raw output (for `HEAD`, whose response has no body).
    pub fn exchange_raw(&mut self, request: &[u8]) -> Vec<u8> {
        let mut conn = ServerConn::new(Limits::default(), self.now);
        let mut fed = 0;
        let mut out = Vec::new();
        loop {
            match conn.poll(self.now) {
                Next::Request(req) => {
                    let response = self.handle(req);
                    conn.send_response(response)
                        .expect("a request awaits its response");
                }
                Next::Write => {
                    let n = conn.transmit().len();
                    out.extend_from_slice(conn.transmit());
                    conn.advance(n);
                }
                Next::Read if fed < request.len() => fed += conn.feed(&request[fed..]),
                Next::Read | Next::Close => break,
                Next::WaitForResponse => unreachable!("every request is answered at once"),
            }
        }
        out
    }

    /// One request, one response.
    #[track_caller]
    pub fn exchange(&mut self, request: &[u8]) -> Raw {
        let mut all = self.exchange_all(request);
        assert_eq!(all.len(), 1, "exactly one response");
        all.pop().unwrap()
    }

    /// What an adapter does with a request: dispatch, then run user code or queue the job.
    pub fn handle(&mut self, req: tarp_core::http::Request) -> Response {
        match self.svc.dispatch(req, self.now) {
            Dispatch::Respond(r) => r,
            Dispatch::Call(call) => call.run(),
            Dispatch::Spawn { response, job } => {
                self.pending.push(job);
                response
            }
        }
    }

    /// Runs every pending job and records its outcome at the current time.
    pub fn run_jobs(&mut self) {
        for job in std::mem::take(&mut self.pending) {
            let done = job.run();
            self.svc.complete(done, self.now);
        }
    }
}

fn split_responses(mut bytes: &[u8]) -> Vec<Raw> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let end = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("head end")
            + 4;
        let head = String::from_utf8_lossy(&bytes[..end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or(0);
        let total = end + len;
        out.push(parse_response(&bytes[..total]));
        bytes = &bytes[total..];
    }
    out
}

/// Runs a Python 3 script with `stdin` as its input and returns its standard output.
pub fn python(script: &str, stdin: &[u8]) -> Vec<u8> {
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is required by these tests");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Builds requests exactly as the Python TARP client sends them (its code paths), with the
/// bytes prepared by `requests` itself, or by an emulation of it that is much faster to start
/// (`requests` takes a good part of a second to import). A test checks the two agree.
const CLIENT: &str = r#"
import base64, json, pickle, sys, urllib.parse

class _LazyNumpy:
    """`numpy` for the expressions, imported only when one uses it."""
    def __getattr__(self, name):
        import numpy as np
        return getattr(np, name)

numpy = _LazyNumpy()
spec = json.load(sys.stdin)
requests = None
if spec["use_requests"]:
    import requests
    session = requests.Session()

SERVER = "http://127.0.0.1:8080"
try:
    import importlib.metadata
    REQUESTS_VERSION = importlib.metadata.version("requests")
except Exception:
    REQUESTS_VERSION = "2.34.2"

def raw(method, url, data=None, headers=None):
    if requests is not None:
        p = session.prepare_request(requests.Request(method, url, data=data, headers=headers))
        url, hdrs, body = p.url, list(p.headers.items()), p.body
    else:
        url = urllib.parse.quote(url, safe="!#$%&'()*+,/:;=?@[]~").rstrip("?")
        hdrs = [("User-Agent", f"python-requests/{REQUESTS_VERSION}"), ("Accept-Encoding", "gzip, deflate"),
                ("Accept", "*/*"), ("Connection", "keep-alive")] + list((headers or {}).items())
        body = data
        if method == "POST":
            hdrs.append(("Content-Length", str(len(body or b""))))
    u = urllib.parse.urlsplit(url)
    target = u.path + ("?" + u.query if u.query else "")
    head = f"{method} {target} HTTP/1.1\r\nHost: {u.netloc}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in hdrs) + "\r\n"
    if isinstance(body, str):
        body = body.encode()
    return head.encode() + (body or b"")

def rpc(name, args, kwargs, protocol):
    dumps = (lambda v: pickle.dumps(v)) if protocol is None else (lambda v: pickle.dumps(v, protocol=protocol))
    payload = {'args': base64.b64encode(dumps(args)).decode('utf-8'),
               'kwargs': base64.b64encode(dumps(kwargs)).decode('utf-8')}
    headers = {'Content-Type': 'application/json'}
    return raw("POST", f"{SERVER}/{name}", json.dumps(payload).encode('utf-8'), headers)

def get(name, kwargs):
    params = '&'.join(f"{k}={v}" for k, v in kwargs.items())
    return raw("GET", f"{SERVER}/{name}?{params}")

def post(name, payload, kwargs):
    url = f"{SERVER}/{name}"
    params = '&'.join(f"{k}={v}" for k, v in kwargs.items())
    if params:
        url += f"?{params}"
    if payload:
        if isinstance(payload, dict):
            return raw("POST", url, json.dumps(payload).encode('utf-8'), {'Content-Type': 'application/json'})
        return raw("POST", url, payload, {'Content-Type': 'application/octet-stream'})
    return raw("POST", url)

out = []
for call in spec["calls"]:
    kind = call["kind"]
    if kind == "rpc":
        out.append(rpc(call["name"], eval(call["args"]), eval(call["kwargs"]), call.get("protocol")))
    elif kind == "get":
        out.append(get(call["name"], eval(call["kwargs"])))
    elif kind == "post":
        out.append(post(call["name"], eval(call["payload"]), eval(call["kwargs"])))
    elif kind == "connect":
        out.append(raw("GET", f"{SERVER}/"))
    elif kind in ("asyncProbe", "asyncGet"):
        out.append(raw("GET", f"{SERVER}/{kind}?UUID={call['id']}"))
json.dump([base64.b64encode(r).decode() for r in out], sys.stdout)
"#;

/// One call of the Python client, as its request bytes will be made.
#[derive(Debug, Clone)]
pub enum PyCall {
    /// `c.name(*args, **kwargs)` on an RPC endpoint; `args`/`kwargs` are Python expressions
    /// (a tuple, a dict). `protocol` forces a pickle protocol (default: the interpreter's).
    Rpc {
        name: String,
        args: String,
        kwargs: String,
        protocol: Option<u8>,
    },
    /// `c.name(**kwargs)` on a web GET endpoint.
    Get {
        name: String,
        kwargs: String,
    },
    /// `c.name(payload, **kwargs)` on a web POST endpoint.
    Post {
        name: String,
        payload: String,
        kwargs: String,
    },
    /// `client(url)`: the discovery request.
    Connect,
    /// `handle.probe()` / `handle.wait()` for a job ID.
    AsyncProbe(String),
    AsyncGet(String),
}

pub fn rpc(name: &str, args: &str, kwargs: &str) -> PyCall {
    PyCall::Rpc {
        name: name.into(),
        args: args.into(),
        kwargs: kwargs.into(),
        protocol: None,
    }
}

pub fn get(name: &str, kwargs: &str) -> PyCall {
    PyCall::Get {
        name: name.into(),
        kwargs: kwargs.into(),
    }
}

pub fn post(name: &str, payload: &str, kwargs: &str) -> PyCall {
    PyCall::Post {
        name: name.into(),
        payload: payload.into(),
        kwargs: kwargs.into(),
    }
}

/// The request bytes of each call, as the Python client would send them.
pub fn python_requests(calls: &[PyCall]) -> Vec<Vec<u8>> {
    client_requests(calls, false)
}

/// The same, with `requests` itself preparing the bytes.
pub fn python_requests_via_requests(calls: &[PyCall]) -> Vec<Vec<u8>> {
    client_requests(calls, true)
}

fn client_requests(calls: &[PyCall], use_requests: bool) -> Vec<Vec<u8>> {
    use base64::Engine;
    let spec: Vec<serde_json::Value> = calls
        .iter()
        .map(|c| match c {
            PyCall::Rpc { name, args, kwargs, protocol } => serde_json::json!(
                {"kind": "rpc", "name": name, "args": args, "kwargs": kwargs, "protocol": protocol}),
            PyCall::Get { name, kwargs } => serde_json::json!({"kind": "get", "name": name, "kwargs": kwargs}),
            PyCall::Post { name, payload, kwargs } => serde_json::json!(
                {"kind": "post", "name": name, "payload": payload, "kwargs": kwargs}),
            PyCall::Connect => serde_json::json!({"kind": "connect"}),
            PyCall::AsyncProbe(id) => serde_json::json!({"kind": "asyncProbe", "id": id}),
            PyCall::AsyncGet(id) => serde_json::json!({"kind": "asyncGet", "id": id}),
        })
        .collect();
    let spec = serde_json::json!({"use_requests": use_requests, "calls": spec});
    let out = python(CLIENT, &serde_json::to_vec(&spec).unwrap());
    let encoded: Vec<String> = serde_json::from_slice(&out).unwrap();
    encoded
        .iter()
        .map(|e| base64::engine::general_purpose::STANDARD.decode(e).unwrap())
        .collect()
}

/// The request bytes of one call.
pub fn python_request(call: PyCall) -> Vec<u8> {
    python_requests(&[call]).pop().unwrap()
}

/// What CPython makes of base64 pickles: `repr(pickle.loads(...))` of each.
pub fn python_unpickle(payloads: &[&str]) -> Vec<String> {
    let script = r#"
import base64, json, pickle, sys
json.dump([repr(pickle.loads(base64.b64decode(p))) for p in json.load(sys.stdin)], sys.stdout)
"#;
    let out = python(script, &serde_json::to_vec(payloads).unwrap());
    serde_json::from_slice(&out).unwrap()
}

/// A raw request from its parts (for the cases the Python client never sends).
pub fn raw_request(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// An RPC body from base64 texts.
pub fn rpc_body(args_b64: &str, kwargs_b64: &str) -> Vec<u8> {
    format!(r#"{{"args": "{args_b64}", "kwargs": "{kwargs_b64}"}}"#).into_bytes()
}
