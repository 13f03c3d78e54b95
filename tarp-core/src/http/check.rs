//! Invariant checks shared by the fuzz targets and the corpus replay tests.
//!
//! Each check drives a connection over one input stream several ways (whole, one byte at a
//! time, and in pseudo-random splits derived from the input, through both `feed` and
//! `recv_buf`/`recv_done`, with partial writes) and **panics** when an invariant breaks:
//! - no panic inside the machine, and no endless loop (the number of steps is bounded);
//! - never more bytes taken than offered; `Read` with an empty `recv_buf`, or `Read` after
//!   the end of input, never happens;
//! - the outcome (requests, output bytes, error) does not depend on the splits (the interim
//!   `100 Continue`, sent only when no body byte has arrived yet, aside);
//! - every request (response) that comes out re-encodes and parses back equal.
//!
//! They are public so that fuzz targets, tests and adapters' own tests can call them.

use std::time::Instant;

use super::message::is_framing_header;
use super::{
    ClientConn, ClientError, ClientNext, ClientResponse, HttpError, Limits, Next, Request,
    Response, ServerConn, Version,
};

/// What a server connection made of one input stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerRun {
    /// The requests served, in order.
    pub requests: Vec<Request>,
    /// Everything written, interim `100 Continue` responses removed.
    pub output: Vec<u8>,
    /// Why the machine refused the input, if it did.
    pub error: Option<HttpError>,
}

/// What a client connection made of one response stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRun {
    /// The responses received, in order.
    pub responses: Vec<ClientResponse>,
    /// Why the client gave up, if it did.
    pub error: Option<ClientError>,
}

/// Splits of an input: whole, byte by byte, or pseudo-random sizes.
#[derive(Debug, Clone, Copy)]
enum Splits {
    Whole,
    Bytes,
    Random(u64),
}

impl Splits {
    fn next(&mut self, left: usize) -> usize {
        match self {
            Splits::Whole => left,
            Splits::Bytes => 1,
            Splits::Random(state) => {
                // xorshift64*: deterministic, seeded from the input.
                *state ^= *state >> 12;
                *state ^= *state << 25;
                *state ^= *state >> 27;
                let r = state.wrapping_mul(0x2545_f491_4f6c_dd1d);
                let size = if r & 3 == 0 {
                    (r >> 8) % 4096
                } else {
                    (r >> 8) % 17
                };
                (size as usize).clamp(1, left.max(1))
            }
        }
    }
}

fn seed(data: &[u8]) -> u64 {
    // FNV-1a, never zero (xorshift's fixed point).
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    }) | 1
}

fn strategies(data: &[u8]) -> [(Splits, bool); 4] {
    let s = seed(data);
    [
        (Splits::Whole, false),
        (Splits::Bytes, true),
        (Splits::Random(s), false),
        (Splits::Random(s.rotate_left(17) | 1), true),
    ]
}

/// The answer the checks give to every request.
fn answer(req: &Request, n: usize) -> Response {
    let body = format!("{} {} {}", req.method(), req.path(), req.body().len());
    Response::new(200, Some("text/plain".into()), body.into_bytes())
        .with_header("X-Request", n.to_string())
}

/// Whether two requests are equal, framing headers (rewritten by encoding) aside.
pub fn same_request(a: &Request, b: &Request) -> bool {
    let fields = |r: &Request| -> Vec<(String, Vec<u8>)> {
        r.headers()
            .filter(|(n, _)| !is_framing_header(n.as_bytes()))
            .map(|(n, v)| (n.to_owned(), v.to_vec()))
            .collect()
    };
    a.method() == b.method()
        && a.path() == b.path()
        && a.query() == b.query()
        && a.version() == b.version()
        && a.body() == b.body()
        && fields(a) == fields(b)
}

fn roomier(limits: &Limits) -> Limits {
    Limits {
        max_head_bytes: limits.max_head_bytes.saturating_add(64),
        max_headers: limits.max_headers.saturating_add(1),
        ..limits.clone()
    }
}

