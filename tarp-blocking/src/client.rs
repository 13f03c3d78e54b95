//! The blocking TARP client, over `ureq`.
//!
//! It speaks as the Python TARP client does (PROTOCOL.md section 7), so it drives both our
//! servers and the Python one:
//!
//! ```no_run
//! use tarp_blocking::{kwargs, Client};
//!
//! let client = Client::connect("http://127.0.0.1:8080")?;
//! for endpoint in client.endpoints() {
//!     println!("{:?} {}: {}", endpoint.kind, endpoint.name, endpoint.description);
//! }
//! let sum: i64 = client.call("my_function", (1, 2))?;
//! let xs: Vec<f64> = client.call_with("rpcExample", (15,), kwargs! {"lower" => 0, "upper" => 100})?;
//! let same: Vec<f64> = client.rpc("rpcExample").arg(15).kwarg("upper", 100).call()?;
//! let handle = client.start("my_long_function", (1, 2))?;
//! let three: i64 = handle.wait()?;
//! let (mimetype, data) = client.get("get_data").query("n", 3).send()?;
//! # Ok::<(), tarp_blocking::ClientError>(())
//! ```
//!
//! Every failure is a [`ClientError`] a caller can match on: the server's retryable states
//! (`OperationInProgress` with its `Retry-After`, `InvalidServerState`), a remote failure with
//! its type and message, an unknown endpoint, a bad argument, or a transport, TLS, timeout or
//! protocol failure.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value as Json;
use tarp_core::wire::discovery::{self, Discovery};
use tarp_core::wire::envelope::{self, PayloadBody};
use tarp_core::wire::pickle::{self, Value};

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
    fn transport(e: impl Into<BoxError>) -> Self {
        ClientError::Transport { source: e.into() }
    }
}

type Result<T, E = ClientError> = std::result::Result<T, E>;

fn map_ureq(err: ureq::Error) -> ClientError {
    use ureq::Error as U;
    match err {
        U::Timeout(_) => ClientError::Timeout {
            source: Box::new(err),
        },
        U::Io(ref io)
            if matches!(
                io.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) =>
        {
            ClientError::Timeout {
                source: Box::new(err),
            }
        }
        U::Tls(_) | U::Pem(_) | U::Rustls(_) | U::TlsRequired => ClientError::Tls {
            source: Box::new(err),
        },
        U::Protocol(_) | U::BodyExceedsLimit(_) | U::LargeResponseHeader(..) => {
            ClientError::Protocol(err.to_string())
        }
        U::Io(ref io)
            if io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>()) =>
        {
            ClientError::Tls {
                source: Box::new(err),
            }
        }
        other => ClientError::transport(other),
    }
}

// ---------------------------------------------------------------------------------------------
// Arguments

/// Converts a Rust value to a pickle [`Value`] for use as an argument.
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

