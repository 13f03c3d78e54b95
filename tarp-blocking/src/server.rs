//! The threaded TARP server.
//!
//! ```no_run
//! use std::sync::Arc;
//! use tarp_blocking::Server;
//! use tarp_core::service::Service;
//!
//! let mut service = Service::with_config(tarp_blocking::service_config());
//! service.rpc("my_function", |x: i64, y: i64| Ok(x + y));
//! Server::builder(Arc::new(service)).port(8080).build()?.serve()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Threads
//!
//! - One accept thread.
//! - One thread per connection, at most [`ServerBuilder::max_connections`] (default 256).
//!   Each runs the core's [`ServerConn`] machine: read, feed, poll, write, with socket
//!   timeouts taken from [`ServerConn::poll_timeout`], so a slow request head, an idle
//!   keep-alive connection or a peer that stops reading is cut off by the core's deadlines
//!   ([`Limits`]). A client that vanishes costs only its own connection thread, which ends at
//!   the next failed read or write or at the next deadline.
//! - Past the cap, new connections get a fast `503` envelope (type `ServiceUnavailable`,
//!   `Retry-After: 1`) and a close, written by one small "refuser" thread, while the
//!   connections already held keep being served ([`OverCapacity::Refuse`], the default); or
//!   they wait in the kernel's listen backlog until a slot frees ([`OverCapacity::Backlog`]).
//! - Synchronous handlers ([`Dispatch::Call`]) run on the connection thread: a blocking
//!   adapter has a thread per connection anyway, and a handler that never returns then holds
//!   only its own connection (the cap keeps the rest of the server reachable).
//! - Async RPC jobs ([`Dispatch::Spawn`]) run on a separate pool of
//!   [`ServerBuilder::job_workers`] threads (default 10, as the Python library's executor).
//!   A job that panics becomes a `failed` job; the worker carries on.
//!
//! The Python library's `makeServer(multiThreaded=...)` picks a *process* pool for async jobs
//! by default (to get real parallelism past CPython's global interpreter lock, at the price
//! of no shared global state) or a thread pool when asked. Neither reason exists here: Rust
//! threads run in parallel, and handlers share state explicitly (`Arc`, `Mutex`), so jobs
//! always run on the thread pool and the flag has no counterpart.
//!
//! # Logging
//!
//! Through the `log` facade: one `info` line when the server starts, one `warn` line per
//! refused request (a request the HTTP machine rejected, a 4xx answer, a connection refused
//! past the cap) and one `warn` line per failed async job.
//!
//! # Shutdown
//!
//! [`ServerHandle::shutdown`] stops accepting, lets every request in flight finish and be
//! answered (with `Connection: close`) within the grace period
//! ([`ServerBuilder::shutdown_grace`], default 10 s), closes idle connections at once, then
//! cuts whatever remains, settles async jobs that never started as failed, and joins.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{
    IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs,
};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tarp_core::http::{Limits, Next, ServerConn};
use tarp_core::listen::{busy_response, ServerSettings};
pub use tarp_core::listen::{OverCapacity, DEFAULT_JOB_WORKERS, DEFAULT_SHUTDOWN_GRACE};
use tarp_core::service::{Dispatch, Job, Service};

use crate::pool::JobPool;
use crate::stream::Stream;
use crate::tls::TlsError;

/// Default cap on simultaneous connections (and so on connection threads).
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// How often a connection waiting for input checks whether the server is shutting down.
const SHUTDOWN_POLL: Duration = Duration::from_millis(200);
/// Connections past the cap waiting for the refuser thread; beyond, they are just closed.
const REFUSE_QUEUE: usize = 64;
/// Time the refuser gives one refused connection (TLS handshake and the 503 included).
const REFUSE_BUDGET: Duration = Duration::from_secs(2);
/// After refusing a request, how long to drain what the peer still sends before closing, so
/// the close does not turn into a reset that destroys the error response in flight.
const LINGER: Duration = Duration::from_millis(500);

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

/// Configures a [`Server`]; [`build`](ServerBuilder::build) binds the socket.
#[derive(Debug, Clone)]
pub struct ServerBuilder {
    service: Arc<Service>,
    settings: ServerSettings,
    max_connections: usize,
}

impl ServerBuilder {
    tarp_core::server_settings_methods!(settings);

