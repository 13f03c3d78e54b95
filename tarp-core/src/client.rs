//! What a TARP client sends and how it reads the answers (PROTOCOL.md section 7), with no I/O:
//! arguments, errors, discovery entries, request bodies and targets, and the Python client's
//! branching on a response. Both adapters' clients (`tarp_blocking::Client` over ureq,
//! `tarp_smol::Client` over the core's [`ClientConn`](crate::http::ClientConn)) only move the
//! bytes, so they cannot answer the same response differently.

use std::sync::Arc;
use std::time::Duration;

use crate::wire::discovery::{self, Discovery};
use crate::wire::envelope::{self, Envelope, PayloadBody, JSON_MIME};
use crate::wire::pickle::{self, Value};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value as Json;

/// A boxed error kept as the source of a transport, TLS or timeout failure.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in a call, as a caller wants to tell cases apart.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server says the operation is underway (503 `OperationInProgress`, or a 503 of
    /// type `generic` with `Retry-After`, as the Python server answers for RPC and POST
    /// handlers); try again after `retry_after` (the `Retry-After` header, 5 s when absent,
    /// as the Python client assumes).
    #[error("operation in progress: {message} (retry after {} s)", retry_after.as_secs_f64())]
    OperationInProgress {
        /// The server's message.
        message: String,
        /// How long the server asks us to wait.
        retry_after: Duration,
    },
    /// The server says it is in an invalid state (503 `InvalidServerState`).
    #[error("invalid server state: {message}")]
    InvalidServerState {
        /// The server's message.
        message: String,
    },
    /// The endpoint (or the async job) does not exist (404).
    #[error("not found: {message}")]
    NotFound {
        /// The server's message, or a description of what was not found.
        message: String,
    },
    /// The server refused the arguments (400), or they could not be converted to a pickle.
    #[error("bad argument: {message}")]
    BadArgument {
        /// What was wrong.
        message: String,
    },
    /// The remote function (or the server) failed: any other error status.
    #[error("remote error {kind} (HTTP {status}): {message}")]
    Remote {
        /// The HTTP status.
        status: u16,
        /// The envelope's error `type` (`generic` for a failed function), or `http` when the
        /// body was not an envelope.
        kind: String,
        /// The envelope's message, or the body's text.
        message: String,
    },
    /// An async job finished with a failure (reported by its probe).
    #[error("async job failed: {message}")]
    JobFailed {
        /// The failure's message, as the server reported it.
        message: String,
    },
    /// The connection could not be made or broke.
    #[error("transport error: {source}")]
    Transport {
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// TLS failed: certificate not trusted, CA file unreadable, handshake refused.
    #[error("TLS error: {source}")]
    Tls {
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// A connect or call timeout expired.
    #[error("timed out: {source}")]
    Timeout {
        /// The underlying error (names which timeout).
        #[source]
        source: BoxError,
    },
    /// The server's answer does not follow PROTOCOL.md (bad JSON, missing field, bad pickle).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The result arrived but does not convert to the requested Rust type.
    #[error("cannot convert the result: {0}")]
    Decode(String),
}

impl ClientError {
    /// A transport failure (connection refused or reset, DNS...), keeping its cause.
    pub fn transport(e: impl Into<BoxError>) -> Self {
        ClientError::Transport { source: e.into() }
    }
}

/// The result of a client operation.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

// ---------------------------------------------------------------------------------------------
// Arguments

fn arg_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, String> {
    pickle::to_value(value).map_err(|e| e.to_string())
}

/// Positional arguments of an RPC call: `()`, a tuple of up to 12 serde values (`(1, "a")`),
/// a `Vec<Value>` of pickle values, or an [`Args`] list.
pub trait IntoArgs {
    /// The positional arguments as pickle values.
    fn into_args(self) -> Result<Vec<Value>>;
}

impl IntoArgs for () {
    fn into_args(self) -> Result<Vec<Value>> {
        Ok(Vec::new())
    }
}

impl IntoArgs for Vec<Value> {
    fn into_args(self) -> Result<Vec<Value>> {
        Ok(self)
    }
}

macro_rules! tuple_args {
    ($($name:ident : $idx:tt),+) => {
        impl<$($name: Serialize),+> IntoArgs for ($($name,)+) {
            fn into_args(self) -> Result<Vec<Value>> {
                Ok(vec![$(
                    arg_value(&self.$idx).map_err(|e| ClientError::BadArgument {
                        message: format!("positional argument {}: {e}", $idx),
                    })?
                ),+])
            }
        }
    };
}
tuple_args!(A: 0);
tuple_args!(A: 0, B: 1);
tuple_args!(A: 0, B: 1, C: 2);
tuple_args!(A: 0, B: 1, C: 2, D: 3);
tuple_args!(A: 0, B: 1, C: 2, D: 3, E: 4);
tuple_args!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5);
tuple_args!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6);
tuple_args!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6, H: 7);
tuple_args!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6, H: 7, I: 8);
tuple_args!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6, H: 7, I: 8, J: 9);
tuple_args!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6, H: 7, I: 8, J: 9, K: 10);
tuple_args!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6, H: 7, I: 8, J: 9, K: 10, L: 11);

