//! The TARP server on smol: one small task per connection, plain handlers off the executor.
//!
//! ```no_run
//! use std::sync::Arc;
//! use tarp_core::service::Service;
//! use tarp_smol::Server;
//!
//! let mut service = Service::with_config(tarp_smol::service_config());
//! service.rpc("my_function", |x: i64, y: i64| Ok(x + y));
//! service.rpc_future("my_async_function", |x: i64| async move { Ok(x * 2) });
//! let server = Server::bind(Arc::new(service), "127.0.0.1:0")?.spawn()?;
//! println!("serving on {}", server.url());
//! server.shutdown(); // stop accepting, finish requests in flight, close
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Tasks and threads
//!
//! - Connections are tasks on the server's own executor, driven by [`Server::run`] (from the
//!   caller's task) and `threads - 1` helper threads, or by `threads` background threads with
//!   [`Server::spawn`] ([`ServerBuilder::threads`], default: one per CPU). Each runs the core's
//!   [`ServerConn`] machine: read, feed, poll, write, waiting at most until
//!   [`ServerConn::poll_timeout`], so a slow request head, an idle keep-alive connection or a
//!   peer that stops reading is cut off by the core's deadlines ([`Limits`]).
//! - An idle keep-alive connection costs its socket, its small protocol state and its task:
//!   read and write buffers are released while it waits (plain TCP; a TLS connection also
//!   keeps rustls' state).
//! - Plain handlers ([`Dispatch::Call`]) may block, so they run on `blocking`'s thread pool
//!   ([`smol::unblock`]); endpoints registered `.cheap()` run inline on the executor, and
//!   `async` handlers (`Service::rpc_future`) are awaited on it. A handler that never
//!   returns holds one pool thread and its own connection, nothing else. The pool grows on
//!   demand up to `BLOCKING_MAX_THREADS` (default 500) and keeps its threads for later work.
//! - Async RPC jobs ([`Dispatch::Spawn`]) run on the same thread pool, at most
//!   [`ServerBuilder::job_workers`] at a time (default 10, as the Python library's executor;
//!   its `multiThreaded` choice has no counterpart here, see `tarp-blocking`'s server docs).
//!   A job that panics becomes a `failed` job.
//! - Past [`ServerBuilder::max_connections`] (default 16,384) new connections get a fast
//!   `503` and a close ([`OverCapacity::Refuse`], the default) or wait in the kernel's
//!   backlog ([`OverCapacity::Backlog`]); the connections held keep being served. When the
//!   process runs out of file descriptors, accepting pauses (5 ms doubling to 1 s).
//!
//! # Logging
//!
//! Through the `log` facade: one `info` line when the server starts, one `warn` line per
//! refused request (a request the HTTP machine rejected, a 4xx answer, a connection refused
//! past the cap) and one `warn` line per failed async job.
//!
//! # Shutdown
//!
//! A [`ShutdownTrigger`] (or [`ServerHandle::shutdown`]) stops accepting, closes idle
//! connections at once, lets every request in flight finish and be answered (with
//! `Connection: close`) and lets running jobs finish, all within the grace period
//! ([`ServerBuilder::shutdown_grace`], default 10 s); then it cuts what remains and settles
//! async jobs that never started as failed.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use smol::channel::{Receiver, Sender};
use smol::future::FutureExt as _;
use smol::lock::Semaphore;
use smol::{Async, Executor, Timer};
use tarp_core::http::{Limits, ServerConn};
use tarp_core::listen::ServerSettings;
pub use tarp_core::listen::{OverCapacity, DEFAULT_JOB_WORKERS, DEFAULT_SHUTDOWN_GRACE};
use tarp_core::service::{Dispatch, Job, Service};

use crate::conn;
use crate::tls::TlsError;

/// Default cap on simultaneous connections: 10,000 idle keep-alive clients and more, each
/// costing a few KiB (the process's open-file limit must allow as many).
pub const DEFAULT_MAX_CONNECTIONS: usize = 16_384;
/// Connections past the cap being refused at once; beyond, they are just closed.
const REFUSING_MAX: usize = 64;

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Binding or configuring the listening socket failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The TLS certificate or key could not be loaded.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// A thread could not be started.
    #[error("cannot start a server thread: {0}")]
    Thread(#[source] io::Error),
}

