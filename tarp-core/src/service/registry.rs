//! The service: endpoints by name, their registration builders, and the discovery document.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde::Serialize;

use super::handler::{ErasedRpc, RpcHandler, Signature, Typed};
use super::ids::IdGen;
use super::jobs::JobTable;
use super::{codec, Body, Error, Reply, ServiceConfig};
use crate::wire::discovery::{Discovery, RpcEntry, WebEntry};
use crate::wire::envelope;
use crate::wire::query::Query;

/// Names the protocol itself answers; no endpoint may take them.
pub(crate) const RESERVED: [&str; 2] = ["asyncProbe", "asyncGet"];

/// The default suggested wait of an async endpoint, in seconds (the Python library's).
pub const DEFAULT_SUGGESTED_WAIT: f64 = 5.0;

pub(crate) struct RpcEndpoint {
    pub(crate) sig: Signature,
    pub(crate) description: String,
    /// Defaults as JSON, by parameter position, for discovery.
    pub(crate) defaults_json: Vec<Option<serde_json::Value>>,
    pub(crate) suggested_wait: f64,
    pub(crate) asynchronous: bool,
    /// Registered as cheap: may run inline on an adapter's executor.
    pub(crate) cheap: bool,
    pub(crate) handler: Box<dyn ErasedRpc>,
}

pub(crate) type WebFn = dyn Fn(&Query, Body) -> Result<Reply, Error> + Send + Sync;

pub(crate) struct WebEndpoint {
    pub(crate) name: String,
    pub(crate) post: bool,
    pub(crate) description: String,
    pub(crate) query_params: Vec<String>,
    pub(crate) payload_mimetype: Option<String>,
    pub(crate) payload_schema: Option<serde_json::Value>,
    pub(crate) mimetype: Option<Arc<str>>,
    /// Registered as cheap: may run inline on an adapter's executor.
    pub(crate) cheap: bool,
    pub(crate) handler: Arc<WebFn>,
}

/// What `POST /name` reaches.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PostRoute {
    Rpc(usize),
    Web(usize),
}

/// What a name reaches, per method.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Route {
    pub(crate) get: Option<usize>,
    pub(crate) post: Option<PostRoute>,
}

impl Route {
    /// The `Allow` header value for this name.
    pub(crate) fn allow(&self) -> &'static str {
        match (self.get.is_some(), self.post.is_some()) {
            (true, true) => "GET, HEAD, POST",
            (true, false) => "GET, HEAD",
            _ => "POST",
        }
    }
}

pub(crate) struct JobState {
    pub(crate) table: JobTable,
    pub(crate) ids: IdGen,
}

/// A TARP service: named endpoints, the discovery document, and the async job table.
///
/// Build it with the registration methods, then share it (`Arc<Service>`) with an adapter,
/// which feeds it requests through [`Service::dispatch`]:
///
/// ```
/// use tarp_core::service::{Body, Error, Reply, Service};
/// use tarp_core::wire::query::Query;
///
/// let mut svc = Service::with_seed(42);
/// svc.rpc("add", |a: f64, b: f64| Ok(a + b)).params(["a", "b"]).describe("Add two numbers.");
/// svc.rpc("linspace", |n: usize, lower: f64, upper: f64| {
///     if n < 2 {
///         return Err(Error::failed("need at least two points"));
///     }
///     Ok((0..n).map(|i| lower + (upper - lower) * i as f64 / (n - 1) as f64).collect::<Vec<_>>())
/// })
/// .params(["value", "lower", "upper"])
/// .default("lower", 0.0)
/// .default("upper", 1.0);
/// svc.async_rpc("double_slowly", |x: f64| Ok(x * 2.0)).params(["x"]).suggested_wait(2.0);
/// svc.get("echo", |q: &Query, body: Body| {
///     Ok(Reply::json(serde_json::json!({"query": q.to_json(), "body": body.to_json()})))
/// })
/// .query_params(["a", "b"]);
/// ```
///
/// Registration panics on programming errors (a reserved, empty or duplicate name, a
/// `.params()` list whose length is not the function's arity, a default for an unknown
/// parameter), with a message saying which.
pub struct Service {
    pub(crate) config: ServiceConfig,
    pub(crate) rpcs: Vec<RpcEndpoint>,
    pub(crate) webs: Vec<WebEndpoint>,
    pub(crate) routes: HashMap<String, Route>,
    /// The `GET /` response body, built on first use after the last registration.
    pub(crate) discovery: OnceLock<Vec<u8>>,
    pub(crate) jobs: Mutex<JobState>,
}

impl Default for Service {
    fn default() -> Self {
        Service::new()
    }
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&str> = self.routes.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("Service")
            .field("endpoints", &names)
            .field("config", &self.config)
            .finish()
    }
}

