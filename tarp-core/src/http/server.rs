//! [`ServerConn`]: one server-side HTTP/1.1 connection as a state machine.

use std::time::Instant;

use super::body::BodyReader;
use super::head::{self, RequestHead};
use super::inbuf::InBuf;
use super::message::Version;
use super::scan::{leading_empty_lines, HeadScanner};
use super::timer::{Phase, Timers};
use super::write::{error_response, write_response, Framing, OutBuf};
use super::{BufferPool, HttpError, Limits, Request, Response};

/// Chunk data shorter than this is read into the connection buffer with what follows it,
/// rather than straight into the body (fewer, larger reads).
const DIRECT_CHUNK_MIN: u64 = 4096;

/// What a [`ServerConn`] needs from its caller now (see [`ServerConn::poll`]).
#[derive(Debug)]
pub enum Next {
    /// A complete request: hand it to the application, then answer it with
    /// [`ServerConn::send_response`]. Requests come out one at a time, in order.
    Request(Request),
    /// Output is pending: write [`ServerConn::transmit`] and report it with
    /// [`ServerConn::advance`].
    Write,
    /// More input is needed: read into [`ServerConn::recv_buf`] and report it with
    /// [`ServerConn::recv_done`] (or [`ServerConn::feed_eof`] at end of stream), waiting at
    /// most until [`ServerConn::poll_timeout`].
    Read,
    /// The request last returned awaits its response; nothing else to do until then.
    WaitForResponse,
    /// The connection is over: close the transport. Every later call answers `Close` too.
    Close,
}

/// A misuse of [`ServerConn::send_response`]; the connection is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// No request is waiting for a response (none was returned by `poll`, or it was
    /// already answered).
    #[error("no request is waiting for a response")]
    NotAwaitingResponse,
    /// The status is not a final status (200 to 999); 1xx responses are the machine's.
    #[error("invalid final status {0}")]
    InvalidStatus(u16),
}

/// Per-request facts the response needs.
#[derive(Debug, Clone, Copy)]
struct Flags {
    keep_alive: bool,
    is_head: bool,
    version: Version,
}

#[derive(Debug)]
enum State {
    /// Awaiting or reading a request head.
    Head(HeadScanner),
    /// Reading the body of a request whose head is parsed.
    Body {
        request: Request,
        reader: BodyReader,
        flags: Flags,
    },
    /// A request is with the application (or about to be returned by `poll`).
    Dispatched(Flags),
    /// The last response is queued; close once it is written.
    Closing,
    /// Done.
    Closed,
}

