//! One connection's task: TLS handshake, then the core's connection machine driven over the
//! socket until it closes.

use std::cell::RefCell;
use std::io::{self, Read as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use smol::future::FutureExt as _;
use smol::io::{AsyncReadExt as _, AsyncWriteExt as _};
use smol::{Async, Timer};
use tarp_core::http::{BufferPool, Next, ServerConn};
use tarp_core::listen::busy_response;

use crate::server::{ConnGuard, Shared};
use crate::stream::Stream;

/// A server connection's stream.
type ServerStream = Stream<Async<TcpStream>>;

/// After refusing a request, how long to drain what the peer still sends before closing, so
/// the close does not turn into a reset that destroys the error response in flight.
const LINGER: Duration = Duration::from_millis(500);
/// How much a lingering close reads at most.
const LINGER_BYTES: usize = 256 * 1024;
/// Time given to flushing and closing a connection that is over.
const CLOSE_BUDGET: Duration = Duration::from_secs(1);
/// Time a connection refused past the cap is given (TLS handshake and the 503 included).
const REFUSE_BUDGET: Duration = Duration::from_secs(2);

thread_local! {
    /// The buffers idle connections released, for the connections this thread serves next:
    /// a connection frees its buffers while it waits for a request, and a fresh zeroed read
    /// buffer plus a regrown write buffer per request cost more than the request's HTTP work.
    static POOL: RefCell<BufferPool> = RefCell::new(BufferPool::default());
}

/// Frees the connection's buffers into this thread's pool while it waits (or just frees
/// them on a thread whose pool is already gone, as it exits).
fn release(conn: &mut ServerConn) {
    if POOL
        .try_with(|pool| conn.release_buffers_into(&mut pool.borrow_mut()))
        .is_err()
    {
        conn.release_buffers();
    }
}

/// Gives the connection buffers from this thread's pool before it reads (none on a thread
/// whose pool is already gone: the connection then allocates its own).
fn reuse(conn: &mut ServerConn) {
    let _ = POOL.try_with(|pool| conn.reuse_buffers_from(&mut pool.borrow_mut()));
}

/// What a connection waits on besides its I/O, kept for the connection's life: one timer and
/// one shutdown listener. A timer made per wait costs a registration with the reactor, which
/// also interrupts its `epoll_wait` (a notify write, a read and re-arms), and a listener made
/// per wait costs an allocation and two locks of the channel's list shared by every
/// connection: both once per request. A deadline only moves later from one request to the
/// next (the idle deadline), so the timer armed for an earlier one is kept: it may fire
/// early, then is armed again for the deadline in force.
pub(crate) struct Waiter<'a> {
    timer: Timer,
    armed: Option<Instant>,
    stop: std::pin::Pin<Box<smol::channel::Recv<'a, ()>>>,
}

impl<'a> Waiter<'a> {
    pub(crate) fn new(shared: &'a Shared) -> Self {
        Waiter {
            timer: Timer::never(),
            armed: None,
            stop: Box::pin(shared.stop.recv()),
        }
    }

    /// Resolves once `deadline` has passed (never for `None`).
    async fn expired(timer: &mut Timer, armed: &mut Option<Instant>, deadline: Option<Instant>) {
        let Some(deadline) = deadline else {
            return std::future::pending().await;
        };
        loop {
            if armed.map_or(true, |at| at > deadline) {
                timer.set_at(deadline);
                *armed = Some(deadline);
            }
            (&mut *timer).await;
            *armed = None;
            if Instant::now() >= deadline {
                return;
            }
        }
    }
}

/// Sleeps until `at`.
pub(crate) async fn sleep_until(at: Instant) {
    Timer::at(at).await;
}

/// What ended a wait.
enum Woke<T> {
    /// The awaited operation finished.
    Done(T),
    /// The deadline passed.
    Deadline,
    /// The server is shutting down.
    Stop,
}

/// Races `op` with the deadline and, unless `stopping` already, with the shutdown signal.
async fn wait<T>(
    op: impl std::future::Future<Output = T>,
    deadline: Option<Instant>,
    waiter: &mut Waiter<'_>,
    stopping: bool,
) -> Woke<T> {
    let op = async { Woke::Done(op.await) };
    let Waiter { timer, armed, stop } = waiter;
    let expired = async {
        Waiter::expired(timer, armed, deadline).await;
        Woke::Deadline
    };
    let stop = async {
        if stopping {
            std::future::pending::<()>().await;
        }
        let _ = stop.as_mut().await;
        Woke::Stop
    };
    op.or(expired).or(stop).await
}

