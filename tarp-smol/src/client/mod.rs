//! The async TARP client, on the core's [`ClientConn`] over `async-net` sockets.
//!
//! It speaks as the Python TARP client does (PROTOCOL.md section 7), so it drives both our
//! servers and the Python one, and has the shape of `tarp-blocking`'s client with `async`
//! methods:
//!
//! ```no_run
//! use tarp_smol::{kwargs, Client};
//!
//! # smol::block_on(async {
//! let client = Client::connect("http://127.0.0.1:8080").await?;
//! for endpoint in client.endpoints() {
//!     println!("{:?} {}: {}", endpoint.kind, endpoint.name, endpoint.description);
//! }
//! let sum: i64 = client.call("my_function", (1, 2)).await?;
//! let xs: Vec<f64> = client
//!     .call_with("rpcExample", (15,), kwargs! {"lower" => 0, "upper" => 100})
//!     .await?;
//! let same: Vec<f64> = client.rpc("rpcExample").arg(15).kwarg("upper", 100).call().await?;
//! let handle = client.start("my_long_function", (1, 2)).await?;
//! let three: i64 = handle.wait().await?;
//! let (mimetype, data) = client.get("get_data").query("n", 3).send().await?;
//! # Ok::<(), tarp_smol::ClientError>(())
//! # });
//! ```
//!
//! Connections are kept alive and reused (up to [`MAX_IDLE_CONNECTIONS`] idle ones); a
//! request sent on a kept connection that the server had closed meanwhile is sent again on a
//! new one, once. Every method's future is `Send`, so it runs on any executor; waits use
//! `async-io` timers.
//!
//! Every failure is a [`ClientError`] a caller can match on: the server's retryable states
//! (`OperationInProgress` with its `Retry-After`, `InvalidServerState`), a remote failure with
//! its type and message, an unknown endpoint, a bad argument, or a transport, TLS, timeout or
//! protocol failure.

use std::borrow::Cow;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_net::TcpStream;
use futures_rustls::TlsConnector;
use rustls::pki_types::ServerName;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value as Json;
use smol::future::FutureExt as _;
use smol::io::{AsyncReadExt as _, AsyncWriteExt as _};
use smol::Timer;
use tarp_core::client as call;
use tarp_core::http::{
    ClientConn, ClientError as HttpClientError, ClientNext, ClientResponse, Limits, Request,
    Version,
};
use tarp_core::wire::discovery::Discovery;
use tarp_core::wire::pickle::Value;

pub use call::{
    Args, BoxError, ClientError, Endpoint, EndpointKind, IntoArgs, JobStatus, Kwargs, Probe,
    Result, WebBody, WebData,
};
use call::{BaseUrl, Checked, Reply};

/// Builds [`Kwargs`]: `kwargs! {"lower" => 0, "upper" => 100}` (any serde values).
#[macro_export]
macro_rules! kwargs {
    () => { $crate::Kwargs::new() };
    ($($name:expr => $value:expr),+ $(,)?) => {
        $crate::Kwargs::new()$(.with($name, $value))+
    };
}

/// Default connect timeout (TCP and TLS): 10 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default timeout of one HTTP exchange (a sync RPC included): 300 s. Longer work belongs in
/// async endpoints; set `None` to wait forever as the Python client does.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(300);
/// Default cap on a response body: 1 GiB (numpy arrays can be large).
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 1 << 30;
/// Idle keep-alive connections a client keeps for reuse; more are closed.
pub const MAX_IDLE_CONNECTIONS: usize = 32;