/// Configures a [`Server`]; [`build`](ServerBuilder::build) binds the socket. Every setting
/// has a documented default.
#[derive(Debug, Clone)]
pub struct ServerBuilder {
    service: Arc<Service>,
    settings: ServerSettings,
    max_connections: usize,
    threads: usize,
}

impl ServerBuilder {
    tarp_core::server_settings_methods!(settings);

    /// The most connections served at once. Default [`DEFAULT_MAX_CONNECTIONS`]; at least 1.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Threads driving the connection tasks. Default: the number of CPUs; at least 1. With
    /// [`Server::run`] the calling task counts as one.
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n.max(1);
        self
    }

    /// Loads the TLS material and binds the socket.
    pub fn build(self) -> Result<Server, ServerError> {
        let tls = self.settings.tls()?;
        let address = self.settings.listen_address(tls.is_some());
        let bind_err = |source| ServerError::Bind {
            addr: address.clone(),
            source,
        };
        let addrs: Vec<SocketAddr> = address.to_socket_addrs().map_err(bind_err)?.collect();
        let listener = TcpListener::bind(&addrs[..]).map_err(bind_err)?;
        let local_addr = listener.local_addr().map_err(bind_err)?;
        let listener = Async::new(listener).map_err(bind_err)?;
        let (stop_tx, stop_rx) = smol::channel::bounded(1);
        let executor = Arc::new(Executor::new());
        let shared = Arc::new(Shared {
            service: self.service,
            limits: self.settings.limits,
            tls: tls.map(futures_rustls::TlsAcceptor::from),
            max_connections: self.max_connections,
            over_capacity: self.settings.over_capacity,
            job_workers: self.settings.job_workers,
            grace_nanos: AtomicU64::new(
                u64::try_from(self.settings.shutdown_grace.as_nanos()).unwrap_or(u64::MAX),
            ),
            executor: Arc::downgrade(&executor),
            job_permits: Arc::new(Semaphore::new(self.settings.job_workers)),
            stop: stop_rx,
            stopping: AtomicBool::new(false),
            live: AtomicUsize::new(0),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            refusing: AtomicUsize::new(0),
            jobs_running: AtomicUsize::new(0),
            jobs_queued: AtomicUsize::new(0),
        });
        Ok(Server {
            listener,
            local_addr,
            executor,
            shared,
            threads: self.threads,
            stop_tx,
        })
    }
}

/// What the accept loop, the connection tasks and the job tasks share.
pub(crate) struct Shared {
    pub(crate) service: Arc<Service>,
    pub(crate) limits: Limits,
    /// Present for HTTPS.
    pub(crate) tls: Option<futures_rustls::TlsAcceptor>,
    max_connections: usize,
    over_capacity: OverCapacity,
    job_workers: usize,
    /// The shutdown grace period, in nanoseconds (set again by `shutdown_within`).
    grace_nanos: AtomicU64,
    /// Where jobs are spawned; weak so the executor's tasks do not keep it alive.
    executor: Weak<Executor<'static>>,
    job_permits: Arc<Semaphore>,
    /// Closed when the server is told to shut down.
    pub(crate) stop: Receiver<()>,
    /// Set once the grace period starts: jobs not started by then are abandoned.
    stopping: AtomicBool,
    live: AtomicUsize,
    accepted: AtomicU64,
    refused: AtomicU64,
    refusing: AtomicUsize,
    jobs_running: AtomicUsize,
    jobs_queued: AtomicUsize,
}

impl Shared {
    fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    fn stats(&self) -> ServerStats {
        ServerStats {
            connections: self.live.load(Ordering::SeqCst),
            accepted: self.accepted.load(Ordering::SeqCst),
            refused: self.refused.load(Ordering::SeqCst),
            jobs_running: self.jobs_running.load(Ordering::SeqCst),
            jobs_queued: self.jobs_queued.load(Ordering::SeqCst),
        }
    }

