//! Request and response messages.
//!
//! The representation is private so the parser can keep a request's head in one buffer and
//! hand out borrowed views; the accessors are the stable surface. A parsed request owns
//! exactly three heap blocks: the head bytes, the index of its header fields (ranges into
//! the head) and the body.

use std::borrow::Cow;
use std::fmt;

/// HTTP version of a request. Only 1.0 and 1.1 are served (others get 505).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// HTTP/1.0: the connection closes after the response unless `Connection: keep-alive`.
    Http10,
    /// HTTP/1.1: persistent unless `Connection: close`.
    Http11,
}

impl Version {
    /// The version as written on the wire, e.g. `HTTP/1.1`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

/// A byte range in a request's head buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Span {
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// A parsed request: method, raw target split into path and query, version, headers, body.
#[derive(Clone)]
pub struct Request {
    /// The head's bytes; every other field but `version` and `body` is a range into it.
    head: Vec<u8>,
    method: Span,
    path: Span,
    query: Option<Span>,
    version: Version,
    headers: Vec<(Span, Span)>,
    body: Vec<u8>,
}

impl Request {
    /// Builds a request from its parts (used by tests, the client side and the parser).
    /// `target` is split at the first `?` into path and raw query.
    pub fn new(
        method: impl Into<String>,
        target: &str,
        version: Version,
        headers: Vec<(String, Vec<u8>)>,
        body: Vec<u8>,
    ) -> Self {
        let method = method.into();
        let fields = headers.iter().map(|(n, v)| (n.as_str(), v.as_slice()));
        Request::assemble(&method, target, version, fields, body)
    }

    /// [`Request::new`] from borrowed parts: the head is built in one buffer, so a client
    /// sending the same few headers on every call allocates no string per header.
    pub fn from_parts(
        method: &str,
        target: &str,
        version: Version,
        headers: &[(&str, &[u8])],
        body: Vec<u8>,
    ) -> Self {
        Request::assemble(method, target, version, headers.iter().copied(), body)
    }