/// One server-side HTTP/1.1 connection (RFC 9112): bytes in, requests out, responses in,
/// bytes out. No I/O, no clock: the caller moves bytes and brings the time.
///
/// # Calling contract
///
/// - Create one per accepted connection with [`new`](ServerConn::new)`(limits, now)`.
/// - Loop on [`poll`](ServerConn::poll)`(now)` and do what its [`Next`] says:
///   - `Request(req)`: answer it with [`send_response`](ServerConn::send_response) (at
///     any later time; `poll` says `WaitForResponse` meanwhile);
///   - `Write`: write (part of) [`transmit`](ServerConn::transmit), then
///     [`advance`](ServerConn::advance)`(n)` with the number of bytes written;
///   - `Read`: read into [`recv_buf`](ServerConn::recv_buf), then
///     [`recv_done`](ServerConn::recv_done)`(n)`; at end of stream call
///     [`feed_eof`](ServerConn::feed_eof) instead. [`feed`](ServerConn::feed) does both
///     steps from a slice you already have (e.g. decrypted TLS data). Never wait longer than
///     [`poll_timeout`](ServerConn::poll_timeout); when it passes, call
///     [`handle_timeout`](ServerConn::handle_timeout)`(now)` (calling it early is harmless);
///   - `Close`: close the transport. After an error answer, the peer may still be sending:
///     shut down the write side and drain input briefly before closing, or the kernel may
///     reset the connection and destroy the answer in flight.
/// - A response whose body is at most 16 KiB is one contiguous `transmit` slice; a larger
///   body follows its head as a second slice, sent from the response's own memory. Set
///   `TCP_NODELAY` on the socket so the second write is not held back by Nagle's algorithm.
/// - Output always comes first: while bytes are pending, `poll` says `Write`, and the next
///   request is parsed only once the previous response is written (a client that does not
///   read cannot make the server buffer more).
///
/// Requests that break the rules are answered by the machine itself with the status of the
/// [`HttpError`], a JSON error envelope, `Connection: close`, and then `Close`: the adapter
/// only ever sees valid requests. [`last_error`](ServerConn::last_error) tells why.
///
/// # Example
///
/// A pipelined pair of requests, the second one chunked, fed in one read:
///
/// ```
/// use std::time::Instant;
/// use tarp_core::http::{Limits, Next, Response, ServerConn};
///
/// let mut conn = ServerConn::new(Limits::default(), Instant::now());
/// let mut input: &[u8] = b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n\
///     POST /add HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
/// let mut output = Vec::new();
/// let mut paths = Vec::new();
/// loop {
///     match conn.poll(Instant::now()) {
///         Next::Request(req) => {
///             paths.push(format!("{} {}", req.method(), req.path()));
///             let body = req.body().to_vec();
///             conn.send_response(Response::new(200, Some("text/plain".into()), body)).unwrap();
///         }
///         Next::Write => {
///             let bytes = conn.transmit();
///             output.extend_from_slice(bytes); // a socket write, possibly partial
///             let n = bytes.len();
///             conn.advance(n);
///         }
///         Next::Read if input.is_empty() => conn.feed_eof(),
///         Next::Read => {
///             let buf = conn.recv_buf(); // read(2) straight into this
///             let n = buf.len().min(input.len());
///             buf[..n].copy_from_slice(&input[..n]);
///             input = &input[n..];
///             conn.recv_done(n);
///         }
///         Next::WaitForResponse => unreachable!("answered at once above"),
///         Next::Close => break,
///     }
/// }
/// assert_eq!(paths, ["GET /hello", "POST /add"]);
/// let text = String::from_utf8(output).unwrap();
/// assert!(text.starts_with("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n"));
/// assert!(text.ends_with("Content-Length: 3\r\n\r\nabc"));
/// ```
#[derive(Debug)]
pub struct ServerConn {
    limits: Limits,
    inbuf: InBuf,
    out: OutBuf,
    state: State,
    /// A complete request not yet returned by `poll`.
    ready: Option<Request>,
    /// The peer ended its stream.
    eof: bool,
    /// [`shutdown`](ServerConn::shutdown) was called.
    shutting_down: bool,
    /// Request heads parsed so far.
    requests: u64,
    /// Head bytes examined by the scanner over the connection's life (see
    /// [`ServerConn::head_bytes_scanned`]).
    scanned: u64,
    /// The last `recv_buf` handed out room in a body.
    recv_direct: bool,
    /// A `recv_buf` region is handed out and not yet reported by `recv_done`.
    recv_outstanding: bool,
    timers: Timers,
    error: Option<HttpError>,
}

impl ServerConn {
    /// A connection accepted at `now`; the first request head is due within
    /// `limits.header_timeout`.
    pub fn new(limits: Limits, now: Instant) -> Self {
        ServerConn {
            inbuf: InBuf::new(limits.max_head_bytes.saturating_mul(2)),
            limits,
            out: OutBuf::default(),
            state: State::Head(HeadScanner::default()),
            ready: None,
            eof: false,
            shutting_down: false,
            requests: 0,
            scanned: 0,
            recv_direct: false,
            recv_outstanding: false,
            timers: Timers::new(now),
            error: None,
        }
    }

    /// The limits this connection enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// What to do next (see the type's documentation). `now` stamps what happened since
    /// the last call, for the deadlines.
    pub fn poll(&mut self, now: Instant) -> Next {
        self.process();
        self.timers.stamp(now, self.phase());
        if let State::Closed = self.state {
            return Next::Close;
        }
        if !self.out.is_empty() {
            return Next::Write;
        }
        if let Some(request) = self.ready.take() {
            return Next::Request(request);
        }
        match self.state {
            State::Head(_) | State::Body { .. } => Next::Read,
            State::Dispatched(_) => Next::WaitForResponse,
            State::Closing | State::Closed => {
                self.close_now();
                Next::Close
            }
        }
    }