/// Configures a [`Client`] before connecting.
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    url: String,
    ca_file: Option<PathBuf>,
    connect_timeout: Option<Duration>,
    call_timeout: Option<Duration>,
    max_response_bytes: u64,
}

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
    pub async fn connect(self) -> Result<Client> {
        let base = BaseUrl::parse(&self.url)?;
        let tls = if base.https || self.ca_file.is_some() {
            let config = crate::tls::client_config(self.ca_file.as_deref()).map_err(|e| {
                ClientError::Tls {
                    source: Box::new(e),
                }
            })?;
            let name =
                ServerName::try_from(base.host.clone()).map_err(|e| ClientError::BadArgument {
                    message: format!("URL host {:?}: {e}", base.host),
                })?;
            Some((TlsConnector::from(config), name))
        } else {
            None
        };
        let limits = Limits {
            max_body: self.max_response_bytes,
            ..Limits::default()
        };
        let inner = Inner {
            tls: tls.filter(|_| base.https),
            base,
            connect_timeout: self.connect_timeout,
            call_timeout: self.call_timeout,
            limits,
            idle: Mutex::new(Vec::new()),
        };
        let mut client = Client {
            inner: Arc::new(inner),
            discovery: Arc::new(Discovery::default()),
            endpoints: Arc::new(Vec::new()),
        };
        client.reload().await?;
        Ok(client)
    }
}

// ---------------------------------------------------------------------------------------------
// Transport

/// A client connection's stream.
type ClientStream = crate::stream::Stream<TcpStream>;

/// One kept-alive connection: the socket, the core's client machine, and the timer of the
/// call timeout, kept with the connection.
struct Connection {
    stream: ClientStream,
    http: ClientConn,
    timer: KeptTimer,
}

/// A timer kept across the calls of one connection. A new `async-io` timer per call costs a
/// registration with the reactor each time, and each registration interrupts its
/// `epoll_wait` (an eventfd write and read, a `timerfd_settime`). A call's deadline only
/// moves later from one call to the next, so the timer armed for an earlier one is kept: it
/// may fire early (once per timeout period at most), then is armed again for the deadline in
/// force.
struct KeptTimer {
    timer: Timer,
    armed: Option<Instant>,
}

impl KeptTimer {
    fn new() -> KeptTimer {
        KeptTimer {
            timer: Timer::never(),
            armed: None,
        }
    }

    /// Resolves once `deadline` has passed.
    async fn expired(&mut self, deadline: Instant) {
        loop {
            if self.armed.map_or(true, |at| at > deadline) {
                self.timer.set_at(deadline);
                self.armed = Some(deadline);
            }
            (&mut self.timer).await;
            self.armed = None;
            if Instant::now() >= deadline {
                return;
            }
        }
    }
}

/// Why one exchange on one connection failed.
enum Failure {
    /// The connection was already closed by the server when the request went out (nothing
    /// of a response arrived): safe to send again on a new connection.
    Stale(ClientError),
    /// Anything else.
    Fatal(ClientError),
}

fn transport(e: io::Error) -> ClientError {
    let tls = e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>());
    if tls {
        ClientError::Tls {
            source: Box::new(e),
        }
    } else {
        ClientError::Transport {
            source: Box::new(e),
        }
    }
}

/// Whether an I/O error on a reused connection means the server had closed it.
fn is_stale(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
    )
}

impl Connection {
    /// Sends `request` and reads its response, failing with `timed_out` once `deadline`
    /// passes.
    async fn roundtrip_within(
        &mut self,
        request: Request,
        deadline: Option<Instant>,
        timed_out: impl FnOnce() -> ClientError,
    ) -> Result<ClientResponse, Failure> {
        let Connection {
            stream,
            http,
            timer,
        } = self;
        let exchanging = Self::roundtrip(stream, http, request);
        match deadline {
            None => exchanging.await,
            Some(at) => {
                let expired = async {
                    timer.expired(at).await;
                    Err(Failure::Fatal(timed_out()))
                };
                exchanging.or(expired).await
            }
        }
    }

