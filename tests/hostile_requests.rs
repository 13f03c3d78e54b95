//! Hostile requests end to end, on both transports (blocking and smol), over real sockets on
//! 127.0.0.1, against the conformance service (issue 9):
//! - every seed of the `http_server` fuzz corpus (the smuggling permutations of smuggler,
//!   PortSwigger and HTTP Garden included) gets, response for response, the answer the core
//!   gives in-process with the same service, and the connection then closes;
//! - the framing cases of issue 9, with the connection held open by the client: the exact
//!   status, then either the server closes (refusals: the pipelined follow-up is never
//!   answered) or the follow-up is answered (requests that were framed correctly);
//! - hostile query strings, form bodies and pickles: a 400 naming the problem within a
//!   bounded time, and the server keeps serving.

mod common;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value as Json};
use tarp_core::http::{Limits, Next, ServerConn};
use tarp_core::service::{Dispatch, Service};

use common::service::conformance_service;

// ------------------------------------------------------------------ servers

use common::transports::Kind;
use common::Options;

// ------------------------------------------------------------------ responses

/// A response as read off the wire.
#[derive(Debug, Clone)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Json {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    fn message(&self) -> String {
        self.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// Parses one response from the start of `buf` (`head`: it answers a HEAD request, so has
/// no body); `None` if incomplete. Interim 1xx responses are returned like the others.
fn parse_one(buf: &[u8], head: bool) -> Option<(Resp, usize)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let text = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = text.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let len = if head || status < 200 {
        0
    } else {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .expect("every response has a Content-Length")
    };
    let total = end + 4 + len;
    (buf.len() >= total).then(|| {
        (
            Resp {
                status,
                headers,
                body: buf[end + 4..total].to_vec(),
            },
            total,
        )
    })
}

/// One client connection with its read buffer.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    eof: bool,
}

impl Conn {
    fn connect(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        Conn {
            stream,
            buf: Vec::new(),
            eof: false,
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        // The server may refuse and close before taking everything: not an error here.
        let _ = self.stream.write_all(bytes);
    }

    fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 64 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => self.eof = true,
            Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => self.eof = true,
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// The next final (non-1xx) response, or `None` if the connection ends first.
    fn response(&mut self, head: bool) -> Option<Resp> {
        loop {
            if let Some((resp, used)) = parse_one(&self.buf, head) {
                self.buf.drain(..used);
                if resp.status >= 200 {
                    return Some(resp);
                }
                continue;
            }
            if self.eof {
                assert!(
                    self.buf.is_empty(),
                    "connection ended inside a response: {:?}",
                    String::from_utf8_lossy(&self.buf)
                );
                return None;
            }
            self.fill().expect("reading a response");
        }
    }

    #[track_caller]
    fn expect_response(&mut self, what: &str) -> Resp {
        self.response(false)
            .unwrap_or_else(|| panic!("{what}: connection closed without a response"))
    }

    /// Whether the server closes the connection (EOF or reset) without sending anything else.
    fn closes_with_nothing_more(&mut self) -> bool {
        while !self.eof {
            if self.fill().is_err() {
                return false; // the read timed out: still open
            }
        }
        self.buf.is_empty()
    }
}

// ------------------------------------------------------------------ the fuzz corpus, end to end

/// What the core answers, in-process, to `input` followed by the end of the stream:
/// the status of each response (interim ones left out), in order.
fn core_statuses(service: &Service, input: &[u8]) -> Vec<(u16, bool)> {
    let now = Instant::now();
    let mut conn = ServerConn::new(Limits::default(), now);
    let mut output = Vec::new();
    let mut heads = Vec::new();
    let mut fed = 0;
    let mut eof = false;
    loop {
        match conn.poll(now) {
            Next::Request(req) => {
                heads.push(req.method() == "HEAD");
                let response = match service.dispatch(req, now) {
                    Dispatch::Respond(r) => r,
                    Dispatch::Call(call) => call.run(),
                    Dispatch::Spawn { response, job } => {
                        service.complete(job.run(), now);
                        response
                    }
                };
                conn.send_response(response).unwrap();
            }
            Next::Write => {
                let n = conn.transmit().len();
                output.extend_from_slice(conn.transmit());
                conn.advance(n);
            }
            Next::Read if fed < input.len() => fed += conn.feed(&input[fed..]),
            Next::Read => {
                assert!(!eof);
                conn.feed_eof();
                eof = true;
            }
            Next::WaitForResponse => unreachable!(),
            Next::Close => break,
        }
    }
    let mut statuses = Vec::new();
    let mut rest = &output[..];
    let mut served = 0;
    while !rest.is_empty() {
        let head = heads.get(served).copied().unwrap_or(false);
        let (resp, used) = parse_one(rest, head).expect("the core's output parses");
        rest = &rest[used..];
        if resp.status >= 200 {
            statuses.push((resp.status, head));
            served += 1;
        }
    }
    statuses
}

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/http_server");
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    files.sort();
    files
}