impl Service {
    /// A service with the default [`ServiceConfig`]. Its job-ID key is all zeros: servers
    /// should use [`Service::with_config`] with a key from the OS's random source.
    pub fn new() -> Service {
        Service::with_config(ServiceConfig::default())
    }

    /// A service with the default limits and a job-ID generator seeded from `seed`
    /// (deterministic IDs, for tests; servers should pass a full random key in the config).
    pub fn with_seed(seed: u64) -> Service {
        Service::with_config(ServiceConfig {
            seed: ServiceConfig::seed_from_u64(seed),
            ..ServiceConfig::default()
        })
    }

    /// A service with this configuration.
    pub fn with_config(config: ServiceConfig) -> Service {
        Service {
            jobs: Mutex::new(JobState {
                table: JobTable::new(config.jobs),
                ids: IdGen::new(config.seed),
            }),
            config,
            rpcs: Vec::new(),
            webs: Vec::new(),
            routes: HashMap::new(),
            discovery: OnceLock::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    /// Registers a synchronous RPC endpoint (`POST /name`, PROTOCOL.md section 4).
    pub fn rpc<Args, H>(&mut self, name: &str, handler: H) -> RpcBuilder<'_>
    where
        H: RpcHandler<Args>,
        Args: Send + 'static,
    {
        let i = self.add_rpc(
            name,
            H::ARITY,
            Box::new(Typed::<H, Args>::new(handler)),
            false,
        );
        RpcBuilder {
            ep: &mut self.rpcs[i],
        }
    }

    /// Registers an asynchronous RPC endpoint (`POST /name` starts a job, section 5).
    pub fn async_rpc<Args, H>(&mut self, name: &str, handler: H) -> AsyncRpcBuilder<'_>
    where
        H: RpcHandler<Args>,
        Args: Send + 'static,
    {
        let i = self.add_rpc(
            name,
            H::ARITY,
            Box::new(Typed::<H, Args>::new(handler)),
            true,
        );
        AsyncRpcBuilder {
            inner: RpcBuilder {
                ep: &mut self.rpcs[i],
            },
        }
    }

    /// Registers a web `GET` endpoint (section 6). The handler gets the query parameters and
    /// the decoded body (if a client sends one with a GET).
    pub fn get<F, R>(&mut self, name: &str, handler: F) -> GetBuilder<'_>
    where
        F: Fn(&Query, Body) -> Result<R, Error> + Send + Sync + 'static,
        R: Into<Reply>,
    {
        let i = self.add_web(
            name,
            false,
            Arc::new(move |q: &Query, b: Body| handler(q, b).map(Into::into)),
        );
        GetBuilder {
            ep: &mut self.webs[i],
        }
    }

    /// Registers a web `POST` endpoint (section 6).
    pub fn post<F, R>(&mut self, name: &str, handler: F) -> PostBuilder<'_>
    where
        F: Fn(&Query, Body) -> Result<R, Error> + Send + Sync + 'static,
        R: Into<Reply>,
    {
        let i = self.add_web(
            name,
            true,
            Arc::new(move |q: &Query, b: Body| handler(q, b).map(Into::into)),
        );
        PostBuilder {
            inner: GetBuilder {
                ep: &mut self.webs[i],
            },
        }
    }

    /// The discovery document as it stands.
    pub fn discovery(&self) -> Discovery {
        let rpc_entry = |ep: &RpcEndpoint| RpcEntry {
            name: ep.sig.fname.clone(),
            description: ep.description.clone(),
            params: ep.sig.params.clone(),
            defaults: ep
                .sig
                .params
                .iter()
                .zip(&ep.defaults_json)
                .filter_map(|(p, d)| d.as_ref().map(|d| (p.clone(), d.clone())))
                .collect(),
            suggested_wait: ep.asynchronous.then_some(ep.suggested_wait),
        };
        let web_entry = |ep: &WebEndpoint| WebEntry {
            name: ep.name.clone(),
            description: ep.description.clone(),
            query_params: ep.query_params.clone(),
            payload_mimetype: ep.payload_mimetype.clone(),
            payload_schema: ep.payload_schema.clone(),
            mimetype: ep.mimetype.as_deref().map(str::to_owned),
        };
        Discovery {
            get: self
                .webs
                .iter()
                .filter(|e| !e.post)
                .map(web_entry)
                .collect(),
            post: self.webs.iter().filter(|e| e.post).map(web_entry).collect(),
            rpc: self
                .rpcs
                .iter()
                .filter(|e| !e.asynchronous)
                .map(rpc_entry)
                .collect(),
            async_rpc: self
                .rpcs
                .iter()
                .filter(|e| e.asynchronous)
                .map(rpc_entry)
                .collect(),
        }
    }

    /// The cached `GET /` envelope body.
    pub(crate) fn discovery_body(&self) -> &[u8] {
        self.discovery.get_or_init(|| {
            // A discovery document is strings, lists and JSON values: it always serializes.
            envelope::success_body(Some(envelope::JSON_MIME), &self.discovery().to_json())
                .unwrap_or_default()
        })
    }

    /// Jobs held in the table (running, or finished and not yet fetched or expired).
    pub fn jobs_held(&self) -> usize {
        self.lock_jobs().table.len()
    }

    pub(crate) fn lock_jobs(&self) -> std::sync::MutexGuard<'_, JobState> {
        // Nothing panics while holding this lock; recover the state if something ever did.
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn claim(&mut self, name: &str, post: bool) -> &mut Route {
        assert!(
            !name.is_empty(),
            "an endpoint name must not be empty (GET / is the discovery document)"
        );
        assert!(
            !RESERVED.contains(&name),
            "endpoint name {name:?} is reserved by the protocol"
        );
        assert!(!name.contains('\0'), "endpoint name {name:?} contains NUL");
        self.discovery = OnceLock::new();
        let route = self.routes.entry(name.to_owned()).or_default();
        let taken = if post {
            route.post.is_some()
        } else {
            route.get.is_some()
        };
        let method = if post { "POST" } else { "GET" };
        assert!(
            !taken,
            "an endpoint named {name:?} already answers {method}"
        );
        route
    }

    /// Registers a synchronous RPC endpoint with an erased handler.
    pub(crate) fn register_rpc(
        &mut self,
        name: &str,
        arity: usize,
        handler: Box<dyn ErasedRpc>,
    ) -> RpcBuilder<'_> {
        let i = self.add_rpc(name, arity, handler, false);
        RpcBuilder {
            ep: &mut self.rpcs[i],
        }
    }

    fn add_rpc(
        &mut self,
        name: &str,
        arity: usize,
        handler: Box<dyn ErasedRpc>,
        asynchronous: bool,
    ) -> usize {
        let i = self.rpcs.len();
        self.claim(name, true).post = Some(PostRoute::Rpc(i));
        self.rpcs.push(RpcEndpoint {
            sig: Signature::new(name, arity),
            description: String::new(),
            defaults_json: vec![None; arity],
            suggested_wait: DEFAULT_SUGGESTED_WAIT,
            asynchronous,
            cheap: false,
            handler,
        });
        i
    }

    fn add_web(&mut self, name: &str, post: bool, handler: Arc<WebFn>) -> usize {
        let i = self.webs.len();
        let route = self.claim(name, post);
        if post {
            route.post = Some(PostRoute::Web(i));
        } else {
            route.get = Some(i);
        }
        self.webs.push(WebEndpoint {
            name: name.to_owned(),
            post,
            description: String::new(),
            query_params: Vec::new(),
            payload_mimetype: None,
            payload_schema: None,
            mimetype: None,
            cheap: false,
            handler,
        });
        i
    }
}

/// Describes an RPC endpoint just registered with [`Service::rpc`].
pub struct RpcBuilder<'a> {
    ep: &'a mut RpcEndpoint,
}