/// Encodes `req` and parses it back on a fresh connection; panics unless equal.
fn check_request_round_trip(req: &Request, limits: &Limits) {
    let mut bytes = Vec::new();
    req.encode(&mut bytes);
    let mut conn = ServerConn::new(roomier(limits), Instant::now());
    let taken = conn.feed(&bytes);
    assert_eq!(taken, bytes.len(), "re-encoded request not taken whole");
    conn.feed_eof();
    loop {
        match conn.poll(Instant::now()) {
            Next::Request(again) => {
                assert!(
                    same_request(req, &again),
                    "round trip changed {req:?} into {again:?}"
                );
                return;
            }
            Next::Write => {
                let n = conn.transmit().len();
                conn.advance(n);
            }
            other => panic!(
                "re-encoded request {req:?} not served: {other:?} {:?}",
                conn.last_error()
            ),
        }
    }
}

fn drive_server(data: &[u8], limits: &Limits, mut splits: Splits, direct: bool) -> ServerRun {
    let now = Instant::now();
    let mut conn = ServerConn::new(limits.clone(), now);
    let mut run = ServerRun {
        requests: Vec::new(),
        output: Vec::new(),
        error: None,
    };
    let mut pos = 0;
    let mut eof = false;
    let mut write_splits = splits;
    let max_steps = 1000 + 64 * data.len();
    for _ in 0..max_steps {
        match conn.poll(now) {
            Next::Request(req) => {
                check_request_round_trip(&req, limits);
                let resp = answer(&req, run.requests.len());
                run.requests.push(req);
                assert_eq!(conn.send_response(resp), Ok(()));
            }
            Next::Write => {
                let pending = conn.transmit();
                assert!(!pending.is_empty(), "Write with nothing to write");
                let n = write_splits.next(pending.len()).min(pending.len());
                run.output.extend_from_slice(&pending[..n]);
                conn.advance(n);
            }
            Next::Read => {
                assert!(!eof, "Read after the end of input");
                if pos == data.len() {
                    conn.feed_eof();
                    eof = true;
                    continue;
                }
                let want = splits.next(data.len() - pos).min(data.len() - pos);
                let taken = if direct {
                    let buf = conn.recv_buf();
                    assert!(!buf.is_empty(), "Read with no room to read into");
                    let n = want.min(buf.len());
                    buf[..n].copy_from_slice(&data[pos..pos + n]);
                    conn.recv_done(n);
                    n
                } else {
                    let n = conn.feed(&data[pos..pos + want]);
                    assert!(n <= want, "took more bytes than offered");
                    assert!(n > 0, "Read but no byte taken");
                    n
                };
                pos += taken;
            }
            Next::WaitForResponse => panic!("WaitForResponse with every request answered"),
            Next::Close => {
                assert!(matches!(conn.poll(now), Next::Close), "Close is not final");
                assert_eq!(
                    conn.poll_timeout(),
                    None,
                    "a closed connection has a deadline"
                );
                run.error = conn.last_error().cloned();
                let interim: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
                let mut output = Vec::with_capacity(run.output.len());
                let mut rest = &run.output[..];
                while !rest.is_empty() {
                    if rest.starts_with(interim) {
                        rest = &rest[interim.len()..];
                    } else {
                        output.push(rest[0]);
                        rest = &rest[1..];
                    }
                }
                run.output = output;
                return run;
            }
        }
    }
    panic!("no end after {max_steps} steps");
}