fn corpus_on(kind: Kind) {
    let (service, _gate) = conformance_service();
    let server = kind.start(Arc::clone(&service), &Options::default());
    let seeds = corpus();
    assert!(seeds.len() > 150, "{} seeds", seeds.len());
    for (name, bytes) in &seeds {
        let want = core_statuses(&service, bytes);
        let mut conn = Conn::connect(server.addr());
        conn.send(bytes);
        let _ = conn.stream.shutdown(Shutdown::Write);
        let mut got = Vec::new();
        for &(_, head) in &want {
            match conn.response(head) {
                Some(resp) => got.push((resp.status, head)),
                None => break,
            }
        }
        assert_eq!(
            got, want,
            "{kind:?}, seed {name}: statuses differ from the core's"
        );
        assert!(
            conn.closes_with_nothing_more(),
            "{kind:?}, seed {name}: more output after the core's last response, or no close"
        );
    }
    assert!(
        common::eventually(Duration::from_secs(5), || server.connections() == 0),
        "{kind:?}: {} connections left",
        server.connections()
    );
    server.shutdown();
}

#[test]
fn blocking_answers_every_corpus_seed_as_the_core_does() {
    corpus_on(Kind::Blocking);
}

#[test]
fn smol_answers_every_corpus_seed_as_the_core_does() {
    corpus_on(Kind::Smol);
}

// ------------------------------------------------------------------ issue 9's framing list

const FOLLOW_UP: &[u8] = b"GET /text HTTP/1.1\r\nHost: x\r\n\r\n";

/// What must happen after a case's response.
#[derive(Debug, Clone, Copy, PartialEq)]
enum After {
    /// The server closes: the pipelined follow-up is never answered.
    Closed,
    /// The follow-up is answered (`GET /text` gives "hello").
    Served,
}

/// A POST of `{"a":1}` (7 bytes) to the echoing web endpoint with these framing lines.
fn pecho(framing: &str, body: &str) -> Vec<u8> {
    format!(
        "POST /pecho HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{framing}\r\n\r\n{body}"
    )
    .into_bytes()
}

const CHUNKED_BODY: &str = "7\r\n{\"a\":1}\r\n0\r\n\r\n";