    /// Sends `request` and reads its response.
    async fn roundtrip(
        stream: &mut ClientStream,
        http: &mut ClientConn,
        request: Request,
    ) -> Result<ClientResponse, Failure> {
        http.send_request(request).map_err(|e| {
            Failure::Fatal(ClientError::BadArgument {
                message: e.to_string(),
            })
        })?;
        let mut received = false;
        let io_failure = |e: io::Error, received: bool| {
            if !received && is_stale(&e) {
                Failure::Stale(transport(e))
            } else {
                Failure::Fatal(transport(e))
            }
        };
        loop {
            match http.poll() {
                Ok(ClientNext::Response(response)) => return Ok(response),
                Ok(ClientNext::Write) => match stream.write(http.transmit()).await {
                    Ok(0) => return Err(io_failure(io::ErrorKind::WriteZero.into(), received)),
                    Ok(n) => http.advance(n),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(io_failure(e, received)),
                },
                Ok(ClientNext::Read) => {
                    stream.flush().await.map_err(|e| io_failure(e, received))?;
                    let buf = http.recv_buf();
                    match stream.read(buf).await {
                        Ok(0) => http.feed_eof(),
                        // A TLS peer that closes without `close_notify` (the Python server
                        // does): the end of the stream, which the machine judges (a body
                        // framed by Content-Length or chunks still has to be complete).
                        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && received => {
                            http.feed_eof()
                        }
                        Ok(n) => {
                            received = true;
                            http.recv_done(n);
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(io_failure(e, received)),
                    }
                }
                Ok(ClientNext::Idle) => {
                    return Err(Failure::Fatal(ClientError::Protocol(
                        "the connection has no request outstanding".into(),
                    )))
                }
                Ok(ClientNext::Closed) | Err(HttpClientError::Closed) if !received => {
                    return Err(Failure::Stale(ClientError::Transport {
                        source: "the server closed the connection before answering".into(),
                    }))
                }
                Ok(ClientNext::Closed) => {
                    return Err(Failure::Fatal(ClientError::Transport {
                        source: "the server closed the connection before answering".into(),
                    }))
                }
                Err(e) => return Err(Failure::Fatal(ClientError::Protocol(e.to_string()))),
            }
        }
    }
}

struct Inner {
    base: BaseUrl,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    connect_timeout: Option<Duration>,
    call_timeout: Option<Duration>,
    limits: Limits,
    /// Kept connections, boxed: a connection is large (its buffers' bookkeeping, a TLS
    /// session), and each call takes one out and puts it back: boxed, that moves a pointer.
    #[allow(clippy::vec_box)]
    idle: Mutex<Vec<Box<Connection>>>,
}

impl Inner {
    fn take_idle(&self) -> Option<Box<Connection>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    fn put_idle(&self, conn: Box<Connection>) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE_CONNECTIONS {
            idle.push(conn);
        }
    }

    /// A new connection (TCP, then TLS for `https://`), within the connect timeout.
    async fn connect(&self) -> Result<Box<Connection>> {
        let connecting = async {
            let tcp = TcpStream::connect((self.base.host.as_str(), self.base.port))
                .await
                .map_err(transport)?;
            let _ = tcp.set_nodelay(true);
            let stream = match &self.tls {
                None => ClientStream::Plain(tcp),
                Some((connector, name)) => {
                    let tls = Box::pin(connector.connect(name.clone(), tcp))
                        .await
                        .map_err(|e| ClientError::Tls {
                            source: Box::new(e),
                        })?;
                    ClientStream::tls(tls)
                }
            };
            Ok(Box::new(Connection {
                stream,
                http: ClientConn::new(self.limits.clone()),
                timer: KeptTimer::new(),
            }))
        };
        match self.connect_timeout {
            None => connecting.await,
            Some(limit) => {
                let expired = async {
                    Timer::after(limit).await;
                    Err(ClientError::Timeout {
                        source: format!("connect timeout of {limit:?} to {}", self.base.display)
                            .into(),
                    })
                };
                connecting.or(expired).await
            }
        }
    }