/// A list of positional arguments built one at a time (any mix of serde types).
#[derive(Debug, Clone, Default)]
pub struct Args {
    values: Vec<Value>,
    error: Option<String>,
}

impl Args {
    /// An empty list.
    pub fn new() -> Self {
        Args::default()
    }

    /// Appends a serde value (a conversion failure is reported when the call is made).
    pub fn with<T: Serialize>(mut self, value: T) -> Self {
        self.push(value);
        self
    }

    /// Appends a serde value in place.
    pub fn push<T: Serialize>(&mut self, value: T) {
        let index = self.values.len();
        match arg_value(&value) {
            Ok(v) => self.values.push(v),
            Err(e) => {
                self.values.push(Value::None);
                self.error
                    .get_or_insert(format!("positional argument {index}: {e}"));
            }
        }
    }

    /// Appends a pickle value as it is.
    pub fn push_value(&mut self, value: Value) {
        self.values.push(value);
    }
}

impl IntoArgs for Args {
    fn into_args(self) -> Result<Vec<Value>> {
        match self.error {
            Some(message) => Err(ClientError::BadArgument { message }),
            None => Ok(self.values),
        }
    }
}

/// Keyword arguments of an RPC call, in order. Build with [`Kwargs::with`], or with the
/// adapters' `kwargs!` macro (`tarp_blocking::kwargs!`, `tarp_smol::kwargs!`).
#[derive(Debug, Clone, Default)]
pub struct Kwargs {
    pairs: Vec<(String, Value)>,
    error: Option<String>,
}

impl Kwargs {
    /// No keyword arguments.
    pub fn new() -> Self {
        Kwargs::default()
    }

    /// Adds `name=value` (a conversion failure is reported when the call is made).
    pub fn with<T: Serialize>(mut self, name: impl Into<String>, value: T) -> Self {
        self.insert(name, value);
        self
    }

    /// Adds `name=value` in place; a name given twice keeps the last value, as in Python.
    pub fn insert<T: Serialize>(&mut self, name: impl Into<String>, value: T) {
        let name = name.into();
        let value = match arg_value(&value) {
            Ok(v) => v,
            Err(e) => {
                self.error
                    .get_or_insert(format!("keyword argument {name}: {e}"));
                Value::None
            }
        };
        self.insert_value(name, value);
    }

    /// Adds `name=value` with a pickle value as it is.
    pub fn insert_value(&mut self, name: impl Into<String>, value: Value) {
        let name = name.into();
        match self.pairs.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.pairs.push((name, value)),
        }
    }

    /// Whether no keyword argument was given.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The keyword arguments as the pickle dict an RPC sends; the first argument that could
    /// not be converted is a [`ClientError::BadArgument`].
    pub fn into_value(self) -> Result<Value> {
        if let Some(message) = self.error {
            return Err(ClientError::BadArgument { message });
        }
        let pairs = self
            .pairs
            .into_iter()
            .map(|(k, v)| (Value::Str(k.into()), v))
            .collect();
        Ok(Value::Dict(Arc::new(pairs)))
    }
}

/// The JSON body of an RPC call (PROTOCOL.md section 4) from its args tuple and kwargs
/// dict, built in the memory of the args pickle.
pub fn rpc_body_of(args: &Value, kwargs: &Value) -> Vec<u8> {
    let kwargs = pickle::encode(kwargs);
    envelope::rpc_request_body_from(pickle::encode(args), &kwargs)
}

// ---------------------------------------------------------------------------------------------
// Discovery