/// (name, request, status, what the message must contain, what comes after)
fn framing_cases() -> Vec<(&'static str, Vec<u8>, u16, &'static str, After)> {
    use After::{Closed, Served};
    let te = |value: &str| pecho(&format!("Transfer-Encoding:{value}"), CHUNKED_BODY);
    let cl = |value: &str| pecho(&format!("Content-Length:{value}"), "{\"a\":1}");
    let chunk = |body: &str| pecho("Transfer-Encoding: chunked", body);
    vec![
        // Transfer-Encoding spelled oddly.
        ("TE: Chunked", te(" Chunked"), 200, "", Served),
        (
            "TE:  chunked (leading space)",
            te("  chunked"),
            200,
            "",
            Served,
        ),
        (
            "TE: chunked, identity",
            te(" chunked, identity"),
            501,
            "transfer coding",
            Closed,
        ),
        (
            "TE: identity",
            te(" identity"),
            501,
            "transfer coding",
            Closed,
        ),
        (
            "TE: chunked, gzip",
            te(" chunked, gzip"),
            501,
            "transfer coding",
            Closed,
        ),
        (
            "TE repeated",
            te(" chunked\r\nTransfer-Encoding: chunked"),
            400,
            "more than one Transfer-Encoding",
            Closed,
        ),
        (
            "TE with CL",
            te(" chunked\r\nContent-Length: 7"),
            400,
            "both Content-Length and Transfer-Encoding",
            Closed,
        ),
        // Content-Length with a sign, spaces, a list, leading zeros, beyond 64 bits.
        (
            "CL: +7",
            cl(" +7"),
            400,
            "not a plain decimal number",
            Closed,
        ),
        (
            "CL: -7",
            cl(" -7"),
            400,
            "not a plain decimal number",
            Closed,
        ),
        ("CL:   7  (OWS)", cl("   7  "), 200, "", Served),
        (
            "CL: 7 7",
            cl(" 7 7"),
            400,
            "not a plain decimal number",
            Closed,
        ),
        (
            "CL: 7, 7",
            cl(" 7, 7"),
            400,
            "not a plain decimal number",
            Closed,
        ),
        (
            "CL: 7, 8",
            cl(" 7, 8"),
            400,
            "not a plain decimal number",
            Closed,
        ),
        (
            "CL repeated",
            cl(" 7\r\nContent-Length: 7"),
            400,
            "more than one Content-Length",
            Closed,
        ),
        ("CL: 0007", cl(" 0007"), 200, "", Served),
        (
            "CL beyond 64 bits",
            cl(" 18446744073709551623"),
            400,
            "overflows",
            Closed,
        ),
        (
            "CL beyond the limit",
            cl(" 1073741825"),
            413,
            "Limits::max_body",
            Closed,
        ),
        // Chunk sizes with whitespace, signs, hex overflow; missing CRLF after the data.
        (
            "chunk size ' 7'",
            chunk(" 7\r\n{\"a\":1}\r\n0\r\n\r\n"),
            400,
            "chunk",
            Closed,
        ),
        (
            "chunk size '7 '",
            chunk("7 \r\n{\"a\":1}\r\n0\r\n\r\n"),
            400,
            "chunk",
            Closed,
        ),
        (
            "chunk size '+7'",
            chunk("+7\r\n{\"a\":1}\r\n0\r\n\r\n"),
            400,
            "chunk",
            Closed,
        ),
        (
            "chunk size '-7'",
            chunk("-7\r\n{\"a\":1}\r\n0\r\n\r\n"),
            400,
            "chunk",
            Closed,
        ),
        (
            "chunk size of 17 hex digits",
            chunk("10000000000000007\r\n{\"a\":1}\r\n0\r\n\r\n"),
            400,
            "chunk",
            Closed,
        ),
        (
            "chunk size 2^64-1",
            chunk("ffffffffffffffff\r\n{\"a\":1}\r\n0\r\n\r\n"),
            413,
            "Limits::max_body",
            Closed,
        ),
        (
            "chunk data without CRLF",
            chunk("7\r\n{\"a\":1}0\r\n\r\n"),
            400,
            "chunk",
            Closed,
        ),
        (
            "chunk data then LF",
            chunk("7\r\n{\"a\":1}\n0\r\n\r\n"),
            400,
            "chunk",
            Closed,
        ),
        // Bare LF and bare CR.
        (
            "bare LF",
            b"GET /text HTTP/1.1\nHost: x\n\n".to_vec(),
            400,
            "malformed head",
            Closed,
        ),
        (
            "bare CR",
            b"GET /text HTTP/1.1\rHost: x\r\n\r\n".to_vec(),
            400,
            "malformed head",
            Closed,
        ),
        (
            "bare CR in a value",
            b"GET /text HTTP/1.1\r\nX: a\rb\r\n\r\n".to_vec(),
            400,
            "malformed head",
            Closed,
        ),
        // Absolute-form and asterisk-form targets.
        (
            "absolute-form",
            b"GET http://127.0.0.1/text HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            400,
            "absolute-form",
            Closed,
        ),
        (
            "asterisk-form",
            b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            400,
            "asterisk-form",
            Closed,
        ),
        (
            "HTTP/2.0",
            b"GET /text HTTP/2.0\r\nHost: x\r\n\r\n".to_vec(),
            505,
            "HTTP version",
            Closed,
        ),
        // Percent-encoding to invalid UTF-8 or NUL: framed correctly, so a 400 from the
        // service and the connection stays usable.
        (
            "path %ff",
            b"GET /%ff HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            400,
            "path is not valid UTF-8 once percent-decoded",
            Served,
        ),
        (
            "path %00",
            b"GET /te%00xt HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            400,
            "path contains a NUL character",
            Served,
        ),
        (
            "query %ff%00",
            b"GET /echo?a=%ff%00&b=%zz HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            200,
            "",
            Served,
        ),
    ]
}