/// Keyword arguments of an RPC call, in order. Build with [`kwargs!`](crate::kwargs) or
/// [`Kwargs::with`].
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

    fn into_value(self) -> Result<Value> {
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

/// Builds [`Kwargs`]: `kwargs! {"lower" => 0, "upper" => 100}` (any serde values).
#[macro_export]
macro_rules! kwargs {
    () => { $crate::Kwargs::new() };
    ($($name:expr => $value:expr),+ $(,)?) => {
        $crate::Kwargs::new()$(.with($name, $value))+
    };
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

fn endpoints_of(doc: &Discovery) -> Vec<Endpoint> {
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
// The client

/// Configures a [`Client`] before connecting.
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    url: String,
    ca_file: Option<PathBuf>,
    connect_timeout: Option<Duration>,
    call_timeout: Option<Duration>,
    max_response_bytes: u64,
}

/// Default connect timeout: 10 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default timeout of one HTTP exchange (a sync RPC included): 300 s. Longer work belongs in
/// async endpoints; set `None` to wait forever as the Python client does.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(300);
/// Default cap on a response body: 1 GiB (numpy arrays can be large).
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 1 << 30;

impl ClientBuilder {
    /// Trusts this PEM file (a CA or the server's self-signed certificate), as the Python
    /// client's `server_key`. Without it, `https://` uses the system's CA bundle.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Timeout for establishing a connection (TCP and TLS); `None` waits as long as the OS.
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Timeout for one whole HTTP exchange; `None` waits forever.
    pub fn call_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// Largest response body accepted (larger ones are a [`ClientError::Protocol`]).
    pub fn max_response_bytes(mut self, bytes: u64) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// Connects: reads the discovery document (`GET /`).
    pub fn connect(self) -> Result<Client> {
        let base = BaseUrl::parse(&self.url)?;
        let tls = tls_config(base.https, self.ca_file.as_deref())?;
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(self.connect_timeout)
            .timeout_global(self.call_timeout)
            .user_agent(concat!("tarp-blocking/", env!("CARGO_PKG_VERSION")))
            // Clones of a client share one pool; keep a connection per concurrent caller.
            .max_idle_connections(64)
            .max_idle_connections_per_host(64)
            .tls_config(tls)
            .build();
        let agent = ureq::Agent::with_parts(
            config,
            ureq::unversioned::transport::DefaultConnector::default(),
            LiteralResolver::default(),
        );
        let inner = Inner {
            agent,
            base: base.base,
            authorization: base.authorization,
            max_response_bytes: self.max_response_bytes,
        };
        let mut client = Client {
            inner: Arc::new(inner),
            discovery: Arc::new(Discovery::default()),
            endpoints: Arc::new(Vec::new()),
        };
        client.reload()?;
        Ok(client)
    }
}

/// ureq resolves the host before every request, even one sent on a pooled connection, and
/// with a timeout set it does so on a new thread each time. An IP address needs no lookup:
/// this resolver answers it directly and leaves names to ureq's resolver.
#[derive(Debug, Default)]
struct LiteralResolver(ureq::unversioned::resolver::DefaultResolver);

impl ureq::unversioned::resolver::Resolver for LiteralResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> std::result::Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let host = uri.host().unwrap_or_default();
        let ip = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
            .parse::<std::net::IpAddr>();
        let port = uri.port_u16().or_else(|| match uri.scheme_str() {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        });
        match (ip, port) {
            (Ok(ip), Some(port)) => {
                let mut addrs = self.empty();
                addrs.push(std::net::SocketAddr::new(ip, port));
                Ok(addrs)
            }
            _ => self.0.resolve(uri, config, timeout),
        }
    }
}

fn tls_config(https: bool, ca_file: Option<&std::path::Path>) -> Result<ureq::tls::TlsConfig> {
    use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};
    let tls_err = |e: crate::tls::TlsError| ClientError::Tls {
        source: Box::new(e),
    };
    let path = match ca_file {
        Some(p) => Some(p.to_owned()),
        None if https => Some(
            crate::tls::system_ca_bundle().ok_or_else(|| ClientError::Tls {
                source: "no CA file given and no system CA bundle found: pass ca_file(...)".into(),
            })?,
        ),
        None => None,
    };
    let certs = match path {
        Some(path) => crate::tls::load_certs(&path)
            .map_err(tls_err)?
            .iter()
            .map(|der| Certificate::from_der(der.as_ref()).to_owned())
            .collect(),
        None => Vec::new(),
    };
    Ok(TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(crate::tls::ring_provider())
        .root_certs(RootCerts::Specific(Arc::new(certs)))
        .build())
}

/// The server's base URL with credentials taken out (they go in `Authorization`).
struct BaseUrl {
    base: String,
    authorization: Option<String>,
    https: bool,
}