    fn request(&self, method: &str, target: &str, body: Option<Body>) -> Request {
        const USER_AGENT: &str = concat!("tarp-smol/", env!("CARGO_PKG_VERSION"));
        let (content_type, bytes) = match body {
            Some((content_type, bytes)) => (Some(content_type), bytes),
            None => (None, Vec::new()),
        };
        // Borrowed fields, one head buffer: no string per header per call.
        let mut fields: [(&str, &[u8]); 5] = [
            ("Host", self.base.host_header.as_bytes()),
            ("User-Agent", USER_AGENT.as_bytes()),
            ("Accept", b"*/*"),
            ("", b""),
            ("", b""),
        ];
        let mut n = 3;
        if let Some(auth) = &self.base.authorization {
            fields[n] = ("Authorization", auth.as_bytes());
            n += 1;
        }
        if let Some(content_type) = &content_type {
            fields[n] = ("Content-Type", content_type.as_bytes());
            n += 1;
        }
        Request::from_parts(
            method,
            &self.base.target(target),
            Version::Http11,
            &fields[..n],
            bytes,
        )
    }

    /// One HTTP exchange, on a kept connection or a new one, within the call timeout.
    async fn exchange(&self, method: &str, target: &str, body: Option<Body>) -> Result<Reply> {
        self.exchange_with(method, target, || Ok(body.clone()))
            .await
    }

    /// [`exchange`](Inner::exchange) with a body made by `body` for each attempt: a retry on
    /// a fresh connection (the server closed the kept one) makes it again, so that a large
    /// body is never held twice. The connection frees it once it is sent.
    async fn exchange_with(
        &self,
        method: &str,
        target: &str,
        body: impl Fn() -> Result<Option<Body>>,
    ) -> Result<Reply> {
        let deadline = self
            .call_timeout
            .and_then(|limit| Some((limit, Instant::now().checked_add(limit)?)));
        let timed_out = || {
            let limit = deadline.map(|(limit, _)| limit).unwrap_or_default();
            ClientError::Timeout {
                source: format!("call timeout of {limit:?}: {method} /{target}").into(),
            }
        };
        let at = deadline.map(|(_, at)| at);
        loop {
            let (mut conn, reused) = match self.take_idle() {
                Some(conn) => (conn, true),
                // A new connection (rare: kept ones are reused) races its own timer.
                None => match at {
                    None => (self.connect().await?, false),
                    Some(at) => {
                        let expired = async {
                            Timer::at(at).await;
                            Err(timed_out())
                        };
                        (self.connect().or(expired).await?, false)
                    }
                },
            };
            let request = self.request(method, target, body()?);
            match conn.roundtrip_within(request, at, timed_out).await {
                Ok(response) => {
                    if conn.http.is_reusable() {
                        self.put_idle(conn);
                    }
                    return Ok(reply_of(response));
                }
                // The server closed the kept connection meanwhile: try a fresh one.
                Err(Failure::Stale(_)) if reused => continue,
                Err(Failure::Stale(e)) | Err(Failure::Fatal(e)) => return Err(e),
            }
        }
    }

    async fn get_json(&self, target: &str) -> Result<Json> {
        let reply = self.exchange("GET", target, None).await?;
        call::expect_json(call::check(reply)?)
    }

    async fn rpc(&self, name: &str, args: Vec<Value>, kwargs: Kwargs) -> Result<Json> {
        let reply = self.rpc_reply(name, args, kwargs).await?;
        call::expect_json(call::check(reply)?)
    }

    /// Sends an RPC and returns its answer unread. The body is built in the args pickle's
    /// memory for each attempt and freed once sent, before the answer is read.
    async fn rpc_reply(&self, name: &str, args: Vec<Value>, kwargs: Kwargs) -> Result<Reply> {
        let args = Value::Tuple(Arc::new(args));
        let kwargs = kwargs.into_value()?;
        self.exchange_with("POST", &call::encode_path(name), || {
            Ok(Some((
                Cow::Borrowed("application/json"),
                call::rpc_body_of(&args, &kwargs),
            )))
        })
        .await
    }
}