impl RpcBuilder<'_> {
    /// Names the parameters in positional order (default `arg0`, `arg1`, ...). Callers may
    /// pass any of them by keyword. Panics if the count is not the function's arity, or if a
    /// name repeats, or after [`RpcBuilder::default`].
    pub fn params<I, S>(self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        let sig = &mut self.ep.sig;
        let f = &sig.fname;
        assert!(
            names.len() == sig.params.len(),
            "endpoint {f:?}: .params() names {} parameter(s) but the function takes {}",
            names.len(),
            sig.params.len()
        );
        for (i, n) in names.iter().enumerate() {
            assert!(
                !names[..i].contains(n),
                "endpoint {f:?}: parameter {n:?} is named twice"
            );
        }
        assert!(
            sig.defaults.iter().all(Option::is_none),
            "endpoint {f:?}: call .params() before .default()"
        );
        sig.params = names;
        self
    }

    /// Gives a parameter a default value, used when the caller passes it neither by position
    /// nor by keyword. Shown in discovery. Panics if no parameter has this name, or if the
    /// value cannot be represented (as a pickle and as JSON).
    pub fn default<T: Serialize>(self, name: &str, value: T) -> Self {
        let sig = &mut self.ep.sig;
        let f = &sig.fname;
        let Some(i) = sig.params.iter().position(|p| p == name) else {
            panic!(
                "endpoint {f:?}: .default({name:?}) names no parameter (parameters: {})",
                sig.params.join(", ")
            )
        };
        let pickled = codec::to_value(&value).unwrap_or_else(|e| {
            panic!("endpoint {f:?}: default of {name:?} cannot be pickled: {e}")
        });
        let json = serde_json::to_value(&value).unwrap_or_else(|e| {
            panic!("endpoint {f:?}: default of {name:?} is not representable as JSON: {e}")
        });
        sig.defaults[i] = Some(pickled);
        self.ep.defaults_json[i] = Some(json);
        self
    }

    /// Sets the description shown in discovery (the Python client's `help()` text).
    pub fn describe(self, text: impl Into<String>) -> Self {
        self.ep.description = text.into();
        self
    }

    /// Marks the handler as cheap: it neither blocks nor runs long, so an executor-based
    /// adapter may run it inline instead of on a blocking pool (see [`super::Call::is_cheap`]).
    /// A thread-based adapter ignores it.
    pub fn cheap(self) -> Self {
        self.ep.cheap = true;
        self
    }
}