    /// The most connections served at once (one thread each). Default 256; at least 1.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Loads the TLS material, binds the socket and starts the job workers.
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
        let service = Arc::clone(&self.service);
        let jobs = JobPool::new(self.settings.job_workers, "tarp-job", move |job: Job| {
            let done = job.run();
            if let Some(error) = done.error() {
                log::warn!("async job {} failed: {error}", done.id());
            }
            service.complete(done, Instant::now());
        })
        .map_err(ServerError::Thread)?;
        let shared = Arc::new(Shared {
            service: self.service,
            tls,
            limits: self.settings.limits,
            max_connections: self.max_connections,
            over_capacity: self.settings.over_capacity,
            grace: self.settings.shutdown_grace,
            job_workers: self.settings.job_workers,
            jobs,
            stop: AtomicBool::new(false),
            conns: Mutex::new(Conns::default()),
            conns_changed: Condvar::new(),
            next_id: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            refuser: Mutex::new(None),
        });
        Ok(Server {
            listener,
            local_addr,
            shared,
        })
    }
}

#[derive(Default)]
struct Conns {
    /// A clone of each live connection's socket, to cut it after the grace period.
    live: HashMap<u64, TcpStream>,
}

struct Shared {
    service: Arc<Service>,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: Limits,
    max_connections: usize,
    over_capacity: OverCapacity,
    grace: Duration,
    job_workers: usize,
    jobs: JobPool<Job>,
    stop: AtomicBool,
    conns: Mutex<Conns>,
    conns_changed: Condvar,
    next_id: AtomicU64,
    accepted: AtomicU64,
    refused: AtomicU64,
    refuser: Mutex<Option<SyncSender<TcpStream>>>,
}

impl Shared {
    fn lock_conns(&self) -> MutexGuard<'_, Conns> {
        // The map is only inserted into and removed from: a panic cannot leave it torn.
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }
}

/// A bound server, not yet serving: [`serve`](Server::serve) it on this thread or
/// [`spawn`](Server::spawn) it in the background.
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
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

    /// A builder, to set the port, interface, TLS, limits and pools.
    pub fn builder(service: Arc<Service>) -> ServerBuilder {
        ServerBuilder {
            service,
            settings: ServerSettings::default(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }

    /// The address the socket is bound to (with the actual port when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves on the calling thread, forever (until the process ends).
    pub fn serve(self) -> io::Result<()> {
        self.start_refuser()?;
        log_start(&self.shared, self.local_addr);
        accept_loop(&self.shared, &self.listener);
        Ok(())
    }

    /// Serves on a background thread; the handle stops the server.
    pub fn spawn(self) -> io::Result<ServerHandle> {
        self.start_refuser()?;
        log_start(&self.shared, self.local_addr);
        let shared = Arc::clone(&self.shared);
        let listener = self.listener;
        let accept = std::thread::Builder::new()
            .name("tarp-accept".into())
            .spawn(move || accept_loop(&shared, &listener))?;
        Ok(ServerHandle {
            local_addr: self.local_addr,
            shared: self.shared,
            accept: Some(accept),
        })
    }

    fn start_refuser(&self) -> io::Result<()> {
        if self.shared.over_capacity != OverCapacity::Refuse {
            return Ok(());
        }
        let (tx, rx) = sync_channel::<TcpStream>(REFUSE_QUEUE);
        let tls = self.shared.tls.clone();
        std::thread::Builder::new()
            .name("tarp-refuser".into())
            .spawn(move || {
                // Ends when the server's sender is dropped (shutdown).
                for tcp in rx {
                    refuse(tcp, tls.as_ref());
                }
            })?;
        *self
            .shared
            .refuser
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(tx);
        Ok(())
    }
}

fn log_start(shared: &Shared, addr: SocketAddr) {
    log::info!(
        "TARP server listening on {}://{addr} (up to {} connections, {} job workers)",
        shared.scheme(),
        shared.max_connections,
        shared.job_workers,
    );
}

/// Counters of a running server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerStats {
    /// Connections being served now (one thread each).
    pub connections: usize,
    /// Connections accepted and served since the start.
    pub accepted: u64,
    /// Connections refused past the cap since the start.
    pub refused: u64,
    /// Async jobs running on the worker pool now.
    pub jobs_running: usize,
    /// Async jobs waiting for a worker now.
    pub jobs_queued: usize,
}