    /// Room to read into (then call [`recv_done`](ServerConn::recv_done)). While a large
    /// body is expected this is the body's own memory, so its bytes are copied once, by the
    /// read. Empty when the connection takes no input now (closing, or its buffer is full
    /// of pipelined requests).
    pub fn recv_buf(&mut self) -> &mut [u8] {
        self.recv_direct = false;
        self.recv_outstanding = true;
        match &mut self.state {
            State::Body { reader, .. } if self.inbuf.is_empty() && prefers_direct(reader) => {
                self.recv_direct = true;
                reader.direct_buf()
            }
            State::Head(_) | State::Body { .. } => self.inbuf.space(true),
            State::Dispatched(_) => self.inbuf.space(false),
            State::Closing | State::Closed => &mut [],
        }
    }

    /// Records that `n` bytes were read into the last [`recv_buf`](ServerConn::recv_buf)
    /// (at most its length; 0 is ignored: end of stream is [`feed_eof`](ServerConn::feed_eof)).
    pub fn recv_done(&mut self, n: usize) {
        self.recv_outstanding = false;
        if n == 0 {
            return;
        }
        let direct = std::mem::take(&mut self.recv_direct);
        match &mut self.state {
            State::Body { reader, .. } if direct => {
                self.timers.body_moved = true;
                if let Err(e) = reader.direct_done(n) {
                    self.fail(e);
                }
            }
            State::Body { .. } => {
                self.timers.body_moved = true;
                self.inbuf.filled(n);
            }
            State::Head(_) | State::Dispatched(_) => self.inbuf.filled(n),
            State::Closing | State::Closed => {}
        }
        self.process();
    }

    /// Copies input from `data` through [`recv_buf`](ServerConn::recv_buf) /
    /// [`recv_done`](ServerConn::recv_done); returns how many bytes were taken (fewer than
    /// `data.len()` when the connection takes no more input now: offer the rest later).
    pub fn feed(&mut self, data: &[u8]) -> usize {
        let mut used = 0;
        while used < data.len() {
            let buf = self.recv_buf();
            let n = buf.len().min(data.len() - used);
            if n == 0 {
                break;
            }
            buf[..n].copy_from_slice(&data[used..used + n]);
            self.recv_done(n);
            used += n;
        }
        used
    }

    /// The peer ended its stream. Complete requests already received are still served; a
    /// partial one is answered with 400; then the connection closes.
    pub fn feed_eof(&mut self) {
        self.eof = true;
        self.recv_direct = false;
        self.recv_outstanding = false;
        self.process();
    }

    /// Answers the request last returned by [`poll`](ServerConn::poll). The machine adds
    /// `Content-Length`, and `Connection: close` when the connection closes after it (the
    /// request asked so, HTTP/1.0 without keep-alive, or [`shutdown`](ServerConn::shutdown));
    /// a `HEAD` request gets the headers only.
    pub fn send_response(&mut self, response: Response) -> Result<(), SendError> {
        let State::Dispatched(flags) = self.state else {
            return Err(SendError::NotAwaitingResponse);
        };
        if self.ready.is_some() {
            return Err(SendError::NotAwaitingResponse);
        }
        if !(200..=999).contains(&response.status) {
            return Err(SendError::InvalidStatus(response.status));
        }
        let close = !flags.keep_alive || self.shutting_down || (self.eof && self.inbuf.is_empty());
        let framing = Framing {
            head_request: flags.is_head,
            close,
            keep_alive_10: flags.version == Version::Http10,
        };
        write_response(&mut self.out, response, framing);
        if close {
            self.inbuf.clear();
            self.state = State::Closing;
        } else {
            self.state = State::Head(HeadScanner::default());
        }
        Ok(())
    }

    /// The next bytes to write (empty when `poll` does not say `Write`).
    pub fn transmit(&self) -> &[u8] {
        self.out.pending()
    }

    /// Records that the first `n` bytes of [`transmit`](ServerConn::transmit) were written.
    pub fn advance(&mut self, n: usize) {
        if n > 0 {
            self.timers.write_moved = true;
        }
        if self.out.advance(n) {
            self.process();
        }
    }

