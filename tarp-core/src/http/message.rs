//! Request and response messages.
//!
//! The representation is private so the parser can keep a request's head in one buffer and
//! hand out borrowed views; the accessors are the stable surface.

use std::borrow::Cow;

/// HTTP version of a request. Only 1.0 and 1.1 are served (others get 505).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// HTTP/1.0: the connection closes after the response unless `Connection: keep-alive`.
    Http10,
    /// HTTP/1.1: persistent unless `Connection: close`.
    Http11,
}

/// A parsed request: method, raw target split into path and query, version, headers, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    method: String,
    path: String,
    query: Option<String>,
    version: Version,
    headers: Vec<(String, Vec<u8>)>,
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
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
            None => (target.to_owned(), None),
        };
        Request { method: method.into(), path, query, version, headers, body }
    }

    /// The method token as sent (`GET`, `POST`, ...). Methods are case-sensitive.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The raw path (before `?`), still percent-encoded, e.g. `/asyncGet`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The raw query string after `?` (without it), still percent-encoded; `None` without `?`.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// The request's HTTP version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The first header with this name (ASCII case-insensitive), value without surrounding
    /// whitespace.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// All headers in order, names as sent.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.headers.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }

    /// The body (already de-chunked); empty when the request had none.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Takes the body out without copying it.
    pub fn take_body(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.body)
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
        Response { status, content_type, headers: Vec::new(), body }
    }

    /// Adds an extra header.
    pub fn with_header(mut self, name: impl Into<Cow<'static, str>>, value: impl Into<String>) -> Self {
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