/// What a shutdown left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Connections still open at the end of the grace period, closed by force.
    pub connections_cut: usize,
    /// Connection threads still busy (in a handler that does not return) after that.
    pub connections_stuck: usize,
    /// Async jobs that had not started, settled as failed.
    pub jobs_abandoned: usize,
    /// Async jobs still running at the deadline (left to finish on their own).
    pub jobs_running: usize,
}

/// A server running in the background. [`shutdown`](ServerHandle::shutdown) stops it
/// gracefully; dropping the handle does the same.
pub struct ServerHandle {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
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
        let addr = connectable(self.local_addr);
        format!("{}://{addr}", self.shared.scheme())
    }

    /// The service being served.
    pub fn service(&self) -> &Arc<Service> {
        &self.shared.service
    }

    /// Live counters.
    pub fn stats(&self) -> ServerStats {
        ServerStats {
            connections: self.shared.lock_conns().live.len(),
            accepted: self.shared.accepted.load(Ordering::SeqCst),
            refused: self.shared.refused.load(Ordering::SeqCst),
            jobs_running: self.shared.jobs.busy(),
            jobs_queued: self.shared.jobs.queued(),
        }
    }

    /// Stops gracefully within the configured grace period (see the module docs).
    pub fn shutdown(mut self) -> ShutdownReport {
        self.stop(self.shared.grace)
    }

    /// Stops gracefully within `grace`.
    pub fn shutdown_within(mut self, grace: Duration) -> ShutdownReport {
        self.stop(grace)
    }

    fn stop(&mut self, grace: Duration) -> ShutdownReport {
        let deadline = Instant::now() + grace;
        let shared = &self.shared;
        if shared.stop.swap(true, Ordering::SeqCst) {
            return ShutdownReport {
                connections_cut: 0,
                connections_stuck: 0,
                jobs_abandoned: 0,
                jobs_running: 0,
            };
        }
        log::info!("TARP server on {} shutting down", self.local_addr);
        // Wake the accept loop: waiting for a free slot (backlog policy), or blocked in
        // accept, which a connection of our own ends.
        drop(shared.lock_conns());
        shared.conns_changed.notify_all();
        let _ = TcpStream::connect_timeout(&connectable(self.local_addr), Duration::from_secs(1));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        shared
            .refuser
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        shared.conns_changed.notify_all();
        // Connections notice `stop` within SHUTDOWN_POLL: idle ones close, busy ones finish.
        let mut conns = shared.lock_conns();
        while !conns.live.is_empty() && Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            conns = shared
                .conns_changed
                .wait_timeout(conns, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        let connections_cut = conns.live.len();
        for tcp in conns.live.values() {
            let _ = tcp.shutdown(Shutdown::Both);
        }
        if connections_cut > 0 {
            log::warn!("shutdown: {connections_cut} connection(s) still busy after the grace period, closed");
            // Threads blocked in socket I/O end at once now; give them a moment.
            let settle = Instant::now() + Duration::from_secs(1);
            while !conns.live.is_empty() && Instant::now() < settle {
                let left = settle.saturating_duration_since(Instant::now());
                conns = shared
                    .conns_changed
                    .wait_timeout(conns, left)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        }
        let connections_stuck = conns.live.len();
        drop(conns);
        let (queued, jobs_running) = shared.jobs.shutdown(deadline.max(Instant::now()));
        let jobs_abandoned = queued.len();
        for job in queued {
            shared.service.complete(
                job.abandon("server shut down before the job started"),
                Instant::now(),
            );
        }
        ShutdownReport {
            connections_cut,
            connections_stuck,
            jobs_abandoned,
            jobs_running,
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if !self.shared.stopping() {
            let grace = self.shared.grace;
            self.stop(grace);
        }
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

fn accept_loop(shared: &Arc<Shared>, listener: &TcpListener) {
    let mut backoff = Duration::from_millis(5);
    loop {
        if shared.over_capacity == OverCapacity::Backlog {
            let mut conns = shared.lock_conns();
            while conns.live.len() >= shared.max_connections && !shared.stopping() {
                conns = shared
                    .conns_changed
                    .wait(conns)
                    .unwrap_or_else(|p| p.into_inner());
            }
        }
        if shared.stopping() {
            return;
        }
        let (tcp, peer) = match listener.accept() {
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
                if shared.stopping() {
                    return;
                }
                // Out of file descriptors or similar: back off (5 ms doubling to 1 s) rather
                // than spin; connections held keep being served meanwhile.
                log::warn!("accept failed: {e}; retrying in {backoff:?}");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        if shared.stopping() {
            return;
        }
        let _ = tcp.set_nodelay(true);
        let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
        {
            let mut conns = shared.lock_conns();
            if conns.live.len() >= shared.max_connections {
                drop(conns);
                over_capacity(shared, tcp, peer);
                continue;
            }
            match tcp.try_clone() {
                Ok(clone) => {
                    conns.live.insert(id, clone);
                }
                Err(e) => {
                    log::warn!("{peer}: cannot track the connection ({e}); closed");
                    continue;
                }
            }
        }
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        let for_thread = Arc::clone(shared);
        let spawned = std::thread::Builder::new()
            .name("tarp-conn".into())
            .spawn(move || {
                let _guard = ConnGuard {
                    shared: &for_thread,
                    id,
                };
                serve_connection(&for_thread, tcp, peer);
            });
        if let Err(e) = spawned {
            log::warn!("{peer}: cannot start a connection thread ({e}); closed");
            shared.lock_conns().live.remove(&id);
            shared.conns_changed.notify_all();
        }
    }
}

/// Unregisters a connection when its thread ends, however it ends.
struct ConnGuard<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for ConnGuard<'_> {
    fn drop(&mut self) {
        self.shared.lock_conns().live.remove(&self.id);
        self.shared.conns_changed.notify_all();
    }
}

fn over_capacity(shared: &Shared, tcp: TcpStream, peer: SocketAddr) {
    shared.refused.fetch_add(1, Ordering::SeqCst);
    log::warn!(
        "{peer}: refused: {} connections already served",
        shared.max_connections
    );
    let sender = shared
        .refuser
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    if let Some(tx) = sender {
        match tx.try_send(tcp) {
            Ok(()) => {}
            // The refuser is behind: just close (the client sees a reset, not a hang).
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

/// Answers a connection past the cap with a 503 and closes it, within [`REFUSE_BUDGET`].
fn refuse(tcp: TcpStream, tls: Option<&Arc<rustls::ServerConfig>>) {
    let _ = tcp.set_read_timeout(Some(REFUSE_BUDGET / 2));
    let _ = tcp.set_write_timeout(Some(REFUSE_BUDGET / 2));
    let Ok(mut stream) = Stream::new(tcp, tls) else {
        return;
    };
    if stream
        .write_all(&busy_response())
        .and_then(|()| stream.flush())
        .is_ok()
    {
        stream.finish();
        drain(&mut stream, Instant::now() + Duration::from_millis(200));
    }
}

/// Reads and discards input until EOF, an error, 256 KiB, or `until`.
fn drain(stream: &mut Stream, until: Instant) {
    let mut scratch = [0u8; 8192];
    let mut total = 0usize;
    while total < 256 * 1024 {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut scratch) {
            Ok(0) | Err(_) => return,
            Ok(n) => total += n,
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The socket timeouts last set on a connection (`None`: not known), so that a wait that
/// can keep them makes no `setsockopt` call: two per request otherwise.
#[derive(Default)]
struct SetTimeouts {
    read: Option<Option<Duration>>,
    write: Option<Option<Duration>>,
}

/// Whether the socket timeout `set` can stay for a wait of `want`: it ends no later than
/// the deadline and not much earlier (an early end only costs a `handle_timeout` that does
/// nothing before the deadline, then a new timeout).
fn keeps(set: Option<Option<Duration>>, want: Option<Duration>) -> bool {
    match (set, want) {
        (Some(None), None) => true,
        (Some(Some(t)), Some(w)) => t <= w && t >= w / 2,
        _ => false,
    }
}

/// Drives one connection to its end: the read, feed, poll, write loop.
fn serve_connection(shared: &Arc<Shared>, tcp: TcpStream, peer: SocketAddr) {
    let mut conn = ServerConn::new(shared.limits.clone(), Instant::now());
    let mut stream = match Stream::new(tcp, shared.tls.as_ref()) {
        Ok(s) => s,
        Err(e) => {
            log::warn!("{peer}: cannot start TLS: {e}");
            return;
        }
    };
    let mut told_to_stop = false;
    let mut refused = false;
    let mut set = SetTimeouts::default();
    loop {
        if !told_to_stop && shared.stopping() {
            told_to_stop = true;
            conn.shutdown();
        }
        let now = Instant::now();
        match conn.poll(now) {
            Next::Request(request) => {
                let method = request.method().to_owned();
                let path = request.path().to_owned();
                let response = match shared.service.dispatch(request, Instant::now()) {
                    Dispatch::Respond(response) => response,
                    Dispatch::Call(call) => call.run(),
                    Dispatch::Spawn { response, job } => {
                        if let Err(job) = shared.jobs.submit(job) {
                            shared
                                .service
                                .complete(job.abandon("server shutting down"), Instant::now());
                        }
                        response
                    }
                };
                if (400..500).contains(&response.status) {
                    log::warn!("{peer}: refused {method} {path}: {}", response.status);
                }
                if let Err(e) = conn.send_response(response) {
                    log::error!("{peer}: response not accepted by the connection: {e}");
                    break;
                }
            }
            Next::Write => {
                let wait = conn
                    .poll_timeout()
                    .map(|d| d.saturating_duration_since(now));
                if wait == Some(Duration::ZERO) {
                    conn.handle_timeout(Instant::now());
                    continue;
                }
                if !keeps(set.write, wait) {
                    if stream.set_write_timeout(wait).is_err() {
                        break;
                    }
                    set.write = Some(wait);
                }
                match stream.write(conn.transmit()) {
                    Ok(0) => break,
                    Ok(n) => conn.advance(n),
                    Err(e) if is_timeout(&e) => conn.handle_timeout(Instant::now()),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        log::debug!("{peer}: write failed: {e}");
                        break;
                    }
                }
            }
            Next::Read => {
                // TLS records rustls still holds must reach the peer before we wait for it.
                if stream.wants_write() {
                    let wait = conn
                        .poll_timeout()
                        .map(|d| d.saturating_duration_since(now));
                    let wait = wait.or(Some(shared.limits.write_timeout));
                    if !keeps(set.write, wait) {
                        set.write = stream.set_write_timeout(wait).is_ok().then_some(wait);
                    }
                    if let Err(e) = stream.flush() {
                        log::debug!("{peer}: flush failed: {e}");
                        break;
                    }
                }
                let mut wait = conn
                    .poll_timeout()
                    .map(|d| d.saturating_duration_since(now));
                if wait == Some(Duration::ZERO) {
                    conn.handle_timeout(Instant::now());
                    continue;
                }
                if !told_to_stop {
                    wait = Some(wait.map_or(SHUTDOWN_POLL, |w| w.min(SHUTDOWN_POLL)));
                }
                if !keeps(set.read, wait) {
                    if stream.set_read_timeout(wait).is_err() {
                        break;
                    }
                    set.read = Some(wait);
                }
                let buf = conn.recv_buf();
                if buf.is_empty() {
                    log::error!("{peer}: connection asked for input but has no room; closed");
                    break;
                }
                match stream.read(buf) {
                    Ok(0) => conn.feed_eof(),
                    Ok(n) => conn.recv_done(n),
                    Err(e) if is_timeout(&e) => conn.handle_timeout(Instant::now()),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        log::debug!("{peer}: read failed: {e}");
                        break;
                    }
                }
            }
            // Every request is answered before the next poll: nothing to wait for.
            Next::WaitForResponse => {
                log::error!("{peer}: connection waits for a response that was sent; closed");
                break;
            }
            Next::Close => {
                if let Some(error) = conn.last_error() {
                    log::warn!("{peer}: refused: {} {error}", error.status());
                    refused = true;
                }
                break;
            }
        }
    }
    // Flush what TLS still holds (best effort, bounded by the write deadline).
    let _ = stream.set_write_timeout(Some(
        shared.limits.write_timeout.min(Duration::from_secs(1)),
    ));
    let _ = stream.flush();
    stream.finish();
    if refused {
        drain(&mut stream, Instant::now() + LINGER);
    }
}