    /// A new connection's protocol machine.
    pub(crate) fn new_conn(&self) -> ServerConn {
        ServerConn::new(self.limits.clone(), Instant::now())
    }

    /// Turns a request into its response: answers at once, runs a handler (inline if cheap,
    /// awaited if async, on the blocking pool otherwise), or starts a job.
    pub(crate) async fn answer(
        self: &Arc<Self>,
        request: tarp_core::http::Request,
    ) -> tarp_core::http::Response {
        match self.service.dispatch(request, Instant::now()) {
            Dispatch::Respond(response) => response,
            Dispatch::Call(call) => match call.into_future() {
                Ok(future) => future.await,
                Err(call) if call.is_cheap() => call.run(),
                Err(call) => smol::unblock(move || call.run()).await,
            },
            Dispatch::Spawn { response, job } => {
                self.submit(job);
                response
            }
        }
    }

    /// Queues an async job: it runs on the blocking pool once one of the `job_workers`
    /// permits is free.
    fn submit(self: &Arc<Self>, job: Job) {
        let mut guard = JobGuard {
            job: Some(job),
            shared: Arc::clone(self),
            queued: false,
        };
        let Some(executor) = self.executor.upgrade() else {
            return; // Dropping the guard settles the job as abandoned.
        };
        self.jobs_queued.fetch_add(1, Ordering::SeqCst);
        guard.queued = true;
        let shared = Arc::clone(self);
        executor
            .spawn(async move {
                let mut guard = guard;
                let permit = shared.job_permits.acquire_arc().await;
                guard.queued = false;
                shared.jobs_queued.fetch_sub(1, Ordering::SeqCst);
                if shared.stopping.load(Ordering::SeqCst) {
                    return; // Not started before the shutdown: abandoned by the guard.
                }
                let Some(job) = guard.job.take() else { return };
                shared.jobs_running.fetch_add(1, Ordering::SeqCst);
                let runner = Arc::clone(&shared);
                // Detached: a job that outlives the server still records its result.
                smol::unblock(move || {
                    let done = job.run();
                    if let Some(error) = done.error() {
                        log::warn!("async job {} failed: {error}", done.id());
                    }
                    runner.service.complete(done, Instant::now());
                    runner.jobs_running.fetch_sub(1, Ordering::SeqCst);
                    drop(permit);
                })
                .detach();
            })
            .detach();
    }
}

/// Accepts one connection. `Async::accept` retries the system call each time it is polled
/// after its first wait, and the executor polls the accept loop on every wake-up of the
/// thread that drives `run` (about once per request on a quiet server): an `accept4` that
/// fails and a re-arm of the listener each time. Here a poll while no connection is pending
/// only checks the readiness already registered.
async fn accept(
    listener: &Async<TcpListener>,
) -> io::Result<(Async<std::net::TcpStream>, SocketAddr)> {
    loop {
        match listener.get_ref().accept() {
            Ok((tcp, peer)) => return Ok((Async::new(tcp)?, peer)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        listener.readable().await?;
    }
}

/// Settles a job that will never run (shutdown, task dropped) as failed, so its client does
/// not see it `in_progress` forever.
struct JobGuard {
    job: Option<Job>,
    shared: Arc<Shared>,
    /// Counted in `jobs_queued`.
    queued: bool,
}

impl Drop for JobGuard {
    fn drop(&mut self) {
        if self.queued {
            self.shared.jobs_queued.fetch_sub(1, Ordering::SeqCst);
        }
        if let Some(job) = self.job.take() {
            self.shared.service.complete(
                job.abandon("server shut down before the job started"),
                Instant::now(),
            );
        }
    }
}

/// Counters of a running server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerStats {
    /// Connections being served now.
    pub connections: usize,
    /// Connections accepted and served since the start.
    pub accepted: u64,
    /// Connections refused past the cap since the start.
    pub refused: u64,
    /// Async jobs running now.
    pub jobs_running: usize,
    /// Async jobs waiting for a worker now.
    pub jobs_queued: usize,
}

/// What a shutdown left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShutdownReport {
    /// Connections still open at the end of the grace period, closed by force.
    pub connections_cut: usize,
    /// Connections whose task could not be stopped. Always 0 here (a task is dropped at
    /// its next await; a blocking handler left running holds a pool thread, not the
    /// connection); kept for parity with `tarp-blocking`.
    pub connections_stuck: usize,
    /// Async jobs that had not started, settled as failed.
    pub jobs_abandoned: usize,
    /// Async jobs still running at the deadline (left to finish on their own; their result
    /// is still recorded in the service).
    pub jobs_running: usize,
}