/// A request body and its `Content-Type` (an RPC's is always JSON: not allocated per call).
type Body = (Cow<'static, str>, Vec<u8>);

fn reply_of(response: ClientResponse) -> Reply {
    let header = |name: &str| {
        response
            .header(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    Reply {
        status: response.status,
        content_type: header("content-type"),
        retry_after: header("retry-after"),
        body: response.body,
    }
}

// ---------------------------------------------------------------------------------------------
// The client

/// A connection to one TARP server. Cheap to clone (clones share the kept connections).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    discovery: Arc<Discovery>,
    endpoints: Arc<Vec<Endpoint>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.inner.base.display)
            .field("endpoints", &self.endpoints.len())
            .finish()
    }
}

impl Client {
    /// Connects with the defaults: reads the discovery document of `url`
    /// (`http://host:port`, `https://...`, optionally `http://user:password@host:port`).
    pub async fn connect(url: &str) -> Result<Client> {
        Client::builder(url).connect().await
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
        &self.inner.base.display
    }

    /// Reads the discovery document again (the server's endpoints may have changed).
    pub async fn reload(&mut self) -> Result<()> {
        let doc = self.discovery_document().await?;
        let discovery =
            Discovery::from_json(&doc).map_err(|e| ClientError::Protocol(e.to_string()))?;
        self.endpoints = Arc::new(call::endpoints_of(&discovery));
        self.discovery = Arc::new(discovery);
        Ok(())
    }

    /// The discovery document read at connect, as the core's typed [`Discovery`].
    pub fn discovery(&self) -> &Discovery {
        &self.discovery
    }