    /// When [`handle_timeout`](ServerConn::handle_timeout) must be called next, if ever:
    /// the deadline of what the connection awaits (see [`Limits`]).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers
            .deadline(self.phase(), &self.limits)
            .map(|(t, _)| t)
    }

    /// Applies the deadlines at `now`: a head or body that is late gets 408 and a close;
    /// an idle connection, a peer that does not read, or a new connection that never sent
    /// a byte is closed without an answer. Calling it before the deadline does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        let phase = self.phase();
        self.timers.stamp(now, phase);
        let Some((deadline, field)) = self.timers.deadline(phase, &self.limits) else {
            return;
        };
        if now < deadline {
            return;
        }
        log::debug!("connection deadline passed: Limits::{field}");
        match phase {
            Phase::Head { .. } if !self.inbuf.is_empty() => self.fail(HttpError::Timeout {
                what: "request head",
                field,
            }),
            Phase::Body { .. } => self.fail(HttpError::Timeout {
                what: "request body",
                field,
            }),
            Phase::Head { .. } | Phase::Idle | Phase::Write => self.close_now(),
            Phase::None => {}
        }
        self.timers.stamp(now, self.phase());
    }

    /// Starts a graceful close: an idle connection closes now; a request being received
    /// or processed is still answered, with `Connection: close`, and then the connection
    /// closes.
    pub fn shutdown(&mut self) {
        self.shutting_down = true;
        self.process();
    }

    /// Frees the memory of the read and write buffers while they hold nothing, so a
    /// kept-alive connection waiting for its next request costs only its small state (the
    /// next read allocates again). An adapter holding many idle connections calls it before
    /// waiting for input; calling it at any other time is harmless (room handed out by
    /// `recv_buf` and not yet reported by `recv_done` is kept).
    pub fn release_buffers(&mut self) {
        if self.inbuf.is_empty() && !self.recv_outstanding {
            self.inbuf.clear();
        }
        if self.out.is_empty() {
            self.out.clear();
        }
    }

    /// [`release_buffers`](ServerConn::release_buffers), keeping the memory in `pool` for
    /// the next connection with bytes to read (see [`BufferPool`]).
    pub fn release_buffers_into(&mut self, pool: &mut BufferPool) {
        if !self.recv_outstanding {
            if let Some(buf) = self.inbuf.take_spare() {
                pool.put_read(buf);
            }
        }
        if let Some(buf) = self.out.take_spare() {
            pool.put_write(buf);
        }
        self.release_buffers();
    }

    /// Takes buffers from `pool` for those this connection released, before the next
    /// [`recv_buf`](ServerConn::recv_buf); harmless when it holds its own.
    pub fn reuse_buffers_from(&mut self, pool: &mut BufferPool) {
        if !self.recv_outstanding && self.inbuf.has_no_memory() {
            if let Some(buf) = pool.take_read() {
                if let Some(buf) = self.inbuf.adopt(buf) {
                    pool.put_read(buf);
                }
            }
        }
        if self.out.has_no_memory() {
            if let Some(buf) = pool.take_write() {
                if let Some(buf) = self.out.adopt(buf) {
                    pool.put_write(buf);
                }
            }
        }
    }

    /// Head bytes the scanner has examined over this connection's life. Each byte of a head
    /// is examined once however the input was split into reads, so this equals the heads'
    /// total length: tests use it to prove byte-at-a-time input costs linear time without
    /// timing anything.
    pub fn head_bytes_scanned(&self) -> u64 {
        self.scanned
    }

    /// Why the machine refused the peer's last message, if it did.
    pub fn last_error(&self) -> Option<&HttpError> {
        self.error.as_ref()
    }

    fn phase(&self) -> Phase {
        match &self.state {
            State::Closed => Phase::None,
            _ if !self.out.is_empty() => Phase::Write,
            _ if self.ready.is_some() => Phase::None,
            State::Head(_) if self.requests == 0 => Phase::Head { first: true },
            State::Head(_) if !self.inbuf.is_empty() => Phase::Head { first: false },
            State::Head(_) => Phase::Idle,
            State::Body { reader, .. } => Phase::Body {
                received: reader.received(),
            },
            State::Dispatched(_) | State::Closing => Phase::None,
        }
    }

    /// Parses as far as buffered input allows, up to one complete request.
    fn process(&mut self) {
        loop {
            let progressed = match self.state {
                State::Head(_) => self.step_head(),
                State::Body { .. } => self.step_body(),
                State::Dispatched(_) | State::Closing | State::Closed => false,
            };
            if !progressed {
                return;
            }
        }
    }

    /// One step in the head state; returns whether the state changed.
    fn step_head(&mut self) -> bool {
        // The next head is parsed only once the previous response is written.
        if !self.out.is_empty() || self.ready.is_some() {
            return false;
        }
        let State::Head(scan) = &mut self.state else {
            return false;
        };
        if scan.at_start() {
            let skip = leading_empty_lines(self.inbuf.data());
            self.inbuf.consume(skip);
        }
        let data = self.inbuf.data();
        // A lone CR may start one more empty line: wait for the byte after it.
        let data = if scan.at_start() && data == b"\r" && !self.eof {
            &[][..]
        } else {
            data
        };
        if data.is_empty() {
            if self.eof || self.shutting_down {
                self.state = State::Closing;
                return true;
            }
            return false;
        }
        let before = scan.examined();
        let scanned = scan.scan(data, self.limits.max_head_bytes);
        self.scanned += (scan.examined() - before) as u64;
        let parsed = match scanned {
            Err(e) => Err(e),
            Ok(None) if self.eof => Err(HttpError::Incomplete("request head")),
            Ok(None) => return false,
            Ok(Some(n)) => {
                let parsed = head::parse_request(&data[..n], &self.limits);
                self.inbuf.consume(n);
                parsed
            }
        };
        match parsed {
            Ok(head) => self.start_body(head),
            Err(e) => self.fail(e),
        }
        true
    }

    fn start_body(&mut self, head: RequestHead) {
        self.requests += 1;
        let flags = Flags {
            keep_alive: head.keep_alive,
            is_head: head.is_head,
            version: head.request.version(),
        };
        match BodyReader::new(head.body, self.limits.max_body) {
            None => self.dispatch(head.request, flags),
            Some(reader) => {
                // RFC 9110 section 10.1.1: ask for the body only if none of it is here.
                if head.expect_continue && self.inbuf.is_empty() {
                    self.out.push(b"HTTP/1.1 100 Continue\r\n\r\n");
                }
                self.state = State::Body {
                    request: head.request,
                    reader,
                    flags,
                };
            }
        }
    }

    /// One step in the body state; returns whether the state changed.
    fn step_body(&mut self) -> bool {
        let State::Body { reader, .. } = &mut self.state else {
            return false;
        };
        match reader.decode(self.inbuf.data(), &self.limits) {
            Ok(n) => self.inbuf.consume(n),
            Err(e) => {
                self.fail(e);
                return true;
            }
        }
        if reader.is_done() {
            let State::Body {
                mut request,
                reader,
                flags,
            } = std::mem::replace(&mut self.state, State::Closed)
            else {
                return false;
            };
            request.set_body(reader.into_body());
            self.dispatch(request, flags);
            return true;
        }
        if self.eof {
            if let Err(e) = reader.finish_at_eof() {
                self.fail(e);
                return true;
            }
        }
        false
    }

    fn dispatch(&mut self, request: Request, flags: Flags) {
        self.ready = Some(request);
        self.state = State::Dispatched(flags);
    }

    /// Answers a broken message with its error envelope and closes.
    fn fail(&mut self, err: HttpError) {
        log::debug!("refusing request: {err}");
        let head_request = matches!(&self.state, State::Body { flags, .. } if flags.is_head);
        let response = error_response(&err);
        self.error = Some(err);
        self.inbuf.clear();
        self.ready = None;
        let framing = Framing {
            head_request,
            close: true,
            keep_alive_10: false,
        };
        write_response(&mut self.out, response, framing);
        self.state = State::Closing;
    }

    fn close_now(&mut self) {
        self.state = State::Closed;
        self.out.clear();
        self.inbuf.clear();
        self.ready = None;
    }
}

fn prefers_direct(reader: &BodyReader) -> bool {
    let want = reader.direct_len();
    want > 0 && (reader.is_exact() || want >= DIRECT_CHUNK_MIN)
}