/// The four kinds of endpoint the discovery document lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EndpointKind {
    /// A web-like `GET /<name>` endpoint.
    #[default]
    Get,
    /// A web-like `POST /<name>` endpoint.
    Post,
    /// A synchronous RPC.
    Rpc,
    /// An asynchronous RPC (returns a job).
    AsyncRpc,
}

impl EndpointKind {
    /// The key of this kind in the discovery document (`GET`, `POST`, `RPC`, `ASYNCRPC`).
    pub fn key(self) -> &'static str {
        match self {
            EndpointKind::Get => "GET",
            EndpointKind::Post => "POST",
            EndpointKind::Rpc => "RPC",
            EndpointKind::AsyncRpc => "ASYNCRPC",
        }
    }
}

/// One endpoint of the discovery document (PROTOCOL.md section 3), whatever its kind.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Endpoint {
    /// Its kind.
    pub kind: EndpointKind,
    /// Its name (the URL path without the leading `/`).
    pub name: String,
    /// The registered description or doc text (the Python client's `help()` text).
    pub description: String,
    /// Web endpoints: the query parameters it documents.
    pub query_params: Vec<String>,
    /// POST endpoints: the payload MIME type it documents.
    pub payload_mimetype: Option<String>,
    /// POST endpoints: the payload schema it documents.
    pub payload_schema: Option<Json>,
    /// Web endpoints: the result MIME type, when our server publishes it.
    pub mimetype: Option<String>,
    /// RPC endpoints: parameter names in positional order, when our server publishes them
    /// (the Python server does not).
    pub params: Vec<String>,
    /// RPC endpoints: default values of the parameters that have one, as JSON.
    pub defaults: Vec<(String, Json)>,
    /// Async RPC endpoints: the suggested wait in seconds, when published.
    pub suggested_wait: Option<f64>,
}

/// Every endpoint of a discovery document, in the document's order.
pub fn endpoints_of(doc: &Discovery) -> Vec<Endpoint> {
    let web = |kind, e: &discovery::WebEntry| Endpoint {
        kind,
        name: e.name.clone(),
        description: e.description.clone(),
        query_params: e.query_params.clone(),
        payload_mimetype: e.payload_mimetype.clone(),
        payload_schema: e.payload_schema.clone(),
        mimetype: e.mimetype.clone(),
        ..Endpoint::default()
    };
    let rpc = |kind, e: &discovery::RpcEntry| Endpoint {
        kind,
        name: e.name.clone(),
        description: e.description.clone(),
        params: e.params.clone(),
        defaults: e.defaults.clone(),
        suggested_wait: e.suggested_wait,
        ..Endpoint::default()
    };
    let mut out = Vec::new();
    out.extend(doc.get.iter().map(|e| web(EndpointKind::Get, e)));
    out.extend(doc.post.iter().map(|e| web(EndpointKind::Post, e)));
    out.extend(doc.rpc.iter().map(|e| rpc(EndpointKind::Rpc, e)));
    out.extend(doc.async_rpc.iter().map(|e| rpc(EndpointKind::AsyncRpc, e)));
    out
}

// ---------------------------------------------------------------------------------------------
// URLs

/// A server URL taken apart: where to connect, what to put in `Host`, the path prefix, and
/// the credentials (sent as `Authorization: Basic`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    /// `https://`?
    pub https: bool,
    /// Host name or IP literal, without brackets.
    pub host: String,
    /// Port (80 or 443 unless given).
    pub port: u16,
    /// The `Host` header value (`host` or `host:port`, brackets kept for IPv6).
    pub host_header: String,
    /// The path prefix without a trailing `/` (usually empty).
    pub prefix: String,
    /// `Basic ...` when the URL carries credentials.
    pub authorization: Option<String>,
    /// The URL without credentials, for messages.
    pub display: String,
}