/// Serves one accepted connection until it closes, the deadlines of the core cut it, or the
/// server shuts down.
pub(crate) async fn serve(
    tcp: Async<TcpStream>,
    peer: SocketAddr,
    shared: Arc<Shared>,
    guard: ConnGuard,
) {
    let _guard = guard;
    let _ = tcp.get_ref().set_nodelay(true);
    let mut conn = shared.new_conn();
    let mut stream = match &shared.tls {
        None => Stream::Plain(tcp),
        Some(acceptor) => {
            // Boxed: the handshake's state is large and must not enlarge every task.
            let handshake = Box::pin(acceptor.accept(tcp));
            let mut waiter = Waiter::new(&shared);
            match wait(handshake, conn.poll_timeout(), &mut waiter, false).await {
                Woke::Done(Ok(tls)) => Stream::tls(tls),
                Woke::Done(Err(e)) => {
                    log::debug!("{peer}: TLS handshake failed: {e}");
                    return;
                }
                Woke::Deadline | Woke::Stop => {
                    log::debug!("{peer}: TLS handshake did not finish");
                    return;
                }
            }
        }
    };
    let refused = Box::pin(drive(&mut stream, &mut conn, &shared, peer)).await;
    drop(conn);
    finish(stream, refused).await;
}

/// The read, feed, poll, write loop. Returns whether the machine refused the peer's request
/// (then the close should linger).
async fn drive(
    stream: &mut ServerStream,
    conn: &mut ServerConn,
    shared: &Arc<Shared>,
    peer: SocketAddr,
) -> bool {
    let mut stopping = false;
    let mut waiter = Waiter::new(shared);
    // The last read returned less than it had room for: the socket was drained then.
    let mut drained = false;
    loop {
        if !stopping && shared.stop.is_closed() {
            stopping = true;
            conn.shutdown();
        }
        let now = Instant::now();
        match conn.poll(now) {
            Next::Request(request) => {
                // Kept for the log line of a refusal, only when such lines are logged.
                let target = log::log_enabled!(log::Level::Warn)
                    .then(|| format!("{} {}", request.method(), request.path()));
                let response = shared.answer(request).await;
                if let Some(target) = target.filter(|_| (400..500).contains(&response.status)) {
                    log::warn!("{peer}: refused {target}: {}", response.status);
                }
                if let Err(e) = conn.send_response(response) {
                    log::error!("{peer}: response not accepted by the connection: {e}");
                    return false;
                }
            }
            Next::Write => {
                let deadline = conn.poll_timeout();
                match wait(stream.write(conn.transmit()), deadline, &mut waiter, true).await {
                    Woke::Done(Ok(0)) => return false,
                    Woke::Done(Ok(n)) => conn.advance(n),
                    Woke::Done(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                    Woke::Done(Err(e)) => {
                        log::debug!("{peer}: write failed: {e}");
                        return false;
                    }
                    Woke::Deadline | Woke::Stop => conn.handle_timeout(Instant::now()),
                }
            }
            Next::Read => {
                let deadline = conn.poll_timeout();
                if deadline.is_some_and(|d| d <= now) {
                    conn.handle_timeout(Instant::now());
                    continue;
                }
                let outcome = match stream {
                    Stream::Plain(tcp) => {
                        read_plain(tcp, conn, deadline, &mut waiter, stopping, &mut drained).await
                    }
                    Stream::Tls(tls) => {
                        // Records rustls still holds must reach the peer before we wait.
                        match wait(tls.flush(), deadline, &mut waiter, true).await {
                            Woke::Done(Ok(())) => {}
                            Woke::Done(Err(e)) => {
                                log::debug!("{peer}: flush failed: {e}");
                                return false;
                            }
                            Woke::Deadline | Woke::Stop => {
                                conn.handle_timeout(Instant::now());
                                continue;
                            }
                        }
                        read_tls(tls, conn, deadline, &mut waiter, stopping).await
                    }
                };
                match outcome {
                    Woke::Done(Ok(0)) => conn.feed_eof(),
                    Woke::Done(Ok(n)) => conn.recv_done(n),
                    Woke::Done(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                    Woke::Done(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Woke::Done(Err(e)) => {
                        log::debug!("{peer}: read failed: {e}");
                        return false;
                    }
                    Woke::Deadline => conn.handle_timeout(Instant::now()),
                    Woke::Stop => {
                        stopping = true;
                        conn.shutdown();
                    }
                }
            }
            // Every request is answered before the next poll: nothing to wait for.
            Next::WaitForResponse => {
                log::error!("{peer}: connection waits for a response that was sent; closed");
                return false;
            }
            Next::Close => {
                if let Some(error) = conn.last_error() {
                    log::warn!("{peer}: refused: {} {error}", error.status());
                    return true;
                }
                return false;
            }
        }
    }
}

/// One read on a plain socket. Tries at once (the bytes are often there already) unless the
/// last read drained the socket (`drained`: it returned less than it had room for, so the
/// next bytes can only be those the peer sends after our answer, and trying costs a failed
/// `recvfrom` per request); then, or if none are there, releases the connection's buffers
/// and waits for readiness holding no buffer, so an idle connection costs no memory for
/// them. `Ok(WouldBlock)`-like spurious wake-ups come back as a `WouldBlock` error and the
/// caller just polls again.
async fn read_plain(
    tcp: &Async<TcpStream>,
    conn: &mut ServerConn,
    deadline: Option<Instant>,
    waiter: &mut Waiter<'_>,
    stopping: bool,
    drained: &mut bool,
) -> Woke<io::Result<usize>> {
    if !*drained {
        reuse(conn);
        let buf = conn.recv_buf();
        if buf.is_empty() {
            return Woke::Done(Err(io::Error::other(
                "connection asked for input but has no room",
            )));
        }
        let room = buf.len();
        match (&mut tcp.get_ref()).read(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            done => {
                *drained = matches!(done, Ok(n) if n > 0 && n < room);
                return Woke::Done(done);
            }
        }
        // Nothing read: hand the room back.
        conn.recv_done(0);
    }
    *drained = false;
    // Free the room while waiting.
    release(conn);
    match wait(tcp.readable(), deadline, waiter, stopping).await {
        Woke::Done(Ok(())) => Woke::Done(Err(io::ErrorKind::WouldBlock.into())),
        Woke::Done(Err(e)) => Woke::Done(Err(e)),
        Woke::Deadline => Woke::Deadline,
        Woke::Stop => Woke::Stop,
    }
}

/// One read on a TLS stream. When rustls holds no decrypted bytes (any TLS bytes it holds
/// are an unfinished record), waits for the socket first holding no buffer, as
/// [`read_plain`] does, so an idle TLS connection keeps only rustls' own state.
async fn read_tls(
    tls: &mut futures_rustls::TlsStream<Async<TcpStream>>,
    conn: &mut ServerConn,
    deadline: Option<Instant>,
    waiter: &mut Waiter<'_>,
    stopping: bool,
) -> Woke<io::Result<usize>> {
    if tls.get_ref().1.wants_read() {
        release(conn);
        match wait(tls.get_ref().0.readable(), deadline, waiter, stopping).await {
            Woke::Done(Ok(())) => {}
            Woke::Done(Err(e)) => return Woke::Done(Err(e)),
            Woke::Deadline => return Woke::Deadline,
            Woke::Stop => return Woke::Stop,
        }
    }
    reuse(conn);
    let buf = conn.recv_buf();
    if buf.is_empty() {
        return Woke::Done(Err(io::Error::other(
            "connection asked for input but has no room",
        )));
    }
    wait(tls.read(buf), deadline, waiter, stopping).await
}

/// Ends a connection: flushes what TLS still holds, sends `close_notify` and the TCP FIN;
/// after a refused request, drains what the peer still sends for a moment so the error
/// answer is not destroyed by a reset.
async fn finish(mut stream: ServerStream, refused: bool) {
    let closing = async {
        let _ = stream.close().await;
    };
    closing.or(sleep_until(Instant::now() + CLOSE_BUDGET)).await;
    // Closing an `Async<TcpStream>` only flushes it: send the FIN here, so the peer sees the
    // end now rather than once the lingering drain below is over.
    let tcp = match &stream {
        Stream::Plain(tcp) => tcp.get_ref(),
        Stream::Tls(tls) => tls.get_ref().0.get_ref(),
    };
    let _ = tcp.shutdown(std::net::Shutdown::Write);
    if refused {
        drain(&mut stream, Instant::now() + LINGER).await;
    }
}

/// Reads and discards input until end of stream, an error, [`LINGER_BYTES`], or `until`.
async fn drain(stream: &mut ServerStream, until: Instant) {
    let mut scratch = vec![0u8; 8192];
    let mut total = 0;
    let reading = async {
        while total < LINGER_BYTES {
            match stream.read(&mut scratch).await {
                Ok(0) | Err(_) => return,
                Ok(n) => total += n,
            }
        }
    };
    reading.or(sleep_until(until)).await;
}

/// Answers a connection past the cap with a 503 and closes it, within [`REFUSE_BUDGET`].
pub(crate) async fn refuse(tcp: Async<TcpStream>, tls: Option<&futures_rustls::TlsAcceptor>) {
    let refusing = async {
        let mut stream = match tls {
            None => Stream::Plain(tcp),
            Some(acceptor) => match Box::pin(acceptor.accept(tcp)).await {
                Ok(tls) => Stream::tls(tls),
                Err(_) => return,
            },
        };
        if stream.write_all(&busy_response()).await.is_ok() && stream.flush().await.is_ok() {
            let _ = stream.close().await;
            drain(&mut stream, Instant::now() + Duration::from_millis(200)).await;
        }
    };
    refusing
        .or(sleep_until(Instant::now() + REFUSE_BUDGET))
        .await;
}