/// Signals a running server to shut down gracefully; cheap to clone, usable from any thread
/// or task, idempotent.
#[derive(Debug, Clone)]
pub struct ShutdownTrigger(Sender<()>);

impl ShutdownTrigger {
    /// Starts the graceful shutdown and returns at once: await [`Server::run`] (or use
    /// [`ServerHandle::shutdown`]) to know when it is over.
    pub fn shutdown(&self) {
        self.0.close();
    }
}

/// A bound server, not yet serving: [`run`](Server::run) it on any executor, or
/// [`spawn`](Server::spawn) it on background threads.
pub struct Server {
    listener: Async<TcpListener>,
    local_addr: SocketAddr,
    executor: Arc<Executor<'static>>,
    shared: Arc<Shared>,
    threads: usize,
    stop_tx: Sender<()>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds `address` (e.g. `"127.0.0.1:8080"`, port 0 for any free port) with the defaults.
    pub fn bind(service: Arc<Service>, address: &str) -> Result<Server, ServerError> {
        Server::builder(service).address(address).build()
    }

    /// A builder, to set the port, interface, TLS, limits, pools and threads.
    pub fn builder(service: Arc<Service>) -> ServerBuilder {
        ServerBuilder {
            service,
            settings: ServerSettings::default(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }

    /// The address the socket is bound to (with the actual port when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A URL a client on this machine can use (`http://127.0.0.1:port` for a server bound to
    /// all interfaces).
    pub fn url(&self) -> String {
        format!(
            "{}://{}",
            self.shared.scheme(),
            connectable(self.local_addr)
        )
    }

    /// A trigger that makes [`run`](Server::run) shut down gracefully.
    pub fn shutdown_trigger(&self) -> ShutdownTrigger {
        ShutdownTrigger(self.stop_tx.clone())
    }

    /// Serves until a [`ShutdownTrigger`] fires, then shuts down gracefully and returns what
    /// the shutdown left behind. Works on any executor: the connection tasks run on the
    /// server's own executor, driven by this future and `threads - 1` helper threads (which
    /// stop when this future completes or is dropped; dropping it also closes every
    /// connection).
    pub async fn run(self) -> ShutdownReport {
        self.log_start();
        let helpers = match Helpers::start(&self.executor, self.threads - 1) {
            Ok(helpers) => helpers,
            Err(e) => {
                log::warn!("cannot start executor threads ({e}); serving from one task");
                Helpers::none()
            }
        };
        let executor = Arc::clone(&self.executor);
        let report = executor.run(self.accept_loop()).await;
        drop(helpers);
        report
    }

    /// Serves on the calling thread until a [`ShutdownTrigger`] fires (see
    /// [`run`](Server::run)).
    pub fn serve(self) -> ShutdownReport {
        smol::block_on(self.run())
    }

    /// Serves on `threads` background threads; the handle stops the server.
    pub fn spawn(self) -> io::Result<ServerHandle> {
        let local_addr = self.local_addr;
        let url = self.url();
        let trigger = self.shutdown_trigger();
        let shared = Arc::clone(&self.shared);
        let helpers = Helpers::start(&self.executor, self.threads - 1).map_err(|e| match e {
            ServerError::Thread(e) => e,
            other => io::Error::other(other),
        })?;
        self.log_start();
        let main = std::thread::Builder::new()
            .name("tarp-smol".into())
            .spawn(move || {
                let executor = Arc::clone(&self.executor);
                let report = smol::block_on(executor.run(self.accept_loop()));
                drop(helpers);
                report
            })?;
        Ok(ServerHandle {
            local_addr,
            url,
            shared,
            trigger,
            main: Some(main),
        })
    }

    fn log_start(&self) {
        log::info!(
            "TARP server listening on {}://{} (up to {} connections, {} job workers, smol)",
            self.shared.scheme(),
            self.local_addr,
            self.shared.max_connections,
            self.shared.job_workers,
        );
    }

    /// The accept loop, then the graceful shutdown.
    async fn accept_loop(self) -> ShutdownReport {
        let shared = &self.shared;
        // Every connection task holds a clone of `drain_tx`: `drain_rx` fails once all are gone.
        let (drain_tx, drain_rx) = smol::channel::bounded::<()>(1);
        let cap = Arc::new(Semaphore::new(shared.max_connections));
        let mut backoff = Duration::from_millis(5);
        loop {
            let stopped = async {
                let _ = shared.stop.recv().await;
                None
            };
            let next = async {
                let permit = match shared.over_capacity {
                    OverCapacity::Backlog => Some(cap.acquire_arc().await),
                    OverCapacity::Refuse => None,
                };
                Some((permit, accept(&self.listener).await))
            };
            let Some((permit, accepted)) = next.or(stopped).await else {
                break;
            };
            let (tcp, peer) = match accepted {
                Ok(pair) => {
                    backoff = Duration::from_millis(5);
                    pair
                }
                Err(e) if tarp_core::listen::accept_error_is_per_connection(&e) => {
                    // That client is gone already; the next one may be waiting.
                    log::debug!("accept: {e}");
                    continue;
                }
                Err(e) => {
                    // Out of file descriptors or similar: pause rather than spin; the
                    // connections held keep being served meanwhile.
                    log::warn!("accept failed: {e}; retrying in {backoff:?}");
                    Timer::after(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            };
            let Some(permit) = permit.or_else(|| cap.try_acquire_arc()) else {
                self.refuse(tcp, peer);
                continue;
            };
            shared.accepted.fetch_add(1, Ordering::SeqCst);
            shared.live.fetch_add(1, Ordering::SeqCst);
            let guard = ConnGuard {
                shared: Arc::clone(shared),
                _permit: permit,
                _drain: drain_tx.clone(),
            };
            let task = conn::serve(tcp, peer, Arc::clone(shared), guard);
            self.executor.spawn(task).detach();
        }
        drop(self.listener);
        drop(drain_tx);
        log::info!("TARP server on {} shutting down", self.local_addr);
        let grace = Duration::from_nanos(shared.grace_nanos.load(Ordering::SeqCst));
        let deadline = Instant::now()
            .checked_add(grace)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365));
        let drained = async {
            let _ = drain_rx.recv().await;
        };
        drained.or(crate::conn::sleep_until(deadline)).await;
        let connections_cut = shared.live.load(Ordering::SeqCst);
        if connections_cut > 0 {
            log::warn!(
                "shutdown: {connections_cut} connection(s) still busy after the grace period, closed"
            );
        }
        // Jobs not started by now are abandoned; running ones get what is left of the grace.
        shared.stopping.store(true, Ordering::SeqCst);
        let jobs_abandoned = shared.jobs_queued.load(Ordering::SeqCst);
        while shared.jobs_running.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            Timer::after(Duration::from_millis(10)).await;
        }
        let report = ShutdownReport {
            connections_cut,
            connections_stuck: 0,
            jobs_abandoned,
            jobs_running: shared.jobs_running.load(Ordering::SeqCst),
        };
        log::info!("TARP server on {} stopped", self.local_addr);
        // Returning ends `run`; dropping the executor then cuts the remaining connections and
        // settles the queued jobs (their guards abandon them).
        report
    }

    /// Answers a connection past the cap with a 503 and closes it, in a task of its own.
    fn refuse(&self, tcp: Async<std::net::TcpStream>, peer: SocketAddr) {
        let shared = &self.shared;
        shared.refused.fetch_add(1, Ordering::SeqCst);
        log::warn!(
            "{peer}: refused: {} connections already served",
            shared.max_connections
        );
        if shared.refusing.fetch_add(1, Ordering::SeqCst) >= REFUSING_MAX {
            // The refusals are behind: just close (the client sees a reset, not a hang).
            shared.refusing.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        let shared = Arc::clone(shared);
        self.executor
            .spawn(async move {
                conn::refuse(tcp, shared.tls.as_ref()).await;
                shared.refusing.fetch_sub(1, Ordering::SeqCst);
            })
            .detach();
    }
}

/// Held by a connection task for its whole life: its slot under the cap, its share of the
/// shutdown drain, and its place in the count of live connections.
pub(crate) struct ConnGuard {
    shared: Arc<Shared>,
    _permit: smol::lock::SemaphoreGuardArc,
    _drain: Sender<()>,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.shared.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Threads running the executor beside the main future, stopped and joined when dropped
/// (so the executor, and with it every connection task left, is dropped right after).
struct Helpers {
    stop: Option<Sender<()>>,
    threads: Vec<JoinHandle<()>>,
}

impl Helpers {
    fn none() -> Helpers {
        Helpers {
            stop: None,
            threads: Vec::new(),
        }
    }

    fn start(executor: &Arc<Executor<'static>>, count: usize) -> Result<Helpers, ServerError> {
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let mut helpers = Helpers {
            stop: Some(stop),
            threads: Vec::with_capacity(count),
        };
        for i in 0..count {
            let executor = Arc::clone(executor);
            let stopped = stopped.clone();
            let thread = std::thread::Builder::new()
                .name(format!("tarp-smol-{i}"))
                .spawn(move || {
                    let _ = smol::block_on(executor.run(stopped.recv()));
                })
                .map_err(ServerError::Thread)?;
            helpers.threads.push(thread);
        }
        Ok(helpers)
    }
}

impl Drop for Helpers {
    fn drop(&mut self) {
        if let Some(stop) = &self.stop {
            stop.close();
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// A server running in the background (from [`Server::spawn`]).
/// [`shutdown`](ServerHandle::shutdown) stops it gracefully; dropping the handle does the same.
pub struct ServerHandle {
    local_addr: SocketAddr,
    url: String,
    shared: Arc<Shared>,
    trigger: ShutdownTrigger,
    main: Option<JoinHandle<ShutdownReport>>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A URL a client on this machine can use (`http://127.0.0.1:port` for a server bound to
    /// all interfaces).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The service being served.
    pub fn service(&self) -> &Arc<Service> {
        &self.shared.service
    }

    /// Live counters.
    pub fn stats(&self) -> ServerStats {
        self.shared.stats()
    }

    /// A trigger to start the shutdown from elsewhere (a signal handler, another task).
    pub fn shutdown_trigger(&self) -> ShutdownTrigger {
        self.trigger.clone()
    }

    /// Stops gracefully within the configured grace period (see the module docs) and waits
    /// until the server has stopped.
    pub fn shutdown(mut self) -> ShutdownReport {
        self.stop()
    }

    /// Stops gracefully within `grace` and waits until the server has stopped.
    pub fn shutdown_within(mut self, grace: Duration) -> ShutdownReport {
        let nanos = u64::try_from(grace.as_nanos()).unwrap_or(u64::MAX);
        self.shared.grace_nanos.store(nanos, Ordering::SeqCst);
        self.stop()
    }

    /// Waits until the server stops (after a shutdown triggered elsewhere).
    pub fn wait(mut self) -> ShutdownReport {
        self.join()
    }

    fn stop(&mut self) -> ShutdownReport {
        self.trigger.shutdown();
        self.join()
    }

    fn join(&mut self) -> ShutdownReport {
        match self.main.take() {
            Some(main) => main.join().unwrap_or_default(),
            None => ShutdownReport::default(),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An address a local client can connect to: the loopback address for a wildcard bind.
fn connectable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}