impl BaseUrl {
    /// Takes `http[s]://[user[:password]@]host[:port][/prefix]` apart; anything else (another
    /// scheme, a query or fragment, a bad port) is a [`ClientError::BadArgument`] naming it.
    pub fn parse(url: &str) -> Result<BaseUrl> {
        let bad = |why: &str| ClientError::BadArgument {
            message: format!("URL {url:?}: {why}"),
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let scheme = scheme.to_ascii_lowercase();
        let https = match scheme.as_str() {
            "http" => false,
            "https" => true,
            _ => return Err(bad("the scheme must be http or https")),
        };
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if path.contains(['?', '#']) {
            return Err(bad("a query or fragment has no meaning in a server URL"));
        }
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| bad("unclosed [ in the host"))?;
            match after {
                "" => (host, None),
                p => (
                    host,
                    Some(p.strip_prefix(':').ok_or_else(|| bad("junk after ]"))?),
                ),
            }
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            None | Some("") => {
                if https {
                    443
                } else {
                    80
                }
            }
            Some(p) => p.parse::<u16>().map_err(|_| bad("invalid port"))?,
        };
        let authorization = userinfo.map(|u| {
            let (user, pass) = u.split_once(':').unwrap_or((u, ""));
            let creds = format!("{}:{}", percent_decode(user), percent_decode(pass));
            format!("Basic {}", B64.encode(creds))
        });
        let prefix = path.trim_end_matches('/').to_owned();
        Ok(BaseUrl {
            https,
            host: host.to_owned(),
            port,
            host_header: hostport.to_owned(),
            display: format!("{scheme}://{hostport}{prefix}"),
            prefix,
            authorization,
        })
    }

    /// The request target for `path_and_query` (relative, without its leading `/`).
    pub fn target(&self, path_and_query: &str) -> String {
        let mut target = String::with_capacity(self.prefix.len() + 1 + path_and_query.len());
        target.push_str(&self.prefix);
        target.push('/');
        target.push_str(path_and_query);
        target
    }
}

fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes a query component: unreserved characters stay, everything else is `%XX`
/// (so `+`, `&`, `=` and spaces survive Python's `parse_qs`).
pub fn encode_component(s: &str, out: &mut String) {
    use std::fmt::Write as _;
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// An endpoint name as a URL path: `/` kept (names may contain it), the rest escaped.
pub fn encode_path(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, segment) in name.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        encode_component(segment, &mut out);
    }
    out
}

/// `path?k=v&...` for a web call.
pub fn web_target(name: &str, query: &[(String, String)]) -> String {
    let mut target = encode_path(name);
    for (i, (k, v)) in query.iter().enumerate() {
        target.push(if i == 0 { '?' } else { '&' });
        encode_component(k, &mut target);
        target.push('=');
        encode_component(v, &mut target);
    }
    target
}

// ---------------------------------------------------------------------------------------------
// Responses

/// What came back from one HTTP exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The `Retry-After` header, if any.
    pub retry_after: Option<String>,
    /// The whole body.
    pub body: Vec<u8>,
}

/// A 200 answer: an envelope's `(mimetype, result)` or a raw payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Checked {
    /// A success envelope (`Content-Type: application/json`).
    Envelope {
        /// Its `mimetype` field.
        mimetype: Option<String>,
        /// Its `result` field.
        result: Json,
    },
    /// Any other content type: the body as sent.
    Raw {
        /// The `Content-Type` (`application/octet-stream` when absent).
        mime: String,
        /// The body.
        bytes: Vec<u8>,
    },
}

/// PROTOCOL.md section 7's error branching, then `(mimetype, result)` or a raw payload.
pub fn check(reply: Reply) -> Result<Checked> {
    let envelope = Envelope::parse(&reply.body).ok();
    if reply.status == 404 {
        let message = match envelope {
            Some(Envelope::Error { message, .. }) if !message.is_empty() => message,
            _ => "API endpoint not found.".to_owned(),
        };
        return Err(ClientError::NotFound { message });
    }
    if reply.status != 200 {
        return Err(match envelope {
            Some(Envelope::Error { kind, message }) => match kind.as_str() {
                // The Python server loses the type of an RPC or POST handler's "operation in
                // progress" (PROTOCOL.md 2, upstream quirk) but keeps its 503 and Retry-After.
                "OperationInProgress" | "generic"
                    if kind == "OperationInProgress"
                        || (reply.status == 503 && reply.retry_after.is_some()) =>
                {
                    ClientError::OperationInProgress {
                        message,
                        retry_after: parse_retry_after(reply.retry_after.as_deref()),
                    }
                }
                "InvalidServerState" => ClientError::InvalidServerState { message },
                _ if reply.status == 400 => ClientError::BadArgument { message },
                _ => ClientError::Remote {
                    status: reply.status,
                    kind,
                    message,
                },
            },
            _ => {
                let text = String::from_utf8_lossy(&reply.body).into_owned();
                ClientError::Remote {
                    status: reply.status,
                    kind: "http".into(),
                    message: if text.is_empty() {
                        format!("HTTP {} with no body", reply.status)
                    } else {
                        text
                    },
                }
            }
        });
    }
    // As the Python client: anything but exactly `application/json` is a raw payload.
    if reply.content_type.as_deref() != Some(JSON_MIME) {
        return Ok(Checked::Raw {
            mime: reply
                .content_type
                .unwrap_or_else(|| "application/octet-stream".into()),
            bytes: reply.body,
        });
    }
    match envelope {
        Some(Envelope::Success { mimetype, result }) => Ok(Checked::Envelope { mimetype, result }),
        Some(Envelope::Error { kind, message }) => Err(ClientError::Remote {
            status: reply.status,
            kind,
            message,
        }),
        None => Err(ClientError::Protocol(
            "200 response is not a JSON envelope".into(),
        )),
    }
}