fn framing_on(kind: Kind) {
    let (service, _gate) = conformance_service();
    let server = kind.start(service, &Options::default());
    for (name, request, status, needle, after) in framing_cases() {
        let mut conn = Conn::connect(server.addr());
        conn.send(&[&request[..], FOLLOW_UP].concat());
        let resp = conn.expect_response(name);
        assert_eq!(
            resp.status,
            status,
            "{kind:?} {name}: {:?}",
            String::from_utf8_lossy(&resp.body)
        );
        if !needle.is_empty() {
            let message = resp.message();
            assert!(message.contains(needle), "{kind:?} {name}: {message:?}");
        }
        if status == 200 && request.starts_with(b"POST /pecho") {
            // Framed as the headers say: exactly the 7-byte JSON body.
            assert_eq!(
                resp.json()["result"]["body"],
                json!({"a": 1}),
                "{kind:?} {name}"
            );
        }
        if name == "query %ff%00" {
            assert_eq!(
                resp.json()["result"]["params"],
                json!({"a": "\u{fffd}\u{0}", "b": "%zz"})
            );
        }
        match after {
            After::Closed => {
                assert_eq!(resp.header("connection"), Some("close"), "{kind:?} {name}");
                assert!(
                    conn.closes_with_nothing_more(),
                    "{kind:?} {name}: the follow-up was answered or the connection stayed open"
                );
            }
            After::Served => {
                let next = conn.expect_response(name);
                assert_eq!(
                    (next.status, next.json()["result"].clone()),
                    (200, json!("hello")),
                    "{kind:?} {name}: follow-up"
                );
            }
        }
    }
    server.shutdown();
}

#[test]
fn blocking_framing_cases_of_issue_9() {
    framing_on(Kind::Blocking);
}

#[test]
fn smol_framing_cases_of_issue_9() {
    framing_on(Kind::Smol);
}

/// After a refusal the server half-closes at once, then drains what the peer still sends for
/// up to 500 ms (so its answer is not destroyed by a reset): the client sees the end of the
/// stream right after the answer, not once the drain is over. Five tries, one of them under
/// 300 ms suffices (a server that sends its FIN only after the drain never is), so a busy
/// machine cannot fail it.
fn refusal_ends_the_stream_at_once_on(kind: Kind) {
    let (service, _gate) = conformance_service();
    let server = kind.start(service, &Options::default());
    let mut fastest = Duration::MAX;
    for _ in 0..5 {
        let mut conn = Conn::connect(server.addr());
        conn.send(&[&b"GET /text HTTP/1.1\nHost: x\n\n"[..], FOLLOW_UP].concat());
        let resp = conn.expect_response("bare LF");
        assert_eq!(resp.status, 400);
        let t0 = Instant::now();
        assert!(conn.closes_with_nothing_more(), "{kind:?}");
        fastest = fastest.min(t0.elapsed());
    }
    assert!(
        fastest < Duration::from_millis(300),
        "{kind:?}: the end of stream came {fastest:?} after the refusal at best"
    );
    server.shutdown();
}

#[test]
fn blocking_refusal_ends_the_stream_at_once() {
    refusal_ends_the_stream_at_once_on(Kind::Blocking);
}

#[test]
fn smol_refusal_ends_the_stream_at_once() {
    refusal_ends_the_stream_at_once_on(Kind::Smol);
}

// ------------------------------------------------------------------ queries, forms, pickles

