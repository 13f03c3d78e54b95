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

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value as Json;
use tarp_core::client::{
    check, encode_component, encode_path, endpoints_of, expect_json, job_started, payload_of,
    typed, web_result, web_target, BaseUrl, Reply,
};
pub use tarp_core::client::{
    Args, BoxError, ClientError, Endpoint, EndpointKind, IntoArgs, JobStatus, Kwargs, Probe,
    Result, WebBody, WebData,
};
use tarp_core::wire::discovery::Discovery;
use tarp_core::wire::envelope;
use tarp_core::wire::pickle::{self, Value};

/// The most memory reserved for an answer's body on its `Content-Length` alone.
const PRESIZE_MAX: u64 = 1 << 20;

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

/// Builds [`Kwargs`]: `kwargs! {"lower" => 0, "upper" => 100}` (any serde values).
#[macro_export]
macro_rules! kwargs {
    () => { $crate::Kwargs::new() };
    ($($name:expr => $value:expr),+ $(,)?) => {
        $crate::Kwargs::new()$(.with($name, $value))+
    };
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
            // ureq's TCP and TLS, with head and body of a small request sent in one write.
            ureq::unversioned::transport::Connector::chain(
                ureq::unversioned::transport::DefaultConnector::default(),
                crate::coalesce::Coalesce,
            ),
            LiteralResolver::default(),
        );
        let inner = Inner {
            agent,
            base: base.display,
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

struct Inner {
    agent: ureq::Agent,
    base: String,
    authorization: Option<String>,
    max_response_bytes: u64,
}

impl Inner {
    fn url(&self, path_and_query: &str) -> String {
        let mut url = String::with_capacity(self.base.len() + 1 + path_and_query.len());
        url.push_str(&self.base);
        url.push('/');
        url.push_str(path_and_query);
        url
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
        // Sized by Content-Length up front (up to a bound: the length is only the server's
        // word until the bytes arrive), so a small answer is read without regrowing.
        let expected = resp.body().content_length().unwrap_or(0);
        let mut body = Vec::with_capacity(
            usize::try_from(expected.min(self.max_response_bytes).min(PRESIZE_MAX)).unwrap_or(0),
        );
        std::io::Read::read_to_end(
            &mut resp
                .body_mut()
                .with_config()
                .limit(self.max_response_bytes)
                .reader(),
            &mut body,
        )
        .map_err(|e| map_ureq(e.into()))?;
        Ok(Reply {
            status,
            content_type,
            retry_after,
            body,
        })
    }

    fn get_json(&self, path_and_query: &str) -> Result<Json> {
        let reply = self.exchange("GET", path_and_query, None)?;
        expect_json(check(reply)?)
    }

    fn rpc(&self, name: &str, args: Vec<Value>, kwargs: Kwargs) -> Result<Json> {
        let reply = self.rpc_reply(name, args, kwargs)?;
        expect_json(check(reply)?)
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
        payload_of(reply)
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
        let (id, suggested_wait) = job_started(&result)?;
        Ok(JobHandle {
            client: self.clone(),
            id,
            suggested_wait,
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
        Probe::from_json(&result, self.suggested_wait)
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
        match payload_of(reply) {
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
            match payload_of(reply) {
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
        let target = web_target(self.client.path_name(self.name), &self.query);
        let body = self.body.map(WebBody::encode).transpose()?;
        let inner = &self.client.inner;
        let (content_type, bytes) = body.unzip();
        let reply = inner.exchange(self.method, &target, content_type.as_deref().zip(bytes))?;
        Ok(web_result(check(reply)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