/// The result of an envelope whose mimetype must be `application/json` (RPC, probe,
/// discovery).
pub fn expect_json(checked: Checked) -> Result<Json> {
    match checked {
        Checked::Envelope { mimetype, result } => {
            if mimetype.as_deref() != Some(JSON_MIME) {
                return Err(ClientError::Protocol(format!(
                    "expected mimetype application/json, got {mimetype:?}"
                )));
            }
            Ok(result)
        }
        Checked::Raw { mime, .. } => Err(ClientError::Protocol(format!(
            "expected a JSON envelope, got a raw {mime} payload"
        ))),
    }
}

/// `Retry-After` in seconds (5 s when absent or not a number, as the Python client).
pub fn parse_retry_after(header: Option<&str>) -> Duration {
    header
        .and_then(|h| h.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(86_400.0)))
        .unwrap_or(Duration::from_secs(5))
}

/// Seconds from a JSON number, within a day; 5 s when not a usable number.
pub fn secs(s: f64) -> Duration {
    if s.is_finite() && s >= 0.0 {
        Duration::from_secs_f64(s.min(86_400.0))
    } else {
        Duration::from_secs(5)
    }
}

/// The unpickled `result.payload` of an RPC or `asyncGet` answer.
pub fn payload_value(result: &Json) -> Result<Value> {
    let payload = result
        .get("payload")
        .and_then(Json::as_str)
        .ok_or_else(|| ClientError::Protocol("result has no payload string".into()))?;
    let bytes = B64.decode(payload).map_err(not_base64)?;
    unpickle_payload(bytes)
}

/// The unpickled payload of an RPC or `asyncGet` answer. A success envelope's base64 is
/// decoded in the body's own memory, without reading the envelope into a JSON tree (a second
/// copy of the text); any other answer goes through [`check`], which words its error as
/// before.
pub fn payload_of(mut reply: Reply) -> Result<Value> {
    if reply.status == 200 && reply.content_type.as_deref() == Some(JSON_MIME) {
        match envelope::decode_payload_in_place(std::mem::take(&mut reply.body), &B64) {
            PayloadBody::Decoded(bytes) => return unpickle_payload(bytes),
            PayloadBody::NotBase64(e) => return Err(not_base64(e)),
            PayloadBody::Other(body) => reply.body = body,
        }
    }
    payload_value(&expect_json(check(reply)?)?)
}

fn not_base64(e: base64::DecodeError) -> ClientError {
    ClientError::Protocol(format!("payload is not base64: {e}"))
}

fn unpickle_payload(bytes: Vec<u8>) -> Result<Value> {
    pickle::decode_vec(bytes).map_err(|e| ClientError::Protocol(format!("payload pickle: {e}")))
}

/// Converts a pickle value to the caller's type.
pub fn typed<T: DeserializeOwned>(value: &Value) -> Result<T> {
    pickle::from_value(value).map_err(|e| ClientError::Decode(e.to_string()))
}

/// The job ID and suggested wait of an async start's result.
pub fn job_started(result: &Json) -> Result<(String, Duration)> {
    let id = result
        .get("ID")
        .and_then(Json::as_str)
        .ok_or_else(|| ClientError::Protocol("async start result has no ID".into()))?
        .to_owned();
    let wait = result
        .get("suggested_wait")
        .and_then(Json::as_f64)
        .unwrap_or(5.0);
    Ok((id, secs(wait)))
}

// ---------------------------------------------------------------------------------------------
// Async jobs

/// The state of an async job, as its probe reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobStatus {
    /// Still running.
    InProgress,
    /// Finished; the result waits to be fetched.
    Completed,
    /// Finished with a failure.
    Failed,
    /// A status this client does not know, as sent.
    Other(String),
}