/// Generous for a debug build on a busy machine: what it catches is unbounded work.
const TIME_LIMIT: Duration = Duration::from_secs(15);

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn post(target: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut req = format!(
        "POST {target} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    req
}

fn rpc(name: &str, args: &[u8]) -> Vec<u8> {
    let body = format!(
        r#"{{"args": "{}", "kwargs": "{}"}}"#,
        b64(args),
        b64(b"\x80\x02}.")
    );
    post(&format!("/{name}"), "application/json", body.as_bytes())
}

fn repeat(prefix: &[u8], unit: &[u8], n: usize, suffix: &[u8]) -> Vec<u8> {
    let mut v = prefix.to_vec();
    for _ in 0..n {
        v.extend_from_slice(unit);
    }
    v.extend_from_slice(suffix);
    v
}

/// Billion laughs through the memo (2^60 leaves logically), then `tail` (which builds the
/// argument tuple and stops).
fn billion_laughs(tail: &[u8]) -> Vec<u8> {
    let mut b = vec![0x80, 2, b']', b'q', 0, b'K', 0, b'a'];
    for level in 0..60u32 {
        b.extend_from_slice(b"]r");
        b.extend_from_slice(&(level + 1).to_le_bytes());
        b.extend_from_slice(b"(j");
        b.extend_from_slice(&level.to_le_bytes());
        b.push(b'j');
        b.extend_from_slice(&level.to_le_bytes());
        b.push(b'e');
    }
    b.extend_from_slice(tail);
    b
}

/// (name, request, status, message fragment)
fn payload_cases() -> Vec<(&'static str, Vec<u8>, u16, &'static str)> {
    let form = "application/x-www-form-urlencoded";
    vec![
        (
            "1001 query parameters",
            format!(
                "GET /echo?{} HTTP/1.1\r\nHost: x\r\n\r\n",
                vec!["a=1"; 1001].join("&")
            )
            .into_bytes(),
            400,
            "query string: too many parameters (1001, at most 1000 allowed)",
        ),
        (
            "30 KB query key",
            format!(
                "GET /echo?{}=1 HTTP/1.1\r\nHost: x\r\n\r\n",
                "k".repeat(30_000)
            )
            .into_bytes(),
            200,
            "",
        ),
        (
            "100,000 form fields",
            post("/pecho", form, vec!["a=1"; 100_000].join("&").as_bytes()),
            400,
            "form body: too many parameters (100000, at most 1000 allowed)",
        ),
        (
            "2 MiB form",
            post(
                "/pecho",
                form,
                format!("k={}", "v".repeat(2 << 20)).as_bytes(),
            ),
            400,
            "form body: too long",
        ),
        (
            "form with invalid escapes",
            post("/pecho", form, b"a=%zz%4%&b=%ff"),
            200,
            "",
        ),
        (
            "os.system via REDUCE",
            rpc(
                "add",
                b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00idq\x01\x85R\x85.",
            ),
            400,
            "global 'os.system' is not allowed",
        ),
        (
            "builtins.eval",
            rpc(
                "add",
                b"\x80\x02cbuiltins\neval\nX\x03\x00\x00\x001+1\x85R\x85.",
            ),
            400,
            "global 'builtins.eval' is not allowed",
        ),
        (
            "REDUCE on a list",
            rpc("add", b"\x80\x02]]R."),
            400,
            "REDUCE on a list",
        ),
        (
            "BUILD on a dict",
            rpc("add", b"\x80\x02}}b."),
            400,
            "BUILD on a dict",
        ),
        (
            "INST",
            rpc("add", b"(ios\nsystem\nS'id'\n."),
            400,
            "INST (instantiating \"os\".\"system\") is not supported",
        ),
        (
            "OBJ",
            rpc("add", b"(cbuiltins\nset\no."),
            400,
            "OBJ (instantiating a class) is not supported",
        ),
        (
            "truncated",
            rpc("add", b"\x80\x02G?\xf0\x00"),
            400,
            "truncated",
        ),
        (
            "protocol 6",
            rpc("add", b"\x80\x06N."),
            400,
            "unsupported pickle protocol: 6",
        ),
        (
            "a million MARKs closed",
            rpc("add", &repeat(&[b'('; 1_000_000], b"t", 1_000_000, b".")),
            400,
            "nested deeper",
        ),
        (
            "million-digit int",
            rpc("add", &repeat(b"(I", b"7", 1_000_000, b"\nt.")),
            400,
            "exceeds the limit of 4300 digits",
        ),
        (
            "billion laughs bound to a float",
            rpc("add", &billion_laughs(b"K\x01\x86.")),
            400,
            "argument 'a'",
        ),
        (
            "billion laughs echoed (shared, not expanded)",
            rpc("echo_value", &billion_laughs(b"\x85.")),
            200,
            "",
        ),
    ]
}

fn payloads_on(kind: Kind) {
    let (service, _gate) = conformance_service();
    let server = kind.start(service, &Options::default());
    let mut conn = Conn::connect(server.addr());
    for (name, request, status, needle) in payload_cases() {
        let t0 = Instant::now();
        conn.send(&request);
        let resp = conn.expect_response(name);
        let took = t0.elapsed();
        assert!(took < TIME_LIMIT, "{kind:?} {name}: took {took:?}");
        assert_eq!(
            resp.status,
            status,
            "{kind:?} {name}: {:.300}",
            String::from_utf8_lossy(&resp.body)
        );
        if !needle.is_empty() {
            let message = resp.message();
            assert!(message.contains(needle), "{kind:?} {name}: {message:?}");
        }
        assert!(
            resp.body.len() < 64 * 1024,
            "{kind:?} {name}: a {} B answer",
            resp.body.len()
        );
    }
    // All of it on one kept-alive connection, which still serves.
    conn.send(FOLLOW_UP);
    let resp = conn.expect_response("follow-up");
    assert_eq!(resp.json()["result"], "hello");
    drop(conn);
    let mut other = Conn::connect(server.addr());
    other.send(FOLLOW_UP);
    assert_eq!(other.expect_response("new connection").status, 200);
    drop(other);
    server.shutdown();
}

#[test]
fn blocking_hostile_queries_forms_and_pickles() {
    payloads_on(Kind::Blocking);
}

#[test]
fn smol_hostile_queries_forms_and_pickles() {
    payloads_on(Kind::Smol);
}