impl BaseUrl {
    fn parse(url: &str) -> Result<BaseUrl> {
        let bad = |why: &str| ClientError::BadArgument {
            message: format!("URL {url:?}: {why}"),
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let https = match scheme.to_ascii_lowercase().as_str() {
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
        let (userinfo, host) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let authorization = userinfo.map(|u| {
            let (user, pass) = u.split_once(':').unwrap_or((u, ""));
            let creds = format!("{}:{}", percent_decode(user), percent_decode(pass));
            format!("Basic {}", B64.encode(creds))
        });
        let base = format!(
            "{}://{}{}",
            scheme.to_ascii_lowercase(),
            host,
            path.trim_end_matches('/')
        );
        Ok(BaseUrl {
            base,
            authorization,
            https,
        })
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
fn encode_component(s: &str, out: &mut String) {
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

struct Inner {
    agent: ureq::Agent,
    base: String,
    authorization: Option<String>,
    max_response_bytes: u64,
}

/// What came back from one HTTP exchange.
struct Reply {
    status: u16,
    content_type: Option<String>,
    retry_after: Option<String>,
    body: Vec<u8>,
}

impl Inner {
    fn url(&self, path_and_query: &str) -> String {
        format!("{}/{}", self.base, path_and_query)
    }

    /// One request and its answer. The request body is taken and freed once sent, before
    /// the answer's body is read (a large argument and a large result are not both held).
    fn exchange(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Reply> {
        let url = self.url(path_and_query);
        let result = if method == "GET" {
            let mut req = self.agent.get(&url);
            if let Some(auth) = &self.authorization {
                req = req.header("Authorization", auth);
            }
            match body {
                // GET with a body is legal (RFC 9110) and the Python server reads it.
                Some((ctype, bytes)) => req
                    .force_send_body()
                    .header("Content-Type", ctype)
                    .send(&bytes[..]),
                None => req.call(),
            }
        } else {
            let mut req = self.agent.post(&url);
            if let Some(auth) = &self.authorization {
                req = req.header("Authorization", auth);
            }
            match body {
                Some((ctype, bytes)) => req.header("Content-Type", ctype).send(&bytes[..]),
                None => req.send_empty(),
            }
        };
        let mut resp = result.map_err(map_ureq)?;
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let status = resp.status().as_u16();
        let content_type = header("content-type");
        let retry_after = header("retry-after");
        let body = resp
            .body_mut()
            .with_config()
            .limit(self.max_response_bytes)
            .read_to_vec()
            .map_err(map_ureq)?;
        Ok(Reply {
            status,
            content_type,
            retry_after,
            body,
        })
    }

    /// PROTOCOL.md section 7's error branching, then `(mimetype, result)` or a raw payload.
    fn check(&self, reply: Reply) -> Result<Checked> {
        let envelope: Option<serde_json::Map<String, Json>> =
            serde_json::from_slice(&reply.body).ok();
        let message_of = |env: &Option<serde_json::Map<String, Json>>, fallback: &str| {
            env.as_ref()
                .and_then(|e| e.get("message"))
                .and_then(Json::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| fallback.to_owned())
        };
        if reply.status == 404 {
            return Err(ClientError::NotFound {
                message: message_of(&envelope, "API endpoint not found."),
            });
        }
        if reply.status != 200 {
            let text = String::from_utf8_lossy(&reply.body).into_owned();
            let Some(env) = envelope else {
                return Err(ClientError::Remote {
                    status: reply.status,
                    kind: "http".into(),
                    message: if text.is_empty() {
                        format!("HTTP {} with no body", reply.status)
                    } else {
                        text
                    },
                });
            };
            let kind = env
                .get("type")
                .and_then(Json::as_str)
                .unwrap_or("generic")
                .to_owned();
            let message = message_of(&Some(env), "Unknown error");
            // The Python server loses the type of an RPC or POST handler's "operation in
            // progress" (PROTOCOL.md 2, upstream quirk) but keeps its 503 and Retry-After.
            let in_progress = kind == "OperationInProgress"
                || (kind == "generic" && reply.status == 503 && reply.retry_after.is_some());
            return Err(match kind.as_str() {
                _ if in_progress => ClientError::OperationInProgress {
                    message,
                    retry_after: parse_retry_after(reply.retry_after.as_deref()),
                },
                "InvalidServerState" => ClientError::InvalidServerState { message },
                _ if reply.status == 400 => ClientError::BadArgument { message },
                _ => ClientError::Remote {
                    status: reply.status,
                    kind,
                    message,
                },
            });
        }
        // As the Python client: anything but exactly `application/json` is a raw payload.
        if reply.content_type.as_deref() != Some("application/json") {
            return Ok(Checked::Raw {
                mime: reply
                    .content_type
                    .unwrap_or_else(|| "application/octet-stream".into()),
                bytes: reply.body,
            });
        }
        let mut env = envelope
            .ok_or_else(|| ClientError::Protocol("200 response is not a JSON envelope".into()))?;
        if env.get("status").and_then(Json::as_str) != Some("success") {
            return Err(ClientError::Remote {
                status: reply.status,
                kind: env
                    .get("type")
                    .and_then(Json::as_str)
                    .unwrap_or("generic")
                    .to_owned(),
                message: message_of(&Some(env), "Unknown error"),
            });
        }
        let mimetype = env
            .get("mimetype")
            .and_then(Json::as_str)
            .map(str::to_owned);
        let result = env.remove("result").unwrap_or(Json::Null);
        Ok(Checked::Envelope { mimetype, result })
    }

    fn get_json(&self, path_and_query: &str) -> Result<Json> {
        let reply = self.exchange("GET", path_and_query, None)?;
        self.expect_json(self.check(reply)?)
    }

    fn expect_json(&self, checked: Checked) -> Result<Json> {
        match checked {
            Checked::Envelope { mimetype, result } => {
                if mimetype.as_deref() != Some("application/json") {
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

    fn rpc(&self, name: &str, args: Vec<Value>, kwargs: Kwargs) -> Result<Json> {
        let reply = self.rpc_reply(name, args, kwargs)?;
        self.expect_json(self.check(reply)?)
    }

    /// Sends an RPC and returns its answer unread. The body is built in the args pickle's
    /// memory and freed once sent, before the answer is read.
    fn rpc_reply(&self, name: &str, args: Vec<Value>, kwargs: Kwargs) -> Result<Reply> {
        let kwargs = pickle::encode(&kwargs.into_value()?);
        let args = pickle::encode(&Value::Tuple(Arc::new(args)));
        let body = envelope::rpc_request_body_from(args, &kwargs);
        drop(kwargs);
        self.exchange("POST", &encode_path(name), Some(("application/json", body)))
    }

    /// The unpickled payload of an RPC or `asyncGet` answer. A success envelope's base64 is
    /// decoded in the body's own memory, without reading the envelope into a JSON tree (a
    /// second copy of the text); any other answer goes through [`check`](Inner::check),
    /// which words its error as before.
    fn payload_of(&self, mut reply: Reply) -> Result<Value> {
        if reply.status == 200 && reply.content_type.as_deref() == Some("application/json") {
            match envelope::decode_payload_in_place(std::mem::take(&mut reply.body), &B64) {
                PayloadBody::Decoded(bytes) => return unpickle_payload(&bytes),
                PayloadBody::NotBase64(e) => return Err(not_base64(e)),
                PayloadBody::Other(body) => reply.body = body,
            }
        }
        payload_value(&self.expect_json(self.check(reply)?)?)
    }
}

enum Checked {
    Envelope {
        mimetype: Option<String>,
        result: Json,
    },
    Raw {
        mime: String,
        bytes: Vec<u8>,
    },
}

fn parse_retry_after(header: Option<&str>) -> Duration {
    header
        .and_then(|h| h.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(86_400.0)))
        .unwrap_or(Duration::from_secs(5))
}

/// An endpoint name as a URL path: `/` kept (names may contain it), the rest escaped.
fn encode_path(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for segment in name.split('/') {
        if !out.is_empty() || name.starts_with('/') {
            out.push('/');
        }
        encode_component(segment, &mut out);
    }
    out
}

fn payload_value(result: &Json) -> Result<Value> {
    let payload = result
        .get("payload")
        .and_then(Json::as_str)
        .ok_or_else(|| ClientError::Protocol("result has no payload string".into()))?;
    let bytes = B64.decode(payload).map_err(not_base64)?;
    unpickle_payload(&bytes)
}

fn not_base64(e: base64::DecodeError) -> ClientError {
    ClientError::Protocol(format!("payload is not base64: {e}"))
}

fn unpickle_payload(bytes: &[u8]) -> Result<Value> {
    pickle::decode(bytes).map_err(|e| ClientError::Protocol(format!("payload pickle: {e}")))
}

fn typed<T: DeserializeOwned>(value: &Value) -> Result<T> {
    pickle::from_value(value).map_err(|e| ClientError::Decode(e.to_string()))
}

/// A connection to one TARP server. Cheap to clone (clones share the connection pool).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    discovery: Arc<Discovery>,
    endpoints: Arc<Vec<Endpoint>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.inner.base)
            .field("endpoints", &self.endpoints.len())
            .finish()
    }
}

impl Client {
    /// Connects with the defaults: reads the discovery document of `url`
    /// (`http://host:port`, `https://...`, optionally `http://user:password@host:port`).
    pub fn connect(url: &str) -> Result<Client> {
        Client::builder(url).connect()
    }

    /// A builder, to set a CA file, timeouts or the response cap before connecting.
    pub fn builder(url: &str) -> ClientBuilder {
        ClientBuilder {
            url: url.to_owned(),
            ca_file: None,
            connect_timeout: Some(DEFAULT_CONNECT_TIMEOUT),
            call_timeout: Some(DEFAULT_CALL_TIMEOUT),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    /// The server's base URL (without credentials).
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    /// Reads the discovery document again (the server's endpoints may have changed).
    pub fn reload(&mut self) -> Result<()> {
        let doc = self.discovery_document()?;
        let discovery =
            Discovery::from_json(&doc).map_err(|e| ClientError::Protocol(e.to_string()))?;
        self.endpoints = Arc::new(endpoints_of(&discovery));
        self.discovery = Arc::new(discovery);
        Ok(())
    }

    /// The discovery document read at connect, as the core's typed [`Discovery`].
    pub fn discovery(&self) -> &Discovery {
        &self.discovery
    }

    /// The raw discovery document (`GET /`'s result), as JSON.
    pub fn discovery_document(&self) -> Result<Json> {
        self.inner.get_json("")
    }

    /// The endpoints read at connect (or at the last [`reload`](Client::reload)).
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// The endpoint with this name; a `_` in `name` also matches a `/` in the endpoint's name,
    /// as the Python client names its methods.
    pub fn endpoint(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.name == name).or_else(|| {
            self.endpoints
                .iter()
                .find(|e| e.name.replace('/', "_") == name)
        })
    }

    fn path_name<'a>(&'a self, name: &'a str) -> &'a str {
        self.endpoint(name).map(|e| e.name.as_str()).unwrap_or(name)
    }

    /// Calls an RPC with positional arguments and returns its result as `T`
    /// (e.g. `client.call::<i64>("add", (1, 2))`). An async endpoint is started and waited
    /// for (use [`start`](Client::start) for the handle).
    pub fn call<T: DeserializeOwned>(&self, name: &str, args: impl IntoArgs) -> Result<T> {
        self.call_with(name, args, Kwargs::new())
    }

    /// Calls an RPC with positional and keyword arguments, returning its result as `T`.
    pub fn call_with<T: DeserializeOwned>(
        &self,
        name: &str,
        args: impl IntoArgs,
        kwargs: Kwargs,
    ) -> Result<T> {
        typed(&self.call_value(name, args, kwargs)?)
    }

    /// Calls an RPC and returns the result as a pickle [`Value`] (no conversion).
    pub fn call_value(&self, name: &str, args: impl IntoArgs, kwargs: Kwargs) -> Result<Value> {
        if self
            .endpoint(name)
            .is_some_and(|e| e.kind == EndpointKind::AsyncRpc)
        {
            return self.start_with(name, args, kwargs)?.wait_value();
        }
        let reply = self
            .inner
            .rpc_reply(self.path_name(name), args.into_args()?, kwargs)?;
        self.inner.payload_of(reply)
    }

    /// Starts an async RPC with positional arguments and returns its job handle.
    pub fn start(&self, name: &str, args: impl IntoArgs) -> Result<JobHandle> {
        self.start_with(name, args, Kwargs::new())
    }

    /// Starts an async RPC with positional and keyword arguments and returns its job handle.
    pub fn start_with(&self, name: &str, args: impl IntoArgs, kwargs: Kwargs) -> Result<JobHandle> {
        let result = self
            .inner
            .rpc(self.path_name(name), args.into_args()?, kwargs)?;
        let id = result
            .get("ID")
            .and_then(Json::as_str)
            .ok_or_else(|| ClientError::Protocol("async start result has no ID".into()))?
            .to_owned();
        let suggested_wait = result
            .get("suggested_wait")
            .and_then(Json::as_f64)
            .unwrap_or(5.0);
        Ok(JobHandle {
            client: self.clone(),
            id,
            suggested_wait: secs(suggested_wait),
        })
    }

    /// A call built step by step: `client.rpc("f").arg(1).kwarg("k", 2).call::<T>()`.
    pub fn rpc<'a>(&'a self, name: &'a str) -> RpcCall<'a> {
        RpcCall {
            client: self,
            name,
            args: Args::new(),
            kwargs: Kwargs::new(),
        }
    }

    /// A handle on an async job started earlier (by this or another client).
    pub fn job(&self, id: impl Into<String>) -> JobHandle {
        JobHandle {
            client: self.clone(),
            id: id.into(),
            suggested_wait: Duration::from_secs(5),
        }
    }

    /// A web-like `GET /<name>` request; add query parameters, then [`WebCall::send`].
    pub fn get<'a>(&'a self, name: &'a str) -> WebCall<'a> {
        WebCall {
            client: self,
            method: "GET",
            name,
            query: Vec::new(),
            body: None,
        }
    }

    /// A web-like `POST /<name>` request; add query parameters and a body, then send.
    pub fn post<'a>(&'a self, name: &'a str) -> WebCall<'a> {
        WebCall {
            client: self,
            method: "POST",
            name,
            query: Vec::new(),
            body: None,
        }
    }
}

fn secs(s: f64) -> Duration {
    if s.is_finite() && s >= 0.0 {
        Duration::from_secs_f64(s.min(86_400.0))
    } else {
        Duration::from_secs(5)
    }
}

/// An RPC call under construction (see [`Client::rpc`]).
#[derive(Debug)]
#[must_use = "a call does nothing until call(), call_value() or start()"]
pub struct RpcCall<'a> {
    client: &'a Client,
    name: &'a str,
    args: Args,
    kwargs: Kwargs,
}

impl RpcCall<'_> {
    /// Appends a positional argument (any serde value).
    pub fn arg<T: Serialize>(mut self, value: T) -> Self {
        self.args.push(value);
        self
    }

    /// Appends a positional argument given as a pickle value.
    pub fn arg_value(mut self, value: Value) -> Self {
        self.args.push_value(value);
        self
    }

    /// Adds a keyword argument (any serde value).
    pub fn kwarg<T: Serialize>(mut self, name: &str, value: T) -> Self {
        self.kwargs.insert(name, value);
        self
    }

    /// Adds a keyword argument given as a pickle value.
    pub fn kwarg_value(mut self, name: &str, value: Value) -> Self {
        self.kwargs.insert_value(name, value);
        self
    }

    /// Makes the call and converts the result to `T` (async endpoints are waited for).
    pub fn call<T: DeserializeOwned>(self) -> Result<T> {
        typed(&self.call_value()?)
    }

    /// Makes the call and returns the result as a pickle value.
    pub fn call_value(self) -> Result<Value> {
        self.client.call_value(self.name, self.args, self.kwargs)
    }

    /// Starts the call on an async endpoint and returns its job handle.
    pub fn start(self) -> Result<JobHandle> {
        self.client.start_with(self.name, self.args, self.kwargs)
    }
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

/// A handle on an async job, as the Python client's `asyncResult`.
#[derive(Debug, Clone)]
pub struct JobHandle {
    client: Client,
    id: String,
    suggested_wait: Duration,
}

impl JobHandle {
    /// The job's ID (a UUID string).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The wait the server suggested when the job started.
    pub fn suggested_wait(&self) -> Duration {
        self.suggested_wait
    }

    fn query(&self, what: &str) -> String {
        let mut q = format!("{what}?UUID=");
        encode_component(&self.id, &mut q);
        q
    }

    /// Probes the job once.
    pub fn probe(&self) -> Result<Probe> {
        let result = self.client.inner.get_json(&self.query("asyncProbe"))?;
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
            .unwrap_or(self.suggested_wait);
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

    /// The job's state (one probe).
    pub fn status(&self) -> Result<JobStatus> {
        Ok(self.probe()?.status)
    }

    /// Asks for the result once: `Ok(None)` while the job runs (the server's 503), the result
    /// when done (the server then forgets the job).
    pub fn try_get_value(&self) -> Result<Option<Value>> {
        let reply = self
            .client
            .inner
            .exchange("GET", &self.query("asyncGet"), None)?;
        match self.client.inner.payload_of(reply) {
            Ok(value) => Ok(Some(value)),
            Err(ClientError::OperationInProgress { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Waits for the result as the Python client's `wait()`: asks for it, sleeping the
    /// server's `Retry-After` after each "still running" answer.
    pub fn wait<T: DeserializeOwned>(&self) -> Result<T> {
        typed(&self.wait_value()?)
    }

    /// Like [`wait`](JobHandle::wait), returning the pickle value.
    pub fn wait_value(&self) -> Result<Value> {
        self.wait_value_until(None)
    }

    /// Like [`wait`](JobHandle::wait) but gives up with [`ClientError::Timeout`] after
    /// `timeout` (never sleeping past it).
    pub fn wait_timeout<T: DeserializeOwned>(&self, timeout: Duration) -> Result<T> {
        typed(&self.wait_value_until(Some(Instant::now() + timeout))?)
    }

    fn wait_value_until(&self, deadline: Option<Instant>) -> Result<Value> {
        loop {
            let reply = self
                .client
                .inner
                .exchange("GET", &self.query("asyncGet"), None)?;
            match self.client.inner.payload_of(reply) {
                Ok(value) => return Ok(value),
                Err(ClientError::OperationInProgress { retry_after, .. }) => {
                    let mut pause = retry_after;
                    if let Some(deadline) = deadline {
                        let left = deadline.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            return Err(ClientError::Timeout {
                                source: format!("job {} still running", self.id).into(),
                            });
                        }
                        pause = pause.min(left);
                    }
                    std::thread::sleep(pause);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One cycle of the Python client's `waitCycle()`: probes once; while the job runs, sleeps
    /// the suggested wait and returns `Ok(None)`; when done returns the result; when failed
    /// returns [`ClientError::JobFailed`].
    pub fn wait_cycle<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        match self.wait_cycle_value()? {
            Some(v) => typed(&v).map(Some),
            None => Ok(None),
        }
    }

    /// Like [`wait_cycle`](JobHandle::wait_cycle), returning the pickle value.
    pub fn wait_cycle_value(&self) -> Result<Option<Value>> {
        let probe = self.probe()?;
        match probe.status {
            JobStatus::InProgress => {
                std::thread::sleep(probe.suggested_wait);
                Ok(None)
            }
            JobStatus::Completed => self.wait_value().map(Some),
            JobStatus::Failed => Err(ClientError::JobFailed {
                message: probe.error.unwrap_or_else(|| "Unknown error".into()),
            }),
            JobStatus::Other(s) => Err(ClientError::Protocol(format!("unknown job status {s:?}"))),
        }
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

/// A web-like request under construction (see [`Client::get`] and [`Client::post`]).
#[derive(Debug)]
#[must_use = "a request does nothing until send()"]
pub struct WebCall<'a> {
    client: &'a Client,
    method: &'static str,
    name: &'a str,
    query: Vec<(String, String)>,
    body: Option<WebBody>,
}

impl WebCall<'_> {
    /// Adds a query parameter (any `Display` value; repeat a key for a list).
    pub fn query(mut self, key: &str, value: impl std::fmt::Display) -> Self {
        self.query.push((key.to_owned(), value.to_string()));
        self
    }

    /// Sends a JSON body (`application/json`).
    pub fn json<T: Serialize>(mut self, value: &T) -> Result<Self> {
        let json = serde_json::to_value(value).map_err(|e| ClientError::BadArgument {
            message: format!("body: {e}"),
        })?;
        self.body = Some(WebBody::Json(json));
        Ok(self)
    }

    /// Sends bytes (`application/octet-stream`).
    pub fn bytes(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.body = Some(WebBody::Bytes(bytes.into()));
        self
    }

    /// Sends the given body.
    pub fn body(mut self, body: WebBody) -> Self {
        self.body = Some(body);
        self
    }

    /// Sends the request; returns the mimetype (the envelope's, or the raw payload's
    /// `Content-Type`) and the data.
    pub fn send(self) -> Result<(Option<String>, WebData)> {
        let mut target = encode_path(self.client.path_name(self.name));
        for (i, (k, v)) in self.query.iter().enumerate() {
            target.push(if i == 0 { '?' } else { '&' });
            encode_component(k, &mut target);
            target.push('=');
            encode_component(v, &mut target);
        }
        let body = match self.body {
            None => None,
            Some(WebBody::Json(json)) => Some((
                "application/json".to_owned(),
                serde_json::to_vec(&json).map_err(|e| ClientError::BadArgument {
                    message: e.to_string(),
                })?,
            )),
            Some(WebBody::Bytes(bytes)) => Some(("application/octet-stream".to_owned(), bytes)),
            Some(WebBody::Typed {
                content_type,
                bytes,
            }) => Some((content_type, bytes)),
        };
        let inner = &self.client.inner;
        let (content_type, bytes) = body.unzip();
        let reply = inner.exchange(self.method, &target, content_type.as_deref().zip(bytes))?;
        Ok(match inner.check(reply)? {
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
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_takes_credentials_out() {
        let b = BaseUrl::parse("http://alice:s%40cret@127.0.0.1:8080/").unwrap();
        assert_eq!(b.base, "http://127.0.0.1:8080");
        assert_eq!(
            b.authorization.as_deref(),
            Some(&*format!("Basic {}", B64.encode("alice:s@cret")))
        );
        assert!(!b.https);
        let b = BaseUrl::parse("HTTPS://host/prefix//").unwrap();
        assert_eq!(b.base, "https://host/prefix");
        assert!(b.https && b.authorization.is_none());
        for bad in ["ftp://x", "no-scheme", "http://", "http://h/p?q=1"] {
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
    fn query_components_survive_parse_qs() {
        let mut s = String::new();
        encode_component("a b+c&d=é", &mut s);
        assert_eq!(s, "a%20b%2Bc%26d%3D%C3%A9");
        assert_eq!(encode_path("a/b c"), "a/b%20c");
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

    #[test]
    fn endpoints_are_found_by_name_or_by_the_python_method_name() {
        let doc = serde_json::json!({
            "GET": [{"name": "plots/sine", "description": "d", "query_params": []}],
            "RPC": [{"name": "add", "description": "d", "params": ["a", "b"], "defaults": {"b": 2}}],
        });
        let discovery = Discovery::from_json(&doc).unwrap();
        let client = Client {
            inner: Arc::new(Inner {
                agent: ureq::Agent::new_with_defaults(),
                base: "http://127.0.0.1:1".into(),
                authorization: None,
                max_response_bytes: 1,
            }),
            endpoints: Arc::new(endpoints_of(&discovery)),
            discovery: Arc::new(discovery),
        };
        assert_eq!(
            client.endpoint("plots/sine").unwrap().kind,
            EndpointKind::Get
        );
        assert_eq!(client.endpoint("plots_sine").unwrap().name, "plots/sine");
        assert_eq!(client.path_name("plots_sine"), "plots/sine");
        let add = client.endpoint("add").unwrap();
        assert_eq!(add.defaults, [("b".to_owned(), serde_json::json!(2))]);
        assert!(client.endpoint("nope").is_none());
    }
}