/// Drives `data` while time passes (up to 4 s per step, `handle_timeout` whenever a
/// deadline is due): only the invariants are checked, since timeouts change the outcome.
fn drive_server_timed(data: &[u8], limits: &Limits) {
    let mut now = Instant::now();
    let mut conn = ServerConn::new(limits.clone(), now);
    let mut splits = Splits::Random(seed(data).rotate_left(29) | 1);
    let mut pos = 0;
    let mut eof = false;
    let mut waiting = 0;
    let max_steps = 1000 + 64 * data.len();
    for step in 0..max_steps as u64 {
        now += std::time::Duration::from_millis(1 + step * 7919 % 4000);
        if conn.poll_timeout().is_some_and(|t| t <= now) {
            conn.handle_timeout(now);
        }
        match conn.poll(now) {
            Next::Request(_) => waiting = 2,
            Next::WaitForResponse => {
                // The application takes its time: no deadline runs meanwhile.
                assert_eq!(
                    conn.poll_timeout(),
                    None,
                    "a deadline while the application works"
                );
                waiting -= 1;
                if waiting <= 0 {
                    let resp = Response::new(200, None, b"late".to_vec());
                    assert_eq!(conn.send_response(resp), Ok(()));
                }
            }
            Next::Write => {
                let n = (conn.transmit().len() / 2).max(1);
                conn.advance(n);
            }
            Next::Read => {
                assert!(!eof, "Read after the end of input");
                if pos == data.len() {
                    conn.feed_eof();
                    eof = true;
                    continue;
                }
                let want = splits.next(data.len() - pos).min(data.len() - pos);
                let n = conn.feed(&data[pos..pos + want]);
                assert!(n > 0 && n <= want, "feed took {n} of {want} bytes");
                pos += n;
            }
            Next::Close => return,
        }
    }
    panic!("no end after {max_steps} steps");
}

/// Limits small enough for short fuzz inputs to reach every limit.
pub fn small_limits() -> Limits {
    Limits {
        max_head_bytes: 256,
        max_headers: 8,
        max_body: 512,
        ..Limits::default()
    }
}

/// The server fuzz target's whole check of one input: [`check_server_stream`] with the
/// default limits and with [`small_limits`].
pub fn check_server_input(data: &[u8]) {
    check_server_stream(data, &Limits::default());
    check_server_stream(data, &small_limits());
}

/// The client fuzz target's whole check of one input: [`check_client_stream`] with the
/// default limits and with [`small_limits`].
pub fn check_client_input(data: &[u8]) {
    check_client_stream(data, &Limits::default());
    check_client_stream(data, &small_limits());
}

/// Runs `data` as the input of a server connection in every way described in the module
/// doc (and once more with time passing and deadlines firing, checking only the
/// invariants), panics on any broken invariant, and returns the (common) outcome.
pub fn check_server_stream(data: &[u8], limits: &Limits) -> ServerRun {
    drive_server_timed(data, limits);
    let mut runs =
        strategies(data).map(|(splits, direct)| drive_server(data, limits, splits, direct));
    let first = runs[0].clone();
    for (i, run) in runs.iter_mut().enumerate().skip(1) {
        assert_eq!(
            run.requests, first.requests,
            "requests differ with split strategy {i}"
        );
        assert_eq!(
            run.error, first.error,
            "error differs with split strategy {i}"
        );
        assert!(
            run.output == first.output,
            "output differs with split strategy {i}:\n{:?}\n{:?}",
            String::from_utf8_lossy(&first.output),
            String::from_utf8_lossy(&run.output)
        );
    }
    first
}

/// The requests the client check sends before reading `data` as the responses.
fn client_requests() -> Vec<Request> {
    let host = || vec![("Host".to_owned(), b"tarp".to_vec())];
    vec![
        Request::new("GET", "/0", Version::Http11, host(), Vec::new()),
        Request::new("HEAD", "/1", Version::Http11, host(), Vec::new()),
        Request::new("POST", "/2", Version::Http11, host(), b"{}".to_vec()),
        Request::new("GET", "/3", Version::Http11, host(), Vec::new()),
    ]
}

fn same_response(a: &ClientResponse, b: &ClientResponse) -> bool {
    let fields = |r: &ClientResponse| -> Vec<(String, Vec<u8>)> {
        r.headers
            .iter()
            .filter(|(n, _)| !is_framing_header(n.as_bytes()))
            .cloned()
            .collect()
    };
    a.status == b.status
        && a.reason == b.reason
        && a.version == b.version
        && a.body == b.body
        && fields(a) == fields(b)
}