/// One probe of an async job (`GET /asyncProbe`).
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// The job's state.
    pub status: JobStatus,
    /// How long the server suggests waiting before asking again.
    pub suggested_wait: Duration,
    /// The failure's message, when the job failed and the server says why (ours does).
    pub error: Option<String>,
}

impl Probe {
    /// Reads a probe's result; `default_wait` when it suggests none.
    pub fn from_json(result: &Json, default_wait: Duration) -> Result<Probe> {
        let status = match result.get("status").and_then(Json::as_str) {
            Some("in_progress") => JobStatus::InProgress,
            Some("completed") => JobStatus::Completed,
            Some("failed") => JobStatus::Failed,
            Some(other) => JobStatus::Other(other.to_owned()),
            None => return Err(ClientError::Protocol("probe result has no status".into())),
        };
        let suggested_wait = result
            .get("suggested_wait")
            .and_then(Json::as_f64)
            .map(secs)
            .unwrap_or(default_wait);
        let error = result
            .get("error")
            .and_then(Json::as_str)
            .map(str::to_owned);
        Ok(Probe {
            status,
            suggested_wait,
            error,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Web-like endpoints

/// The data a web-like endpoint returned.
#[derive(Debug, Clone, PartialEq)]
pub enum WebData {
    /// A JSON result (maps, lists, numbers, null...).
    Json(Json),
    /// A text result (envelope mimetype `text/plain`).
    Text(String),
    /// A bytes result (envelope mimetype `application/octet-stream`, base64 on the wire).
    Bytes(Vec<u8>),
    /// A raw payload: the body as sent, with its `Content-Type` (e.g. a PNG image).
    Raw {
        /// The response's `Content-Type`.
        mime: String,
        /// The body.
        bytes: Vec<u8>,
    },
}

/// The body of a web POST (or GET).
#[derive(Debug, Clone, PartialEq)]
pub enum WebBody {
    /// Sent as `application/json` (the Python client does this for dicts).
    Json(Json),
    /// Sent as `application/octet-stream` (the Python client does this for anything else).
    Bytes(Vec<u8>),
    /// Sent with the given content type.
    Typed {
        /// The `Content-Type`.
        content_type: String,
        /// The bytes.
        bytes: Vec<u8>,
    },
}

impl WebBody {
    /// `(Content-Type, bytes)` to send.
    pub fn encode(self) -> Result<(String, Vec<u8>)> {
        Ok(match self {
            WebBody::Json(json) => (
                JSON_MIME.to_owned(),
                serde_json::to_vec(&json).map_err(|e| ClientError::BadArgument {
                    message: e.to_string(),
                })?,
            ),
            WebBody::Bytes(bytes) => ("application/octet-stream".to_owned(), bytes),
            WebBody::Typed {
                content_type,
                bytes,
            } => (content_type, bytes),
        })
    }
}

/// `(mimetype, data)` of a web answer, as the Python client's web methods return it.
pub fn web_result(checked: Checked) -> (Option<String>, WebData) {
    match checked {
        Checked::Raw { mime, bytes } => (Some(mime.clone()), WebData::Raw { mime, bytes }),
        Checked::Envelope { mimetype, result } => {
            let data = match (mimetype.as_deref(), result) {
                (Some("text/plain"), Json::String(s)) => WebData::Text(s),
                (Some("application/octet-stream"), Json::String(s)) => match B64.decode(&s) {
                    Ok(bytes) => WebData::Bytes(bytes),
                    Err(_) => WebData::Json(Json::String(s)),
                },
                (_, other) => WebData::Json(other),
            };
            (mimetype, data)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_takes_credentials_out_and_finds_the_port() {
        let b = BaseUrl::parse("http://alice:s%40cret@127.0.0.1:8080/").unwrap();
        assert_eq!((b.host.as_str(), b.port), ("127.0.0.1", 8080));
        assert_eq!(b.host_header, "127.0.0.1:8080");
        assert_eq!(b.display, "http://127.0.0.1:8080");
        assert_eq!(b.target("add"), "/add");
        assert_eq!(
            b.authorization.as_deref(),
            Some(&*format!("Basic {}", B64.encode("alice:s@cret")))
        );
        assert!(!b.https);
        let b = BaseUrl::parse("HTTPS://host/prefix//").unwrap();
        assert_eq!((b.host.as_str(), b.port, b.https), ("host", 443, true));
        assert_eq!(b.target(""), "/prefix/");
        assert!(b.authorization.is_none());
        let b = BaseUrl::parse("http://[::1]:9000").unwrap();
        assert_eq!((b.host.as_str(), b.port), ("::1", 9000));
        assert_eq!(b.host_header, "[::1]:9000");
        for bad in [
            "ftp://x",
            "no-scheme",
            "http://",
            "http://h/p?q=1",
            "http://h:99999",
            "http://[::1",
        ] {
            assert!(
                matches!(BaseUrl::parse(bad), Err(ClientError::BadArgument { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn percent_decoding_is_total() {
        assert_eq!(percent_decode("a%20b%zz%4"), "a b%zz%4");
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%41%"), "A%");
    }

    #[test]
    fn targets_survive_parse_qs() {
        let q = [("k".to_owned(), "a b+c&d=é".to_owned())];
        assert_eq!(web_target("x/y z", &q), "x/y%20z?k=a%20b%2Bc%26d%3D%C3%A9");
        assert_eq!(web_target("n", &[]), "n");
    }

    #[test]
    fn retry_after_defaults_to_five_seconds() {
        assert_eq!(parse_retry_after(Some("3")), Duration::from_secs(3));
        assert_eq!(parse_retry_after(Some(" 0.5 ")), Duration::from_millis(500));
        assert_eq!(parse_retry_after(None), Duration::from_secs(5));
        assert_eq!(parse_retry_after(Some("-1")), Duration::from_secs(5));
        assert_eq!(
            parse_retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            Duration::from_secs(5)
        );
    }

    fn reply(status: u16, ctype: Option<&str>, retry: Option<&str>, body: &str) -> Reply {
        Reply {
            status,
            content_type: ctype.map(str::to_owned),
            retry_after: retry.map(str::to_owned),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn responses_branch_as_the_python_client() {
        let j = Some("application/json");
        let err = |kind: &str, msg: &str| {
            format!(r#"{{"status": "error", "type": "{kind}", "message": "{msg}"}}"#)
        };
        assert!(matches!(
            check(reply(404, None, None, "")),
            Err(ClientError::NotFound { message }) if message == "API endpoint not found."
        ));
        assert!(matches!(
            check(reply(503, j, Some("2"), &err("OperationInProgress", "busy"))),
            Err(ClientError::OperationInProgress { retry_after, .. })
                if retry_after == Duration::from_secs(2)
        ));
        assert!(matches!(
            check(reply(503, j, Some("3"), &err("generic", "busy"))),
            Err(ClientError::OperationInProgress { retry_after, .. })
                if retry_after == Duration::from_secs(3)
        ));
        assert!(matches!(
            check(reply(503, j, None, &err("generic", "down"))),
            Err(ClientError::Remote { status: 503, .. })
        ));
        assert!(matches!(
            check(reply(503, j, None, &err("InvalidServerState", "x"))),
            Err(ClientError::InvalidServerState { .. })
        ));
        assert!(matches!(
            check(reply(
                400,
                j,
                None,
                &err("generic", "RPC args should be a tuple")
            )),
            Err(ClientError::BadArgument { .. })
        ));
        assert!(matches!(
            check(reply(500, j, None, &err("generic", "boom"))),
            Err(ClientError::Remote { status: 500, kind, message }) if kind == "generic" && message == "boom"
        ));
        assert!(matches!(
            check(reply(502, None, None, "")),
            Err(ClientError::Remote { kind, .. }) if kind == "http"
        ));
        let raw = check(reply(200, Some("image/png"), None, "PNG")).unwrap();
        assert_eq!(
            web_result(raw),
            (
                Some("image/png".into()),
                WebData::Raw {
                    mime: "image/png".into(),
                    bytes: b"PNG".to_vec()
                }
            )
        );
        let ok = check(reply(
            200,
            j,
            None,
            r#"{"status": "success", "mimetype": "text/plain", "result": "hi"}"#,
        ))
        .unwrap();
        assert!(expect_json(ok.clone()).is_err());
        assert_eq!(
            web_result(ok),
            (Some("text/plain".into()), WebData::Text("hi".into()))
        );
        assert!(matches!(
            check(reply(200, j, None, "not json")),
            Err(ClientError::Protocol(_))
        ));
    }
}