/// Describes an async RPC endpoint just registered with [`Service::async_rpc`].
pub struct AsyncRpcBuilder<'a> {
    inner: RpcBuilder<'a>,
}

impl AsyncRpcBuilder<'_> {
    /// See [`RpcBuilder::params`].
    pub fn params<I, S>(self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        AsyncRpcBuilder {
            inner: self.inner.params(names),
        }
    }

    /// See [`RpcBuilder::default`].
    pub fn default<T: Serialize>(self, name: &str, value: T) -> Self {
        AsyncRpcBuilder {
            inner: self.inner.default(name, value),
        }
    }

    /// See [`RpcBuilder::describe`].
    pub fn describe(self, text: impl Into<String>) -> Self {
        AsyncRpcBuilder {
            inner: self.inner.describe(text),
        }
    }

    /// Seconds a client should wait between polls (default 5). Sent with the job ID, in
    /// probes, and rounded up as `Retry-After` while the job runs. Panics unless finite and
    /// not negative.
    pub fn suggested_wait(self, secs: f64) -> Self {
        assert!(
            secs.is_finite() && secs >= 0.0,
            "endpoint {:?}: suggested_wait must be a finite number of seconds >= 0, got {secs}",
            self.inner.ep.sig.fname
        );
        self.inner.ep.suggested_wait = secs;
        self
    }
}

/// Describes a web GET endpoint just registered with [`Service::get`].
pub struct GetBuilder<'a> {
    ep: &'a mut WebEndpoint,
}

impl GetBuilder<'_> {
    /// Sets the description shown in discovery.
    pub fn describe(self, text: impl Into<String>) -> Self {
        self.ep.description = text.into();
        self
    }

    /// Documents the query parameters the endpoint reads (discovery's `query_params`).
    pub fn query_params<I, S>(self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.ep.query_params = names.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the result MIME type put in the envelope's `mimetype` (instead of
    /// `application/json`, `text/plain` or `application/octet-stream`).
    pub fn mimetype(self, mime: impl Into<String>) -> Self {
        self.ep.mimetype = Some(Arc::from(mime.into()));
        self
    }

    /// See [`RpcBuilder::cheap`].
    pub fn cheap(self) -> Self {
        self.ep.cheap = true;
        self
    }
}

/// Describes a web POST endpoint just registered with [`Service::post`].
pub struct PostBuilder<'a> {
    inner: GetBuilder<'a>,
}

impl PostBuilder<'_> {
    /// See [`GetBuilder::describe`].
    pub fn describe(self, text: impl Into<String>) -> Self {
        PostBuilder {
            inner: self.inner.describe(text),
        }
    }

    /// See [`GetBuilder::query_params`].
    pub fn query_params<I, S>(self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        PostBuilder {
            inner: self.inner.query_params(names),
        }
    }

    /// See [`GetBuilder::mimetype`].
    pub fn mimetype(self, mime: impl Into<String>) -> Self {
        PostBuilder {
            inner: self.inner.mimetype(mime),
        }
    }

    /// See [`RpcBuilder::cheap`].
    pub fn cheap(self) -> Self {
        PostBuilder {
            inner: self.inner.cheap(),
        }
    }

    /// Documents the payload's MIME type (discovery's `payload_mimetype`).
    pub fn payload_mimetype(self, mime: impl Into<String>) -> Self {
        self.inner.ep.payload_mimetype = Some(mime.into());
        self
    }

    /// Documents the payload's JSON schema (discovery's `payload_schema`).
    pub fn payload_schema(self, schema: serde_json::Value) -> Self {
        self.inner.ep.payload_schema = Some(schema);
        self
    }
}