fn check_response_round_trip(resp: &ClientResponse, head_request: bool, limits: &Limits) {
    let mut bytes = Vec::new();
    resp.encode(&mut bytes);
    let mut conn = ClientConn::new(roomier(limits));
    let method = if head_request { "HEAD" } else { "GET" };
    let req = Request::new(method, "/", Version::Http11, Vec::new(), Vec::new());
    assert_eq!(conn.send_request(req), Ok(()));
    let n = conn.transmit().len();
    conn.advance(n);
    assert_eq!(
        conn.feed(&bytes),
        bytes.len(),
        "re-encoded response not taken whole"
    );
    conn.feed_eof();
    match conn.poll() {
        Ok(ClientNext::Response(again)) => {
            assert!(
                same_response(resp, &again),
                "round trip changed {resp:?} into {again:?}"
            )
        }
        other => panic!("re-encoded response {resp:?} not parsed: {other:?}"),
    }
}

fn drive_client(data: &[u8], limits: &Limits, mut splits: Splits, direct: bool) -> ClientRun {
    let mut conn = ClientConn::new(limits.clone());
    let requests = client_requests();
    let heads: Vec<bool> = requests.iter().map(|r| r.method() == "HEAD").collect();
    for req in requests {
        assert_eq!(conn.send_request(req), Ok(()));
    }
    let mut run = ClientRun {
        responses: Vec::new(),
        error: None,
    };
    let mut pos = 0;
    let mut eof = false;
    let max_steps = 1000 + 64 * data.len();
    for _ in 0..max_steps {
        match conn.poll() {
            Ok(ClientNext::Response(resp)) => {
                let head_request = heads.get(run.responses.len()).copied().unwrap_or(false);
                check_response_round_trip(&resp, head_request, limits);
                run.responses.push(resp);
            }
            Ok(ClientNext::Write) => {
                let n = conn.transmit().len();
                assert!(n > 0, "Write with nothing to write");
                conn.advance(n);
            }
            // Bytes after the last response are fed too, so whether they arrived with it
            // or later makes no difference (they are unsolicited either way).
            Ok(ClientNext::Idle) if eof => return run,
            Ok(ClientNext::Read | ClientNext::Idle) => {
                assert!(!eof, "Read after the end of input");
                if pos == data.len() {
                    conn.feed_eof();
                    eof = true;
                    continue;
                }
                let want = splits.next(data.len() - pos).min(data.len() - pos);
                let taken = if direct {
                    let buf = conn.recv_buf();
                    assert!(!buf.is_empty(), "Read with no room to read into");
                    let n = want.min(buf.len());
                    buf[..n].copy_from_slice(&data[pos..pos + n]);
                    conn.recv_done(n);
                    n
                } else {
                    let n = conn.feed(&data[pos..pos + want]);
                    assert!(n <= want && n > 0, "feed took {n} of {want} bytes");
                    n
                };
                pos += taken;
            }
            Ok(ClientNext::Closed) => return run,
            Err(e) => {
                assert!(
                    matches!(conn.poll(), Ok(ClientNext::Closed)),
                    "an error is not final"
                );
                run.error = Some(e);
                return run;
            }
        }
    }
    panic!("no end after {max_steps} steps");
}

/// Runs `data` as the response stream of a client connection that sent `GET`, `HEAD`,
/// `POST` and `GET` requests, in every way described in the module doc; panics on any
/// broken invariant and returns the (common) outcome.
pub fn check_client_stream(data: &[u8], limits: &Limits) -> ClientRun {
    let runs = strategies(data).map(|(splits, direct)| drive_client(data, limits, splits, direct));
    for (i, run) in runs.iter().enumerate().skip(1) {
        assert_eq!(run, &runs[0], "outcome differs with split strategy {i}");
    }
    runs[0].clone()
}