    /// The raw discovery document (`GET /`'s result), as JSON.
    pub async fn discovery_document(&self) -> Result<Json> {
        self.inner.get_json("").await
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
    pub async fn call<T: DeserializeOwned>(&self, name: &str, args: impl IntoArgs) -> Result<T> {
        self.call_with(name, args, Kwargs::new()).await
    }

    /// Calls an RPC with positional and keyword arguments, returning its result as `T`.
    pub async fn call_with<T: DeserializeOwned>(
        &self,
        name: &str,
        args: impl IntoArgs,
        kwargs: Kwargs,
    ) -> Result<T> {
        call::typed(&self.call_value(name, args, kwargs).await?)
    }

    /// Calls an RPC and returns the result as a pickle [`Value`] (no conversion).
    pub async fn call_value(
        &self,
        name: &str,
        args: impl IntoArgs,
        kwargs: Kwargs,
    ) -> Result<Value> {
        let args = args.into_args()?;
        if self
            .endpoint(name)
            .is_some_and(|e| e.kind == EndpointKind::AsyncRpc)
        {
            return self
                .start_with(name, args, kwargs)
                .await?
                .wait_value()
                .await;
        }
        let reply = self
            .inner
            .rpc_reply(self.path_name(name), args, kwargs)
            .await?;
        call::payload_of(reply)
    }

    /// Starts an async RPC with positional arguments and returns its job handle.
    pub async fn start(&self, name: &str, args: impl IntoArgs) -> Result<JobHandle> {
        self.start_with(name, args, Kwargs::new()).await
    }

    /// Starts an async RPC with positional and keyword arguments and returns its job handle.
    pub async fn start_with(
        &self,
        name: &str,
        args: impl IntoArgs,
        kwargs: Kwargs,
    ) -> Result<JobHandle> {
        let args = args.into_args()?;
        let result = self.inner.rpc(self.path_name(name), args, kwargs).await?;
        let (id, suggested_wait) = call::job_started(&result)?;
        Ok(JobHandle {
            client: self.clone(),
            id,
            suggested_wait,
        })
    }

    /// A call built step by step: `client.rpc("f").arg(1).kwarg("k", 2).call::<T>().await`.
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
#[must_use = "a call does nothing until call(), call_value() or start() is awaited"]
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
    pub async fn call<T: DeserializeOwned>(self) -> Result<T> {
        call::typed(&self.call_value().await?)
    }

    /// Makes the call and returns the result as a pickle value.
    pub async fn call_value(self) -> Result<Value> {
        self.client
            .call_value(self.name, self.args, self.kwargs)
            .await
    }

    /// Starts the call on an async endpoint and returns its job handle.
    pub async fn start(self) -> Result<JobHandle> {
        self.client
            .start_with(self.name, self.args, self.kwargs)
            .await
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
        call::encode_component(&self.id, &mut q);
        q
    }

    /// Probes the job once.
    pub async fn probe(&self) -> Result<Probe> {
        let result = self
            .client
            .inner
            .get_json(&self.query("asyncProbe"))
            .await?;
        Probe::from_json(&result, self.suggested_wait)
    }

    /// The job's state (one probe).
    pub async fn status(&self) -> Result<JobStatus> {
        Ok(self.probe().await?.status)
    }

    /// Asks for the result once: `Ok(None)` while the job runs (the server's 503), the result
    /// when done (the server then forgets the job).
    pub async fn try_get_value(&self) -> Result<Option<Value>> {
        match self.get_once().await? {
            Ok(value) => Ok(Some(value)),
            Err(_) => Ok(None),
        }
    }

    /// One `asyncGet`: the result, or `Err(retry_after)` while the job runs.
    async fn get_once(&self) -> Result<Result<Value, Duration>> {
        let reply = self
            .client
            .inner
            .exchange("GET", &self.query("asyncGet"), None)
            .await?;
        match call::payload_of(reply) {
            Ok(value) => Ok(Ok(value)),
            Err(ClientError::OperationInProgress { retry_after, .. }) => Ok(Err(retry_after)),
            Err(e) => Err(e),
        }
    }

    /// Waits for the result as the Python client's `wait()`: asks for it, sleeping the
    /// server's `Retry-After` after each "still running" answer.
    pub async fn wait<T: DeserializeOwned>(&self) -> Result<T> {
        call::typed(&self.wait_value().await?)
    }

    /// Like [`wait`](JobHandle::wait), returning the pickle value.
    pub async fn wait_value(&self) -> Result<Value> {
        self.wait_value_until(None).await
    }

    /// Like [`wait`](JobHandle::wait) but gives up with [`ClientError::Timeout`] after
    /// `timeout` (never sleeping past it).
    pub async fn wait_timeout<T: DeserializeOwned>(&self, timeout: Duration) -> Result<T> {
        call::typed(
            &self
                .wait_value_until(Some(Instant::now() + timeout))
                .await?,
        )
    }

    async fn wait_value_until(&self, deadline: Option<Instant>) -> Result<Value> {
        loop {
            let mut pause = match self.get_once().await? {
                Ok(value) => return Ok(value),
                Err(retry_after) => retry_after,
            };
            if let Some(deadline) = deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(ClientError::Timeout {
                        source: format!("job {} still running", self.id).into(),
                    });
                }
                pause = pause.min(left);
            }
            Timer::after(pause).await;
        }
    }

    /// One cycle of the Python client's `waitCycle()`: probes once; while the job runs, sleeps
    /// the suggested wait and returns `Ok(None)`; when done returns the result; when failed
    /// returns [`ClientError::JobFailed`].
    pub async fn wait_cycle<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        match self.wait_cycle_value().await? {
            Some(v) => call::typed(&v).map(Some),
            None => Ok(None),
        }
    }

    /// Like [`wait_cycle`](JobHandle::wait_cycle), returning the pickle value.
    pub async fn wait_cycle_value(&self) -> Result<Option<Value>> {
        let probe = self.probe().await?;
        match probe.status {
            JobStatus::InProgress => {
                Timer::after(probe.suggested_wait).await;
                Ok(None)
            }
            JobStatus::Completed => self.wait_value().await.map(Some),
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
#[must_use = "a request does nothing until send() is awaited"]
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
    pub async fn send(self) -> Result<(Option<String>, WebData)> {
        let target = call::web_target(self.client.path_name(self.name), &self.query);
        let body = self
            .body
            .map(|b| b.encode().map(|(t, bytes)| (Cow::Owned(t), bytes)))
            .transpose()?;
        let reply = self
            .client
            .inner
            .exchange(self.method, &target, body)
            .await?;
        let checked: Checked = call::check(reply)?;
        Ok(call::web_result(checked))
    }
}