    fn assemble<'h>(
        method: &str,
        target: &str,
        version: Version,
        headers: impl Iterator<Item = (&'h str, &'h [u8])> + Clone,
        body: Vec<u8>,
    ) -> Self {
        let size = method.len()
            + target.len()
            + headers
                .clone()
                .map(|(n, v)| n.len() + v.len())
                .sum::<usize>();
        let mut head = Vec::with_capacity(size);
        let mut push = |bytes: &[u8]| {
            let start = head.len();
            head.extend_from_slice(bytes);
            Span {
                start,
                end: head.len(),
            }
        };
        let method = push(method.as_bytes());
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (push(p.as_bytes()), Some(push(q.as_bytes()))),
            None => (push(target.as_bytes()), None),
        };
        let headers = headers
            .map(|(n, v)| (push(n.as_bytes()), push(v)))
            .collect();
        Request {
            head,
            method,
            path,
            query,
            version,
            headers,
            body,
        }
    }

    /// Builds a request around a parsed head (method, path and header names are ASCII,
    /// checked by the parser).
    pub(crate) fn from_head(
        head: Vec<u8>,
        method: Span,
        target: Span,
        version: Version,
        headers: Vec<(Span, Span)>,
    ) -> Self {
        let raw = head.get(target.start..target.end).unwrap_or_default();
        let (path, query) = match raw.iter().position(|&b| b == b'?') {
            Some(q) => (
                Span {
                    start: target.start,
                    end: target.start + q,
                },
                Some(Span {
                    start: target.start + q + 1,
                    end: target.end,
                }),
            ),
            None => (target, None),
        };
        Request {
            head,
            method,
            path,
            query,
            version,
            headers,
            body: Vec::new(),
        }
    }

    pub(crate) fn set_body(&mut self, body: Vec<u8>) {
        self.body = body;
    }

    fn bytes(&self, span: Span) -> &[u8] {
        self.head.get(span.start..span.end).unwrap_or_default()
    }

    fn text(&self, span: Span) -> &str {
        // Method, target and header names are ASCII (checked by the parser) or came in as
        // `str` (`Request::new`), so this never falls back.
        std::str::from_utf8(self.bytes(span)).unwrap_or_default()
    }

    /// The head's bytes of the method, the path and the query, for checks and encoding that
    /// work on bytes (no UTF-8 validation per access).
    pub(crate) fn raw_line(&self) -> (&[u8], &[u8], Option<&[u8]>) {
        (
            self.bytes(self.method),
            self.bytes(self.path),
            self.query.map(|q| self.bytes(q)),
        )
    }

    /// [`headers`](Request::headers) as the head's bytes.
    pub(crate) fn raw_headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.headers
            .iter()
            .map(|&(n, v)| (self.bytes(n), self.bytes(v)))
    }

    /// The method token as sent (`GET`, `POST`, ...). Methods are case-sensitive.
    pub fn method(&self) -> &str {
        self.text(self.method)
    }

    /// The raw path (before `?`), still percent-encoded, e.g. `/asyncGet`.
    pub fn path(&self) -> &str {
        self.text(self.path)
    }

    /// The raw query string after `?` (without it), still percent-encoded; `None` without `?`.
    pub fn query(&self) -> Option<&str> {
        self.query.map(|q| self.text(q))
    }

    /// The request's HTTP version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The first header with this name (ASCII case-insensitive), value without surrounding
    /// whitespace.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        let name = name.as_bytes();
        self.headers
            .iter()
            .find(|&&(n, _)| self.bytes(n).eq_ignore_ascii_case(name))
            .map(|&(_, v)| self.bytes(v))
    }

    /// All headers in order, names as sent.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.headers
            .iter()
            .map(|&(n, v)| (self.text(n), self.bytes(v)))
    }

    /// The body (already de-chunked); empty when the request had none.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Takes the body out without copying it.
    pub fn take_body(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.body)
    }

    /// Appends this request as it goes on the wire: request line, the headers except
    /// `Content-Length` and `Transfer-Encoding`, then `Content-Length` when the body is
    /// not empty (or the method is `POST`, `PUT` or `PATCH`), the empty line and the body. Parsing the output gives back an equal
    /// request (framing headers aside).
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.encode_head(out);
        out.extend_from_slice(&self.body);
    }

    /// [`encode`](Request::encode) without the body.
    pub(crate) fn encode_head(&self, out: &mut Vec<u8>) {
        let (method, path, query) = self.raw_line();
        out.extend_from_slice(method);
        out.push(b' ');
        out.extend_from_slice(path);
        if let Some(q) = query {
            out.push(b'?');
            out.extend_from_slice(q);
        }
        out.push(b' ');
        out.extend_from_slice(self.version.as_str().as_bytes());
        out.extend_from_slice(b"\r\n");
        for (name, value) in self.raw_headers() {
            if is_framing_header(name) {
                continue;
            }
            out.extend_from_slice(name);
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        if !self.body.is_empty() || matches!(method, b"POST" | b"PUT" | b"PATCH") {
            out.extend_from_slice(b"Content-Length: ");
            let mut digits = [0u8; 20];
            out.extend_from_slice(super::write::decimal(self.body.len() as u64, &mut digits));
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// `Content-Length` and `Transfer-Encoding`: the headers that frame a message, which the
/// engine owns and rewrites.
pub(crate) fn is_framing_header(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"transfer-encoding")
}

impl PartialEq for Request {
    /// Two requests are equal when method, path, query, version, headers (in order) and
    /// body are, however their heads are laid out.
    fn eq(&self, other: &Self) -> bool {
        self.method() == other.method()
            && self.path() == other.path()
            && self.query() == other.query()
            && self.version == other.version
            && self.headers.len() == other.headers.len()
            && self.headers().eq(other.headers())
            && self.body == other.body
    }
}

impl Eq for Request {}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, Cow<'_, str>)> = self
            .headers()
            .map(|(n, v)| (n, String::from_utf8_lossy(v)))
            .collect();
        f.debug_struct("Request")
            .field("method", &self.method())
            .field("path", &self.path())
            .field("query", &self.query())
            .field("version", &self.version)
            .field("headers", &headers)
            .field("body", &String::from_utf8_lossy(&self.body))
            .finish()
    }
}

/// A response to send: status, content type, extra headers and body.
///
/// The connection machine adds `Content-Length` and, when it closes, `Connection: close`;
/// it always answers `HTTP/1.1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code, e.g. 200.
    pub status: u16,
    /// `Content-Type` value, sent verbatim when present.
    pub content_type: Option<Cow<'static, str>>,
    /// Extra headers (`Retry-After`, `WWW-Authenticate`, ...). Must not contain
    /// `Content-Length`, `Transfer-Encoding` or `Connection`: the machine owns those.
    pub headers: Vec<(Cow<'static, str>, String)>,
    /// The body bytes (not sent for `HEAD` requests; `Content-Length` still is).
    pub body: Vec<u8>,
}

impl Response {
    /// A response with a status, an optional content type and a body.
    pub fn new(status: u16, content_type: Option<Cow<'static, str>>, body: Vec<u8>) -> Self {
        Response {
            status,
            content_type,
            headers: Vec::new(),
            body,
        }
    }

    /// Adds an extra header.
    pub fn with_header(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<String>,
    ) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The first extra header with this name (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
